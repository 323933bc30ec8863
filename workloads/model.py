"""Transformer model specs: shapes, parameters and the operations of one layer.

Vocabulary:
- ``ModelSpec``: a decoder-only transformer (GPT style, or Llama style with a gated MLP and
  grouped-query attention), optionally mixture-of-experts (routed experts with ``top_k``, shared
  experts, leading ``dense_layers``) and optionally with multi-head latent attention (MLA,
  DeepSeek). Built from the config's ``[model]`` section with ``ModelSpec.from_section``.
- shard: what one GPU holds and runs: ``Shard(tp, cp, sp, ep)`` (tensor parallel, context
  parallel, sequence parallel, expert parallel sizes). Operations are per GPU.
- ``layer_ops(i, micro_batch, shard)``: the forward operations of layer ``i`` on one GPU, each a
  ``sim.compute.Op`` with tensor FLOPs, HBM bytes and exponentials. Layer norms, residuals,
  activations and softmax carry bytes (and exponentials) but no tensor FLOPs, so that the sum of
  FLOPs is the standard model count (Narayanan et al. 2021 eq. 3, PaLM appendix B).
- model FLOPs: forward + backward of the matmuls, counted as 6 x matmul parameters per token
  plus 12 x layers x seq x (attention width) per token for the attention scores and values (the
  non-causal count the literature uses), plus the logits.
- attention pattern: with ``sliding_window`` W, a windowed layer's query attends its last W
  tokens plus the first ``attention_sinks`` S tokens (StreamingLLM), K = W + S keys at most;
  layers N, 2N, ... (1-based, N = ``global_every``; 0: none) attend the whole context. A causal
  sequence of s tokens then has s^2/2 query-key pairs on a full layer and K s - K^2/2 on a
  windowed one (s > K), and a windowed layer keeps K tokens of KV per sequence.
- chunked local attention (Llama 4's ``attention_chunk_size``, iRoPE): with ``attention_chunk`` C
  a chunked layer splits the sequence into chunks of C tokens (positions [kC, (k+1)C)) and a query
  attends only the keys of its own chunk (block-diagonal causal); layers N, 2N, ... (N =
  ``global_every``: Llama 4's NoPE layers, N = 4) attend the whole context. A causal sequence of
  s = nC + r tokens has n C^2/2 + r^2/2 pairs on a chunked layer; a query at position p (1-based)
  attends p - C floor((p - 1)/C) keys, at most C. The KV an engine keeps on a chunked layer is its
  choice (see ``workloads/serving/cost.py``): the current chunk at least.
- interleaved MoE (Llama 4's ``interleave_moe_layer_step``): with ``moe_every`` N, layers N, 2N,
  ... (1-based; 0-based N-1, 2N-1, ...: Hugging Face ``moe_layers = range(N-1, L, N)``) after the
  leading ``dense_layers`` are MoE, the others dense MLPs of ``ffn_hidden``.
- attention implementation: ``flash`` (one fused kernel, scores never reach HBM, causal masking
  skips half the blocks) or ``unfused`` (Megatron 2021: batched GEMMs for QK^T and AV, the s x s
  scores written to HBM and read back by a fused scale-mask-softmax-dropout kernel).

Byte counts assume 2-byte activations and weights (fp16/bf16); fp8 halves weight bytes of GEMMs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.compute import Op
from sim.errors import ConfigError

ACT_BYTES = 2.0  # fp16/bf16 activations


@dataclass(frozen=True)
class Shard:
    tp: int = 1
    cp: int = 1
    sp: bool = False
    ep: int = 1
    weight_bytes: float = 2.0     # bytes per weight element read by a GEMM (1 for fp8)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: int
    hidden: int
    ffn_hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    seq_len: int
    gated_mlp: bool = True
    tied_embeddings: bool = False
    experts: int = 0
    top_k: int = 0
    expert_ffn_hidden: int = 0
    shared_experts: int = 0
    dense_layers: int = 0
    mla: bool = False
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    rope_head_dim: int = 0
    v_head_dim: int = 0
    sliding_window: int = 0
    global_every: int = 0
    attention_sinks: int = 0
    moe_every: int = 0
    attention_chunk: int = 0
    checkpoint_fp8_scaling: str = ""   # "block": the FP8 checkpoint is block-scaled (model.checkpoint_fp8_scaling)
    expert_load_cv: float = 0.0        # routed experts' load spread, std / mean (model.expert_load_cv)
    expert_groups: int = 0             # group-limited routing: groups of experts (model.expert_groups; 0: none)
    expert_group_topk: int = 0         # groups a token's experts come from (model.expert_group_topk)
    encoder_params: float = 0.0        # a non-text encoder's parameters in the checkpoint (model.encoder_params)
    max_context: int = 0               # the model's max_position_embeddings, tokens (model.max_context; 0: not declared)
    extra: dict = field(default_factory=dict, compare=False)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_section(cls, m) -> "ModelSpec":
        head_dim = m.head_dim or m.hidden // m.heads
        if not m.head_dim and m.hidden % m.heads:
            raise ConfigError("model.heads", f"hidden ({m.hidden}) is not divisible by heads ({m.heads}); set model.head_dim")
        kv = m.kv_heads or m.heads
        if m.heads % kv:
            raise ConfigError("model.kv_heads", f"heads ({m.heads}) must be a multiple of kv_heads ({kv})")
        if m.experts and m.expert_ffn_hidden <= 0:
            raise ConfigError("model.expert_ffn_hidden", "must be > 0 for an MoE model (experts > 0)")
        if m.dense_layers > m.layers:
            raise ConfigError("model.dense_layers", f"{m.dense_layers} exceeds layers ({m.layers})")
        if m.mla and m.kv_lora_rank <= 0:
            raise ConfigError("model.kv_lora_rank", "must be > 0 with mla = true")
        return cls(name=m.name, layers=m.layers, hidden=m.hidden, ffn_hidden=m.ffn_hidden,
                   heads=m.heads, kv_heads=kv, head_dim=head_dim, vocab=m.vocab, seq_len=m.seq_len,
                   gated_mlp=m.gated_mlp, tied_embeddings=m.tied_embeddings, experts=m.experts,
                   top_k=m.top_k, expert_ffn_hidden=m.expert_ffn_hidden,
                   shared_experts=m.shared_experts, dense_layers=m.dense_layers if m.experts else 0,
                   mla=m.mla, kv_lora_rank=m.kv_lora_rank, q_lora_rank=m.q_lora_rank,
                   rope_head_dim=m.rope_head_dim, v_head_dim=m.v_head_dim or head_dim,
                   sliding_window=getattr(m, "sliding_window", None) or 0,
                   global_every=getattr(m, "global_every", 0), attention_sinks=getattr(m, "attention_sinks", 0),
                   moe_every=getattr(m, "moe_every", 0) if m.experts else 0,
                   attention_chunk=getattr(m, "attention_chunk", None) or 0,
                   checkpoint_fp8_scaling=getattr(m, "checkpoint_fp8_scaling", None) or "",
                   expert_load_cv=(getattr(m, "expert_load_cv", None) or 0.0) if m.experts else 0.0,
                   expert_groups=(getattr(m, "expert_groups", None) or 0) if m.experts else 0,
                   expert_group_topk=(getattr(m, "expert_group_topk", None) or 0) if m.experts else 0,
                   encoder_params=float(getattr(m, "encoder_params", None) or 0.0),
                   max_context=int(getattr(m, "max_context", None) or 0))

    # -- shapes ------------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    def is_moe_layer(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) is MoE: after the leading ``dense_layers``, and with
        ``moe_every`` N only layers N, 2N, ... (1-based)."""
        return self.is_moe and i >= self.dense_layers and not (self.moe_every and (i + 1) % self.moe_every)

    @property
    def moe_layer_indices(self) -> list[int]:
        return [i for i in range(self.layers) if self.is_moe_layer(i)]

    @property
    def q_dim(self) -> int:
        """Width of the queries (= width of the attention output before the projection)."""
        return self.heads * (self.head_dim + self.rope_head_dim if self.mla else self.head_dim)

    @property
    def attn_out_dim(self) -> int:
        return self.heads * (self.v_head_dim if self.mla else self.head_dim)

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def mlp_matrices(self) -> int:
        return 3 if self.gated_mlp else 2

    # -- parameters --------------------------------------------------------------------------
    def attention_params(self) -> int:
        h = self.hidden
        if self.mla:
            H, dn, dr, dv = self.heads, self.head_dim, self.rope_head_dim, self.v_head_dim
            q = (h * self.q_lora_rank + self.q_lora_rank * H * (dn + dr)) if self.q_lora_rank else h * H * (dn + dr)
            kv = h * (self.kv_lora_rank + dr) + self.kv_lora_rank * H * (dn + dv)
            return q + kv + H * dv * h
        return h * (self.q_dim + 2 * self.kv_dim) + self.q_dim * h

    def dense_mlp_params(self) -> int:
        return self.mlp_matrices * self.hidden * self.ffn_hidden

    def expert_params(self) -> int:
        """Parameters of one routed (or shared) expert."""
        return self.mlp_matrices * self.hidden * self.expert_ffn_hidden

    def layer_params(self, i: int) -> int:
        """Matmul parameters of layer i (norm weights are negligible and left out)."""
        if self.is_moe_layer(i):
            mlp = (self.experts + self.shared_experts) * self.expert_params() + self.hidden * self.experts
        else:
            mlp = self.dense_mlp_params()
        return self.attention_params() + mlp

    def layer_active_params(self, i: int) -> int:
        if self.is_moe_layer(i):
            mlp = (self.top_k + self.shared_experts) * self.expert_params() + self.hidden * self.experts
        else:
            mlp = self.dense_mlp_params()
        return self.attention_params() + mlp

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def params(self) -> int:
        return sum(self.layer_params(i) for i in range(self.layers)) + self.embedding_params()

    def active_params(self) -> int:
        return sum(self.layer_active_params(i) for i in range(self.layers)) + self.embedding_params()

    # -- attention pattern -------------------------------------------------------------------
    def _is_global(self, i: int) -> bool:
        return bool(self.global_every) and (i + 1) % self.global_every == 0

    def is_windowed(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) attends a sliding window (else the whole context)."""
        return self.sliding_window > 0 and not self._is_global(i)

    def is_chunked(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) attends only its own chunk of ``attention_chunk`` tokens."""
        return self.attention_chunk > 0 and not self._is_global(i)

    def is_local(self, i: int) -> bool:
        """Whether layer ``i`` attends less than the whole context (a window or a chunk)."""
        return self.is_windowed(i) or self.is_chunked(i)

    def attended_keys(self, i: int, context: float) -> float:
        """Keys one query at position ``context`` (1-based) attends on layer ``i``: window + sinks
        at most on a windowed layer (= its KV tokens kept), ``context - C floor((context - 1)/C)``
        on a chunked one (its own chunk up to itself), ``context`` on a full one."""
        if self.is_windowed(i):
            return min(context, self.sliding_window + self.attention_sinks)
        if self.is_chunked(i):
            return self.chunk_keys(context)
        return context

    def chunk_keys(self, context: float) -> float:
        """Keys a query at position ``context`` (1-based) attends on a chunked layer: its own
        chunk up to itself, ``context - C floor((context - 1)/C)`` (``context`` within the first)."""
        C = self.attention_chunk
        return context - C * math.floor((context - 1) / C) if context > C else context

    def chunk_pairs(self, s: float) -> float:
        """Causal query-key pairs of the first ``s`` tokens on a chunked layer: n C^2/2 + r^2/2
        (s = n C + r)."""
        C = self.attention_chunk
        n = math.floor(s / C)
        r = s - n * C
        return n * C * C / 2.0 + r * r / 2.0

    def causal_pairs(self, i: int, s: float) -> float:
        """Query-key pairs of a causal sequence of ``s`` tokens on layer ``i``: s^2/2 on a full
        layer, K s - K^2/2 on a windowed one with K = window + sinks < s, n C^2/2 + r^2/2 on a
        chunked one (s = n C + r)."""
        if self.is_chunked(i):
            return self.chunk_pairs(s)
        K = self.sliding_window + self.attention_sinks
        if not self.is_windowed(i) or s <= K:
            return s * s / 2.0
        return K * s - K * K / 2.0

    # -- FLOPs -------------------------------------------------------------------------------
    def attention_flops_per_token(self, seq: int | None = None, layer: int | None = None) -> float:
        """Forward FLOPs per token of QK^T and AV over the full (non-causal) sequence; on a
        windowed ``layer`` over its window + sinks, on a chunked one over its own chunk (the
        non-causal count: (n C^2 + r^2) / s keys per query for s = n C + r); without ``layer``
        the mean over layers."""
        s = seq or self.seq_len
        if layer is None and (self.sliding_window or self.attention_chunk):
            return sum(self.attention_flops_per_token(s, i) for i in range(self.layers)) / self.layers
        if layer is not None and self.is_chunked(layer):
            n, r = divmod(s, self.attention_chunk)
            s = (n * self.attention_chunk ** 2 + r * r) / s
        elif layer is not None:
            s = self.attended_keys(layer, s)
        return 2.0 * s * self.q_dim + 2.0 * s * self.attn_out_dim

    def model_flops_per_token(self, seq: int | None = None) -> float:
        """Forward + backward model FLOPs per token (no recompute): 6 x active matmul parameters
        (the output logits included, the input embedding lookup excluded) + attention."""
        matmul = sum(self.layer_active_params(i) for i in range(self.layers)) + self.vocab * self.hidden
        return 6.0 * matmul + 3.0 * self.layers * self.attention_flops_per_token(seq)

    # -- operations --------------------------------------------------------------------------
    def layer_ops(self, i: int, micro_batch: int, shard: Shard = Shard(), attention: str = "flash",
                  seq: int | None = None) -> list[Op]:
        """Forward operations of layer ``i`` for one micro-batch on one GPU."""
        s_full = seq or self.seq_len
        tp, cp = shard.tp, shard.cp
        s = s_full / cp                      # local query tokens per sequence
        T = micro_batch * s                  # local tokens
        h = self.hidden
        a = ACT_BYTES
        wb = shard.weight_bytes
        Tn = T / tp if shard.sp else T       # tokens seen by norms/residuals (SP splits them)
        ops: list[Op] = []

        def gemm(name, tokens, k, n, count=1):
            # (tokens x k) @ (k x n), split over ``count`` launches (one per local expert) that
            # each read their own k x n weights; activations read and written once
            flops = 2.0 * tokens * k * n
            nbytes = a * tokens * (k + n) + wb * k * n * count
            ops.append(Op(name, flops, nbytes, 0.0, "gemm", count, (tokens / count, k, n)))

        def memory(name, nbytes, exps=0.0):
            ops.append(Op(name, 0.0, nbytes, exps, "memory"))

        memory("norm1", 2 * a * Tn * h)
        if self.mla:
            H, dn, dr, dv = self.heads, self.head_dim, self.rope_head_dim, self.v_head_dim
            if self.q_lora_rank:
                gemm("q_down", T, h, self.q_lora_rank)
                gemm("q_up", T, self.q_lora_rank, H * (dn + dr) / tp)
            else:
                gemm("q_proj", T, h, H * (dn + dr) / tp)
            gemm("kv_down", T, h, self.kv_lora_rank + dr)
            gemm("kv_up", T, self.kv_lora_rank, H * (dn + dv) / tp)
            qk_width, v_width, kv_in = H * (dn + dr) / tp, H * dv / tp, H * (dn + dr + dv) / tp
        else:
            gemm("qkv", T, h, (self.q_dim + 2 * self.kv_dim) / tp)
            qk_width, v_width, kv_in = self.q_dim / tp, self.q_dim / tp, 2 * self.kv_dim / tp
        window = self.causal_pairs(i, s_full) / (s_full * s_full / 2.0) if self.is_local(i) else 1.0
        ops.extend(self._attention_core(micro_batch, s, s_full, qk_width, v_width, kv_in, tp, attention, window))
        gemm("proj", T, self.attn_out_dim / tp, h)
        memory("residual1", 4 * a * Tn * h)          # dropout + add: read 2, write 1, mask
        memory("norm2", 2 * a * Tn * h)
        if self.is_moe_layer(i):
            ep = shard.ep
            local_experts = max(self.experts // ep, 1)
            fe = self.expert_ffn_hidden
            routed = T * self.top_k            # token-expert pairs this GPU computes (balanced)
            gemm("router", T, h, self.experts)
            memory("router_softmax_topk", a * T * self.experts * 2, exps=T * self.experts)
            memory("permute", 2 * a * routed * h)
            up = fe * (2 if self.gated_mlp else 1) / tp
            gemm("expert_up", routed, h, up, count=local_experts)
            memory("expert_act", a * routed * fe / tp * (3 if self.gated_mlp else 2))
            gemm("expert_down", routed, fe / tp, h, count=local_experts)
            memory("unpermute", 2 * a * routed * h)
            if self.shared_experts:
                fs = self.shared_experts * fe
                gemm("shared_up", T, h, fs * (2 if self.gated_mlp else 1) / tp)
                memory("shared_act", a * T * fs / tp * (3 if self.gated_mlp else 2))
                gemm("shared_down", T, fs / tp, h)
        else:
            f = self.ffn_hidden
            gemm("mlp_up", T, h, f * (2 if self.gated_mlp else 1) / tp)
            memory("mlp_act", a * T * f / tp * (3 if self.gated_mlp else 2))
            gemm("mlp_down", T, f / tp, h)
        memory("residual2", 4 * a * Tn * h)
        return ops

    def _attention_core(self, b, s_q, s_kv, qk_width, v_width, kv_in, tp, attention, window=1.0) -> list[Op]:
        """QK^T, softmax, AV for b sequences of s_q local queries over s_kv keys, on one GPU;
        ``window``: fraction of the causal pairs a sliding-window or chunked layer attends (flash
        skips the score blocks outside the window or chunk; unfused GEMMs compute and mask them)."""
        a = ACT_BYTES
        heads = self.heads / tp
        flops = 2.0 * b * s_q * s_kv * (qk_width + v_width)
        elements = b * heads * s_q * s_kv     # attention scores
        qkvo_bytes = a * b * s_q * (qk_width + kv_in + v_width)
        if attention == "flash":
            # causal masking skips about half of the score blocks: executed work is half the
            # (non-causal) model count
            return [Op("attention", window * flops / 2, qkvo_bytes, window * elements / 2, "attention", 1, (s_kv,))]
        if attention != "unfused":
            raise ConfigError("train.attention", f"unknown attention implementation {attention!r}")
        half = flops / 2
        return [
            Op("attn_scores", half, a * b * s_q * (qk_width * 2) + a * elements, 0.0, "attention"),
            # fused scale + causal mask + softmax + dropout: read scores, write probs and mask
            Op("softmax", 0.0, a * elements * 3 + elements, elements, "memory"),
            Op("attn_values", half, a * elements + a * b * s_q * v_width * 2, 0.0, "attention"),
        ]

    def logits_ops(self, micro_batch: int, shard: Shard = Shard(), seq: int | None = None) -> list[Op]:
        """Final norm, output projection (vocab split by TP) and the cross-entropy loss."""
        s = (seq or self.seq_len) / shard.cp
        T = micro_batch * s
        h, V, a = self.hidden, self.vocab / shard.tp, ACT_BYTES
        return [
            Op("final_norm", 0.0, 2 * a * (T / shard.tp if shard.sp else T) * h, 0.0, "memory"),
            Op("logits", 2.0 * T * h * V, a * T * (h + V) + shard.weight_bytes * h * V, 0.0, "gemm"),
            Op("cross_entropy", 0.0, 4 * a * T * V, T * V, "memory"),
        ]

    def embedding_ops(self, micro_batch: int, shard: Shard = Shard(), seq: int | None = None) -> list[Op]:
        s = (seq or self.seq_len) / shard.cp
        T = micro_batch * s
        return [Op("embedding", 0.0, 2 * ACT_BYTES * T * self.hidden, 0.0, "memory")]

    def kv_cache_bytes_per_token(self, kv_bytes: float = 2.0, context: float | None = None) -> float:
        """KV-cache bytes per token over all layers (MLA caches the compressed latent). With a
        sliding window and a sequence of ``context`` tokens, windowed layers keep only window +
        sinks of them (mean bytes per token of that sequence); chunked layers the least any engine
        can keep, the current chunk (vLLM's hybrid KV cache manager; TensorRT-LLM keeps every
        token: ``workloads/serving/cost.py``); without ``context``, every token."""
        per_layer = (self.kv_lora_rank + self.rope_head_dim) * kv_bytes if self.mla else 2 * self.kv_dim * kv_bytes
        if context is None or not (self.sliding_window or self.attention_chunk):
            return self.layers * per_layer
        return per_layer * sum(self.attended_keys(i, context) for i in range(self.layers)) / context


def total_flops(ops: list[Op]) -> float:
    return float(sum(op.flops for op in ops))
