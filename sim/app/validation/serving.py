"""Serving validation: predicted maximum throughput against published TensorRT-LLM measurements.

Vocabulary:
- case: one row of ``data/inference.csv`` (copied with its citation columns from the shared
  reference set): model, GPU, precision, fixed input/output lengths, burst arrivals ("infinite
  request rate"), the number of requests, the measured total output tokens/s.
- deployment of a case: one replica, ``engine = "trtllm"`` (its memory model: the KV pool is
  the free fraction of HBM after weights and workspace), tp from the row, ``scheduler = "orca"`` (TensorRT-LLM's
  in-flight batching mixes context and generation requests in one iteration and, with its default
  guaranteed-no-evict capacity scheduler, reserves KV for prompt + output at admission),
  ``max_batch_size`` and ``max_batch_tokens`` as trtllm-bench picks them when the command gives
  neither (``engines.trtllm_bench_limits``: the KV-memory heuristic of tensorrt_llm/bench/build/
  tuning.py, e.g. 256 sequences and 2,048 tokens for 405B FP8 on 8 H100 at 128/4096; an MXFP4
  gpt-oss checkpoint is outside its heuristic: 2048 / 8192; with attention DP each rank's), decode
  steps replayed as CUDA graphs padded to the overview's ``cuda_graph_config.batch_sizes``
  (``GRAPH_BATCH_SIZES``, ``enable_padding: true``; TensorRT-LLM pads a batch above the last listed
  size to max_batch_size), ``gpu_memory_utilization = 0.95`` (the row's
  ``kv_cache_free_gpu_mem_fraction``). The batch the KV pool allows sits below the heuristic's
  optimistic max_batch_size, so decode runs padded: 211 sequences on 405B / 8 H100 at 128/4096 run
  the 256-row graph. Until issue 12 the rows ran with 2048 / 8192 and no padding, which
  over-predicted the decode-heavy 405B rows by 16-34 %.
- ``run_suite()``: ``Case`` rows (``sim.app.validation.case``): case, metric, predicted, measured,
  error (signed, relative), source.
  ``large_cases()``: the 70B / 405B rows of ``data/inference_large.csv`` (Hopper FP8; Blackwell
  NVFP4 weights with an FP8 KV cache: ``KV_PRECISION``), the ``serving-large`` suite (``serving_large.py``).
- published runs (``PUBLISHED``): configs of public vLLM / SGLang / Dynamo measurements copied
  with their citation into ``workloads/serving/data/published/`` (from ../shared/cases/serving),
  each with its headline metric (tolerance 15 %) and latencies (25 %). Where the model cannot yet
  reach that, ``gap`` says why (its text a block of ``sim/data/validation/serving_gaps.toml``) and
  ``bound`` is the |error| the row must stay under (so it cannot silently get worse).
  ``run_published()`` returns their rows (same shape, plus ``tolerance``, ``bound``, ``gap``);
  ``run_suite(published=True)`` appends them.
- KV-cache sizes (``data/kv_logs.csv``, ``run_kv_cases()``): the pool vLLM / SGLang logged at
  start-up for a model, GPU, TP and memory setting, against the engine profile's memory model
  (``workloads/serving/engines.py``); column ``fit`` marks the rows vLLM's reserve was fitted to.
- TensorRT-LLM's KV sizing (``data/trtllm_kv_logs.csv``, ``run_trtllm_kv_cases()``): each term its
  PyTorch backend logs when KvCacheCreator sizes the pool (weights in torch after loading, the
  profiling pass's activation peak, memory outside torch, the pool, the KV bytes per token) against
  the ``trtllm`` profile's HBM ledger (``trtllm_kv_ledger``: the ``Deployment``'s ``HbmLedger``).
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.app.validation import gap_text
from sim.app.validation.case import Case
from sim.config import load_config
import workloads.serving

DATA = Path(workloads.serving.__file__).resolve().parent / "data" / "inference.csv"
# the larger models of the same TensorRT-LLM overview: Llama 3.3 70B and Llama 3.1 405B, FP4 on
# B200/GB200 (TP1, TP4) and FP8 on H200/H100 (TP1/TP2, TP8); column ``fit`` says which rows the
# B200 serving constants were fitted to (sim/data/compute.toml [B200]) and which are held out
DATA_LARGE = DATA.parent / "inference_large.csv"
PUBLISHED_DIR = DATA.parent / "published"

# The cases' gap texts: one block of sim/data/validation/serving_gaps.toml per case with a gap, named by the
# case's id (a gap several cases share: a block in capitals, assigned below under its name); its header says
# how to add or extend one.
GAP_FILE = "serving_gaps.toml"
_GAPS = gap_text.load(GAP_FILE)

GS_H100 = "gpustack/gpustack docs/performance-lab"
# Dynamo's 4 x TP1 prefill workers bound the closed loop (128 requests at concurrency 32: 4 waves).
# Their per-prompt time is read off the run's own start: 32 prompts reach 4 idle workers at once and
# the last waits for 8 prefills on its worker, max TTFT 4,052 ms (p99 4,028) = 8 x ~500 ms; min TTFT
# 538 ms. The model's TP1 FP8 prefill of 3,000 tokens takes 410 ms (~1,030 TFLOP/s), the TensorRT-LLM
# rate the H100 FP8 constants were fitted to and that the held-out 70B FP8 prefill-heavy TensorRT-LLM
# rows (H100 TP2 / H200 TP1 at 2048/128, 5000/500, 20000/2000) confirm within 4.4 %; its burst tail is
# p99 3.35 s (tests/app/validation/test_serving.py::test_dynamo_start_burst_tail).
DYNAMO_PREFILL_GAP = _GAPS["DYNAMO_PREFILL_GAP"]
# (case id, config file, metric expression over the summary, measured, tolerance, source, gap, bound
#  [, --set overrides of the config: a sibling measurement of the same run])
PUBLISHED = [
    ("qwen3_32b_h100_32k_throughput", "gs_qwen3_32b_h100_32k.toml", "input_tokens_per_s + output_tokens_per_s",
     2771.81, 0.15, f"{GS_H100}/qwen3-32b/h100.md (Other Benchmark Cases, baseline, vLLM v0.11.0)",
     _GAPS["qwen3_32b_h100_32k_throughput"], 0.70),
    ("qwen3_32b_h100_32k_tpot", "gs_qwen3_32b_h100_32k.toml", "tpot_mean_s", 0.04342, 0.25,
     f"{GS_H100}/qwen3-32b/h100.md", _GAPS["qwen3_32b_h100_32k_tpot"], 0.45),
    ("qwen3_8b_h100_c4_tpot", "gs_qwen3_8b_h100_c4.toml", "tpot_mean_s", 0.00738, 0.15,
     f"{GS_H100}/qwen3-8b/h100-latency.md (vLLM v0.11.0, ShareGPT, max-concurrency 4)", "", None),
    ("qwen3_8b_h100_c4_ttft", "gs_qwen3_8b_h100_c4.toml", "ttft_mean_s", 0.0640, 0.25,
     f"{GS_H100}/qwen3-8b/h100-latency.md (vLLM's per-request path fitted at concurrency 1, engines.toml "
     "request_us; this row held out)", "", None),
    ("qwen3_8b_h100_c2_ttft", "gs_qwen3_8b_h100_c4.toml", "ttft_mean_s", 0.06378, 0.25,
     f"{GS_H100}/qwen3-8b/h100-latency.md (Other Benchmark Cases, baseline BS=2; held out)", "", None,
     ("workload.concurrency=2",)),
    ("qwen3_8b_h100_c8_ttft", "gs_qwen3_8b_h100_c4.toml", "ttft_mean_s", 0.07457, 0.25,
     f"{GS_H100}/qwen3-8b/h100-latency.md (Other Benchmark Cases, baseline BS=8; held out)", "", None,
     ("workload.concurrency=8",)),
    ("qwen3_8b_h100_c4_throughput", "gs_qwen3_8b_h100_c4.toml", "output_tokens_per_s", 496.88, 0.15,
     f"{GS_H100}/qwen3-8b/h100-latency.md", "", None),
    ("qwen3_8b_h100_c8_throughput", "gs_qwen3_8b_h100_c4.toml", "output_tokens_per_s", 917.28, 0.15,
     f"{GS_H100}/qwen3-8b/h100-latency.md (Other Benchmark Cases, baseline BS=8: 100 requests in 24.05 s)",
     _GAPS["qwen3_8b_h100_c8_throughput"], 0.25, ("workload.concurrency=8",)),
    ("qwen3_8b_h100_c4_sglang_ttft", "gs_qwen3_8b_h100_c4.toml", "ttft_mean_s", 0.02770, 0.25,
     f"{GS_H100}/qwen3-8b/h100-latency.md (SGLang v0.5.3.post3, same run; held out of SGLang's eager "
     "launch_us fit)", "", None, ("serve.engine=sglang",)),
    ("qwen3_8b_h100_c4_sglang_throughput", "gs_qwen3_8b_h100_c4.toml", "output_tokens_per_s", 525.59, 0.15,
     f"{GS_H100}/qwen3-8b/h100-latency.md (SGLang v0.5.3.post3)", "", None, ("serve.engine=sglang",)),
    ("qwen3_8b_h100_c4_trtllm_serve_ttft", "gs_qwen3_8b_h100_c4.toml", "ttft_mean_s", 0.05161, 0.25,
     f"{GS_H100}/qwen3-8b/h100-latency.md (trtllm-serve, TensorRT-LLM v1.2.0rc1; fitted: engines.toml "
     "[trtllm-serve] request_us)", "", None, ("serve.engine=trtllm-serve",)),
    ("qwen3_8b_h100_c4_trtllm_serve_throughput", "gs_qwen3_8b_h100_c4.toml", "output_tokens_per_s", 487.38, 0.15,
     f"{GS_H100}/qwen3-8b/h100-latency.md (trtllm-serve; held out)", "", None, ("serve.engine=trtllm-serve",)),
    ("qwen3_8b_h100_eagle3_tpot", "gs_qwen3_8b_h100_eagle3.toml", "tpot_mean_s", 0.00375, 0.15,
     f"{GS_H100}/qwen3-8b/h100-latency.md (SGLang v0.5.3.post3, EAGLE3; acceptance from the run's ITL/TPOT, "
     "SGLang's speculative step terms fitted on sibling runs of the page and the EAGLE-3 paper's batch 16-64 SGLang speed-ups, this row held out)", "", None),
    # The same report's lower loads (not rows: kept as a check on the step's shape, issue 12): TPOT at
    # concurrency 8 / 16 / 32 / 64 measured 12.8 / 17.2 / 25.6 / 34.6 ms, predicted 15.8 / 21.3 / 29.6 /
    # 38.9 (--set workload.concurrency=C --set workload.requests=10C). The growth with the batch (routed
    # experts' weight reads: +22 ms measured, +23 predicted) is right; the batch-independent part is
    # ~3.5 ms too long, while one sequence on 16 H100 (dsr1_16xh100_tp16_tpot) is 9.5 ms too short: no
    # single per-kernel or per-step term fits both, so none is fitted.
    ("dsr1_h200_tp8_c64_tpot", "infx_dsr1_h200_tp8.toml", "tpot_mean_s", 0.0346, 0.15,
     "SemiAnalysisAI/InferenceX#870 (deepseek sglang h200, conc 64)", "", None),
    ("dsr1_h200_tp8_c64_ttft", "infx_dsr1_h200_tp8.toml", "ttft_mean_s", 0.4231, 0.25,
     "SemiAnalysisAI/InferenceX#870", _GAPS["dsr1_h200_tp8_c64_ttft"], 0.65),
    ("dsr1_16xh100_tp16_tpot", "tt_dsr1_16xh100_tp16.toml", "tpot_mean_s", 0.0231, 0.15,
     "tenstorrent/tt-inference-server#356 (16 H100 (SGLANG + INFINIBAND), ISL/OSL 128/128, concurrency 1)",
     _GAPS["dsr1_16xh100_tp16_tpot"], 0.45),
    ("dsr1_16xh100_tp16_ttft", "tt_dsr1_16xh100_tp16.toml", "ttft_mean_s", 0.1797, 0.25,
     "tenstorrent/tt-inference-server#356 (SGLang 0.4.x by date; held out of [sglang-0.4] launch_us, fitted "
     "to an H200 eager prefill of early 2025)", "", None),
    ("dsr1_16xh100_tp16_ttft_8k", "tt_dsr1_16xh100_tp16.toml", "ttft_mean_s", 0.2639, 0.25,
     "tenstorrent/tt-inference-server#356 (ISL 8192)",
     _GAPS["dsr1_16xh100_tp16_ttft_8k"], 0.30, ("workload.input_tokens=8192",)),
    # the same table at ISL 2048 and 4096 (4 and 2 requests): TTFT stays at the ISL-128 floor (190.5 and
    # 199.7 ms vs 179.7) until 8192 (263.9): the prefill is host-bound (step = max(GPU, host launch)) up to
    # ~4k tokens, as modelled (222 / 224 / 226 ms, then 319 ms at 8k where the GPU time exceeds the floor)
    ("dsr1_16xh100_tp16_ttft_2k", "tt_dsr1_16xh100_tp16.toml", "ttft_mean_s", 0.1905, 0.25,
     "tenstorrent/tt-inference-server#356 (ISL 2048)", "", None, ("workload.input_tokens=2048",)),
    ("dsr1_16xh100_tp16_ttft_4k", "tt_dsr1_16xh100_tp16.toml", "ttft_mean_s", 0.1997, 0.25,
     "tenstorrent/tt-inference-server#356 (ISL 4096)", "", None, ("workload.input_tokens=4096",)),
    ("r1llama70b_pd_h100_ttft", "dynamo_r1llama70b_pd_h100.toml", "ttft_mean_s", 1.385, 0.25,
     "ai-dynamo/dynamo#402 (GenAI-Perf, 4P(TP1)+1D(TP4), ISL 3000 / OSL 150, request count 128)", "", None),
    ("r1llama70b_pd_h100_itl", "dynamo_r1llama70b_pd_h100.toml", "tpot_mean_s", 0.0194, 0.25,
     "ai-dynamo/dynamo#402", "", None),
    ("r1llama70b_pd_h100_throughput", "dynamo_r1llama70b_pd_h100.toml", "output_tokens_per_s", 1023.48, 0.15,
     "ai-dynamo/dynamo#402", DYNAMO_PREFILL_GAP, 0.25),
]

LMSYS_EP = ("LMSYS blog 2025-05-05 'Deploying DeepSeek with PD Disaggregation and Large-scale Expert Parallelism "
            "on 96 H100 GPUs' (lm-sys/lm-sys.github.io blog/2025-05-05-large-scale-ep.md, Evaluation)")
# Iterations of a published replica at the measured batch: (case id, config file, --set overrides,
# phase "decode" | "prefill", sequences per GPU, tokens of context (decode) or prompt (prefill),
# measured tokens/s per node, tolerance, source, gap, bound). The metric is the replica's tokens
# per iteration over the iteration's time, per 8-GPU node (a fixed-batch measurement).
EP32_PREFILL = ("topology.gpus=32", "serve.tp=32", "serve.max_batch_tokens=524288", "serve.chunk_size=524288")
STEP_CASES = [
    ("dsv3_ep72_decode_tok_per_node", "lmsys_dsv3_ep72_decode.toml", (), "decode", 256, 2000, 22282.0, 0.15,
     f"{LMSYS_EP}: decode on 9 x 8 H100, DP attention + EP72, batch 256 per GPU, KV length 2,000", "", None),
    ("dsv3_ep32_prefill_2k_tok_per_node", "lmsys_dsv3_ep72_decode.toml", EP32_PREFILL, "prefill", 8, 2000, 54543.0,
     0.15, f"{LMSYS_EP}: prefill on 4 x 8 H100, EP32, 2K prompts (~16k tokens per device assumed, as in its profile)",
     "", None),
    ("dsv3_ep32_prefill_1k_tok_per_node", "lmsys_dsv3_ep72_decode.toml", EP32_PREFILL, "prefill", 16, 1000, 57674.0,
     0.15, f"{LMSYS_EP}: prefill on 4 x 8 H100, EP32, 1K prompts", "", None),
    ("dsv3_ep32_prefill_4k_tok_per_node", "lmsys_dsv3_ep72_decode.toml", EP32_PREFILL, "prefill", 4, 4000, 50302.0,
     0.15, f"{LMSYS_EP}: prefill on 4 x 8 H100, EP32, 4K prompts", "", None),
]

MODEL_PRESETS = {"Llama 3.1 8B": "llama3-8b", "Llama 3.1 70B": "llama3-70b", "Llama 3.3 70B": "llama3-70b",
                 "Llama 3.1 405B": "llama3-405b", "Qwen3 30B A3B": "qwen3-30b-a3b",
                 "Qwen3 235B A22B": "qwen3-235b-a22b", "DeepSeek R1 0528": "deepseek-v3"}
MODEL_PRESETS.update({"GPT-OSS 120B": "gpt-oss-120b", "GPT-OSS 20B": "gpt-oss-20b"})
MODEL_PRESETS.update({"Llama 4 Maverick": "llama4-maverick", "Llama 4 Scout": "llama4-scout"})
# routed experts' precision where a checkpoint quantizes only them: nvidia/DeepSeek-R1-0528-NVFP4
# ("only the weights and activations of the linear operators within transformer blocks in MoE are
# quantized"): NVFP4 experts, the rest as DeepSeek's FP8 release
EXPERT_ONLY_FP4 = {"DeepSeek R1 0528"}
# multi-token-prediction modules stored in the published checkpoints (config.json num_nextn_predict_layers;
# DeepSeek-V3 README: "685B, which includes 671B of the Main Model weights and 14B of the Multi-Token
# Prediction (MTP) Module weights"; NVIDIA's NVFP4 DeepSeek-R1 checkpoints keep them: TensorRT-LLM's
# DeepSeek-R1 guide runs MTP from them): trtllm-bench's parameter count reads every tensor
CHECKPOINT_NEXTN_LAYERS = {"DeepSeek R1 0528": 1}
# models whose published llm_options set attention_dp_config enable_balance (serve.dp_balance: the DP ranks
# prefill in the same steps): the perf overview's DeepSeek R1 options ("attention_dp_config: batching_wait_iters:
# 0, enable_balance: true, timeout_iters: 60"; github.com/NVIDIA/TensorRT-LLM blob 03e27c7d5ff0c6e89f8328838c0a8e64f1b34f9d
# docs/source/developer-guide/perf-overview.md); its GPT-OSS, Qwen3 MoE and Llama 4 Maverick options set none, so
# those DEP rows run TensorRT-LLM's default per-rank admission (engines.toml [trtllm] dp_context_balance)
DP_BALANCE_MODELS = {"DeepSeek R1 0528"}
GPUS = {"H100": "H100-SXM-80GB", "H200": "H200-SXM-141GB", "B200": "B200-180GB", "GB200": "GB200",
        "A100": "A100-SXM-80GB"}
# KV-cache precision of the published checkpoints by weight precision: NVIDIA ModelOpt FP8 and
# NVFP4 checkpoints store the KV cache as FP8 (hf_quant_config kv_cache_quant_algo "FP8")
KV_PRECISION = {"fp4": "fp8"}
# checkpoints whose routed experts are MXFP4 whatever the table's column says (openai/gpt-oss-*: the
# overview lists no NVIDIA gpt-oss checkpoint; attention, router, embeddings and lm_head bf16), with
# (replica precision, KV precision, the experts' MMA precision) by the column's precision: TensorRT-LLM's
# GPT-OSS deployment guide (nvidia.github.io/TensorRT-LLM/deployment-guide/deployment-guide-for-gpt-oss-on-
# trtllm.html, MoE backend support matrix) runs MXFP8 activations x MXFP4 weights on B200/GB200 and BF16
# activations x MXFP4 weights (TRITON backend, weight-only) on H200; the overview's GPT-OSS
# llm_options set kv_cache_config dtype fp8, "Hopper: use auto" (the checkpoint's bf16)
MXFP4_EXPERTS = {"GPT-OSS 120B": {"fp4": ("bf16", "fp8", "mxfp8"), "fp8": ("bf16", "bf16", None)},
                 "GPT-OSS 20B": {"fp4": ("bf16", "fp8", "mxfp8"), "fp8": ("bf16", "bf16", None)}}
# the perf overview's llm_options.yml for dense models (cuda_graph_config: enable_padding: true,
# batch_sizes below) and its kv_cache_free_gpu_mem_fraction ("In many cases ... 0.95")
GRAPH_BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192]
BENCH_KV_FRACTION = 0.95


# the columns case_config / run_case read from an inference*.csv row (the header must hold each; ``fit``
# is read where the table has it: inference.csv has none, its rows all fit)
INFERENCE_COLUMNS = ("id", "source", "source_location", "source_url", "model", "precision", "gpu_type",
                     "gpu_count", "tp", "pp", "ep", "dp_attention", "input_len_tokens", "output_len_tokens",
                     "batch_or_concurrency", "value", "unit")


def cases() -> list[dict]:
    """The rows of ``data/inference.csv`` (read strictly: ``case.read_rows``, ``INFERENCE_COLUMNS``)."""
    from sim.app.validation.case import read_rows
    return read_rows(DATA, INFERENCE_COLUMNS)


def large_cases() -> list[dict]:
    """The 70B and 405B rows (``fit``: "fit" or "held-out"), read strictly as ``cases``."""
    from sim.app.validation.case import read_rows
    return read_rows(DATA_LARGE, INFERENCE_COLUMNS + ("fit",))


def case_config(row: dict, max_requests: int | None = None, where: str = "inference"):
    """The row's run as trtllm-bench ran it: its limits from trtllm-bench's heuristic
    (``engines.trtllm_bench_limits``: no max_batch_size / max_num_tokens given in the
    documented command), its decode batches CUDA-graphed with padding to ``GRAPH_BATCH_SIZES``.
    A column that is not what the suite reads (tp / pp / ep / lengths not whole numbers, dp_attention
    neither yes nor no, an unknown GPU or model) is a ``ConfigError`` keyed ``<where>.<column>``
    (``where``: the table's stem) naming the row."""
    from sim.app.validation.case import column_number, column_yes
    from sim.errors import ConfigError
    from sim.hardware import gpu as gpu_spec
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    from workloads.serving.engines import trtllm_bench_limits
    gpu = next((v for k, v in GPUS.items() if row["gpu_type"].startswith(k)), None)
    if gpu is None:
        raise ConfigError(f"{where}.gpu_type", f"row {row.get('id', '?')!r}: gpu_type = {row['gpu_type']!r} starts "
                                               f"with none of {', '.join(GPUS)}")
    if row["model"] not in MODEL_PRESETS:
        raise ConfigError(f"{where}.model", f"row {row.get('id', '?')!r}: model = {row['model']!r} is none of "
                                            f"{', '.join(MODEL_PRESETS)}")
    tp = column_number(row, "tp", where, int, required=False) or 1
    pp = column_number(row, "pp", where, int, required=False) or 1
    m = re.search(r"(\d+) requests", row["batch_or_concurrency"])
    n = int(m.group(1)) if m else 1000
    if max_requests:
        n = min(n, max_requests)
    isl = column_number(row, "input_len_tokens", where, int)
    osl = column_number(row, "output_len_tokens", where, int)
    precision = row["precision"].lower()
    kv_precision = KV_PRECISION.get(precision, precision)
    expert_precision = expert_compute = None
    if precision == "fp4" and row["model"] in EXPERT_ONLY_FP4:
        # NVFP4 weights and activations in the MoE's linear layers (W4A4): the expert MMA at FP4
        precision, expert_precision, expert_compute = "fp8", "fp4", "fp4"
    if row["model"] in MXFP4_EXPERTS:
        if precision not in MXFP4_EXPERTS[row["model"]]:
            raise ConfigError(f"{where}.precision", f"row {row.get('id', '?')!r}: precision = {row['precision']!r} "
                                                    f"is none of {', '.join(MXFP4_EXPERTS[row['model']])}")
        precision, kv_precision, expert_compute = MXFP4_EXPERTS[row["model"]][precision]
        expert_precision = "mxfp4"
    dep = column_yes(row, "dp_attention", where)
    ep = column_number(row, "ep", where, int, required=False) or 1
    data = {
        "run": {"kind": "serve", "name": row["id"]},
        "topology": {"gpu": gpu, "gpus": tp * pp, "gpus_per_node": max(tp * pp, 1), "fabric": "none"},
        "model": {"preset": MODEL_PRESETS[row["model"]]},
        "serve": {"engine": "trtllm", "tp": tp, "pp": pp, "scheduler": "orca",
                  "precision": precision, "kv_precision": kv_precision,
                  "gpu_memory_utilization": BENCH_KV_FRACTION, "cuda_graph_batch_sizes": GRAPH_BATCH_SIZES},
        "workload": {"arrival": "burst", "requests": n, "input_tokens": isl, "output_tokens": osl},
    }
    if expert_precision:
        data["serve"]["expert_precision"] = expert_precision
    if expert_compute:
        data["serve"]["expert_compute_precision"] = expert_compute
    if not dep and ep > 1:
        # trtllm-bench --ep without attention DP: the routed experts spread over ep of the TP GPUs
        data["serve"]["ep"] = ep
    if dep:
        # DEP: enable_attention_dp with --ep tp (TensorRT-LLM's attention DP: each rank its own
        # scheduler, sequences and KV; the routed experts spread over the ranks)
        data["serve"].update(dp_attention=True, ep=tp)
        if row["model"] in DP_BALANCE_MODELS:
            data["serve"]["dp_balance"] = True
    try:
        cfg = load_config(data=data)
    except ConfigError as e:
        raise ConfigError(e.key, f"{where}.csv row {row.get('id', '?')!r}: {e.reason}") from None
    # the checkpoint as trtllm-bench reads it (engines.bench_quant_algo, checkpoint_param_count): the
    # replica's precision, its routed experts' where the checkpoint quantizes only them, its MTP modules
    cost = IterationCost(ModelSpec.from_section(cfg.model), gpu_spec(gpu), precision, kv_precision, tp=tp, pp=pp)
    if expert_precision:
        cost.set_expert_precision(expert_precision)
    bs, tokens = trtllm_bench_limits(cost, isl, osl, BENCH_KV_FRACTION,
                                     nextn_layers=CHECKPOINT_NEXTN_LAYERS.get(row["model"], 0))
    if dep:
        # the heuristic's limits are each rank's executor's (tuning.py has no attention-DP case)
        bs, tokens = bs * tp, tokens * tp
    data["serve"].update(max_batch_size=bs, max_batch_tokens=tokens)
    return load_config(data=data)


def run_case(row: dict, max_requests: int | None = None, where: str = "inference") -> Case:
    """The row's run (``case_config``) against its measured ``value`` (output tokens/s, per GPU where
    ``unit`` says so: divided by ``gpu_count``). ``where``: the table's stem, for errors."""
    from sim.app.runner import run
    from sim.app.validation.case import column_number
    measured = column_number(row, "value", where)
    gpus = column_number(row, "gpu_count", where, int, required=False) or 1
    cfg = case_config(row, max_requests, where)
    result = run(cfg)
    predicted = float(result.summary["output_tokens_per_s"])
    if "per GPU" in row.get("unit", ""):
        predicted /= gpus
    return Case(row["id"], "output_tokens_per_s", predicted, measured,
                f"{row['source']}; {row['source_location']}; {row['source_url']}", fit=row.get("fit", "fit"))


def run_suite(max_requests: int | None = None, published: bool = True) -> list[Case]:
    """Every shipped case. ``max_requests`` caps a case's request count (None: the published
    counts, 30,000 at 128/128: with decode batches padded to CUDA graph sizes the ramp-up and
    drain of a burst weigh on the result, and 3,000 requests at 128/128 read 5-12 % lower);
    ``published`` appends the published vLLM / SGLang / Dynamo runs."""
    rows = [run_case(row, max_requests) for row in cases()]
    return rows + (run_published() if published else [])


def deployment(cfg):
    """The serving ``Deployment`` of a loaded serve config (its replica on the config's topology and
    fabric, a fresh ``Simulation`` at ``run.seed``), built without running it: ``.cost`` prices a step at a
    chosen batch, ``.hbm`` is the HBM ledger, ``.kv_pool_tokens`` the KV pool. Shared by the suites that
    check one step or the memory ledger (run_step_cases, trtllm_kv_ledger, serving_inferencex.step_cost,
    iter_logs.decode_step)."""
    import topologies
    from sim.app.runner import build_fabric
    from sim.simulation import Simulation
    from workloads.serving.deployment import Deployment
    from workloads.serving.requests import build_stream
    sim = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    return Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))


def run_step_cases() -> list[Case]:
    """Rows of ``STEP_CASES``: one iteration of the config's replica (its ``Deployment`` built on
    its topology) at the measured batch."""
    rows = []
    for case, fname, sets, phase, per_gpu, length, measured, tol, source, gap, bound in STEP_CASES:
        dep = deployment(load_config(PUBLISHED_DIR / fname, overrides=list(sets)))
        c, gpus = dep.cost, dep.gpus_used
        seqs = float(per_gpu * gpus)
        if phase == "decode":
            bc, tokens = c.batch(seqs, seqs, seqs * length, seqs * length), seqs
        else:
            tokens = seqs * length
            bc = c.batch(tokens, seqs, seqs * length * length / 2.0, tokens)
        predicted = tokens / bc.time_s / (gpus / 8.0)
        rows.append(Case(case, f"{phase} tokens_per_s per node", predicted, measured, source, tolerance=tol,
                         bound=bound if bound is not None else tol, gap=gap))
    return rows


def run_published() -> list[Case]:
    """Rows of the published runs: one simulation per config, every metric read from it."""
    import math
    from sim.app.runner import run
    summaries: dict[tuple, dict] = {}
    rows = []
    for case, fname, metric, measured, tol, source, gap, bound, *rest in PUBLISHED:
        sets = tuple(rest[0]) if rest else ()
        key = (fname, sets)
        if key not in summaries:
            result = run(load_config(PUBLISHED_DIR / fname, overrides=list(sets)))
            summaries[key] = {k: float(v) for k, v in result.summary.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool)}
        predicted = float(eval(metric, {"__builtins__": {}, "math": math}, summaries[key]))
        rows.append(Case(case, metric, predicted, measured, source, tolerance=tol,
                         bound=bound if bound is not None else tol, gap=gap))
    return rows + run_step_cases() + run_kv_cases() + run_trtllm_kv_cases()


KV_LOGS = DATA.parent / "kv_logs.csv"
# KV rows outside the 5 % tolerance, with why (bound: the |error| they must stay under)
KV_GAPS = {
    "vllm09_qwen3_235b_fp8_tp4_h100": (
        _GAPS["vllm09_qwen3_235b_fp8_tp4_h100"], 0.15),
    "sglang_qwen3_235b_fp8_tp4_h100": (
        _GAPS["sglang_qwen3_235b_fp8_tp4_h100"], 0.12),
}


# the columns run_kv_cases reads (the header must hold each; note is documentation)
KV_COLUMNS = ("id", "engine", "version", "model", "layers", "hidden", "ffn_hidden", "heads", "kv_heads", "head_dim",
              "vocab", "tied_embeddings", "experts", "top_k", "expert_ffn_hidden", "gpu", "tp", "precision",
              "kv_precision", "gpu_memory_utilization", "max_batch_tokens", "max_batch_size", "measured_kv_GiB",
              "measured_kv_tokens", "fit", "source")


def kv_cases() -> list[dict]:
    """Rows of ``data/kv_logs.csv``: KV-cache sizes vLLM and SGLang logged at start-up, read strictly
    (``case.read_rows``: a header without one of ``KV_COLUMNS`` or a short line is a ConfigError naming
    the file)."""
    from sim.app.validation.case import read_rows
    return read_rows(KV_LOGS, KV_COLUMNS)


def _kv_num(row: dict, key: str, kind=float, required: bool = True):
    from sim.app.validation.case import column_number
    return column_number(row, key, "kv_logs", kind, required)


# the KV precisions a serve config takes (sim/config.py serve.kv_precision)
KV_PRECISIONS = ("fp16", "bf16", "fp8", "fp4")


def kv_case_cost(row: dict):
    """The ``IterationCost`` of a ``kv_logs.csv`` row's model (its architecture columns), GPU, TP and
    precisions. A column that is not a whole number (a float for ``gpu_memory_utilization``), a
    ``tied_embeddings`` neither true nor false, or a GPU / precision dcsim refuses is a ConfigError keyed
    ``kv_logs.<column>`` naming the row."""
    from sim.errors import ConfigError
    from sim.hardware import gpu
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    m = {k: _kv_num(row, k, int) for k in ("layers", "hidden", "ffn_hidden", "heads", "kv_heads", "head_dim", "vocab")}
    tied = row["tied_embeddings"].strip()
    if tied not in ("true", "false"):
        raise ConfigError("kv_logs.tied_embeddings", f"row {row['id']!r}: tied_embeddings = {tied!r} is not true or false")
    m.update(name=row["model"], tied_embeddings=tied == "true")
    if _kv_num(row, "experts", int):
        m.update(experts=_kv_num(row, "experts", int), top_k=_kv_num(row, "top_k", int),
                 expert_ffn_hidden=_kv_num(row, "expert_ffn_hidden", int))
    tp = _kv_num(row, "tp", int)
    if tp < 1:
        raise ConfigError("kv_logs.tp", f"row {row['id']!r}: tp = {tp} is not >= 1")
    if row["kv_precision"] not in KV_PRECISIONS:
        raise ConfigError("kv_logs.kv_precision", f"row {row['id']!r}: kv_precision = {row['kv_precision']!r} is "
                                                  f"none of {', '.join(KV_PRECISIONS)}")
    try:
        spec = ModelSpec.from_section(load_config(data={"model": m}).model)
        return IterationCost(spec, gpu(row["gpu"], key="kv_logs.gpu"), row["precision"], row["kv_precision"], tp=tp)
    except ConfigError as e:
        raise ConfigError(e.key, f"{KV_LOGS.name} row {row['id']!r}: {e.reason}") from None


def run_kv_cases() -> list[Case]:
    """The KV pool (tokens per replica) the engine profile's memory model gives for each logged
    start-up (model, GPU, TP, precision, gpu_memory_utilization, max_num_batched_tokens and
    max_num_seqs as logged) against the pool the engine logged ("GPU KV cache size: N tokens",
    or "Available KV cache memory: G GiB" over the model's KV bytes per token). Tolerance 5 %;
    ``fit`` says which rows calibrated the vLLM profile (engines.toml)."""
    from sim.errors import ConfigError
    from sim.hardware import GiB
    from workloads.serving import engines
    rows = []
    for r in kv_cases():
        cost = kv_case_cost(r)
        try:
            profile = engines.profile(r["engine"], key="kv_logs.engine")
        except ConfigError as e:
            raise ConfigError(e.key, f"{KV_LOGS.name} row {r['id']!r}: {e.reason}") from None
        tokens, gib = _kv_num(r, "measured_kv_tokens", required=False), _kv_num(r, "measured_kv_GiB", required=False)
        if tokens is None and gib is None:
            raise ConfigError("kv_logs.measured_kv_tokens", f"row {r['id']!r}: neither measured_kv_tokens nor "
                                                            "measured_kv_GiB is given")
        predicted = profile.kv_capacity_tokens(
            cost, _kv_num(r, "gpu_memory_utilization"), _kv_num(r, "max_batch_tokens", int),
            _kv_num(r, "max_batch_size", int))
        measured = tokens if tokens is not None else gib * GiB / cost.kv_token_gpu
        gap, bound = KV_GAPS.get(r["id"], ("", None))
        rows.append(Case(f"kv_{r['id']}", "kv_cache_tokens", float(predicted), measured,
                         f"{r['source']} ({r['engine']} {r['version']})", tolerance=0.05,
                         bound=bound if bound is not None else 0.05, gap=gap, fit=r["fit"]))
    return rows


TRTLLM_KV_LOGS = DATA.parent / "trtllm_kv_logs.csv"
# TensorRT-LLM ledger terms outside their tolerance, with why (bound: the |error| they must stay under)
TRTLLM_KV_GAPS = {
    "trtllm_kv_trtllm11rc3_gptoss120b_gb10_activation": (
        _GAPS["trtllm_kv_trtllm11rc3_gptoss120b_gb10_activation"], 0.40),
}


# the columns run_trtllm_kv_cases reads (the header must hold each; gpu, logged_device_total_GiB,
# logged_kv_GiB and note are documentation)
TRTLLM_KV_COLUMNS = ("id", "version", "preset", "ledger_gpu", "tp", "ep", "dp_attention", "precision",
                     "expert_precision", "expert_compute_precision", "kv_precision", "free_fraction",
                     "max_num_tokens", "max_batch_size", "logged_weights_GiB", "logged_activation_GiB",
                     "logged_non_torch_GiB", "logged_kv_tokens", "logged_kv_bytes_per_token", "pool_comparable",
                     "fit", "source")


def trtllm_kv_cases() -> list[dict]:
    """Rows of ``data/trtllm_kv_logs.csv``: TensorRT-LLM (PyTorch backend) start-up logs of its KV-cache
    sizing (KvCacheCreator: weights in torch after loading, the profiling pass's activation peak,
    memory outside torch, the pool and the KV bytes per token). A header without one of
    ``TRTLLM_KV_COLUMNS`` is a ConfigError naming the file and the column."""
    from sim.app.validation.case import read_rows
    return read_rows(TRTLLM_KV_LOGS, TRTLLM_KV_COLUMNS)


def _trtllm_kv_num(row: dict, key: str, kind=float, required: bool = True):
    from sim.app.validation.case import column_number
    return column_number(row, key, "trtllm_kv_logs", kind, required)


def trtllm_kv_ledger(row: dict):
    """The ``trtllm`` engine's HBM ledger for a ``trtllm_kv_logs.csv`` row: the ``Deployment`` of a
    replica on the row's ``ledger_gpu`` with its parallelism, precisions (``expert_compute_precision``:
    the MMA TensorRT-LLM runs the experts at, e.g. mxfp8 for MXFP4 experts on SM >= 100 outside the TRITON
    backend, ModelConfig.get_mxfp4_quant_algo W4A8_MXFP4_MXFP8), free fraction, max_num_tokens and
    max_batch_size. Returns (its ``HbmLedger`` items in bytes, its KV pool in tokens, its cost model). A
    bad value is a ConfigError naming the column (or the serve key) and the row."""
    from sim.app.validation.case import column_yes
    from sim.errors import ConfigError
    tp = _trtllm_kv_num(row, "tp", int)
    serve = {"engine": "trtllm", "scheduler": "orca", "tp": tp, "precision": row["precision"],
             "kv_precision": row["kv_precision"],
             "gpu_memory_utilization": _trtllm_kv_num(row, "free_fraction"),
             "max_batch_tokens": _trtllm_kv_num(row, "max_num_tokens", int),
             "max_batch_size": _trtllm_kv_num(row, "max_batch_size", int)}
    for key in ("expert_precision", "expert_compute_precision"):
        if row[key]:
            serve[key] = row[key]
    ep = _trtllm_kv_num(row, "ep", int, required=False) or 1
    if column_yes(row, "dp_attention", "trtllm_kv_logs"):
        serve.update(dp_attention=True, ep=tp)
    elif ep > 1:
        serve["ep"] = ep
    try:
        cfg = load_config(data={
            "run": {"kind": "serve", "name": row["id"]},
            "topology": {"gpu": row["ledger_gpu"], "gpus": tp, "gpus_per_node": tp, "fabric": "none"},
            "model": {"preset": row["preset"]}, "serve": serve,
            "workload": {"arrival": "burst", "requests": 1, "input_tokens": 128, "output_tokens": 128}})
    except ConfigError as e:
        raise ConfigError(e.key, f"{TRTLLM_KV_LOGS.name} row {row['id']!r}: {e.reason}") from None
    dep = deployment(cfg)
    return dict(dep.hbm.items), dep.kv_pool_tokens, dep.cost


def run_trtllm_kv_cases() -> list[Case]:
    """Each logged term of ``trtllm_kv_logs.csv`` against the ``trtllm`` profile's ledger
    (``trtllm_kv_ledger``): ``kv_bytes_per_token`` (tolerance 1 %), ``weights_GiB`` (weights, encoder, RoPE
    table and MXFP4 expert padding: what torch holds after loading, 5 %), ``activation_GiB`` (the profiling
    pass's peak over the weights, 15 %), ``non_torch_GiB`` (15 %) and ``kv_cache_tokens`` (the pool, 5 %)
    where the log has them; the non-torch term and the pool only where ``pool_comparable`` (a GPU whose
    memory the run had to itself). Gaps and bounds: ``TRTLLM_KV_GAPS``."""
    from sim.app.validation.case import column_yes
    from sim.hardware import GiB
    rows = []
    for r in trtllm_kv_cases():
        items, pool, cost = trtllm_kv_ledger(r)
        comparable = column_yes(r, "pool_comparable", "trtllm_kv_logs")
        src = f"{r['source']} (TensorRT-LLM {r['version']})"
        weights = sum(items.get(k, 0.0) for k in ("weights", "encoder", "rope_table", "expert_padding"))
        terms = [("kv_bytes_per_token", cost.kv_token_gpu, "logged_kv_bytes_per_token", 1.0, 0.01, True),
                 ("weights_GiB", weights / GiB, "logged_weights_GiB", 1.0, 0.05, True),
                 ("activation_GiB", items.get("activations", 0.0) / GiB, "logged_activation_GiB", 1.0, 0.15, True),
                 ("non_torch_GiB", items.get("runtime", 0.0) / GiB, "logged_non_torch_GiB", 1.0, 0.15, comparable),
                 ("kv_cache_tokens", float(pool), "logged_kv_tokens", 1.0, 0.05, comparable)]
        for metric, predicted, column, scale, tol, comparable in terms:
            logged = _trtllm_kv_num(r, column, required=False)
            if logged is None or not comparable:
                continue
            case = f"trtllm_kv_{r['id']}_{metric.rsplit('_GiB', 1)[0]}"
            gap, bound = TRTLLM_KV_GAPS.get(case, ("", None))
            rows.append(Case(case, metric, float(predicted), logged * scale, src, tolerance=tol,
                             bound=bound if bound is not None else tol, gap=gap, fit=r["fit"]))
    return rows


if __name__ == "__main__":  # pragma: no cover
    import statistics
    rows = run_suite()
    for r in rows:
        print(f"{r['case']:45s} {r['predicted']:9.0f} {r['measured']:9.0f} {r['error']:+7.1%}")
    print("median |error|", statistics.median(abs(r["error"]) for r in rows))
