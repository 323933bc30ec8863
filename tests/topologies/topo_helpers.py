"""Shared checks for topology tests: hop distances by breadth-first search over the GPU interconnect."""

from __future__ import annotations

import networkx as nx

from sim.topology import Topology


def interconnect(topo: Topology) -> nx.DiGraph:
    """The graph without host memory and SSD nodes (they are endpoints, never transit hops)."""
    keep = [n for n, k in enumerate(topo.node_kind) if k not in ("host", "ssd")]
    return topo.graph.subgraph(keep)


def check_route(topo: Topology, src: int, dst: int, key: int = 0) -> list[int]:
    """The route is a connected walk from src to dst; returns it."""
    path = [int(i) for i in topo.route(src, dst, key)]
    at = src
    for i in path:
        assert topo.link_src[i] == at, topo.describe_link(i)
        at = topo.link_dst[i]
    assert at == dst
    return path
