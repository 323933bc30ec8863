"""The cost of one serving iteration on one replica: compute from the shared roofline model,
communication from the replica's links, memory from the model's weights and KV bytes.

Vocabulary:
- batch descriptors (numpy arrays, one entry per iteration, so a run of identical-shape decode
  iterations is costed in one vectorized call):
  ``tokens`` (query tokens processed: prefill chunk tokens + one per decoding sequence),
  ``samples`` (sequences that sample a token: the LM head's rows),
  ``attn_pairs`` (query x key pairs of attention: a decode over context d adds d; a prefill chunk
  of c tokens after p cached tokens adds c*p + c*c/2, causal),
  ``kv_read`` (tokens of KV read by attention: a decode reads its context, a chunk its keys).
  With sliding-window attention (``model.sliding_window``, ``global_every``, ``attention_sinks``)
  ``attn_pairs`` and ``kv_read`` are layer-averaged: a windowed layer's queries attend at most
  K = window + sinks keys, so a decode over context d counts f d + (1 - f) min(d, K) (f: the
  fraction of full-context layers); ``chunk_pairs``, ``chunk_kv``, ``kv_tokens`` and
  ``decode_contexts`` give them, and ``kv_tokens`` x ``kv_token_gpu`` is a sequence's KV bytes
  per GPU (windowed layers keep only their window: vLLM's hybrid KV cache manager; an engine whose one
  pool keeps every token, TensorRT-LLM, holds ``kv_blocks`` of the whole context: ``keep_window_kv``).
  With chunked local attention (``model.attention_chunk`` C, Llama 4) a chunked layer's query at
  position p attends only its own chunk, p - C floor((p - 1)/C) keys: ``attn_pairs`` and
  ``kv_read`` are layer-averaged the same way (a decode over context d reads f d + (1 - f) x
  (d - C floor((d - 1)/C))). The KV a chunked layer keeps is the engine's choice; modelled:
  every token (``kv_blocks`` as without chunking), as the engines run Llama 4 by default:
  TensorRT-LLM's one KV pool of uniform layers (chunked attention is a mask of its attention
  kernels, docs/source/features/long-sequence.md "Chunked attention"; per-layer windows only
  through kv_cache_config.max_attention_window, which the perf overview's Llama 4 options do not
  set) and vLLM, which turns its hybrid KV cache manager off for chunked local attention unless
  VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1 ("latency regression", vllm/config/vllm.py).
- per GPU: a replica of ``tp x pp`` GPUs holds 1/(tp*pp) of the weights (TP splits every matmul,
  PP splits the layers); KV heads split over TP (replicated when tp > kv_heads; MLA's latent is
  replicated on every TP rank).
- ``IterationCost.times(...)``: seconds per iteration = pp x stage compute (a batch crosses the
  stages in turn; a PP replica runs pp such batches in flight, see deployment.py) + exposed
  TP/EP/PP communication + the engine's per-iteration scheduling overhead. Weight reads make decode bandwidth-bound at small batch;
  the 2 x tokens x parameters FLOPs make it compute-bound at large batch.
- scalar path: ``IterationCost.batch(tokens, samples, attn_pairs, kv_read)`` prices one
  iteration batch on Python floats and returns a ``BatchCost`` (time, compute and
  communication seconds, model FLOPs and HBM bytes, TP/EP and PP bytes per GPU) in one call;
  ``decode_run(batch, context, steps)`` prices ``steps`` consecutive decode iterations of
  ``batch`` sequences whose summed context starts at ``context`` (a macro-step) and returns a
  ``DecodeRun``. Both use per-replica constants precomputed at construction and give the
  vectorized methods' results (``times``, ``comm_bytes``, ``model_flops``, ...) to rounding.
- decode attention's grid (``split_kv``, ``_kv_occupancy_s``): one CTA per sequence and local KV
  head (FlashMLA: per 64 heads) streams at most ``cta_read_GBps``; engines' split-KV kernels add
  a CTA per ``split_kv_block_tokens`` keys, a bare SDPA call (``split_kv = False``) does not.
- chunked decode on MMHA (``set_mmha_chunked_decode``: TensorRT-LLM on Hopper, max_seq_len over the
  chunk): a chunked layer's decode key reads as ``decode_chunk_weight`` XQA keys in time
  (``decode_kv_read``, ``decode_contexts(weighted=True)``); pairs and FLOPs keep the model's counts, as
  do a decode macro-step's HBM bytes (a mixed step's ``BatchCost.hbm_bytes`` counts the weighted reads).
- block-scaled FP8 (``model.checkpoint_fp8_scaling = "block"``, DeepSeek-V3 / R1): a run at fp8
  prices its FP8 GEMMs on block-scaled kernels (``_block_scaled_fp8``: on Hopper the output store
  follows the MMA; sim/data/compute.toml ``block_fp8_*``). MLA's absorbed decode runs its MMA at
  bf16 whatever the KV cache's precision (``_attn_dec_rate``: FlashMLA's FP8-KV kernel), except on
  GPUs whose MLA generation kernels quantize Q and run FP8 MMA over an FP8 cache (compute.toml
  ``mla_decode_fp8_mma``: Blackwell's trtllm-gen kernels, ``mla_decode_fp8``).
- calibration constants are data in ``data/calibration.toml`` with their sources.
"""

from __future__ import annotations

import math
import tomllib
from bisect import bisect_left
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np

from sim.compute import ComputeModel, constants_row, efficiency_for
from workloads.layer_cost import LOW_PRECISION, LayerCost
from workloads.serving import fused_moe
from sim.errors import ConfigError, InfeasibleError
from sim.config import EXPERT_WEIGHT_BYTES, experts_weight_only  # noqa: F401 (EXPERT_WEIGHT_BYTES: read here and by engines)
from sim.hardware import BYTES_PER_ELEMENT, GpuSpec
from workloads.model import ModelSpec, Shard

ACT_BYTES = 2.0     # activations between kernels stay 16-bit in fp8 engines (TRT-LLM, vLLM)
# EXPERT_WEIGHT_BYTES: bytes per routed-expert weight of block-scaled formats (serve.expert_precision: MXFP4's
# 4.25 bits) and experts_weight_only are sim.config's, which decides with them whether serve.moe_backend has any effect
# the weight-only MoE kernels (IterationCost.set_mixed_input_kernel, serve.moe_backend)
MIXED_INPUT_KERNELS = ("triton", "marlin")
CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.toml"
# compute-model constants a GPU's section may override for serving only (``serve_<name>`` in
# sim/data/compute.toml): end-to-end fits to published serving tables of that GPU (serve_launch_us: the
# GPU-side gap per kernel, launch_us, of serving's kernels only: [MI355X], fitted to InferenceX decode steps)
# decode_run prices a macro-step of this many iterations or more on arrays (_decode_times_array), fewer in a
# Python loop: numpy's per-call overhead outweighs the loop below about this length (same results either way)
DECODE_ARRAY_MIN_STEPS = 24
SERVE_KEYS = ("fp8_gemm_factor", "fp4_gemm_factor", "hbm_eff_max", "gemm_eff_max", "attn_eff_max", "launch_us")


@lru_cache(maxsize=1)
def calibration() -> dict:
    return tomllib.loads(CALIBRATION.read_text())


def step_with_host(gpu_s: float, host_s: float, hidden_s: float = 0.0, overlapped: bool = False) -> float:
    """Seconds of one engine step whose GPU (and kernel launch) time is ``gpu_s``, whose scheduler
    spends ``host_s`` of CPU on it (scheduling, input preparation, sampling metadata, output
    processing: engines.toml ``step_us`` + ``step_us_per_seq`` x sequences) and ``hidden_s`` more
    that always runs beside the GPU's previous step (``overlap_us_per_seq`` x sequences, the DP
    ranks' metadata sync). Synchronous scheduling (``overlapped`` False) runs the host work between
    GPU steps: ``max(gpu_s, hidden_s) + host_s``. Asynchronous scheduling (vLLM --async-scheduling:
    the scheduler runs one step ahead, vllm-project/vllm PR #19970; SGLang's overlap event loop:
    batch n + 1 is scheduled and batch n - 1's outputs processed while the GPU runs batch n) runs it
    beside the GPU: ``max(gpu_s, hidden_s + host_s)``, i.e. the host time exposed is
    ``max(0, hidden_s + host_s - gpu_s)``. All in seconds."""
    if overlapped:
        host = hidden_s + host_s
        return gpu_s if gpu_s >= host else host
    return (gpu_s if gpu_s >= hidden_s else hidden_s) + host_s


@dataclass
class CommLink:
    """The replica's intra-group link: effective bytes/s per GPU per direction and per-collective
    latency (s)."""
    Bps: float
    latency_s: float


@dataclass(slots=True)
class BatchCost:
    """One iteration batch on one replica (all floats). ``time_s`` = ``compute_s`` (pp x stage
    kernels) + ``comm_s`` (TP/EP/PP collectives, exposed) + the engine's scheduling overhead;
    ``flops`` and ``hbm_bytes`` are the model's useful FLOPs and bytes on the whole replica (MFU,
    MBU); ``tp_bytes`` and ``pp_bytes`` are bytes each GPU sends (as ``comm_bytes``). A value,
    never changed once built (not ``frozen``: a frozen dataclass costs 5x more to build, and
    serving builds one per iteration batch)."""
    time_s: float
    compute_s: float
    comm_s: float
    flops: float
    hbm_bytes: float
    tp_bytes: float
    pp_bytes: float


@dataclass(slots=True)
class DecodeRun:
    """``steps`` consecutive decode iterations of ``batch`` sequences (a macro-step): ``cum_s``
    the end time of each iteration from the run's start; ``step`` the (constant) communication
    of one iteration; ``totals(done)`` the summed ``BatchCost`` of the first ``done`` iterations."""
    batch: float
    context: float
    cum_s: list
    step: BatchCost
    owner: "IterationCost"
    ctx_cum: list | None = None     # cumulative layer-averaged context per iteration (windows)

    def done_by(self, elapsed: float) -> int:
        """Iterations finished ``elapsed`` seconds into the run (the one in progress counts)."""
        return min(bisect_left(self.cum_s, elapsed) + 1, len(self.cum_s))

    def totals(self, done: int) -> BatchCost:
        o, B, n = self.owner, self.batch, float(done)
        ctx = (self.ctx_cum[done - 1] if self.ctx_cum
               else n * self.context + B * n * (n - 1) / 2.0)     # sum of D_j, j < done
        st = self.step
        exposed = 0.0 if o.async_host else o.overhead_s
        # with speculative decoding an iteration here is one generated token per sequence, and a
        # draft-and-verify step yields ``spec_gain`` of them while reading the weights and each
        # sequence's KV once (its verify pass): the bytes MBU counts are a step's over its gain
        # (counted per token they put MBU above 1 at high acceptance)
        # (counted per token they put MBU above 1 at high acceptance); the step also reads the drafter's
        # weights at each draft step and its extend (Speculation.step_read_bytes)
        reads = 1.0 / o.spec_gain if o.spec_tokens else 1.0
        draft = o.speculation.step_read_bytes(o, B) if o.spec_tokens else 0.0
        # the weights a step's tokens need (IterationCost.weight_read_bytes): B tokens, or the verify
        # pass's B x verify under speculation
        weights = o.weight_read_bytes(B * o.speculation.verify if o.spec_tokens else B)
        return BatchCost(self.cum_s[done - 1], self.cum_s[done - 1] - n * (st.comm_s + exposed), n * st.comm_s,
                         n * (o._mf_tok * B + o._mf_smp * B) + o._mf_pair * ctx,
                         (n * (weights + draft) + o._mb_kv * ctx) * reads, n * st.tp_bytes, n * st.pp_bytes)


class IterationCost:
    """Seconds per iteration of one replica as a function of its batch."""

    def __init__(self, spec: ModelSpec, gpu: GpuSpec, precision: str, kv_precision: str,
                 tp: int = 1, pp: int = 1, ep: int = 1, link: CommLink | None = None,
                 schedule_overhead_s: float | None = None, attention_kernel: str = "default"):
        if spec.heads % tp:
            raise InfeasibleError("serve.tp", f"tp={tp} does not divide heads ({spec.heads})")
        if spec.layers % pp:
            raise InfeasibleError("serve.pp", f"pp={pp} does not divide layers ({spec.layers})")
        if ep > 1 and (not spec.is_moe or tp % ep or spec.experts % ep):
            # without dp_attention the routed experts spread over ep groups of the replica's tp GPUs: an
            # infeasible plan (exit 3; a sweep records the point as failed and runs the others), as tp vs heads
            if not spec.is_moe:
                why = "the model has no routed experts"
            else:
                fits = " or ".join(str(d) for d in range(1, tp + 1) if tp % d == 0 and spec.experts % d == 0)
                why = (f"it does not divide the replica's {tp} tensor-parallel GPUs (serve.tp), over whose ep groups "
                       f"the routed experts are spread" if tp % ep else
                       f"it does not divide the model's {spec.experts} routed experts")
                why += (f"; ep = {fits} fits this tp, or serve.dp_attention = true spreads the experts over every "
                        "GPU of the replica (ep = tp)")
            raise InfeasibleError("serve.ep", f"ep={ep}: {why}")
        cal = calibration()
        self.spec, self.gpu, self.tp, self.pp, self.ep = spec, gpu, tp, pp, ep
        # routing skew: an EP rank's routed rows over the mean rank's, for the most loaded of the
        # ep ranks (fused_moe.rank_load_factor; 1 without model.expert_load_cv)
        self.expert_load = fused_moe.rank_load_factor(spec.expert_load_cv, spec.experts, ep) if spec.is_moe else 1.0
        # group-limited routing (model.expert_groups / expert_group_topk): one group per EP rank when ep equals
        # the groups (fused_moe.busiest_rank_expert_fraction)
        self.route_groups = (spec.expert_groups, spec.expert_group_topk) if spec.is_moe else (0, 0)
        # attention_kernel: whose fused-attention curves (sim/data/compute.toml [<GPU>.<kernel>]);
        # engines run their own (the default curves); the measured PyTorch SDPA rows ran FA2
        eff = efficiency_for(gpu.name, attention_kernel)
        # one source of truth for the low-precision factors: sim/data/compute.toml. A GPU whose
        # serving runs were fitted end to end (``serve_*`` keys of its section: H100/H200 FP8
        # on the TensorRT-LLM 8B table, Blackwell FP4 on its 70B rows) uses those; any other
        # GPU its kernel (or default) factors, as training does
        row = constants_row(gpu.name)
        eff = replace(eff, **{f: row[f"serve_{f}"] for f in SERVE_KEYS if f"serve_{f}" in row})
        self.compute = ComputeModel(gpu, precision, eff)
        # GEMMs over 16-bit weights (bf16 / fp16) stream their weights at their own kernel class's rate
        # where the GPU's serving fit (serve_hbm_eff_max: decode attention over the FP8 KV cache, FP8 and
        # NVFP4 small-M GEMMs) is lower: compute.toml serve_gemm_stream_hbm_eff (Blackwell). Their weight
        # bytes x hbm_eff_max / that (set_weight_read_efficiency, the LM head)
        self._gemm_stream_eff = self._gemm_stream_hbm_eff(row)
        # fused attention runs at the KV cache's precision when the engine runs low precision
        self.attn_precision = (
            "" if precision not in LOW_PRECISION else kv_precision if kv_precision == precision else "bf16")
        self.wbytes = BYTES_PER_ELEMENT[precision]
        self.kvbytes = BYTES_PER_ELEMENT[kv_precision]
        # MLA decode's MMA at FP8 (compute.toml mla_decode_fp8_mma: Blackwell's trtllm-gen kernels) when
        # the cache is FP8 and the chip has FP8 tensor cores; else bf16 (``_scalar_constants``)
        self.mla_decode_fp8 = bool(spec.mla and kv_precision == "fp8" and row.get("mla_decode_fp8_mma", False)
                                   and gpu.has_tensor_rate("fp8"))
        self.link = link or CommLink(gpu.scaleup_Bps * 0.8, cal["comm"]["collective_latency_us"] * 1e-6)
        self.overhead_s = (cal["engine"]["schedule_overhead_us"] * 1e-6
                           if schedule_overhead_s is None else float(schedule_overhead_s))
        # KV reads against a kernel-measured HBM efficiency (copies); a GPU whose serving HBM rate
        # was fitted end to end on decode (serve_hbm_eff_max: Blackwell) has its KV reads in it
        self.kv_bw_eff = 1.0 if "serve_hbm_eff_max" in row else cal["attention"]["kv_read_efficiency"]
        # ... unless that GPU's decode attention streams its KV at a measured rate of its own
        # (compute.toml serve_kv_hbm_eff: a fraction of the HBM peak; Blackwell's trtllm-gen decode
        # kernels): KV bytes x hbm_eff_max / that
        kv_eff = row.get("serve_kv_hbm_eff") if "serve_hbm_eff_max" in row else None
        if kv_eff is not None:
            if not (isinstance(kv_eff, (int, float)) and not isinstance(kv_eff, bool) and 0.0 < kv_eff <= 1.0):
                raise ConfigError(f"compute.{gpu.name}.serve_kv_hbm_eff",
                                  f"{kv_eff!r} is not a fraction of the HBM peak in (0, 1] (sim/data/compute.toml)")
            self.kv_bw_eff = float(kv_eff) / float(row["serve_hbm_eff_max"])
        # decode attention's KV-read parallelism (see _kv_occupancy_s): one CTA streams at most
        # cta_read_GBps; engines split the keys (flash-decoding), a bare SDPA call does not
        self.split_kv = True
        self._cta_Bps = cal["attention"]["cta_read_GBps"] * 1e9
        self._hbm_kv_Bps = gpu.hbm_Bps * self.compute.eff.hbm_eff_max * self.kv_bw_eff
        self._split_block = float(cal["attention"]["split_kv_block_tokens"])
        L = spec.layers
        self.stage_layers = L // pp
        # matmul parameters one GPU holds per layer (averaged over layers: MoE layers differ)
        dense_layers = [i for i in range(L) if not spec.is_moe_layer(i)]
        moe_layers = L - len(dense_layers)
        self.moe_fraction = moe_layers / L
        self.attn_params = spec.attention_params()
        self.dense_mlp = spec.dense_mlp_params()
        self.expert_params = spec.expert_params() if spec.is_moe else 0
        # KV per token per layer on one GPU
        if spec.mla:
            self.kv_layer_gpu = (spec.kv_lora_rank + spec.rope_head_dim) * self.kvbytes
        else:
            local_kv_heads = max(spec.kv_heads / tp, 1.0)
            self.kv_layer_gpu = 2 * local_kv_heads * spec.head_dim * self.kvbytes
        self.kv_token_gpu = self.kv_layer_gpu * self.stage_layers          # bytes/token per GPU
        # CTAs of the attention kernel per sequence and query tile: a GQA kernel packs a KV head's
        # query heads into one tile (one CTA per local KV head); FlashMLA packs 64 heads a tile
        if spec.mla:
            self._kv_ctas = float(max(math.ceil(spec.heads / tp / 64), 1))
        else:
            self._kv_ctas = max(spec.kv_heads / tp, 1.0)
        self._q_tile_rows = (spec.heads / max(spec.kv_heads, 1)) / 128.0 if not spec.mla else 0.0
        # sliding-window attention: a windowed layer attends, reads and keeps K = window + sinks
        # keys; attention and KV are priced as the average over the model's layers (full-context
        # fraction ``full_fraction``), as MoE layers are
        self.window = (spec.sliding_window + spec.attention_sinks) if spec.sliding_window else 0
        # chunked local attention (Llama 4): ``window`` stays the switch of the layer-averaged
        # descriptors (callers test it), set to the chunk; ``chunk`` selects the chunk's forms
        self.chunk = spec.attention_chunk if spec.attention_chunk and not spec.sliding_window else 0
        if self.chunk:
            self.window = self.chunk
        self.full_fraction = (sum(not spec.is_local(i) for i in range(L)) / L) if self.window else 1.0
        # share of the layers whose KV holds every token of a sequence (prefix-cache entries):
        # windowed layers keep their window, chunked layers every token (see the module docstring)
        self.kv_full_fraction = 1.0 if self.chunk else self.full_fraction
        self.window_kv_kept = False     # keep_window_kv: the engine's pool keeps windowed layers' every token
        self.decode_chunk_weight = 1.0  # set_mmha_chunked_decode: a chunked layer's decode key, in XQA keys' time
        self.split_mixed_attention = False   # _step_attn_s: context and generation attention as two launches
        self.kv_token_replica = spec.kv_cache_bytes_per_token(self.kvbytes)  # distinct bytes/token
        self.attn_width = (spec.q_dim + spec.attn_out_dim) / tp
        self.params = spec.params()                                        # cached: loops over layers
        self.active_matmul = spec.active_params() - spec.embedding_params()
        self.attn_dims = spec.q_dim + spec.attn_out_dim
        self.local_heads = spec.heads / tp
        # engine host time (set by the deployment from its engine profile, see engines.py)
        self.host_per_seq_s = 0.0          # CPU per scheduled sequence per step
        self.eager_step_s = 0.0            # CPU launch time of a step run without CUDA graphs
        self.overlap_per_seq_s = 0.0       # CPU per scheduled sequence per step hidden behind the GPU step
        self.async_host = False            # overhead_s and host_per_seq_s run beside the GPU step too (step_with_host)
        self.graph_max_batch = 0           # largest decode batch a CUDA graph covers
        self.eager_serial = False          # eager dispatch adds to the overlapped host work (engines.toml eager_serial)
        self.spec_tokens = 0               # speculative decoding (set_speculative): draft steps
        self.weight_read_eff = 1.0         # see set_weight_read_efficiency
        self.expert_extra_bytes = 0.0      # see set_expert_precision
        self.expert_precision = ""         # see set_expert_precision
        self.graph_sizes: list[int] = []   # see set_graph_batch_sizes
        fm = cal["fused_moe"]               # the fused-MoE grouped GEMM's M tile (fused_moe.py)
        self.moe_tile = (float(fm["tile_min"]), float(fm["tile_max"]))
        self.moe_mixed_input_eff = float(fm["mixed_input_eff"])
        self.moe_mixed_input_tile = float(fm.get("mixed_input_tile", 128.0))
        self.moe_mixed_dequant_eff = float(fm.get("mixed_input_dequant_eff", self.moe_mixed_input_eff))
        # the weight-only kernel below its large-M tile (set_mixed_input_kernel): "triton" (triton_kernels'
        # matmul_ogs) its dequantization from mixed_input_dequant_eff, "marlin" (vLLM's Marlin MoE)
        # mixed_input_marlin_dequant_s seconds per weight element per M tile
        self.moe_mixed_kernel = "triton"
        self.moe_marlin_dequant_s = float(fm.get("mixed_input_marlin_dequant_s", 0.0))
        if not (math.isfinite(self.moe_marlin_dequant_s) and self.moe_marlin_dequant_s > 0.0):
            raise ConfigError("calibration.fused_moe.mixed_input_marlin_dequant_s",
                              f"{self.moe_marlin_dequant_s!r} is not a time > 0 s (workloads/serving/data/calibration.toml)")
        self._mixed_input = False           # expert GEMMs dequantize their weights (set_expert_precision)
        # triton_kernels' matmul_ogs under expert parallelism (the TRITON backend, the mixed-input
        # kernel): its M tile from every routed pair over the local experts (_moe_tile_scale), the
        # gate over the all-gathered tokens (dp_attention.DpAttentionCost)
        self.moe_ep_tile_all_pairs = bool(fm.get("mixed_input_ep_tile_all_pairs", False))
        self.moe_gate_on_gathered = bool(fm.get("mixed_input_gate_on_gathered", False))
        self._mixed_layers_memo: dict = {}  # M tile -> layers with that tile's mixed-input rate
        # the engine's padding of the weight-only Triton MoE's expert GEMMs (set_mixed_input_alignment):
        # K to a multiple of the first, N of the second; (0, 0) none
        self.moe_mixed_align = (0, 0)
        self.expert_pad_bytes = 0.0        # the padded experts' extra weight bytes, all GPUs (set_mixed_input_alignment)
        # the experts' MMA precision (set_expert_compute_precision) and the engine's fused-MoE kernel
        # class (set_fused_moe_backend): TensorRT-LLM's CUTLASS fused MoE with FP4 MMA on Blackwell runs
        # its grouped GEMMs at cutlass_fp4_gemm_eff of the dense rate and spends cutlass_fp4_copy_ns per
        # routed (token, expert) copy on this GPU (moe_copy_s), calibration.toml [fused_moe]
        self.expert_mma = precision
        self.fused_moe_backend = ""
        self.moe_copy_s = 0.0
        # the CUTLASS fused MoE's fixed seconds per MoE layer launch (its kernels' fill and tails beyond the
        # ops dcsim prices; calibration.toml [fused_moe] cutlass_launch_us, set_fused_moe_backend)
        self.moe_launch_s = 0.0
        self._moe_backend_eff = 1.0
        self._moe_stream_scale = 1.0       # TRTLLM-gen: expert weight bytes x this (set_fused_moe_backend)
        self._moe_gen = False              # TRTLLM-gen runs the routed experts (set_fused_moe_backend)
        self._moe_fused_ops: tuple = ()    # TRTLLM-gen: ops fused into its GEMMs, not launched
        self._scalar_constants()
        if spec.checkpoint_fp8_scaling == "block" and precision == "fp8":
            self._block_scaled_fp8(row)
        if self._weight_stream_scale(self.wbytes) != 1.0:
            self.set_weight_read_efficiency(self.weight_read_eff)

    def _gemm_stream_hbm_eff(self, row: dict) -> float:
        """The fraction of the HBM peak GEMMs over 16-bit weights stream them at on this GPU
        (``serve_gemm_stream_hbm_eff`` of its compute.toml section), or its ``hbm_eff_max`` where the
        section has none. Raises ConfigError naming the key on a value outside (0, 1]."""
        g = row.get("serve_gemm_stream_hbm_eff")
        if g is None:
            return self.compute.eff.hbm_eff_max
        if isinstance(g, bool) or not (isinstance(g, (int, float)) and math.isfinite(g) and 0.0 < g <= 1.0):
            raise ConfigError("compute.serve_gemm_stream_hbm_eff",
                              f"{g!r} is not a fraction of the HBM peak in (0, 1] (sim/data/compute.toml [{self.gpu.name}])")
        return float(g)

    def _weight_stream_scale(self, weight_bytes: float) -> float:
        """Weight bytes' multiplier of a GEMM whose weights take ``weight_bytes`` bytes per element:
        hbm_eff_max / serve_gemm_stream_hbm_eff for 16-bit weights where that is higher, else 1 (FP8,
        NVFP4 and MXFP4 weights stay at the serving fit's rate, which their small-M kernels measure at
        or below: compute.toml [GB200])."""
        if weight_bytes < 2.0:
            return 1.0
        return min(1.0, self.compute.eff.hbm_eff_max / self._gemm_stream_eff)

    def _block_scaled_fp8(self, row: dict) -> None:
        """A block-scaled FP8 checkpoint (``model.checkpoint_fp8_scaling = "block"``: DeepSeek-V3 /
        R1's 128 x 128 weight and 1 x 128 activation scales) runs its FP8 GEMMs on block-scaled
        kernels (sim/data/compute.toml ``block_fp8_*``): at the per-tensor FP8 rate x
        ``block_fp8_gemm_factor``, and with ``block_fp8_serial_epilogue`` (Hopper: the math
        warp-groups hold the promoted FP32 accumulators and store each output tile after its MMA)
        each GEMM takes its MMA time plus its output's store, or its bytes' time if longer
        (``LinearOp.serial_store``): a GEMM of reduction dimension K (per launch, after TP) writes
        2 bytes per 2 K FLOPs, so short K loops pay most (MLA's kv_up, K = 512). A memory-bound
        decode GEMM is unchanged. The router (a bf16 gate in these checkpoints) is not
        block-scaled."""
        f = float(row.get("block_fp8_gemm_factor", 1.0))
        serial = bool(row.get("block_fp8_serial_epilogue", False))
        if f == 1.0 and not serial:
            return
        def scaled(o):
            if o.kind != "gemm" or not o.k or o.name == "router":
                return o
            return replace(o, rate=o.rate * f, serial_store=serial)
        self._base_ops = [(scaled(o), n) for o, n in self._base_ops]
        self.layers.ops = list(self._base_ops)
        self._fixed_memo.clear()

    # -- the scalar path: per-replica constants, one call per batch ----------------------------
    def _scalar_constants(self) -> None:
        """The stage's layers as the shared linear-form layer model (``LayerCost``: GEMMs,
        norms, residuals, activations of training's forward pass), and the coefficients of the
        attention op, the LM head, ``comm_bytes``, ``model_flops`` and ``model_bytes`` in the
        batch descriptors, on Python floats."""
        s, tp, Ls, a, h = self.spec, self.tp, self.stage_layers, ACT_BYTES, self.spec.hidden
        cm = self.compute
        e = cm.eff
        # one layer of each kind, counted over the stage as the average mix (MoE layers differ)
        mix = {}
        if self.moe_fraction < 1.0:
            mix[next(i for i in range(s.layers) if not s.is_moe_layer(i))] = Ls * (1.0 - self.moe_fraction)
        if self.moe_fraction > 0.0:
            mix[next(i for i in range(s.layers) if s.is_moe_layer(i))] = Ls * self.moe_fraction
        # every GPU of the replica runs 1/tp of each matmul (EP inside the TP group: balanced)
        self.layers = LayerCost(s, cm, Shard(tp=tp, weight_bytes=self.wbytes), mix, cm.precision)
        # serving engines run a layer's routed experts as one grouped GEMM launch (vLLM/SGLang
        # fused_moe, TensorRT-LLM's MoE plugin), not one GEMM per expert: one launch, each
        # expert's token count still sets the tile efficiency
        self.layers.ops = [(replace(o, count=1.0) if o.expert and o.kind == "gemm" else o, n)
                           for o, n in self.layers.ops]
        self._base_ops = list(self.layers.ops)
        self._fixed_memo: dict[tuple[float, float], float] = {}   # batch shapes repeat (decode sizes)
        self._attn_rate = cm.rate(self.attn_precision)
        # decode-only launches' FLOP rate (``_attn_s``, ``decode_run``). MLA's absorbed decode runs
        # its MMA at bf16 whatever the cache's precision: FlashMLA's FP8-KV kernel dequantizes the
        # latent and "performs the matrix multiplication in bfloat16" (deepseek-ai/FlashMLA
        # README: 410 TFLOPS compute-bound on H800 against 660 for its bf16 dense kernel; up to
        # 700 on B200), vLLM's fp8_ds_mla cache is "storage-only - the query stays bf16"
        # (vllm-project/vllm#52202); TensorRT-LLM's FP8 FlashMLA on Hopper (NVIDIA/TensorRT-LLM#3190,
        # per-tensor FP8 Q and KV) publishes no rate above bf16's. Checked: dcsim's bf16 absorbed
        # decode on H800 against FlashMLA's README, 660 TFLOPS compute-bound (128 heads) and 3,000
        # GB/s memory-bound (16 heads): tests/workloads/serving/test_cost.py
        # Blackwell's MLA generation kernels (trtllm-gen, sim/data/compute.toml mla_decode_fp8_mma) quantize
        # Q to FP8 and run FP8 MMA over an FP8 cache: the FP8 rate there (issue 12, bwattn)
        self._attn_dec_rate = self._attn_rate
        if s.mla:
            half = "bf16" if self.gpu.has_tensor_rate("bf16") else "fp16"
            self._attn_dec_rate = cm.rate(half)
            if self.mla_decode_fp8:
                self._attn_dec_rate = cm.rate("fp8")
        self._attn_e = (e.attn_eff_max, e.attn_half_flops)
        self._a_flop_pair = 2.0 * self.attn_width * Ls
        # MLA (DeepSeek): engines run attention in one of two forms and pick per batch (vLLM's
        # MLA backends and SGLang: MHA-style for prefill, weight-absorbed for decode and verify):
        # - MHA form: the latent is decompressed into per-head K (nope 128 + rope 64) and V (128)
        #   for every key (kv_b_proj over the cached keys: 2 x kv_lora x heads x (nope + v) FLOPs per
        #   key; the batch's own new tokens are the layer model's kv_up GEMM), then attention at
        #   ``_a_flop_pair`` per query-key pair;
        # - absorbed form: W_UK folds into the query and W_UV into the output, so each head scores
        #   and sums over the 512-dim latent + 64 RoPE dims: 2 x (kv_lora + rope + kv_lora) FLOPs per
        #   head and pair (3.4x the MHA form's), keys read once as the latent.
        # The KV bytes are the latent's in both. ``_attn_flops`` takes the cheaper form.
        self._mla_decomp_key = self._a_flop_abs_pair = 0.0
        if s.mla:
            self._a_flop_abs_pair = 2.0 * self.local_heads * (2 * s.kv_lora_rank + s.rope_head_dim) * Ls
            self._mla_decomp_key = 2.0 * s.kv_lora_rank * self.local_heads * (s.head_dim + s.v_head_dim) * Ls
        self._a_kv = self.kv_layer_gpu / self.kv_bw_eff * Ls
        self._a_tok = a * self.attn_width * 2 * Ls
        self._a_exp_pair = self.local_heads * Ls
        self._h_flop = 2.0 * h * s.vocab / tp / self.pp
        # the LM head's weights and MMA at the checkpoints' head precision where the replica runs low
        # precision (calibration.toml [engine] lm_head_precision: the FP8 / NVFP4 releases keep lm_head
        # 16-bit, as weight_bytes_per_gpu counts it); else the replica's
        hp = self._head_precision()
        hb = BYTES_PER_ELEMENT[hp] if hp else self.wbytes
        self._h_rate = cm.rate(hp) if hp else 0.0
        self._h_bytes = hb                 # bytes per head weight (speculative.Speculation._head_s: the drafter's head)
        self._h_w = hb * h * s.vocab / tp / self.pp * self._weight_stream_scale(hb)
        self._h_smp = 4.0 * s.vocab / tp / self.pp
        # communication per token (bytes per GPU), as comm_bytes
        self._tp_tok = self._tp_tok_a2a = 0.0
        n_coll = 0
        if tp > 1:
            act = h * ACT_BYTES
            moe_layers = round(self.moe_fraction * s.layers) if self.ep > 1 else 0
            dense = s.layers - moe_layers
            self._tp_tok = 2.0 * (tp - 1) / tp * act * (2 * dense + moe_layers)
            if moe_layers:
                self._tp_tok_a2a = 2.0 * (self.ep - 1) / self.ep * act * s.top_k / self.ep * moe_layers
            n_coll = 2 * s.layers
        n_coll += self.pp - 1
        self._pp_tok = h * ACT_BYTES * (self.pp - 1) / self.pp if self.pp > 1 else 0.0
        self._has_comm = not (tp == 1 and self.pp == 1)
        self._n_coll = n_coll
        self._coll_s = n_coll * self.link.latency_s
        # model FLOPs and bytes
        self._mf_tok = 2.0 * self.active_matmul
        self._mf_smp = 2.0 * s.hidden * s.vocab
        self._mf_pair = 2.0 * self.attn_dims * s.layers
        self._mb_kv = self.kv_token_replica

    def _head_precision(self) -> str:
        """The LM head's GEMM precision where it differs from the replica's (calibration.toml [engine]
        lm_head_precision, where the replica runs low precision and the GPU has that precision's tensor
        cores), else "" (the replica's). Raises ConfigError naming the key on a precision dcsim lacks."""
        hp = calibration()["engine"].get("lm_head_precision", "")
        if not hp:
            return ""
        if not isinstance(hp, str) or hp not in BYTES_PER_ELEMENT:
            raise ConfigError("calibration.engine.lm_head_precision",
                              f"{hp!r} is none of {', '.join(sorted(BYTES_PER_ELEMENT))} "
                              "(workloads/serving/data/calibration.toml)")
        if self.compute.precision not in LOW_PRECISION or hp == self.compute.precision:
            return ""
        if not self.gpu.has_tensor_rate(hp):
            return ""
        return hp

    def _fixed_stage_s(self, T: float, S: float, real: float | None = None, out: list | None = None) -> float:
        """Stage seconds of the ops that do not depend on attention: the layers' GEMMs and
        memory-bound ops (an MoE layer reads only the experts its T tokens route to) and the
        LM head over the S sampled rows. ``real`` (< T): a CUDA graph padded to T rows runs
        ``real`` of the batch's own, the rest copies of one dummy request (``padded``).
        ``out`` (a list): each op's ``(name, seconds)`` is appended (``op_breakdown``)."""
        key = (T, S, real)
        t = self._fixed_memo.get(key)
        if t is not None and out is None:
            return t
        s = self.spec
        frac, pad = 1.0, 0.0
        load = self.expert_load
        if s.is_moe:
            # the most loaded EP rank's experts see ``load`` x the mean rank's routed rows
            routed = self._routed_tokens(T) * load
            if real is not None and real < T:
                # the dummy copies route alike: the batch's own tokens plus one more token's experts
                # (fused_moe.graph_padded_row_padding)
                own = self._routed_tokens(real) * load
                frac = 1.0 - (1.0 - s.top_k / s.experts) ** (own + 1.0)
                # the busiest EP rank's distinct experts (fused_moe.busiest_rank_expert_fraction)
                spread = fused_moe.busiest_rank_expert_fraction(self._routed_tokens(real) + 1.0, s.top_k, s.experts,
                                                                self._moe_ep_size(), *self.route_groups)
                frac = spread if spread > frac else frac
                pad = fused_moe.graph_padded_row_padding(own, routed, s.top_k, s.experts, *self.moe_tile,
                                                         tile_scale=self._moe_tile_scale())
            else:
                frac = 1.0 - (1.0 - s.top_k / s.experts) ** (routed if routed > 1.0 else 1.0)
                # a step waits for the EP rank with the most distinct experts to read: at few tokens the
                # binomial spread of a uniform router over the ranks outweighs the skew's mean-rank share
                spread = fused_moe.busiest_rank_expert_fraction(max(self._routed_tokens(T), 1.0), s.top_k, s.experts,
                                                                self._moe_ep_size(), *self.route_groups)
                frac = spread if spread > frac else frac
                # the fused-MoE launch pads each expert's rows to its M tile (fused_moe.row_padding)
                pad = fused_moe.row_padding(routed, s.top_k, s.experts, *self.moe_tile, tile_scale=self._moe_tile_scale())
        layers = self._mixed_layers(routed) if self._mixed_input else self.layers
        head = self.compute.time_of(S * self._h_flop, self._h_w + S * self._h_smp, 0.0, 0, 1.0, rate=self._h_rate)
        t = layers.seconds(T, frac, pad, load, out) + head
        if out is not None:
            out.append(("lm_head", head))
        if self.moe_copy_s and s.is_moe:
            # the fused MoE's cost per routed copy on this GPU (set_fused_moe_backend), every MoE layer
            copy = self.moe_copy_s * routed * s.top_k / self._moe_ep_size() * self.stage_layers * self.moe_fraction
            t += copy
            if out is not None:
                out.append(("moe_copy", copy))
        if self.moe_launch_s and s.is_moe and T > 0.0:
            # the CUTLASS fused MoE's fixed time per launch (set_fused_moe_backend), every MoE layer
            launch = self.moe_launch_s * self.stage_layers * self.moe_fraction
            t += launch
            if out is not None:
                out.append(("moe_launch", launch))
        if len(self._fixed_memo) > 1 << 16:
            self._fixed_memo.clear()
        self._fixed_memo[key] = t
        return t

    def _mixed_layers(self, routed: float):
        """The stage's layers with the routed experts' GEMMs at the mixed-input kernel's rate for
        the M tile of ``routed`` tokens (``fused_moe.mixed_input_efficiency``: one weight-tile
        dequantization per M tile; the base ops carry the large-M ``mixed_input_eff``)."""
        s = self.spec
        tile = fused_moe.tile_rows(max(routed, 1.0) * s.top_k / s.experts * self._moe_tile_scale(), *self.moe_tile)
        hit = self._mixed_layers_memo.get(tile)
        if hit is not None and hit[0] is self.layers.ops and hit[1].cm is self.layers.cm:
            return hit[1]
        import copy
        layers = copy.copy(self.layers)
        base = [(self._aligned_expert_op(o) if o.expert and o.kind == "gemm" else o, n) for o, n in self.layers.ops]
        if tile < self.moe_mixed_input_tile:
            # below the large-M tile: max(weight read, dequantization per weight element per M tile + the
            # MMA over the padded rows at the dense rate) (fused_moe.mixed_input_dequant_s)
            wb = EXPERT_WEIGHT_BYTES.get(self.expert_precision) or BYTES_PER_ELEMENT[self.expert_precision]
            layers.ops = [(replace(o, rate=o.rate / self.moe_mixed_input_eff, m_tile=tile,
                                   dequant_s=self._mixed_dequant_s(o.rate / self.moe_mixed_input_eff) / wb)
                           if o.expert and o.kind == "gemm" else o, n) for o, n in base]
        else:
            eff = fused_moe.mixed_input_efficiency(tile, self.moe_mixed_input_eff, self.moe_mixed_dequant_eff,
                                                   self.moe_mixed_input_tile, self.compute.eff.gemm_half_dim)
            scale = eff / self.moe_mixed_input_eff
            layers.ops = [(replace(o, rate=o.rate * scale) if o.expert and o.kind == "gemm" else o, n)
                          for o, n in base]
        self._mixed_layers_memo[tile] = (self.layers.ops, layers)
        return layers

    def _aligned_expert_op(self, o):
        """An expert GEMM op of the weight-only Triton kernel with its K and N padded to the engine's
        alignment (``set_mixed_input_alignment``; ``fused_moe.aligned_gemm_dims``): FLOPs and weight bytes x
        Kp Np / (K N), activation bytes x (Kp + Np) / (K + N). Unchanged without alignment or on Marlin."""
        ka, na = self.moe_mixed_align
        if not (ka or na) or self.moe_mixed_kernel != "triton" or o.k <= 0.0 or o.f1 <= 0.0:
            return o
        k = o.k
        n = o.f1 / (2.0 * k * max(self.spec.top_k, 1))     # f1: 2 K N FLOPs per routed copy, top_k per token
        kp, np_ = fused_moe.aligned_gemm_dims(k, n, ka, na)
        if kp == k and np_ == n:
            return o
        w = (kp * np_) / (k * n)
        return replace(o, f1=o.f1 * w, b0=o.b0 * w, b1=o.b1 * (kp + np_) / (k + n), k=kp,
                       dmin=min(kp, np_) if o.dmin else o.dmin)

    def set_mixed_input_alignment(self, k_align: int, n_align: int) -> None:
        """The engine pads the weight-only Triton MoE's expert GEMMs (each expert's [K, N] weights and the
        activations' K) to multiples of ``k_align`` and ``n_align`` elements (0: not that dimension):
        TensorRT-LLM's TritonMXFP4FusedMoEMethod (k_alignment 128, n_alignment 256; engines.toml
        triton_moe_k_align / triton_moe_n_align). Raises ConfigError on a negative or non-integer value."""
        for key, v in (("triton_moe_k_align", k_align), ("triton_moe_n_align", n_align)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"engines.{key}", f"{v!r} is not a whole number of elements >= 0 (0: no padding)")
        self.moe_mixed_align = (k_align, n_align)
        self._mixed_layers_memo = {}
        self._fixed_memo.clear()
        # the engine allocates the padded weights (create_weights' padded shapes): the experts' bytes x the
        # weight-weighted padding ratio, held like the rest of the experts (weight_bytes_per_gpu)
        ops = [(o, n) for o, n in self.layers.ops if o.expert and o.kind == "gemm" and o.b0 > 0.0]
        self.expert_pad_bytes = 0.0
        if ops and self._mixed_input and self.moe_mixed_kernel == "triton":
            r = sum(self._aligned_expert_op(o).b0 * n for o, n in ops) / sum(o.b0 * n for o, n in ops)
            wb = EXPERT_WEIGHT_BYTES.get(self.expert_precision) or BYTES_PER_ELEMENT[self.expert_precision]
            moe_layers = round(self.moe_fraction * self.spec.layers)
            self.expert_pad_bytes = (r - 1.0) * self.spec.experts * self.expert_params * moe_layers * wb

    def _mixed_dequant_s(self, rate: float) -> float:
        """Seconds per weight element per M tile of the weight-only kernel's dequantization, for an op
        whose dense MMA runs at ``rate`` FLOP/s (``set_mixed_input_kernel``)."""
        if self.moe_mixed_kernel == "marlin":
            return self.moe_marlin_dequant_s
        e = self.compute.eff
        return fused_moe.mixed_input_dequant_s(self.moe_mixed_dequant_eff, self.moe_mixed_input_tile,
                                               rate * e.gemm_eff_max, e.gemm_half_dim)

    @property
    def weight_only_experts(self) -> bool:
        """Whether the routed experts' GEMMs dequantize their weights in the main loop (weights
        narrower than the MMA they run: MXFP4 x BF16 on Hopper), the only experts a weight-only MoE
        kernel (``set_mixed_input_kernel``, serve.moe_backend triton / marlin) prices."""
        return self._mixed_input

    def set_mixed_input_kernel(self, kernel: str) -> None:
        """The weight-only (mixed-input) MoE kernel (``serve.moe_backend``): ``"triton"``
        (triton_kernels' matmul_ogs, TensorRT-LLM's TRITON backend and vLLM's default MXFP4 MoE on
        Hopper; its dequantization from triton-lang/triton PR #11361, calibration.toml [fused_moe]
        mixed_input_dequant_eff) or ``"marlin"`` (vLLM's Marlin MXFP4 MoE, VLLM_MXFP4_USE_MARLIN=1;
        mixed_input_marlin_dequant_s, fitted to data/mixed_input_small_m.csv). Below the large-M
        tile the expert GEMMs take max(weight read, dequantization per weight element per M tile +
        MMA over the padded rows). Raises ConfigError (serve.moe_backend) on another name."""
        if kernel not in MIXED_INPUT_KERNELS:
            raise ConfigError("serve.moe_backend", f"must be one of {MIXED_INPUT_KERNELS}, got {kernel!r}")
        self.moe_mixed_kernel = kernel
        self._mixed_layers_memo = {}
        self._fixed_memo.clear()

    def _routed_tokens(self, T: float) -> float:
        """Tokens whose routing decides which of this stage's experts are read (its own T)."""
        return T

    def _moe_ep_size(self) -> int:
        """GPUs the routed experts are spread over (``serve.ep``)."""
        return self.ep

    def _moe_tile_scale(self) -> float:
        """How many times the real rows per expert the fused MoE sizes its M tile from: 1, but
        for the mixed-input kernel (triton_kernels' matmul_ogs, TensorRT-LLM's TRITON backend)
        under expert parallelism, the EP size. TensorRT-LLM's TritonEPRouter prunes the routing to
        the rank's experts and builds it with ``routing_from_bitmatrix(..., n_expts_local, ...)``,
        which leaves ``RoutingData.expected_tokens_per_expt`` unset, while matmul_ogs's M is every
        (token, expert) pair of the launch, pruned ones included (``n_gates_pad = n_tokens x
        top_k``); ``make_default_opt_flags_nvidia`` then takes ``tokens_per_expt = M //
        n_expts_tot`` with the local count: EP times the rows a local expert gets (calibration.toml
        [fused_moe] mixed_input_ep_tile_all_pairs). The padding stays over the real rows."""
        ep = self._moe_ep_size()
        return float(ep) if (ep > 1 and self._mixed_input and self.moe_ep_tile_all_pairs) else 1.0

    def _attn_s(self, T: float, pairs: float, kv_read: float, S: float | None = None) -> float:
        """The stage's fused attention: causal query-key pairs and KV-cache reads. No
        key-length term (the training kernels' fit, keys per query >= 512): serving's decode
        kernels split the keys over CTAs (flash-decoding), and a batch mixes lengths. ``S``:
        the batch's sequences (sampled rows); a decode-only batch (T <= S) has no FLOP
        half-saturation, and its KV reads are bounded by the kernel's grid (``_kv_occupancy_s``)."""
        cm, Ls, f = self.compute, float(self.stage_layers), self._attn_flops(T, pairs, kv_read)
        if S is not None and T <= S:
            # a decode-only launch (one query per sequence): memory-bound, far below the prefill-sized
            # launches whose fixed time attn_half_flops was fitted to (seq >= 512); its fixed time is
            # the launch and the grid's streaming (_kv_occupancy_s), its FLOPs at the saturated rate
            t = cm.time_of(0.0, kv_read * self._a_kv + T * self._a_tok, pairs * self._a_exp_pair, 1, Ls, 0.0,
                           self._attn_dec_rate)
            tf = (f / (self._attn_dec_rate * self._attn_e[0]) + Ls * cm.eff.launch_us * 1e-6) / cm.speed
            t = tf if tf > t else t
        else:
            t = cm.time_of(f, kv_read * self._a_kv + T * self._a_tok, pairs * self._a_exp_pair, 1, Ls, 0.0,
                           self._attn_rate)
        occ = self._kv_occupancy_s(T, T if S is None else S, kv_read)
        if occ > 0.0:
            occ = (occ + self.stage_layers * self.compute.eff.launch_us * 1e-6) / self.compute.speed
            t = occ if occ > t else t
        return t

    def _kv_occupancy_s(self, T: float, S: float, kv_read: float) -> float:
        """Seconds the stage's attention needs to stream ``kv_read`` tokens of KV with the CTAs
        it launches, each at most ``cta_read_GBps`` (calibration.toml [attention]); 0 where the
        grid is wide enough for HBM to bind. Grid: per local KV head (``_kv_ctas``) one CTA per
        decoding sequence, plus the query tiles of the batch's prefill tokens; an engine's
        split-KV kernel (``split_kv``: flash-decoding; FA2/FA3 num_splits, FlashInfer split-KV,
        TensorRT-LLM multi-block) adds one CTA per ``split_kv_block_tokens`` keys of a
        sequence. A batch of one sequence against 8 KV heads without splitting has 8 CTAs on
        132 SMs (PyTorch SDPA; the measured decode rows): its KV reads crawl."""
        n = S if S > 1.0 else 1.0
        tiles = S + (T - S) * self._q_tile_rows if T > S else S
        if tiles < 1.0:
            tiles = 1.0
        ctas = self._kv_ctas * tiles
        if self.split_kv:
            per_seq = kv_read / n / self._split_block
            ctas *= math.ceil(per_seq) if per_seq > 1.0 else 1.0
        rate = ctas * self._cta_Bps
        if rate >= self._hbm_kv_Bps:
            return 0.0
        return kv_read * self.kv_layer_gpu * self.stage_layers / rate

    def _attn_flops(self, T: float, pairs: float, kv_read: float) -> float:
        """Attention FLOPs of a batch on one GPU's stage: ``pairs`` x the per-pair FLOPs; with
        MLA the cheaper of the MHA form (plus decompressing the ``kv_read - T`` cached keys) and
        the weight-absorbed form (decode: ~1 query per key; prefill: many)."""
        f = pairs * self._a_flop_pair
        if self._a_flop_abs_pair:
            mha = f + (kv_read - T if kv_read > T else 0.0) * self._mla_decomp_key
            absorbed = pairs * self._a_flop_abs_pair
            f = absorbed if absorbed < mha else mha
        return f

    def _comm(self, T: float) -> tuple[float, float, float]:
        tp_b = T * self._tp_tok + T * self._tp_tok_a2a
        pp_b = T * self._pp_tok
        if not self._has_comm:
            return tp_b, pp_b, 0.0
        return tp_b, pp_b, (tp_b + pp_b * self.pp) / self.link.Bps + self._coll_s

    def _step_attn_s(self, T: float, pairs: float, kv_read: float, S: float, decode=None, n: float = 1.0) -> float:
        """The stage's attention of a step (``_attn_s``; ``n``: the ranks the batch spreads over,
        attention DP). ``decode`` = (sequences, pairs, KV tokens read) of the step's generation
        requests, part of ``T`` / ``pairs`` / ``kv_read``: where the engine runs a mixed step's
        context and generation requests as two attention launches one after the other
        (``split_mixed_attention``), each is priced alone and the times add."""
        if decode is not None and self.split_mixed_attention:
            nd, pd, kd = (float(x) for x in decode)
            if 0.0 < nd < T:
                return (self._attn_s((T - nd) / n, (pairs - pd) / n, (kv_read - kd) / n, (S - nd) / n)
                        + self._attn_s(nd / n, pd / n, kd / n, nd / n))
        return self._attn_s(T / n, pairs / n, kv_read / n, S / n)

    def batch(self, tokens: float, samples: float, attn_pairs: float, kv_read: float, decode=None) -> BatchCost:
        """One iteration batch on Python floats: time, compute and communication seconds,
        model FLOPs and HBM bytes, TP/EP and PP bytes per GPU (as ``times``, ``comm_bytes``,
        ``comm_time``, ``model_flops`` and ``model_bytes``). A decode-only batch (tokens ==
        samples) that a CUDA graph covers runs padded (``padded``). ``decode``: the generation
        requests' (sequences, pairs, KV tokens read) within a mixed step (``_step_attn_s``)."""
        T, S = float(tokens), float(samples)
        P = self.padded(T, S)
        compute = self.pp * (self._fixed_stage_s(P, P if P != T else S, T if P != T else None)
                             + self._step_attn_s(T, float(attn_pairs), float(kv_read), S, decode))
        tp_b, pp_b, comm = self._comm(P)
        return BatchCost(self._host_s(T, S, compute + comm), compute, comm,
                         self._mf_tok * T + self._mf_smp * S + self._mf_pair * attn_pairs,
                         self.weight_read_bytes(T) + self._mb_kv * kv_read, tp_b, pp_b)

    def decode_run(self, batch: int, context: float, steps: int, contexts=None) -> DecodeRun:
        """``steps`` decode iterations of ``batch`` sequences with summed context ``context``
        at the first (each iteration adds ``batch`` to it): one token and one sample per
        sequence, attention over the whole context. With a sliding window, ``contexts`` (each
        sequence's context at the first iteration) gives the layer-averaged context of every
        iteration (``decode_contexts``); without it the window is not applied."""
        B = float(batch)
        per_step = self.decode_contexts(contexts, steps) if (self.window and contexts is not None) else None
        reads = (self.decode_contexts(contexts, steps, weighted=True)
                 if (per_step and self.decode_chunk_weight != 1.0) else per_step)
        D0 = per_step[0] if per_step else context
        first = self.batch(B, B, D0, reads[0] if reads else D0)
        if self.spec_tokens:
            ds = per_step or [context + B * j for j in range(steps)]
            times = [self._speculative_step_s(B, d) for d in ds]
            return DecodeRun(B, float(context), list(accumulate(times)), first, self, self._cum(per_step))
        P = self.padded(B, B)
        fixed = self.pp * self._fixed_stage_s(P, P, B if P != B else None)
        host = self.overhead_s + self.host_per_seq_s * B
        tail = first.comm_s + (0.0 if self.async_host else host)
        eager = self.eager_step_s if (self.eager_step_s > 0 and B > self.graph_max_batch) else 0.0
        hidden = self.overlap_per_seq_s * B + (host if self.async_host else 0.0)
        if self.eager_serial:
            hidden, eager = hidden + eager, 0.0
        if hidden > eager:
            eager = hidden     # the overlapped host step bounds it alike (step_with_host)
        # the attention op of _attn_s with pairs = kv_read = D, inlined (the macro-step's loop)
        e, pp, speed = self.compute.eff, self.pp, self.compute.speed
        fl, kvb, tb, ex = self._a_flop_pair, self._a_kv, B * self._a_tok, self._a_exp_pair
        mla = self._a_flop_abs_pair > 0.0
        c = float(self.stage_layers)
        launch = c * e.launch_us * 1e-6
        peak_eff = self._attn_dec_rate * self._attn_e[0]
        hbm_eff, bhalf = self.gpu.hbm_Bps * e.hbm_eff_max, e.hbm_half_bytes * max(c, 1.0)
        xrate = self.gpu.special_ops * e.special_eff
        # the grid only widens as contexts grow: a step that fills HBM at the first never binds later
        narrow = self._kv_occupancy_s(B, B, D0) > 0.0
        if (steps >= DECODE_ARRAY_MIN_STEPS and peak_eff > 0.0 and xrate > 0.0 and hbm_eff > 0.0 and speed > 0.0
                and self._kv_ctas > 0.0 and self._cta_Bps > 0.0 and tb > 0.0 and kvb >= 0.0 and fl >= 0.0 and ex >= 0.0):
            times = self._decode_times_array(B, float(context), steps, per_step, reads, mla, narrow, fixed, eager,
                                             tail, launch, peak_eff, hbm_eff, bhalf, xrate)
            return DecodeRun(B, float(context), list(accumulate(times)), first, self, self._cum(per_step))
        times = []
        for j in range(steps):
            D = per_step[j] if per_step else context + B * j
            R = reads[j] if reads else D        # KV tokens read, in time (set_mmha_chunked_decode)
            f, b, x = (self._attn_flops(B, D, D) if mla else D * fl), R * kvb + tb, D * ex
            t = f / peak_eff                 # decode: no FLOP half-saturation (see _attn_s)
            tm = b / (hbm_eff * (b / (b + bhalf))) if b > 0.0 else 0.0
            tx = x / xrate
            t = tm if tm > t else t
            t = tx if tx > t else t
            t += launch
            if narrow:
                occ = self._kv_occupancy_s(B, B, R)
                if occ > 0.0:
                    occ += launch
                    t = occ if occ > t else t
            g = fixed + pp * (t / speed)
            times.append((g if g > eager else eager) + tail)
        return DecodeRun(B, float(context), list(accumulate(times)), first, self, self._cum(per_step))

    def _decode_times_array(self, B, context, steps, per_step, reads, mla, narrow, fixed, eager, tail, launch,
                            peak_eff, hbm_eff, bhalf, xrate) -> list:
        """``decode_run``'s per-iteration times on float64 arrays: the loop's operations, one by
        one in its order, element by element (IEEE-754 gives each the same double), so the
        same list to the last bit; a long macro-step (``DECODE_ARRAY_MIN_STEPS``) costs a few
        numpy calls instead of a Python iteration each."""
        D = np.array(per_step, dtype=np.float64) if per_step else context + B * np.arange(steps, dtype=np.float64)
        R = np.array(reads, dtype=np.float64) if reads else D
        if mla:     # _attn_flops(B, D, D)
            f = D * self._a_flop_pair
            mha = f + np.where(D > B, D - B, 0.0) * self._mla_decomp_key
            absorbed = D * self._a_flop_abs_pair
            f = np.where(absorbed < mha, absorbed, mha)
        else:
            f = D * self._a_flop_pair
        b = R * self._a_kv + B * self._a_tok
        # (the loop's ``x if x > t else t``: np.maximum, the same double for the non-NaN times here)
        t = np.maximum(f / peak_eff, b / (hbm_eff * (b / (b + bhalf))))
        t = np.maximum(t, D * self._a_exp_pair / xrate)
        t += launch
        if narrow:
            occ = self._kv_occupancy_array(B, R)
            # the loop's ``occ + launch if occ > 0``: where occ is 0, launch <= t already (t >= 0 + launch)
            t = np.maximum(t, occ + launch)
        g = fixed + self.pp * (t / self.compute.speed)
        return (np.maximum(g, eager) + tail).tolist()

    def _kv_occupancy_array(self, B: float, R: np.ndarray) -> np.ndarray:
        """``_kv_occupancy_s(B, B, r)`` for each ``r`` of ``R`` (a decode-only batch), the same
        operations element by element."""
        n = B if B > 1.0 else 1.0
        tiles = B if B >= 1.0 else 1.0
        ctas = self._kv_ctas * tiles
        if self.split_kv:
            per_seq = R / n / self._split_block
            rate = ctas * np.where(per_seq > 1.0, np.ceil(per_seq), 1.0) * self._cta_Bps
        else:
            rate = ctas * self._cta_Bps
        return np.where(rate >= self._hbm_kv_Bps, 0.0, R * self.kv_layer_gpu * self.stage_layers / rate)

    @staticmethod
    def _cum(per_step):
        return list(accumulate(per_step)) if per_step else None

    # -- attention pattern (sliding windows): layer-averaged batch descriptors ----------------
    def kv_tokens(self, context: float) -> float:
        """KV tokens a sequence of ``context`` tokens holds (and a decode step reads), averaged
        over the layers: ``f x context + (1 - f) x min(context, K)`` (f: ``full_fraction``, K:
        window + sinks); ``context`` itself without a sliding window. Times ``kv_token_gpu`` it
        is the sequence's KV bytes on one GPU (vLLM's hybrid KV cache manager frees a windowed
        layer's blocks once they leave the window)."""
        if not self.window:
            return context
        f = self.full_fraction
        if self.chunk:
            return f * context + (1.0 - f) * self.spec.chunk_keys(context)
        return f * context + (1.0 - f) * min(context, self.window)

    def keep_window_kv(self) -> None:
        """The engine keeps every token's KV on sliding-window layers too, as on full ones (one
        uniform KV pool of all layers: TensorRT-LLM's PyTorch backend unless
        ``kv_cache_config.max_attention_window`` lists per-layer windows, which the perf overview's
        GPT-OSS options do not; the window stays a mask of the attention kernels, as chunked
        attention is): ``kv_blocks`` and prefix-cache entries count every token; what a decode
        reads (``kv_tokens``) stays the window (engines.toml ``window_kv_freed``)."""
        self.window_kv_kept = True
        self.kv_full_fraction = 1.0

    def decode_kv_read(self, context: float) -> float:
        """KV tokens a decode over ``context`` reads, layer-averaged, in time: ``kv_tokens`` with
        a chunked layer's keys counted ``decode_chunk_weight`` times (``set_mmha_chunked_decode``)."""
        if not self.chunk or self.decode_chunk_weight == 1.0:
            return self.kv_tokens(context)
        f = self.full_fraction
        return f * context + (1.0 - f) * self.decode_chunk_weight * self.spec.chunk_keys(context)

    def mmha_key_time(self, l2_reuse: float, fp32_eff: float, max_seq: int = 0) -> tuple[float, float, float, float]:
        """Seconds per cached key of one layer's decode for one sequence on one GPU: (XQA, MMHA's
        HBM bound, MMHA's FP32 bound, MMHA's grid bound). XQA (TensorRT-LLM's generation kernel on
        Hopper) packs a KV head's query heads in one CTA and reads each key once: ``kv_layer_gpu``
        bytes at the KV read rate. MMHA (decoderMaskedMultiheadAttention, the fallback for chunked
        attention) launches one CTA per (query head, sequence) and streams its KV head's keys and
        values on its own, accumulating on CUDA cores in FP32:
        - HBM: the CTAs of the G = heads / kv_heads query heads of one KV head ask G x
          ``kv_layer_gpu`` bytes per key of L2, of which HBM serves ``l2_reuse`` x ``kv_layer_gpu``
          (1: every re-read hits L2; G: none does);
        - FP32: 4 x head_dim FLOPs per query head and key (q.k and p.v as FMAs) at ``fp32_eff`` x the
          chip's non-tensor FP32 rate (hardware.toml dense_tflops fp32);
        - grid: each CTA holds the step's logits in shared memory, ``mmha_smem_bytes_per_key`` x
          the batch's longest past (``max_seq``) or the chunk, the smaller (smem_size_in_bytes:
          min(max_past_kv_length, chunked_attention_size)), so an SM holds
          min(``mmha_ctas_per_sm_max``, smem per SM // that) CTAs (four at Llama 4's chunk), each
          streaming its G x bytes at ``cta_read_GBps`` (0 without ``max_seq`` or the GPU's
          compute.toml ``sm_count`` / ``smem_per_sm_KiB``).
        Shapes per GPU: local heads ``heads / tp``, local KV heads ``max(kv_heads / tp, 1)``."""
        rate = self._hbm_kv_Bps
        xqa = self.kv_layer_gpu / rate
        hbm = l2_reuse * self.kv_layer_gpu / rate
        fp32 = self.local_heads * 4.0 * self.spec.head_dim / (self.gpu.dense_flops["fp32"] * fp32_eff)
        grid = 0.0
        row = constants_row(self.gpu.name)
        if max_seq > 0 and "sm_count" in row and "smem_per_sm_KiB" in row:
            a = calibration()["attention"]
            keys = min(max_seq, self.chunk) if self.chunk else max_seq     # smem_size_in_bytes: min(timestep, chunk)
            smem = float(a["mmha_smem_bytes_per_key"]) * (keys + 1) + 1024.0     # + the CTA's reserve
            ctas = min(float(a["mmha_ctas_per_sm_max"]), math.floor(row["smem_per_sm_KiB"] * 1024.0 / smem))
            asked = self.local_heads * 2.0 * self.spec.head_dim * self.kvbytes     # each query head's K and V
            grid = asked / (row["sm_count"] * max(ctas, 1.0) * self._cta_Bps)
        return xqa, hbm, fp32, grid

    def set_mmha_chunked_decode(self, l2_reuse: float, fp32_eff: float, max_seq: int = 0) -> None:
        """TensorRT-LLM on Hopper runs a chunked layer's generation attention with MMHA instead of
        XQA (XQA has no chunked attention, decoderXQARunner: ``chunked_attention_size != INT_MAX``
        is unsupported; TensorRT-LLM PR #6306 keeps XQA only when max_seq_len <= the chunk): each of
        a decode's chunked-layer keys costs ``mmha_key_time``'s max(HBM, FP32, grid) over XQA's
        time, ``decode_chunk_weight`` XQA keys (>= 1). MMHA reads only the current chunk's keys
        (``kv_token_start_offset``), as XQA's mask does. Prefill (context FMHA) is unchanged."""
        if not self.chunk:
            return
        xqa, hbm, fp32, grid = self.mmha_key_time(l2_reuse, fp32_eff, max_seq)
        self.decode_chunk_weight = max(hbm, fp32, grid, xqa) / xqa

    def kv_blocks(self, tokens: int, block_tokens: int) -> int:
        """Blocks of ``block_tokens`` all-layer token slots that ``tokens`` tokens of a sequence
        occupy (``kv_tokens``, rounded up)."""
        if not self.window or self.chunk or self.window_kv_kept:   # chunked layers keep every token (module docstring)
            return -(-int(tokens) // block_tokens)
        return int(math.ceil(self.kv_tokens(float(tokens)) / block_tokens - 1e-9))

    def chunk_pairs(self, done: float, c: float) -> float:
        """Layer-averaged causal query-key pairs of a prefill chunk of ``c`` tokens after ``done``
        cached ones: ``c done + c^2/2`` on a full layer; on a windowed one each query at position
        x attends min(x, K) keys (the integral of min(x, K) over [done, done + c])."""
        full = c * done + c * c / 2.0
        if not self.window:
            return full
        if self.chunk:
            f = self.full_fraction
            return f * full + (1.0 - f) * (self.spec.chunk_pairs(done + c) - self.spec.chunk_pairs(done))
        K, a, b = float(self.window), float(done), float(done + c)
        win = full if b <= K else c * K if a >= K else (K * K - a * a) / 2.0 + (b - K) * K
        f = self.full_fraction
        return f * full + (1.0 - f) * win

    def chunk_kv(self, done: float, c: float) -> float:
        """Layer-averaged keys a chunk reads: ``done + c`` on a full layer, the union of its
        queries' windows (at most K + c) on a windowed one."""
        if not self.window:
            return done + c
        f = self.full_fraction
        if self.chunk:    # from the start of the chunk of the first query to the last query
            return f * (done + c) + (1.0 - f) * (done + c - self.chunk * math.floor(done / self.chunk))
        return f * (done + c) + (1.0 - f) * min(done + c, self.window + c)

    def decode_contexts(self, contexts, steps: int, weighted: bool = False) -> list[float]:
        """Layer-averaged summed context (= query-key pairs = KV tokens read) of each of
        ``steps`` decode iterations of sequences whose contexts start at ``contexts`` (each grows
        by one per iteration). ``weighted``: a chunked layer's keys count ``decode_chunk_weight``
        times (the KV tokens a decode's time reads, ``set_mmha_chunked_decode``)."""
        ctx = np.asarray(contexts, dtype=np.float64)
        j = np.arange(steps, dtype=np.float64)
        full = ctx.sum() + len(ctx) * j
        if not self.window:
            return full.tolist()
        if self.chunk:
            d = ctx[None, :] + j[:, None]
            C = float(self.chunk)
            win = np.where(d > C, d - C * np.floor((d - 1.0) / C), d).sum(axis=1)
            if weighted:
                win = win * self.decode_chunk_weight
        else:
            win = np.minimum(ctx[None, :] + j[:, None], float(self.window)).sum(axis=1)
        f = self.full_fraction
        return (f * full + (1.0 - f) * win).tolist()

    # -- memory --------------------------------------------------------------------------------
    def weight_bytes_per_gpu(self) -> float:
        """Weights one GPU holds; embeddings and LM head stay 16-bit in FP8/FP4 checkpoints
        (Hugging Face FP8 releases of Llama, Qwen3 and DeepSeek keep embed_tokens/lm_head bf16)."""
        emb_extra = self.spec.embedding_params() * max(2.0 - self.wbytes, 0.0)
        return (self.params * self.wbytes + emb_extra + self.expert_extra_bytes + self.expert_pad_bytes) / (self.tp * self.pp)

    # -- engine terms (host time, CUDA graphs, low-precision weight reads, speculative decoding) -
    def set_graph_batch_sizes(self, sizes) -> None:
        """Decode batch sizes the engine replays as CUDA graphs with padding (ascending; the
        engine profile's ``graph_batch_sizes``): see ``padded``."""
        self.graph_sizes = sorted(int(b) for b in sizes) if sizes else []

    def padded(self, T: float, S: float) -> float:
        """Rows a step of ``T`` tokens and ``S`` sampled sequences runs its GEMMs, LM head and TP
        all-reduces over: a decode-only step (T == S) of at most the largest graph batch replays
        the smallest captured graph of >= T sequences, the missing ones dummy requests
        (TensorRT-LLM ``enable_padding``: copies of one dummy request, so an MoE layer routes them to
        one token's experts, ``_fixed_stage_s`` ``real``; vLLM and SGLang pad to their capture sizes alike);
        attention runs over the real sequences' keys only. Any other step: T."""
        g = self.graph_sizes
        if not g or T != S or T > g[-1]:
            return T
        return float(g[bisect_left(g, T)])


    def _host_s(self, T: float, S: float, gpu_s: float, sync_s: float = 0.0) -> float:
        """Iteration seconds with the engine's CPU work: a step run without CUDA graphs (a prefill
        chunk in it, or more sequences than the largest graph) cannot finish before the CPU has
        launched its kernels (``eager_step_s``), nor before an overlap scheduler's CPU work for its
        S sequences (``overlap_per_seq_s`` x S, run while the GPU runs the previous step; with
        ``eager_serial``, TensorRT-LLM's one loop thread, the launches add to that work); the
        scheduler's per-step and per-sequence CPU time (``overhead_s``, ``host_per_seq_s``) is not
        hidden behind the GPU, unless the engine schedules asynchronously (``async_host``: vLLM
        --async-scheduling, SGLang's overlap scheduler), where it runs beside the GPU's step too and
        shows only beyond it (``step_with_host``). ``sync_s``: scheduler CPU that always runs beside
        the GPU's step (attention DP's per-step metadata all-gather, ``DpAttentionCost``): with
        synchronous scheduling the step takes at least it, with asynchronous scheduling it adds to
        the host work the GPU step hides."""
        hidden = self.overlap_per_seq_s * S
        if self.eager_step_s > 0.0 and (T > S or S > self.graph_max_batch):
            if self.eager_serial:
                # launched from the overlap scheduler's own thread, after its per-sequence work
                hidden += self.eager_step_s
            elif gpu_s < self.eager_step_s:
                gpu_s = self.eager_step_s
        if self.async_host:
            hidden += sync_s
        elif sync_s > hidden:
            hidden = sync_s
        return step_with_host(gpu_s, self.overhead_s + self.host_per_seq_s * S, hidden, self.async_host)

    def set_weight_read_efficiency(self, eff: float) -> None:
        """GEMM weight reads reach ``eff`` of the HBM bandwidth bf16 GEMMs reach (an engine's
        FP8/FP4 small-M kernels: per-token activation quantization, scale epilogues); not the routed
        experts of the TRTLLM-gen class (set_fused_moe_backend: their stream is that kernel's measured
        rate). Also applies the kernel classes' weight streams: TRTLLM-gen experts, 16-bit GEMMs at
        compute.toml serve_gemm_stream_hbm_eff (``_weight_stream_scale``)."""
        if not 0.0 < eff <= 1.0:
            raise ConfigError("engine.lowp_weight_read_efficiency", f"must be in (0, 1], got {eff}")
        self.weight_read_eff = eff
        # the TRTLLM-gen kernel class (set_fused_moe_backend): its expert GEMMs' weights at its own
        # streaming rate (a measured rate of that kernel: the engine's low-precision penalty, a fit to its
        # CUTLASS / DeepGEMM GEMMs, is not applied to them), the ops it fuses into them not launched
        scale, fused, gen = self._moe_stream_scale, self._moe_fused_ops, self._moe_gen
        ops = [(replace(o, b0=o.b0 / eff) if o.kind == "gemm" and eff != 1.0 and not (gen and o.expert) else o, n)
               for o, n in self._base_ops]
        # GEMMs over 16-bit weights at their kernel class's streaming rate (_gemm_stream_eff); the
        # TRTLLM-gen experts keep theirs
        dense = self._weight_stream_scale(self.wbytes)
        expert_wb = (EXPERT_WEIGHT_BYTES.get(self.expert_precision) or BYTES_PER_ELEMENT[self.expert_precision]
                     if self.expert_precision else self.wbytes)
        routed = self._weight_stream_scale(expert_wb) if scale == 1.0 else 1.0
        if dense != 1.0 or routed != 1.0:
            ops = [(replace(o, b0=o.b0 * (routed if o.expert else dense)) if o.kind == "gemm" else o, n)
                   for o, n in ops]
        if scale != 1.0 or fused:
            ops = [(replace(o, b0=o.b0 * scale) if o.expert and o.kind == "gemm" else o, n)
                   for o, n in ops if o.name not in fused]
        self.layers.ops = ops
        self._fixed_memo.clear()

    def set_expert_precision(self, precision: str) -> None:
        """Routed experts stored at ``precision`` while the rest runs at the replica's (FP4
        experts with bf16/FP8 attention): expert GEMMs read that many bytes per weight
        (``EXPERT_WEIGHT_BYTES``: MXFP4's block scales included) and the weights held shrink or
        grow accordingly. Their tensor rate is the replica's: the activations' precision sets
        the MMA (a GPU without FP4 tensor cores runs FP4 weights weight-only, dequantized to the
        activations' precision in registers, as Triton's MXFP4 MoE on Hopper: BF16 x MXFP4; W4A8
        on Blackwell runs the FP8 MMA), times calibration.toml [fused_moe] mixed_input_eff where
        the weights are narrower than the MMA takes (the dequantizing main loop)."""
        if not self.spec.is_moe:
            raise ConfigError("serve.expert_precision", f"{self.spec.name} has no routed experts")
        wb = EXPERT_WEIGHT_BYTES.get(precision) or BYTES_PER_ELEMENT[precision]
        self.expert_precision = precision
        ratio = wb / self.wbytes
        # weights narrower than the MMA: a mixed-input kernel dequantizes them in its main loop
        # (calibration.toml [fused_moe] mixed_input_eff; set_expert_compute_precision resets it),
        # but for FP8 activations on FP4-capable tensor cores (Blackwell's block-scaled f8f6f4 MMA
        # takes FP4 weights as they are)
        eff = self.moe_mixed_input_eff if experts_weight_only(wb, self.wbytes, self.gpu.has_tensor_rate("fp4")) else 1.0
        # the rate by M tile: _fixed_stage_s (fused_moe.mixed_input_efficiency); eff is its large-M value
        self._mixed_input = eff < 1.0
        self._mixed_layers_memo = {}
        self._base_ops = [(replace(o, b0=o.b0 * ratio, rate=o.rate * eff) if o.expert and o.kind == "gemm" else o, n)
                          for o, n in self._base_ops]
        moe_layers = round(self.moe_fraction * self.spec.layers)
        self.expert_extra_bytes = (self.spec.experts * self.expert_params * moe_layers * (wb - self.wbytes))
        self.set_weight_read_efficiency(self.weight_read_eff)
        if self.fused_moe_backend:
            self.set_fused_moe_backend(self.fused_moe_backend)

    def set_expert_compute_precision(self, precision: str) -> None:
        """Routed experts' GEMMs run their MMA at ``precision`` (the engine quantizes their
        activations to it) while the rest runs at the replica's: their FLOPs at that precision's
        tensor rate (``ComputeModel.rate``: its dense peak x the GPU's factor for it). Their weight
        bytes stay ``set_expert_precision``'s. Raises ConfigError (serve.expert_compute_precision)
        on a model without routed experts or a GPU without that precision's tensor cores."""
        if not self.spec.is_moe:
            raise ConfigError("serve.expert_compute_precision", f"{self.spec.name} has no routed experts")
        weights = self.expert_precision or self.compute.precision
        width = BYTES_PER_ELEMENT.get(precision.removeprefix("mx"))
        if width is not None and width < BYTES_PER_ELEMENT[weights.removeprefix("mx")]:
            # an MMA narrower than the weights held would re-quantize them every step: an engine
            # stores them at that precision instead (serve.expert_precision)
            raise ConfigError("serve.expert_compute_precision", f"{precision} is narrower than the routed experts' "
                              f"{weights} weights (serve.expert_precision, default serve.precision); an engine "
                              f"that runs {precision} expert GEMMs stores the experts at {precision}: set "
                              f"serve.expert_precision to it")
        gpu = self.gpu
        def native(p):       # tensor cores of that width (not the catalogue's fallback to a wider rate)
            return p in ("bf16", "fp16") or gpu.has_tensor_rate(p)
        # block-scaled MX MMAs came with FP4-capable tensor cores (Blackwell, CDNA4)
        if not native(precision.removeprefix("mx")) or (precision.startswith("mx") and not native("fp4")):
            raise ConfigError("serve.expert_compute_precision",
                              f"{gpu.name} has no {precision} tensor cores (its rates: {', '.join(sorted(gpu.dense_flops))}); "
                              f"leave it unset to run the experts weight-only at serve.precision")
        try:
            rate = self.compute.rate(precision)
        except ConfigError as err:
            raise ConfigError("serve.expert_compute_precision", err.reason) from None
        if not rate > 0.0:
            raise ConfigError("serve.expert_compute_precision", f"{self.gpu.name} has no {precision} tensor cores")
        self._base_ops = [(replace(o, rate=rate * self._moe_backend_eff) if o.expert and o.kind == "gemm" else o, n)
                          for o, n in self._base_ops]
        self._mixed_input = False           # the experts' own MMA: no dequantizing main loop
        self.expert_mma = precision
        self.set_weight_read_efficiency(self.weight_read_eff)
        if self.fused_moe_backend:
            self.set_fused_moe_backend(self.fused_moe_backend)

    def set_fused_moe_backend(self, backend: str) -> None:
        """The engine's fused-MoE kernel class (engines.toml ``fused_moe_backend``). ``"cutlass"``
        (TensorRT-LLM's CUTLASS fused MoE, its MoeConfig default) with the experts' MMA at FP4 on a GPU
        with FP4 tensor cores (Blackwell NVFP4 W4A4) runs as measured whole in aiconfigurator's B200 /
        GB200 collections (data/fused_moe_layers_blackwell.csv): its grouped GEMMs at
        calibration.toml [fused_moe] ``cutlass_fp4_gemm_eff`` of the dense FP4 rate, and
        ``cutlass_fp4_copy_ns`` per routed (token, expert) copy on this GPU (routing, expand / permute,
        activation quantization and finalize beyond the bytes dcsim's permute / unpermute ops price),
        ``moe_copy_s``, and, every launch, ``cutlass_launch_us`` (``moe_launch_s``, its kernels' fill and tails
        beyond the ops dcsim prices) with the experts' weights streamed at ``cutlass_hbm_eff`` of the HBM peak
        where the serving fit's hbm_eff_max is lower (issue 12, moegrid17; both with the per-copy time; shipped
        0 = off, a candidate evaluated and not adopted, calibration.toml). Experts on another MMA the module runs natively (calibration.toml
        ``cutlass_copy_mmas``: W4A8 MXFP4 x MXFP8, GPT-OSS on Blackwell) take the per-copy, launch and stream terms alone, their
        GEMMs at their own MMA's rate (issue 12, gptbw16). Any other backend, a model without routed
        experts, experts on another MMA (weight-only, per-tensor FP8) or a GPU without FP4 tensor cores:
        unchanged. ``"trtllm_gen"``
        (TensorRT-LLM's TRTLLM-gen fused MoE, MoeConfig backend "TRTLLM") on a GPU with FP4 tensor cores,
        any expert MMA it takes natively (NVFP4, MXFP8 x MXFP4, FP8; not a mixed-input dequantizing
        kernel): its expert GEMMs stream their weights at calibration.toml [fused_moe]
        ``trtllm_gen_hbm_eff`` of the HBM peak (their weight bytes x hbm_eff_max / that, where the
        serving fit's hbm_eff_max is lower) and the ops it fuses into them (``trtllm_gen_fused_ops``:
        the routed rows' gather and the SwiGLU) are not launched. Idempotent; raises
        ConfigError (engine.fused_moe_backend) on an unknown backend."""
        if backend not in fused_moe.BACKENDS:
            raise ConfigError("engine.fused_moe_backend", f"must be one of {fused_moe.BACKENDS}, got {backend!r}")
        self.fused_moe_backend = backend
        fm = calibration()["fused_moe"]
        cutlass = (backend == "cutlass" and self.spec.is_moe and not self._mixed_input
                   and self.gpu.has_tensor_rate("fp4"))
        mma = self.expert_mma.removeprefix("nv")
        # the grouped GEMMs' FP4-MMA efficiency: NVFP4 W4A4 only (FP8-class MMAs run at their rate)
        applies = cutlass and mma == "fp4"
        # the module's per-copy work (routing sort, expand / finalize indexing): every MMA it is known
        # for (calibration.toml [fused_moe] cutlass_copy_mmas: NVFP4, and W4A8 MXFP4 x MXFP8)
        copy_mmas = fm.get("cutlass_copy_mmas", ["fp4"])
        if not (isinstance(copy_mmas, list) and all(isinstance(x, str) for x in copy_mmas)):
            raise ConfigError("calibration.fused_moe.cutlass_copy_mmas",
                              f"{copy_mmas!r} is not a list of expert MMA precisions (workloads/serving/data/calibration.toml)")
        eff = float(fm["cutlass_fp4_gemm_eff"]) if applies else 1.0
        self.moe_copy_s = float(fm["cutlass_fp4_copy_ns"]) * 1e-9 if (cutlass and mma in copy_mmas) else 0.0
        # the module's grouped GEMMs stream the experts' weights at cutlass_hbm_eff of the HBM peak (where the
        # serving fit's hbm_eff_max is lower) after a fixed cutlass_launch_us per launch (issue 12, moegrid17):
        # the same MMAs as the per-copy work
        module = cutlass and mma in copy_mmas
        launch_us = fm.get("cutlass_launch_us", 0.0) if module else 0.0
        if not (isinstance(launch_us, (int, float)) and math.isfinite(launch_us) and launch_us >= 0.0):
            raise ConfigError("calibration.fused_moe.cutlass_launch_us",
                              f"{launch_us!r} is not a time >= 0 us (workloads/serving/data/calibration.toml)")
        self.moe_launch_s = float(launch_us) * 1e-6
        # TRTLLM-gen (sm100f batched-GEMM cubins: GPUs with FP4 tensor cores), any expert MMA it runs
        # natively (not a dequantizing mixed-input main loop): calibration.toml [fused_moe] trtllm_gen_*
        gen = (backend == "trtllm_gen" and self.spec.is_moe and not self._mixed_input
               and self.gpu.has_tensor_rate("fp4"))
        stream, fused = 1.0, ()
        if module:
            c_eff = fm.get("cutlass_hbm_eff", 0.0)
            if not (isinstance(c_eff, (int, float)) and math.isfinite(c_eff) and 0.0 <= c_eff <= 1.0):
                raise ConfigError("calibration.fused_moe.cutlass_hbm_eff",
                                  f"{c_eff!r} is not a fraction of the HBM peak in [0, 1] (0: the serving fit's rate; "
                                  f"workloads/serving/data/calibration.toml)")
            if c_eff > 0.0:
                stream = min(1.0, self.compute.eff.hbm_eff_max / float(c_eff))
        if gen:
            g_eff = fm.get("trtllm_gen_hbm_eff")
            if not (isinstance(g_eff, (int, float)) and math.isfinite(g_eff) and 0.0 < g_eff <= 1.0):
                raise ConfigError("calibration.fused_moe.trtllm_gen_hbm_eff",
                                  f"{g_eff!r} is not a fraction of the HBM peak in (0, 1] (workloads/serving/data/calibration.toml)")
            fused = fm.get("trtllm_gen_fused_ops", [])
            if not (isinstance(fused, list) and all(isinstance(x, str) for x in fused)):
                raise ConfigError("calibration.fused_moe.trtllm_gen_fused_ops",
                                  f"{fused!r} is not a list of op names (workloads/serving/data/calibration.toml)")
            unknown = set(fused) - {o.name for o, _ in self._base_ops}
            if unknown:
                raise ConfigError("calibration.fused_moe.trtllm_gen_fused_ops",
                                  f"{sorted(unknown)} name no op of this model's layers (workloads/serving/data/calibration.toml)")
            fused = tuple(fused)
            # weights stream at g_eff of the peak where the serving fit's hbm_eff_max is lower
            stream = min(1.0, self.compute.eff.hbm_eff_max / float(g_eff))
        if stream != self._moe_stream_scale or fused != self._moe_fused_ops or gen != self._moe_gen:
            self._moe_stream_scale, self._moe_fused_ops, self._moe_gen = stream, fused, gen
            self._mixed_layers_memo = {}
            self.set_weight_read_efficiency(self.weight_read_eff)
        # data, not a user's key: an edited constant must not reach the step times as NaN or a negative cost
        if not (math.isfinite(eff) and 0.0 < eff <= 1.0):
            raise ConfigError("calibration.fused_moe.cutlass_fp4_gemm_eff",
                              f"{eff!r} is not a fraction of the dense FP4 rate in (0, 1] (workloads/serving/data/calibration.toml)")
        if not (math.isfinite(self.moe_copy_s) and self.moe_copy_s >= 0.0):
            raise ConfigError("calibration.fused_moe.cutlass_fp4_copy_ns",
                              f"{fm['cutlass_fp4_copy_ns']!r} is not a time >= 0 ns (workloads/serving/data/calibration.toml)")
        if eff != self._moe_backend_eff:
            scale = eff / self._moe_backend_eff
            self._base_ops = [(replace(o, rate=o.rate * scale) if o.expert and o.kind == "gemm" else o, n)
                              for o, n in self._base_ops]
            self._moe_backend_eff = eff
            self._mixed_layers_memo = {}
            self.set_weight_read_efficiency(self.weight_read_eff)
        self._fixed_memo.clear()

    def set_speculative(self, tokens: int, acceptance, verify_tokens: int | None = None,
                        draft_layers: float = 1.0, **kw) -> None:
        """Speculative decoding (``speculative.Speculation``): ``tokens`` draft steps per decode
        step, each accepted with the probability ``acceptance`` (a number: the mean accepted
        fraction; a list: per position), ``verify_tokens`` tokens per sequence checked by the
        target (default tokens + 1), ``draft_layers`` target-layer equivalents per draft step;
        ``kw``: ``topk``, ``draft_vocab``, ``step_s``, ``seq_s``, ``draft_seq_s``, ``draft_step_s``."""
        from workloads.serving.speculative import Speculation
        self.speculation = Speculation.from_config(tokens, acceptance, verify_tokens, draft_layers, **kw)
        self.spec_tokens = self.speculation.tokens
        self.spec_gain = self.speculation.gain

    def _speculative_step_s(self, B: float, context: float) -> float:
        """Seconds per generated token of a decode step of ``B`` sequences with speculation."""
        return self.speculation.token_s(self, B, context)

    def weights_advice(self) -> str:
        """The end of a 'weights exceed HBM' message: the replica's layout and the keys that
        would shrink the weights per GPU (a narrower serve.expert_precision for an MoE model
        whose experts are stored at serve.precision)."""
        advice = f"({self.weights_layout()}); raise serve.tp or serve.pp"
        if self.spec.is_moe and not self.expert_precision:
            advice += " or store the routed experts narrower (serve.expert_precision, e.g. 'mxfp4' as GPT-OSS ships)"
        return advice

    def weights_layout(self) -> str:
        """How the replica spreads its weights over GPUs, for ``weights_advice``."""
        return f"tp={self.tp}, pp={self.pp}"

    def workspace_bytes(self, max_batch_tokens: int, max_batch_size: int) -> float:
        """Activation workspace of one iteration at the engine's limits: the widest layer's
        intermediate tensors for max_batch_tokens, plus fp32 logits for max_batch_size rows."""
        s, cal = self.spec, calibration()["memory"]
        width = s.hidden * 4 + 2 * max(s.ffn_hidden, s.expert_ffn_hidden * max(s.top_k, 1)) / self.tp
        return (cal["workspace_factor"] * ACT_BYTES * max_batch_tokens * width
                + 4.0 * max_batch_size * s.vocab / self.tp)

    def kv_capacity_tokens(self, memory_fraction: float, max_batch_tokens: int,
                           max_batch_size: int) -> int:
        reserve = calibration()["memory"]["runtime_reserve_GB"] * 1e9
        weights = self.weight_bytes_per_gpu()
        if weights > self.gpu.hbm_bytes:
            raise InfeasibleError("serve.tp", f"{self.spec.name}: {weights / 1e9:.1f} GB of weights per GPU "
                                  f"exceed {self.gpu.name}'s {self.gpu.hbm_bytes / 1e9:.0f} GB HBM "
                                  f"{self.weights_advice()}")
        # the speculative drafter's weights (Speculation.weight_bytes) are held beside the model's
        if self.spec_tokens:
            weights += self.speculation.weight_bytes(self)
        free = (self.gpu.hbm_bytes * memory_fraction - weights - reserve
                - self.workspace_bytes(max_batch_tokens, max_batch_size))
        tokens = int(free // self.kv_token_gpu)
        if tokens <= 0:
            raise InfeasibleError("serve.gpu_memory_utilization",
                                  f"no HBM left for the KV cache: weights {weights / 1e9:.1f} GB, "
                                  f"HBM {self.gpu.hbm_bytes / 1e9:.0f} GB x {memory_fraction}")
        return tokens

    # -- time ----------------------------------------------------------------------------------
    def stage_compute(self, tokens, samples, attn_pairs, kv_read) -> np.ndarray:
        """Seconds of one pipeline stage's kernels on one GPU (one entry per batch descriptor)."""
        T, S = np.atleast_1d(tokens), np.atleast_1d(samples)
        P, K = np.atleast_1d(attn_pairs), np.atleast_1d(kv_read)
        out = []
        for t, s, p, k in zip(T, S, P, K):
            g = self.padded(float(t), float(s))
            out.append(self._fixed_stage_s(g, g if g != t else float(s), float(t) if g != t else None)
                       + self._attn_s(float(t), float(p), float(k), float(s)))
        return np.array(out, dtype=np.float64)

    def comm_bytes(self, tokens) -> tuple[np.ndarray, np.ndarray, int]:
        """Per-GPU bytes each GPU sends per iteration for TP all-reduces (ring: 2(n-1)/n x S
        per all-reduce, two per layer) and EP all-to-all (dispatch + combine), and PP
        activation sends; plus the number of collectives (their latencies add)."""
        s, tp, T = self.spec, self.tp, np.asarray(tokens, dtype=np.float64)
        act = T * s.hidden * ACT_BYTES
        n_coll = 0
        tp_bytes = np.zeros_like(T)
        if tp > 1:
            ar = 2.0 * (tp - 1) / tp * act
            moe_layers = round(self.moe_fraction * s.layers) if self.ep > 1 else 0
            dense = s.layers - moe_layers
            tp_bytes = ar * (2 * dense + moe_layers)          # MoE layers: attention all-reduce only
            if moe_layers:
                a2a = 2.0 * (self.ep - 1) / self.ep * act * s.top_k / self.ep
                tp_bytes = tp_bytes + a2a * moe_layers
            n_coll = 2 * s.layers
        pp_bytes = act * (self.pp - 1) / self.pp if self.pp > 1 else np.zeros_like(T)
        n_coll += self.pp - 1
        return tp_bytes, pp_bytes, n_coll

    def comm_time(self, tokens) -> np.ndarray:
        tp_bytes, pp_bytes, n_coll = self.comm_bytes(tokens)
        if self.tp == 1 and self.pp == 1:
            return np.zeros(len(np.atleast_1d(tokens)))
        return (tp_bytes + pp_bytes * self.pp) / self.link.Bps + n_coll * self.link.latency_s

    def with_link(self, link: CommLink) -> "IterationCost":
        """The same replica whose TP group communicates over ``link`` instead (a replica placed
        across scale-up domains where the one the cost was built on sits in one): its
        collectives' bytes and count are unchanged, their bandwidth and latency are the link's."""
        import copy
        c = copy.copy(self)
        c.link = link
        c._coll_s = self._n_coll * link.latency_s
        for name, value in vars(self).items():  # memoized times belong to the other link
            if name.endswith("_memo") and isinstance(value, dict):
                setattr(c, name, {})
        return c

    def with_speed(self, speed: float) -> "IterationCost":
        """The same replica on GPUs whose compute runs at ``speed`` x nominal (stragglers,
        power caps): every kernel time is divided by it; communication is unchanged."""
        import copy
        c = copy.copy(self)
        c.compute = copy.copy(self.compute)
        c.compute.speed = self.compute.speed * speed
        c._speed = float(c.compute.speed)
        c.layers = copy.copy(self.layers)       # its kernels time on the slowed compute model
        c.layers.cm = c.compute
        for name, value in vars(self).items():  # memoized times belong to the nominal speed
            if name.endswith("_memo") and isinstance(value, dict):
                setattr(c, name, {})
        return c

    def times(self, tokens, samples, attn_pairs, kv_read) -> np.ndarray:
        """Seconds per iteration (one entry per batch descriptor), as ``batch(...).time_s``; with
        speculative decoding a decode-only entry (tokens == samples) is one generated token per
        sequence (``_speculative_step_s``)."""
        T, S = np.atleast_1d(tokens), np.atleast_1d(samples)
        rows = np.array([self.padded(float(t), float(s_)) for t, s_ in zip(T, S)], dtype=np.float64)
        gpu = self.pp * self.stage_compute(tokens, samples, attn_pairs, kv_read) + self.comm_time(rows)
        P = np.atleast_1d(attn_pairs)
        out = []
        for t, s_, p, g in zip(T, S, P, gpu):
            if self.spec_tokens and t == s_:
                out.append(self._speculative_step_s(float(s_), float(p)))
            else:
                out.append(self._host_s(float(t), float(s_), float(g)))
        return np.array(out, dtype=np.float64)

    def model_flops(self, tokens, samples, attn_pairs) -> np.ndarray:
        """Useful FLOPs of iterations on the whole replica: 2 x active matmul parameters per
        token, the LM head per sampled row, and causal attention (for MFU)."""
        s = self.spec
        T = np.asarray(tokens, dtype=np.float64)
        return (2.0 * T * self.active_matmul + 2.0 * np.asarray(samples, dtype=np.float64) * s.hidden * s.vocab
                + 2.0 * np.asarray(attn_pairs, dtype=np.float64) * self.attn_dims * s.layers)

    @property
    def _mb_const(self) -> float:
        """The replica's weight bytes MBU counts once per iteration: every parameter at the serving
        precision, the routed experts at their own (``set_expert_precision``: MXFP4 experts of a bf16
        model; was the serving precision's bytes for them too, so a GPT-OSS run reported an MBU above 1)
        and the engine's expert padding (``set_mixed_input_alignment``); the LM head at its own precision
        (``_head_precision``: the 16-bit head of a low-precision checkpoint, as the step reads it)."""
        head_extra = self.spec.hidden * self.spec.vocab * max(self._h_bytes - self.wbytes, 0.0)
        return self.params * self.wbytes + head_extra + self.expert_extra_bytes + self.expert_pad_bytes

    def routed_expert_bytes(self) -> float:
        """Bytes of the replica's routed experts (every MoE layer, each expert once): at their own
        precision, with the engine's padding (part of ``_mb_const``); 0 for a dense model."""
        s = self.spec
        if not s.is_moe:
            return 0.0
        moe_layers = round(self.moe_fraction * s.layers)
        return (s.experts * self.expert_params * moe_layers * self.wbytes
                + self.expert_extra_bytes + self.expert_pad_bytes)

    def untouched_expert_bytes(self, tokens):
        """Expected bytes of routed experts no token of a step of ``tokens`` tokens routes to (an
        array for an array): each expert of a layer is read by at least one of T tokens with
        probability 1 - (1 - top_k / experts)^T (uniform routing, as ``_fixed_stage_s`` prices its
        reads), so a step reads that share of them and MBU counts no more (it counted every expert
        at every step: an MBU of 1.8 for DeepSeek-V3 at TP8 and of 2.6 for GPT-OSS-120B on a B200
        decoding one sequence, more bytes than HBM moves in the step's time)."""
        s = self.spec
        if not s.is_moe:
            return 0.0 * np.asarray(tokens, dtype=np.float64) if np.ndim(tokens) else 0.0
        miss = 1.0 - min(s.top_k / s.experts, 1.0)
        T = np.maximum(np.asarray(tokens, dtype=np.float64), 0.0) if np.ndim(tokens) else max(float(tokens), 0.0)
        return self.routed_expert_bytes() * miss ** T

    def weight_read_bytes(self, tokens: float) -> float:
        """The weight bytes MBU counts for a step of ``tokens`` tokens on the replica: ``_mb_const``
        less the routed experts none of its tokens reaches (``untouched_expert_bytes``)."""
        return self._mb_const - self.untouched_expert_bytes(tokens)

    def model_bytes(self, tokens, kv_read) -> np.ndarray:
        """HBM bytes iterations must move on the whole replica: every weight its tokens need once
        (``weight_read_bytes``) and the KV cache they attend over (for MBU)."""
        T = np.asarray(tokens, dtype=np.float64)
        return (self._mb_const * np.ones_like(T) - self.untouched_expert_bytes(T)
                + np.asarray(kv_read, dtype=np.float64) * self.kv_token_replica)

    def prefill_time(self, prompt_tokens: int) -> float:
        """Unloaded time of one prompt's prefill in a single iteration."""
        c = float(prompt_tokens)
        return float(self.times([c], [1.0], [self.chunk_pairs(0.0, c)], [self.chunk_kv(0.0, c)])[0])


def check_precision(gpu: GpuSpec, precision: str) -> None:
    try:
        gpu.peak_flops(precision)
    except ConfigError as err:
        raise ConfigError("serve.precision", err.reason) from None
