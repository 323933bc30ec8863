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


def test_v100s_runs_uncalibrated_and_its_gap_is_the_missing_calibration():
    # SimAI#166: GPT 126M on one V100S, 0.68-0.74 s per iteration (0.71 used). The catalogue now
    # has the V100S (before: "unknown GPU", exit 2), but no V100 training run is public with
    # enough detail to fit it, so it runs on [default] constants (calibrated = false, with a
    # warning). Predicted ~0.34 s: about 2x optimistic. Remaining gap, not modelled: the 250 W
    # PCIe card sustains well below its 1.6 GHz boost under tensor load, Volta's cuBLAS reaches a
    # lower fraction of peak than the A100/H100 curves (narrow head_dim-96 batched GEMMs of the
    # unfused attention), and Megatron's unfused attention dropout and fp32 cross-entropy over a
    # 50k vocabulary add memory passes. The test pins the direction and size of the gap so that a
    # V100 calibration shows up here.
    from sim.compute import calibration
    assert calibration("V100S-PCIE-32GB", "train")[0] is False
    pred, meas = _issue11("v100s")
    assert 0.35 <= pred / meas <= 0.75, pred / meas


def test_mixtral_ep8_tp2_gap_is_explained():
    # Megatron-LM#756: Mixtral 8x7B on 16 H100, EP 8 TP 2 DP 8, alltoall dispatcher: 5.53 s per
    # iteration. Before issue 11: 3.40 s (-38%). The MoE layer now carries the router's kernels,
    # two-level permute/unpermute passes, the dispatcher's host sync, rows per expert from the
    # folded layout and the busiest rank's load (3.51 s with the collectives of the time); the
    # fabric helper's all-to-all (issue 11 items 4-5, merged from main) then cut the exposed EP
    # time from 1.12 s to 0.39 s: 2.86 s (-48%) at the default moe_imbalance = 1 (perfect
    # balance, what NeMo's benchmarks force). Remaining gap, explained: the run used learned
    # routing with an auxiliary loss and no forced balance, so the busiest expert takes more than
    # the mean (moe_imbalance 1.3 gives ~3.5 s); the early-2024 Megatron-Core dispatcher
    # (unfused permutation, the expert-TP all-gather/reduce-scatter of the dispatched rows, not
    # modelled), its all-to-all over send/recv across two nodes, and H100's uncalibrated host
    # constants take the rest. The test pins the size of the gap, that imbalance moves the
    # prediction toward the measurement, and that folding the experts inside the node (etp 1:
    # EP over 8 NVLink-connected GPUs) removes most of the exposed all-to-all.
    from sim.app.runner import run
    from workloads.training.cases import issue11_cases
    case = next(c for c in issue11_cases() if "mixtral" in c["case"])
    base = run(load_config(data=case["config"])).summary
    ratio = base["step_time_s"] / case["measured"]
    assert 0.45 <= ratio <= 0.8, ratio
    skewed = run(load_config(data=case["config"], overrides=["train.moe_imbalance=1.3"])).summary
    assert base["step_time_s"] < skewed["step_time_s"] < case["measured"]
    folded = run(load_config(data=case["config"], overrides=["train.etp=1"])).summary
    assert folded["exposed_ep_s"] < 0.3 * base["exposed_ep_s"]


def test_h100_torchtitan_fsdp_gap_is_explained():
    # torchtitan (Dec 2024) Table 1: Llama 3.1 8B FSDP on 8 H100 capped at 500 W with 96 GB HBM2e,
    # torch.compile: 6,667 tokens/s/GPU (eager 5,762). The config defines that GPU like the
    # catalogue's H100 with power_W = 500: the cap lowers its sustained clock by (500/700)^(1/3)
    # = 0.89 (sim.hardware.define). Predicted ~9,400 (+42%): H100's kernel constants come from
    # single cold kernels at burst clocks and its framework constants are defaults (no public
    # bf16 H100 step table with the detail to fit them: NeMo/Megatron-Bridge H100 rows are FP8),
    # so the run reports calibrated = false. Part of the gap is the recompute policy: torchtitan's
    # op-level checkpointing recomputes about half the matmuls, between Megatron's 'selective'
    # (+42%) and 'full' (within 20%). The test pins both bounds and the power cap's effect.
    from sim.app.runner import run
    from workloads.training.cases import issue11_cases
    case = next(c for c in issue11_cases() if c["case"].startswith("torchtitan"))
    def tps(*sets):
        s = run(load_config(data=case["config"], overrides=list(sets))).summary
        return s["tokens_per_s"] / s["gpus"], s["calibrated"]
    sel, calibrated = tps()
    assert calibrated is False
    assert 1.0 < sel / case["measured"] < 1.6, sel / case["measured"]
    full, _ = tps("train.recompute=full")
    assert abs(full / case["measured"] - 1) < 0.2, full / case["measured"]
    uncapped, _ = tps("hardware.H100-GT-96GB-500W.power_W=700")
    assert uncapped > sel * 1.03            # the 500 W cap costs throughput


def test_llmfoundry_mpt3b_fp8_against_its_bf16_reference():
    """MPT-3B on H100 (llm-foundry, FSDP): FP8 30,586 tokens/s/GPU measured, BF16 24,142 (1.27x).
    Before per-op precision dcsim predicted 60,037 (1.75x its bf16 34,404): every op at the fp8
    peak, no Transformer Engine casts, no fp8 GEMM factor in training. Now GEMMs run at fp8 x
    the measured factor (0.891 on H100), attention and the output layer at bf16, casts cost
    their bytes: predicted 45,306 (+48%), and the FP8/BF16 ratio 1.32 vs 1.27 measured.
    Remaining gap (not FP8's): the BF16 row itself is predicted +42% (34,404 vs 24,142): the H100
    constants are fitted to single cold kernels and are optimistic on sustained FSDP training
    (issue 11 item 1). Asserted: the ratio within 15% of the measured one, and the FP8 row's
    error within 10 points of the BF16 row's (FP8 adds no gap of its own)."""
    from sim.app.validation.training import published_rows
    rows = {r["case"]: r for r in published_rows()}
    fp8, bf16 = rows["llmfoundry_mpt3b_h100x8_fp8"], rows["llmfoundry_mpt3b_h100x16_bf16"]
    ratio = fp8["predicted"] / bf16["predicted"]
    measured = fp8["measured"] / bf16["measured"]
    assert abs(ratio / measured - 1) <= 0.15, ratio
    assert abs(fp8["error"] - bf16["error"]) <= 0.10, (fp8["error"], bf16["error"])
    assert fp8["predicted"] < 0.8 * 60037          # the fault: 60,037 predicted before


# -- issue 11 item 7: optimism at scale (multi-node runs held out of every fit) --------------

def _case(cases, name):
    return next(c for c in cases if c["case"] == name)


def test_speed_spread_predicts_the_torchtitan_8_to_128_gpu_ratio():
    # torchtitan Llama 3.1 8B FSDP + compile, same recipe on 8 and 128 H100: 6,667 and 6,514
    # tokens/s/GPU, a 128/8 ratio of 0.977. The absolute rates are H100 compute calibration
    # (issue 11 item 1, ~+38% on both); their ratio is scale physics only. Without the default
    # speed spread the model gave 0.992 (FSDP gathers over 16 nodes hidden behind compute);
    # with it (sigma = 0.015, Sinha et al. SC22, not fitted to these rows), the slowest of 128
    # GPUs against the slowest of 8 adds 1.7%: 0.975.
    from sim.app.validation.training import _simulate
    from workloads.training.cases import issue11_cases, multinode_cases
    eight = _case(issue11_cases(), "torchtitan_llama31_8b_h100x8_fsdp_compile")
    many = _case(multinode_cases(), "torchtitan_llama31_8b_h100x128_fsdp_compile")
    ratio = _simulate(many) / _simulate(eight)
    assert ratio == pytest.approx(many["measured"] / eight["measured"], abs=0.01), ratio


def test_narayanan_table2_ptdp_rows_within_10_percent():
    # Table 2's Megatron PTD-P rows (175B on 384-1,536 A100, 530B on 560-2,240), held out of the
    # A100 fit: global batch fixed while GPUs double, so the pipeline bubble grows. The 175B rows
    # are simulated; the 530B rows (280-1,120 micro-batches x 105 chunks) use the closed form
    # (checked against their simulation when added: 1,120 GPUs simulated +1.1%, closed form +1.1%,
    # both without the speed spread). Errors before issue 11 item 7: 175B -0.1/+0.7/+2.7%, 530B
    # -0.1/+1.1/+3.7% (optimism growing with GPUs at a fixed batch). With the default speed spread
    # and A100's gemm_eff_max refitted with it (compute.toml): 175B +0.9/+1.4/+3.1%, 530B
    # +1.3/+2.2/+4.6% (closed form); the spread barely differs between 384 and 2,240 GPUs, so the
    # growth is left as it was (Table 1's 530B row at 2,520 GPUs, the same plan and micro-batch
    # count, measured 163 against this table's 159: the rows' own spread is ~2.5%).
    from sim.app.runner import run
    from workloads.training.cases import narayanan_t2_cases
    err = []
    for c in narayanan_t2_cases():
        if c["config"]["train"]["zero"]:
            continue
        if c["config"]["model"]["layers"] == 96:
            pred = float(run(load_config(data=c["config"])).summary[c["metric"]])
            err.append(pred / c["measured"] - 1.0)
        else:
            err.append(float(errors(prepare([c]), efficiency_for("A100-SXM-80GB"))[0]))
    err = np.array(err)
    assert len(err) == 6
    assert np.max(np.abs(err)) <= 0.10, err.round(3)


def test_deepspeed_zero3_rows_gap_is_explained():
    # Table 2's DeepSpeed ZeRO-3 rows: 175B at 384/768/1,536 GPUs (144/88/44 TFLOP/s), 530B at
    # 640/1,120/2,240 (138/98/48). Above ~700 GPUs the measured step time stops shrinking as the
    # per-GPU batch halves (175B: 65 s at 768 and at 1,536 GPUs): the step is bound by ZeRO-3's
    # traffic, 3 x 350 GB per GPU per step, moved at ~16 GB/s per GPU, about 65% of one GPU's own
    # 200 Gb/s NIC. dcsim moves these collectives as NCCL rings do, through all eight NICs of a
    # node (a node receives each gathered byte once: ~190 GB/s per node), so it keeps them
    # behind compute and stays ~compute-bound: +0.3x at 384 GPUs growing to ~+2.8x at 1,536.
    # The gap is DeepSpeed's 2021 collective path (per-parameter-group gathers and Python
    # overheads), not the fabric; it is pinned here so a model of it shows up.
    from sim.app.validation.training import _simulate
    from workloads.training.cases import narayanan_t2_cases
    z = [c for c in narayanan_t2_cases() if c["config"]["train"]["zero"] == 3 and c["config"]["model"]["layers"] == 96]
    ratio = [_simulate(c) / c["measured"] for c in z]
    assert 1.1 < ratio[0] < ratio[1] < ratio[2] < 5.0, ratio


def test_llama3_405b_8k_and_16k_gpus_gap_is_explained():
    # Llama 3 405B on the RoCE H100 cluster, BF16 (paper Table 4): 430 TFLOP/s/GPU on 8,192 GPUs,
    # 400 on 16,384 (global batch fixed: 32 -> 16 micro-batches per pipeline). Before issue 11
    # item 7: +20% at 8K. With the default speed spread (the slowest of 8,192 GPUs: compute x
    # 1.06): +14.5% at 8K, +8% at 16K. Remaining gap, explained: H100 compute is calibrated on
    # single cold kernels and its host constants are [default] (item 1: the torchtitan 8-GPU
    # run is +38%), and the paper does not give the virtual-stage count (4 assumed): with 4
    # the bubble doubles from 8K to 16K (predicted 16K/8K 0.88, measured 0.93), a larger count
    # halves that drop. Pinned so that either calibration shows up here.
    from sim.app.validation.training import _simulate
    from workloads.training.cases import multinode_cases
    r8, r16 = (_simulate(_case(multinode_cases(), f"llama3_405b_h100x{n}")) / m for n, m in ((8192, 430.0), (16384, 400.0)))
    assert 1.0 < r16 < r8 < 1.25, (r8, r16)
