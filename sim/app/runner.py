"""The composition root: one validated config in, one simulated run's tables out.

Vocabulary:
- ``run(cfg) -> RunResult``: builds the ``Simulation``, the ``Topology`` (``topologies.build``),
  the ``Fabric`` (collective efficiencies from the config, else the calibrated defaults of
  ``sim.collectives.default_efficiencies``), and dispatches on ``run.kind`` to the training or
  serving workload. Only this module (and the CLI above it) imports sim, topologies and
  workloads together.
- ``RunResult``: ``tables`` (name -> ``pyarrow.Table``; ``summary`` has exactly one row),
  ``summary`` (that row as a dict) and ``manifest`` (resolved config, dcsim version, seed,
  wall time, event count).
- wall-clock columns: ``wall_s`` is the only column that differs between two runs of the same
  config and seed (``WALL_CLOCK_COLUMNS``); everything else is deterministic.
- ``run_to_dir(cfg, out_dir)``: ``run`` then write the tables, manifest and (``run.trace``)
  the Perfetto trace atomically (``sim.outputs``).
"""

from __future__ import annotations

import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

import sim
from sim.config import Config, config_to_dict
from sim.errors import ConfigError, DcsimError

WALL_CLOCK_COLUMNS = ("wall_s",)


@dataclass
class RunResult:
    tables: dict[str, pa.Table]
    summary: dict
    manifest: dict
    trace: dict | None = None


def build_fabric(cfg: Config, simulation, topo, record_flows: bool = False):
    """The fabric of a run (``sim.collectives.build_fabric`` on the config's ``[topology]``)."""
    from sim.collectives import build_fabric as fabric_for
    return fabric_for(cfg.topology, simulation, topo, record_flows)


_WARNED: set = set()     # (gpu, kind, message) of calibration warnings; messages of others
WARN_UNCALIBRATED = True  # dcsim validate turns it off: its cases' own GPUs are no warning to the user


def calibrated(gpu_name: str, kind: str, precision: str = "") -> bool:
    """The summaries' ``calibrated`` column (CONTRACT round 2): every compute constant a run of
    ``kind`` uses on this GPU (at a training run's ``precision``) was fitted to measurements of
    it; warns on stderr when not."""
    import sys
    from sim import hardware
    from sim.compute import calibration, calibration_inputs_changed
    ok, missing = calibration(gpu_name, kind, precision)
    if not ok and WARN_UNCALIBRATED:
        spec = hardware.defined().get(gpu_name)
        if spec is not None and spec.like:
            # CONTRACT round 2: a `like` GPU is not calibrated; say whose curves it runs on
            changed = calibration_inputs_changed(gpu_name)
            fit = (f"fitted to measurements of {spec.like}, not of {gpu_name}" if calibration(spec.like, kind, precision)[0]
                   else f"not all fitted for {kind} runs even on {spec.like}")
            why = (f" ({', '.join(changed)} {'differs' if len(changed) == 1 else 'differ'} from {spec.like}'s)"
                   if changed else "")
            msg = (f"warning: {gpu_name} is not calibrated for {kind} runs: it relies on {spec.like}'s compute "
                   f"curves (sim/data/compute.toml), {fit}{why}; treat its times as estimates")
        elif precision and calibration(gpu_name, kind)[0]:
            # fitted, but at other precisions (compute.toml calibrated_precisions)
            from sim.compute import calibration_section, _table
            precisions = _table()[calibration_section(gpu_name)]["calibrated_precisions"]
            # fp16 runs the 16-bit curve (gemm_eff_max): the section's own where its bf16 was fitted
            whose = (f"its bf16 fit's, not measured at {precision}" if precision == "fp16" and "bf16" in precisions
                     else "[default]'s")
            msg = (f"warning: {gpu_name} is not calibrated for {kind} runs at {precision}: its constants were "
                   f"fitted to {', '.join(precisions)} runs only, and {', '.join(missing)} (the {precision} GEMM "
                   f"rate) is {whose} (see sim/data/compute.toml); treat its times as estimates")
        else:
            msg = (f"warning: {gpu_name} is not calibrated for {kind} runs: {', '.join(missing)} come from "
                   f"defaults (see sim/data/compute.toml); treat its times as estimates")
            if spec is not None and spec.defaults_taken:
                msg += "; " + hardware.defaults_note(spec)
        if kind == "serve" and hardware.gpu(gpu_name).vendor == "AMD":
            # the measured comparison there is: the suite of AMD serving runs, and how far dcsim is from them
            msg += ("; `dcsim validate serving-amd` compares dcsim's AMD serving predictions with measured "
                    "runs (SGLang on MI355X) and shows how far they are")
        # once per GPU, kind and reason in a process: a sweep over hardware.NAME.like or one of
        # its fields gives each distinct reason once (it gave only the first point's)
        if (gpu_name, kind, msg) not in _WARNED:
            _WARNED.add((gpu_name, kind, msg))
            print(msg, file=sys.stderr)
    return ok


def _precision(cfg: Config) -> str:
    """A training run's ``train.precision`` (its calibration can depend on it); "" for serving."""
    return cfg.train.precision if cfg.run.kind == "train" and cfg.train is not None else ""


def _workload(kind: str):
    if kind == "train":
        from workloads.training import run_training
        return run_training
    if kind == "serve":
        from workloads.serving import run_serving
        return run_serving
    raise ConfigError("run.kind", f"unknown kind {kind!r}; use train or serve")


def _accounting(cfg: Config, topo, tables: dict, gpus: int | None = None) -> dict:
    """Energy, cost and long-horizon goodput columns (sim.app.accounting)."""
    from sim.app import accounting
    return accounting.extend(cfg, topo, tables, gpus=gpus)


def _set_column(table: pa.Table, name: str, value) -> pa.Table:
    if name in table.column_names:
        return table
    # a string typed as text also on an empty table (a job without flows: not a column of nulls)
    kind = pa.string() if isinstance(value, str) else None
    return table.append_column(name, pa.array([value] * table.num_rows, kind))


# Summary columns that are null (never NaN or inf) where undefined: compute_comm_ratio =
# compute_s / comm_s of a run without communication (one GPU, or serving with tp = pp = 1).
# J_per_token, usd_per_Mtoken: no token produced; mtbf_s, checkpoint_interval_s: a long-horizon run
# without failures (typed null, a raw read_parquet glob whose first file was such a point refused
# the others' seconds: "failed to cast column mtbf_s from DOUBLE to NULL")
# spec_acceptance_length, spec_acceptance_rate: serving without serve.speculative, or no speculative step
NULL_WHEN_UNDEFINED = ("compute_comm_ratio", "J_per_token", "usd_per_Mtoken", "mtbf_s", "checkpoint_interval_s",
                       "spec_acceptance_length", "spec_acceptance_rate")
# integer columns null where undefined (serving without serve.speculative): typed int64
NULL_INT_COLUMNS = ("spec_draft_tokens", "spec_accepted_tokens")
# Columns a finished run always defines: NaN in them is a bug, not an undefined quantity.
ALWAYS_DEFINED = ("step_time_s", "tokens_per_s", "mfu", "hfu", "compute_s", "comm_s", "duration_s",
                  "input_tokens_per_s", "output_tokens_per_s", "mbu", "peak_memory_GB", "energy_J")


def check_finite(summary: pa.Table) -> pa.Table:
    """The last guard before a summary is written or printed: an infinity in any numeric column,
    or NaN in one of ``ALWAYS_DEFINED``, is a ``SimulationError`` (exit 4) naming the column,
    never a value in the outputs. ``NULL_WHEN_UNDEFINED`` columns are typed float64 (null),
    ``NULL_INT_COLUMNS`` int64."""
    import math
    from sim.errors import SimulationError
    for names, typ in ((NULL_WHEN_UNDEFINED, pa.float64()), (NULL_INT_COLUMNS, pa.int64())):
        for name in names:
            if name in summary.column_names and pa.types.is_null(summary.column(name).type):
                summary = summary.set_column(summary.column_names.index(name), name, summary.column(name).cast(typ))
    for name in summary.column_names:
        col = summary.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            continue
        for v in col.to_pylist():
            if v is None or math.isfinite(v):
                continue
            if math.isinf(v) or name in ALWAYS_DEFINED:
                raise SimulationError(f"summary column {name} is {v}: the inputs drive it out of the range of "
                                      "floating point; check the config's magnitudes (rates, bandwidths, prices)")
    return summary


def check_precision(cfg: Config) -> None:
    """Refuse a precision the run's GPU cannot compute in (``ConfigError``, exit 2) rather than
    silently running at another: fp8 training needs fp8 tensor cores (Transformer Engine: Hopper,
    Ada, Blackwell, MI300), fp4 training and serving need fp4 tensor cores (Blackwell). fp16 and bf16 stand
    in for each other (the same width and rate); fp8 serving on a GPU without fp8 is weight-only
    FP8 (W8A16, vLLM's FP8 Marlin on Ampere) and runs at the bf16 rate."""
    from sim import hardware
    spec = hardware.gpu(cfg.topology.gpu)
    have = ", ".join(sorted(spec.dense_flops))
    def has(p):
        return spec.has_tensor_rate(p)
    p = cfg.train.precision
    if cfg.run.kind == "train" and p in ("fp8", "fp4") and not has(p):
        need = "Hopper or newer" if p == "fp8" else "Blackwell (B200, GB200)"
        raise ConfigError("train.precision", f"{spec.name} has no {p} tensor cores (its rates: {have}); "
                                             f"{p} training needs {need}: use " + ("fp8" if has("fp8") else "bf16"))
    lacks = getattr(spec, "lacks", ())
    if cfg.run.kind == "train" and p in lacks:
        other = next((q for q in ("fp16", "bf16") if q != p and q not in lacks), "fp32")
        raise ConfigError("train.precision", f"{spec.name} has no {p} tensor cores (its rates: {have}): use {other}")
    if cfg.run.kind == "train":
        try:        # a [hardware] GPU whose dense_tflops names neither fp16 nor bf16 (only fp32, say):
            spec.peak_flops(p)      # the step failed inside the compute model, keyed "precision"
        except ConfigError:
            raise ConfigError("train.precision", f"{spec.name} has no tensor rate for {p!r} (its rates: {have}); "
                                                 "train.precision is one of fp16, bf16, fp8, fp4: give the GPU's "
                                                 f"dense_tflops a {p} rate, or train in a precision it has") from None
    if cfg.run.kind == "serve" and cfg.serve.precision == "fp4" and not has("fp4"):
        raise ConfigError("serve.precision", f"{spec.name} has no fp4 tensor cores (its rates: {have}); "
                                             "fp4 needs Blackwell (B200, GB200): use fp8")
    if cfg.run.kind == "serve" and cfg.serve.kv_precision == "fp4":
        from workloads.serving.engines import profile
        if not profile(cfg.serve.engine).fp4_kv_cache:      # sglang-0.4 ran an FP4 KV cache on Blackwell
            raise ConfigError("serve.kv_precision", f"serve.engine = {cfg.serve.engine!r} has no FP4 KV cache "
                                                    f"(engines.toml: {profile(cfg.serve.engine).description}): "
                                                    "use fp8, or a newer engine such as 'sglang'")
        if not has("fp4"):
            check_fp4_kv_cache(spec.name, cfg.serve.engine or "vllm")
    kv = cfg.serve.kv_precision
    if cfg.run.kind == "serve" and kv in ("fp16", "bf16") and not has(kv):   # bf16 KV on a V100 ran as fp16
        other = "fp16" if kv == "bf16" else "bf16"
        raise ConfigError("serve.kv_precision", f"{spec.name} has no {kv} (its rates: {have}): engines keep the "
                                                f"KV cache in a type the GPU computes in; use {other} or fp8")


# FP4 KV cache by engine. TensorRT-LLM's NVFP4 KV cache and vLLM's --kv-cache-dtype nvfp4 (PR
# vllm-project/vllm#40177: FlashInfer trtllm-gen kernels, SM100; SM90 is rejected) run only on
# Blackwell. SGLang's --kv-cache-dtype fp4_e2m1 (sgl-project/sglang PRs #10078, #12612, 0.5 on)
# quantizes on write and dequantizes to bf16 on read, so it runs without fp4 tensor cores.
FP4_KV_SOFTWARE_ENGINES = ("sglang",)


def check_fp4_kv_cache(gpu_name: str, engine: str) -> None:
    """``serve.kv_precision = 'fp4'`` on a GPU without fp4 tensor cores: a ``ConfigError`` for an
    engine whose FP4 KV cache needs Blackwell (vLLM, TensorRT-LLM and the engines built on them),
    a warning on stderr for SGLang's software path (modelled as 4-bit storage with bf16
    attention; the dequantization's own time is not modelled)."""
    if engine not in FP4_KV_SOFTWARE_ENGINES:
        raise ConfigError("serve.kv_precision", f"{gpu_name} has no fp4 tensor cores, and serve.engine = {engine!r} "
                                                "has no FP4 KV cache that runs without them (vLLM's and TensorRT-LLM's "
                                                "NVFP4 KV cache need Blackwell: B200, GB200): use fp8, or engine = "
                                                "'sglang' (its software fp4_e2m1 KV cache)")
    message = (f"serve.kv_precision = 'fp4' on {gpu_name}, which has no fp4 tensor cores: modelled as SGLang's "
               "software fp4_e2m1 KV cache (4-bit storage, attention in bf16); the dequantization's own time is "
               "not modelled (SGLang warns it is slow where not fused into the attention kernel)")
    _warn_once(message)


LAUNCH_BOUND_WARN = 0.1   # launch_wait_s over compute_s past which a training run says it is launch-bound


def warn_launch_bound(summary: dict, gpu_name: str, job: str = "", precision: str = "") -> str | None:
    """Warn (stderr) when a training summary's compute is launch-bound: its critical GPU waits
    on the host issuing kernels (``launch_wait_s``) for more than ``LAUNCH_BOUND_WARN`` of its
    ``compute_s``. There a faster GPU or a longer sequence moves ``compute_s`` less than the
    kernels' own time does (the host's per-kernel cost sets it). Returns the message (None: none)."""
    wait, compute = summary.get("launch_wait_s"), summary.get("compute_s")
    if not wait or not compute or wait <= LAUNCH_BOUND_WARN * compute:
        return None
    from sim.compute import constants_row
    us = constants_row(gpu_name).get("cpu_dispatch_us", 0.0)
    who = f"job {job!r}: " if job else ""
    low = (f"; at {precision} each GEMM's casts and scale updates add host work too (Transformer Engine's "
           "FP8 CPU overhead), so a lower precision can run slower here" if precision in ("fp8", "fp4") else "")
    message = (f"{who}compute is launch-bound: the critical GPU waits {wait:.3g} s of its {compute:.3g} s of "
               f"compute per step on the host issuing kernels (eager dispatch, {us:g} us per op: "
               f"sim/data/compute.toml cpu_dispatch_us), so a faster GPU or a longer sequence moves compute_s less "
               f"than its kernels' time{low}; CUDA graphs (train.cuda_graph_impl), a larger train.micro_batch or a "
               f"smaller train.tp make it GPU-bound")
    _warn_once(message)
    return message


def _warn_once(message: str) -> None:
    """Print ``message`` on stderr as a warning, once per process (a sweep's points share a config)."""
    import sys
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)


# Work bounds: a run past them would take hours or exhaust memory, so it is refused before it
# starts (``check_work``, exit 2 naming the key). Measured on one core: about 1-4 ms per
# micro-batch pipeline chunk (training), about 3 ms per request (serving, 200 output tokens).
MAX_TRAIN_STEPS = 1000               # steps repeat one schedule; more only multiply the time
MAX_PIPELINE_CHUNKS = 1_000_000      # steps x micro-batches x pp x virtual stages (x dp x cp if fidelity = full)
MAX_REQUESTS = 1_000_000             # serving requests per run


def check_work(cfg: Config, gpus: int) -> None:
    """Estimate a run's work from its config and refuse (``ConfigError``) one past the bounds
    above, before any memory is spent on it; a serving run's trace is read (and refused if it does
    not parse) here, before any warning about the run (the workload reuses the read)."""
    if cfg.run.kind == "train":
        from workloads.model import ModelSpec
        from workloads.training.plan import make_plan
        if cfg.run.steps > MAX_TRAIN_STEPS:
            raise ConfigError("run.steps", f"{cfg.run.steps:,} steps exceed the bound of {MAX_TRAIN_STEPS:,}: "
                                           "steps repeat one schedule, so a few give the same step time")
        plan = make_plan(cfg.train, ModelSpec.from_section(cfg.model), gpus)
        replicas = plan.dp * plan.cp if plan.fidelity == "full" else 1
        chunks = cfg.run.steps * plan.microbatches * plan.pp * plan.v * replicas
        if chunks > MAX_PIPELINE_CHUNKS:
            key = "train.global_batch" if plan.microbatches * plan.pp * plan.v * replicas > MAX_PIPELINE_CHUNKS else "run.steps"
            raise ConfigError(key, f"the run would simulate {chunks:,} micro-batch pipeline chunks ({cfg.run.steps} "
                                   f"step(s) x {plan.microbatches:,} micro-batches x pp {plan.pp} x "
                                   f"{plan.v} virtual stage(s)" + (f" x {replicas} replicas" if replicas > 1 else "")
                                   + f"), over the bound of {MAX_PIPELINE_CHUNKS:,} (about an hour); lower "
                                   "global_batch or raise micro_batch")
    elif cfg.run.kind == "serve":
        w = cfg.workload
        if (w.arrival != "trace" or "requests" in w.model_fields_set) and w.requests > MAX_REQUESTS:
            raise ConfigError("workload.requests", f"{w.requests:,} requests exceed the bound of {MAX_REQUESTS:,} "
                                                   "per run (about an hour); a sample of 10,000 or so gives "
                                                   "stable percentiles")
        if w.trace:
            from workloads.serving.traces import read_trace
            read_trace(w.trace)


def warn_idle_serving_gpus(cfg: Config, gpus: int, job: int | None = None, name: str = "") -> str | None:
    """Warn (stderr) when a serving run's replicas occupy fewer than the ``gpus`` it is given
    (``topology.gpus``, or job ``job``'s ``jobs.N.gpus``): the rest sit idle, which a config such as
    4 replicas of tp 1 on 8 GPUs did without a word. The message says which GPUs the summary's
    columns count: a single run's summary (``gpus``, ``mfu``, ``mbu``, energy and cost) counts
    the used GPUs; a job's row has the job's ``gpus``, ``mfu`` and ``mbu`` over the used ones and
    energy and cost over all of the job's (it holds them; the idle ones at idle power). Returns the message (None: none idle)."""
    from workloads.serving.deployment import replica_gpus
    used, how = replica_gpus(cfg.serve)
    if not 0 < used < gpus:
        return None
    idle = gpus - used
    if job is None:
        where, counted = (f"topology.gpus = {gpus:,}", f"the summary counts the {used:,} used GPUs only (gpus = "
                          f"{used:,}; mfu, mbu, energy_J, usd and their per-token figures)")
    else:
        where = f"jobs.{job}.gpus = {gpus:,} (job {name!r})"
        counted = (f"its summary row has gpus = {gpus:,} (the job's); mfu and mbu divide by the {used:,} used GPUs, "
                   f"while energy_J, usd, J_per_token and usd_per_Mtoken count all {gpus:,} (the job holds "
                   "them: the idle ones billed by the hour and drawing idle power)")
    prefix = "" if job is None else f"jobs.{job}."
    per = cfg.serve.tp * cfg.serve.pp
    fix = (f"set {prefix}serve.replicas = {gpus // per:,} to use them" if not (cfg.serve.prefill_replicas or
           cfg.serve.decode_replicas) and gpus // per > cfg.serve.replicas else "add replicas to use them")
    gkey = "topology.gpus" if job is None else f"jobs.{job}.gpus"
    message = (f"{how.replace('serve.', prefix + 'serve.')} occupy {used:,} of the {where} GPUs: {idle:,} idle; "
               f"{counted}; {fix}, or set {gkey} = {used:,}")
    print(f"warning: {message}", file=sys.stderr)
    return message


def run(cfg: Config) -> RunResult:
    """Simulate one run of a validated config (``[[jobs]]``: several jobs on one fabric)."""
    import topologies
    from sim.simulation import Simulation

    if cfg.jobs:
        return run_jobs(cfg)
    check_precision(cfg)
    t0 = time.perf_counter()
    simulation = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    check_work(cfg, len(topo.gpus))
    if cfg.run.kind == "serve":
        warn_idle_serving_gpus(cfg, len(topo.gpus))
    fabric = build_fabric(cfg, simulation, topo, record_flows=cfg.run.trace)

    def simulate():
        out = dict(_workload(cfg.run.kind)(cfg, simulation, topo, fabric))
        # tables recorded on the simulation (flows, GPU streams) that the workload did not return
        for name, table in simulation.recorder.to_arrow().items():
            out.setdefault(name, table)
        if cfg.run.trace:     # every traced run writes flows.parquet, empty when no flow crossed the fabric
            from sim.fabric import FLOW_SCHEMA
            out["flows"] = out["flows"].cast(FLOW_SCHEMA) if "flows" in out else FLOW_SCHEMA.empty_table()
        links = fabric.link_table() if "links" not in out else None
        if links is not None:
            out["links"] = links
        return out, int(simulation.events_processed), simulation.now

    from sim.app.accounting import cached_step   # a long-horizon sweep simulates its step once
    step_tables, events, sim_time = cached_step(cfg, simulate)
    tables = _accounting(cfg, topo, dict(step_tables))
    if "summary" not in tables or tables["summary"].num_rows != 1:
        rows = tables["summary"].num_rows if "summary" in tables else 0
        raise RuntimeError(f"workload {cfg.run.kind!r} returned a summary with {rows} rows, expected 1")
    wall = time.perf_counter() - t0
    summary_t = tables["summary"]
    summary_t = _set_column(summary_t, "gpus", len(topo.gpus))
    summary_t = _set_column(summary_t, "sim_events", events)
    summary_t = _set_column(summary_t, "calibrated", calibrated(cfg.topology.gpu, cfg.run.kind, _precision(cfg)))
    if "wall_s" in summary_t.column_names:
        summary_t = summary_t.drop_columns(["wall_s"])
    summary_t = summary_t.append_column("wall_s", pa.array([wall], pa.float64()))
    summary_t = check_finite(summary_t)
    tables["summary"] = summary_t
    summary = {k: v[0] for k, v in summary_t.to_pydict().items()}
    warn_launch_bound(summary, cfg.topology.gpu, precision=_precision(cfg))
    manifest = {
        "dcsim_version": sim.__version__,
        "kind": cfg.run.kind,
        "name": cfg.run.name,
        "seed": cfg.run.seed,
        "wall_s": wall,
        "sim_events": summary["sim_events"],
        "sim_time_s": sim_time,
        "gpus": summary["gpus"],
        "python": platform.python_version(),
        "created_unix": time.time(),
        "config": config_to_dict(cfg),
    }
    if cfg.run.kind == "serve":
        manifest["resolved"] = _serve_resolved(cfg, summary)
    trace = None
    if cfg.run.trace:
        from sim.outputs import trace_events
        trace = trace_events(tables)
    return RunResult(tables, summary, manifest, trace)


def default_out_dir(cfg: Config) -> Path:
    return Path("runs") / "out" / cfg.run.name


def run_to_dir(cfg: Config, out_dir: str | Path | None = None, staging_root: str | Path | None = None,
               extra_manifest: dict | None = None, trace: bool | None = None,
               force: bool = False) -> RunResult:
    """Run ``cfg`` and write its directory atomically; returns the result. ``out_dir`` may
    replace only an earlier run's directory (or an empty one) unless ``force``: anything else
    is a ``ConfigError`` raised before the run starts (``sim.outputs.check_replaceable``)."""
    from sim.outputs import check_replaceable, trace_events, write_run_dir
    final = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
    check_replaceable(final, "run", force, key="--out" if out_dir is not None else "run.name")
    result = run(cfg)
    if trace and result.trace is None:
        result.trace = trace_events(result.tables)
    manifest = dict(result.manifest)
    if extra_manifest:
        manifest.update(extra_manifest)
    write_run_dir(final, result.tables, manifest, trace=result.trace,
                  staging_root=Path(staging_root) if staging_root else None, force=force)
    return result


# -- several jobs on one fabric ([[jobs]]) ---------------------------------------------------------

def _leaf_group(topo, server_gpus: list[int]):
    """The leaves a server's GPUs reach (one leaf in a fat-tree, the rails' leaves in a
    rail-optimized fabric); servers with equal groups share their leaf switches."""
    leaves = tuple(sorted({topo.attr(g, "leaf") for g in server_gpus if topo.attr(g, "leaf") is not None}))
    return leaves


def place_jobs(cfg: Config, topo) -> list[list[int]]:
    """GPU ranks (indices into ``topo.gpus``) of each job, in ``cfg.jobs`` order.

    Explicit ranges first (two jobs claiming one GPU: ConfigError naming both), then ``spread``
    jobs, then ``packed`` ones, each in config order, from the GPUs left: ``spread`` takes free
    servers round-robin over leaf groups (a server's GPUs stay together, so tensor parallelism
    stays inside its NVLink domain), ``packed`` the lowest free ranks (whole servers, leaves
    and pods in order)."""
    n = len(topo.gpus)
    owner: dict[int, int] = {}
    ranks: list[list[int] | None] = [None] * len(cfg.jobs)
    for i, job in enumerate(cfg.jobs):
        if not isinstance(job.placement, list):
            continue
        mine = []
        for a, b in job.placement:
            if b > n:
                raise ConfigError(f"jobs.{i}.placement", f"range [{a}, {b}) exceeds the topology's {n} GPUs")
            for r in range(a, b):
                if r in owner:
                    raise ConfigError(f"jobs.{i}.placement",
                                      f"jobs {cfg.jobs[owner[r]].name!r} and {job.name!r} overlap (GPU {r})"
                                      if owner[r] != i else f"job {job.name!r} lists GPU {r} in two of its ranges")
                owner[r] = i
                mine.append(r)
        if len(mine) != job.gpus:
            raise ConfigError(f"jobs.{i}.placement", f"ranges hold {len(mine)} GPUs; jobs.{i}.gpus is {job.gpus}")
        ranks[i] = mine
    order = [i for i, j in enumerate(cfg.jobs) if j.placement == "spread"] + \
        [i for i, j in enumerate(cfg.jobs) if j.placement == "packed"]
    for i in order:
        job = cfg.jobs[i]
        free = [r for r in range(n) if r not in owner]
        if len(free) < job.gpus:
            raise ConfigError(f"jobs.{i}.gpus", f"job {job.name!r} needs {job.gpus} GPUs; {len(free)} of the "
                              f"topology's {n} are free (topology.gpus)")
        if job.placement == "packed":
            mine = free[:job.gpus]
        else:
            servers: dict[int, list[int]] = {}
            for r in free:
                servers.setdefault(topo.gpu_server(r), []).append(r)
            groups: dict[tuple, list[list[int]]] = {}
            for srv in sorted(servers):
                groups.setdefault(_leaf_group(topo, [topo.gpu(r) for r in servers[srv]]), []).append(servers[srv])
            queues = list(groups.values())
            mine, k = [], 0
            while len(mine) < job.gpus:
                q = queues[k % len(queues)]
                if q:
                    mine.extend(q.pop(0)[:job.gpus - len(mine)])
                k += 1
        for r in mine:
            owner[r] = i
        ranks[i] = sorted(mine)
    return ranks


def rank_ranges(ranks: list[int]) -> list[list[int]]:
    """Sorted GPU indices as [first, last) ranges of consecutive ones: [0, 1, 2, 8, 9] -> [[0, 3], [8, 10]]."""
    out: list[list[int]] = []
    for r in sorted(ranks):
        if out and out[-1][1] == r:
            out[-1][1] = r + 1
        else:
            out.append([r, r + 1])
    return out


def job_config(cfg: Config, i: int) -> Config:
    """The single-workload config of job ``i``: its own sections on the shared topology."""
    job = cfg.jobs[i]
    run = cfg.run.model_copy(update={"kind": job.kind, "name": job.name})
    return cfg.model_copy(update={"run": run, "model": job.model, "train": job.train, "serve": job.serve,
                                  "workload": job.workload, "jobs": []})


def _job_error(err, i: int, name: str):
    """Re-raise a job's config or infeasibility error under its ``jobs.N.`` key path."""
    from sim.errors import InfeasibleError
    if isinstance(err, (ConfigError, InfeasibleError)):
        # a job runs on its own GPUs: "the topology" of a workload's message is the job's
        reason = re.sub(r"the topology has (\d+)\b", rf"the job has \1 (jobs.{i}.gpus)", err.reason)
        reason = re.sub(r"the topology's (\d+) GPUs", rf"the job's \1 GPUs (jobs.{i}.gpus)", reason)
        return type(err)(f"jobs.{i}.{err.key}" if err.key else f"jobs.{i}", f"job {name!r}: {reason}")
    return err


def _simulate_jobs(cfg: Config, which: list[int], record_flows: bool):
    """Run the jobs ``which`` together on one clock and fabric; (workloads, fabrics, sim, fabric)."""
    import topologies
    from sim.simulation import Simulation
    from sim.tenant import JobFabric, JobSimulation, JobTopology
    from workloads.workload import make

    simulation = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    fabric = build_fabric(cfg, simulation, topo, record_flows=record_flows)
    ranks = place_jobs(cfg, topo)
    has_serving = any(cfg.jobs[i].kind == "serve" for i in which)
    steps_set = "steps" in cfg.run.model_fields_set
    workloads, fabrics = {}, {}
    for i in which:
        job = cfg.jobs[i]
        jsim = JobSimulation(simulation, job.name)
        jtopo = JobTopology(topo, [topo.gpu(r) for r in ranks[i]])
        jfab = JobFabric(fabric, jtopo, jsim)
        steps = cfg.run.steps if steps_set or not has_serving else None
        try:
            workloads[i] = make(job.kind, job_config(cfg, i), jsim, jtopo, jfab, steps=steps)
        except Exception as err:  # noqa: BLE001 - re-raised with the job's key path
            raise _job_error(err, i, job.name) from None
        fabrics[i] = jfab
    env = simulation.env
    done = {i: w.start() for i, w in workloads.items()}
    finite = [done[i] for i, w in workloads.items() if not w.open_ended]
    if finite:
        simulation.run(env.all_of(finite))
    for w in workloads.values():
        w.stop()
    simulation.run(env.all_of(list(done.values())))
    while fabric.active_flows() and env.peek() < float("inf"):   # let stray copies land
        env.step()
    return workloads, fabrics, simulation, fabric


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="permissive")


def _rows_table(rows: list[dict]) -> pa.Table:
    """One table of summary rows whose columns are the union of every row's keys, in first-seen
    order (``pa.Table.from_pylist`` takes its columns from the first row only, so a train job
    listed first would drop the serve job's columns); a row lacking a column holds null."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    table = pa.Table.from_pylist([{k: row.get(k) for k in names} for row in rows])
    for name in _TEXT_COLUMNS:
        # all null (only dense serve jobs): typed as text, as a single serving run's summary has
        # it, so that runs read together (read_parquet without union_by_name) agree on the type
        if name in table.column_names and pa.types.is_null(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, table[name].cast(pa.string()))
    return table


_TEXT_COLUMNS = ("expert_precision",)


def _serve_resolved(cfg: Config, summary: dict) -> dict:
    """A serving run's engine limits as it ran them (the config's keys hold only what was given
    or the section's defaults): ``workloads.serving.resolved_limits`` and the KV pool per
    replica, tokens (``kv_capacity_tokens``, the summary's)."""
    from workloads.serving import resolved_limits
    return {"serve": {**resolved_limits(cfg), "kv_capacity_tokens": summary.get("kv_capacity_tokens")}}


def run_jobs(cfg: Config) -> RunResult:
    """Simulate the ``[[jobs]]`` of ``cfg`` on one fabric (and, with ``run.baseline``, each
    job alone on the same GPUs for the slowdown columns)."""
    t0 = time.perf_counter()
    which = list(range(len(cfg.jobs)))
    for i in which:      # each job's precision and work, as for a single run (issue 9)
        try:
            job_cfg = job_config(cfg, i)
            check_precision(job_cfg)
            check_work(job_cfg, cfg.jobs[i].gpus)
            if cfg.jobs[i].kind == "serve":
                warn_idle_serving_gpus(job_cfg, cfg.jobs[i].gpus, i, cfg.jobs[i].name)
        except DcsimError as err:
            raise _job_error(err, i, cfg.jobs[i].name) from None
    workloads, fabrics, simulation, fabric = _simulate_jobs(cfg, which, cfg.run.trace)
    alone = {}
    if cfg.run.baseline:
        for i in which:
            alone[i] = _simulate_jobs(cfg, [i], False)[0][i]
    wall = time.perf_counter() - t0
    rows, per_job = [], {}
    for i, w in workloads.items():
        job = cfg.jobs[i]
        tabs = dict(w.tables())
        tabs = _accounting(job_config(cfg, i), fabric.topo, tabs, gpus=job.gpus)
        tabs.update({k: v for k, v in fabrics[i].sim.recorder.to_arrow().items() if k not in tabs})
        per_job[job.name] = tabs
        row = {"job": job.name, "kind": job.kind}
        row.update({k: v[0] for k, v in tabs["summary"].to_pydict().items()})
        row["gpus"] = job.gpus
        row["calibrated"] = calibrated(cfg.topology.gpu, job.kind, _precision(job_config(cfg, i)))
        if i in alone:
            row.update(w.slowdown(alone[i]))
            if job.kind == "serve":
                row.setdefault("tpot_slowdown", float("nan"))
        rows.append(row)
    for row in rows:
        row["sim_events"] = int(simulation.events_processed)
        row["wall_s"] = wall
        if cfg.run.baseline:
            row.setdefault("slowdown", float("nan"))
    summary_t = check_finite(_rows_table(rows))
    rows = summary_t.to_pylist()
    if cfg.run.trace:
        _split_flows(simulation, per_job)
    for i, row in zip(workloads, rows):
        warn_launch_bound(row, cfg.topology.gpu, row["job"], _precision(job_config(cfg, i)))
    tables: dict[str, pa.Table] = {"summary": summary_t}
    for name in sorted({t for tabs in per_job.values() for t in tabs if t != "summary"}):
        parts = [_set_column(tabs[name], "job", job) .select(["job"] + [c for c in tabs[name].column_names if c != "job"])
                 for job, tabs in per_job.items() if name in tabs]
        tables[name] = _concat(parts)
    for name, table in simulation.recorder.to_arrow().items():
        tables.setdefault(name, table)
    tables["links"] = job_link_table(cfg, fabric, {cfg.jobs[i].name: fabrics[i] for i in which})
    manifest = {
        "dcsim_version": sim.__version__,
        "kind": "jobs",
        "name": cfg.run.name,
        "seed": cfg.run.seed,
        "wall_s": wall,
        "sim_events": int(simulation.events_processed),
        "sim_time_s": simulation.now,
        "gpus": len(fabric.topo.gpus),
        "jobs": [j.name for j in cfg.jobs],
        # the GPUs each job got (placement = "packed" / "spread" are chosen at run time): topology GPU
        # indices as [first, last) ranges, the form jobs.N.placement takes to pin the same GPUs
        "placement": [{"job": j.name, "kind": j.kind, "gpus": j.gpus, "ranges": rank_ranges(r)}
                      for j, r in zip(cfg.jobs, place_jobs(cfg, fabric.topo))],
        "python": platform.python_version(),
        "created_unix": time.time(),
        "config": config_to_dict(cfg),
    }
    serving = {row["job"]: _serve_resolved(job_config(cfg, i), row)
               for i, row in enumerate(rows) if cfg.jobs[i].kind == "serve"}
    if serving:
        manifest["resolved"] = {"jobs": serving}
    trace = jobs_trace(per_job) if cfg.run.trace else None
    return RunResult(tables, rows, manifest, trace)


def job_link_table(cfg: Config, fabric, job_fabrics: dict) -> pa.Table:
    """``links.parquet`` of a multi-job run: one row per link and job that put bytes on it
    (``job`` column); ``busy_s`` is the link's busy time split in proportion to the bytes, so
    per link the rows' bytes and busy times sum to the link's totals."""
    base = fabric.link_table()
    cols = base.to_pydict()
    total = np.asarray(cols["bytes"])
    busy = np.asarray(cols["busy_s"])
    elapsed = max(fabric.sim.now, 1e-30)
    parts = []
    for name, jf in job_fabrics.items():
        idx = np.flatnonzero(jf.link_bytes > 0)
        t = base.take(pa.array(idx))
        jb = jf.link_bytes[idx]
        share = np.where(total[idx] > 0, jb / np.where(total[idx] > 0, total[idx], 1.0), 0.0)
        t = t.set_column(t.column_names.index("bytes"), "bytes", pa.array(jb))
        t = t.set_column(t.column_names.index("busy_s"), "busy_s", pa.array(busy[idx] * share))
        t = t.set_column(t.column_names.index("utilization"), "utilization",
                         pa.array(jb / (fabric.capacity[idx] * elapsed)))
        parts.append(t.add_column(0, "job", pa.array([name] * t.num_rows, pa.string())))
    return pa.concat_tables(parts) if parts else base.add_column(0, "job", pa.array([], pa.string()))


def _split_flows(simulation, per_job: dict[str, dict[str, pa.Table]]) -> None:
    """Each job's ``flows`` (``FLOW_SCHEMA``, empty when it put none on the fabric): the shared fabric's
    flows table, whose rows name their job, split by job. ``flows.parquet`` then carries a ``job`` column
    like the other per-job tables, and the trace draws each job's flows in its own process."""
    import pyarrow.compute as pc
    from sim.fabric import FLOW_SCHEMA
    recorded = simulation.recorder.tables.pop("flows", None)
    flows = recorded.to_arrow() if recorded is not None and recorded.rows else None
    for job, tabs in per_job.items():
        if flows is None:
            tabs["flows"] = FLOW_SCHEMA.empty_table()
            continue
        mine = flows.filter(pc.equal(flows["job"], job))
        tabs["flows"] = mine.select(FLOW_SCHEMA.names).cast(FLOW_SCHEMA)


def jobs_trace(per_job: dict[str, dict[str, pa.Table]]) -> dict:
    """One Perfetto process per job; each of its tables' lanes a thread of that process (its GPU streams,
    requests and, split by ``_split_flows``, its network flows)."""
    from sim.outputs import trace_events
    events = []
    for pid, (job, tabs) in enumerate(per_job.items(), 1):
        sub = trace_events({k: v for k, v in tabs.items() if k != "summary"})["traceEvents"]
        pname = {e["pid"]: e["args"]["name"] for e in sub if e.get("name") == "process_name"}
        tids: dict[tuple, int] = {}
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": f"job {job}"}})
        for e in sub:
            if e.get("name") == "process_name" and e.get("ph") == "M":
                continue
            orig = e["pid"]
            tid = tids.setdefault((orig, e["tid"]), len(tids) + 1)
            e = {**e, "pid": pid, "tid": tid}
            if e.get("ph") == "M" and e.get("name") == "thread_name":
                e["args"] = {"name": f"{pname.get(orig, '')}: {e['args']['name']}"}
            if "id" in e:
                e["id"] = f"{job}-{e['id']}"
            events.append(e)
    return {"traceEvents": events, "displayTimeUnit": "ms"}
