"""Request streams: when requests arrive and how long their prompts and outputs are.

Vocabulary:
- ``RequestStream``: columns of one run's requests: ``arrival_s`` (NaN for closed-loop requests,
  which arrive when an earlier one finishes), ``input_tokens``, ``output_tokens``, and optional
  ``prefix_blocks`` (per request, ids of its prompt's ``block_tokens``-token prefix blocks; equal
  ids share KV) .
- arrival processes: ``poisson`` (exponential gaps at ``rate``), ``gamma`` (gamma gaps with mean
  1/rate and coefficient of variation ``cv``: cv > 1 is burstier than Poisson), ``burst`` (all at
  t = 0: the maximum-throughput benchmark), ``closed`` (``concurrency`` requests in flight; each
  finish releases the next; with ``workload.trace`` the trace's requests in order, keeping their
  lengths and prefix ids), ``trace`` (replay; gaps divided by ``time_scale``).
- length distributions: an integer (fixed) or a table ``{dist = fixed|uniform|lognormal|normal|
  exponential|trace, ...}``; lognormal ``mean`` is the arithmetic mean and ``sigma`` the log-space
  standard deviation; ``trace`` samples the column of ``workload.trace`` with replacement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import MAX_REQUEST_TOKENS
from sim.errors import ConfigError
from workloads.serving.traces import MOONCAKE_BLOCK_TOKENS, Trace, read_trace


@dataclass
class RequestStream:
    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    prefix_blocks: list[np.ndarray] | None = None
    block_tokens: int = MOONCAKE_BLOCK_TOKENS
    concurrency: int = 0            # > 0: closed loop

    def __len__(self) -> int:
        return len(self.input_tokens)


def inter_arrivals(kind: str, n: int, rate: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of ``n`` requests (first at the first gap, as a renewal process)."""
    if kind == "burst":
        return np.zeros(n)
    if kind == "poisson":
        gaps = rng.exponential(1.0 / rate, n)
    elif kind == "gamma":
        shape = 1.0 / (cv * cv)                  # CV of a gamma = 1/sqrt(shape)
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n)
    else:
        raise ConfigError("workload.arrival", f"no inter-arrival process for {kind!r}")
    return np.cumsum(gaps)


def sample_lengths(spec, n: int, rng: np.random.Generator, key: str,
                   trace_column: np.ndarray | None = None) -> np.ndarray:
    if isinstance(spec, (int, np.integer)):
        if spec < 1:
            raise ConfigError(key, "token count must be >= 1")
        return np.full(n, int(spec), dtype=np.int64)
    d = spec.dist
    if d == "fixed":
        v = spec.value if spec.value is not None else spec.mean
        if v is None:
            raise ConfigError(key, "fixed length needs value (or mean)")
        out = np.full(n, float(v))
    elif d == "uniform":
        if spec.min is None or spec.max is None or spec.max < spec.min:
            raise ConfigError(key, "uniform length needs min <= max")
        out = rng.integers(spec.min, spec.max + 1, n).astype(float)
    elif d in ("lognormal", "normal"):
        if spec.mean is None or spec.sigma is None:
            raise ConfigError(key, f"{d} length needs mean and sigma")
        if d == "lognormal":
            mu = np.log(spec.mean) - spec.sigma ** 2 / 2.0
            out = rng.lognormal(mu, spec.sigma, n)
        else:
            out = rng.normal(spec.mean, spec.sigma, n)
    elif d == "exponential":
        if spec.mean is None:
            raise ConfigError(key, "exponential length needs mean")
        out = rng.exponential(spec.mean, n)
    elif d == "trace":
        if trace_column is None or not len(trace_column):
            raise ConfigError(key, "dist = 'trace' needs workload.trace")
        out = rng.choice(trace_column, n).astype(float)
    else:  # pragma: no cover - the config literal forbids it
        raise ConfigError(key, f"unknown distribution {d!r}")
    lo = spec.min if spec.min is not None else 1
    hi = spec.max if spec.max is not None else MAX_REQUEST_TOKENS
    if n and (not np.all(np.isfinite(out)) or (spec.max is None and out.max() > MAX_REQUEST_TOKENS)):
        raise ConfigError(key, f"sampled lengths reach {np.max(out):.3g} tokens, over the bound of "
                               f"{MAX_REQUEST_TOKENS:,} per request; lower mean/sigma or set max")
    floor = np.rint(out) < max(lo, 1)
    if n >= 20 and spec.min is None and floor.mean() > 0.25:
        _warn_once(f"{key}: {floor.mean():.0%} of the {n} sampled lengths ({d}, "
                   + ", ".join(f"{k} = {getattr(spec, k):g}" for k in ("mean", "sigma") if getattr(spec, k) is not None)
                   + ") round below 1 token and are raised to 1; the lengths' mean is "
                   f"{np.clip(np.rint(out), 1, hi).mean():.4g} tokens. Lower sigma, or give min to say what a "
                   "short request is")
    return np.clip(np.rint(out), max(lo, 1), hi).astype(np.int64)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Print ``message`` on stderr as a warning, once per process (a sweep samples many times)."""
    import sys
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)


# Arrivals later than this (about 31 years) leave double precision less than a microsecond of
# resolution: service times would round away (a TTFT of 0), so such a stream is refused.
MAX_ARRIVAL_S = 1e9


def _check_horizon(arr: np.ndarray, key: str) -> None:
    finite = arr[~np.isnan(arr)]
    if len(finite) and not (np.all(np.isfinite(finite)) and finite.max() <= MAX_ARRIVAL_S):
        raise ConfigError(key, f"requests would arrive up to {finite.max():.3g} s after the start, beyond "
                               f"{MAX_ARRIVAL_S:.0e} s where simulated time loses microsecond resolution; "
                               "raise it, or simulate fewer requests")


def build_stream(workload, sim) -> RequestStream:
    """The requests of a run from the ``[workload]`` section."""
    w = workload
    explicit = getattr(w, "model_fields_set", set())
    trace: Trace | None = read_trace(w.trace) if w.trace else None
    if w.arrival == "trace":
        if trace is None:
            raise ConfigError("workload.trace", "arrival = 'trace' needs a trace file")
        n, inp, out, blocks = _trace_requests(w, trace, explicit, sim)
        arr = trace.arrival_s[:n] / w.time_scale
        _check_horizon(arr, "workload.time_scale")
        # A request needs at least one prompt token and produces at least one output token.
        return RequestStream(arr, np.maximum(inp, 1), np.maximum(out, 1), blocks, trace.block_tokens)
    if w.arrival == "closed" and trace is not None:
        return _closed_trace_stream(w, trace, explicit, sim)
    n = w.requests
    tin = trace.input_tokens if trace is not None else None
    tout = trace.output_tokens if trace is not None else None
    inp = sample_lengths(w.input_tokens, n, sim.rng("serve.input_tokens"), "workload.input_tokens", tin)
    out = sample_lengths(w.output_tokens, n, sim.rng("serve.output_tokens"), "workload.output_tokens", tout)
    if w.arrival == "closed":
        arr = np.full(n, np.nan)
        arr[: min(w.concurrency, n)] = 0.0
        return RequestStream(arr, inp, out, None, concurrency=w.concurrency)
    arr = inter_arrivals(w.arrival, n, w.rate, w.cv, sim.rng("serve.arrivals"))
    _check_horizon(arr, "workload.rate")
    return RequestStream(arr, inp, out)



def _trace_requests(w, trace: Trace, explicit: set, sim):
    """The first ``workload.requests`` of a trace (all without that key): their count, prompt
    and output lengths, and prefix-block ids. A trace's lengths are used unless a distribution
    is given explicitly; resampled prompts keep the prefix ids that still lie inside them."""
    n = min(len(trace), w.requests) if "requests" in explicit else len(trace)
    # requests past the trace's end: the config's warning (sim.config.ineffective_settings, replayed_requests),
    # before the run, so a sweep over workload.requests sees points that replay the same requests
    inp = trace.input_tokens[:n].copy()
    out = trace.output_tokens[:n].copy()
    if "input_tokens" in explicit:
        inp = sample_lengths(w.input_tokens, n, sim.rng("serve.input_tokens"), "workload.input_tokens", trace.input_tokens)
    if "output_tokens" in explicit:
        out = sample_lengths(w.output_tokens, n, sim.rng("serve.output_tokens"), "workload.output_tokens", trace.output_tokens)
    blocks = trace.prefix_blocks[:n] if trace.prefix_blocks is not None else None
    if blocks is not None and "input_tokens" in explicit:
        blocks = [b[: -(-int(m) // trace.block_tokens)] for b, m in zip(blocks, inp)]
    return n, inp, out, blocks

def _closed_trace_stream(w, trace: Trace, explicit: set, sim) -> RequestStream:
    """A closed loop over a trace's requests in order: ``concurrency`` in flight, each finish
    releasing the next; their lengths and prefix-block ids are the trace's (a resampled prompt
    keeps the ids that still lie inside it), so multi-turn chat and shared prefixes reach the
    prefix cache as in the trace; the trace's timestamps are not used."""
    n, inp, out, blocks = _trace_requests(w, trace, explicit, sim)
    arr = np.full(n, np.nan)
    arr[: min(w.concurrency, n)] = 0.0
    return RequestStream(arr, np.maximum(inp, 1), np.maximum(out, 1), blocks, trace.block_tokens,
                         concurrency=w.concurrency)
