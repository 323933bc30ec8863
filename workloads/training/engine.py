"""The training step as SimPy processes: one process per pipeline stage of each simulated
replica, issuing compute and collectives on the fabric in the order frameworks do.

Vocabulary:
- replica: one (dp, cp) coordinate, i.e. one copy of the pipeline (its TP groups move in
  lockstep, so a stage of a replica is one process). ``full`` fidelity simulates every replica;
  ``symmetric`` simulates replica (0, 0) only, but every collective it issues carries the groups
  of all replicas (``groups=`` of the collective), so every link carries its exact load.
- replica classes (full fidelity, ``MERGE_REPLICAS``): replicas proven to run alike
  (``workloads.training.replicas``: private links no other replica's sends cross, equal
  capacities, latencies, shared-collective weights, TP routes and GPU speeds) are one class,
  simulated by one process per stage whose sends and TP collectives carry every member's
  groups (``members``); each member gets the class's log and step rows. Replicas that see
  different contention (an oversubscribed spine shared by their sends, co-tenants, slow GPUs)
  stay separate processes. Results equal one process per replica to ~1e-11 relative.
- pass: forward or backward of one chunk for one micro-batch: one compute event (the chunk's
  kernels aggregated), then its blocking TP collective (aggregated over the chunk's layers, with
  the per-call latency of the other calls added as a delay) and EP all-to-all; the CP ring
  exchange runs beside the compute. With ``tp_comm_overlap`` (Transformer Engine userbuffers)
  the TP collectives run beside the pass's GEMMs: the pass waits only for
  ``costs.tp_overlap_exposed`` of them (fast path), or, on the shared fabric, they start where
  the GEMMs start and the pass ends at max(GEMMs, transfer) plus the last chunk (1/tp). Events scale with pp x v x micro-batches, not GPUs.
  With ``overlap_moe_expert_parallel_comm`` (Megatron-Core's EP overlap: a forward and a
  backward of different micro-batches run merged) a pass's EP all-to-all runs beside the next
  pass's compute when that pass is of the other phase, on one EP stream (in order); the pass's
  pipeline send waits for it.
- streams: compute (serial, in the process), a DP stream (gradient buckets queue on it, in
  order, like an NCCL stream) and a parameter stream (ZeRO-3 all-gathers, prefetched one pass
  ahead). Overlap of DP reduction with backward emerges from these streams.
- pipeline sends: after a forward (backward) pass the activation (gradient) goes to the next
  (previous) virtual stage with a send_recv of every TP rank to its peer (Megatron's
  scatter-gather: 1/tp of the activation per rank); the receiving pass waits for it.
- intervals: per process, one ``sim.gpu.Gpu`` (compute stream, a communication stream per
  kind, interference while they overlap), from whose busy intervals the summary derives
  compute, communication, exposed communication and bubble.
- private TP links: when every TP group fills (part of) its own scale-up domain, no two TP
  groups share a domain, and no other group of the job (PP, DP, CP, EP) has two GPUs in one
  domain or routes over scale-up links, a TP collective's links carry nothing else. Its time is
  then a constant per (groups, op, bytes): it is measured once on a private idle fabric (the
  same topology, capacities and collective code) and the pass waits compute + TP as one
  timeout, while the job's fabric is credited with the measured per-link bytes and busy time
  (``Fabric.credit``).
  Otherwise TP collectives run on the shared fabric (``fast_tp=False`` forces that path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from sim.collectives import collective, collective_phases, estimate_on, start_phases
from sim.fabric import Fabric
from sim.gpu import Gpu, merged
from sim.simulation import Simulation
from workloads.training.costs import StepCosts, tp_overlap_exposed
from workloads.training.memory import state_bytes
from workloads.training.plan import Plan
from workloads.training.replicas import replica_classes
from workloads.training.schedule import actions

KINDS = ("TP", "PP", "DP", "EP", "CP")
FAST_TP = True      # time TP collectives on private links off the shared fabric (see docstring)
MERGE_REPLICAS = True   # full fidelity: one process per class of interchangeable replicas (see docstring)


@dataclass
class StageLog:
    """One simulated GPU of a stage (``sim.gpu.Gpu``: its compute and communication streams)
    and what it computed."""
    stage: int
    replica: tuple[int, int]
    gpu: Gpu
    finish: float = 0.0
    hw_flops: float = 0.0
    model_flops: float = 0.0

    @property
    def compute(self) -> list[tuple[float, float]]:
        return self.gpu.compute

    @property
    def comm(self) -> dict[str, list[tuple[float, float]]]:
        return self.gpu.comm


def exposed_by_kind(comm: dict[str, list], cover) -> dict[str, float]:
    """Exposed (not covered by ``cover``) communication time per kind, adding up to the exposed
    time of all kinds together (``uncovered`` of their union): where several kinds are exposed
    at once, that time is shared equally among them, so a stacked breakdown never exceeds the
    step. A kind exposed alone gets all of its exposed time.

    Swept over the elementary segments between the kinds' span ends, in arrays: a segment's
    uncovered length is its length less its overlap with each cover span it meets, in order
    (as a loop would subtract them), and a kind's total adds its shares segment by segment
    (``np.cumsum`` adds in order), so the sums are those of a loop, to the last bit."""
    spans = {k: merged(v) for k, v in comm.items()}
    out = {k: 0.0 for k in comm}
    points = sorted({t for v in spans.values() for iv in v for t in iv})
    if len(points) < 2:
        return out
    P = np.array(points)
    t0, t1 = P[:-1], P[1:]
    length = t1 - t0
    C = merged(cover)
    if C:
        Ca = np.array(C)
        lo = np.searchsorted(Ca[:, 1], t0, "right")     # first cover span ending after t0
        hi = np.maximum(np.searchsorted(Ca[:, 0], t1, "left"), lo)     # ... up to the first starting at t1
        n = hi - lo
        one = np.flatnonzero(n == 1)
        if len(one):
            c = Ca[lo[one]]
            ov = np.maximum(0.0, np.minimum(t1[one], c[:, 1]) - np.maximum(t0[one], c[:, 0]))
            length[one] = length[one] - ov
        for i in np.flatnonzero(n > 1).tolist():      # several cover spans: subtract in order
            a, b = float(t0[i]), float(t1[i])
            x = b - a
            for k2 in range(int(lo[i]), int(hi[i])):
                x -= max(0.0, min(b, C[k2][1]) - max(a, C[k2][0]))
            length[i] = x
    count = np.zeros(len(t0), dtype=np.int64)
    active = {}
    for k, v in spans.items():
        if not v:
            continue
        S = np.array(v)
        i = np.searchsorted(S[:, 1], t0, "right")       # first span of the kind ending after t0
        act = i < len(v)
        act[act] = S[i[act], 0] <= t0[act]
        active[k] = act
        count += act
    pos = (count > 0) & (length > 0)
    share = np.zeros(len(t0))
    share[pos] = length[pos] / count[pos]
    for k, act in active.items():
        sel = share[act & pos]
        if len(sel):
            out[k] = float(np.cumsum(sel)[-1])
    return out


def layer_gradient_floor(plan: Plan, costs: StepCosts) -> float:
    """Gradient bytes per GPU of the smallest layer (a chunk's gradients over its layers) that a
    bucketed DP reduction reduces: a ``train.dp_bucket_MB`` below it acts as one bucket per
    layer, since ``TrainingStep._buckets`` never cuts a chunk finer than its layers (any smaller
    bucket gives the same step). 0 for a plan without layers."""
    grad = state_bytes(plan)[1]
    per = [grad * (c.dense_params + c.expert_params) / c.layers for c in costs.chunks if c.layers > 0]
    return min(per, default=0.0)


class TrainingStep:
    """One training step of a plan on a fabric."""

    def __init__(self, sim, fabric, topo, plan: Plan, costs: StepCosts, overlap_grad_reduce: bool = True,
                 bucket_bytes: float = 25e6, interference: float = 0.0, fast_tp: bool | None = None,
                 gpu_speed=None, sync_jitter: float = 1.0, merge_replicas: bool | None = None):
        self.sim, self.env, self.fabric, self.topo = sim, sim.env, fabric, topo
        self.plan, self.costs = plan, costs
        # bytes per parameter of a parameter all-gather, the weights as held (train.fp8_param_gather: FP8
        # primary weights, gathered in FP8; else 16-bit), and of a gradient reduction, the gradient buffer's
        # dtype (train.main_grads_dtype: Megatron reduces the main-grad buffer as it is, fp32 or bf16;
        # unset: dcsim's 16-bit gradients, the bytes its training calibration was fitted with)
        self.weight_bytes, self.grad_bytes, _ = state_bytes(plan)
        self.overlap = overlap_grad_reduce
        self.bucket_bytes = bucket_bytes
        self.interference = interference
        self.gpu_speed = gpu_speed      # per-rank speed factors (sim.stragglers), or None
        self.sync_jitter = sync_jitter  # default spread: slowest of the job's GPUs (sim.stragglers)
        self._slowest: dict = {}
        self.n_v = plan.pp * plan.v
        self.acts = actions(plan.schedule, plan.pp, plan.microbatches, plan.v)
        if plan.fidelity == "full":
            self.replicas = [(d, c) for d in range(plan.dp) for c in range(plan.cp)]
        else:
            self.replicas = [(0, 0)]
        self.symmetric = plan.fidelity != "full"
        self.members = {r: [r] for r in self.replicas}   # replicas a simulated one stands for
        self.arrivals: dict = {}
        self.logs: dict[tuple, StageLog] = {}
        self._alpha_cache: dict = {}
        self._seq: dict = {}            # full fidelity: per (kind, dim, replica, stage) call count
        self._pairs: dict = {}          # planned send/recv phases per (replica, from, to)
        self._phases: dict = {}         # planned collectives per (op, dim, stage, replica, bytes)
        self._meet: dict = {}           # full fidelity: replicas meeting at a shared collective
        self.gpu = topo.gpus
        doms = [topo.gpu_domain(r) for r in range(plan.world)] if plan.tp > 1 else []
        self.fast_tp = (FAST_TP if fast_tp is None else fast_tp) and self._tp_links_private(doms)
        self._tp_costs: dict = {}       # (groups, op, bytes) -> (seconds, links, bytes, busy)
        self._scratch = None            # private idle fabric that measures TP collectives
        self._groups: dict = {}         # (dim, stage, replica) -> node groups (built once)
        self._tp_passes: dict = {}      # (stage, replica, pass) -> [(TP cost, seconds)]
        self._tp_runs: dict = {}        # (stage, replica, pass) -> [its TP calls, seconds, runs]: see flush_tp
        self._sharers: dict = {}        # (dim, group key) -> simulated replicas meeting there
        self._checked_dp = None         # replica classes: the DP collectives they were proven for
        if not self.symmetric and (MERGE_REPLICAS if merge_replicas is None else merge_replicas):
            self.members = replica_classes(self)
            self.replicas = list(self.members)
            if len(self.replicas) == plan.dp * plan.cp:
                self._checked_dp = None

    def _tp_links_private(self, doms) -> bool:
        """Whether TP collectives have their links to themselves (see "private TP links")."""
        p, topo, fab = self.plan, self.topo, self.fabric
        if p.tp < 2 or fab.record_flows:
            return False
        dom = np.asarray(doms)
        tp_groups = np.asarray(p.groups("tp"))
        if not (dom[tp_groups] == dom[tp_groups[:, :1]]).all():
            return False                # a TP group spans domains
        if len(np.unique(dom[tp_groups[:, 0]])) != len(tp_groups):
            return False                # two TP groups share a domain (and maybe its links)
        scaleup = np.asarray(topo.link_domain) == "scaleup"
        g0 = [self._node(r) for r in tp_groups[0]]
        for a in g0:                    # TP traffic stays on scale-up links
            for b in g0:
                if a != b and not scaleup[topo.route(a, b, 0)].all():
                    return False
        for dim in ("pp", "dp", "cp", "ep"):
            if getattr(p, dim) < 2:
                continue
            groups = np.asarray(p.groups(dim))
            d = np.sort(dom[groups], axis=1)
            if (d[:, 1:] == d[:, :-1]).any():
                return False            # two GPUs of one group share a domain: NVLink traffic
            for g in groups[:4]:        # cross-domain routes avoid scale-up links
                nodes = [self._node(r) for r in g[:16]]
                for a in nodes:
                    for b in nodes:
                        if a != b and scaleup[topo.route(a, b, 0)].any():
                            return False
        return True

    def tp_cost(self, groups: list[list[int]], op: str, nbytes: float):
        """Time, links, bytes and busy time of one TP collective on links nothing else uses:
        measured once on a private idle fabric with the job fabric's capacities."""
        key = (tuple(tuple(g) for g in groups), op, float(nbytes))
        c = self._tp_costs.get(key)
        if c is None:
            c = self._tp_costs[key] = self._measure_tp(groups, op, nbytes)
        return c

    def _measure_tp(self, groups: list[list[int]], op: str, nbytes: float):
        """``tp_cost`` measured: the collective alone on the private idle fabric (which keeps its
        clock and counters from one measurement to the next). Its bytes and busy time are read
        on the links its flows cross (the routes of its phases' pairs), not on every link."""
        if self._scratch is None:
            sim = Simulation(0)
            f = self.fabric
            self._scratch = Fabric(sim, self.topo, f.model, f.efficiency["scaleup"],
                                   f.efficiency["scaleout"], f.efficiency.get("host", 1.0))
        scratch = self._scratch
        phases = collective_phases(scratch, op, groups, nbytes)
        pairs = {pair for bundles, _ in phases or () for pairs_, _ in bundles for pair in pairs_}
        route = self.topo.route
        used = np.unique(np.concatenate([route(a, b, 0) for a, b in pairs])) if pairs else np.zeros(0, np.int64)
        bytes0, busy0 = scratch.link_bytes[used], scratch.link_busy[used]
        sent = scratch.bytes_sent
        t0 = scratch.sim.now
        scratch.sim.run(collective(scratch, op, groups, nbytes, tag="TP"))
        moved = scratch.link_bytes[used] - bytes0
        on = np.flatnonzero(moved)
        return (scratch.sim.now - t0, used[on], moved[on], (scratch.link_busy[used] - busy0)[on],
                scratch.bytes_sent - sent, scratch.peak_utilization)

    def flush_tp(self) -> None:
        """Credit the TP collectives run on private links on the fabric (each cost times its
        runs, in the order the costs first ran; the links are private, so when their bytes
        land changes no other flow)."""
        runs, self._tp_runs = self._tp_runs, {}
        due: dict = {}
        for calls, _, n in runs.values():
            for c, _ in calls:
                d = due.get(id(c))
                if d is None:
                    due[id(c)] = [c, n]
                else:
                    d[1] += n
        for c, n in due.values():
            _, links, nbytes, busy, total, peak = c
            self.fabric.credit(links, nbytes * n, busy * n, "TP", total * n, peak)

    def _tp_pass(self, s, r, pc) -> float:
        """Fast path: seconds of a pass's TP collectives (their sum), counted for ``flush_tp``."""
        key = (s, r, id(pc))
        run = self._tp_runs.get(key)
        if run is None:
            calls = self._tp_passes.get(key)
            if calls is None:
                calls = self._tp_passes[key] = self._tp_pass_costs(s, r, pc)
            run = self._tp_runs[key] = [calls, sum([seconds for _, seconds in calls]), 0]
        run[2] += 1
        return run[1]

    def _tp_pass_costs(self, s, r, pc) -> list[tuple[tuple, float]]:
        """(TP cost, seconds) per TP collective of a pass (its calls aggregated)."""
        p = self.plan
        if p.sp:
            calls = [("all_gather", pc.tp_calls // 2), ("reduce_scatter", pc.tp_calls - pc.tp_calls // 2)]
        else:
            calls = [("all_reduce", pc.tp_calls)]
        out = []
        for op, n in calls:
            if n <= 0 or pc.tp_bytes <= 0:
                continue
            groups = self.groups("tp", s, r)
            c = self.tp_cost(groups, op, pc.tp_bytes * n)
            out.append((c, c[0] + (n - 1) * self.alpha(op, groups[0]) if n > 1 else c[0]))
        return out

    # -- groups ----------------------------------------------------------------------------------
    def _node(self, rank: int) -> int:
        return self.gpu[rank]

    def groups(self, dim: str, stage: int, replica) -> list[list[int]]:
        """Node-index groups for a collective over ``dim`` issued by (replica, stage); built
        once per step (callers must not change them)."""
        key = (dim, stage, replica)
        gs = self._groups.get(key)
        if gs is None:
            gs = self._groups[key] = self._build_groups(dim, stage, replica)
        return gs

    def _build_groups(self, dim: str, stage: int, replica) -> list[list[int]]:
        p = self.plan
        if dim == "dp":                 # gradients and ZeRO state: over dp x cp (every replica)
            gs = p.grad_groups(pp=stage)
        elif dim == "edp":              # expert gradients and state: the expert data-parallel groups
            gs = p.edp_groups(pp=stage)
            if not self.symmetric:      # full fidelity (unfolded): the replicas d = replica's d mod ep
                gs = [g for g in gs if p.coords(g[0])["dp"] % p.ep == replica[0] % p.ep]
        elif self.symmetric:
            gs = p.groups(dim, pp=stage)
        else:
            d, c = replica
            if dim in ("tp", "etp"):     # full fidelity has no folding: expert TP = TP
                gs = [g for m, c2 in self.members[replica] for g in p.groups("tp", pp=stage, dp=m, cp=c2)]
            elif dim == "cp":
                gs = p.groups("cp", pp=stage, dp=d)
            elif dim == "ep":
                gs = [g for g in p.groups("ep", pp=stage, cp=c) if p.coords(g[0])["dp"] // p.ep == d // p.ep]
            else:
                raise ValueError(dim)
        return [[self._node(r) for r in g] for g in gs]

    def sharers(self, dim: str, stage: int = 0, replica=(0, 0)) -> int:
        """Full fidelity: how many simulated replicas (classes' representatives, see
        "replica classes") take part in the collective over ``dim`` of (replica, stage)."""
        if self.symmetric or dim in ("tp", "etp"):
            return 1
        key = (dim, self.group_key(dim, stage, replica))
        n = self._sharers.get(key)
        if n is None:
            n = self._sharers[key] = sum(1 for r in self.replicas
                                         if self.group_key(dim, stage, r) == key[1])
        return n

    def group_key(self, dim: str, stage: int, replica) -> tuple:
        d, c = replica
        return {"dp": (stage,), "edp": (stage, d % self.plan.ep), "cp": (stage, d), "ep": (stage, c, d // self.plan.ep), "tp": (stage, d, c)}[dim]

    def alpha(self, op: str, group: list[int]) -> float:
        key = (op, len(group), group[0], group[-1])
        a = self._alpha_cache.get(key)
        if a is None:
            a = estimate_on(self.topo, self.fabric.capacity, op, "ring" if op != "all_to_all" else "direct", group, 1.0)
            self._alpha_cache[key] = a
        return a

    # -- the step --------------------------------------------------------------------------------
    def start(self) -> simpy.Event:
        procs = []
        for r in self.replicas:
            for s in range(self.plan.pp):
                # train.interference stretches all compute (its calibrated default is an average
                # over the step, training.costs.overlap_interference); sim.gpu can instead slow
                # compute only while communication overlaps it (Gpu(env, interference))
                log = StageLog(s, r, Gpu(self.env, 0.0, KINDS, 1.0 / (1.0 - self.interference)))
                for m in self.members[r]:    # a class's replicas run alike: one log for all
                    self.logs[(m, s)] = log
                procs.append(self.sim.process(self._stage(r, s, log), f"train:stage{s}:dp{r[0]}cp{r[1]}"))
        done = self.env.all_of(procs)
        done.callbacks.append(lambda _e: self.flush_tp())
        return done

    def _arrival(self, r, key) -> simpy.Event:
        k = (r, key)
        ev = self.arrivals.get(k)
        if ev is None:
            ev = self.arrivals[k] = self.env.event()
        return ev

    def _comm(self, log, kind, op, dim, stage, r, nbytes, calls=1):
        """A collective over ``dim``; yields until done and logs the interval. In full fidelity,
        replicas that share a group meet: the last to arrive issues it, the others wait."""
        if nbytes <= 0 or self._size(dim) < 2:
            return
        n = self.sharers(dim, stage, r)
        entry = None
        if n > 1:
            seq_key = (kind, dim, r, stage)
            seq = self._seq.get(seq_key, 0)
            self._seq[seq_key] = seq + 1
            key = (kind, dim, self.group_key(dim, stage, r), seq)
            entry = self._meet.get(key)
            if entry is None:
                entry = self._meet[key] = {"arrived": 0, "done": self.env.event(), "t0": 0.0}
            entry["arrived"] += 1
            if entry["arrived"] < n:
                t_wait = log.gpu.comm_begin()
                yield entry["done"]
                log.gpu.comm_end(kind, max(t_wait, entry["t0"]))
                return
            entry["t0"] = self.env.now
        groups = self.groups(dim, stage, r)
        t0 = log.gpu.comm_begin()
        yield self._collective(op, dim, stage, r, groups, nbytes * calls, kind)
        if calls > 1:
            # the aggregated call paid one launch and latency; the other calls pay theirs
            yield self.env.timeout((calls - 1) * self.alpha(op, groups[0]))
        log.gpu.comm_end(kind, t0)
        if entry is not None:
            entry["done"].succeed()

    def _size(self, dim: str) -> int:
        """Ranks of a group over ``dim``; ``dp`` groups span dp x cp (``Plan.grad_groups``)."""
        p = self.plan
        return p.dp * p.cp if dim == "dp" else getattr(p, dim)    # edp: Plan.edp

    def _collective(self, op, dim, stage, r, groups, nbytes, kind) -> simpy.Event:
        """``collective(fabric, op, groups, nbytes, tag=kind)`` with its phases kept per (op,
        dim, stage, replica, bytes): a step repeats each collective many times, and planning
        it again hashes its groups (thousands of GPUs) on every call."""
        key = (op, dim, stage, r, nbytes)
        if key in self._phases:
            phases = self._phases[key]
        else:
            if self._checked_dp is not None and dim != "tp" and (stage, op, nbytes) not in self._checked_dp:
                raise RuntimeError(f"replica classes were not proven for {op} over {dim} of {nbytes} bytes")
            phases = self._phases[key] = collective_phases(self.fabric, op, groups, nbytes)
        if phases is None:
            ev = self.env.event()
            ev.succeed()
            return ev
        return start_phases(self.fabric, phases, kind)

    def _straggle(self, log) -> float:
        """Compute-time multiplier of a process: 1 / the slowest speed factor among the GPUs it
        stands for (its TP ranks; in symmetric fidelity those of every DP/CP replica), times
        ``sync_jitter``: the expected slowest of the job's GPUs under the default speed spread
        (every stage paces the pipeline and every replica meets at the gradient reduction, so
        the step waits for the slowest GPU of the job)."""
        if self.gpu_speed is None:
            return self.sync_jitter
        key = (log.replica, log.stage)
        f = self._slowest.get(key)
        if f is None:
            p = self.plan
            reps = [(d, c) for d in range(p.dp) for c in range(p.cp)] if self.symmetric else self.members[log.replica]
            ranks = [p.rank_of(tp=t, cp=c, dp=d, pp=log.stage) for d, c in reps for t in range(p.tp)]
            f = self._slowest[key] = self.sync_jitter / float(np.min(self.gpu_speed[ranks]))
        return f

    def _compute(self, log, seconds):
        if seconds <= 0:
            return
        yield from log.gpu.run(seconds * self._straggle(log))

    def _send(self, r, stage, to_stage, key, log):
        """Point-to-point activation/gradient send of every TP rank to its peer."""
        k = (r, stage, to_stage)
        if k in self._pairs:
            phases = self._pairs[k]
        else:                       # planned once per (replica, stage, peer): a step sends thousands
            p = self.plan
            reps = [(d, c) for d in range(p.dp) for c in range(p.cp)] if self.symmetric else self.members[r]
            pairs = [[self._node(p.rank_of(tp=t, cp=c, dp=d, pp=stage)),
                      self._node(p.rank_of(tp=t, cp=c, dp=d, pp=to_stage))]
                     for d, c in reps for t in range(p.tp)]
            phases = self._pairs[k] = collective_phases(self.fabric, "send_recv", pairs, self.costs.p2p_bytes)
        t0 = log.gpu.comm_begin()
        arrival = self._arrival(r, key)

        def landed(_):              # a callback, not a process: two fewer events per send
            log.gpu.comm_end("PP", t0)
            arrival.succeed()
        if phases is None:
            landed(None)
        else:
            start_phases(self.fabric, phases, "PP", landed)

    def _send_after(self, proc, r, stage, to_stage, key, log):
        """``_send`` once ``proc`` (an overlapped all-to-all) is done; at once without one."""
        if proc is None:
            self._send(r, stage, to_stage, key, log)
            return

        def go(_):
            self._send(r, stage, to_stage, key, log)
        proc.callbacks.append(go)

    def _stage(self, r, s, log: StageLog):
        p, env, costs = self.plan, self.env, self.costs
        acts = self.acts[s]
        last_b = {}
        for idx, (ph, mb, k) in enumerate(acts):
            if ph == "B":
                last_b[k] = idx
        dp_tail = env.event()
        dp_tail.succeed()
        pending_dp: list = []
        param_ready = None
        ep_prev = None                  # an overlapped EP all-to-all still running
        if p.zero >= 3:
            param_ready = self._gather_params(r, s, acts[0][2], log)
        for idx, (ph, mb, k) in enumerate(acts):
            # wait for the input from the neighbouring virtual stage
            if ph == "F" and k > 0:
                yield self._arrival(r, ("F", mb, k))
            elif ph == "B" and k < self.n_v - 1:
                yield self._arrival(r, ("B", mb, k))
            if param_ready is not None:
                yield param_ready
                nxt = acts[idx + 1][2] if idx + 1 < len(acts) else None
                param_ready = self._gather_params(r, s, nxt, log) if nxt is not None else None
            chunk = costs.chunks[k]
            pc = chunk.fwd if ph == "F" else chunk.bwd
            log.hw_flops += pc.hw_flops
            log.model_flops += pc.model_flops
            cp_proc = None
            if pc.cp_calls and p.cp > 1:
                cp_proc = env.process(self._side_comm(log, "CP", "all_gather", "cp", s, r, pc.cp_bytes, pc.cp_calls))
            is_last_b = ph == "B" and last_b.get(k) == idx
            tp_done = False
            tp_proc = None
            overlap_tp = p.tp_comm_overlap and pc.tp_calls and not self.fast_tp
            if overlap_tp and p.dp * p.cp > 1 and ((is_last_b and self.overlap) or (p.zero >= 3 and ph == "B")):
                tp_proc = env.process(self._tp_overlapped(log, s, r, pc))
            if is_last_b and self.overlap and p.dp * p.cp > 1:
                # backward of the last micro-batch: buckets become ready as layers finish
                buckets = self._buckets(chunk)
                for frac, dense_b, expert_b in buckets:
                    yield from self._compute(log, pc.compute_s * frac)
                    pending_dp.append(self._dp_enqueue(r, s, dense_b, expert_b, log, pending_dp))
            elif p.zero >= 3 and ph == "B" and p.dp * p.cp > 1:
                yield from self._compute(log, pc.compute_s)
                pending_dp.append(self._dp_enqueue(r, s, self.grad_bytes * chunk.dense_params,
                                                   self.grad_bytes * chunk.expert_params, log, pending_dp))
            elif overlap_tp:
                # TP overlap on the shared fabric: the collectives run beside the pass's GEMMs
                tp_proc = env.process(self._tp_overlapped(log, s, r, pc))
                yield from self._compute(log, pc.compute_s)
                tp_done = True
                yield from self._tp_tail(log, (yield tp_proc))
            elif self.fast_tp and pc.tp_calls:
                # compute then its blocking TP collectives on private links: one timeout
                tp_done = True
                t0 = env.now
                compute_s = log.gpu.compute_time(pc.compute_s * self._straggle(log)) if pc.compute_s > 0 else 0.0
                tp_s = self._tp_pass(s, r, pc)
                exposed = self._tp_exposed(log, pc, tp_s)
                yield env.timeout(compute_s + exposed)
                if compute_s > 0:
                    log.compute.append((t0, t0 + compute_s))
                if tp_s > 0:            # overlapped: the transfer ends ``exposed`` after the compute
                    log.gpu.log_comm("TP", max(t0, env.now - tp_s), env.now)
            else:
                yield from self._compute(log, pc.compute_s)
            if tp_done:
                pass                    # done above, with the compute
            elif pc.tp_calls and self.fast_tp:
                t0 = env.now
                tp_s = self._tp_pass(s, r, pc)
                exposed = self._tp_exposed(log, pc, tp_s)
                if tp_s > 0:
                    yield env.timeout(exposed)
                    log.gpu.log_comm("TP", env.now - tp_s, env.now)
            elif pc.tp_calls and p.tp_comm_overlap:
                # the last backward or a ZeRO-3 backward: its collectives ran beside it
                yield from self._tp_tail(log, (yield tp_proc))
            elif pc.tp_calls:
                if p.sp:
                    yield from self._comm(log, "TP", "all_gather", "tp", s, r, pc.tp_bytes, pc.tp_calls // 2)
                    yield from self._comm(log, "TP", "reduce_scatter", "tp", s, r, pc.tp_bytes, pc.tp_calls - pc.tp_calls // 2)
                else:
                    yield from self._comm(log, "TP", "all_reduce", "tp", s, r, pc.tp_bytes, pc.tp_calls)
            ep_proc = None
            if pc.ep_calls:
                if ep_prev is not None:
                    yield ep_prev           # one EP stream: all-to-alls run in order
                    ep_prev = None
                nxt = acts[idx + 1] if idx + 1 < len(acts) else None
                if p.ep_overlap and not is_last_b and nxt is not None and nxt[0] != ph:
                    # Megatron-Core's EP overlap (overlap_moe_expert_parallel_comm): a forward
                    # and a backward of different micro-batches run merged, so this pass's
                    # dispatch/combine runs behind the next pass's compute
                    ep_proc = ep_prev = env.process(self._side_comm(log, "EP", "all_to_all", "ep", s, r,
                                                                    pc.ep_bytes, pc.ep_calls))
                else:
                    yield from self._comm(log, "EP", "all_to_all", "ep", s, r, pc.ep_bytes, pc.ep_calls)
            if pc.etp_calls:
                # expert-TP: all-gather the dispatched rows before the experts, reduce-scatter after
                yield from self._comm(log, "EP", "all_gather", "etp", s, r, pc.etp_bytes, pc.etp_calls // 2)
                yield from self._comm(log, "EP", "reduce_scatter", "etp", s, r, pc.etp_bytes,
                                      pc.etp_calls - pc.etp_calls // 2)
            if cp_proc is not None:
                yield cp_proc
            if is_last_b and not self.overlap and p.zero < 3 and p.dp * p.cp > 1:
                pending_dp.append(self._dp_enqueue(r, s, self.grad_bytes * chunk.dense_params,
                                                   self.grad_bytes * chunk.expert_params, log, pending_dp))
            # hand the result to the neighbouring virtual stage (after its overlapped all-to-all)
            if ph == "F" and k < self.n_v - 1:
                self._send_after(ep_proc, r, s, (k + 1) % p.pp, ("F", mb, k + 1), log)
            elif ph == "B" and k > 0:
                self._send_after(ep_proc, r, s, (k - 1) % p.pp, ("B", mb, k - 1), log)
        if ep_prev is not None:
            yield ep_prev
        if pending_dp:
            yield env.all_of(pending_dp)
        yield from self._compute(log, costs.optimizer_s[s])
        if p.zero in (1, 2) and p.dp * p.cp > 1:
            # distributed optimizer: gather the updated parameter shards (the experts' over their
            # expert data-parallel groups, whose ranks shard them)
            dense = sum(costs.chunks[k].dense_params for k in p.stage_chunks(s))
            expert = sum(costs.chunks[k].expert_params for k in p.stage_chunks(s))
            if p.ep > 1:
                yield from self._comm(log, "DP", "all_gather", "dp", s, r, self.weight_bytes * dense)
                yield from self._comm(log, "DP", "all_gather", "edp", s, r, self.weight_bytes * expert)
            else:
                yield from self._comm(log, "DP", "all_gather", "dp", s, r, self.weight_bytes * (dense + expert))
        log.finish = env.now

    def _buckets(self, chunk) -> list[tuple[float, float, float]]:
        """(fraction of the backward, dense bytes, expert bytes) per gradient bucket."""
        total = self.grad_bytes * (chunk.dense_params + chunk.expert_params)
        n = max(1, min(int(total // self.bucket_bytes), max(chunk.layers, 1)))
        return [(1.0 / n, self.grad_bytes * chunk.dense_params / n, self.grad_bytes * chunk.expert_params / n)] * n

    def _dp_enqueue(self, r, s, dense_b, expert_b, log, pending):
        prev = pending[-1] if pending else None
        return self.env.process(self._dp_reduce(r, s, dense_b, expert_b, log, prev))

    def _dp_reduce(self, r, s, dense_b, expert_b, log, prev):
        if prev is not None:
            yield prev                      # one NCCL stream: buckets reduce in order
        p = self.plan
        op = "all_reduce" if p.zero == 0 else "reduce_scatter"
        # expert gradients reduce over their expert data-parallel groups (edp ranks, each with
        # all of its local experts' gradient); with ep = 1 those are the dp groups: one call
        if p.ep > 1:
            yield from self._comm(log, "DP", op, "dp", s, r, dense_b)
            yield from self._comm(log, "DP", op, "edp", s, r, expert_b)
        else:
            yield from self._comm(log, "DP", op, "dp", s, r, dense_b + expert_b)

    def _tp_exposed(self, log, pc, tp_s: float) -> float:
        """Fast path: exposed seconds of a pass's TP collectives (``tp_s`` in all): all of them
        without ``tp_comm_overlap``, else ``costs.tp_overlap_exposed`` against the pass's GEMMs
        (stretched as its compute is)."""
        if not self.plan.tp_comm_overlap or tp_s <= 0:
            return tp_s
        gemm = log.gpu.compute_time(pc.tp_gemm_s * self._straggle(log)) if pc.tp_gemm_s > 0 else 0.0
        return tp_overlap_exposed(tp_s, gemm, self.plan.tp)

    def _tp_overlapped(self, log, s, r, pc):
        """Shared fabric, ``tp_comm_overlap``: a pass's TP all-gathers and reduce-scatters on the
        fabric beside its compute, starting where its GEMMs start (after the rest of the pass:
        compute - GEMM time), so the pass ends at max(GEMMs, transfer) + the last chunk, as
        ``costs.tp_overlap_exposed``. Returns the transfer's seconds."""
        rest = max(0.0, pc.compute_s - pc.tp_gemm_s)
        if rest > 0:
            yield self.env.timeout(log.gpu.compute_time(rest * self._straggle(log)))
        t0 = self.env.now
        yield from self._comm(log, "TP", "all_gather", "tp", s, r, pc.tp_bytes, pc.tp_calls // 2)
        yield from self._comm(log, "TP", "reduce_scatter", "tp", s, r, pc.tp_bytes, pc.tp_calls - pc.tp_calls // 2)
        return self.env.now - t0

    def _tp_tail(self, log, comm_s: float):
        """The last chunk of an overlapped pass's TP transfer (``comm_s`` seconds in all), which
        no GEMM is left to hide: 1/tp of it, after the pass."""
        tail = comm_s / self.plan.tp if comm_s > 0 else 0.0
        if tail > 0:
            t0 = self.env.now
            yield self.env.timeout(tail)
            log.gpu.log_comm("TP", t0, self.env.now)

    def _side_comm(self, log, kind, op, dim, s, r, nbytes, calls):
        yield from self._comm(log, kind, op, dim, s, r, nbytes, calls)

    def _gather_params(self, r, s, k, log):
        chunk = self.costs.chunks[k]
        if self.plan.ep > 1:            # experts from their expert data-parallel shards
            return self.env.process(self._gather_split(log, s, r, chunk))
        return self.env.process(self._side_comm(log, "DP", "all_gather", "dp", s, r,
                                                self.weight_bytes * (chunk.dense_params + chunk.expert_params), 1))

    def _gather_split(self, log, s, r, chunk):
        yield from self._comm(log, "DP", "all_gather", "dp", s, r, self.weight_bytes * chunk.dense_params)
        yield from self._comm(log, "DP", "all_gather", "edp", s, r, self.weight_bytes * chunk.expert_params)
