"""Cost: dollars of a run from GPU-hours and energy.

Vocabulary:
- ``gpu_hour_usd``: what one GPU costs per hour of wall time, whether it works or waits. Given
  directly (a rental or internal rate), or as capital: ``capex_usd_per_gpu`` (GPU plus its share
  of server and network) / (``depreciation_years`` x 8,760 h). Default: the catalogue rate in
  ``sim/data/power.toml`` [price]; a GPU a config defines ``like`` a catalogued one takes that
  one's rate, any other defined GPU the ``default``.
- ``kwh_usd``: price of one kWh of facility energy (IT x PUE), charged on top of the GPU-hours.
- ``run_usd = gpus x hours x gpu_hour_usd + energy_kWh x kwh_usd``.
- ``usd_per_Mtoken = run_usd / tokens x 1e6``: serving counts output tokens, training counts
  trained tokens (useful work only on a long-horizon run).

Errors: a negative price or duration raises ``ConfigError`` naming the ``cost`` key.
Sources: ``sim/data/power.toml`` [price] (estimates, to be overridden for a study).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.energy import power_data
from sim.errors import ConfigError

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Prices:
    gpu_hour_usd: float
    kwh_usd: float

    def run_usd(self, gpus: int, seconds: float, energy_J: float) -> float:
        """Dollars for ``gpus`` GPUs held ``seconds`` and ``energy_J`` of facility energy."""
        if seconds < 0 or energy_J < 0:
            raise ValueError("seconds and energy must be >= 0")
        return gpus * seconds / 3600.0 * self.gpu_hour_usd + energy_J / 3.6e6 * self.kwh_usd


def prices(gpu_name: str, gpu_hour_usd: float | None = None, capex_usd_per_gpu: float | None = None,
           depreciation_years: float | None = None, kwh_usd: float | None = None) -> Prices:
    """Resolve the prices of a run: explicit rate, else capital / depreciation, else the catalogue."""
    table = power_data()["price"]
    if gpu_hour_usd is not None and capex_usd_per_gpu is not None:
        raise ConfigError("cost.gpu_hour_usd", "give either gpu_hour_usd or capex_usd_per_gpu, not both")
    if gpu_hour_usd is not None:
        rate = float(gpu_hour_usd)
    elif capex_usd_per_gpu is not None:
        years = depreciation_years if depreciation_years is not None else 4.0
        if years <= 0:
            raise ConfigError("cost.depreciation_years", "must be > 0")
        rate = float(capex_usd_per_gpu) / (years * HOURS_PER_YEAR)
    else:
        from sim import hardware
        spec = hardware.defined().get(gpu_name)
        name = spec.like if spec is not None and spec.like else gpu_name     # a like GPU costs its base's
        rate = float(table.get(name, table["default"]))
    kwh = float(kwh_usd if kwh_usd is not None else table["kwh_usd"])
    if rate < 0:
        raise ConfigError("cost.gpu_hour_usd", f"must be >= 0, got {rate}")
    if kwh < 0:
        raise ConfigError("cost.kwh_usd", f"must be >= 0, got {kwh}")
    return Prices(rate, kwh)


def usd_per_Mtoken(usd: float, tokens: float) -> float:
    """Dollars per million tokens (inf when no token was produced)."""
    return usd / tokens * 1e6 if tokens > 0 else float("inf")
