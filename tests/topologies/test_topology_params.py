"""Spec checks: every placement the builders cannot make is a ConfigError naming its key."""

from __future__ import annotations

import pytest

from sim.config import TopologySection
from sim.errors import ConfigError
from topologies import build
from topologies.params import balanced_dims, resolve


@pytest.mark.parametrize("kw,key", [
    (dict(gpus=12, gpus_per_node=8), "topology.gpus"),
    (dict(gpu="GB200", gpus=24, gpus_per_node=8, scaleup_domain=12), "topology.scaleup_domain"),
    (dict(gpu="GB200", gpus=24, gpus_per_node=4, scaleup_domain=16), "topology.scaleup_domain"),
    (dict(gpus=16, gpus_per_node=8, nics_per_node=3), "topology.nics_per_node"),
    (dict(gpus=24, gpus_per_node=12, scaleup_domain=6, nics_per_node=3), "topology.nics_per_node"),   # a NIC across domains
    (dict(gpus=16, tiers=2, oversubscription=[1.0, 2.0]), "topology.oversubscription"),
    (dict(gpus=16, tiers=3, oversubscription=[2.0]), "topology.oversubscription"),
    (dict(gpus=128, tiers=1), "topology.tiers"),
    (dict(gpus=64, switch_radix=8, tiers=3, pod_gpus=20), "topology.pod_gpus"),
    (dict(gpus=16, rail_planes=2), "topology.rail_planes"),
    (dict(gpu="B300", gpus=8), "topology.gpu"),
])
def test_bad_specs_name_the_key(kw, key):
    with pytest.raises(ConfigError) as err:
        build(TopologySection(**kw))
    assert err.value.key == key


def test_a_domain_larger_than_the_part_is_built_into_is_refused_unless_a_part_declares_it():
    # an H100 (8-GPU HGX NVLink) with scaleup_domain = 72 ran silently as an NVL72 rack
    with pytest.raises(ConfigError) as err:
        resolve(TopologySection(gpu="H100-SXM-80GB", gpus=144, scaleup_domain=72))
    assert err.value.key == "topology.scaleup_domain" and "(8, the hardware catalogue" in str(err.value)
    assert 'like = "H100-SXM-80GB"' in str(err.value)
    assert resolve(TopologySection(gpu="H100-SXM-80GB", gpus=16, scaleup_domain=4)).domain_gpus == 4
    assert resolve(TopologySection(gpu="GB200", gpus=144, scaleup_domain=72)).domain_gpus == 72
    from sim.hardware import define
    define("H100-NVL72-whatif", {"like": "H100-SXM-80GB", "scaleup_domain": 72})
    assert resolve(TopologySection(gpu="H100-NVL72-whatif", gpus=144, scaleup_domain=72)).domain_gpus == 72
    with pytest.raises(ConfigError) as err:
        resolve(TopologySection(gpu="H100-NVL72-whatif", gpus=288, scaleup_domain=144))
    assert 'raise [hardware."H100-NVL72-whatif"].scaleup_domain' in str(err.value)


def test_a_presets_torus_dims_that_do_not_fit_the_gpus_say_how_to_fix_them():
    from topologies import preset_spec
    with pytest.raises(ConfigError) as err:
        build(preset_spec("tpu-v4-pod", gpus=64))
    assert err.value.key == "topology.torus_dims" and "e.g. [4, 4, 4]" in str(err.value)


@pytest.mark.parametrize("field,key", [("nic_Gbps", "topology.nic_Gbps"), ("scaleup_GBps", "topology.scaleup_GBps"),
                                       ("host_GBps", "topology.host_GBps"), ("pcie_GBps", "topology.pcie_GBps")])
def test_zero_bandwidth_is_refused(field, key):
    spec = TopologySection.model_construct(**{**TopologySection().model_dump(), "gpus": 16, field: 0.0})
    with pytest.raises(ConfigError) as err:
        build(spec)
    assert err.value.key == key


def test_disconnected_graph_is_refused():
    topo = build(TopologySection(gpus=16, switch_radix=8))
    topo.add_node("gpu-orphan", "gpu")
    with pytest.raises(ConfigError, match="disconnected"):
        topo.validate()


def test_defaults_from_catalogue():
    p = resolve(TopologySection(gpu="A100-SXM-80GB", gpus=16, nic_Gbps=200))
    assert p.scaleup_Bps == pytest.approx(300e9) and p.host_Bps == pytest.approx(32e9)
    assert p.pcie_Bps == pytest.approx(2 * 25e9)
    assert p.scaleout_GBps_per_gpu() == pytest.approx(25.0)
    p = resolve(TopologySection(gpus=16, gpus_per_node=4, scaleup_domain=4, nics_per_node=8, nic_Gbps=400))
    assert (p.nic_nodes, p.ports_per_nic) == (4, 2) and p.nic_Bps == pytest.approx(100e9)
    assert resolve(TopologySection(gpu="GB200", gpus=32, gpus_per_node=4)).domain_gpus == 32   # capped at gpus


def test_balanced_dims():
    assert balanced_dims(4096) == [16, 16, 16]
    assert balanced_dims(32) == [2, 4, 4]
    assert balanced_dims(7) == [1, 1, 7]


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("fabric", ["fat-tree", "rail-optimized", "none"])
def test_part_of_one_server(n, fabric):
    # repro (issue 9 item 7): gpus = 1, 2 or 4 with the default gpus_per_node = 8 was refused,
    # "1 GPUs is not a whole number of servers"; it is one partly used server
    topo = build(TopologySection(gpus=n, fabric=fabric))
    assert len(topo.gpus) == n
    assert {topo.attr(g, "node") for g in topo.gpus} == {0}
    assert topo.meta["servers"] == 1 and topo.meta["gpus_per_node"] == n
    assert topo.node_kind.count("switch") == 0            # one NVLink domain: no network needed
    if n > 1:
        a, b = topo.gpu(0), topo.gpu(n - 1)
        assert [topo.link_class[i] for i in topo.route(a, b)] == ["nvlink", "nvlink"]


def test_part_of_one_server_keeps_its_share_of_nics():
    # two GPUs of an 8-GPU server, each its own NVLink domain: they talk over their own NICs
    p = resolve(TopologySection(gpus=2, scaleup_domain=1, nics_per_node=8))
    assert (p.servers, p.gpus_per_node, p.nics_per_node) == (1, 2, 2)
