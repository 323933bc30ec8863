"""sim.failures: the Llama 3 interruption table, job rates, Poisson intervals."""

import pytest

from sim.errors import ConfigError
from sim.failures import CLASSES, default_rates, failure_model, poisson_interval, young_daly_interval

LLAMA3 = {"gpu": 16384, "nic": 16384, "host": 2048}


def test_defaults_reproduce_419_interruptions_in_54_days_on_16384_gpus():
    m = failure_model(LLAMA3)
    assert m.expected(54 * 86400) == pytest.approx(419)
    assert m.mtbf_s / 3600 == pytest.approx(3.09, abs=0.01)     # "one failure every ~3 hours"
    assert set(m.per_s) == set(CLASSES)
    # GPU and HBM classes are ~64% of the interruptions (Llama 3 Table 5: 58.7% "GPU issues" + ...)
    assert (m.per_s["gpu"] + m.per_s["hbm"]) / m.rate_per_s == pytest.approx(268 / 419)


def test_rates_scale_with_devices_and_overrides_apply_per_class():
    half = failure_model({k: v // 2 for k, v in LLAMA3.items()})
    assert half.rate_per_s == pytest.approx(failure_model(LLAMA3).rate_per_s / 2)
    m = failure_model(LLAMA3, {"gpu": 0.0, "hbm": 0.0, "detect_s": 1.0, "restart_s": 2.0})
    assert m.per_s["gpu"] == 0 and m.recovery_s == 3.0
    assert default_rates()["host"][1] == "host"
    with pytest.raises(ConfigError, match="failures.nic"):
        failure_model(LLAMA3, {"nic": -1.0})


@pytest.mark.parametrize("k,lo,hi", [(0, 0.0, 3.689), (10, 4.795, 18.390), (100, 81.364, 121.627)])
def test_poisson_interval_matches_garwood_tables(k, lo, hi):
    a, b = poisson_interval(k)
    assert a == pytest.approx(lo, abs=2e-3)
    assert b == pytest.approx(hi, abs=2e-3)


def test_young_daly():
    assert young_daly_interval(50.0, 10000.0) == pytest.approx(1000.0)
