"""Serving validation on SemiAnalysis InferenceX (InferenceMAX) runs of TensorRT-LLM at a known concurrency.

Vocabulary:
- row: one line of a ``workloads/serving/data/inferencex_*.csv`` file (every such file is read:
  ``inferencex_trtllm.csv`` holds the Hopper runs, other files add other GPUs in the same columns). The
  columns are those of ``inference_heldout.csv`` (id, citation, model, precision, gpu_type, tp, ep,
  dp_attention yes/no, input/output lengths, ``value`` = output tokens/s per GPU, ``ttft_ms``,
  ``tpot_or_itl_ms`` = the run's mean TPOT) plus the run's own: ``concurrency`` (benchmark_serving.py
  --max-concurrency), ``num_prompts``, ``random_range_ratio`` (InferenceX's random dataset draws each
  request's input and output length uniformly in [ratio x ISL, ISL] and [ratio x OSL, OSL]),
  ``image`` (the TensorRT-LLM container), ``max_batch_size`` and ``max_num_tokens`` (trtllm-serve's,
  each rank's with attention DP), ``kv_cache_free_gpu_mem_fraction``, ``kv_cache_dtype``,
  ``cuda_graph_max_batch_size`` (cuda_graph_config max_batch_size with enable_padding), ``moe_backend``,
  ``fit`` ("fit" or "held-out": nothing in dcsim is fitted to these rows).
- ``case_config(row)``: the run as trtllm-serve served it (engine ``trtllm-serve``, ``scheduler =
  "orca"`` as every TensorRT-LLM row, the run's KV fraction, KV dtype, limits and CUDA-graph sizes;
  ``dp_attention`` with ``ep = tp`` for DEP rows, ``ep`` from the row otherwise), driven closed-loop
  at the row's concurrency with ``num_prompts`` requests and uniform lengths.
- ``run_suite()``: two ``Case``s per row: ``tpot_mean_s`` (the decode step at a known batch: with
  concurrency C on a TP group every step carries ~C sequences; with attention DP each rank ~C / dp)
  and ``output_tokens_per_s per GPU``; ``KINDS`` holds each kind's tolerance, bound and gap text.
- ``cuda_graph_batch_sizes(max_bs)``: TensorRT-LLM's padded graph sizes for a cuda_graph_config
  max_batch_size (``CudaGraphConfig._generate_cuda_graph_batch_sizes`` with enable_padding: 1, 2, 4,
  then multiples of 8 up to 128, then powers of two up to max_batch_size).

Diagnosis (issue 12: the Hopper attention-DP MoE fault of the held-out trtllm-bench rows). InferenceX's
H200 DeepSeek-R1 FP8 TensorRT-LLM sweep of 2025-12-15 (1.1.0rc2.post2) ran TP8 EP8 without attention DP
at concurrency 4-64 (1k/1k, 1k/8k, 8k/1k) and DEP8 only at 8k/1k concurrency 64, i.e. at most 64
sequences on the TP group and 8 per attention-DP rank: it never reaches the 128-per-rank regime of the
blog anchor (tests/workloads/serving/test_dp_attention.py: dcsim 46.4 ms against ~69-81 ms of pure decode)
or of the held-out max-throughput rows. What it shows, see ``TEP_GAP`` / ``DEP_GAP``: the non-DP MoE
decode step is predicted within -4 to -15 % at 4-64 sequences (weight-bound regime), and the one DEP row
at 8 per rank within -8 %, so the deficit does not exist at small per-rank batches and cannot be a fixed
per-step or per-layer cost of the attention-DP path; it has to grow with the tokens per rank.
"""

from __future__ import annotations

import csv
import math

from sim.app.validation.case import Case
from sim.app.validation.serving import (DATA, EXPERT_ONLY_FP4, GPUS, MODEL_PRESETS, MXFP4_EXPERTS)
from sim.config import load_config
from sim.errors import ConfigError

DATA_GLOB = "inferencex_*.csv"

# TP8 EP8 without attention DP: every step carries the whole batch (<= concurrency) on the TP group
TEP_GAP = (
    "DeepSeek-R1 FP8 on 8 H200, TP8 EP8 without attention DP (TensorRT-LLM 1.1.0rc2.post2, CUTLASS MoE): "
    "the closed-loop TPOT at concurrency 4-64 is predicted 4-15 % short, shortest at 8k/1k (prefill of 8k "
    "prompts interleaved with the decode steps: the model's chunk-free 8k context steps are faster than the "
    "run's) and at concurrency 4-16 (a one-step floor of ~12 ms against the measured 13.7-14.9 ms: the "
    "~1,200 kernels of a 61-layer DeepSeek step with TP all-reduces, not a batch-dependent term). The "
    "growth with the batch (weight reads of more routed experts) matches: 4 -> 64 sequences adds 19.3 ms "
    "measured at 1k/1k and 19.6 ms predicted. Throughput follows TPOT and TTFT (closed loop)")
# the one DEP8 row: 64 sequences over 8 attention-DP ranks, 8 per rank
DEP_GAP = (
    "DeepSeek-R1 FP8 on 8 H200, DEP8 (attention DP, EP8) at 8k/1k concurrency 64: ~8 sequences per rank. "
    "TPOT predicted 8 % short, inside the tolerance: no attention-DP deficit at this per-rank batch (the "
    "held-out max-throughput rows run ~100-250 per rank, the blog anchor 128: there dcsim's step is 30-40 % "
    "short). The throughput is over-predicted because the run's mean TTFT is 4.7 s against dcsim's ~0.8 s: "
    "with attention DP an 8k prompt's context step on one rank holds the other ranks' decode (they wait in "
    "the MoE all-to-all), and TensorRT-LLM's attention_dp_config enable_balance (timeout_iters 60) delays a "
    "new context request until the ranks balance; dcsim's DEP replica admits each rank's prompt at once")

# (row-id substring, tolerance, bound, gap) for the TPOT case and the throughput case of a kind
KINDS = [
    ("h200_trt_dep8", (0.15, 0.15, DEP_GAP), (0.15, 0.25, DEP_GAP)),
    ("h200_trt_tep8", (0.15, 0.20, TEP_GAP), (0.15, 0.25, TEP_GAP)),
]


def kind_of(case_id: str) -> tuple[tuple, tuple]:
    """(tolerance, bound, gap) of the row's TPOT case and of its throughput case."""
    for key, tpot, tput in KINDS:
        if key in case_id:
            return tpot, tput
    return (0.15, None, ""), (0.15, None, "")


def data_files() -> list:
    return sorted(DATA.parent.glob(DATA_GLOB))


def inferencex_rows() -> list[dict]:
    """Every row of every ``inferencex_*.csv`` file, in file then row order."""
    rows = []
    for path in data_files():
        with path.open() as f:
            rows.extend(csv.DictReader(f))
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


def _int(row: dict, key: str, default: int | None = None) -> int:
    v = (row.get(key) or "").strip()
    if not v:
        if default is None:
            raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} is empty")
        return default
    try:
        return int(float(v))
    except ValueError:
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r} is not a number") from None


def _float(row: dict, key: str, default: float) -> float:
    v = (row.get(key) or "").strip()
    if not v:
        return default
    try:
        return float(v)
    except ValueError:
        raise ConfigError(key, f"row {row.get('id', '?')!r}: column {key!r} = {v!r} is not a number") from None


def case_config(row: dict, max_requests: int | None = None):
    """The row's closed-loop run as trtllm-serve served it (see the module docstring)."""
    gpu = next((v for k, v in GPUS.items() if row.get("gpu_type", "").startswith(k)), None)
    if gpu is None:
        raise ConfigError("gpu_type", f"row {row.get('id', '?')!r}: unknown gpu_type {row.get('gpu_type')!r}")
    if row.get("model") not in MODEL_PRESETS:
        raise ConfigError("model", f"row {row.get('id', '?')!r}: unknown model {row.get('model')!r}")
    tp, conc = _int(row, "tp", 1), _int(row, "concurrency")
    isl, osl = _int(row, "input_len_tokens"), _int(row, "output_len_tokens")
    n = _int(row, "num_prompts", 10 * conc)
    if max_requests:
        n = min(n, max_requests)
    ratio = _float(row, "random_range_ratio", 1.0)
    precision = row["precision"].lower()
    kv = (row.get("kv_cache_dtype") or "").strip().lower() or {"fp4": "fp8"}.get(precision, precision)
    expert_precision = expert_compute = None
    if precision == "fp4" and row["model"] in EXPERT_ONLY_FP4:
        precision, expert_precision, expert_compute = "fp8", "fp4", "fp4"
    if row["model"] in MXFP4_EXPERTS:
        precision, kv_default, expert_compute = MXFP4_EXPERTS[row["model"]][precision]
        kv = (row.get("kv_cache_dtype") or "").strip().lower() or kv_default
        expert_precision = "mxfp4"
    dep = row.get("dp_attention", "") == "yes"
    ranks = tp if dep else 1
    max_bs = _int(row, "max_batch_size", 2048)
    max_tokens = _int(row, "max_num_tokens", 8192)
    graph_bs = _int(row, "cuda_graph_max_batch_size", 0)
    lo = lambda n_: max(int(math.ceil(ratio * n_)), 1)
    data = {
        "run": {"kind": "serve", "name": row["id"]},
        "topology": {"gpu": gpu, "gpus": tp, "gpus_per_node": max(tp, 1), "fabric": "none"},
        "model": {"preset": MODEL_PRESETS[row["model"]]},
        "serve": {"engine": "trtllm-serve", "tp": tp, "scheduler": "orca", "precision": precision,
                  "kv_precision": kv, "gpu_memory_utilization": _float(row, "kv_cache_free_gpu_mem_fraction", 0.9),
                  # trtllm-serve's limits are each rank's with attention DP; dcsim's the replica's
                  "max_batch_size": max_bs * ranks, "max_batch_tokens": max_tokens * ranks},
        "workload": {"arrival": "closed", "concurrency": conc, "requests": n,
                     "input_tokens": {"dist": "uniform", "min": lo(isl), "max": isl} if ratio < 1 else isl,
                     "output_tokens": {"dist": "uniform", "min": lo(osl), "max": osl} if ratio < 1 else osl},
    }
    if graph_bs:
        data["serve"]["cuda_graph_batch_sizes"] = cuda_graph_batch_sizes(graph_bs)
    if expert_precision:
        data["serve"]["expert_precision"] = expert_precision
    if expert_compute:
        data["serve"]["expert_compute_precision"] = expert_compute
    if dep:
        data["serve"].update(dp_attention=True, ep=tp)
    elif _int(row, "ep", 1) > 1:
        data["serve"]["ep"] = _int(row, "ep", 1)
    return load_config(data=data)


def step_cost(row: dict):
    """The step-cost model (``IterationCost``, or ``DpAttentionCost`` for a DEP row) of the row's
    deployment as ``case_config`` builds it: ``.batch(tokens, sequences, pairs, kv_read)`` prices one
    step at a chosen batch (the diagnosis's pure decode steps)."""
    import topologies
    from sim.app.runner import build_fabric
    from sim.simulation import Simulation
    from workloads.serving.deployment import Deployment
    from workloads.serving.requests import build_stream
    cfg = case_config(row)
    sim = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    return Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim)).cost


def run_row(row: dict, max_requests: int | None = None) -> list[Case]:
    """The row's TPOT case and output-throughput-per-GPU case."""
    from sim.app.runner import run
    s = run(case_config(row, max_requests)).summary
    source = f"{row['source']}; {row['source_location']}; {row['source_url']}"
    (t_tol, t_bound, t_gap), (o_tol, o_bound, o_gap) = kind_of(row["id"])
    out = []
    for metric, pred, meas, tol, bound, gap in (
            ("tpot_mean_s", float(s["tpot_mean_s"]), float(row["tpot_or_itl_ms"]) / 1e3, t_tol, t_bound, t_gap),
            ("output_tokens_per_s per GPU", float(s["output_tokens_per_s"]) / _int(row, "gpu_count", 1),
             float(row["value"]), o_tol, o_bound, o_gap)):
        within = abs(pred / meas - 1.0) <= tol
        out.append(Case(f"{row['id']}:{metric.split()[0]}", metric, pred, meas, source, tolerance=tol,
                        bound=tol if within or bound is None else bound, gap="" if within else gap,
                        fit=row.get("fit") or "held-out"))
    return out


def run_suite(max_requests: int | None = None) -> list[Case]:
    """Every row of every ``inferencex_*.csv``: its TPOT and output-throughput cases."""
    return [c for row in inferencex_rows() for c in run_row(row, max_requests)]
