"""TensorRT-LLM steps at a known batch: dcsim's decode step and engine host time against the per-step
figures TensorRT-LLM's runs publish (``print_iter_log`` lines, and runs whose per-user speed fixes the
step at a known per-rank batch).

Vocabulary:
- row: one line of ``workloads/serving/data/trtllm_iter_logs.csv`` (sourced: ``quote`` copies the
  published line(s), ``source_url`` / ``source_location`` say where; ``version`` the TensorRT-LLM build).
  Columns: the run's model (``model_preset``), GPU (dcsim's part name), ``tp`` / ``ep`` / ``dp_attention``
  (yes: attention DP over the tp ranks, ep = tp), ``precision`` / ``expert_precision`` /
  ``expert_compute_precision`` / ``kv_precision`` (dcsim's serve keys), ``engine`` (trtllm: the
  trtllm-bench path, trtllm-serve), ``isl`` / ``osl``, ``concurrency`` (requests in flight, the replica's),
  ``per_rank_batch`` (sequences a rank's decode step carries), ``context_tokens`` (a sequence's mean KV
  length during its decode), ``max_batch_size`` / ``max_num_tokens`` (each rank's, as TensorRT-LLM's
  per-rank executors read them), ``cuda_graph_batch_sizes`` (space-separated; empty: the engine's),
  ``kv_cache_free_gpu_mem_fraction``, ``sim_requests`` (requests of dcsim's closed-loop run),
  the measurement (``measured_step_ms``, ``measured_output_tps``, ``measured_exposed_host_ms``) and ``fit``.
- ``kind``, what the row measured:
  ``iter_log_decode_step``: ``prev_device_step_time`` of pure decode iterations (num_ctx_tokens 0) at
  ``num_scheduled_requests`` = the batch: compared with dcsim's GPU step (compute + collectives) of that
  batch at ``context_tokens`` (``decode_step``).
  ``iter_log_host_step_mean``: the mean ``host_step_time`` over a run's iterations (with the overlap
  scheduler a loop's period): compared with the mean time per output token of dcsim's closed-loop run
  (``tpot_mean_s``, its steps with prefill included).
  ``bench_per_user``: a trtllm-bench run at a batch that fills every rank's ``max_batch_size``
  (concurrency = ranks x per-rank batch), per-user speed = 1 / its mean time per output token. Two
  cases: its output tokens/s against dcsim's run, and the pure-decode step it implies (the measured time
  per token less the share dcsim's own run spends in its prefill-carrying steps, ``tpot_mean - decode
  step``) against dcsim's decode step.
  ``bench_concurrency``: a trtllm-bench run whose source states the concurrency it held (requests in
  flight) but no per-user speed: the step is ``concurrency`` / output tokens/s (Little's law); its two
  cases as ``bench_per_user``'s.
  ``serve_throughput``: a trtllm-serve run at a known concurrency: output tokens/s against dcsim's run,
  and the exposed host time per step (``measured_exposed_host_ms``) against dcsim's (step time less its
  GPU time at the batch).
- ``run_suite()``: the ``Case``s, each with its ``bound`` and ``gap`` (``KINDS``: a gap is pinned, a test
  fails when the model moves it).

What the table shows (issue 12, iterlog): DeepSeek-R1 under attention DP on one 8-GPU NVLink server at
128-896 sequences per rank runs its pure-decode step 1.6-1.9x slower than dcsim's, on H200 (FP8, 128 per rank:
~80 vs 46 ms) and on B200 (NVFP4 experts, a mid-2025 build: 384 per rank ~74 vs 47 ms, 896 per rank ~147 vs
79 ms); the same model's TP8 EP8 decode without attention DP (H200, 32 sequences at 8.7k context, an
iter-log figure) is within 3 % of dcsim's. Version: the H200 deficit holds at the April-2025 builds (the blog at
128 per rank; TensorRT-LLM PR #3439's base at 159 per rank, ~117 vs 59 ms, plain padded NCCL all-gather /
reduce-scatter) and the post-1.0 perf overview alike; the B200 one is seen on the mid-2025 build only (the post-1.0 B200 DEP4
1000/1000 row is -9.6 %, serving_heldout DSR1_GAP). See ``DEP_LARGE_BATCH_GAP``.
"""

from __future__ import annotations

from pathlib import Path

from sim.app.validation import gap_text
from sim.app.validation.case import Case, column_number, column_yes, read_rows
from sim.errors import ConfigError

DATA = Path(__file__).resolve().parents[3] / "workloads" / "serving" / "data" / "trtllm_iter_logs.csv"

KINDS_OF_ROW = ("iter_log_decode_step", "iter_log_host_step_mean", "bench_per_user", "bench_concurrency",
                "serve_throughput")

# The gap texts: one block of sim/data/validation/iter_logs_gaps.toml each (gap_text.load composes a block's
# ``before`` blocks, its text and its ``after`` blocks); its header says how to add or extend one.
GAP_FILE = "iter_logs_gaps.toml"
_GAPS = gap_text.load(GAP_FILE)
DEP_LARGE_BATCH_GAP = _GAPS["DEP_LARGE_BATCH_GAP"]
TEP_STEP = _GAPS["TEP_STEP"]
GPTOSS_HOST_FIT = _GAPS["GPTOSS_HOST_FIT"]
LLAMA_SERVE = _GAPS["LLAMA_SERVE"]

# (kind, metric) -> (bound on |error|, gap text); a case over its bound fails the test
KINDS = {
    ("bench_per_user", "output_tokens_per_s"): (0.65, DEP_LARGE_BATCH_GAP),
    ("bench_per_user", "decode_step_s"): (0.50, DEP_LARGE_BATCH_GAP),
    ("bench_concurrency", "output_tokens_per_s"): (0.90, DEP_LARGE_BATCH_GAP),
    ("bench_concurrency", "decode_step_s"): (0.60, DEP_LARGE_BATCH_GAP),
    ("iter_log_decode_step", "device_step_s"): (0.10, TEP_STEP),
    ("iter_log_host_step_mean", "host_step_time_mean_s"): (0.15, GPTOSS_HOST_FIT),
    ("serve_throughput", "output_tokens_per_s"): (0.20, LLAMA_SERVE),
    ("serve_throughput", "exposed_host_s"): (0.25, LLAMA_SERVE),
}


# the columns the suite reads (the file's header must hold each; ``model``, ``per_rank_batch`` of a
# non-bench row and ``note`` are documentation)
COLUMNS = ("id", "kind", "model_preset", "gpu", "tp", "ep", "dp_attention", "precision", "expert_precision",
           "expert_compute_precision", "kv_precision", "engine", "isl", "osl", "concurrency", "per_rank_batch",
           "context_tokens", "max_batch_size", "max_num_tokens", "cuda_graph_batch_sizes",
           "kv_cache_free_gpu_mem_fraction", "sim_requests", "version", "measured_step_ms", "measured_output_tps",
           "measured_exposed_host_ms", "quote", "source_url", "source_location", "fit")


def rows() -> list[dict]:
    """The rows of ``trtllm_iter_logs.csv`` (``COLUMNS`` checked: a missing column is a ConfigError naming
    it and the file)."""
    return read_rows(DATA, COLUMNS)


def _num(row: dict, key: str, kind=float, required: bool = True):
    return column_number(row, key, "trtllm_iter_logs", kind, required)


def _text(row: dict, key: str) -> str:
    v = (row.get(key) or "").strip()
    if not v:
        raise ConfigError(f"trtllm_iter_logs.{key}", f"row {row.get('id', '?')!r}: {key} is missing or empty")
    return v


def row_config(row: dict):
    """The row's run as dcsim's config: its engine, parallelism, precisions, per-rank limits (times the
    ranks under attention DP: dcsim's replica-wide ``max_batch_size`` / ``max_batch_tokens``), CUDA-graph
    sizes and KV fraction, driven closed-loop at ``concurrency`` with ``sim_requests`` requests of
    ``isl`` / ``osl`` tokens (uniform). A row with a bad column raises ConfigError naming it."""
    from sim.config import load_config
    if row.get("kind") not in KINDS_OF_ROW:
        raise ConfigError("trtllm_iter_logs.kind", f"row {row.get('id', '?')!r}: kind {row.get('kind')!r} "
                          f"is not one of {', '.join(KINDS_OF_ROW)}")
    tp = _num(row, "tp", int)
    dp = column_yes(row, "dp_attention", "trtllm_iter_logs")
    ranks = tp if dp else 1
    serve = {"engine": _text(row, "engine"), "tp": tp, "scheduler": "orca",
             "precision": _text(row, "precision"), "kv_precision": _text(row, "kv_precision")}
    for key in ("expert_precision", "expert_compute_precision"):
        if row.get(key):
            serve[key] = row[key]
    ep = _num(row, "ep", int, required=False) or 1
    if dp:
        serve.update(dp_attention=True, ep=tp)
    elif ep > 1:
        serve["ep"] = ep
    mbs = _num(row, "max_batch_size", int, required=False)
    if mbs:
        serve["max_batch_size"] = mbs * ranks
    mnt = _num(row, "max_num_tokens", int, required=False)
    if mnt:
        serve["max_batch_tokens"] = mnt * ranks
        serve["chunk_size"] = mnt * ranks
    frac = _num(row, "kv_cache_free_gpu_mem_fraction", float, required=False)
    if frac:
        serve["gpu_memory_utilization"] = frac
    if (row.get("cuda_graph_batch_sizes") or "").strip():
        try:
            serve["cuda_graph_batch_sizes"] = [int(b) for b in row["cuda_graph_batch_sizes"].split()]
        except ValueError:
            raise ConfigError("trtllm_iter_logs.cuda_graph_batch_sizes",
                              f"row {row['id']!r}: {row['cuda_graph_batch_sizes']!r} is not a list of integers") from None
    conc = _num(row, "concurrency", int)
    data = {"run": {"kind": "serve", "name": _text(row, "id")},
            "topology": {"gpu": _text(row, "gpu"), "gpus": tp, "gpus_per_node": tp, "fabric": "none"},
            "model": {"preset": _text(row, "model_preset")}, "serve": serve,
            "workload": {"arrival": "closed", "concurrency": conc,
                         "requests": _num(row, "sim_requests", int, required=False) or 4 * conc,
                         "input_tokens": _num(row, "isl", int), "output_tokens": _num(row, "osl", int)}}
    try:
        return load_config(data=data)
    except ConfigError as e:   # a value dcsim refuses (an unknown GPU, precision, engine ...): name the row
        raise ConfigError(e.key, f"{DATA.name} row {row['id']!r}: {e.reason}") from None


def decode_step(row: dict) -> dict:
    """dcsim's pure-decode step of the row's batch: ``per_rank_batch`` sequences on every rank, each over
    ``context_tokens`` of KV (the layer-averaged KV it reads with sliding windows): ``time_s`` (with the
    engine's host time), ``gpu_s`` (compute + collectives: what ``prev_device_step_time`` times),
    ``exposed_host_s`` (their difference) and, under attention DP, ``ops`` (one rank's step by op,
    ``DpAttentionCost.op_breakdown``). Seconds."""
    cfg = row_config(row)
    from sim.app.validation.serving import deployment
    cost = deployment(cfg).cost
    dp = column_yes(row, "dp_attention", "trtllm_iter_logs")
    B = float(_num(row, "per_rank_batch", int) * (cfg.serve.tp if dp else 1))
    C = _num(row, "context_tokens", float)
    kv = cost.decode_kv_read(C)
    args = (B, B, B * C, B * kv)
    b = cost.batch(*args)
    gpu = b.compute_s + b.comm_s
    out = {"time_s": b.time_s, "gpu_s": gpu, "exposed_host_s": b.time_s - gpu}
    if dp:
        out["ops"] = cost.op_breakdown(*args)
    return out


def run_row(row: dict) -> dict:
    """dcsim's closed-loop run of the row (``row_config``): output tokens/s and mean time per output
    token (seconds)."""
    from sim.app.runner import run
    s = run(row_config(row)).summary
    return {"output_tokens_per_s": float(s["output_tokens_per_s"]), "tpot_mean_s": float(s["tpot_mean_s"])}


def _case(row: dict, metric: str, predicted: float, measured: float) -> Case:
    bound, gap = KINDS[(row["kind"], metric)]
    src = (f"{_text(row, 'source_url')}; {_text(row, 'source_location')}; quote: {_text(row, 'quote')}; "
           f"{_text(row, 'version')}")
    return Case(f"{row['id']}:{metric}", metric, predicted, measured, src, bound=bound, gap=gap,
                fit=_fit(row))


# a row's ``fit`` (the label every serving suite's Case carries: serving.py, serving_heldout.py,
# serving_inferencex.py, kv_logs.csv / trtllm_kv_logs.csv): "fit" (a constant was fitted to it) or "held-out"
FIT_LABELS = ("fit", "held-out")


def _fit(row: dict) -> str:
    v = (row.get("fit") or "").strip()
    if v not in FIT_LABELS:
        raise ConfigError("trtllm_iter_logs.fit", f"row {row.get('id', '?')!r}: fit = {v!r} is not one of "
                                                  f"{', '.join(FIT_LABELS)}")
    return v


def row_cases(row: dict) -> list[Case]:
    """The row's cases (``kind`` says which; module docstring): ``device_step_s`` / ``decode_step_s`` /
    ``host_step_time_mean_s`` / ``exposed_host_s`` in seconds, ``output_tokens_per_s`` in output tokens/s of
    the replica; each ``Case`` carries the row's source, ``KINDS`` bound and gap. A bad row is refused
    (ConfigError naming the column) before any simulation runs."""
    kind = row.get("kind")
    if kind not in KINDS_OF_ROW:
        raise ConfigError("trtllm_iter_logs.kind", f"row {row.get('id', '?')!r}: kind {kind!r} is not one of "
                          f"{', '.join(KINDS_OF_ROW)}")
    for key in ("id", "source_url", "source_location", "quote", "version"):
        _text(row, key)        # before any run: a row without its source is refused at once
    _fit(row)
    step_ms = _num(row, "measured_step_ms", float)
    tps = (_num(row, "measured_output_tps", float)
           if kind in ("bench_per_user", "bench_concurrency", "serve_throughput") else None)
    host_ms = _num(row, "measured_exposed_host_ms", float) if kind == "serve_throughput" else None
    row_config(row)            # every run column checked before the first simulation
    if kind == "iter_log_decode_step":
        return [_case(row, "device_step_s", decode_step(row)["gpu_s"], step_ms / 1e3)]
    if kind == "iter_log_host_step_mean":
        return [_case(row, "host_step_time_mean_s", run_row(row)["tpot_mean_s"], step_ms / 1e3)]
    step, r = decode_step(row), run_row(row)
    cases = [_case(row, "output_tokens_per_s", r["output_tokens_per_s"], tps)]
    if kind in ("bench_per_user", "bench_concurrency"):
        implied = step_ms / 1e3 - (r["tpot_mean_s"] - step["time_s"])
        cases.append(_case(row, "decode_step_s", step["time_s"], implied))
    else:
        cases.append(_case(row, "exposed_host_s", step["exposed_host_s"], host_ms / 1e3))
    return cases


def run_suite() -> list[Case]:
    """Every row's cases (``row_cases``), in file order: 14 for the shipped table, each a ratio of two like
    quantities (tokens/s, or seconds per step) with its source, ``bound`` and ``gap`` from ``KINDS``."""
    return [c for row in rows() for c in row_cases(row)]
