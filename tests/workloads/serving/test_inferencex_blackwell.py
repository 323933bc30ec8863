"""InferenceX (SemiAnalysis) TensorRT-LLM runs on Blackwell at a known concurrency
(workloads/serving/data/inferencex_blackwell.csv, issue 12 infxbw): the file's columns and what its
runs bound of the post-1.0 executor's host time (engines.toml [trtllm] / [trtllm-serve])."""

import csv
from pathlib import Path

import pytest

from sim.hardware import gpu as gpu_spec
from workloads.serving import engines

DATA = Path(__file__).resolve().parents[3] / "workloads" / "serving" / "data"
FILE = DATA / "inferencex_blackwell.csv"
# the InferenceX run's own columns (as inferencex_trtllm.csv; sim/app/validation/serving_inferencex.py)
RUN_COLUMNS = ("concurrency", "num_prompts", "random_range_ratio", "image", "max_batch_size", "max_num_tokens",
               "kv_cache_free_gpu_mem_fraction", "kv_cache_dtype", "cuda_graph_max_batch_size", "moe_backend",
               "run_url", "date")
GPU = {"B200": "B200-180GB", "GB200": "GB200"}


def _rows():
    with FILE.open() as f:
        return list(csv.DictReader(f))


def test_columns_are_the_heldout_files_plus_the_runs():
    with (DATA / "inference_heldout.csv").open() as f:
        heldout = next(csv.reader(f))
    with FILE.open() as f:
        header = next(csv.reader(f))
    assert set(heldout) <= set(header)
    assert set(RUN_COLUMNS) <= set(header)


def test_rows_are_tensorrt_llm_on_blackwell_with_their_measurements():
    rows = _rows()
    assert len(rows) >= 10
    for r in rows:
        assert r["framework"].startswith("TensorRT-LLM"), r["id"]
        assert r["gpu_type"].split()[0] in GPU, r["id"]
        assert "tensorrt-llm/release:" in r["image"], r["id"]
        assert int(r["concurrency"]) > 0 and int(r["num_prompts"]) >= int(r["concurrency"]), r["id"]
        assert float(r["tpot_or_itl_ms"]) > 0 and float(r["ttft_ms"]) > 0 and float(r["value"]) > 0, r["id"]
        assert r["source_url"] and r["source_location"] and r["fit"] == "held-out", r["id"]
        # output tokens/s per GPU cannot exceed what the concurrency allows at the measured TPOT
        seqs_per_gpu = int(r["concurrency"]) / int(r["tp"])
        assert float(r["value"]) <= seqs_per_gpu / (float(r["tpot_or_itl_ms"]) * 1e-3) * 1.01, r["id"]


@pytest.mark.parametrize("engine", ["trtllm", "trtllm-serve"])
def test_host_term_does_not_cap_the_runs_below_their_measured_step(engine):
    """A step of S sequences takes at least the overlap scheduler's host work (overlap_us_per_seq x S,
    on the GPU's host: hardware.toml host_speed) plus the unhidden per-step and per-sequence host time
    (step_us, step_us_per_seq); every InferenceX run decodes ~concurrency sequences per step (no
    attention DP) at its mean TPOT, which includes its prefill steps: so each profile's host time at
    that batch must stay below the TPOT. These runs are GPU-bound, so they bound the post-1.0 host term
    loosely (GPT-OSS-120B TP1 at 128 sequences, 12.8 ms: <= 100 us per sequence-step; TP8 at 4, 2.16 ms:
    the per-step host floor <= 2.16 ms); the held-out trtllm-bench rows (GPT-OSS-20B B200 TP1 1000/1000,
    53,812 tokens/s at up to 2,048 sequences) bound it to <= 18.6 us, which is tighter."""
    for r in _rows():
        S = int(r["concurrency"])
        prof = engines.profile(engine).on_host(gpu_spec(GPU[r["gpu_type"].split()[0]]).host_speed)
        host_us = max(prof.overlap_us_per_seq * S, 0.0) + prof.step_us + prof.step_us_per_seq * S
        assert host_us < float(r["tpot_or_itl_ms"]) * 1e3, (engine, r["id"], host_us)
