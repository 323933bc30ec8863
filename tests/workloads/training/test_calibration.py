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
    median |err| 49%, every row optimistic. Second pass (FA2 attention): median 8.2%, p90 28.5%,
    the error growing with the sequence (-6% at seq 512 to +29% at 65k): attention dominates
    there and the sweep ran MPT's Triton kernel (attn_impl: triton), slower than the FA2 curves
    measured through PyTorch SDPA. Now ([H100.triton], its ratio fitted on the fit rows only):
    median 3.3%, p90 7.0%, no trend with the sequence. Left: MPT-30B at seq 8192 (+24%; the
    A100 table's same row drops the same way, LLMFOUNDRY_A100_GAPS mpt30b_seq8192)."""
    fit = llmfoundry_cases("h100_80gb", "fit")
    held = llmfoundry_cases("h100_80gb", "holdout")
    assert len(fit) == 9 and len(held) == 33
    assert {c["case"] for c in fit}.isdisjoint({c["case"] for c in held})
    assert all(c["config"]["train"]["attention_kernel"] == "triton" for c in fit + held)
    eff = training_efficiency("H100-SXM-80GB")
    err = errors(prepare(held), eff)
    seq = np.array([c["config"]["model"]["seq_len"] for c in held])
    assert np.median(np.abs(err)) <= 0.05, np.median(np.abs(err))
    assert np.percentile(np.abs(err), 90) <= 0.10
    thirty = np.array(["mpt30b_s8192" in c["case"] for c in held])
    assert np.max(np.abs(err[~thirty])) <= 0.12, err.round(3)
    # no drift with the sequence: the median error at seq >= 16k within 5 points of seq <= 4k's
    assert abs(np.median(err[seq >= 16384]) - np.median(err[seq <= 4096])) <= 0.05
    # the fault, for the record: the same rows with FA2 attention drift +20 points or more
    for c in held:
        c["config"]["train"]["attention_kernel"] = "fa2"
    fa2 = errors(prepare(held), eff)
    assert np.median(fa2[seq >= 16384]) - np.median(fa2[seq <= 4096]) > 0.15


@pytest.mark.slow
def test_h100_triton_ratio_is_the_fit_rows_least_loss():
    # fit_h100_triton's grid minimum (from the 9 fit rows only) is the committed ratio: the loss
    # there is below its 0.1-step neighbours' and below FA2's (ratio 1)
    from workloads.training.calibration import H100_TRITON_BWD_RATIO as r, h100_triton_loss
    at = h100_triton_loss(r)
    assert at < h100_triton_loss(r - 0.1) and at < h100_triton_loss(r + 0.1) and at < h100_triton_loss(1.0)
    eff = training_efficiency("H100-SXM-80GB")
    e = efficiency_for("H100-SXM-80GB", "triton")
    f = efficiency_for("H100-SXM-80GB", "fa2")
    assert e.attn_bwd_eff_max == pytest.approx(f.attn_bwd_eff_max / r, rel=1e-3)
    assert e.attn_eff_max == pytest.approx(f.attn_eff_max / (1 + 0.4 * (r - 1)), rel=1e-3)
    assert eff.fsdp_layer_overhead_us == pytest.approx(fit_h100()[0].fsdp_layer_overhead_us, rel=0.10)


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

def _blackwell_loss(section: str, eff) -> float:
    from workloads.training.calibration import BLACKWELL_SECTIONS
    from workloads.training.cases import blackwell_cases
    prepared = prepare([c for s in BLACKWELL_SECTIONS[section] for c in blackwell_cases(s, "fit")])
    return float(np.mean(np.log1p(errors(prepared, eff)) ** 2))


@pytest.mark.slow
@pytest.mark.parametrize("section,gpu", [("GB200", "GB200"), ("GB300", "GB300")])
def test_blackwell_training_constants_are_what_the_fit_gives(section, gpu):
    # re-running the fit from its reset start (fp8 factor 0.8, the backward at the forward's
    # attention curve) reproduces the committed constants, which fit their rows to ~2% (RMS log
    # error; [GB200] is fitted to the DGX B200's and the GB200's rows at once), at least 5x
    # better than the start
    from workloads.training.calibration import blackwell_start, fit_blackwell
    eff, loss = fit_blackwell(section)
    stored = training_efficiency(gpu)
    assert eff.fp8_gemm_factor == pytest.approx(stored.fp8_gemm_factor, rel=0.005)
    assert eff.attn_bwd_eff_max == pytest.approx(stored.attn_bwd_eff_max, rel=0.005)
    stored_loss = _blackwell_loss(section, stored)
    assert stored_loss <= loss * 1.01 + 1e-7
    assert stored_loss < 5e-4 and stored_loss < 0.2 * _blackwell_loss(section, blackwell_start(gpu))


def test_b200_and_gb200_share_one_die_and_differ_by_their_power_limit():
    # The fault (issue 11, third pass): fitted per board at each catalogue peak, GB200's FP8
    # GEMM rate came out 5% BELOW the DGX B200's (2,764 vs 2,910 TFLOP/s) although GB200 runs
    # at 1,200 W against 1,000 W. Now one section ([GB200], B200 same_as it) holds the die's
    # curves at the GB200's quoted peak and power; the B200's clock is power_clock(1000, 1200)
    # (idle 11.5% of 1,200 W): ((1000 - 138) / (1200 - 138))^(1/3) = 0.933 of GB200's.
    from sim.compute import ComputeModel, calibration_section
    from sim.hardware import gpu as gpu_spec
    assert calibration_section("B200-180GB") == calibration_section("GB200") == "GB200"
    rate = {g: ComputeModel(gpu_spec(g), "fp8", training_efficiency(g), sustained=True).peak
            for g in ("B200-180GB", "GB200")}
    assert rate["B200-180GB"] / rate["GB200"] == pytest.approx(((1000 - 138) / (1200 - 138)) ** (1 / 3), rel=1e-3)
    assert rate["GB200"] > rate["B200-180GB"]
    # GB300's attention backward is still the fastest (Blackwell Ultra's exp rate is now in
    # hardware.toml's special_Tops, 10.7 vs 5.0 T/s, but the fused backward is not exp-bound
    # in the model at head dim 128). 1.49x GB200's before session 19's refit (the gradient
    # groups priced where they sit moved GB200's fit to slower FP8 GEMMs and a faster attention
    # backward, 0.2929 -> 0.3703); 1.17x since; 1.10x since bwbf16 (the 8B's bf16 output layer at
    # the measured bf16 curve, 0.75 -> 0.6276, moved GB200's refitted backward 0.3703 -> 0.3963)
    bwd = {g: training_efficiency(g).attn_bwd_eff_max for g in ("GB200", "GB300")}
    assert bwd["GB300"] > 1.05 * bwd["GB200"]
    assert gpu_spec("GB300").special_ops == pytest.approx(10.7e12)
    assert gpu_spec("B200-180GB").special_ops == pytest.approx(5.0e12)


def test_mxfp8_runs_below_current_scaling_as_measured():
    # Megatron-Bridge 25.11, Llama 3 8B on 8 GPUs, same layout: MXFP8 runs 3.5-5.5% below FP8
    # current scaling (B200 29,521 vs 30,624; GB200 29,789 vs 31,508; GB300 36,108 vs 37,556).
    # The fault: with MXFP8's quantization alone (one pass writing two 1 + 1/32 B copies,
    # cheaper than current scaling's amax pass plus cast) the model had MXFP8 1.4-1.7% FASTER.
    # The physics: cuBLAS's block-scaled MXFP8 GEMMs run at 0.951 of its per-tensor FP8 GEMMs on
    # training shapes (Transformer Engine's GEMM profiling guide, B300, kernels only:
    # compute.toml mxfp8_gemm_factor; flashinfer PR #2256's one batched shape, 2,348 vs 2,369
    # TFLOP/s, is within 1%). Now the model has MXFP8 0.7-1.1% below current scaling; the
    # remaining 2.5-4.5 points are not explained (the recipes' scale swizzles are not priced).
    import dataclasses
    from workloads.training.calibration import predict
    from workloads.training.cases import blackwell_cases
    for system, gpu_name in (("B200", "B200-180GB"), ("GB200", "GB200"), ("GB300", "GB300")):
        rows = {(c["case"].split("_")[0], c["recipe"]): c for c in blackwell_cases(system)
                if c["model"] == "llama3_8b" and c["case"].startswith("nemo2511")}
        cs, mx = rows[("nemo2511", "fp8_cs")], rows[("nemo2511", "mxfp8")]
        eff = training_efficiency(gpu_name)
        p_cs, p_mx = predict(prepare([cs, mx]), eff)
        model, meas = p_mx / p_cs, mx["measured"] / cs["measured"]
        assert 0.97 <= model < 1.0 and meas < 0.97, (system, model, meas)
        assert model / meas - 1 < 0.05, (system, model, meas)
        q_cs, q_mx = predict(prepare([cs, mx]), dataclasses.replace(eff, mxfp8_gemm_factor=1.0))
        assert q_mx / q_cs > 1.0          # without the block-scaled GEMM rate: the old fault


def test_mxfp8_quantization_over_current_scaling_matches_transformer_engine():
    # The same TE profiling guide's autocast minus kernel-only times (B300, per layer): current
    # scaling's quantization 9.147 - 6.812 = 2.335 ms, MXFP8's 8.984 - 7.161 = 1.823 ms: 0.781.
    # The model's bytes per quantized operand on Blackwell (no transposed copy): tensorwise
    # 2 (amax read) + 2 (read) + 1 (write) = 5 B, MXFP8 2 + 2 x (1 + 1/32) = 4.06 B: 0.8125
    from workloads.training.costs import recipe_operand
    ratio = recipe_operand("mxfp8", "input", True)[0] / recipe_operand("tensorwise", "input", True)[0]
    assert ratio == pytest.approx(1.823 / 2.335, rel=0.05)


# -- Blackwell bf16 GEMMs (bwbf16): [GB200]'s 16-bit curve fitted to public B200 cuBLAS kernels ----

def _bf16_rows_by_source(use=None):
    from workloads.training.calibration import blackwell_bf16_gemm_rows
    out = {}
    for r in blackwell_bf16_gemm_rows(use):
        out.setdefault(r["source"].split()[0], []).append(r)
    return out


def test_blackwell_bf16_rows_quote_the_figure_they_store():
    # every row carries its URL and the published line; the stored TFLOP/s is that line's figure
    # (pytorch/ao prints FLOP/s as tops/sec x.xxE+yy, vLLM TFLOP/s, OpenXLA FLOP/s)
    # (Transformer Engine's guide prints ms: the stored TFLOP/s is 2 m n k over that time)
    from workloads.training.calibration import blackwell_bf16_gemm_rows
    rows = blackwell_bf16_gemm_rows()
    assert len(rows) == 27 and sum(r["use"] == "fit" for r in rows) == 7
    for r in rows:
        assert r["source_url"].startswith("https://github.com/")
        assert ("B200" in r["quote"] + r["gpu"]) or ("NVIDIA B300 SXM6 AC" in r["quote"] and r["gpu"] == "B300-288GB")
        tf, q = float(r["measured_tflops"]), r["quote"]
        if r["source"].startswith("NVIDIA/TransformerEngine"):
            m, k, n = r["dims"]
            line = q.split(" | ")[-1].split()
            assert line[-6] == f"{m}x{k}x{n}", r["id"]           # the guide's shapes are M x K x N
            assert r["flops"] / (float(line[-5]) * 1e-3) == pytest.approx(tf * 1e12, rel=1e-6), r["id"]  # BF16 ms
        elif r["source"].startswith("pytorch/ao"):
            assert f"tops/sec {tf * 1e12:.2E}" in q, r["id"]
            m, n, k = r["dims"][0], r["dims"][2], r["dims"][1]
            assert f"M, K, N: {m} {k} {n}" in q
        elif r["source"].startswith("vllm"):
            assert f"torch-bf16 {r['measured_tflops']}" in q and f"batch_size {r['m']}.0" in q, r["id"]
            assert f"N={r['n']} K={r['k']}" in q
        else:
            assert f'value: {round(tf * 1e12)} }}' in q and 'key: ""sm_100""'.replace('""', '"') in q, r["id"]
            assert f"m: {r['m']} n: {r['n']} k: {r['k']}" in q


def test_blackwell_bf16_gemm_eff_max_is_what_the_kernel_fit_gives():
    # the fault: B200 / GB200 bf16 GEMMs ran on [default]'s unfitted 0.75 (1,750 TFLOP/s on a
    # DGX B200 at its training clock); cuBLAS measures 1,410-1,450 on large squares. Refitting
    # from 0.75 reproduces the committed value; the fit rows within 3%, where 0.75 was 14-18%
    # too fast (time -14 to -18%)
    import dataclasses
    from workloads.training.calibration import (blackwell_bf16_gemm_errors, blackwell_bf16_gemm_rows,
                                                blackwell_bf16_start, fit_blackwell_bf16)
    eff, loss = fit_blackwell_bf16()
    stored = training_efficiency("GB200")
    assert eff.gemm_eff_max == pytest.approx(stored.gemm_eff_max, rel=0.002)
    assert stored.gemm_eff_max == pytest.approx(0.6276, abs=1e-4)
    assert training_efficiency("B200-180GB").gemm_eff_max == stored.gemm_eff_max       # one die
    fit = blackwell_bf16_gemm_rows("fit", "GB200")
    assert len(fit) == 3 and {r["gpu"] for r in fit} == {"B200-180GB"}
    assert all(r["flops"] >= 1e11 for r in fit)
    assert np.max(np.abs(blackwell_bf16_gemm_errors(stored, fit))) <= 0.03
    before = blackwell_bf16_gemm_errors(blackwell_bf16_start(), fit)
    assert blackwell_bf16_start().gemm_eff_max == 0.75 and np.all((before < -0.13) & (before > -0.19)), before


def test_gb300_bf16_gemm_eff_max_is_what_the_b300_kernel_fit_gives():
    # the fault: [GB300] (Blackwell Ultra) priced bf16 GEMMs on [default]'s unfitted 0.75, 1,875
    # TFLOP/s on a GB300, 19% above the B200 / GB200 die's fitted 1,569. Transformer Engine's GEMM
    # profiling guide (docs/examples/gemm_profiling, "NVIDIA B300 SXM6 AC", BF16, 15,872 tokens x
    # hidden 4096 / FFN 16384) times the four forward GEMMs at 1.071 / 0.307 / 1.393 / 1.426 ms:
    # 1,492 / 1,735 / 1,529 / 1,494 TFLOP/s. Refitting from 0.75 on those rows (the B300 at 2,250
    # TFLOP/s) reproduces the committed 0.6974; at 0.75 the three large GEMMs ran 9-11% too fast
    from workloads.training.calibration import (blackwell_bf16_gemm_errors, blackwell_bf16_gemm_rows,
                                                blackwell_bf16_start, fit_blackwell_bf16)
    eff, loss = fit_blackwell_bf16("GB300")
    stored = training_efficiency("GB300")
    assert eff.gemm_eff_max == pytest.approx(stored.gemm_eff_max, rel=0.002)
    assert stored.gemm_eff_max == pytest.approx(0.6974, abs=1e-4)
    fit = blackwell_bf16_gemm_rows("fit", "GB300")
    assert len(fit) == 4 and {r["gpu"] for r in fit} == {"B300-288GB"} and all(r["flops"] >= 1e11 for r in fit)
    err = dict(zip((r["id"].rsplit("_fprop_", 1)[1] for r in fit), blackwell_bf16_gemm_errors(stored, fit)))
    # the 4096 x 4096 attention-out GEMM runs at 1,735 TFLOP/s, 16% above the larger three: the
    # one-constant curve (which makes larger GEMMs faster) cannot follow it; it sits 12% slow
    assert all(-0.05 < err[k] < 0 for k in ("qkv", "mlp_up", "mlp_down")), err
    assert 0.10 < err["attn_out"] < 0.14, err
    before = blackwell_bf16_gemm_errors(blackwell_bf16_start("GB300"), fit)
    assert blackwell_bf16_start("GB300").gemm_eff_max == 0.75 and sorted(before.round(2))[:3] == [-0.11, -0.11, -0.09]
    # held out, the guide's per-layer sums of the same run (its 12 GEMMs, shapes as its tables give
    # them, M x K x N): Dgrad 4.290 ms, Wgrad 4.272 ms, the layer 12.758 ms (13.102 pre-quantized,
    # the same BF16 kernels in another run): predicted 4-7% fast, as the fit's attention-out row pulls
    from sim.compute import ComputeModel, Op
    from sim.hardware import gpu as gpu_spec
    cm = ComputeModel(gpu_spec("B300-288GB"), "bf16", stored, sustained=True)

    def ms(shapes):
        return 1e3 * sum(cm.time(Op("g", 2.0 * m * k * n, 2.0 * (m * k + k * n + m * n), dims=(m, k, n)))
                         for m, k, n in shapes)
    t = 15872
    fprop = [(t, 4096, 12288), (t, 4096, 4096), (t, 4096, 16384), (t, 16384, 4096)]
    dgrad = [(t, 12288, 4096), (t, 4096, 4096), (t, 16384, 4096), (t, 4096, 16384)]
    wgrad = [(4096, t, 12288), (4096, t, 4096), (4096, t, 16384), (16384, t, 4096)]
    assert ms(dgrad) / 4.290 - 1 == pytest.approx(-0.05, abs=0.02)
    assert ms(wgrad) / 4.272 - 1 == pytest.approx(-0.05, abs=0.02)
    layer = ms(fprop + dgrad + wgrad)
    assert -0.06 < layer / 12.758 - 1 < -0.02 and -0.08 < layer / 13.102 - 1 < -0.05
    # on a GB300 (2,500 TFLOP/s, [GB300]'s own board: no clock transfer) that curve gives ~1,740
    # TFLOP/s on large GEMMs, 11% above the GB200's fitted 1,569 (the B300 rows themselves run 9%
    # above the B200 rows' 1,410-1,450)
    rate = {g: ComputeModel(gpu_spec(g), "bf16", training_efficiency(g), sustained=True).peak * training_efficiency(g).gemm_eff_max
            for g in ("GB200", "GB300")}
    assert rate["GB300"] / 1e12 == pytest.approx(1743.5, rel=1e-3) and rate["GB300"] / rate["GB200"] == pytest.approx(1.111, abs=0.005)


def test_blackwell_bf16_curve_on_held_out_kernels():
    # held out: OpenXLA's sm_100 table (b 1, m 4096, n and k 1024-4096: 8.6-137 GFLOP) within 3%
    # median, 10% worst (its K = 1024 shapes run ~7-10% slower than the curve: no K-loop term on
    # [GB200], gemm_half_dim 0); the small GEMMs (< 70 GFLOP) of pytorch/ao and vLLM run 10-35%
    # FASTER than predicted: the 4 us launch gap and 2 GFLOP half-size are [default]'s, not
    # refitted (they would move the FP8 fit and serving), a documented gap
    from workloads.training.calibration import blackwell_bf16_gemm_errors
    stored = training_efficiency("GB200")
    held = _bf16_rows_by_source("holdout")
    xla = blackwell_bf16_gemm_errors(stored, held["OpenXLA"])
    assert len(xla) == 9 and np.median(np.abs(xla)) <= 0.03 and np.max(np.abs(xla)) <= 0.10, xla.round(3)
    small = [r for src in ("pytorch/ao", "vllm-project/vllm") for r in held[src]]
    err = blackwell_bf16_gemm_errors(stored, small)
    assert len(err) == 11 and np.all((err > 0.09) & (err < 0.36)), err.round(3)


def test_blackwell_bf16_fit_keeps_fp4_and_serving_rates():
    # the bf16 curve is the base of every low-precision factor: FP8 was refitted on it
    # (fit_blackwell), FP4 (unmeasured, [default]'s assumption) keeps its rate, 0.8 x 0.75 = 0.60
    # of the FP4 peak, and serving keeps the curve its serve_* factors were fitted on
    from dataclasses import replace
    from sim.compute import constants_row
    from workloads.serving.cost import SERVE_KEYS
    # (gb300bf16: [GB300]'s curve 0.75 -> 0.6974, its FP8 refitted, its FP4 and serving kept alike:
    # serving on GB300 reads the constants it read before, [default]'s bf16 and FP4, FP8 0.9295)
    for g, serve_fp4, serve_fp8 in (("B200-180GB", 0.61, 0.7815), ("GB200", 0.61, 0.7815), ("GB300", 0.8, 0.9295)):
        e = training_efficiency(g)
        assert e.gemm_eff_max < 0.7                  # training's bf16 curve moved ...
        assert e.fp4_gemm_factor * e.gemm_eff_max == pytest.approx(0.8 * 0.75, rel=1e-3)
        row = constants_row(g)
        serve = replace(efficiency_for(g), **{f: row[f"serve_{f}"] for f in SERVE_KEYS if f"serve_{f}" in row})
        assert serve.gemm_eff_max == 0.75 and serve.fp4_gemm_factor == serve_fp4 and serve.fp8_gemm_factor == serve_fp8  # ... serving's did not
    e = training_efficiency("GB300")                 # FP8 refitted on the new curve: its rate moved < 0.1%
    assert e.fp8_gemm_factor * e.gemm_eff_max == pytest.approx(0.9295 * 0.75, rel=1e-3)
