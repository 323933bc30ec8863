"""Memory per GPU of a training plan: weights, gradients, optimizer states, activations, buffers.

Vocabulary:
- model states (mixed-precision Adam, Rajbhandari et al. 2020): 2-byte weights, 2-byte gradients,
  12 bytes of fp32 master weights, momentum and variance per parameter. ZeRO stage 1 shards the
  optimizer states over the data-parallel ranks, stage 2 also the gradients, stage 3 also the
  weights (FSDP). Expert parameters shard over the expert-data-parallel ranks (dp / ep).
  Megatron's precision-aware optimizer (``train.use_precision_aware_optimizer`` with
  ``main_params_dtype``, ``main_grads_dtype``, ``exp_avg_dtype``, ``exp_avg_sq_dtype``) sets
  each of those bytes (``state_bytes``); FP8 primary weights (``fp8_param_gather``) hold the
  layers' weights in 1 byte (the embedding and LM head stay 16-bit). Unset keys keep the bytes above.
- activations per layer and micro-batch (Korthikanti et al. 2022, Sec. 4, generalised to GQA,
  MLA, gated MLPs and MoE): named parts (``activation_parts``), each ``replicated`` (norm inputs,
  dropout masks, GEMM inputs that TP does not split unless sequence parallelism is on), ``split``
  (divided by tp) or ``scores`` (the attention scores, 5 a s^2 b bytes, only with unfused
  attention). A part that is a GEMM's input is saved as the GEMM runs it: at fp8 Transformer
  Engine keeps the quantized copy for the backward (1 byte, fp4: 0.5625), not the 16-bit one.
  Recompute ``selective`` drops the parts of ``train.recompute_modules`` (Megatron's
  --recompute-modules; default core_attn: the scores) and holds one layer's dropped parts while
  its backward rebuilds them; ``full`` keeps only each layer's input plus one layer's working set.
- in flight: the number of micro-batches whose activations a pipeline rank holds at its peak,
  counted by replaying the schedule (pp - s for 1F1B, m for GPipe, more for interleaved).
- buffers: DP gradient buckets (two in flight), ZeRO-3 prefetch of the next layer's weights,
  and a runtime reserve (CUDA context, cuBLAS/NCCL workspaces, allocator fragmentation).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import ConfigError
from workloads.model import ModelSpec
from workloads.training.plan import Plan
from workloads.training.schedule import actions

WEIGHT_BYTES = 2.0
GRAD_BYTES = 2.0
OPTIMIZER_BYTES = 12.0
# CUDA context (~0.5 GB), cuBLAS and NCCL workspaces and allocator fragmentation: the usual
# headroom frameworks leave (PyTorch reports ~1-3 GB non-tensor usage on A100/H100).
RUNTIME_RESERVE_BYTES = 2.0e9
DTYPE_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0}
# bytes of a GEMM input Transformer Engine saves for the backward at each compute precision
# (fp4: 4 bits + one fp8 block scale per 16 elements, workloads.layer_cost.FP4_BYTES). TE's Linear /
# GroupedLinear keep the forward-quantized operand for the backward unless save_original_input is set
# (NVIDIA/TransformerEngine PR #3141: "dequantized" backward = "the fprop-quantized operand"); DeepSeek-V3
# caches the linear inputs in FP8 the same way (arXiv:2412.19437 Sec. 3.3.3). Assumed: one quantized copy
# per GEMM input (a tensor feeding two GEMMs, MLA's q/kv down-projections, is counted once)
GEMM_INPUT_BYTES = {"fp8": 1.0, "fp4": 0.5 + 1.0 / 16}
# Megatron-Core --recompute-modules (TransformerConfig.recompute_modules; Megatron-Bridge docs
# training/activation-recomputation: core_attn, mla_up_proj for MLA, moe_act / layernorm for grouped MoE;
# layernorm, moe_act and mla_up_proj discard their outputs and rebuild them before the consumer's backward)
RECOMPUTE_MODULES = ("core_attn", "moe_act", "layernorm", "mla_up_proj", "mlp", "moe", "shared_experts")
DEFAULT_RECOMPUTE_MODULES = ("core_attn",)
# Megatron-LM's choices (megatron/training/arguments.py): --main-grads-dtype fp32|bf16, --main-params-dtype
# fp32|fp16, --exp-avg-dtype / --exp-avg-sq-dtype fp32|fp16|bf16|fp8 (sim/config.py enforces them)
PRECISION_AWARE_KEYS = ("main_params_dtype", "main_grads_dtype", "exp_avg_dtype", "exp_avg_sq_dtype")


def check_memory_keys(train, model: ModelSpec) -> dict:
    """Plan fields of the memory keys, checked as Megatron checks them; a mistake is a
    ``ConfigError`` naming the key (exit 2)."""
    modules = getattr(train, "recompute_modules", None)
    if modules is not None:
        if train.recompute != "selective":
            raise ConfigError("train.recompute_modules", f"needs recompute = 'selective' (Megatron's "
                              f"--recompute-granularity selective); recompute is {train.recompute!r}")
        if not modules:
            # not silently the default ['core_attn']: an empty list reads as "recompute nothing"
            raise ConfigError("train.recompute_modules", "names no module: leave it unset for Megatron's default "
                              "['core_attn'], or set recompute = 'none' to recompute nothing")
        if len(set(modules)) != len(modules):
            raise ConfigError("train.recompute_modules", f"{list(modules)} names a module twice")
        if "mla_up_proj" in modules and not model.mla:
            raise ConfigError("train.recompute_modules", f"'mla_up_proj' needs multi-latent attention (model.mla); "
                              f"{model.name} has none")
        for m in ("moe", "moe_act", "shared_experts"):
            if m in modules and not model.is_moe:
                raise ConfigError("train.recompute_modules", f"{m!r} needs an MoE model (model.experts > 0)")
        if "shared_experts" in modules and not model.shared_experts:
            raise ConfigError("train.recompute_modules", f"'shared_experts' needs shared experts; "
                              f"{model.name} has none (model.shared_experts = 0)")
    aware = bool(getattr(train, "use_precision_aware_optimizer", False))
    if aware and train.zero < 1:
        # Megatron-Core OptimizerConfig.__post_init__: "--use-precision-aware-optimizer only supported
        # with distributed optimizer" (TE FusedAdam over the sharded main params)
        raise ConfigError("train.use_precision_aware_optimizer", "needs the distributed optimizer (train.zero >= 1; "
                          "Megatron supports --use-precision-aware-optimizer only with --use-distributed-optimizer); "
                          f"zero is {train.zero}")
    dtypes = {k: getattr(train, k, None) or "" for k in PRECISION_AWARE_KEYS}
    if not aware:
        for k, v in dtypes.items():
            if v and v != "fp32":
                raise ConfigError(f"train.{k}", f"{v!r} needs train.use_precision_aware_optimizer = true "
                                  "(Megatron keeps the optimizer's tensors in fp32 without it)")
    fp8_params = bool(getattr(train, "fp8_param_gather", False))
    if fp8_params and train.precision != "fp8":
        raise ConfigError("train.fp8_param_gather", f"FP8 primary weights need precision = 'fp8'; "
                          f"precision is {train.precision!r}")
    if fp8_params and train.zero < 1:
        # Megatron's arguments.py: "--fp8-param-gather only supported with distributed optimizer, torch fsdp2,
        # megatron fsdp, or inference mode" (dcsim: zero >= 1 is the distributed optimizer, 3 FSDP)
        raise ConfigError("train.fp8_param_gather", "needs the distributed optimizer or FSDP (train.zero >= 1; "
                          f"Megatron supports --fp8-param-gather only with them); zero is {train.zero}")
    return dict(recompute_modules=tuple(modules) if modules is not None else (),
                precision_aware_optimizer=aware, store_param_remainders=bool(getattr(train, "store_param_remainders", True)),
                fp8_param_gather=fp8_params, **dtypes)


def state_bytes(plan: Plan) -> tuple[float, float, float]:
    """(weight, gradient, optimizer) bytes per parameter. Unset keys: 2, 2, 12 (mixed-precision
    Adam). The optimizer holds master weights + exp_avg + exp_avg_sq; with the precision-aware
    optimizer, fp32 main params over 16-bit weights and ``store_param_remainders`` the master
    weight costs its 16-bit remainder only (the bf16 weight holds the high half)."""
    weight = 1.0 if plan.fp8_param_gather else WEIGHT_BYTES
    grad = DTYPE_BYTES[plan.main_grads_dtype] if plan.main_grads_dtype else GRAD_BYTES
    master = DTYPE_BYTES[plan.main_params_dtype or "fp32"]
    if (plan.precision_aware_optimizer and plan.store_param_remainders and master == 4.0
            and not plan.fp8_param_gather and plan.precision != "fp16"):
        master = 2.0
    optimizer = master + DTYPE_BYTES[plan.exp_avg_dtype or "fp32"] + DTYPE_BYTES[plan.exp_avg_sq_dtype or "fp32"]
    return weight, grad, optimizer


def recompute_modules(plan: Plan) -> tuple[str, ...]:
    """The modules whose activations the backward rebuilds under ``recompute = 'selective'``."""
    if plan.recompute != "selective":
        return ()
    return plan.recompute_modules or DEFAULT_RECOMPUTE_MODULES


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


def stage_embedding_params(model: ModelSpec, plan: Plan, stage: int) -> float:
    """Embedding and LM-head parameters held by one GPU of pipeline rank ``stage`` (the first
    stage's embedding, the last's head; one tied copy without pipelining)."""
    n_v = plan.pp * plan.v
    emb = model.vocab * model.hidden / plan.tp
    out = emb if stage == 0 else 0.0
    if (n_v - 1) % plan.pp == stage and (plan.pp > 1 or not model.tied_embeddings):
        out += emb
    return out


def stage_params(model: ModelSpec, plan: Plan, stage: int) -> tuple[float, float]:
    """(dense, expert) parameters held by one GPU of pipeline rank ``stage`` (dense: its
    embeddings, ``stage_embedding_params``, included)."""
    dense = expert = 0.0
    for k in plan.stage_chunks(stage):
        d, e = chunk_params(model, plan, k)
        dense += d
        expert += e
    return dense + stage_embedding_params(model, plan, stage), expert


def activation_parts(model: ModelSpec, plan: Plan, layer: int, attention: str) -> list[tuple[str, str, float, bool, tuple[str, ...]]]:
    """Saved activations of layer ``layer`` for one micro-batch, before TP division:
    (name, ``replicated`` / ``split`` / ``scores``, 16-bit bytes, a GEMM input?, the recompute
    modules that drop it). Per token (a = 2 bytes): two norm inputs 4h, two dropout masks 2h
    (1 byte each), the norm outputs (QKV or MLA down-projection input, MLP or router input) 2ah;
    attention: Q, K, V (the core's inputs; MLA: its up-projections' outputs), MLA's latents
    (q_lora + kv_lora: the up-projections' inputs and their norms' inputs), the output
    projection's input; MLP (gated: SwiGLU input 2f, down input f; else GeLU input f, fc2 input f),
    for MoE per routed copy plus the expert input h, and the shared experts'."""
    s = model.seq_len / plan.cp
    b = plan.micro_batch
    h = model.hidden
    t = s * b
    a = 2.0
    moe = model.is_moe_layer(layer)
    out = [("norm_inputs", "replicated", 4 * t * h, False, ()),
           ("dropout_masks", "replicated", 2 * t * h, False, ()),
           ("attn_norm_out", "replicated", a * t * h, True, ("layernorm",)),
           # an MoE layer's pre-MLP norm output also feeds the 16-bit router, which saves it as is
           ("mlp_norm_out", "replicated", a * t * h, not moe, ("layernorm",))]
    if model.mla:
        keys = model.heads * (model.head_dim + model.rope_head_dim) + model.heads * model.v_head_dim
        out.append(("qkv", "split", a * t * (model.q_dim + keys), False, ("mla_up_proj",)))
        latent = (model.q_lora_rank or 0) + model.kv_lora_rank
        out.append(("mla_latent_in", "replicated", a * t * latent, True, ()))
        out.append(("mla_latent_norm_in", "replicated", a * t * latent, False, ()))
    else:
        out.append(("qkv", "split", a * t * (model.q_dim + 2 * model.kv_dim), False, ()))
    out.append(("proj_in", "split", a * t * model.attn_out_dim, True, ()))
    gated_extra = 2 if model.gated_mlp else 1          # activation input widths over f
    if moe:
        fe, k = model.expert_ffn_hidden, model.top_k
        out += [("expert_in", "split", a * t * k * h, True, ("moe",)),
                ("expert_act_in", "split", a * t * k * gated_extra * fe, False, ("moe",)),
                ("expert_down_in", "split", a * t * k * fe, True, ("moe", "moe_act"))]
        if model.shared_experts:
            fs = model.shared_experts * fe
            out += [("shared_act_in", "split", a * t * gated_extra * fs, False, ("moe", "shared_experts")),
                    ("shared_down_in", "split", a * t * fs, True, ("moe", "shared_experts"))]
    else:
        f = model.ffn_hidden
        out += [("mlp_act_in", "split", a * t * gated_extra * f, False, ("mlp",)),
                ("mlp_down_in", "split", a * t * f, True, ("mlp",))]
    scores = 5.0 * model.heads * s * model.seq_len * b if attention == "unfused" else 4.0 * model.heads * s * b
    out.append(("scores", "scores", scores, False, ("core_attn",)))
    return out


def _part_bytes(part, plan: Plan) -> float:
    """A part's bytes on one GPU: GEMM inputs at the width TE saves them, split over TP."""
    _, where, nbytes, gemm_input, _ = part
    if gemm_input and plan.precision in GEMM_INPUT_BYTES:
        nbytes *= GEMM_INPUT_BYTES[plan.precision] / 2.0
    if where == "replicated":
        return nbytes / (plan.tp if plan.sp and plan.tp > 1 else 1)
    return nbytes / plan.tp


def layer_activation_bytes(model: ModelSpec, plan: Plan, layer: int, attention: str) -> dict[str, float]:
    """``activation_parts`` summed by kind (``replicated``, ``split``, ``scores``), at the
    plan's precision, before TP division."""
    out = {"replicated": 0.0, "split": 0.0, "scores": 0.0}
    for part in activation_parts(model, plan, layer, attention):
        scale = GEMM_INPUT_BYTES[plan.precision] / 2.0 if part[3] and plan.precision in GEMM_INPUT_BYTES else 1.0
        out[part[1]] += part[2] * scale
    return out


def layer_saved_bytes(model: ModelSpec, plan: Plan, layer: int, attention: str) -> tuple[float, float, float]:
    """(bytes layer ``layer`` holds for one micro-batch on one GPU under the plan's selective
    recompute, bytes it drops, bytes its backward holds again while it rebuilds them: the dropped
    parts but the attention scores, which the fused attention backward rebuilds in tiles).
    Without selective recompute nothing is dropped."""
    modules = set(recompute_modules(plan))
    kept = dropped = rebuilt = 0.0
    for part in activation_parts(model, plan, layer, attention):
        nbytes = _part_bytes(part, plan)
        if modules.intersection(part[4]):
            dropped += nbytes
            rebuilt += 0.0 if part[1] == "scores" else nbytes
        else:
            kept += nbytes
    return kept, dropped, rebuilt


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
    wb, gb, ob = state_bytes(plan)
    for stage in range(plan.pp):
        dense, expert = stage_params(model, plan, stage)
        w = wb * (dense / (shard_dp if plan.zero >= 3 else 1) + expert / (expert_dp if plan.zero >= 3 else 1))
        if plan.fp8_param_gather:
            # FP8 primary weights are the Transformer Engine layers' GEMM weights: the embedding and
            # the LM head (torch modules) stay 16-bit
            w += (WEIGHT_BYTES - wb) * stage_embedding_params(model, plan, stage) / (shard_dp if plan.zero >= 3 else 1)
        g = gb * (dense / (shard_dp if plan.zero >= 2 else 1) + expert / (expert_dp if plan.zero >= 2 else 1))
        o = ob * (dense / (shard_dp if plan.zero >= 1 else 1) + expert / (expert_dp if plan.zero >= 1 else 1))
        act = 0.0
        working = 0.0
        rebuilt = 0.0
        for k, count in peaks[stage].items():
            for i in plan.chunk_layer_range(k):
                kept, dropped, back = layer_saved_bytes(model, plan, i, attention)
                working = max(working, kept + dropped)
                rebuilt = max(rebuilt, back)
                act += count * (2 * sbh / (tp if sp else 1) if plan.recompute == "full" else kept)
        # one layer's activations rebuilt during its backward (full), or its dropped parts (selective)
        act += working if plan.recompute == "full" else rebuilt
        if stage == (plan.pp * plan.v - 1) % plan.pp:
            act += 4.0 * s * plan.micro_batch * model.vocab / tp   # fp32 logits for the loss
        buffers = 2 * bucket_MB * 1e6 + RUNTIME_RESERVE_BYTES
        if plan.zero >= 3:
            per_layer = dense / max(sum(plan.chunk_layers[k] for k in plan.stage_chunks(stage)), 1)
            buffers += 2 * wb * per_layer        # prefetched full weights of two layers
        out.append(StageMemory(stage, w, g, o, act, buffers))
    return out


def peak_memory_bytes(model: ModelSpec, plan: Plan, attention: str = "flash", bucket_MB: float = 25.0) -> tuple[float, int]:
    """(peak bytes, stage where it occurs)."""
    stages = stage_memory(model, plan, attention, bucket_MB)
    worst = max(stages, key=lambda m: m.total)
    return worst.total, worst.stage
