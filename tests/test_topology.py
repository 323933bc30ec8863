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
