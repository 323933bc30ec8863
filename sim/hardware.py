"""The hardware catalogue: accelerator specs as data (``sim/data/hardware.toml``).

Vocabulary:
- ``GpuSpec``: one accelerator model. Rates are stored in SI units (FLOP/s, bytes/s).
- ``peak_flops(precision)``: dense tensor rate for a precision (``fp16``, ``bf16``, ``fp8``,
  ``fp4``); a precision the chip lacks falls back to the nearest wider one it has (an H100 runs
  fp4 weights at its fp8 rate), which is what kernels do in practice.
- ``catalogue()``: every GPU by name; ``gpu(name)`` one of them, with a clear error for a typo.
- HBM capacity: ``hbm_GB`` is the vendor's marketed capacity, which for HBM is binary (an "80 GB"
  H100 carries 80 GiB = 85.9e9 bytes). ``hbm_bytes`` is what the runtime reports as the device's
  total (``cudaMemGetInfo``, the "total_gpu_memory" vLLM logs): ``hbm_usable_GiB`` where the
  catalogue gives it (a published log), else ``hbm_GB`` GiB x ``HBM_USABLE_FRACTION`` (the
  driver and ECC keep ~1 %).
- defined GPU: one a config declares in a ``[hardware."NAME"]`` table (CONTRACT round 2).
  ``define(name, row)`` validates it and registers it for this process (``gpu(name)`` then finds
  it); ``like`` names a catalogued GPU whose calibration (compute curves in
  ``sim/data/compute.toml``) it borrows and whose fields fill the ones the table leaves out
  (``dense_tflops`` per precision: the table's rates over the like's), as do its idle power
  (``sim.energy``) and GPU-hour price (``sim.cost``).
  Without ``like`` the table must give ``dense_tflops``, ``hbm_GB`` and ``hbm_GBps``; the other
  fields take the generic defaults in ``DEFINED_DEFAULTS``. A precision given as 0 is one the
  chip lacks (V100 has no bf16 tensor cores): asking for it is an error, not a fallback.
- host CPU (``host_cpu``, ``host_speed``): the CPU that runs a serving engine's scheduler loop
  beside the GPU, and its single-thread speed relative to the x86 DGX hosts (Xeon Platinum
  8480C / 8570) the engine profiles' host times were fitted on (``HOST_CPU_X86``, speed 1).
  ``workloads.serving.deployment`` divides every engine host cost (per step, per sequence, the
  overlap scheduler's, eager kernel dispatch, the DP-attention sync, per-request front end) by
  it; a serving run's manifest names the host it assumed. Grace-hosted boards (GB200, GB300)
  carry their measured ratio with its source in ``hardware.toml``; a defined GPU takes its
  ``like``'s, else 1. ``dispatch_speed`` (optional): the same ratio for eager kernel dispatch
  alone (one PyTorch op's CPU side and launch), which the engines' ``launch_us`` is divided by
  instead (``GpuSpec.launch_speed``; Grace 0.364, TransformerEngine issue #2053).
- ``arch``: the chip's architecture (one of ``ARCHS``: ``hopper``, ``blackwell``, ...; one of its
  vendor's in ``ARCHS_BY_VENDOR``: a defined GPU's arch of another vendor is a config error), what
  behaviour tied to a silicon generation reads (Blackwell's FP8 casts write no transposed copy,
  its TP-overlap kernels take other SMs: ``workloads.training.costs``), never the GPU's name, so a
  defined GPU behaves as its ``like`` whatever it is called; ``sms``: the SMs CUDA enables (on
  AMD the compute units HIP reports as ``multiProcessorCount``; 0: not catalogued, as a TPU's).
  A defined GPU takes both from its ``like`` or its table, else ``""`` / 0 (a generic chip: no
  architecture-specific behaviour).
- ``clock_scale``: the sustained clock of a defined GPU capped below its ``like``'s power limit,
  relative to the like's ((power ratio)^(1/3)); the compute model scales tensor and special-
  function rates by it (``sustained_flops``). 1 for every catalogued GPU.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from sim.errors import ConfigError

# Narrower precisions fall back to wider ones the hardware has.
_FALLBACK = {"fp4": ["fp4", "fp8", "bf16"], "fp8": ["fp8", "bf16"], "bf16": ["bf16", "fp16"],
             "fp16": ["fp16", "bf16"], "tf32": ["tf32"], "fp32": ["fp32"], "int8": ["int8"]}

GiB = float(1 << 30)
# The runtime-visible share of a marketed HBM capacity: H100 SXM "80 GB" reports 79.11 GiB,
# H200 "141 GB" 139.81 GiB (vLLM memory-profiling logs, see hbm_usable_GiB in hardware.toml).
HBM_USABLE_FRACTION = 0.989

# The host CPU of the x86 servers the serving engines' host-time constants were fitted on
# (workloads/serving/data/engines.toml: DGX H100 / H200, 2 x Xeon Platinum 8480C; DGX B200, 2 x
# Xeon Platinum 8570): ``host_speed`` 1 by definition. A catalogue row names another host in
# ``host_cpu`` and gives its single-thread speed relative to these in ``host_speed`` (with its source).
HOST_CPU_X86 = "x86 (DGX-class Xeon, the engines' fit host)"

# Architectures ``arch`` may name (the catalogue's and a [hardware] table's), by the vendor that
# makes them (spelt as the catalogue's ``vendor``): NVIDIA's by generation (``blackwell``: the
# datacenter SM 10.x parts), AMD's CDNA, Google's TPU. A GPU's arch must be its vendor's: a
# [hardware] table like an MI300X with arch = "blackwell" would run Blackwell's FP8 casts and
# TP-overlap SMs on an AMD chip. A vendor outside this table ("custom", a defined GPU's default
# without like, or one the catalogue lacks) makes no architecture of its own here.
ARCHS_BY_VENDOR = {"NVIDIA": ("volta", "ampere", "ada", "hopper", "blackwell"),
                   "AMD": ("cdna3", "cdna4"),
                   "Google": ("tpu-v4",)}
ARCHS = tuple(a for archs in ARCHS_BY_VENDOR.values() for a in archs)
# the vendor of each architecture
ARCH_VENDOR = {a: v for v, archs in ARCHS_BY_VENDOR.items() for a in archs}

BYTES_PER_ELEMENT = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}


@dataclass(frozen=True)
class GpuSpec:
    name: str
    vendor: str
    dense_flops: dict[str, float]   # FLOP/s by precision
    hbm_bytes: float
    hbm_Bps: float
    scaleup_Bps: float              # per GPU, per direction
    scaleup_domain: int
    special_ops: float              # exponentials per second
    host_Bps: float                 # GPU <-> host memory, per direction
    power_W: float
    nvls: bool = False
    scaleup_kind: str = "switch"    # "switch" | "mesh" | "torus"
    source: str = ""
    notes: str = field(default="", compare=False)
    like: str = ""                  # the catalogued GPU whose calibration a defined GPU borrows
    defined: bool = False           # declared in a config's [hardware] table, not the catalogue
    lacks: tuple = ()               # precisions the chip has no tensor rate for (given as 0)
    clock_scale: float = 1.0        # sustained clock under its power limit over its ``like``'s
    host_cpu: str = HOST_CPU_X86    # the host CPU that runs the serving engine's loop (names it in a run's manifest)
    host_speed: float = 1.0         # its single-thread speed over the x86 host the engine host costs were fitted on
    dispatch_speed: float = 0.0     # its speed at dispatching one torch op / kernel launch over that x86 host (0: host_speed)
    arch: str = ""                  # architecture (``ARCHS``; "": a generic chip), what generation-specific behaviour reads
    sms: int = 0                    # streaming multiprocessors CUDA enables (0: not catalogued)
    defaults_taken: tuple = field(default=(), compare=False)   # (field, value) a defined GPU without like took from DEFINED_DEFAULTS

    @property
    def launch_speed(self) -> float:
        """The host's speed at eager kernel dispatch (PyTorch op + launch) over the x86 fit host:
        ``dispatch_speed`` where the catalogue gives one, else ``host_speed``."""
        return self.dispatch_speed if self.dispatch_speed > 0.0 else self.host_speed

    def sustained_flops(self, precision: str) -> float:
        """``peak_flops`` at the clock the chip sustains under its power limit (see ``define``)."""
        return self.peak_flops(precision) * self.clock_scale

    def peak_flops(self, precision: str) -> float:
        if precision in self.lacks:
            raise ConfigError("precision", f"{self.name} has no {precision} tensor cores "
                                           f"(has: {', '.join(sorted(self.dense_flops))})")
        for p in _FALLBACK.get(precision, [precision]):
            if p in self.dense_flops and p not in self.lacks:
                return self.dense_flops[p]
        raise ConfigError("precision", f"{self.name} has no tensor rate for {precision!r}")

    def has_precision(self, precision: str) -> bool:
        return precision in self.dense_flops

    def has_tensor_rate(self, precision: str) -> bool:
        """Whether the chip has tensor cores of ``precision``'s own width: catalogued and not in
        ``lacks`` (``peak_flops`` would otherwise fall back to a wider rate)."""
        return precision in self.dense_flops and precision not in self.lacks


def config_hbm_GB(spec: "GpuSpec") -> float:
    """The ``hbm_GB`` a ``[hardware."NAME"]`` table gives to reproduce ``spec``'s runtime-visible
    capacity (read as GiB x ``HBM_USABLE_FRACTION``), to 0.01: what ``dcsim hardware`` prints
    as ``config_hbm_GB``."""
    return round(spec.hbm_bytes / GiB / HBM_USABLE_FRACTION, 2)


def hbm_bytes(row: dict) -> float:
    """Runtime-visible HBM bytes of a catalogue row (see the module docstring)."""
    if row.get("hbm_usable_GiB"):
        return float(row["hbm_usable_GiB"]) * GiB
    return float(row["hbm_GB"]) * GiB * HBM_USABLE_FRACTION


@lru_cache(maxsize=1)
def _raw() -> dict:
    text = resources.files("sim").joinpath("data/hardware.toml").read_text()
    return tomllib.loads(text)


def _spec(name: str, row: dict, **extra) -> GpuSpec:
    tflops = {k: float(v) for k, v in row["dense_tflops"].items()}
    return GpuSpec(
            name=name,
            vendor=row["vendor"],
            dense_flops={k: v * 1e12 for k, v in tflops.items() if v > 0},
            hbm_bytes=hbm_bytes(row),
            hbm_Bps=float(row["hbm_GBps"]) * 1e9,
            scaleup_Bps=float(row["scaleup_GBps"]) * 1e9,
            scaleup_domain=int(row["scaleup_domain"]),
            special_ops=float(row["special_Tops"]) * 1e12,
            host_Bps=float(row["host_GBps"]) * 1e9,
            power_W=float(row["power_W"]),
            nvls=bool(row.get("nvls", False)),
            scaleup_kind=row.get("scaleup_kind", "switch"),
            source=row.get("source", ""),
            notes=row.get("notes", ""),
            lacks=tuple(sorted(k for k, v in tflops.items() if v <= 0)),
            host_cpu=str(row.get("host_cpu", HOST_CPU_X86)),
            host_speed=float(row.get("host_speed", 1.0)),
            dispatch_speed=float(row.get("dispatch_speed", 0.0)),
            arch=str(row.get("arch", "")),
            sms=int(row.get("sms", 0)),
            **extra,
        )


@lru_cache(maxsize=1)
def catalogue() -> dict[str, GpuSpec]:
    return {name: _spec(name, row) for name, row in _raw()["gpu"].items()}


# GPUs declared by configs in this process (``define``), by name
_DEFINED: dict[str, GpuSpec] = {}

# Fields of a defined GPU without ``like`` that the table may leave out: a PCIe card in a
# server of 8 (PCIe Gen4 x16 both to peers and to the host), special-function rate 0.5% of the
# fp16 tensor rate (A100: 0.8%, H100: 0.4%), a 400 W board.
DEFINED_DEFAULTS = {"vendor": "custom", "scaleup_GBps": 32.0, "scaleup_domain": 8, "host_GBps": 32.0,
                    "power_W": 400.0, "scaleup_kind": "switch", "nvls": False}
_REQUIRED = ("dense_tflops", "hbm_GB", "hbm_GBps")
_NUMERIC = ("hbm_GB", "hbm_usable_GiB", "hbm_GBps", "scaleup_GBps", "special_Tops", "host_GBps", "power_W",
            "host_speed", "dispatch_speed")
# upper bounds of a [hardware."NAME"] value: ~100x today's largest (288 GB HBM, 8 TB/s, 1.8 TB/s
# NVLink, 1.4 kW), so a unit slip (GB given in bytes, W in mW) is an error, not a silent giant GPU
_UPPER = {"hbm_GB": 1e5, "hbm_usable_GiB": 1e5, "hbm_GBps": 1e6, "scaleup_GBps": 1e6, "special_Tops": 1e6,
          "host_GBps": 1e6, "power_W": 1e5, "host_speed": 10.0,
          "dispatch_speed": 10.0}
# host_speed is a ratio near 1 (Grace 0.85): no CPU runs a single thread 10x a Xeon 8480C, while a
# percentage slip (85 for 0.85, 120 for 1.2) lands above 10
# lower bounds: ~100x below today's smallest (16 GB HBM at 900 GB/s, PCIe-class 16 GB/s links,
# 70 W boards), so a unit slip the other way (TB/s given as GB/s, GB as TB) or a stray 1e-9 is an
# error, not a request that takes centuries of simulated time
_LOWER = {"hbm_GB": 0.1, "hbm_usable_GiB": 0.1, "hbm_GBps": 1.0, "scaleup_GBps": 0.01, "special_Tops": 1e-3,
          "host_GBps": 0.01, "power_W": 1.0, "host_speed": 0.01,
          "dispatch_speed": 0.01}
_LOWER_DENSE_TFLOPS = 1e-3
# every precision's dense tensor rate, TFLOP/s: ~100x today's largest (B300 fp4, ~15 PFLOP/s),
# so a rate given in FLOP/s (130e12 for 130 TFLOP/s) is an error naming the key
_UPPER_DENSE_TFLOPS = 1e6
_FIELDS = set(_REQUIRED) | set(_NUMERIC) | {"like", "vendor", "scaleup_domain", "scaleup_kind", "nvls",
                                            "source", "notes", "host_cpu", "arch", "sms"}
# SMs (AMD: CUs) of a defined GPU: today's parts enable 78-304 (H20, MI300X); ~10x either way is a slip
_SMS_RANGE = (1, 10000)


def _row_of(spec: GpuSpec) -> dict:
    dense = {k: v / 1e12 for k, v in spec.dense_flops.items()}
    dense.update({k: 0.0 for k in spec.lacks})
    return {"vendor": spec.vendor, "dense_tflops": dense, "hbm_GB": spec.hbm_bytes / GiB / HBM_USABLE_FRACTION,
            "hbm_GBps": spec.hbm_Bps / 1e9, "scaleup_GBps": spec.scaleup_Bps / 1e9,
            "scaleup_domain": spec.scaleup_domain, "special_Tops": spec.special_ops / 1e12,
            "host_GBps": spec.host_Bps / 1e9, "power_W": spec.power_W, "nvls": spec.nvls,
            "scaleup_kind": spec.scaleup_kind, "host_cpu": spec.host_cpu, "host_speed": spec.host_speed,
            **({"dispatch_speed": spec.dispatch_speed} if spec.dispatch_speed > 0.0 else {}),
            **({"arch": spec.arch} if spec.arch else {}), **({"sms": spec.sms} if spec.sms else {})}


def _check_arch_vendor(name: str, row: dict) -> None:
    """A ``[hardware."NAME"]`` GPU's architecture (its ``arch``, else its like's) must be one of its
    vendor's (its ``vendor``, else its like's, else "custom") in ``ARCHS_BY_VENDOR``: ``ConfigError``
    naming ``hardware.NAME.arch`` otherwise. Exempt: vendor "custom" (no maker said), and a vendor
    the table lacks running its like's architecture unchanged (``arch`` not given). ``row``'s arch
    is already known to be in ``ARCHS`` (or absent); an unknown like is refused after this."""
    like = catalogue().get(row.get("like", "") or "")
    arch = row.get("arch", like.arch if like else "")
    vendor = row.get("vendor", like.vendor if like else DEFINED_DEFAULTS["vendor"])
    maker = ARCH_VENDOR.get(arch)
    if not maker or vendor in (maker, DEFINED_DEFAULTS["vendor"]):
        return
    if vendor not in ARCHS_BY_VENDOR and "arch" not in row:
        return
    what = arch if "arch" in row else f"{arch} (the arch of its like, {like.name})"
    whose = "" if "vendor" in row else f" (its like {like.name}'s)"
    fix = (f"give arch = one of {vendor}'s ({', '.join(ARCHS_BY_VENDOR[vendor])})" if vendor in ARCHS_BY_VENDOR
           else "leave arch out")
    raise ConfigError(f"hardware.{name}.arch",
                      f"{what} is one of {maker}'s architectures; {name}'s vendor is {vendor}{whose}: {fix}, "
                      f"or set vendor = {maker!r} if the chip is {maker}'s (arch keys generation-specific "
                      "behaviour, such as Blackwell's FP8 casts and TP-overlap SMs, that another vendor's chip "
                      "does not have)")


def define(name: str, row: dict, defined_here=()) -> GpuSpec:
    """Validate a config's ``[hardware."NAME"]`` table and register the GPU; returns its spec.
    ``defined_here``: the names of the config's other ``[hardware]`` tables (a ``like`` naming
    one of them, or the GPU itself, is refused as such, not as an unknown GPU).

    Errors (``ConfigError`` naming ``hardware.NAME.KEY``): a name already in the catalogue, an
    unknown key, ``like`` not a catalogued GPU, a missing required field without ``like``, a
    negative or non-numeric rate, no positive tensor rate at all."""
    key = f"hardware.{name}"
    cat = catalogue()
    if name in cat:
        raise ConfigError(key, f"{name!r} is already in the catalogue; give the new GPU another name "
                               f"(like = {name!r} borrows its calibration)")
    unknown = sorted(set(row) - _FIELDS)
    if unknown:
        from sim.config import did_you_mean
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown key{did_you_mean(unknown[0], sorted(_FIELDS))} "
                                                 f"(known: {', '.join(sorted(_FIELDS))})")
    for k in ("like", "vendor", "source", "notes", "scaleup_kind", "host_cpu", "arch"):     # text, never a coerced number
        if k in row and not isinstance(row[k], str):
            raise ConfigError(f"{key}.{k}", f"must be a string, got {row[k]!r}")
    if not name.strip():
        raise ConfigError("hardware", f"a [hardware.{name!r}] table has an empty name: name the GPU (topology.gpu "
                                      "then uses that name)")
    for k, what in (("like", "a catalogued GPU to borrow the calibration of (dcsim hardware lists them), or leave "
                              "the key out for a GPU with its own dense_tflops, hbm_GB and hbm_GBps"),
                    ("vendor", "the maker (e.g. 'NVIDIA', 'AMD'; collectives pick the vendor's scale-up efficiency), "
                               "or leave the key out to take the like's / 'custom'")):
        if k in row and not row[k].strip():
            raise ConfigError(f"{key}.{k}", f"is empty: name {what}")
    # the catalogue's vendor names key the scale-up efficiencies (sim.collectives SCALEUP_EFFICIENCY):
    # 'nvidia' would silently miss NVIDIA's
    known = {g.vendor.casefold(): g.vendor for g in cat.values()}
    if "vendor" in row and row["vendor"] != known.get(row["vendor"].strip().casefold(), row["vendor"]):
        raise ConfigError(f"{key}.vendor", f"{row['vendor']!r}: write {known[row['vendor'].strip().casefold()]!r}, as "
                                           "the catalogue spells it (the vendor's scale-up efficiency is keyed by it)")
    if "host_cpu" in row and not row["host_cpu"].strip():
        raise ConfigError(f"{key}.host_cpu", "is empty: name the host CPU (e.g. 'Grace', 'Xeon 8480C'; a run's "
                                             "manifest names it), or leave the key out to take the like's / x86's")
    # arch keys generation-specific behaviour (Blackwell's FP8 layouts and TP-overlap SMs): a
    # misspelt 'Blackwell' or 'b200' would silently run as a generic chip
    if "arch" in row and row["arch"] not in ARCHS:
        fix = next((a for a in ARCHS if a == row["arch"].strip().casefold()), None)
        raise ConfigError(f"{key}.arch", f"{row['arch']!r}: " + (f"write {fix!r}" if fix else
                                         f"one of {', '.join(ARCHS)}") + " (the chip's architecture, which "
                                         "generation-specific behaviour reads; leave it out to take the like's: "
                                         "a GPU with neither like nor arch runs as a generic chip)")
    _check_arch_vendor(name, row)
    if "sms" in row and (isinstance(row["sms"], bool) or not isinstance(row["sms"], int)
                         or not _SMS_RANGE[0] <= row["sms"] <= _SMS_RANGE[1]):
        raise ConfigError(f"{key}.sms", f"must be an integer {_SMS_RANGE[0]}-{_SMS_RANGE[1]} (the SMs CUDA enables: "
                                        f"H100 132, B200 148; on AMD the CUs: MI300X 304), got {row['sms']!r}")
    if "nvls" in row and not isinstance(row["nvls"], bool):
        raise ConfigError(f"{key}.nvls", f"must be true or false, got {row['nvls']!r}")
    like = row.get("like", "") or ""
    if like:
        if like not in cat:
            if like == name or like in _DEFINED or like in defined_here:
                # a defined GPU borrows a catalogued one's fitted constants; it read as "unknown GPU"
                what = "this GPU itself" if like == name else f"a GPU defined in a config ([hardware.{like!r}])"
                raise ConfigError(f"{key}.like", f"{like!r} is {what}, not a catalogued GPU: like borrows the "
                                                 f"calibration of a catalogued one ({', '.join(cat)}); name one of "
                                                 "them, or leave like out and give the fields in full")
            raise ConfigError(f"{key}.like", f"unknown GPU {like!r}; like must name a catalogued GPU: "
                                             f"{', '.join(cat)}")
        base = _row_of(cat[like])
    else:
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise ConfigError(f"{key}.{missing[0]}", "required when the GPU has no `like`")
        base = dict(DEFINED_DEFAULTS)
    merged = {**base, **{k: v for k, v in row.items() if k != "dense_tflops"}}
    dense = row.get("dense_tflops", base.get("dense_tflops"))
    if not isinstance(dense, dict) or not dense:
        raise ConfigError(f"{key}.dense_tflops", "must be a table such as { fp16 = 130, fp32 = 16.4 }")
    if like:
        # per precision over the like's table: { bf16 = 1200 } on a B200 keeps its fp8 and fp4
        # rates (it replaced the whole table); a precision the chip lacks is given as 0
        dense = {**base["dense_tflops"], **dense}
    for p, v in dense.items():
        if p not in BYTES_PER_ELEMENT:
            raise ConfigError(f"{key}.dense_tflops.{p}", f"unknown precision; known: {', '.join(BYTES_PER_ELEMENT)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf"):
            raise ConfigError(f"{key}.dense_tflops.{p}", f"must be a finite number >= 0 (0: the chip lacks it), got {v!r}")
        if 0 < v < _LOWER_DENSE_TFLOPS:
            raise ConfigError(f"{key}.dense_tflops.{p}", f"{v:g} TFLOP/s is not a GPU's (at least "
                                                         f"{_LOWER_DENSE_TFLOPS:g}, or 0 for a precision the chip "
                                                         "lacks: a bound far below any chip, to catch a slip of units)")
        if v > _UPPER_DENSE_TFLOPS:
            raise ConfigError(f"{key}.dense_tflops.{p}", f"{v:g} TFLOP/s is not a GPU's (at most "
                                                         f"{_UPPER_DENSE_TFLOPS:g}: a bound orders of magnitude above "
                                                         "any chip, to catch a slip of units such as FLOP/s for TFLOP/s)")
    if not any(v > 0 for v in dense.values()):
        raise ConfigError(f"{key}.dense_tflops", "needs at least one positive tensor rate")
    merged["dense_tflops"] = dense
    for k in _NUMERIC:
        v = merged.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
            raise ConfigError(f"{key}.{k}", f"must be a positive finite number, got {v!r}")
        if k in ("host_speed", "dispatch_speed") and not _LOWER[k] <= v <= _UPPER[k]:
            what = ("single-thread speed" if k == "host_speed" else "speed at dispatching one PyTorch op / kernel "
                    "launch (eager steps)")
            example = "Grace 0.85" if k == "host_speed" else "Grace 0.364"
            raise ConfigError(f"{key}.{k}", f"{v:g} is outside {_LOWER[k]:g}-{_UPPER[k]:g}: the host CPU's "
                                            f"{what} as a ratio to the x86 host the engine host times were "
                                            f"fitted on (1 = that host; {example}), not a percentage")
        if v < _LOWER[k]:
            raise ConfigError(f"{key}.{k}", f"{v:g} is not a GPU's (at least {_LOWER[k]:g}: a bound orders "
                                            "of magnitude below any chip, to catch a slip of units)")
        if v > _UPPER[k]:
            raise ConfigError(f"{key}.{k}", f"{v:g} is not a GPU's (at most {_UPPER[k]:g}: a bound "
                                            f"orders of magnitude above any chip, to catch a slip of units)")
    # the runtime-visible capacity cannot exceed the marketed one (binary GB: 80 GB = 80 GiB; the
    # driver and ECC keep ~1 %): hbm_usable_GiB = 200 beside an 80 GB part ran as a 200 GiB GPU
    if merged.get("hbm_usable_GiB") is not None and merged["hbm_usable_GiB"] > merged["hbm_GB"] * (1 + 1e-9):
        whose = "" if "hbm_GB" in row else f", {like}'s; give hbm_GB too"
        raise ConfigError(f"{key}.hbm_usable_GiB", f"{merged['hbm_usable_GiB']:g} GiB exceeds hbm_GB = "
                                                   f"{merged['hbm_GB']:g}{whose}: the runtime sees at most the "
                                                   "marketed capacity (HBM's GB are GiB; ~1 % less after the driver)")
    dom = merged.get("scaleup_domain")
    if isinstance(dom, bool) or not isinstance(dom, int) or dom < 1:
        raise ConfigError(f"{key}.scaleup_domain", f"must be an integer >= 1, got {dom!r}")
    if merged.get("scaleup_kind") not in ("switch", "mesh", "torus"):
        raise ConfigError(f"{key}.scaleup_kind", "must be 'switch', 'mesh' or 'torus'")
    if "special_Tops" not in merged:
        fp16 = max(float(dense.get("fp16", 0)), float(dense.get("bf16", 0)), max(float(x) for x in dense.values()))
        merged["special_Tops"] = 0.005 * fp16
    merged.setdefault("source", f"defined in the run's config ([hardware.{name}])")
    # Sustained clocks under a power limit: a GPU like a calibrated one but capped at less power
    # runs its tensor cores at a lower clock. The board's idle power (sim.energy.gpu_idle_W) is
    # spent at any clock; the rest is dynamic power, f V^2 with DVFS lowering V with f, so
    # P - P_idle ~ f^3 near the top of the range: clock x ((power_W - idle) / (like's power_W -
    # idle))^(1/3) (a 500 W cap on a 700 W H100 idling at 75 W: 0.88), the same law as
    # power.gpu_cap_W (sim.stragglers.cap_speed). The like's calibration was measured at its own
    # limit, so only the ratio enters; more power than the like's does not raise the clock.
    scale = 1.0
    if like and "power_W" in row:
        from sim.energy import gpu_idle_W
        idle = gpu_idle_W(like, cat[like].power_W)
        if float(row["power_W"]) <= idle:
            raise ConfigError(f"{key}.power_W", f"{row['power_W']} W is not above {like}'s idle power ({idle:.0f} W)")
        scale = min(1.0, ((float(row["power_W"]) - idle) / (cat[like].power_W - idle)) ** (1.0 / 3.0))
    # what a GPU without like took from DEFINED_DEFAULTS, for the run's warning (defaults_note)
    taken = () if like else tuple((k, merged[k]) for k in (*DEFINED_DEFAULTS, "special_Tops") if k not in row)
    spec = _spec(name, merged, like=like, defined=True, clock_scale=scale, defaults_taken=taken)
    _DEFINED[name] = spec
    return spec


_DEFAULT_WHY = {
    "vendor": "the default scale-up efficiency, no maker's",
    "scaleup_GBps": "per direction, PCIe-class: give it for NVLink parts, H100 450",
    "scaleup_domain": "GPUs that share the scale-up links",
    "host_GBps": "per direction, PCIe Gen4 x16",
    "power_W": "the board's power limit, which energy and cost use",
    "scaleup_kind": "a switched scale-up",
    "nvls": "no in-switch reduction",
    "special_Tops": "0.5% of its fastest tensor rate",
}


def defaults_note(spec: GpuSpec) -> str:
    """The fields a ``[hardware."NAME"]`` GPU without ``like`` took from ``DEFINED_DEFAULTS``, each
    with its value and what it stands for ("" when it gave them all, or has a like)."""
    if not spec.defaults_taken:
        return ""
    def val(v):
        return repr(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else f"{v:g}"
    items = "; ".join(f"{k} = {val(v)} ({_DEFAULT_WHY.get(k, 'generic')})" for k, v in spec.defaults_taken)
    return (f"[hardware.\"{spec.name}\"] has no like, so the fields it leaves out take dcsim's generic defaults: "
            f"{items}; give them in the table to change them")


def defined() -> dict[str, GpuSpec]:
    """GPUs declared by configs in this process."""
    return dict(_DEFINED)


def gpu(name: str, key: str = "topology.gpu") -> GpuSpec:
    if name in _DEFINED:
        return _DEFINED[name]
    cat = catalogue()
    if isinstance(name, str) and not name.strip():
        raise ConfigError(key, f"{name!r} is empty: name a GPU of the catalogue ({', '.join(cat)}) or one a "
                               '[hardware."NAME"] table defines')
    if name not in cat:
        raise ConfigError(key, f"unknown GPU {name!r}; known: {', '.join(cat)} "
                               f"(or define it in a [hardware.\"{name}\"] table)")
    return cat[name]


def nic_catalogue() -> dict[str, dict]:
    return dict(_raw().get("nic", {}))
