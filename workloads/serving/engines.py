"""Serving engine profiles: how vLLM, SGLang and TensorRT-LLM size the KV pool, allocate and
reclaim KV blocks, and spend host (CPU) time, as data (``data/engines.toml``).

Vocabulary (fields of ``EngineProfile``; bytes, seconds unless named otherwise):
- ``memory``: how ``serve.gpu_memory_utilization`` (u) becomes the KV pool on one GPU with HBM
  total T (runtime-visible bytes, ``GpuSpec.hbm_bytes``) and weights W:
  ``utilization`` (vLLM): u x T - W - non_torch - activation peak;
  ``static_fraction`` (SGLang ``--mem-fraction-static``): u x (T - non_torch) - W (the fraction is
  of the memory free once the CUDA context and communicators exist, measured before the weights load);
  ``free_fraction`` (TensorRT-LLM ``kv_cache_free_gpu_mem_fraction``): u x (T - W - non_torch -
  activation peak).
  ``non_torch`` = ``non_torch_GiB`` (+ ``non_torch_tp_GiB`` when tp > 1): CUDA context-side
  buffers outside the PyTorch allocator (cuBLAS, NCCL, custom all-reduce). Activation peak =
  ``activation_factor`` x the iteration cost's workspace model at ``max_batch_tokens`` with
  ``profile_sampler_rows`` logits rows (-1: ``max_batch_size``). With ``sampler_bytes_per_logit``
  set (vLLM 0.11) the peak is ``activation_base_GiB`` + the larger of the forward pass's
  (``activation_factor`` x the token workspace) and the dummy sampler's
  (``sampler_bytes_per_logit`` x rows x the whole vocabulary, on every TP rank).
- ``kv_alloc``: ``chunk`` (blocks for the tokens scheduled in a step, vLLM V1), ``prompt`` (the
  whole prompt at admission, then one block per generated block of tokens), ``request`` (prompt +
  output at admission: no preemption, TensorRT-LLM's GUARANTEED_NO_EVICT; the ``orca`` scheduler
  always uses it).
- ``watermark``: fraction of the pool admission leaves free (0: greedy admission).
- ``cache_preempted``: a request preempted with recompute leaves its full computed blocks in the
  prefix cache as evictable blocks (vLLM V1: automatic prefix caching is on and ``free`` returns
  hashed blocks to the free queue), so its re-admission hits what was not evicted meanwhile.
- ``prefill_first_kv_alloc`` / ``prefill_first_watermark``: the KV rules under
  ``serve.scheduler = "vllm"`` (prefill-first iterations: the engine's older scheduler, vLLM V0's
  block manager reserves the whole prompt with a 1 % watermark); empty: ``kv_alloc`` applies.
- ``preempt_victim`` (``newest``) and ``preempt_mode`` (``recompute`` | ``swap``, overridden by
  ``serve.preemption`` when the config sets it).
- host time: ``frontend_us`` + ``request_us`` (+ ``chat_request_us`` on the chat endpoint) +
  ``tokenize_us_per_token`` x prompt tokens, once per request between its arrival and its submission
  to the engine (``frontend_us``: HTTP, OpenAI server, IPC; ``request_us``: the rest of the engine's
  per-request first-token path on the completions endpoint, /v1/completions: input processing,
  request set-up, first output's detokenization and stream; ``chat_request_us``: what the chat
  endpoint, /v1/chat/completions, adds to it: the chat template's rendering, the chat request's
  parsing and its sampling defaults from the model's generation_config; ``serve.endpoint`` picks
  the endpoint, "chat" by default; 0 where no source separates the two, so both cost the same);
  ``step_us`` + ``step_us_per_seq`` x sequences, CPU per engine step not hidden by the GPU;
  ``overlap_us_per_seq`` x sequences, CPU per engine step that an overlap scheduler runs while
  the GPU runs the previous step (TensorRT-LLM's PyExecutor ``_executor_loop_overlap``: schedule,
  prepare inputs, sampler post-processing and responses of every request on one Python thread),
  hidden up to the GPU step: a step takes max(GPU, this) (``IterationCost._host_s``);
  ``async_scheduling`` (the default of ``serve.async_scheduling``): the engine schedules the next
  step while the GPU runs this one (vLLM --async-scheduling, SGLang's overlap scheduler), so
  ``step_us`` + ``step_us_per_seq`` x sequences also run beside the GPU step and only their excess
  over it shows: a step takes max(GPU, host) (``cost.step_with_host``); off under speculative
  decoding and pipeline parallelism (``Deployment``);
  a step not covered by a CUDA graph (any prefill chunk, or a decode batch over
  ``cuda_graph_max_batch``) launches ``eager_kernels_per_layer`` kernels per layer from the CPU
  (-1: every kernel the layer model implies, ``eager_ops``) at ``launch_us`` each (host seconds
  per kernel, the engine's Python included), so it takes at least that long; ``cuda_graph_max_batch``
  -1: the replica's largest CUDA graph batch (``serve.cuda_graph_batch_sizes`` as padded; without a list,
  the engine's default decode graphs cover every decode batch); ``eager_serial``: that dispatch runs on the same host thread as the overlap scheduler's
  per-sequence work (TensorRT-LLM's PyExecutor launches the model's eager forward from its one loop
  thread), so a step's host time is ``overlap_us_per_seq`` x sequences + the dispatch, not the larger
  of the two.
- speculative decoding (``speculative.py``): ``spec_step_us`` CPU per draft-and-verify step the
  engine adds and does not hide, ``spec_seq_us`` the same per sequence; ``spec_draft_step_us_gpu``
  GPU time per draft step beyond the drafter's layer and head (the draft loop's small kernels:
  softmax and top-k over the draft vocabulary, tree-score selection; SGLang replays the whole loop
  as one CUDA graph, so no host time per draft step; named apart from the ``*_us`` host times, which
  ``on_host`` scales with the host's speed); ``spec_draft_seq_us`` per sequence per draft step
  (a host time: in ``HOST_TIME_FIELDS``, scaled with the host; 0 for SGLang).
- ``lowp_weight_read_efficiency``: fraction of the HBM bandwidth FP8/FP4 GEMMs reach on their
  weight reads relative to bf16 ones (decode-size M: per-token activation quantization, scale
  epilogues and less tuned small-M kernels); 1 where the engine's kernels stream at the bf16 rate.
  Not applied to routed experts the TRTLLM-gen kernel class runs (their calibration.toml
  ``trtllm_gen_hbm_eff`` is that kernel's own measured rate of the HBM peak; issue 12, bwhbm).
- disaggregated prefill workers (a replica of role ``prefill``): ``prefill_worker_seqs``
  requests at once (0: ``serve.max_batch_size``; Dynamo's vLLM prefill worker takes the next
  remote-prefill request off its queue only when the last one has finished: 1), and with
  ``prefill_worker_chunked = false`` each prompt runs whole in one step (chunked prefill off:
  the chunk becomes the longest prompt, at least ``serve.max_batch_tokens``).
- ``nccl_nvls``: the engine leaves NCCL's NVLink SHARP on (NCCL's default on NVSwitch GPUs); its
  buffers then count in ``non_torch`` for TP groups of more than two GPUs (``non_torch_bytes``).
- ``dp_sync_us``: host seconds (us) per step a data-parallel-attention replica's schedulers spend
  agreeing on the step (``serve.dp_attention``: each DP rank all-gathers its token count and
  forward mode, so that idle ranks join the MoE all-to-all and the ranks pick the same CUDA
  graph); the scheduler runs it for the next batch while the GPU runs the current one, so a step
  takes at least that long (``DpAttentionCost``).
- ``dp_moe_comm``: how a ``serve.dp_attention`` replica moves hidden states to and from its
  experts (``DpAttentionCost``): ``"all_to_all"`` (DeepEP dispatch / combine: SGLang, vLLM) or
  ``"allgather"``, TensorRT-LLM's rule: an AllGather of the quantized hidden states before the
  MoE and a ReduceScatter of its bf16 output after it, unless the replica's GPUs share a
  multi-node NVLink domain (MNNVL, GB200 NVL72) and ep > top_k, where it runs its MNNVL
  all-to-all (``select_alltoall_method_type``, see ``DpAttentionCost.moe_all_gather``).
- ``dp_gathered_moe``: with ``serve.dp_attention`` and the ``allgather`` MoE path, the activation
  peak also holds the other ranks' all-gathered tokens in the fused MoE (TensorRT-LLM's memory
  profile runs max_num_tokens on every rank; ``DpAttentionCost.gathered_moe_bytes``, closed form
  from the CUTLASS runner's workspace; 0 at dp = 1 and without attention DP).
- ``dp_context_balance``: with ``serve.dp_attention``, whether the replica's DP ranks prefill in
  the same steps (true: one scheduler forms each step for all ranks and every rank gets 1/N of
  its tokens, ``DpAttentionCost.batch``) or each rank admits its own context requests as soon as
  it has room (false: TensorRT-LLM's default, ``attention_dp_config.enable_balance`` off; the
  replica assigns each admitted request to a rank and plans each rank's prompt chunks within its
  own token budget, and a step with prompt tokens lasts as long as its most loaded rank,
  ``DpAttentionCost.batch_ranks``; ``serve.dp_balance = true`` restores the balanced steps).
  Decode-only steps are the same either way.
- ``like``: a profile that is another engine's in a different serving mode takes that engine's
  fields and replaces the ones it lists (``sglang-0.4``: an older release with another host cost;
  ``trtllm-serve``: TensorRT-LLM behind its OpenAI
  server, where ``trtllm`` is the offline ``trtllm-bench`` path).
- ``fused_moe_backend``: the engine's fused-MoE kernel class (``IterationCost.set_fused_moe_backend``):
  ``"cutlass"`` (TensorRT-LLM's CUTLASS fused MoE: on Blackwell with FP4 experts its grouped GEMMs at
  calibration.toml [fused_moe] ``cutlass_fp4_gemm_eff`` and ``cutlass_fp4_copy_ns`` per routed copy),
  ``"trtllm_gen"`` (TensorRT-LLM's TRTLLM-gen kernels, MoeConfig backend TRTLLM: on FP4-capable GPUs its
  expert weights streamed at calibration.toml [fused_moe] ``trtllm_gen_hbm_eff``, the routed rows' gather
  and SwiGLU fused into FC1) or ``""`` (the dense curve, no per-copy cost). A run's ``serve.moe_backend``
  overrides it.
- ``moe_backends``: the ``serve.moe_backend`` names the engine has a kernel for (default all four:
  cutlass, trtllm_gen, triton, marlin); a run naming another is refused (``serve.moe_backend``, exit 2)
  instead of pricing a kernel the engine cannot run.
- ``cuda_graph_pad_to_limit``: how ``serve.cuda_graph_batch_sizes`` meets the engine's limits
  (``graph_batch_sizes``): sizes above the largest decode batch (min(max_batch_size,
  max_batch_tokens)) are dropped and, when this is true, replaced by that batch (TensorRT-LLM's
  ``_filter_cuda_graph_batch_sizes``: with padding on, a batch between the last listed size and
  the limit pads to the limit).
- ``window_kv_freed``: a sliding-window layer's KV blocks that leave its window are freed (vLLM's
  hybrid KV cache manager, SGLang's SWA pool); false: the engine's one KV pool keeps every token on
  every layer (TensorRT-LLM without ``kv_cache_config.max_attention_window``:
  ``IterationCost.keep_window_kv``).
- ``split_mixed_attention``: a mixed step's attention runs as two launches, the context requests' kernel
  then the generation requests' (TensorRT-LLM's attention op, thop/attentionOp.cpp), their times added
  (``IterationCost._step_attn_s``); false: one op over both (the larger of the prefill's FLOPs and the
  decode's KV reads).
- ``chunked_decode``: ``"mmha"``: a chunked-attention model's (Llama 4) chunked layers decode with
  TensorRT-LLM's MMHA kernel instead of XQA on a GPU whose generation kernel is XQA (compute.toml
  ``xqa_decode``: Hopper) when the run's longest sequence exceeds the chunk (TensorRT-LLM PR #6306;
  ``Deployment._chunked_decode_kernel``, ``IterationCost.set_mmha_chunked_decode``); "" none.
- ``triton_moe_k_align`` / ``triton_moe_n_align``: the engine pads the weight-only Triton MoE's (triton_kernels
  matmul_ogs, serve.moe_backend "triton") expert GEMMs to multiples of these K / N elements (0: none;
  ``IterationCost.set_mixed_input_alignment``): TensorRT-LLM 128 / 256 (TritonMXFP4FusedMoEMethod), vLLM and
  SGLang none (their Hopper path rounds the intermediate to 64 / 32, GPT-OSS's 2880 unchanged). The padded
  weights are held too (memory as well as FLOPs and reads: ``IterationCost.expert_pad_bytes``).
- ``max_seq_len``: the engine's max_seq_len that ``chunked_decode`` compares with the chunk:
  ``"workload"``, the run's longest prompt + output (trtllm-bench sizes it from its dataset), or
  ``"model"``, the model's ``model.max_context`` where it declares one, else the workload's
  (trtllm-serve without --max_seq_len: the model config's max_position_embeddings).
- ``encoder_bytes_per_param``: bytes per parameter of the checkpoint's non-text encoder
  (``model.encoder_params``: Llama 4's vision tower) the engine holds for text-only runs too, counted
  with the weights before the KV pool is sized (``encoder_bytes``); ``trtllm``: 4.0 bytes (fp32;
  TensorRT-LLM PR #6844), ``vllm``: 2.0 (the checkpoint's bf16), 0 where the engine does not load it
  at its defaults (SGLang >= 0.4.10: sgl-project/sglang PR #8272); in [0, 8].
- ``rope_table_bytes_per_entry``: bytes per entry of the RoPE cos / sin table the engine builds for
  the model's whole declared context (``model.max_context`` positions x the rotary dimension, the
  head dim or MLA's ``rope_head_dim``), once per GPU and before the KV pool is sized
  (``rope_table_bytes``; TensorRT-LLM: 4, an fp32 table shared by the layers; 0: not modelled or
  sized by the run). Only models that declare ``model.max_context`` carry one (Llama 4 Scout:
  10,485,760 x 128 x 4 B = 5.37 GB per GPU); in [0, 8].
- ``mxfp4_expert_alignment``: elements the engine pads MXFP4 routed-expert weights to on both GEMM
  dimensions (hidden and expert intermediate) when it loads them (``expert_padding_bytes``, counted with
  the weights before the KV pool is sized); TensorRT-LLM: 128 (GPT-OSS 2880 -> 2944); 0: held as stored.
  Memory only (the CUTLASS MXFP4 methods' allocation; their GEMMs are priced unpadded), and not counted
  where the experts are weight-only on the TRITON backend, whose own padding (``triton_moe_k_align`` /
  ``_n_align``, memory and compute) already holds them: one padding per run, never both.
- ``mxfp4_expert_alignment_trtllm_gen``: the same padding where the run's MoE backend is TRTLLM-gen
  (``serve.moe_backend = "trtllm_gen"``), which allocates its MXFP4 experts with its own alignment;
  TensorRT-LLM: 256 (GPT-OSS 2880 -> 3072, +13.8 % expert bytes); 0: held as stored. Memory only, as above.
- ``encoder_sharding``: how that encoder spreads over a replica's GPUs: ``"replicated"`` (whole on
  every GPU: TensorRT-LLM, SGLang 0.4's transformers tower) or ``"tp"`` (its linear layers split
  over the replica's tensor-parallel ranks, ``cost.tp``: vLLM's ColumnParallel / RowParallel vision
  layers; 1 per rank under attention DP), so the bytes per GPU are divided by tp.
- ``defaults``: the engine's scheduler and limits (``max_batch_tokens`` (= chunk size),
  ``max_batch_size``) by GPU memory class (``large`` at >= ``large_memory_GiB``), applied to the
  serve keys a config leaves unset when it names ``serve.engine``.

``kv_pool_bytes(...)`` and ``kv_capacity_tokens(...)`` give the KV pool of one GPU; errors are
``InfeasibleError`` naming the key to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from sim.config import DEFAULT_ENGINE, ENGINES_TOML, engine_data, engine_row, engine_scheduler
from sim.errors import ConfigError, InfeasibleError
from sim.hardware import GiB
from workloads.serving.fused_moe import BACKENDS as FUSED_MOE_BACKENDS, aligned_gemm_dims

DATA = ENGINES_TOML        # read by sim.config (engine_data), which decides from it what a serve key changes
# every serve.moe_backend name (sim.config ServeSection.moe_backend): the fused-MoE classes, then the
# weight-only (dequantizing) kernels (cost.MIXED_INPUT_KERNELS)
MOE_BACKENDS = ("cutlass", "trtllm_gen", "triton", "marlin")
ENGINES = ("vllm", "sglang", "trtllm", "trtllm-serve", "dynamo-vllm", "sglang-0.4")
# serve.endpoint: the OpenAI API endpoint the requests are posted to (chat_request_us applies to "chat")
ENDPOINTS = ("chat", "completions")
DEFAULT_ENDPOINT = "chat"


# the profile's host (CPU) times, in microseconds, that scale with the host's single-thread speed
# (EngineProfile.on_host): per request, per step, per sequence and step, per eager kernel, speculative
HOST_TIME_FIELDS = ("frontend_us", "request_us", "chat_request_us", "tokenize_us_per_token", "step_us", "step_us_per_seq",
                    "overlap_us_per_seq", "launch_us", "dp_sync_us", "spec_step_us", "spec_seq_us",
                    "spec_draft_seq_us")


def draft_bytes(cost) -> float:
    """Bytes of the speculative drafter's weights on one GPU of ``cost``'s replica (0 without
    serve.speculative; ``speculative.Speculation.weight_bytes``)."""
    sp = getattr(cost, "speculation", None)
    return sp.weight_bytes(cost) if (sp is not None and cost.spec_tokens) else 0.0


@dataclass(frozen=True)
class EngineProfile:
    name: str
    memory: str
    non_torch_GiB: float
    non_torch_tp_GiB: float
    activation_factor: float
    profile_sampler_rows: int
    kv_alloc: str
    watermark: float
    preempt_victim: str
    preempt_mode: str
    frontend_us: float
    tokenize_us_per_token: float
    step_us: float
    step_us_per_seq: float
    cuda_graph_max_batch: int
    eager_kernels_per_layer: int
    launch_us: float
    lowp_weight_read_efficiency: float = 1.0
    request_us: float = 0.0
    chat_request_us: float = 0.0
    spec_step_us: float = 0.0
    spec_seq_us: float = 0.0
    spec_draft_seq_us: float = 0.0
    spec_draft_step_us_gpu: float = 0.0
    cache_preempted: bool = False
    prefill_first_kv_alloc: str = ""
    prefill_first_watermark: float = 0.0
    prefill_worker_seqs: int = 0
    prefill_worker_chunked: bool = True
    sampler_bytes_per_logit: float = 0.0
    activation_base_GiB: float = 0.0
    dp_sync_us: float = 0.0
    dp_moe_comm: str = "all_to_all"
    overlap_us_per_seq: float = 0.0
    async_scheduling: bool = False  # the default of serve.async_scheduling: step_us / step_us_per_seq run beside the GPU step
    nccl_nvls: bool = True
    cuda_graph_pad_to_limit: bool = False
    window_kv_freed: bool = True
    split_mixed_attention: bool = False   # a mixed step's context and generation attention run as two launches
    chunked_decode: str = ""
    fused_moe_backend: str = ""     # the fused-MoE kernel class (IterationCost.set_fused_moe_backend)
    moe_backends: tuple = MOE_BACKENDS   # the serve.moe_backend names this engine has a kernel for
    max_seq_len: str = "workload"   # chunked_decode's max_seq_len: "workload" (longest prompt + output) or "model" (model.max_context)
    fp4_kv_cache: bool = True       # serve.kv_precision = "fp4" exists in this engine version
    gpu_vendors: tuple = ()         # hardware vendors the engine runs on (catalogue `vendor`; empty: any)
    encoder_bytes_per_param: float = 0.0   # bytes per model.encoder_params parameter the engine loads (encoder_bytes)
    encoder_sharding: str = "replicated"   # "replicated": whole on every GPU; "tp": split over cost.tp
    rope_table_bytes_per_entry: float = 0.0   # bytes per entry of the RoPE cos/sin table over model.max_context (rope_table_bytes)
    dp_gathered_moe: bool = False   # attention DP: the all-gathered tokens' fused-MoE buffers count in the activation peak
    dp_context_balance: bool = True   # attention DP: every rank prefills in the same steps (False: per-rank admission, Replica)
    mxfp4_expert_alignment: int = 0   # elements MXFP4 routed-expert weights are padded to on both GEMM dims (expert_padding_bytes)
    mxfp4_expert_alignment_trtllm_gen: int = 0   # the same under the TRTLLM-gen MoE backend (serve.moe_backend trtllm_gen)
    triton_moe_k_align: int = 0     # the weight-only Triton MoE's expert GEMMs padded to K / N multiples (0: none)
    triton_moe_n_align: int = 0     # (IterationCost.set_mixed_input_alignment)
    eager_serial: bool = False      # eager dispatch runs on the overlap scheduler's thread: it adds to overlap_us_per_seq x S
    defaults: dict = field(default_factory=dict, compare=False)
    description: str = ""

    # -- memory --------------------------------------------------------------------------------
    def non_torch_bytes(self, tp: int, gpu=None) -> float:
        """Bytes per GPU outside the PyTorch allocator (``non_torch_GiB``, ``non_torch_tp_GiB`` with
        tp > 1) plus, on a GPU with NVLink SHARP (``gpu.nvls``) and more than two TP ranks in its
        NVLink domain when the engine leaves NCCL's NVLS on (``nccl_nvls``), NCCL's NVLS buffers:
        ``nvls_MiB_per_rank`` x the ranks (calibration.toml [memory])."""
        extra = 0.0
        if gpu is not None and self.nccl_nvls and getattr(gpu, "nvls", False):
            ranks = min(tp, gpu.scaleup_domain)
            if ranks > 2:
                from workloads.serving.cost import calibration
                extra = ranks * calibration()["memory"]["nvls_MiB_per_rank"] * 2**20
        return (self.non_torch_GiB + (self.non_torch_tp_GiB if tp > 1 else 0.0)) * GiB + extra

    def activation_bytes(self, cost, max_batch_tokens: int, max_batch_size: int) -> float:
        if self.activation_factor <= 0:
            return 0.0
        gathered = 0.0
        if self.dp_gathered_moe and hasattr(cost, "gathered_moe_bytes"):
            # attention DP: the profile pass's MoE layers hold every rank's gathered tokens
            gathered = cost.gathered_moe_bytes(max_batch_tokens)
        return gathered + self._own_activation_bytes(cost, max_batch_tokens, max_batch_size)

    def _own_activation_bytes(self, cost, max_batch_tokens: int, max_batch_size: int) -> float:
        rows = max_batch_size if self.profile_sampler_rows < 0 else min(max_batch_size, self.profile_sampler_rows)
        if self.sampler_bytes_per_logit > 0:
            # the profile's forward pass and its dummy sampler run one after the other: the
            # peak is the larger of the two, the sampler's over the full vocabulary on every rank
            forward = self.activation_factor * cost.workspace_bytes(max_batch_tokens, 0)
            sampler = self.sampler_bytes_per_logit * rows * cost.spec.vocab
            return self.activation_base_GiB * GiB + max(forward, sampler)
        return self.activation_factor * cost.workspace_bytes(max_batch_tokens, rows)

    def encoder_bytes(self, cost) -> float:
        """Bytes of the checkpoint's non-text encoder (``model.encoder_params``: Llama 4's vision tower)
        the engine loads on each GPU of a replica whether or not a request carries an image:
        ``encoder_bytes_per_param`` x the parameters, over ``cost.tp`` where the engine splits the
        encoder by tensor parallelism (``encoder_sharding = "tp"``); 0 where the engine skips it."""
        whole = self.encoder_bytes_per_param * cost.spec.encoder_params
        return whole / max(int(cost.tp), 1) if self.encoder_sharding == "tp" else whole

    def rope_table_bytes(self, cost) -> float:
        """Bytes of the RoPE cos / sin table each GPU of a replica holds: ``rope_table_bytes_per_entry``
        x the model's declared context (``model.max_context``, its max_position_embeddings) x the rotary
        dimension (``head_dim``; MLA: ``rope_head_dim``); whole on every GPU whatever the parallelism,
        one table per model (its layers share it); 0 without a declared context. TensorRT-LLM 1.0
        (_torch/attention_backend/interface.py ``RopeParams.from_config``: max_positions =
        max_position_embeddings; ``create_rope_const_params``: a float32 cos / sin array of max_positions
        x dim on the GPU, cached per model and parameters since PR #3378)."""
        s = cost.spec
        dim = s.rope_head_dim if s.mla else s.head_dim
        return self.rope_table_bytes_per_entry * float(s.max_context) * dim

    def expert_padding_bytes(self, cost) -> float:
        """Bytes per GPU the engine adds to MXFP4 routed-expert weights by padding the hidden and the
        expert intermediate dimension up to ``mxfp4_expert_alignment`` elements (0: none). TensorRT-LLM
        (_torch/modules/fused_moe/quantization.py, ``MXFP4WeightFusedMoEMethod.create_weights`` with
        ``MXFP4WeightCutlassFusedMoEMethod.weight_alignment = 128``, "Cutlass MoE backend requires weight
        elements to be 128 aligned"; the W4A16 and W4A8-MXFP8 CUTLASS methods inherit it) allocates
        w3_w1 as 2 x round_up(I, 128) x round_up(H, 128) and w2 as round_up(H, 128) x round_up(I, 128),
        their block scales alike: GPT-OSS (H = I = 2880 -> 2944) holds 4.49 % more expert bytes than its
        checkpoint. Exact where the MoE's TP size is 1 (EP or a single GPU); with MoE TP > 1 the engine pads
        to a multiple that keeps each shard aligned, at least this much. Checked against a logged
        GPT-OSS-120B start-up (data/trtllm_kv_logs.csv: 63.52 GiB in torch after loading). 0 where the
        TRITON MoE backend's padding (``triton_moe_k_align`` / ``_n_align``) is already held in the weights.
        Under the TRTLLM-gen MoE backend (``cost.fused_moe_backend == "trtllm_gen"``: serve.moe_backend) the
        alignment is ``mxfp4_expert_alignment_trtllm_gen`` (TensorRT-LLM: 256,
        ``MXFP4WeightTRTLLMGenFusedMoEMethod.weight_alignment``, inherited by its W4A16 / W4A8-MXFP4-FP8 /
        W4A8-MXFP4-MXFP8 methods: GPT-OSS 2880 -> 3072)."""
        gen = getattr(cost, "fused_moe_backend", "") == "trtllm_gen"
        a = int(self.mxfp4_expert_alignment_trtllm_gen if gen else self.mxfp4_expert_alignment)
        if a <= 0 or not cost.spec.is_moe or getattr(cost, "expert_precision", None) != "mxfp4":
            return 0.0
        if getattr(cost, "expert_pad_bytes", 0.0) > 0.0:
            # the TRITON backend's own padding (K 128 / N 256, IterationCost.set_mixed_input_alignment) is
            # already in the weights: that method allocates the experts, not the CUTLASS one
            return 0.0
        h, f = cost.spec.hidden, cost.spec.expert_ffn_hidden
        hp, fp = aligned_gemm_dims(h, f, a, a)
        factor = hp * fp / float(h * f)
        from workloads.serving.cost import EXPERT_WEIGHT_BYTES
        moe_layers = round(cost.moe_fraction * cost.spec.layers)
        expert = cost.expert_params * moe_layers * EXPERT_WEIGHT_BYTES["mxfp4"]
        if hasattr(cost, "physical_experts"):      # attention DP (DpAttentionCost): each rank its share of the experts
            per_gpu = expert * cost.physical_experts / cost.dp / cost.pp
        else:
            per_gpu = expert * cost.spec.experts / (cost.tp * cost.pp)
        return per_gpu * (factor - 1.0)

    def kv_pool_bytes(self, cost, utilization: float, max_batch_tokens: int, max_batch_size: int) -> float:
        """KV bytes one GPU of a replica holds (may be <= 0: the caller reports it). The weights include
        the encoder the engine loads beside the language model (``encoder_bytes``), its RoPE table
        (``rope_table_bytes``) and the padding of MXFP4 expert weights (``expert_padding_bytes``), all
        allocated before the pool is sized."""
        total = cost.gpu.hbm_bytes
        encoder = self.encoder_bytes(cost)
        rope = self.rope_table_bytes(cost)
        weights = cost.weight_bytes_per_gpu() + encoder + rope + self.expert_padding_bytes(cost)
        # the drafter's weights (serve.speculative: an EAGLE head, the checkpoint's MTP modules or a
        # draft model; Speculation.weight_bytes) load before the pool is sized, as the engines do
        drafter = draft_bytes(cost)
        if drafter > 0 and weights <= total < weights + drafter:
            raise InfeasibleError("serve.speculative", f"{cost.spec.name}: the drafter's {drafter / GiB:.1f} GiB of "
                                  f"weights per GPU ({cost.speculation.method}) with the model's {weights / GiB:.1f} "
                                  f"GiB exceed {cost.gpu.name}'s {total / GiB:.1f} GiB HBM: raise serve.tp or "
                                  "remove serve.speculative")
        weights += drafter
        if weights > total and rope > 0 and weights - rope <= total:
            raise InfeasibleError("model.max_context", f"{cost.spec.name}: {self.name} builds a RoPE table over the "
                                  f"model's whole context on every GPU (model.max_context {cost.spec.max_context:,} "
                                  f"positions, {rope / GiB:.1f} GiB) that, with the weights, exceeds {cost.gpu.name}'s "
                                  f"{total / GiB:.1f} GiB HBM: check model.max_context")
        if weights > total:
            if encoder > 0 and self.encoder_sharding != "tp":
                # the encoder is whole on every rank: more tp / pp does not shrink it
                key = "model.encoder_params" if encoder > total else "serve.tp"
                raise InfeasibleError(key, f"{cost.spec.name}: {cost.weight_bytes_per_gpu() / GiB:.1f} GiB of weights "
                                      f"+ {encoder / GiB:.1f} GiB of the checkpoint's encoder (model.encoder_params "
                                      f"{cost.spec.encoder_params:.4g} x {self.encoder_bytes_per_param:g} bytes, held "
                                      f"whole on every GPU by {self.name}) exceed {cost.gpu.name}'s {total / GiB:.1f} "
                                      f"GiB HBM" + (f" {cost.weights_advice()}" if key == "serve.tp" else
                                                    ": it alone exceeds the HBM and no tp / pp shrinks it; check "
                                                    "model.encoder_params"))
            raise InfeasibleError("serve.tp", f"{cost.spec.name}: {weights / GiB:.1f} GiB of weights per GPU "
                                  f"exceed {cost.gpu.name}'s {total / GiB:.1f} GiB HBM "
                                  f"{cost.weights_advice()}")
        reserve = self.non_torch_bytes(cost.tp, cost.gpu) + self.activation_bytes(cost, max_batch_tokens, max_batch_size)
        if self.memory == "utilization":
            return utilization * total - weights - reserve
        if self.memory == "static_fraction":
            return utilization * (total - self.non_torch_bytes(cost.tp, cost.gpu)) - weights
        return utilization * (total - weights - reserve)

    def kv_capacity_tokens(self, cost, utilization: float, max_batch_tokens: int, max_batch_size: int) -> int:
        """Tokens of KV one replica holds (per GPU bytes over per GPU bytes per token)."""
        free = self.kv_pool_bytes(cost, utilization, max_batch_tokens, max_batch_size)
        tokens = int(free // cost.kv_token_gpu) if free > 0 else 0
        act = self.activation_bytes(cost, max_batch_tokens, max_batch_size)
        if tokens <= 0 and act > 0.5 * cost.gpu.hbm_bytes:
            # max_batch_size = 1e9 blamed gpu_memory_utilization: name the limit whose profile run ate the HBM
            by_size = act - self.activation_bytes(cost, max_batch_tokens, min(max_batch_size, 256))
            key = "serve.max_batch_size" if by_size > act / 2 else "serve.max_batch_tokens"
            raise InfeasibleError(key, f"no HBM left for the KV cache ({self.name}): the engine's memory profile "
                                       f"at max_batch_tokens = {max_batch_tokens:,} and max_batch_size = "
                                       f"{max_batch_size:,} reserves {act / GiB:,.1f} GiB of activations per GPU "
                                       f"(HBM {cost.gpu.hbm_bytes / GiB:.1f} GiB, weights "
                                       f"{cost.weight_bytes_per_gpu() / GiB:.1f} GiB): lower {key}")
        drafter = draft_bytes(cost)
        if tokens <= 0 and drafter > 0 and free + drafter >= cost.kv_token_gpu:
            raise InfeasibleError("serve.speculative", f"no HBM left for the KV cache ({self.name}): the drafter's "
                                  f"{drafter / GiB:.2f} GiB of weights per GPU ({cost.speculation.method}) take the "
                                  f"{(free + drafter) / GiB:.2f} GiB the pool would have without it: raise "
                                  "serve.gpu_memory_utilization or serve.tp, or remove serve.speculative")
        if tokens <= 0:
            raise InfeasibleError("serve.gpu_memory_utilization",
                                  f"no HBM left for the KV cache ({self.name}): weights "
                                  f"{cost.weight_bytes_per_gpu() / GiB:.1f} GiB per GPU"
                                  + (f" + encoder {self.encoder_bytes(cost) / GiB:.1f} GiB (model.encoder_params)"
                                     if self.encoder_bytes(cost) > 0 else "") + ", HBM "
                                  f"{cost.gpu.hbm_bytes / GiB:.1f} GiB x {utilization}")
        return tokens

    # -- host time -----------------------------------------------------------------------------
    def on_host(self, host_speed: float, dispatch_speed: float | None = None) -> "EngineProfile":
        """This profile on a host of single-thread speed ``host_speed`` relative to the x86 DGX
        hosts its host times were fitted on (``GpuSpec.host_speed``; Grace 0.85): every host time
        (``HOST_TIME_FIELDS``, microseconds) divided by it, ``launch_us`` (eager kernel dispatch)
        by ``dispatch_speed`` where given (``GpuSpec.launch_speed``; Grace 0.364); the profile
        itself at speed 1."""
        if dispatch_speed is None:
            dispatch_speed = host_speed
        if host_speed == 1.0 and dispatch_speed == 1.0:
            return self
        return replace(self, **{f: getattr(self, f) / (dispatch_speed if f == "launch_us" else host_speed)
                                for f in HOST_TIME_FIELDS})

    def frontend_s(self, prompt_tokens: int, endpoint: str = DEFAULT_ENDPOINT) -> float:
        """Per-request host latency before the engine sees it (seconds): ``frontend_us`` +
        ``request_us`` + ``tokenize_us_per_token`` x ``prompt_tokens``, plus ``chat_request_us`` when
        ``endpoint`` is "chat" (serve.endpoint: /v1/chat/completions; "completions": /v1/completions)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint {endpoint!r} is not one of {ENDPOINTS}")
        chat = self.chat_request_us if endpoint == "chat" else 0.0
        return (self.frontend_us + self.request_us + chat + self.tokenize_us_per_token * prompt_tokens) * 1e-6

    def prefill_worker_limits(self, max_batch: int, chunk: int, longest_prompt: int) -> tuple[int, int]:
        """(sequences, chunk tokens) of one disaggregated prefill replica's iterations, given the
        serve section's ``max_batch`` and ``chunk`` and the stream's longest prompt."""
        seqs = self.prefill_worker_seqs if self.prefill_worker_seqs > 0 else max_batch
        return seqs, (chunk if self.prefill_worker_chunked else max(chunk, longest_prompt))

    # -- CUDA graphs ---------------------------------------------------------------------------
    def graph_batch_sizes(self, sizes, max_batch_size: int, max_batch_tokens: int) -> list[int]:
        """The decode batch sizes the engine captures from the listed ``sizes``
        (``serve.cuda_graph_batch_sizes``), ascending: those up to its largest decode batch
        min(``max_batch_size``, ``max_batch_tokens``), plus that batch when a listed size exceeds
        it and the engine pads to it (``cuda_graph_pad_to_limit``: TensorRT-LLM
        tensorrt_llm/_torch/pyexecutor/model_engine.py ``_filter_cuda_graph_batch_sizes``)."""
        if not sizes:
            return []
        cap = min(max_batch_size, max_batch_tokens)
        out = sorted({int(b) for b in sizes if b <= cap})
        if self.cuda_graph_pad_to_limit and any(b > cap for b in sizes) and (not out or out[-1] != cap):
            out.append(cap)
        return out

    # -- defaults ------------------------------------------------------------------------------
    def limits(self, hbm_bytes: float) -> dict:
        d = self.defaults
        cls = "large" if hbm_bytes >= d.get("large_memory_GiB", 0.0) * GiB else "small"
        return dict(d.get(cls, {}))


def _data() -> dict:
    """engines.toml as parsed: ``sim.config.engine_data``'s one copy (a test that patches a row here
    patches what the config's checks read too)."""
    return engine_data()


def profile(name: str | None, key: str = "serve.engine") -> EngineProfile:
    """The named engine's profile; without a name vLLM's (CONTRACT round 2: ``serve.engine``
    defaults to "vllm"), whose scheduler and limits are then not applied (``apply_defaults``)."""
    data = _data()
    if name is not None and name not in data:
        raise ConfigError(key, f"unknown engine {name!r}; known: {', '.join(data)}")
    row = engine_row(name, data)      # a serving mode of another engine (like): its profile with these fields replaced
    defaults = row.pop("defaults", {})
    prof = EngineProfile(name=name or DEFAULT_ENGINE, defaults=defaults, **row)
    if prof.dp_moe_comm not in ("all_to_all", "allgather"):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml dp_moe_comm = {prof.dp_moe_comm!r} is not "
                               "one of 'all_to_all', 'allgather'")
    if prof.fused_moe_backend not in FUSED_MOE_BACKENDS:
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml fused_moe_backend = {prof.fused_moe_backend!r} is "
                               f"not one of {FUSED_MOE_BACKENDS}")
    names = prof.moe_backends
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names \
            or any(n not in MOE_BACKENDS for n in names):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml moe_backends = {names!r} is not a non-empty "
                               f"list of {MOE_BACKENDS}")
    prof = replace(prof, moe_backends=tuple(names))
    vendors = prof.gpu_vendors
    if isinstance(vendors, str) or not isinstance(vendors, (list, tuple)) or not all(isinstance(v, str) for v in vendors):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml gpu_vendors = {vendors!r} is not a list of vendor names")
    prof = replace(prof, gpu_vendors=tuple(vendors))
    if prof.fused_moe_backend and prof.fused_moe_backend not in prof.moe_backends:
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml fused_moe_backend = {prof.fused_moe_backend!r} "
                               f"is not among its moe_backends {prof.moe_backends}")
    if prof.chunked_decode not in ("", "mmha"):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml chunked_decode = {prof.chunked_decode!r} is not "
                               "one of '', 'mmha'")
    b = prof.encoder_bytes_per_param
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not (math.isfinite(b) and 0.0 <= b <= 8.0):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml encoder_bytes_per_param = {b!r} is not a number of "
                               "bytes per parameter in [0, 8] (0: the engine does not load the encoder; 4: fp32)")
    r = prof.rope_table_bytes_per_entry
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not (math.isfinite(r) and 0.0 <= r <= 8.0):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml rope_table_bytes_per_entry = {r!r} is not a number "
                               "of bytes per table entry in [0, 8] (0: no RoPE table over the model's context; 4: fp32)")
    for k in ("dp_context_balance", "split_mixed_attention", "eager_serial"):
        if not isinstance(getattr(prof, k), bool):
            raise ConfigError(key, f"engine {prof.name!r}: engines.toml {k} = {getattr(prof, k)!r} is not true or false")
    if not isinstance(prof.async_scheduling, bool):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml async_scheduling = {prof.async_scheduling!r} is not "
                               "true or false (the default of serve.async_scheduling)")
    if prof.encoder_sharding not in ("replicated", "tp"):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml encoder_sharding = {prof.encoder_sharding!r} is "
                               "not one of 'replicated', 'tp'")
    for k in ("mxfp4_expert_alignment", "mxfp4_expert_alignment_trtllm_gen"):
        a = getattr(prof, k)
        if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a <= 1024:
            raise ConfigError(key, f"engine {prof.name!r}: engines.toml {k} = {a!r} is not a whole "
                                   "number of elements in [0, 1024] (0: MXFP4 expert weights held as stored)")
    for k in ("triton_moe_k_align", "triton_moe_n_align"):
        v = getattr(prof, k)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 4096:
            raise ConfigError(key, f"engine {prof.name!r}: engines.toml {k} = {v!r} is not a whole number of elements "
                                   "in [0, 4096] (0: the expert GEMMs unpadded)")
    if prof.max_seq_len not in ("workload", "model"):
        raise ConfigError(key, f"engine {prof.name!r}: engines.toml max_seq_len = {prof.max_seq_len!r} is not "
                               "one of 'workload', 'model'")
    return prof


def runs_async(serve, prof: EngineProfile) -> bool:
    """Whether a replica of ``serve`` (a ServeSection) schedules asynchronously: serve.async_scheduling,
    else the engine profile's default, and never with pipeline parallelism or speculative decoding (SGLang
    server_args: EAGLE and pp_size > 1 set disable_overlap_schedule; vLLM 0.11 refuses both, which the
    config's validation reports for an explicit true)."""
    asked = serve.async_scheduling if serve.async_scheduling is not None else prof.async_scheduling
    return bool(asked) and serve.speculative is None and serve.pp == 1


def eager_ops(cost, per_layer: int) -> float:
    """Kernels one GPU of ``cost``'s replica (a stage) launches from the host in an eager step:
    ``per_layer`` x its layers, or, with ``per_layer < 0``, what the layer model implies: every
    op of the stage's layers (``cost.layers.ops``: norms, GEMMs, residuals, activations, an MoE
    layer's router, permutes and grouped expert GEMMs, MLA's down/up projections), the attention
    op of each layer, an activation-quantization kernel before each FP8/FP4 GEMM (block-scaled
    checkpoints quantize activations per token group in their own kernel) and, with TP, the two
    all-reduces of each layer."""
    if per_layer >= 0:
        return float(per_layer * cost.stage_layers)
    L = float(cost.stage_layers)
    n = sum(k for _, k in cost.layers.ops) + L
    if cost.wbytes < 2.0:
        n += sum(k for o, k in cost.layers.ops if o.kind == "gemm")
    if cost.tp > 1:
        n += 2.0 * L
    return n


def apply_defaults(serve, hbm_bytes: float):
    """The serve section with the engine's scheduler and limits for keys left unset. Without
    ``serve.engine`` the engine is vLLM (CONTRACT round 2), so a config that names neither an
    engine nor a scheduler runs vLLM V1: chunked prefill with KV allocated per scheduled chunk,
    greedy admission, newest-first recompute preemption, and V1's default limits. A config that
    sets ``serve.scheduler`` keeps it (``vllm`` = the prefill-first V0 scheduler and its
    whole-prompt KV rule)."""
    prof = profile(serve.engine)
    unset = lambda k: k not in serve.model_fields_set  # noqa: E731
    upd = {}
    if engine_scheduler(serve) != serve.scheduler:      # unset: the engine's (sim.config decides with it too)
        upd["scheduler"] = engine_scheduler(serve)
    lim = prof.limits(hbm_bytes)
    if unset("max_batch_tokens") and "max_batch_tokens" in lim:
        upd["max_batch_tokens"] = lim["max_batch_tokens"]
    if unset("chunk_size") and ("max_batch_tokens" in lim or not unset("max_batch_tokens")):
        # the engine's chunk is its token budget (vLLM V1: max_num_batched_tokens)
        upd["chunk_size"] = upd.get("max_batch_tokens", serve.max_batch_tokens)
    if unset("max_batch_size") and "max_batch_size" in lim:
        upd["max_batch_size"] = lim["max_batch_size"]
    if not upd:
        return serve
    return serve.model_copy(update=upd)


# trtllm-bench (TensorRT-LLM 1.0 - 1.2, the perf overview's runs): bytes per stored element by the
# checkpoint's QuantAlgo (tensorrt_llm/bench/build/tuning.py BYTES_PER_ELEM: NO_QUANT 2, FP8 1,
# FP8_BLOCK_SCALES 1, NVFP4 0.5; any other key 2, ``.get(algo, 2)``), the algorithms its heuristic is run
# for (tensorrt_llm/bench/build/build.py TUNED_QUANTS = {NVFP4, FP8, FP8_BLOCK_SCALES, NO_QUANT, None}) and
# the limits it falls back to for the others (build.py DEFAULT_MAX_BATCH_SIZE / DEFAULT_MAX_NUM_TOKENS =
# tensorrt_llm/builder.py BuildConfig.max_batch_size 2048 / max_num_tokens 8192)
_BENCH_BYTES = {"nvfp4": 0.5, "fp8": 1.0, "fp8_block_scales": 1.0, "no_quant": 2.0}
BENCH_TUNED_QUANTS = frozenset(_BENCH_BYTES)
BENCH_DEFAULT_LIMITS = (2048, 8192)


def bench_quant_algo(cost) -> str:
    """The QuantAlgo TensorRT-LLM reads off the replica's checkpoint (``_torch/model_config.py``
    ``ModelConfig.from_pretrained``, which ``get_settings`` calls): ModelOpt's ``hf_quant_config.json``
    quant_algo (``nvfp4`` for NVFP4 checkpoints, also those that quantize only the MoE's linear layers:
    DeepSeek-R1-0528-NVFP4-v2; ``fp8``), DeepSeek's block-scaled FP8 (``quant_method: fp8`` with
    ``weight_block_size``: ``fp8_block_scales``, ``model.checkpoint_fp8_scaling = "block"``), unquantized ``no_quant``; an openai/gpt-oss checkpoint
    (``quant_method: mxfp4``: ``load_hf_quant_config`` -> ``get_mxfp4_quant_algo``) is ``W4A8_MXFP4_MXFP8``
    on SM100 with the CUTLASS / TRTLLM MoE backend and ``W4A16_MXFP4`` below SM100: ``mxfp4`` here, an
    algorithm outside trtllm-bench's ``TUNED_QUANTS``."""
    if getattr(cost, "expert_precision", "") == "mxfp4":
        return "mxfp4"
    if cost.wbytes == 0.5 or getattr(cost, "expert_precision", "") == "fp4":
        return "nvfp4"
    if cost.wbytes == 1.0:
        return "fp8_block_scales" if getattr(cost.spec, "checkpoint_fp8_scaling", "") == "block" else "fp8"
    return "no_quant"


def checkpoint_param_count(cost, nextn_layers: int = 0) -> float:
    """Elements in the model's Hugging Face safetensors checkpoint at the replica's precision: what
    trtllm-bench's ``ModelConfig.get_param_count`` sums (tensorrt_llm/bench/build/dataclasses.py:
    ``huggingface_hub.get_safetensors_metadata(...).parameter_count``, elements per dtype, whatever
    the dtype's width). One per weight in bf16 and FP8 checkpoints (block scales: 1 per 128 x 128
    weights, left out); in NVIDIA ModelOpt NVFP4 checkpoints the quantized linear layers' weights are
    packed two per uint8 element with one FP8 scale per 16 weights (1/2 + 1/16 element per weight),
    embeddings and LM head stay bf16 (one each); where only the routed experts are NVFP4
    (``expert_precision`` fp4: DeepSeek-R1-0528-NVFP4-v2) only they are packed. An openai/gpt-oss
    checkpoint holds each expert matrix as ``*_blocks`` (uint8, two e2m1 weights each) and ``*_scales``
    (uint8, one e8m0 per 32 weights), everything else bf16.

    ``nextn_layers``: multi-token-prediction modules the checkpoint stores after the decoder layers
    (DeepSeek-V3 / R1 ``num_nextn_predict_layers`` = 1, ``model.layers.61``: one more decoder layer
    of the last layer's kind, the 2d x d ``eh_proj`` and its own copies of the embedding and LM head;
    671.0e9 + 13.5e9 = the 685e9 the DeepSeek-V3 README gives for its Hugging Face weights), counted
    at the body's packing. Their weights load only with MTP on, but the count reads every tensor, a
    non-text encoder's too (``model.encoder_params``: Llama 4's vision tower), counted one element per
    weight (taken as unquantized in NVIDIA's FP8 and NVFP4 checkpoints, whose quantized layers are the
    language model's linear layers)."""
    spec = cost.spec
    params, emb = float(cost.params), float(spec.embedding_params())
    if nextn_layers:
        extra = spec.layer_params(spec.layers - 1) + 2 * spec.hidden * spec.hidden + spec.embedding_params()
        params, emb = params + nextn_layers * extra, emb * (1 + nextn_layers)
    else:
        extra = 0.0
    expert = getattr(cost, "expert_precision", "")
    if expert in ("mxfp4", "fp4"):
        moe_layers = round(cost.moe_fraction * spec.layers) + (nextn_layers if spec.is_moe_layer(spec.layers - 1) else 0)
        experts = float(spec.experts * cost.expert_params * moe_layers)
        per = 0.5 + (1.0 / 32.0 if expert == "mxfp4" else 1.0 / 16.0)
        return (params - experts) + experts * per + spec.encoder_params
    if cost.wbytes == 0.5:
        return (params - emb) * (0.5 + 1.0 / 16.0) + emb + spec.encoder_params
    return params + spec.encoder_params


def trtllm_bench_limits(cost, input_tokens: int, output_tokens: int, fraction: float = 0.95,
                        chunked_prefill: bool = False, nextn_layers: int = 0) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) that ``trtllm-bench throughput`` runs with when neither is
    given, for a dataset of ``input_tokens`` / ``output_tokens`` requests, as TensorRT-LLM 1.0 - 1.2
    compute them (the perf overview's runs; the rules changed in 2026, TensorRT-LLM PR #13498):
    tensorrt_llm/bench/benchmark/utils/general.py ``get_settings`` -> build.py
    ``get_benchmark_engine_settings`` -> tuning.py ``calc_engine_setting`` / ``finetune_setting``:

    - the checkpoint's QuantAlgo (``bench_quant_algo``) outside ``TUNED_QUANTS`` (MXFP4: every
      openai/gpt-oss row) skips the heuristic: ``BENCH_DEFAULT_LIMITS`` (2048, 8192), the warning
      "Using default settings because quant_algo not supported";
    - else "engine size" = checkpoint elements (``checkpoint_param_count``) x bytes per element of
      the quantization (NVFP4 0.5, FP8 1, else 2), in GiB; memory = tp x pp x the GPU's total
      (``get_device_memory``: NVML total, here ``gpu.hbm_bytes``) minus it, times ``fraction``
      (kv_cache_free_gpu_mem_fraction);
    - KV bytes per token = 2 x num_hidden_layers x max(tp, num_key_value_heads) x head_size x KV
      bytes (NVFP4 0.5, FP8 1, else 2), every layer as a full-attention one (no sliding window); head_size is the
      config's head_dim, else hidden_size // num_attention_heads (bench/build/dataclasses.py
      ``set_values_if_none``): DeepSeek's MLA config (remote-code DeepseekV3Config: no head_dim,
      num_key_value_heads 128) gives 2 x 61 x 128 x 56 bytes, not its cached latent; requests =
      memory / (bytes per token x (input + output));
    - raw batch = min(requests, 4096) / pp, raw tokens = min(raw batch x (1 + input/output), 32768);
      max_batch_size rounds the batch up (to 32s under 256, at least 64; 128s under 1024; else
      256s), max_num_tokens the tokens (256s under 4096, at least 2048; 512s under 8192; else
      1024s);
    - without chunked prefill (the overview's options set none) get_settings raises max_num_tokens
      to at least the longest prompt + max_batch_size, on both paths.

    The same numbers go to the LLM API, where with ``enable_attention_dp`` they are each rank's
    executor's (``serving.case_config`` multiplies them by the ranks): the heuristic's whole-group
    memory and max(tp, kv heads) are not divided among the ranks (tuning.py has no attention-DP case).
    The estimate ignores activations, the runtime's own buffers and the checkpoint's packing, so
    the batch it allows is "slightly optimistic" (its docstring): the KV pool the runtime then
    allocates usually holds fewer requests, and CUDA graphs padded to this max_batch_size run
    the decode batches the pool allows (``IterationCost.padded``)."""
    s, tp, pp = cost.spec, cost.tp, cost.pp
    algo = bench_quant_algo(cost)
    if algo not in BENCH_TUNED_QUANTS:
        bs, tokens = BENCH_DEFAULT_LIMITS
    else:
        per_elem = _BENCH_BYTES[algo]
        kv_elem = 1.0 if cost.kvbytes == 1.0 else 0.5 if cost.kvbytes == 0.5 else 2.0
        engine_GiB = checkpoint_param_count(cost, nextn_layers) * per_elem / GiB
        memory_GiB = (tp * pp * cost.gpu.hbm_bytes / GiB - engine_GiB) * fraction
        head_size = s.hidden // s.heads if s.mla else s.head_dim
        token_GiB = 2.0 * s.layers * max(tp, s.kv_heads) * head_size * kv_elem / GiB
        requests = memory_GiB / (token_GiB * (input_tokens + output_tokens))
        if requests < 1:
            raise InfeasibleError("serve.tp", f"trtllm-bench: no request of {input_tokens + output_tokens} tokens "
                                  f"fits the KV memory it estimates ({memory_GiB:.1f} GiB)")
        raw_bs = min(requests, 4096) / pp
        raw_tokens = min(raw_bs * (1 + input_tokens / output_tokens), 32768)
        bs = _round_up_in_bands(raw_bs, ((256, 32, 64), (1024, 128, 0), (math.inf, 256, 0)))
        tokens = _round_up_in_bands(raw_tokens, ((4096, 256, 2048), (8192, 512, 0), (math.inf, 1024, 0)))
    if not chunked_prefill:
        tokens = max(tokens, input_tokens + bs)
    return int(bs), int(tokens)


def _round_up_in_bands(x: float, bands) -> int:
    """trtllm-bench's rounding of a heuristic limit: in the first band ``(upper, quantum, floor)``
    with ``x < upper``, ``x`` rounded up to a multiple of ``quantum``, at least ``floor``."""
    for upper, quantum, floor in bands:
        if x < upper:
            return max(floor, quantum * math.ceil(x / quantum))
    raise ValueError(f"{x} is past the last band")
