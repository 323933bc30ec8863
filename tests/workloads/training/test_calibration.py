"""Calibration from kernels to training (issue 11, item 1): the sustained clock fitted to measured
layers, H100's host constants fitted to end-to-end steps, each checked on rows kept out of its fit."""

import numpy as np
import pytest

from sim.compute import efficiency_for
from workloads.training.calibration import (LAYER_FIT_TP, errors, fit_h100, fit_sustained_clock, layer_cases,
                                            layer_errors, prepare)
from workloads.training.cases import llmfoundry_cases
from workloads.training.costs import training_efficiency


def test_sustained_clock_is_what_the_layer_fit_gives_and_predicts_held_out_layers():
    # the kernel curves alone (boost clock) put every layer 4-21% too fast; at the fitted
    # sustained clock the held-out rows (TP 2 and 8) land within 4% median, 15% worst
    eff, _ = fit_sustained_clock("H100-SXM-80GB")
    stored = efficiency_for("H100-SXM-80GB")
    assert eff.sustained_clock == pytest.approx(stored.sustained_clock, rel=0.01)
    held = layer_cases("H100-SXM-80GB", tp=tuple(t for t in (1, 2, 4, 8) if t not in LAYER_FIT_TP))
    assert len(held) >= 20
    err = layer_errors("H100-SXM-80GB", stored, held)
    assert np.median(np.abs(err)) <= 0.05, np.median(np.abs(err))
    assert np.max(np.abs(err)) <= 0.15, np.max(np.abs(err))
    import dataclasses
    boost = layer_errors("H100-SXM-80GB", dataclasses.replace(stored, sustained_clock=1.0), held)
    assert np.median(boost) < -0.08          # the fault: kernels' clock on a sustained load


def test_h100_host_constants_are_what_the_fit_gives():
    eff, loss = fit_h100()
    stored = training_efficiency("H100-SXM-80GB")
    # the fit rows (every one FSDP, >= 16k tokens per micro-batch) barely tell per-block from
    # per-micro-batch work: the stored constants must be as good as the fit's, the per-block
    # FSDP cost within 10% of it
    fit = prepare(llmfoundry_cases("h100_80gb", "fit"))
    stored_loss = float(np.mean(np.log1p(errors(fit, stored)) ** 2))
    assert stored_loss <= loss * 1.01 + 1e-6
    assert eff.fsdp_layer_overhead_us == pytest.approx(stored.fsdp_layer_overhead_us, rel=0.10)
    assert eff.layer_overhead_us == stored.layer_overhead_us      # A100's Megatron value, not fitted here


def test_llmfoundry_h100_held_out_rows():
    """33 held-out H100 rows of llm-foundry's MPT table (760M-30B, 8 and 16 GPUs). Before item 1:
    median |err| 49%, every row optimistic (H100 at boost-clock kernel curves, cuDNN attention
    rates for FA2 kernels, default host constants). Now: median within 10%, every row up to
    seq 4,096 within 15%. Remaining gap, explained: at seq >= 8k the rows stay optimistic
    (10-35%, growing with seq): attention dominates there and MPT's benchmark yamls run its own
    Triton flash-attention kernel (attn_impl: triton), slower at long sequences than the
    FlashAttention-2 curves measured through PyTorch SDPA."""
    fit = llmfoundry_cases("h100_80gb", "fit")
    held = llmfoundry_cases("h100_80gb", "holdout")
    assert len(fit) == 9 and len(held) == 33
    assert {c["case"] for c in fit}.isdisjoint({c["case"] for c in held})
    eff = training_efficiency("H100-SXM-80GB")
    err = errors(prepare(held), eff)
    seq = np.array([c["config"]["model"]["seq_len"] for c in held])
    assert np.median(np.abs(err)) <= 0.10, np.median(np.abs(err))
    assert np.max(np.abs(err[seq <= 4096])) <= 0.15, err[seq <= 4096].round(3)
    long = err[seq >= 8192]
    assert np.all(long > -0.05) and np.all(long < 0.40), long.round(3)


# -- AMD Instinct (issue 11, item 1): MI300X fitted end to end, MI325X and the rest held out ---

@pytest.mark.slow
def test_fit_amd_reproduces_the_committed_mi300x_constants():
    from workloads.training.calibration import AMD_FITTED, fit_amd
    eff, loss = fit_amd()
    stored = training_efficiency("MI300X")
    for name in ("gemm_eff_max", "attn_eff_max", "fp8_gemm_factor"):
        assert getattr(eff, name) == pytest.approx(getattr(stored, name), rel=0.01), name
    for name in ("fsdp_layer_overhead_us", "microbatch_overhead_us"):     # ~0: the rows bound them from above
        assert getattr(eff, name) == pytest.approx(getattr(stored, name), abs=1.0), name
    assert set(AMD_FITTED) <= set(type(eff).__dataclass_fields__)
    assert loss < 1e-3                         # the 4 fitted rows within ~3% (rms log error)


def test_amd_fitted_rows_and_held_out_rows():
    # Before (gemm_eff_max 0.33 fitted to ROCm/TE#78 alone, no power-limited clock): the
    # rocm/pytorch-training v25.2 MI300X rows were 9-20% too slow and the MI325X rows 23-35%.
    from workloads.training.cases import amd_training_cases
    eff = training_efficiency("MI300X")
    fit = np.abs(errors(prepare(amd_training_cases(use="fit")), eff))
    held = errors(prepare(amd_training_cases(use="holdout")), eff)
    assert len(fit) == 4 and len(held) == 10
    assert np.max(fit) <= 0.03, fit.round(3)
    assert np.median(np.abs(held)) <= 0.10, held.round(3)
    assert np.max(np.abs(held)) <= 0.15, held.round(3)     # worst: the torchtitan 70B on MI325X, -14%


def test_mi325x_runs_faster_than_mi300x_by_the_power_law_alone():
    # nothing is fitted on MI325X: its curves are the MI300X section's, referenced to a 1000 W
    # board; the 750 W MI300X sustains ((750 - idle) / (1000 - idle))^(1/3) of that clock
    from sim.compute import sustained_clock
    from sim.hardware import gpu
    eff = efficiency_for("MI300X")
    assert eff.calibrated_power_W == 1000.0
    assert sustained_clock(gpu("MI325X"), eff) == pytest.approx(eff.sustained_clock)
    assert sustained_clock(gpu("MI300X"), eff) == pytest.approx(
        eff.sustained_clock * ((750 - 115) / (1000 - 115)) ** (1 / 3), rel=1e-3)
    from workloads.training.cases import amd_training_cases
    pred = dict(zip([c["case"] for c in amd_training_cases()],
                    np.exp(np.log1p(errors(prepare(amd_training_cases()), eff))) *
                    np.array([c["measured"] for c in amd_training_cases()])))
    # the same run (Llama 3.1 8B BF16, seq 8192, batch 3) on both boards: measured x1.186
    ratio = pred["rocm2502_llama31_8b_s8192_mi325x8_bf16"] / pred["rocm2502_llama31_8b_s8192_mi300x8_bf16"]
    assert 1.10 <= ratio <= 1.186, ratio        # the clock and HBM (6.0 vs 5.3 TB/s) give most of it
# -- Blackwell training fit (issue 11, item 1): NeMo / Megatron-Bridge end-to-end rows -----------

def _blackwell_loss(system: str, eff) -> float:
    from workloads.training.cases import blackwell_cases
    prepared = prepare(blackwell_cases(system, "fit"))
    return float(np.mean(np.log1p(errors(prepared, eff)) ** 2))


@pytest.mark.slow
@pytest.mark.parametrize("system,gpu", [("B200", "B200-180GB"), ("GB200", "GB200"), ("GB300", "GB300")])
def test_blackwell_training_constants_are_what_the_fit_gives(system, gpu):
    # re-running the fit from its reset start (fp8 factor 0.8, the backward at the forward's
    # attention curve) reproduces the committed constants, which fit their rows to ~1% (RMS log
    # error), at least 5x better than the start
    from workloads.training.calibration import blackwell_start, fit_blackwell
    eff, loss = fit_blackwell(system)
    stored = training_efficiency(gpu)
    assert eff.fp8_gemm_factor == pytest.approx(stored.fp8_gemm_factor, rel=0.005)
    assert eff.attn_bwd_eff_max == pytest.approx(stored.attn_bwd_eff_max, rel=0.005)
    stored_loss = _blackwell_loss(system, stored)
    assert stored_loss <= loss * 1.01 + 1e-7
    assert stored_loss < 2e-4 and stored_loss < 0.2 * _blackwell_loss(system, blackwell_start(gpu))


def test_blackwell_fit_separates_the_gpus_as_the_hardware_does():
    # B200 and GB200 are one die: their fitted FP8 GEMM rates (factor x 0.75 x FP8 peak) agree
    # within 6% although GB200's catalogued peak is 11% higher (the higher power limit buys
    # less clock than the peak assumes); GB300's attention backward is the fastest (Blackwell
    # Ultra doubles the exp rate attention runs on). Refit with TP overlap and current scaling
    # (issue 11, second pass): GB200 5.0% below B200 (was within 5%), GB300's backward 1.38x
    # the others' (was 1.7x): the two-row fit trades GEMM against attention on GB200
    from sim.hardware import gpu as gpu_spec
    rate = {g: training_efficiency(g).fp8_gemm_factor * training_efficiency(g).gemm_eff_max
            * gpu_spec(g).peak_flops("fp8") for g in ("B200-180GB", "GB200", "GB300")}
    assert rate["GB200"] == pytest.approx(rate["B200-180GB"], rel=0.06)
    bwd = {g: training_efficiency(g).attn_bwd_eff_max for g in ("B200-180GB", "GB200", "GB300")}
    assert bwd["GB300"] > 1.3 * max(bwd["B200-180GB"], bwd["GB200"])


def test_mxfp8_over_current_scaling_gap_is_documented():
    # Megatron-Bridge 25.09/25.11, Llama 3 8B on 8 GPUs, same layout: MXFP8 runs 3.5-5.5% below
    # FP8 current scaling (B200 29,521 vs 30,624; GB200 29,789 vs 31,508; GB300 36,108 vs
    # 37,556). Modelled per recipe (train.fp8_recipe), MXFP8's quantization moves less than
    # current scaling's (one pass writing two 1 + 1/32 B copies, against an amax pass plus a
    # cast), so the model has MXFP8 at or above current scaling: a 4-8% gap. Not the GEMM: on
    # B200 cuBLAS's MXFP8 GEMM runs within 1% of its per-tensor FP8 GEMM (flashinfer PR #2256:
    # 2,348 vs 2,369 TFLOP/s, 128 x 512 x 512 x 4096). Pinned: the modelled ratio in [1.0, 1.03],
    # the measured one below 0.97, the gap under 9%
    from workloads.training.calibration import predict
    from workloads.training.cases import blackwell_cases
    for system, gpu_name in (("B200", "B200-180GB"), ("GB200", "GB200"), ("GB300", "GB300")):
        rows = {(c["case"].split("_")[0], c["recipe"]): c for c in blackwell_cases(system)
                if c["model"] == "llama3_8b" and c["case"].startswith("nemo2511")}
        cs, mx = rows[("nemo2511", "fp8_cs")], rows[("nemo2511", "mxfp8")]
        p_cs, p_mx = predict(prepare([cs, mx]), training_efficiency(gpu_name))
        model, meas = p_mx / p_cs, mx["measured"] / cs["measured"]
        assert 1.0 <= model <= 1.03 and meas < 0.97, (system, model, meas)
        assert model / meas - 1 < 0.09, (system, model, meas)
