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


@pytest.fixture(scope="module")
def vtrain(a100):
    """vTrain's 1,440 A100 cases and their signed errors, computed once for the tests that read them."""
    cases = vtrain_cases()
    return cases, errors(prepare(cases), a100)


def test_vtrain_median_and_p90(vtrain):
    err = np.abs(vtrain[1])
    assert len(err) == 1440
    assert np.median(err) <= 0.10, np.median(err)
    assert np.percentile(err, 90) <= 0.20, np.percentile(err, 90)


def test_vtrain_no_tp_degree_biased_beyond_15_percent(vtrain):
    # the shape term exists to remove the TP-degree bias (narrow GEMMs at TP8); a regression
    # in it shows up as one TP degree's median signed error drifting
    cases, err = vtrain
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


def test_mi300x_rocm62_runs_gap_is_the_software_stack():
    # MI300X is fitted to AMD's rocm/pytorch-training v25.2 runs (ROCm 6.3, Feb 2025; cases.
    # amd_training_cases). ROCm/TE#79 (Llama 3 8B FSDP, batch 4, seq 4096: 410 TFLOP/s/GPU =
    # 7,514 tokens/s/GPU) ran the same SemiAnalysis reproducer on ROCm 6.2 with a torch nightly
    # (Oct 2024); the v25.2 image's run of it at batch 6 measured 10,176 tokens/s/GPU: x1.354.
    # dcsim gives the larger batch ~1% of that, so ~x1.34 is the software stack (hipBLASLt
    # tuning, CK attention, the fixes AMD made in the TE issues), which dcsim does not model
    # (one set of constants per GPU, for the current stack): #79 is predicted +32% (it was +13%
    # when #78, the same stack's 70B proxy, was the fit; #78 is now +20%). Before issue 11: +88%.
    import copy
    from workloads.training.cases import amd_training_cases, issue11_cases, mi300x_calibration_cases
    from sim.app.validation.training import _simulate
    pred, meas = _issue11("mi300x")
    case = next(c for c in issue11_cases() if "mi300x" in c["case"])
    bigger = copy.deepcopy(case)
    bigger["config"]["train"].update(micro_batch=6, global_batch=384)
    batch_gain = _simulate(bigger) / pred
    assert 1.0 <= batch_gain <= 1.05, batch_gain
    v25 = next(c for c in amd_training_cases() if c["case"] == "rocm2502_llama31_8b_s4096_mi300x8_bf16")
    stack = v25["measured"] / meas / batch_gain
    assert 1.25 <= stack <= 1.40, stack
    assert pred / meas == pytest.approx(stack, rel=0.03)      # the gap is the stack, nothing else
    p78 = _simulate(mi300x_calibration_cases()[0]) / mi300x_calibration_cases()[0]["measured"]
    assert 1.10 <= p78 <= stack, p78          # #78 (same stack, 70B proxy): over-predicted too, less


def test_amd_rows_fitted_and_held_out():
    from sim.app.validation.training import AMD_TOLERANCE, amd_rows, amd_summary
    rows = amd_rows()
    assert len(rows) == 14 and {r["fit"] for r in rows} == {"fit", "holdout"}
    held = [r for r in rows if r["fit"] == "holdout"]
    assert all(abs(r["error"]) <= AMD_TOLERANCE for r in held), [(r["case"], round(r["error"], 3)) for r in held]
    s = amd_summary(rows)
    assert s["amd_fit_max_abs"] <= 0.03 and s["amd_holdout_median_abs"] <= 0.10
    assert s["amd_holdout_p90_abs"] <= 0.13 and s["amd_holdout_max_abs"] <= AMD_TOLERANCE


def test_amd_runs_report_calibrated_mi355x_does_not():
    from sim.compute import calibration
    assert calibration("MI300X", "train") == (True, [])
    assert calibration("MI325X", "train") == (True, [])       # MI300X's die: its section (same_as)
    assert calibration("MI355X", "train")[0] is False         # CDNA 4: no public training rows fitted


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
    # iteration (236 TFLOP/s/GPU). Before issue 11: 3.40 s (-38%). The MoE layer now carries the
    # router's kernels, two-level permute/unpermute passes, the dispatcher's host sync (the host
    # cannot run ahead across it: the forward is priced segment by segment), rows per expert
    # from the folded layout, the busiest rank's load, and the expert-TP all-gather /
    # reduce-scatter of the dispatched rows (etp = tp = 2); the fabric helper's all-to-all cut
    # the exposed EP time from 1.12 s to 0.51 s. With H100's sustained clock (0.86 of boost) and
    # its host constants fitted end to end and the synchronous-step jitter: 3.41 s (-38%) at the
    # default moe_imbalance = 1, ~383 model TFLOP/s per GPU, 13% under the 438 (MCore v0.8) and
    # 18% under the 468 TFLOP/s (v0.9) that NVIDIA reports for Mixtral 8x7B bf16 training on
    # H100 (NVIDIA/Megatron-LM megatron/core/transformer/moe/README.md): the model sits near
    # mature Megatron-Core. The
    # remaining gap is the run's software of March 2024 (Megatron commit ba77325, grouped_gemm
    # v1.0: unfused permutation, several device-to-host syncs per layer, no all-to-all overlap)
    # and its routing: a pretrained Mixtral router with only an auxiliary loss (the busiest
    # expert takes more than the mean; moe_imbalance 1.3 gives 4.15 s, -25%). The test pins the
    # gap's size, that the model sits within 15% of mature MCore's throughput, that imbalance
    # moves the prediction toward the measurement, and that folding the experts inside the node
    # (etp 1: EP over 8 NVLink-connected GPUs) removes most of the exposed all-to-all (0.51 s ->
    # 0.11 s).
    from sim.app.runner import run
    from workloads.training.cases import issue11_cases
    case = next(c for c in issue11_cases() if "mixtral" in c["case"])
    base = run(load_config(data=case["config"])).summary
    ratio = base["step_time_s"] / case["measured"]
    assert 0.45 <= ratio <= 0.8, ratio
    assert 0.85 * 438 <= base["model_tflops_per_gpu"] <= 1.15 * 468, base["model_tflops_per_gpu"]
    skewed = run(load_config(data=case["config"], overrides=["train.moe_imbalance=1.3"])).summary
    assert base["step_time_s"] < skewed["step_time_s"]
    folded = run(load_config(data=case["config"], overrides=["train.etp=1"])).summary
    assert folded["exposed_ep_s"] < 0.3 * base["exposed_ep_s"]


# -- MoE on H100 (NeMo / Megatron-Bridge tables), held out ------------------------------------

def _moe(name):
    from sim.app.validation.training import _simulate
    from workloads.training.cases import moe_cases
    case = next(c for c in moe_cases() if name in c["case"])
    return _simulate(case), case["measured"]


@pytest.mark.slow
def test_qwen3_235b_fp8_on_256_h100_within_15_percent():
    # NeMo 25.11: Qwen3 235B-A22B, 256 H100, FP8, TP 2 PP 8 VP 4 EP 32 (expert TP 1), alltoall
    # dispatcher (dropless): 1,575 tokens/s/GPU (233 TFLOP/s). Nothing fitted. The EP32
    # all-to-all spans 4 nodes: ~12 s of the step's all-to-all time. The recipe sets
    # moe_a2a_overlap (Megatron-Core's overlap_moe_expert_parallel_comm): a forward and a backward
    # of different micro-batches run merged, each one's all-to-all behind the other's compute,
    # with compute slowed by the communication kernels beside it (the measured interference
    # default). Before the H100 sustained clock: ~1,420 (-10%, all-to-all exposed); at the
    # sustained clock without the overlap: 1,134 (-28%; 12.0 s of 28.9 s exposed EP); with it:
    # ~1,445 (-8%; 1.9 s exposed), ~1,413 (-10%) with the synchronous-step jitter on top; since
    # grouped expert ops launch their per-expert kernels from C++ (1ef2fb5, grouped_launch_us):
    # 1,643 (+4%; 3.5 s of EP exposed in a 19.9 s step, 12.1 s of 24.8 s without the overlap),
    # the README's MoE study's figure (checked here). Megatron-MoE-ModelZoo (best_practice/Qwen3) measures the same
    # layout in bf16 with DeepEP at 19.7 s per step without and 17.6 s with the 1F1B overlap.
    pred, meas = _moe("qwen3_235b")
    assert abs(pred / meas - 1) <= 0.15, pred / meas - 1
    readme = _readme_figure(r"tokens/s/GPU for the first \([^)]*\) and ([\d,]+) for the second")
    assert readme == pytest.approx(pred, rel=0.02), (readme, pred)
    from sim.app.validation.training import _simulate
    from workloads.training.cases import moe_cases
    case = next(c for c in moe_cases() if "qwen3_235b" in c["case"])
    plain = dict(case, config={**case["config"], "train": {**case["config"]["train"],
                                                             "overlap_moe_expert_parallel_comm": False}})
    assert _simulate(plain) < 0.85 * pred         # the overlap is what closes the gap


def test_qwen3_30b_dropless_gap_is_the_dispatchers():
    # NVIDIA's Qwen3 30B-A3B rows on 16 H100 (TP 1 PP 2 EP 8, 16 local experts): token-drop MBS 2
    # VP 24 (NeMo 25.09, CUDA graphs) 10,494 tokens/s/GPU; dropless FP8 MBS 2 VP 24 (25.11) 5,275;
    # dropless FP8-CS MBS 1 VP 12 with moe_a2a_overlap (Megatron-Bridge 26.02, held-out round 3)
    # 5,113. The two dropless rows run at the same rate per token at micro-batch 1 and 2, so what
    # slows them is not a host cost per micro-batch: when every per-expert kernel cost a full
    # 54.8 us dispatch (before) the 25.11 row came out host-bound at +8% but the 26.02 row at
    # 1,951 (-62%). Transformer Engine's GroupedLinear launches the per-expert kernels from C++
    # (compute.toml grouped_launch_us): both dropless rows now run GPU-bound, the 26.02 row +11%,
    # the 25.11 row at the token-drop row's rate, ~2.1x its measurement. That 2x between the
    # 25.09 and 25.11 rows (same layout; the dropless runs force-balance the router) is left open:
    # it scales with the tokens (the 26.02 row shares it), which neither the host nor the padding
    # does. Pinned: token drop within 15%, eager or graphed (this layout is GPU-bound); the
    # 25.11 row's over-prediction between 1.7x and 2.4x, so that a change to it shows.
    drop, drop_meas = _moe("qwen3_30b_a3b_h100x16_tokendrop")
    dropless, dropless_meas = _moe("qwen3_30b_a3b_h100x16_fp8")
    assert abs(drop / drop_meas - 1) <= 0.15, drop / drop_meas - 1
    assert 1.7 <= dropless / dropless_meas <= 2.4, dropless / dropless_meas
    from sim.app.validation.training import _simulate
    from workloads.training.cases import moe_cases
    case = next(c for c in moe_cases() if "tokendrop" in c["case"])
    eager = dict(case, config={**case["config"], "train": {**case["config"]["train"], "cuda_graph_impl": "none"}})
    assert _simulate(eager) == pytest.approx(drop, rel=0.05)


def test_moe_with_many_local_experts_is_not_host_bound_per_micro_batch(heldout3):
    # Issue 11, held-out round 3: DeepSeek-V3 MXFP8 EP 8 on 256 DGX-B200 (32 local experts, PP 16,
    # MBS 1): 2,689 tokens/s/GPU measured, 914 predicted (-66%) when each per-expert GEMM, cast
    # and amax kernel cost a 54.8 us Python-level dispatch (host 20 ms vs GPU 5 ms per layer
    # forward); the EP 8 all-to-all stays inside the node's NVLink. Qwen3 30B-A3B MBS 1 on 16
    # H100 (26.02): 5,113 measured, 1,951 predicted (-62%). With per-expert kernels launched from
    # C++ (grouped_launch_us): each within 15%, and DGX-B200 / GB200 NVL72 (EP 64, 4 local
    # experts) at 0.61 (measured 0.68; was 0.26). The runs: the held-out round's own (heldout3, each
    # case simulated once, training._simulate)
    from workloads.training.cases import heldout_round3_cases
    cases = {c["case"]: c for c in heldout_round3_cases()}
    ran = {r["case"]: r["predicted"] for r in heldout3}
    pred = {}
    for name in ("mb2602_deepseekv3_b200x256_mxfp8", "mb2602_deepseekv3_gb200x256_mxfp8",
                 "mb2602_qwen3_30b_a3b_h100x16"):
        pred[name] = ran[name]
    for name in ("mb2602_deepseekv3_b200x256_mxfp8", "mb2602_qwen3_30b_a3b_h100x16"):
        assert abs(pred[name] / cases[name]["measured"] - 1) <= 0.15, (name, pred[name])
    ratio = pred["mb2602_deepseekv3_b200x256_mxfp8"] / pred["mb2602_deepseekv3_gb200x256_mxfp8"]
    assert 0.55 <= ratio <= 0.8, ratio          # measured 2,689 / 3,955 = 0.68


def test_why_moe_trains_at_a_fraction_of_dense_mfu_in_fp8():
    """The seed question: why large MoE models train at ~20% MFU in FP8 (NeMo on H100: Qwen3
    235B-A22B 233 TFLOP/s, 12% of the fp8 peak) while dense models reach 40-50% (Llama 3 8B:
    744 TFLOP/s, 38%). The model answers per layer (one H100, forward + backward, seq 4096):
    FP8 speeds up only the GEMMs. A dense Llama 3 8B layer is 80% GEMM time in bf16 (memory-bound
    ops 9%; 22% in fp8, 9 points of it the fp8 casts), so FP8 buys 1.37x (1.38x before H100's
    fitted per-layer host cost); a fine-grained MoE layer (Qwen3 235B: 128 experts of width 1536,
    top-8, EP 32) is 58% GEMM: every token is copied 8 times (permute, unpermute, the activation
    and casts of 8 rows per token), so memory-bound ops are 26% of the bf16 layer and 41% of the
    fp8 one (8 points of casts; the README quoted 12% / 31% for the fp8 layers, the share without
    the casts), and FP8 buys 1.20x. The README's table quotes these shares (kernel time of each
    kind over the layer's kernel time; pinned within 1.5 points). On top, the all-to-all that
    moves 8 copies of every token over EP 32 (4 nodes) would leave ~12 s of a ~25 s step exposed;
    the recipe hides most of it behind another micro-batch's compute, which the communication
    kernels then slow (``test_qwen3_235b_...``: predicted 12% of the fp8 peak at NVIDIA's FLOP
    count, measured 12%), where the dense model has no such exchange."""
    from sim.compute import ComputeModel
    from sim.hardware import gpu
    from workloads.model import ModelSpec
    from workloads.training.cases import QWEN3_235B_A22B
    from workloads.training.costs import chunk_cost
    from workloads.training.plan import make_plan

    import workloads.training.costs as costs
    passes = []
    times = costs._times

    def recording(cm, ops):                       # the op lists of each pass, as priced
        passes.append((cm, list(ops)))
        return times(cm, ops)

    def layer(model, precision, **train):
        # the middle stage of three one-layer stages: one layer, no embedding or loss
        cfg = load_config(data={"model": dict(model, layers=3) if isinstance(model, dict) else
                                {"preset": model, "layers": 3, "seq_len": 4096},
                                "train": {"precision": precision, "pp": 3, "global_batch": 64, **train}})
        m = ModelSpec.from_section(cfg.model)
        p = make_plan(cfg.train, m, 96)
        passes.clear()
        c = chunk_cost(m, p, ComputeModel(gpu("H100-SXM-80GB"), precision), 1, "flash")
        kind = {"gemm": 0.0, "memory": 0.0, "cast": 0.0, "all": 0.0}
        for cm, ops in passes:
            for o, t in zip(ops, cm.op_times(ops)):
                kind["all"] += float(t)
                kind[o.kind] = kind.get(o.kind, 0.0) + float(t)
                kind["cast"] += float(t) if o.name.startswith("fp8_cast") else 0.0
        share = {k: v / kind["all"] for k, v in kind.items()}
        return c.fwd.compute_s + c.bwd.compute_s, share

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(costs, "_times", recording)
        (d16, ds16), (d8, ds8) = layer("llama3-8b", "bf16"), layer("llama3-8b", "fp8")
        (m16, ms16), (m8, ms8) = (layer(QWEN3_235B_A22B, p, ep=32, etp=1) for p in ("bf16", "fp8"))
    dense, moe = d16 / d8, m16 / m8
    assert dense > 1.3 and moe < 1.25 and dense - moe > 0.12, (dense, moe)
    # the README's table: GEMM share (bf16), memory-bound bf16 / fp8 (fp8 casts), speed-up
    for got, want in ((ds16["gemm"], 0.80), (ds16["memory"], 0.09), (ds8["memory"], 0.22), (ds8["cast"], 0.09),
                      (ms16["gemm"], 0.58), (ms16["memory"], 0.26), (ms8["memory"], 0.41), (ms8["cast"], 0.08)):
        assert abs(got - want) <= 0.015, (got, want)
    assert dense == pytest.approx(1.37, abs=0.01) and moe == pytest.approx(1.20, abs=0.01), (dense, moe)


def _readme_moe_study() -> str:
    """The README's study "why MoE trains at a fraction of dense MFU in FP8", whitespace folded."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    start = text.index("## Study: why MoE trains at a fraction of dense MFU in FP8")
    return " ".join(text[start:text.index("\n## ", start + 1)].split())


def _readme_figure(pattern: str) -> float:
    import re
    m = re.search(pattern, _readme_moe_study())
    assert m, pattern
    return float(m.group(1).replace(",", ""))


def test_megatron_fsdp_llama3_8b_row_is_pinned_and_the_readme_quotes_it():
    """Megatron-Bridge 25.11: Llama 3 8B on 8 H100, FP8-CS, Megatron-FSDP: 14,451 tokens/s/GPU
    (744 TFLOP/s), held-out round 3's gap ``megatron_fsdp``. The README's MoE study quoted 14,770
    (+2%) for this config for 318 commits after the H100 training calibration (d072b0f: the
    sustained 700 W clock, 0.86, and H100's FSDP per-block host cost fitted to llm-foundry's
    Composer steps) had moved it to 10,875 (-25%); later refits left it at 11,215 (-22%). Nothing
    caught it: the row entered the suite after the move, under the gap's symmetric 25% bound,
    and no test read the README. Today: the sustained clock costs ~8 points (clock 1.0: -14%),
    the FSDP per-block hooks ~8 (fsdp_layer_overhead_us 0: -15%), both off -5%. Pinned: the
    error within [-0.26, -0.19] (a move of ~3.5 points either way fails, and a fix that closes the gap
    must restate it) and the README's figure within 2% of the prediction."""
    from sim.app.validation.training import _simulate
    from workloads.training.cases import heldout_round3_cases
    case = next(c for c in heldout_round3_cases() if c["case"] == "mb2511_llama3_8b_h100x8_fsdp")
    pred = _simulate(case)
    assert -0.26 <= pred / case["measured"] - 1 <= -0.19, pred / case["measured"] - 1
    readme = _readme_figure(r"dcsim predicts ([\d,]+) tokens/s/GPU for the first")
    assert readme == pytest.approx(pred, rel=0.02), (readme, pred)


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


def test_llmfoundry_fp8_over_bf16_ratio_across_sizes_and_sequences():
    """Every FP8 row of llm-foundry's H100 tables that has a BF16 twin (MPT-1B and 3B, sequence
    512 to 32k; none fitted). Measured FP8/BF16: 1.35 and 1.31 at 512 tokens, 1.27 at 2k, 1.10
    to 1.16 at 8k, 1.00 to 1.05 at 32k: attention stays 16-bit and grows with the sequence.
    Predicted: 1.28-1.34 at 512-2k, 1.17-1.24 at 8k, 1.10-1.14 at 32k (each ratio within 15%,
    median within 7%). The long-sequence ratios are the highest: there the BF16 rows themselves
    are predicted +70% to +135% (attention at 8k-32k keys far faster than llm-foundry's
    measured runs: a BF16 baseline matter, issue 11 item 1), which inflates the GEMMs' share."""
    from sim.app.validation.training import _simulate, llmfoundry_pairs
    err = []
    for bf16, fp8 in llmfoundry_pairs():
        pred = _simulate(fp8) / _simulate(bf16)
        meas = fp8["measured"] / bf16["measured"]
        err.append(pred / meas - 1)
        assert pred > 1.0                              # FP8 never slower in the model
    err = np.abs(np.array(err))
    assert len(err) == 7
    assert np.max(err) <= 0.15, err.round(3)
    assert np.median(err) <= 0.07, err.round(3)


def test_blackwell_fp4_over_fp8_ratio_gap_is_explained():
    """NVFP4 against MXFP8 training, Llama 3 70B on 64 Blackwell GPUs, same layout (Megatron-Bridge
    26.02): measured 1.48x on GB300 (15 PFLOP/s dense fp4), 1.23x on GB200 (10). Predicted with
    per-op precision (GEMMs at the fp4 peak x ``fp4_gemm_factor``, attention and the output
    layer at bf16), the fp4 casts (0.5 B + a block scale per 16 elements, copy and transpose)
    and NVFP4's per-tensor amax read before each cast: 1.80x and 1.43x (+22%, +16%; before the
    amax read: 1.85x and 1.47x); with Blackwell's FP8 GEMM factors fitted end to end
    (calibration.fit_blackwell: 0.93 on GB300, 0.85 on GB200, against [default]'s 0.8; fp4 keeps
    0.8) 1.57x and 1.31x (+6%, +6%). FP4 buys less than predicted because (not modelled) NVFP4 recipes
    keep the first and last layers in BF16 (Megatron's num_layers_at_start/end_in_bf16), apply
    a random Hadamard transform to the weight-gradient GEMMs' inputs and round gradients
    stochastically, and Blackwell's fp4 GEMM efficiency is not fitted (``fp4_gemm_factor`` is
    [default]'s: the NVFP4 rows are held out). With each recipe's quantization passes
    (train.fp8_recipe: MXFP8's rowwise and columnwise copies; NVFP4's amax passes, 16x16 weight
    blocks and the random Hadamard transform of the weight-gradient inputs) and TP overlap as the
    recipes run it (off for NVFP4), refit (issue 11, second pass): 1.50x and 1.35x (+1%, +9%).
    Pinned: FP4 faster than FP8, each ratio within 25% of the measured one, and
    the GB300 (fp4 at 3x fp8) gaining more than the GB200 (2x), as measured."""
    from sim.app.validation.training import _simulate
    from workloads.training.cases import blackwell_fp4_pairs
    ratios = []
    for fp8, fp4 in blackwell_fp4_pairs():
        pred = _simulate(fp4) / _simulate(fp8)
        meas = fp4["measured"] / fp8["measured"]
        assert pred > 1.0
        assert abs(pred / meas - 1) <= 0.25, (fp4["case"], pred, meas)
        ratios.append(pred)
    assert ratios[0] > ratios[1]


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
    # halves that drop. With issue 11 item 1 (H100 at its sustained 700 W clock, fitted to
    # measured layers): +0.8% at 8K, -4.4% at 16K. Asserted: both within 10%, 16K below 8K.
    from sim.app.validation.training import _simulate
    from workloads.training.cases import multinode_cases
    r8, r16 = (_simulate(_case(multinode_cases(), f"llama3_405b_h100x{n}")) / m for n, m in ((8192, 430.0), (16384, 400.0)))
    assert 0.90 < r16 < r8 < 1.10, (r8, r16)


# -- issue 11 item 7, round 2: more multi-node runs (held out of every fit) ---------------------

_MPT = {"125m": (768, 12), "350m": (1024, 24), "760m": (1536, 24), "1b": (2048, 24), "3b": (2560, 32),
        "7b": (4096, 32), "13b": (5120, 40), "30b": (7168, 48), "70b": (8192, 80)}


def test_llmfoundry_multinode_rows_are_copied_as_published():
    # the README's MFU column re-derived from the copied throughput (its formula: 6 N + 12 L d T
    # FLOPs per token over 989 / 312 TFLOP/s): every row within 0.3% (catches a mistyped figure)
    import csv
    from importlib import resources
    text = resources.files("workloads.training").joinpath("data/llmfoundry_multinode.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 51
    for r in rows:
        d, layers = _MPT[r["model"]]
        peak = 989e12 if r["gpu"].startswith("h100") else 312e12
        mfu = float(r["tokens_per_s_per_gpu"]) * (6 * int(r["num_params"]) + 12 * layers * d * int(r["seq"])) / peak
        assert mfu * 100 == pytest.approx(float(r["mfu"]), rel=3e-3), r


def _closed(cases, gpu):
    from workloads.training.calibration import predict
    from workloads.training.costs import training_efficiency
    return predict(prepare(cases), training_efficiency(gpu))


def test_a100_40gb_weak_scaling_gap_is_explained():
    # llm-foundry's A100 40GB FSDP rows at 16, 32, 64 and 128 GPUs keep the per-GPU micro-batch
    # and take one step per micro-batch (weak scaling), so their per-GPU rate shows what more
    # nodes cost. Measured 16 -> 128 GPUs: 125m -5.1%, 350m -6.3%, 760m -2.3%, 1b -2.3%, 3b
    # -2.2%, 7b -0.6%, 13b -1.1%. The model loses 0.6-1.4% (the static speed spread, the slowest
    # of 128 vs 16 GPUs, and NCCL's ring latency, hidden behind the FSDP prefetch), so its error
    # grows with scale by +2.3 points on average (+6.5 for 350m; the absolute level, +20-33% for
    # the small models, was A100's FSDP per-block cost, 0 then: A100 now carries H100's fitted
    # 1,634 us and MPT's Triton attention, compute.toml [A100.triton]: median |error| 2%). The growth
    # is largest where FSDP units are a few ms long: host jitter at each unit's collectives
    # (Composer runs FSDP with limit_all_gathers, a host wait per unit), sim.stragglers.sync_wait.
    # Charged per FSDP unit pass (1.5 collectives) with sigma = 0.3 ms, the mean growth falls
    # from +2.3 to +0.4 points; with H100's fitted per-block constant reduced by the 8-GPU share
    # (1.5 x 0.3 ms x E[max of 8] = 0.64 ms, so the fit rows stay as they are) the held-out H100
    # 32-64 GPU rows stay where they are (median |error| 2.5% -> 2.4%), but torchtitan's
    # 128/8-GPU ratio goes 0.979 -> 0.966 (measured 0.977; FSDP2 has no per-unit host wait), and
    # sigma would be fitted to these very rows: no public measurement gives the per-sync host
    # delay. So it stays off. Asserted: the model's loss from 16 to 128 GPUs is real but smaller
    # than measured, by less than 7 points for every model.
    from workloads.training.cases import llmfoundry_multinode_cases
    cases = [c for c in llmfoundry_multinode_cases() if c["gpu"] == "a100_40gb"]
    err = {}
    for c, p in zip(cases, _closed(cases, "A100-SXM-40GB")):
        err.setdefault(c["case"].split("_s2048")[0], {})[c["config"]["topology"]["gpus"]] = p / c["measured"] - 1
    growth = np.array([e[128] - e[16] for e in err.values() if 16 in e and 128 in e])
    assert len(growth) == 7
    assert 0.0 < growth.mean() < 0.05, growth.round(3)
    assert np.all(growth < 0.07), growth.round(3)


def test_h100_multinode_fsdp_rows_within_10_percent():
    # llm-foundry MPT 760M-70B on 32 and 64 H100 (FSDP across 4-8 nodes): held out of the H100
    # host fit (which used 8-GPU rows only); the per-GPU rate stays within 2% of the 8/16-GPU
    # rows in the measurements and in the model. Errors: -9% (3b) to +3% (1b), median |error| 2.5%.
    from workloads.training.cases import llmfoundry_multinode_cases
    cases = [c for c in llmfoundry_multinode_cases() if c["gpu"] == "h100_80gb"]
    err = np.array([p / c["measured"] - 1 for c, p in zip(cases, _closed(cases, "H100-SXM-80GB"))])
    assert len(err) == 10
    assert np.max(np.abs(err)) <= 0.10 and np.median(np.abs(err)) <= 0.05, err.round(3)


def test_mtnlg_530b_gap_is_explained():
    # Megatron-Turing NLG 530B on Selene (Smith et al. 2022, Sec. 2.4): 60.1 / 50.2 / 44.4 s per
    # step on 2,240 / 2,800 / 3,360 A100 at batch 1920. Predicted 48.3 / 39.6 / 34.3 s: ~20%
    # optimistic at every size, 3 points more at 3,360 than at 2,240 GPUs. The measured steps fit
    # (m + p - 1) x 0.206 s + ~3.6 s (m micro-batches, p = 35 stages): per micro-batch 19% slower
    # than the model's 0.174 s (which matches Megatron's own 530B runs on the same machine,
    # Narayanan Table 2, within 5%) and a fixed ~4 s per step. That is DeepSpeed's 2021 pipeline
    # engine, not scale: its p2p send/recv are blocking (deepspeed/runtime/pipe/p2p.py asserts
    # async_op == False), issued per instruction from Python, each TP rank sending the whole
    # activation. The growth with scale is within the three rows' own reproducibility. Asserted:
    # optimistic by 15-26% at each size, growing by less than 5 points.
    from workloads.training.cases import multinode_published_cases
    cases = [c for c in multinode_published_cases() if c["case"].startswith("mtnlg")]
    err = np.array([p / c["measured"] - 1 for c, p in zip(cases, _closed(cases, "A100-SXM-80GB"))])
    assert np.all((-0.26 < err) & (err < -0.15)), err.round(3)
    assert 0.0 <= err[0] - err[-1] < 0.05, err.round(3)


def test_megatron_core_h100_fp8_rows_gap_is_explained():
    # NeMo 24.07 and Megatron-Bridge 25.09 FP8 pre-training on 64-1,024 DGX H100. Before
    # train.tp_comm_overlap the model blocked compute on TP's all-gathers and reduce-scatters
    # (11-18% of each step exposed) and was pessimistic by 10-19%: 175B -10.5%/-12.6% (128/512
    # GPUs), Llama 2 70B -11.5%, Llama 3 70B -12.2% (CP 2) and -18.5% (PP 8), Llama 3.1 405B on
    # 1,024 GPUs -13.9% (median |error| 12.9%). These recipes run Transformer Engine's userbuffers
    # overlap (tp_comm_overlap = true in the cases): each collective pipelined with its GEMM,
    # one chunk (1/tp) exposed, the GEMMs slowed by the communication kernels' SMs. Now: 175B
    # -4.9%/-7.4%, Llama 2 70B -2.8%, Llama 3 70B -4.6% and -12.0%, 405B -0.1% (median 4.8%).
    # What remains is pessimism (no row optimistic beyond 3%); the PP 8 row keeps the most (its
    # 8-stage 1F1B bubble and pipeline sends). Asserted: each row within -13%..+3%, the median
    # |error| under 6%, and no growth of optimism with GPUs (175B: 512 is not more optimistic
    # than 128). Checked with the closed form (within ~1 point of the simulation `validate` runs).
    from workloads.training.cases import multinode_published_cases
    cases = [c for c in multinode_published_cases() if not c["case"].startswith("mtnlg")]
    assert all(c["config"]["train"]["tp_comm_overlap"] for c in cases)
    err = {c["case"]: p / c["measured"] - 1 for c, p in zip(cases, _closed(cases, "H100-SXM-80GB"))}
    assert all(-0.13 < e < 0.03 for e in err.values()), err
    assert np.median(np.abs(list(err.values()))) < 0.06, err
    assert err["nemo2407_gpt3_175b_h100x512"] <= err["nemo2407_gpt3_175b_h100x128"] + 0.01, err


def test_megatron_core_h100_fp8_rows_without_tp_overlap_were_pessimistic():
    # the fault this fixes: with TP blocking the compute (tp_comm_overlap off) every row is
    # 5-22% pessimistic; the overlap moves each row up (faster), by 3-14 points
    import copy
    from workloads.training.cases import multinode_published_cases
    cases = [c for c in multinode_published_cases() if not c["case"].startswith("mtnlg")]
    off = copy.deepcopy(cases)
    for c in off:
        c["config"]["train"]["tp_comm_overlap"] = False
    e_on = np.array([p / c["measured"] - 1 for c, p in zip(cases, _closed(cases, "H100-SXM-80GB"))])
    e_off = np.array([p / c["measured"] - 1 for c, p in zip(off, _closed(off, "H100-SXM-80GB"))])
    assert np.all((-0.22 < e_off) & (e_off < -0.05)), e_off.round(3)
    assert np.all(e_on - e_off > 0.03), (e_on - e_off).round(3)


# -- issue 11 item 1: Blackwell training calibrated end to end, checked on held-out rows --------

def test_blackwell_rows_fitted_and_held_out():
    """NeMo / Megatron-Bridge dense pre-training on B200, GB200, GB300 (52 rows). Fitted
    (calibration.fit_blackwell): 9 rows, Llama 3 8B and 3.1 405B FP8 current scaling; held out: 43
    (70B, GPT-3 175B, Nemotron-4, MXFP8, NVFP4, NeMo 25.02-25.07). Every row within its tolerance
    (15%) or, for the kinds in BLACKWELL_GAPS, within its documented bound."""
    from sim.app.validation.training import blackwell_rows
    rows = blackwell_rows()
    assert len(rows) == 52
    for r in rows:
        limit = r.bound if r.gap else r.tolerance
        assert abs(r.error) <= limit, (r.case, round(r.error, 3), r.gap)
    fit = np.abs([r.error for r in rows if r.fit == "fit"])
    held = np.abs([r.error for r in rows if r.fit == "holdout"])
    clean = np.abs([r.error for r in rows if r.fit == "holdout" and not r.gap])
    # B200 and GB200 share one fit: the DGX B200 405B -3.5% at worst before session 19's refit (the
    # gradient groups priced where they sit), the GB200 405B on 256 GPUs -4.2% since
    assert len(fit) == 9 and np.max(fit) <= 0.045
    assert len(clean) >= 25
    assert np.median(held) <= 0.07 and np.median(clean) <= 0.06
    assert np.percentile(clean, 90) <= 0.12
    # Megatron-FSDP Llama 3.1 405B on 128 GB200 (NeMo 25.07, Megatron-Bridge 25.09): was -47%
    # and -48% (its 64-rank FSDP collectives priced as a ring of NICs, estimate.Network), a
    # documented gap; now held out without a gap: +7% and +11%
    fsdp405 = [r for r in rows if "405b_gb200x128_fp8_cs_fsdp" in r.case]
    assert len(fsdp405) == 2 and all(not r.gap and abs(r.error) <= 0.15 for r in fsdp405), fsdp405
    # held out over all Blackwell rows (issue 11, third pass): median 6.4% -> 4.2%, p90 30.6% -> 18.6%
    assert np.percentile(held, 90) <= 0.20


def test_blackwell_before_the_fit_small_models_ran_too_fast():
    # the fault: with [default]'s constants (FP8 GEMMs at 0.8 x the bf16 curve, the attention
    # backward at the forward's curve) the 8B rows on B200 and GB200 were 14-22% too fast while
    # the 405B's were within 6%: what the 8B has more of is attention. (With TP overlap and the
    # current-scaling recipe modelled, issue 11's second pass: 8B +11-17%, 405B 0 to +9%, the 8B
    # still the more optimistic by > 7 points). Session 19: the DGX B200 405B rows' +2-3% was
    # partly the interference stand-in pricing their dp x cp gradient group a server apart
    # (costs.overlap_interference); priced where it sits they are +13%, with the 8B's +14-16%:
    # the 8B-over-405B signal that separates the attention backward from the GEMMs is now
    # GB200's (8B +17%, 405B on 256 GPUs +9%), the DGX B200's rows only keep the 8B the more
    # optimistic. bwbf16: with the bf16 curve fitted to B200 kernels (0.75 -> 0.6276) the 8B's
    # LM head, bf16 in FP8 recipes, is slower from the start, which takes part of the 8B's
    # excess: GB200 8B +15-16%, 405B +9% (the signal the fit separates the attention backward
    # with, 6.6 points); the DGX B200's 8B +12-15% against its 405B's +12-13%, no longer apart
    from workloads.training.calibration import BLACKWELL_GPUS, blackwell_start, errors, prepare
    from workloads.training.cases import blackwell_cases
    for system in ("B200", "GB200"):
        cases = blackwell_cases(system, "fit")
        err = errors(prepare(cases), blackwell_start(BLACKWELL_GPUS[system]))
        small = [e for c, e in zip(cases, err) if c["model"] == "llama3_8b"]
        big = [e for c, e in zip(cases, err) if c["model"] == "llama31_405b"]
        assert min(small) > 0.10 and max(abs(e) for e in big) < 0.15, (system, small, big)
        if system == "GB200":
            assert min(small) - max(big) > 0.05, (system, small, big)
        else:
            assert abs(np.mean(small) - np.mean(big)) < 0.02, (system, small, big)


def test_blackwell_summaries_report_calibrated_for_training():
    from sim.app.runner import calibrated
    assert calibrated("GB200", "train") and calibrated("B200-180GB", "train") and calibrated("GB300", "train")
    assert not calibrated("B300-288GB", "train")


# -- llm-foundry A100 80GB rows (issue 11): held out, MPT's Triton attention ----------------------

def test_llmfoundry_a100_rows_held_out_median_10_p90_15():
    # llm-foundry's A100 80GB table (59 rows: 8 GPUs, MPT 125M-30B, seq 512-65k, FSDP), none of
    # them fitted. Before (A100's attention curve was the unfused-GEMM fit at 0.95 of peak, no
    # FSDP per-block cost): median |error| 34.8%, p90 116%, worst +161% (350M at seq 65k), the
    # error growing with the sequence. With MPT's Triton FlashAttention priced from Dao 2023's
    # A100 kernel measurements ([A100.triton]) and H100's FSDP per-block constant: median 5.3%,
    # p90 12.8%. Each row within LLMFOUNDRY_A100_TOLERANCE or its documented gap's bound.
    from sim.app.validation.training import LLMFOUNDRY_A100_TOLERANCE, llmfoundry_a100_rows, summarize
    # The A100 40GB table's 8-GPU rows at seq 512-32k (39, added with this change), held out too:
    # before median 34.9%, p90 92.7%, worst +138%; now 6.0%, 12.1%, worst +17.9% (125M at seq 32k).
    rows = llmfoundry_a100_rows()
    assert len(rows) == 59 + 39 and all(r.fit == "holdout" for r in rows)
    s = summarize(rows)
    assert s["llmfoundry_a100_median_abs"] <= 0.10 and s["llmfoundry_a100_p90_abs"] <= 0.15, s
    assert s["llmfoundry_a100_40gb_median_abs"] <= 0.10 and s["llmfoundry_a100_40gb_p90_abs"] <= 0.15, s
    for r in rows:
        assert abs(r.error) <= (r.bound if r.gap else LLMFOUNDRY_A100_TOLERANCE), (r.case, r.error)
    assert sum(1 for r in rows if r.gap) <= 3


def test_llmfoundry_a100_long_sequences_no_longer_drift():
    # The fault this fixes, as a kind: the error grew with the sequence (attention's share) because
    # the fused kernel ran at the unfused GEMMs' 0.95 of peak. Per model, the error at its longest
    # sequence minus the error at seq 2048: before +0.30 (13B) to +1.33 (350M), now -0.02 to +0.18
    # (30B left out: documented gap). Left: +11-16% at seq 32-65k for every model (head dim 64 and
    # 128 alike), where the curves saturate at Dao 2023's 16k maxima.
    from sim.app.validation.training import llmfoundry_a100_rows
    by = {}
    for r in (r for r in llmfoundry_a100_rows() if "_a100x8_" in r.case):
        model, seq = r.case.split("_")[1], int(r.case.split("_s")[1].split("_")[0])
        by.setdefault(model, {})[seq] = r.error
    drift = {m: e[max(e)] - e[2048] for m, e in by.items() if m != "mpt30b"}
    assert len(drift) == 7
    assert all(abs(d) <= 0.20 for d in drift.values()), drift


def test_a100_fsdp_per_block_cost_is_h100s_framework_constant():
    # A100's FSDP per-block host work is not fitted on any A100 row: it is H100's fit (the same
    # Composer/FSDP sweep ran both tables), charged to ZeRO-3 plans only (Narayanan's and
    # vTrain's Megatron plans do not see it).
    # Issue 11, third pass: H100's refit with the Triton attention its rows ran ([H100.triton])
    # gives 993.9 us; A100 keeps the 1,633.5 us of the earlier H100 fit (FA2 attention), which
    # its 98 held-out rows were checked with: carried over, 993.9 moves the 80GB table's median
    # |error| 5.3% -> 6.1% (40GB 6.0% -> 5.5%; measured at 966.3, a first refit within 3%). A host-side cost 1.7x larger on DGX A100's 2019
    # EPYC 7742 than on DGX H100's 2023 Xeon 8480C is plausible, not measured.
    from sim.compute import efficiency_for
    a100, h100 = (efficiency_for(g).fsdp_layer_overhead_us for g in ("A100-SXM-80GB", "H100-SXM-80GB"))
    assert a100 == 1633.5 and h100 == pytest.approx(993.9, rel=1e-3)


def test_llmfoundry_a100_40gb_rows_are_copied_as_published():
    # the README's MFU column re-derived from the copied throughput (6 N + 12 L d T FLOPs per token
    # over 312 TFLOP/s): every row within 0.3% (catches a mistyped figure)
    import csv
    from importlib import resources
    text = resources.files("workloads.training").joinpath("data/llmfoundry_a100_40gb.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 39 and all(r["gpus"] == "8" and r["seq"] != "2048" for r in rows)
    for r in rows:
        d, layers = _MPT[r["model"]]
        mfu = float(r["tokens_per_s_per_gpu"]) * (6 * int(r["num_params"]) + 12 * layers * d * int(r["seq"])) / 312e12
        assert mfu * 100 == pytest.approx(float(r["mfu"]), rel=3e-3), r


# -- Held-out round 3 (issue 11): 27 public runs new to the project --------------------------

@pytest.fixture(scope="module")
def heldout3():
    from sim.app.validation.training import heldout_round3_rows
    return heldout_round3_rows()


@pytest.mark.slow
def test_heldout_round3_each_row_within_15_percent_or_a_documented_gap(heldout3):
    """torchtitan (Dec 2024) on 8-512 Grand Teton H100, NeMo 24.07 / Megatron-Bridge H100 rows and
    DeepSeek-V3 MXFP8 on 256 B200 / GB200 / GB300, DeepSeek-V3 and Qwen3-235B BF16 on 256 GB200 /
    GB300 (workloads/training/data/heldout_round3.csv, each row its URL, quoted table row and
    assumptions). Nothing fitted to them. 18 rows within 15% (the MoE rows with 16-32 local
    experts at micro-batch 1 among them: -2% / +11%, -66% / -62% before grouped_launch_us); the 9
    others each in a documented kind of gap (``HELDOUT3_GAPS``): EP 64 across 8 H100 nodes over IB
    (-14%), MoE inside NVL72 (DeepSeek-V3 MXFP8 GB200 +8%, GB300 +15%; BF16 DeepSeek-V3 GB200 +19%,
    GB300 +11%, Qwen3-235B GB200 +1%, GB300 -6%), Megatron-FSDP priced as PyTorch FSDP (-22%),
    torchtitan CP 8 at 262k tokens (+20%)."""
    assert len(heldout3) == 27
    gaps = {}
    for r in heldout3:
        if r.get("gap"):
            gaps[r["case"]] = r["gap"].split(":")[0]
            assert abs(r["error"]) <= r["bound"], (r["case"], r["error"])
        else:
            assert abs(r["error"]) <= 0.15, (r["case"], r["error"])
    assert sorted(gaps.values()) == sorted(["moe_ep_across_nodes"] + ["moe_nvl72_recipe"] * 6
                                           + ["megatron_fsdp", "cp8_262k"]), gaps


@pytest.mark.slow
def test_heldout_round3_median_and_p90(heldout3):
    """The goal of issue 11: held-out median |error| <= 10%, p90 <= 25%. Reached on the dense
    rows (18: median 5.7%, p90 15.5%) and over all 23: median 6.9%, p90 15.9%; with the 4 BF16 MoE
    rows (bwbf16), all 27: median 6.9%, p90 16.6% (7.5% / 26.7%
    while each per-expert kernel of a grouped expert op cost a full Python-level dispatch: the
    MoE rows with 16-32 local experts ran host-bound at -62 / -66%; now the MoE rows are -14% to
    +16%). Before the DeepSeek rows ran the recipes' HybridEP dispatcher (``deepep``): p90 35%.
    Multi-node dense runs show no optimism growing with scale: torchtitan 8B FSDP -6% on 8 and
    -7% on 128 GPUs; 70B on 256 -13% (2D) / -1% (async TP); 405B on 512 -5% / -2% / -10% / +5%."""
    from sim.app.validation.training import heldout_round3_summary
    s = heldout_round3_summary(heldout3)
    assert s["median"] <= 0.085 and s["dense_median"] <= 0.07 and s["dense_p90"] <= 0.17, s
    assert s["p90"] <= 0.18, s
    from sim.app.validation.training import MOE_PREFIXES
    dense_multi = [r for r in heldout3 if not r["case"].startswith(MOE_PREFIXES)
                   and int(r["case"].rsplit("x", 1)[-1].split("_")[0]) >= 64]
    assert dense_multi and all(r["error"] <= 0.10 for r in dense_multi)   # no optimism at scale


@pytest.mark.slow
def test_heldout_bf16_moe_rows_on_gb200_follow_the_fitted_bf16_curve(heldout3):
    """The only public BF16 Blackwell training rows are MoE (Megatron-Bridge 25.11, 256 GPUs).
    Held out of the bf16 fit (calibration.fit_blackwell_bf16, B200 cuBLAS kernels). On [default]'s
    bf16 curve (0.75) the GB200 rows ran too fast, DeepSeek-V3 +31% and Qwen3-235B +9%; on the
    fitted curve (0.6276) +19% and +1%. GB300 (Blackwell Ultra) on its own curve, fitted to B300
    kernels (gb300bf16, fit_blackwell_bf16("GB300"): 0.75 -> 0.6974): +11% / -6% -> +7% / -9%."""
    from workloads.training.cases import heldout_round3_cases
    err = {r["case"]: r["error"] for r in heldout3 if r["case"].endswith("_bf16")}
    assert sorted(err) == ["mb2511_deepseekv3_gb200x256_bf16", "mb2511_deepseekv3_gb300x256_bf16",
                           "mb2511_qwen3_235b_a22b_gb200x256_bf16", "mb2511_qwen3_235b_a22b_gb300x256_bf16"]
    assert 0.15 < err["mb2511_deepseekv3_gb200x256_bf16"] < 0.23, err
    assert abs(err["mb2511_qwen3_235b_a22b_gb200x256_bf16"]) < 0.03, err
    assert all(abs(e) <= 0.15 for k, e in err.items() if "gb300" in k), err
    for c in heldout_round3_cases():
        assert c["config"]["train"]["precision"] != "bf16" or "fp8_recipe" not in c["config"]["train"]


def test_split_layers_uneven_first_and_last_stage_expresses_deepseek_v3():
    # DeepSeek-V3's 61 layers on PP 16 (Megatron-Bridge's B200 row) or PP 4 x VP 4: the first
    # and last chunks take fewer layers (Megatron's uneven pipeline stages); before, any deficit
    # above 2 was infeasible and the row could not be written
    from workloads.training.cases import heldout_round3_cases
    c = next(c for c in heldout_round3_cases() if "deepseekv3_b200" in c["case"])
    m = load_config(data=c["config"])
    from workloads.model import ModelSpec
    from workloads.training.plan import make_plan
    p = make_plan(m.train, ModelSpec.from_section(m.model), 256)
    assert sum(len(list(p.chunk_layer_range(k))) for k in range(p.pp * p.v)) == 61
