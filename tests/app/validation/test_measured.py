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
    # The rows ran PyTorch's SDPA, which has no split-KV kernel (README caveat): the validation
    # prices them with ``split_kv = False`` (one CTA per sequence and KV head, each streaming at
    # most calibration.toml [attention] cta_read_GBps, fitted to the H100 batch-1 rows; H200 rows
    # held out). Achieved: median 2.1 %, worst 13.6 % (H200 batch 256, context 512). Before
    # (issue 12): worst 17.6 % (H100) and 24.7 % (H200), one sequence over 8,192 keys predicted
    # too fast and over 512 too slow (+13.7 / +14.8 %: a one-token GEMM was charged more tensor
    # time than an eight-token one).
    s = mv.summarize(rows)["decode"]
    assert s["median_abs"] <= 0.05, s
    assert s["max_abs"] <= 0.15, s


def test_single_sequence_decode_follows_context(rows):
    # the shape of a one-sequence step over context 512 -> 8,192 (+39 % on H100, +53 % on H200):
    # each within 5 % (were +13.7 / +5.9 / -17.6 % and +14.8 / +3.7 / -24.7 %); the H200 rows and
    # the H100 batch-8 rows are held out of the cta_read_GBps fit
    b1 = {r["case"]: r for r in rows if "_decode_b1_" in r["case"]}
    assert len(b1) == 6
    for case, r in b1.items():
        assert abs(r["error"]) <= 0.05, (case, r["error"])
    for gpu in ("h100", "h200"):
        for slow, fast in (("8192", "2048"), ("2048", "512")):
            a, b = b1[f"{gpu}_decode_b1_ctx{slow}"], b1[f"{gpu}_decode_b1_ctx{fast}"]
            assert a["predicted"] / b["predicted"] == pytest.approx(a["measured"] / b["measured"], rel=0.05)
    held = [r for r in rows if r["case"].endswith("_decode_b8_ctx8192")]
    assert held and all(abs(r["error"]) <= 0.05 for r in held), held


def test_prefill_within_stated_error(rows):
    # The prompts' attention ran through SDPA's flash backend (FlashAttention-2), priced with the
    # [<GPU>.fa2] curves fitted to the attention table's flash rows (the serving rows themselves
    # are never fitted). Achieved: median 4.0 %, worst 5.7 % (8.8 % / 11.6 % with cuDNN's curves,
    # mostly too fast on long prompts; 13.6 % / 17.7 % before the shared layer model).
    s = mv.summarize(rows)["prefill"]
    assert s["median_abs"] <= 0.06, s
    assert s["max_abs"] <= 0.08, s


def test_training_layers_within_stated_error(rows):
    # Achieved: median 11.0%, worst 20.9%, predicted faster: eager LayerNorm/GELU/bias kernels
    # reach ~2/3 of copy bandwidth, and the layer's SDPA did not pick cuDNN's attention.
    s = mv.summarize(rows)["layer"]
    assert s["median_abs"] <= 0.12, s
    assert s["max_abs"] <= 0.25, s


def test_decode_time_grows_with_batch_and_context_as_measured(rows):
    # the model must order rows as the GPU does where the measured gap is large (> 20%), the
    # single-sequence long-context rows included (priced with SDPA's grid, see above)
    dec = [r for r in rows if "_decode_" in r["case"]]
    for a in dec:
        for b in dec:
            if a["case"][:4] == b["case"][:4] and a["measured"] > 1.2 * b["measured"]:
                assert a["predicted"] > b["predicted"], (a["case"], b["case"])
