"""The training validation targets against published measurements (sim/app/validation/training.py).

- vTrain single node (1,440 measured Megatron-DeepSpeed iteration times on one A100 node):
  every row predicted with the pass costs and the schedule replay, closed-form collectives
  (``calibration.predict``, what ``run_suite`` does by default). Targets: median |error| <= 10%,
  90th percentile <= 20%. ACHIEVED (and asserted): median 6.3%, p90 16.1% (before the
  per-micro-batch host work was modelled: 7.0% / 20.3%; before host dispatch: 11.8% / 24.0%).
  A pass takes max(GPU kernel time, kernels x host dispatch cost) (``costs.py``), and each
  forward of a model chunk adds the framework's serial per-micro-batch work
  (``microbatch_overhead_us``): the measured time per extra micro-batch, extrapolated to zero
  layers, is 2-4 ms at every TP degree and pipeline depth. Left in the residuals: TP8 with
  micro-batch 1 (~20% slower than predicted) and the TP1 logits/loss (~2x the GEMM curve's cost).
- Narayanan et al. 2021 Table 1 (hardware TFLOP/s per GPU on Selene): targets every row within
  10%, median within 5%. ACHIEVED (and asserted): median 1.7%, every row within 10% (closed
  form: largest +4.2%). Rows up to 1,920 GPUs are simulated end to end through ``sim.app.runner``
  (seconds). The 2,520- and 3,072-GPU rows take minutes to simulate on a 2-core machine, so
  they are predicted with ``estimate.estimate_step`` (same pass costs, closed-form
  collectives), which agrees with their simulation within about 1% of the measurement
  (checked with the pre-dispatch constants: 2,520 GPUs sim -0.3% vs estimate -0.5%; 3,072 GPUs sim -4.5% vs
  estimate -4.4%).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.compute import efficiency_for
from sim.config import load_config
from workloads.training.calibration import errors, prepare
from workloads.training.cases import narayanan_cases, vtrain_cases

SIMULATED_MAX_GPUS = 1920       # larger Narayanan rows use the closed form (see module docstring)


@pytest.fixture(scope="module")
def a100():
    return efficiency_for("A100-SXM-80GB")


def test_vtrain_median_and_p90(a100):
    err = np.abs(errors(prepare(vtrain_cases()), a100))
    assert len(err) == 1440
    assert np.median(err) <= 0.10, np.median(err)
    assert np.percentile(err, 90) <= 0.20, np.percentile(err, 90)


def test_vtrain_no_tp_degree_biased_beyond_15_percent(a100):
    # the shape term exists to remove the TP-degree bias (narrow GEMMs at TP8); a regression
    # in it shows up as one TP degree's median signed error drifting
    cases = vtrain_cases()
    err = errors(prepare(cases), a100)
    tp = np.array([c["config"]["train"]["tp"] for c in cases])
    for d in np.unique(tp):
        assert abs(np.median(err[tp == d])) <= 0.15, (d, np.median(err[tp == d]))


def test_narayanan_table1_every_row_within_10_percent_median_within_5(a100):
    from sim.app.runner import run

    cases = narayanan_cases()
    err = []
    for c in cases:
        if c["config"]["topology"]["gpus"] <= SIMULATED_MAX_GPUS:
            pred = float(run(load_config(data=c["config"])).summary[c["metric"]])
            err.append(pred / c["measured"] - 1.0)
        else:
            err.append(float(errors(prepare([c]), a100)[0]))
    err = np.abs(np.array(err))
    assert len(err) == 10
    assert np.max(err) <= 0.10, err.round(3)
    assert np.median(err) <= 0.05, err.round(3)


# -- issue 11: published runs beyond the calibration set ------------------------------------

def _issue11(name):
    from sim.app.validation.training import _simulate
    from workloads.training.cases import issue11_cases
    case = next(c for c in issue11_cases() if name in c["case"])
    return _simulate(case), case["measured"]


def test_mi300x_fitted_on_one_run_predicts_the_held_out_run_within_15_percent():
    # MI300X's GEMM efficiency is fitted to the Llama 3 70B 4-layer proxy (ROCm/TE#78) only;
    # the Llama 3 8B FSDP run (ROCm/TE#79: 410 TFLOP/s/GPU = 7,514 tokens/s/GPU) is held out.
    # Before: 75% of peak by default, 14,102 tokens/s/GPU predicted (+88%). Now about +12%.
    from workloads.training.calibration import fit_end_to_end
    from workloads.training.cases import mi300x_calibration_cases
    assert fit_end_to_end("MI300X", mi300x_calibration_cases())[0].gemm_eff_max == pytest.approx(
        efficiency_for("MI300X").gemm_eff_max, rel=0.01)       # the data is what the fit gives
    pred, meas = _issue11("mi300x")
    assert abs(pred / meas - 1) <= 0.15, pred / meas - 1


def test_v100s_gap_is_explained():
    # SimAI#166: GPT 126M on one V100S (PCIe, 250 W), 0.68-0.74 s per iteration (0.71 used).
    # Before issue 11 item 1: [default] constants at the 130 TFLOP/s peak, 0.34 s (-52%). Now
    # [V100]'s GEMM efficiency is fitted to Megatron-LM v1.0's own single-V100 run (1.2B GPT on a
    # 450 W DGX-2H V100: 1,288 ms, reproduced), and the 250 W board sustains a lower clock under
    # training load than that 450 W card (sim.compute.sustained_clock: 0.79, the power law of
    # power caps): 0.38 s (-46%). The V100 compute model is therefore right for Megatron's fused
    # 2020 kernels on a V100 (the [default] curves already gave +3.5% there); what remains is this
    # run's software path on Volta, not modelled: 2025 Megatron-Core has no FlashAttention or
    # cuDNN fused attention on sm70, so the unfused path runs, and where its fused softmax kernels
    # are unavailable (they ship with Transformer Engine / Apex builds) PyTorch falls back to an
    # fp32 scale-mask-softmax over the 8 x 8 x 2048^2 scores (~6x the bytes of the fused kernel:
    # ~0.3 s per iteration at this shape with the recompute), plus the fp32 cross-entropy over a
    # 50k vocabulary. V100 has no host constants of its own, so the run reports calibrated =
    # false. The test pins the gap's direction and size and the two pieces that are modelled.
    from sim.compute import calibration, efficiency_for, sustained_clock
    from sim.hardware import gpu
    from workloads.training.calibration import fit_end_to_end
    from workloads.training.cases import v100_calibration_cases
    assert calibration("V100S-PCIE-32GB", "train")[0] is False
    fitted = fit_end_to_end("V100-SXM2-32GB", v100_calibration_cases())[0].gemm_eff_max
    assert fitted == pytest.approx(efficiency_for("V100S-PCIE-32GB").gemm_eff_max, rel=0.01)
    v100s = gpu("V100S-PCIE-32GB")
    assert sustained_clock(v100s, efficiency_for(v100s.name)) == pytest.approx(
        ((250 - 0.115 * 450) / (450 - 0.115 * 450)) ** (1 / 3), rel=1e-3)
    pred, meas = _issue11("v100s")
    assert 0.45 <= pred / meas <= 0.65, pred / meas
    assert pred > 0.36                          # was 0.34 s before the clock and the V100 fit


def test_mixtral_ep8_tp2_gap_is_explained():
    # Megatron-LM#756: Mixtral 8x7B on 16 H100, EP 8 TP 2 DP 8, alltoall dispatcher: 5.53 s per
    # iteration. Before issue 11: 3.40 s (-38%). The MoE layer now carries the router's kernels,
    # two-level permute/unpermute passes, the dispatcher's host sync, rows per expert from the
    # folded layout and the busiest rank's load (3.51 s with the collectives of the time); the
    # fabric helper's all-to-all (issue 11 items 4-5) then cut the exposed EP time from 1.12 s to
    # 0.39 s: 2.86 s (-48%) with H100's kernel constants from single cold kernels and default
    # host constants. Item 1 (calibration from kernels to training) runs H100 training at its
    # sustained 700 W clock (0.86 of boost, fitted to measured layers) with host constants fitted
    # to end-to-end FSDP steps: 5.24 s (-5%). The test pins that, that imbalance slows the step
    # (moe_imbalance 1.3: ~5.9 s) and that folding the experts inside the node (etp 1: EP over 8
    # NVLink-connected GPUs) removes most of the exposed all-to-all.
    from sim.app.runner import run
    from workloads.training.cases import issue11_cases
    case = next(c for c in issue11_cases() if "mixtral" in c["case"])
    base = run(load_config(data=case["config"])).summary
    ratio = base["step_time_s"] / case["measured"]
    assert 0.85 <= ratio <= 1.15, ratio
    skewed = run(load_config(data=case["config"], overrides=["train.moe_imbalance=1.3"])).summary
    assert base["step_time_s"] < skewed["step_time_s"]
    folded = run(load_config(data=case["config"], overrides=["train.etp=1"])).summary
    assert folded["exposed_ep_s"] < 0.3 * base["exposed_ep_s"]


def test_h100_torchtitan_fsdp_within_15_percent():
    # torchtitan (Dec 2024) Table 1: Llama 3.1 8B FSDP on 8 H100 capped at 500 W with 96 GB HBM2e,
    # torch.compile: 6,667 tokens/s/GPU (eager 5,762). Held out of every fit. Before issue 11
    # item 1: ~9,400 predicted (+41%): H100 ran at its boost-clock kernel curves with default host
    # constants and cuDNN-rate attention. Now: the GPU runs at H100's sustained clock at 700 W
    # (0.86, fitted to measured layers) x the 500 W cap's ((500 - 75) / (700 - 75))^(1/3) = 0.88
    # (sim.hardware.define), attention at FlashAttention-2's measured H100 curves (SDPA's backend
    # then: train.attention_kernel = "fa2"), and H100's host constants fitted to llm-foundry's
    # end-to-end steps: within 2%. The GPU is defined `like` H100, so the run still reports
    # calibrated = false. Full recompute is slower than torchtitan's selective policy, and the cap
    # costs throughput.
    from sim.app.runner import run
    from workloads.training.cases import issue11_cases
    case = next(c for c in issue11_cases() if c["case"].startswith("torchtitan"))
    def tps(*sets):
        s = run(load_config(data=case["config"], overrides=list(sets))).summary
        return s["tokens_per_s"] / s["gpus"], s["calibrated"]
    sel, calibrated = tps()
    assert calibrated is False
    assert abs(sel / case["measured"] - 1) <= 0.15, sel / case["measured"]
    full, _ = tps("train.recompute=full")
    assert full < sel
    uncapped, _ = tps("hardware.H100-GT-96GB-500W.power_W=700")
    assert uncapped > sel * 1.08            # the 500 W cap costs throughput: 1 / 0.88 on the GEMMs


def test_llmfoundry_mpt3b_fp8_against_its_bf16_reference():
    """MPT-3B on H100 (llm-foundry, FSDP): FP8 30,586 tokens/s/GPU measured, BF16 24,142 (1.27x).
    Before per-op precision dcsim predicted 60,037 (1.75x its bf16 34,404): every op at the fp8
    peak, no Transformer Engine casts, no fp8 GEMM factor in training. Now GEMMs run at fp8 x
    the measured factor (0.891 on H100), attention and the output layer at bf16, casts cost
    their bytes: predicted 45,306 (+48%), and the FP8/BF16 ratio 1.32 vs 1.27 measured.
    The BF16 row itself was predicted +42% (34,404 vs 24,142) until issue 11 item 1 (sustained
    clock, FA2 attention, fitted host constants): both rows now within 5%. Asserted: the ratio within 15% of the measured one, and the FP8 row's
    error within 10 points of the BF16 row's (FP8 adds no gap of its own)."""
    from sim.app.validation.training import published_rows
    rows = {r["case"]: r for r in published_rows()}
    fp8, bf16 = rows["llmfoundry_mpt3b_h100x8_fp8"], rows["llmfoundry_mpt3b_h100x16_bf16"]
    ratio = fp8["predicted"] / bf16["predicted"]
    measured = fp8["measured"] / bf16["measured"]
    assert abs(ratio / measured - 1) <= 0.15, ratio
    assert abs(fp8["error"] - bf16["error"]) <= 0.10, (fp8["error"], bf16["error"])
    assert fp8["predicted"] < 0.8 * 60037          # the fault: 60,037 predicted before
    assert abs(bf16["error"]) <= 0.15 and abs(fp8["error"]) <= 0.15, (fp8["error"], bf16["error"])
