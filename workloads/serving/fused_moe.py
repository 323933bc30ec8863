"""The fused-MoE grouped GEMM of serving engines: how many token rows its tensor cores issue and
at what rate, by tokens per expert and kernel family.

Vocabulary:
- routed rows: the ``routed x top_k`` (token, expert) pairs of one MoE layer's launch; an expert
  receives ``m_e`` of them, ``m_e ~ Binomial(routed, top_k / experts)`` under uniform routing
  (trtllm-bench's random-token prompts; trained routers are more skewed, so this is a floor).
- M tile (``tile_rows``): the token rows of one CTA tile. Fused-MoE kernels pick it from the
  expected tokens per expert ``mu = routed x top_k / experts``: the next power of two, clamped to
  ``[tile_min, tile_max]`` (TensorRT-LLM's ``calculate_tile_tokens_dim``, tensorrt_llm/_torch/
  custom_ops/trtllm_gen_custom_ops.py: clamp to [8, 128]; triton_kernels' matmul_ogs on NVIDIA,
  matmul_ogs_details/opt_flags.py: ``block_m = max(64, min(next_power_of_2(tokens_per_expt),
  128))``; DeepGEMM's contiguous layout aligns each expert's rows to the M block, 128).
- padding (``row_padding``): issued rows / routed rows = ``E x tile x E[ceil(m_e / tile)] /
  (routed x top_k)`` >= 1: each expert's last tile is computed whole, and the spread of ``m_e``
  around ``mu`` puts experts over a tile boundary (at mu = 125 and tile 128 about 4 in 10 experts
  run two tiles: padding 1.4).
- kernel family: the fused kernel's rate against the dense GEMM curve of the same precision at
  the same shape (``family_eff``). Grouped GEMMs whose MMA takes the weights as stored (CUTLASS /
  DeepGEMM / TensorRT-LLM-gen): 1.0, DeepGEMM's grouped FP8 GEMMs run at its dense rate (the
  kernel table ``data/fused_moe_kernels.csv``); mixed-input kernels dequantizing narrow weights
  to the activations' precision in the main loop (Triton's MXFP4 x BF16 MoE on Hopper):
  ``mixed_input_eff``, applied by ``IterationCost.set_expert_precision``.
  Constants: ``data/calibration.toml [fused_moe]``. Whole fused-MoE launches on Hopper (per-tensor FP8,
  H200, CUDA graphs; sglang PR #5680's Triton and CUTLASS columns): ``data/fused_moe_layers.csv``, held
  out, checked against ``serving_heldout.fused_moe_layer_s`` (tests/workloads/serving/test_fused_moe.py).
  Whole NVFP4 fused-MoE launches on Blackwell (TensorRT-LLM's CUTLASS and TRTLLM-gen backends, B200 / GB200,
  aiconfigurator's collections): ``data/fused_moe_layers_blackwell.csv``, the source of the CUTLASS kernel
  class's terms (``IterationCost.set_fused_moe_backend``, calibration.toml [fused_moe] ``cutlass_fp4_*``,
  ``cutlass_launch_us``: a fixed time per launch; ``cutlass_hbm_eff``: the experts' weight stream; both off,
  a candidate evaluated in issue 12 moegrid17).
- routing skew (``rank_load_factor``): a trained router does not load its experts alike; with
  ``model.expert_load_cv`` (the coefficient of variation of one MoE layer's per-expert routed
  tokens, std / mean over its experts, on the served traffic) an expert-parallel step waits for
  its most loaded rank, ``rank_load_factor`` x the mean rank's routed rows (1 without skew).

Used by serving only (``IterationCost``); training's grouped experts (Transformer Engine's
GroupedLinear) keep their own model.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# the engines' fused-MoE kernel classes (engines.toml fused_moe_backend, IterationCost.set_fused_moe_backend):
# "" the dense curve, "cutlass" TensorRT-LLM's CUTLASS fused MoE, "trtllm_gen" its TRTLLM-gen kernels
BACKENDS = ("", "cutlass", "trtllm_gen")


_Z = np.linspace(-9.0, 9.0, 7201)
_PHI = np.exp(-0.5 * _Z * _Z) / math.sqrt(2.0 * math.pi)
_CDF = 0.5 * (1.0 + np.array([math.erf(z / math.sqrt(2.0)) for z in _Z]))


@lru_cache(maxsize=1 << 10)
def rank_load_factor(cv: float, experts: int, ranks: int) -> float:
    """Expected routed rows of the most loaded of ``ranks`` expert-parallel ranks over the mean
    rank's (>= 1) when each of a layer's ``experts`` experts carries an independent lognormal load
    of coefficient of variation ``cv`` (std / mean; DeepEP PR #393 fits DeepSeek-V3's per-rank token
    counts best with a lognormal) and each rank holds ``m = experts / ranks`` of them, placed without
    regard to load (contiguous expert ids). A rank's load, a sum of m such loads, is taken as the
    lognormal of the same mean and variance (Fenton-Wilkinson): coefficient of variation
    ``c = cv / sqrt(m)``, ``s^2 = ln(1 + c^2)``; the largest of ``ranks`` of them over their mean is
    ``integral of exp(s z - s^2 / 2) N phi(z) Phi(z)^(N - 1) dz`` (N = ranks; 1 at N = 1). Against a
    direct draw of lognormal experts placed in blocks (the test) within 3 % at 2-32 ranks of 128 or 256
    experts and cv 0.5-2 (high by 2-3 % at cv 2). 1 at cv = 0 or one rank (balanced routing, as without skew); the binomial
    spread of a uniform router's tokens is left out of the routed rows (< 2 % of a rank at the batches served, issue 12);
    of the weight reads at few tokens it is not (``busiest_rank_expert_fraction``).
    Raises ValueError on cv < 0."""
    if cv < 0.0:
        raise ValueError(f"expert load cv must be >= 0, got {cv}")
    if cv == 0.0 or ranks <= 1 or experts <= 1:
        return 1.0
    n = min(int(ranks), int(experts))
    c2 = cv * cv * n / experts
    sig = math.sqrt(math.log1p(c2))
    g = np.exp(sig * _Z - 0.5 * sig * sig) * n * _PHI * _CDF ** (n - 1)
    return max(float(np.sum((g[1:] + g[:-1]) * 0.5 * np.diff(_Z))), 1.0)


# group-limited routing's closed form (busiest_rank_expert_fraction) runs a Markov chain over a group's m
# experts, (m + 1)^2 states per step: real layouts are small (DeepSeek-V3 / R1: 8 groups of 32); past this
# size a group is priced with the uniform form instead of a run that takes minutes
GROUPED_MAX_GROUP_EXPERTS = 256


def busiest_rank_expert_fraction(tokens: float, top_k: int, experts: int, ranks: int, groups: int = 0,
                                 group_topk: int = 0) -> float:
    """Expected share of a rank's ``experts / ranks`` local experts that the most read of ``ranks``
    expert-parallel ranks reads in one MoE layer of ``tokens`` routed tokens (a fraction in [0, 1]).

    A decode step's MoE layer ends in a collective (TP all-reduce, EP combine), so the step waits for
    the rank with the most distinct experts to read. Under uniform routing (trtllm-bench's and
    InferenceX's random-token prompts) each expert is read with probability ``q = 1 - (1 - top_k /
    experts) ** tokens``; a rank's count is taken as Binomial(m, q), m = experts / ranks, independent
    over ranks (a token's top_k experts are distinct, a weak negative correlation), and the busiest
    rank's count is ``E[max] = sum_{d < m} (1 - F(d) ** ranks)``. At few tokens the spread dominates:
    DeepSeek-V3 / R1 (256 experts, top-8) at EP8 reads 2.5 experts on its busiest rank at 1 token
    (mean 1.0), 6.6 at 4 (mean 3.8), 10.6 at 8, 16.7 at 16, 30.3 at 64 (mean 27.9): the spread is a
    +1.2 expert weight read per layer at 1-4 tokens and vanishes past ~16 (uniform draws of the
    routing in the test agree within 2 %). ``ranks`` <= 1 (no expert parallelism): the mean share
    ``q``. Group-limited routing (``groups`` > 0, ``group_topk`` < groups: DeepSeek-V3 / R1's n_group 8,
    topk_group 4) with one group per rank (``ranks == groups``, consecutive expert ids per rank): a token
    reaches ``group_topk`` of the ranks, each with probability group_topk / groups, and picks
    Hypergeometric(group_topk x m, m, top_k) of its experts there, uniformly among the m (a Markov chain
    over the rank's distinct count, ``_grouped_rank_pmf``; the groups' score-based selection is taken as
    uniform): DeepSeek at EP8 3.2 / 7.5 / 11.6 / 17.7 / 30.5 experts at 1 / 4 / 8 / 16 / 64 tokens; draws of
    DeepSeek's rule on random scores (groups by their two best scores, the test) give 3.0 / 7.2 / 17.5 at
    1 / 4 / 16: the closed form is 6 / 3 / 1 % high there. Other layouts (EP4 holding two groups per rank,
    EP16+ splitting one, EPLB's placement), and groups of more than ``GROUPED_MAX_GROUP_EXPERTS``
    experts (the chain's cost grows as m^3 per token count: 4,096 experts in 2 groups took 75 s a run): the
    uniform form. Non-integer ``tokens`` (a mean batch):
    interpolated linearly between the integers around it."""
    if tokens <= 0.0 or top_k <= 0 or experts <= 0:
        return 0.0
    q = 1.0 - (1.0 - min(top_k / experts, 1.0)) ** tokens
    r = min(int(ranks), int(experts))
    if r <= 1:
        return q
    if groups and 0 < group_topk < groups == r and experts % groups == 0 \
            and experts // groups <= GROUPED_MAX_GROUP_EXPERTS:
        lo = math.floor(tokens)
        w = tokens - lo
        f_lo = _grouped_rank_share(int(lo), top_k, experts // r, group_topk, r) if lo >= 1 else 0.0
        f_hi = _grouped_rank_share(int(lo) + 1, top_k, experts // r, group_topk, r) if w > 0.0 else f_lo
        return (1.0 - w) * f_lo + w * f_hi
    return _busiest_rank_share(round(q, 9), int(experts) // r, r)


def _hypergeom(total: int, good: int, draws: int) -> np.ndarray:
    """P(j of ``draws`` taken without replacement from ``total`` are among ``good``), j = 0..draws."""
    return np.array([math.comb(good, j) * math.comb(total - good, draws - j) / math.comb(total, draws)
                     for j in range(draws + 1)])


@lru_cache(maxsize=64)
def _grouped_step(top_k: int, m: int, group_topk: int, groups: int) -> np.ndarray:
    """One token's transition matrix over a rank's distinct experts read (0..m) when the rank holds one
    of ``groups`` groups of m experts and the token picks its top_k among ``group_topk`` groups."""
    hit = group_topk / groups
    pj = _hypergeom(group_topk * m, m, top_k)
    P = np.zeros((m + 1, m + 1))
    for d in range(m + 1):
        P[d, d] += 1.0 - hit
        for j, p in enumerate(pj):
            if p == 0.0 or j > m:
                continue
            new = _hypergeom(m, m - d, j) if j else np.ones(1)
            for k, pn in enumerate(new):
                if pn:
                    P[d, d + k] += hit * p * pn
    return P


@lru_cache(maxsize=1 << 12)
def _grouped_rank_share(tokens: int, top_k: int, m: int, group_topk: int, groups: int) -> float:
    """E[max over the ``groups`` ranks of the distinct experts read] / m after ``tokens`` tokens
    (group-limited routing, one group per rank; ranks taken as independent)."""
    v = np.zeros(m + 1)
    v[0] = 1.0
    v = v @ np.linalg.matrix_power(_grouped_step(top_k, m, group_topk, groups), tokens)
    cdf = np.minimum(np.cumsum(v), 1.0)
    return float(np.sum(1.0 - cdf[:-1] ** groups)) / m


@lru_cache(maxsize=1 << 12)
def _busiest_rank_share(q: float, m: int, ranks: int) -> float:
    """E[max of ``ranks`` independent Binomial(m, q)] / m."""
    if q >= 1.0:
        return 1.0
    d = np.arange(m + 1)
    logc = np.array([math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) for k in range(m + 1)])
    lq = math.log(q) if q > 0.0 else -np.inf
    pmf = np.exp(logc + d * lq + (m - d) * math.log1p(-q)) if q > 0.0 else (d == 0).astype(float)
    cdf = np.minimum(np.cumsum(pmf), 1.0)
    return float(np.sum(1.0 - cdf[:-1] ** ranks)) / m


def tile_rows(mean_rows: float, tile_min: float, tile_max: float) -> float:
    """M tile (rows) a fused-MoE kernel picks for ``mean_rows`` expected tokens per expert: the
    next power of two, clamped to [tile_min, tile_max]."""
    p = 2.0 ** math.ceil(math.log2(mean_rows)) if mean_rows > 1.0 else 1.0
    return min(max(p, tile_min), tile_max)


@lru_cache(maxsize=1 << 14)
def _expected_tiles(n: int, p: float, tile: float) -> float:
    """E[ceil(m / tile)] for m ~ Binomial(n, p), summed over the pmf within 12 sigma of the mean."""
    mu = n * p
    sd = math.sqrt(max(mu * (1.0 - p), 1e-12))
    lo, hi = max(0, int(mu - 12.0 * sd) - 1), min(n, int(mu + 12.0 * sd) + 2)
    a = max(lo, 1)                     # m = 0 needs no tile
    if a > hi:
        return 0.0
    lp, lq, lgn = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    # log m! and log (n - m)! over m = a..hi by running sums of logs from one lgamma each
    # (vectorized: this runs once per distinct token count, thousands of terms at prefill sizes)
    m = np.arange(a, hi + 1, dtype=np.float64)
    log_fm = math.lgamma(a + 1) + np.concatenate(([0.0], np.cumsum(np.log(m[1:]))))
    k = np.arange(n - hi + 1, n - a + 1, dtype=np.float64)          # (n - m) + 1 .. for m = hi-1 .. a
    log_fk = (math.lgamma(n - hi + 1) + np.concatenate(([0.0], np.cumsum(np.log(k)))))[::-1]
    pmf = np.exp(lgn - log_fm - log_fk + m * lp + (n - m) * lq)
    return float(np.dot(pmf, np.ceil(m / tile)))


def row_padding(routed: float, top_k: int, experts: int, tile_min: float, tile_max: float,
                tile_scale: float = 1.0) -> float:
    """Issued token rows over routed rows (>= 1) of one fused-MoE launch over ``routed`` tokens
    (each to ``top_k`` of ``experts`` experts, uniformly), every expert's rows padded to the
    kernel's M tile (``tile_rows``). ``routed`` is rounded to whole tokens (at least 1).
    ``tile_scale``: the kernel sizes its tile from ``tile_scale`` x the expected rows per expert
    (``ep_tile_scale``: triton_kernels' matmul_ogs under expert parallelism); the rows it pads
    stay the real ones."""
    n = max(int(round(routed)), 1)
    p = min(top_k / experts, 1.0)
    if p >= 1.0:
        tile = tile_rows(float(n) * tile_scale, tile_min, tile_max)
        return math.ceil(n / tile) * tile / n
    tile = tile_rows(n * p * tile_scale, tile_min, tile_max)
    return experts * tile * _expected_tiles(n, p, tile) / (n * top_k)


def uniform_padding(mean_rows: float, spread: float, tile: float, points: int = 2001) -> float:
    """Issued rows over rows when each group's rows are ``mean_rows x U(1 - spread, 1 + spread)``
    (DeepGEMM's benchmark draws its masked groups so), each padded to ``tile``."""
    if spread <= 0.0:
        return math.ceil(mean_rows / tile) * tile / mean_rows
    lo, hi = mean_rows * (1.0 - spread), mean_rows * (1.0 + spread)
    xs = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
    return sum(math.ceil(x / tile) * tile for x in xs) / sum(xs)


def grouped_gemm_seconds(cm, groups: int, rows: float, n: int, k: int, rate: float, padding: float = 1.0,
                         weight_bytes: float = 1.0, act_bytes: float = 1.0, out_bytes: float = 2.0,
                         family_eff: float = 1.0) -> float:
    """Seconds of one grouped GEMM launch of ``groups`` experts, ``rows`` token rows each (an
    [rows, k] x [k, n] product per expert), priced as serving prices its expert GEMMs
    (``LayerCost.seconds`` with ``expert_padding``): one launch, FLOPs x ``padding`` at ``rate`` x
    ``family_eff`` on the compute model's GEMM curve with the per-expert issued rows (x ``padding``)
    as the narrow dimension, against the weights' and activations' bytes. ``cm``: a ``sim.compute.ComputeModel``."""
    from workloads.layer_cost import MMA_MIN_TOKENS
    f = 2.0 * groups * rows * n * k * padding
    b = groups * (n * k * weight_bytes + rows * (k * act_bytes + n * out_bytes))
    d = min(max(rows * padding, MMA_MIN_TOKENS), n, k)
    return cm.time_of(f, b, 0.0, 0, 1.0, d, rate * family_eff)


def mixed_input_efficiency(tile: float, eff_large: float, dequant_eff: float, tile_ref: float,
                           half_dim: float = 0.0) -> float:
    """Rate of a mixed-input (weight-only) grouped GEMM against the dense GEMM of the activations'
    precision at the same shape, for an M tile of ``tile`` token rows.

    The kernel dequantizes each weight tile to the activations' precision once per M tile (the
    main loop's register upcast: ALU work per weight element, whatever the tile's rows), then runs
    the MMA over the tile's rows in the same warps: seconds per tile = MMA(tile) + dequant.
    ``dequant_eff``, the kernel's rate at ``tile_ref`` rows where its main loop is pipelined as the
    dense kernel's, fixes the dequant cost: dequant = (1 / dequant_eff - 1) x MMA(tile_ref). The
    MMA's own shape efficiency on the compute model's curve is ``x / (x + half_dim)`` over x rows
    (``ComputeModel.time_of``), so against the dense rate at ``tile`` rows::

        eff(tile) = 1 / (1 + (1 / dequant_eff - 1) x (tile_ref + half_dim) / (tile + half_dim))

    Fewer rows per tile amortize the same dequantization over fewer rows. At ``tile >= tile_ref``
    (the large-M tile) the kernel's measured rate ``eff_large`` instead (its pipelining included).
    Raises ValueError on efficiencies outside (0, 1] or tiles <= 0."""
    for name, v in (("eff_large", eff_large), ("dequant_eff", dequant_eff)):
        if not 0.0 < v <= 1.0:
            raise ValueError(f"mixed-input {name} must be in (0, 1], got {v}")
    if tile <= 0.0 or tile_ref <= 0.0:
        raise ValueError(f"M tiles must be > 0, got {tile} and {tile_ref}")
    if tile >= tile_ref:
        return eff_large
    return 1.0 / (1.0 + (1.0 / dequant_eff - 1.0) * (tile_ref + half_dim) / (tile + half_dim))


def aligned_gemm_dims(k: float, n: float, k_align: int, n_align: int) -> tuple[float, float]:
    """(K, N) of a GEMM whose weights an engine pads to multiples of ``k_align`` / ``n_align`` elements
    (0: that dimension unpadded). TensorRT-LLM's TRITON MoE backend (TritonMXFP4FusedMoEMethod:
    k_alignment 128, n_alignment 256; tensorrt_llm/_torch/modules/fused_moe/fused_moe_triton.py) pads
    GPT-OSS's hidden 2880 to K 2944 and N 3072 and its gated 2 x 2880 to N 5888, 1.060 x the experts'
    FLOPs and weight bytes. Raises ValueError on a dimension <= 0 or a negative alignment."""
    if k <= 0.0 or n <= 0.0 or k_align < 0 or n_align < 0:
        raise ValueError(f"GEMM dims must be > 0 and alignments >= 0, got {k}, {n}, {k_align}, {n_align}")
    kp = math.ceil(k / k_align - 1e-9) * k_align if k_align else k
    np_ = math.ceil(n / n_align - 1e-9) * n_align if n_align else n
    return float(kp), float(np_)


def mixed_input_dequant_s(dequant_eff: float, tile_ref: float, mma_flops: float, half_dim: float = 0.0) -> float:
    """Seconds per weight element per M tile that a weight-only kernel spends dequantizing, from its
    rate ``dequant_eff`` against the dense GEMM at its large-M tile of ``tile_ref`` rows (where the
    main loop is pipelined as the dense kernel's: what is left is the dequantization). ``mma_flops``:
    the dense MMA's large-GEMM FLOP/s; the tile's MMA runs at ``tile_ref / (tile_ref + half_dim)`` of
    it (``ComputeModel.time_of``'s shape term), 2 x tile_ref FLOPs per weight element::

        dequant = (1 / dequant_eff - 1) x 2 (tile_ref + half_dim) / mma_flops

    triton-lang/triton PR #11361 (H100, 0.743 at the 128-row tile; calibration.toml [fused_moe]): ~0.13 ps
    per element on H100 / H200. Raises ValueError on an efficiency outside (0, 1] or a rate <= 0."""
    if not 0.0 < dequant_eff <= 1.0:
        raise ValueError(f"mixed-input dequant_eff must be in (0, 1], got {dequant_eff}")
    if mma_flops <= 0.0 or tile_ref <= 0.0:
        raise ValueError(f"mma_flops and tile_ref must be > 0, got {mma_flops} and {tile_ref}")
    return (1.0 / dequant_eff - 1.0) * 2.0 * (tile_ref + half_dim) / mma_flops


def graph_padded_row_padding(real: float, padded: float, top_k: int, experts: int, tile_min: float,
                             tile_max: float, tile_scale: float = 1.0) -> float:
    """``row_padding`` of a fused-MoE launch in a CUDA graph replayed for ``padded`` tokens of which
    ``real`` are the batch's own: the engine fills the graph with copies of one dummy request
    (TensorRT-LLM's ``CUDAGraphRunner.pad_batch`` extends the batch with ``[padding_dummy_request] x
    padding_size``), whose identical hidden states all route to the same ``top_k`` experts. The kernel
    sizes its M tile from the launch's rows (``padded``); the real tokens spread over the experts
    (binomial, as ``row_padding``), the ``padded - real`` copies land on ``top_k`` experts as whole
    tiles. Issued rows over the launch's ``padded x top_k`` routed rows. ``padded <= real``:
    ``row_padding(real, ...)``. ``tile_scale``: as ``row_padding``'s."""
    n = max(int(round(real)), 1)
    P = float(padded)
    if P <= n:
        return row_padding(float(n), top_k, experts, tile_min, tile_max, tile_scale)
    p = min(top_k / experts, 1.0)
    tile = tile_rows(P * p * tile_scale, tile_min, tile_max)
    real_rows = experts * tile * (_expected_tiles(n, p, tile) if p < 1.0 else math.ceil(n / tile))
    dummy_rows = min(top_k, experts) * tile * math.ceil((P - n) / tile)
    return (real_rows + dummy_rows) / (P * min(top_k, experts))
