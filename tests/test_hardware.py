"""The hardware catalogue against the published spec rows it was copied from."""

import csv
from pathlib import Path

import pytest

from sim.errors import ConfigError
from sim.hardware import catalogue, gpu

CONTRACT_NAMES = ["A100-SXM-40GB", "A100-SXM-80GB", "H100-SXM-80GB", "H800-SXM-80GB",
                  "H200-SXM-141GB", "B200-180GB", "GB200", "MI300X"]


def test_contract_gpu_names_present():
    assert set(CONTRACT_NAMES) <= set(catalogue())


@pytest.mark.parametrize("name,bf16,fp8,hbm_GB,hbm_TBps,nvlink", [
    ("A100-SXM-80GB", 312, None, 80, 2.039, 300),
    ("H100-SXM-80GB", 989, 1979, 80, 3.35, 450),
    ("H200-SXM-141GB", 989, 1979, 141, 4.8, 450),
    ("B200-180GB", 2250, 4500, 180, 8.0, 900),
    ("GB200", 2500, 5000, 186, 8.0, 900),
    ("MI300X", 1307.4, 2614.9, 192, 5.3, 448),
])
def test_dense_rates_match_reference_hardware_rows(name, bf16, fp8, hbm_GB, hbm_TBps, nvlink):
    # figures from ../shared/reference/hardware.csv (dense, no sparsity)
    g = gpu(name)
    assert g.peak_flops("bf16") == bf16 * 1e12
    if fp8:
        assert g.peak_flops("fp8") == fp8 * 1e12
    # marketed HBM capacities are binary (GiB); the runtime sees ~99 % of them (driver, ECC)
    assert 0.98 * hbm_GB * 2**30 <= g.hbm_bytes <= hbm_GB * 2**30
    assert g.hbm_Bps == pytest.approx(hbm_TBps * 1e12)
    assert g.scaleup_Bps == nvlink * 1e9


def test_missing_precision_falls_back_to_a_wider_one():
    assert gpu("A100-SXM-80GB").peak_flops("fp8") == gpu("A100-SXM-80GB").peak_flops("bf16")
    assert gpu("H100-SXM-80GB").peak_flops("fp4") == gpu("H100-SXM-80GB").peak_flops("fp8")


def test_unknown_gpu_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as err:
        gpu("H100-PCIE")
    assert err.value.key == "topology.gpu" and "known" in str(err.value)


def test_every_entry_cites_a_source():
    for spec in catalogue().values():
        assert len(spec.source) > 10
