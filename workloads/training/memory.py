"""Memory per GPU of a training plan: weights, gradients, optimizer states, activations, buffers.

Vocabulary:
- model states (mixed-precision Adam, Rajbhandari et al. 2020): 2-byte weights, 2-byte gradients,
  12 bytes of fp32 master weights, momentum and variance per parameter. ZeRO stage 1 shards the
  optimizer states over the data-parallel ranks, stage 2 also the gradients, stage 3 also the
  weights (FSDP). Expert parameters shard over the expert-data-parallel ranks (dp / ep).
- activations per layer and micro-batch (Korthikanti et al. 2022, Sec. 4, generalised to GQA,
  gated MLPs and MoE): ``replicated`` bytes (norm inputs, dropout masks, GEMM inputs that TP
  does not split unless sequence parallelism is on), ``split`` bytes (divided by tp), and the
  attention ``scores`` (5 a s^2 b bytes, only with unfused attention). Recompute ``selective``
  drops the scores, ``full`` keeps only each layer's input plus one layer's working set.
- in flight: the number of micro-batches whose activations a pipeline rank holds at its peak,
  counted by replaying the schedule (pp - s for 1F1B, m for GPipe, more for interleaved).
- buffers: DP gradient buckets (two in flight), ZeRO-3 prefetch of the next layer's weights,
  and a runtime reserve (CUDA context, cuBLAS/NCCL workspaces, allocator fragmentation).
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.model import ModelSpec
from workloads.training.plan import Plan
from workloads.training.schedule import actions

WEIGHT_BYTES = 2.0
GRAD_BYTES = 2.0
OPTIMIZER_BYTES = 12.0
# CUDA context (~0.5 GB), cuBLAS and NCCL workspaces and allocator fragmentation: the usual
# headroom frameworks leave (PyTorch reports ~1-3 GB non-tensor usage on A100/H100).
RUNTIME_RESERVE_BYTES = 2.0e9


@dataclass
class StageMemory:
    stage: int
    weights: float
    gradients: float
    optimizer: float
    activations: float
    buffers: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.buffers


def chunk_params(model: ModelSpec, plan: Plan, chunk: int) -> tuple[float, float]:
    """(dense, expert) transformer-layer parameters of model chunk ``chunk`` held by one GPU
    (embeddings excluded): dense weights split over TP, routed experts over EP and TP, the
    router replicated."""
    dense = expert = 0.0
    for i in plan.chunk_layer_range(chunk):
        if model.is_moe_layer(i):
            expert += model.experts / plan.ep * model.expert_params() / plan.etp
            dense += (model.attention_params() + model.shared_experts * model.expert_params()) / plan.tp
            dense += model.hidden * model.experts
        else:
            dense += (model.attention_params() + model.dense_mlp_params()) / plan.tp
    return dense, expert


def stage_params(model: ModelSpec, plan: Plan, stage: int) -> tuple[float, float]:
    """(dense, expert) parameters held by one GPU of pipeline rank ``stage``."""
    dense = expert = 0.0
    for k in plan.stage_chunks(stage):
        d, e = chunk_params(model, plan, k)
        dense += d
        expert += e
    n_v = plan.pp * plan.v
    emb = model.vocab * model.hidden / plan.tp
    if stage == 0:
        dense += emb
    if (n_v - 1) % plan.pp == stage and (plan.pp > 1 or not model.tied_embeddings):
        dense += emb
    return dense, expert


def layer_activation_bytes(model: ModelSpec, plan: Plan, layer: int, attention: str) -> dict[str, float]:
    s = model.seq_len / plan.cp
    b = plan.micro_batch
    h = model.hidden
    sbh = s * b * h
    a = 2.0
    replicated = 10 * sbh
    # inputs of QK^T (Q, K), of AV (V) and of the output projection
    if model.mla:
        keys = model.heads * (model.head_dim + model.rope_head_dim) + model.heads * model.v_head_dim
    else:
        keys = 2 * model.kv_dim
    split = a * s * b * (model.q_dim + keys + model.attn_out_dim)
    if model.is_moe_layer(layer):
        fe, k = model.expert_ffn_hidden, model.top_k
        mlp_mats = 6 if model.gated_mlp else 4
        split += s * b * k * (a * h + mlp_mats * fe) + model.shared_experts * s * b * mlp_mats * fe
    else:
        split += (6 if model.gated_mlp else 4) * s * b * model.ffn_hidden
    scores = 5.0 * model.heads * s * model.seq_len * b if attention == "unfused" else 4.0 * model.heads * s * b
    return {"replicated": replicated, "split": split, "scores": scores}


def _in_flight(plan: Plan) -> list[dict[int, int]]:
    """Per stage, the peak number of forward passes held per virtual stage."""
    acts = actions(plan.schedule, plan.pp, plan.microbatches, plan.v)
    peaks = []
    for s_acts in acts:
        held: dict[int, int] = {}
        best, best_held = -1.0, {}
        layers = 0.0
        for phase, _, k in s_acts:
            held[k] = held.get(k, 0) + (1 if phase == "F" else -1)
            layers += plan.chunk_layers[k] * (1 if phase == "F" else -1)
            if layers > best:
                best, best_held = layers, dict(held)
        peaks.append(best_held)
    return peaks


def stage_memory(model: ModelSpec, plan: Plan, attention: str = "flash", bucket_MB: float = 25.0) -> list[StageMemory]:
    out = []
    tp = plan.tp
    sp = plan.sp and tp > 1
    shard_dp = plan.dp * plan.cp
    expert_dp = plan.edp                # tp x cp x dp / (etp x ep) (parallel folding)
    peaks = _in_flight(plan)
    s = model.seq_len / plan.cp
    sbh = s * plan.micro_batch * model.hidden
    for stage in range(plan.pp):
        dense, expert = stage_params(model, plan, stage)
        w = WEIGHT_BYTES * (dense / (shard_dp if plan.zero >= 3 else 1) + expert / (expert_dp if plan.zero >= 3 else 1))
        g = GRAD_BYTES * (dense / (shard_dp if plan.zero >= 2 else 1) + expert / (expert_dp if plan.zero >= 2 else 1))
        o = OPTIMIZER_BYTES * (dense / (shard_dp if plan.zero >= 1 else 1) + expert / (expert_dp if plan.zero >= 1 else 1))
        act = 0.0
        working = 0.0
        for k, count in peaks[stage].items():
            for i in plan.chunk_layer_range(k):
                parts = layer_activation_bytes(model, plan, i, attention)
                full_layer = parts["replicated"] / (tp if sp else 1) + parts["split"] / tp + parts["scores"] / tp
                working = max(working, full_layer)
                if plan.recompute == "full":
                    per = 2 * sbh / (tp if sp else 1)
                elif plan.recompute == "selective":
                    per = full_layer - parts["scores"] / tp
                else:
                    per = full_layer
                act += count * per
        if plan.recompute == "full":
            act += working            # one layer's activations rebuilt during its backward
        if stage == (plan.pp * plan.v - 1) % plan.pp:
            act += 4.0 * s * plan.micro_batch * model.vocab / tp   # fp32 logits for the loss
        buffers = 2 * bucket_MB * 1e6 + RUNTIME_RESERVE_BYTES
        if plan.zero >= 3:
            per_layer = dense / max(sum(plan.chunk_layers[k] for k in plan.stage_chunks(stage)), 1)
            buffers += 2 * WEIGHT_BYTES * per_layer        # prefetched full weights of two layers
        out.append(StageMemory(stage, w, g, o, act, buffers))
    return out


def peak_memory_bytes(model: ModelSpec, plan: Plan, attention: str = "flash", bucket_MB: float = 25.0) -> tuple[float, int]:
    """(peak bytes, stage where it occurs)."""
    stages = stage_memory(model, plan, attention, bucket_MB)
    worst = max(stages, key=lambda m: m.total)
    return worst.total, worst.stage
