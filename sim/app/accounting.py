"""Accounting: energy, cost and (long-horizon training) goodput columns added to a run's summary.

Vocabulary:
- ``extend(cfg, topo, tables) -> tables``: called by the runner on one workload's tables; adds
  ``energy_J, J_per_token, avg_power_kW, usd_per_Mtoken, usd, gpu_utilization`` (and
  ``usd_per_step`` for training) to the one-row summary, and for a long-horizon training run
  (``run.duration_h`` or ``run.token_budget``) the goodput columns of
  ``workloads.training.goodput`` plus a ``timeline`` table.
- utilization: training: the critical GPU's compute-stream busy fraction ``compute_s /
  step_time_s`` (steps whose times differ, a ``[[jobs]]`` job's beside co-tenants: ``compute_s /
  mean_step_time_s``, every step computing the same work, and ``usd_per_step`` the mean step's;
  a ``[[jobs]]`` training job whose ``train.dp`` leaves some of its GPUs out: times the used
  share, the others at 0); serving: the replicas' ``busy_fraction`` (a ``[[jobs]]`` serve job holding more
  GPUs than its replicas occupy: times their share, its idle GPUs at 0). Idle phases (recovery,
  checkpoint stalls) run at utilization 0.
- tokens: training counts trained tokens (global batch x sequence length per useful step);
  serving counts output tokens.
- horizon of a run: training without ``duration_h``: the simulated steps; serving: ``duration_s``.
- step cache: the points of a long-horizon sweep that differ only in long-horizon keys
  (``LONG_HORIZON_KEYS``: the horizon, checkpoint interval, failures, cost) share one simulated
  checkpoint per process (``simulate_checkpoint``) and, whatever ``train.checkpoint_async``,
  one simulated step (``cached_step``, used by the runner).

Errors: ConfigError from ``sim.energy``, ``sim.cost`` and ``sim.failures`` name the config key.
"""

from __future__ import annotations

import math

import pyarrow as pa

from sim import cost as costs
from sim import hardware
from sim.energy import power_model
from sim.errors import ConfigError

LONG_HORIZON_CAP_S = 100 * 365 * 86400.0     # a token budget without duration_h: a bound, never reached in practice
# keys that change a long-horizon run's timeline but not its simulated step
LONG_HORIZON_KEYS = (("run", "duration_h"), ("run", "token_budget"), ("run", "name"),
                     ("train", "checkpoint_interval_s"), ("failures", None), ("cost", None))
CACHE_SIZE = 8
_step_cache: dict = {}
_checkpoint_cache: dict = {}


def step_key(cfg, also: tuple = ()) -> str | None:
    """The cache key of a long-horizon training run's step: its config less
    ``LONG_HORIZON_KEYS`` (and ``also``); None for any other run (never cached) or a traced one."""
    import json
    from sim.config import config_to_dict
    if cfg.run.kind != "train" or cfg.jobs or cfg.run.trace or (cfg.run.duration_h is None and cfg.run.token_budget is None):
        return None
    data = config_to_dict(cfg)
    for section, key in LONG_HORIZON_KEYS + also:
        if key is None:
            data.pop(section, None)
        else:
            data.get(section, {}).pop(key, None)
    return json.dumps(data, sort_keys=True, default=str)


def _remember(cache: dict, key, value):
    if key is not None:
        if len(cache) >= CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = value
    return value


def cached_step(cfg, simulate):
    """``simulate()`` -> (tables, events, sim time) for ``cfg``'s step, or the same from an earlier run of
    this process whose config differs only in long-horizon keys."""
    key = step_key(cfg, also=(("train", "checkpoint_async"),))
    if key is not None and key in _step_cache:
        return _step_cache[key]
    return _remember(_step_cache, key, simulate())


def _spec(cfg):
    return hardware.gpu(cfg.topology.gpu)


def extend(cfg, topo, tables: dict[str, pa.Table], gpus: int | None = None) -> dict[str, pa.Table]:
    """Add the energy, cost and goodput columns (and the timeline table) to ``tables``; ``gpus``:
    the job's GPUs when it has part of ``topo`` (default the summary's ``gpus``, else all)."""
    summary_t = tables.get("summary")
    if summary_t is None or summary_t.num_rows != 1:
        return tables
    row = {k: v[0] for k, v in summary_t.to_pydict().items()}
    if cfg.run.kind != "train":
        for key in ("duration_h", "token_budget"):
            if getattr(cfg.run, key) is not None:
                raise ConfigError(f"run.{key}", "applies to training runs only (a serving run lasts its requests)")
    spec = _spec(cfg)
    gpus = int(gpus or row.get("gpus") or len(topo.gpus))
    p = cfg.power
    pm = power_model(spec, topo, pue=p.pue, gpu_cap_W=p.gpu_cap_W, host_W=p.host_W, gpus=gpus)
    c = cfg.cost
    price = costs.prices(spec.name, c.gpu_hour_usd, c.capex_usd_per_gpu, c.depreciation_years, c.kwh_usd)
    add: dict = {}
    if cfg.run.kind == "train":
        step = float(row["step_time_s"])
        u = min(1.0, max(0.0, float(row["compute_s"]) / step)) if step > 0 else 0.0
        # a [[jobs]] training job whose plan (train.dp) uses fewer than the GPUs it holds: the rest
        # draw idle power (utilization 0), as a serving job's idle GPUs do
        used = int(row.get("gpus") or gpus)
        if 0 < used < gpus:
            u *= used / gpus
        tokens_per_step = float(row["tokens_per_s"]) * step
        step_usd = price.run_usd(gpus, step, pm.energy_J([(step, u)]))
        if cfg.run.duration_h is not None or cfg.run.token_budget is not None:
            add_long, timeline = _long_horizon(cfg, topo, row, gpus, step, tokens_per_step)
            tables["timeline"] = timeline
            wall = add_long["wall_h"] * 3600.0
            energy = pm.energy_J([(add_long["train_s"], u), (max(wall - add_long["train_s"], 0.0), 0.0)])
            tokens = add_long["useful_steps"] * tokens_per_step
            add.update(add_long)
            add["effective_mfu"] = float(row["mfu"]) * add_long["goodput"]
            add["trained_tokens"] = tokens
        else:
            # the steps the workload simulated: run.steps, or, for a [[jobs]] training job beside
            # a serving one, as many as ran until the serving job finished (its summary's
            # ``steps``), each of its mean step time (co-tenants vary them)
            n = int(row.get("steps") or cfg.run.steps)
            mean = float(row.get("mean_step_time_s") or step)
            wall = mean * n
            # every step computes the same work (compute_s), but co-tenants stretch some steps:
            # the GPUs' busy fraction over the run is compute_s / the mean step, not / the last one
            # (the last step, run once the co-tenant was done, overstated it and with it the energy)
            if mean > 0 and mean != step:
                u = min(1.0, max(0.0, float(row["compute_s"]) / mean))
                if 0 < used < gpus:
                    u *= used / gpus
                step_usd = price.run_usd(gpus, mean, pm.energy_J([(mean, u)]))    # the mean step's
            energy = pm.energy_J([(wall, u)])
            tokens = tokens_per_step * n
        add["usd_per_step"] = step_usd
    else:
        wall = float(row.get("duration_s") or 0.0)
        u = float(row.get("busy_fraction", 1.0))
        u = min(1.0, max(0.0, u if math.isfinite(u) else 1.0))
        # a job that holds more GPUs than its replicas occupy: the rest draw idle power (utilization 0),
        # so the job's utilization is the replicas' times their share of its GPUs (power is linear in it)
        from workloads.serving.deployment import replica_gpus
        used = replica_gpus(cfg.serve)[0]
        if 0 < used < gpus:
            u *= used / gpus
        energy = pm.energy_J([(wall, u)])
        tokens = float(row.get("output_tokens_per_s") or 0.0) * wall
    usd = price.run_usd(gpus, wall, energy)
    add.update({
        "gpu_utilization": u,
        "energy_J": energy,
        "J_per_token": energy / tokens if tokens > 0 else None,     # null: no token produced
        "avg_power_kW": energy / wall / 1e3 if wall > 0 else pm.facility_W(u) / 1e3,
        "idle_power_kW": pm.idle_W / 1e3,
        "max_power_kW": pm.max_W / 1e3,
        "usd": usd,
        "usd_per_Mtoken": costs.usd_per_Mtoken(usd, tokens) if tokens > 0 else None,
        "gpu_hour_usd": price.gpu_hour_usd,
    })
    for name, value in add.items():
        if name in summary_t.column_names:
            summary_t = summary_t.drop_columns([name])
        summary_t = summary_t.append_column(name, pa.array([value]))
    tables["summary"] = summary_t
    return tables


def _long_horizon(cfg, topo, row, gpus: int, step: float, tokens_per_step: float):
    from sim.failures import failure_model
    from workloads.model import ModelSpec
    from workloads.training.goodput import checkpoint_cost, default_interval, simulate_timeline
    t = cfg.topology
    spec = _spec(cfg)
    hosts = max(1, math.ceil(gpus / t.gpus_per_node))
    nic_Bps = t.nics_per_node * t.nic_Gbps * 1e9 / 8
    host_Bps = (t.host_GBps * 1e9) if t.host_GBps else spec.host_Bps
    storage = t.storage_GBps * 1e9 if t.storage_GBps else None
    params = float(ModelSpec.from_section(cfg.model).params())
    bound = checkpoint_cost(params, gpus, hosts, host_Bps, t.ssd_GBps * 1e9, nic_Bps, storage,
                            cfg.train.checkpoint_async)
    ckpt = simulate_checkpoint(cfg, gpus, step, bound)
    f = cfg.failures
    overrides = {k: getattr(f, k) for k in type(f).model_fields if k != "preset"}
    fm = failure_model({"gpu": gpus, "nic": hosts * t.nics_per_node, "host": hosts}, overrides)
    interval = cfg.train.checkpoint_interval_s or default_interval(ckpt, fm)
    given = cfg.train.checkpoint_interval_s
    if given is not None and given < 0.5 * step:
        # checkpoints fall on step boundaries (workloads.training.goodput): a shorter interval is one step
        import sys
        print(f"warning: train.checkpoint_interval_s = {given:g} s is under half a training step ({step:.4g} s): "
              f"checkpoints fall on step boundaries, so the job checkpoints after every step (the summary's "
              f"checkpoint_interval_s = {step:.4g})", file=sys.stderr)
    horizon = cfg.run.duration_h * 3600.0 if cfg.run.duration_h is not None else LONG_HORIZON_CAP_S
    max_steps = math.ceil(cfg.run.token_budget / tokens_per_step) if cfg.run.token_budget is not None else None
    summary, timeline = simulate_timeline(step, horizon, ckpt, interval, fm, cfg.run.seed, max_steps)
    if cfg.run.duration_h is None and max_steps is not None and summary["useful_steps"] < max_steps:
        from sim.errors import InfeasibleError
        raise InfeasibleError("run.token_budget", f"{cfg.run.token_budget:.4g} tokens are not trained within "
                              f"{LONG_HORIZON_CAP_S / (365 * 86400):.0f} years (the long-horizon cap): "
                              f"{summary['useful_steps'] * tokens_per_step:.4g} tokens at "
                              f"{tokens_per_step / step:.4g} tokens/s with goodput {summary['goodput']:.3f}; "
                              "lower the budget, or set run.duration_h to stop at a horizon")
    return summary, timeline


def simulate_checkpoint(cfg, gpus: int, step_s: float, bound):
    """One checkpoint of ``cfg``'s job simulated on its topology (``workloads.training.goodput``:
    every GPU writes its shard of the model and optimizer state, ``bound.bytes_total / gpus``
    bytes, to the storage tier or its server's SSD as fabric flows):

    - sync: the write alone (training stalls for it): ``stall_s = write_s`` = its simulated time.
    - async: the copy to host memory alone (the stall), then the write beside the job's own
      training steps in one simulation (the write's flows and the step's collectives share NICs
      and uplinks). The step beside the write over ``step_s`` is ``step_slowdown``; the write
      overlaps ``write / step`` steps, each losing the step difference: ``contention_s``, added
      to the stall. A write that outlasts the simulated steps is extrapolated at its rate over
      them. A write whose links no training traffic uses (per-host SSDs) is simulated alone.

    ``bound``: the closed-form ``Checkpoint`` (its bytes); returns the simulated ``Checkpoint``."""
    key = step_key(cfg)
    key = None if key is None else (key, gpus, step_s, bound)
    if key is not None and key in _checkpoint_cache:
        return _checkpoint_cache[key]
    return _remember(_checkpoint_cache, key, _simulate_checkpoint(cfg, gpus, step_s, bound))


def _simulate_checkpoint(cfg, gpus: int, step_s: float, bound):
    import topologies
    from sim.collectives import build_fabric
    from sim.simulation import Simulation
    from workloads.training import TrainingWorkload
    from workloads.training import goodput as gp
    t = cfg.topology
    topo = topologies.build(t)
    storage = gp.attach_storage(topo, t.storage_GBps * 1e9) if t.storage_GBps else None
    pairs = gp.checkpoint_pairs(topo, gpus, storage)
    shard = bound.bytes_total / gpus

    def alone(pairs_, chunks=1):
        sim = Simulation(cfg.run.seed)
        fabric = build_fabric(cfg.topology, sim, topo)
        done: list = []
        sim.run(sim.process(gp.write_shards(sim, fabric, pairs_, shard, chunks, done), "checkpoint"))
        return done[-1]

    write_alone = alone(pairs)
    if not cfg.train.checkpoint_async:
        return gp.Checkpoint(bound.bytes_total, write_alone, write_alone, False)
    copy = alone(gp.host_pairs(topo, gpus))
    if not gp.contends(topo, pairs):
        return gp.Checkpoint(bound.bytes_total, copy, copy + write_alone, True)
    chunks = int(min(gp.MAX_CHUNKS, max(1, math.ceil(2.0 * write_alone / step_s))))
    sim = Simulation(cfg.run.seed)
    fabric = build_fabric(cfg.topology, sim, topo)
    job = TrainingWorkload(cfg, sim, topo, fabric, steps=None)
    done: list = []
    # the job runs steps until the first write round has landed (then finishes its step)
    sim.process(gp.write_shards(sim, fabric, pairs, shard, chunks, done, on_round=job.stop), "checkpoint")
    sim.run(job.start())
    step_with = job.mean_step_time()
    write = done[-1] if len(done) == chunks else done[-1] * chunks / len(done)
    slow = step_with / step_s
    contention = max(0.0, step_with - step_s) * max(1.0, write / step_with)
    return gp.Checkpoint(bound.bytes_total, copy + contention, copy + write, True, contention, slow)
