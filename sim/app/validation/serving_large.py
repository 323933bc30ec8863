"""Serving validation on the larger models of the TensorRT-LLM performance overview (v1.0 docs):
Llama 3.3 70B and Llama 3.1 405B, FP8 on H200/H100 and NVFP4 on B200/GB200
(``workloads/serving/data/inference_large.csv``). Column ``fit`` of each row says whether the B200
serving constants (sim/data/compute.toml [B200]) were fitted to it or it is held out; rows are
``serving.run_case`` rows (plus ``fit``).
"""

from __future__ import annotations

from sim.app.validation.serving import DATA_LARGE, large_cases, run_case


def run_suite(max_requests: int | None = None) -> list[dict]:
    """Every 70B / 405B row; ``max_requests`` caps a row's request count (None: the published
    counts, as ``serving.run_suite``)."""
    return [run_case(row, max_requests, where=DATA_LARGE.stem) for row in large_cases()]
