"""Routers written as filters plus weighted scores (llm-d's endpoint picker, SGLang's router,
Dynamo's KV-aware router are all of this shape).

Vocabulary:
- scorer: a function ``(replica, request, replicas) -> score in [0, 1]`` (higher is better),
  registered in ``SCORERS`` by name:
  ``prefix`` (fraction of the prompt already cached on the replica, any tier: llm-d's
  prefix-cache scorer, Dynamo's overlap score), ``queue`` (1 - outstanding requests / the most
  any candidate has: llm-d's queue scorer), ``kv`` (free fraction of the replica's KV pool:
  llm-d's kv-cache-utilization scorer), ``prefill`` (1 - queued prompt tokens / the most any
  candidate has: SGLang's and Dynamo's load term).
- filter: ``max_kv_utilization`` drops replicas whose KV pool is fuller than it (unless every
  candidate is).
- ``WeightedRouter(weights, max_kv_utilization)``: among the candidates that pass the filter,
  the one with the largest sum of weight x score; ties go to the lowest replica index.
"""

from __future__ import annotations

from sim.errors import ConfigError


def _prefix(rep, req, reps) -> float:
    if rep.prefix is None or req.blocks is None or not req.prompt:
        return 0.0
    return min(len(rep.prefix.match(req.blocks)) * rep.prefix.prefix_tokens / req.prompt, 1.0)


def _queue(rep, req, reps) -> float:
    most = max(r.load() for r in reps)
    return 1.0 - rep.load() / most if most > 0 else 1.0


def _kv(rep, req, reps) -> float:
    cap = max(rep.kv.capacity, 1)
    return 1.0 - (rep.kv.used + rep.kv.cached) / cap


def _prefill(rep, req, reps) -> float:
    most = max(r.queued_tokens for r in reps)
    return 1.0 - rep.queued_tokens / most if most > 0 else 1.0


SCORERS = {"prefix": _prefix, "queue": _queue, "kv": _kv, "prefill": _prefill}


def check_weights(weights: dict | None, key: str = "serve.router_weights") -> dict:
    if not weights:
        raise ConfigError(key, f"router = 'weighted' needs weights for some of: {', '.join(SCORERS)}")
    for name, w in weights.items():
        if name not in SCORERS:
            raise ConfigError(f"{key}.{name}", f"unknown scorer; known: {', '.join(SCORERS)}")
        if not (w >= 0):
            raise ConfigError(f"{key}.{name}", f"weight must be >= 0, got {w}")
    if not any(weights.values()):      # every score 0: each request went to the lowest-index replica
        raise ConfigError(key, f"every weight is 0, so no scorer counts; give one of {', '.join(weights)} a "
                               "weight > 0")
    return dict(weights)


class WeightedRouter:
    @classmethod
    def from_serve(cls, serve):
        return cls(serve.router_weights, serve.router_max_kv_utilization)

    def __init__(self, weights: dict, max_kv_utilization: float | None = None):
        self.weights = check_weights(weights)
        self.max_kv = max_kv_utilization

    def choose(self, replicas, req):
        if len(replicas) == 1:
            return replicas[0]
        cands = replicas
        if self.max_kv is not None:
            ok = [r for r in replicas if (r.kv.used + r.kv.cached) <= self.max_kv * r.kv.capacity]
            cands = ok or replicas
        def total(rep):
            return (sum(w * SCORERS[n](rep, req, cands) for n, w in self.weights.items()), -rep.index)
        return max(cands, key=total)
