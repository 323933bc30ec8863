"""Scale-up domains: NVSwitch islands, multi-server NVLink domains, XGMI full mesh, fabric none."""

from __future__ import annotations

import pytest

from sim.config import TopologySection
from sim.errors import ConfigError
from topologies import build

from topologies.params import DEFAULT_SCALEUP_LATENCY_US


def test_hgx_island():
    topo = build(TopologySection(gpu="H100-SXM-80GB", gpus=8, fabric="none"))
    assert topo.node_kind.count("nvswitch") == 1 and topo.node_kind.count("nic") == 0
    nvl = [i for i in range(topo.num_links) if topo.link_class[i] == "nvlink"]
    assert len(nvl) == 16 and all(topo.capacity[i] == pytest.approx(450e9) for i in nvl)
    assert all(topo.link_domain[i] == "scaleup" for i in nvl)
    path = topo.route(topo.gpu(2), topo.gpu(5))
    assert [topo.node_names[topo.link_dst[i]] for i in path] == ["nvswitch0", "gpu5"]
    assert topo.path_latency(path) == pytest.approx(2 * DEFAULT_SCALEUP_LATENCY_US * 1e-6)  # two hops


def test_mesh_per_peer_bandwidth():
    topo = build(TopologySection(gpu="MI300X", gpus=8, fabric="none"))
    nvl = [i for i in range(topo.num_links) if topo.link_class[i] == "nvlink"]
    assert len(nvl) == 8 * 7                              # every ordered pair
    assert all(topo.capacity[i] == pytest.approx(448e9 / 7) for i in nvl)   # 64 GB/s per peer
    assert len(topo.route(topo.gpu(0), topo.gpu(7))) == 1
    assert topo.node_kind.count("nvswitch") == 0


def test_nvl72_spans_trays():
    topo = build(TopologySection(gpu="GB200", gpus=72, gpus_per_node=4, fabric="none"))
    assert topo.node_kind.count("nvswitch") == 1 and topo.node_kind.count("host") == 18
    assert topo.attr(topo.gpu(71), "node") == 17 and topo.attr(topo.gpu(71), "domain") == 0
    host = [i for i in range(topo.num_links) if topo.link_class[i] == "host"]
    assert all(topo.capacity[i] == pytest.approx(450e9) for i in host)     # NVLink-C2C to Grace


def test_domain_smaller_than_server():
    topo = build(TopologySection(gpus=16, gpus_per_node=8, scaleup_domain=4, nics_per_node=8, switch_radix=8))
    assert topo.node_kind.count("nvswitch") == 4
    assert [topo.attr(topo.gpu(r), "domain") for r in (0, 3, 4, 15)] == [0, 0, 1, 3]
    # different domains of one server talk over the network, not the host
    classes = [topo.link_class[i] for i in topo.route(topo.gpu(0), topo.gpu(4))]
    assert "nvlink" not in classes and "host" not in classes


def test_scaleup_override_and_host_bandwidth():
    topo = build(TopologySection(gpus=8, fabric="none", scaleup_GBps=100, host_GBps=10, ssd_GBps=3))
    cap = {topo.link_class[i]: topo.capacity[i] for i in range(topo.num_links)}
    assert cap["nvlink"] == pytest.approx(100e9) and cap["host"] == pytest.approx(10e9) and cap["ssd"] == pytest.approx(3e9)


def test_fabric_none_must_fit_one_domain():
    with pytest.raises(ConfigError) as err:
        build(TopologySection(gpus=16, fabric="none"))
    assert err.value.key == "topology.gpus"
