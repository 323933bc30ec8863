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


def test_switch_ports_are_physical_ports_the_jobs_gpus_drive():
    """A full-bisection fabric gives each NIC a leaf port, a leaf uplink and a spine down port:
    3 physical ports per NIC whatever the line rate, not the whole scalable unit's switches."""
    for gbps in (100, 400, 3200):
        topo = topologies.build(load_config(data={"topology": {"preset": "dgx-h100-superpod", "gpus": 16,
                                                               "nic_Gbps": gbps}}).topology)
        ports = network_ports(topo)
        assert ports["switch"] == pytest.approx(3 * ports["nic"]) and ports["switch_Gbps"] == gbps


def test_oversubscribed_leaf_uplinks_count_in_proportion():
    topo = topologies.build(load_config(data={"topology": {"gpus": 64, "fabric": "fat-tree", "leaf_radix": 32,
                                                           "oversubscription": 3.0}}).topology)
    n = network_ports(topo)["nic"]
    # 24 down : 8 up per leaf: NIC port + 1/3 uplink + 1/3 spine port per NIC
    assert network_ports(topo)["switch"] == pytest.approx(n * (1 + 2 / 3), rel=0.05)


def test_port_power_rises_sub_linearly_with_line_rate():
    from sim.energy import port_W
    net = power_data()["network"]
    assert port_W(net, 400) == pytest.approx(net["switch_W_per_port"])
    assert 1.0 < port_W(net, 800) / port_W(net, 400) < 2.0
    assert port_W(net, 200) == pytest.approx(6.0 / 8.0 * 20.0, rel=0.02)   # HDR optics 6 W vs NDR 8 W
    spec = hardware.gpu("H100-SXM-80GB")
    w = {g: power_model(spec, topologies.build(load_config(data={"topology": {
        "preset": "dgx-h100-superpod", "gpus": 16, "nic_Gbps": g}}).topology)).parts["switch"] for g in (400, 3200)}
    assert w[3200] / w[400] == pytest.approx(8 ** net["port_power_exponent"])


def test_default_host_power_follows_the_gpus_a_server_carries():
    # power.toml's host_W is an 8-GPU DGX's: an 8-GPU server draws all of it, a one-GPU node an
    # eighth (it was charged a whole DGX host, 1.2 kW next to a 0.7 kW GPU); an explicit
    # power.host_W stays per server
    spec = hardware.gpu("H100-SXM-80GB")
    host = float(power_data()["host"]["host_W"])
    dgx = power_model(spec, _topo(16), pue=1.0)
    assert dgx.host_W == pytest.approx(2 * host)
    one = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "gpus_per_node": 1, "fabric": "none"}})
    topo1 = topologies.build(one.topology)
    assert network_ports(topo1)["hosts"] == 1
    assert power_model(spec, topo1, pue=1.0).host_W == pytest.approx(host / 8)
    assert power_model(spec, topo1, pue=1.0, host_W=500.0).host_W == pytest.approx(500.0)


@pytest.mark.parametrize("row", [{}, {"power_W": 500}, {"power_W": 800, "hbm_GB": 96}])
def test_a_gpu_defined_like_a_catalogued_one_idles_as_that_one(row):
    # like = H100 with nothing overridden idled at idle_fraction x 700 W = 80.5 W, not the H100's
    # listed 75 W; its idle power is the base board's whatever power limit it is given (define
    # scales a lower limit's clock from that same idle)
    spec = hardware.define("T-idle-like", {"like": "H100-SXM-80GB", **row})
    base = hardware.gpu("H100-SXM-80GB")
    assert gpu_idle_W(spec.name, spec.power_W) == gpu_idle_W(base.name, base.power_W) == 75.0
    assert power_model(spec, _topo()).gpu_W(0.0) == pytest.approx(75.0)
    # a defined GPU without like: the idle fraction of its own power limit
    own = hardware.define("T-idle-own", {"dense_tflops": {"bf16": 100}, "hbm_GB": 32, "hbm_GBps": 900, "power_W": 300})
    assert gpu_idle_W(own.name, own.power_W) == pytest.approx(float(power_data()["gpu_idle_W"]["idle_fraction"]) * 300)
