"""Fitting the compute constants of one GPU to published training runs.

Vocabulary:
- constants: the fields of ``costs.TrainingEfficiency`` (``sim.compute.Efficiency`` plus the
  host-dispatch constants) that training exercises (GEMM and
  attention efficiency curves, HBM efficiency, kernel launch, framework per-layer and per-step
  overheads, host kernel dispatch). They are data in ``sim/data/compute.toml``; this module only re-derives them.
- objective: mean squared log error of predicted vs measured step time over the vTrain
  single-node rows, plus the Narayanan Table 1 rows (hardware TFLOP/s) weighted so that the two
  sets count about equally. Predictions come from ``estimate.estimate_step`` (closed-form
  communication), which is fast enough for a few hundred evaluations of every row.
- search: coordinate descent on the logarithm of each constant with shrinking steps (numpy
  only; the package does not depend on scipy).

Run ``python -m workloads.training.calibration`` to print the fitted constants and the errors.
"""

from __future__ import annotations

import numpy as np

from sim.compute import ComputeModel, Efficiency, with_attention_kernel
from sim.config import load_config
from sim.fitting import coordinate_descent
from sim.hardware import gpu
from workloads.model import ModelSpec
from sim.compute import constants_row
from workloads.training.costs import overlap_interference, step_costs, training_efficiency
from workloads.training.cases import narayanan_cases, vtrain_cases
from workloads.training.estimate import Network, estimate_step
from workloads.training.plan import make_plan
from workloads.training import sync_jitter

FITTED = ("gemm_eff_max", "gemm_half_flops", "gemm_half_dim", "attn_eff_max", "attn_half_flops", "hbm_eff_max",
          "launch_us", "layer_overhead_us", "step_overhead_ms", "tp_call_overhead_us",
          "tp_rank_overhead_us", "cpu_dispatch_us", "tp_collective_kernels", "microbatch_overhead_us")
BOUNDS = {"gemm_eff_max": (0.3, 0.95), "attn_eff_max": (0.1, 0.95), "hbm_eff_max": (0.4, 0.95)}


def prepare(cases: list[dict]) -> list[tuple]:
    out = []
    for c in cases:
        cfg = load_config(data=c["config"])
        t, tr = cfg.topology, cfg.train
        m = ModelSpec.from_section(cfg.model)
        g = gpu(t.gpu)
        plan = make_plan(tr, m, t.gpus)
        net = Network.of(g, t.nic_Gbps, t.nics_per_node, t.gpus_per_node, t.scaleup_domain)
        out.append((c, tr, m, plan, net, g, sync_jitter(cfg, g, plan.world)))
    return out


def predict(prepared: list[tuple], eff: Efficiency) -> np.ndarray:
    """Predicted value of each case's metric."""
    out = []
    for c, tr, m, plan, net, g, jitter in prepared:
        eff_c = with_attention_kernel(eff, g.name, tr.attention_kernel)
        cm = ComputeModel(g, tr.precision, eff_c, sustained=True)
        interference = tr.interference
        if interference is None:      # the runner's default (costs.overlap_interference)
            slowdown = getattr(eff, "overlap_slowdown", None)
            slowdown = constants_row(g.name).get("overlap_slowdown", 0.0) if slowdown is None else slowdown
            interference = overlap_interference(step_costs(m, plan, cm, tr.attention, tr.optimizer_step), plan,
                                                net, slowdown, tr.overlap_grad_reduce)
        if interference:
            cm = ComputeModel(g, tr.precision, eff_c, speed=1.0 - interference, sustained=True)
        r = estimate_step(m, plan, cm, net, tr.attention, tr.overlap_grad_reduce, tr.optimizer_step,
                          sync_jitter=jitter)
        if c["metric"] == "step_time_s":
            out.append(r["step_time_s"])
        elif c["metric"] == "tokens_per_s / gpus":
            out.append(tr.global_batch * m.seq_len / r["step_time_s"] / plan.world)
        else:
            out.append(r["hw_flops"] / r["step_time_s"] / plan.world / 1e12)
    return np.array(out)


def errors(prepared, eff) -> np.ndarray:
    measured = np.array([p[0]["measured"] for p in prepared])
    return predict(prepared, eff) / measured - 1.0


def fit(gpu_name: str = "A100-SXM-80GB", vtrain_every: int = 3, rounds: int = 4) -> tuple[Efficiency, float]:
    v = prepare(vtrain_cases()[::vtrain_every])
    n = prepare(narayanan_cases())
    w_n = len(v) / len(n)

    def loss(e: Efficiency) -> float:
        ev = np.log1p(errors(v, e))
        en = np.log1p(errors(n, e))
        return float((np.sum(ev ** 2) + w_n * np.sum(en ** 2)) / (2 * len(v)))

    return coordinate_descent(training_efficiency(gpu_name), FITTED, loss, BOUNDS, rounds, tol=1e-7)


def fit_end_to_end(gpu_name: str, cases: list[dict], names: tuple[str, ...] = ("gemm_eff_max",),
                   rounds: int = 6) -> tuple[Efficiency, float]:
    """Fit ``names`` of a GPU's constants to end-to-end training steps of that GPU (mean squared
    log error of ``predict``); the other constants stay as ``compute.toml`` has them. Used where a
    GPU has few public runs (MI300X: one constant, one run; its other runs are held out)."""
    prepared = prepare(cases)

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(errors(prepared, e)) ** 2))

    return coordinate_descent(training_efficiency(gpu_name), names, loss, BOUNDS, rounds, tol=1e-9)


def report(eff: Efficiency) -> dict:
    ev = errors(prepare(vtrain_cases()), eff)
    en = errors(prepare(narayanan_cases()), eff)
    return {"vtrain_median_abs": float(np.median(np.abs(ev))), "vtrain_p90_abs": float(np.percentile(np.abs(ev), 90)),
            "narayanan": [round(float(x), 4) for x in en], "narayanan_median_abs": float(np.median(np.abs(en)))}


if __name__ == "__main__":
    eff, best = fit()
    print({k: getattr(eff, k) for k in FITTED}, "loss", best)
    print(report(eff))


# -- from kernels to training (issue 11, item 1) ------------------------------------------------

# layer.csv rows whose TP degree is in this set fit the sustained clock; the others (TP 2 and 8)
# are held out and validate it (sim.app.validation.measured, tests/workloads/training/test_calibration.py)
LAYER_FIT_TP = (1, 4)


def layer_cases(gpu_name: str = "H100-SXM-80GB", tp: tuple[int, ...] | None = None,
                attention_kernel: str = "default") -> list[tuple[tuple, tuple, float]]:
    """The CUDA-graphed forward+backward rows of ``sim/data/measured/<gpu>/layer.csv`` as
    (forward ops, backward ops, measured seconds): one Megatron GPT layer's TP shard (LayerNorm,
    QKV, causal SDPA, projection, FC1-GELU-FC2, head dim 128), no communication, no recompute."""
    from sim.config import load_config
    from sim.measured import table
    from workloads.model import Shard
    from workloads.training.costs import backward_ops
    out = []
    for r in table(gpu_name, "layer"):
        if r["mode"] != "graph" or (tp and int(r["tp"]) not in tp):
            continue
        h, t, mb, seq = int(r["h"]), int(r["tp"]), int(r["micro_batch"]), int(r["seq"])
        spec = ModelSpec.from_section(load_config(data={"model": {
            "name": f"gpt-h{h}", "layers": 1, "hidden": h, "heads": h // 128, "ffn_hidden": 4 * h,
            "vocab": 51200, "seq_len": seq, "gated_mlp": False}}).model)
        fwd = tuple(spec.layer_ops(0, mb, Shard(tp=t), "flash"))
        out.append((fwd, tuple(backward_ops(list(fwd), "flash")), float(r["time_s"])))
    return out


def layer_errors(gpu_name: str, eff: Efficiency, cases) -> np.ndarray:
    """predicted / measured - 1 of ``layer_cases`` rows, the GPU at its sustained clock."""
    cm = ComputeModel(gpu(gpu_name), "bf16", eff, sustained=True)
    return np.array([(cm.op_times(f).sum() + cm.op_times(b).sum()) / t - 1.0 for f, b, t in cases])


def fit_sustained_clock(gpu_name: str = "H100-SXM-80GB", tp: tuple[int, ...] = LAYER_FIT_TP) -> tuple[Efficiency, float]:
    """``sustained_clock`` of a GPU whose kernel curves come from single cold kernels, fitted to
    its measured whole-layer forward+backward times (the rows of TP ``tp``; mean squared log
    error): back-to-back layers hold the board at its power limit, where the clock drops below
    the boost clock the isolated, L2-flushed kernels ran at."""
    from sim.compute import efficiency_for
    cases = layer_cases(gpu_name, tp)

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(layer_errors(gpu_name, e, cases)) ** 2))

    return coordinate_descent(efficiency_for(gpu_name), ("sustained_clock",), loss,
                              {"sustained_clock": (0.5, 1.0)}, 6, tol=1e-9)


# what fit_h100 moves: FSDP's per-block host work. The fit rows cannot tell it from per-micro-batch
# work (microbatch_overhead_us, which Megatron plans pay too: it stays at the ~0 of the first fit,
# compute.toml [H100]); fitted together, the pair drifted to 966 / 465 us and cost the NeMo H100
# Megatron rows 1-3 points
H100_HOST = ("fsdp_layer_overhead_us",)


def fit_h100(rounds: int = 6) -> tuple[Efficiency, float]:
    """H100's host and framework constants (``H100_HOST``) fitted to the llm-foundry rows marked
    ``fit`` (cases.llmfoundry_cases, MPT's Triton attention: ``[H100.triton]``), starting from
    A100's values; kernel constants, ``sustained_clock`` and ``microbatch_overhead_us`` stay as
    compute.toml has them."""
    import dataclasses
    from workloads.training.cases import llmfoundry_cases
    a100 = training_efficiency("A100-SXM-80GB")
    start = dataclasses.replace(training_efficiency("H100-SXM-80GB"),
                                **{k: getattr(a100, k) for k in H100_HOST + ("layer_overhead_us", "cpu_dispatch_us")})
    prepared = prepare(llmfoundry_cases("h100_80gb", "fit"))

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(errors(prepared, e)) ** 2))

    return coordinate_descent(start, H100_HOST, loss, BOUNDS, rounds, tol=1e-9)


# -- AMD Instinct: MI300X (and MI325X, the same die) fitted to end-to-end steps (issue 11, item 1)

# The constants the AMD rows marked ``fit`` move (workloads/training/data/amd_instinct_training.csv);
# the fit starts from fixed values (``[default]``'s kernel efficiencies, the host constants of
# the GPUs fitted end to end: A100's per-micro-batch work, H100's FSDP per-block work), so it
# does not depend on what compute.toml holds for them.
AMD_FITTED = ("gemm_eff_max", "attn_eff_max", "fp8_gemm_factor", "fsdp_layer_overhead_us", "microbatch_overhead_us")
AMD_START = {"gemm_eff_max": 0.75, "attn_eff_max": 0.60, "fp8_gemm_factor": 0.80,
             "fsdp_layer_overhead_us": 1633.5, "microbatch_overhead_us": 2815.0}
AMD_BOUNDS = dict(BOUNDS, fp8_gemm_factor=(0.3, 1.0))


def fit_amd(rounds: int = 8) -> tuple[Efficiency, float]:
    """MI300X's ``AMD_FITTED`` constants fitted (coordinate descent, mean squared log error of
    tokens/s per GPU) to the rows of ``cases.amd_training_cases(use="fit")``: AMD's
    rocm/pytorch-training v25.2 MI300X runs (Llama 3.1 8B BF16 at seq 4096 and 8192 and FP8 at
    8192, Mistral 7B BF16; FSDP on 8 GPUs). Every other constant, the kernel ones measured
    elsewhere and ``calibrated_power_W`` included, is compute.toml's [MI300X]. Held out: the
    other MI300X rows, every MI325X row (the clock its 1000 W board sustains comes from the power
    law, not from a fit) and the ROCm 6.2 runs of ROCm/TransformerEngine#78 and #79."""
    import dataclasses
    from workloads.training.cases import amd_training_cases
    start = dataclasses.replace(training_efficiency("MI300X"), **AMD_START)
    prepared = prepare(amd_training_cases("MI300X", "fit"))

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(errors(prepared, e)) ** 2))

    return coordinate_descent(start, AMD_FITTED, loss, AMD_BOUNDS, rounds, tol=1e-9)


# -- Blackwell training (issue 11, item 1): end-to-end fit on NeMo / Megatron-Bridge rows --------

# what each Blackwell GPU's training fit moves: the FP8 GEMMs' efficiency against the bf16 curve
# (every public Blackwell dense row is FP8 or FP4, so the rows measure the FP8 GEMM rate, the
# sustained clock under the power limit included; serving takes its own FP8/FP4 factors from
# workloads/serving/data/calibration.toml) and the fused-attention backward's efficiency
# (training only: serving has no backward)
BLACKWELL_FITTED = ("fp8_gemm_factor", "attn_bwd_eff_max")
BLACKWELL_GPUS = {"B200": "B200-180GB", "GB200": "GB200", "GB300": "GB300"}
# compute.toml section -> the systems whose `fit` rows it is fitted to: the DGX B200 and the
# GB200 carry one die and share [GB200] (each board's sustained clock from the power law,
# sim.compute.sustained_clock); Blackwell Ultra (GB300) is its own die
BLACKWELL_SECTIONS = {"GB200": ("B200", "GB200"), "GB300": ("GB300",)}


def blackwell_section(system: str) -> str:
    """The compute.toml section a Blackwell system's training constants live in."""
    return next(k for k, systems in BLACKWELL_SECTIONS.items() if system in systems)


def blackwell_start(gpu_name: str):
    """The constants a Blackwell fit starts from: the GPU's compute.toml constants with the
    fitted ones reset ([default]'s FP8 rate, i.e. its FP8 factor on [default]'s bf16 curve,
    re-expressed against the section's own ``gemm_eff_max``; the backward at the forward's
    attention curve), so that a refit does not depend on the committed values."""
    import dataclasses
    from sim.compute import _table
    e = training_efficiency(gpu_name)
    d = _table()["default"]
    fp8 = float(d["fp8_gemm_factor"]) * float(d["gemm_eff_max"]) / e.gemm_eff_max
    return dataclasses.replace(e, fp8_gemm_factor=fp8, attn_bwd_eff_max=e.attn_eff_max)


def fit_blackwell(section: str, rounds: int = 8) -> tuple[Efficiency, float]:
    """``BLACKWELL_FITTED`` of one Blackwell compute.toml section (``GB200``: the DGX B200 and
    GB200 jointly; ``GB300``) fitted to the rows marked ``fit`` in
    ``data/nemo_blackwell_pretrain.csv`` of its systems (``BLACKWELL_SECTIONS``: Llama 3 8B on 8
    GPUs and Llama 3.1 405B on 128-256 GPUs, FP8 current scaling, Megatron-Bridge 25.09 and 25.11;
    mean squared log error of tokens/s per GPU), each row on its own board (its power limit sets
    its sustained clock). Two model sizes: the 8B's step is 22% fused attention, the 405B's 8%,
    which separates the attention backward from the GEMMs. Every other row is held out. A
    system name (``B200``) fits its section."""
    from workloads.training.cases import blackwell_cases
    section = blackwell_section(section) if section not in BLACKWELL_SECTIONS else section
    prepared = prepare([c for system in BLACKWELL_SECTIONS[section] for c in blackwell_cases(system, "fit")])

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(errors(prepared, e)) ** 2))

    return coordinate_descent(blackwell_start(BLACKWELL_GPUS[section]), BLACKWELL_FITTED, loss,
                              {"fp8_gemm_factor": (0.3, 1.25), "attn_bwd_eff_max": (0.1, 0.95)}, rounds, tol=1e-10)


# -- Blackwell bf16 GEMMs: the 16-bit curve fitted to public kernel measurements ----------------

# Public dense BF16 training rows on Blackwell do not exist (the NeMo / Megatron-Bridge tables give
# BF16 only for MoE models), so each Blackwell section's 16-bit curve is fitted to cuBLAS bf16 GEMM
# rates measured on a board of its die (data/blackwell_bf16_gemm.csv, each row its URL and the line
# it quotes): [GB200]'s on B200 (the rows marked ``fit``: the squares of pytorch/ao PR #2427,
# 4096^3, 6144^3, 8192^3), [GB300]'s on B300 (Transformer Engine's GEMM profiling guide, the four
# forward GEMMs of a hidden-4096 layer at 15,872 tokens); every fit row has at least this many
# FLOPs, where the section's half-size and launch gap ([default]'s, not refitted: they move the FP8
# rows and serving) are < 3% of the time; the others are held out.
BLACKWELL_BF16_FIT_MIN_FLOPS = 1e11
# compute.toml section -> the boards whose bf16 GEMM rows it is fitted to (each row on its own board,
# at that board's sustained clock: sim.compute.sustained_clock)
BLACKWELL_BF16_GPUS = {"GB200": ("B200-180GB", "GB200"), "GB300": ("B300-288GB", "GB300")}


def blackwell_bf16_gemm_rows(use: str | None = None, section: str | None = None) -> list[dict]:
    """The rows of ``data/blackwell_bf16_gemm.csv`` (``use``: ``fit`` or ``holdout``; ``section``:
    only the boards of that compute.toml section, ``BLACKWELL_BF16_GPUS``), each with its FLOPs
    (2 b m n k), HBM bytes (bf16 A, B and C once) and measured seconds."""
    from workloads.training.cases import _rows
    out = []
    for r in _rows("blackwell_bf16_gemm.csv"):
        if use and r["use"] != use:
            continue
        if section and r["gpu"] not in BLACKWELL_BF16_GPUS[section]:
            continue
        b, m, n, k = (int(r[x]) for x in ("batch", "m", "n", "k"))
        flops = 2.0 * b * m * n * k
        out.append(dict(r, flops=flops, bytes=2.0 * b * (m * k + k * n + m * n), dims=(m, k, n),
                        measured_s=flops / (float(r["measured_tflops"]) * 1e12)))
    return out


def blackwell_bf16_gemm_errors(eff: Efficiency, rows: list[dict]) -> np.ndarray:
    """predicted / measured - 1 of each row's time: one bf16 GEMM on the row's board at its
    sustained clock (the clock the section's curves hold at that board's power limit: a loop of
    large GEMMs keeps the board at its limit, as training does)."""
    from sim.compute import Op
    out = []
    for r in rows:
        cm = ComputeModel(gpu(r["gpu"]), "bf16", eff, sustained=True)
        out.append(cm.time(Op(r["id"], r["flops"], r["bytes"], dims=r["dims"])) / r["measured_s"] - 1.0)
    return np.array(out)


def blackwell_bf16_start(gpu_name: str = "GB200"):
    """The constants the bf16 fit starts from: the GPU's compute.toml constants with
    ``gemm_eff_max`` reset to [default]'s (so a refit does not depend on the committed value)."""
    import dataclasses
    from sim.compute import _table
    return dataclasses.replace(training_efficiency(gpu_name), gemm_eff_max=float(_table()["default"]["gemm_eff_max"]))


def fit_blackwell_bf16(section: str = "GB200", rounds: int = 8) -> tuple[Efficiency, float]:
    """A Blackwell section's ``gemm_eff_max`` (``GB200``: the 16-bit GEMM curve of the B200 / GB200
    die; ``GB300``: Blackwell Ultra's, B300 / GB300) fitted to the rows of
    ``data/blackwell_bf16_gemm.csv`` marked ``fit`` on that section's boards
    (``BLACKWELL_BF16_GPUS``; mean squared log error of the time); every other constant as
    compute.toml has it."""
    if section not in BLACKWELL_BF16_GPUS:
        raise ValueError(f"fit_blackwell_bf16: section {section!r} has no bf16 GEMM rows "
                         f"(BLACKWELL_BF16_GPUS: {', '.join(BLACKWELL_BF16_GPUS)})")
    rows = blackwell_bf16_gemm_rows("fit", section)

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(blackwell_bf16_gemm_errors(e, rows)) ** 2))

    return coordinate_descent(blackwell_bf16_start(BLACKWELL_GPUS[section]), ("gemm_eff_max",), loss, BOUNDS,
                              rounds, tol=1e-12)


# -- H100's Triton attention (issue 11, third pass): the kernel the llm-foundry rows ran ----------

# FlashAttention-2 over MPT's Triton kernel, backward (the forward's gap is TRITON_FWD_SHARE of
# the backward's: Dao 2023's A100 measurements, 1.4x forward and 2x backward). Fitted on H100 by
# ``fit_h100_triton`` (grid, 0.05 steps) with ``fit_h100``'s host constants refitted at each point.
H100_TRITON_BWD_RATIO = 1.4
TRITON_FWD_SHARE = 0.4


def h100_triton_loss(bwd_ratio: float) -> float:
    """Least mean squared log error of the H100 llm-foundry rows marked ``fit`` when compute.toml's
    ``[H100.triton]`` curve is ``[H100.fa2]`` over ``bwd_ratio`` (backward) and
    ``1 + TRITON_FWD_SHARE (bwd_ratio - 1)`` (forward), H100's host constants refitted
    (``fit_h100``). The committed table is restored afterwards."""
    from sim.compute import _table
    table = _table()["H100"]
    saved = dict(table["triton"])
    try:
        table["triton"]["attn_eff_max"] = table["fa2"]["attn_eff_max"] / (1 + TRITON_FWD_SHARE * (bwd_ratio - 1))
        table["triton"]["attn_bwd_eff_max"] = table["fa2"]["attn_bwd_eff_max"] / bwd_ratio
        return fit_h100()[1]
    finally:
        table["triton"].clear()
        table["triton"].update(saved)


def fit_h100_triton(grid: tuple[float, ...] = tuple(1.0 + 0.05 * i for i in range(21))) -> float:
    """The backward ratio of ``grid`` with the least ``h100_triton_loss`` (1.0: FA2's own curve)."""
    return min(grid, key=h100_triton_loss)
