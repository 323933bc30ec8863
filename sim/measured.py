"""Kernel times measured on real GPUs, and the fit of a GPU's compute-model curves to them.

Vocabulary:
- measured tables: CSV files under ``sim/data/measured/<gpu>/`` written by
  ``benchmarks/gpu/measure.py`` on a real GPU (how and when: the README in that folder).
  ``hbm`` (copies and eager memory-bound ops), ``gemm`` and ``gemm_fp8`` (``F.linear`` /
  ``torch._scaled_mm`` products by role: forward, input gradient, weight gradient, square,
  decode), ``attention`` (causal fused attention forward and backward per backend),
  ``serving`` and ``layer`` (whole decode steps and transformer layers: validation, not fit).
- kernel set: a table turned into compute-model ``Op``s and the measured seconds of each, so
  that ``ComputeModel.op_times`` predicts every row. ``gemm`` (bf16 products), ``memory`` (copies
  and the memory-bound ops a layer runs: norms, adds, activations), ``attention`` (the fused
  backend production stacks use on the GPU: cuDNN on Hopper; PyTorch's own FlashAttention-2
  port is the other backend in the table).
- fit: the kernel constants of ``sim.compute.Efficiency`` (GEMM, HBM and attention curves,
  GPU-side gap per kernel) by coordinate descent on the mean squared log error over all kernel
  sets, each set weighted equally. Host and framework constants (dispatch, per-layer Python)
  are not kernel properties and are not fitted here.
- fp8 factor: the fraction of the bf16 GEMM curve that fp8 products reach relative to fp8 peak
  (compute.toml ``fp8_gemm_factor``; serving's end-to-end ``serve_fp8_gemm_factor`` sits beside it), from
  the compute-bound rows of ``gemm_fp8``.

``python -m sim.measured [GPU]`` prints the fitted constants and the errors per set.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from functools import lru_cache
from importlib import resources

import numpy as np

from sim.compute import ComputeModel, Efficiency, Op, efficiency_for
from sim.fitting import coordinate_descent
from sim.hardware import gpu as gpu_spec

ATTENTION_BACKEND = "cudnn"       # what TransformerEngine / cuDNN-backed stacks run on Hopper
MEMORY_OPS = ("copy",)
KERNEL_FITTED = ("gemm_eff_max", "gemm_half_flops", "gemm_half_dim", "hbm_eff_max",
                 "hbm_half_bytes", "attn_eff_max", "attn_half_flops", "attn_half_seq",
                 "attn_bwd_eff_max", "attn_bwd_half_flops", "attn_bwd_half_seq", "launch_us")
BOUNDS = {"gemm_eff_max": (0.3, 0.95), "attn_eff_max": (0.1, 0.95), "attn_bwd_eff_max": (0.1, 0.95),
          "hbm_eff_max": (0.4, 0.95)}


def root():
    return resources.files("sim").joinpath("data/measured")


def available() -> list[str]:
    """GPU names (catalogue names) with measured tables."""
    return sorted(p.name for p in root().iterdir() if p.is_dir())


@lru_cache(maxsize=None)
def table(gpu_name: str, name: str) -> tuple[dict, ...]:
    """Rows of one measured table, numbers as floats."""
    path = root().joinpath(gpu_name, f"{name}.csv")
    if not path.is_file():
        raise FileNotFoundError(f"no measured table {name!r} for {gpu_name!r} (have: {available()})")
    out = []
    with path.open() as f:
        for row in csv.DictReader(f):
            out.append({k: _number(v) for k, v in row.items()})
    return tuple(out)


def _number(v: str):
    try:
        return float(v)
    except ValueError:
        return v


@dataclasses.dataclass(frozen=True)
class KernelSet:
    name: str
    ops: tuple[Op, ...]
    measured_s: np.ndarray


def kernel_sets(gpu_name: str, attention_backend: str = ATTENTION_BACKEND) -> dict[str, KernelSet]:
    """The measured kernels as compute-model ops, per set (gemm, memory, attention);
    ``attention_backend``: whose rows of ``attention`` form the attention set."""
    sets = {}
    gemm = [r for r in table(gpu_name, "gemm")]
    sets["gemm"] = KernelSet("gemm", tuple(
        Op(r["role"], 2.0 * r["m"] * r["k"] * r["n"], r["bytes"], 0.0, "gemm", 1,
           (r["m"], r["k"], r["n"])) for r in gemm), np.array([r["time_s"] for r in gemm]))
    mem = [r for r in table(gpu_name, "hbm") if r["op"] in MEMORY_OPS]
    sets["memory"] = KernelSet("memory", tuple(Op(r["op"], 0.0, r["bytes"], 0.0, "memory") for r in mem),
                               np.array([r["time_s"] for r in mem]))
    att = [r for r in table(gpu_name, "attention") if r["backend"] == attention_backend]
    ops = []
    for r in att:
        b, H, s, d = r["batch"], r["heads"], r["seq"], r["head_dim"]
        fwd_flops = 2.0 * b * H * s * s * d          # QK^T and AV over the causal half
        qkvo = 2.0 * 4 * b * H * s * d
        exps = b * H * s * s / 2
        if r["pass"] == "fwd":
            ops.append(Op("attention", fwd_flops, qkvo, exps, "attention", 1, (s,)))
        else:    # the training cost model's backward: 2.5x the FLOPs, twice the bytes
            ops.append(Op("attention_bwd", 2.5 * fwd_flops, 2.0 * qkvo, exps, "attention_bwd", 1, (s,)))
    sets["attention"] = KernelSet("attention", tuple(ops), np.array([r["time_s"] for r in att]))
    return sets


def errors(gpu_name: str, eff: Efficiency | None = None, precision: str = "bf16") -> dict[str, np.ndarray]:
    """Relative error (predicted / measured - 1) of every measured kernel, per set."""
    cm = ComputeModel(gpu_spec(gpu_name), precision, eff or efficiency_for(gpu_name))
    return {name: cm.op_times(s.ops) / s.measured_s - 1.0 for name, s in kernel_sets(gpu_name).items()}


def fit(gpu_name: str, rounds: int = 5, start: Efficiency | None = None) -> tuple[Efficiency, float]:
    """Kernel constants of ``gpu_name`` fitted to its measured tables."""
    g = gpu_spec(gpu_name)
    sets = kernel_sets(gpu_name)

    def loss(e: Efficiency) -> float:
        cm = ComputeModel(g, "bf16", e)
        return float(np.mean([np.mean(np.log(cm.op_times(s.ops) / s.measured_s) ** 2)
                              for s in sets.values()]))

    e = start or efficiency_for(gpu_name)
    # the backward's curve starts from the forward's (0 means "as the forward")
    e = dataclasses.replace(e, attn_half_seq=e.attn_half_seq or 256.0,
                            attn_bwd_eff_max=e.attn_bwd_eff_max or e.attn_eff_max,
                            attn_bwd_half_flops=e.attn_bwd_half_flops or e.attn_half_flops,
                            attn_bwd_half_seq=e.attn_bwd_half_seq or e.attn_half_seq or 256.0)
    return coordinate_descent(e, KERNEL_FITTED, loss, BOUNDS, rounds)


ATTENTION_FITTED = tuple(k for k in KERNEL_FITTED if k.startswith("attn_"))
# compute.toml's name for each measured attention backend other than the default (sim.compute.ATTENTION_KERNELS)
BACKEND_KERNEL = {"flash": "fa2"}


def fit_attention(gpu_name: str, backend: str = "flash", rounds: int = 5) -> tuple[Efficiency, float]:
    """The attention curves (forward and backward) of one measured fused-attention ``backend``
    (``flash``: PyTorch SDPA's FlashAttention-2 port), the other constants as the GPU's section
    has them: the ``[<GPU>.fa2]`` sub-table of compute.toml."""
    g = gpu_spec(gpu_name)
    s = kernel_sets(gpu_name, backend)["attention"]

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log(ComputeModel(g, "bf16", e).op_times(s.ops) / s.measured_s) ** 2))

    return coordinate_descent(efficiency_for(gpu_name), ATTENTION_FITTED, loss, BOUNDS, rounds)


def attention_errors(gpu_name: str, backend: str = "flash") -> np.ndarray:
    """Relative error of every ``backend`` attention row with the curves compute.toml gives it."""
    kernel = BACKEND_KERNEL.get(backend, "default")
    cm = ComputeModel(gpu_spec(gpu_name), "bf16", efficiency_for(gpu_name, kernel))
    s = kernel_sets(gpu_name, backend)["attention"]
    return cm.op_times(s.ops) / s.measured_s - 1.0


def fp8_factor(gpu_name: str, eff: Efficiency | None = None, min_flops: float = 1e11) -> float:
    """Geometric-mean ratio of the fp8 rate to the bf16 curve's prediction at fp8 peak, over
    the compute-bound fp8 rows (at least ``min_flops``)."""
    cm = ComputeModel(gpu_spec(gpu_name), "fp8", eff or efficiency_for(gpu_name))
    rows = [r for r in table(gpu_name, "gemm_fp8") if r["flops"] >= min_flops]
    ops = tuple(Op(r["role"], r["flops"], r["bytes"], 0.0, "gemm", 1, (r["m"], r["k"], r["n"])) for r in rows)
    ratio = cm.op_times(ops) / np.array([r["time_s"] for r in rows])
    return float(np.exp(np.mean(np.log(ratio))))


def summary(err: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {k: {"rows": len(v), "median_abs": float(np.median(np.abs(v))),
                "p90_abs": float(np.percentile(np.abs(v), 90)), "max_abs": float(np.max(np.abs(v)))}
            for k, v in err.items()}


def main(argv: list[str]) -> None:
    for name in argv or available():
        eff, loss = fit(name)
        print(name, "loss", round(loss, 5))
        for k in KERNEL_FITTED:
            print(f"  {k} = {getattr(eff, k):.4g}")
        print("  fp8 factor", round(fp8_factor(name, eff), 3))
        for k, v in summary(errors(name, eff)).items():
            print(f"  {k}: " + ", ".join(f"{a} {b:.3g}" for a, b in v.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
