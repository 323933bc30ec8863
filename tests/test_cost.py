"""sim.cost: GPU-hours and energy to dollars."""

import pytest

from sim.cost import HOURS_PER_YEAR, prices, usd_per_Mtoken
from sim.errors import ConfigError


def test_run_cost_is_gpu_hours_plus_energy():
    p = prices("H100-SXM-80GB", gpu_hour_usd=2.0, kwh_usd=0.1)
    # 8 GPUs for 1 hour, 36 MJ = 10 kWh
    assert p.run_usd(8, 3600.0, 36e6) == pytest.approx(8 * 2.0 + 10 * 0.1)


def test_capex_is_spread_over_the_depreciation_years():
    p = prices("H100-SXM-80GB", capex_usd_per_gpu=35040.0, depreciation_years=4)
    assert p.gpu_hour_usd == pytest.approx(35040.0 / (4 * HOURS_PER_YEAR))
    assert p.gpu_hour_usd == pytest.approx(1.0)


def test_defaults_come_from_the_catalogue_and_conflicts_are_errors():
    assert prices("H200-SXM-141GB").gpu_hour_usd > prices("H100-SXM-80GB").gpu_hour_usd
    assert prices("no-such-gpu").gpu_hour_usd > 0
    with pytest.raises(ConfigError, match="cost.gpu_hour_usd"):
        prices("H100-SXM-80GB", gpu_hour_usd=1.0, capex_usd_per_gpu=1.0)


def test_usd_per_million_tokens():
    assert usd_per_Mtoken(2.0, 4e6) == pytest.approx(0.5)
    assert usd_per_Mtoken(2.0, 0) == float("inf")


def test_a_gpu_defined_like_a_catalogued_one_costs_that_ones_rate():
    # like = B200 priced at the generic default (2.5 $/h) instead of the B200's 4.5
    from sim import hardware
    hardware.define("T-cost-like", {"like": "B200-180GB"})
    hardware.define("T-cost-like-h100", {"like": "H100-SXM-80GB", "hbm_GB": 96})
    hardware.define("T-cost-own", {"dense_tflops": {"bf16": 100}, "hbm_GB": 32, "hbm_GBps": 900})
    assert prices("T-cost-like").gpu_hour_usd == prices("B200-180GB").gpu_hour_usd == 4.5
    assert prices("T-cost-like-h100").gpu_hour_usd == prices("H100-SXM-80GB").gpu_hour_usd
    assert prices("T-cost-own").gpu_hour_usd == prices("no-such-gpu").gpu_hour_usd
    assert prices("T-cost-like", gpu_hour_usd=1.0).gpu_hour_usd == 1.0       # an explicit rate still wins
