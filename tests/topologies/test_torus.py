"""Torus: six neighbours with wraparound, dimension-order routes of shortest length."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from sim.config import TopologySection
from sim.errors import ConfigError
from sim.topology import ShortestPathRouter
from topologies import build
from topo_helpers import check_route, interconnect


def torus(dims, **kw):
    n = 1
    for d in dims:
        n *= d
    return build(TopologySection(gpu="TPU-v4", gpus=n, gpus_per_node=4, fabric="torus3d", torus_dims=dims, **kw))


def test_six_neighbours_with_wraparound():
    topo = torus([4, 4, 4])
    ici = [i for i in range(topo.num_links) if topo.link_class[i] == "ici"]
    assert len(ici) == 64 * 6                       # 6 out-links per chip
    assert all(topo.capacity[i] == pytest.approx(150e9 / 6) for i in ici)
    assert all(topo.link_domain[i] == "scaleup" for i in ici)
    g = topo.gpu(0)
    neighbours = sorted(topo.attr(topo.link_dst[i], "rank") for i in topo.out_links[g] if topo.link_class[i] == "ici")
    assert neighbours == [1, 3, 4, 12, 16, 48]      # +-1 in x, y, z with wraparound
    assert topo.node_kind.count("nic") == 0 and topo.node_kind.count("switch") == 0


def test_ring_of_two_is_one_doubled_link():
    topo = torus([2, 4, 4])
    x_links = [i for i in topo.out_links[topo.gpu(0)] if topo.link_class[i] == "ici"
               and topo.attr(topo.link_dst[i], "rank") == 1]
    assert len(x_links) == 1 and topo.capacity[x_links[0]] == pytest.approx(2 * 150e9 / 6)


def test_route_takes_shorter_way_round():
    topo = torus([8, 1, 1], )
    path = topo.route(topo.gpu(0), topo.gpu(6))
    assert [topo.attr(topo.link_dst[i], "rank") for i in path] == [7, 6]


TORI = {}


@settings(max_examples=60, deadline=None)
@given(dims=st.sampled_from([(4, 4, 4), (2, 3, 4), (8, 2, 1), (4, 3, 3)]), a=st.integers(0, 10**6),
       b=st.integers(0, 10**6), key=st.integers(0, 50))
def test_dimension_order_is_shortest(dims, a, b, key):
    if dims not in TORI:
        TORI[dims] = torus(list(dims))
    topo = TORI[dims]
    n = len(topo.gpus)
    src, dst = topo.gpu(a % n), topo.gpu(b % n)
    path = check_route(topo, src, dst, key)
    assert len(path) == nx.shortest_path_length(interconnect(topo), src, dst)
    ca, cb = topo.attr(src, "coords"), topo.attr(dst, "coords")
    assert len(path) == sum(min((x - y) % d, (y - x) % d) for x, y, d in zip(ca, cb, dims))


def test_agrees_with_shortest_path_router_where_hosts_are_adjacent():
    # 4 chips per host along a ring of 4: any two are <= 2 hops apart, as through the host
    topo = torus([4, 2, 2])
    sp = ShortestPathRouter()
    for a in range(16):
        for b in range(16):
            assert len(topo.route(topo.gpu(a), topo.gpu(b))) == len(sp.route(topo, topo.gpu(a), topo.gpu(b)))


def test_default_dims_and_errors():
    topo = build(TopologySection(gpu="TPU-v4", gpus=32, gpus_per_node=4, fabric="torus3d"))
    assert topo.meta["torus_dims"] == [2, 4, 4]
    with pytest.raises(ConfigError) as err:
        build(TopologySection(gpu="TPU-v4", gpus=64, gpus_per_node=4, fabric="torus3d", torus_dims=[4, 4, 2]))
    assert err.value.key == "topology.torus_dims"
