"""ShortestPathRouter: routes from a BFS that stops at the source's level equal the routes of a
full BFS, and a route to a neighbouring node explores only its neighbourhood (the routing cliff
of issue 14: every GPU -> NVSwitch route used to search the whole fabric)."""

from __future__ import annotations

import numpy as np

from sim.config import TopologySection
from sim.topology import ShortestPathRouter, mix
from topologies import build


def full_bfs_route(topo, src, dst, key):
    """The walk over complete distances (the router before the early stop)."""
    d = ShortestPathRouter().distances_to(topo, dst)
    path, x, hop = [], src, 0
    while x != dst:
        choices = [i for i in topo.out_links[x] if d[topo.link_dst[i]] == d[x] - 1]
        i = choices[mix(src, dst, key, hop) % len(choices)]
        path.append(i)
        x = topo.link_dst[i]
        hop += 1
    return path


def test_early_stop_routes_equal_full_bfs_routes():
    topo = build(TopologySection(gpus=64, fabric="fat-tree", gpu="H100-SXM-80GB"))
    rng = np.random.default_rng(1)
    sp = ShortestPathRouter()
    n = len(topo.node_names)
    for _ in range(300):
        src, dst = (int(x) for x in rng.integers(0, n, 2))
        if src == dst:
            continue
        key = int(rng.integers(0, 4))
        assert sp.route(topo, src, dst, key) == full_bfs_route(topo, src, dst, key)


def test_route_to_own_switch_explores_a_neighbourhood():
    topo = build(TopologySection(preset="dgx-h100-superpod", gpus=1024))
    sp = ShortestPathRouter()
    gpu = topo.gpu(5)
    switch = next(topo.link_dst[i] for i in topo.out_links[gpu] if topo.node_kind[topo.link_dst[i]] == "nvswitch")
    assert len(sp.route(topo, gpu, switch)) == 1
    explored = len(sp._bfs[switch][0])
    assert explored < 64 < len(topo.node_names) // 10
    # distances_to still gives the whole fabric
    assert (sp.distances_to(topo, switch) >= 0).sum() > explored


# -- arrays first, networkx on demand ----------------------------------------------------------

def test_graph_made_on_demand_matches_the_link_arrays():
    topo = build(TopologySection(gpus=16, fabric="fat-tree", gpu="H100-SXM-80GB"))
    assert topo._graph is None                       # building never touched networkx
    g = topo.graph
    assert g.number_of_nodes() == len(topo.node_names) and g.number_of_edges() == topo.num_links
    for i in (0, topo.num_links // 2, topo.num_links - 1):
        e = g.edges[topo.link_src[i], topo.link_dst[i]]
        assert (e["index"], e["capacity"], e["link_class"]) == (i, topo.capacity[i], topo.link_class[i])
    gpu = topo.gpu(3)
    assert g.nodes[gpu]["rank"] == 3 == topo.attr(gpu, "rank") and g.nodes[gpu]["kind"] == "gpu"
    assert topo.attr(gpu, "leaf") is not None        # set by the Clos builder with set_attr
    # in-links are the reverse of out-links
    assert all(topo.link_dst[i] == n for n, ls in enumerate(topo.in_links) for i in ls)


def test_components_and_a_disconnected_topology_is_named():
    import pytest
    from sim.errors import ConfigError
    from sim.topology import Topology
    t = Topology()
    a, b, c, d = (t.add_node(f"g{i}", "gpu") for i in range(4))
    s = t.add_node("s", "nvswitch")
    t.add_link(a, s, 1.0, 0.0, "nvlink", "scaleup")
    t.add_link(s, b, 1.0, 0.0, "nvlink", "scaleup", both=False)
    t.add_link(d, c, 1.0, 0.0, "nvlink", "scaleup", both=False)
    comp = t.components()
    assert comp[a] == comp[b] == comp[s] and comp[c] == comp[d] != comp[a]
    with pytest.raises(ConfigError, match="g0 cannot reach g2, g3"):
        t.validate()
    # a chain of 1,000 nodes in one direction is one component
    chain = Topology()
    nodes = [chain.add_node(f"g{i}", "gpu") for i in range(1000)]
    for x, y in zip(nodes, nodes[1:]):
        chain.add_link(y, x, 1.0, 0.0, "nvlink", "scaleup", both=False)
    assert len(set(chain.components().tolist())) == 1


def test_kept_topology_is_reused_until_a_run_changes_it():
    import topologies
    spec = TopologySection(gpus=16, fabric="fat-tree", gpu="H100-SXM-80GB")
    other = TopologySection(gpus=32, fabric="fat-tree", gpu="H100-SXM-80GB")
    assert build(spec) is not build(spec)            # off by default
    topologies.keep_built()
    try:
        first = build(spec)
        assert build(TopologySection(gpus=16, fabric="fat-tree", gpu="H100-SXM-80GB")) is first
        assert build(other) is not first
        again = build(spec)
        assert again is not first and build(spec) is again
        again.add_node("storage", "storage")         # a run that adds nodes: build anew
        assert build(spec) is not again
    finally:
        topologies.keep_built(False)


def test_route_weighted_is_the_route_with_unit_shares_by_default():
    from sim.config import TopologySection
    from topologies import build
    topo = build(TopologySection(gpus=16))
    links, shares = topo.route_weighted(topo.gpu(0), topo.gpu(9))
    assert list(links) == list(topo.route(topo.gpu(0), topo.gpu(9))) and (shares == 1.0).all()


def test_kept_topology_is_rebuilt_when_a_defined_gpu_changes():
    """A sweep over [hardware."NAME"].scaleup_GBps keeps [topology] equal; the kept build must
    not hand one point's NVLink bandwidth to the next (worker processes keep their last build)."""
    import topologies
    from sim import hardware
    spec = TopologySection(gpus=16, fabric="fat-tree", gpu="SweptGPU-T")
    topologies.keep_built()
    try:
        bws = []
        for gbps in (100.0, 900.0):
            hardware.define("SweptGPU-T", {"like": "H100-SXM-80GB", "scaleup_GBps": gbps})
            topo = build(spec)
            bws.append(float(topo.capacity.max()))      # the NVLink links are the fastest
        assert bws[1] == 9 * bws[0]
    finally:
        topologies.keep_built(False)
        hardware._DEFINED.pop("SweptGPU-T", None)
