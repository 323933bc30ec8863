"""Goodput: a training job over a long horizon, with failures, restarts and checkpoints.

Vocabulary:
- step: simulated once by the engine (``step_time_s``); the horizon repeats it. Checkpoints fall on
  step boundaries every ``k = max(1, round(checkpoint_interval_s / step_time_s))`` steps.
- checkpoint state: the model (2-byte weights) and the optimizer (12 bytes per parameter: fp32
  master weights, Adam momentum and variance), written once however many data-parallel replicas
  hold it, spread evenly over every server of the job (Megatron-Core's fully parallel save).
- checkpoint write: fabric flows (tag ``checkpoint``, ``write_shards``): every GPU sends its
  shard (state bytes / GPUs) to the storage tier (``attach_storage``: a ``storage`` node behind
  the fabric's top switches, ``topology.storage_GBps``; GPU -> NIC -> leaf -> ... -> storage, so
  it shares NICs and uplinks with the job's traffic) or, without a tier, to its server's SSD
  (GPU -> host memory -> SSD, ``topology.ssd_GBps`` shared by the server's GPUs).
- checkpoint time (``checkpoint_s``), simulated by ``sim.app.accounting.simulate_checkpoint``:
  sync: the write alone (training stalls). async: the copy to host memory alone stalls
  training; the write then runs beside the job's steps in one simulation, and the time the
  steps lose to it (``contention_s``) is added to the stall; the next checkpoint waits for the
  write. ``checkpoint_cost`` is the closed form of the same (no contention), kept as a bound.
- failure: any class's failure stops the synchronous job (``sim.failures``); failures arrive as a
  Poisson process over wall time (also during recovery, which then starts again). Each costs
  ``detect_s + restart_s`` plus the work since the last checkpoint that reached storage.
- timeline table: one row per phase: ``start_s, end_s, phase`` (``train``, ``checkpoint``,
  ``checkpoint_wait``, ``recovery``), ``steps`` (completed in the phase), ``lost_steps`` and
  ``cause`` (the failing class, on the phase a failure ended).
- outputs: ``goodput`` = useful training time / wall time (useful = steps that survive, times the
  step time), ``effective_mfu`` = mfu x goodput, ``interruptions``, ``mtbf_s`` (1 / job failure
  rate; null without failures), ``checkpoint_s``, ``checkpoint_interval_s`` (null when the job never
  checkpoints: no failures and no interval given), ``lost_s``, ``recovery_s``,
  ``checkpoint_total_s``, ``useful_steps``. Failures faster than a recovery can complete
  (recovery x rate > ln MAX_ROWS) are an ``InfeasibleError`` naming ``failures``.

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
    stall_s: float           # training stops (or, async, loses to contention) this long per checkpoint
    write_s: float           # time until the checkpoint is on storage (>= the copy to host memory)
    is_async: bool
    contention_s: float = 0.0     # async: time the write's contention adds to the steps it overlaps (in stall_s)
    step_slowdown: float = 1.0    # async: step time beside the write / step time alone


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


CHECKPOINT_TAG = "checkpoint"
STORAGE_LATENCY_S = 5e-6              # storage-tier port: a switch hop plus the target's NIC
MAX_CHUNKS = 1024                     # write rounds per checkpoint (progress granularity)


def attach_storage(topo, storage_Bps: float) -> int:
    """Add a ``storage`` node (a storage tier behind the fabric, e.g. Tectonic or a Lustre/
    WekaFS cluster) behind a ``storage-net`` node joined to every switch of the fabric's top
    tier. The tier's aggregate bandwidth ``storage_Bps`` is the one ``storage-net -> storage``
    link (all writers share it max-min fairly, so ECMP's uneven spread over the top switches
    does not matter); each top-switch port also runs at ``storage_Bps``. Returns the storage
    node's index. Routes to it follow the topology's shortest paths (GPU -> its NIC -> leaf ->
    ... -> top tier -> storage), so checkpoint writes share NICs and uplinks with the job's
    own traffic.

    Errors: ``ConfigError`` naming ``topology.storage_GBps`` on a topology without switches."""
    from sim.errors import ConfigError
    switches = [n for n, k in enumerate(topo.node_kind) if k == "switch"]
    if not switches:
        raise ConfigError("topology.storage_GBps", "a storage tier behind the fabric needs scale-out switches "
                                                   "(fabric = fat-tree or rail-optimized); without storage_GBps "
                                                   "checkpoints go to each server's SSDs")
    tiers = [int(topo.attr(n, "tier", 1)) for n in switches]
    top = [n for n, t in zip(switches, tiers) if t == max(tiers)]
    net = topo.add_node("storage-net", "storage")
    node = topo.add_node("storage", "storage")
    for n in top:
        topo.add_link(n, net, storage_Bps, STORAGE_LATENCY_S, "storage", "host")
    topo.add_link(net, node, storage_Bps, STORAGE_LATENCY_S, "storage", "host")
    return node


def checkpoint_pairs(topo, gpus: int, storage: int | None) -> list[tuple[int, int]]:
    """(source GPU, destination) node pairs of a fully parallel save: every GPU of the job
    writes its shard to ``storage`` (a node from ``attach_storage``) or, when None, to its own
    server's SSD (through its host memory)."""
    pairs = []
    for rank in range(gpus):
        g = topo.gpu(rank)
        if storage is not None:
            pairs.append((g, storage))
        else:
            host = topo.attr(g, "host")
            if host is None:
                from sim.errors import ConfigError
                raise ConfigError("topology.ssd_GBps", f"GPU {rank} has no host node to write a checkpoint through")
            pairs.append((g, topo.node_index[f"ssd{topo.attr(host, 'node')}"]))
    return pairs


def host_pairs(topo, gpus: int) -> list[tuple[int, int]]:
    """(GPU, its host memory) node pairs: the copy an asynchronous checkpoint stalls for."""
    return [(topo.gpu(r), topo.attr(topo.gpu(r), "host")) for r in range(gpus)]


def write_shards(sim, fabric, pairs: list[tuple[int, int]], shard_bytes: float, chunks: int, progress: list,
                 on_round=None):
    """SimPy process: every pair moves ``shard_bytes`` in ``chunks`` sequential rounds (one
    ``transfer_bundle`` each, tag ``checkpoint``); appends each round's completion time to
    ``progress`` and calls ``on_round()`` (if given) after each."""
    part = shard_bytes / chunks
    for _ in range(chunks):
        yield fabric.transfer_bundle(pairs, part, tag=CHECKPOINT_TAG)
        progress.append(sim.now)
        if on_round is not None:
            on_round()


def contends(topo, pairs: list[tuple[int, int]]) -> bool:
    """Whether a write over ``pairs`` crosses any link a training step uses (anything but
    host-memory, SSD and storage-tier links)."""
    quiet = ("host", "ssd", "storage")
    return any(topo.link_class[i] not in quiet for s, d in pairs[:1] + pairs[-1:] for i in topo.route(s, d))


def simulate_timeline(step_s: float, horizon_s: float, ckpt: Checkpoint, interval_s: float,
                      failures: FailureModel, seed: int, max_steps: int | None = None) -> tuple[dict, pa.Table]:
    """Run the job until ``horizon_s`` of wall time (or ``max_steps`` useful steps); returns the
    summary columns and the timeline table."""
    if step_s <= 0 or horizon_s <= 0:
        raise ValueError("step time and horizon must be > 0")
    rate = failures.rate_per_s
    classes = [c for c in CLASSES if failures.per_s.get(c, 0) > 0]
    probs = np.array([failures.per_s[c] for c in classes]) / rate if rate > 0 else None
    if rate > 0 and failures.recovery_s * rate > math.log(MAX_ROWS):
        # a recovery completes only when no failure lands in it: exp(recovery / MTBF) attempts each
        raise InfeasibleError("failures", f"the job fails every {failures.mtbf_s:.3g} s on average but needs "
                                          f"{failures.recovery_s:.3g} s (failures.detect_s + restart_s) to recover: "
                                          f"about exp({failures.recovery_s * rate:.3g}) restarts per recovery, so it "
                                          "would never train; lower the failure rates or the recovery time")
    # no failures and no interval given (Young/Daly's is infinite): the job never checkpoints
    k = max(1, int(round(interval_s / step_s))) if math.isfinite(interval_s) else math.inf
    if max_steps is None and math.isfinite(k):
        # Refused before the loop: no phase lasts longer than a checkpoint interval of training, a checkpoint's
        # stall, a wait for the previous asynchronous write or a recovery, so a horizon of more than MAX_ROWS
        # such spans passes MAX_ROWS phases whatever the failures draw (failures only cut phases shorter).
        # The loop found that only after building those 5,000,000 rows, seconds to minutes in. (+ 8: the loop
        # checks at the top of each pass, which adds at most 4 rows, so it ends past MAX_ROWS + 4 for sure.)
        longest = max(k * step_s, ckpt.stall_s, ckpt.write_s, failures.recovery_s)
        if horizon_s / longest > MAX_ROWS + 8:
            raise InfeasibleError("run.duration_h", f"the timeline would pass {MAX_ROWS:,} phases: "
                                  f"{horizon_s / 3600:.0f} h holds over {horizon_s / longest:,.0f} phases of at most "
                                  f"{longest:.4g} s (a checkpoint every {k * step_s:.4g} s of training): "
                                  "shorten the horizon, or checkpoint less often (train.checkpoint_interval_s)")
    rng = np.random.default_rng(seed)
    rec = {n: [] for n in ("start_s", "end_s", "phase", "steps", "lost_steps", "cause")}

    def check_rows(t: float):
        if len(rec["phase"]) > MAX_ROWS:
            raise InfeasibleError("run.duration_h" if target is None else "run.token_budget",
                                  f"the timeline passed {MAX_ROWS:,} phases at {t / 3600:.0f} h with "
                                  f"{done} useful steps (failures every {failures.mtbf_s:.3g} s, "
                                  f"{failures.recovery_s:.3g} s recovery): shorten the horizon or the budget")

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
            check_rows(tf)
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
        check_rows(t)
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
        "mtbf_s": failures.mtbf_s if math.isfinite(failures.mtbf_s) else None,    # null: no failures
        "checkpoint_s": ckpt.stall_s,
        "checkpoint_contention_s": ckpt.contention_s,
        "checkpoint_step_slowdown": ckpt.step_slowdown,
        "checkpoint_write_s": ckpt.write_s,
        "checkpoint_GB": ckpt.bytes_total / 1e9,
        "checkpoint_interval_s": k * step_s if math.isfinite(k) else None,       # null: never checkpoints
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
    """Young/Daly's interval for the job (its MTBF and checkpoint stall); an asynchronous
    checkpoint's interval is at least its write time past the stall (else every checkpoint waits
    for the previous write)."""
    if math.isinf(failures.mtbf_s):
        return math.inf
    yd = young_daly_interval(max(ckpt.stall_s, 1e-9), failures.mtbf_s)
    return max(yd, ckpt.write_s - ckpt.stall_s) if ckpt.is_async else yd
