"""LLM serving on a simulated datacenter: request streams, continuously batched replicas over
paged KV caches, prefix caching, prefill/decode disaggregation, routing, per-request metrics.

Entry points: ``ServingWorkload`` (a ``workloads.workload.Workload``) and ``run_serving(cfg,
sim, topo, fabric) -> {"summary": 1 row, "requests": 1 row per request}`` (one deployment
alone). Column meanings (seconds unless the name says otherwise):
- requests: ``arrival_s``, ``scheduled_s`` (first admitted to a batch), ``first_token_s``,
  ``finish_s``, ``frontend_s`` (the engine's per-request host time: HTTP, tokenizer, IPC),
  ``queueing_s`` (scheduled - arrival - frontend), ``ttft_s``, ``tpot_s`` ((finish - first
  token) / (output - 1); null for a one-token request, which has none), ``e2e_s``, ``kv_transfer_s`` (disaggregated KV transfer), token counts,
  ``replica`` (decode replica), ``prefill_replica``, ``prefix_hit_tokens``, ``preemptions``.
- summary: the CONTRACT.md serving columns; ``mfu`` = useful FLOPs / (duration x GPUs x dense
  peak at serve.precision); ``mbu`` = weight (as stored: experts at serve.expert_precision; of the routed experts, those a step's tokens reach) + KV bytes iterations must read / (duration x GPUs x
  HBM bandwidth); ``compute_comm_ratio`` = compute_s / comm_s as in training (CONTRACT.md):
  the replicas' compute-stream kernel time over their communication time (null without
  communication); ``kv_transfer_GB`` = KV bytes moved between
  GPUs and to/from host memory and SSD (disaggregation, prefix loads, swaps); ``hbm_used_GB`` and
  ``hbm_kv_GB``: one GPU's HBM ledger (``sim.gpu.HbmLedger``: weights, runtime reserve,
  workspace, KV pool) and its KV pool; ``iterations``: engine steps over the replicas (under
  serve.speculative, draft-and-verify steps, not generated tokens); ``busy_fraction``: the replicas'
  GPU-seconds running iterations over their GPU-seconds (each replica weighted by its GPUs).
  The replica's layout as resolved: ``tp``, ``ep`` (expert-parallel size; with ``dp_attention``
  the replica's tp), ``dp_attention`` (bool), ``precision`` and ``kv_precision`` (serve.*),
  ``expert_precision`` (the routed experts' weights: serve.expert_precision, else precision;
  null for a dense model); ``kv_capacity_tokens``: the KV pool per replica, tokens.
  Under serve.speculative (null without it; ``speculative.summary_columns``): ``spec_acceptance_length``
  (tokens emitted per sequence per verify pass, the bonus token included: vLLM's "Mean acceptance
  length", SGLang's "accept len"), ``spec_acceptance_rate`` (accepted / drafted draft tokens: vLLM's
  "Draft acceptance rate"), ``spec_draft_tokens`` and ``spec_accepted_tokens`` (the run's totals),
  counted from the tokens the replicas' speculative decode steps emitted.
- streams (with ``run.trace``): each replica's GPU streams (``sim.gpu.Gpu``, one for its tp x
  pp GPUs in lockstep): ``lane`` (``replica N``, plus ``engine M`` with pp virtual engines),
  ``stream`` (``compute``, ``TP``, ``PP``), ``start_s``, ``end_s``: one compute interval and
  one interval per collective kind per iteration batch, as training's streams.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from workloads.serving import engines
from workloads.serving.deployment import Deployment
from workloads.serving.requests import build_stream
from workloads.serving.speculative import SUMMARY_TYPES as SPEC_TYPES, summary_columns


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else float("nan")


def run_serving(cfg, sim, topo, fabric) -> dict[str, pa.Table]:
    """Serve ``cfg``'s request stream alone on the simulation's clock; its tables."""
    job = ServingWorkload(cfg, sim, topo, fabric)
    sim.run(until=job.start())
    return job.tables()


class ServingWorkload:
    """A serving deployment as a ``Workload``: done when every request has finished."""

    kind = "serve"
    open_ended = False

    def __init__(self, cfg, sim, topo, fabric, steps: int | None = None):
        self.deployment = Deployment(cfg, sim, topo, fabric, build_stream(cfg.workload, sim))
        self._tables = None

    def start(self):
        self.deployment.start()
        return self.deployment.done

    def stop(self) -> None:
        self.deployment.flush_credits()

    def tables(self) -> dict[str, pa.Table]:
        if self._tables is None:
            self.deployment.flush_credits()
            self._tables = tables(self.deployment)
            if self.deployment.cfg.run.trace:
                record_streams(self.deployment)
        return self._tables

    def slowdown(self, alone: "ServingWorkload") -> dict[str, float]:
        """TTFT p50 (``slowdown``) and TPOT p50 (``tpot_slowdown``) beside co-tenants over alone."""
        mine = self.tables()["summary"]
        base = alone.tables()["summary"]
        ratio = {}
        for col, name in (("ttft_p50_s", "slowdown"), ("tpot_p50_s", "tpot_slowdown")):
            a, b = mine[col][0].as_py(), base[col][0].as_py()
            ratio[name] = float(f"{a / b:.12g}") if b and b > 0 else float("nan")
        return ratio


def record_streams(dep: Deployment) -> None:
    """The replicas' GPU streams (``sim.gpu``: compute, TP, PP intervals, one per iteration
    batch) as rows of the simulation's ``streams`` table, which trace.json draws as training's."""
    streams = dep.sim.recorder.table("streams")
    for rep in dep.replicas:
        lane = f"replica {rep.physical}" + (f" engine {rep.index}" if dep.engines > 1 else "")
        for stream, a, b in rep.gpu.streams():
            streams.add(lane=lane, stream=stream, name=stream, start_s=a, end_s=b)


def tables(dep: Deployment) -> dict[str, pa.Table]:
    reqs = dep.requests
    n = len(reqs)
    col = lambda attr, dt=np.float64: np.fromiter((getattr(r, attr) for r in reqs), dtype=dt, count=n)  # noqa: E731
    arrival, sched, first, finish = col("arrival"), col("scheduled"), col("first_token"), col("finish")
    prompt, output = col("prompt", np.int64), col("output", np.int64)
    ttft = first - arrival
    frontend = col("frontend_s")
    e2e = finish - arrival
    # queueing: scheduled - arrival - frontend; a request scheduled the instant its frontend
    # finishes gives -1e-17 or so from rounding, not a negative wait (clamped to 0 below 1 ns)
    # measured from the instant it reached its replica (arrival + frontend on the simulation's
    # clock), so a request admitted at once queued exactly 0 s, not a 2e-16 s float residue
    submitted = col("submitted")
    queueing = np.where(submitted >= 0, sched - submitted, sched - arrival - frontend)
    queueing = np.where((queueing < 0) & (queueing > -1e-9), 0.0, queueing)
    with np.errstate(divide="ignore", invalid="ignore"):
        tpot = np.where(output > 1, (finish - first) / np.maximum(output - 1, 1), np.nan)
    requests = pa.table({
        "request_id": col("rid", np.int64), "arrival_s": arrival, "scheduled_s": sched,
        "first_token_s": first, "finish_s": finish, "input_tokens": prompt, "output_tokens": output,
        "generated_tokens": col("generated", np.int64), "replica": col("replica", np.int64),
        "prefill_replica": col("prefill_replica", np.int64), "queueing_s": queueing,
        "ttft_s": ttft, "tpot_s": pa.array(tpot, from_pandas=True), "e2e_s": e2e, "kv_transfer_s": col("kv_transfer_s"),
        "prefix_hit_tokens": col("prefix_hit_tokens", np.int64), "preemptions": col("preemptions", np.int64),
        "frontend_s": frontend,
    })
    w = dep.cfg.workload
    start = float(arrival.min()) if n else 0.0
    duration = float(finish.max() - start) if n else 0.0
    tp_ok = ~(tpot > w.slo_tpot_s)          # single-token requests have no TPOT: they pass it
    ok = (ttft <= w.slo_ttft_s) & tp_ok
    reps = dep.replicas
    flops = sum(r.flops for r in reps)
    hbm = sum(r.hbm_bytes for r in reps)
    # GPU-seconds running iterations over the replicas' GPU-seconds: each replica weighted by its GPUs
    # (it averaged replicas: four busy-a-third TP1 prefill replicas beside one busy TP4 decode
    # replica read 0.45 of the GPUs busy, not 0.65, and the run's energy followed it)
    busy = sum(r.busy_s * len(r.gpus) for r in reps)
    held = sum(len(r.gpus) for r in reps)
    comm = sum(r.gpu.comm_s() for r in reps)
    gpus = dep.gpus_used
    peak = dep.gpu.peak_flops(dep.serve.precision)
    denom = max(duration, 1e-12) * gpus
    tpot_v = tpot[~np.isnan(tpot)]
    summary = {
        "requests": n,
        "duration_s": duration,
        "input_tokens_per_s": float(prompt.sum()) / max(duration, 1e-12),
        "output_tokens_per_s": float(output.sum()) / max(duration, 1e-12),
        "ttft_p50_s": _pct(ttft, 50), "ttft_p99_s": _pct(ttft, 99),
        "tpot_p50_s": _pct(tpot_v, 50), "tpot_p99_s": _pct(tpot_v, 99),
        "e2e_p50_s": _pct(e2e, 50), "e2e_p99_s": _pct(e2e, 99),
        "goodput_rps": float(ok.sum()) / max(duration, 1e-12),
        "slo_attainment": float(ok.mean()) if n else float("nan"),
        "mfu": flops / (denom * peak),
        "mbu": hbm / (denom * dep.gpu.hbm_Bps),
        "kv_transfer_GB": sum(dep.bytes.values()) / 1e9,
        "prefix_hit_rate": float(col("prefix_hit_tokens").sum() / max(prompt.sum(), 1)),
        "preemptions": int(sum(r.preemptions for r in reps)),
        "compute_comm_ratio": sum(r.gpu.compute_s() for r in reps) / comm if comm > 0 else None,   # null: no communication
        "gpus": gpus,
        "ttft_mean_s": float(ttft.mean()) if n else float("nan"),
        "tpot_mean_s": float(tpot_v.mean()) if len(tpot_v) else float("nan"),
        "queueing_mean_s": float(queueing.mean()) if n else float("nan"),
        "kv_transfer_mean_s": float(col("kv_transfer_s").mean()) if n else float("nan"),
        "disagg_kv_GB": dep.bytes["disagg"] / 1e9,
        "prefix_load_GB": dep.bytes["prefix_load"] / 1e9,
        "swap_GB": dep.bytes["swap"] / 1e9,
        "iterations": int(round(sum(r.iterations for r in reps))),
        "kv_capacity_tokens": int(dep.kv_blocks * dep.engines * dep.serve.kv_block_tokens),
        "kv_peak_utilization": max(r.kv.peak_used / max(r.kv.capacity, 1) for r in reps),
        "replicas": dep.physical_replicas,
        "model": dep.spec.name,
        "tp": dep.serve.tp,
        "busy_fraction": min(1.0, busy / max(duration * held, 1e-12)),   # GPU time running iterations
        "hbm_used_GB": dep.hbm.used / 1e9,
        "hbm_kv_GB": dep.hbm.items["kv_cache"] / 1e9,
        # the replica's layout as resolved (dp_attention spreads the experts over the tp GPUs)
        "ep": getattr(dep.cost, "dp", dep.serve.ep) if dep.serve.dp_attention else dep.serve.ep,
        "dp_attention": bool(dep.serve.dp_attention),
        **role_layout(dep),
        "precision": dep.serve.precision,
        "kv_precision": dep.serve.kv_precision,
        "expert_precision": (dep.serve.expert_precision or dep.serve.precision) if dep.spec.is_moe else None,
        # what the speculative steps emitted (speculative.summary_columns; null without serve.speculative)
        **summary_columns(dep.serve.speculative, [r.spec for r in reps]),
    }
    table = pa.table({k: [v] for k, v in summary.items()})
    # null (a dense model; no serve.speculative) typed as the column is where it has a value
    for name, typ in (("expert_precision", pa.string()), *SPEC_TYPES.items()):
        table = table.set_column(table.column_names.index(name), name, pa.array([summary[name]], typ))
    return {"summary": table, "requests": requests}


def role_layout(dep) -> dict:
    """The summary's per-role layout: ``prefill_tp``, ``decode_tp``, ``prefill_ep`` and
    ``decode_ep``, the tensor- and expert-parallel sizes of the replicas that run prefill and
    decode (disaggregated: ``serve.prefill_tp`` / ``decode_tp``, default ``tp``; co-located: both
    the replica's). ``ep`` is the replica's expert-parallel size, with ``dp_attention`` its tp GPUs
    (``tp`` and ``ep`` beside them: ``serve.tp`` and the decode side's ep)."""
    s = dep.serve
    tps = {"prefill": s.tp, "decode": s.tp}
    if dep.disaggregated:
        tps = {"prefill": s.prefill_tp or s.tp, "decode": s.decode_tp or s.tp}
    out = {f"{role}_tp": tp for role, tp in tps.items()}
    out.update({f"{role}_ep": tp if s.dp_attention else s.ep for role, tp in tps.items()})
    return out


def resolved_limits(cfg) -> dict:
    """The engine limits a serving run of ``cfg`` runs with, its engine's defaults applied where
    the config leaves them unset (``engines.apply_defaults``, as ``Deployment`` resolves them):
    ``engine``, ``scheduler``, ``max_batch_size`` (sequences), ``max_batch_tokens`` (vLLM
    max_num_batched_tokens) and ``chunk_size`` (tokens); and the host CPU the engine's host times
    were scaled to (``host_cpu``, ``host_speed``: single-thread speed over the x86 fit host,
    ``sim.hardware``); and whether the engine's scheduler ran asynchronously (``async_scheduling``:
    serve.async_scheduling, else the engine's default, off under pp > 1 or speculative decoding, as
    ``Deployment`` runs it). The run manifest records them."""
    from sim.hardware import gpu
    g = gpu(cfg.topology.gpu)
    s = engines.apply_defaults(cfg.serve, g.hbm_bytes)
    name = s.engine or engines.DEFAULT_ENGINE
    return {"engine": name, "scheduler": s.scheduler, "max_batch_size": s.max_batch_size,
            "max_batch_tokens": s.max_batch_tokens, "chunk_size": s.chunk_size,
            "host_cpu": g.host_cpu, "host_speed": g.host_speed,
            "async_scheduling": engines.runs_async(s, engines.profile(name))}
