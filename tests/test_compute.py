"""Compute model: fused-attention curves (forward, backward, key length) and GPU aliases."""

import dataclasses

import pytest

from sim.compute import ComputeModel, Op, efficiency_for
from sim.hardware import gpu


def _attn(kind, flops, seq):
    return Op("a", flops, 0.0, 0.0, kind, 1, (seq,))


def test_backward_defaults_to_the_forward_curve():
    e = dataclasses.replace(efficiency_for("H100-SXM-80GB"), attn_bwd_eff_max=0.0,
                            attn_bwd_half_flops=0.0, attn_bwd_half_seq=0.0)
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16", e)
    assert cm.time(_attn("attention_bwd", 1e12, 4096)) == cm.time(_attn("attention", 1e12, 4096))


def test_key_length_term_closed_form():
    e = dataclasses.replace(efficiency_for("H100-SXM-80GB"), launch_us=0.0)
    g = gpu("H100-SXM-80GB")
    cm = ComputeModel(g, "bf16", e)
    f, s = 1e12, 1024.0
    expect = f / (g.peak_flops("bf16") * e.attn_eff_max * f / (f + e.attn_half_flops) * s / (s + e.attn_half_seq))
    assert abs(cm.time(_attn("attention", f, s)) / expect - 1) < 1e-12
    # same work over longer keys runs faster; the backward is slower per FLOP than the forward
    assert cm.time(_attn("attention", f, 8192)) < cm.time(_attn("attention", f, 512))
    assert cm.time(_attn("attention_bwd", f, 2048)) > cm.time(_attn("attention", f, 2048))


def test_h800_uses_h100_compute_constants():
    assert efficiency_for("H800-SXM-80GB") == efficiency_for("H100-SXM-80GB")


def test_scalar_time_of_equals_vectorized_times():
    import numpy as np
    cm = ComputeModel(gpu("H100-SXM-80GB"), "fp8", dataclasses.replace(efficiency_for("H100-SXM-80GB"),
                                                                      fp8_gemm_factor=0.9))
    rng = np.random.default_rng(3)
    for _ in range(300):
        f, b, x = rng.choice([0.0, 1.0]) * 10 ** rng.uniform(5, 13), 10 ** rng.uniform(3, 10), rng.choice([0.0, 1e8])
        code, count, dim = int(rng.integers(0, 3)), float(rng.integers(1, 9)), float(rng.choice([0.0, 7.0, 4096.0]))
        rate = float(rng.choice([0.0, cm.rate("bf16")]))
        want = cm.times([f], [b], [x], [code], [count], [dim], [rate or cm.peak])[0]
        assert abs(cm.time_of(f, b, x, code, count, dim, rate) / want - 1) < 1e-12


def test_precision_per_op_rate():
    """An fp8 model runs its fp8 ops at fp8 peak x the fp8 factor and a bf16-tagged op at bf16."""
    g = gpu("H100-SXM-80GB")
    e = dataclasses.replace(efficiency_for("H100-SXM-80GB"), fp8_gemm_factor=0.8, launch_us=0.0)
    cm = ComputeModel(g, "fp8", e)
    assert cm.peak == g.peak_flops("fp8") * 0.8 and cm.rate("bf16") == g.peak_flops("bf16")
    big = Op("g", 1e13, 1.0, 0.0, "gemm")
    ratio = g.peak_flops("fp8") * 0.8 / g.peak_flops("bf16")
    assert cm.time(dataclasses.replace(big, precision="bf16")) == pytest.approx(cm.time(big) * ratio, rel=1e-12)


def test_fp4_rate_native_on_blackwell_fp8_fallback_on_hopper():
    b200, h100 = gpu("B200-180GB"), gpu("H100-SXM-80GB")
    cb = ComputeModel(b200, "fp4")
    assert cb.rate("fp4") == b200.peak_flops("fp4") * cb.eff.fp4_gemm_factor > cb.rate("fp8")
    ch = ComputeModel(h100, "fp4")       # no fp4 tensor cores: fp8's rate and measured factor
    assert ch.rate("fp4") == ch.rate("fp8") == h100.peak_flops("fp8") * ch.eff.fp8_gemm_factor


# -- calibration status (issue 11: the summaries' `calibrated` column) ------------------------

def test_calibration_status_per_gpu_and_kind():
    from sim.compute import calibration
    assert calibration("A100-SXM-80GB", "train") == (True, [])
    assert calibration("A800-SXM-80GB", "train")[0]          # same die as A100 (same_as)
    ok, missing = calibration("V100S-PCIE-32GB", "train")     # [V100]: one end-to-end fit, no host constants
    assert not ok and "layer_overhead_us" in missing and "gemm_eff_max" not in missing
    ok, missing = calibration("B300-288GB", "train")           # nothing of its own
    assert not ok and "gemm_eff_max" in missing
    # Blackwell's training fit (end to end on Megatron-Bridge rows) writes [default]'s kernel
    # curves into its sections: calibrated for training, not for serving (calibrated_kinds)
    for name in ("B200-180GB", "GB200", "GB300"):
        assert calibration(name, "train") == (True, [])
        ok, missing = calibration(name, "serve")
        assert not ok and "gemm_eff_max" in missing
    # a serving run reads [MI355X] serve_launch_us (fitted to its serving runs) for launch_us:
    # the warning no longer lists it as a default; the kernel curves still are
    ok, missing = calibration("MI355X", "serve")
    assert not ok and "launch_us" not in missing and "gemm_eff_max" in missing
    assert "launch_us" in calibration("MI355X", "train")[1]


def test_blackwell_training_is_calibrated_at_the_precision_its_rows_measured_only():
    # every public Blackwell training row the fit used is FP8: an fp4 run prices its GEMMs with
    # [default]'s assumed fp4_gemm_factor and an fp16 run with the bf16 curve unmeasured at fp16, so
    # neither is calibrated; bf16 is once its section's curve is fitted to bf16 kernels (bf16 on
    # B200 said calibrated = true before its curve was fitted, on GB300 false while it was [default]'s)
    from sim.compute import calibration
    for name in ("B200-180GB", "GB200", "GB300"):
        assert calibration(name, "train", "fp8") == (True, [])
        assert calibration(name, "train", "fp16") == (False, ["gemm_eff_max"])
        assert calibration(name, "train", "fp4") == (False, ["fp4_gemm_factor"])
    # bwbf16: [GB200]'s bf16 curve (the B200 / GB200 die) is fitted to B200 cuBLAS bf16 GEMMs
    # (calibration.fit_blackwell_bf16); gb300bf16: [GB300]'s (Blackwell Ultra) to B300 ones
    # (fit_blackwell_bf16("GB300"), Transformer Engine's GEMM profiling guide), no longer [default]'s
    for name in ("B200-180GB", "GB200", "GB300"):
        assert calibration(name, "train", "bf16") == (True, [])
    # sections without calibrated_precisions: every precision their GPU runs, as before
    for p in ("bf16", "fp8"):
        assert calibration("H100-SXM-80GB", "train", p) == (True, [])
    assert calibration("A100-SXM-80GB", "train", "fp16") == (True, [])


def test_a_defined_gpu_borrows_its_likes_constants_and_is_not_calibrated():
    from sim import hardware
    from sim.compute import calibration, efficiency_for
    hardware.define("T-borrow", {"like": "A100-SXM-80GB", "hbm_GBps": 1555})
    assert efficiency_for("T-borrow") == efficiency_for("A100-SXM-80GB")
    assert calibration("T-borrow", "train")[0] is False
    hardware.define("H100-mine", {"dense_tflops": {"bf16": 900}, "hbm_GB": 80, "hbm_GBps": 3000})
    # no `like`: the defaults, not the H100 family's fit its name happens to start with
    assert efficiency_for("H100-mine") == efficiency_for("no-such-gpu")


def test_sustained_load_runs_tensor_ops_at_the_sustained_clock():
    # H100's kernel curves were measured at the boost clock; a training step holds the board at
    # its power limit (sustained_clock, fitted to measured layers): compute-bound ops take
    # 1 / sustained_clock longer, memory-bound ops do not change (HBM is not on the SM clock)
    spec = gpu("H100-SXM-80GB")
    eff = efficiency_for(spec.name)
    assert 0.8 < eff.sustained_clock < 0.95
    cold, hot = ComputeModel(spec, "bf16"), ComputeModel(spec, "bf16", sustained=True)
    big = Op("g", 1e13, 1e6, 0.0, "gemm", 1, (8192, 8192, 8192))
    copy = Op("c", 0.0, 1e9, 0.0, "memory")
    launch = eff.launch_us * 1e-6
    assert hot.time(big) - launch == pytest.approx((cold.time(big) - launch) / eff.sustained_clock)
    assert hot.time(copy) == pytest.approx(cold.time(copy))
    # a GPU whose curves were fitted end to end (A100) already includes its sustained clock
    a100 = gpu("A100-SXM-80GB")
    assert ComputeModel(a100, sustained=True).time(big) == ComputeModel(a100).time(big)


def test_attention_kernel_curves_overlay_only_where_measured():
    from sim.compute import with_attention_kernel
    from sim.errors import ConfigError
    h100, fa2 = efficiency_for("H100-SXM-80GB"), efficiency_for("H100-SXM-80GB", "fa2")
    # FlashAttention-2 reaches about half of cuDNN's rate on Hopper (measured, attention.csv)
    assert 0.4 < fa2.attn_eff_max / h100.attn_eff_max < 0.6
    assert dataclasses.replace(fa2, **{k: getattr(h100, k) for k in Efficiency_attn()}) == h100
    assert with_attention_kernel(h100, "H100-SXM-80GB", "fa2") == fa2
    # no separate measurement: the GPU's own curves (A100 has its own since issue 11: Dao 2023)
    assert efficiency_for("MI300X", "fa2") == efficiency_for("MI300X")
    assert efficiency_for("A100-SXM-80GB", "fa2") != efficiency_for("A100-SXM-80GB")
    assert efficiency_for("H800-SXM-80GB", "fa2") == fa2                  # same_as H100
    with pytest.raises(ConfigError, match="attention_kernel"):
        efficiency_for("H100-SXM-80GB", "fa9")


def Efficiency_attn():
    from sim.compute import Efficiency
    return [k for k in Efficiency.__dataclass_fields__ if k.startswith("attn_")]


def test_h100_is_calibrated_for_training_h200_is_not():
    from sim.compute import calibration
    assert calibration("H100-SXM-80GB", "train") == (True, [])   # host constants fitted end to end
    ok, missing = calibration("H200-SXM-141GB", "train")            # no public end-to-end fit
    assert not ok and "layer_overhead_us" in missing


def test_mxfp8_ops_run_at_the_block_scaled_fraction_of_the_fp8_rate():
    # an op at precision "mxfp8" (train.fp8_recipe = "mxfp8") runs at the fp8 peak x
    # fp8_gemm_factor x mxfp8_gemm_factor (compute.toml [default]: 0.951, TE's B300 profiling)
    from sim.compute import ComputeModel, efficiency_for
    from sim.hardware import gpu
    g = gpu("GB200")
    cm = ComputeModel(g, "fp8", efficiency_for("GB200"), sustained=True)
    e = cm.eff
    assert e.mxfp8_gemm_factor == pytest.approx(0.951)
    assert cm.rate("mxfp8") == pytest.approx(g.peak_flops("fp8") * e.fp8_gemm_factor * e.mxfp8_gemm_factor * cm.clock)
    assert cm.rate("mxfp8") < cm.rate("fp8")


def test_a_board_of_a_shared_die_is_rescaled_to_the_fitted_boards_peak_before_the_power_law():
    # calibrated_bf16_tflops: the DGX B200 (2,250 bf16 TFLOP/s quoted, 1,000 W) on [GB200]'s curves
    # (2,500 quoted, 1,200 W): clock = 2500 / 2250 x ((1000 - 138) / (1200 - 138))^(1/3)
    from sim.compute import efficiency_for, sustained_clock
    from sim.hardware import gpu
    e = efficiency_for("B200-180GB")
    assert e.calibrated_bf16_tflops == 2500.0 and e.calibrated_power_W == 1200.0
    want = 2500 / 2250 * ((1000 - 0.115 * 1200) / (1200 - 0.115 * 1200)) ** (1 / 3)
    assert sustained_clock(gpu("B200-180GB"), e) == pytest.approx(want, rel=1e-6)
    assert sustained_clock(gpu("GB200"), e) == pytest.approx(1.0)


@pytest.mark.parametrize("row", [{}, {"scaleup_domain": 16}, {"scaleup_GBps": 900, "nvls": False},
                                 {"power_W": 800}, {"host_GBps": 128, "vendor": "me", "notes": "re-badged"},
                                 {"hbm_GB": 80, "host_cpu": "Xeon 8480C"},
                                 {"arch": "hopper", "sms": 132},            # the H100's own, restated
                                 {"dense_tflops": {"bf16": 989, "fp8": 1979, "fp16": 989, "fp32": 67, "tf32": 494.5,
                                                   "int8": 1979}, "hbm_GBps": 3350}])     # its own figures restated
def test_a_like_is_not_calibrated_even_where_it_changes_no_compute_field(row):
    # CONTRACT round 2: calibrated is "false when any [compute constant] comes from a default or
    # a `like`"; a like with the H100's own silicon figures reported True. It still changes no
    # field the borrowed curves rest on (another NVLink domain, a higher power limit, a label),
    # which the warning tells apart from one that does
    from sim import hardware
    from sim.compute import TRAINING_CONSTANTS, KERNEL_CONSTANTS, calibration, calibration_inputs_changed
    hardware.define("T-relabel", {"like": "H100-SXM-80GB", **row})
    assert calibration_inputs_changed("T-relabel") == []
    assert calibration("H100-SXM-80GB", "train") == calibration("H100-SXM-80GB", "serve") == (True, [])
    assert calibration("T-relabel", "train") == (False, list(TRAINING_CONSTANTS))
    assert calibration("T-relabel", "serve") == (False, list(KERNEL_CONSTANTS))


@pytest.mark.parametrize("row, field", [({"hbm_GBps": 4000}, "hbm_GBps"), ({"hbm_GB": 96}, "hbm_GB"),
                                        ({"dense_tflops": {"bf16": 1200}}, "dense_tflops.bf16"),
                                        ({"dense_tflops": {"fp8": 0}}, "dense_tflops.fp8"),
                                        ({"dense_tflops": {"bf16": 989, "fp8": 1979, "fp16": 989, "fp32": 67,
                                                           "tf32": 494, "int8": 1979}}, "dense_tflops.tf32"),
                                        ({"power_W": 500}, "power_W"), ({"special_Tops": 10}, "special_Tops"),
                                        ({"host_speed": 0.85}, "host_speed"),
                                        ({"arch": "blackwell"}, "arch"), ({"sms": 100}, "sms")])
def test_a_like_that_changes_a_compute_field_is_not_calibrated(row, field):
    from sim import hardware
    from sim.compute import calibration, calibration_inputs_changed
    hardware.define("T-changed", {"like": "H100-SXM-80GB", **row})
    changed = calibration_inputs_changed("T-changed")
    assert field in changed
    assert calibration("T-changed", "serve")[0] is False and calibration("T-changed", "train")[0] is False
