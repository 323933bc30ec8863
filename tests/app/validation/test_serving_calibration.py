"""The serving refit machinery (sim/app/validation/serving_calibration.py): fit sets, in-process overrides of the
data files, and the losses; the refit results themselves are pinned where the constants live
(tests/workloads/serving/test_cost.py, tests/app/validation/test_serving.py)."""

import math

import pytest

from sim.app.validation import serving_calibration as cal


def test_fit_sets_are_the_rows_the_constants_were_fitted_to():
    assert len(cal.fit_rows("8b")) == 20
    b200 = cal.fit_rows("b200")
    assert len(b200) == 10
    assert all(r["fit"] == "fit" and r["gpu_type"].startswith("B200") and r["model"] == "Llama 3.3 70B"
               and r["precision"] == "FP4" for r in b200)
    mi355x = cal.fit_rows("mi355x")
    assert [r["id"] for r in mi355x] == ["infx_dsr1_mxfp4_mi355x_sglang_tp4_1024_1024_c4",
                                         "infx_dsr1_mxfp4_mi355x_sglang_tp8_1024_8192_c4"]
    with pytest.raises(ValueError):
        cal.fit_rows("heldout")


def test_overrides_apply_in_the_block_and_are_restored():
    from sim.compute import constants_row
    from workloads.serving.cost import calibration
    from workloads.serving.engines import profile
    shipped = cal.B200Constants.shipped()
    kv = calibration()["attention"]["kv_read_efficiency"]
    over = {"compute": {"GB200": {"serve_fp4_gemm_factor": 0.5, "new_key": 1.0}},
            "calibration": {"attention": {"kv_read_efficiency": 0.9}},
            "engines": {"trtllm": {"split_mixed_attention": False}}}
    with cal.overridden(over):
        assert constants_row("B200-180GB")["serve_fp4_gemm_factor"] == 0.5
        assert calibration()["attention"]["kv_read_efficiency"] == 0.9
        assert profile("trtllm").split_mixed_attention is False
    assert cal.B200Constants.shipped() == shipped
    assert "new_key" not in constants_row("B200-180GB")
    assert calibration()["attention"]["kv_read_efficiency"] == kv
    assert profile("trtllm").split_mixed_attention is True
    with pytest.raises(KeyError):
        with cal.overridden({"hardware": {}}):
            pass
    assert cal.B200Constants.shipped() == shipped       # restored after a failed override too


def test_a_faster_fp4_gemm_raises_a_b200_rows_throughput():
    """The override reaches the run: a prefill-heavy B200 fit row (5000/500, compute-bound NVFP4 GEMMs)
    runs faster with a larger FP4 GEMM factor, by less than the factor's ratio (attention and the decode
    steps' reads do not scale with it)."""
    row = next(r for r in cal.fit_rows("b200") if r["id"].endswith("_5000_500"))
    base, fast = (1.0 + e for e in (cal.errors([row], cal.B200Constants(f, 0.6).overrides(), max_requests=64)[0]
                                    for f in (0.6, 0.7)))
    assert 1.0 < fast / base < 0.7 / 0.6


def test_losses():
    errs = [0.1, -0.1, 0.02]
    assert cal.worst(errs) == pytest.approx(0.1)
    assert cal.median_abs(errs) == pytest.approx(0.1)
    assert cal.median_abs([0.01, -0.03]) == pytest.approx(0.02)
    assert cal.msle(errs) == pytest.approx((math.log(1.1) ** 2 + math.log(0.9) ** 2 + math.log(1.02) ** 2) / 3)


def test_mi355x_launch_gap_override_reaches_the_decode_step():
    """compute.toml [MI355X] serve_launch_us reaches the fit rows' TPOT: a larger per-kernel gap lengthens both
    steps; the shipped 5.6 us holds them within 6 % and the [default] 4.0 us puts both short."""
    rows = cal.fit_rows("mi355x")
    shipped = cal.tpot_errors(rows, cal.MI355XConstants.shipped().overrides())
    before = cal.tpot_errors(rows, cal.MI355XConstants(4.0).overrides())
    assert cal.MI355XConstants.shipped() == cal.MI355XConstants(5.6)
    assert max(abs(e) for e in shipped) <= 0.06
    assert all(b < -0.10 for b in before) and all(b < s for b, s in zip(before, shipped))
