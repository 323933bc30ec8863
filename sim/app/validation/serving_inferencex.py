"""Serving validation on SemiAnalysis InferenceX (InferenceMAX) runs of TensorRT-LLM, vLLM and SGLang at a
known concurrency.

Vocabulary:
- row: one line of a ``workloads/serving/data/inferencex_*.csv`` file (every such file but ``inferencex_heldout.csv``,
  the held-out suite's (serving_inferencex_heldout.py), is read:
  ``inferencex_trtllm.csv`` holds the Hopper runs, other files add other GPUs in the same columns). The
  columns are those of ``inference_heldout.csv`` (id, citation, model, precision, gpu_type, tp, ep,
  dp_attention yes/no, input/output lengths, ``value`` = output tokens/s per GPU, ``ttft_ms``,
  ``tpot_or_itl_ms`` = the run's mean TPOT) plus the run's own: ``concurrency`` (benchmark_serving.py
  --max-concurrency), ``num_prompts``, ``random_range_ratio`` (InferenceX's random dataset draws each
  request's input and output length uniformly in [ratio x ISL, ISL] and [ratio x OSL, OSL]),
  ``image`` (the TensorRT-LLM container), ``max_batch_size`` and ``max_num_tokens`` (trtllm-serve's,
  each rank's with attention DP), ``kv_cache_free_gpu_mem_fraction``, ``kv_cache_dtype``,
  ``cuda_graph_max_batch_size`` (cuda_graph_config max_batch_size with enable_padding), ``moe_backend``
  (MoeConfig backend: TRTLLM or SGLang's flashinfer_trtllm -> ``serve.moe_backend = "trtllm_gen"``, CUTLASS ->
  ``"cutlass"``, marlin (vLLM's VLLM_MXFP4_USE_MARLIN=1) -> ``"marlin"``, TRITON -> ``"triton"``, empty: the
  engine's; anything else a ConfigError naming the column),
  ``fit`` ("fit" or "held-out": nothing in dcsim is fitted to these rows); ``framework`` picks the
  engine (``engine_of``: trt / TensorRT-LLM -> ``trtllm-serve``, vllm -> ``vllm``, sglang -> ``sglang``);
  optional ``expert_precision`` (the checkpoint's routed experts in a block-scaled format: mxfp4 ->
  ``BLOCK_SCALED_EXPERTS``, a bf16 replica with MXFP4 experts at fp4 MMA; empty: the model's and precision's
  reading), ``expert_compute_precision`` (the MoE kernel's MMA precision where the run's flags set it) and
  ``async_scheduling`` (yes / no where the run's script sets it: vLLM's config async-scheduling; empty:
  the engine's default, serve.async_scheduling).
- ``case_config(row)``: the run as its engine served it, on the completions endpoint (``serve.endpoint``:
  benchmark_serving.py's vllm / openai backends post to /v1/completions). TensorRT-LLM: engine ``trtllm-serve``,
  ``scheduler = "orca"`` as every TensorRT-LLM row, the run's KV fraction, KV dtype, limits and
  CUDA-graph sizes. vLLM / SGLang: the engine profile's defaults (scheduler, CUDA graphs, host times:
  engines.toml [vllm] / [sglang]) with the row's limits (``max_batch_size`` = --max-num-seqs /
  --max-running-requests, ``max_num_tokens`` = --max-num-batched-tokens / --chunked-prefill-size),
  memory fraction (``kv_cache_free_gpu_mem_fraction`` = --gpu-memory-utilization /
  --mem-fraction-static) and KV dtype. ``dp_attention`` with ``ep = tp`` for DEP rows, ``ep`` from the
  row otherwise; driven closed-loop at the row's concurrency with ``num_prompts`` requests and uniform
  lengths.
- ``run_suite()``: two ``Case``s per row: ``tpot_mean_s`` (the decode step at a known batch: with
  concurrency C on a TP group every step carries ~C sequences; with attention DP each rank ~C / dp)
  and ``output_tokens_per_s per GPU``; a disaggregated row (``pd_disaggregated`` yes, columns
  ``prefill_tp`` / ``prefill_ep`` / ``prefill_dp_attention`` / ``prefill_workers`` / ``decode_workers``;
  tp / ep / dp_attention are the decode workers') its ``tpot_mean_s`` only: the decode worker's step
  (``step_cost``) at ``decode_batch``. ``KINDS`` holds each kind's tolerance, bound and gap text.
- ``cuda_graph_batch_sizes(max_bs)``: TensorRT-LLM's padded graph sizes for a cuda_graph_config
  max_batch_size (``CudaGraphConfig._generate_cuda_graph_batch_sizes`` with enable_padding: 1, 2, 4,
  then multiples of 8 up to 128, then powers of two up to max_batch_size).

Rows (inferencex_trtllm.csv, all held out): DeepSeek-R1-0528 FP8 on H200. (1) trtllm-serve, TensorRT-LLM
1.1.0rc2.post2 (2025-12-15): TP8 EP8 without attention DP at concurrency 4-64 (1k/1k, 1k/8k, 8k/1k) and DEP8
at 8k/1k concurrency 64. (2) Dynamo disaggregated serving (ai-dynamo tensorrtllm-runtime 0.8.1.post1,
2026-02 / 03, MTP off): decode workers TP8 EP8 (1-60 sequences each) and DEP8 (13 and 26 per rank); a
decode worker's TPOT is its step at a known batch (``decode_batch``), the cleanest probe of the step.

vLLM / SGLang rows (inferencex_vllm_sglang.csv, all held out: a check of the [vllm] / [sglang] profiles; issue
12, infxvllm): InferenceMAX sweep points of Dec 2025 as mirrored in gminneci/mantile (agg_bmk.json), with
each run's server flags from SemiAnalysisAI/InferenceX benchmarks/*.sh at 2e46dba: GPT-OSS-120B under vLLM
0.11.2 on H100 / H200 (Marlin MXFP4 MoE) and B200 (FlashInfer's TRTLLM-gen MXFP4 x MXFP8 MoE, moe_backend
flashinfer_trtllm), TP1-TP8 at 4-64 sequences;
DeepSeek-R1-0528 under SGLang 0.5.6 on H200 (FP8 TP8) and B200 (FP8 TP8, NVFP4 TP4 EP4 / TP8 EP8). Not here:
the same sweeps' AMD rows. MI355X's SGLang DeepSeek-R1 MXFP4 rows are their own suite (``serving_amd``,
``workloads/serving/data/amd_inferencex.csv``, read through this module's ``case_config`` / ``run_row``; its
name keeps it out of ``DATA_GLOB``); MI300X / MI325X rows are not taken (dcsim's MI300X / MI325X constants are
fitted to training steps only).

inferencex_blackwell.csv (held out): GPT-OSS-120B on B200, trtllm-serve of TensorRT-LLM 1.2.0rc2 with the
TRTLLM-gen MoE backend (the row's ``moe_backend`` TRTLLM -> ``serve.moe_backend = "trtllm_gen"``), TP1 at
concurrency 64 / 128 and TP8 at 4 / 8: ``GPT_OSS_B200_GEN`` / ``GPT_OSS_B200_TP8``.

inferencex_trtllm_blackwell.csv (held out; issue 12, infxdsrb): DeepSeek-R1-0528 FP8 and FP4 (NVFP4 experts) on
B200 from the same InferenceX fixture as the Hopper rows, post-1.0 TensorRT-LLM: trtllm-serve 1.1.0rc2.post2
(2025-12-15) and 1.2.0rc6.post2 (2026-01 / 02), options from benchmarks/dsr1_{fp8,fp4}_b200_trt_slurm.sh at 2e46dba
(FP8: DeepGEMM MoE, which dcsim has no name for: the engine's default; FP4: TRTLLM-gen, CUTLASS past the script's
thresholds), TP8 EP1 / TP8 EP8 / TP4 EP4 without attention DP at 4-128 sequences and DEP8 / DEP4 at 8-64 per rank;
and Dynamo decode workers (tensorrtllm-runtime 0.8.1.post1 / .post2, MTP off): FP8 TP8 EP1 at 1-41 sequences, FP8
DEP8 at 15-482 per rank, FP4 TP8 EP8 at 63, FP4 DEP8 at 30-121 per rank. ``B200_DEP_STEP_DIAGNOSIS`` answers
whether the Hopper attention-DP deficit (``DEP_STEP_DIAGNOSIS``) is there on Blackwell. Not taken: the fixture's
B200 FP4 TP8 EP1 rows with no image (2025-11-02; build and script unknown), MTP rows, B300 / GB200 / GB300 rows.

Diagnosis: see ``DEP_STEP_DIAGNOSIS`` (TensorRT-LLM Hopper DEP), ``B200_DEP_STEP_DIAGNOSIS`` (Blackwell), ``VLLM_HOPPER_GAP``, ``VLLM_B200_GAP``,
``SGLANG_H200_GAP``, ``SGLANG_B200_GAP``. These gap texts live in ``sim/data/validation/inferencex_gaps.toml``,
one block per name, read through ``gap_text.load`` and assigned here under the same names; its header says how
to add or extend one.
"""

from __future__ import annotations

import math

from sim.app.validation import gap_text
from sim.app.validation.case import Case
from sim.app.validation.serving import (DATA, EXPERT_ONLY_FP4, MODEL_PRESETS, MXFP4_EXPERTS)
from sim.app.validation.serving import GPUS as _SERVING_GPUS
from sim.config import load_config
from sim.errors import ConfigError

DATA_GLOB = "inferencex_*.csv"
# the held-out suite's file (serving_inferencex_heldout.py, `dcsim validate serving-inferencex-heldout`): in the
# same columns, but no row of this suite
HELDOUT_FILE = "inferencex_heldout.csv"

# gpu_type prefix -> catalogue GPU: serving.py's NVIDIA parts and AMD's Instinct parts of the InferenceX sweeps
# (serving_amd.py's amd_inferencex.csv rows; no inferencex_*.csv row names one)
GPUS = {**_SERVING_GPUS, "MI300X": "MI300X", "MI325X": "MI325X", "MI355X": "MI355X"}
# checkpoints that store the routed experts in a block-scaled format (the optional ``expert_precision``
# column) -> (the replica's precision, the experts' MMA precision): mxfp4 as AMD-Quark's w_mxfp4_a_mxfp4
# checkpoints store DeepSeek-R1-0528 (huggingface.co/amd/DeepSeek-R1-0528-MXFP4-Preview README: OCP MXFP4
# weights, static, and activations, dynamic, group 32, exclude_layers "*self_attn* *mlp.gate.* *lm_head":
# attention stays BF16, the MLPs take MXFP4 activations, so the expert MMA is fp4). dcsim's expert_precision
# covers the routed experts only: the three dense MLP layers and the shared experts are priced at the
# replica's bf16 (about 3.7 B of 37 B active parameters)
BLOCK_SCALED_EXPERTS = {"mxfp4": ("bf16", "fp4")}

# The gap texts: one block of sim/data/validation/inferencex_gaps.toml each (gap_text.load composes a block's
# ``before`` blocks, its text and its ``after`` blocks); KINDS below joins a kind's gap from them.
GAP_FILE = "inferencex_gaps.toml"
_GAPS = gap_text.load(GAP_FILE)

# TP8 EP8 without attention DP: every step carries the whole batch (<= concurrency) on the TP group
TEP_GAP = _GAPS["TEP_GAP"]
# the one DEP8 row: 64 sequences over 8 attention-DP ranks, 8 per rank
DEP_GAP = _GAPS["DEP_GAP"]

# Dynamo decode workers: the step at a known batch
DISAGG_GAP = _GAPS["DISAGG_GAP"]
DEP_STEP_DIAGNOSIS = _GAPS["DEP_STEP_DIAGNOSIS"]

# vLLM / SGLang rows (inferencex_vllm_sglang.csv, issue 12, infxvllm): held-out checks of the [vllm] / [sglang]
# engine profiles at a known concurrency; diagnostics named below were run on a copy, none adopted
VLLM_HOPPER_GAP = _GAPS["VLLM_HOPPER_GAP"]
VLLM_B200_GAP = _GAPS["VLLM_B200_GAP"]
SGLANG_H200_GAP = _GAPS["SGLANG_H200_GAP"]
SGLANG_B200_GAP = _GAPS["SGLANG_B200_GAP"]

# GPT-OSS-120B on Hopper at a known batch (issue 12, infxgptoss): no TensorRT-LLM rows exist to add
GPT_OSS_HOPPER_STEP_DIAGNOSIS = _GAPS["GPT_OSS_HOPPER_STEP_DIAGNOSIS"]
# GPT-OSS-120B on B200, trtllm-serve of TensorRT-LLM 1.2.0rc2 with MoeConfig backend TRTLLM (inferencex_blackwell.csv)
GPT_OSS_B200_GEN = _GAPS["GPT_OSS_B200_GEN"]
GPT_OSS_B200_TP8 = _GAPS["GPT_OSS_B200_TP8"]

# issue 12, dgbuf: what of TensorRT-LLM's attention-DP fused MoE runs over the all-gathered rows (source audit)
GATHERED_ROWS_AUDIT = _GAPS["GATHERED_ROWS_AUDIT"]
# issue 12, tgenslope: does the fused-MoE kernel grow faster with the rows per expert than dcsim's grouped GEMM?
KERNEL_SLOPE_AUDIT = _GAPS["KERNEL_SLOPE_AUDIT"]
# DeepSeek-R1 on B200, post-1.0 TensorRT-LLM (inferencex_trtllm_blackwell.csv; issue 12, infxdsrb): held out
B200_DEP_STEP_DIAGNOSIS = _GAPS["B200_DEP_STEP_DIAGNOSIS"]
B200_DEP_GAP = _GAPS["B200_DEP_GAP"]
B200_TEP_GAP = _GAPS["B200_TEP_GAP"]
B200_TP8_GAP = _GAPS["B200_TP8_GAP"]
B200_DYNAMO_GAP = _GAPS["B200_DYNAMO_GAP"]

# (row-id substring, tolerance, bound, gap) for the TPOT case and the throughput case of a kind
KINDS = [
    ("h200_dynamo_dep8", (0.15, 0.15, DISAGG_GAP + ". " + DEP_STEP_DIAGNOSIS), (0.15, None, "")),
    ("h200_dynamo_tep8", (0.15, 0.15, DISAGG_GAP), (0.15, None, "")),
    ("h200_trt_dep8", (0.15, 0.15, DEP_GAP + " " + DEP_STEP_DIAGNOSIS), (0.15, 0.30, DEP_GAP)),   # 0.25 -> 0.30 (gptbw16: +18.0 -> +25.3 %)
    ("h200_trt_tep8", (0.15, 0.20, TEP_GAP), (0.15, 0.25, TEP_GAP)),
    ("h100_vllm", (0.15, 0.60, VLLM_HOPPER_GAP), (0.15, 0.40, VLLM_HOPPER_GAP)),
    ("h200_vllm", (0.15, 0.60, VLLM_HOPPER_GAP), (0.15, 0.40, VLLM_HOPPER_GAP)),
    ("b200_vllm", (0.15, 0.60, VLLM_B200_GAP), (0.15, 0.40, VLLM_B200_GAP)),
    ("h200_sglang", (0.15, 0.30, SGLANG_H200_GAP), (0.15, 0.25, SGLANG_H200_GAP)),
    ("b200_sglang", (0.15, 0.65, SGLANG_B200_GAP), (0.15, 0.40, SGLANG_B200_GAP)),
    ("gptoss120b_b200_trt_tp1", (0.15, 0.30, GPT_OSS_B200_GEN), (0.15, 0.25, GPT_OSS_B200_GEN)),
    ("gptoss120b_b200_trt_tp8", (0.15, 0.65, GPT_OSS_B200_TP8), (0.15, 0.40, GPT_OSS_B200_TP8)),
    ("b200_dynamo_dep8", (0.15, 0.35, B200_DYNAMO_GAP + ". " + B200_DEP_STEP_DIAGNOSIS), (0.15, None, "")),
    ("b200_dynamo_tp8", (0.15, 0.25, B200_DYNAMO_GAP), (0.15, None, "")),
    ("b200_dynamo_tep8", (0.15, 0.35, B200_DYNAMO_GAP), (0.15, None, "")),
    ("b200_trt_dep", (0.15, 0.25, B200_DEP_GAP + " " + B200_DEP_STEP_DIAGNOSIS), (0.15, 0.35, B200_DEP_GAP)),
    ("b200_trt_tep", (0.15, 0.35, B200_TEP_GAP), (0.15, 0.55, B200_TEP_GAP)),
    ("fp4_b200_trt_tp8", (0.15, 0.20, B200_TP8_GAP), (0.15, 0.20, B200_TP8_GAP)),
]


def kind_of(case_id: str, kinds: list | None = None) -> tuple[tuple, tuple]:
    """(tolerance, bound, gap) of the row's TPOT case and of its throughput case, from the first entry of
    ``kinds`` (default ``KINDS``; another suite passes its own) whose key the case id contains."""
    for key, tpot, tput in (KINDS if kinds is None else kinds):
        if key in case_id:
            return tpot, tput
    return (0.15, None, ""), (0.15, None, "")


def data_files() -> list:
    """This suite's files: every ``inferencex_*.csv`` but the held-out suite's ``HELDOUT_FILE``."""
    return sorted(p for p in DATA.parent.glob(DATA_GLOB) if p.name != HELDOUT_FILE)


# the columns every inferencex_*.csv must have (the others, e.g. async_scheduling, moe_backend or
# expert_compute_precision, may be left out of a file: empty for its rows)
COLUMNS = ("id", "source", "source_location", "source_url", "framework", "model", "precision", "gpu_type",
           "gpu_count", "tp", "ep", "dp_attention", "pd_disaggregated", "input_len_tokens", "output_len_tokens",
           "value", "ttft_ms", "tpot_or_itl_ms", "concurrency", "num_prompts", "fit")


def inferencex_rows(files: list | None = None) -> list[dict]:
    """Every row of ``files`` (default ``data_files()``: this suite's ``inferencex_*.csv`` files), in file then
    row order; a file without one of ``COLUMNS``, or with a line of more or fewer fields than its header, is a
    ConfigError naming the file and the column or line."""
    from sim.app.validation.case import read_rows
    rows = []
    for path in (data_files() if files is None else files):
        rows.extend(read_rows(path, COLUMNS))
    return rows


def cuda_graph_batch_sizes(max_bs: int) -> list[int]:
    """TensorRT-LLM's padded CUDA-graph batch sizes for cuda_graph_config max_batch_size ``max_bs``
    (tensorrt_llm/llmapi/llm_args.py CudaGraphConfig._generate_cuda_graph_batch_sizes, enable_padding)."""
    sizes = [1, 2, 4] + [8 * i for i in range(1, 17)]
    p = 256
    while p <= max_bs:
        sizes.append(p)
        p *= 2
    out = sorted({b for b in sizes if b <= max_bs})
    if max_bs not in out:
        out.append(max_bs)
    return out


def _number(row: dict, key: str, v: str) -> float:
    """The column's text as a finite float; a ConfigError naming the column otherwise."""
    try:
        x = float(v)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r} is not a finite number")
    return x


def _int(row: dict, key: str, default: int | None = None) -> int:
    """A count column (tp, concurrency, lengths, limits): a whole number >= 1 (``1`` and ``1.0`` alike);
    empty: ``default`` (None: a required column)."""
    v = (row.get(key) or "").strip()
    if not v:
        if default is None:
            raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} is empty")
        return default
    x = _number(row, key, v)
    if x != int(x) or x < 1:
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r} is not a whole number >= 1")
    return int(x)


def _req_float(row: dict, key: str) -> float:
    """A measured column (``value``, ``tpot_or_itl_ms``, ``ttft_ms``): a finite number > 0."""
    v = (row.get(key) or "").strip()
    x = _number(row, key, v)
    if x <= 0:
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r} is not a measurement > 0")
    return x


def _float(row: dict, key: str, default: float) -> float:
    """An optional fraction column (``random_range_ratio``, ``kv_cache_free_gpu_mem_fraction``): a
    finite number in (0, 1]; empty: ``default``."""
    v = (row.get(key) or "").strip()
    if not v:
        return default
    x = _number(row, key, v)
    if not 0.0 < x <= 1.0:
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r} is not a fraction in (0, 1]")
    return x


def _yes(row: dict, key: str) -> bool:
    """A yes / no column (``dp_attention``, ``pd_disaggregated``): empty reads no."""
    v = (row.get(key) or "").strip()
    if v not in ("", "yes", "no"):
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r}: yes, no or empty (no)")
    return v == "yes"


def _text(row: dict, key: str) -> str:
    """A required text column (``id``, ``model``, ``precision``, ``gpu_type``, the source columns)."""
    v = (row.get(key) or "").strip()
    if not v:
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} is missing or empty")
    return v


def engine_of(row: dict) -> str:
    """dcsim's ``serve.engine`` for the row's ``framework`` column: ``trt`` or a TensorRT-LLM framework text
    (trtllm-serve, Dynamo's TensorRT-LLM workers) -> ``trtllm-serve``; ``vllm`` / a vLLM text -> ``vllm``;
    ``sglang`` / an SGLang text -> ``sglang``; empty -> ``trtllm-serve`` (the first files' rows)."""
    fw = (row.get("framework") or "").strip().lower()
    if "sglang" in fw:
        return "sglang"
    if "vllm" in fw:
        return "vllm"
    if not fw or fw == "trt" or "tensorrt" in fw or "trtllm" in fw:
        return "trtllm-serve"
    raise ConfigError("framework", f"row {row.get('id', '?')!r}: unknown framework {row.get('framework')!r} "
                                   "(known: trt / TensorRT-LLM, vllm, sglang)")


# InferenceX's TensorRT-LLM scripts that append attention_dp_config (batching_wait_iters 0, enable_balance true,
# timeout_iters 60) to the extra options whenever DP_ATTENTION is true (github.com/SemiAnalysisAI/InferenceX blob
# 2e46dba0393537668d37d83b532fff2cdbbad231 benchmarks/<script>): their DEP rows run with serve.dp_balance
TRT_BALANCE_SCRIPTS = ("dsr1_fp4_b200_trt_slurm.sh", "dsr1_fp8_b200_trt_slurm.sh", "dsr1_fp8_h200_trt_slurm.sh")


def case_config(row: dict, max_requests: int | None = None):
    """The row's closed-loop run as its engine served it (see the module docstring): ``engine_of(row)``."""
    gpu = next((v for k, v in GPUS.items() if _text(row, "gpu_type").startswith(k)), None)
    if gpu is None:
        raise ConfigError("gpu_type", f"row {row.get('id', '?')!r}: unknown gpu_type {row.get('gpu_type')!r}")
    if row.get("model") not in MODEL_PRESETS:
        raise ConfigError("model", f"row {row.get('id', '?')!r}: unknown model {row.get('model')!r}")
    engine = engine_of(row)
    tp, conc = _int(row, "tp", 1), _int(row, "concurrency")
    isl, osl = _int(row, "input_len_tokens"), _int(row, "output_len_tokens")
    n = _int(row, "num_prompts", 10 * conc)
    if max_requests:
        n = min(n, max_requests)
    ratio = _float(row, "random_range_ratio", 1.0)
    precision = _text(row, "precision").lower()
    kv = (row.get("kv_cache_dtype") or "").strip().lower() or {"fp4": "fp8"}.get(precision, precision)
    expert_precision = expert_compute = None
    if precision == "fp4" and row["model"] in EXPERT_ONLY_FP4:
        precision, expert_precision, expert_compute = "fp8", "fp4", "fp4"
    if row["model"] in MXFP4_EXPERTS:
        if precision not in MXFP4_EXPERTS[row["model"]]:
            raise ConfigError("precision", f"row {row['id']!r}: precision {precision!r} of {row['model']}: one of "
                              f"{', '.join(MXFP4_EXPERTS[row['model']])}")
        precision, kv_default, expert_compute = MXFP4_EXPERTS[row["model"]][precision]
        kv = (row.get("kv_cache_dtype") or "").strip().lower() or kv_default
        expert_precision = "mxfp4"
    # the checkpoint's routed experts in a block-scaled format where the row says so (``expert_precision``:
    # BLOCK_SCALED_EXPERTS; empty: the model's and precision's reading above)
    block = (row.get("expert_precision") or "").strip().lower()
    if block:
        if block not in BLOCK_SCALED_EXPERTS:
            raise ConfigError("expert_precision", f"row {row.get('id', '?')!r}: column 'expert_precision' = {block!r} "
                                                  f"is none of {', '.join(BLOCK_SCALED_EXPERTS)} (or empty)")
        precision, expert_compute = BLOCK_SCALED_EXPERTS[block]
        expert_precision = block
    # the experts' MMA precision where the run's MoE kernel sets it (vLLM's Marlin MXFP4 on Hopper: bf16
    # activations, weight-only; FlashInfer's MXFP4 x MXFP8 on Blackwell: mxfp8)
    compute_col = (row.get("expert_compute_precision") or "").strip().lower()
    if compute_col:
        expert_compute = None if compute_col == precision else compute_col
    dep = _yes(row, "dp_attention")
    ranks = tp if dep else 1
    lo = lambda n_: max(int(math.ceil(ratio * n_)), 1)
    if engine == "trtllm-serve":
        max_bs = _int(row, "max_batch_size", 2048)
        max_tokens = _int(row, "max_num_tokens", 8192)
        serve = {"engine": "trtllm-serve", "tp": tp, "scheduler": "orca", "precision": precision,
                 "kv_precision": kv, "gpu_memory_utilization": _float(row, "kv_cache_free_gpu_mem_fraction", 0.9),
                 # trtllm-serve's limits are each rank's with attention DP; dcsim's the replica's
                 "max_batch_size": max_bs * ranks, "max_batch_tokens": max_tokens * ranks}
        graph_bs = _int(row, "cuda_graph_max_batch_size", 0)
        if graph_bs:
            serve["cuda_graph_batch_sizes"] = cuda_graph_batch_sizes(graph_bs)
    else:
        # vLLM / SGLang: the engine profile's scheduler and CUDA-graph defaults; the row's limits as the
        # server's flags set them (max_batch_size: vLLM --max-num-seqs / SGLang --max-running-requests;
        # max_num_tokens: vLLM --max-num-batched-tokens / SGLang --chunked-prefill-size, the chunk), and
        # kv_cache_free_gpu_mem_fraction: vLLM --gpu-memory-utilization / SGLang --mem-fraction-static
        # (dcsim's serve.gpu_memory_utilization, read by each engine's memory rule, engines.toml)
        serve = {"engine": engine, "tp": tp, "precision": precision, "kv_precision": kv,
                 "gpu_memory_utilization": _float(row, "kv_cache_free_gpu_mem_fraction", 0.9)}
        if (row.get("max_batch_size") or "").strip():
            serve["max_batch_size"] = _int(row, "max_batch_size")
        if (row.get("max_num_tokens") or "").strip():
            serve["max_batch_tokens"] = _int(row, "max_num_tokens")
        # the run's scheduling mode where its script sets it (vLLM: config async-scheduling: true); empty:
        # the engine's default (vLLM 0.11 off, SGLang 0.5's overlap scheduler on)
        asyn = (row.get("async_scheduling") or "").strip().lower()
        if asyn:
            if asyn not in ("yes", "no"):
                raise ConfigError("async_scheduling", f"row {row.get('id', '?')!r}: column 'async_scheduling' = "
                                                      f"{asyn!r}: yes, no or empty (the engine's default)")
            serve["async_scheduling"] = asyn == "yes"
    # every InferenceX run posts to /v1/completions: its scripts call benchmark_serving.py with --backend vllm
    # (vLLM, SGLang) or --backend openai (trtllm-serve), both async_request_openai_completions
    # (SemiAnalysisAI/InferenceX utils/bench_serving/backend_request_func.py ASYNC_REQUEST_FUNCS;
    # benchmarks/gptoss_fp4_b200.sh, gptoss_fp4_b200_trt.sh)
    serve["endpoint"] = "completions"
    data = {
        "run": {"kind": "serve", "name": _text(row, "id")},
        "topology": {"gpu": gpu, "gpus": tp, "gpus_per_node": max(tp, 1), "fabric": "none"},
        "model": {"preset": MODEL_PRESETS[row["model"]]},
        "serve": serve,
        "workload": {"arrival": "closed", "concurrency": conc, "requests": n,
                     "input_tokens": {"dist": "uniform", "min": lo(isl), "max": isl} if ratio < 1 else isl,
                     "output_tokens": {"dist": "uniform", "min": lo(osl), "max": osl} if ratio < 1 else osl},
    }
    # the run's MoeConfig backend (TRTLLM: the TRTLLM-gen kernel class; CUTLASS, or empty: the engine's)
    raw = (row.get("moe_backend") or "").strip()
    # (SGLang's --moe-runner-backend flashinfer_trtllm runs FlashInfer's build of the same TRTLLM-gen kernels)
    # (vLLM's VLLM_MXFP4_USE_MARLIN=1: marlin, the weight-only Marlin MXFP4 MoE)
    moe_backend = {"": None, "trtllm": "trtllm_gen", "flashinfer_trtllm": "trtllm_gen", "cutlass": "cutlass",
                   "triton": "triton", "marlin": "marlin"}.get(raw.lower(), "?")
    if moe_backend == "?":
        raise ConfigError("moe_backend", f"row {row.get('id', '?')!r}: moe_backend {raw!r} is not TRTLLM, "
                          "flashinfer_trtllm, CUTLASS, TRITON or marlin")
    if moe_backend:
        data["serve"]["moe_backend"] = moe_backend
    if expert_precision:
        data["serve"]["expert_precision"] = expert_precision
    if expert_compute:
        data["serve"]["expert_compute_precision"] = expert_compute
    if dep:
        data["serve"].update(dp_attention=True, ep=tp)
        if engine == "trtllm-serve" and any(f in row.get("source_url", "") for f in TRT_BALANCE_SCRIPTS):
            data["serve"]["dp_balance"] = True
    elif _int(row, "ep", 1) > 1:
        data["serve"]["ep"] = _int(row, "ep", 1)
    return load_config(data=data)


def step_cost(row: dict):
    """The step-cost model (``IterationCost``, or ``DpAttentionCost`` for a DEP row) of the row's
    deployment as ``case_config`` builds it: ``.batch(tokens, sequences, pairs, kv_read)`` prices one
    step at a chosen batch (the diagnosis's pure decode steps)."""
    from sim.app.validation.serving import deployment
    return deployment(case_config(row)).cost


def decode_batch(row: dict) -> tuple[float, float]:
    """(sequences on one decode worker, their mean context in tokens) of a disaggregated row: the closed
    loop's ``concurrency`` requests split over ``decode_workers``, each request on a decode worker for the
    fraction d / (d + TTFT) of its life (Little's law; d = mean output length x mean TPOT, both the row's
    own means), at a context of the mean prompt plus half the mean output (lengths uniform in
    [random_range_ratio, 1] x ISL / OSL)."""
    ratio = _float(row, "random_range_ratio", 1.0)
    mean_isl = 0.5 * (1.0 + ratio) * _int(row, "input_len_tokens")
    mean_osl = 0.5 * (1.0 + ratio) * _int(row, "output_len_tokens")
    tpot, ttft = _req_float(row, "tpot_or_itl_ms") / 1e3, _req_float(row, "ttft_ms") / 1e3
    decode_s = mean_osl * tpot
    seqs = _int(row, "concurrency") / _int(row, "decode_workers", 1) * decode_s / (decode_s + ttft)
    return seqs, mean_isl + 0.5 * mean_osl


def run_row(row: dict, max_requests: int | None = None, kinds: list | None = None) -> list[Case]:
    """The row's TPOT case and output-throughput-per-GPU case; a disaggregated row (``pd_disaggregated``
    yes: Dynamo's decode workers) its TPOT case only, the decode worker's step at ``decode_batch``.
    ``kinds``: the tolerances, bounds and gap texts (``kind_of``; default ``KINDS``)."""
    source = "; ".join(_text(row, k) for k in ("source", "source_location", "source_url"))
    (t_tol, t_bound, t_gap), (o_tol, o_bound, o_gap) = kind_of(row["id"], kinds)
    measured_tpot = _req_float(row, "tpot_or_itl_ms") / 1e3
    if _yes(row, "pd_disaggregated"):
        seqs, ctx = decode_batch(row)
        pred = step_cost(row).batch(seqs, seqs, seqs * ctx, seqs * ctx).time_s
        checks = (("tpot_mean_s", pred, measured_tpot, t_tol, t_bound, t_gap),)
    else:
        from sim.app.runner import run
        s = run(case_config(row, max_requests)).summary
        checks = (("tpot_mean_s", float(s["tpot_mean_s"]), measured_tpot, t_tol, t_bound, t_gap),
                  ("output_tokens_per_s per GPU", float(s["output_tokens_per_s"]) / _int(row, "gpu_count", 1),
                   _req_float(row, "value"), o_tol, o_bound, o_gap))
    out = []
    for metric, pred, meas, tol, bound, gap in checks:
        within = abs(pred / meas - 1.0) <= tol
        out.append(Case(f"{row['id']}:{metric.split()[0]}", metric, pred, meas, source, tolerance=tol,
                        bound=tol if within or bound is None else bound, gap="" if within else gap,
                        fit=row.get("fit") or "held-out"))
    return out


def run_suite(max_requests: int | None = None) -> list[Case]:
    """Every row of this suite's files (``data_files()``): its TPOT and output-throughput cases."""
    return [c for row in inferencex_rows() for c in run_row(row, max_requests)]
