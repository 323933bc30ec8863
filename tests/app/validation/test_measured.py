"""Whole-model times measured on an H100 and an H200 against the serving and training cost
models (validation only: these tables are never fitted; see sim/data/measured/README.md)."""

import pytest

from sim.app import validation as validate
from sim.app.validation import measured as mv


@pytest.fixture(scope="module")
def rows():
    return mv.run_suite()


def test_suite_is_registered_and_complete(rows):
    assert "measured" in validate.SUITES
    kinds = mv.summarize(rows)
    # 2 GPUs x (7 prefill + 14 decode graph rows); 47 H100 layer rows (one ran out of memory)
    assert kinds["prefill"]["rows"] == 14 and kinds["decode"]["rows"] == 28 and kinds["layer"]["rows"] >= 40


def test_decode_steps_within_stated_error(rows):
    # Weight- and KV-bandwidth-bound decode of a Llama 3 8B shape, batch 1-256, context 512-8192.
    # Achieved: median 3.0% (6.8% before serving priced its layers with the shared layer model,
    # workloads/layer_cost.py); worst 17% (H100) and 25% (H200) (were 29% and 35%), both one
    # sequence over 8,192 tokens of context, where PyTorch's SDPA has no split-KV kernel and
    # leaves most SMs idle (README caveat): the model assumes the engine's flash-decoding.
    # Every other row within 15% (was 20%).
    s = mv.summarize(rows)["decode"]
    assert s["median_abs"] <= 0.10, s
    assert s["max_abs"] <= 0.36, s
    others = [abs(r["error"]) for r in rows if "_decode_" in r["case"] and not r["case"].endswith("b1_ctx8192")]
    assert max(others) <= 0.20, max(others)


def test_prefill_within_stated_error(rows):
    # Achieved: median 8.8%, worst 11.6% (13.6% / 17.7% before the shared layer model), mostly
    # predicted faster than measured: the model's attention is cuDNN's fused kernel (what it
    # was fitted to); SDPA's GQA path ran slower.
    s = mv.summarize(rows)["prefill"]
    assert s["median_abs"] <= 0.15, s
    assert s["max_abs"] <= 0.25, s


def test_training_layers_within_stated_error(rows):
    # Achieved: median 11.0%, worst 20.9%, predicted faster: eager LayerNorm/GELU/bias kernels
    # reach ~2/3 of copy bandwidth, and the layer's SDPA did not pick cuDNN's attention.
    s = mv.summarize(rows)["layer"]
    assert s["median_abs"] <= 0.12, s
    assert s["max_abs"] <= 0.25, s


def test_decode_time_grows_with_batch_and_context_as_measured(rows):
    # the model must order rows as the GPU does where the measured gap is large (> 20%)
    # (the single-sequence long-context rows excepted: PyTorch's kernel, see above)
    dec = [r for r in rows if "_decode_" in r["case"] and not r["case"].endswith("b1_ctx8192")]
    for a in dec:
        for b in dec:
            if a["case"][:4] == b["case"][:4] and a["measured"] > 1.2 * b["measured"]:
                assert a["predicted"] > b["predicted"], (a["case"], b["case"])
