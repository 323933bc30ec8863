"""Serving validation: predicted maximum throughput against published TensorRT-LLM measurements.

Vocabulary:
- case: one row of ``data/inference.csv`` (copied with its citation columns from the shared
  reference set): model, GPU, precision, fixed input/output lengths, burst arrivals ("infinite
  request rate"), the number of requests, the measured total output tokens/s.
- deployment of a case: one replica, tp from the row, ``scheduler = "orca"`` (TensorRT-LLM's
  in-flight batching mixes context and generation requests in one iteration and, with its default
  guaranteed-no-evict capacity scheduler, reserves KV for prompt + output at admission),
  ``max_batch_size = 2048`` and ``max_batch_tokens = 8192`` (trtllm-bench / TensorRT-LLM default
  limits), ``gpu_memory_utilization = 0.95`` (the row's ``kv_cache_free_gpu_mem_fraction``).
- ``run_suite()``: rows with case, metric, predicted, measured, error (signed, relative), source.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from sim.config import load_config
import workloads.serving

DATA = Path(workloads.serving.__file__).resolve().parent / "data" / "inference.csv"

MODEL_PRESETS = {"Llama 3.1 8B": "llama3-8b", "Llama 3.1 70B": "llama3-70b", "Llama 3.3 70B": "llama3-70b",
                 "Llama 3.1 405B": "llama3-405b"}
GPUS = {"H100": "H100-SXM-80GB", "H200": "H200-SXM-141GB", "B200": "B200-180GB", "A100": "A100-SXM-80GB"}


def cases() -> list[dict]:
    with DATA.open() as f:
        return list(csv.DictReader(f))


def case_config(row: dict, max_requests: int | None = None):
    gpu = next(v for k, v in GPUS.items() if row["gpu_type"].startswith(k))
    tp = int(row["tp"] or 1)
    pp = int(row["pp"] or 1)
    m = re.search(r"(\d+) requests", row["batch_or_concurrency"])
    n = int(m.group(1)) if m else 1000
    if max_requests:
        n = min(n, max_requests)
    data = {
        "run": {"kind": "serve", "name": row["id"]},
        "topology": {"gpu": gpu, "gpus": tp * pp, "gpus_per_node": max(tp * pp, 1), "fabric": "none"},
        "model": {"preset": MODEL_PRESETS[row["model"]]},
        "serve": {"tp": tp, "pp": pp, "scheduler": "orca", "max_batch_size": 2048, "max_batch_tokens": 8192,
                  "precision": row["precision"].lower(), "kv_precision": row["precision"].lower(),
                  "gpu_memory_utilization": 0.95},
        "workload": {"arrival": "burst", "requests": n, "input_tokens": int(row["input_len_tokens"]),
                     "output_tokens": int(row["output_len_tokens"])},
    }
    return load_config(data=data)


def run_case(row: dict, max_requests: int | None = None) -> dict:
    from sim.app.runner import run
    cfg = case_config(row, max_requests)
    result = run(cfg)
    predicted = float(result.summary["output_tokens_per_s"])
    measured = float(row["value"])
    return {"case": row["id"], "metric": "output_tokens_per_s", "predicted": predicted, "measured": measured,
            "error": (predicted - measured) / measured,
            "source": f"{row['source']}; {row['source_location']}; {row['source_url']}"}


def run_suite(max_requests: int | None = 3000) -> list[dict]:
    """Every shipped case. ``max_requests`` caps a case's request count (throughput is measured
    in steady state, which a few thousand requests reach; None runs the published counts)."""
    return [run_case(row, max_requests) for row in cases()]


if __name__ == "__main__":  # pragma: no cover
    import statistics
    rows = run_suite()
    for r in rows:
        print(f"{r['case']:45s} {r['predicted']:9.0f} {r['measured']:9.0f} {r['error']:+7.1%}")
    print("median |error|", statistics.median(abs(r["error"]) for r in rows))
