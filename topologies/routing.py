"""Structured routing: routers that compute a route from the builder's layout, not by search.

Vocabulary:
- ``StructuredRouter``: the base every builder's router extends. It answers
  ``route(topo, src, dst, key)`` for node indices; GPU -> GPU routes come from the subclass's
  ``gpu_route(a, b, src, dst, key)`` (ranks ``a``, ``b``; node indices ``src``, ``dst``).
- endpoint: a host-memory or SSD node may be a flow's source or destination (KV offload,
  checkpoints). Host memory reaches its own GPUs over their ``host`` links; a host-to-remote
  flow leaves through the GPU of its server with the same local index as the far GPU (rail
  aligned) and then follows the GPU route. Host memory is never a transit hop between GPUs.
- ECMP: where several equal-hop paths exist, the choice is ``sim.topology.mix(src, dst, key,
  hop) % n``, so one flow key always takes one path and different keys spread.
- Any other endpoint (a NIC, a switch) falls back to ``ShortestPathRouter``.
"""

from __future__ import annotations

from sim.topology import ShortestPathRouter, Topology, mix
from topologies.servers import Servers


class StructuredRouter:
    def __init__(self, topo: Topology, servers: Servers):
        self.servers = servers
        n = len(topo.node_names)
        self.rank_of = [-1] * n
        for r, g in enumerate(servers.gpu_node):
            self.rank_of[g] = r
        self.server_of_node = [-1] * n     # host and SSD nodes -> server id
        for srv, (h, s) in enumerate(zip(servers.host_node, servers.ssd_node)):
            self.server_of_node[h] = srv
            self.server_of_node[s] = srv
        self._fallback = ShortestPathRouter()

    def gpu_route(self, a: int, b: int, src: int, dst: int, key: int) -> list[int]:
        raise NotImplementedError

    def route(self, topo: Topology, src: int, dst: int, key: int = 0) -> list[int]:
        if src == dst:
            return []
        rank_of = self.rank_of
        if src < len(rank_of) and dst < len(rank_of):
            a, b = rank_of[src], rank_of[dst]
            if a >= 0 and b >= 0:
                return self.gpu_route(a, b, src, dst, key)
            return self._endpoint_route(topo, src, dst, key)
        return self._fallback.route(topo, src, dst, key)

    def _endpoint_route(self, topo: Topology, src: int, dst: int, key: int) -> list[int]:
        s = self.servers
        kind = topo.node_kind
        if kind[src] not in ("gpu", "host", "ssd") or kind[dst] not in ("gpu", "host", "ssd"):
            return self._fallback.route(topo, src, dst, key)
        head: list[int] = []
        tail: list[int] = []
        cur, end = src, dst
        if kind[cur] == "ssd":
            srv = self.server_of_node[cur]
            head.append(s.ssd_host[srv])
            cur = s.host_node[srv]
        if kind[end] == "ssd":
            srv = self.server_of_node[end]
            tail.append(s.host_ssd[srv])
            end = s.host_node[srv]
        if cur == end:
            return head + tail
        a = self.rank_of[cur]
        b = self.rank_of[end]
        if a < 0 and b < 0:                       # host -> host
            sa, sb = self.server_of_node[cur], self.server_of_node[end]
            local = mix(src, dst, key) % s.gpus_per_node
            a, b = s.gpu_rank(sa, local), s.gpu_rank(sb, local)
            return head + [s.host_gpu[a]] + self._gpu_path(a, b, key) + [s.gpu_host[b]] + tail
        if a < 0:                                 # host -> GPU b
            sa = self.server_of_node[cur]
            if s.server_of[b] == sa:
                return head + [s.host_gpu[b]] + tail
            a = s.gpu_rank(sa, b % s.gpus_per_node)
            return head + [s.host_gpu[a]] + self._gpu_path(a, b, key) + tail
        sb = self.server_of_node[end]             # GPU a -> host
        if s.server_of[a] == sb:
            return head + [s.gpu_host[a]] + tail
        b = s.gpu_rank(sb, a % s.gpus_per_node)
        return head + self._gpu_path(a, b, key) + [s.gpu_host[b]] + tail

    def _gpu_path(self, a: int, b: int, key: int) -> list[int]:
        if a == b:
            return []
        return list(self.gpu_route(a, b, self.servers.gpu_node[a], self.servers.gpu_node[b], key))
