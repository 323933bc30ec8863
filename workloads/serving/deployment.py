"""A serving deployment: replicas placed on a topology's GPUs, a router in front of them, and
the flows that move KV caches and activations between them over the shared fabric.

Vocabulary:
- placement: replicas take consecutive GPU ranks (replica r uses ranks r*tp*pp ...), prefill
  replicas first, then decode replicas (disaggregated) or the co-located replicas.
- engine: the batching loop (``Replica``) of one replica; a PP replica runs ``pp`` virtual
  engines on the same GPUs (each with 1/pp of the KV pool and batch limit), so pp batches are in
  flight and every stage stays busy when all have work, with pipeline bubbles when few do.
- router: picks a replica for each arriving request; a policy class in ``ROUTERS``
  (``serve.router``; a new one is a class and a registry line): ``round-robin``,
  ``least-loaded`` (fewest outstanding requests, then fewest queued prompt tokens),
  ``prefix-aware`` (most prompt tokens already cached minus queued prompt tokens, so affinity
  yields to load), ``weighted`` (filters plus weighted scores, ``routing.py``: llm-d's,
  SGLang's and Dynamo's routers). Disaggregated: the
  router picks the prefill replica; the decode replica is picked the same way among decode
  replicas when the prefill finishes.
- KV transfer (disaggregated): each prefill GPU sends its KV shard to the matching GPU of the
  decode replica (NVLink inside a scale-up domain, NIC and switches across). ``layerwise``
  streams all but the last layer behind the final prefill iteration; ``whole`` sends after it.
- host copies: prefix-cache loads (host DRAM or SSD to HBM) and swap preemption travel the
  GPU's host link (and the SSD's link first, for SSD hits).
- collectives: a replica's TP all-reduces (EP all-to-all bytes folded in) and PP send/recv go
  through ``sim.collectives`` on its GPUs: priced from the topology (``_group_link``: the
  inter-node all-reduce of a TP group spanning servers included) and put on the fabric
  (``comm_traffic``: rail-aligned channels across domains; private groups credited without
  flows).
"""

from __future__ import annotations

import numpy as np

from sim.config import serve_refusal, serve_role_tps
from sim.errors import ConfigError, InfeasibleError
from sim.hardware import gpu as gpu_spec
from workloads.model import ModelSpec
from sim import collectives
from workloads.serving import engines
from workloads.serving.routing import WeightedRouter
from sim.gpu import HbmLedger
from workloads.serving import fused_moe
from workloads.serving.cost import (ACT_BYTES, MIXED_INPUT_KERNELS, CommLink, IterationCost, calibration,
                                    check_precision)
from workloads.serving.kvcache import KVCache, PrefixCache
from workloads.serving.dp_attention import COMBINE_BYTES, DISPATCH_BYTES, DpAttentionCost
from workloads.serving.replica import Replica, kv_alloc_of, kv_slots
from workloads.serving.request import Request
from workloads.serving.requests import RequestStream


class RoundRobinRouter:
    """Replicas in turn."""

    def __init__(self):
        self.counter = 0

    def choose(self, replicas: list[Replica], req: Request) -> Replica:
        r = replicas[self.counter % len(replicas)]
        self.counter += 1
        return r


class LeastLoadedRouter:
    """Fewest outstanding requests, then fewest queued prompt tokens, then lowest index."""

    def choose(self, replicas: list[Replica], req: Request) -> Replica:
        return min(replicas, key=lambda rep: (rep.load(), rep.queued_tokens, rep.index))


class PrefixAwareRouter(LeastLoadedRouter):
    """Most prompt tokens already cached minus queued prompt tokens (affinity yields to load);
    least-loaded when the request or the replicas have no prefix blocks."""

    def choose(self, replicas: list[Replica], req: Request) -> Replica:
        if req.blocks is None or replicas[0].prefix is None:
            return super().choose(replicas, req)

        def score(rep):
            hit = len(rep.prefix.match(req.blocks)) * rep.prefix.prefix_tokens
            return (hit - rep.queued_tokens, -rep.load(), -rep.index)
        return max(replicas, key=score)


ROUTERS = {"round-robin": RoundRobinRouter, "least-loaded": LeastLoadedRouter, "prefix-aware": PrefixAwareRouter,
           "weighted": WeightedRouter}


def make_router(name: str, serve):
    """The ``ROUTERS[name]`` policy, built from the ``[serve]`` section when it takes settings
    (``from_serve``), else with no arguments."""
    cls = ROUTERS[name]
    return cls.from_serve(serve) if hasattr(cls, "from_serve") else cls()


class Deployment:
    def __init__(self, cfg, sim, topo, fabric, stream: RequestStream):
        self.cfg, self.sim, self.topo, self.fabric = cfg, sim, topo, fabric
        self.gpu = gpu_spec(cfg.topology.gpu)
        self.serve = s = engines.apply_defaults(cfg.serve, self.gpu.hbm_bytes)
        # the profile's host times on this machine's host (GpuSpec.host_speed: Grace-hosted GB200 is slower)
        self.engine = engines.profile(s.engine).on_host(self.gpu.host_speed, self.gpu.launch_speed)
        # serve.endpoint: the API endpoint the requests are posted to (the chat one adds chat_request_us)
        self.endpoint = getattr(s, "endpoint", None) or engines.DEFAULT_ENDPOINT
        self.stream = stream
        vendors = self.engine.gpu_vendors
        if vendors and self.gpu.vendor not in vendors and self.gpu.vendor != "custom":
            raise ConfigError("serve.engine", f"{self.engine.name!r} runs on {' and '.join(vendors)} GPUs only "
                              f"(engines.toml gpu_vendors); {self.gpu.name} is {self.gpu.vendor}'s: use engine = "
                              "'vllm' or 'sglang'")
        check_precision(self.gpu, s.precision)
        if s.precision == "fp8" and not self.gpu.has_precision("fp8"):
            _warn_once(f"serve.precision = 'fp8' on {self.gpu.name}, which has no fp8 tensor cores: modelled as "
                       "weight-only FP8 (W8A16, vLLM's FP8 Marlin): 1-byte weight reads, matmuls at the "
                       "bf16 rate")
        self.spec = ModelSpec.from_section(cfg.model)
        # the config refuses these before the run (sim.config.serve_refusal, the one rule: an MTP drafter without
        # MTP modules, a draft vocabulary over the model's, disaggregation without both roles, no replicas, MoE
        # settings on a dense model, dp_attention's ep / pp / speculative, an MoE kernel the engine does not
        # have); asked again here for a config changed after it was validated (the Python API)
        refusal = serve_refusal(s, cfg.model)
        if refusal:
            raise ConfigError(*refusal)
        self._warn_beyond_max_context()
        disagg = s.prefill_replicas > 0 or s.decode_replicas > 0     # both > 0, or none (serve_refusal)
        self.disaggregated = disagg
        counts = {"prefill": s.prefill_replicas, "decode": s.decode_replicas} if disagg else {"both": s.replicas}
        # tensor parallelism per role: disaggregated prefill and decode replicas may differ
        # (serve.prefill_tp / serve.decode_tp, Dynamo's 4 x TP1 prefill + 1 x TP4 decode)
        role_tp = serve_role_tps(s)
        # counted before the per-replica lists are built: replicas = 2**63 raised OverflowError
        # there, 10**9 took gigabytes
        self.gpus_used = replica_gpus(s)[0]
        if self.gpus_used > len(topo.gpus):
            tps = ", ".join(f"{'co-located' if r == 'both' else r} tp={role_tp[r]}" for r in counts)
            key = "serve.replicas" if not disagg else \
                max(("serve.prefill_replicas", "serve.decode_replicas"), key=lambda k: getattr(s, k.split(".")[1]))
            raise InfeasibleError(key, f"{sum(counts.values())} replicas ({tps}) x pp={s.pp} need "
                                  f"{self.gpus_used} GPUs; the topology has {len(topo.gpus)}")
        roles = [r for r, n in counts.items() for _ in range(n)]
        sizes = [role_tp[r] * s.pp for r in roles]
        self.layerwise = s.kv_transfer == "layerwise"
        # PP: pp virtual engines per replica keep pp batches in flight (vLLM's virtual engines),
        # each with 1/pp of the KV pool and of the batch limit; one batch alone leaves bubbles
        self.engines = s.pp
        costs: dict[int, tuple[IterationCost, int]] = {}
        for role in dict.fromkeys(roles):
            tp = role_tp[role]
            if tp not in costs:
                key = "serve.tp" if role == "both" or tp == s.tp else f"serve.{role}_tp"
                costs[tp] = self._role_cost(tp, key)
        self.cost, cap_tokens = costs[role_tp[roles[-1]]]     # decode's (or the only) one
        self.kv_blocks = cap_tokens // s.kv_block_tokens // self.engines
        # what one GPU of a replica holds (sim.gpu ledger): weights, runtime, workspace, KV pool
        self.hbm = HbmLedger(self.gpu.hbm_bytes, self.gpu.name)
        self.hbm.allocate("weights", self.cost.weight_bytes_per_gpu())
        if self.engine.encoder_bytes(self.cost) > 0:
            self.hbm.allocate("encoder", self.engine.encoder_bytes(self.cost))
        rope = self.engine.rope_table_bytes(self.cost)
        if rope > 0:      # the RoPE table over model.max_context (engines.toml)
            self.hbm.allocate("rope_table", rope)
        pad = self.engine.expert_padding_bytes(self.cost)
        if pad > 0:       # MXFP4 expert weights padded to the engine's alignment (engines.toml)
            self.hbm.allocate("expert_padding", pad)
        self.hbm.allocate("runtime", self.engine.non_torch_bytes(self.cost.tp, self.gpu))
        self.hbm.allocate("activations", self.engine.activation_bytes(self.cost, s.max_batch_tokens, s.max_batch_size))
        self.hbm.allocate("kv_cache", self.kv_blocks * self.engines * s.kv_block_tokens * self.cost.kv_token_gpu)
        # a pool the config gave (serve.kv_capacity_tokens) that does not fit is that key's fault, not the
        # memory model's (which sizes its own pool to fit)
        self.hbm.check("serve.kv_capacity_tokens" if s.kv_capacity_tokens is not None else "serve.gpu_memory_utilization")
        self.kv_pool_tokens = cap_tokens // self.engines      # before rounding down to whole blocks
        role_caps = {r: costs[role_tp[r]][1] // self.engines for r in roles}
        self.role_kv_blocks = {r: c // s.kv_block_tokens for r, c in role_caps.items()}
        self._check_fits(stream, role_caps)
        self.replicas: list[Replica] = []
        first = 0
        speeds = _gpu_speed(cfg, self.gpu, len(topo.gpus))
        for i, role in enumerate(roles):
            per = sizes[i]
            cost = costs[role_tp[role]][0]
            kv_blocks = self.role_kv_blocks[role]
            ranks = range(first, first + per)
            first += per
            gpus = [topo.gpu(r) for r in ranks]
            cost = self._placed_cost(cost, gpus, role_tp[role])
            slowest = float(min(speeds[r] for r in ranks)) if speeds is not None else 1.0
            cost = cost if slowest == 1.0 else cost.with_speed(slowest)
            hosts = [topo.attr(g, "host") for g in gpus]
            hosts = hosts if all(h is not None for h in hosts) else []
            for _ in range(self.engines):
                kv = KVCache(kv_blocks, s.kv_block_tokens)
                prefix = None
                if s.prefix_cache and role != "decode":
                    prefix = PrefixCache(kv, stream.block_tokens, cost.kv_token_gpu,
                                         s.host_kv_GB * 1e9 / per / self.engines,
                                         s.ssd_kv_GB * 1e9 / per / self.engines,
                                         full_fraction=cost.kv_full_fraction if cost.window else 1.0)
                rep = Replica(len(self.replicas), role, self, cost, kv, prefix, gpus, hosts,
                              max(s.max_batch_size // self.engines, 1))
                if role == "prefill":       # the engine's prefill worker (engines.prefill_worker_limits)
                    seqs, chunk = self.engine.prefill_worker_limits(
                        rep.max_batch, s.chunk_size, int(stream.input_tokens.max()) if len(stream) else 0)
                    if chunk != rep.chunk:      # unchunked: one step takes the whole prompt
                        rep.max_tokens = max(rep.max_tokens, chunk)
                    rep.max_batch, rep.chunk = seqs, chunk
                rep.physical = i
                self.replicas.append(rep)
        self.physical_replicas = len(roles)
        self.front = [r for r in self.replicas if r.role in ("both", "prefill")]
        self.back = [r for r in self.replicas if r.role == "decode"]
        self.router = make_router(s.router, s)
        # settings without effect here (prefix-aware routing or a prefix cache with no prefix blocks to
        # match, chunk_size under a whole-prompt scheduler) are the config's warnings
        # (sim.config.ineffective_settings), told before the run and refused as a sweep axis
        # decode replicas hold no prefix cache: prefix affinity means nothing to them
        self.decode_router = make_router(s.router if s.router not in ("prefix-aware", "weighted") else "least-loaded", s)
        self.requests: list[Request] = []
        self.done = sim.env.event()
        self.n_done = 0
        self.next_closed = 0
        self.bytes = {"disagg": 0.0, "prefix_load": 0.0, "swap": 0.0}
        self._pending_kv: dict[int, list] = {}
        self._private_reps: dict[int, bool] = {}
        self._credit_due: dict[int, list[float]] = {}   # private replica -> [TP, PP] bytes not yet credited
        self._algos: dict[tuple, str] = {}

    # -- set-up helpers ------------------------------------------------------------------------
    def _placed_cost(self, cost: IterationCost, gpus: list[int], tp: int) -> IterationCost:
        """``cost`` (built on the topology's first ``tp`` x pp GPUs) for a replica on ``gpus``:
        where one of its pipeline stages' TP groups spans more scale-up domains than the group
        the cost was built on (a ``[[jobs]]`` placement range, or disaggregated roles of other
        tp, not aligned to the NVLink domains), its all-reduces cross the scale-out fabric at that
        group's link (``_group_link``); they ran at the one-domain link. A DP-attention replica
        spanning more domains than the first one takes its own all-to-all link (``_a2a_link``)
        and server count; a tp = 1, pp > 1 replica whose stage boundary crosses domains where
        the first replica's did not sends its activations at that boundary's link (all its
        pp - 1 sends: a cost holds one link, as the TP case's worst group)."""
        topo, pp = self.topo, self.serve.pp
        if isinstance(cost, DpAttentionCost):
            built = len(collectives.domains_of(topo, [topo.gpu(i) for i in range(tp)]))
            spans = len(collectives.domains_of(topo, gpus[:tp]))
            if tp < 2 or spans <= built:
                return cost
            placed = cost.with_link(self._a2a_link(gpus[:tp]))
            placed.nodes = spans
            return placed
        if type(cost) is not IterationCost:
            return cost
        if tp < 2:
            if pp < 2:
                return cost
            dom = [int(topo.attr(g, "domain", 0)) for g in gpus]
            first = [int(topo.attr(topo.gpu(i), "domain", 0)) for i in range(2)]
            cross = [k for k in range(pp - 1) if dom[k] != dom[k + 1]]
            if not cross or first[0] != first[1]:
                return cost
            return cost.with_link(self._group_link(gpus[cross[0]:cross[0] + 2], 1))
        built = len(collectives.domains_of(topo, [topo.gpu(i) for i in range(tp)]))
        groups = [gpus[k * tp:(k + 1) * tp] for k in range(pp)]
        worst = max(groups, key=lambda g: len(collectives.domains_of(topo, g)))
        if len(collectives.domains_of(topo, worst)) <= built:
            return cost
        return cost.with_link(self._group_link(worst + [g for g in gpus if g not in worst], tp))

    def _role_cost(self, tp: int, key: str) -> tuple[IterationCost, int]:
        """The iteration cost of a replica of ``tp`` x pp GPUs (with the engine's host time and
        speculative decoding) and its KV pool in tokens."""
        s, topo = self.serve, self.topo
        # the engine's per-step CPU time at this machine's host speed (an explicit
        # serve.schedule_overhead_us is taken as measured on the run's own host)
        overhead = (s.schedule_overhead_us or self.engine.step_us) * 1e-6
        try:
            # dp_attention or ep > 1 on a dense model, dp_attention's ep other than 1 or tp, with pp > 1 or
            # speculative decoding: sim.config.serve_refusal (asked in __init__)
            if s.dp_attention:
                link = self._a2a_link([topo.gpu(i) for i in range(tp)])
                cost = DpAttentionCost(self.spec, self.gpu, s.precision, s.kv_precision, tp, s.pp, link, overhead,
                                       s.redundant_experts)
                cost.nodes = len(collectives.domains_of(topo, [topo.gpu(i) for i in range(tp)]))
            else:
                link = self._group_link([topo.gpu(i) for i in range(tp * s.pp)], tp)
                cost = IterationCost(self.spec, self.gpu, s.precision, s.kv_precision, tp, s.pp, s.ep, link, overhead)
        except InfeasibleError as err:
            raise InfeasibleError(key if err.key == "serve.tp" else err.key, err.reason) from None
        if s.expert_precision and s.expert_precision != s.precision:
            cost.set_expert_precision(s.expert_precision)
        if getattr(s, "expert_compute_precision", None) and s.expert_compute_precision != s.precision:
            cost.set_expert_compute_precision(s.expert_compute_precision)
        if getattr(s, "moe_backend", None) in MIXED_INPUT_KERNELS:
            # a weight-only (dequantizing) MoE kernel named by serve.moe_backend: triton or marlin
            cost.set_mixed_input_kernel(s.moe_backend)
            # on experts with their own MMA it has no effect: the config's warning (sim.config.ineffective_settings)
        if cost.weight_only_experts and (self.engine.triton_moe_k_align or self.engine.triton_moe_n_align):
            # the engine's padding of the Triton kernel's expert GEMMs (no effect on Marlin)
            cost.set_mixed_input_alignment(self.engine.triton_moe_k_align, self.engine.triton_moe_n_align)
        self._engine_host_time(cost)
        if not self.engine.window_kv_freed:
            cost.keep_window_kv()
        cost.split_mixed_attention = bool(self.engine.split_mixed_attention)
        self._chunked_decode_kernel(cost)
        if s.speculative is not None:
            sp = s.speculative
            cost.set_speculative(sp.tokens, sp.acceptance, sp.verify_tokens, sp.draft_layers, topk=sp.topk,
                                 draft_vocab=sp.draft_vocab, step_s=self.engine.spec_step_us * 1e-6,
                                 seq_s=self.engine.spec_seq_us * 1e-6,
                                 draft_seq_s=self.engine.spec_draft_seq_us * 1e-6,
                                 draft_step_s=self.engine.spec_draft_step_us_gpu * 1e-6, method=sp.method,
                                 mtp_layers=int(getattr(self.cfg.model, "mtp_layers", None) or 0))
        try:
            cap_tokens = s.kv_capacity_tokens or self.engine.kv_capacity_tokens(
                cost, s.gpu_memory_utilization, s.max_batch_tokens, s.max_batch_size)
        except InfeasibleError as err:
            raise InfeasibleError(key if err.key == "serve.tp" else err.key, err.reason) from None
        return cost, cap_tokens

    def _engine_host_time(self, cost: IterationCost) -> None:
        """The engine profile's per-sequence and eager-dispatch CPU time and low-precision weight
        reads on the iteration cost (``self.engine`` holds them on this machine's host,
        ``EngineProfile.on_host``)."""
        e = self.engine
        us = 1e-6
        cost.host_per_seq_s = e.step_us_per_seq * us
        cost.overlap_per_seq_s = e.overlap_us_per_seq * us
        # asynchronous scheduling (serve.async_scheduling, default the engine's): step_us and step_us_per_seq
        # run beside the GPU step; the engines turn it off under speculative decoding and pipeline
        # parallelism (SGLang server_args: EAGLE and pp_size > 1 set disable_overlap_schedule; vLLM 0.11
        # refuses both, which the config's validation reports for an explicit true)
        sv = self.serve
        cost.async_host = engines.runs_async(sv, e)
        # async_scheduling = true with no host time to hide: the config's warning (sim.config.ineffective_settings)
        cost.graph_max_batch = max(e.cuda_graph_max_batch, 0)     # -1: set below from the replica's own graphs
        cost.eager_serial = e.eager_serial
        cost.eager_step_s = engines.eager_ops(cost, e.eager_kernels_per_layer) * e.launch_us * us
        if isinstance(cost, DpAttentionCost) and cost.dp > 1:
            cost.dp_sync_s = e.dp_sync_us * us
            cost.moe_comm = e.dp_moe_comm
            cost.set_gather_precision(getattr(self.serve, "expert_compute_precision", None) or self.serve.precision,
                                      cost.spec.checkpoint_fp8_scaling == "block")
        if cost.wbytes < 2.0:
            cost.set_weight_read_efficiency(e.lowp_weight_read_efficiency)
        if cost.spec.is_moe:
            backend = getattr(self.serve, "moe_backend", None)
            cost.set_fused_moe_backend(backend if backend in fused_moe.BACKENDS else e.fused_moe_backend)
            # a backend whose kernels do not apply here (TRTLLM-gen without FP4 tensor cores or on weight-only
            # experts, CUTLASS off FP4 experts) has no effect: the config's warning, decided before the run from
            # the config alone (sim.config.ineffective_settings, expert_kernel), so a sweep refuses such an axis
        s = self.serve
        # with attention DP each rank's executor runs 1/dp of the replica's limits and captures its CUDA
        # graphs up to its own max_batch_size (TensorRT-LLM: one PyExecutor per rank, model_engine.py
        # _filter_cuda_graph_batch_sizes against that rank's max_batch_size; ``DpAttentionCost.batch``
        # pads each rank's T / dp): the listed sizes are filtered, and padded to, at the rank's limits
        ranks = cost.dp if isinstance(cost, DpAttentionCost) and cost.dp > 1 else 1
        bs_cap, tok_cap = max(s.max_batch_size // ranks, 1), max(s.max_batch_tokens // ranks, 1)
        defaulted = [k for k in ("max_batch_tokens", "max_batch_size") if k not in self.cfg.serve.model_fields_set]
        if ranks > WIDE_EP_RANKS and defaulted:
            # the engine's default limits are sized for a replica of one server; split over a wide-EP
            # replica's ranks they starve each rank (72 ranks: 113 prompt tokens a step, TTFTs of seconds)
            _warn_once(f"serve.{' and serve.'.join(defaulted)} unset: the engine's default limits "
                       f"({s.max_batch_tokens:,} tokens, {s.max_batch_size:,} sequences) are the whole replica's, "
                       f"so each of its {ranks} attention-DP ranks runs at most {tok_cap:,} tokens and {bs_cap:,} "
                       f"sequences a step; for a wide-EP replica set them to the per-rank limits x {ranks} "
                       f"(SGLang divides --chunked-prefill-size and --max-running-requests by the DP size the same way)")
        cost.set_graph_batch_sizes(e.graph_batch_sizes(s.cuda_graph_batch_sizes, bs_cap, tok_cap))
        if e.cuda_graph_max_batch < 0:
            # the replica's own CUDA graphs (serve.cuda_graph_batch_sizes as padded) cover its decode batches;
            # without a list, the engine's default graphs (TensorRT-LLM: TorchLlmArgs cuda_graph_config
            # default_factory=CudaGraphConfig, "enabled for batches that consist of decoding requests only")
            # are taken to cover them (dcsim holds no default list: such decode steps run unpadded)
            cost.graph_max_batch = int(cost.graph_sizes[-1]) if cost.graph_sizes else 2**31 - 1
        cap = min(bs_cap, tok_cap)
        over = sorted({int(b) for b in s.cuda_graph_batch_sizes or () if b > cap})
        if over:
            per = f" / {ranks} attention-DP ranks" if ranks > 1 else ""
            _warn_once(f"serve.cuda_graph_batch_sizes {over} exceed the largest decode batch min(max_batch_size, "
                       f"max_batch_tokens){per} = {cap}: the engine drops them"
                       + (f" and pads every larger decode batch to {cap} rows" if e.cuda_graph_pad_to_limit else ""))

    def _warn_beyond_max_context(self) -> None:
        """Warn when some of the workload's requests run past ``model.max_context`` (prompt + output,
        tokens): an engine sized by the model (trtllm-serve's max_seq_len, vLLM's max_model_len, both the
        model config's max_position_embeddings by default) refuses a prompt beyond it and stops a
        generation at it, where dcsim serves the request whole. When every request runs past it the run
        is refused (``ConfigError`` naming ``model.max_context``, exit 2): a real engine serves none of
        them, and the run's figures would describe a deployment that cannot exist."""
        limit = getattr(self.cfg.model, "max_context", None)
        if not limit or not len(self.stream):
            return
        total = self.stream.input_tokens + self.stream.output_tokens
        over = int((total > limit).sum())
        if over and over == len(total):
            lo, hi = int(total.min()), int(total.max())
            lengths = f"{lo:,} tokens" if lo == hi else f"{lo:,} to {hi:,} tokens"
            raise ConfigError("model.max_context", f"every request runs past model.max_context = {limit:,} tokens "
                              f"({self.spec.name}): its prompt + output (workload.input_tokens + "
                              f"workload.output_tokens) is {lengths}, and an engine sized by the model refuses or "
                              "cuts all of them; shorten the workload, or raise model.max_context if the model's "
                              "context is longer")
        if over:
            _warn_once(f"{over:,} of {len(total):,} requests run past model.max_context = {limit:,} tokens (prompt + "
                       f"output, up to {int(total.max()):,}): a real engine refuses or cuts them; dcsim serves them "
                       "whole (raise model.max_context if the model's context is longer, or shorten the workload)")

    def _chunked_decode_kernel(self, cost: IterationCost) -> None:
        """TensorRT-LLM (engines.toml ``chunked_decode = "mmha"``) on a GPU whose generation
        kernel is XQA (compute.toml ``xqa_decode``: Hopper) runs a chunked-attention model's
        (``model.attention_chunk``: Llama 4) chunked layers' generation attention with MMHA when
        the engine's max_seq_len exceeds the chunk (TensorRT-LLM PR #6306: XQA has no chunked
        attention; below the chunk the mask is dropped and XQA runs). max_seq_len is the
        workload's longest prompt + output, as trtllm-bench sets it from its dataset (engines.toml
        ``max_seq_len = "workload"``), or the model's ``model.max_context`` where the engine sizes
        by the model (``"model"``: trtllm-serve without --max_seq_len) and the model declares one.
        MMHA's shared memory (its grid bound) follows the batch's longest past within the chunk,
        either way (``IterationCost.set_mmha_chunked_decode``; calibration.toml [attention] mmha_*)."""
        if self.engine.chunked_decode != "mmha" or not cost.chunk or not len(self.stream):
            return
        from sim.compute import constants_row
        if not constants_row(self.gpu.name).get("xqa_decode", False):
            return
        longest = int((self.stream.input_tokens + self.stream.output_tokens).max())
        max_seq_len = longest
        if self.engine.max_seq_len == "model" and getattr(self.cfg.model, "max_context", None):
            max_seq_len = max(int(self.cfg.model.max_context), longest)
        if max_seq_len > cost.chunk:
            a = calibration()["attention"]
            cost.set_mmha_chunked_decode(float(a["mmha_l2_reuse"]), float(a["mmha_fp32_eff"]), longest)

    def _group_link(self, gpus: list[int], tp: int | None = None) -> CommLink:
        """The effective bytes/s and per-collective latency of the replica's TP all-reduce on
        the topology (``sim.collectives`` closed forms on the fabric's effective capacities).
        Inside one scale-up domain engines run their own one-shot all-reduce kernels: the
        calibrated latency plus the path's, at the bandwidth the ring reaches. Across domains
        NCCL's algorithms (rail-aligned rings, trees, hierarchical): an affine fit of the
        chosen algorithm's time at one token's and at a full batch's activations, so a decode
        step pays the inter-node latency of each all-reduce."""
        lat = calibration()["comm"]["collective_latency_us"] * 1e-6
        s, topo, caps = self.serve, self.topo, self.fabric.capacity
        tp = tp or s.tp
        group = gpus[:tp] if tp > 1 else gpus
        if len(group) < 2:
            return CommLink(self.gpu.scaleup_Bps, lat)
        if tp < 2:        # pipeline sends only: the first stage boundary's path
            links = topo.route(group[0], group[1])
            cap = float(caps[links].min()) if len(links) else self.gpu.scaleup_Bps
            return CommLink(cap, lat + topo.path_latency(links))
        n = len(group)
        bus = 2.0 * (n - 1) / n
        S1 = self.spec.hidden * ACT_BYTES
        S2 = max(s.max_batch_tokens, 2) * self.spec.hidden * ACT_BYTES
        if len(collectives.domains_of(topo, group)) == 1:
            t1 = collectives.estimate_on(topo, caps, "all_reduce", "ring", group, S1)
            t2 = collectives.estimate_on(topo, caps, "all_reduce", "ring", group, S2)
            links = topo.route(group[0], group[1])
            return CommLink(bus * (S2 - S1) / (t2 - t1), lat + topo.path_latency(links))
        a1 = collectives.choose(topo, "all_reduce", group, S1, self.fabric)
        a2 = collectives.choose(topo, "all_reduce", group, S2, self.fabric)
        t1 = collectives.estimate_on(topo, caps, "all_reduce", a1, group, S1)
        t2 = collectives.estimate_on(topo, caps, "all_reduce", a2, group, S2)
        Bps = bus * (S2 - S1) / max(t2 - t1, 1e-15)
        return CommLink(Bps, max(t1 - bus * S1 / Bps, 0.0))

    def _a2a_link(self, group: list[int]) -> CommLink:
        """The MoE dispatch/combine all-to-all of a ``dp_attention`` replica on the topology
        (``sim.collectives`` closed form of the direct all-to-all): an affine fit of its time in
        the per-GPU buffer, between one token's and a full iteration's buffers."""
        s, caps = self.serve, self.fabric.capacity
        per_token = self.spec.top_k * self.spec.hidden * (DISPATCH_BYTES + COMBINE_BYTES)
        if len(group) < 2 or per_token <= 0:          # nothing to dispatch (a dense model is refused later)
            return CommLink(self.gpu.scaleup_Bps, calibration()["comm"]["collective_latency_us"] * 1e-6)
        S1 = per_token
        S2 = per_token * max(s.max_batch_tokens // len(group), 2)
        t1 = collectives.estimate_on(self.topo, caps, "all_to_all", "direct", group, S1)
        t2 = collectives.estimate_on(self.topo, caps, "all_to_all", "direct", group, S2)
        Bps = (S2 - S1) / max(t2 - t1, 1e-15)
        return CommLink(Bps, max(t1 - S1 / Bps, 0.0))

    def _check_fits(self, stream: RequestStream, role_caps: dict[str, int]) -> None:
        """Every request must fit the KV pool of each replica kind it passes through.

        A request of prompt + output tokens needs KV slots for prompt + output - 1 tokens
        (``replica.kv_slots``): slots hold the tokens whose KV is written, the prompt and each
        sampled token fed back in, and the last sampled token is never fed (vLLM V1
        ``allocate_slots``: ``num_computed_tokens + num_new_tokens``). TensorRT-LLM's
        GUARANTEED_NO_EVICT (``kv_alloc = "request"``) reserves prompt + output at admission."""
        s = self.serve
        bt = s.kv_block_tokens
        totals = stream.input_tokens + stream.output_tokens
        at = int(np.argmax(totals))
        longest = int(totals[at])
        alloc = kv_alloc_of(s, getattr(self, "engine", None))
        slots = kv_slots(int(stream.input_tokens[at]), int(stream.output_tokens[at]), alloc)
        why = ("its prompt and output, reserved at admission" if alloc == "request"
               else "its prompt and every output token but the last, whose KV is never written")
        for pool_tokens in role_caps.values():
            kv_blocks = pool_tokens // bt
            need = self.cost.kv_blocks(slots, bt)
            if need <= kv_blocks:
                continue
            per = f" per engine of pp={self.engines}" if self.engines > 1 else ""
            windowed = " (fewer on its windowed layers)" if need < -(-slots // bt) else ""
            head = (f"a request of {longest:,} tokens (prompt + output) needs {slots:,} KV token slots"
                    f"{windowed} ({why}) = {need:,} "
                    f"block(s) of {bt}; a replica holds {kv_blocks:,} block(s){per} ")
            # a smaller page size helps only when the pool's tokens hold the request in its pages;
            # offer the engines' usual sizes (vLLM's block_size: 8, 16, 32, ...), not 1-token pages
            smaller = next((b for b in (256, 128, 64, 32, 16, 8)
                            if b < bt and self.cost.kv_blocks(slots, b) <= pool_tokens // b), None)
            raise_to = need * bt * self.engines
            if smaller is not None:
                more = (f" or raise serve.kv_capacity_tokens to {raise_to:,}" if s.kv_capacity_tokens is not None
                        else "")
                raise InfeasibleError("serve.kv_block_tokens",
                                      head + f"({pool_tokens:,} tokens cut to whole blocks of {bt}): set "
                                      f"serve.kv_block_tokens = {smaller} ({self.cost.kv_blocks(slots, smaller):,} "
                                      f"of the {pool_tokens // smaller:,} blocks of {smaller} it leaves){more}")
            if s.kv_capacity_tokens is not None:     # the user's pool, not the memory model's
                raise InfeasibleError("serve.kv_capacity_tokens",
                                      head + f"({kv_blocks * bt:,} tokens in whole blocks of {bt} from "
                                      f"serve.kv_capacity_tokens = {s.kv_capacity_tokens:,}): raise "
                                      f"serve.kv_capacity_tokens to {raise_to:,} or more")
            raise InfeasibleError("workload.input_tokens",
                                  head + f"({kv_blocks * bt:,} tokens after weights and the engine's "
                                  f"memory reserve at serve.gpu_memory_utilization {s.gpu_memory_utilization:g}; "
                                  f"the engine would refuse to start as well): raise "
                                  f"serve.gpu_memory_utilization, lower serve.max_batch_size (the sampler's "
                                  f"profiled peak grows with it), add GPUs (serve.tp) or set "
                                  f"serve.kv_capacity_tokens to the pool your engine logged")

    # -- flows ---------------------------------------------------------------------------------
    def _private(self, rep: Replica) -> bool:
        """A replica's collectives have their links to themselves when its GPUs share one
        scale-up domain and no KV transfer crosses their NVLink ports (co-located serving):
        each GPU's NVLink links carry only its own replica's traffic, so when its bytes move
        cannot change any other flow and the analytic time of the iteration cost is exact."""
        domains = {self.topo.attr(g, "domain", 0) for g in rep.gpus}
        return not self.disaggregated and len(domains) == 1

    def _tp_groups(self, rep: Replica) -> list[list[int]]:
        tp = rep.cost.tp
        return [rep.gpus[i:i + tp] for i in range(0, len(rep.gpus), tp)]

    def _algo(self, group: list[int], nbytes: float) -> str:
        """NCCL's choice for an all-reduce of ``nbytes`` on ``group`` (cached per size octave)."""
        key = (group[0], len(group), int(np.log2(max(nbytes, 1.0))))
        algo = self._algos.get(key)
        if algo is None:
            algo = self._algos[key] = collectives.choose(self.topo, "all_reduce", group, nbytes, self.fabric)
        return algo

    def comm_traffic(self, rep: Replica, tp_bytes: float, pp_bytes: float):
        """Put an iteration's (or macro-step's) TP/EP and PP bytes on the fabric through
        ``sim.collectives``: an all-reduce on each TP group carrying ``tp_bytes`` per GPU (ring
        volume), and send/recv from every stage's GPUs to the next stage's (``pp_bytes`` per
        GPU of the replica on average). Private replicas' bytes are summed and credited once
        (no flow, ``flush_credits``; returns None); shared ones run the collective's flows, which contend with everything
        else (returns the event that fires when they are done)."""
        if self.is_private(rep):
            # bytes on private links change no other flow: sum them, credit once (flush_credits)
            due = self._credit_due.get(rep.index)
            if due is None:
                due = self._credit_due[rep.index] = [0.0, 0.0]
            due[0] += tp_bytes
            due[1] += pp_bytes
            return None
        return self._put_traffic(rep, tp_bytes, pp_bytes, False)

    def is_private(self, rep: Replica) -> bool:
        """Whether ``rep``'s collectives have their links to themselves (``_private``), cached."""
        private = self._private_reps.get(rep.index)
        if private is None:
            private = self._private_reps[rep.index] = self._private(rep)
        return private

    def refund_traffic(self, rep: Replica, tp_bytes: float, pp_bytes: float) -> None:
        """Take back a private replica's bytes of iterations a cut macro-step did not run."""
        due = self._credit_due.setdefault(rep.index, [0.0, 0.0])
        due[0] -= tp_bytes
        due[1] -= pp_bytes

    def flush_credits(self) -> None:
        """Credit the private replicas' summed TP/PP bytes on the fabric (the same link bytes as
        crediting every iteration: ``collectives.credit`` is linear in the buffer). Runs when
        the last request finishes and before the tables are read; idempotent."""
        due, self._credit_due = self._credit_due, {}
        for index, (tp_b, pp_b) in sorted(due.items()):
            self._put_traffic(self.replicas[index], tp_b, pp_b, True)

    def _put_traffic(self, rep: Replica, tp_bytes: float, pp_bytes: float, private: bool):
        tp, pp = rep.cost.tp, self.serve.pp
        f, events = self.fabric, []
        if getattr(rep.cost, "dp", 1) > 1 and tp_bytes > 0:
            # dp_attention: every MoE layer's dispatch and combine, one all-to-all of their sum
            n = rep.cost.dp
            S = tp_bytes * n / (n - 1)
            groups = [rep.gpus[:n]]
            if private:
                collectives.credit(f, "all_to_all", groups, S, "direct", tag="serve.ep")
            else:
                events.append(collectives.collective_scaled(f, "all_to_all", groups, S, "direct", tag="serve.ep"))
            tp_bytes = 0.0
        if tp > 1 and tp_bytes > 0:
            groups = self._tp_groups(rep)
            S = tp_bytes / (2.0 * (tp - 1) / tp)        # the all-reduce buffer of that ring volume
            if private:
                collectives.credit(f, "all_reduce", groups, S, "ring", tag="serve.tp")
            else:
                algo = self._algo(groups[0], S)
                events.append(collectives.collective_scaled(f, "all_reduce", groups, S, algo, tag="serve.tp"))
        if pp > 1 and pp_bytes > 0:
            g = rep.gpus
            pairs = [[g[s * tp + t], g[(s + 1) * tp + t]] for s in range(pp - 1) for t in range(tp)]
            per_pair = pp_bytes * pp / (pp - 1)
            if private:
                collectives.credit(f, "send_recv", pairs, per_pair, "ring", tag="serve.pp")
            else:
                events.append(collectives.collective_scaled(f, "send_recv", pairs, per_pair, "ring", tag="serve.pp"))
        if not events:
            return None
        return events[0] if len(events) == 1 else self.sim.env.all_of(events)

    def host_copy(self, rep: Replica, bytes_per_gpu: float, to_gpu: bool, ssd_bytes: float = 0.0,
                  kind: str = "swap"):
        """KV between each of ``rep``'s GPUs and its host memory (through the SSD first for
        ``ssd_bytes`` of it); an event that fires when every GPU's share has landed."""
        env = self.sim.env
        self.bytes[kind] += bytes_per_gpu * len(rep.gpus)
        if not rep.hosts:
            return env.timeout(bytes_per_gpu / self.gpu.host_Bps)
        done = env.event()

        def send(_=None):
            evs = [self.fabric.transfer(h, g, bytes_per_gpu, tag="serve.kv_host") if to_gpu
                   else self.fabric.transfer(g, h, bytes_per_gpu, tag="serve.kv_host")
                   for g, h in zip(rep.gpus, rep.hosts)]
            env.all_of(evs).callbacks.append(lambda _e: done.succeed())

        if ssd_bytes > 0:
            ssd_Bps = self.cfg.topology.ssd_GBps * 1e9
            env.timeout(ssd_bytes * len(rep.gpus) / ssd_Bps).callbacks.append(send)
        else:
            send()
        return done

    def start_kv_transfer(self, src: Replica, req: Request, fraction: float, at_end: bool) -> None:
        env = self.sim.env
        pending = self._pending_kv.get(req.rid)
        if pending is None:
            dst = self.route(self.decode_router, self.back, req)
            pending = self._pending_kv[req.rid] = [dst, [], env.now]
        dst, events, _start = pending
        # the prompt's KV (the first output token's KV is computed by the first decode step);
        # at_end is called after the prefill sampled that token, the streamed part before
        tokens = req.context - 1 if at_end else req.context
        # each decode GPU receives its own shard of the prompt's KV (its KV heads; MLA's latent, or
        # heads replicated where tp exceeds them, whole on every rank), from the prefill GPUs that hold
        # those heads: with a wider decode TP one source feeds several targets, with a narrower one
        # several sources share a target and each sends its part. The bytes were each source's shard
        # to every target: with a replicated cache (MLA) a 4-GPU prefill gave an 8-GPU decode 4 copies
        # of the latent for its 8 ranks, and an 8-GPU prefill a 4-GPU decode 8
        ns, nd = len(src.gpus), len(dst.gpus)
        shard = dst.cost.kv_tokens(tokens) * dst.cost.kv_token_gpu * fraction
        self.bytes["disagg"] += shard * nd
        for i, g in enumerate(src.gpus):
            if ns <= nd:       # the targets that hold this source's heads, one source each
                targets = [(d, 1) for j, d in enumerate(dst.gpus) if j % ns == i]
            else:              # one target, shared with the other sources i' = i mod nd
                targets = [(dst.gpus[i % nd], len(range(i % nd, ns, nd)))]
            for d, senders in targets:
                events.append(self.fabric.transfer(g, d, shard / senders, tag="serve.kv", key=req.rid))
        if at_end:
            del self._pending_kv[req.rid]
            end_of_prefill = env.now

            def arrived(_e, req=req, src=src, dst=dst):
                req.kv_transfer_s = env.now - end_of_prefill
                req.prefill_replica = src.physical
                src.release_transferred(req)
                req.computed = req.context
                if req.generated >= req.output:
                    req.first_token = env.now
                    req.finish = env.now
                    req.replica = dst.physical
                    self.finished(req)
                else:
                    dst.submit(req)
            env.all_of(events).callbacks.append(arrived)

    # -- requests ------------------------------------------------------------------------------
    @staticmethod
    def route(router, replicas: list[Replica], req: Request) -> Replica:
        """The replica ``router`` picks (the only one, without asking, when there is one)."""
        return replicas[0] if len(replicas) == 1 else router.choose(replicas, req)

    def arrive(self, req: Request) -> None:
        """A request reaches the server: after the engine's frontend time (HTTP, tokenizer,
        IPC) the router hands it to a replica."""
        delay = req.frontend_s = self.engine.frontend_s(req.prompt, self.endpoint)
        if delay <= 0:
            self.route(self.router, self.front, req).submit(req)
            return
        self.sim.env.timeout(delay).callbacks.append(
            lambda _e, req=req: self.route(self.router, self.front, req).submit(req))

    def finished(self, req: Request) -> None:
        if req.generated != req.output:
            from sim.errors import SimulationError
            raise SimulationError(f"request {req.rid} finished with {req.generated} of {req.output} tokens")
        self.n_done += 1
        if self.stream.concurrency and self.next_closed < len(self.requests):
            nxt = self.requests[self.next_closed]
            self.next_closed += 1
            nxt.arrival = self.sim.now
            self.arrive(nxt)
        if self.n_done == len(self.requests) and not self.done.triggered:
            self.flush_credits()
            self.done.succeed()

    def schedule_arrivals(self, order: np.ndarray) -> None:
        """Open loop: each request reaches its replica at its arrival plus the frontend time,
        one timeout each scheduled now (in arrival order, so requests that reach the engine at
        the same instant keep it), instead of a process that wakes at every arrival."""
        env = self.sim.env
        now = env.now
        for i in order:
            req = self.requests[i]
            delay = req.frontend_s = self.engine.frontend_s(req.prompt, self.endpoint)
            t = req.arrival if req.arrival > now else now
            at = t + delay if delay > 0 else t
            env.timeout(at - now).callbacks.append(
                lambda _e, req=req: self.route(self.router, self.front, req).submit(req))

    def start(self) -> None:
        st = self.stream
        blocks = st.prefix_blocks
        self.requests = [Request(i, float(st.arrival_s[i]), int(st.input_tokens[i]), int(st.output_tokens[i]),
                                 blocks[i] if blocks is not None else None) for i in range(len(st))]
        for rep in self.replicas:
            self.sim.process(rep.loop(), f"serve.replica{rep.index}")
        if st.concurrency:
            first = min(st.concurrency, len(self.requests))
            self.next_closed = first
            for req in self.requests[:first]:
                self.arrive(req)
            return
        order = np.argsort(st.arrival_s, kind="stable")
        at_zero = int(np.searchsorted(st.arrival_s[order], 0.0, side="right"))
        for i in order[:at_zero]:
            self.arrive(self.requests[i])
        if at_zero < len(order):
            self.schedule_arrivals(order[at_zero:])


def _gpu_speed(cfg, gpu, world: int):
    """Per-rank speed factors (sim.stragglers), or None when every GPU runs at nominal speed; a
    replica runs at its slowest GPU's pace (its TP/PP ranks wait for each other every layer)."""
    from sim.energy import gpu_idle_W
    from sim.stragglers import cap_speed, speed_factors
    t = cfg.topology
    cap = cap_speed(cfg.power.gpu_cap_W, gpu_idle_W(gpu.name, gpu.power_W), gpu.power_W)
    if not t.gpu_speed and t.speed_cv == 0 and cap == 1.0:
        return None
    return speed_factors(world, t.gpu_speed, t.speed_cv, cfg.run.seed, cap)


_WARNED: set[str] = set()


def replica_gpus(s) -> tuple[int, str]:
    """GPUs the serve section ``s``'s replicas occupy, and how, in the config's keys: co-located
    ``serve.replicas x serve.tp (x serve.pp)``, disaggregated ``serve.prefill_replicas x
    serve.prefill_tp + serve.decode_replicas x serve.decode_tp`` (each x serve.pp; the role's tp
    defaults to serve.tp). ``Deployment`` places its replicas on the first that many GPUs."""
    pp = f" x serve.pp = {s.pp}" if s.pp > 1 else ""
    if s.prefill_replicas > 0 or s.decode_replicas > 0:
        parts = [(n, tp, role) for n, tp, role in ((s.prefill_replicas, s.prefill_tp or s.tp, "prefill"),
                                                   (s.decode_replicas, s.decode_tp or s.tp, "decode"))]
        used = sum(n * tp * s.pp for n, tp, _ in parts)
        how = " + ".join(f"serve.{role}_replicas = {n} x serve.{role}_tp = {tp}{pp}" for n, tp, role in parts)
        return used, how
    return s.replicas * s.tp * s.pp, f"serve.replicas = {s.replicas} x serve.tp = {s.tp}{pp}"


# attention-DP replicas wider than one 8-GPU server (wide expert parallelism): where the engine's
# default limits, sized for a server, are worth a warning when left unset (a usability threshold)
WIDE_EP_RANKS = 8


def _warn_once(message: str) -> None:
    """Print ``message`` on stderr as a warning, once per process (replicas share a config)."""
    import sys
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)
