"""Training workloads: one step of a dense or MoE transformer on a topology, and where its time goes.

Vocabulary:
- ``TrainingWorkload`` (a ``workloads.workload.Workload``): checks the plan (``plan``), the
  memory (``memory``), costs every pass (``costs``) and runs SimPy steps (``engine``) back to
  back; ``tables()`` returns ``{"summary": one row over every simulated step, "steps": one row
  per step and pipeline stage}``. ``run_training(cfg, sim, topo, fabric)`` runs ``run.steps`` of them
  alone.
- critical stage: the pipeline rank whose compute stream is busiest; the summary's compute,
  communication and bubble columns describe its GPU (CONTRACT.md). Stages whose compute times
  are within ``CRITICAL_TIE`` (relative) of the busiest are tied (equal work summed at other
  times differs in the last bits): the lowest stage among them, and of its replicas the lowest
  (dp, cp), is the critical one (``critical_row``).
- ``bubble_s``: time on the critical GPU with neither compute nor exposed communication,
  framework step overhead excluded (reported as ``overhead_s``).
- ``launch_wait_s``: of the critical GPU's ``compute_s``, the seconds it waits on the host
  issuing kernels (a launch-bound pass: eager dispatch slower than its kernels run; the runner
  warns when it is a sizeable part), from the cost model at nominal GPU speed.
- summary over steps: ``step_time_s`` is the mean step time of the simulated steps (``steps``
  of them), ``tokens_per_s`` the tokens they trained over their total time, the FLOP rates and
  ``mfu`` / ``hfu`` the same; the critical GPU's time columns (``compute_s``, ``comm_s``,
  ``exposed_*``, ``bubble_s``) are means over the steps of each step's critical row. Steps of a run
  alone are identical (the mean is then exactly the one step's); a ``[[jobs]]`` job's differ
  with what its co-tenants put on the fabric.
"""

from __future__ import annotations

import math

import pyarrow as pa
import simpy

from sim.compute import ComputeModel, efficiency_for
from sim.errors import InfeasibleError
from sim.hardware import gpu as gpu_spec
from workloads.model import ModelSpec
from workloads.training.costs import step_costs
from sim.gpu import union_length, uncovered
from workloads.training.engine import KINDS, TrainingStep, exposed_by_kind, layer_gradient_floor
from workloads.training.memory import peak_memory_bytes
from workloads.training.plan import make_plan


def run_training(cfg, sim, topo, fabric) -> dict[str, pa.Table]:
    """Run ``run.steps`` steps of ``cfg`` alone on the simulation's clock; its tables."""
    job = TrainingWorkload(cfg, sim, topo, fabric, steps=cfg.run.steps)
    sim.run(job.start())
    return job.tables()


def _gpu_speed(cfg, spec, world: int):
    """Per-rank speed factors (sim.stragglers), or None when every GPU runs at nominal speed."""
    from sim.energy import gpu_idle_W
    from sim.stragglers import cap_speed, speed_factors
    t = cfg.topology
    cap = cap_speed(cfg.power.gpu_cap_W, gpu_idle_W(spec.name, spec.power_W), spec.power_W)
    if not t.gpu_speed and t.speed_cv == 0 and cap == 1.0:
        return None
    return speed_factors(world, t.gpu_speed, t.speed_cv, cfg.run.seed, cap)


def sync_jitter(cfg, spec, world: int) -> float:
    """Compute multiplier of a synchronous step over ``world`` GPUs from the spread of per-GPU
    speeds (``sim.stragglers.sync_slowdown``): ``topology.speed_spread``, or the GPU's measured
    ``speed_spread`` (compute.toml). 1 where ``speed_cv`` draws the speeds itself; named
    ``gpu_speed`` factors and a power cap multiply it (the engine's ``_straggle``)."""
    from sim.compute import constants_row
    from sim.stragglers import sync_slowdown
    t = cfg.topology
    if t.speed_cv > 0:
        return 1.0
    sigma = t.speed_spread if t.speed_spread is not None else constants_row(spec.name).get("speed_spread", 0.0)
    return sync_slowdown(world, sigma)


_WARNED: set = set()      # warnings given in this process (a sweep's points share a config)


def _check_bucket(tr, plan, costs) -> None:
    """Warn (once per message) when a given ``train.dp_bucket_MB`` is below the smallest layer's
    gradient bytes where the gradients reduce in buckets (DP or CP over more than one rank,
    overlapped with the backward): the step reduces one bucket per layer, as at that layer's
    size, so a smaller value changes nothing (1e-9 was taken silently). The default (25 MB, below
    most layers of large models) is no warning: it is no choice of the user's."""
    import sys
    if "dp_bucket_MB" not in tr.model_fields_set or not (tr.overlap_grad_reduce and plan.dp * plan.cp > 1):
        return
    floor = layer_gradient_floor(plan, costs)
    if tr.dp_bucket_MB * 1e6 < floor:
        message = (f"warning: train.dp_bucket_MB = {tr.dp_bucket_MB:g} is below one layer's gradients ({floor / 1e6:.3g} "
                   "MB per GPU: a model chunk's gradients over its layers, the least of this plan's chunks): it acts as one bucket per layer, the finest "
                   "gradient reduction dcsim models, and any smaller value gives the same run")
        if message not in _WARNED:
            _WARNED.add(message)
            print(message, file=sys.stderr)


def _warn_once(message: str) -> None:
    import sys
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)


def _check_split(tr, plan, model) -> None:
    """Warn (once per message) when the model's layers do not divide over the pipeline's chunks
    (pp x virtual_stages) and no end stage's layers are given: ``plan.split_layers`` gives the
    shortfall to the first and last chunks, which Megatron does only when told (it otherwise
    requires the layers to divide), so the run says which split it took and how to choose."""
    chunks = plan.pp * plan.v
    if plan.pp < 2 or model.layers % chunks == 0 or tr.first_stage_layers is not None \
            or tr.last_stage_layers is not None:
        return
    made = (f"train.pp x train.virtual_stages = {plan.pp} x {plan.v} = {chunks} model chunks" if plan.v > 1
            else f"train.pp = {plan.pp} pipeline stages")
    per = max(plan.chunk_layers)
    first, last = per - plan.chunk_layers[0], per - plan.chunk_layers[-1]
    ends = "chunk" if plan.v > 1 else "stage"
    fewer = " and ".join(f"the {end} {ends} {n} fewer" for end, n in (("first", first), ("last", last)) if n)
    if plan.v == 1:
        # one chunk per stage: the split is Megatron's --decoder-first/last-pipeline-num-layers, which
        # the config's keys give explicitly (and then this is no warning)
        same = (f"train.first_stage_layers = {plan.chunk_layers[0]} and last_stage_layers = "
                f"{plan.chunk_layers[-1]} give this split (Megatron's --decoder-first/last-pipeline-num-layers); "
                "set them to keep it, or others to choose another")
    else:
        how = ("--account-for-embedding-in-pipeline-split" +
               (" and --account-for-loss-in-pipeline-split" if last else "") +
               " (the embedding and the loss each counted as a layer)") if first <= 1 and last <= 1 else \
            "a --pipeline-model-parallel-layout"
        same = (f"it places them so with {how}; train.first_stage_layers / last_stage_layers choose another "
                "split")
    _warn_once(f"model.layers = {model.layers} do not divide evenly over {made}: {per} layers each, {fewer}. "
               f"Megatron needs the layers to divide unless told how to split them: {same}")


class TrainingWorkload:
    """A training job as a ``Workload``: steps back to back, ``steps`` of them, or (``steps``
    None) until ``stop()`` is called and at least one step is done."""

    kind = "train"

    def __init__(self, cfg, sim, topo, fabric, steps: int | None = 1):
        tr = cfg.train
        self.cfg, self.sim, self.topo, self.fabric = cfg, sim, topo, fabric
        self.model = model = ModelSpec.from_section(cfg.model)
        self.plan = plan = make_plan(tr, model, len(topo.gpus))
        self.spec = spec = gpu_spec(cfg.topology.gpu)
        self.peak_bytes, peak_stage = peak_memory_bytes(model, plan, tr.attention, tr.dp_bucket_MB)
        self.fits = self.peak_bytes <= spec.hbm_bytes
        if tr.check_memory and not self.fits:
            raise InfeasibleError("train.check_memory",
                                  f"peak memory {self.peak_bytes / 1e9:.1f} GB on pipeline stage {peak_stage} exceeds "
                                  f"{spec.name}'s {spec.hbm_bytes / 1e9:.1f} GB ({spec.hbm_bytes / 2**30:.1f} GiB usable) of HBM (try more tp/pp, zero, recompute, "
                                  "recompute_modules, the precision-aware optimizer's dtypes, "
                                  "or check_memory = false)")
        # a training step keeps the GPU busy: its clock is the one the power limit sustains
        cm = ComputeModel(spec, tr.precision, efficiency_for(spec.name, tr.attention_kernel), sustained=True)
        self.costs = step_costs(model, plan, cm, tr.attention, tr.optimizer_step)
        self.interference = tr.interference
        if self.interference is None:     # the measured default, for the overlapped share (issue 11)
            from sim.compute import constants_row
            from workloads.training.costs import overlap_interference
            from workloads.training.estimate import Network
            t = cfg.topology
            net = Network.of(spec, t.nic_Gbps, t.nics_per_node, t.gpus_per_node, t.scaleup_domain)
            self.interference = overlap_interference(self.costs, plan, net,
                                                     constants_row(spec.name).get("overlap_slowdown", 0.0),
                                                     tr.overlap_grad_reduce)
        _check_bucket(tr, plan, self.costs)
        _check_split(tr, plan, model)
        self.gpu_speed = _gpu_speed(cfg, spec, plan.world)
        self.sync_jitter = sync_jitter(cfg, spec, plan.world)
        self.steps = steps
        self.open_ended = steps is None
        self._stop = False
        self.steps_rows: list[dict] = []
        self.step_times: list[float] = []
        self.critical_rows: list[dict] = []     # each step's critical stage row (critical_row)
        self.done: simpy.Event | None = None

    def start(self) -> simpy.Event:
        self.done = self.sim.process(self._run(), "train")
        return self.done

    def stop(self) -> None:
        self._stop = True

    def _run(self):
        cfg, sim, tr, costs = self.cfg, self.sim, self.cfg.train, self.costs
        step = 0
        while True:
            t_start = sim.now
            job = TrainingStep(sim, self.fabric, self.topo, self.plan, costs, tr.overlap_grad_reduce,
                               tr.dp_bucket_MB * 1e6, self.interference, gpu_speed=self.gpu_speed,
                               sync_jitter=self.sync_jitter)
            yield job.start()
            if costs.step_overhead_s:
                yield sim.env.timeout(costs.step_overhead_s)
            step_time = sim.now - t_start
            rows = _stage_rows(job, step, t_start, step_time, costs.step_overhead_s)
            if cfg.run.trace:  # busy intervals per stream, drawn by trace.json (sim.outputs)
                streams = sim.recorder.table("streams")
                for (replica, s), log in job.logs.items():
                    for stream, spans in [("compute", log.compute)] + [(k, log.comm[k]) for k in KINDS]:
                        for a, b in spans:
                            streams.add(lane=f"stage {s} dp {replica[0]} cp {replica[1]}", stream=stream,
                                        name=stream, step=step, start_s=a, end_s=b)
            self.steps_rows.extend(rows)
            self.step_times.append(step_time)
            self.critical_rows.append(critical_row(rows))
            step += 1
            if self.steps is not None and step >= self.steps:
                break
            if self.steps is None and self._stop:
                break

    def mean_step_time(self) -> float:
        return mean(self.step_times)

    def tables(self) -> dict[str, pa.Table]:
        row = _summary(self.cfg, self.model, self.plan, self.spec, self.costs, self.critical_rows,
                       self.step_times, self.peak_bytes, self.fits)
        summary = {k: [v] for k, v in row.items()}
        # every run carries them (one step: 1 and step_time_s), so a raw read_parquet glob over a
        # run.steps sweep sees one schema; a job that finished no step has a typed-null mean
        summary["steps"] = pa.array([len(self.step_times)], pa.int64())
        summary["mean_step_time_s"] = pa.array([self.mean_step_time() if self.step_times else None], pa.float64())
        steps = pa.table({k: [r[k] for r in self.steps_rows] for k in self.steps_rows[0]})
        return {"summary": pa.table(summary), "steps": steps}

    def slowdown(self, alone: "TrainingWorkload") -> dict[str, float]:
        """Mean step time beside co-tenants over mean step time alone."""
        # 12 significant digits: equal step times summed in another order differ in the last bit
        return {"slowdown": float(f"{self.mean_step_time() / alone.mean_step_time():.12g}")}


def _stage_rows(job: TrainingStep, step: int, t0: float, step_time: float, overhead: float) -> list[dict]:
    rows = []
    done: dict = {}                 # a class of replicas shares one log: its row is computed once
    for (replica, s), log in sorted(job.logs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        row = done.get(id(log))
        if row is not None:
            rows.append({**row, "dp_replica": replica[0], "cp_replica": replica[1]})
            continue
        comm_all = [iv for k in KINDS for iv in log.comm[k]]
        compute = union_length(log.compute)
        comm = union_length(comm_all)
        exposed = uncovered(comm_all, log.compute)
        row = {"step": step, "stage": s, "dp_replica": replica[0], "cp_replica": replica[1],
               "compute_s": compute, "comm_s": comm, "exposed_comm_s": exposed}
        by_kind = exposed_by_kind({k: log.comm[k] for k in KINDS}, log.compute)   # adds up to exposed
        for k in KINDS:
            row[f"exposed_{k.lower()}_s"] = by_kind[k]
            row[f"{k.lower()}_comm_s"] = union_length(log.comm[k])
        bubble = step_time - overhead - compute - exposed
        # a sum of intervals that tiles the step leaves rounding residue (2e-16 s): that is no bubble
        row["bubble_s"] = bubble if bubble > 1e-12 * step_time else 0.0
        row["finish_s"] = log.finish - t0
        row["hw_flops"] = log.hw_flops
        row["model_flops"] = log.model_flops
        rows.append(row)
        done[id(log)] = row
    return rows


CRITICAL_TIE = 1e-9    # relative: compute times this close to the busiest stage's are a tie


def critical_row(rows: list[dict]) -> dict:
    """The critical stage's row of ``rows`` (one per stage and replica, each with ``stage``,
    ``dp_replica``, ``cp_replica`` and ``compute_s`` in seconds): among the rows whose
    ``compute_s`` is within ``CRITICAL_TIE`` relative of the largest, the one of the lowest
    (stage, dp_replica, cp_replica). Deterministic and stable under last-bit rounding."""
    top = max(r["compute_s"] for r in rows)
    floor = top - CRITICAL_TIE * abs(top)
    return min((r for r in rows if r["compute_s"] >= floor),
               key=lambda r: (r["stage"], r["dp_replica"], r["cp_replica"]))


def mean(values: list[float]) -> float:
    """Mean of ``values``, exactly the common value when they are all equal (the first value
    plus the correctly rounded mean of the others' differences from it): a run of identical steps
    reports the one step's figures to the last bit, whatever the number of steps."""
    first = values[0]
    return first + math.fsum(v - first for v in values) / len(values)


def launch_wait_s(plan, costs, stage: int) -> float:
    """Seconds per step of pipeline rank ``stage``'s compute in which its GPU waits on the host
    issuing kernels (``PassCost.launch_wait_s``: eager dispatch slower than the kernels run), by
    the cost model at nominal speed: its chunks' passes, once per micro-batch."""
    return plan.microbatches * sum(costs.chunks[k].fwd.launch_wait_s + costs.chunks[k].bwd.launch_wait_s
                                   for k in plan.stage_chunks(stage))


def _summary(cfg, model, plan, spec, costs, crit_rows, step_times, peak_bytes, fits) -> dict:
    """The summary row over the simulated steps: ``step_times`` (seconds, one per step) and each
    step's critical row ``crit_rows``; means over the steps (module docstring)."""
    step_time = mean(step_times)
    crit = {k: mean([r[k] for r in crit_rows]) for k in crit_rows[0]
            if k.endswith("_s") and k != "finish_s"}
    crit["stage"] = crit_rows[-1]["stage"]
    tokens = plan.global_batch * model.seq_len
    world = plan.world
    peak = spec.peak_flops(plan.precision)
    model_tflops = costs.model_flops_per_step / step_time / world / 1e12
    hw_tflops = costs.hw_flops_per_step / step_time / world / 1e12
    comm = crit["comm_s"]
    out = {
        "step_time_s": step_time,
        "tokens_per_s": tokens / step_time,
        "model_tflops_per_gpu": model_tflops,
        "hardware_tflops_per_gpu": hw_tflops,
        "mfu": model_tflops * 1e12 / peak,
        "hfu": hw_tflops * 1e12 / peak,
        "compute_s": crit["compute_s"],
        "comm_s": comm,
        "exposed_comm_s": crit["exposed_comm_s"],
        "bubble_s": crit["bubble_s"],
        "overhead_s": costs.step_overhead_s,
        "launch_wait_s": launch_wait_s(plan, costs, crit["stage"]),
        "compute_comm_ratio": crit["compute_s"] / comm if comm > 0 else None,   # undefined without communication: null
        "overlap_fraction": 1.0 - crit["exposed_comm_s"] / comm if comm > 0 else 1.0,
        "peak_memory_GB": peak_bytes / 1e9,
        "fits_memory": bool(fits),
        "gpus": world,
        "critical_stage": crit["stage"],
        "model": model.name,
        "tp": plan.tp, "pp": plan.pp, "dp": plan.dp, "cp": plan.cp, "ep": plan.ep,
        "microbatches": plan.microbatches,
        "schedule": plan.schedule,
        "fidelity": plan.fidelity,
    }
    for k in KINDS:
        out[f"exposed_{k.lower()}_s"] = crit[f"exposed_{k.lower()}_s"]
    return out
