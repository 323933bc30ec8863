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

    def peak_flops(self, precision: str) -> float:
        for p in _FALLBACK.get(precision, [precision]):
            if p in self.dense_flops:
                return self.dense_flops[p]
        raise ConfigError("precision", f"{self.name} has no tensor rate for {precision!r}")

    def has_precision(self, precision: str) -> bool:
        return precision in self.dense_flops


def hbm_bytes(row: dict) -> float:
    """Runtime-visible HBM bytes of a catalogue row (see the module docstring)."""
    if row.get("hbm_usable_GiB"):
        return float(row["hbm_usable_GiB"]) * GiB
    return float(row["hbm_GB"]) * GiB * HBM_USABLE_FRACTION


@lru_cache(maxsize=1)
def _raw() -> dict:
    text = resources.files("sim").joinpath("data/hardware.toml").read_text()
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, GpuSpec]:
    out = {}
    for name, row in _raw()["gpu"].items():
        out[name] = GpuSpec(
            name=name,
            vendor=row["vendor"],
            dense_flops={k: float(v) * 1e12 for k, v in row["dense_tflops"].items()},
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
        )
    return out


def gpu(name: str, key: str = "topology.gpu") -> GpuSpec:
    cat = catalogue()
    if name not in cat:
        raise ConfigError(key, f"unknown GPU {name!r}; known: {', '.join(cat)}")
    return cat[name]


def nic_catalogue() -> dict[str, dict]:
    return dict(_raw().get("nic", {}))
