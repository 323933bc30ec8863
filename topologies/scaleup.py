"""Scale-up domains: the GPUs joined by NVLink or XGMI, and single-domain topologies.

Vocabulary:
- switch domain: an NVSwitch island. One ``nvswitch`` node per domain stands for all the
  switch chips of the domain (4 NVSwitch gen3 chips in an HGX H100 board, the 18 NVLink switch
  trays of a GB200 NVL72 rack); each GPU has one link to it, class ``nvlink``, domain
  ``scaleup``, at the GPU's scale-up bandwidth per direction. A route inside the domain is
  GPU -> nvswitch -> GPU (2 hops). A domain may span several servers (NVL72: 18 trays of 4).
- mesh domain: a full mesh (AMD MI300X XGMI): a direct link between every pair of GPUs of the
  domain, each at ``scaleup / (n - 1)`` per direction (the GPU's links split evenly among
  its peers). A route inside the domain is one hop.
- ``ScaleupLinks.route(a, b)``: the links between ranks ``a`` and ``b`` of one domain.
- ``build_single_domain``: ``fabric = "none"``: one domain with its servers' host memory and
  SSDs and no scale-out network.
"""

from __future__ import annotations

from sim.topology import Topology
from topologies.params import Params, base_meta, resolve
from topologies.routing import StructuredRouter
from topologies.servers import Servers, add_servers


class ScaleupLinks:
    """The scale-up links of every domain, indexed for routing."""

    def __init__(self, topo: Topology, kind: str, servers: Servers):
        self.topo = topo
        self.kind = kind
        self.gpu_node = servers.gpu_node
        self.up: list[int] = []       # switch: per rank, GPU -> nvswitch
        self.down: list[int] = []     # switch: per rank, nvswitch -> GPU
        self.switch_node: list[int] = []   # per domain

    def route(self, a: int, b: int) -> list[int]:
        if self.kind == "mesh":
            return [self.topo.link_of[(self.gpu_node[a], self.gpu_node[b])]]
        return [self.up[a], self.down[b]]

    def hops(self) -> int:
        return 1 if self.kind == "mesh" else 2


def add_domains(topo: Topology, p: Params, servers: Servers) -> ScaleupLinks:
    """Join the GPUs of every scale-up domain by an NVSwitch node or a full mesh."""
    kind = "mesh" if p.scaleup_kind == "mesh" else "switch"
    links = ScaleupLinks(topo, kind, servers)
    n = p.domain_gpus
    if n < 2:
        return links
    lat = p.scaleup_latency_s
    for d in range(p.gpus // n):
        ranks = range(d * n, (d + 1) * n)
        if kind == "mesh":
            per_peer = p.scaleup_Bps / (n - 1)
            for i in ranks:
                for j in ranks:
                    if i < j:
                        topo.add_link(servers.gpu_node[i], servers.gpu_node[j], per_peer, lat, "nvlink", "scaleup")
        else:
            sw = topo.add_node(f"nvswitch{d}", "nvswitch", domain=d)
            links.switch_node.append(sw)
            for r in ranks:
                g = servers.gpu_node[r]
                links.up.append(topo.add_link(g, sw, p.scaleup_Bps, lat, "nvlink", "scaleup"))
                links.down.append(topo.link_of[(sw, g)])
    return links


class ScaleupRouter(StructuredRouter):
    """Routes inside one scale-up domain (fabric ``none``)."""

    def __init__(self, topo: Topology, servers: Servers, scaleup: ScaleupLinks):
        super().__init__(topo, servers)
        self.scaleup = scaleup

    def gpu_route(self, a, b, src, dst, key):
        return self.scaleup.route(a, b)


def build_single_domain(spec) -> Topology:
    p = resolve(spec)
    topo = Topology(p.name)
    servers = add_servers(topo, p)
    scaleup = add_domains(topo, p, servers)
    topo.router = ScaleupRouter(topo, servers, scaleup)
    topo.meta = {**base_meta(p), "links_note": "one nvswitch node stands for all switch chips of a domain"}
    return topo
