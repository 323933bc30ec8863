"""Closed-form step time of a training plan: the same costs as the simulation, with
communication times from alpha-beta formulas instead of flows on a fabric.

Vocabulary:
- ``Network``: what the closed forms need about the cluster: per-GPU scale-up and scale-out
  bandwidth (already scaled by the collective efficiencies), per-hop latencies and the scale-up
  domain size.
- ``estimate_step(model, plan, cm, net)``: replays the pipeline schedule (``schedule.timeline``)
  with each pass's compute plus its blocking TP/EP/CP communication, adds point-to-point
  latency between stages, the DP gradient reduction (exposed unless overlapped), the optimizer
  step and the per-step overhead. Used to fit the compute constants (fast enough for thousands
  of evaluations) and as an independent check of the simulated step.
- ``gradient_groups(plan, stage)``: the ranks of the stage's dense (dp x cp) and expert
  (expert data-parallel) gradient groups, as the engine builds them; ``Network.collective_on``
  prices a collective over ranks where they sit (the most that share a scale-up domain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.collectives import DEFAULT_EFFICIENCY, estimate
from topologies.params import DEFAULT_SCALEOUT_LATENCY_US, DEFAULT_SCALEUP_LATENCY_US
from sim.compute import ComputeModel
from workloads.model import ModelSpec
from workloads.training.costs import StepCosts, step_costs, tp_overlap_exposed
from workloads.training.memory import state_bytes
from workloads.training.plan import Plan
from workloads.training.schedule import actions, timeline


# Latency of one ring step, as the simulated topologies build it: a scale-up step crosses two
# hops (GPU -> NVSwitch -> GPU; 2 x 0.95 us = NCCL's 1.9 us per NVLink LL128 step), a scale-out
# step six (PCIe, NIC, leaf, spine and back down). The 10 us per-collective launch
# (sim.collectives.LAUNCH_S) is added by ``estimate`` itself.
SCALEUP_HOPS_PER_STEP = 2
SCALEOUT_HOPS_PER_STEP = 6


def group_share(ranks, domain: int) -> int:
    """The most ranks of ``ranks`` that share one scale-up domain (rank r in domain r // domain);
    ``len(ranks)`` when the group lies inside one domain."""
    doms = np.asarray(ranks) // max(int(domain), 1)
    if doms.size == 0:
        return 0
    if doms.min() == doms.max():
        return int(doms.size)
    return int(np.bincount(doms - doms.min()).max())


_GROUPS: dict = {}


def gradient_groups(plan: Plan, stage: int) -> tuple[list[int], list[int]]:
    """(ranks of pipeline stage ``stage``'s first gradient group, of its first expert gradient
    group): the groups the engine reduces gradients and ZeRO state over. Dense gradients span
    dp x cp (``Plan.grad_groups``: Megatron-Core's data-parallel group with context
    parallelism); expert gradients the expert data-parallel group (``Plan.edp_groups``) when
    ep > 1, else the same dp x cp group. Every group of a stage has the same shape; cached per
    plan shape."""
    key = (plan.tp, plan.cp, plan.pp, plan.dp, plan.ep, plan.etp, tuple(plan.order), stage)
    g = _GROUPS.get(key)
    if g is None:
        dense = plan.grad_groups(pp=stage)[0]
        expert = plan.edp_groups(pp=stage)[0] if plan.ep > 1 else dense
        if len(_GROUPS) > 4096:
            _GROUPS.clear()
        g = _GROUPS[key] = (list(dense), list(expert))
    return g


@dataclass
class Network:
    scaleup_Bps: float
    scaleout_Bps: float
    domain: int
    scaleup_latency_s: float = SCALEUP_HOPS_PER_STEP * DEFAULT_SCALEUP_LATENCY_US * 1e-6
    scaleout_latency_s: float = SCALEOUT_HOPS_PER_STEP * DEFAULT_SCALEOUT_LATENCY_US * 1e-6

    @classmethod
    def of(cls, gpu, nic_Gbps: float, nics_per_node: int, gpus_per_node: int, domain: int | None = None,
           up_eff: float | None = None, out_eff: float | None = None) -> "Network":
        up_eff = DEFAULT_EFFICIENCY["scaleup"] if up_eff is None else up_eff
        out_eff = DEFAULT_EFFICIENCY["scaleout"] if out_eff is None else out_eff
        return cls(gpu.scaleup_Bps * up_eff, nic_Gbps * 1e9 / 8 * nics_per_node / gpus_per_node * out_eff,
                   domain or gpu.scaleup_domain)

    def collective(self, op: str, n: int, nbytes: float, stride: int) -> float:
        """Time of one collective over ``n`` ranks spaced ``stride`` apart in rank order."""
        if n <= 1 or nbytes <= 0:
            return 0.0
        if n * stride <= self.domain:
            return self.collective_placed(op, n, nbytes, n)
        return self.collective_placed(op, n, nbytes, max(self.domain // stride, 1))

    def collective_on(self, op: str, ranks, nbytes: float) -> float:
        """Time of one collective over the ranks ``ranks`` as they are placed: rank r sits in
        scale-up domain r // ``domain`` (the topology builders' layout), and the most ranks of
        the group that share a domain decide what crosses the NICs (``group_share``)."""
        return self.collective_placed(op, len(ranks), nbytes, group_share(ranks, self.domain))

    def collective_placed(self, op: str, n: int, nbytes: float, per_domain: int) -> float:
        """Time of one collective over ``n`` ranks of which at most ``per_domain`` share a
        scale-up domain (``per_domain`` >= ``n``: the whole group inside one)."""
        if n <= 1 or nbytes <= 0:
            return 0.0
        if per_domain >= n:
            if op == "all_to_all":
                return estimate("all_to_all", "direct", n, nbytes, self.scaleup_Bps, self.scaleup_latency_s)
            return estimate(op, "ring", n, nbytes, self.scaleup_Bps, self.scaleup_latency_s)
        per_domain = max(per_domain, 1)
        if op == "all_to_all":
            # the bytes leaving a domain cross the scale-out NIC of each GPU
            out = nbytes * (n - min(per_domain, n)) / n
            return out / self.scaleout_Bps + self.scaleout_latency_s
        # a group that does not tile the domains evenly (64 ranks at stride 2 over NVL72 racks:
        # 36 in the first domain) still keeps most of its ring inside the domains: NCCL's
        # channels cross a domain through a NIC each (PXN, one rail per channel) and stay on
        # NVLink inside it, so it is priced as the even layout with the most ranks per domain
        # that fits (32 + 32), not as a ring whose every hop is a NIC
        per_domain = max((d for d in range(min(per_domain, n), 0, -1) if n % d == 0), default=1)
        if per_domain > 1 and op in ("all_reduce", "reduce_scatter", "all_gather"):
            return estimate(op, "hierarchical", n, nbytes, self.scaleup_Bps, self.scaleup_latency_s,
                            per_domain=per_domain, scaleout_Bps=self.scaleout_Bps,
                            scaleout_latency_s=self.scaleout_latency_s)
        return estimate(op, "ring", n, nbytes, self.scaleout_Bps, self.scaleout_latency_s)

    def p2p(self, nbytes: float, stride: int) -> float:
        if stride < self.domain:
            return nbytes / self.scaleup_Bps + self.scaleup_latency_s
        return nbytes / self.scaleout_Bps + 3 * self.scaleout_latency_s


def gradient_split(plan: Plan, dense_g, expert_g, dense: float, expert: float) -> list[tuple[list[int], float]]:
    """(group, parameters) of each gradient collective: dense and expert parameters apart when
    ep > 1 (the expert data-parallel group), else together over the dp x cp group."""
    if plan.ep > 1:
        return [(dense_g, dense), (expert_g, expert)]
    return [(dense_g, dense + expert)]


def estimate_step(model: ModelSpec, plan: Plan, cm: ComputeModel, net: Network, attention: str = "flash",
                  overlap_grad_reduce: bool = True, optimizer_step: bool = True,
                  costs: StepCosts | None = None, sync_jitter: float = 1.0) -> dict:
    """``sync_jitter``: compute multiplier for the slowest GPU of the job (the engine's default
    speed spread, ``workloads.training.sync_jitter``); it stretches every pass and the optimizer
    step as the engine does."""
    costs = costs or step_costs(model, plan, cm, attention, optimizer_step)
    st = plan.strides()
    tp_op = "all_reduce"
    pass_s = {}
    for c in costs.chunks:
        for phase, pc in (("F", c.fwd), ("B", c.bwd)):
            comm = 0.0
            if pc.tp_calls:
                if plan.sp and plan.tp > 1:
                    n_ag = pc.tp_calls // 2
                    tp_s = n_ag * net.collective("all_gather", plan.tp, pc.tp_bytes, st["tp"]) + \
                        (pc.tp_calls - n_ag) * net.collective("reduce_scatter", plan.tp, pc.tp_bytes, st["tp"])
                    if plan.tp_comm_overlap:
                        tp_s = tp_overlap_exposed(tp_s, pc.tp_gemm_s * sync_jitter, plan.tp)
                    comm += tp_s
                else:
                    comm += pc.tp_calls * net.collective(tp_op, plan.tp, pc.tp_bytes, st["tp"])
            if pc.ep_calls:
                comm += pc.ep_calls * net.collective("all_to_all", plan.ep, pc.ep_bytes, st["ep"])
            if pc.etp_calls:
                # expert-TP all-gather / reduce-scatter of the dispatched rows (etp innermost)
                comm += pc.etp_calls / 2 * (net.collective("all_gather", plan.etp, pc.etp_bytes, 1)
                                            + net.collective("reduce_scatter", plan.etp, pc.etp_bytes, 1))
            cp_hidden = 0.0
            if pc.cp_calls:
                cp = pc.cp_calls * net.collective("all_gather", plan.cp, pc.cp_bytes, st["cp"])
                cp_hidden = max(0.0, cp - pc.compute_s)      # ring exchange overlaps attention
            pass_s[(phase, c.vstage)] = pc.compute_s * sync_jitter + comm + cp_hidden
    p2p = net.p2p(costs.p2p_bytes, st["pp"]) if plan.pp > 1 else 0.0
    acts = actions(plan.schedule, plan.pp, plan.microbatches, plan.v)
    pipeline_s, _ = timeline(acts, lambda ph, k: pass_s[(ph, k)], p2p)
    # DP gradient reduction per pipeline rank, over the groups the engine uses, as they are
    # placed (``gradient_groups``): dense gradients over dp x cp, experts over their expert
    # data-parallel group (with ep = 1 the experts share the dense group: one call, as the engine
    # issues it). ZeRO-1/2 then gather both updated shards, once per stage. With
    # overlap_grad_reduce that gather is counted with the reduction as hidden behind the backward:
    # a stand-in for Megatron's overlap_param_gather (the recipes' setting, which overlaps it with
    # the next step's forward). The engine does not model overlap_param_gather: it runs the gather
    # after the optimizer step, exposed, so on ZeRO-1/2 plans with overlap_grad_reduce the closed
    # form is faster than the engine by up to that gather (tests/workloads/training/test_estimate.py)
    dp_s = 0.0
    weight_bytes, grad_bytes, _ = state_bytes(plan)   # as the engine moves them
    grad_op = "all_reduce" if plan.zero == 0 else "reduce_scatter"
    for s in range(plan.pp):
        t = 0.0
        dense_g, expert_g = gradient_groups(plan, s) if plan.dp * plan.cp > 1 else ([0], [0])
        chunks = [costs.chunks[k] for k in plan.stage_chunks(s)]
        for c in chunks:
            for g, params in gradient_split(plan, dense_g, expert_g, c.dense_params, c.expert_params):
                t += net.collective_on(grad_op, g, grad_bytes * params)
        if plan.zero in (1, 2):
            for g, params in gradient_split(plan, dense_g, expert_g, sum(c.dense_params for c in chunks),
                                    sum(c.expert_params for c in chunks)):
                t += net.collective_on("all_gather", g, weight_bytes * params)
        last_bwd = sync_jitter * sum(c.bwd.compute_s for c in chunks)
        exposed = max(0.0, t - last_bwd * 0.9) if overlap_grad_reduce else t
        dp_s = max(dp_s, exposed)
    opt = sync_jitter * max(costs.optimizer_s) if costs.optimizer_s else 0.0
    step = pipeline_s + dp_s + opt + costs.step_overhead_s
    return {"step_time_s": step, "pipeline_s": pipeline_s, "dp_exposed_s": dp_s, "optimizer_s": opt,
            "hw_flops": costs.hw_flops_per_step, "model_flops": costs.model_flops_per_step}
