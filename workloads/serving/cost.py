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
- per GPU: a replica of ``tp x pp`` GPUs holds 1/(tp*pp) of the weights (TP splits every matmul,
  PP splits the layers); KV heads split over TP (replicated when tp > kv_heads; MLA's latent is
  replicated on every TP rank).
- ``IterationCost.times(...)``: seconds per iteration = pp x stage compute (a batch crosses the
  stages in turn; a PP replica runs pp such batches in flight, see deployment.py) + exposed
  TP/EP/PP communication + the engine's per-iteration scheduling overhead. Weight reads make decode bandwidth-bound at small batch;
  the 2 x tokens x parameters FLOPs make it compute-bound at large batch.
- calibration constants are data in ``data/calibration.toml`` with their sources.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from sim.compute import ComputeModel, efficiency_for
from sim.errors import ConfigError, InfeasibleError
from sim.hardware import BYTES_PER_ELEMENT, GpuSpec
from workloads.model import ModelSpec

ACT_BYTES = 2.0     # activations between kernels stay 16-bit in fp8 engines (TRT-LLM, vLLM)
CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.toml"


@lru_cache(maxsize=1)
def calibration() -> dict:
    return tomllib.loads(CALIBRATION.read_text())


@dataclass
class CommLink:
    """The replica's intra-group link: effective bytes/s per GPU per direction and per-collective
    latency (s)."""
    Bps: float
    latency_s: float


class IterationCost:
    """Seconds per iteration of one replica as a function of its batch."""

    def __init__(self, spec: ModelSpec, gpu: GpuSpec, precision: str, kv_precision: str,
                 tp: int = 1, pp: int = 1, ep: int = 1, link: CommLink | None = None,
                 schedule_overhead_s: float | None = None):
        if spec.heads % tp:
            raise InfeasibleError("serve.tp", f"tp={tp} does not divide heads ({spec.heads})")
        if spec.layers % pp:
            raise InfeasibleError("serve.pp", f"pp={pp} does not divide layers ({spec.layers})")
        if ep > 1 and (not spec.is_moe or tp % ep or spec.experts % ep):
            raise InfeasibleError("serve.ep", f"ep={ep} needs an MoE model whose experts and serve.tp ({tp}) it divides")
        cal = calibration()
        self.spec, self.gpu, self.tp, self.pp, self.ep = spec, gpu, tp, pp, ep
        eff = efficiency_for(gpu.name)
        scale = cal.get("tensor_efficiency", {}).get(precision, 1.0)
        eff = replace(eff, gemm_eff_max=eff.gemm_eff_max * scale, attn_eff_max=eff.attn_eff_max * scale)
        self.compute = ComputeModel(gpu, precision, eff)
        self.wbytes = BYTES_PER_ELEMENT[precision]
        self.kvbytes = BYTES_PER_ELEMENT[kv_precision]
        self.link = link or CommLink(gpu.scaleup_Bps * 0.8, cal["comm"]["collective_latency_us"] * 1e-6)
        self.overhead_s = (cal["engine"]["schedule_overhead_us"] * 1e-6
                           if not schedule_overhead_s else schedule_overhead_s)
        self.kv_bw_eff = cal["attention"]["kv_read_efficiency"]
        # engine host time (set by the deployment from its engine profile, see engines.py)
        self.host_per_seq_s = 0.0          # CPU per scheduled sequence per step
        self.eager_step_s = 0.0            # CPU launch time of a step run without CUDA graphs
        self.graph_max_batch = 0           # largest decode batch a CUDA graph covers (0: no eager steps)
        self.spec_tokens = 0               # speculative decoding (set_speculative): draft tokens per step
        self.weight_read_eff = 1.0         # HBM fraction of weight reads relative to bf16 GEMMs (engine, fp8/fp4)
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
        self.kv_token_replica = spec.kv_cache_bytes_per_token(self.kvbytes)  # distinct bytes/token
        self.attn_width = (spec.q_dim + spec.attn_out_dim) / tp
        self.params = spec.params()                                        # cached: loops over layers
        self.active_matmul = spec.active_params() - spec.embedding_params()
        self.attn_dims = spec.q_dim + spec.attn_out_dim
        self.local_heads = spec.heads / tp

    # -- memory --------------------------------------------------------------------------------
    def weight_bytes_per_gpu(self) -> float:
        """Weights one GPU holds; embeddings and LM head stay 16-bit in FP8/FP4 checkpoints
        (Hugging Face FP8 releases of Llama, Qwen3 and DeepSeek keep embed_tokens/lm_head bf16)."""
        emb_extra = self.spec.embedding_params() * max(2.0 - self.wbytes, 0.0)
        return (self.params * self.wbytes + emb_extra) / (self.tp * self.pp)

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
                                  f"(tp={self.tp}, pp={self.pp}); raise serve.tp or serve.pp")
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
        """Seconds of one pipeline stage's kernels on one GPU."""
        s, tp = self.spec, self.tp
        T = np.asarray(tokens, dtype=np.float64)
        S = np.asarray(samples, dtype=np.float64)
        pairs = np.asarray(attn_pairs, dtype=np.float64)
        kvr = np.asarray(kv_read, dtype=np.float64)
        Ls = self.stage_layers
        h, a = s.hidden, ACT_BYTES
        # matmuls: active parameters per token; weights actually read (an MoE layer reads only
        # the experts its tokens route to: E * (1 - (1 - k/E)^T) distinct experts)
        if s.is_moe:
            touched = s.experts * (1.0 - (1.0 - s.top_k / s.experts) ** np.maximum(T, 1.0))
            moe_w = self.attn_params + (touched + s.shared_experts) * self.expert_params
            moe_f = self.attn_params + (s.top_k + s.shared_experts) * self.expert_params
            dense_w = self.attn_params + self.dense_mlp
            w_layer = self.moe_fraction * moe_w + (1 - self.moe_fraction) * dense_w
            f_layer = self.moe_fraction * moe_f + (1 - self.moe_fraction) * dense_w
        else:
            w_layer = f_layer = self.attn_params + self.dense_mlp
        ffn = max(s.ffn_hidden, s.expert_ffn_hidden * max(s.top_k, 1))
        gemm_flops = 2.0 * T * f_layer / tp * Ls
        gemm_bytes = (self.wbytes * w_layer / tp / self.weight_read_eff + a * T * (4 * h + 3 * ffn / tp)) * Ls
        attn_flops = 2.0 * pairs * self.attn_width * Ls
        attn_bytes = (kvr * self.kv_layer_gpu / self.kv_bw_eff + a * T * self.attn_width * 2) * Ls
        attn_exps = pairs * self.local_heads * Ls
        other_bytes = 10.0 * a * T * h * Ls                 # norms, residuals, rotary, activation fn
        head_flops = 2.0 * S * h * s.vocab / tp / self.pp   # LM head on the last stage (averaged)
        head_bytes = (self.wbytes * h * s.vocab / tp + 4.0 * S * s.vocab / tp) / self.pp
        n = len(T)
        flops = np.concatenate([gemm_flops, attn_flops, np.zeros(n), head_flops])
        nbytes = np.concatenate([gemm_bytes, attn_bytes, other_bytes, head_bytes])
        exps = np.concatenate([np.zeros(n), attn_exps, np.zeros(n), np.zeros(n)])
        is_attn = np.concatenate([np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool)])
        gemm_kernels = 4 + (2 if s.is_moe else 0)
        count = np.concatenate([np.full(n, gemm_kernels * Ls), np.full(n, Ls), np.full(n, 3 * Ls), np.ones(n)])
        t = self.compute.times(flops, nbytes, exps, is_attn, count)
        return t.reshape(4, n).sum(axis=0)

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

    def times(self, tokens, samples, attn_pairs, kv_read) -> np.ndarray:
        """Seconds per iteration (one entry per batch descriptor). With speculative decoding a
        decode-only iteration (tokens == samples) stands for one generated token per sequence:
        a draft-and-verify step divided by the mean tokens it yields (``speculative_times``)."""
        gpu = self.pp * self.stage_compute(tokens, samples, attn_pairs, kv_read) + self.comm_time(tokens)
        t = self.host_time(tokens, samples, gpu)
        if self.spec_tokens:
            T = np.asarray(tokens, dtype=np.float64)
            S = np.asarray(samples, dtype=np.float64)
            dec = T == S
            if dec.any():
                t = np.array(t, dtype=np.float64)
                t[dec] = self.speculative_times(S[dec], np.asarray(attn_pairs, dtype=np.float64)[dec],
                                                np.asarray(kv_read, dtype=np.float64)[dec])
        return t

    def set_speculative(self, tokens: int, acceptance, verify_tokens: int | None = None,
                        draft_layers: float = 1.0) -> None:
        """Speculative decoding: ``tokens`` draft steps per decode step, each accepted with the
        probability ``acceptance`` (a number: the mean accepted fraction; a list: per position),
        ``verify_tokens`` tokens per sequence checked by the target (default tokens + 1),
        ``draft_layers`` target-layer equivalents per draft step (EAGLE/MTP head: 1)."""
        acc = acceptance if isinstance(acceptance, (list, tuple)) else [float(acceptance)] * tokens
        self.spec_tokens = int(tokens)
        self.spec_gain = 1.0 + float(sum(acc))           # mean tokens per draft-and-verify step
        self.spec_verify = int(verify_tokens or tokens + 1)
        self.spec_draft_layers = float(draft_layers)

    def speculative_times(self, seqs, attn_pairs, kv_read) -> np.ndarray:
        """Seconds per generated token of decode steps with speculation: ``spec_tokens`` draft
        steps (``spec_draft_layers`` decoder layers + LM head at the batch) then one target pass
        over ``spec_verify`` tokens per sequence (each attends to the context; KV read once),
        over ``spec_gain`` tokens yielded per step."""
        B = np.asarray(seqs, dtype=np.float64)
        V = float(self.spec_verify)
        verify = (self.pp * self.stage_compute(B * V, B * V, attn_pairs * V, kv_read)
                  + self.comm_time(B * V))
        body = self.stage_compute(B, np.zeros_like(B), attn_pairs, kv_read)
        head = self.stage_compute(B, B, np.zeros_like(B), np.zeros_like(B)) - self.stage_compute(
            B, np.zeros_like(B), np.zeros_like(B), np.zeros_like(B))
        draft = self.spec_tokens * (self.spec_draft_layers * body / self.stage_layers + head)
        step = self.host_time(B * V, B * V, verify + draft)
        return step / self.spec_gain

    def host_time(self, tokens, samples, gpu_s) -> np.ndarray:
        """Iteration seconds with the engine's CPU work: a step run without CUDA graphs (a prefill
        chunk in it, or more sequences than the largest graph) cannot finish before the CPU has
        launched its kernels (``eager_step_s``); the scheduler's per-step and per-sequence CPU time
        (``overhead_s``, ``host_per_seq_s``) is not hidden behind the GPU."""
        gpu_s = np.asarray(gpu_s, dtype=np.float64)
        S = np.asarray(samples, dtype=np.float64)
        if self.eager_step_s > 0:
            T = np.asarray(tokens, dtype=np.float64)
            eager = (T > S) | (S > self.graph_max_batch)
            gpu_s = np.where(eager, np.maximum(gpu_s, self.eager_step_s), gpu_s)
        return gpu_s + self.overhead_s + self.host_per_seq_s * S

    def model_flops(self, tokens, samples, attn_pairs) -> np.ndarray:
        """Useful FLOPs of iterations on the whole replica: 2 x active matmul parameters per
        token, the LM head per sampled row, and causal attention (for MFU)."""
        s = self.spec
        T = np.asarray(tokens, dtype=np.float64)
        return (2.0 * T * self.active_matmul + 2.0 * np.asarray(samples, dtype=np.float64) * s.hidden * s.vocab
                + 2.0 * np.asarray(attn_pairs, dtype=np.float64) * self.attn_dims * s.layers)

    def model_bytes(self, tokens, kv_read) -> np.ndarray:
        """HBM bytes iterations must move on the whole replica: every weight once and the KV
        cache they attend over (for MBU)."""
        T = np.asarray(tokens, dtype=np.float64)
        return (self.params * self.wbytes * np.ones_like(T)
                + np.asarray(kv_read, dtype=np.float64) * self.kv_token_replica)

    def prefill_time(self, prompt_tokens: int) -> float:
        """Unloaded time of one prompt's prefill in a single iteration."""
        c = float(prompt_tokens)
        return float(self.times([c], [1.0], [c * c / 2.0], [c])[0])


def check_precision(gpu: GpuSpec, precision: str) -> None:
    try:
        gpu.peak_flops(precision)
    except ConfigError as err:
        raise ConfigError("serve.precision", err.reason) from None
