"""Serving validation against TensorRT-LLM maximum-throughput measurements (data/inference.csv):
median |error| <= 10 %, every row within 20 %."""

import statistics

from sim.app.validation import serving as validation


def test_shipped_cases_carry_their_citation():
    rows = validation.cases()
    assert len(rows) == 20
    assert all(r["source"] and r["source_url"] and r["value"] for r in rows)


def test_trtllm_max_throughput_within_stated_error():
    rows = validation.run_suite()
    errors = [abs(r["error"]) for r in rows]
    assert all(set(r) >= {"case", "metric", "predicted", "measured", "error", "source"} for r in rows)
    assert statistics.median(errors) <= 0.10
    worst = max(rows, key=lambda r: abs(r["error"]))
    assert abs(worst["error"]) <= 0.20, worst
