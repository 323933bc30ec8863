"""Goodput: a training job over a long horizon, with failures, restarts and checkpoints.

Vocabulary:
- step: simulated once by the engine (``step_time_s``); the horizon repeats it. Checkpoints fall on
  step boundaries every ``k = max(1, round(checkpoint_interval_s / step_time_s))`` steps.
- checkpoint state: the model (2-byte weights) and the optimizer (12 bytes per parameter: fp32
  master weights, Adam momentum and variance), written once however many data-parallel replicas
  hold it, spread evenly over every server of the job (Megatron-Core's fully parallel save).
- checkpoint time (``checkpoint_s``): sync: the copy from HBM to host memory and the write to the
  storage tier, pipelined, so the slower of the two: per-GPU bytes / ``host_GBps`` against
  per-server bytes / ``topology.ssd_GBps`` (per-host SSDs), or total bytes / min(``storage_GBps``,
  the job's NIC bandwidth) (a storage tier behind the fabric). async: only the copy to host
  memory stalls training; the write runs behind it and the next checkpoint waits for it.
- failure: any class's failure stops the synchronous job (``sim.failures``); failures arrive as a
  Poisson process over wall time (also during recovery, which then starts again). Each costs
  ``detect_s + restart_s`` plus the work since the last checkpoint that reached storage.
- timeline table: one row per phase: ``start_s, end_s, phase`` (``train``, ``checkpoint``,
  ``checkpoint_wait``, ``recovery``), ``steps`` (completed in the phase), ``lost_steps`` and
  ``cause`` (the failing class, on the phase a failure ended).
- outputs: ``goodput`` = useful training time / wall time (useful = steps that survive, times the
  step time), ``effective_mfu`` = mfu x goodput, ``interruptions``, ``mtbf_s`` (1 / job failure
  rate), ``checkpoint_s``, ``lost_s``, ``recovery_s``, ``checkpoint_total_s``, ``useful_steps``.

Determinism: the failure stream comes from ``numpy.random.default_rng(seed)``; the same seed gives
the same timeline. Speed: O(checkpoints + failures) Python steps, no per-step work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sim.errors import InfeasibleError
from sim.failures import CLASSES, FailureModel, young_daly_interval

STATE_BYTES_PER_PARAM = 2.0 + 12.0    # bf16 weights + fp32 master, Adam m and v (memory.py)
MAX_ROWS = 5_000_000                  # a timeline longer than this is a mistake in the horizon


@dataclass(frozen=True)
class Checkpoint:
    bytes_total: float       # model + optimizer state, once
    stall_s: float           # training stops this long per checkpoint
    write_s: float           # time until the checkpoint is on storage (>= stall_s)
    is_async: bool


def checkpoint_cost(params: float, gpus: int, hosts: int, host_Bps: float, ssd_Bps: float,
                    nic_Bps_per_host: float, storage_Bps: float | None, is_async: bool) -> Checkpoint:
    """Stall and write time of one checkpoint of ``params`` parameters spread over the job."""
    total = params * STATE_BYTES_PER_PARAM
    copy_s = total / gpus / host_Bps                         # HBM -> host memory, all GPUs at once
    if storage_Bps is None:
        store_s = total / hosts / min(ssd_Bps, float("inf"))  # every server to its own SSDs
    else:
        store_s = total / min(storage_Bps, hosts * nic_Bps_per_host)
    write_s = max(copy_s, store_s)
    return Checkpoint(total, copy_s if is_async else write_s, write_s, is_async)


def simulate_timeline(step_s: float, horizon_s: float, ckpt: Checkpoint, interval_s: float,
                      failures: FailureModel, seed: int, max_steps: int | None = None) -> tuple[dict, pa.Table]:
    """Run the job until ``horizon_s`` of wall time (or ``max_steps`` useful steps); returns the
    summary columns and the timeline table."""
    if step_s <= 0 or horizon_s <= 0:
        raise ValueError("step time and horizon must be > 0")
    rng = np.random.default_rng(seed)
    rate = failures.rate_per_s
    classes = [c for c in CLASSES if failures.per_s.get(c, 0) > 0]
    probs = np.array([failures.per_s[c] for c in classes]) / rate if rate > 0 else None
    k = max(1, int(round(interval_s / step_s)))
    rec = {n: [] for n in ("start_s", "end_s", "phase", "steps", "lost_steps", "cause")}

    def row(a, b, phase, steps=0, lost=0, cause=""):
        rec["start_s"].append(a)
        rec["end_s"].append(b)
        rec["phase"].append(phase)
        rec["steps"].append(steps)
        rec["lost_steps"].append(lost)
        rec["cause"].append(cause)

    def draw():
        return rng.exponential(1.0 / rate) if rate > 0 else math.inf

    def cause():
        return classes[int(rng.choice(len(classes), p=probs))]

    t = 0.0
    done = saved = since = 0            # steps progressed, steps on storage, steps since last checkpoint
    inflight = None                     # async write: (completes_at, steps)
    next_fail = draw()
    interruptions = 0
    lost_steps_total = 0
    lost_partial_s = 0.0
    recovery_total = ckpt_total = 0.0
    target = max_steps if max_steps is not None else None

    def fail(tf: float) -> float:
        """A failure at ``tf``: roll back to storage, recover; returns when training resumes."""
        nonlocal done, saved, since, inflight, next_fail, interruptions, lost_steps_total, recovery_total
        if inflight is not None and inflight[0] <= tf:
            saved = inflight[1]
        inflight = None
        lost = done - saved
        lost_steps_total += lost
        done, since = saved, 0
        end = tf + failures.recovery_s
        interruptions += 1
        next_fail = tf + draw()
        while next_fail < min(end, horizon_s):    # failures during recovery start it again
            interruptions += 1
            row(tf, next_fail, "recovery", cause=cause())
            recovery_total += next_fail - tf
            tf, end = next_fail, next_fail + failures.recovery_s
            next_fail = tf + draw()
        end_c = min(end, horizon_s)
        row(tf, end_c, "recovery", lost=lost)
        recovery_total += end_c - tf
        return end_c

    while t < horizon_s and (target is None or done < target):
        if len(rec["phase"]) > MAX_ROWS:
            raise InfeasibleError("run.duration_h" if target is None else "run.token_budget",
                                  f"the timeline passed {MAX_ROWS:,} phases at {t / 3600:.0f} h with "
                                  f"{done} useful steps (failures every {failures.mtbf_s:.0f} s, "
                                  f"{failures.recovery_s:.0f} s recovery): shorten the horizon or the budget")
        # -- train up to the next checkpoint
        n = k - since
        if target is not None:
            n = min(n, target - done)
        t_end = t + n * step_s
        stop = min(t_end, horizon_s, next_fail)
        if stop < t_end:
            ran = int((stop - t) // step_s)
            partial = (stop - t) - ran * step_s
            done += ran
            since += ran
            if stop == next_fail and next_fail < horizon_s:
                c = cause()
                row(t, stop, "train", ran, 0, c)
                lost_partial_s += partial
                t = fail(stop)
            else:                           # the horizon ends mid-segment
                row(t, stop, "train", ran)
                t = stop
            continue
        row(t, t_end, "train", n)
        t, done, since = t_end, done + n, since + n
        if target is not None and done >= target:
            break
        # -- checkpoint (async: first wait for the previous write)
        if inflight is not None:
            if inflight[0] > t:
                stop = min(inflight[0], horizon_s, next_fail)
                row(t, stop, "checkpoint_wait")
                ckpt_total += stop - t
                if stop == next_fail and next_fail < horizon_s:
                    c = cause()
                    rec["cause"][-1] = c
                    t = fail(stop)
                    continue
                t = stop
                if t >= horizon_s:
                    break
            saved = inflight[1]
            inflight = None
        stop = min(t + ckpt.stall_s, horizon_s, next_fail)
        row(t, stop, "checkpoint")
        ckpt_total += stop - t
        if stop == next_fail and next_fail < horizon_s and stop < t + ckpt.stall_s:
            rec["cause"][-1] = cause()
            t = fail(stop)
            continue
        t = stop
        since = 0
        if ckpt.is_async:
            inflight = (t - ckpt.stall_s + ckpt.write_s, done)
        else:
            saved = done
    wall = t
    useful_s = done * step_s
    timeline = pa.table({
        "start_s": pa.array(rec["start_s"], pa.float64()), "end_s": pa.array(rec["end_s"], pa.float64()),
        "phase": pa.array(rec["phase"], pa.string()), "steps": pa.array(rec["steps"], pa.int64()),
        "lost_steps": pa.array(rec["lost_steps"], pa.int64()), "cause": pa.array(rec["cause"], pa.string()),
    })
    train_s = float(sum(b - a for a, b, p in zip(rec["start_s"], rec["end_s"], rec["phase"]) if p == "train"))
    summary = {
        "goodput": useful_s / wall if wall > 0 else 0.0,
        "interruptions": int(interruptions),
        "mtbf_s": failures.mtbf_s,
        "checkpoint_s": ckpt.stall_s,
        "checkpoint_write_s": ckpt.write_s,
        "checkpoint_GB": ckpt.bytes_total / 1e9,
        "checkpoint_interval_s": k * step_s,
        "checkpoints": int(sum(1 for p in rec["phase"] if p == "checkpoint")),
        "useful_steps": int(done),
        "wall_h": wall / 3600.0,
        "train_s": train_s,
        "lost_s": lost_steps_total * step_s + lost_partial_s,
        "recovery_s": recovery_total,
        "checkpoint_total_s": ckpt_total,
    }
    return summary, timeline


def default_interval(ckpt: Checkpoint, failures: FailureModel) -> float:
    """Young/Daly's interval for the job (its MTBF and checkpoint stall)."""
    if math.isinf(failures.mtbf_s):
        return math.inf
    return young_daly_interval(max(ckpt.stall_s, 1e-9), failures.mtbf_s)
