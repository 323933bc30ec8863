"""The fused-MoE grouped GEMM model (workloads/serving/fused_moe.py): M-tile padding by tokens per
expert, and the public kernel table it is checked against (data/fused_moe_kernels.csv)."""

import csv
import math
from pathlib import Path

import pytest

from sim.compute import ComputeModel, efficiency_for
from sim.hardware import gpu
from workloads.serving import fused_moe as fm

KERNELS = Path(fm.__file__).parent / "data" / "fused_moe_kernels.csv"


def _kernel_rows() -> list[dict]:
    with KERNELS.open() as f:
        return list(csv.DictReader(f))


def _h800_fp8() -> tuple[ComputeModel, float]:
    """The H800's (= H100's) kernel-level FP8 GEMM: the compute model at its measured torch._scaled_mm
    factor (compute.toml fp8_gemm_factor), as the DeepGEMM benchmark times kernels alone."""
    cm = ComputeModel(gpu("H800-SXM-80GB"), "fp8", efficiency_for("H800-SXM-80GB"))
    return cm, cm.rate("fp8")


def _predicted_tflops(row: dict, padded: bool = True) -> float:
    cm, rate = _h800_fp8()
    g, m, n, k = int(row["groups"]), float(row["m_per_group"]), int(row["n"]), int(row["k"])
    pad = fm.uniform_padding(m, float(row["m_spread"]), fm.tile_rows(m, 8.0, 128.0)) if padded else 1.0
    return 2.0 * g * m * n * k / fm.grouped_gemm_seconds(cm, g, m, n, k, rate, pad) / 1e12


def test_tile_rows_closed_form():
    # next power of two of the expected tokens per expert, clamped (TensorRT-LLM [8, 128])
    assert fm.tile_rows(125.0, 8, 128) == 128 and fm.tile_rows(3.0, 8, 128) == 8
    assert fm.tile_rows(33.0, 8, 128) == 64 and fm.tile_rows(5000.0, 8, 128) == 128
    # triton_kernels' matmul_ogs floor of 64
    assert fm.tile_rows(20.0, 64, 128) == 64


def test_row_padding_matches_a_direct_binomial_sum():
    n, k, experts = 300, 4, 32                      # mean 37.5 tokens per expert: tile 64
    p = k / experts
    direct = sum(math.comb(n, m) * p ** m * (1 - p) ** (n - m) * math.ceil(m / 64) for m in range(1, n + 1))
    assert fm.row_padding(n, k, experts, 8, 128) == pytest.approx(experts * 64 * direct / (n * k), rel=1e-9)


def test_row_padding_at_least_one_and_vanishing_at_large_loads():
    for routed in (1, 7, 50, 160, 1000, 1280, 4096, 8192, 65536):
        for k, e in ((4, 32), (8, 128), (4, 128), (1, 8)):
            assert fm.row_padding(routed, k, e, 8, 128) >= 1.0 - 1e-12
    # GPT-OSS-20B (32 experts, top-4): a decode batch of 1,000 puts 125 tokens on an expert on average,
    # and about 4 in 10 experts cross the 128-row tile: 1.40x the routed rows
    assert fm.row_padding(1000, 4, 32, 8, 128) == pytest.approx(1.40, abs=0.02)
    # 8,192-token prefill chunks of Qwen3-30B-A3B (128 experts, top-8): 512 per expert, +12 %
    assert fm.row_padding(8192, 8, 128, 8, 128) < 1.13
    assert fm.row_padding(65536, 8, 128, 8, 128) < 1.03
    # every routed row on one expert (top_k = experts): a whole number of tiles
    assert fm.row_padding(200, 8, 8, 8, 128) == pytest.approx(256 / 200)


def test_more_tokens_never_take_less_time_and_large_loads_run_fastest():
    """Invariants over GPT-OSS-20B's expert GEMM (32 experts, top-4, 2,880 x 5,760) from 1 to 2,500
    tokens per expert: the issued rows never fall as tokens grow (a wider tile replaces two narrow
    ones), so neither does the launch's time; per routed FLOP no load beats the largest (the padding
    only ever costs)."""
    cm, rate = _h800_fp8()
    last_t, rates = 0.0, []
    for routed in range(8, 20000, 97):
        m = routed * 4 / 32
        t = fm.grouped_gemm_seconds(cm, 32, m, 5760, 2880, rate, fm.row_padding(routed, 4, 32, 8, 128))
        assert t >= last_t * (1 - 1e-12)
        last_t = t
        rates.append(2.0 * 32 * m * 5760 * 2880 / t)
    assert max(rates) == rates[-1]


def test_kernel_table_is_cited_and_held_out():
    rows = _kernel_rows()
    assert len(rows) == 28 and all(r["fit"] == "held-out" and "DeepGEMM" in r["source"] for r in rows)
    assert {r["layout"] for r in rows} == {"dense", "contiguous", "masked"}


def test_deepgemm_grouped_gemms_run_at_their_dense_rate():
    """DeepGEMM's grouped contiguous FP8 GEMMs on H800 (4-8 experts x 4,096-8,192 rows) reach its dense
    GEMM's rate at the same N, K and M = 4,096 (0.99-1.07x): a grouped launch of large per-expert
    blocks is no slower per FLOP than a dense GEMM, the ``grouped`` family's 1.0."""
    rows = {r["id"]: float(r["tflops"]) for r in _kernel_rows()}
    for g, m in ((4, 8192), (8, 4096)):
        for n, k in ((4096, 7168), (7168, 2048)):
            ratio = rows[f"dg_contig_g{g}_m{m}_n{n}_k{k}"] / rows[f"dg_dense_m4096_n{n}_k{k}"]
            assert 0.95 <= ratio <= 1.10


def test_deepgemm_masked_rows_need_the_tile_padding():
    """Held out (nothing fitted): DeepGEMM's masked grouped FP8 GEMMs on H800, 1-4 experts of 1,024-256
    expected rows each drawn x U(0.7, 1.3) as its benchmark draws them. With each expert's rows padded to
    the 128-row tile, dcsim's dense FP8 curve predicts each within 12 % (-6 to +9 %); without the padding the
    error grows as the rows per expert fall, to +21 / +27 % at 256 rows."""
    rows = [r for r in _kernel_rows() if r["layout"] == "masked"]
    assert len(rows) == 6
    for r in rows:
        err = _predicted_tflops(r) / float(r["tflops"]) - 1.0
        assert abs(err) <= 0.12, (r["id"], err)
    for r in rows:
        if r["m_per_group"] == "256":
            assert _predicted_tflops(r, padded=False) / float(r["tflops"]) - 1.0 > 0.18, r["id"]


def test_deepgemm_contiguous_rows_within_20_percent():
    """Held out: the grouped contiguous rows (no padding: the rows are whole tiles) on the dense curve."""
    for r in (r for r in _kernel_rows() if r["layout"] == "contiguous"):
        assert abs(_predicted_tflops(r) / float(r["tflops"]) - 1.0) <= 0.20, r["id"]


@pytest.mark.parametrize("n, p, tile", [(1, 4 / 128, 8.0), (37, 0.25, 8.0), (500, 8 / 128, 16.0),
                                        (4096, 4 / 128, 128.0), (20000, 8 / 256, 128.0)])
def test_expected_tiles_is_the_binomial_expectation(n, p, tile):
    # E[ceil(m / tile)], m ~ Binomial(n, p), summed exactly over every m (math.comb in log space)
    # and, with tile = 1, E[m] = n p: the vectorized sum agrees to 1e-9
    from workloads.serving.fused_moe import _expected_tiles
    exact = sum(math.exp(math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)
                         + m * math.log(p) + (n - m) * math.log1p(-p)) * math.ceil(m / tile)
                for m in range(1, n + 1))
    assert _expected_tiles(n, p, tile) == pytest.approx(exact, rel=1e-9)
    assert _expected_tiles(n, p, 1.0) == pytest.approx(n * p, rel=1e-9)


# -- the mixed-input (weight-only MXFP4 x BF16) kernel's rate by M tile ------------------------------

def test_mixed_input_efficiency_closed_form():
    # one weight-tile dequantization per M tile: MMA(tile) + (1/e - 1) MMA(tile_ref)
    a = 1.0 / 0.743 - 1.0
    assert fm.mixed_input_efficiency(64.0, 0.58, 0.743, 128.0) == pytest.approx(1.0 / (1.0 + a * 2.0))
    assert fm.mixed_input_efficiency(16.0, 0.58, 0.743, 128.0, 10.0) == pytest.approx(1.0 / (1.0 + a * 138.0 / 26.0))
    # the large-M tile runs at the kernel's measured large-M rate
    assert fm.mixed_input_efficiency(128.0, 0.58, 0.743, 128.0, 9.8) == 0.58
    assert fm.mixed_input_efficiency(256.0, 0.58, 0.743, 128.0, 9.8) == 0.58


def test_mixed_input_efficiency_falls_with_fewer_rows_per_tile():
    effs = [fm.mixed_input_efficiency(t, 0.58, 0.743, 128.0, 9.774) for t in (8.0, 16.0, 32.0, 64.0)]
    assert all(x < y for x, y in zip(effs, effs[1:]))
    assert effs[0] < 0.3 and effs[-1] < 0.743


@pytest.mark.parametrize("bad", [(64.0, 0.0, 0.7), (64.0, 0.58, 1.5), (0.0, 0.58, 0.7)])
def test_mixed_input_efficiency_rejects_bad_input(bad):
    tile, eff, deq = bad
    with pytest.raises(ValueError):
        fm.mixed_input_efficiency(tile, eff, deq, 128.0)


def _heldout_row(case_id: str) -> dict:
    from sim.app.validation.serving_heldout import heldout_cases
    return next(r for r in heldout_cases() if r["id"] == case_id)


@pytest.mark.parametrize("case_id, measured", [("trtllm12_GPT_OSS_120B_H200_tp1_1024_8192", 3543),
                                               ("trtllm12_GPT_OSS_120B_H200_tp1_1000_1000", 6868)])
def test_gpt_oss_hopper_small_m_decode_within_20_percent(case_id, measured):
    # issue 12 (gptosshop): the large-M mixed-input rate at every M read these +27.4 / +26.1 %
    # (decode at ~3 and ~32 tokens per expert); with one dequantization per M tile: -0.8 / +10.4 %. Since
    # tritonhop TensorRT-LLM's padded experts (3.7 GB more weights) leave 1000/1000 ~496 sequences (993k-token pool), in the
    # 512-row graph as 1024/1024 (+7.1 -> +15.1 %; 1024/1024 +25.1 -> +13.0 %), 1024/8192 -7.9 %
    from sim.app.validation.serving import run_case
    c = run_case(_heldout_row(case_id), None)
    assert c["measured"] == measured
    assert abs(c["error"]) <= 0.20


def test_mixed_input_rate_leaves_native_expert_mma_alone():
    # Blackwell runs GPT-OSS's MXFP4 experts on FP4-capable tensor cores (FP8 activations: the f8f6f4
    # MMA takes the weights as stored): no dequantizing main loop, the expert rate is the MMA's at every M
    from sim.config import load_config
    from sim.hardware import gpu as _gpu
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "gpt-oss-120b"}}).model)
    b = IterationCost(spec, _gpu("B200-180GB"), "fp8", "fp8", tp=1, schedule_overhead_s=1e-9)
    b.set_expert_precision("mxfp4")
    assert not b._mixed_input
    h = IterationCost(spec, _gpu("H200-SXM-141GB"), "bf16", "bf16", tp=1, schedule_overhead_s=1e-9)
    h.set_expert_precision("mxfp4")
    assert h._mixed_input
    h.set_expert_compute_precision("bf16")           # the experts' own MMA: no mixed-input loop
    assert not h._mixed_input


# -- CUDA-graph padding rows: copies of one dummy request --------------------------------------------

def test_graph_padded_rows_land_on_top_k_experts_as_whole_tiles():
    # 120B decode: 508 real sequences in the 512 graph, 520 in the 1024 graph (128 experts, top-4)
    n, P, k, E = 520, 1024, 4, 128
    tile = fm.tile_rows(P * k / E, 8.0, 128.0)                     # the launch's rows set the tile: 32
    assert tile == 32.0
    real = E * tile * fm._expected_tiles(n, k / E, tile)
    dummy = k * tile * math.ceil((P - n) / tile)                   # 504 copies x 4 experts, 16 tiles each
    assert fm.graph_padded_row_padding(n, P, k, E, 8.0, 128.0) == pytest.approx((real + dummy) / (P * k))
    # no padding: the plain launch
    assert fm.graph_padded_row_padding(P, P, k, E, 8.0, 128.0) == fm.row_padding(P, k, E, 8.0, 128.0)


def test_graph_padding_never_issues_fewer_rows_than_the_real_batch_alone():
    for n, P, k, E in [(520, 1024, 4, 128), (1200, 2048, 4, 32), (3, 4, 8, 256), (100, 128, 1, 16)]:
        issued = fm.graph_padded_row_padding(n, P, k, E, 8.0, 128.0) * P * k
        assert issued >= n * k
        assert issued >= (P - n) * min(k, E) - 1e-9




def test_graph_padding_when_every_token_reaches_every_expert():
    # top_k >= experts: each expert holds all n real rows (row_padding's p >= 1 case), so the real rows
    # issue experts x ceil(n / tile) tiles; 64 real + 64 dummy tokens, 2 experts, 64-row tiles: no padding
    assert fm.graph_padded_row_padding(64, 128, 2, 2, 64.0, 64.0) == pytest.approx(1.0)
    for n, P, k, E in [(64, 128, 2, 2), (5, 8, 4, 4), (100, 256, 8, 4)]:
        assert fm.graph_padded_row_padding(n, P, k, E, 8.0, 128.0) * P * min(k, E) >= P * min(k, E) - 1e-9


# -- Hopper per-tensor FP8 fused-MoE layers (issue 12, hopmoe): data/fused_moe_layers.csv --------------------

LAYERS = Path(fm.__file__).parent / "data" / "fused_moe_layers.csv"


def _layer_rows(kernel: str | None = None) -> list[dict]:
    with LAYERS.open() as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if kernel is None or r["kernel"] == kernel]


def _layer_error(r: dict, ops=None) -> float:
    """dcsim's routed-expert ops of one layer (serving_heldout.fused_moe_layer_s, H200 FP8) over the measured
    whole fused-MoE launch, minus 1."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    args = ("H200-SXM-141GB", int(r["tokens"]), int(r["hidden"]), int(r["intermediate"]), int(r["experts"]),
            int(r["top_k"]), 1, "fp8")
    t = fused_moe_layer_s(*args) if ops is None else fused_moe_layer_s(*args, ops=ops)
    return t * 1e6 / float(r["us"]) - 1.0


def test_hopper_fp8_layer_table_is_cited_and_held_out():
    rows = _layer_rows()
    assert len(rows) == 45 and all(r["fit"] == "held-out" and "PR #5680" in r["source"] for r in rows)
    assert {r["kernel"] for r in rows} == {"triton", "sglang-cutlass-wip"}
    assert all(r["gpu"] == "H200" and r["precision"] == "fp8_per_tensor" and r["cuda_graphs"] == "1" for r in rows)


def test_hopper_fp8_triton_fused_moe_layers_within_20_percent():
    """Held out (nothing fitted): SGLang's tuned Triton per-tensor FP8 fused MoE on H200 under CUDA graphs
    (sglang PR #5680's table), 23 launches of 0.1-64 tokens per expert over Mixtral-, Llama-4-Scout-, Qwen2-57B-
    and Qwen3-MoE-shaped layers: dcsim's routed-expert ops (dense FP8 curve, family_eff 1.0, tile padding) within
    20 % of each (-18.5 to +11.1 %), median |error| under 8 %. dcsim is fastest against the narrowest experts
    (intermediate 448: -14 to -19 %), not by tokens per expert."""
    errs = [_layer_error(r) for r in _layer_rows("triton")]
    assert len(errs) == 23
    assert all(abs(e) <= 0.20 for e in errs), errs
    assert sorted(abs(e) for e in errs)[len(errs) // 2] < 0.08


def test_llama4_shaped_hopper_fp8_layers_match_and_show_no_small_m_falloff():
    """The mechanism the Hopper Llama 4 rows were suspected of (issue 12, hopmoe): a grouped FP8 GEMM that runs
    slower than dcsim's dense curve at the 1-32 tokens per expert of their decode steps. On the Llama-4-Scout-
    shaped layers of sglang PR #5680 (16 experts, top-1, hidden 5,120 / intermediate 4,096 and 8,192 / 1,280) the
    Triton kernel is within 6 % at every load, and the slowest public per-tensor kernel (that PR's untuned
    CUTLASS path, separate quantize / shuffle kernels) at most 22 % over dcsim's whole layer at 8-32 tokens per
    expert. The rows ask for the expert GEMMs at ~2x (MAVERICK_HOPPER_GAP's diagnostic); at 2x the layer would be
    1.55-1.76x the slowest measured kernel and 1.79-1.88x the Triton one: such a kernel would fail here."""
    scout = [r for r in _layer_rows() if r["id"].startswith("sg5680_scout")]
    assert len(scout) == 12
    for r in scout:
        e = _layer_error(r)
        if r["kernel"] == "triton":
            assert abs(e) <= 0.06, (r["id"], e)
        elif int(r["tokens"]) >= 128:                       # 8-32 tokens per expert: the decode regime
            assert -0.20 <= e <= 0.0, (r["id"], e)
    gemms = ("expert_up", "expert_down")
    for r in scout:
        if r["hidden"] == "5120":
            doubled = (1.0 + _layer_error(r)) + (1.0 + _layer_error(r, gemms))   # layer + GEMMs once more
            assert doubled >= 1.5, (r["id"], doubled)


def test_hopper_fp8_grouped_gemm_weight_read_rate_bracketed_by_the_kernels():
    """Memory-bound Llama-4-Scout-shaped launches (1 GB of FP8 expert weights, 8-32 tokens per expert): the
    measured whole launches imply weight reads of at least 2.8-3.5 TB/s on H200 (weights over launch time);
    dcsim's grouped GEMMs alone read at 3.8 TB/s (0.79 of 4.8 TB/s), faster than the whole launches, and no
    faster than HBM: the rate is not what makes the Hopper MoE rows too fast."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    for r in (r for r in _layer_rows() if r["id"].startswith("sg5680_scout_k5120")):
        w = int(r["experts"]) * 3 * int(r["hidden"]) * int(r["intermediate"])          # FP8: 1 byte each
        g = fused_moe_layer_s("H200-SXM-141GB", int(r["tokens"]), 5120, 4096, 16, 1, 1, "fp8",
                              ops=("expert_up", "expert_down"))
        measured_rate = w / (float(r["us"]) * 1e-6)
        assert 2.7e12 <= measured_rate <= w / g <= 4.8e12, (r["id"], measured_rate, w / g)


def test_fused_moe_layer_s_rejects_unknown_ops():
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    with pytest.raises(ValueError, match="ops"):
        fused_moe_layer_s("H200-SXM-141GB", 8, 5120, 4096, 16, 1, 1, "fp8", ops=("expert_gate",))
def test_rank_load_factor_is_one_without_skew_or_without_ep():
    assert fm.rank_load_factor(0.0, 256, 8) == 1.0
    assert fm.rank_load_factor(2.0, 256, 1) == 1.0
    with pytest.raises(ValueError):
        fm.rank_load_factor(-0.1, 256, 8)


def test_rank_load_factor_grows_with_ranks_and_skew():
    f = [fm.rank_load_factor(1.0, 256, n) for n in (2, 4, 8, 16, 32)]
    assert all(b > a for a, b in zip(f, f[1:]))
    assert fm.rank_load_factor(2.0, 128, 8) > fm.rank_load_factor(1.0, 128, 8)


def _sampled_rank_loads(cv, E, N, trials, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    s2 = math.log(1.0 + cv * cv)
    loads = rng.lognormal(-s2 / 2.0, math.sqrt(s2), size=(trials, E))
    return loads.reshape(trials, N, E // N).sum(axis=2)


@pytest.mark.parametrize("E, N, cv", [(256, 4, 1.5), (256, 8, 1.5), (256, 32, 1.5), (128, 2, 1.0), (128, 8, 2.0),
                                      (256, 8, 0.5)])
def test_rank_load_factor_matches_a_sampled_placement(E, N, cv):
    """Closed form vs a direct draw: experts' loads lognormal with the given cv, placed in order
    (contiguous blocks of E / N per rank), the largest rank's sum over the mean's."""
    import numpy as np
    ranks = _sampled_rank_loads(cv, E, N, 6000)
    sampled = float(np.mean(ranks.max(axis=1) / ranks.mean(axis=1)))
    assert fm.rank_load_factor(cv, E, N) == pytest.approx(sampled, rel=0.04)


def test_deepseek_preset_skew_reproduces_trtllm_ep32_statistics():
    """TensorRT-LLM examples/wide_ep/ep_load_balancer/README.md: DeepSeek-R1 at EP32 (8 of 256
    experts per rank), the ranks' routed tokens per layer and iteration: (max - mean) / mean 1.564
    and std 491.7 of a mean 1,024 on average. The preset's model.expert_load_cv (fitted to the first)
    gives that max / mean at 32 ranks, and its lognormal experts, drawn, the second; the held-out
    rows' EP8 / EP4 ranks then wait 1.42 / 1.20 x the mean."""
    import tomllib
    import numpy as np
    cv = tomllib.loads((Path(fm.__file__).parents[1] / "presets" / "deepseek-v3.toml").read_text())["expert_load_cv"]
    assert fm.rank_load_factor(cv, 256, 32) == pytest.approx(2.564, rel=0.01)
    ranks = _sampled_rank_loads(cv, 256, 32, 6000)
    assert float(np.mean(ranks.std(axis=1) / ranks.mean(axis=1))) == pytest.approx(491.7 / 1024.0, rel=0.05)
    assert fm.rank_load_factor(cv, 256, 8) == pytest.approx(1.42, abs=0.01)
    assert fm.rank_load_factor(cv, 256, 4) == pytest.approx(1.20, abs=0.01)


def _power_law_rank_max(alpha, E, T, top_k, N, trials, seed=0):
    """aiconfigurator's MoE load generator (collector power_law_logits_v3, docs/POWER_LAW_DISTRIBUTION.md):
    E experts' loads drawn from x^-alpha on [1, 0.8 T], scaled to T x top_k routed copies; the largest of
    N contiguous rank blocks over their mean (averaged over draws)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    u = rng.random((trials, E))
    lo, hi = 1.0, 0.8 * T
    x = ((hi ** (1 - alpha) - lo ** (1 - alpha)) * u + lo ** (1 - alpha)) ** (1 / (1 - alpha))
    x = x / x.sum(axis=1, keepdims=True) * T * top_k
    ranks = x.reshape(trials, N, E // N).sum(axis=2)
    return float(np.mean(ranks.max(axis=1) / ranks.mean(axis=1)))


def test_qwen3_235b_preset_skew_is_aiconfigurator_s_power_law():
    """Issue 12 (skew2): aiconfigurator's power-law alpha estimated by latency matching (1.2 for
    Qwen3-235B, 1.01 for DeepSeek-V3/R1) converted to model.expert_load_cv. The generator at DeepSeek's
    alpha reproduces TensorRT-LLM's measured EP32 max / mean (2.564, the deepseek-v3 preset's cv), which
    is what makes the conversion trustworthy; at Qwen3-235B's alpha and the same 4,096 tokens per step the
    preset's cv gives its most loaded EP4 / EP8 rank within 3 %."""
    import tomllib
    presets = Path(fm.__file__).parents[1] / "presets"
    cv_ds = tomllib.loads((presets / "deepseek-v3.toml").read_text())["expert_load_cv"]
    cv_q = tomllib.loads((presets / "qwen3-235b-a22b.toml").read_text())["expert_load_cv"]
    assert _power_law_rank_max(1.01, 256, 4096, 8, 32, 3000) == pytest.approx(2.564, rel=0.02)
    assert _power_law_rank_max(1.01, 256, 4096, 8, 32, 3000) == pytest.approx(fm.rank_load_factor(cv_ds, 256, 32),
                                                                             rel=0.02)
    for n in (4, 8):
        assert fm.rank_load_factor(cv_q, 128, n) == pytest.approx(_power_law_rank_max(1.2, 128, 4096, 8, n, 3000),
                                                                  rel=0.03)
    # Qwen3.6-35B-A3B counted on random-token traffic (EXPERT_ROUTING_CAPTURE.md): EP4 of 256, 1.35x
    assert fm.rank_load_factor(cv_q, 256, 4) == pytest.approx(1.35, rel=0.02)
# -- triton_kernels' matmul_ogs under expert parallelism (TensorRT-LLM's TRITON backend) ---------------

def test_tile_scale_sizes_the_tile_but_pads_the_real_rows():
    # GPT-OSS-120B H100 DEP4 decode, 400 sequences per rank: 1,600 gathered tokens x top-4 over 128
    # experts = 50 rows per expert (tile 64); matmul_ogs under EP4 sees 6,400 pairs over its 32 local
    # experts = 200 "per expert" and runs 128-row tiles over the same 50 rows
    n, k, E = 1600, 4, 128
    assert fm.tile_rows(n * k / E, 8.0, 128.0) == 64.0
    assert fm.tile_rows(n * k / E * 4, 8.0, 128.0) == 128.0
    expected = E * 128.0 * fm._expected_tiles(n, k / E, 128.0) / (n * k)
    assert fm.row_padding(n, k, E, 8.0, 128.0, tile_scale=4.0) == pytest.approx(expected)
    assert fm.row_padding(n, k, E, 8.0, 128.0, tile_scale=4.0) > 2.5 > fm.row_padding(n, k, E, 8.0, 128.0)
    # scale 1 is the plain launch; the graph-padded launch takes the same scale
    assert fm.row_padding(n, k, E, 8.0, 128.0, tile_scale=1.0) == fm.row_padding(n, k, E, 8.0, 128.0)
    assert fm.graph_padded_row_padding(n, n, k, E, 8.0, 128.0, 4.0) == fm.row_padding(n, k, E, 8.0, 128.0, 4.0)
    assert fm.graph_padded_row_padding(n, 2048, k, E, 8.0, 128.0, 4.0) >= fm.graph_padded_row_padding(
        n, 2048, k, E, 8.0, 128.0)


def _gpt_oss_120b_h100(ep_rule: bool = True, gate_rule: bool = True, dp: int = 4):
    from sim.config import load_config
    from sim.hardware import gpu as _gpu
    from workloads.model import ModelSpec
    from workloads.serving.dp_attention import DpAttentionCost
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "gpt-oss-120b"}}).model)
    c = DpAttentionCost(spec, _gpu("H100-SXM-80GB"), "bf16", "bf16", dp, schedule_overhead_s=1e-9)
    c.set_expert_precision("mxfp4")
    c.moe_ep_tile_all_pairs, c.moe_gate_on_gathered = ep_rule, gate_rule
    return c


def test_triton_ep_rules_are_the_calibration_s_and_apply_to_the_mixed_input_kernel_only():
    c = _gpt_oss_120b_h100()
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    assert fmc["mixed_input_ep_tile_all_pairs"] is True and fmc["mixed_input_gate_on_gathered"] is True
    assert c._mixed_input and c._moe_tile_scale() == 4.0
    # the experts' own MMA (no dequantizing main loop: CUTLASS / TRTLLM-gen backends): no Triton rules
    c.set_expert_compute_precision("bf16")
    assert c._moe_tile_scale() == 1.0
    # one rank: nothing pruned
    assert _gpt_oss_120b_h100(dp=1)._moe_tile_scale() == 1.0


def test_triton_dep_decode_step_closed_form():
    # the rank's step with both rules = without them + the expert GEMMs at the 128-row tile's padding
    # and rate + the gate over the other three ranks' tokens (weights read once)
    T = 400.0
    plain = _gpt_oss_120b_h100(False, False)
    tile = _gpt_oss_120b_h100(True, False)
    both = _gpt_oss_120b_h100(True, True)
    s = plain.spec
    routed = T * 4
    pad128 = fm.row_padding(routed, s.top_k, s.experts, *plain.moe_tile, tile_scale=4.0)
    frac = 1.0 - (1.0 - s.top_k / s.experts) ** routed
    layers = plain._mixed_layers(routed * 4)           # the 128-row tile's mixed-input rate
    assert fm.tile_rows(routed * 4 * s.top_k / s.experts, *plain.moe_tile) == 128.0
    head = plain.compute.time_of(T * plain._h_flop, plain._h_w + T * plain._h_smp, 0.0, 0, 1.0)
    assert tile._fixed_stage_s(T, T) == pytest.approx(layers.seconds(T, frac, pad128) + head)
    gate = 0.0
    for o, n in plain.layers.ops:
        if o.name in ("router", "router_softmax_topk"):
            x = 3 * T
            d = min(o.d1 * x, o.dmin) if o.d1 else 0.0
            gate += n * plain.compute.time_of(o.f1 * x, o.b1 * x, o.x1 * x, 0, o.count, d, o.rate)
    assert gate > 0.0
    assert both._fixed_stage_s(T, T) == pytest.approx(tile._fixed_stage_s(T, T) + gate)
    # the 128-row tiles over 50 rows per expert cost the step: more than the gate, less than doubling it
    assert 1.1 * plain._fixed_stage_s(T, T) < tile._fixed_stage_s(T, T) < 2.0 * plain._fixed_stage_s(T, T)


# -- Blackwell NVFP4 fused-MoE layers (issue 12, bwmoe): data/fused_moe_layers_blackwell.csv ---------------------

BW_LAYERS = Path(fm.__file__).parent / "data" / "fused_moe_layers_blackwell.csv"


def _bw_rows(family: str | None = None, kernel: str = "trtllm-cutlass") -> list[dict]:
    with BW_LAYERS.open() as f:
        rows = [r for r in csv.DictReader(f) if r["kernel"] == kernel]
    return [r for r in rows if family is None or r["id"].rsplit("_t", 1)[0] == family]


def _bw_error(r: dict, backend: str = "cutlass") -> float:
    """dcsim's whole layer (serving_heldout.fused_moe_layer_s, NVFP4, with the kernel class's terms for
    ``backend``) over the measured launch, minus 1; moe TP splits the intermediate, EP the experts."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    args = (r["gpu"], int(r["tokens"]), int(r["hidden"]), int(r["intermediate"]) // int(r["moe_tp"]),
            int(r["experts"]), int(r["top_k"]), int(r["moe_ep"]), "fp4")
    return fused_moe_layer_s(*args, backend=backend) * 1e3 / float(r["ms"]) - 1.0


def test_blackwell_layer_table_is_cited_and_split():
    with BW_LAYERS.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 227 and all("aiconfigurator" in r["source"] and "moe_perf.txt" in r["source"] for r in rows)
    assert {r["kernel"] for r in rows} == {"trtllm-cutlass", "trtllm-gen-minlatency"}
    assert all(r["precision"] in ("nvfp4", "fp8") and r["gpu"] in ("GB200", "B200-180GB") for r in rows)
    # the per-tensor FP8 launches (issue 12, gptbw16): held out, GB200, the CUTLASS class
    fp8 = [r for r in rows if r["precision"] == "fp8"]
    assert len(fp8) == 16 and all(r["fit"] == "held-out" and r["gpu"] == "GB200" and r["kernel"] == "trtllm-cutlass"
                                  and "moe_dtype fp8" in r["source"] for r in fp8)
    fit = [r for r in rows if r["fit"] == "fit"]
    # the constants' fit set: GB200 Mixtral-8x7B and Qwen3-30B-A3B launches of 4,096-65,536 tokens, nothing else
    assert {r["id"].rsplit("_t", 1)[0] for r in fit} == {"aic_gb200_qwen3_30b_cutlass", "aic_gb200_mixtral8x7b_cutlass"}
    assert all(int(r["tokens"]) >= 4096 for r in fit) and len(fit) == 16
    assert all(r["fit"] == "reference" for r in rows if r["kernel"] == "trtllm-gen-minlatency")


def test_cutlass_fp4_constants_fit_their_rows():
    errs = [_bw_error(r) for r in _bw_rows() if r["fit"] == "fit"]
    assert max(abs(e) for e in errs) <= 0.08, errs


@pytest.mark.parametrize("family, tol", [("aic_gb200_qwen3_235b_cutlass", 0.10), ("aic_gb200_qwen3_235b_ep4_cutlass", 0.10),
                                         ("aic_gb200_qwen3_235b_ep2_cutlass", 0.10),
                                         ("aic_gb200_mixtral8x22b_cutlass", 0.15), ("aic_b200_kimi_k2_tp2ep4_cutlass", 0.15)])
def test_cutlass_fp4_held_out_launches_within_tolerance(family, tol):
    """Held out (nothing fitted to them): TensorRT-LLM's CUTLASS NVFP4 fused MoE at 4,096-65,536 tokens on
    the Qwen3-235B shape (one GPU, and EP4: the DEP4 serving rows' layer), Mixtral-8x22B and, on B200, Kimi K2
    (moe TP2 x EP4): dcsim's layer with the kernel class's terms within ``tol`` of each launch (-14..+6 %),
    where dcsim's ops alone are 20-37 % fast."""
    rows = [r for r in _bw_rows(family) if int(r["tokens"]) >= 4096]
    assert len(rows) >= 6
    for r in rows:
        assert abs(_bw_error(r)) <= tol, (r["id"], _bw_error(r))
        assert _bw_error(r, backend="") <= -0.19, (r["id"], _bw_error(r, backend=""))


@pytest.mark.parametrize("family, low, high", [("aic_gb200_deepseek_v3_cutlass", 0.20, 0.50),
                                               ("aic_gb200_deepseek_v3_ep4_cutlass", 0.02, 0.28)])
def test_cutlass_fp4_terms_over_price_deepseek_v3_shaped_launches(family, low, high):
    """The form's known failure (issue 12, bwmoe): on the DeepSeek-V3 shape (hidden 7,168, intermediate 2,048,
    256 experts, top-8; one GPU and EP4) the same kernel runs as dcsim's ops alone price it (-16..+19 %
    at 256-65,536 tokens), and the per-copy and rate terms put the layer 2-50 % over. The DeepSeek-R1
    Blackwell serving rows (the same backend) carry that (serving_heldout DSR1_GAP)."""
    for r in _bw_rows(family):
        e, e0 = _bw_error(r), _bw_error(r, backend="")
        assert low <= e <= high, (r["id"], e)
        assert -0.17 <= e0 <= 0.20, (r["id"], e0)


# issue 12, aicdata: like-for-like reads of the same GB200 table (aiconfigurator gb200/trtllm/1.2.0rc5/moe_perf.txt,
# text copy Mewtwo-Jieyu/AIC-mewtwo 608f99f3): same board, version, balanced routing, 256 experts, EP4 -- only the
# moe TP (the expert width per GPU) differs. fp16 / fp8 launches of the TP4 x EP4 layer at 65,536 tokens (same file):
DSV3_TP4EP4_65536_MS = {"float16": 4.849018732706706, "fp8": 4.966927846272786, "nvfp4": 4.521727879842122}
# GB200 Mixtral-8x7B nvfp4 balanced launches in the 1.2.0rc5 file (tokens: ms); the 1.2.0rc6 file's (this table's fit
# rows) are the same numbers: the two GB200 "versions" are one collection, no version effect can be read from them.
MIXTRAL_GB200_RC5_MS = {256: 0.302021324634552, 1024: 0.36629335085550946, 4096: 1.2081387042999268,
                        16384: 4.609706560770671, 65536: 18.2971674601237}


def test_gb200_rc5_and_rc6_tables_hold_the_same_launches():
    rows = {int(r["tokens"]): float(r["ms"]) for r in _bw_rows("aic_gb200_mixtral8x7b_cutlass")}
    for t, ms in MIXTRAL_GB200_RC5_MS.items():
        assert rows[t] == pytest.approx(ms, rel=1e-4), t


def test_deepseek_v3_mismatch_follows_the_expert_width_not_board_version_ep_or_experts():
    """The DeepSeek-V3 failure (issue 12, aicdata) is not the board, the TensorRT-LLM rc, the routing
    distribution, the EP split or the expert count: on the same GB200 table, balanced, 256 experts, EP4, the
    layer with the experts split moe TP4 (intermediate 512 per GPU) is priced 15-25 % SHORT by the CUTLASS
    terms while the unsplit one (2,048) is 4-26 % over. Quadrupling the expert width costs the launch only
    +15 % at 65,536 tokens (4.52 -> 5.20 ms for 8.6 TFLOP more: a marginal 12.7 PFLOP/s, above the GPU's
    FP4 peak), and the TP4 x EP4 launch takes the same time in fp16 / fp8 / nvfp4 (within 10 %): the expert
    MMA is not what bounds these launches, where dcsim adds it (dcsim's TP1 / TP4 ratio is 1.74)."""
    tp4 = {int(r["tokens"]): r for r in _bw_rows("aic_gb200_deepseek_v3_tp4ep4_cutlass")}
    tp1 = {int(r["tokens"]): r for r in _bw_rows("aic_gb200_deepseek_v3_ep4_cutlass")}
    assert len(tp4) == 12
    for t in tp4:
        if t >= 4096:
            assert -0.26 <= _bw_error(tp4[t]) <= -0.14, (t, _bw_error(tp4[t]))
            assert 0.04 <= _bw_error(tp1[t]) <= 0.27, (t, _bw_error(tp1[t]))
    measured = float(tp1[65536]["ms"]) / float(tp4[65536]["ms"])
    priced = (1 + _bw_error(tp1[65536])) * float(tp1[65536]["ms"]) / ((1 + _bw_error(tp4[65536])) * float(tp4[65536]["ms"]))
    assert measured < 1.2 and priced > 1.6, (measured, priced)
    ms = DSV3_TP4EP4_65536_MS
    assert float(tp4[65536]["ms"]) == pytest.approx(ms["nvfp4"], rel=1e-5)
    assert max(ms.values()) / min(ms.values()) < 1.10


def test_wide_ep_launches_carry_a_per_token_cost_dcsim_lacks():
    """Known gap (issue 12, aicdata): at moe TP4 x EP64 (4 local experts of width 512) the module still costs
    ~25 ns per input token (hidden 7,168) at 8,192-65,536 tokens, though each token sends only 1/8 of a copy
    to the GPU; dcsim prices the local copies only and reads these launches 56-85 % short. The DEP4 serving
    rows (EP4, 2 local copies per token) are fit without such a term (the EP4 families above), so it is
    recorded, not modelled."""
    rows = {int(r["tokens"]): r for r in _bw_rows("aic_gb200_deepseek_v3_tp4ep64_cutlass")}
    assert len(rows) == 12
    slope_ns = (float(rows[65536]["ms"]) - float(rows[8192]["ms"])) / (65536 - 8192) * 1e6
    assert 22.0 <= slope_ns <= 28.0, slope_ns
    for t, r in rows.items():
        assert -0.86 <= _bw_error(r) <= -0.55, (t, _bw_error(r))


def test_trtllm_gen_min_latency_launches_run_faster_than_dcsim_s_ops():
    """Reference rows: TensorRT-LLM's TRTLLM-gen backend in min-latency mode (DeepSeek-V3 routing, no
    finalize) on GB200 runs the Qwen3-30B / Mixtral layers in 0.43-0.71x dcsim's plain ops' time from 1,024
    tokens (dcsim 1.4-2.3x slower): the CUTLASS terms are that kernel class's, not every Blackwell fused MoE's."""
    for fam in ("aic_gb200_qwen3_30b_gen", "aic_gb200_mixtral8x7b_gen"):
        rows = [r for r in _bw_rows(fam, kernel="trtllm-gen-minlatency") if int(r["tokens"]) >= 1024]
        assert rows
        for r in rows:
            assert 0.35 <= _bw_error(r, backend="") <= 1.40, (r["id"], _bw_error(r, backend=""))


def _qwen3_cost(gpu_name: str = "B200-180GB", precision: str = "fp4"):
    from sim.config import load_config
    from sim.hardware import gpu as _gpu
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "qwen3-30b-a3b"}}).model)
    return IterationCost(spec, _gpu(gpu_name), precision, "fp8", tp=1, pp=1)


def test_cutlass_backend_scales_expert_mma_and_adds_the_per_copy_time():
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    plain, cut = _qwen3_cost(), _qwen3_cost()
    cut.set_fused_moe_backend("cutlass")
    assert cut.moe_copy_s == pytest.approx(fmc["cutlass_fp4_copy_ns"] * 1e-9)
    for (a, _), (b, _) in zip(plain.layers.ops, cut.layers.ops):
        want = a.rate * fmc["cutlass_fp4_gemm_eff"] if (a.expert and a.kind == "gemm") else a.rate
        assert b.rate == pytest.approx(want), a.name
    T = 4096.0
    s = plain.spec
    copies = T * s.top_k * plain.stage_layers * plain.moe_fraction
    assert cut._fixed_stage_s(T, T) > plain._fixed_stage_s(T, T) + cut.moe_copy_s * copies * 0.999
    # idempotent; back to no backend restores the plain layers
    once = cut._fixed_stage_s(T, T)
    cut.set_fused_moe_backend("cutlass")
    assert cut._fixed_stage_s(T, T) == pytest.approx(once)
    cut.set_fused_moe_backend("")
    assert cut._fixed_stage_s(T, T) == pytest.approx(plain._fixed_stage_s(T, T))
    assert cut.moe_copy_s == 0.0


def test_cutlass_backend_leaves_other_mmas_and_gpus_alone():
    # Hopper (no FP4 tensor cores), FP8 experts on Blackwell, and the TRTLLM-gen backend: unchanged
    for c in (_qwen3_cost("H200-SXM-141GB", "fp8"), _qwen3_cost("B200-180GB", "fp8")):
        before = c._fixed_stage_s(2048.0, 2048.0)
        c.set_fused_moe_backend("cutlass")
        assert c.moe_copy_s == 0.0 and c._fixed_stage_s(2048.0, 2048.0) == pytest.approx(before)
    c = _qwen3_cost()
    c.set_fused_moe_backend("trtllm_gen")            # TRTLLM-gen: no per-copy term (its own class, below)
    assert c.moe_copy_s == 0.0
    # W4A8 experts (FP4 weights, FP8-class MMA: GPT-OSS's MXFP8 x MXFP4 CUTLASS path, issue 12 gptbw16): the
    # module's per-copy cost, but not the FP4 MMA's factor (their GEMMs keep the MXFP8 rate)
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    assert "mxfp8" in fmc["cutlass_copy_mmas"] and "fp8" not in fmc["cutlass_copy_mmas"]
    c, ref = _qwen3_cost("B200-180GB", "fp8"), _qwen3_cost("B200-180GB", "fp8")
    for x in (c, ref):
        x.set_expert_precision("mxfp4")
        x.set_expert_compute_precision("mxfp8")
    c.set_fused_moe_backend("cutlass")
    assert c.moe_copy_s == pytest.approx(fmc["cutlass_fp4_copy_ns"] * 1e-9)
    for (a, _), (b, _) in zip(ref.layers.ops, c.layers.ops):
        assert b.rate == pytest.approx(a.rate), a.name
    T = 4096.0
    copies = T * ref.spec.top_k * ref.stage_layers * ref.moe_fraction
    assert c._fixed_stage_s(T, T) == pytest.approx(ref._fixed_stage_s(T, T) + c.moe_copy_s * copies)


def test_cutlass_backend_follows_a_later_expert_mma_change():
    c = _qwen3_cost("B200-180GB", "fp8")
    c.set_fused_moe_backend("cutlass")
    assert c.moe_copy_s == 0.0
    c.set_expert_precision("fp4")
    c.set_expert_compute_precision("fp4")            # NVFP4 W4A4 experts: the kernel class's terms apply now
    assert c.moe_copy_s > 0.0
    ref = _qwen3_cost("B200-180GB", "fp8")
    ref.set_expert_precision("fp4")
    ref.set_expert_compute_precision("fp4")
    eff = next(o.rate for o, _ in c.layers.ops if o.expert and o.kind == "gemm")
    base = next(o.rate for o, _ in ref.layers.ops if o.expert and o.kind == "gemm")
    from workloads.serving.cost import calibration
    assert eff == pytest.approx(base * calibration()["fused_moe"]["cutlass_fp4_gemm_eff"])


def _fp8_launch_error(r: dict, fp4_factor: bool = False) -> float:
    """dcsim's layer for a per-tensor FP8 CUTLASS launch: its ops with the experts' MMA at the dense FP8 rate
    plus the CUTLASS module's cost per routed copy (calibration.toml cutlass_fp4_copy_ns), and with
    ``fp4_factor`` the FP4 MMA's cutlass_fp4_gemm_eff on top of that, over the measured launch, minus 1."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    T, h, i, e, k, ep = (int(r[c]) for c in ("tokens", "hidden", "intermediate", "experts", "top_k", "moe_ep"))
    gemms = fused_moe_layer_s(r["gpu"], T, h, i, e, k, ep, "fp8", ops=("expert_up", "expert_down"))
    ops = fused_moe_layer_s(r["gpu"], T, h, i, e, k, ep, "fp8")
    if fp4_factor:
        ops += gemms * (1.0 / fmc["cutlass_fp4_gemm_eff"] - 1.0)
    copies = T / ep * k        # fused_moe_layer_s's routed copies per GPU (k per token, uniform over the ranks)
    return (ops + fmc["cutlass_fp4_copy_ns"] * 1e-9 * copies) * 1e3 / float(r["ms"]) - 1.0


@pytest.mark.parametrize("family", ["aic_gb200_qwen3_235b_ep2_fp8_cutlass", "aic_gb200_mixtral8x7b_fp8_cutlass"])
def test_cutlass_fp8_mma_launches_take_the_copy_cost_not_the_fp4_factor(family):
    """Held out (issue 12, gptbw16; nothing fitted to them): the same GB200 table's per-tensor FP8 CUTLASS
    launches, a copy-heavy shape (Qwen3-235B at EP2: 64 local experts, top-8) and a GEMM-bound one (Mixtral-8x7B),
    6,144-65,536 tokens. dcsim's ops at the dense FP8 rate plus the module's per-copy cost read within 12 %
    (+8..+10 % / -9..-1 %); the FP4 MMA's factor on top over-prices them by 15-30 %: the per-copy cost belongs
    to the module whatever its MMA, the factor to the FP4 MMA only (calibration.toml cutlass_copy_mmas, which
    puts GPT-OSS's W4A8 MXFP8 x MXFP4 experts, also an FP8-class MMA, under the copy cost alone)."""
    rows = [r for r in _bw_rows(family) if int(r["tokens"]) >= 6144]
    assert len(rows) == 7 and all(r["precision"] == "fp8" for r in rows)
    for r in rows:
        assert abs(_fp8_launch_error(r)) <= 0.12, (r["id"], _fp8_launch_error(r))
        assert 0.15 <= _fp8_launch_error(r, fp4_factor=True) <= 0.30, (r["id"], _fp8_launch_error(r, fp4_factor=True))


def test_fp8_and_nvfp4_launches_of_a_copy_heavy_layer_take_the_same_time():
    """Measured (the GB200 table, Qwen3-235B shape at EP2, 4,096-32,768 tokens): the FP8 launch takes 0.95-1.02x
    the NVFP4 one though its MMA peak is half, so the copies, not the MMA, set these launches; dcsim's FP8
    layer (dense FP8 rate + copy cost) over its NVFP4 layer (FP4 factor + copy cost) stays within 10 % of it
    from 8,192 tokens (at 4,096 / 6,144 dcsim's ratio is 1.26 / 1.13x the measured: its FP8 layer there +18 /
    +10 %, the NVFP4 -6 / -3 %)."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    fp8 = {int(r["tokens"]): r for r in _bw_rows("aic_gb200_qwen3_235b_ep2_fp8_cutlass")}
    nv = {int(r["tokens"]): r for r in _bw_rows("aic_gb200_qwen3_235b_ep2_cutlass")}
    assert len(nv) == 7
    for t, r in nv.items():
        measured = float(fp8[t]["ms"]) / float(r["ms"])
        assert 0.94 <= measured <= 1.03, (t, measured)
        d_nv = fused_moe_layer_s("GB200", t, 4096, 1536, 128, 8, 2, "fp4", backend="cutlass")
        d_fp8 = (1.0 + _fp8_launch_error(fp8[t])) * float(fp8[t]["ms"]) * 1e-3
        assert abs(d_fp8 / d_nv / measured - 1.0) <= (0.10 if t >= 8192 else 0.30), (t, d_fp8 / d_nv, measured)


def test_unknown_fused_moe_backend_is_a_config_error():
    from sim.errors import ConfigError
    with pytest.raises(ConfigError, match="fused_moe_backend"):
        _qwen3_cost().set_fused_moe_backend("cutlas")


def test_trtllm_profile_runs_the_cutlass_backend():
    from workloads.serving import engines
    assert engines.profile("trtllm").fused_moe_backend == "cutlass"
    assert engines.profile("trtllm-serve").fused_moe_backend == "cutlass"
    assert engines.profile("vllm").fused_moe_backend == ""


def test_serve_moe_backend_overrides_the_engine_s_class():
    """serve.moe_backend (a run's MoeConfig backend) replaces engines.toml fused_moe_backend for that run's
    replicas; a value outside the classes is refused naming the key."""
    from sim.config import load_config
    from sim.errors import ConfigError
    from sim.app.validation.serving_inferencex import step_cost
    import csv as _csv
    from sim.app.validation.serving_inferencex import DATA
    with (DATA.parent / "inferencex_blackwell.csv").open() as f:
        row = next(iter(_csv.DictReader(f)))
    assert step_cost(row).fused_moe_backend == "trtllm_gen"
    assert step_cost({**row, "moe_backend": ""}).fused_moe_backend == "cutlass"      # trtllm-serve's default
    with pytest.raises(ConfigError, match="serve.moe_backend"):
        load_config(data={"run": {"kind": "serve"}, "model": {"preset": "gpt-oss-120b"},
                          "serve": {"moe_backend": "deepgemm"}, "topology": {"gpu": "B200-180GB", "gpus": 1}})


@pytest.mark.parametrize("backend,key,bad", [
    ("cutlass", "cutlass_fp4_gemm_eff", 0.0), ("cutlass", "cutlass_fp4_gemm_eff", float("nan")),
    ("cutlass", "cutlass_fp4_gemm_eff", 1.5), ("cutlass", "cutlass_fp4_copy_ns", -1.0),
    ("cutlass", "cutlass_fp4_copy_ns", float("inf")), ("cutlass", "cutlass_launch_us", -1.0),
    ("cutlass", "cutlass_launch_us", float("nan")), ("cutlass", "cutlass_launch_us", "62"),
    ("cutlass", "cutlass_hbm_eff", 1.5), ("cutlass", "cutlass_hbm_eff", -0.1), ("cutlass", "cutlass_hbm_eff", float("nan")),
    ("trtllm_gen", "trtllm_gen_hbm_eff", 0.0), ("trtllm_gen", "trtllm_gen_hbm_eff", float("nan")),
    ("trtllm_gen", "trtllm_gen_hbm_eff", 1.2), ("trtllm_gen", "trtllm_gen_hbm_eff", "fast"),
    ("trtllm_gen", "trtllm_gen_fused_ops", "permute"), ("trtllm_gen", "trtllm_gen_fused_ops", ["permut"])])
def test_backend_constants_out_of_range_are_refused(monkeypatch, backend, key, bad):
    """calibration.toml [fused_moe] cutlass_fp4_* / trtllm_gen_* edited to NaN / a negative time / an
    efficiency over 1 / a wrong type is refused naming the constant, not carried into every MoE step; the
    shipped values pass, and a GPU where the backend's terms do not apply does not read them."""
    from sim.errors import ConfigError
    from workloads.serving import cost as cost_mod
    good = cost_mod.calibration()
    _qwen3_cost().set_fused_moe_backend(backend)
    data = {**good, "fused_moe": {**good["fused_moe"], key: bad}}
    monkeypatch.setattr(cost_mod, "calibration", lambda: data)
    with pytest.raises(ConfigError) as e:
        _qwen3_cost().set_fused_moe_backend(backend)
    assert key in str(e.value)
    _qwen3_cost("H200-SXM-141GB", "fp8").set_fused_moe_backend(backend)    # not applied there: not read


# -- TRTLLM-gen fused MoE (issue 12, bwgen): calibration.toml [fused_moe] trtllm_gen_* ----------------------------
# FlashInfer's TRTLLM-gen MoE launches on one B300 SXM6 (8 TB/s, the sm100f cubins B200 runs), DeepSeek-V3 shape
# (hidden 7,168, intermediate 2,048, 256 experts, top-8) at EP8 (32 local experts), autotuned, inference
# per-tensor scales, "Repeat 1" table of flashinfer-ai/flashinfer PR #5301 (benchmarks/bench_moe_deepseek.py):
# tokens -> (TRTLLM NVFP4 ms, TRTLLM BF16 ms)
TRTLLM_GEN_B300_DSV3_EP8 = {64: (0.150450, 0.385155), 128: (0.155905, 0.399523), 256: (0.165025, 0.428148),
                            512: (0.176593, 0.435427)}


def test_trtllm_gen_backend_streams_expert_weights_and_drops_its_fused_ops():
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    plain, gen = _qwen3_cost(), _qwen3_cost()
    gen.set_fused_moe_backend("trtllm_gen")
    names = {o.name for o, _ in gen.layers.ops}
    assert not names & set(fmc["trtllm_gen_fused_ops"]) and {"unpermute", "router_softmax_topk"} <= names
    scale = plain.compute.eff.hbm_eff_max / fmc["trtllm_gen_hbm_eff"]
    assert scale < 1.0                                 # B200's serving fit streams below the kernel class
    by = {o.name: o for o, _ in plain.layers.ops}
    for o, _ in gen.layers.ops:
        want = by[o.name].b0 * (scale if (o.expert and o.kind == "gemm") else 1.0)
        assert o.b0 == pytest.approx(want), o.name
    T = 64.0
    assert gen._fixed_stage_s(T, T) < plain._fixed_stage_s(T, T)
    once = gen._fixed_stage_s(T, T)
    gen.set_fused_moe_backend("trtllm_gen")           # idempotent
    assert gen._fixed_stage_s(T, T) == pytest.approx(once)
    gen.set_fused_moe_backend("")                     # back to the plain ops
    assert gen._fixed_stage_s(T, T) == pytest.approx(plain._fixed_stage_s(T, T))
    # Hopper (no sm100f cubins) and a mixed-input expert GEMM: unchanged
    for c in (_qwen3_cost("H200-SXM-141GB", "fp8"),):
        before = c._fixed_stage_s(T, T)
        c.set_fused_moe_backend("trtllm_gen")
        assert c._fixed_stage_s(T, T) == pytest.approx(before)
    # a later expert-precision change keeps the class's terms (GPT-OSS: MXFP4 weights, MXFP8 MMA)
    c = _qwen3_cost("B200-180GB", "bf16")
    c.set_fused_moe_backend("trtllm_gen")
    c.set_expert_precision("mxfp4")
    c.set_expert_compute_precision("mxfp8")
    assert "permute" not in {o.name for o, _ in c.layers.ops}


def test_trtllm_gen_weight_streaming_against_flashinfer_b300_launches():
    """Held out (PR #5301): the BF16 launch reads 2.03 GB more expert weights than the NVFP4 one and takes
    0.235-0.263 ms more (7.5-8.2 TB/s of marginal streaming). dcsim's TRTLLM-gen class (0.85 of 8 TB/s) puts that
    difference +15..+25 % over; the serving fit's 0.6 (no backend) was +63..+78 %, and with the plain kernel's
    bf16 weights at the 16-bit GEMM class's 0.69 (compute.toml serve_gemm_stream_hbm_eff, issue 12 bwhbm)
    +35..+47 %: B200's serve_hbm_eff_max is not this kernel's rate, nor is a cuBLAS-class GEMM's. The whole BF16 launches within 10 %; the NVFP4 ones 20-26 % short: the launch's fixed
    ~60-75 us (routing, activation quantization, finalize, pipeline fill) is more than dcsim's small ops."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    for t, (m4, m16) in TRTLLM_GEN_B300_DSV3_EP8.items():
        def layer(prec, backend):
            return fused_moe_layer_s("B200-180GB", t, 7168, 2048, 256, 8, ep=8, expert_precision=prec,
                                     backend=backend) * 1e3
        gen = layer("bf16", "trtllm_gen") - layer("fp4", "trtllm_gen")
        plain = layer("bf16", "") - layer("fp4", "")
        assert 1.05 <= gen / (m16 - m4) <= 1.30, (t, gen, m16 - m4)
        assert plain / (m16 - m4) >= 1.3, (t, plain, m16 - m4)
        assert abs(layer("bf16", "trtllm_gen") / m16 - 1.0) <= 0.10, t
        assert -0.30 <= layer("fp4", "trtllm_gen") / m4 - 1.0 <= -0.15, t


# -- weight-only (mixed-input) GEMMs at small M on Hopper (issue 12, marlinsmall) --------------------------------

MIXED_SMALL_M = Path(fm.__file__).parent / "data" / "mixed_input_small_m.csv"


def _mixed_input_gemm_us(gpu_name: str, m: int, k: int, n: int, experts: int, top_k: int, dense: bool) -> float:
    """dcsim's microseconds of a weight-only 4-bit GEMM over ``m`` tokens: a BF16 replica with MXFP4 experts
    (the mixed-input path of IterationCost._mixed_layers), the expert GEMMs alone at the launch's M-tile
    padding. ``dense``: one N x K GEMM (the gated up projection of one expert, N = 2 x intermediate); else both
    grouped GEMMs of a gated MoE layer of hidden ``k`` and intermediate ``n``."""
    from sim.config import load_config
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    inter = n // 2 if dense else n
    model = {"preset": "qwen3-30b-a3b", "hidden": k, "expert_ffn_hidden": inter, "experts": experts,
             "top_k": top_k, "heads": 8, "kv_heads": 8, "head_dim": 128}
    cfg = load_config(data={"run": {"kind": "serve"}, "model": model, "serve": {"precision": "bf16"},
                            "topology": {"gpu": gpu_name, "gpus": 1, "gpus_per_node": 1, "fabric": "none"}})
    c = IterationCost(ModelSpec.from_section(cfg.model), gpu(gpu_name), "bf16", "bf16", tp=1, pp=1)
    c.set_expert_precision("mxfp4")
    c.set_mixed_input_kernel("marlin")
    routed = float(m)
    frac = 1.0 - (1.0 - top_k / experts) ** routed
    pad = fm.row_padding(routed, top_k, experts, *c.moe_tile)
    names = {"expert_up"} if dense else {"expert_up", "expert_down"}
    return c._mixed_layers(routed).op_seconds(names, routed, frac, pad) * 1e6


def _mixed_small_m_errors() -> dict[str, float]:
    with MIXED_SMALL_M.open() as f:
        rows = list(csv.DictReader(f))
    return {r["id"]: _mixed_input_gemm_us(r["gpu"], int(r["m_tokens"]), int(r["k"]), int(r["n"]), int(r["experts"]),
                                          int(r["top_k"]), r["kernel"] == "marlin_dense") / float(r["measured_us"]) - 1.0
            for r in rows}


def test_mixed_input_small_m_table_is_sourced():
    with MIXED_SMALL_M.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 20
    for r in rows:
        assert r["source"] and ("PR #" in r["source"] or "benchmarks/results" in r["source"]), r["id"]
        assert r["gpu"] in ("H100-SXM-80GB", "H20-96GB") and float(r["measured_us"]) > 0.0


def test_mixed_input_small_m_within_public_timings():
    """calibration.toml [fused_moe] mixed_input_dequant_s against the public weight-only 4-bit kernel timings
    (data/mixed_input_small_m.csv): vLLM's Marlin W4A16 dense GEMM on H100 (8192 x 8192, M = 1-128) and vLLM's
    fused Marlin MoE (int4 and MXFP4) on H20 at 1-256 tokens. The small-M floor is flat in M (one M tile's
    dequantization + MMA over the padded rows, above the weight read): M = 1..16 within 10 % of one another and
    of the measured ~27 us, where the former form (mixed_input_efficiency's 0.27 of the dense rate at the 8-row
    tile) read 37 us; every row within 30 %; log-RMS over the table <= 15 %."""
    err = _mixed_small_m_errors()
    flat = [err[f"marlin_dense_h100_n8192_k8192_m{m}"] for m in (1, 2, 4, 8, 16)]
    assert max(abs(e) for e in flat) < 0.10, flat
    assert max(abs(e) for e in err.values()) < 0.30, err
    rms = math.sqrt(sum(math.log1p(e) ** 2 for e in err.values()) / len(err))
    assert rms < 0.15, rms


def test_mixed_input_small_m_read_bound_when_dequant_is_cheap():
    # the form max(weight read, dequant + MMA): with no dequant cost a 1-token GEMM is its weight read
    from sim.config import load_config
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    model = {"preset": "qwen3-30b-a3b", "hidden": 8192, "expert_ffn_hidden": 4096, "experts": 1, "top_k": 1,
             "heads": 8, "kv_heads": 8, "head_dim": 128}
    cfg = load_config(data={"run": {"kind": "serve"}, "model": model, "serve": {"precision": "bf16"},
                            "topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "gpus_per_node": 1, "fabric": "none"}})
    c = IterationCost(ModelSpec.from_section(cfg.model), gpu("H100-SXM-80GB"), "bf16", "bf16", tp=1, pp=1)
    c.set_expert_precision("mxfp4")
    c.set_mixed_input_kernel("marlin")
    layers = c._mixed_layers(1.0)
    up = next(o for o, _ in layers.ops if o.name == "expert_up")
    assert up.m_tile == 8.0 and up.dequant_s > 0.0
    t_read = c.compute.time_of(0.0, up.b0 + up.b1, 0.0, 0, up.count)
    from dataclasses import replace
    layers.ops = [(replace(up, dequant_s=1e-30), 1.0)]
    t0 = layers.seconds(1.0, 1.0, 8.0)
    mma = c.compute.time_of(up.f1 * 8.0, 0.0, 0.0, 0, up.count, 8.0, up.rate)
    assert t0 == pytest.approx(max(t_read, mma))
    layers.ops = [(up, 1.0)]
    deq = up.b0 * up.dequant_s / c.compute.speed
    assert layers.seconds(1.0, 1.0, 8.0) == pytest.approx(max(t_read, mma + deq))


def test_mixed_input_dequant_s_closed_form_and_triton_default():
    # (1 / 0.743 - 1) x 2 x (128 + 9.774) / rate: ~0.13 ps per weight element per M tile on H100 bf16
    rate = 989e12 * 0.7361
    d = fm.mixed_input_dequant_s(0.743, 128.0, rate, 9.774)
    assert d == pytest.approx((1.0 / 0.743 - 1.0) * 2.0 * 137.774 / rate)
    assert 0.1e-12 < d < 0.2e-12
    for bad in ((0.0, 128.0, rate), (1.5, 128.0, rate), (0.743, 128.0, 0.0)):
        with pytest.raises(ValueError):
            fm.mixed_input_dequant_s(*bad)
    from sim.config import load_config
    from sim.errors import ConfigError
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    cfg = load_config(data={"run": {"kind": "serve"}, "model": {"preset": "gpt-oss-120b"}, "serve": {"precision": "bf16"},
                            "topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "gpus_per_node": 1, "fabric": "none"}})
    c = IterationCost(ModelSpec.from_section(cfg.model), gpu("H100-SXM-80GB"), "bf16", "bf16", tp=1, pp=1)
    c.set_expert_precision("mxfp4")
    assert c.moe_mixed_kernel == "triton"
    tri = next(o for o, _ in c._mixed_layers(4.0).ops if o.name == "expert_up")
    c.set_mixed_input_kernel("marlin")
    mar = next(o for o, _ in c._mixed_layers(4.0).ops if o.name == "expert_up")
    # Marlin's sourced per-element cost (mixed_input_small_m.csv) is above Triton's PR #11361 figure
    assert mar.dequant_s > tri.dequant_s > 0.0 and mar.m_tile == tri.m_tile == 8.0
    with pytest.raises(ConfigError, match="serve.moe_backend"):
        c.set_mixed_input_kernel("machete")


def test_weight_only_kernel_is_chosen_by_serve_moe_backend():
    from sim.config import load_config
    from sim.errors import ConfigError
    base = {"run": {"kind": "serve"}, "model": {"preset": "gpt-oss-120b"},
            "topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "gpus_per_node": 1, "fabric": "none"}}
    ok = load_config(data=dict(base, serve={"precision": "bf16", "moe_backend": "marlin"}))
    assert ok.serve.moe_backend == "marlin"
    with pytest.raises(ConfigError, match="moe_backend"):
        load_config(data=dict(base, serve={"precision": "bf16", "moe_backend": "machete"}))


def _drawn_busiest_rank(T, E, K, R, groups=0, group_topk=0, trials=3000, seed=0):
    """Direct draw: T tokens, each with i.i.d. random expert scores, routed to its K best experts; with
    ``groups``, DeepSeek-V3's group-limited rule (noaux_tc: a group's score is the sum of its two best
    experts', the group_topk best groups are kept, the K best experts among them taken); R ranks of
    E / R consecutive experts; the mean over trials of the largest rank's distinct experts read."""
    import numpy as np
    rng = np.random.default_rng(seed)
    m, out = E // R, []
    for _ in range(trials):
        sc = rng.random((T, E))
        if groups:
            gs = np.sort(sc.reshape(T, groups, -1), axis=2)[:, :, -2:].sum(axis=2)
            drop = np.argsort(gs, axis=1)[:, :groups - group_topk]
            mask = np.zeros((T, groups), bool)
            np.put_along_axis(mask, drop, True, axis=1)
            sc = np.where(np.repeat(mask, E // groups, axis=1), -1.0, sc)
        used = np.zeros(E, bool)
        used[np.argsort(sc, axis=1)[:, -K:].ravel()] = True
        out.append(used.reshape(R, m).sum(axis=1).max())
    return float(np.mean(out))


@pytest.mark.parametrize("T", [1, 4, 16])
def test_busiest_rank_expert_fraction_matches_drawn_uniform_routing(T):
    """DeepSeek's 256 experts, top-8, EP8: the busiest rank's distinct experts (2.5 at 1 token against
    a mean of 1.0) as drawn."""
    drawn = _drawn_busiest_rank(T, 256, 8, 8, trials=1500)
    assert 32 * fm.busiest_rank_expert_fraction(T, 8, 256, 8) == pytest.approx(drawn, rel=0.05)


@pytest.mark.parametrize("T", [1, 4, 16])
def test_busiest_rank_expert_fraction_matches_drawn_group_limited_routing(T):
    """n_group 8, topk_group 4 at EP8 (one group per rank), drawn with DeepSeek-V3's group selection:
    more concentrated than uniform (3.0 drawn against 2.5 experts at 1 token). The closed form reads
    6 / 3 / 1 % high at 1 / 4 / 16 tokens (its ranks independent, a token's experts split over its groups
    hypergeometrically, where the selection by two best scores spreads them more evenly)."""
    drawn = _drawn_busiest_rank(T, 256, 8, 8, groups=8, group_topk=4, trials=1500)
    got = 32 * fm.busiest_rank_expert_fraction(T, 8, 256, 8, 8, 4)
    assert got == pytest.approx(drawn, rel=0.08)
    assert got >= drawn
    assert got > 32 * fm.busiest_rank_expert_fraction(T, 8, 256, 8)


def test_busiest_rank_expert_fraction_limits():
    q4 = 1.0 - (1.0 - 8 / 256) ** 4
    assert fm.busiest_rank_expert_fraction(4, 8, 256, 1) == pytest.approx(q4)      # no EP: the mean share
    assert fm.busiest_rank_expert_fraction(4, 8, 256, 1, 8, 4) == pytest.approx(q4)
    assert fm.busiest_rank_expert_fraction(0, 8, 256, 8) == 0.0
    # the spread is a small-batch term: at 64 tokens within 10 % of the mean rank, every expert at 1,024
    assert fm.busiest_rank_expert_fraction(64, 8, 256, 8) < 1.1 * (1.0 - (1.0 - 8 / 256) ** 64)
    assert fm.busiest_rank_expert_fraction(1024, 8, 256, 8, 8, 4) == pytest.approx(1.0, abs=1e-6)
    # groups that do not map one to a rank (EP4: two per rank) fall back to the uniform form
    assert fm.busiest_rank_expert_fraction(4, 8, 256, 4, 8, 4) == fm.busiest_rank_expert_fraction(4, 8, 256, 4)
    # and so do groups too large for the chain (2 groups of 2,048 experts: minutes of matrix powers a run)
    big = 2 * (fm.GROUPED_MAX_GROUP_EXPERTS + 1)
    assert fm.busiest_rank_expert_fraction(4, 8, big, 2, 2, 1) == fm.busiest_rank_expert_fraction(4, 8, big, 2)
    assert fm.busiest_rank_expert_fraction(4, 8, 64, 2, 2, 1) != fm.busiest_rank_expert_fraction(4, 8, 64, 2)
    # a mean batch between integers interpolates, monotone in the tokens
    f = [fm.busiest_rank_expert_fraction(t, 8, 256, 8, 8, 4) for t in (1.0, 1.5, 2.0, 3.0, 8.0)]
    assert all(b > a for a, b in zip(f, f[1:]))


def test_trtllm_gen_experts_take_no_engine_low_precision_penalty():
    """An engine's lowp_weight_read_efficiency (SGLang's 0.71: an estimate from vLLM's CUTLASS / DeepGEMM FP8
    fit, engines.toml) divides the weight bytes of the GEMMs it was fitted to, not the TRTLLM-gen experts',
    whose trtllm_gen_hbm_eff is that kernel's own measured rate of the HBM peak (issue 12, bwhbm): with the
    penalty the experts' bytes are the TRTLLM-gen stream's, the other GEMMs' are divided by it; a CUTLASS MoE
    keeps the penalty on its experts too."""
    ref, pen = _qwen3_cost(precision="fp8"), _qwen3_cost(precision="fp8")
    for c in (ref, pen):
        c.set_fused_moe_backend("trtllm_gen")
    pen.set_weight_read_efficiency(0.71)
    by = {o.name: o for o, _ in ref.layers.ops}
    for o, _ in pen.layers.ops:
        if o.kind != "gemm":
            continue
        want = by[o.name].b0 * (1.0 if o.expert else 1.0 / 0.71)
        assert o.b0 == pytest.approx(want), o.name
    assert any(o.expert and o.kind == "gemm" for o, _ in pen.layers.ops)
    cut = _qwen3_cost(precision="fp8")
    cut.set_fused_moe_backend("cutlass")
    base = {o.name: o.b0 for o, _ in cut.layers.ops}
    cut.set_weight_read_efficiency(0.71)
    assert all(o.b0 == pytest.approx(base[o.name] / 0.71) for o, _ in cut.layers.ops if o.kind == "gemm")


# -- the TRITON MoE backend's expert padding (issue 12, tritonhop) ----------------------------------
def test_aligned_gemm_dims_gpt_oss():
    """TensorRT-LLM's TRITON backend (k_alignment 128, n_alignment 256) pads GPT-OSS's experts: gate+up
    2880 x 5760 -> 2944 x 5888, down 2880 x 2880 -> 2944 x 3072; 1.060 x the FLOPs and weight bytes."""
    assert fm.aligned_gemm_dims(2880, 5760, 128, 256) == (2944.0, 5888.0)
    assert fm.aligned_gemm_dims(2880, 2880, 128, 256) == (2944.0, 3072.0)
    assert fm.aligned_gemm_dims(2880, 2880, 0, 0) == (2880.0, 2880.0)
    assert fm.aligned_gemm_dims(2944, 3072, 128, 256) == (2944.0, 3072.0)     # already aligned
    ratio = (2944 * 5888 + 2944 * 3072) / (2880 * 5760 + 2880 * 2880)
    assert ratio == pytest.approx(1.0601, abs=1e-4)
    for bad in ((0, 2880, 128, 256), (2880, -1, 128, 256), (2880, 2880, -128, 256)):
        with pytest.raises(ValueError):
            fm.aligned_gemm_dims(*bad)


def _gpt_oss_cost(preset="gpt-oss-20b", gpu_name="H100-SXM-80GB"):
    from sim.config import load_config
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    cfg = load_config(data={"run": {"kind": "serve"}, "model": {"preset": preset}, "serve": {"precision": "bf16"},
                            "topology": {"gpu": gpu_name, "gpus": 1, "gpus_per_node": 1, "fabric": "none"}})
    c = IterationCost(ModelSpec.from_section(cfg.model), gpu(gpu_name), "bf16", "bf16", tp=1, pp=1)
    c.set_expert_precision("mxfp4")
    return c


def test_triton_moe_alignment_pads_the_expert_gemms_and_their_weights():
    """IterationCost.set_mixed_input_alignment: the weight-only Triton kernel's expert GEMMs issue the padded
    K x N (FLOPs and weight reads x Kp Np / (K N)) and the engine holds the padded weights
    (expert_pad_bytes: 6.0 % of GPT-OSS's MXFP4 experts); Marlin's experts are not padded."""
    from sim.errors import ConfigError
    c = _gpt_oss_cost()
    plain = {o.name: o for o, _ in c._mixed_layers(4096.0).ops if o.expert and o.kind == "gemm"}
    t0 = c.batch(1024.0, 1024.0, 1024.0 * 1500, 1024.0 * 1500).time_s
    w0 = c.weight_bytes_per_gpu()
    c.set_mixed_input_alignment(128, 256)
    pad = {o.name: o for o, _ in c._mixed_layers(4096.0).ops if o.expert and o.kind == "gemm"}
    up, down = pad["expert_up"], pad["expert_down"]
    top_k = c.spec.top_k
    assert (up.k, up.f1 / (2 * up.k * top_k)) == (2944.0, 5888.0)
    assert (down.k, down.f1 / (2 * down.k * top_k)) == (2944.0, 3072.0)
    assert up.b0 / plain["expert_up"].b0 == pytest.approx(2944 * 5888 / (2880 * 5760))
    assert down.b0 / plain["expert_down"].b0 == pytest.approx(2944 * 3072 / (2880 * 2880))
    experts = c.spec.experts * c.expert_params * round(c.moe_fraction * c.spec.layers) * (0.5 + 1 / 32)
    assert c.expert_pad_bytes == pytest.approx(0.0601 * experts, rel=0.01)
    assert c.weight_bytes_per_gpu() - w0 == pytest.approx(c.expert_pad_bytes)
    t1 = c.batch(1024.0, 1024.0, 1024.0 * 1500, 1024.0 * 1500).time_s
    assert 1.0 < t1 / t0 < 1.06             # only the expert GEMMs grow, by at most their 6 %
    mar = _gpt_oss_cost()
    mar.set_mixed_input_kernel("marlin")
    mar.set_mixed_input_alignment(128, 256)
    assert mar.expert_pad_bytes == 0.0
    assert {o.name: o.k for o, _ in mar._mixed_layers(4096.0).ops if o.expert and o.kind == "gemm"} == \
        {"expert_up": 2880.0, "expert_down": 2880.0}
    for bad in ((-1, 256), (128, 2.5), (True, 256)):
        with pytest.raises(ConfigError):
            c.set_mixed_input_alignment(*bad)


MIXED_TRITON_HOPPER = Path(fm.__file__).parent / "data" / "mixed_input_triton_hopper.csv"


def _triton_grouped_gemm_us(gpu_name: str, m: int, k: int, n: int, experts: int, top_k: int) -> float:
    """dcsim's microseconds of one weight-only Triton grouped GEMM (matmul_ogs, MXFP4 weights x BF16) of ``m``
    routed rows over ``experts`` [k, n] experts: the expert_up op of a BF16 replica with MXFP4 experts
    (N = 2 x intermediate), at the launch's M-tile padding (IterationCost._mixed_layers)."""
    from sim.config import load_config
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    model = {"preset": "qwen3-30b-a3b", "hidden": k, "expert_ffn_hidden": n // 2, "experts": experts,
             "top_k": top_k, "heads": 8, "kv_heads": 8, "head_dim": 128}
    cfg = load_config(data={"run": {"kind": "serve"}, "model": model, "serve": {"precision": "bf16"},
                            "topology": {"gpu": gpu_name, "gpus": 1, "gpus_per_node": 1, "fabric": "none"}})
    c = IterationCost(ModelSpec.from_section(cfg.model), gpu(gpu_name), "bf16", "bf16", tp=1, pp=1)
    c.set_expert_precision("mxfp4")
    assert c.moe_mixed_kernel == "triton"
    routed = float(m)
    frac = 1.0 - (1.0 - top_k / experts) ** routed
    pad = fm.row_padding(routed, top_k, experts, *c.moe_tile)
    return c._mixed_layers(routed).op_seconds({"expert_up"}, routed, frac, pad) * 1e6


def test_triton_small_m_pricing_within_the_public_hopper_bound():
    """dcsim's weight-only Triton MoE GEMM at small M (max(weight read, dequant + MMA over the padded rows);
    calibration.toml [fused_moe]) against the only public H100 timings of triton_kernels' BF16 x MXFP4 grouped
    matmul by rows (data/mixed_input_triton_hopper.csv: 256 experts, 2048 x 4096, 64 and 512 rows; held out).
    They ran a forced 16-row tile without the register cap the repro's PR adds, so they bound the production
    kernel from above: dcsim must not be slower, and stays within 30 % (ptxas 13.2: -22 / -18 %)."""
    with MIXED_TRITON_HOPPER.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["use"] == "bound" and "repro_hopper_mxfp4_ptxas.py" in r["source"] for r in rows)
    for r in rows:
        pred = _triton_grouped_gemm_us(r["gpu"], int(r["m_tokens"]), int(r["k"]), int(r["n"]), int(r["experts"]),
                                       int(r["top_k"]))
        meas = float(r["measured_us"])
        assert pred <= meas, (r["id"], pred, meas)
        if r["ptxas"].startswith("13.2"):
            assert pred >= 0.70 * meas, (r["id"], pred, meas)
    # the step from 64 to 512 rows (4.0x the touched experts' weights) is the weight read's: measured 3.55x
    p64, p512 = (_triton_grouped_gemm_us("H100-SXM-80GB", m, 2048, 4096, 256, 1) for m in (64, 512))
    assert p512 / p64 == pytest.approx(431.5 / 121.5, rel=0.10)


# issue 12, dgbuf: aiconfigurator b200_sxm/trtllm/1.2.0rc5/moe_perf.txt (text copy Mewtwo-Jieyu/AIC-mewtwo 608f99f3),
# kernel_source deepgemm (DeepGemmFusedMoE: collect_moe.py sets moe_backend "deepgemm" for fp8_block on SM100),
# fp8_block, the DeepSeek-V3 shape (hidden 7,168, intermediate 2,048, 256 experts, top-8), moe TP1 x EP64,
# power_law_1.01 (the collector's power_law_logits_v3 swaps the most loaded EP group onto rank 0, the rank timed):
# tokens -> ms. No balanced DeepGEMM launch of this shape was found in the stored copy.
DG_B200_DSV3_EP64_POWER_LAW_MS = {1024: 0.12999039888381958, 4096: 0.26924159526824953, 32768: 1.8905792236328125}


def test_ep_launches_leave_a_cost_per_input_token_not_per_local_copy():
    """serving_inferencex.GATHERED_ROWS_AUDIT's measured lead (issue 12, dgbuf). A fused-MoE launch under EP
    takes every input row (in attention DP: every all-gathered token) and computes the local experts' rows.
    At moe TP4 x EP64 on GB200 (4 local experts, balanced: a local copy per 8 input tokens) the launches of
    4,096-65,536 tokens run 22-29 ns per INPUT token over dcsim's CUTLASS NVFP4 pricing (ops, GEMM rate and
    cutlass_fp4_copy_ns): 180+ ns per local copy, 25x the fitted per-copy cost, and the local GEMMs are a few
    percent of the launch, so it is a cost of the input tokens that dcsim does not price. The full-width
    DeepSeek-V3 layer at EP4 is over-priced instead (the expert-width failure above), so the term does not
    carry over as one constant. B200 DeepGEMM FP8 launches of that shape at EP64 (power-law routing, the
    busiest rank) run 40-65 ns per input token over dcsim's ops. Not adopted (mechanism unidentified, the
    source audit finds no kernel over the input rows beyond the finalize's row write): pinned so that a
    change that prices it shows here."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s
    rows = [r for r in _bw_rows("aic_gb200_deepseek_v3_tp4ep64_cutlass") if int(r["tokens"]) >= 4096]
    assert len(rows) == 8 and all(r["distribution"] == "balanced" for r in rows)
    for r in rows:
        t, ep, k = int(r["tokens"]), int(r["moe_ep"]), int(r["top_k"])
        excess = float(r["ms"]) * 1e-3 - fused_moe_layer_s(r["gpu"], t, 7168, 2048 // int(r["moe_tp"]), 256, k, ep,
                                                            "fp4", backend="cutlass")
        assert 18e-9 <= excess / t <= 32e-9, (r["id"], excess / t)
        assert excess / (t * k / ep) >= 150e-9, r["id"]
    for r in _bw_rows("aic_gb200_deepseek_v3_ep4_cutlass"):
        if int(r["tokens"]) >= 4096:
            assert _bw_error(r) > 0.0, r["id"]            # over-priced: no per-input-token deficit at full width
    for t, ms in DG_B200_DSV3_EP64_POWER_LAW_MS.items():
        excess = ms * 1e-3 - fused_moe_layer_s("B200-180GB", t, 7168, 2048, 256, 8, 64, "fp8")
        assert 40e-9 <= excess / t <= 65e-9, (t, excess / t)


# -- the grouped GEMM's growth with the rows per expert (issue 12, tgenslope) -----------------------------------------
# Hypothesis tested: real fused-MoE kernels between ~2 and ~128 rows per expert cost more as M grows than dcsim's
# roofline max(weight read, padded MMA) says (the InferenceX B200 DeepSeek-R1 decode steps grow faster with the batch
# than dcsim's). Public kernel timings at DeepSeek-V3 shapes say no: dcsim's growth matches or exceeds the kernels'.

MASKED_SMALL_M = Path(fm.__file__).parent / "data" / "fused_moe_masked_small_m.csv"


def _masked_small_m_us(row: dict) -> float:
    """dcsim's microseconds of one DeepGEMM masked grouped FP8 launch on the row's GPU (H100: the compute model
    at its kernel-level FP8 curve, as ``_h800_fp8``), each group's rows padded to the calibration's M tile."""
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    name = {"H100": "H100-SXM-80GB", "H800": "H800-SXM-80GB"}[row["gpu"]]
    cm = ComputeModel(gpu(name), "fp8", efficiency_for(name))
    g, m, n, k = int(row["groups"]), float(row["m_per_group"]), int(row["n"]), int(row["k"])
    pad = fm.uniform_padding(m, float(row["m_spread"]), fm.tile_rows(m, fmc["tile_min"], fmc["tile_max"]))
    return fm.grouped_gemm_seconds(cm, g, m, n, k, cm.rate("fp8"), pad) * 1e6


def _masked_small_m_rows() -> dict[tuple[int, int], dict]:
    with MASKED_SMALL_M.open() as f:
        return {(int(r["m_per_group"]), int(r["n"])): r for r in csv.DictReader(f)}


def test_masked_small_m_table_is_sourced_and_consistent():
    rows = _masked_small_m_rows()
    assert len(rows) == 6 and all(r["fit"] == "held-out" and "DeepGEMM PR #192" in r["source"] for r in rows.values())
    for r in rows.values():          # the printed TFLOPS follow the printed microseconds (both rounded)
        flops = 2.0 * int(r["groups"]) * int(r["m_per_group"]) * int(r["n"]) * int(r["k"])
        assert flops / (float(r["us"]) * 1e-6) / 1e12 == pytest.approx(float(r["tflops"]), rel=0.05), r["id"]


def test_deepgemm_masked_grouped_gemm_is_flat_from_32_to_96_rows_on_h100_as_dcsim_prices_it():
    """Held out (nothing fitted): DeepGEMM's masked grouped FP8 GEMM on H100 (DeepGEMM PR #192, 16 experts, the
    DeepSeek-V3 up (N 4,096, K 7,168) and down (7,168 / 2,048) shapes) takes 168 / 94 us at 32 rows per expert and
    176 / 100 us at 96: +4.8 / +6.4 % for 3x the rows, weight-read bound (2.8 / 2.6 TB/s). dcsim's grouped GEMM
    (max of weight read and padded MMA) is within 5 % of each and grows +3.2 / +6.6 %: its slope there is the
    kernel's. At 160 rows (past the decode regime, a second M tile per expert) dcsim is 12-14 % short."""
    rows = _masked_small_m_rows()
    for n in (4096, 7168):
        lo, hi, top = rows[(32, n)], rows[(96, n)], rows[(160, n)]
        for r in (lo, hi):
            assert abs(_masked_small_m_us(r) / float(r["us"]) - 1.0) <= 0.05, r["id"]
        measured = float(hi["us"]) / float(lo["us"])
        priced = _masked_small_m_us(hi) / _masked_small_m_us(lo)
        assert measured < 1.08 and abs(priced - measured) <= 0.03, (n, measured, priced)
        assert -0.16 <= _masked_small_m_us(top) / float(top["us"]) - 1.0 <= -0.10, top["id"]


def _growth(rows: dict[int, dict], lo: int, hi: int, backend: str) -> tuple[float, float]:
    """(measured, dcsim) launch time at ``hi`` tokens over ``lo`` tokens for one Blackwell family."""
    m = float(rows[hi]["ms"]) / float(rows[lo]["ms"])
    return m, m * (1.0 + _bw_error(rows[hi], backend)) / (1.0 + _bw_error(rows[lo], backend))


@pytest.mark.parametrize("family, lo, hi", [("aic_gb200_deepseek_v3_ep4_cutlass", 256, 4096),      # 8 -> 128 rows
                                            ("aic_gb200_deepseek_v3_ep4_cutlass", 256, 2048),      # 8 -> 64
                                            ("aic_gb200_deepseek_v3_cutlass", 256, 4096),          # 8 -> 128
                                            ("aic_b200_kimi_k2_tp2ep4_cutlass", 256, 6144)])       # 5.3 -> 128
def test_cutlass_fp4_launch_growth_with_rows_per_expert_is_not_flatter_than_measured(family, lo, hi):
    """TensorRT-LLM's CUTLASS NVFP4 fused MoE (aiconfigurator's GB200 / B200 launches, DeepSeek-V3 and Kimi-K2
    shapes) from 5-8 to 64-128 rows per expert: the launch grows x1.37-2.41; dcsim's (with the class's per-copy
    term) grows at least 0.93x as much (GB200 DeepSeek-V3 EP4 x1.70 for x1.73, one GPU x1.75 for x1.61; B200
    Kimi-K2 x2.27 for x2.41): not the systematic under-growth the InferenceX B200 steps would need."""
    rows = {int(r["tokens"]): r for r in _bw_rows(family)}
    measured, priced = _growth(rows, lo, hi, "cutlass")
    assert priced / measured >= 0.93, (family, measured, priced)


def test_trtllm_gen_fp4_launch_growth_from_2_to_16_rows_per_expert_matches_flashinfer():
    """FlashInfer's TRTLLM-gen NVFP4 MoE on B300 (PR #5301, DeepSeek-V3 shape, EP8: 32 local experts) from 64 to
    512 tokens (2 -> 16 rows per expert) grows +17.4 %, dcsim's TRTLLM-gen class +17.8 %; from 64 to 128 tokens
    (2 -> 4 rows, the FP4 TP4 EP4 InferenceX rows' 64 -> 128 sequences) the kernel grows +3.6 % and dcsim +11 %:
    dcsim's MoE already grows faster than the kernel where those steps are too flat (0.3 ms measured, 0.7 ms
    priced over 58 layers, against a measured step growth of 6.5-8 ms)."""
    from sim.app.validation.serving_heldout import fused_moe_layer_s

    def priced(t):
        return fused_moe_layer_s("B200-180GB", t, 7168, 2048, 256, 8, ep=8, expert_precision="fp4",
                                 backend="trtllm_gen")
    meas = {t: m4 for t, (m4, _) in TRTLLM_GEN_B300_DSV3_EP8.items()}
    whole = (priced(512) / priced(64)) / (meas[512] / meas[64])
    assert abs(whole - 1.0) <= 0.03, whole
    assert priced(128) / priced(64) - 1.0 >= 2.0 * (meas[128] / meas[64] - 1.0)


# -- the CUTLASS module's launch term and weight stream; grid occupancy ruled out (issue 12, moegrid17) ----------------

# B200 / GB200 GPU: 74 of each die's 80 SMs enabled, two dies (Chips and Cheese, "Nvidia's B200: Keeping the CUDA
# Juggernaut Rolling", 2025-12: "B200 enables 74 SMs per die, giving 148 SMs across the GPU")
BLACKWELL_SMS = 148
NVFP4_BYTES = 0.5 + 1.0 / 16.0         # 4-bit weights and one FP8 scale per 16


# the candidate calibration.toml [fused_moe] documents and leaves off (issue 12, moegrid17)
CUTLASS_LAUNCH_CANDIDATE = {"cutlass_launch_us": 62.1, "cutlass_hbm_eff": 0.85, "cutlass_fp4_gemm_eff": 0.75,
                            "cutlass_fp4_copy_ns": 7.03}


def _with_candidate(monkeypatch):
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    for k, v in CUTLASS_LAUNCH_CANDIDATE.items():
        monkeypatch.setitem(fmc, k, v)


def test_cutlass_launch_candidate_is_off_and_fits_the_fit_rows(monkeypatch):
    """The shipped constants leave the launch term and the stream off (0); the candidate's values fit the 16 fit
    rows within 5 % (4.0 %; the shipped form 6.9 %)."""
    from workloads.serving.cost import calibration
    fmc = calibration()["fused_moe"]
    assert fmc["cutlass_launch_us"] == 0.0 and fmc["cutlass_hbm_eff"] == 0.0
    c = _qwen3_cost()
    c.set_fused_moe_backend("cutlass")
    assert c.moe_launch_s == 0.0 and c._moe_stream_scale == 1.0
    _with_candidate(monkeypatch)
    errs = [_bw_error(r) for r in _bw_rows() if r["fit"] == "fit"]
    assert max(abs(e) for e in errs) <= 0.05, errs
    c = _qwen3_cost()
    c.set_fused_moe_backend("cutlass")
    assert c.moe_launch_s == pytest.approx(62.1e-6)
    assert c._moe_stream_scale == pytest.approx(min(1.0, c.compute.eff.hbm_eff_max / 0.85)) and c._moe_stream_scale < 1.0
    T = 256.0
    with_launch = c._fixed_stage_s(T, T)
    c.moe_launch_s = 0.0
    c._fixed_memo.clear()
    assert with_launch - c._fixed_stage_s(T, T) == pytest.approx(62.1e-6 * c.stage_layers * c.moe_fraction)


def test_cutlass_fp4_weight_read_bound_launches_take_the_launch_term_and_stream(monkeypatch):
    """Held out (nothing fitted to them): the table's CUTLASS NVFP4 launches below 4,096 tokens (67 rows, seven
    families; weight-read bound at 5-64 rows per expert) are priced within a median 8 % (6.7 %; p90 24 %) with the
    candidate's fixed launch term (the fit rows' intercept) and weight stream (FlashInfer's Nsight figure), where the
    shipped form reads a median 15 % (15.4 %; p90 30 %). Not adopted: end to end a wash (calibration.toml
    [fused_moe], serving_heldout.MOE_STREAM_GAP)."""
    import numpy as np
    rows = [r for r in _bw_rows() if r["fit"] == "held-out" and r["precision"] == "nvfp4" and int(r["tokens"]) < 4096]
    assert len(rows) == 67
    shipped = np.abs([_bw_error(r) for r in rows])
    assert np.median(shipped) >= 0.14 and np.percentile(shipped, 90) >= 0.28, np.median(shipped)
    _with_candidate(monkeypatch)
    cand = np.abs([_bw_error(r) for r in rows])
    assert np.median(cand) <= 0.08 and np.percentile(cand, 90) <= 0.25, np.median(cand)
    big = [r for r in _bw_rows() if r["fit"] == "held-out" and r["precision"] == "nvfp4" and int(r["tokens"]) >= 4096]
    assert np.median(np.abs([_bw_error(r) for r in big])) <= 0.07


def _marginal_per_expert_s(family: str, tokens: int, backend: str | None = None) -> tuple[float, float]:
    """(seconds per added expert, its NVFP4 weight bytes) between a family's one-GPU launch and its EP4 launch of the
    same tokens: measured, or dcsim's (``backend`` given)."""
    one = {int(r["tokens"]): r for r in _bw_rows(f"aic_gb200_{family}_cutlass")}[tokens]
    ep4 = {int(r["tokens"]): r for r in _bw_rows(f"aic_gb200_{family}_ep4_cutlass")}[tokens]
    E, h, i = int(one["experts"]), int(one["hidden"]), int(one["intermediate"])
    if backend is None:
        a, b = float(one["ms"]), float(ep4["ms"])
    else:
        a, b = ((1.0 + _bw_error(r, backend)) * float(r["ms"]) for r in (one, ep4))
    return (a - b) * 1e-3 / (E - E // 4), 3.0 * h * i * NVFP4_BYTES


@pytest.mark.parametrize("tokens", [256, 512, 1024])
def test_small_launch_stream_depends_on_the_expert_shape_not_on_grid_occupancy(tokens):
    """Finding (issue 12, moegrid17), pinned so that a change that explains it shows here. Like for like on the same
    GB200 table (balanced routing, the same shape on one GPU and at EP4: 4x the local experts, the launch's fixed
    costs cancelled by the difference), an added expert at 256-1,024 tokens costs Qwen3-235B's shape (4,096 x 1,536,
    10.6 MB of NVFP4) 3.2-3.6 us, 2.9-3.4 TB/s, and DeepSeek-V3's (7,168 x 2,048, 24.8 MB) 3.9-4.3 us, 5.8-6.4
    TB/s: 1.8-2.0x apart per byte. Every one of these launches has >= 2.6 CTAs per SM (both GEMMs, a 256-column N
    tile, one M tile, 148 SMs) and the added experts thousands of CTAs, so a grid-occupancy model (CTAs x a per-CTA
    stream rate, against the SMs) streams both at one rate; a fixed cost per CTA tile plus one per-byte cost fits
    both only with a negative per-byte cost (the 2 x 2 solve below, 128-column tiles). The measured ratio holds
    at 8-64 rows per expert (not the rows). dcsim's form (one stream rate, the padded MMA at the launch's rows per
    expert, the per-copy cost) puts the two marginals 1.12 / 1.22 / 1.41x apart at 256 / 512 / 1,024 tokens (1.16
    / 1.30 / 1.52x with the launch-term candidate, which prices the intercept, not the marginal), short of the
    measured 1.89 / 1.94 / 1.98x: the shape dependence stays unexplained."""
    (tq, bq), (td, bd) = _marginal_per_expert_s("qwen3_235b", tokens), _marginal_per_expert_s("deepseek_v3", tokens)
    rq, rd = bq / tq, bd / td
    assert 2.8e12 <= rq <= 3.5e12 and 5.7e12 <= rd <= 6.5e12, (rq, rd)
    assert rd / rq >= 1.7
    # occupancy: every launch of the two pairs has at least 2.6 CTAs per SM at a 256-column tile
    for fam in ("aic_gb200_qwen3_235b_cutlass", "aic_gb200_qwen3_235b_ep4_cutlass", "aic_gb200_deepseek_v3_cutlass",
                "aic_gb200_deepseek_v3_ep4_cutlass"):
        r = _bw_rows(fam)[0]
        local = int(r["experts"]) // int(r["moe_ep"])
        ctas = local * (2 * int(r["intermediate"]) + int(r["hidden"])) / 256
        assert ctas / BLACKWELL_SMS >= 2.6, fam
    # a cost per CTA tile (128 columns) plus a cost per byte, SM-seconds per added expert: no positive solution
    tiles = [(2 * 1536 + 4096) / 128, (2 * 2048 + 7168) / 128]
    A = [[tiles[0], bq], [tiles[1], bd]]
    y = [tq * BLACKWELL_SMS, td * BLACKWELL_SMS]
    det = A[0][0] * A[1][1] - A[0][1] * A[1][0]
    per_tile = (y[0] * A[1][1] - A[0][1] * y[1]) / det
    per_byte = (A[0][0] * y[1] - A[1][0] * y[0]) / det
    assert per_byte < 0.0 or per_tile < 0.0, (per_tile, per_byte)
    # dcsim's marginals: closer together than measured
    (pq, _), (pd, _) = _marginal_per_expert_s("qwen3_235b", tokens, "cutlass"), _marginal_per_expert_s("deepseek_v3", tokens, "cutlass")
    assert (bd / pd) / (bq / pq) <= rd / rq - 0.3, ((bd / pd) / (bq / pq), rd / rq)
