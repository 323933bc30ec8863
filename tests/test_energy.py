"""sim.energy: GPU power between idle and TDP, network and host power, energy bounds."""

import numpy as np
import pytest

import topologies
from sim import hardware
from sim.config import load_config
from sim.energy import gpu_idle_W, network_ports, power_data, power_model
from sim.errors import ConfigError


def _topo(gpus=16, preset="dgx-h100-superpod"):
    return topologies.build(load_config(data={"topology": {"preset": preset, "gpus": gpus}}).topology)


def test_every_catalogued_gpu_idles_below_its_tdp():
    for name, spec in hardware.catalogue().items():
        idle = gpu_idle_W(name, spec.power_W)
        assert 0 < idle < spec.power_W, name


def test_gpu_power_is_linear_from_idle_to_tdp():
    spec = hardware.gpu("H100-SXM-80GB")
    pm = power_model(spec, _topo())
    assert pm.gpu_W(0.0) == pytest.approx(gpu_idle_W(spec.name, 700.0))
    assert pm.gpu_W(1.0) == pytest.approx(700.0)
    assert pm.gpu_W(0.5) == pytest.approx((pm.gpu_W(0.0) + pm.gpu_W(1.0)) / 2)
    with pytest.raises(ValueError):
        pm.gpu_W(1.5)


def test_energy_lies_between_idle_and_tdp_times_time():
    pm = power_model(hardware.gpu("H100-SXM-80GB"), _topo())
    rng = np.random.default_rng(1)
    for _ in range(20):
        phases = [(float(rng.uniform(0, 100)), float(rng.uniform(0, 1))) for _ in range(5)]
        total = sum(s for s, _ in phases)
        e = pm.energy_J(phases)
        assert pm.idle_W * total <= e <= pm.max_W * total


def test_network_ports_count_the_topology():
    topo = _topo(16)
    ports = network_ports(topo)
    assert ports["nic"] == 16                      # 8 NICs per DGX H100 node, two nodes
    assert ports["hosts"] == 2
    # 450 GB/s per GPU per direction = 18 NVLink4 ports of 25 GB/s, on the switch side
    assert ports["nvswitch"] == pytest.approx(16 * 18)
    assert ports["switch"] > 0


def test_pue_scales_facility_power_and_a_cap_lowers_the_top():
    spec = hardware.gpu("H100-SXM-80GB")
    topo = _topo()
    a = power_model(spec, topo, pue=1.0)
    b = power_model(spec, topo, pue=1.5)
    assert b.max_W == pytest.approx(1.5 * a.max_W)
    capped = power_model(spec, topo, pue=1.0, gpu_cap_W=400)
    assert capped.max_W == pytest.approx(a.max_W - 16 * 300)
    with pytest.raises(ConfigError, match="power.gpu_cap_W"):
        power_model(spec, topo, gpu_cap_W=800)


def test_a_job_on_part_of_the_cluster_pays_its_share():
    spec = hardware.gpu("H100-SXM-80GB")
    topo = _topo(16)
    whole = power_model(spec, topo, pue=1.0)
    half = power_model(spec, topo, pue=1.0, gpus=8)
    assert half.idle_W == pytest.approx(whole.idle_W / 2)


def test_power_data_cites_sources():
    text = (__import__("pathlib").Path(__file__).resolve().parent.parent / "sim/data/power.toml").read_text()
    assert "estimate" in text and "Quantum-2" in text and "DGX H100" in text
    assert power_data()["host"]["pue"] >= 1.0
