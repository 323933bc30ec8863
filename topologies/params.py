"""Builder parameters: a ``TopologySection`` checked and resolved into SI numbers.

Vocabulary:
- server: a box of ``gpus_per_node`` GPUs sharing one host memory node (and one SSD); the
  ``node`` attribute of a GPU is its server id. A GB200 compute tray is a server of 4.
  ``gpus`` below ``gpus_per_node`` is one partly used server: its first ``gpus`` GPUs with
  their share of its NICs (``gpus_per_node`` then reads ``gpus`` in ``topo.meta``).
- scale-up domain: ``domain_gpus`` GPUs joined by NVLink (one ``nvswitch`` node), by a full
  mesh of XGMI links, or by a torus (the whole torus is one domain). A domain either lies
  inside one server or spans whole servers (NVL72: 18 trays of 4).
- NIC node: one scale-out NIC of a server. GPU k of a server sends through NIC
  ``k * nic_nodes // gpus_per_node``. When a server has more NIC ports than GPUs, the ports
  are merged so that each GPU has one NIC node standing for ``ports_per_nic`` ports (parallel
  links aggregated; bandwidth is kept, the graph stays small).
- port rate: the line rate of one NIC port; switch ports run at the same rate.
- oversubscription: ``oversub[0]`` is the leaf -> spine ratio (down:up), ``oversub[1]`` the
  spine -> core ratio.

Every problem is a ``ConfigError`` naming the ``topology.*`` key to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.errors import ConfigError
from sim.hardware import GpuSpec, gpu as catalogue_gpu

# Placeholder per-hop latencies until the lead calibrates them (TopologySection leaves
# scaleup_latency_us / scaleout_latency_us as None by default). One hop = one link crossed.
# Per-hop latencies from NCCL's own cost model (NVIDIA/nccl src/graph/tuning.cc, hwLat): a
# ring step over NVLink costs 1.9 us with the LL128 protocol NCCL uses for mid-size messages
# (a step crosses two hops, GPU -> NVSwitch -> GPU), and about 4-6 us over the network
# (hwLat NET ring LL128 4.0 us; our scale-out path is 6 hops: PCIe, NIC, leaf, spine back down).
DEFAULT_SCALEUP_LATENCY_US = 0.95
DEFAULT_SCALEOUT_LATENCY_US = 1.0
# Placeholders for links no config key sets: a PCIe/C2C crossing to host memory is about a
# microsecond; an NVMe read completes in tens of microseconds.
HOST_LATENCY_S = 1.0e-6
SSD_LATENCY_S = 20.0e-6

TORUS_PORTS_PER_DIM = 2   # a torus chip has a + and a - link in every dimension (6 in 3D)


@dataclass
class Params:
    """A topology spec with every default filled in, in SI units (bytes/s, seconds)."""

    name: str
    gpu: GpuSpec
    fabric: str
    gpus: int
    gpus_per_node: int
    servers: int
    domain_gpus: int
    scaleup_kind: str               # "switch" | "mesh" | "torus"
    scaleup_Bps: float              # per GPU, per direction
    nics_per_node: int
    nic_nodes: int                  # NIC nodes per server (0: no scale-out network)
    ports_per_nic: int              # NIC ports merged into one NIC node
    port_Bps: float                 # line rate of one port
    pcie_Bps: float                 # GPU <-> NIC, per direction
    host_Bps: float
    ssd_Bps: float
    scaleup_latency_s: float
    scaleout_latency_s: float
    tiers: int
    leaf_radix: int
    switch_radix: int
    oversub: list[float]
    pod_gpus: int | None
    torus_dims: list[int] | None
    routing: str = "static"         # "static" | "adaptive" (Clos uplink choice; see sim.config)
    meta: dict = field(default_factory=dict)

    @property
    def nic_Bps(self) -> float:
        """Line rate of one NIC node (all its merged ports)."""
        return self.ports_per_nic * self.port_Bps

    @property
    def domain_servers(self) -> int:
        """Servers per scale-up domain (1 when a domain lies inside one server)."""
        return max(1, self.domain_gpus // self.gpus_per_node)

    def nic_index(self, local_gpu: int) -> int:
        """Which NIC of its server GPU ``local_gpu`` (0-based inside the server) uses."""
        return local_gpu * self.nic_nodes // self.gpus_per_node

    def scaleout_GBps_per_gpu(self) -> float:
        return self.nics_per_node * self.port_Bps / self.gpus_per_node / 1e9


def _positive(value, key: str) -> float:
    if value is None or not value > 0:
        raise ConfigError(f"topology.{key}", f"must be > 0 (got {value!r}); a zero-bandwidth link carries nothing")
    return float(value)


def balanced_dims(n: int, ndim: int = 3) -> list[int]:
    """Factor ``n`` into ``ndim`` factors as close to equal as possible (largest last)."""
    dims = []
    rest = n
    for left in range(ndim, 1, -1):
        target = round(rest ** (1.0 / left))
        best = 1
        for f in range(1, rest + 1):
            if rest % f == 0 and abs(f - target) < abs(best - target):
                best = f
            if f > 2 * target + 1:
                break
        dims.append(best)
        rest //= best
    dims.append(rest)
    return sorted(dims)


def oversubscription_list(spec, tiers: int) -> list[float]:
    """Per tier boundary above the leaf, bottom up; always two entries (unused ones = 1)."""
    raw = spec.oversubscription
    needed = max(tiers - 1, 0)
    if isinstance(raw, list):
        if any(not x >= 1.0 for x in raw):
            raise ConfigError("topology.oversubscription", "ratios must be >= 1 (1 = non-blocking)")
        if len(raw) != needed:
            raise ConfigError("topology.oversubscription",
                              f"a list needs one ratio per tier boundary above the leaf: {needed} for tiers = {tiers}, got {len(raw)}")
        values = [float(x) for x in raw]
    else:
        if not raw >= 1.0:
            raise ConfigError("topology.oversubscription", "must be >= 1 (1 = non-blocking)")
        values = [float(raw)] * needed
    return (values + [1.0, 1.0])[:2]


def resolve(spec) -> Params:
    """Check ``spec`` (a TopologySection) and fill in defaults from the hardware catalogue."""
    g = catalogue_gpu(spec.gpu)
    gpus, gpn = int(spec.gpus), int(spec.gpus_per_node)
    if gpus < 1:
        raise ConfigError("topology.gpus", f"must be >= 1 (got {gpus})")
    if gpn < 1:
        raise ConfigError("topology.gpus_per_node", f"must be >= 1 (got {gpn})")
    partial = gpus < gpn
    if partial:
        # one partly used server (serving on 1, 2 or 4 GPUs of an 8-GPU box): the cluster is
        # those GPUs, with their share of the server's NICs
        gpn = gpus
    if gpus % gpn:
        raise ConfigError("topology.gpus", f"{gpus} GPUs is not a whole number of servers of gpus_per_node = {gpn} "
                                           f"(fewer GPUs than one server are fine: one partly used server)")
    fabric = spec.fabric

    scaleup_kind = "torus" if fabric == "torus3d" else g.scaleup_kind
    if scaleup_kind == "torus" and fabric != "torus3d":
        scaleup_kind = "switch"   # a torus chip outside a torus fabric: treat its domain as a switch
    # A domain larger than the cluster is the cluster (NVL72 parts, small test instances).
    if fabric == "torus3d":
        if spec.scaleup_domain is not None and spec.scaleup_domain not in (gpus, g.scaleup_domain):
            raise ConfigError("topology.scaleup_domain", "torus3d: the whole torus is one scale-up domain; leave scaleup_domain unset")
        domain = gpus
    else:
        if spec.scaleup_domain is not None and spec.scaleup_domain > g.scaleup_domain:
            # an H100 (8-GPU HGX NVLink) with scaleup_domain = 72 ran as an NVL72 rack H100s never came in
            where = (f"raise [hardware.\"{g.name}\"].scaleup_domain" if g.defined else
                     f"for a what-if part, declare [hardware.\"{g.name}-NVL{spec.scaleup_domain}\"] with "
                     f"like = \"{g.name}\" and scaleup_domain = {spec.scaleup_domain}, and set topology.gpu to it")
            raise ConfigError("topology.scaleup_domain",
                              f"{spec.scaleup_domain} GPUs is more than the largest NVLink domain {g.name} is built "
                              f"into ({g.scaleup_domain}, the hardware catalogue's scaleup_domain); {where}")
        domain = min(int(spec.scaleup_domain or g.scaleup_domain), gpus)
    if domain < 1:
        raise ConfigError("topology.scaleup_domain", f"must be >= 1 (got {domain})")
    if fabric != "torus3d":
        if domain % gpn and gpn % domain:
            raise ConfigError("topology.scaleup_domain",
                              f"a domain of {domain} GPUs neither divides nor is a multiple of gpus_per_node = {gpn}")
        if gpus % domain:
            raise ConfigError("topology.scaleup_domain", f"{gpus} GPUs is not a whole number of scale-up domains of {domain}")
        if fabric == "none" and gpus > domain:
            raise ConfigError("topology.gpus", f"fabric = 'none' holds one scale-up domain of {domain} GPUs, "
                                               f"got {gpus}; use fabric = 'fat-tree' or 'rail-optimized'")

    scaleup_Bps = _positive(spec.scaleup_GBps if spec.scaleup_GBps is not None else g.scaleup_Bps / 1e9, "scaleup_GBps") * 1e9
    port_Bps = _positive(spec.nic_Gbps, "nic_Gbps") * 1e9 / 8
    host_Bps = _positive(spec.host_GBps if spec.host_GBps is not None else g.host_Bps / 1e9, "host_GBps") * 1e9
    ssd_Bps = _positive(spec.ssd_GBps, "ssd_GBps") * 1e9

    nics = int(spec.nics_per_node)
    if partial and nics:
        nics = max(1, nics * gpus // int(spec.gpus_per_node))
    scaleout = fabric in ("fat-tree", "rail-optimized") and gpus > domain
    if fabric in ("fat-tree", "rail-optimized") and nics < 1 and gpus > domain:
        raise ConfigError("topology.nics_per_node", f"{gpus // domain} scale-up domains need scale-out NICs to reach each other")
    if scaleout:
        if nics % gpn and gpn % nics:
            raise ConfigError("topology.nics_per_node", f"{nics} NICs per server neither divides nor is a multiple of gpus_per_node = {gpn}")
        nic_nodes = min(nics, gpn)
        ports_per_nic = max(1, nics // gpn)
        gpus_per_nic = gpn // nic_nodes
        if domain < gpn and gpus_per_nic % domain and domain % gpus_per_nic:
            # A NIC shared across a domain boundary would make relays through NVLink shorter
            # than the direct path; real servers do not wire it so.
            raise ConfigError("topology.nics_per_node", f"each NIC serves {gpus_per_nic} GPUs, which straddles scale-up domains of {domain}")
    else:
        nic_nodes, ports_per_nic = 0, 1
    nic_Bps = ports_per_nic * port_Bps
    pcie_Bps = _positive(spec.pcie_GBps, "pcie_GBps") * 1e9 if spec.pcie_GBps is not None else 2.0 * nic_Bps

    su_lat = spec.scaleup_latency_us if spec.scaleup_latency_us is not None else DEFAULT_SCALEUP_LATENCY_US
    so_lat = spec.scaleout_latency_us if spec.scaleout_latency_us is not None else DEFAULT_SCALEOUT_LATENCY_US
    if su_lat < 0 or so_lat < 0:
        raise ConfigError("topology.scaleup_latency_us" if su_lat < 0 else "topology.scaleout_latency_us", "must be >= 0")

    tiers = int(spec.tiers)
    oversub = oversubscription_list(spec, tiers) if fabric in ("fat-tree", "rail-optimized") else [1.0, 1.0]
    leaf_radix = int(getattr(spec, "leaf_radix", None) or spec.switch_radix)
    if int(getattr(spec, "rail_planes", 1) or 1) != 1 and scaleout:
        raise ConfigError("topology.rail_planes", "multiple network planes are not modelled yet; use rail_planes = 1")

    dims = None
    if fabric == "torus3d":
        dims = list(spec.torus_dims) if spec.torus_dims else balanced_dims(gpus, 3)
        if not 1 <= len(dims) <= 3 or any(d < 1 for d in dims):
            raise ConfigError("topology.torus_dims", f"needs 1 to 3 positive sizes, got {dims}")
        if math.prod(dims) != gpus:
            raise ConfigError("topology.torus_dims", f"product of {dims} = {math.prod(dims)} != gpus = {gpus}: set "
                                                     f"torus_dims to a factorization of gpus, e.g. {balanced_dims(gpus, 3)} "
                                                     "(a preset's torus_dims stay when only gpus is changed)")

    return Params(
        name=spec.preset or fabric, gpu=g, fabric=fabric, gpus=gpus, gpus_per_node=gpn,
        servers=gpus // gpn, domain_gpus=domain, scaleup_kind=scaleup_kind, scaleup_Bps=scaleup_Bps,
        nics_per_node=nics, nic_nodes=nic_nodes, ports_per_nic=ports_per_nic, port_Bps=port_Bps,
        pcie_Bps=pcie_Bps, host_Bps=host_Bps, ssd_Bps=ssd_Bps,
        scaleup_latency_s=su_lat * 1e-6, scaleout_latency_s=so_lat * 1e-6,
        tiers=tiers, leaf_radix=leaf_radix, switch_radix=int(spec.switch_radix), oversub=oversub,
        pod_gpus=spec.pod_gpus, torus_dims=dims, routing=str(getattr(spec, "routing", "static") or "static"),
    )


def base_meta(p: Params) -> dict:
    """The builder parameters every topology reports in ``topo.meta``."""
    return {
        "fabric": p.fabric, "gpu": p.gpu.name, "gpus": p.gpus, "gpus_per_node": p.gpus_per_node,
        "servers": p.servers, "scaleup_domain": p.domain_gpus, "scaleup_kind": p.scaleup_kind,
        "scaleup_GBps": p.scaleup_Bps / 1e9, "nics_per_node": p.nics_per_node if p.nic_nodes else 0,
        "nic_Gbps": p.port_Bps * 8 / 1e9, "scaleout_GBps_per_gpu": p.scaleout_GBps_per_gpu() if p.nic_nodes else 0.0,
        "pcie_GBps": p.pcie_Bps / 1e9, "host_GBps": p.host_Bps / 1e9, "ssd_GBps": p.ssd_Bps / 1e9,
        "scaleup_latency_us": p.scaleup_latency_s * 1e6, "scaleout_latency_us": p.scaleout_latency_s * 1e6,
        "routing": p.routing,
    }
