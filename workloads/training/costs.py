"""Costs of one training pass: compute time, FLOPs and communication volumes per model chunk.

Vocabulary:
- pass: the forward (``F``) or backward (``B``) of one model chunk (virtual stage) for one
  micro-batch on one GPU. The backward includes the recompute forward (``full``: the chunk's
  layers; ``selective``: the attention cores) and runs 2x the forward's GEMM FLOPs (input and
  weight gradients); fused flash attention runs 2.5x (it recomputes the scores).
- ``PassCost``: ``compute_s`` (sum of roofline op times plus the framework's per-layer
  overhead), ``model_flops`` (standard count, no recompute), ``hw_flops`` (recompute included,
  the convention of Narayanan et al. 2021; routed experts at the rows executed, fewer with
  token drop and more with drop-and-pad: ``executed_expert_rows``), and the communication the
  pass issues: TP (``tp_calls`` collectives of ``tp_bytes`` each, all-reduce, or all-gather +
  reduce-scatter with sequence parallelism), EP all-to-all (dispatch + combine), CP ring exchange of K and V;
  with ``tp_comm_overlap`` also ``tp_gemm_s``, the GEMM seconds its TP collectives pipeline
  with (``tp_overlap_gemms``, ``tp_overlap_exposed``).
- host dispatch: PyTorch eager issues every kernel from the CPU at a fixed cost
  (``cpu_dispatch_us``: Python, dispatcher, launch); the GPU runs them asynchronously, so a
  pass takes max(GPU time, host time) and short kernels leave the GPU waiting on the host.
  Host time = kernels x ``cpu_dispatch_us``; a pass's kernel count is its ops' ``count`` (the
  backward issues 2x the forward's, plus its recompute), and each TP collective adds
  ``tp_collective_kernels`` launches. A routed-expert GEMM or cast over ``local`` experts
  (Transformer Engine's ``GroupedLinear``) is one framework call whose per-expert kernels
  are launched from C++ at ``grouped_launch_us`` each (``host_kernels``). A forward pass also carries ``microbatch_overhead_us`` of
  serial host work (the framework's per-micro-batch step: batch fetch and TP broadcast, masks,
  the loss's host side), which the GPU waits through. All are data in ``sim/data/compute.toml`` (training
  keys, read here because ``sim.compute.Efficiency`` does not carry them). Under CUDA graphs
  (``train.cuda_graph_impl``, Megatron's name) each layer's kernels are replayed by one graph
  launch: the host no longer issues them (its per-layer and per-micro-batch work stays).
- MoE host sync: the dropless dispatcher copies tokens-per-expert to the host every MoE layer;
  token drop padded to capacity (``moe_capacity_factor`` + ``moe_pad_expert_input_to_capacity``,
  Megatron's drop-and-pad) has static shapes and no sync, and costs the padded rows.
- precision per op: the layers' forward ops come from the layer model shared with serving
  (``workloads.layer_cost.forward_ops``): at fp8/fp4 the GEMMs run at that precision (the
  GPU's measured low-precision factor, ``sim/data/compute.toml``), attention and the output
  layer at bf16, plus Transformer Engine's casts (forward: inputs and weights; backward: the
  output gradients).
- ``ChunkCost``: both passes plus the chunk's parameter and gradient bytes per GPU (dense and
  expert), which the DP gradient reduction and ZeRO-3 parameter gathers move.
- ``StepCosts``: every chunk, the activation bytes a pipeline send carries, and the optimizer
  step time per pipeline rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sim.compute import ComputeModel, Efficiency, Op, efficiency_for
from sim.hardware import BYTES_PER_ELEMENT, GpuSpec, gpu as catalogued_gpu
from workloads.layer_cost import ATTENTION_CORE, LOW_PRECISION, backward_cast_ops, cast_ops, forward_ops
from workloads.model import ACT_BYTES, ModelSpec
from workloads.training.memory import chunk_params, recompute_modules, stage_params, state_bytes
from workloads.training.plan import Plan

CAST_PREFIXES = tuple(f"{p}_" for p in LOW_PRECISION)


@dataclass
class PassCost:
    compute_s: float = 0.0
    model_flops: float = 0.0
    hw_flops: float = 0.0
    tp_bytes: float = 0.0
    tp_calls: int = 0
    ep_bytes: float = 0.0
    ep_calls: int = 0
    cp_bytes: float = 0.0
    cp_calls: int = 0
    etp_bytes: float = 0.0          # expert-TP all-gather / reduce-scatter of dispatched rows (output size)
    etp_calls: int = 0              # half all-gathers, half reduce-scatters
    tp_gemm_s: float = 0.0          # tp_comm_overlap: seconds of the GEMMs the TP collectives pipeline with
    launch_wait_s: float = 0.0      # of compute_s: the GPU waiting on the host issuing kernels (beyond their GPU time)


@dataclass
class ChunkCost:
    vstage: int
    layers: int
    fwd: PassCost
    bwd: PassCost
    dense_params: float = 0.0       # per GPU
    expert_params: float = 0.0


@dataclass
class StepCosts:
    chunks: list[ChunkCost]
    p2p_bytes: float                # activation bytes each GPU sends to the next stage per pass
    optimizer_s: list[float] = field(default_factory=list)   # per pipeline rank
    step_overhead_s: float = 0.0
    model_flops_per_step: float = 0.0   # whole job
    hw_flops_per_step: float = 0.0


@dataclass(frozen=True)
class TrainingEfficiency(Efficiency):
    """``Efficiency`` plus the host-dispatch constants of eager training frameworks."""
    cpu_dispatch_us: float = 0.0        # host cost of issuing one kernel
    tp_collective_kernels: float = 0.0  # host-issued launches per TP collective (NCCL + splits)
    microbatch_overhead_us: float = 0.0 # serial host work per micro-batch per model chunk


HOST_KEYS = ("cpu_dispatch_us", "tp_collective_kernels", "microbatch_overhead_us")


def _host_constants(gpu_name: str) -> dict:
    from sim.compute import constants_row
    row = constants_row(gpu_name)
    return {k: row.get(k, 0.0) for k in HOST_KEYS}


def training_efficiency(gpu_name: str) -> TrainingEfficiency:
    """The GPU's compute constants with the host-dispatch ones (what calibration refits)."""
    e = efficiency_for(gpu_name)
    return TrainingEfficiency(**{f: getattr(e, f) for f in Efficiency.__dataclass_fields__},
                              **_host_constants(gpu_name))


def host_constants(cm: ComputeModel) -> tuple[float, float, float]:
    """(seconds per kernel dispatch, launches per TP collective, seconds of serial host work per
    micro-batch and model chunk) for this compute model."""
    row = cm.eff.__dict__ if isinstance(cm.eff, TrainingEfficiency) else _host_constants(cm.gpu.name)
    return (row["cpu_dispatch_us"] * 1e-6, row["tp_collective_kernels"],
            row["microbatch_overhead_us"] * 1e-6)


def _kernels(ops: list[Op]) -> float:
    return float(sum(max(o.count, 1) for o in ops))


GROUPED_OPS = ("expert_up", "expert_down")


def grouped_op(o: Op) -> bool:
    """True for a routed-expert GEMM or one of its quantization ops (``moe_layer_ops``, backward
    included): Transformer Engine's ``GroupedLinear``, whose per-expert kernels one framework
    call issues from C++ (``general_grouped_gemm``, ``split_quantize``)."""
    base = o.name[:-4] if o.name.endswith("_bwd") else o.name
    return base.endswith(GROUPED_OPS)


def host_kernels(ops: list[Op], local: int, launch_ratio: float) -> list[float]:
    """Host dispatches (in units of ``cpu_dispatch_us``) of each op of a pass. An ordinary op
    costs its ``count``. A grouped expert op (``grouped_op``: ``count`` = per-expert kernels x
    ``local`` experts) is ``count / local`` framework calls (Python, autograd: a full dispatch
    each) whose other per-expert kernels are launched from C++ at ``launch_ratio`` of a dispatch
    (``grouped_launch_us / cpu_dispatch_us``)."""
    out = []
    for o in ops:
        n = float(max(o.count, 1))
        if local > 1 and grouped_op(o):
            calls = max(n / local, 1.0)
            n = calls + (n - calls) * launch_ratio
        out.append(n)
    return out


def _times(cm: ComputeModel, ops: list[Op]) -> float:
    return float(cm.op_times(ops).sum())


def backward_ops(ops: list[Op], attention: str, precision: str = "", recipe: str = "",
                 non_tn: bool = False) -> list[Op]:
    """The backward of forward ``ops``, each at its forward op's precision; the forward's
    low-precision casts are replaced by the backward's (the output gradients', see
    ``workloads.layer_cost``) when ``precision`` is fp8 or fp4, or with a ``recipe``
    (``train.fp8_recipe``) by that recipe's quantization of the output gradients
    (``recipe_quant_ops``; ``non_tn``: the GPU needs no transposed fp8 copies)."""
    if recipe and precision in LOW_PRECISION:
        out = backward_ops([o for o in ops if not o.name.startswith(RECIPE_PREFIXES)], attention)
        return out + [q for o in ops if o.kind == "gemm" and o.precision in ("", precision, "mxfp8")
                      for q in recipe_quant_ops(o, recipe, non_tn, backward=True)]
    out = []
    for o in ops:
        if o.name.startswith(CAST_PREFIXES):
            continue
        if o.name == "attention" and attention == "flash":
            # FlashAttention-2 backward: recompute S and P, then dV, dP, dQ, dK: 2.5x forward
            out.append(Op(o.name + "_bwd", 2.5 * o.flops, 2.0 * o.bytes, o.exps, "attention_bwd",
                          o.count, o.dims, o.precision))
        else:
            # input gradient (m x n)(n x k) and weight gradient (k x m)(m x n): same three dims
            out.append(Op(o.name + "_bwd", 2.0 * o.flops, 2.0 * o.bytes, 0.0, o.kind,
                          2 * o.count if o.kind == "gemm" else o.count, o.dims, o.precision))
    return out + (backward_cast_ops(ops, precision, transpose=not non_tn) if precision in LOW_PRECISION else [])


def chunk_cost(model: ModelSpec, plan: Plan, cm: ComputeModel, vstage: int, attention: str) -> ChunkCost:
    wbytes = BYTES_PER_ELEMENT.get(plan.precision, 2.0)
    shard = plan.shard(weight_bytes=wbytes)
    b = plan.micro_batch
    n_v = plan.pp * plan.v
    layers = list(plan.chunk_layer_range(vstage))
    fwd_ops: list[Op] = []
    recompute_ops: list[Op] = []
    low = plan.precision in LOW_PRECISION
    modules = recompute_modules(plan)
    # Transformer Engine casts a weight to fp8 once per step when the framework says which
    # micro-batch is the first (Megatron's is_first_microbatch: the fp8 copy is cached); under
    # ZeRO-3/FSDP the 16-bit weights are re-gathered for every pass and cast again
    weight_fraction = 1.0 if plan.zero >= 3 else 1.0 / max(plan.microbatches, 1)
    # Blackwell's FP8 GEMMs read one tensor-scaled copy in every layout: the casts write no transpose
    transpose = not non_tn_fp8(cm.gpu)
    for i in layers:
        # the shared layer model: GEMMs at the run's precision, attention at 16 bit, and the
        # fp8/fp4 casts Transformer Engine adds (workloads.layer_cost)
        ops = forward_ops(model, i, b, shard, plan.precision, attention,
                          attention_precision="bf16" if low else "", weight_fraction=weight_fraction,
                          transpose=transpose)
        if model.is_moe_layer(i):
            ops = moe_layer_ops(ops, model, plan, b, shard, weight_fraction, transpose)
        if plan.fp8_recipe and low:
            # train.fp8_recipe: Transformer Engine's quantization passes of that recipe
            ops = requantize(ops, plan.precision, plan.fp8_recipe, non_tn_fp8(cm.gpu), weight_fraction)
        fwd_ops += ops
        if plan.recompute == "full":
            recompute_ops += ops
        elif plan.recompute == "selective":
            recompute_ops += [o for o in ops if _recomputed(o.name, modules)]
    if vstage == 0:
        fwd_ops += model.embedding_ops(b, shard)
    if vstage == n_v - 1:
        # the output layer stays 16-bit under fp8 recipes (Megatron-Core, TE: not an fp8 linear)
        fwd_ops += [replace(o, precision="bf16") if low and o.kind == "gemm" else o
                    for o in model.logits_ops(b, shard)]
    bwd_ops = backward_ops(fwd_ops, attention, plan.precision, plan.fp8_recipe if low else "",
                           non_tn_fp8(cm.gpu)) + recompute_ops
    # per-layer host work of each pass; FSDP (ZeRO-3) adds its per-block hooks on top
    fsdp_us = cm.eff.fsdp_layer_overhead_us if plan.zero >= 3 else 0.0
    overhead = (cm.eff.layer_overhead_us + fsdp_us) * 1e-6 * len(layers)
    dispatch_s, tp_kernels, microbatch_s = host_constants(cm)
    # a grouped expert op's per-expert kernels are launched from C++ (``host_kernels``)
    local = max(model.experts // plan.ep, 1) if model.experts else 1
    launch_ratio = grouped_launch_s(cm) / dispatch_s if dispatch_s else 0.0
    fwd_host = host_kernels(fwd_ops, local, launch_ratio)
    fwd_kernels = sum(fwd_host)
    bwd_kernels = 2.0 * fwd_kernels + sum(host_kernels(recompute_ops, local, launch_ratio))
    fwd_gpu = _times(cm, fwd_ops)
    bwd_gpu = _times(cm, bwd_ops)
    fwd, bwd = PassCost(), PassCost()

    # FLOPs by the standard count, for one GPU (the TP/CP share of the model's work)
    tokens = b * model.seq_len
    share = 1.0 / (plan.tp * plan.cp)
    layer_flops = 0.0
    attn_flops = 0.0
    for i in layers:
        layer_flops += 2.0 * model.layer_active_params(i) * tokens * share
        attn_flops += model.attention_flops_per_token(layer=i) * tokens * share
    logit_flops = 2.0 * model.vocab * model.hidden * tokens * share if vstage == n_v - 1 else 0.0
    fwd_model = layer_flops + attn_flops + logit_flops
    fwd.model_flops = fwd.hw_flops = fwd_model
    bwd.model_flops = 2.0 * fwd_model
    recompute_flops = (layer_flops + attn_flops if plan.recompute == "full"
                       else sum(recompute_module_flops(model, i, modules) for i in layers) * tokens * share)
    bwd.hw_flops = bwd.model_flops + recompute_flops
    # hardware FLOPs count the routed-expert rows the GPUs execute: fewer when tokens are
    # dropped, more when every expert is padded to capacity (executed_expert_rows); the model
    # count keeps Megatron's top_k rows per token
    extra_rows = executed_expert_rows(plan) - 1.0
    if extra_rows and model.is_moe:
        routed = sum(2.0 * model.top_k * model.expert_params() for i in layers
                     if model.is_moe_layer(i)) * tokens * share * extra_rows
        recomputed = plan.recompute == "full" or (plan.recompute == "selective" and "moe" in modules)
        fwd.hw_flops += routed
        bwd.hw_flops += (3.0 if recomputed else 2.0) * routed

    # communication issued by the pass (per GPU, nccl-tests sizes)
    T = b * model.seq_len / plan.cp
    act = ACT_BYTES * T * model.hidden
    moe_layers = sum(1 for i in layers if model.is_moe_layer(i))
    if plan.tp > 1:
        # without SP: an all-reduce after attention and after the MLP. With sequence
        # parallelism Megatron replaces each by an all-gather before the block's first linear
        # and a reduce-scatter after its last: 2 all-gathers + 2 reduce-scatters per layer, the
        # same bytes as the 2 all-reduces (the engine issues half the calls as each). An MoE
        # block under SP has no dense-MLP pair: its token dispatcher takes the sequence shards
        # as they are (the expert-TP exchange of the dispatched rows is ``etp_calls``)
        per_layer = 4 if plan.sp else 2
        calls = per_layer * len(layers) + (1 if vstage == 0 else 0)
        if plan.sp:
            calls -= 2 * moe_layers
        fwd.tp_bytes = bwd.tp_bytes = act
        fwd.tp_calls = calls
        bwd.tp_calls = calls + ((calls - (1 if vstage == 0 else 0)) if plan.recompute == "full" else 0)
        fwd_kernels += tp_kernels * fwd.tp_calls
        bwd_kernels += tp_kernels * bwd.tp_calls
    # the GPU waits for whichever is slower: its kernels or the host issuing them
    # plus the framework's serial host work per micro-batch and chunk (Megatron's forward_step:
    # fetching the batch and broadcasting it to the TP group, building masks and position ids,
    # the loss function's host side); the GPU idles through it
    # MoE: the token dispatcher copies tokens-per-expert to the host to size the all-to-all (a
    # device-to-host sync per MoE layer and forward, before the permutation; the backward reuses
    # the splits). The host cannot run ahead across a sync: the forward is cut into segments at
    # the syncs, each taking max(GPU time, host time) of its own kernels
    # Token drop with padding to capacity (static shapes) has no sync (``Plan.moe_host_sync``).
    # CUDA graphs (``train.cuda_graph_impl``) replay each layer's kernels with one launch: the
    # host no longer issues them one by one (its per-layer framework work stays)
    syncs = moe_layers if plan.moe_host_sync else 0
    if plan.cuda_graphs:
        dispatch_s = 0.0
    fwd_issued = (synced_pass_s(cm, fwd_ops, fwd_kernels - sum(fwd_host), dispatch_s, kernels=fwd_host) if syncs
                  else max(fwd_gpu, fwd_kernels * dispatch_s))
    bwd_issued = max(bwd_gpu, bwd_kernels * dispatch_s)
    # launch-bound: the kernels take longer to issue than to run (the GPU waits on the host)
    fwd.launch_wait_s = max(0.0, fwd_issued - fwd_gpu)
    bwd.launch_wait_s = max(0.0, bwd_issued - bwd_gpu)
    fwd.compute_s = fwd_issued + overhead + microbatch_s
    fwd.compute_s += moe_host_sync_s(cm) * syncs
    bwd.compute_s = bwd_issued + overhead * (2 if plan.recompute == "full" else 1)
    if plan.tp_comm_overlap and plan.tp > 1:
        # Transformer Engine userbuffers: each TP collective runs in chunks beside its GEMM,
        # whose communication kernels take SMs from it (tp_overlap_gemms)
        for pc, ops in ((fwd, fwd_ops), (bwd, bwd_ops)):
            gemm_s, extra_s = tp_overlap_gemms(cm, ops)
            pc.compute_s += extra_s
            pc.tp_gemm_s = gemm_s + extra_s
    if plan.tp > 1:
        per_call = (cm.eff.tp_call_overhead_us + (plan.tp - 1) * cm.eff.tp_rank_overhead_us) * 1e-6
        fwd.compute_s += fwd.tp_calls * per_call
        bwd.compute_s += bwd.tp_calls * per_call
    if plan.ep > 1 and moe_layers:
        # dispatch and combine: every token goes to top_k experts; bytes each GPU sends
        fwd.ep_bytes = bwd.ep_bytes = moe_dispatch_bytes(model, plan, T / (plan.tp if shard.sp else 1))
        fwd.ep_calls = 2 * moe_layers
        bwd.ep_calls = 2 * moe_layers * (2 if plan.recompute == "full" or "moe" in modules else 1)
    if plan.etp > 1 and moe_layers and (shard.sp or plan.etp != plan.tp):
        # expert TP (Megatron-Core's alltoall dispatcher): the rows dispatched to an expert shard
        # are all-gathered over its etp group before the grouped GEMMs and reduce-scattered after
        # (the backward: the same pair on the gradients); bytes = the gathered rows
        rows = moe_rows(model, plan, T / (plan.tp if shard.sp else 1))
        fwd.etp_bytes = bwd.etp_bytes = ACT_BYTES * model.hidden * rows
        fwd.etp_calls = 2 * moe_layers
        bwd.etp_calls = 2 * moe_layers * (2 if plan.recompute == "full" or "moe" in modules else 1)
    if plan.cp > 1:
        # ring attention: each rank's K and V travel around the CP ring (an all-gather of KV)
        kv_width = (model.kv_lora_rank + model.rope_head_dim) if model.mla else 2 * model.kv_dim / plan.tp
        fwd.cp_bytes = ACT_BYTES * T * kv_width * plan.cp
        bwd.cp_bytes = 2 * fwd.cp_bytes     # K, V again and their gradients
        fwd.cp_calls = len(layers)
        bwd.cp_calls = len(layers) * (2 if plan.recompute == "full" else 1)
    return ChunkCost(vstage, len(layers), fwd, bwd)


# forward ops each --recompute-modules entry runs again in the backward (their fp8/fp4 casts and
# recipe quantizations, named ``<prefix>_<op>``, with them); core_attn: the attention core
RECOMPUTE_OPS = {
    "core_attn": ATTENTION_CORE,
    "layernorm": ("norm1", "norm2"),
    "mla_up_proj": ("q_up", "kv_up"),
    "mlp": ("mlp_up", "mlp_act", "mlp_down"),
    "moe": ("router", "router_softmax_topk", "permute", "expert_up", "expert_act", "expert_down", "unpermute",
            "shared_up", "shared_act", "shared_down"),
    "moe_act": ("expert_act",),
    "shared_experts": ("shared_up", "shared_act", "shared_down"),
}


def _recomputed(name: str, modules) -> bool:
    return any(name == n or name.endswith("_" + n) for m in modules for n in RECOMPUTE_OPS[m])


def recompute_module_flops(model: ModelSpec, i: int, modules) -> float:
    """Forward FLOPs per token (whole layer, before the TP/CP share) that layer ``i``'s selective
    recompute runs again: the attention core (core_attn), MLA's up-projections, a dense MLP,
    the MoE block (router, routed top_k and shared experts) or its shared experts; norms and
    activation functions are memory ops (no FLOPs)."""
    f = 0.0
    if "core_attn" in modules:
        f += model.attention_flops_per_token(layer=i)
    if "mla_up_proj" in modules and model.mla:
        H = model.heads
        q_up = (model.q_lora_rank * H * (model.head_dim + model.rope_head_dim)) if model.q_lora_rank else 0
        f += 2.0 * (q_up + model.kv_lora_rank * H * (model.head_dim + model.v_head_dim))
    if model.is_moe_layer(i):
        if "moe" in modules:
            f += 2.0 * ((model.top_k + model.shared_experts) * model.expert_params() + model.hidden * model.experts)
        elif "shared_experts" in modules:
            f += 2.0 * model.shared_experts * model.expert_params()
    elif "mlp" in modules:
        f += 2.0 * model.dense_mlp_params()
    return f


def step_costs(model: ModelSpec, plan: Plan, cm: ComputeModel, attention: str = "flash",
               optimizer_step: bool = True) -> StepCosts:
    n_v = plan.pp * plan.v
    chunks = [chunk_cost(model, plan, cm, k, attention) for k in range(n_v)]
    # parameters per chunk and GPU (for DP reduction and ZeRO-3 gathers)
    for c in chunks:
        dense, expert = chunk_params(model, plan, c.vstage)
        emb = model.vocab * model.hidden / plan.tp
        if c.vstage == 0:
            dense += emb
        if c.vstage == n_v - 1 and (plan.pp > 1 or not model.tied_embeddings):
            dense += emb
        c.dense_params, c.expert_params = dense, expert
    T = plan.micro_batch * model.seq_len / plan.cp
    sp = plan.sp and plan.tp > 1
    # Megatron's scatter-gather optimisation: each TP rank sends 1/tp of the activation
    p2p = ACT_BYTES * T * model.hidden / plan.tp
    opt = []
    shard_dp = plan.dp * plan.cp
    for s in range(plan.pp):
        dense, expert = stage_params(model, plan, s)
        local = dense / (shard_dp if plan.zero >= 1 else 1) + expert / (max(shard_dp // plan.ep, 1) if plan.zero >= 1 else 1)
        layers = sum(plan.chunk_layers[k] for k in plan.stage_chunks(s))
        op = Op("adam", 0.0, cm.eff.optimizer_bytes_per_param * local, 0.0, "memory", max(layers, 1))
        opt.append(cm.time(op) if optimizer_step else 0.0)
    m = plan.microbatches
    replicas = plan.dp * plan.cp * plan.tp
    model_flops = sum(c.fwd.model_flops + c.bwd.model_flops for c in chunks) * m * replicas
    hw_flops = sum(c.fwd.hw_flops + c.bwd.hw_flops for c in chunks) * m * replicas
    del sp
    return StepCosts(chunks, p2p, opt, cm.eff.step_overhead_ms * 1e-3 if optimizer_step else 0.0,
                     model_flops, hw_flops)



# -- MoE layer (issue 11): Megatron-Core's token dispatch around the grouped expert GEMMs -------

MOE_OPS = ("router", "router_softmax_topk", "permute", "expert_up", "expert_act", "expert_down", "unpermute")


def moe_layer_ops(ops: list[Op], model: ModelSpec, plan: Plan, micro_batch: int, shard,
                  weight_fraction: float = 1.0, transpose: bool = True) -> list[Op]:
    """The routed-expert part of one MoE layer's forward on one GPU, replacing ``model``'s.

    Vocabulary (Megatron-Core, alltoall dispatcher): a rank holds ``T_sp`` tokens (its sequence
    share, split over TP with sequence parallelism); the router (a GEMM to ``experts`` logits,
    softmax, top-k, the aux-loss and the tokens-per-expert histogram: ~6 kernels) runs on them;
    permute gathers each token once per routed expert (``T_sp x top_k`` rows); the all-to-all
    over EP exchanges them; with ``etp`` > 1 the expert-TP group all-gathers its rows, so each
    GPU's experts see ``etp x T_sp x top_k x moe_imbalance`` rows (the busiest rank's share:
    EP ranks wait for each other at the combine), split over its ``experts / ep`` local experts
    in one grouped GEMM whose per-expert shape sets its efficiency (the efficiency curve's
    ``gemm_half_flops`` and ``gemm_half_dim`` in the rows per expert); unpermute scatters them
    back, weighted by the router's probabilities.
    """
    a = ACT_BYTES
    h = model.hidden
    tokens = micro_batch * model.seq_len / plan.cp
    t_sp = tokens / (plan.tp if shard.sp else 1)
    k = model.top_k
    local = max(model.experts // plan.ep, 1)
    rows = moe_rows(model, plan, t_sp)
    mats = 2 if model.gated_mlp else 1
    fe = model.expert_ffn_hidden / plan.etp
    wb = shard.weight_bytes
    low = plan.precision in LOW_PRECISION
    moe = [
        # the router stays a 16-bit (fp32-accumulated) linear under fp8 recipes
        Op("router", 2.0 * t_sp * h * model.experts, a * t_sp * (h + model.experts) + a * h * model.experts,
           0.0, "gemm", 1, (t_sp, h, model.experts), "bf16" if low else ""),
        Op("router_softmax_topk", 0.0, 2 * a * t_sp * model.experts * 3, t_sp * model.experts, "memory", 6),
        Op("permute", 0.0, 2 * a * t_sp * k * h + 2 * a * rows * h, 0.0, "memory", 2),
        Op("expert_up", 2.0 * rows * h * fe * mats, a * rows * (h + fe * mats) + wb * h * fe * mats * local,
           0.0, "gemm", local, (rows / local, h, fe * mats)),
        Op("expert_act", 0.0, a * rows * fe * (3 if model.gated_mlp else 2), 0.0, "memory"),
        Op("expert_down", 2.0 * rows * fe * h, a * rows * (fe + h) + wb * fe * h * local,
           0.0, "gemm", local, (rows / local, fe, h)),
        Op("unpermute", 0.0, 2 * a * rows * h + 3 * a * t_sp * k * h, 0.0, "memory", 2),
    ]
    if low:
        # Transformer Engine's casts of the expert GEMMs' operands: the dispatched rows and the
        # local experts' weights (the model's own casts, sized for its token count, are dropped)
        moe = [c for o in moe for c in [o] + (cast_ops(o, plan.precision, weight_fraction=weight_fraction,
                                                        transpose=transpose)
                                               if o.precision in ("", plan.precision) else [])]
    out, placed = [], False
    for o in ops:
        if o.name in MOE_OPS or (o.name.startswith(CAST_PREFIXES) and o.name.split("_", 2)[-1] in MOE_OPS):
            if not placed:
                out.extend(moe)
                placed = True
            continue
        out.append(o)
    return out


def executed_expert_rows(plan: Plan) -> float:
    """Routed-expert rows the job executes per routed token (token x top_k), relative to
    dropless: 1 dropless (every routed token is computed once); ``moe_capacity_factor`` ``cf``
    with ``moe_pad_expert_input_to_capacity`` (Megatron's drop-and-pad: every expert computes
    exactly ``cf`` x the mean rows, padding included); ``min(1, cf)`` when dropping without
    padding (at most ``cf`` x the mean per expert; a balanced router drops nothing when
    ``cf`` >= 1, an upper bound when it is not). Hardware FLOPs (``hfu``) count these rows;
    model FLOPs (``mfu``) keep Megatron's dropless count."""
    cf = plan.moe_capacity_factor
    if not cf:
        return 1.0
    return float(cf) if plan.moe_pad_to_capacity else min(1.0, float(cf))


def moe_rows(model: ModelSpec, plan: Plan, t_sp: float) -> float:
    """Rows the busiest GPU's experts process per MoE layer and micro-batch: its ``t_sp`` tokens
    x ``top_k`` gathered over the expert-TP group, x ``moe_imbalance``."""
    return plan.etp * t_sp * model.top_k * moe_load(plan, model.experts)


def moe_load(plan: Plan, experts: int = 0) -> float:
    """Rows the busiest EP rank's experts process over the mean rank's. The busiest expert takes
    ``x`` = ``moe_imbalance`` x the mean expert's rows when dropless; with a capacity factor it is
    capped at ``moe_capacity_factor`` (the rest dropped), and with
    ``moe_pad_expert_input_to_capacity`` every expert is padded to exactly that (Megatron-Core's
    drop-and-pad: every expert computes and exchanges ``capacity`` rows, so the rank's factor is
    the capacity factor). A rank holds ``local = experts / ep`` experts: the busiest expert's rank
    carries it and ``local - 1`` others at the mean of the rest, ``(x + (local - 1) x (experts -
    x) / (experts - 1)) / local``: ``x`` with one expert per rank, 1 with every expert on every
    rank (ep = 1: the grouped GEMM's rows add up to the mean whatever their spread; it was x)."""
    cf = plan.moe_capacity_factor
    if cf and plan.moe_pad_to_capacity:
        return cf
    x = plan.moe_imbalance if not cf else min(plan.moe_imbalance, cf)
    local = experts // max(plan.ep, 1) if experts else 1
    if local <= 1 or experts <= 1:
        return x
    return (x + (local - 1) * (experts - x) / (experts - 1)) / local


def _distinct(n_bins: int, experts: int, k: int) -> float:
    """Expected distinct bins hit by ``k`` different experts drawn uniformly from ``experts``
    spread evenly over ``n_bins`` (ranks or nodes)."""
    from math import comb
    if n_bins <= 1:
        return 1.0
    per = experts / n_bins
    return n_bins * (1.0 - comb(int(experts - per), k) / comb(experts, k))


def moe_dispatch_bytes(model: ModelSpec, plan: Plan, t_sp: float, gpus_per_node: int = 8) -> float:
    """Bytes one GPU sends in one dispatch (or combine) all-to-all, busiest rank.

    ``alltoall``: every token once per routed expert (``top_k`` rows of ``hidden``). ``deepep``
    (DeepSeek's DeepEP): once per distinct destination node when the EP group spans nodes (then
    forwarded over NVLink), once per distinct destination GPU inside one node."""
    per_token = ACT_BYTES * model.hidden
    if plan.moe_dispatcher == "deepep":
        group = plan.groups("ep", pp=0)[0] if plan.ep > 1 else [0]
        nodes = len({r // gpus_per_node for r in group})      # nodes one EP group spans
        copies = _distinct(nodes, model.experts, model.top_k) if nodes > 1 else \
            _distinct(plan.ep, model.experts, model.top_k)
    else:
        copies = model.top_k
    return per_token * t_sp * copies * moe_load(plan, model.experts)


def synced_pass_s(cm: ComputeModel, ops: list[Op], extra_kernels: float, dispatch_s: float,
                  cut_before: str = "permute", kernels: list[float] | None = None) -> float:
    """Seconds of a pass whose host waits on the GPU before every ``cut_before`` op (the MoE
    dispatcher's device-to-host sync): the sum over the segments between syncs of max(GPU time,
    kernels x ``dispatch_s``); ``extra_kernels`` (collective launches) are spread over the
    segments in proportion to their kernels (``kernels``: each op's host dispatches, default its
    ``count``; see ``host_kernels``). Without a cut this is ``max(GPU, host)``."""
    times = cm.op_times(ops)
    kernels = kernels if kernels is not None else [float(max(o.count, 1)) for o in ops]
    total_k = sum(kernels) or 1.0
    out, gpu, k = 0.0, 0.0, 0.0
    for o, t, n in zip(ops, times, kernels):
        if o.name == cut_before and (gpu or k):
            out += max(gpu, k * (1.0 + extra_kernels / total_k) * dispatch_s)
            gpu, k = 0.0, 0.0
        gpu += float(t)
        k += n
    return out + max(gpu, k * (1.0 + extra_kernels / total_k) * dispatch_s)


def _training_us(cm: ComputeModel, key: str) -> float:
    """Seconds of the training-only host constant ``key`` (microseconds in sim/data/compute.toml,
    not carried by ``sim.compute.Efficiency``) for ``cm``'s GPU."""
    from sim.compute import constants_row
    row = cm.eff.__dict__ if hasattr(cm.eff, key) else constants_row(cm.gpu.name)
    return float(row.get(key, 0.0)) * 1e-6


def grouped_launch_s(cm: ComputeModel) -> float:
    """Host seconds per per-expert kernel that a grouped expert op launches from C++
    (``grouped_launch_us``; ``host_kernels``)."""
    return _training_us(cm, "grouped_launch_us")


def moe_host_sync_s(cm: ComputeModel) -> float:
    """Seconds the GPU idles per device-to-host sync of the MoE dispatcher (``moe_sync_us``)."""
    return _training_us(cm, "moe_sync_us")


# -- compute/communication interference (issue 11): a measured default -----------------------

def overlap_interference(costs: StepCosts, plan: Plan, net, slowdown: float,
                         overlap_grad_reduce: bool = True) -> float:
    """The ``train.interference`` a run gets by default: compute runs ``slowdown`` slower while
    communication kernels share its SMs and HBM (Lee et al. 2025, arXiv:2507.03114: 18.9% on
    average over A100, H100, MI250 and MI210, 40% at most), for the fraction of its compute that
    overlaps communication; that fraction is the overlapped collectives' closed-form time over
    the compute time of pipeline rank 0, at most 1. Overlapped collectives: ZeRO-3/FSDP
    parameter all-gathers (forward and backward) and gradient reduce-scatters of every
    micro-batch, the bucketed gradient reduction when it overlaps the backward, and the EP
    all-to-alls under ``overlap_moe_expert_parallel_comm``. Blocking TP,
    EP and pipeline transfers do not overlap compute. Returns the engine's ``interference`` (it
    slows all compute by 1 / (1 - interference)), so the average slowdown is slowdown x fraction.
    """
    n = plan.dp * plan.cp
    weight_bytes, grad_bytes, _ = state_bytes(plan)   # the engine's bytes (fp8_param_gather, main_grads_dtype)
    ep_overlap = plan.ep_overlap and plan.ep > 1
    if slowdown <= 0 or (n <= 1 and not ep_overlap):
        return 0.0
    from workloads.training.estimate import gradient_groups, gradient_split
    st = plan.strides()
    chunks = [costs.chunks[k] for k in plan.stage_chunks(0)]
    compute = plan.microbatches * sum(c.fwd.compute_s + c.bwd.compute_s for c in chunks)
    comm = 0.0
    # the gradient groups as the engine builds and places them: dense over dp x cp, experts over
    # their expert data-parallel group when ep > 1 (a dp x cp group's CP ranks are neighbours in
    # rank order, so most of them share a server: pricing the group at the DP stride, as if each
    # rank had its own server, put TP2 x CP8 on 16 H100s at 0.153 instead of 0.044)
    dense_g, expert_g = gradient_groups(plan, 0) if n > 1 else ([0], [0])
    for c in chunks:
        for g, params in gradient_split(plan, dense_g, expert_g, c.dense_params, c.expert_params):
            if plan.zero >= 3:
                comm += plan.microbatches * (2 * net.collective_on("all_gather", g, weight_bytes * params)
                                             + net.collective_on("reduce_scatter", g, grad_bytes * params))
            elif overlap_grad_reduce and n > 1:
                op = "all_reduce" if plan.zero == 0 else "reduce_scatter"
                comm += net.collective_on(op, g, grad_bytes * params)
        if ep_overlap:
            # EP all-to-alls behind another micro-batch's compute (overlap_moe_expert_parallel_comm)
            stride = plan.etp if plan.folded else st["ep"]
            for pc in (c.fwd, c.bwd):
                if pc.ep_calls:
                    comm += plan.microbatches * pc.ep_calls * net.collective("all_to_all", plan.ep, pc.ep_bytes, stride)
    if compute <= 0:
        return 0.0
    fraction = min(1.0, comm / compute)
    return 1.0 - 1.0 / (1.0 + slowdown * fraction)


# -- TP communication overlap (issue 11 item 7): Transformer Engine userbuffers --------------

# SMs the userbuffers communication kernels take beside each overlapped GEMM of a dense
# transformer layer (NeMo's H100 FP8 config, nemo/collections/llm/recipes/tp_overlap_configs/
# userbuffers.py ``userbuffers_fp8_h100_h8192_tp4_mbs1_seqlen8192``, which the NeMo 24.07 /
# Megatron-Bridge H100 perf recipes use): ring-exchange overlaps (qkv_fprop, fc1_fprop,
# proj_dgrad, fc2_dgrad) move chunks with the copy engines (0 SMs); pipeline overlaps
# proj_fprop 24 SMs and fc2_fprop 16; bulk overlaps qkv_dgrad 4, qkv_wgrad 24, fc1_dgrad 2,
# fc1_wgrad 4. A backward op here is dgrad + wgrad (each half its FLOPs): the mean of the two.
# TE's own defaults (transformer_engine/pytorch/module/base.py ``initialize_ub``) are 1 SM for
# ring exchange and 16 for pipeline and bulk.
TP_OVERLAP_SMS = {"qkv": 0.0, "proj": 24.0, "mlp_up": 0.0, "mlp_down": 16.0,
                  "qkv_bwd": (4.0 + 24.0) / 2, "proj_bwd": 0.0, "mlp_up_bwd": (2.0 + 4.0) / 2, "mlp_down_bwd": 0.0}
# Blackwell (NeMo / Megatron-Bridge fp8 userbuffers configs for B200, GB200 and GB300:
# ``userbuffers_fp8_b200_h16384_tp4_cp2_mbs1_seqlen8192`` (Llama 3.1 405B), ..._h8192_tp2_...
# (Llama 3 70B), ..._h12288_tp4_... (GPT-3 175B), ..._h18432_tp8_... (Nemotron-4 340B) in
# megatron/bridge/training/comm_overlap.py and nemo/collections/llm/recipes/tp_overlap_configs/
# userbuffers.py): every forward overlap is a ring exchange (proj_fprop and fc2_fprop with
# num_sm = 1); bulk overlaps qkv_dgrad 8 and qkv_wgrad 32, fc1_dgrad 2 and fc1_wgrad 8 (the
# 405B's and the 340B's; the 70B's 4/24 and 2/4, GPT-3's 4/16 and 2/8)
TP_OVERLAP_SMS_BLACKWELL = {"qkv": 0.0, "proj": 1.0, "mlp_up": 0.0, "mlp_down": 1.0,
                            "qkv_bwd": (8.0 + 32.0) / 2, "proj_bwd": 0.0, "mlp_up_bwd": (2.0 + 8.0) / 2,
                            "mlp_down_bwd": 0.0}
# the architectures whose recipes these are (sim.hardware GpuSpec.arch; a defined GPU has its like's)
TP_OVERLAP_BLACKWELL_ARCHS = ("blackwell",)


def _spec(gpu: GpuSpec | str) -> GpuSpec:
    """A GPU's spec, given it or its name (catalogued or defined in a config)."""
    return catalogued_gpu(gpu) if isinstance(gpu, str) else gpu


def tp_overlap_sms(gpu: GpuSpec | str) -> dict:
    """SMs the userbuffers kernels take beside each overlapped GEMM on ``gpu`` (spec or name):
    Blackwell's recipes' (``TP_OVERLAP_SMS_BLACKWELL``) on a Blackwell architecture, else
    Hopper's (``TP_OVERLAP_SMS``). Read from ``arch``, never the name: a GPU defined ``like`` a
    B200 is one whatever it is called."""
    return TP_OVERLAP_SMS_BLACKWELL if _spec(gpu).arch in TP_OVERLAP_BLACKWELL_ARCHS else TP_OVERLAP_SMS


# SMs per GPU: the catalogue's ``sms`` (sim/data/hardware.toml; NVIDIA datasheets; unknown: H100's
# 132). Blackwell boards enable different SM counts of the same dies, as CUDA reports them
# (cudaDeviceProp.multiProcessorCount, measured runs in FlashInfer's nvfp4_sparse_mla_decode notes,
# flashinfer-ai/flashinfer#5716: "B200 (148 SMs)", "GB200 (152 SMs)", "B300 (148 SMs)", "GB300 (152
# SMs)"; GB300's "up to 160 SMs" in "Inside NVIDIA Blackwell Ultra" is the full die, not an enabled
# count); H20 78, A100 / A800 108, V100 80, L40S 142; AMD's compute units (HIP's multiProcessorCount:
# MI300X / MI325X 304, MI355X 256), each of which a userbuffers workgroup holds as it holds an SM.
# Only the TPU v4 has none (132 stands in).
DEFAULT_SMS = 132


def gpu_sms(gpu: GpuSpec | str) -> int:
    """SMs of ``gpu`` (spec or name): its ``sms`` (a defined GPU's own, else its like's), 132
    (``DEFAULT_SMS``) where the catalogue gives none."""
    return _spec(gpu).sms or DEFAULT_SMS


def tp_overlap_gemms(cm: ComputeModel, ops: list[Op]) -> tuple[float, float]:
    """(seconds of the GEMMs a pass's TP collectives overlap, seconds those GEMMs lose to the
    communication kernels' SMs). The GEMMs are the layers' QKV, output projection, MLP up and
    down (and their backward); each runs on ``SMs - num_sm`` SMs, so it takes
    ``SMs / (SMs - num_sm)`` x its time (``tp_overlap_sms``)."""
    sms = gpu_sms(cm.gpu)
    table = tp_overlap_sms(cm.gpu)
    idx = [i for i, o in enumerate(ops) if o.kind == "gemm" and o.name in table]
    if not idx:
        return 0.0, 0.0
    times = cm.op_times([ops[i] for i in idx])
    gemm = float(times.sum())
    extra = float(sum(t * table[ops[i].name] / (sms - table[ops[i].name])
                      for i, t in zip(idx, times)))
    return gemm, extra


def tp_overlap_exposed(comm_s: float, gemm_s: float, tp: int) -> float:
    """Exposed seconds of a pass's TP collectives (``comm_s`` in all) pipelined with its GEMMs
    (``gemm_s`` in all, already slowed by the SMs the communication takes): per GEMM the
    transfer beyond the GEMM, max(0, comm - gemm), plus the one chunk that cannot overlap (the
    first all-gather chunk runs before the GEMM's first piece, the last reduce-scatter chunk
    after its last): 1 / n_chunks of the transfer, n_chunks = tp (TE's ring exchange splits by
    TP size). Each of the pass's collectives is paired with an equal share of its GEMM time, so
    the sum over GEMMs is max(0, comm_s - gemm_s) + comm_s / tp. Never more than ``comm_s``."""
    if comm_s <= 0:
        return 0.0
    return min(comm_s, max(0.0, comm_s - gemm_s) + comm_s / max(tp, 1))


# -- FP8 / FP4 training recipes (issue 11 item 2): Transformer Engine's quantization passes ----

# Each low-precision GEMM (dims (m, k, n) per launch) has three operands, each needed in two
# layouts: the input X (m x k: rowwise for the forward, columnwise for the weight gradient), the
# weight W (k x n: rowwise forward, columnwise for the input gradient) and the output gradient
# dY (m x n: rowwise for the input gradient, columnwise for the weight gradient). A recipe
# quantizes each operand with memory-bound passes over its 16-bit copy (``QUANT_BF16`` bytes
# per element read per pass) that write its low-precision copies with their scales. Sources:
# Transformer Engine user guide, "Low precision training" (nvidia.github.io/TransformerEngine/
# features/low_precision_training/: delayed scaling, current scaling, FP8 blockwise, MXFP8,
# NVFP4) and transformer_engine/pytorch/utils.py ``is_non_tn_fp8_gemm_supported`` (SM 10.x:
# cuBLAS runs tensor-scaled FP8 GEMMs in every layout, so Blackwell needs no transposed copy).
QUANT_BF16 = 2.0
NON_TN_FP8_ARCHS = ("blackwell",)     # SM 10.x (Blackwell datacenter parts: sim.hardware GpuSpec.arch)


def recipe_operand(recipe: str, role: str, non_tn: bool) -> tuple[float, int]:
    """(HBM bytes per element, kernels) that ``recipe`` spends quantizing one operand of ``role``
    (``input``, ``weight``, ``grad``) into both the layouts its GEMMs read.

    - ``delayed``: one cast with the amax fused (the scale comes from the amax history), writing
      the fp8 copy (1 B) and, where the GPU needs TN layouts (Hopper), its transpose (1 B).
    - ``tensorwise`` (current scaling): the scale needs this tensor's amax before the cast, so
      an amax pass reads the tensor first, then the cast as ``delayed``.
    - ``mxfp8``: one pass; 1-D blocks of 32 along the reduction dimension with an E8M0 scale
      (1/32 B per element) each, so the columnwise copy is quantized on its own (new blocks,
      new scales): two copies of 1 + 1/32 B; plus the scales' swizzle into the GEMM's layout.
    - ``blockwise`` (DeepSeek-V3): as mxfp8 with fp32 scales per 1x128 block of activations and
      gradients (4/128 B) and per 128x128 block of weights.
    - ``nvfp4``: two-level scaling: an amax pass for the per-tensor fp32 scale, then E2M1
      values (0.5 B) with an E4M3 scale per 16 (1/16 B) rowwise and columnwise; weights use
      16x16 blocks (one scale per 256 elements), so one pass writes both; the weight-gradient
      GEMM's inputs (X and dY columnwise) go through a 16x16 random Hadamard transform whose
      output needs its own amax: an extra amax pass and a separate columnwise cast pass.
    """
    a = QUANT_BF16
    if recipe in ("delayed", "tensorwise"):
        amax = a if recipe == "tensorwise" else 0.0
        return amax + a + 1.0 + (0.0 if non_tn else 1.0), 2 if recipe == "tensorwise" else 1
    if recipe in ("mxfp8", "blockwise"):
        scale = (1.0 / 32) if recipe == "mxfp8" else (4.0 / 16384 if role == "weight" else 4.0 / 128)
        return a + 2.0 * (1.0 + scale), 2 if recipe == "mxfp8" else 1
    if recipe == "nvfp4":
        if role == "weight":
            return a + a + 2.0 * (0.5 + 1.0 / 256), 2
        return a + a + (a + 0.5 + 1.0 / 16) + (a + 0.5 + 1.0 / 16), 4
    raise ValueError(f"unknown fp8 recipe {recipe!r}")


def non_tn_fp8(gpu: GpuSpec | str) -> bool:
    """Whether ``gpu`` (spec or name) runs tensor-scaled FP8 GEMMs in non-TN layouts (no
    transposed copy): its architecture's property (``arch``, a defined GPU's like's), never its name's."""
    return _spec(gpu).arch in NON_TN_FP8_ARCHS


def recipe_quant_ops(gemm: Op, recipe: str, non_tn: bool, backward: bool = False,
                     weight_fraction: float = 1.0) -> list[Op]:
    """The quantization ops ``recipe`` adds for one low-precision GEMM (``count`` launches):
    forward, its input and (``weight_fraction`` of the passes: cached per step except under
    FSDP) its weight; backward, its output gradient. Plus the recipe's scale bookkeeping
    (``FP8_META_KERNELS`` small kernels per GEMM and pass for the tensor-scaled recipes)."""
    from workloads.layer_cost import FP8_META_KERNELS
    if gemm.kind != "gemm" or not gemm.dims:
        return []
    m, k, n = gemm.dims
    c = gemm.count
    suffix = "_bwd" if backward else ""
    if backward:
        parts = [("grad", m * n * c)]
    else:
        parts = [("input", m * k * c), ("weight", weight_fraction * k * n * c)]
    out = []
    for role, elems in parts:
        per_elem, kernels = recipe_operand(recipe, role, non_tn)
        out.append(Op(f"{recipe}_quant_{role}_{gemm.name}{suffix}", 0.0, per_elem * elems, 0.0, "memory",
                      max(int(kernels * max(c, 1)), 1)))
    if recipe in ("delayed", "tensorwise"):
        out.append(Op(f"{recipe}_meta_{gemm.name}{suffix}", 0.0, 0.0, 0.0, "memory", int(FP8_META_KERNELS * max(c, 1))))
    return out


RECIPE_PREFIXES = tuple(f"{r}_" for r in ("delayed", "tensorwise", "mxfp8", "blockwise", "nvfp4"))
# Recipes whose GEMMs run cuBLAS's MXFP8 block-scaled kernels on Blackwell: MXFP8 itself; the
# DeepSeek-style blockwise recipe is emulated through them on SM 10.x (Transformer Engine
# docs/examples/gemm_profiling) but runs natively on Hopper, so it keeps the FP8 rate here.
# Their rate: compute.toml ``mxfp8_gemm_factor`` x the tensor-scaled FP8 GEMM's.
BLOCK_SCALED_FP8 = ("mxfp8",)


def requantize(ops: list[Op], precision: str, recipe: str, non_tn: bool, weight_fraction: float) -> list[Op]:
    """``ops`` (one layer's forward) with the generic casts replaced by ``recipe``'s
    quantization ops after every GEMM that runs at ``precision``."""
    out = []
    for o in ops:
        if o.name.startswith(CAST_PREFIXES):
            continue
        if o.kind == "gemm" and o.precision in ("", precision):
            # MXFP8: cuBLAS's block-scaled GEMM (its own rate, ComputeModel precision "mxfp8")
            out.append(replace(o, precision="mxfp8") if recipe in BLOCK_SCALED_FP8 else o)
            out.extend(recipe_quant_ops(o, recipe, non_tn, weight_fraction=weight_fraction))
        else:
            out.append(o)
    return out
