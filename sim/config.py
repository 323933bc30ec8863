"""Run configs: TOML files validated section by section, with presets and dotted overrides.

Vocabulary:
- section: a top-level TOML table (``run``, ``topology``, ``model``, ``train``, ``serve``,
  ``workload``); each has a pydantic model here that rejects unknown keys.
- preset: ``preset = "name"`` inside a section loads ``<presets dir>/<name>.toml`` first;
  explicit keys override it. Preset directories are registered per section by the composition
  root (``register_presets``), so this module imports nothing from topologies/ or workloads/.
  A section with none registered (all but ``model`` and ``topology``) refuses the key, as does
  an empty name.
- override: ``--set a.b.c=VALUE``; VALUE is a TOML literal, or a bare string when it does not
  parse as one.
- ``load_config(path, overrides)`` returns a validated ``Config``; every problem is reported at
  once in a ``ConfigError`` whose message names each key path and why.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from sim.errors import ConfigError


def check_name(value: str) -> str:
    """A run or sweep name: it becomes a directory under runs/out/, so it must be one plain
    path component (not empty, no '/', '\\' or NUL, not starting with '.')."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty name (it names the output directory runs/out/<name>/)")
    if any(c in value for c in "/\\\0") or value.startswith("."):
        raise ValueError(f"{value!r} is path-like; a name is one directory name without '/', "
                         "'\\' or a leading '.'")
    if len(value.encode("utf-8", "surrogateescape")) > 200:   # a file name holds 255 bytes, less dcsim's staging suffix
        raise ValueError(f"is {len(value.encode('utf-8', 'surrogateescape'))} bytes long; a name is at most 200 "
                         "(it names a directory, and file systems allow 255 bytes per name)")
    return value


def _accepted_types(annotation) -> set:
    """The plain Python types a field's annotation admits (``Literal`` values by their type)."""
    import typing
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return {type(a) for a in typing.get_args(annotation)}
    if origin is not None and origin not in (list, dict, tuple, set):   # Union, Optional, X | Y
        return set().union(*(_accepted_types(a) for a in typing.get_args(annotation)))
    return {origin or annotation}


def no_silent_coercion(value, info, fields) -> Any:
    """Reject a TOML boolean or string given to a numeric key (pydantic would read ``true`` as
    1 and ``"8"`` as 8): a wrong type is an error naming the key, never a silent number."""
    field = fields.get(info.field_name)
    if field is None:
        return value
    types = _accepted_types(field.annotation)
    if isinstance(value, bool) and bool not in types:
        raise ValueError(f"expected {_type_words(types)}, got the boolean {str(value).lower()}")
    if isinstance(value, str) and str not in types and types & {int, float}:
        raise ValueError(f"expected {_type_words(types)}, got the string {value!r}")
    if isinstance(value, float) and int in types and float not in types:
        raise ValueError(_float_for_int(value, types))
    # pydantic would read "yes", "off", 1 and 0 as booleans: a bool key takes true or false only
    if bool in types and not isinstance(value, bool) and value is not None \
            and not types & {type(value)} and not (isinstance(value, int) and float in types):
        kind = "string" if isinstance(value, str) else "number" if isinstance(value, (int, float)) else "value"
        raise ValueError(f"expected {_type_words(types)}, got the {kind} {value!r}")
    _no_coercion_inside(value, field.annotation)
    return value


def _element_types(annotation) -> set:
    """The types a field's lists or tables may hold (``dict[str, float]`` -> {float})."""
    import typing
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return _accepted_types(args[0])
    if origin is dict and len(args) == 2:
        return _accepted_types(args[1])
    if origin is not None and origin not in (list, dict, tuple, set, Literal):
        return set().union(*(_element_types(a) for a in args))
    return set()


def _no_coercion_inside(value, annotation) -> None:
    """``no_silent_coercion`` for the items of a list or the values of a table of numbers
    (``gpu_speed = {3 = "0.5"}``, ``torus_dims = [4, "4"]``): pydantic would read them as numbers."""
    types = _element_types(annotation)
    if not types & {int, float} or str in types or bool in types:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for where, item in items:
        if isinstance(item, (bool, str)):
            kind = "boolean" if isinstance(item, bool) else "string"
            shown = str(item).lower() if isinstance(item, bool) else repr(item)
            raise ValueError(f"expected {_type_words(types)} at [{where!r}], got the {kind} {shown}")
        if isinstance(item, float) and int in types and float not in types:
            raise ValueError(f"at [{where!r}]: " + _float_for_int(item, types))


def _float_for_int(value: float, types: set) -> str:
    """The message for a TOML float given to an integer key: pydantic would read 2.0 as 2
    (and TOML tells 2 from 2.0), so both 2.5 and 2.0 are refused rather than coerced."""
    if value.is_integer():
        return (f"expected {_type_words(types)}, got the float {value!r}; write {int(value)} "
                "(an integer, without '.0')")
    return f"expected {_type_words(types)}, got the float {value!r}, which is not a whole number"


def _type_words(types: set) -> str:
    words = [w for t, w in ((int, "an integer"), (float, "a number"), (str, "a string"),
                            (bool, "true/false"), (list, "a list"), (dict, "a table"))
             if t in types or (t is dict and any(isinstance(x, type) and issubclass(x, BaseModel) for x in types))]
    if "an integer" in words and "a number" in words:
        words.remove("an integer")
    return " or ".join(words) or "another type"


MAX_DURATION_H = 100 * 365 * 24.0     # run.duration_h: 100 years (sim.app.accounting.LONG_HORIZON_CAP_S)


class Section(BaseModel):
    # allow_inf_nan=False: NaN and infinities are never a valid setting (exit 2 naming the key)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    preset: str | None = Field(None, description="name of a preset loaded before this section's keys")

    @field_validator("*", mode="before")
    @classmethod
    def _no_silent_coercion(cls, value, info):
        return no_silent_coercion(value, info, cls.model_fields)


class RunSection(Section):
    kind: Literal["train", "serve"] = Field("train", description="what the run simulates")
    name: str = Field("run", description="run name; default output directory runs/out/<name>/ under the current directory")
    seed: int = Field(0, ge=0, description="seed of every random stream")
    trace: bool = Field(False, description="also write trace.json (Chrome/Perfetto trace events)")
    steps: int = Field(1, ge=1, description="training steps to simulate")
    duration_h: float | None = Field(None, gt=0, description="training: wall-clock horizon of a long-horizon job (failures, restarts, checkpoints); the step is simulated once; at most 876,000 (100 years)")
    token_budget: float | None = Field(None, gt=0, description="training: stop the long-horizon job once this many tokens are trained (with or without duration_h)")
    baseline: bool = Field(True, description="[[jobs]]: also simulate each job alone, for the slowdown columns")
    rate_tolerance: float = Field(0.02, ge=0, lt=1, description="dcsim traffic only: completions within this fraction of the elapsed time share one max-min re-solve (sim.flowepochs; the FCT error this costs is tabled there); 0 = exact, one re-solve per completion. Training, serving and [[jobs]] runs always solve exactly")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v):
        return check_name(v)

    @field_validator("duration_h")
    @classmethod
    def _horizon_bound(cls, v):
        # refused here, as the config loads: run.duration_h = 1e6 (114 years) was refused only after the step
        # and checkpoint simulations and seconds of timeline, when the timeline passed its 5,000,000 phases
        # (workloads.training.goodput.MAX_ROWS), or ran to a century-long result on a small, rarely failing job
        if v is not None and v > MAX_DURATION_H:
            raise ValueError(f"{v:g} h is over {MAX_DURATION_H:,.0f} h (100 years), the longest horizon dcsim runs "
                             "(the same bound a token budget runs to); a horizon is hours of wall clock "
                             "(a 90-day job: 2160)")
        return v


class TopologySection(Section):
    gpu: str = Field("H100-SXM-80GB", description="hardware catalogue name (dcsim hardware)")
    gpus: int = Field(8, ge=1, description="total GPUs in the cluster")
    gpus_per_node: int = Field(8, ge=1, description="GPUs per server")
    scaleup_domain: int | None = Field(None, ge=1, description="GPUs per NVLink domain; default from the catalogue, capped at gpus; at most the catalogue's (a larger what-if domain: a [hardware] part with its own scaleup_domain)")
    scaleup_GBps: float | None = Field(None, gt=0, description="scale-up bandwidth per GPU per direction, GB/s; default from the catalogue")
    nics_per_node: int = Field(8, ge=0, description="scale-out NICs per server")
    nic_Gbps: float = Field(400.0, gt=0, description="line rate per NIC, Gb/s")
    pcie_GBps: float | None = Field(None, gt=0, description="GPU-NIC PCIe bandwidth per direction, GB/s; default: unconstrained by PCIe (2x NIC rate)")
    fabric: Literal["fat-tree", "rail-optimized", "torus3d", "none"] = Field("fat-tree", description="scale-out fabric")
    tiers: int = Field(2, ge=1, le=3, description="switch tiers of a fat-tree (2 = leaf-spine, 3 = leaf-spine-core)")
    switch_radix: int = Field(64, ge=4, description="ports per scale-out switch")
    leaf_radix: int | None = Field(None, ge=2, description="ports per leaf (top-of-rack) switch; default switch_radix")
    oversubscription: float | list[float] = Field(1.0, description="down:up ratio at each tier boundary above the leaf (a number for all, or a list bottom up)")
    pod_gpus: int | None = Field(None, ge=1, description="GPUs per pod (full bisection inside a pod); 3-tier fabrics")
    torus_dims: list[int] | None = Field(None, description="torus dimensions (torus3d), product = gpus")
    network_model: Literal["flow", "analytic"] = Field("flow", description="flow: max-min fair sharing; analytic: latency + bytes over the bottleneck link, no contention between transfers (a transfer's own bytes per link count: a bundle's members sharing a link, an adaptively routed flow's share of each path)")
    scaleup_efficiency: float | None = Field(None, gt=0, le=1, description="fraction of scale-up line rate collectives reach; default calibrated")
    scaleout_efficiency: float | None = Field(None, gt=0, le=1, description="fraction of scale-out line rate collectives reach; default calibrated")
    scaleup_latency_us: float | None = Field(None, ge=0, description="per-hop scale-up latency, us; default calibrated")
    scaleout_latency_us: float | None = Field(None, ge=0, description="per-hop scale-out latency, us; default calibrated")
    host_GBps: float | None = Field(None, gt=0, description="GPU-host memory bandwidth per direction, GB/s; default from the catalogue")
    ssd_GBps: float = Field(7.0, gt=0, description="per-server SSD read/write bandwidth, GB/s")
    rail_planes: int = Field(1, ge=1, description="parallel network planes (each NIC on one plane)")
    routing: Literal["static", "ecmp", "adaptive"] = Field("static", description="how a Clos fabric spreads a flow over its equal-cost uplinks: static = one path per flow chosen by destination (InfiniBand subnet manager D-mod-K, ftree); ecmp = one path per flow chosen by a hash of the flow (RoCE ECMP, one QP per connection); adaptive = per-packet adaptive routing or packet spraying (InfiniBand AR, on by default in OpenSM's ar_updn; Spectrum-X): each flow spreads evenly over every spine (and core) path. The DGX SuperPOD presets (dgx-a100-superpod, dgx-h100-superpod) set adaptive; set static to get the one-path routing they had before")
    storage_GBps: float | None = Field(None, gt=0, description="aggregate bandwidth of a storage tier (storage nodes behind the fabric) that checkpoints go to, GB/s; default per-host SSDs (topology.ssd_GBps each)")
    gpu_speed: dict[str, float] = Field(default_factory=dict, description="named slow GPUs: rank -> speed factor in (0, 1] (its compute takes 1/factor as long)")
    speed_cv: float = Field(0.0, ge=0, le=1.0, description="spread of per-GPU speed: each GPU runs at exp(-|z|), z ~ Normal(0, speed_cv), drawn from run.seed (<= 1: beyond it GPUs would run at almost nothing)")
    speed_spread: float | None = Field(None, ge=0, lt=0.2, description="standard deviation of per-GPU speed around the calibrated (median) GPU: a synchronous training step over n GPUs waits for the slowest, so its compute stretches by 1 / (1 - speed_spread x E[max of n normal draws]); default: the GPU's speed_spread in compute.toml (measured); 0 turns it off; named gpu_speed factors multiply it; ignored where speed_cv draws the speeds")
    nic_speed: dict[str, float] = Field(default_factory=dict, description="degraded NICs: GPU rank -> its scale-out NIC's rate as a fraction of nic_Gbps, in (0, 1]")
    link_speed: dict[str, float] = Field(default_factory=dict, description="degraded links: \"NODE\" or \"NODE:CLASS\" (node names as in the src and dst columns of a run's links.parquet, e.g. gpu3, leaf0.1, spine0.2; CLASS a link class such as nvlink, leaf-spine) -> factor in (0, 1] applied to every link (both directions) of that node, or of that class at it")

    @field_validator("oversubscription")
    @classmethod
    def _positive(cls, v):
        values = v if isinstance(v, list) else [v]
        if not values or any(x < 1.0 for x in values):
            raise ValueError("oversubscription ratios must be >= 1 (1 = non-blocking)")
        return v


# The most tokens one request may have (prompt or output): 10M, the longest context of any
# published model (Llama 4 Scout); more is a typo, and would overflow the token counters.
MAX_REQUEST_TOKENS = 10_000_000


class LengthDist(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_silent_coercion(cls, value, info):
        return no_silent_coercion(value, info, cls.model_fields)

    dist: Literal["fixed", "uniform", "lognormal", "normal", "exponential", "trace"] = "fixed"  # trace: sampled from workload.trace
    # a mean under one token (mean = 0.5) would round every request to 1 token: refused
    mean: float | None = Field(None, ge=1, le=MAX_REQUEST_TOKENS)
    sigma: float | None = Field(None, ge=0)
    min: int | None = Field(None, ge=1, le=MAX_REQUEST_TOKENS)
    max: int | None = Field(None, ge=1, le=MAX_REQUEST_TOKENS)
    value: int | None = Field(None, ge=1, le=MAX_REQUEST_TOKENS)

    @model_validator(mode="after")
    def _keys_of_the_distribution(self):
        """A key the distribution does not read (``{dist = "fixed", value = 1000, mean = 5}``) or
        ``min > max`` (every length would be clipped to max) is an error, not ignored."""
        given = self.model_fields_set - {"dist"}
        takes = LENGTH_DIST_KEYS[self.dist]
        extra = sorted(given - takes)
        if self.dist == "fixed" and {"value", "mean"} <= given:
            extra = extra or ["mean"]
        if extra:
            raise ValueError(f"{extra[0]} is not a key of dist = {self.dist!r}, which takes "
                             f"{' or '.join(sorted(takes)) if self.dist == 'fixed' else ', '.join(sorted(takes))}"
                             f"{' (one of them)' if self.dist == 'fixed' else ''}; remove {extra[0]}")
        if self.dist == "lognormal" and self.mean is not None and self.sigma is not None \
                and math.log(self.mean) - self.sigma ** 2 / 2.0 < 0.0:
            # the median exp(mu) = mean * exp(-sigma^2 / 2) under one token: most requests round
            # to 1 token while a rare few carry the whole mean (sigma = 50 gave 1-token prompts)
            top = math.sqrt(2.0 * math.log(self.mean))
            raise ValueError(f"sigma = {self.sigma:g} puts the lognormal's median, mean x exp(-sigma^2/2) = "
                             f"{self.mean * math.exp(-self.sigma ** 2 / 2.0):.3g} tokens, under one "
                             f"token: most requests would be 1 token long and a rare few would carry the mean; "
                             f"sigma is the log-space standard deviation, at most {top:.3g} for mean = "
                             f"{self.mean:g}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min = {self.min} is above max = {self.max}: every length would be clipped to "
                             f"{self.max}; give min <= max")
        return self


# keys each length distribution reads (besides dist); min and max clip what is sampled
LENGTH_DIST_KEYS = {"fixed": {"value", "mean"}, "uniform": {"min", "max"},
                    "lognormal": {"mean", "sigma", "min", "max"}, "normal": {"mean", "sigma", "min", "max"},
                    "exponential": {"mean", "min", "max"}, "trace": {"min", "max"}}


class ModelSection(Section):
    name: str = Field("custom", description="model name in outputs")
    layers: int = Field(32, ge=1, le=10_000, description="transformer layers")
    hidden: int = Field(4096, ge=1, description="model width")
    ffn_hidden: int = Field(14336, ge=1, description="MLP inner width")
    heads: int = Field(32, ge=1, description="attention heads")
    kv_heads: int | None = Field(None, ge=1, description="key/value heads (< heads for GQA); default = heads")
    head_dim: int | None = Field(None, ge=1, description="per-head width; default hidden / heads")
    vocab: int = Field(128256, ge=2, description="vocabulary size, tokens (at least 2: an LM head over fewer has nothing to choose between)")
    seq_len: int = Field(8192, ge=1, description="training sequence length, tokens")
    max_context: int | None = Field(None, ge=1, le=2**31 - 1, description="the model's maximum context (prompt + output), tokens: Hugging Face max_position_embeddings (text_config's for a multimodal checkpoint; Llama 4 Scout 10,485,760, Maverick 1,048,576). Read by serving engines that size themselves by it: trtllm-serve without --max_seq_len takes the model's (TensorRT-LLM _torch/models/modeling_utils.py infer_max_seq_len), so a chunked-attention model decodes its chunked layers with MMHA on Hopper (engines.toml max_seq_len); TensorRT-LLM also builds its RoPE table over it on every GPU before sizing the KV pool (engines.toml rope_table_bytes_per_entry: Scout 5.37 GB, Llama 3.x 0.067 GB). A serving run whose every request (prompt + output) runs past it is refused (exit 2); one where some do warns with their count. Unset: not declared (the engine sizes by the workload)")
    gated_mlp: bool = Field(True, description="SwiGLU-style three-matrix MLP")
    tied_embeddings: bool = Field(False, description="input and output embeddings share weights")
    experts: int = Field(0, ge=0, description="routed experts (0 = dense)")
    top_k: int = Field(0, ge=0, description="experts per token")
    expert_ffn_hidden: int = Field(0, ge=0, description="routed expert MLP width")
    shared_experts: int = Field(0, ge=0, description="always-on shared experts")
    dense_layers: int = Field(0, ge=0, description="leading dense layers of an MoE model")
    mla: bool = Field(False, description="multi-head latent attention (DeepSeek)")
    kv_lora_rank: int = Field(0, ge=0, description="MLA compressed KV width")
    q_lora_rank: int = Field(0, ge=0, description="MLA compressed query width")
    rope_head_dim: int = Field(0, ge=0, description="MLA decoupled RoPE key width")
    v_head_dim: int | None = Field(None, ge=1, description="MLA value head width; default head_dim")
    sliding_window: int | None = Field(None, ge=1, description="sliding-window attention: keys each query attends on windowed layers (Mistral, Gemma, GPT-OSS), tokens")
    global_every: int = Field(0, ge=0, description="with sliding_window: layers N, 2N, ... (1-based) attend the full context (Gemma 3: 6, GPT-OSS: 2); 0: every layer windowed")
    attention_sinks: int = Field(0, ge=0, description="leading tokens every windowed query also attends and the KV cache keeps (StreamingLLM attention sinks)")
    moe_every: int = Field(0, ge=0, description="interleaved MoE: layers N, 2N, ... (1-based) after dense_layers are MoE, the others dense with ffn_hidden (Hugging Face Llama 4 interleave_moe_layer_step: Maverick 2); 0: every layer after dense_layers")
    checkpoint_expert_precision: Literal["fp16", "bf16", "fp8", "fp4", "mxfp4"] | None = Field(None, description="the precision the released checkpoint stores the routed experts in (openai/gpt-oss-*: 'mxfp4'); serving without serve.expert_precision warns that the experts run at serve.precision instead. Describes the checkpoint only: the experts' serving precision is serve.expert_precision")
    checkpoint_fp8_scaling: Literal["tensor", "block"] | None = Field(None, description="the FP8 scaling granularity of the released FP8 checkpoint: 'block' (deepseek-ai/DeepSeek-V3 / R1: an fp32 scale per 128 x 128 weight block and per 1 x 128 activation group, weight_block_size [128, 128]), 'tensor' (one scale per tensor, ModelOpt FP8); unset: 'tensor'. With serve.precision = 'fp8' a block-scaled checkpoint's GEMMs run the block-scaled kernels (sim/data/compute.toml block_fp8_gemm_factor, block_fp8_serial_epilogue) and TensorRT-LLM's attention-DP all-gather carries bf16 hidden states (the MoE kernel quantizes them). Describes the checkpoint only")
    expert_load_cv: float | None = Field(None, ge=0.0, le=100.0, description="routing skew of the routed experts: the coefficient of variation (std / mean over one MoE layer's experts) of the tokens each expert receives per step on the served traffic, averaged over layers. Each expert's load is taken as lognormal; an expert-parallel step waits for its most loaded rank of N, whose experts get workloads/serving/fused_moe.rank_load_factor(cv, experts, N) times the mean rank's routed rows (DeepSeek-V3 cv 1.51: 1.20 / 1.42 / 2.56 at 4 / 8 / 32 ranks), unless serve.redundant_experts > 0 (EPLB placement). Unset or 0: balanced routing. Describes the model's router on its traffic (the deepseek-v3 preset carries TensorRT-LLM's published DeepSeek-R1 EP32 statistic, cv 1.51; qwen3-235b-a22b NVIDIA aiconfigurator's latency-matched Qwen3-235B power law, cv 2.45). Read by serving runs only: a training step takes balanced routing; on a dense model it warns and has no effect")
    expert_groups: int | None = Field(None, ge=1, le=4096, description="group-limited routing (DeepSeek-V3 / R1 config.json n_group: 8): the routed experts form this many equal groups of consecutive ids, and a token's top_k experts come from only model.expert_group_topk of them. With serve.ep equal to it each expert-parallel rank holds one group, so a token's experts land on expert_group_topk ranks: at few tokens per step the busiest rank reads more distinct experts (workloads/serving/fused_moe.busiest_rank_expert_fraction). Unset: routing over all experts. Read by serving runs only")
    expert_group_topk: int | None = Field(None, ge=1, le=4096, description="with model.expert_groups: the groups each token's experts are chosen from (DeepSeek-V3 / R1 config.json topk_group: 4)")
    encoder_params: float | None = Field(None, ge=0.0, le=1e13, description="parameters of a non-text encoder the released checkpoint carries beside the language model (Llama 4's vision tower and projector: 871,932,416), which a text-only run never computes but an engine may still load: serving counts them in the engine's memory (engines.toml encoder_bytes_per_param / encoder_sharding: TensorRT-LLM holds the Llama 4 vision encoder in fp32 on every rank, vLLM in bf16 split over tp, SGLang 0.5 not at all) and in trtllm-bench's checkpoint size. Unset or 0: none. Describes the checkpoint only; training ignores it")
    mtp_layers: int | None = Field(None, ge=0, le=64, description="multi-token-prediction (MTP) modules the released checkpoint carries after its decoder layers (Hugging Face num_nextn_predict_layers; DeepSeek-V3 / R1: 1, the checkpoint's model.layers.61, 14B parameters per the DeepSeek-V3 README). serve.speculative.method = 'mtp' drafts with them and is refused on a model without (unset or 0: none, e.g. Llama 3); costed by serve.speculative.draft_layers like any head. Describes the checkpoint only; training ignores it")
    attention_chunk: int | None = Field(None, ge=1, description="chunked local attention (Llama 4 attention_chunk_size 8192): on a chunked layer a query attends only the keys of its own chunk of this many tokens (block-diagonal causal); with global_every, layers N, 2N, ... attend the whole context (Llama 4's NoPE layers: 4)")

    @field_validator("vocab", mode="before")
    @classmethod
    def _vocab(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v < 2:
            raise ConfigError("model.vocab", f"{v} tokens: a vocabulary needs at least 2 (the LM head's softmax "
                              "over one token has nothing to sample; 0 or fewer has no LM head)")
        return v

    @model_validator(mode="after")
    def _moe(self):
        if self.sliding_window is not None and self.attention_chunk is not None:
            raise ConfigError("model.attention_chunk", "cannot be combined with model.sliding_window: a layer "
                              "attends either a sliding window or its own chunk (set one of them)")
        if self.experts and not self.top_k:
            raise ConfigError("model.top_k", "must be >= 1 when experts > 0")
        if self.top_k > max(self.experts, 0):
            raise ConfigError("model.top_k", f"top_k ({self.top_k}) exceeds experts ({self.experts})")
        if (self.expert_groups is None) != (self.expert_group_topk is None):
            key = "model.expert_group_topk" if self.expert_group_topk is None else "model.expert_groups"
            raise ConfigError(key, "model.expert_groups and model.expert_group_topk go together (group-limited "
                              "routing: n_group and topk_group of the model's config.json); set both or neither")
        if self.expert_groups is not None and self.experts:
            g, tg = self.expert_groups, self.expert_group_topk
            if self.experts % g:
                raise ConfigError("model.expert_groups", f"{g} groups do not divide the {self.experts} experts evenly")
            if tg > g:
                raise ConfigError("model.expert_group_topk", f"{tg} exceeds model.expert_groups ({g})")
            if self.top_k > tg * (self.experts // g):
                raise ConfigError("model.expert_group_topk", f"{tg} groups of {self.experts // g} experts hold fewer "
                                  f"than top_k ({self.top_k}) experts")
        if self.experts and self.moe_every and (self.layers // self.moe_every) * self.moe_every <= self.dense_layers:
            raise ConfigError("model.moe_every", f"{self.moe_every} leaves no MoE layer among layers "
                              f"{self.dense_layers + 1}..{self.layers} (1-based, after dense_layers = "
                              f"{self.dense_layers}): the model's {self.experts} experts would never run; "
                              "choose moe_every <= layers - dense_layers, or 0 (every layer)")
        return self


class TrainSection(Section):
    tp: int = Field(1, ge=1, description="tensor parallel size")
    pp: int = Field(1, ge=1, description="pipeline parallel size")
    dp: int | None = Field(None, ge=1, description="data parallel size; default gpus / (tp*cp*pp)")
    cp: int = Field(1, ge=1, description="context parallel size")
    ep: int = Field(1, ge=1, description="expert parallel size (within dp*cp)")
    sequence_parallel: bool = Field(False, description="Megatron sequence parallelism")
    zero: int = Field(0, ge=0, le=3, description="ZeRO stage (3 = FSDP-style full sharding)")
    micro_batch: int = Field(1, ge=1, description="sequences per micro-batch")
    global_batch: int = Field(512, ge=1, description="sequences per step")
    schedule: Literal["gpipe", "1f1b", "interleaved"] = Field("1f1b", description="pipeline schedule")
    virtual_stages: int = Field(1, ge=1, description="model chunks per pipeline rank (interleaved)")
    recompute: Literal["none", "selective", "full"] = Field("none", description="activation recomputation")
    precision: Literal["fp16", "bf16", "fp8", "fp4"] = Field("bf16", description="compute precision")
    fidelity: Literal["symmetric", "full"] = Field("symmetric", description="one representative rank per class, or every rank")
    check_memory: bool = Field(True, description="stop with exit 3 when the plan does not fit in HBM")
    dp_bucket_MB: float = Field(25.0, gt=0, description="DP gradient bucket size, MB")
    overlap_grad_reduce: bool = Field(True, description="overlap DP gradient reduction with backward")
    interference: float | None = Field(None, ge=0, lt=1, description="compute slowdown while communication kernels share SMs (default: the measured overlap slowdown x the overlapped fraction of compute)")
    rank_order: Literal["tp-cp-dp-pp", "tp-cp-pp-dp"] = Field("tp-cp-dp-pp", description="parallel dimensions from innermost to outermost rank stride (Megatron-LM default; Llama 3 used tp-cp-pp-dp)")
    attention: Literal["flash", "unfused"] = Field("flash", description="attention kernels: fused FlashAttention, or Megatron-2021 batched GEMMs + fused softmax with the scores in HBM")
    attention_kernel: Literal["default", "fa2", "triton"] = Field("default", description="which fused attention kernel runs `flash`: the GPU's calibrated one (cuDNN fused attention on Hopper, as Transformer Engine runs), or FlashAttention-2 (PyTorch SDPA's flash backend, llm-foundry, torchtitan), whose Hopper rate is about half, or the FlashAttention-1-era Triton kernel (MPT's attn_impl: triton, llm-foundry 2023), ~1.4x slower than FlashAttention-2 forward and ~2x backward")
    optimizer_step: bool = Field(True, description="include the optimizer step (memory-bound over parameter and optimizer bytes) in the step time")
    etp: int | None = Field(None, ge=1, description="expert tensor-parallel size (default tp); expert data parallelism edp = tp*cp*dp / (etp*ep) (Megatron-Core parallel folding)")
    moe_imbalance: float = Field(1.0, ge=1.0, description="MoE load imbalance: tokens of the busiest expert over the mean (1 = balanced)")
    moe_dispatcher: Literal["alltoall", "deepep"] = Field("alltoall", description="MoE token dispatch: all-to-all (a token sent once per routed expert) or DeepEP (once per remote node, then NVLink)")
    moe_capacity_factor: float | None = Field(None, gt=0, description="Megatron --moe-expert-capacity-factor: each expert takes at most capacity_factor x its mean tokens, the rest are dropped (token drop); unset = dropless")
    moe_pad_expert_input_to_capacity: bool = Field(False, description="Megatron --moe-pad-expert-input-to-capacity: pad every expert's rows to its capacity (static shapes: the dispatcher needs no device-to-host sync, the pass can be CUDA-graphed); needs moe_capacity_factor")
    overlap_moe_expert_parallel_comm: bool = Field(False, description="Megatron --overlap-moe-expert-parallel-comm: run a forward and a backward of different micro-batches merged, each one's EP all-to-all behind the other's compute (with pp > 1: interleaved schedule only)")
    cuda_graph_impl: Literal["none", "local", "transformer_engine"] = Field("none", description="Megatron --cuda-graph-impl: capture each layer's forward and backward kernels in CUDA graphs (replayed with one launch: the host no longer issues them one by one); a dropless MoE dispatcher's host sync cannot be captured")
    checkpoint_interval_s: float | None = Field(None, gt=0, description="long-horizon runs: seconds of training between checkpoints; default the Young/Daly optimum sqrt(2 x checkpoint_s x MTBF)")
    checkpoint_async: bool = Field(False, description="long-horizon runs: training stalls only for the copy to host memory; the write to storage runs behind it")
    fp8_recipe: Literal["delayed", "tensorwise", "mxfp8", "blockwise", "nvfp4"] | None = Field(None, description="Megatron --fp8-recipe / --fp4-recipe: how Transformer Engine quantizes each low-precision GEMM's operands (delayed: amax history, fused cast; tensorwise: current scaling, an amax pass before each cast; mxfp8: 1x32 E8M0 block scales, rowwise and columnwise copies; blockwise: DeepSeek-V3 1x128 / 128x128 fp32 scales; nvfp4: 1x16 E4M3 block scales under a per-tensor scale, 16x16 weight blocks, random Hadamard transform on the weight-gradient inputs). delayed/tensorwise/mxfp8/blockwise need precision fp8, nvfp4 precision fp4; unset: dcsim's generic cast model")
    tp_comm_overlap: bool = Field(False, description="Megatron --tp-comm-overlap (NeMo tp_comm_overlap): Transformer Engine userbuffers split each sequence-parallel all-gather/reduce-scatter into chunks pipelined with its GEMM (exposed: the part the GEMM cannot cover plus one chunk); the communication kernels take SMs from the GEMMs. Needs sequence_parallel and tp > 1")
    first_stage_layers: int | None = Field(None, ge=1, description="Megatron --decoder-first-pipeline-num-layers: transformer layers on the first pipeline stage (split evenly over its virtual stages); the other stages share the rest evenly. Unset (both): an even split over pp x virtual_stages chunks, or, where the layers do not divide, the first and last chunks take the shortfall (at least one layer each; a warning names the split)")
    last_stage_layers: int | None = Field(None, ge=1, description="Megatron --decoder-last-pipeline-num-layers: transformer layers on the last pipeline stage (split evenly over its virtual stages); the other stages share the rest evenly. Unset (both): an even split over pp x virtual_stages chunks, or, where the layers do not divide, the first and last chunks take the shortfall (at least one layer each; a warning names the split)")
    recompute_modules: list[Literal["core_attn", "moe_act", "layernorm", "mla_up_proj", "mlp", "moe", "shared_experts"]] | None = Field(None, description="Megatron --recompute-modules with --recompute-granularity selective (recompute = 'selective'): the submodules whose saved activations are dropped and rebuilt by a forward recompute in the backward (their forward FLOPs join hardware FLOPs, hfu and the backward's time). core_attn: the attention scores; layernorm: the two pre-norm outputs (the QKV / MLA down-projection and MLP / router inputs); mla_up_proj: MLA's up-projected Q, K, V (kept: the compressed latents; needs model.mla); mlp: a dense layer's MLP internals; moe: the whole MoE block's internals (routed and shared experts; the dispatch all-to-all runs again); moe_act: the routed experts' activation output (the down-projection input); shared_experts: the shared experts' internals. Unset: ['core_attn'] (Megatron's default; an empty list is an error); needs recompute = 'selective'")
    use_precision_aware_optimizer: bool = Field(False, description="Megatron --use-precision-aware-optimizer (Transformer Engine FusedAdam; needs the distributed optimizer, zero >= 1): lets main_params_dtype, main_grads_dtype, exp_avg_dtype, exp_avg_sq_dtype leave fp32; with 16-bit model weights and fp32 main params it stores only the 16-bit remainders of the fp32 master weights (store_param_remainders)")
    main_params_dtype: Literal["fp32", "fp16"] | None = Field(None, description="Megatron --main-params-dtype: the optimizer's master weights (fp32: 4 bytes a parameter, or 2 with store_param_remainders; fp16: 2); non-fp32 needs use_precision_aware_optimizer. Unset: fp32")
    main_grads_dtype: Literal["fp32", "bf16"] | None = Field(None, description="Megatron --main-grads-dtype: the gradient accumulation buffer (fp32: 4 bytes a parameter, as Megatron's default and DeepSeek-V3's fp32 accumulation; bf16: 2), held and reduced over the data-parallel groups at that width; bf16 needs use_precision_aware_optimizer. Unset: dcsim's 16-bit gradients (2 bytes, mixed-precision Adam as Rajbhandari et al. 2020 count it)")
    exp_avg_dtype: Literal["fp32", "fp16", "bf16", "fp8"] | None = Field(None, description="Megatron --exp-avg-dtype: Adam's first moment (4, 2, 2 or 1 bytes a parameter; DeepSeek-V3: bf16); non-fp32 needs use_precision_aware_optimizer. Unset: fp32")
    exp_avg_sq_dtype: Literal["fp32", "fp16", "bf16", "fp8"] | None = Field(None, description="Megatron --exp-avg-sq-dtype: Adam's second moment (4, 2, 2 or 1 bytes a parameter; DeepSeek-V3: bf16); non-fp32 needs use_precision_aware_optimizer. Unset: fp32")
    store_param_remainders: bool = Field(True, description="Megatron-Core OptimizerConfig.store_param_remainders (default true): with use_precision_aware_optimizer, fp32 main params and 16-bit model weights, the optimizer keeps only the low 16 bits of each fp32 master weight (its high 16 bits are the bf16 weight): 2 bytes a parameter instead of 4, still exact fp32")
    fp8_param_gather: bool = Field(False, description="Megatron --fp8-param-gather (Transformer Engine FP8 primary weights): the model weights are held only in FP8 (1 byte a parameter instead of 2), and the parameter all-gathers (the distributed optimizer's after the step, ZeRO-3's before each pass) move them in FP8; needs precision = 'fp8' and the distributed optimizer or FSDP (zero >= 1)")


class SpeculativeSpec(BaseModel):
    """serve.speculative: draft ``tokens`` per decode step (the longest chain that can be
    accepted), ``acceptance`` = probability each draft position is accepted (one number for every
    position, or a list per position, non-increasing), optional ``verify_tokens`` (tokens per
    sequence the target verifies, > tokens for tree drafts; default tokens + 1) and
    ``draft_layers`` (cost of one draft step in target decoder layers; default 1: an EAGLE/MTP
    head), ``topk`` (tree branches per draft step) and ``draft_vocab`` (the drafter's LM head
    rows); costed by ``workloads/serving/speculative.py``."""
    # allow_inf_nan=False: draft_layers = inf ran into a simulator deadlock (exit 4), NaN a bound's message
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_silent_coercion(cls, value, info):
        return no_silent_coercion(value, info, cls.model_fields)

    method: Literal["eagle", "mtp", "draft"] = "eagle"
    tokens: int = Field(..., ge=1, le=64)
    acceptance: float | list[float] = Field(...)
    verify_tokens: int | None = Field(None, ge=1, le=256)
    draft_layers: float = Field(1.0, le=10_000, description="cost of one draft step in target decoder layers (1: an EAGLE / MTP head; a draft model's layers scaled to the target's width); > 0 (every method drafts with at least part of a layer), at most 10,000, model.layers' bound")
    topk: int = Field(1, ge=1, le=64, description="draft branches kept per draft step (EAGLE tree; SGLang --speculative-eagle-topk); 1: a chain")
    draft_vocab: int | None = Field(None, ge=2, description="rows of the drafter's LM head (EAGLE-3 heads: a reduced vocabulary, e.g. 32000; at least 2, like model.vocab); default the model's vocab")

    @field_validator("draft_vocab", mode="before")
    @classmethod
    def _draft_vocab(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v < 2:
            raise ValueError(f"{v} tokens: a draft vocabulary needs at least 2 (the draft head's softmax over one "
                             "token proposes the same token every time; 0 or fewer has no draft head), like model.vocab")
        return v

    @field_validator("draft_layers")
    @classmethod
    def _drafter_has_layers(cls, v):
        if v <= 0:
            raise ValueError(f"{v} target layers: every method drafts with a model (an EAGLE head, the checkpoint's MTP "
                             "modules or a draft model), so one draft step costs more than 0 layers (1: an EAGLE / MTP "
                             "head; a small draft model: its layers scaled to the target's width, which may be a fraction)")
        return v

    @field_validator("verify_tokens")
    @classmethod
    def _verifies_the_chain(cls, v, info):
        tokens = info.data.get("tokens")
        if v is not None and isinstance(tokens, int) and v < tokens + 1:
            raise ValueError(f"{v} cannot check a chain of tokens = {tokens} drafts: the target verifies each draft "
                             f"position plus the token it samples after them, at least tokens + 1 = {tokens + 1} "
                             "(a tree's nodes: more); leave it out for a chain")
        return v

    @field_validator("acceptance")
    @classmethod
    def _prob(cls, v):
        values = v if isinstance(v, list) else [v]
        if not values or any(not (0.0 <= x <= 1.0) for x in values):
            raise ValueError("acceptance must be a probability in [0, 1] (or a list of them)")
        return v

    @model_validator(mode="after")
    def _lengths(self):
        if isinstance(self.acceptance, list) and len(self.acceptance) != self.tokens:
            raise ValueError(f"acceptance lists {len(self.acceptance)} positions; tokens is {self.tokens}")
        if isinstance(self.acceptance, list):
            # position k is accepted only if every earlier one is: its probability cannot exceed theirs
            rise = next((k for k in range(1, len(self.acceptance)) if self.acceptance[k] > self.acceptance[k - 1]), None)
            if rise is not None:
                raise ValueError(f"acceptance[{rise}] = {self.acceptance[rise]:g} exceeds acceptance[{rise - 1}] = "
                                 f"{self.acceptance[rise - 1]:g}: each entry is the probability that draft position "
                                 "is accepted, which needs every earlier one accepted, so the list is non-increasing")
        return self


class ServeSection(Section):
    tp: int = Field(1, ge=1, description="tensor parallel size of each replica (with dp_attention: the replica's GPUs, attention data-parallel and experts expert-parallel over them)")
    pp: int = Field(1, ge=1, description="pipeline parallel size of each replica; a replica holds tp x pp GPUs")
    ep: int = Field(1, ge=1, description="expert parallel size of an MoE replica's routed experts (dp_attention sets it to tp)")
    replicas: int = Field(1, ge=0, description="co-located replicas (not with prefill/decode replicas)")
    prefill_replicas: int = Field(0, ge=0, description="disaggregated prefill replicas")
    decode_replicas: int = Field(0, ge=0, description="disaggregated decode replicas")
    scheduler: Literal["vllm", "sarathi", "orca"] = Field("vllm", description="unset: the engine's (vLLM V1: chunked prefill 'sarathi'; SGLang: 'vllm'; TensorRT-LLM: 'orca'); 'vllm' is prefill-first (vLLM V0: whole prompt's KV at admission)")
    max_batch_size: int = Field(256, ge=1, description="sequences in one iteration (unset: the engine's default for the GPU); with dp_attention the replica's, split evenly over its tp ranks (SGLang divides --max-running-requests by the DP size): raise it with tp for a wide-EP replica")
    max_batch_tokens: int = Field(8192, ge=1, description="tokens in one iteration (unset: the engine's default for the GPU); with dp_attention the replica's, split evenly over its tp ranks (SGLang divides --chunked-prefill-size by the DP size): the default 8,192 leaves a 72-rank replica 113 prompt tokens per rank and step, so raise it with tp for a wide-EP replica")
    chunk_size: int = Field(512, ge=1, description="chunked prefill size (sarathi; unset: the engine's max_batch_tokens)")
    kv_block_tokens: int = Field(16, ge=1, le=4096, description="tokens per KV block (page); vLLM 16, Mooncake 512")
    precision: Literal["fp16", "bf16", "fp8", "fp4"] = Field("fp8", description="weights and activations")
    kv_precision: Literal["fp16", "bf16", "fp8", "fp4"] = Field("fp8", description="KV cache precision (bytes per cached token and attention's KV reads)")
    prefix_cache: bool = Field(False, description="reuse the KV of a prompt prefix an earlier request left in the replica's cache (vLLM automatic prefix caching, SGLang RadixAttention): its tokens skip prefill; the summary's prefix_hit_rate")
    host_kv_GB: float = Field(0.0, ge=0, description="host DRAM KV tier per replica, GB")
    ssd_kv_GB: float = Field(0.0, ge=0, description="SSD KV tier per replica, GB")
    router: Literal["round-robin", "least-loaded", "prefix-aware", "weighted"] = Field("round-robin", description="how requests are assigned to replicas: in turn, to the one with the fewest requests in flight, to the one caching the longest prefix of the prompt, or by router_weights")
    preemption: Literal["recompute", "swap"] = Field("recompute", description="when the KV pool is full, a preempted sequence drops its KV and prefills again later (recompute) or moves it to host memory and back (swap)")
    kv_transfer: Literal["layerwise", "whole"] = Field("layerwise", description="disaggregated KV transfer: streamed per layer behind prefill, or after it")
    schedule_overhead_us: float = Field(0.0, ge=0, description="CPU scheduling time per iteration, us (0: calibrated default)")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="fraction of HBM the engine may use")
    async_scheduling: bool | None = Field(None, description="the engine schedules step n+1 (and processes step n-1's outputs) while the GPU runs step n, so its per-step CPU time (engine profile step_us + step_us_per_seq x sequences) shows only beyond the GPU step: max(GPU, host) instead of GPU + host. vLLM --async-scheduling (default off up to 0.13, on from vllm-project/vllm PR #27614), SGLang's overlap scheduler (on by default since 0.4; false = --disable-overlap-schedule). TensorRT-LLM's overlap scheduler is its profile's overlap_us_per_seq, always overlapped. Not with pp > 1 or serve.speculative (vLLM 0.11 refuses both; SGLang turns its overlap off for them). Unset: the engine's default (engines.toml async_scheduling)")
    endpoint: Literal["chat", "completions"] = Field("chat", description="the OpenAI API endpoint the requests are posted to: 'chat' (/v1/chat/completions: the server renders the chat template and reads the model's generation_config per request; vllm bench serve --backend openai-chat) or 'completions' (/v1/completions, a prompt string: benchmark_serving / vllm bench serve --backend vllm or openai, InferenceX's runs). Sets the engine profile's per-request host time: request_us, plus chat_request_us on 'chat' (engines.toml; engines without separate data cost the same on both)")
    engine: Literal["vllm", "sglang", "trtllm", "trtllm-serve", "dynamo-vllm", "sglang-0.4"] | None = Field(None, description="engine whose memory reserve, KV allocation, admission, preemption and host overheads are modelled (default vllm); its default scheduler and limits apply to the serve keys left unset (vLLM: V1 chunked prefill, 8192 tokens and 1024 sequences on >= 70 GiB GPUs)")
    kv_capacity_tokens: int | None = Field(None, ge=1, description="KV pool per replica, tokens (overrides the engine's memory model)")
    prefill_tp: int | None = Field(None, ge=1, description="tensor parallel size of disaggregated prefill replicas (default tp)")
    decode_tp: int | None = Field(None, ge=1, description="tensor parallel size of disaggregated decode replicas (default tp)")
    expert_precision: Literal["fp16", "bf16", "fp8", "fp4", "mxfp4"] | None = Field(None, description="routed experts' weight precision when it differs from serve.precision (e.g. FP4 experts, FP8 attention; mxfp4: OCP MX 4-bit with one 8-bit scale per 32 weights, 4.25 bits, as GPT-OSS ships); the expert GEMMs run at serve.precision's tensor rate, or serve.expert_compute_precision's (weight-only quantization where that is wider); default serve.precision")
    expert_compute_precision: Literal["bf16", "fp16", "fp8", "mxfp8", "fp4"] | None = Field(None, description="precision the routed experts' GEMMs run their tensor-core MMA at when it differs from serve.precision (the engine quantizes their activations to it: TensorRT-LLM's W4A8 MoE on Blackwell, MXFP8 x MXFP4 = mxfp8, with bf16 attention); default serve.precision")
    moe_backend: Literal["cutlass", "trtllm_gen", "triton", "marlin"] | None = Field(None, description="the MoE kernel class when it differs from the engine's default, in the engines' own names: cutlass (TensorRT-LLM's CUTLASS fused MoE, MoeConfig backend CUTLASS) or trtllm_gen (its TRTLLM-gen kernels, backend TRTLLM, SGLang's flashinfer_trtllm: permute and SwiGLU fused into the FC1 GEMM, expert weights streamed at calibration.toml [fused_moe] trtllm_gen_hbm_eff on FP4-capable GPUs, engines.toml fused_moe_backend); for weight-only experts (weights narrower than their MMA, MXFP4 x BF16 on Hopper) the dequantizing kernel: triton (triton_kernels matmul_ogs: TensorRT-LLM's TRITON backend, vLLM's default) or marlin (vLLM's Marlin MXFP4 MoE, VLLM_MXFP4_USE_MARLIN=1), which sets its dequantization cost per weight element per M tile (calibration.toml [fused_moe]); default the engine's (triton for weight-only experts). A kernel the engine does not have is refused (engines.toml moe_backends: TensorRT-LLM has no marlin)")
    router_weights: dict[str, float] | None = Field(None, description="router = 'weighted': weight per scorer (prefix, queue, kv, prefill), e.g. llm-d's {prefix = 2, queue = 1, kv = 1}")
    router_max_kv_utilization: float | None = Field(None, gt=0, le=1, description="router = 'weighted': skip replicas whose KV pool is fuller than this (unless all are)")
    speculative: SpeculativeSpec | None = Field(None, description="speculative decoding: {method = eagle|mtp|draft, tokens = N, acceptance = P or [P1..PN]}, optional verify_tokens, draft_layers, topk and draft_vocab (EAGLE-3's reduced head, at most model.vocab); method is a label (every method is costed by draft_layers), but 'mtp' is refused on a model without MTP modules (model.mtp_layers); the summary's spec_acceptance_length, spec_acceptance_rate, spec_draft_tokens and spec_accepted_tokens report what the run's speculative steps emitted")
    dp_attention: bool = Field(False, description="MoE replicas: attention data-parallel over the replica's tp GPUs (each its own sequences and KV), routed experts expert-parallel over them (ep = tp; SGLang --enable-dp-attention with DeepEP, vLLM --data-parallel-size with --enable-expert-parallel)")
    dp_balance: bool | None = Field(None, description="dp_attention: the DP ranks prefill in the same steps (TensorRT-LLM attention_dp_config.enable_balance: a rank with new context requests waits for the others) instead of each admitting its own contexts as soon as it has room, a step then lasting as long as its most loaded rank. Unset: the engine's default (engines.toml dp_context_balance: TensorRT-LLM off, vLLM and SGLang modelled balanced)")
    redundant_experts: int = Field(0, ge=0, description="dp_attention: extra expert replicas placed by the load balancer (SGLang --ep-num-redundant-experts, EPLB); experts + redundant_experts must divide by tp")
    cuda_graph_batch_sizes: list[int] | None = Field(None, description="decode batch sizes captured as CUDA graphs with padding: a decode-only step of B sequences runs as the smallest size >= B (its GEMMs, LM head and TP all-reduces over the padded rows; attention over the B real ones); sizes above the engine's largest graph batch (min(max_batch_size, max_batch_tokens)) are dropped, TensorRT-LLM padding to that largest batch instead (cuda_graph_config.batch_sizes with enable_padding). In any order, each size once (a repeated size is refused). Unset: no padding")

    @field_validator("cuda_graph_batch_sizes")
    @classmethod
    def _graph_sizes(cls, v):
        if v is not None and (not v or any(b < 1 for b in v)):
            raise ValueError("cuda_graph_batch_sizes must list batch sizes >= 1")
        dup = sorted({b for b in v or () if v.count(b) > 1})
        if dup:
            # the engine captures one graph per size (a set: engines.graph_batch_sizes sorts and dedupes);
            # a repeated size is a typo for another one more often than not, so it is refused, not dropped
            raise ValueError(f"lists {', '.join(map(str, dup))} more than once: each size is one CUDA graph, "
                             "give each once (in any order)")
        return v

    @model_validator(mode="after")
    def _async_scheduling_supported(self):
        if self.async_scheduling:
            if self.pp > 1:
                raise ConfigError("serve.async_scheduling", f"asynchronous scheduling does not run with pipeline "
                                  f"parallelism (pp = {self.pp}: vLLM 0.11 refuses it, SGLang turns its overlap "
                                  "scheduler off); set async_scheduling = false or pp = 1")
            if self.speculative is not None:
                raise ConfigError("serve.async_scheduling", "asynchronous scheduling does not run with speculative "
                                  "decoding in the modelled engines (vLLM 0.11 refuses it; SGLang 0.5 turns its "
                                  "overlap scheduler off under EAGLE); set async_scheduling = false or remove "
                                  "serve.speculative")
        return self

    @model_validator(mode="after")
    def _replicas_not_ignored(self):
        # replicas = 0 says "no co-located replicas": the one way to disaggregate with --set or a
        # sweep point when the config file gives replicas
        if "replicas" in self.model_fields_set and self.replicas and (self.prefill_replicas or self.decode_replicas):
            raise ConfigError("serve.replicas", "co-located replicas cannot be combined with prefill_replicas/"
                              "decode_replicas (disaggregated), which would ignore them; remove serve.replicas "
                              "(or set it to 0), or set both of the others to 0")
        return self


class WorkloadSection(Section):
    arrival: Literal["poisson", "gamma", "burst", "trace", "closed"] = Field("poisson", description="request arrivals: poisson or gamma at `rate` (open loop, queues grow past capacity), burst (all `requests` at t = 0), trace (timestamps of `trace`), closed (`concurrency` users, each sending its next request when the last one finishes: the deployment runs at the throughput it sustains)")
    rate: float = Field(10.0, gt=0, description="requests/s (poisson, gamma)")
    cv: float = Field(1.0, ge=1e-3, le=1e3, description="coefficient of variation of inter-arrival times (gamma)")
    concurrency: int = Field(16, ge=1, description="requests in flight (closed loop)")
    requests: int = Field(1000, ge=1, description="requests to simulate")
    input_tokens: int | LengthDist = Field(1000, description="prompt tokens per request: an integer, or a table {dist = ...}: fixed (value), uniform (min, max), lognormal (mean: the arithmetic mean in tokens; sigma: the log-space standard deviation, 0.5-1 for chat), normal (mean and sigma in tokens), exponential (mean), trace (sampled from workload.trace's column); min and max clip the sampled lengths; lengths round to whole tokens, at least 1")
    output_tokens: int | LengthDist = Field(1000, description="output tokens per request: an integer, or a table {dist = ...}: fixed (value), uniform (min, max), lognormal (mean: the arithmetic mean in tokens; sigma: the log-space standard deviation, 0.5-1 for chat), normal (mean and sigma in tokens), exponential (mean), trace (sampled from workload.trace's column); min and max clip the sampled lengths; lengths round to whole tokens, at least 1")
    trace: str = Field("", description="Azure CSV or Mooncake JSONL; arrival = 'trace'. A relative path is read from "
                                       "the current directory, else beside the config file, else among the traces "
                                       "shipped with dcsim")
    time_scale: float = Field(1.0, gt=0, description="trace inter-arrival times are divided by this")
    slo_ttft_s: float = Field(2.0, gt=0, description="latency SLO on time to first token, s: a request meets the SLO when its TTFT <= slo_ttft_s and its TPOT <= slo_tpot_s; the summary's slo_attainment is the fraction that do and goodput_rps their number per second of the run")
    slo_tpot_s: float = Field(0.1, gt=0, description="latency SLO on time per output token after the first, s (a request's mean: (e2e - TTFT) / (output tokens - 1); 0.05 = 20 tokens/s per user); single-token requests pass it")

    @field_validator("input_tokens", "output_tokens")
    @classmethod
    def _token_bound(cls, v, info):
        if isinstance(v, int) and not 1 <= v <= MAX_REQUEST_TOKENS:
            raise ValueError(f"{v} tokens is outside 1..{MAX_REQUEST_TOKENS:,} (the longest context of any model)")
        return v

    @model_validator(mode="after")
    def _trace_is_read(self):
        """``workload.trace`` is read by arrival = 'trace' (replay), arrival = 'closed' (its
        requests in order) or a length ``{dist = 'trace'}``; with anything else it would be ignored."""
        dists = [getattr(getattr(self, k), "dist", None) for k in ("input_tokens", "output_tokens")]
        if self.trace and self.arrival not in ("trace", "closed") and "trace" not in dists:
            raise ConfigError("workload.trace", f"{self.trace!r} would be ignored by arrival = {self.arrival!r}; "
                              "set workload.arrival = 'trace' to replay it (or 'closed' to run its requests in a "
                              "closed loop, or sample its lengths with input_tokens = {dist = 'trace'})")
        return self

    @model_validator(mode="after")
    def _trace_lengths_not_replaced(self):
        if self.arrival == "trace":
            replaced = [k for k in ("input_tokens", "output_tokens")
                        if k in self.model_fields_set and isinstance(getattr(self, k), int)]
            if replaced and self.trace and find_trace(self.trace) is None:
                # a missing file is the first thing to fix: report it before any conflict with it
                raise ConfigError("workload.trace", f"trace file {self.trace!r} not found (nor among the traces "
                                  f"shipped with dcsim in {TRACE_DIR})")
            for key in ("input_tokens", "output_tokens"):
                if key in self.model_fields_set and isinstance(getattr(self, key), int):
                    raise ConfigError(
                        f"workload.{key}", f"{key} = {getattr(self, key)} would replace every length of the trace replayed "
                        f"by arrival = 'trace'; remove {key} to use the trace's own lengths, or give a "
                        f"table such as {{dist = 'fixed', value = {getattr(self, key)}}} to replace them")
        return self


class CostSection(Section):
    gpu_hour_usd: float | None = Field(None, ge=0, description="USD per GPU-hour of wall time; default: capex_usd_per_gpu / depreciation, else the catalogue rate (sim/data/power.toml)")
    capex_usd_per_gpu: float | None = Field(None, ge=0, description="capital cost per GPU (its share of server and network included), USD")
    depreciation_years: float = Field(4.0, gt=0, description="years over which capex_usd_per_gpu is spread")
    kwh_usd: float | None = Field(None, ge=0, description="USD per kWh of facility energy; default sim/data/power.toml")


class PowerSection(Section):
    pue: float | None = Field(None, ge=1, description="power usage effectiveness (facility / IT energy); default sim/data/power.toml")
    gpu_cap_W: float | None = Field(None, gt=0, description="GPU board power limit, W (between idle power and TDP); default TDP")
    host_W: float | None = Field(None, ge=0, description="power per server outside GPUs, NVSwitches and NICs, W; default sim/data/power.toml (its reference 8-GPU server's host_W x GPUs per server / 8)")


class FailuresSection(Section):
    gpu: float | None = Field(None, ge=0, description="GPU failures per GPU-hour; default Llama 3 (sim/data/failures.toml)")
    hbm: float | None = Field(None, ge=0, description="HBM failures per GPU-hour")
    nic: float | None = Field(None, ge=0, description="NIC failures per NIC-hour")
    switch: float | None = Field(None, ge=0, description="switch failures per GPU-hour (normalized per GPU)")
    host: float | None = Field(None, ge=0, description="host failures per server-hour")
    cable: float | None = Field(None, ge=0, description="cable failures per GPU-hour (normalized per GPU)")
    software: float | None = Field(None, ge=0, description="software failures per GPU-hour")
    detect_s: float | None = Field(None, ge=0, description="seconds from a failure to its detection")
    restart_s: float | None = Field(None, ge=0, description="seconds to restart the job and reload the checkpoint")


def range_text(r) -> str:
    """A placement range as the half-open interval it is: ``[16, 48)``."""
    return f"[{r[0]}, {r[1]})"


def gpus_text(span) -> str:
    """The GPU indices of a half-open ``(first, last)`` span: ``GPU 16`` or ``GPUs 16-31``."""
    return f"GPU {span[0]}" if span[1] - span[0] == 1 else f"GPUs {span[0]}-{span[1] - 1}"


def placement_overlaps(mine: list, theirs: list):
    """``(range of mine, range of theirs, shared (first, last))`` for each pair of placement ranges
    that share GPUs; ``mine is theirs``: each pair of one job's distinct ranges once."""
    same = mine is theirs
    for i, x in enumerate(mine):
        for j, y in enumerate(theirs):
            if same and j <= i:
                continue
            lo, hi = max(x[0], y[0]), min(x[1], y[1])
            if lo < hi:
                yield x, y, (lo, hi)


class JobSection(BaseModel):
    """One job of a multi-job run (``[[jobs]]``): a workload on some GPUs of the shared topology."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = Field(..., min_length=1, description="job name (the job column of the outputs)")
    kind: Literal["train", "serve"] = Field(..., description="what the job runs")
    gpus: int = Field(..., ge=1, description="GPUs of the topology this job gets")
    placement: Literal["packed", "spread"] | list[list[int]] = Field(
        "packed", description="packed (whole servers and leaves in order) | spread (servers round-robin over leaf groups) | [[first, last), ...] GPU index ranges")
    model: ModelSection = Field(default_factory=ModelSection, description="the job's [model] section (same keys)")
    train: TrainSection = Field(default_factory=TrainSection, description="the job's [train] section (same keys)")
    serve: ServeSection = Field(default_factory=ServeSection, description="the job's [serve] section (same keys)")
    workload: WorkloadSection = Field(default_factory=WorkloadSection, description="the job's [workload] section (same keys)")

    @field_validator("*", mode="before")
    @classmethod
    def _no_silent_coercion(cls, value, info):
        return no_silent_coercion(value, info, cls.model_fields)

    @field_validator("name")
    @classmethod
    def _named(cls, v):
        if not v.strip():
            raise ValueError(f"{v!r} is blank: name the job (it names its rows in the outputs' job column)")
        return v

    @field_validator("placement", mode="before")
    @classmethod
    def _integer_ranges(cls, v):
        """A range's ends are GPU indices: true, false, 8.0 or "8" are not one (pydantic would
        read true as GPU 1)."""
        if isinstance(v, list):
            for r in v:
                if isinstance(r, list) and any(isinstance(x, bool) or not isinstance(x, int) for x in r):
                    import json
                    raise ValueError(f"placement range {json.dumps(r, default=str)} is not [first, last) "
                                     f"with integer GPU indices")
        return v

    @field_validator("placement")
    @classmethod
    def _ranges(cls, v):
        if isinstance(v, list):
            if not v:
                raise ValueError("placement ranges must not be empty")
            for r in v:
                if len(r) != 2 or not 0 <= r[0] < r[1]:
                    raise ValueError(f"placement range {r} is not [first, last) with 0 <= first < last")
        return v

    @model_validator(mode="after")
    def _placement_holds_gpus(self):
        """Ranges holding another number of GPUs than ``gpus`` are that mismatch, reported
        before any plan is made from either number (gpus = 6 beside [[0, 4], [4, 8]]); ranges of
        the job that overlap are that (they read as "hold 32 GPUs" beside gpus = 16)."""
        if isinstance(self.placement, list):
            for x, y, shared in placement_overlaps(self.placement, self.placement):
                raise ConfigError("placement", f"job {self.name!r}: its ranges {range_text(x)} and {range_text(y)} "
                                               f"overlap on {gpus_text(shared)}, listed twice; give disjoint ranges")
            held = sum(b - a for a, b in self.placement)
            if held != self.gpus:
                raise ConfigError("placement", f"job {self.name!r}: ranges {self.placement} hold {held} GPUs; "
                                               f"its gpus is {self.gpus} (make them agree)")
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: RunSection = Field(default_factory=RunSection)
    topology: TopologySection = Field(default_factory=TopologySection)
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainSection = Field(default_factory=TrainSection)
    serve: ServeSection = Field(default_factory=ServeSection)
    workload: WorkloadSection = Field(default_factory=WorkloadSection)
    cost: CostSection = Field(default_factory=CostSection)
    power: PowerSection = Field(default_factory=PowerSection)
    failures: FailuresSection = Field(default_factory=FailuresSection)
    jobs: list[JobSection] = Field(default_factory=list)
    # [hardware."NAME"] tables: GPUs defined by the config (CONTRACT round 2); each is checked
    # and registered by sim.hardware.define when the config is validated
    hardware: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _jobs(self):
        # jobs may not share a GPU (CONTRACT round 2): ranges that overlap name both jobs and the
        # GPUs, before the counts (found only when the jobs were placed, as "overlap (GPU 16)")
        ranged = [(i, j) for i, j in enumerate(self.jobs) if isinstance(j.placement, list)]
        for n, (i, a) in enumerate(ranged):
            for k, b in ranged[:n]:
                for y, x, shared in placement_overlaps(b.placement, a.placement):
                    raise ConfigError(f"jobs.{i}.placement",
                                      f"jobs {b.name!r} (jobs.{k}, range {range_text(y)}) and {a.name!r} "
                                      f"(jobs.{i}, range {range_text(x)}) overlap on {gpus_text(shared)}: "
                                      "jobs may not share a GPU; give them disjoint ranges")
        # found before each job's plan is checked (a plan over more GPUs than exist fails on its batch or
        # memory first, hiding the real mistake). A job that alone asks for more than the topology has is
        # named; otherwise no one job is wrong, so every job's count is named with the total (the last job
        # that crossed the total was named before, though an earlier job's count may be the mistake)
        have = self.topology.gpus
        for i, job in enumerate(self.jobs):
            if job.gpus > have:
                raise ConfigError(f"jobs.{i}.gpus", f"job {job.name!r} needs {job.gpus} GPUs; the topology has "
                                                    f"{have} (topology.gpus)")
        total = sum(job.gpus for job in self.jobs)
        if total > have:
            each = ", ".join(f"jobs.{i} {job.name!r} {job.gpus}" for i, job in enumerate(self.jobs))
            raise ConfigError("jobs", f"the jobs need {total} GPUs in all ({each}); the topology has {have} "
                                      f"(topology.gpus): lower some job's gpus by {total - have} in all, or raise "
                                      "topology.gpus")
        names = [j.name for j in self.jobs]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            first, second = [i for i, n in enumerate(names) if n == dup][:2]
            raise ConfigError(f"jobs.{second}.name", f"jobs {first} and {second} are both named {dup!r}; "
                                                     "job names must differ (they name the outputs' job column)")
        return self

    @model_validator(mode="after")
    def _serve_runs(self, info: ValidationInfo):
        # a serving run's [serve] settings that cannot run its model (serve_refusal: MoE settings on a dense
        # model, an MoE kernel the engine does not have): refused here, before any run, so that `dcsim run`
        # exits 2 before writing its outputs and `dcsim sweep` refuses such a point before any point runs
        # (they failed at run time, once per point); a [serve] that run.kind ignores is only warned about.
        # Not for a sweep's base + [set] (validate(..., whole_run=False)): its points override it (a dense base
        # with serve.dp_attention in [set], swept over MoE presets), and each point is checked whole
        if info.context and not info.context.get("whole_run", True):
            return self
        if self.jobs:
            scopes = [(f"jobs.{i}.", j) for i, j in enumerate(self.jobs) if j.kind == "serve"]
        else:
            scopes = [("", self)] if self.run.kind == "serve" else []
        for prefix, scope in scopes:
            refusal = serve_refusal(scope.serve, scope.model)
            if refusal:
                raise ConfigError(prefix + refusal[0], refusal[1])
        return self

    @model_validator(mode="after")
    def _no_long_horizon_with_jobs(self):
        # refused up front: a [[jobs]] run has no long-horizon model (failures, checkpoints), and
        # a serving job failed on it only after the whole simulation
        for key in ("duration_h", "token_budget"):
            if self.jobs and getattr(self.run, key) is not None:
                raise ConfigError(f"run.{key}", "long-horizon runs (failures, checkpoints, goodput) are single "
                                                "training jobs; [[jobs]] runs simulate their jobs side by side, "
                                                "without a horizon: remove it")
            if not self.jobs and self.run.kind == "serve" and getattr(self.run, key) is not None:
                raise ConfigError(f"run.{key}", "applies to training runs only (a serving run lasts its requests)")
        return self


SECTIONS = {"run": RunSection, "topology": TopologySection, "model": ModelSection,
            "train": TrainSection, "serve": ServeSection, "workload": WorkloadSection}
SECTIONS.update({"cost": CostSection, "power": PowerSection, "failures": FailuresSection})

# top-level tables of named entries (not sections: no preset, keys are user names)
TABLES = ("hardware",)

# section name -> directories searched for "<preset>.toml"
_PRESET_DIRS: dict[str, list[Path]] = {}


_ROOT = Path(__file__).resolve().parent.parent


def register_presets(section: str, directory: Path) -> None:
    _PRESET_DIRS.setdefault(section, [])
    if directory not in _PRESET_DIRS[section]:
        _PRESET_DIRS[section].append(directory)


# Presets ship beside the code: topologies/presets and workloads/presets (model specs).
register_presets("topology", _ROOT / "topologies" / "presets")
register_presets("model", _ROOT / "workloads" / "presets")


# Directory of the request traces shipped with dcsim: a ``workload.trace`` not found as given
# is looked up there by name (``find_trace``; workloads/serving/traces.resolve_trace reads through it).
TRACE_DIR: Path = _ROOT / "workloads" / "serving" / "data"


# The serving engines' profiles (engines.toml beside the serving model), read here as data, as the
# presets are: an engine's default scheduler and host times decide whether some [serve] keys have any
# effect, which ``ineffective_settings`` tells before a run (and a sweep's pre-check from it);
# workloads/serving/engines.py builds its profiles from the same rows (``engine_row``).
ENGINES_TOML: Path = _ROOT / "workloads" / "serving" / "data" / "engines.toml"
DEFAULT_ENGINE = "vllm"      # serve.engine unset (CONTRACT round 2)


@lru_cache(maxsize=1)
def engine_data() -> dict:
    """engines.toml as parsed, one table per engine (read once per process)."""
    return tomllib.loads(ENGINES_TOML.read_text())


def engine_row(name: str | None, data: dict | None = None) -> dict:
    """A copy of engines.toml's row of engine ``name`` (None: ``DEFAULT_ENGINE``); a serving mode of
    another engine (``like = "OTHER"``) is OTHER's row with its own fields replaced. ``data``: the
    engines' table to read (default ``engine_data()``). KeyError for a name it lacks (``serve.engine``
    is validated against the known names)."""
    data = engine_data() if data is None else data
    row = dict(data[name or DEFAULT_ENGINE])
    if "like" in row:
        row = {**data[row.pop("like")], **row}
    return row


def engine_scheduler(serve) -> str:
    """The scheduler a ``[serve]`` section runs: ``serve.scheduler`` where the config gives it, else its
    engine's default (engines.toml ``[ENGINE.defaults] scheduler``: vLLM V1 'sarathi', SGLang 'vllm',
    TensorRT-LLM 'orca'), else the key's own default."""
    if "scheduler" in serve.model_fields_set:
        return serve.scheduler
    return engine_row(serve.engine).get("defaults", {}).get("scheduler", serve.scheduler)


# [serve] keys that set how a model's routed experts run: on a dense model (model.experts = 0) each is a
# config error (serve_refusal), in this order
_EXPERT_KEYS = {
    "expert_precision": ("is the routed experts' weight precision", "its weights are all at serve.precision"),
    "expert_compute_precision": ("is the precision of the routed experts' GEMMs",
                                 "its GEMMs all run at serve.precision"),
    "moe_backend": ("names an MoE kernel", "a dense model runs no MoE kernel"),
}


def serve_role_tps(serve) -> dict[str, int]:
    """The tensor-parallel size of each replica role a ``[serve]`` section runs: disaggregated
    (``prefill_replicas`` or ``decode_replicas`` > 0) ``{'prefill': prefill_tp, 'decode': decode_tp}``, each
    defaulting to ``serve.tp`` (Dynamo's 4 x TP1 prefill + 1 x TP4 decode), else ``{'both': tp}``."""
    if serve.prefill_replicas > 0 or serve.decode_replicas > 0:
        return {"prefill": serve.prefill_tp or serve.tp, "decode": serve.decode_tp or serve.tp}
    return {"both": serve.tp}


def serve_refusal(serve, model) -> tuple[str, str] | None:
    """Why a ``[serve]`` section cannot serve ``model`` (its ``[model]`` section), decided from the config
    alone: ``(key, reason)`` for the first setting that cannot run, or None where all can.

    - ``serve.speculative``: method 'mtp' drafts with the checkpoint's MTP modules (``model.mtp_layers``);
      a ``draft_vocab`` over ``model.vocab`` proposes tokens the target cannot verify.
    - the replicas: disaggregation needs both ``prefill_replicas`` and ``decode_replicas`` > 0, and a
      co-located deployment ``serve.replicas`` >= 1.
    - a model without routed experts (model.experts = 0) has none to spread over a replica's GPUs
      (``serve.dp_attention``, ``serve.ep`` > 1), to store at ``serve.expert_precision``, to run at
      ``serve.expert_compute_precision`` or to run an MoE kernel (``serve.moe_backend``) for, even at
      serve.precision's value.
    - ``serve.dp_attention`` spreads the experts over each replica's GPUs (ep = 1 or every role's tp) and
      is modelled without pipeline parallelism and speculative decoding.
    - an engine runs only the MoE kernels of its engines.toml ``moe_backends`` (TensorRT-LLM has no
      Marlin MoE; a row without the key has every kernel).

    The one rule: the config refuses these before any run (``Config``, exit 2; ``jobs.N.`` before the key
    in ``[[jobs]]``), so `dcsim sweep` refuses such a point before any point runs, and the serving
    deployment (workloads/serving/deployment.py) asks it again for a config changed after it was validated
    (``cfg.serve.moe_backend = ...`` through the Python API)."""
    s, name, sp = serve, model.name, serve.speculative
    if sp is not None and sp.method == "mtp" and not getattr(model, "mtp_layers", None):
        # an engine refuses MTP on a model without the checkpoint's multi-token-prediction modules
        return ("serve.speculative.method", f"'mtp' drafts with the model's multi-token-prediction modules, and "
                f"{name} has none (model.mtp_layers unset or 0; DeepSeek-V3 / R1 carry 1); use method = 'eagle' "
                "or 'draft' with its draft_layers, or set model.mtp_layers for a model whose checkpoint has MTP "
                "modules")
    if sp is not None and sp.draft_vocab is not None and sp.draft_vocab > model.vocab:
        # the drafter proposes the target's tokens (EAGLE-3's reduced head maps into the target's vocabulary)
        return ("serve.speculative.draft_vocab", f"{sp.draft_vocab:,} rows exceed {name}'s vocabulary of "
                f"{model.vocab:,} tokens (model.vocab): a drafter proposes the target's tokens, so its head has at "
                "most that many rows (EAGLE-3: a reduced vocabulary such as 32,000); leave it out for the model's own")
    if (s.prefill_replicas > 0) != (s.decode_replicas > 0):
        return ("serve.decode_replicas" if s.prefill_replicas else "serve.prefill_replicas",
                f"disaggregated serving needs both prefill_replicas and decode_replicas > 0 (got prefill_replicas "
                f"= {s.prefill_replicas}, decode_replicas = {s.decode_replicas})")
    if not (s.prefill_replicas or s.replicas):
        return ("serve.replicas", "no replicas to serve on (serve.replicas = 0 without prefill_replicas and "
                "decode_replicas): set serve.replicas >= 1, or both of the others > 0")
    if not model.experts:
        if s.dp_attention:
            return ("serve.dp_attention", f"{name} has no routed experts (model.experts = 0) to spread over "
                    "the replica's GPUs; dp_attention is for MoE models: remove it")
        if s.ep > 1:
            return ("serve.ep", f"ep = {s.ep} spreads routed experts; {name} has none (model.experts = 0): "
                    "remove serve.ep")
        for key, (what, why) in _EXPERT_KEYS.items():
            value = getattr(s, key, None)
            if value:
                return (f"serve.{key}", f"{value!r} {what}, but {name} has no routed experts (model.experts "
                        f"= 0): {why}; remove serve.{key} or serve an MoE model")
        return None
    if s.dp_attention:
        for role, tp in serve_role_tps(s).items():
            if s.ep not in (1, tp):
                whose = "" if role == "both" else f"{role} "
                return ("serve.ep", f"with dp_attention the experts spread over the {whose}replica's {tp} GPUs "
                        f"(ep = tp); got ep = {s.ep}")
        if s.pp > 1 or sp is not None:
            return ("serve.pp" if s.pp > 1 else "serve.speculative", "dp_attention is modelled without pipeline "
                    "parallelism and without speculative decoding; remove one of them")
    backend = getattr(s, "moe_backend", None)
    engine = s.engine or DEFAULT_ENGINE
    names = engine_row(engine).get("moe_backends")
    if backend and isinstance(names, (list, tuple)) and backend not in names:
        return ("serve.moe_backend", f"engine {engine!r} has no {backend!r} MoE kernel (its backends: "
                f"{', '.join(map(str, names))}; engines.toml moe_backends): choose one of them or another serve.engine")
    return None


def carries_prefix_blocks(workload) -> bool:
    """Whether the requests of a ``[workload]`` carry prefix-block ids, the only thing a prefix cache
    matches prompts by: a Mooncake trace (``.jsonl`` / ``.json``, its ``hash_ids``) replayed request by
    request (arrival = 'trace' or 'closed'). Synthetic prompts, an Azure ``.csv`` trace and a trace read
    for its lengths only share none (workloads/serving/requests.py build_stream)."""
    w = workload
    return bool(w.trace) and w.arrival in ("trace", "closed") and Path(w.trace).suffix in (".jsonl", ".json")


# bytes per routed-expert weight of block-scaled formats (``serve.expert_precision``): MXFP4 (OCP
# Microscaling spec v1.0: e2m1 elements, one e8m0 scale per 32) = 4.25 bits, as the openai/gpt-oss
# checkpoints store their experts (``*_blocks`` uint8 pairs + ``*_scales`` uint8 per 32); the serving cost
# model (workloads/serving/cost.py) reads it from here
EXPERT_WEIGHT_BYTES = {"mxfp4": 0.5 + 1.0 / 32.0}


def experts_weight_only(weight_bytes: float, mma_bytes: float, fp4_tensor_cores: bool) -> bool:
    """Whether routed experts stored at ``weight_bytes`` per weight and run at an MMA of ``mma_bytes``
    per element dequantize their weights in the GEMM's main loop (a weight-only, mixed-input kernel:
    MXFP4 x BF16 on Hopper): weights narrower than the MMA, except FP8-or-narrower activations on
    FP4-capable tensor cores (Blackwell's block-scaled f8f6f4 MMA takes FP4 weights as they are).
    One rule for the cost model (``IterationCost.set_expert_precision``) and the config's warnings."""
    return weight_bytes < mma_bytes and not (mma_bytes <= 1.0 and fp4_tensor_cores)


def expert_kernel(serve, fp4_tensor_cores: bool) -> tuple[str, bool]:
    """The routed experts' MMA precision and whether they run weight-only (``experts_weight_only``) under
    a ``[serve]`` section on a GPU with (or without) FP4 tensor cores, as the serving cost model sets them
    (``IterationCost.set_expert_precision`` then ``set_expert_compute_precision``, each where it differs
    from serve.precision): decides before a run whether serve.moe_backend has any effect."""
    from sim.hardware import BYTES_PER_ELEMENT
    p, ep, ecp = serve.precision, serve.expert_precision, getattr(serve, "expert_compute_precision", None)
    weight_only = False
    if ep and ep != p:
        wb = EXPERT_WEIGHT_BYTES.get(ep) or BYTES_PER_ELEMENT[ep]
        weight_only = experts_weight_only(wb, BYTES_PER_ELEMENT[p], fp4_tensor_cores)
    if ecp and ecp != p:
        return ecp, False                  # the experts' own MMA: no dequantizing main loop
    return p, weight_only


def _fp4_tensor_cores(name: str) -> bool | None:
    """Whether GPU ``name`` (catalogued or defined by a config's [hardware] table) has FP4 tensor cores;
    None for a name it does not know (the run refuses it)."""
    from sim import hardware
    try:
        return hardware.gpu(name).has_tensor_rate("fp4")
    except ConfigError:
        return None


_TRACE_LENGTHS: dict[tuple, int | None] = {}    # (path, size, mtime_ns, inode) -> requests


def trace_length(name: str) -> int | None:
    """The number of requests in the trace ``workload.trace = name`` holds (``find_trace``): its lines
    that are not blank, less an Azure CSV's header, counted without parsing them (the run's reader,
    workloads/serving/traces.py, skips blank lines the same way), once per file while it is unchanged.
    None for a trace not found, of an unknown format or not readable as text (the run says why)."""
    path = find_trace(name) if name else None
    if path is None or path.suffix not in (".jsonl", ".json", ".csv") or not path.is_file():
        return None
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _TRACE_LENGTHS:
            with path.open(encoding="utf-8-sig") as f:
                if path.suffix == ".csv":
                    f.readline()                # the header
                _TRACE_LENGTHS[key] = sum(1 for line in f if line.strip())
        return _TRACE_LENGTHS[key]
    except (OSError, UnicodeDecodeError):
        return None


def replayed_requests(workload) -> int | None:
    """How many requests a ``[workload]`` that replays a trace request by request (arrival = 'trace' or
    'closed' with workload.trace) runs: the first workload.requests of the trace where the key is given,
    all of it otherwise, so any value past the trace's length runs the same requests
    (workloads/serving/requests.py _trace_requests). None for a workload that replays no trace, or whose
    trace is not found."""
    w = workload
    if not (w.trace and w.arrival in ("trace", "closed")):
        return None
    n = trace_length(w.trace)
    if n is None:
        return None
    return min(n, w.requests) if "requests" in w.model_fields_set else n


def find_trace(name: str) -> Path | None:
    """The file ``workload.trace = name`` names: as given, else a trace shipped with dcsim of
    that file name (``TRACE_DIR``); None when neither exists."""
    p = Path(name)
    if p.exists():
        return p
    shipped = TRACE_DIR / p.name
    return shipped if shipped.exists() else None


def preset_names(section: str) -> list[str]:
    names = set()
    for d in _PRESET_DIRS.get(section, []):
        names.update(p.stem for p in Path(d).glob("*.toml"))
    return sorted(names)


def load_preset(section: str, name: str) -> dict:
    for d in _PRESET_DIRS.get(section, []):
        p = Path(d) / f"{name}.toml"
        if p.exists():
            data = tomllib.loads(p.read_text())
            data.pop("description", None)
            return data
    known = preset_names(section)
    raise ConfigError(f"{section}.preset", f"unknown preset {name!r}; known: {', '.join(known) or '(none)'}")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=VALUE`` -> (["a", "b"], value); VALUE is a TOML literal or a bare string. An empty
    VALUE is refused: ``--set`` cannot remove a key (TOML has no null), and ``KEY=`` used to
    become the empty string, which an optional string key such as ``workload.trace`` or
    ``model.preset`` took silently; an empty string is written ``KEY='""'``."""
    if "=" not in item:
        raise ConfigError(item, "--set expects KEY=VALUE")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(key or item, "--set key must be a dotted path such as train.tp")
    if not raw.strip():
        raise ConfigError(key, f"--set {key}= has no value. --set cannot remove a key: to let the default apply, "
                               "delete the key from the config file (`dcsim docs` lists every key's default), or set "
                               f"the default value explicitly; an empty string is --set {key}='\"\"'")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return _key_path(key), value


def _key_path(key: str) -> list[str]:
    """A dotted key's parts as TOML reads them: ``hardware."V100S-mine".hbm_GB`` ->
    ["hardware", "V100S-mine", "hbm_GB"] (a quoted part may hold dots); a key TOML does not
    parse is split at its dots."""
    try:
        node = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        return key.split(".")
    parts = []
    while isinstance(node, dict) and len(node) == 1:
        part, node = next(iter(node.items()))
        parts.append(part)
    return parts


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    data = copy.deepcopy(data)
    keys = []
    for item in overrides or []:
        path, value = parse_override(item)
        keys.append(".".join(path))
        if path == ["jobs"] and value == []:     # ran the top-level config as a single job (exit 3 on cotenant)
            raise ConfigError("jobs", "--set jobs=[] is an empty list: a multi-job config needs its [[jobs]] "
                                      "tables (edit one with --set jobs.N.KEY=VALUE); for a single-workload "
                                      "run, use a config without [[jobs]]")
        node = data
        for part in path[:-1]:
            if isinstance(node, list):      # [[jobs]]: --set jobs.0.gpus=64
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(".".join(path), f"{part} is not an index of the list ({len(node)} entries)")
                node = node[int(part)]
                continue
            if node is data and part == "jobs" and part not in node:
                raise ConfigError(".".join(path), "the config has no [[jobs]] tables to index: --set jobs.N.KEY "
                                  "edits the Nth [[jobs]] of a multi-job config (add [[jobs]] tables, or set the "
                                  "single job's key without the jobs.N prefix)")
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, (dict, list)):
                raise ConfigError(".".join(path), f"{part} is not a table")
            node = nxt
        if isinstance(node, list):
            if not path[-1].isdigit() or int(path[-1]) >= len(node):
                raise ConfigError(".".join(path), f"{path[-1]} is not an index of the list ({len(node)} entries)")
            node[int(path[-1])] = value
        else:
            _warn_replaced_table(".".join(path), node.get(path[-1]), value)
            node[path[-1]] = value
    check_overrides_reach_jobs(data, keys)
    return data


JOB_SECTIONS = ("model", "train", "serve", "workload")     # a [[jobs]] entry's own tables


def check_overrides_reach_jobs(data: dict, keys: list[str], where: str | None = None) -> None:
    """Refuse (``ConfigError`` naming the key, exit 2) an explicit override (``--set``, a sweep's
    ``[set]``, ``[grid]`` or ``[zip]`` key) of a top-level ``model``/``train``/``serve``/``workload``
    key on a config with ``[[jobs]]``: every job runs its own tables, so the override changed
    nothing (``--set train.tp=4`` exited 0, and a sweep over ``train.tp`` ran identical points).
    The message suggests the job's key, ``jobs.N.<key>``. ``where`` prefixes the key (``grid``).
    Likewise a ``failures`` key (a [[jobs]] run has no long horizon; no job has such a key),
    ``run.kind`` (each job's ``kind`` decides) and ``run.steps`` without a training job.
    Such a section written in the config file itself is only warned about (``ineffective_settings``)."""
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        return
    listed = ", ".join(f"{i} = {j.get('name')!r} ({j.get('kind')})" if isinstance(j, dict) else str(i)
                       for i, j in enumerate(jobs))
    for key in keys:
        path = _key_path(key)
        named = f"{where}.{key}" if where else key
        if path[0] == "failures":
            # no per-job key: a [[jobs]] run has no long horizon (run.duration_h is refused with [[jobs]])
            raise ConfigError(named, "has no effect on a config with [[jobs]]: failures, restarts and checkpoints "
                                     "play out in long-horizon runs (run.duration_h), which are single training "
                                     "jobs; a [[jobs]] entry has no failures key (run the training job alone, "
                                     "without [[jobs]], to model them)")
        if path[:2] == ["run", "kind"]:
            raise ConfigError(named, f"has no effect on a config with [[jobs]]: each job gives its own kind; set "
                                     f"jobs.N.kind instead, such as jobs.0.kind (jobs by index from 0: {listed})")
        if path[:2] == ["run", "steps"] and not any(isinstance(j, dict) and j.get("kind") == "train" for j in jobs):
            raise ConfigError(named, f"has no effect: no [[jobs]] entry has kind = 'train' (serving jobs last their "
                                     f"requests; jobs by index from 0: {listed})")
        if path[0] not in JOB_SECTIONS:
            continue
        kinds = {"train": ("train",), "serve": ("serve",), "workload": ("serve",)}.get(path[0], ("train", "serve"))
        fits = [i for i, j in enumerate(jobs) if isinstance(j, dict) and j.get("kind") in kinds] or list(range(len(jobs)))
        raise ConfigError(named,
                          f"has no effect on a config with [[jobs]]: each job runs its own [jobs.{path[0]}] table, "
                          f"so the top-level {path[0]} is ignored; set the job's key instead, such as "
                          f"jobs.{fits[0]}.{key} (jobs by index from 0: {listed})")


def _warn_replaced_table(key: str, old, new) -> None:
    """``--set KEY={...}`` replaces the table at KEY whole (a TOML literal is the key's new
    value): warn on stderr naming the keys the config gave there that the new table drops, which
    ``--set train={tp = 8}`` did silently to the file's other [train] keys."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return
    dropped = [k for k in old if k not in new]
    if dropped:
        import sys
        print(f"warning: --set {key}={{...}} replaces the config's whole {key} table and drops its "
              f"{', '.join(dropped)} (defaults apply); to change one key and keep the others, "
              f"--set {key}.KEY=VALUE", file=sys.stderr)


def expand_presets(data: dict) -> dict:
    """Replace each ``section.preset`` by the preset's keys under the explicit ones. A ``preset``
    key in a section that has none (only ``[model]`` and ``[topology]`` do), or an empty one, is a
    ``ConfigError`` naming it: ``[train] preset = "x"`` read as an unknown preset of an empty list,
    and ``preset = ""`` anywhere was taken silently (a model's as no preset at all)."""
    out = {}
    for section, body in data.items():
        # None: a dumped config's (config_to_dict gives every section's preset), as good as absent
        if isinstance(body, dict) and body.get("preset") is not None and section in SECTIONS:
            if section not in _PRESET_DIRS:
                have = " and ".join(f"[{s}]" for s in sorted(_PRESET_DIRS))
                raise ConfigError(f"{section}.preset", f"[{section}] has no presets (only {have} take a preset "
                                                       f"key); give its keys directly, or remove preset")
            if isinstance(body["preset"], str) and not body["preset"].strip():
                raise ConfigError(f"{section}.preset", f"is empty: name a preset ({', '.join(preset_names(section))}),"
                                                       " or remove the key for no preset")
        if isinstance(body, dict) and body.get("preset"):
            base = load_preset(section, str(body["preset"]))
            merged = {**base, **body}
            out[section] = merged
        else:
            out[section] = body
    return out


_UNION_TAGS = ("int", "LengthDist", "list[float]", "float",
               "function-after[_keys_of_the_distribution(), LengthDist]")


def format_validation_error(err: ValidationError) -> str:
    lines = []
    errors = err.errors()
    # a non-finite number given to a union key (``float | list[float]``) also fails the other
    # branches of the union: report only that it is not finite
    finite = {e["loc"][:2] for e in errors if e["type"] == "finite_number"}
    errors = [e for e in errors if e["type"] == "finite_number" or e["loc"][:2] not in finite]
    # likewise a table given to ``int | LengthDist`` fails the int branch: keep the table's errors
    def path(e):
        return tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
    errors = [e for e in errors if not (e["type"].endswith("_type") or e["type"].endswith("_parsing"))
              or not any((len(path(f)) > len(path(e)) or f["type"] == "value_error")
                         and path(f)[:len(path(e))] == path(e) for f in errors)]
    # a job's placement is a union of two words and a list of ranges: say so in one line
    placement = {e["loc"][:3] for e in errors if len(e["loc"]) >= 3 and e["loc"][0] == "jobs" and e["loc"][2] == "placement"}
    own = {e["loc"][:3] for e in errors if e["loc"][:3] in placement and e["type"] == "value_error"}
    placement -= own      # the ranges' own check (first < last) says more than the generic line
    errors = [e for e in errors if e["loc"][:3] not in placement | own or e["type"] == "value_error"]
    for loc in sorted(placement):
        lines.append(f"jobs.{loc[1]}.placement: must be one of packed, spread, or a list of [first, last) GPU "
                     "index ranges such as [[0, 64]]")
    for e in errors:
        loc = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        msg = e["msg"]
        if e["type"] == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if e["type"] == "finite_number":
            msg = "must be a finite number (NaN and infinities are not settings)"
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(e["loc"])
        if e["type"] in ("model_type", "model_attributes_type", "dict_type"):     # `run = 5`, `[[run]]`
            got = type(e.get("input")).__name__
            got = {"list": "an array", "str": "a string", "int": "a number", "float": "a number",
                   "bool": "a boolean"}.get(got, got)
            msg = f"must be a table ({{key = value, ...}}), got {got}"
        if e["type"] == "string_type" and isinstance(e.get("input"), (int, float, bool)):
            # `name = 123` (or --set run.name=123, read as TOML) is a number: a string is quoted
            got = str(e["input"]).lower() if isinstance(e["input"], bool) else e["input"]
            msg = (f"must be a string, got the {'boolean' if isinstance(e['input'], bool) else 'number'} {got}: "
                   f"quote it ({loc.rsplit('.', 1)[-1]} = \"{got}\"; on the command line --set {loc}='\"{got}\"')")
        lines.append(f"{loc}: {msg}")
    return "; ".join(dict.fromkeys(lines))


# Hugging Face config.json names of [model] keys: a model copied from a checkpoint's config
HF_MODEL_KEYS = {"num_hidden_layers": "layers", "hidden_size": "hidden", "intermediate_size": "ffn_hidden",
                 "num_attention_heads": "heads", "num_key_value_heads": "kv_heads", "vocab_size": "vocab",
                 "max_position_embeddings": "max_context", "tie_word_embeddings": "tied_embeddings",
                 "num_experts": "experts", "num_local_experts": "experts", "n_routed_experts": "experts",
                 "num_experts_per_tok": "top_k", "moe_intermediate_size": "expert_ffn_hidden",
                 "n_shared_experts": "shared_experts", "first_k_dense_replace": "dense_layers",
                 "qk_rope_head_dim": "rope_head_dim", "attention_chunk_size": "attention_chunk",
                 "interleave_moe_layer_step": "moe_every", "num_nextn_predict_layers": "mtp_layers"}


def _did_you_mean(loc: tuple) -> str:
    """``"; did you mean 'tp'?"`` for an unknown key ``loc`` (a pydantic error location) close to a
    key of its section (a top-level section, or a [[jobs]] entry), or a Hugging Face config name
    of a [model] key (``hidden_size`` -> ``hidden``); "" when none is close."""
    import difflib
    if len(loc) < 2 or not isinstance(loc[-1], str):
        return ""
    if loc[-2] == "model" and loc[-1] in HF_MODEL_KEYS:
        return f"; did you mean {HF_MODEL_KEYS[loc[-1]]!r} (Hugging Face's {loc[-1]})?"
    model = SECTIONS.get(loc[-2]) if isinstance(loc[-2], str) else JobSection if loc[0] == "jobs" else None
    return did_you_mean(loc[-1], list(getattr(model, "model_fields", {})))


def did_you_mean(word: str, known) -> str:
    """``"; did you mean 'hbm_GBps'?"`` for an unknown ``word`` that is one of ``known`` but for
    its letters' case, or close to one (difflib, ratio >= 0.75); "" when none is."""
    import difflib
    known = list(known)
    same = [k for k in known if k.casefold() == word.casefold()]
    close = same or difflib.get_close_matches(word, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _in_job(err: ConfigError, data: dict) -> ConfigError:
    """A ``ConfigError`` a section raised while the whole config was validated, re-keyed
    ``jobs.N.KEY`` when it came from job N's tables (each job is validated alone to find it)."""
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not err.key or err.key.startswith("jobs."):
        return err
    for i, job in enumerate(jobs):
        try:
            JobSection.model_validate(job)
        except ConfigError as inner:
            if inner.key == err.key and inner.reason == err.reason:
                return ConfigError(f"jobs.{i}.{err.key}", err.reason)
        except ValidationError:
            pass
    return err


# The top-level keys of a sweep file (sim.app.sweep._SWEEP_KEYS; "name" and "description"
# alone do not make one).
_SWEEP_FILE_KEYS = {"name", "base", "grid", "zip", "set", "description", "replicates"}


def _unknown_top_level(unknown: list[str], data: dict) -> str:
    """Why the top-level keys ``unknown`` are refused: a sweep file given as a run config, a
    section's key written above every section (``seed = 1`` for ``[run] seed``), or neither."""
    known = f"known: {', '.join([*SECTIONS, *TABLES, 'jobs'])}"
    if set(unknown) <= _SWEEP_FILE_KEYS and set(unknown) & {"base", "grid", "zip", "set", "replicates"}:
        return (f"this looks like a sweep file ({', '.join(sorted(unknown))}), not a run config ({known}): run "
                "it with `dcsim sweep`, or give `dcsim run` the run config its base names")
    key = unknown[0]
    homes = [name for name, model in SECTIONS.items() if key in model.model_fields and key != "preset"]
    if homes and not isinstance(data.get(key), dict):
        where = " or ".join(f"{h}.{key}" for h in homes)
        return (f"unknown section; did you mean {where}? (a key written above a config's first [section] "
                f"header belongs to no section); {known}")
    return f"unknown section; {known}"


def validate(data: dict, reads: tuple[str, ...] | None = None, *, whole_run: bool = True) -> Config:
    """The ``Config`` of parsed config data, or a ``ConfigError`` naming the key path and why. Warnings
    (stderr) name the settings that have no effect in it; ``reads``: the only sections the caller
    reads (``dcsim collective`` reads [topology] and [hardware]), so that only warnings about those
    sections are printed (a [serve] that does not apply to run.kind means nothing to such a caller).
    ``whole_run=False``: ``data`` is not a run but what a sweep's points start from (its base + [set]),
    checked key by key without the refusals of a [serve] that cannot serve its model (``serve_refusal``),
    which the sweep's axes may change at every point (each point is then validated whole)."""
    if not isinstance(data, dict):
        raise ConfigError("", "config must be a TOML table")
    unknown = [k for k in data if k not in SECTIONS and k not in TABLES and k != "jobs"]
    if unknown:
        raise ConfigError(unknown[0], _unknown_top_level(unknown, data))
    if "jobs" in data and not isinstance(data["jobs"], list):
        # [jobs] (one table) for [[jobs]] (an array of tables) read as "Input should be a valid list"
        got = "one [jobs] table" if isinstance(data["jobs"], dict) else f"{type(data['jobs']).__name__} {data['jobs']!r}"
        raise ConfigError("jobs", f"expected [[jobs]] tables (double brackets, one per job), got {got}; "
                                  "write each job under its own [[jobs]] header")
    hw = data.get("hardware", {})
    if not isinstance(hw, dict) or not all(isinstance(v, dict) for v in hw.values()):
        raise ConfigError("hardware", 'expected [hardware."NAME"] tables, one per GPU')
    data = expand_presets({k: v for k, v in data.items() if k != "hardware"})
    if isinstance(data.get("jobs"), list):
        jobs = []
        for i, j in enumerate(data["jobs"]):
            try:
                jobs.append(expand_presets(j) if isinstance(j, dict) else j)
            except ConfigError as err:   # a job's unknown preset: name the job's key path
                raise ConfigError(f"jobs.{i}.{err.key}", err.reason) from None
        data["jobs"] = jobs
    try:
        cfg = Config.model_validate({**data, "hardware": hw}, context={"whole_run": whole_run})
    except ConfigError as err:        # raised inside a section: inside a job, name the job's path
        raise _in_job(err, data) from None
    except ValidationError as err:
        first = err.errors()[0]
        error = ConfigError("", format_validation_error(err))
        error.key = ".".join(str(p) for p in first["loc"][:2])
        raise error from None
    check_bounds(cfg)
    from sim import hardware
    for name, row in hw.items():      # before the warnings, which read the GPU (serve.moe_backend)
        hardware.define(name, row, defined_here=tuple(hw))
    warn_unused_sections(data, cfg, reads)
    warn_ineffective_settings(data, cfg, reads)
    return cfg


# Physical bounds of keys whose type alone admits absurd values (1e300 Gb/s NICs give infinite
# energy, 1e-300 Gb/s ones step times of 1e301 s): (lowest, highest), either may be None. Generous
# on both sides of what exists (NICs ship at 100 Mb/s to 1.6 Tb/s, NVLink 5 is 900 GB/s per GPU
# per direction; bandwidth bounds leave room for "free" communication in what-if studies), PUE is 1.03-2.5 in practice (Uptime Institute surveys), GPU boards draw <= ~2 kW.
PHYSICAL_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "topology.nic_Gbps": (0.1, 1e7),
    "topology.scaleup_GBps": (0.1, 1e7),
    "topology.pcie_GBps": (0.1, 1e7),
    "topology.host_GBps": (0.1, 1e7),
    "topology.ssd_GBps": (1e-3, 1e7),
    "topology.storage_GBps": (1e-3, 1e7),
    "topology.scaleup_latency_us": (None, 1e6),
    "topology.scaleout_latency_us": (None, 1e6),
    "power.pue": (None, 10.0),
    "power.gpu_cap_W": (1.0, 1e5),
    "power.host_W": (None, 1e6),
    "cost.gpu_hour_usd": (None, 1e6),
    "cost.capex_usd_per_gpu": (None, 1e9),
    "cost.kwh_usd": (None, 1e4),
    "cost.depreciation_years": (0.01, 100.0),
    # KV tiers per replica: a server holds at most ~30 TB of DRAM and ~1 PB of NVMe; 100x that
    # catches a size given in bytes (1e12 for 1000 GB) instead of a silent near-infinite cache
    "serve.host_kv_GB": (None, 1e6),
    "serve.ssd_kv_GB": (None, 1e8),
    # an engine's CPU time per iteration is tens of us to a few ms; a second per iteration (as the
    # latencies' 1e6 us) is past any engine. 1e300 ran, with durations of 1e294 s where simulated
    # time has no microsecond left
    "serve.schedule_overhead_us": (None, 1e6),
    # a DP gradient bucket is a slice of the gradients (Megatron: 40M elements, ~160 MB); more
    # than 100 GB exceeds any GPU's memory, so 25e6 is bytes or elements given as MB
    "train.dp_bucket_MB": (None, 1e5),
    # Megatron's capacity is ceil(tokens x top_k / experts x factor) tokens, at least one: used
    # factors are 1-2 (GShard 1.25, Switch 1.0-1.25); below 0.001 each expert keeps under 0.1% of its
    # mean tokens. 1e-200 underflowed the dispatch bytes and deadlocked the simulation (exit 4)
    "train.moe_capacity_factor": (1e-3, None),
}


INT64_MAX = 2 ** 63 - 1


def check_bounds(cfg: "Config") -> None:
    """Refuse (``ConfigError`` naming the key and the bound, exit 2) a value of a key in
    ``PHYSICAL_BOUNDS`` outside its physical range."""
    scopes = [("", cfg)] + [(f"jobs.{i}.", job) for i, job in enumerate(cfg.jobs)]
    for prefix, scope in scopes:
        for section in SECTIONS:
            # an integer past int64 reached a Parquet column or a numpy array as an OverflowError
            # traceback (serve.tp = 2**63 beside prefill_tp / decode_tp, which leave tp unused)
            sec = getattr(scope, section, None)
            for name in getattr(type(sec), "model_fields", {}):
                value = getattr(sec, name)
                values = value if isinstance(value, list) else [value]
                if any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT64_MAX for v in values):
                    raise ConfigError(f"{prefix}{section}.{name}", f"{value} is beyond {INT64_MAX:,} (2**63 - 1), "
                                      "the largest integer dcsim's tables hold, and any count or size a run has")
        for key, (lo, hi) in PHYSICAL_BOUNDS.items():
            section, name = key.split(".")
            value = getattr(getattr(scope, section, None), name, None)
            if value is None or isinstance(value, bool):
                continue
            if lo is not None and value < lo:
                raise ConfigError(prefix + key, f"{value:g} is below the physical bound of {lo:g}")
            if hi is not None and value > hi:
                raise ConfigError(prefix + key, f"{value:g} is above the physical bound of {hi:g}")


def read_toml(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), "config file not found")
    if p.is_dir():
        raise ConfigError(str(p), "is a directory, not a TOML config file")
    try:
        data = anchor_traces(tomllib.loads(p.read_text(encoding="utf-8-sig")), p.parent)   # -sig: a BOM (Windows editors)
    except UnicodeDecodeError:
        raise ConfigError(str(p), "is not a text file (binary?); a config is a UTF-8 TOML file") from None
    except OSError as err:
        raise ConfigError(str(p), f"cannot be read: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(p), f"not valid TOML: {err}") from None
    if not _has_value(data):
        # an empty file (or only comments, or only empty tables such as [run]) ran every default and
        # failed later, far from the cause (the default training job does not fit in memory: exit 3)
        raise ConfigError(str(p), "empty config: the file sets no key (it is empty, or holds only comments, "
                                  "whitespace and empty tables such as [run]); start from an example that runs: runs/quickstart.toml (training), "
                                  "runs/quickstart-serving.toml (serving) or runs/train-sweep.toml (a sweep: name, "
                                  "base and [grid])")
    if data.get("jobs") == []:
        # a file's jobs = [] ran the default single training job instead (a run not asked for);
        # a dumped config (model_dump) holds jobs = [] for every single-workload run, so only a file is checked
        raise ConfigError("jobs", "is an empty list: give one [[jobs]] table per job (name, kind, gpus), "
                                  "or remove jobs for a single-workload run")
    return data


def _has_value(table: dict) -> bool:
    """Whether a parsed TOML table sets any key to a value (a table nested in it counts only
    through its own keys: ``[run]`` alone sets nothing)."""
    return any(not isinstance(v, dict) or _has_value(v) for v in table.values())


def anchor_traces(data: dict, config_dir: Path) -> dict:
    """A config file's relative ``workload.trace`` (also a job's) names a file beside the config
    when it is not found from the current directory: ``trace = "t.csv"`` next to ``run.toml``
    works from anywhere (as a sweep's ``base``). The path is made absolute there; a trace found
    from the current directory, or not beside the config either (a trace shipped with dcsim), is
    left as written."""
    for _, w in trace_tables(data):
        trace = w["trace"]
        if not Path(trace).is_absolute() and not Path(trace).exists():
            beside = config_dir / trace
            if beside.is_file():
                w["trace"] = str(beside.resolve())
    return data


def trace_tables(data: dict) -> list[tuple[str, dict]]:
    """The ``[workload]`` tables of config data (as parsed, or a validated config's ``config_to_dict``)
    that name a trace file, each with its key path: ``workload`` and each ``[[jobs]]`` entry's
    ``jobs.N.workload``."""
    tables = [("workload", data.get("workload"))]
    if isinstance(data.get("jobs"), list):
        tables += [(f"jobs.{i}.workload", j.get("workload")) for i, j in enumerate(data["jobs"]) if isinstance(j, dict)]
    return [(key, w) for key, w in tables if isinstance(w, dict) and isinstance(w.get("trace"), str) and w["trace"]]


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                data: dict | None = None, reads: tuple[str, ...] | None = None) -> Config:
    """The validated ``Config`` of a file (or ``data``) with ``--set`` overrides; ``reads``: as
    ``validate``'s (warnings about the sections a caller reads only)."""
    base = read_toml(path) if path is not None else copy.deepcopy(data or {})
    merged = apply_overrides(base, overrides)
    if path is not None and overrides:     # --set workload.trace=t.csv: beside the config too, as the file's own
        anchor_traces(merged, Path(path).parent)
    return validate(merged, reads)


def config_to_dict(cfg: Config) -> dict:
    return cfg.model_dump(mode="json", exclude_none=False)


# Sections a run of each kind ignores ([[jobs]] configs carry theirs per job).
UNUSED_SECTIONS = {"train": ("serve", "workload"), "serve": ("train",)}
_WARNED_UNUSED: set[tuple[str, str]] = set()


def warn_unused_sections(data: dict, cfg: "Config", reads: tuple[str, ...] | None = None) -> list[str]:
    """Warn on stderr (once per section and kind in a process) when the config gives a section
    that its ``run.kind`` ignores, such as ``[train]`` with ``--set run.kind=serve``: the run is
    valid, but those keys have no effect. Returns the sections warned about. ``reads``: the
    sections the caller reads (others are not warned about: ``validate``)."""
    import sys
    if cfg.jobs:
        return []
    given = [s for s in UNUSED_SECTIONS.get(cfg.run.kind, ())
             if isinstance(data.get(s), dict) and data[s] and (reads is None or s in reads)]
    for section in given:
        if (section, cfg.run.kind) not in _WARNED_UNUSED:
            _WARNED_UNUSED.add((section, cfg.run.kind))
            print(f"warning: [{section}] does not apply to run.kind = {cfg.run.kind!r}; its keys are ignored",
                  file=sys.stderr)
    return given


_WARNED_INEFFECTIVE: set[str] = set()


def ineffective_settings(data: dict, cfg: "Config", runs: bool = True) -> list[str]:
    """Settings the config gives that have no effect in it, one message each naming the key and
    why: ``serve.router_weights``/``router_max_kv_utilization`` without router = 'weighted',
    ``train.sequence_parallel`` with tp = 1, ``train.virtual_stages`` > 1 without the
    interleaved schedule, and top-level ``[model]``/``[train]``/``[serve]``/``[workload]`` next
    to ``[[jobs]]`` (each job carries its own), ``serve.moe_backend`` where its kernel is not what the
    experts run (``_inert_moe_backend``), ``workload.requests`` past a replayed trace's end
    (``replayed_requests``). Every such warning a run gives about a config key
    is decided here, before the run, from the config alone (with the engine's defaults,
    ``engine_scheduler``), so that ``dcsim sweep`` refuses an axis it names at every point
    (sim/app/sweep.py unread_axes) instead of running identical points. ``runs``: whether the caller
    runs the config (``dcsim run``, a sweep's points); ``dcsim traffic`` reads run.rate_tolerance."""
    out = []
    if cfg.jobs:
        for section in ("model", "train", "serve", "workload"):
            if isinstance(data.get(section), dict) and data[section]:
                out.append(f"[{section}] next to [[jobs]] is ignored: each job runs its own [jobs.{section}] "
                           f"table; move its keys into the jobs that need them")
        for key in _given(cfg.failures, *type(cfg.failures).model_fields):
            if key != "preset":
                out.append(f"failures.{key} has no effect with [[jobs]]: failures, restarts and checkpoints "
                           "play out in long-horizon runs (run.duration_h), which are single training jobs")
        if _given(cfg.run, "steps") and not any(j.kind == "train" for j in cfg.jobs):
            out.append("run.steps has no effect: no [[jobs]] entry has kind = 'train' (serving jobs last "
                       "their requests)")
    scopes = [(f"jobs.{i}.", j.kind, j) for i, j in enumerate(cfg.jobs)] if cfg.jobs else [("", cfg.run.kind, cfg)]
    for prefix, kind, scope in scopes:
        if kind == "serve":
            serve = scope.serve
            for key in ("router_weights", "router_max_kv_utilization"):
                if getattr(serve, key) is not None and serve.router != "weighted":
                    out.append(f"{prefix}serve.{key} has no effect with router = {serve.router!r}; "
                               "it weighs the scorers of router = 'weighted'")
            sp = serve.speculative
            if sp is not None and sp.method == "draft" and "draft_layers" not in sp.model_fields_set:
                # method is a label: every method is costed by draft_layers, whose default is a one-layer head
                out.append(f"{prefix}serve.speculative.method = 'draft' is costed as draft_layers = 1 target layer "
                           "per draft step (the default, an EAGLE / MTP head's); set draft_layers to the draft "
                           "model's cost in target layers (its layers x its hidden^2 over the target's hidden^2)")
        if kind == "train":
            train = scope.train
            if train.sequence_parallel and train.tp == 1:
                out.append(f"{prefix}train.sequence_parallel has no effect with tp = 1: sequence parallelism "
                           "splits the tensor-parallel group's activations")
            if train.virtual_stages > 1 and train.schedule != "interleaved":
                out.append(f"{prefix}train.virtual_stages = {train.virtual_stages} has no effect with schedule = "
                           f"{train.schedule!r}; model chunks per rank are the interleaved schedule's")
        out += _inert_settings(prefix, kind, scope, cfg)
    out += _inert_topology(cfg.topology)
    for name in cfg.hardware:
        if name != cfg.topology.gpu:
            out.append(f"[hardware.{name!r}] has no effect: topology.gpu = {cfg.topology.gpu!r} does not use it; "
                       f"set topology.gpu = {name!r} to run on it")
    if cfg.jobs and _given(cfg.run, "kind"):
        out.append("run.kind has no effect with [[jobs]]: each job gives its own kind")
    if runs and _given(cfg.run, "rate_tolerance"):
        out.append("run.rate_tolerance has no effect on a run: only `dcsim traffic` reads it (training, serving "
                   "and [[jobs]] runs solve every flow completion exactly)")
    return out


def _inert_topology(t) -> list[str]:
    """``[topology]`` keys given without effect: ``torus_dims`` off a torus, ``pod_gpus`` off a
    3-tier Clos, ``speed_spread`` where ``speed_cv`` draws each GPU's speed."""
    out = []
    if _given(t, "torus_dims") and t.fabric != "torus3d":
        out.append(f"topology.torus_dims has no effect with fabric = {t.fabric!r}; it shapes fabric = 'torus3d'")
    if _given(t, "pod_gpus") and not (t.tiers == 3 and t.fabric in ("fat-tree", "rail-optimized")):
        out.append(f"topology.pod_gpus has no effect with fabric = {t.fabric!r}, tiers = {t.tiers}; pods are "
                   "the middle tier of a 3-tier fat-tree or rail-optimized fabric")
    if _given(t, "speed_spread") and t.speed_cv > 0:
        out.append("topology.speed_spread has no effect with speed_cv > 0: speed_cv draws each GPU's speed")
    if _given(t, "routing") and t.routing != "static" and (t.fabric in ("torus3d", "none") or t.tiers == 1):
        out.append(f"topology.routing = {t.routing!r} has no effect with fabric = {t.fabric!r}, tiers = {t.tiers}: "
                   "it chooses among a Clos fabric's equal-cost spine (and core) uplinks, which this fabric "
                   "does not have")
    return out


def zero_shards_nothing(dp: int, cp: int, tp: int, etp: int, ep: int, moe: bool) -> bool:
    """Whether ZeRO has nothing to shard over: a data-parallel group of one rank (``dp x cp = 1``,
    over which ZeRO shards the dense parameters) whose experts, if any, have no expert
    data-parallel peers either (``tp x cp x dp / (etp x ep) = 1``). Sharding over one rank keeps
    every byte and moves none, so such a plan costs and holds exactly what zero = 0 does: no
    parameter gathers, no FSDP per-block hooks, no prefetch buffers. PyTorch FSDP does the same
    (torch/distributed/fsdp/_init_utils.py warns "FSDP is switching to use `NO_SHARD` instead of
    ShardingStrategy.FULL_SHARD since the world size is 1"); Megatron's distributed optimizer
    over a group of one reduce-scatters and gathers nothing. Read by the training plan
    (workloads/training/plan.py effective_zero) and by the config's warning of a zero that has
    no effect."""
    edp = max(tp * cp * dp // (etp * ep), 1)
    return dp * cp == 1 and (not moe or edp == 1)


def _given(section, *keys: str) -> list[str]:
    """The ``keys`` a config (or a preset it loads) set explicitly in a section model."""
    return [k for k in keys if k in getattr(section, "model_fields_set", set())]


def _inert_settings(prefix: str, kind: str, scope, cfg: "Config") -> list[str]:
    """More settings without effect (see ``ineffective_settings``), each given explicitly:
    arrival-process keys the chosen ``workload.arrival`` does not read, disaggregation keys
    without prefill and decode replicas, MoE keys on a dense model, ``virtual_stages`` with
    ``pp = 1``, checkpoint and ``[failures]`` keys without a long horizon (``run.duration_h`` or
    ``run.token_budget``), ``cost.depreciation_years`` without ``capex_usd_per_gpu``,
    ``run.baseline`` without ``[[jobs]]``, and a job's tables its kind does not run."""
    out = []
    if prefix:
        job = scope
        unused = {"train": ("serve", "workload"), "serve": ("train",)}[kind]
        for section in unused:
            if getattr(job, section).model_fields_set:
                out.append(f"{prefix}{section} does not apply to kind = {kind!r}; its keys are ignored")
    if scope.model.experts == 0:
        for key in _given(scope.model, "moe_every", "checkpoint_expert_precision", "expert_load_cv", "expert_groups",
                          "expert_group_topk"):
            out.append(f"{prefix}model.{key} has no effect on a dense model (model.experts = 0)")
    if kind == "train" and (scope.model.attention_chunk or 0) > scope.model.seq_len:
        for key in _given(scope.model, "attention_chunk"):
            out.append(f"{prefix}model.{key} = {scope.model.attention_chunk} has no effect with model.seq_len = "
                       f"{scope.model.seq_len}: every training sequence fits in one chunk (full attention)")
    if scope.model.sliding_window is None and scope.model.attention_chunk is not None:
        for key in _given(scope.model, "attention_sinks"):
            out.append(f"{prefix}model.{key} has no effect with model.attention_chunk (sinks belong to sliding windows)")
    if scope.model.sliding_window is None and scope.model.attention_chunk is None:
        for key in _given(scope.model, "global_every", "attention_sinks"):
            out.append(f"{prefix}model.{key} has no effect without model.sliding_window (every layer attends the "
                       "full context)")
    if kind == "serve":
        w, s = scope.workload, scope.serve
        reads = {"cv": ("gamma",), "concurrency": ("closed",), "time_scale": ("trace",),
                 "rate": ("poisson", "gamma")}
        for key in _given(w, *reads):
            if w.arrival not in reads[key]:
                out.append(f"{prefix}workload.{key} has no effect with arrival = {w.arrival!r}; "
                           f"only arrival = {' or '.join(repr(a) for a in reads[key])} reads it")
        if not (s.prefill_replicas > 0 and s.decode_replicas > 0):
            for key in _given(s, "prefill_tp", "decode_tp", "kv_transfer"):
                out.append(f"{prefix}serve.{key} has no effect without disaggregation (prefill_replicas "
                           "and decode_replicas > 0)")
        if w.arrival == "closed" and _given(w, "concurrency") and w.concurrency > w.requests:
            out.append(f"{prefix}workload.concurrency = {w.concurrency} is above workload.requests = {w.requests}: "
                       f"only {w.requests} requests are ever in flight (all of them start at once); raise "
                       "requests or lower concurrency")
        ckpt = scope.model.checkpoint_expert_precision
        if ckpt and scope.model.experts and not s.expert_precision and s.precision != ckpt:
            out.append(f"{prefix}serve.expert_precision is unset, so {scope.model.name}'s routed experts run at "
                       f"serve.precision = {s.precision!r}, though its checkpoint stores them as {ckpt!r} "
                       f"(model.checkpoint_expert_precision); set serve.expert_precision = {ckpt!r} to serve "
                       "the released checkpoint, or to serve.precision to keep this and silence the warning")
        if s.dp_attention and s.pp == 1 and max(s.tp, s.prefill_tp or 1, s.decode_tp or 1) == 1:
            out.append(f"{prefix}serve.dp_attention has no effect with tp = 1: attention runs data-parallel, "
                       "and the experts expert-parallel, over the replica's tp GPUs (ep = tp); raise serve.tp")
        if s.redundant_experts and not s.dp_attention:
            out.append(f"{prefix}serve.redundant_experts has no effect without serve.dp_attention = true")
        if s.dp_balance is not None and not s.dp_attention:
            out.append(f"{prefix}serve.dp_balance has no effect without serve.dp_attention = true")
        if not s.prefix_cache:
            for key in _given(s, "host_kv_GB", "ssd_kv_GB"):
                out.append(f"{prefix}serve.{key} has no effect without serve.prefix_cache = true: the host and SSD "
                           "KV tiers hold the prefix cache's evicted blocks (preemption = 'swap' copies to host "
                           "memory without this bound)")
        scheduler = engine_scheduler(s)
        if _given(s, "chunk_size") and scheduler != "sarathi":
            # only the chunked-prefill scheduler reads it (vLLM V0's prefill-first and orca take whole prompts)
            how = "serve.scheduler" if _given(s, "scheduler") else f"{s.engine or DEFAULT_ENGINE}'s default"
            out.append(f"{prefix}serve.chunk_size has no effect with scheduler = {scheduler!r} ({how}): only "
                       "scheduler = 'sarathi' (chunked prefill) splits prompts into chunks")
        if s.prefix_cache and not carries_prefix_blocks(w):
            # the cache matches prompts by their prefix blocks: synthetic prompts carry none (hit rate 0)
            out.append(f"{prefix}serve.prefix_cache = true has no effect here: the workload's requests carry no "
                       "prefix blocks (only a trace's hash ids give them, replayed with arrival = 'trace' or "
                       "'closed', e.g. workload.trace = 'mooncake_fast25_conversation_trace.jsonl'; synthetic "
                       "prompts share none), so prefix_hit_rate is 0")
        if s.router == "prefix-aware" and not (s.prefix_cache and carries_prefix_blocks(w)):
            # the prefix-aware router falls back to least-loaded without both: say so rather than run it silently
            why = ("the replicas hold no prefix cache (serve.prefix_cache = false)" if not s.prefix_cache else
                   "the workload's requests carry no prefix blocks (only a trace's hash ids give them; synthetic "
                   "prompts share none)")
            out.append(f"{prefix}serve.router = 'prefix-aware' routes as 'least-loaded' here: {why}, so no replica "
                       "has a cached prefix to prefer")
        row = engine_row(s.engine)
        if s.async_scheduling and not (s.schedule_overhead_us or row["step_us"]) and not row["step_us_per_seq"]:
            out.append(f"{prefix}serve.async_scheduling = true has no effect with engine {s.engine or DEFAULT_ENGINE!r}: "
                       "its profile exposes no per-step scheduler CPU to hide (engines.toml step_us = "
                       "step_us_per_seq = 0; its overlapped host work is overlap_us_per_seq) and "
                       "serve.schedule_overhead_us is unset")
        if s.moe_backend and scope.model.experts > 0:
            out += _inert_moe_backend(prefix, scope.model.name, s, cfg.topology.gpu)
        cap = replayed_requests(w)
        if cap is not None and _given(w, "requests") and w.requests > cap:
            # the run replays the trace's requests, no more: every value past its length is the same run
            out.append(f"{prefix}workload.requests = {w.requests:,} exceeds the {cap:,} requests of {w.trace}; the "
                       f"run replays those {cap:,} (a value above {cap:,} has no effect: the same run as "
                       f"workload.requests = {cap:,})")
        if _given(s, "chunk_size") and s.scheduler == "sarathi" and s.chunk_size > s.max_batch_tokens:
            out.append(f"{prefix}serve.chunk_size = {s.chunk_size} is above serve.max_batch_tokens = "
                       f"{s.max_batch_tokens}: scheduler = 'sarathi' fills each step to chunk_size tokens, so "
                       "steps hold more than max_batch_tokens; give chunk_size <= max_batch_tokens")
        if not prefix:
            given = [f"run.{k}" for k in _given(cfg.run, "steps")]
            given += [f"failures.{k}" for k in _given(cfg.failures, *type(cfg.failures).model_fields)
                      if k != "preset"]
            for key in given:
                out.append(f"{key} has no effect with run.kind = 'serve': a serving run lasts its requests "
                           "(workload.requests)")
    if kind == "train":
        t = scope.train
        # serving-only model keys (their docs: "Read by serving runs only", "training ignores it"); a
        # model preset's own values (deepseek-v3's routing statistics, Llama 4's encoder) are no warning
        serving_only = _given(scope.model, "expert_load_cv", "expert_groups", "expert_group_topk", "encoder_params",
                              "mtp_layers")
        if serving_only:
            preset = load_preset("model", str(scope.model.preset)) if scope.model.preset else {}
            for key in serving_only:
                if scope.model.experts == 0 and key not in ("encoder_params", "mtp_layers"):
                    continue        # warned above as a dense model's
                if key not in preset or preset[key] != getattr(scope.model, key):
                    out.append(f"{prefix}model.{key} has no effect on a training run: serving runs read it (a "
                               "training step takes balanced routing over all experts and computes no encoder or MTP module)")
        if scope.model.experts == 0:
            for key in _given(t, "moe_imbalance", "moe_dispatcher", "moe_capacity_factor"):
                out.append(f"{prefix}train.{key} has no effect on a dense model (model.experts = 0)")
        elif t.ep == 1 and t.moe_dispatcher == "deepep" and _given(t, "moe_dispatcher"):
            # the dispatcher moves tokens between expert-parallel ranks (workloads/training/costs.py
            # issues the EP all-to-alls only with ep > 1): with every expert local nothing is sent
            out.append(f"{prefix}train.moe_dispatcher = 'deepep' has no effect with {prefix}train.ep = 1: DeepEP "
                       "dispatches tokens between expert-parallel ranks, and with ep = 1 every rank holds every "
                       "expert, so no token is dispatched; set ep > 1 for expert parallelism, or leave "
                       "moe_dispatcher out")
        if not prefix and t.dp is not None and not cfg.jobs:
            ranks = t.tp * t.cp * t.pp * t.dp
            if ranks < cfg.topology.gpus:
                out.append(f"train.dp = {t.dp} runs the job on {ranks} of the topology's {cfg.topology.gpus} GPUs "
                           f"(tp x cp x pp x dp); the other {cfg.topology.gpus - ranks} stay idle and are not in "
                           "the summary's gpus, energy or cost; leave dp unset to use every GPU")
        if prefix and t.dp is not None:
            # a [[jobs]] training job holds its jobs.N.gpus: the ones its plan leaves out are billed and
            # draw idle power (sim.app.accounting), as a serving job's idle GPUs
            ranks = t.tp * t.cp * t.pp * t.dp
            if ranks < scope.gpus:
                out.append(f"{prefix}train.dp = {t.dp} runs job {scope.name!r} on {ranks} of its {prefix}gpus = "
                           f"{scope.gpus} GPUs (tp x cp x pp x dp); the other {scope.gpus - ranks} stay idle: its "
                           f"summary row has gpus = {scope.gpus} (the job's), and energy_J and usd count all of them "
                           f"(the idle ones billed by the hour and drawing idle power); leave dp unset to use every "
                           f"GPU, or set {prefix}gpus = {ranks}")
        if t.zero > 0:
            # the plan runs it as zero = 0 (zero_shards_nothing)
            inner = t.tp * t.cp * t.pp
            gpus = scope.gpus if prefix else cfg.topology.gpus
            dp = t.dp if t.dp is not None else (gpus // inner if gpus % inner == 0 else 0)
            if dp and zero_shards_nothing(dp, t.cp, t.tp, t.etp or t.tp, t.ep, scope.model.experts > 0):
                out.append(f"{prefix}train.zero = {t.zero} has no effect with a data-parallel group of one rank "
                           f"(dp x cp = 1): nothing to shard over, the step runs and holds what zero = 0 does "
                           "(FSDP's NO_SHARD at world size 1)")
        if t.pp == 1:
            for key in _given(t, "first_stage_layers", "last_stage_layers"):
                out.append(f"{prefix}train.{key} has no effect with pp = 1 (one pipeline stage holds every layer)")
        if t.virtual_stages > 1 and t.schedule == "interleaved" and t.pp == 1:
            out.append(f"{prefix}train.virtual_stages = {t.virtual_stages} has no effect with pp = 1: "
                       "the interleaved schedule splits each pipeline rank's layers into chunks")
        if not prefix and cfg.run.duration_h is None and cfg.run.token_budget is None:
            given = [f"train.{k}" for k in _given(t, "checkpoint_interval_s", "checkpoint_async")]
            given += [f"failures.{k}" for k in _given(cfg.failures, *type(cfg.failures).model_fields)
                      if k != "preset"]
            for key in given:
                out.append(f"{key} has no effect without run.duration_h or run.token_budget (a long-horizon "
                           "run with failures and checkpoints)")
        if prefix:
            for key in _given(t, "checkpoint_interval_s", "checkpoint_async"):
                out.append(f"{prefix}train.{key} has no effect in a [[jobs]] run: checkpoints and failures play "
                           "out in long-horizon runs (run.duration_h), which are single training jobs")
    if not prefix:
        if _given(cfg.cost, "depreciation_years") and cfg.cost.capex_usd_per_gpu is None:
            out.append("cost.depreciation_years has no effect without cost.capex_usd_per_gpu")
        if _given(cfg.run, "baseline") and not cfg.jobs:
            out.append("run.baseline has no effect without [[jobs]]")
    return out


def _inert_moe_backend(prefix: str, model: str, s, gpu: str) -> list[str]:
    """``serve.moe_backend`` where its kernel is not what the experts run (an MoE model's; a dense model's,
    or a kernel the engine does not have, is refused by the config: ``serve_refusal``): a weight-only kernel (triton, marlin) on experts with their own MMA, TRTLLM-gen
    on weight-only experts or a GPU without FP4 tensor cores, CUTLASS (off TensorRT-LLM, whose default it
    is) on experts whose MMA is not FP4 on such a GPU. Priced as the serving cost model does
    (workloads/serving/deployment.py, IterationCost.set_fused_moe_backend / set_mixed_input_kernel) from the
    config alone (``expert_kernel``), so a sweep refuses such an axis before any point runs."""
    fp4 = _fp4_tensor_cores(gpu)
    if fp4 is None:
        return []
    mma, weight_only = expert_kernel(s, fp4)
    backend, out = s.moe_backend, []
    if backend in ("triton", "marlin") and not weight_only:
        out.append(f"{prefix}serve.moe_backend = {backend!r} (a weight-only MoE kernel) has no effect: "
                   f"{model}'s routed experts run their own MMA, not weights narrower than it "
                   f"({s.expert_precision or s.precision} experts on {gpu}: serve.expert_precision, "
                   "default serve.precision); remove it or serve narrower experts")
    if backend == "trtllm_gen" and (weight_only or not fp4):
        why = ("its routed experts are weight-only (weights narrower than their MMA)" if weight_only
               else f"{gpu} has no FP4 tensor cores")
        out.append(f"{prefix}serve.moe_backend = 'trtllm_gen' has no effect: {why}; TRTLLM-gen's kernels are "
                   "modelled on GPUs with FP4 tensor cores (Blackwell) for experts that run their own MMA, "
                   "so the experts run the dense curve")
    engine = s.engine or DEFAULT_ENGINE
    fp4_experts = not weight_only and mma.removeprefix("nv") == "fp4" and fp4
    if backend == "cutlass" and engine_row(engine).get("fused_moe_backend", "") != "cutlass" and not fp4_experts:
        # the CUTLASS class is priced for FP4 experts on GPUs with FP4 tensor cores; elsewhere it is the
        # dense curve, the same as this engine's default
        out.append(f"{prefix}serve.moe_backend = 'cutlass' has no effect: its own terms (calibration.toml [fused_moe] "
                   f"cutlass_fp4_*) are modelled for experts whose MMA runs at FP4 on GPUs with FP4 tensor "
                   f"cores, and {gpu}'s experts here run {mma}" + (" weight-only" if weight_only else "")
                   + f", priced as the dense curve (serve.engine = {engine!r} default)")
    return out


def message_section(message: str) -> str:
    """The top-level section an ``ineffective_settings`` message is about: the section of the key
    it starts with (``topology.routing = ...`` -> topology, ``[hardware.'X'] ...`` -> hardware,
    ``jobs.0.serve.tp ...`` -> jobs)."""
    m = re.match(r"\[*([A-Za-z_]+)", message)
    return m.group(1) if m else ""


def warn_ineffective_settings(data: dict, cfg: "Config", reads: tuple[str, ...] | None = None) -> list[str]:
    """Print each of ``ineffective_settings`` on stderr as a warning (once per message in a
    process, as ``warn_unused_sections``); returns the messages. ``reads``: only the messages
    about these sections (``validate``)."""
    import sys
    found = [m for m in ineffective_settings(data, cfg, runs=reads is None)
             if reads is None or message_section(m) in reads]
    for message in found:
        if message not in _WARNED_INEFFECTIVE:
            _WARNED_INEFFECTIVE.add(message)
            print(f"warning: {message}", file=sys.stderr)
    return found
