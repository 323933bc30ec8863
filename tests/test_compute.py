"""Compute model: fused-attention curves (forward, backward, key length) and GPU aliases."""

import dataclasses

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


# -- calibration status (issue 11: the summaries' `calibrated` column) ------------------------

def test_calibration_status_per_gpu_and_kind():
    from sim.compute import calibration
    assert calibration("A100-SXM-80GB", "train") == (True, [])
    assert calibration("A800-SXM-80GB", "train")[0]          # same die as A100 (same_as)
    ok, missing = calibration("V100S-PCIE-32GB", "train")     # no constants of its own
    assert not ok and "gemm_eff_max" in missing


def test_a_defined_gpu_borrows_its_likes_constants_and_is_not_calibrated():
    from sim import hardware
    from sim.compute import calibration, efficiency_for
    hardware.define("T-borrow", {"like": "A100-SXM-80GB"})
    assert efficiency_for("T-borrow") == efficiency_for("A100-SXM-80GB")
    assert calibration("T-borrow", "train")[0] is False
    hardware.define("H100-mine", {"dense_tflops": {"bf16": 900}, "hbm_GB": 80, "hbm_GBps": 3000})
    # no `like`: the defaults, not the H100 family's fit its name happens to start with
    assert efficiency_for("H100-mine") == efficiency_for("no-such-gpu")
