"""Servers: the GPUs of each box with their host memory, SSD and scale-out NICs.

Vocabulary:
- ``Servers``: what ``add_servers`` put in a ``Topology``, as per-rank and per-server lists
  that routers read without touching the graph: node indices (``gpu_node``, ``host_node``,
  ``ssd_node``, ``nic_node`` per rank) and link indices (``gpu_nic``/``nic_gpu`` for the
  GPU <-> NIC PCIe link, ``gpu_host``/``host_gpu``, ``host_ssd``/``ssd_host``).
- Links added here: GPU <-> NIC class ``pcie`` (domain ``scaleout``), GPU <-> host class
  ``host`` and host <-> SSD class ``ssd`` (domain ``host``). Every GPU has its own link to
  host memory and to its NIC (a NIC shared by two GPUs has two PCIe links).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.topology import Topology
from topologies.params import HOST_LATENCY_S, SSD_LATENCY_S, Params


@dataclass
class Servers:
    gpus_per_node: int
    gpu_node: list[int] = field(default_factory=list)      # per rank
    server_of: list[int] = field(default_factory=list)     # per rank
    domain_of: list[int] = field(default_factory=list)     # per rank
    nic_node: list[int] = field(default_factory=list)      # per rank, -1 without scale-out
    nic_slot: list[int] = field(default_factory=list)      # per rank: which NIC of its server
    host_node: list[int] = field(default_factory=list)     # per server
    ssd_node: list[int] = field(default_factory=list)      # per server
    nics: list[list[int]] = field(default_factory=list)    # per server, NIC node indices
    gpu_nic: list[int] = field(default_factory=list)
    nic_gpu: list[int] = field(default_factory=list)
    gpu_host: list[int] = field(default_factory=list)
    host_gpu: list[int] = field(default_factory=list)
    host_ssd: list[int] = field(default_factory=list)      # per server
    ssd_host: list[int] = field(default_factory=list)

    def gpu_rank(self, server: int, local: int) -> int:
        return server * self.gpus_per_node + local


def add_servers(topo: Topology, p: Params, gpu_attrs=None) -> Servers:
    """Add every server's host, SSD, NICs and GPUs (in rank order) with their links.

    ``gpu_attrs(rank)`` may return extra attributes for a GPU node (torus coordinates)."""
    s = Servers(gpus_per_node=p.gpus_per_node)
    gpn = p.gpus_per_node
    so_lat = p.scaleout_latency_s
    for srv in range(p.servers):
        host = topo.add_node(f"host{srv}", "host", node=srv)
        ssd = topo.add_node(f"ssd{srv}", "ssd", node=srv)
        s.host_node.append(host)
        s.ssd_node.append(ssd)
        s.host_ssd.append(topo.add_link(host, ssd, p.ssd_Bps, SSD_LATENCY_S, "ssd", "host"))
        s.ssd_host.append(topo.link_of[(ssd, host)])
        nics = [topo.add_node(f"nic{srv}.{i}", "nic", node=srv, slot=i) for i in range(p.nic_nodes)]
        s.nics.append(nics)
        for local in range(gpn):
            rank = srv * gpn + local
            domain = rank // p.domain_gpus
            slot = p.nic_index(local) if nics else -1
            nic = nics[slot] if nics else -1
            extra = gpu_attrs(rank) if gpu_attrs else {}
            g = topo.add_node(f"gpu{rank}", "gpu", node=srv, domain=domain, local=local,
                              nic=nic if nic >= 0 else None, host=host, **extra)
            s.gpu_node.append(g)
            s.server_of.append(srv)
            s.domain_of.append(domain)
            s.nic_node.append(nic)
            s.nic_slot.append(slot)
            s.gpu_host.append(topo.add_link(g, host, p.host_Bps, HOST_LATENCY_S, "host", "host"))
            s.host_gpu.append(topo.link_of[(host, g)])
            if nic >= 0:
                s.gpu_nic.append(topo.add_link(g, nic, p.pcie_Bps, so_lat, "pcie", "scaleout"))
                s.nic_gpu.append(topo.link_of[(nic, g)])
            else:
                s.gpu_nic.append(-1)
                s.nic_gpu.append(-1)
    return s
