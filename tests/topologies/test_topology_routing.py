"""Endpoint routing: host memory and SSDs as flow endpoints, never as transit between GPUs."""

from __future__ import annotations

from sim.config import TopologySection
from topologies import build
from topo_helpers import check_route


def topo16():
    return build(TopologySection(gpus=16, switch_radix=8))


def test_gpu_to_own_host_and_ssd():
    topo = topo16()
    g = topo.gpu(3)
    host = topo.attr(g, "host")
    assert [topo.link_class[i] for i in check_route(topo, g, host)] == ["host"]
    ssd = topo.node_index["ssd0"]
    assert [topo.link_class[i] for i in check_route(topo, ssd, g)] == ["ssd", "host"]
    assert [topo.link_class[i] for i in check_route(topo, host, ssd)] == ["ssd"]


def test_host_to_remote_gpu_goes_through_the_rail_aligned_gpu():
    topo = topo16()
    host0, g = topo.node_index["host0"], topo.gpu(13)
    path = check_route(topo, host0, g)
    assert topo.link_class[path[0]] == "host"
    assert topo.node_names[topo.link_dst[path[0]]] == "gpu5"       # local index 5, like gpu13
    assert "nvlink" not in [topo.link_class[i] for i in path]


def test_remote_host_to_host_and_gpu_to_remote_host():
    topo = topo16()
    p = check_route(topo, topo.node_index["ssd0"], topo.node_index["ssd1"], key=3)
    classes = [topo.link_class[i] for i in p]
    assert classes[:2] == ["ssd", "host"] and classes[-2:] == ["host", "ssd"]
    p = check_route(topo, topo.gpu(2), topo.node_index["host1"])
    assert topo.node_names[topo.link_src[p[-1]]] == "gpu10"


def test_gpu_routes_never_cross_host_memory():
    topo = build(TopologySection(gpus=16, gpus_per_node=8, scaleup_domain=4, switch_radix=8))
    for a in range(16):
        for b in range(16):
            assert "host" not in [topo.link_class[i] for i in topo.route(topo.gpu(a), topo.gpu(b))]


def test_switch_endpoint_falls_back_to_shortest_path():
    topo = topo16()
    leaf = topo.node_index["leaf0.0"]
    path = check_route(topo, topo.gpu(0), leaf)
    assert len(path) == 2
