"""The compute model: how long one GPU takes to run an operation.

Vocabulary:
- ``Op``: one kernel (or a fused group) with its ``flops`` (tensor-core FLOPs), ``bytes``
  (HBM traffic), ``exps`` (special-function evaluations, the softmax exponentials) and ``kind``
  (``gemm``, ``attention``, ``memory``, ``elementwise``), plus ``count`` identical launches.
- roofline: time = max(flops / (peak x eff_gemm(flops)), bytes / (hbm x eff_hbm(bytes)),
  exps / (special rate x special_eff)) + count x launch overhead.
- efficiency curve: ``eff_max * w / (w + w_half)``, a saturating curve in the op's work ``w``:
  small ops cannot fill the GPU (wave quantization, prologue/epilogue, tail), large ones approach
  ``eff_max``. GEMMs whose shape is known (``Op.dims``) are further scaled by
  ``d / (d + gemm_half_dim)`` in their smallest dimension ``d``: a 128-wide GEMM (hidden 1024
  split 8 ways) fills 128x128 output tiles poorly and runs a short k loop. Constants are data per GPU in ``sim/data/compute.toml``, each with what it was
  fitted to.
- ``ComputeModel(gpu, precision)``: a GPU spec with a precision and its curves; ``time(op)``,
  ``op_times(ops)`` and ``times(flops, bytes, exps, kinds)`` (vectorized), ``time_of(...)`` (one
  op on Python floats). Precision per op: a tensor op (``gemm``, ``attention``) runs at its
  ``Op.precision`` (default the model's): that precision's dense peak x its ``factor`` (fp8 and
  fp4 tensor ops reach ``fp8_gemm_factor`` / ``fp4_gemm_factor`` of the bf16 curve against
  their own peak, measured per GPU; ``mxfp8``, an op quantized in 1 x 32 blocks, runs at the
  fp8 peak x ``fp8_gemm_factor`` x ``mxfp8_gemm_factor``). Memory-bound ops have no precision:
  their bytes say it.
- framework costs (training only): ``layer_overhead_us`` per layer per forward or backward pass
  (host-side Python and autograd work that is not hidden when kernels are short),
  ``fsdp_layer_overhead_us`` on top of it for ZeRO-3 (FSDP) plans only (per-block unshard and
  reshard hooks; fitted on FSDP runs, so Megatron-style plans never pay it),
  ``step_overhead_ms`` per step, and ``optimizer_bytes_per_param`` (the Adam update is a stream
  over fp32 master weights, moments and gradients: read 14-16 B, write 14 B per parameter).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from sim.hardware import GpuSpec
from sim.errors import ConfigError


@dataclass(frozen=True)
class Op:
    name: str
    flops: float = 0.0
    bytes: float = 0.0
    exps: float = 0.0
    kind: str = "gemm"          # gemm | attention | attention_bwd | memory | elementwise
    count: int = 1              # identical kernel launches folded into this op
    dims: tuple = ()            # GEMM shape (m, k, n) of one launch, when known; fused
                                # attention: (keys per query,), the length of its inner loop
    precision: str = ""         # tensor-core precision of a gemm/attention op ("": the
                                # ComputeModel's precision)

    @property
    def min_dim(self) -> float:
        """The smallest GEMM dimension (0: shape unknown, no shape penalty)."""
        return float(min(self.dims)) if self.dims else 0.0

    @property
    def attention_pass(self) -> int:
        """0: not fused attention, 1: its forward, 2: its backward (own efficiency curve)."""
        return {"attention": 1, "attention_bwd": 2}.get(self.kind, 0)


@dataclass(frozen=True)
class Efficiency:
    gemm_eff_max: float
    gemm_half_flops: float
    hbm_eff_max: float
    hbm_half_bytes: float
    attn_eff_max: float
    attn_half_flops: float
    special_eff: float
    launch_us: float
    # GEMM shape: a GEMM whose smallest dimension d (after TP splitting) is narrow fills few
    # output tiles per SM or has a short k loop (tile and wave quantization, prologue/epilogue
    # not amortized); its efficiency is further scaled by d / (d + gemm_half_dim)
    gemm_half_dim: float = 0.0
    # fused attention: a CTA loops over the keys of its query block, so fixed per-CTA work
    # (loading Q, writing O, the backward's dQ accumulation) is amortized over the key length s:
    # efficiency further scaled by s / (s + attn_half_seq) (0: no such term). The backward has
    # its own curve (it recomputes scores and reduces dK, dV across query blocks); 0 means the
    # forward's value.
    attn_half_seq: float = 0.0
    attn_bwd_eff_max: float = 0.0
    attn_bwd_half_flops: float = 0.0
    attn_bwd_half_seq: float = 0.0
    # framework costs of training (host-side work the roofline does not see)
    layer_overhead_us: float = 0.0      # per transformer layer per pass (Python, autograd, hooks)
    # FSDP's per-block host work on each pass (unshard/reshard hooks, rate-limited all-gathers,
    # the per-unit gradient reduce-scatter bookkeeping): charged only to ZeRO-3 (FSDP) plans
    fsdp_layer_overhead_us: float = 0.0
    step_overhead_ms: float = 0.0       # per training step (data loader, logging, scheduler)
    # host-side cost of each blocking TP collective the framework issues, beyond the NCCL
    # kernel: a fixed part and a part per extra rank (every rank's launch must arrive before
    # the ring can proceed, so host skew grows with the group)
    tp_call_overhead_us: float = 0.0
    tp_rank_overhead_us: float = 0.0
    optimizer_bytes_per_param: float = 32.0   # HBM traffic of one Adam update (fp32 states)
    # low-precision tensor ops: the fraction of the bf16 curve's efficiency that fp8 (fp4)
    # GEMMs and attention reach against their own (2x, 4x) peak (scaling, quantization
    # epilogues, less mature kernels); measured per GPU by sim.measured.fp8_factor
    fp8_gemm_factor: float = 1.0
    fp4_gemm_factor: float = 1.0
    # sustained clocks: the SM clock a sustained training load holds at the GPU's rated power
    # limit over the clock its kernel curves were measured at (cold, L2-flushed single kernels
    # run at the boost clock); 1 where the curves were fitted to end-to-end steps, which include
    # it. Scales the tensor and special-function rates of a ``ComputeModel(sustained=True)``.
    sustained_clock: float = 1.0
    # the board power the section's curves were fitted at (0: the GPU's own): a GPU sharing the
    # section's die at a lower power limit sustains a lower clock (``sustained_clock``)
    calibrated_power_W: float = 0.0
    # the dense bf16 peak (TFLOP/s) catalogued for the board the section was fitted on (0: the
    # GPU's own): boards of one die whose catalogue peaks are quoted at different clocks (DGX
    # B200 at 2,250, GB200 at 2,500) share the section's curves at the die's per-clock rate, and
    # ``sustained_clock`` rescales the GPU's own peak to that board's before the power law
    calibrated_bf16_tflops: float = 0.0
    # MXFP8 GEMMs (1 x 32 blocks, E8M0 scales: cuBLAS's block-scaled kernels) against the
    # tensor-scaled FP8 GEMM of the same GPU (``fp8_gemm_factor``): their rate is
    # ``fp8 peak x fp8_gemm_factor x mxfp8_gemm_factor``; an op's precision "mxfp8"
    mxfp8_gemm_factor: float = 1.0


@lru_cache(maxsize=1)
def _table() -> dict:
    return tomllib.loads(resources.files("sim").joinpath("data/compute.toml").read_text())


def calibration_section(gpu_name: str) -> str | None:
    """The ``compute.toml`` section whose constants the GPU uses: its name, else its family
    (the part before the first ``-``), following ``same_as`` (a GPU with another's compute die
    and memory: H800 as H100); a GPU defined in a config uses its ``like``'s section (or none).
    None: every constant is the ``[default]``."""
    from sim import hardware
    table = _table()
    spec = hardware.defined().get(gpu_name)
    if spec is not None:
        if not spec.like:
            return None
        gpu_name = spec.like
    for key in (gpu_name, gpu_name.split("-")[0]):
        if key in table and key != "default":
            return table[key].get("same_as", key)
    return None


def constants_row(gpu_name: str) -> dict:
    """Every key of ``compute.toml`` for this GPU: ``[default]`` overlaid by its section."""
    table = _table()
    row = dict(table["default"])
    section = calibration_section(gpu_name)
    if section is not None:
        row.update(table[section])
    return row


# The constants a workload's times depend on; a GPU is ``calibrated`` for that kind of run when
# its own section (not ``[default]``, not a ``like``) gives every one of them, fitted to
# measurements (CONTRACT round 2: the summaries' ``calibrated`` column, "false when any comes
# from a default or a `like`": a GPU defined in a config never is, whatever its like).
KERNEL_CONSTANTS = ("gemm_eff_max", "gemm_half_flops", "attn_eff_max", "attn_half_flops", "hbm_eff_max",
                    "launch_us")
TRAINING_CONSTANTS = KERNEL_CONSTANTS + ("layer_overhead_us", "cpu_dispatch_us", "microbatch_overhead_us")


def calibration(gpu_name: str, kind: str = "train", precision: str = "") -> tuple[bool, list[str]]:
    """(calibrated, the constants that come from ``[default]`` or a ``like``) of a GPU for a run
    of ``kind`` (``train`` or ``serve``) at ``precision`` (a training run's ``train.precision``;
    "": any). A GPU a config defines is never calibrated: with ``like`` every constant is
    borrowed from the like's fit (CONTRACT round 2), even where no field it rests on differs
    (``calibration_inputs_changed`` names those that do). A section whose training fit measured
    some precisions only says which (``calibrated_precisions``: Blackwell's rows are all FP8, so
    its bf16 curve is [default]'s and its fp4 factor [default]'s assumption): a training run at
    another precision is not calibrated, its GEMM rate named among the missing constants."""
    from sim import hardware
    needed = TRAINING_CONSTANTS if kind == "train" else KERNEL_CONSTANTS
    spec = hardware.defined().get(gpu_name)
    section = calibration_section(gpu_name)
    own = _table().get(section, {}) if section else {}
    # a serving run reads a ``serve_<key>`` in place of ``<key>`` (workloads/serving/cost.py
    # SERVE_KEYS: [MI355X] serve_launch_us, fitted to its serving runs): that one is its own too
    missing = [k for k in needed if k not in own and not (kind == "serve" and f"serve_{k}" in own)]
    # a section fitted for some kinds of run only (``calibrated_kinds``: Blackwell's training fit
    # writes [default]'s kernel curves into its section, which serving's fit did not measure)
    kinds = own.get("calibrated_kinds")
    if kinds is not None and kind not in kinds:
        missing = list(needed)
    # a defined GPU borrows everything it has from its like (or takes [default]): none of it was
    # fitted to measurements of that GPU
    if spec is not None:
        missing = list(needed)
    fitted = own.get("calibrated_precisions")
    if kind == "train" and precision and fitted is not None and precision not in fitted and not missing:
        missing = [precision_rate_constant(precision)]
    return not missing, missing


def precision_rate_constant(precision: str) -> str:
    """The compute.toml constant that sets a training GEMM's rate at ``precision``: the 16-bit
    curve's ``gemm_eff_max``, else ``<precision>_gemm_factor`` on top of it."""
    return "gemm_eff_max" if precision in ("fp16", "bf16", "") else f"{precision}_gemm_factor"


def calibration_inputs_changed(gpu_name: str) -> list[str]:
    """The ``[hardware."NAME"]`` fields of a defined GPU that differ from its ``like``'s in a way
    its compute constants depend on: the constants are efficiencies of the like's measured peak
    rates (``dense_tflops`` per precision, 0 = lacks it; ``hbm_GBps``; ``special_Tops``, the
    softmax exponentials), at the like's sustained clock (``power_W`` below the like's lowers it,
    ``clock_scale``; a section fitted at another board power, ``calibrated_power_W``, moves with
    any power), on the like's host (``host_speed``: the launch / dispatch constants were fitted
    with that CPU issuing the kernels), for the like's board (``hbm_GB``: another capacity is
    another SKU, H100 NVL 94 GB against SXM 80 GB), with the like's architecture's kernels
    (``arch``, ``sms``: Blackwell's FP8 casts and TP-overlap SMs). Fields none of them read (``scaleup_*``,
    ``nvls``, ``host_GBps``, a higher power limit, ``vendor``, ``source``, ``notes``,
    ``host_cpu``'s name) are not listed. Empty for a like's exact silicon; every field for a GPU
    without ``like``; [] for a catalogued GPU. A defined GPU is not calibrated either way
    (``calibration``); these fields are what its warning names as moved off the like's fit."""
    from sim import hardware
    spec = hardware.defined().get(gpu_name)
    if spec is None:
        return []
    if not spec.like:
        return ["like"]
    base = hardware.catalogue()[spec.like]

    def same(a: float, b: float, rel: float = 1e-6) -> bool:
        return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)

    changed = []
    for p in sorted(set(spec.dense_flops) | set(base.dense_flops) | set(spec.lacks) | set(base.lacks)):
        a = 0.0 if p in spec.lacks else spec.dense_flops.get(p, 0.0)
        b = 0.0 if p in base.lacks else base.dense_flops.get(p, 0.0)
        if not same(a, b):
            changed.append(f"dense_tflops.{p}")
    if not same(spec.hbm_Bps, base.hbm_Bps):
        changed.append("hbm_GBps")
    # hbm_GB round-trips through the usable fraction (config_hbm_GB rounds to 0.01 GB)
    if not same(spec.hbm_bytes, base.hbm_bytes, 1e-3):
        changed.append("hbm_GB")
    if not same(spec.special_ops, base.special_ops):
        changed.append("special_Tops")
    eff = efficiency_for(spec.like)
    try:
        clock_moved = not same(sustained_clock(spec, eff), sustained_clock(base, eff))
    except ConfigError:           # a bf16 rate given as 0 (listed above): the clock law cannot compare
        clock_moved = not same(spec.power_W, base.power_W)
    if clock_moved:
        changed.append("power_W")
    if not same(spec.host_speed, base.host_speed):
        changed.append("host_speed")
    if not same(spec.launch_speed, base.launch_speed):
        changed.append("dispatch_speed")
    # the like's training fit ran its architecture's kernels (Blackwell's FP8 casts, TP-overlap
    # SMs: workloads.training.costs), on its SMs
    if spec.arch != base.arch:
        changed.append("arch")
    if spec.sms != base.sms:
        changed.append("sms")
    return changed


# Fused-attention kernels a training framework may run (``train.attention_kernel``): "default" is
# the kernel the GPU's attention curves were measured on (cuDNN fused attention on Hopper);
# "fa2" is FlashAttention-2 (PyTorch SDPA's flash backend, the kernels of 2023-24 frameworks),
# whose curves a GPU's section may give as a sub-table ``[<GPU>.fa2]`` (else the default's);
# "triton" is the FlashAttention-1-era Triton kernel (MPT's ``attn_impl: triton``, the kernel of
# llm-foundry's 2023 benchmark tables), sub-table ``[<GPU>.triton]``.
ATTENTION_KERNELS = ("default", "fa2", "triton")


def efficiency_for(gpu_name: str, attention_kernel: str = "default") -> Efficiency:
    """The GPU's compute constants (``[default]`` overlaid by its section), with the attention
    curves of ``attention_kernel`` where its section measures that kernel separately."""
    full = constants_row(gpu_name)
    row = {k: v for k, v in full.items() if k in Efficiency.__dataclass_fields__}
    if attention_kernel not in ATTENTION_KERNELS:
        from sim.errors import ConfigError
        raise ConfigError("train.attention_kernel", f"unknown kernel {attention_kernel!r} (one of {ATTENTION_KERNELS})")
    sub = full.get(attention_kernel) if attention_kernel != "default" else None
    if isinstance(sub, dict):
        row.update({k: v for k, v in sub.items() if k in Efficiency.__dataclass_fields__})
    return Efficiency(**row)


def with_attention_kernel(eff: Efficiency, gpu_name: str, attention_kernel: str = "default") -> Efficiency:
    """``eff`` (any ``Efficiency``, e.g. one being fitted) with the attention curves of
    ``attention_kernel`` where the GPU's section measures that kernel separately."""
    if attention_kernel == "default":
        return eff
    other = efficiency_for(gpu_name, attention_kernel)
    names = [k for k in Efficiency.__dataclass_fields__ if k.startswith("attn_")]
    return dataclasses.replace(eff, **{k: getattr(other, k) for k in names})


def power_clock(power_W: float, reference_W: float, idle_W: float) -> float:
    """Sustained clock at board power ``power_W`` relative to the clock at ``reference_W``: the
    power above idle is dynamic, f V^2 with DVFS lowering V with f, so (P - idle) ~ f^3 near the
    top of the range; more power than the reference does not raise the clock (1)."""
    if power_W >= reference_W:
        return 1.0
    return float(((power_W - idle_W) / (reference_W - idle_W)) ** (1.0 / 3.0))


def sustained_clock(gpu: GpuSpec, eff: Efficiency) -> float:
    """The clock of ``gpu`` under a sustained training load relative to the one its curves were
    measured at: the section's ``sustained_clock`` (at the rated power limit) times, when the
    section names the board power it was fitted at (``calibrated_power_W``: the V100 curves on
    a 450 W DGX-2H card, run on a 250 W V100S PCIe), ``power_clock`` of this GPU's power limit
    against it, and, when the section names that board's bf16 peak (``calibrated_bf16_tflops``),
    times that peak over this GPU's (the same die's catalogue peaks quoted at different clocks:
    the section's rate is the die's, the power limit sets the clock); otherwise times the defined
    GPU's power-limit scale against its like's (``GpuSpec.clock_scale``, sim.hardware, the same
    law). Approximation without ``calibrated_bf16_tflops``: the boost clocks of boards of one
    die are taken as equal."""
    if eff.calibrated_power_W:
        from sim.energy import power_data
        idle = float(power_data()["gpu_idle_W"]["idle_fraction"]) * eff.calibrated_power_W
        # the GPU's catalogue peak rescaled to the fitted board's (its clock quoted differently)
        quoted = eff.calibrated_bf16_tflops * 1e12 / gpu.peak_flops("bf16") if eff.calibrated_bf16_tflops else 1.0
        return eff.sustained_clock * quoted * power_clock(gpu.power_W, eff.calibrated_power_W, idle)
    return eff.sustained_clock * getattr(gpu, "clock_scale", 1.0)


class ComputeModel:
    """Roofline time of operations on one GPU at one precision."""

    def __init__(self, gpu: GpuSpec, precision: str = "bf16", eff: Efficiency | None = None,
                 speed: float = 1.0, sustained: bool = False):
        self.gpu = gpu
        self.precision = precision
        self.eff = eff or efficiency_for(gpu.name)
        # the rate the chip sustains under its power limit (a defined GPU capped below its like's);
        # ``sustained``: a training load that keeps the SMs busy for minutes, at the clock the
        # power limit holds (``sustained_clock``) rather than the boost clock of single kernels
        self.sustained = sustained
        self.clock = sustained_clock(gpu, self.eff) if sustained else getattr(gpu, "clock_scale", 1.0)
        self.peak = gpu.peak_flops(precision) * self.factor(precision) * self.clock
        self.speed = speed          # per-GPU multiplier (stragglers < 1)

    def factor(self, precision: str) -> float:
        """Tensor-op efficiency at ``precision`` relative to the bf16 curve (1 for 16-bit). A GPU
        without fp4 tensor cores runs fp4 at its fp8 rate (sim.hardware), with fp8's factor."""
        if precision == "fp4" and self.gpu.peak_flops("fp4") == self.gpu.peak_flops("fp8"):
            precision = "fp8"
        if precision == "mxfp8":      # block-scaled FP8 (an op's precision; the peak is fp8's)
            return self.eff.fp8_gemm_factor * self.eff.mxfp8_gemm_factor
        return {"fp8": self.eff.fp8_gemm_factor, "fp4": self.eff.fp4_gemm_factor}.get(precision, 1.0)

    def rate(self, precision: str) -> float:
        """Tensor FLOP/s the curves scale at ``precision``: its dense peak x ``factor``
        (``precision`` "" is the model's own)."""
        if not precision or precision == self.precision:
            return self.peak
        peak = self.gpu.peak_flops("fp8" if precision == "mxfp8" else precision)
        return peak * self.factor(precision) * self.clock

    def time(self, op: Op) -> float:
        return float(self.times(np.array([op.flops]), np.array([op.bytes]), np.array([op.exps]),
                                np.array([op.attention_pass]), np.array([op.count]),
                                np.array([op.min_dim]), np.array([self.rate(op.precision)]))[0])

    def op_times(self, ops) -> np.ndarray:
        """Seconds of each ``Op`` in ``ops`` (one vectorized call of ``times``), each tensor op
        at its own precision's rate."""
        if not ops:
            return np.zeros(0)
        return self.times(np.array([o.flops for o in ops]), np.array([o.bytes for o in ops]),
                          np.array([o.exps for o in ops]), np.array([o.attention_pass for o in ops]),
                          np.array([o.count for o in ops]), np.array([o.min_dim for o in ops]),
                          np.array([self.rate(o.precision) for o in ops]))

    def time_of(self, flops: float, nbytes: float, exps: float = 0.0, attention: int = 0,
                count: float = 1.0, min_dim: float = 0.0, rate: float = 0.0) -> float:
        """``times`` of one op on Python floats (the scalar path; equal to rounding).
        ``rate``: tensor FLOP/s of the op's precision (0: the model's)."""
        e = self.eff
        c = count if count > 1.0 else 1.0
        t = 0.0
        if flops > 0.0:
            w = flops / c
            if attention:
                a_max = (e.attn_bwd_eff_max or e.attn_eff_max) if attention == 2 else e.attn_eff_max
                a_half = (e.attn_bwd_half_flops or e.attn_half_flops) if attention == 2 else e.attn_half_flops
                eff = a_max * w / (w + a_half)
                s_half = (e.attn_bwd_half_seq or e.attn_half_seq) if attention == 2 else e.attn_half_seq
                if min_dim > 0.0 and s_half > 0.0:
                    eff = eff * (min_dim / (min_dim + s_half))
            else:
                eff = e.gemm_eff_max * w / (w + e.gemm_half_flops)
                if min_dim > 0.0 and e.gemm_half_dim > 0.0:
                    eff = eff * (min_dim / (min_dim + e.gemm_half_dim))
            t = flops / ((rate or self.peak) * eff)
        if nbytes > 0.0:
            b = nbytes / c
            tm = nbytes / (self.gpu.hbm_Bps * (e.hbm_eff_max * b / (b + e.hbm_half_bytes)))
            t = tm if tm > t else t
        tx = exps / (self.gpu.special_ops * self.clock * e.special_eff)
        t = tx if tx > t else t
        return (t + count * e.launch_us * 1e-6) / self.speed

    def times(self, flops: np.ndarray, nbytes: np.ndarray, exps: np.ndarray,
              is_attention: np.ndarray | None = None, count: np.ndarray | None = None,
              min_dim: np.ndarray | None = None, rate: np.ndarray | None = None) -> np.ndarray:
        """Seconds per op. ``is_attention``: bool, or ``Op.attention_pass`` codes (2: the fused
        attention backward's curve); ``min_dim``: each GEMM's smallest dimension, each fused
        attention's keys per query (0 or None: unknown); ``rate``: each op's tensor FLOP/s
        (None: the model's precision)."""
        e = self.eff
        flops = np.asarray(flops, dtype=np.float64)
        nbytes = np.asarray(nbytes, dtype=np.float64)
        exps = np.asarray(exps, dtype=np.float64)
        count = np.ones_like(flops) if count is None else np.asarray(count, dtype=np.float64)
        code = np.zeros(flops.shape, int) if is_attention is None else np.asarray(is_attention).astype(int)
        attn = code > 0
        bwd = code == 2
        per_launch = flops / np.maximum(count, 1)
        a_max = np.where(bwd, e.attn_bwd_eff_max or e.attn_eff_max, e.attn_eff_max)
        a_half = np.where(bwd, e.attn_bwd_half_flops or e.attn_half_flops, e.attn_half_flops)
        eff_g = np.where(attn,
                         a_max * per_launch / (per_launch + a_half),
                         e.gemm_eff_max * per_launch / (per_launch + e.gemm_half_flops))
        if min_dim is not None:
            d = np.asarray(min_dim, dtype=np.float64)
            if e.gemm_half_dim > 0:
                shape = np.where(d > 0, d / (d + e.gemm_half_dim), 1.0)
                eff_g = eff_g * np.where(attn, 1.0, shape)
            s_half = np.where(bwd, e.attn_bwd_half_seq or e.attn_half_seq, e.attn_half_seq)
            if np.any(attn & (s_half > 0)):
                eff_g = eff_g * np.where(attn & (d > 0) & (s_half > 0), d / (d + s_half), 1.0)
        b_launch = nbytes / np.maximum(count, 1)
        eff_m = e.hbm_eff_max * b_launch / (b_launch + e.hbm_half_bytes)
        with np.errstate(divide="ignore", invalid="ignore"):
            peak = self.peak if rate is None else np.asarray(rate, dtype=np.float64)
            t_flop = np.where(flops > 0, flops / (peak * eff_g), 0.0)
            t_mem = np.where(nbytes > 0, nbytes / (self.gpu.hbm_Bps * eff_m), 0.0)
        t_exp = exps / (self.gpu.special_ops * self.clock * e.special_eff)
        t = np.maximum(np.maximum(t_flop, t_mem), t_exp) + count * e.launch_us * 1e-6
        return t / self.speed

    def bound(self, op: Op) -> str:
        """Which resource limits ``op``: 'compute', 'memory' or 'special'."""
        t_flop = op.flops / self.peak
        t_mem = op.bytes / self.gpu.hbm_Bps
        t_exp = op.exps / self.gpu.special_ops
        return max((t_flop, "compute"), (t_mem, "memory"), (t_exp, "special"))[1]
