"""Serving validation against TensorRT-LLM maximum-throughput measurements (data/inference.csv):
median |error| <= 10 %, every row within 20 %."""

import statistics

import pytest

from sim.app.validation import serving as validation


def test_shipped_cases_carry_their_citation():
    rows = validation.cases()
    assert len(rows) == 20
    assert all(r["source"] and r["source_url"] and r["value"] for r in rows)


def test_trtllm_max_throughput_within_stated_error():
    rows = validation.run_suite(published=False)
    errors = [abs(r["error"]) for r in rows]
    assert all(set(r) >= {"case", "metric", "predicted", "measured", "error", "source"} for r in rows)
    assert statistics.median(errors) <= 0.10
    worst = max(rows, key=lambda r: abs(r["error"]))
    assert abs(worst["error"]) <= 0.20, worst


@pytest.fixture(scope="module")
def published():
    return validation.run_published()


def test_published_runs_within_tolerance_or_explained(published):
    """Every case of ../shared/cases/serving we own (copied with its citation): within 15 % on its
    headline figure and 25 % on latencies, or a recorded gap whose error must stay under its bound."""
    rows = published
    assert {r["case"] for r in rows} >= {"qwen3_32b_h100_32k_throughput", "qwen3_8b_h100_c4_ttft",
                                          "qwen3_8b_h100_eagle3_tpot", "dsr1_h200_tp8_c64_tpot",
                                          "r1llama70b_pd_h100_ttft"}
    for r in rows:
        assert r["source"], r
        if not r["gap"]:
            assert abs(r["error"]) <= r["tolerance"], r
        else:
            assert abs(r["error"]) <= r["bound"], r


def test_low_load_ttft_no_longer_off_by_a_factor(published):
    # Qwen3-8B on one H100, concurrency 4 (vLLM): 64 ms measured; 9.8 ms before host time was modelled
    # concurrency 2, 4 and 8: held out of the fit of vLLM's per-request path (concurrency 1)
    for case in ("qwen3_8b_h100_c2_ttft", "qwen3_8b_h100_c4_ttft", "qwen3_8b_h100_c8_ttft"):
        row = next(r for r in published if r["case"] == case)
        assert abs(row["error"]) <= 0.25, row


def test_speculative_decoding_tpot_within_tolerance(published):
    # EAGLE3 on Qwen3-8B-FP8 (SGLang): 3.75 ms measured; 2.30 ms before the draft/verify/host terms
    row = next(r for r in published if r["case"] == "qwen3_8b_h100_eagle3_tpot")
    assert abs(row["error"]) <= 0.15, row
