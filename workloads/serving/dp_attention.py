"""Data-parallel attention with wide expert parallelism: an MoE replica of N GPUs (DeepSeek's and
SGLang's ``--enable-dp-attention`` with DeepEP, vLLM's ``--data-parallel-size N
--enable-expert-parallel``) as one iteration cost.

Vocabulary (``serve.dp_attention = true``; N = ``serve.tp`` GPUs of the replica, ``serve.ep`` =
N):
- attention DP: every GPU holds the whole attention (and dense-layer, shared-expert, LM head)
  weights and runs them over its own 1/N of the replica's sequences: its own tokens, its own
  KV cache (no head split, MLA's latent not replicated), so the replica's KV pool is N times
  one GPU's.
- expert parallelism: the routed experts (``experts + serve.redundant_experts`` physical ones,
  EPLB's replicas) are spread evenly, ``(experts + redundant) / N`` per GPU; each GPU computes
  the token-expert pairs routed to its experts: on average ``top_k`` x its own tokens. With a
  skewed router (``model.expert_load_cv`` > 0) the step waits for the most loaded GPU, which
  computes ``expert_load`` = ``fused_moe.rank_load_factor(cv, experts, N)`` times that (its
  expert GEMMs, activation and permutes; weight reads unchanged) and receives as many times the
  all-to-all's copies; with redundant experts EPLB places them from the load statistics and the
  step runs at the mean (its residual imbalance, (max - mean) / mean 0.115 on TensorRT-LLM's
  DeepSeek-R1 EP36 example, examples/wide_ep/ep_load_balancer/README.md, is not modelled). The
  all-gather / reduce-scatter (below) moves every token to every GPU whatever the routing.
- dispatch / combine: every MoE layer sends each token's hidden state to the GPUs of its
  ``top_k`` experts and gathers the weighted outputs back (DeepEP), FP8 with per-128 scales on
  dispatch (``DISPATCH_BYTES``), bf16 on combine. Decode batches use DeepEP's low-latency mode:
  every token-expert pair travels on its own, ``T_local x top_k x hidden`` elements each way per
  GPU and layer. Batches with prefill tokens use its normal mode: a token crosses the scale-out
  fabric once per destination server (then NVLink inside it), ``T_local x hidden`` elements x
  the expected number of other servers holding one of its experts (``top_k`` experts placed
  uniformly over ``nodes`` servers: ``nodes (1 - (1 - 1/nodes)^top_k) (nodes - 1)/nodes``).
  Both are priced as all-to-alls on the replica's GPUs through ``sim.collectives`` on the
  topology (``link``: bytes/s and latency fitted by the deployment; a normal-mode layer as the
  direct all-to-all that puts the same bytes on each GPU's NIC) and put on the fabric by it.
  Exposed, not overlapped (two-batch overlap is not modelled: at SGLang's decode sizes its
  communication kernels busy-wait rather than hide, LMSYS blog 2025-05-05).
- allgather (``moe_comm = "allgather"``, the engine profile's ``dp_moe_comm``: TensorRT-LLM):
  off a multi-node NVLink domain (an 8-GPU DGX / HGX server, ``gpu.scaleup_domain`` <= 8) or with
  ep <= ``top_k`` TensorRT-LLM runs no all-to-all: each MoE layer all-gathers every rank's
  hidden states, quantized to the experts' activation precision first (``gather_bytes`` per
  element: NVFP4 0.5 + one FP8 scale per 16, FP8 1, MXFP8 1 + 1/32, unquantized 2), with their
  top-k ids, runs its local experts over all T replica tokens and reduce-scatters the bf16
  output (``COMBINE_BYTES``): ``T x hidden x (gather_bytes + 2)`` bytes of gathered buffer per
  layer whatever ``top_k`` (tensorrt_llm/_torch/modules/fused_moe/fused_moe_wide_ep.py,
  TensorRT-LLM 1.x: ``select_alltoall_method_type`` returns NotEnabled unless attention DP,
  ``moe_ep_size > top_k`` and MNNVL, or TRTLLM_CAN_USE_DEEP_EP=1, default 0; ``forward_chunk``
  quantizes (FP8 per-tensor, NVFP4) before ``allgather``; ``reducescatter_or_allreduce``). Each
  GPU puts ``(N - 1)/N`` of that on its NVLink, as a direct all-to-all of the same per-GPU
  buffer does, so the collective is priced on the same ``link``. Per token it is ``N / top_k``
  times the all-to-all's bytes: more for Llama 4 (top_k 1), less for Qwen3 / DeepSeek (8).
  With per-rank token counts (``use_dp_padding`` off) TensorRT-LLM runs them as a group of N
  ncclBroadcast / N ncclReduce (cpp/tensorrt_llm/thop/allgatherOp.cpp, reducescatterOp.cpp), the
  same ring bytes; Llama 4 pads every rank to the largest (plain collectives): equal ranks here.
  The fused MoE then runs the rank's own rows only (expand, activation, GEMMs loop to
  ``expert_first_token_offset[experts per rank]``); finalize writes all T rows, < 1 % of a step
  (issue 12: what else was checked against the DEP rows, serving_heldout.DEP_MOE_COMM).
  TensorRT-LLM's TRITON backend (the mixed-input MXFP4 x BF16 kernel, GPT-OSS on Hopper) gathers
  before the gate instead: each rank gates every rank's tokens (``_fixed_stage_s``), and
  matmul_ogs sizes its M tile from all gathered pairs over the local experts
  (``IterationCost._moe_tile_scale``; serving_heldout.GPT_OSS_DEP_HOPPER_GAP).
- host sync (``dp_sync_s``, the engine's ``dp_sync_us``): every step the DP ranks' schedulers
  all-gather their batch metadata (token counts, forward mode) before the MoE all-to-alls can run;
  the scheduler does it for the next batch while the GPU runs the current one, so an iteration
  takes ``max(GPU time, dp_sync_s)`` plus the engine's other host time.
- the batch descriptors of ``IterationCost`` (tokens, samples, attention pairs, KV reads) are
  the replica's; each GPU gets 1/N of each.
- ranks' admission (the engine profile's ``dp_context_balance``, ``serve.dp_balance``): balanced,
  one scheduler forms each step for all N ranks and every rank gets 1/N of each descriptor
  (``batch``; TensorRT-LLM with ``attention_dp_config.enable_balance``, and how vLLM and SGLang are
  modelled); or per rank (TensorRT-LLM's default: one executor per rank, new requests to the rank
  with the fewest active requests, each admitting its own contexts within its own max_num_tokens),
  where the replica (``Replica.dp_ranks``) keeps each request on its rank and prices a step with
  prompt tokens rank by rank (``batch_ranks``): the routed experts at the mean rank's rows and the
  collectives over all T tokens, plus the slowest rank's own attention, dense layers, shared
  experts and LM head (TensorRT-LLM blog10, "ADP Balance Strategy": the iteration time is the
  slowest rank's). Such a step runs without CUDA graphs on every rank (unpadded, as every step with
  prompt tokens here). Decode-only steps stay at 1/N of the batch per rank. Under burst arrivals of
  uniform requests the ranks admit, prefill and finish in lockstep and both rules give the same
  throughput (the held-out tables' uniform ISL / OSL rows); requests that end at different times
  (spread output lengths) free one rank at a time, which then prefills while the others decode:
  blog10's experiment (DeepSeek V3 on 8 GB200, ADP8 + EP8, 16,000 requests of 803 / 3,653 tokens on
  average, long-tailed) measured 25,664 output tok/s without balance, 34,140 with it (1.33x); dcsim
  with lognormal lengths (issue 12, adpbal; serving_heldout.ADP_BALANCE_GAP) gives a smaller ratio.
"""

from __future__ import annotations

import math
from dataclasses import replace

from sim.errors import InfeasibleError
from workloads.layer_cost import ROUTED_COPY_OPS, LayerCost
from workloads.model import Shard
from workloads.serving import fused_moe
from workloads.serving.cost import ACT_BYTES, BatchCost, CommLink, DecodeRun, IterationCost

DISPATCH_BYTES = 1.0 + 4.0 / 128     # FP8 element + one fp32 scale per 128 (DeepEP dispatch)
COMBINE_BYTES = 2.0                  # bf16 combine
GATE_OPS = ("router", "router_softmax_topk")   # the MoE gate's ops in the layer model (workloads/layer_cost)


class DpAttentionCost(IterationCost):
    """``IterationCost`` of an N-GPU replica with data-parallel attention and N-way expert
    parallelism. ``a2a``: the all-to-all's effective bytes/s per GPU (buffer per GPU over time)
    and per-collective latency on the replica's GPUs."""

    def __init__(self, spec, gpu, precision: str, kv_precision: str, n: int, pp: int = 1,
                 a2a: CommLink | None = None, schedule_overhead_s: float | None = None,
                 redundant_experts: int = 0):
        if not spec.is_moe:
            raise InfeasibleError("serve.dp_attention", f"{spec.name} has no routed experts to spread over GPUs")
        physical = spec.experts + redundant_experts
        if physical % n:
            raise InfeasibleError("serve.redundant_experts",
                                  f"{spec.experts} experts + {redundant_experts} redundant do not spread evenly "
                                  f"over {n} GPUs; choose redundant_experts so that their sum divides by serve.tp")
        self.dp = n
        self.physical_experts = physical
        super().__init__(spec, gpu, precision, kv_precision, 1, pp, 1, None, schedule_overhead_s)
        self.link = a2a or CommLink(gpu.scaleup_Bps * 0.8, self.link.latency_s)
        self.kv_token_gpu = self.kv_token_gpu / n          # the replica's pool is N GPUs' pools
        self._moe_layers = round(self.moe_fraction * spec.layers)
        self._has_comm = n > 1 or pp > 1
        self.nodes = 1                    # servers (scale-up domains) the replica spans (deployment)
        self.moe_comm = "all_to_all"      # or "allgather" (engine profile dp_moe_comm; module docstring)
        self.gather_bytes = DISPATCH_BYTES   # bytes per gathered hidden element (set_gather_precision)
        self.moe_block_scaled = False        # FP8 1 x 128 block scales quantized inside the fused MoE (set_gather_precision)
        self.dp_sync_s = 0.0              # the DP ranks' per-step metadata all-gather (engine profile)
        # the most loaded EP rank's routed rows over the mean's (routing skew; EPLB's placement
        # with redundant experts balances it: module docstring)
        self.expert_load = (fused_moe.rank_load_factor(spec.expert_load_cv, spec.experts, n)
                            if redundant_experts == 0 else 1.0)
        # EPLB's placement of redundant experts no longer holds one routing group per rank
        self.route_groups = self.route_groups if redundant_experts == 0 else (0, 0)
        self._fixed_memo.clear()

    def weights_layout(self) -> str:
        """``IterationCost.weights_layout`` of a dp_attention replica: attention and dense layers
        replicated on each of its GPUs, the routed experts spread over them."""
        return (f"dp_attention over serve.tp = {self.dp} GPUs: attention and dense layers replicated, "
                f"experts spread over {self.dp}; pp={self.pp}")

    def _scalar_constants(self) -> None:
        super()._scalar_constants()
        s = self.spec
        mix = {}
        Ls = self.stage_layers
        if self.moe_fraction < 1.0:
            mix[next(i for i in range(s.layers) if not s.is_moe_layer(i))] = Ls * (1.0 - self.moe_fraction)
        if self.moe_fraction > 0.0:
            mix[next(i for i in range(s.layers) if s.is_moe_layer(i))] = Ls * self.moe_fraction
        physical = replace(s, experts=self.physical_experts)
        self.layers = LayerCost(physical, self.compute, Shard(tp=1, ep=self.dp, weight_bytes=self.wbytes), mix,
                                self.compute.precision)
        self.layers.ops = [(replace(o, count=1.0) if o.expert and o.kind == "gemm" else o, n)
                           for o, n in self.layers.ops]
        self._base_ops = list(self.layers.ops)

    # -- per GPU ---------------------------------------------------------------------------------
    def _routed_tokens(self, T: float) -> float:
        """``T`` is one GPU's tokens; its experts are touched by the tokens of every GPU (T x N)."""
        return T * self.dp

    def _moe_ep_size(self) -> int:
        """The routed experts spread over the N ranks."""
        return self.dp

    def _fixed_stage_s(self, T: float, S: float, real: float | None = None, out: list | None = None) -> float:
        """``IterationCost._fixed_stage_s`` of one rank's ``T`` tokens, plus, where the experts run
        the mixed-input kernel (TensorRT-LLM's TRITON backend) and ``moe_gate_on_gathered``, the
        gate (router GEMM and top-k) over the other ranks' ``(N - 1) x T`` all-gathered tokens:
        GPT-OSS's MLPBlock.forward_attn_dp all-gathers the hidden states before
        ``compute_gate_output`` when its experts are a TritonFusedMoE (whose forward gathers
        nothing), where CUTLASS / TRTLLM-gen gate their own tokens and gather inside the fused MoE
        (tensorrt_llm/_torch/models/modeling_gpt_oss.py; calibration.toml [fused_moe]
        mixed_input_gate_on_gathered). The gate's weights are read once."""
        t = super()._fixed_stage_s(T, S, real, out)
        if self.dp > 1 and self._mixed_input and self.moe_gate_on_gathered:
            x = T * (self.dp - 1)
            cm = self.compute
            for o, n in self.layers.ops:
                if o.name in GATE_OPS:
                    d = min(o.d1 * x, o.dmin) if o.d1 else 0.0
                    g = n * cm.time_of(o.f1 * x, o.b1 * x, o.x1 * x, 0, o.count, d, o.rate)
                    t += g
                    if out is not None:
                        out.append((o.name + "_gathered", g))
        return t

    def copies(self, prefill: bool) -> float:
        """Copies of a token's hidden state one GPU's all-to-all buffer carries per MoE layer:
        ``top_k`` in low-latency mode (decode); in normal mode (prefill) the expected number of
        other servers holding one of its experts, as the buffer of a direct all-to-all that
        loads each GPU's NIC alike (x n / GPUs outside its server)."""
        k, N, n = self.spec.top_k, self.nodes, self.dp
        if not prefill or N < 2:
            return float(k)
        remote = N * (1.0 - (1.0 - 1.0 / N) ** k) * (N - 1) / N
        return min(float(k), remote * n / (n - n / N))

    def moe_all_gather(self) -> bool:
        """Whether the MoE layers all-gather / reduce-scatter instead of an all-to-all: the
        ``allgather`` engines (TensorRT-LLM) do unless the GPUs share a multi-node NVLink domain
        (``gpu.scaleup_domain`` > 8: GB200 NVL72) and ep = N > ``top_k``."""
        if self.moe_comm != "allgather":
            return False
        return not (self.gpu.scaleup_domain > 8 and self.dp > self.spec.top_k)

    def set_gather_precision(self, precision: str, block_scaled: bool = False) -> None:
        """``gather_bytes`` for the experts' activations at ``precision`` (what the engine
        quantizes hidden states to before the all-gather): fp4 (NVFP4) 0.5 + 1/16, mxfp8 1 + 1/32,
        fp8 1 (a per-tensor scale), bf16 / fp16 / mxfp4 weight-only 2. ``block_scaled`` (a
        block-scaled FP8 checkpoint, ``model.checkpoint_fp8_scaling = "block"``): fp8 gathers the
        bf16 hidden states, 2 (TensorRT-LLM's CutlassFusedMoE.forward_chunk quantizes before the
        all-gather only for per-tensor FP8 and NVFP4; DeepSeek FP8 block scales pass
        use_deepseek_fp8_block_scale to the fused MoE op, which quantizes 1 x 128 groups inside)."""
        self.moe_block_scaled = precision == "fp8" and block_scaled
        if precision == "fp8" and block_scaled:
            precision = "bf16"
        self.gather_bytes = {"fp4": 0.5 + 1.0 / 16.0, "mxfp8": 1.0 + 1.0 / 32.0, "fp8": 1.0}.get(precision, 2.0)

    def _comm(self, T: float, prefill: bool = False) -> tuple[float, float, float]:
        """(all-to-all bytes each GPU sends, PP bytes, exposed seconds) of an iteration of ``T``
        replica tokens: dispatch and combine of every MoE layer (``prefill``: normal mode), or
        their all-gather and reduce-scatter (``moe_all_gather``)."""
        n = self.dp
        tl = T / n
        if self.moe_all_gather():
            buf = T * self.spec.hidden * (self.gather_bytes + COMBINE_BYTES)
        else:
            buf = tl * self.copies(prefill) * self.spec.hidden * (DISPATCH_BYTES + COMBINE_BYTES)
        a2a_b = buf * (n - 1) / n * self._moe_layers
        if not self.moe_all_gather():
            # the most loaded GPU receives expert_load x the mean's copies (and sends back as many)
            buf *= self.expert_load
        pp_b = tl * self._pp_tok
        if not self._has_comm:
            return a2a_b, pp_b, 0.0
        t = (buf * self._moe_layers / self.link.Bps + 2 * self._moe_layers * self.link.latency_s if n > 1 else 0.0)
        if self.pp > 1:
            t += pp_b * self.pp / self.gpu.scaleup_Bps
        return a2a_b, pp_b, t

    def a2a_buffer(self, tp_bytes: float) -> float:
        """The all-to-all buffer per GPU and MoE layer behind ``tp_bytes`` sent per GPU."""
        n = self.dp
        return tp_bytes / max(self._moe_layers, 1) * n / max(n - 1, 1)

    def batch(self, tokens: float, samples: float, attn_pairs: float, kv_read: float, decode=None) -> BatchCost:
        n = float(self.dp)
        T, S = float(tokens), float(samples)
        # a decode-only step replays each rank's CUDA graph padded to a captured size (every rank
        # the same graph: the MoE collectives need equal shapes); attention runs the real rows
        P = self.padded(T / n, S / n) * n if (self.graph_sizes and T == S) else T
        Ps = P if P != T else S
        compute = self.pp * (self._fixed_stage_s(P / n, Ps / n)
                             + self._step_attn_s(T, float(attn_pairs), float(kv_read), S, decode, n))
        tp_b, pp_b, comm = self._comm(P, T > S)
        # each DP rank's scheduler prepares its own sequences, side by side; their per-step
        # metadata all-gather overlaps the GPU's current batch and shows only beyond it
        gpu = compute + comm
        return BatchCost(self._host_s(T / n, S / n, gpu, self.dp_sync_s), compute, comm,
                         self._mf_tok * T + self._mf_smp * S + self._mf_pair * attn_pairs,
                         self.weight_read_bytes(T) + self._mb_kv * kv_read, tp_b, pp_b)

    def _expert_side(self, ops: list) -> list[bool]:
        """Which entries of a ``_fixed_stage_s`` op list (``out``) run on the experts' routed rows
        (the same on every rank whatever its own tokens: the routed expert ops and their permutes,
        the per-copy cost, the gate over gathered tokens) rather than on the rank's own tokens."""
        layer_ops = self.layers.ops
        m = len(layer_ops)
        return [(o.expert or o.name in ROUTED_COPY_OPS) for o, _ in layer_ops] + \
               [name in ("moe_copy", "moe_launch") or name.endswith("_gathered") for name, _ in ops[m:]]

    def _split_fixed(self, T: float, S: float) -> tuple[float, float]:
        """``_fixed_stage_s(T, S)`` split into (routed-expert side, the rank's own tokens' side)."""
        key = ("split", T, S)       # kept with _fixed_stage_s's memo: cleared with it when the cost changes
        v = self._fixed_memo.get(key)
        if v is None:
            ops: list = []
            self._fixed_stage_s(T, S, None, ops)
            side = self._expert_side(ops)
            routed = sum(sec for (_, sec), e in zip(ops, side) if e)
            v = (routed, sum(sec for _, sec in ops) - routed)
            self._fixed_memo[key] = v
        return v

    def batch_ranks(self, ranks) -> BatchCost:
        """``batch`` of a step whose DP ranks carry different work: ``ranks`` holds each rank's
        (tokens, sampled sequences, attention pairs, KV reads). The MoE layers' routed experts see
        the replica's tokens spread over the ranks (every rank's experts the mean rank's routed
        rows, ``_fixed_stage_s`` at T / N), the all-gather / all-to-all moves all T; each rank runs
        its attention, dense layers, shared experts and LM head over its own tokens (an optional fifth
        entry, the rank's generation requests' (sequences, pairs, KV reads): its attention as the engine
        launches it, ``_step_attn_s``), and the MoE
        layers' collectives make every rank wait for the slowest (TensorRT-LLM, per-rank executors
        without ADP balance: "the iteration time is dominated by the slowest rank",
        docs/source/blogs/tech_blog/blog10_ADP_Balance_Strategy.md). Equal ranks, or a step
        without prompt tokens, give ``batch`` of the sums."""
        n = float(self.dp)
        T = sum(r[0] for r in ranks)
        S = sum(r[1] for r in ranks)
        pairs = sum(r[2] for r in ranks)
        kv = sum(r[3] for r in ranks)
        decs = [r[4] if len(r) > 4 else None for r in ranks]
        if T <= S or len(ranks) != self.dp or all(r == ranks[0] for r in ranks):
            dec = None if decs[0] is None else tuple(sum(d[i] for d in decs) for i in range(3))
            return self.batch(T, S, pairs, kv, decode=dec if dec and dec[0] > 0 else None)
        routed = self._split_fixed(T / n, S / n)[0]
        worst = 0.0
        for (t, smp, p, k, *_), dec in zip(ranks, decs):
            if t <= 0.0:
                continue                      # an idle rank: its dummy step is the lightest
            dec = dec if dec and dec[0] > 0 else None
            own = self._split_fixed(t, smp)[1] + self._step_attn_s(t, p, k, smp, dec)
            worst = own if own > worst else worst
        compute = self.pp * (routed + worst)
        tp_b, pp_b, comm = self._comm(T, True)
        gpu = compute + comm
        return BatchCost(self._host_s(T / n, S / n, gpu, self.dp_sync_s), compute, comm,
                         self._mf_tok * T + self._mf_smp * S + self._mf_pair * pairs,
                         self.weight_read_bytes(T) + self._mb_kv * kv, tp_b, pp_b)

    def op_breakdown(self, tokens: float, samples: float, attn_pairs: float, kv_read: float) -> dict[str, float]:
        """Seconds of one rank's step of ``batch`` (same arguments: the replica's tokens,
        sequences, attention pairs, KV reads) by op, summed over the stage's layers: the layer
        model's ops (the most loaded EP rank's routed rows, the CUDA graph's padding), ``lm_head``,
        ``attention`` (MLA / fused attention), ``moe_comm`` (all-gather / reduce-scatter or
        all-to-all); their sum is ``batch(...).compute_s + comm_s``."""
        n = float(self.dp)
        T, S = float(tokens), float(samples)
        P = self.padded(T / n, S / n) * n if (self.graph_sizes and T == S) else T
        Ps = P if P != T else S
        ops: list = []
        self._fixed_stage_s(P / n, Ps / n, None, ops)
        out: dict[str, float] = {}
        for name, sec in ops:
            out[name] = out.get(name, 0.0) + self.pp * sec
        out["attention"] = self.pp * self._attn_s(T / n, attn_pairs / n, kv_read / n, S / n)
        out["moe_comm"] = self._comm(P, T > S)[2]
        return out

    def decode_run(self, batch: int, context: float, steps: int, contexts=None) -> DecodeRun:
        B = float(batch)
        # sliding windows: layer-averaged context per iteration (IterationCost.decode_contexts)
        per_step = self.decode_contexts(contexts, steps) if (self.window and contexts is not None) else None
        reads = (self.decode_contexts(contexts, steps, weighted=True)
                 if (per_step and self.decode_chunk_weight != 1.0) else per_step)
        first = self.batch(B, B, per_step[0] if per_step else context, reads[0] if reads else context)
        times, t = [], 0.0
        for j in range(steps):
            D = per_step[j] if per_step else context + B * j
            t += self.batch(B, B, D, reads[j] if reads else D).time_s
            times.append(t)
        return DecodeRun(B, float(context), times, first, self, self._cum(per_step))

    def times(self, tokens, samples, attn_pairs, kv_read):
        import numpy as np
        return np.array([self.batch(float(t), float(s), float(p), float(k)).time_s
                         for t, s, p, k in zip(np.atleast_1d(tokens), np.atleast_1d(samples),
                                               np.atleast_1d(attn_pairs), np.atleast_1d(kv_read))])

    # -- memory ----------------------------------------------------------------------------------
    def weight_bytes_per_gpu(self) -> float:
        """Everything but the routed experts on every GPU, plus its share of the experts."""
        s = self.spec
        experts = self.expert_params * self._moe_layers_all() * s.experts
        rest = self.params - experts
        emb_extra = s.embedding_params() * max(2.0 - self.wbytes, 0.0)
        per_gpu_experts = experts / s.experts * (self.physical_experts / self.dp)
        return (rest * self.wbytes + emb_extra + per_gpu_experts * self.wbytes
                + (self.expert_extra_bytes + self.expert_pad_bytes) / self.dp) / self.pp

    def _moe_layers_all(self) -> int:
        return round(self.moe_fraction * self.spec.layers)

    def workspace_bytes(self, max_batch_tokens: int, max_batch_size: int) -> float:
        """One GPU's share of the replica's iteration limits."""
        n = self.dp
        return super().workspace_bytes(max(max_batch_tokens // n, 1), max(max_batch_size // n, 1))

    def gathered_moe_row_bytes(self) -> float:
        """Bytes one all-gathered token row adds to a GPU's fused-MoE buffers in TensorRT-LLM's
        CUTLASS fused MoE (``gathered_moe_bytes``), for hidden h, expert intermediate I (the whole
        expert's: EP does not split it), top_k k, the fused op's input element dT bytes (NVFP4 0.5,
        FP8 / MXFP8 1, bf16 2: the gathered precision without its scales) and bf16 GEMM outputs:

            k x (max(h dT, 2h, I dT) + max(2 x 2I, 2h, I dT) + 24) + h x gather_bytes + 8k + 2h

        - the runner's workspace, sized on num_rows = every gathered row whatever its experts
          (cpp/tensorrt_llm/kernels/cutlass_kernels/moe_gemm/moe_kernels.cu,
          CutlassMoeFCRunner::getWorkspaceDeviceBufferSizes, TensorRT-LLM 1.x: num_moe_inputs =
          experts_per_token x num_rows; ``overlapped_gemm1_gemm2_inputs`` = max(permuted_data
          (dT), fc2_result (bf16 x hidden), fc1_result (dT x inter)), ``overlapped_gemm1_gemm2_outputs``
          = max(glu_inter (bf16 x 2 inter, gated activation), fc2_result, fc1_result); with FP8
          block scaling (DeepSeek) the outputs are blockscale_fc1_output, 2 x inter x bf16 only;
          four int32 maps and fp32 final scales per routed row; plus the torch op's src_to_dest_map,
          k x num_rows int32: cpp/tensorrt_llm/thop/moeOp.cpp getWorkspaceInfo, which keeps the
          workspace per stream and grows it to the largest call's size, so it stays allocated);
        - the all-gathered inputs (fused_moe_cutlass.py ``forward_chunk``: quantized hidden
          states, ``gather_bytes`` per element with their scales, top-k ids int32 and scales fp32);
        - the op's output, one bf16 hidden row per gathered row (reduce-scattered after it).
        The FP4 activation scale-factor buffers (1/16 of a row) and the GEMM tactics' fixed
        workspace are left out (< 4 % of the row)."""
        s = self.spec
        h, inter, k = float(s.hidden), float(s.expert_ffn_hidden), float(max(s.top_k, 1))
        g = self.gather_bytes
        dt = 0.5 if g < 1.0 else (1.0 if g < 2.0 else 2.0)
        inputs = max(h * dt, 2.0 * h, inter * dt)
        outputs = 4.0 * inter if self.moe_block_scaled else max(4.0 * inter, 2.0 * h, inter * dt)
        return k * (inputs + outputs + 24.0) + h * g + 8.0 * k + 2.0 * h

    def triton_gathered_moe_row_bytes(self) -> float:
        """Bytes one all-gathered token row holds at the peak of TensorRT-LLM's TRITON fused MoE
        (GPT-OSS on Hopper, W4A16_MXFP4: bf16 activations, weight-only MXFP4), for hidden h,
        expert intermediate I (whole: EP does not split it), top_k k, E experts, with the
        weights' alignment hp = h rounded up to 128, np = 2I and hq = h rounded up to 256
        (TritonMXFP4FusedMoEMethod k_alignment 128, n_alignment 256):

            2h + 2E + 2 hp [hp > h] + 16k + k x 2 x np / 2 + (k + 1) x 2 x hq

        Live while the second matmul_ogs runs, all transient torch allocations that the caching
        allocator keeps reserved after the profiling pass
        (tensorrt_llm/_torch/modules/fused_moe/fused_moe_triton.py, TritonMXFP4FusedMoEMethod.apply,
        1.0-1.2 and later; models/modeling_gpt_oss.py MLPBlock.forward_attn_dp gathers before the
        gate):
        - the all-gathered bf16 hidden states and the gate's bf16 router logits over the gathered
          rows (E per row);
        - ``_maybe_pad_activation``: F.pad copy of the input to hp columns (2,944 for h 2,880);
        - the routing's int32 gather / scatter source and destination indices, k per row each
          (triton_kernels routing_from_bitmatrix; its top-k values, bitmatrix and histograms,
          < 0.2 % of the row, are left out);
        - matmul_ogs #1 with the fused SwiGLU (reduction_n 2): one bf16 output row of np / 2 per
          token x top_k pair, pruned pairs included (triton_kernels matmul_ogs.py init_allocation:
          M = gather_indx.src_indx rows, N // reduction_n);
        - matmul_ogs #2 with scatter and k > 1: the k per-pair rows plus the k-combined row, hq bf16
          columns each, whether fused_scatter (one output of M + Mc rows) or not (an M-row
          scratchpad plus the Mc-row output): init_allocation / init_postprocessing_features
          (triton-lang/triton python/triton_kernels/triton_kernels/matmul_ogs.py).
        Not this runner's CUTLASS workspace: nothing persists per stream."""
        s = self.spec
        h, inter, k = float(s.hidden), float(s.expert_ffn_hidden), float(max(s.top_k, 1))
        e = float(s.experts)
        hp = math.ceil(h / 128.0) * 128.0
        np_ = math.ceil(2.0 * inter / 256.0) * 256.0
        hq = math.ceil(h / 256.0) * 256.0
        pad = 2.0 * hp if hp > h else 0.0
        return 2.0 * h + 2.0 * e + pad + 16.0 * k + k * np_ + (k + 1.0) * 2.0 * hq

    def gathered_moe_bytes(self, max_batch_tokens: int) -> float:
        """Bytes per GPU the memory-profiling forward pass of an attention-DP replica holds beyond
        what one rank's own tokens need, from the other ranks' all-gathered tokens in the MoE layers
        (TensorRT-LLM: KvCacheCreator sizes the KV pool from the memory free after a forward pass
        at max_num_tokens on every rank, tensorrt_llm/_torch/pyexecutor/_util.py; each MoE layer
        all-gathers every rank's tokens before its fused MoE, unchunked: moe_max_num_tokens
        defaults to max_num_tokens x the DP size, fused_moe_cutlass.py). ``max_batch_tokens`` is
        the replica's (N per rank x dp): (dp - 1) x N x ``gathered_moe_row_bytes``. 0 without
        the all-gather (dp = 1, an all-to-all engine or MNNVL all-to-all: ``moe_all_gather``). On
        the mixed-input TRITON path (GPT-OSS on Hopper) the row is
        ``triton_gathered_moe_row_bytes``, not the CUTLASS runner's."""
        n = self.dp
        if n <= 1 or not self.moe_all_gather():
            return 0.0
        per_rank = max(max_batch_tokens // n, 1)
        row = self.triton_gathered_moe_row_bytes() if self._mixed_input else self.gathered_moe_row_bytes()
        return (n - 1) * per_rank * row
