"""Failures: interruption rates per component class and the Poisson arithmetic around them.

Vocabulary:
- component class: ``gpu, hbm, nic, switch, host, cable, software`` (``CLASSES``). Each has a rate
  per device-hour and the device it is counted on (``per``: ``gpu``, ``nic`` or ``host``).
  Defaults come from the Llama 3 pre-training run (``sim/data/failures.toml``: 419 unexpected
  interruptions in 54 days on 16,384 H100, by root cause, arXiv:2407.21783 Table 5); any class can
  be overridden.
- job rate: interruptions per second of a job = sum over classes of rate x device count / 3600.
  Any failure stops a synchronous job. ``mtbf_s`` = 1 / job rate.
- Poisson interval: the exact (Garwood) two-sided confidence interval of a Poisson mean, used to
  test that simulated counts agree with rate x device-hours.

Errors: a negative rate or device count raises ``ConfigError`` naming ``failures.<class>``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sim.errors import ConfigError

CLASSES = ("gpu", "hbm", "nic", "switch", "host", "cable", "software")


@lru_cache(maxsize=1)
def failure_data() -> dict:
    """The parsed ``sim/data/failures.toml``."""
    return tomllib.loads(resources.files("sim").joinpath("data/failures.toml").read_text())


def default_rates() -> dict[str, tuple[float, str]]:
    """Class -> (interruptions per device-hour, device it is counted on), from the Llama 3 table."""
    d = failure_data()
    hours = float(d["observed_days"]) * 24.0
    devices = {"gpu": d["observed_gpus"], "nic": d["observed_nics"], "host": d["observed_hosts"]}
    out = {}
    for name in CLASSES:
        row = d["class"][name]
        out[name] = (float(row["interruptions"]) / (devices[row["per"]] * hours), row["per"])
    return out


def restart_defaults() -> tuple[float, float]:
    """(detect_s, restart_s) defaults."""
    r = failure_data()["restart"]
    return float(r["detect_s"]), float(r["restart_s"])


@dataclass(frozen=True)
class FailureModel:
    """Failure rates of one job: per class, interruptions per second of wall time."""
    per_s: dict[str, float]     # class -> rate for the whole job, 1/s
    detect_s: float
    restart_s: float

    @property
    def rate_per_s(self) -> float:
        return sum(self.per_s.values())

    @property
    def mtbf_s(self) -> float:
        r = self.rate_per_s
        return 1.0 / r if r > 0 else float("inf")

    @property
    def recovery_s(self) -> float:
        return self.detect_s + self.restart_s

    def expected(self, seconds: float) -> float:
        """Expected interruptions in ``seconds`` of wall time."""
        return self.rate_per_s * seconds


def failure_model(devices: dict[str, int], overrides: dict | None = None) -> FailureModel:
    """A job's failure model. ``devices``: counts of ``gpu``, ``nic`` and ``host`` in the job;
    ``overrides``: class -> rate per device-hour, plus optional ``detect_s``, ``restart_s`` (None =
    default)."""
    overrides = overrides or {}
    for k in ("gpu", "nic", "host"):
        if devices.get(k, 0) < 0:
            raise ConfigError(f"failures.{k}", "device count must be >= 0")
    per_s = {}
    for name, (rate, per) in default_rates().items():
        r = overrides.get(name)
        r = rate if r is None else float(r)
        if r < 0:
            raise ConfigError(f"failures.{name}", f"rate must be >= 0, got {r}")
        per_s[name] = r * devices.get(per, 0) / 3600.0
    detect, restart = restart_defaults()
    if overrides.get("detect_s") is not None:
        detect = float(overrides["detect_s"])
    if overrides.get("restart_s") is not None:
        restart = float(overrides["restart_s"])
    return FailureModel(per_s, detect, restart)


def poisson_interval(k: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided confidence interval of a Poisson mean after observing ``k`` events
    (Garwood 1936), by bisection on the Poisson CDF (no scipy)."""
    alpha = 1.0 - confidence

    def cdf(n: int, mu: float) -> float:     # P(X <= n), summed in log space (no underflow)
        if mu <= 0:
            return 1.0
        logs = [i * math.log(mu) - mu - math.lgamma(i + 1) for i in range(n + 1)]
        top = max(logs)
        return min(math.exp(top) * sum(math.exp(v - top) for v in logs), 1.0)

    def solve(f, lo: float, hi: float) -> float:
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if f(mid) > 0:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    hi_bound = k + 20.0 * math.sqrt(k + 1) + 20.0
    lower = 0.0 if k == 0 else solve(lambda mu: alpha / 2 - (1.0 - cdf(k - 1, mu)), 0.0, hi_bound)
    upper = solve(lambda mu: cdf(k, mu) - alpha / 2, 0.0, hi_bound)
    return lower, upper


def young_daly_interval(checkpoint_s: float, mtbf_s: float) -> float:
    """The first-order optimum checkpoint interval sqrt(2 x checkpoint_s x MTBF) (Young 1974,
    Daly 2006), seconds of work between checkpoints."""
    return math.sqrt(2.0 * checkpoint_s * mtbf_s)
