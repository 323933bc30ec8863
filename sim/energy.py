"""Energy: the electrical power of a cluster as a function of GPU utilization, and the energy of a run.

Vocabulary:
- utilization ``u``: fraction of wall time a GPU's compute stream is busy (0 idle .. 1 always busy).
- GPU power: ``P_gpu(u) = idle_W + (max_W - idle_W) * u`` per GPU (linear between idle and the
  board power limit: TDP from the hardware catalogue, or a power cap). Idle power comes from
  ``sim/data/power.toml`` (measured where a source exists, else ``idle_fraction`` x TDP); a GPU
  defined ``like`` a catalogued one idles as that one.
- network power: constant while the job runs: ``nvswitch_W_per_port`` per active NVLink port
  (scale-up switch egress capacity / one NVLink's bandwidth), ``nic_W`` per NIC, and ``port_W``
  per physical scale-out switch port the job's GPUs can drive (``driven_switch_ports``: a port at
  any speed is one port; uplinks count in proportion to the down ports in use, tier by tier),
  whose power rises sub-linearly with its line rate. Ports are counted on the job's ``Topology``.
- host power: ``host_W`` per server (CPUs, DRAM, fans, SSDs), constant. Without ``power.host_W``
  it is ``power.toml``'s reference server's (an 8-GPU DGX) per GPU it hosts: a server of g GPUs
  draws ``host_W x g / host_gpus`` (a one-GPU node is not charged a whole DGX host).
- IT power = GPUs + network + hosts; facility power = PUE x IT power. ``energy_J`` is facility
  energy: a run's phases ``(seconds, u)`` integrate ``PUE x IT(u)``.
- bounds: ``idle_W`` (every GPU idle) and ``max_W`` (every GPU at its limit); any run's energy lies
  between ``idle_W x time`` and ``max_W x time``.

Errors: a negative duration or a utilization outside [0, 1] raises ``ValueError``; a power cap above
TDP or below idle power raises ``ConfigError`` naming ``power.gpu_cap_W``.
Sources: ``sim/data/power.toml`` (each value with its source or derivation).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from sim.errors import ConfigError


@lru_cache(maxsize=1)
def power_data() -> dict:
    """The parsed ``sim/data/power.toml``."""
    return tomllib.loads(resources.files("sim").joinpath("data/power.toml").read_text())


def gpu_idle_W(name: str, tdp_W: float) -> float:
    """Idle power of a GPU, W (``idle_fraction`` x TDP when not listed). A GPU a config defines
    ``like`` a catalogued one idles as that one does: its silicon and board, whatever power limit
    the table gives (the same idle ``sim.hardware.define`` scales the clock of a lower limit from)."""
    from sim import hardware
    spec = hardware.defined().get(name)
    if spec is not None and spec.like:
        name, tdp_W = spec.like, hardware.catalogue()[spec.like].power_W
    table = power_data()["gpu_idle_W"]
    if name in table and name != "idle_fraction":
        return float(table[name])
    return float(table["idle_fraction"]) * tdp_W


@dataclass(frozen=True)
class PowerModel:
    """Electrical power of one job's cluster (all values W)."""
    gpus: int
    gpu_idle_W: float          # per GPU
    gpu_max_W: float           # per GPU: TDP or the power cap
    network_W: float           # NVSwitch + NIC + switch ports, whole cluster
    host_W: float              # all servers
    pue: float
    parts: dict                # name -> W, for reports (nvswitch, nic, switch, host)

    def gpu_W(self, u):
        """Power of one GPU at utilization ``u`` (scalar or array), W."""
        u = np.asarray(u, dtype=np.float64)
        if np.any((u < 0) | (u > 1)) or np.any(np.isnan(u)):
            raise ValueError(f"utilization must lie in [0, 1], got {u}")
        out = self.gpu_idle_W + (self.gpu_max_W - self.gpu_idle_W) * u
        return float(out) if out.ndim == 0 else out

    def it_W(self, u):
        """IT power of the cluster with every GPU at utilization ``u``, W."""
        return self.gpus * self.gpu_W(u) + self.network_W + self.host_W

    def facility_W(self, u):
        """PUE x IT power, W."""
        return self.pue * self.it_W(u)

    @property
    def idle_W(self) -> float:
        return self.facility_W(0.0)

    @property
    def max_W(self) -> float:
        return self.facility_W(1.0)

    def energy_J(self, phases) -> float:
        """Facility energy of phases ``[(seconds, u), ...]``, J."""
        total = 0.0
        for seconds, u in phases:
            if seconds < 0:
                raise ValueError(f"phase duration must be >= 0, got {seconds}")
            total += seconds * self.facility_W(u)
        return total


def port_W(net: dict, port_Gbps: float) -> float:
    """Power of one scale-out switch port (its share of the switch ASIC plus its transceiver)
    at line rate ``port_Gbps``: ``switch_W_per_port x (port_Gbps / switch_port_Gbps) ^
    port_power_exponent`` (sub-linear: energy per bit falls as lane rates rise; power.toml)."""
    ratio = float(port_Gbps) / float(net["switch_port_Gbps"])
    return float(net["switch_W_per_port"]) * ratio ** float(net["port_power_exponent"])


def driven_switch_ports(topo) -> float:
    """Physical scale-out switch ports the topology's GPUs can drive, counted bottom up.

    A port is one cable end at the fabric's line rate (``nic_Gbps``, any speed: one port);
    aggregated parallel links count as their capacity over that rate. A leaf's NIC-facing ports
    all count; its uplinks count in proportion to its used down ports over the down ports the
    leaf was designed with (``leaf_down_ports``: a leaf serving 2 NICs of a 32-down-port design
    drives 1/16 of its uplinks). A higher-tier switch counts its down ports in proportion to the
    lower switch's driven fraction, and its own uplinks in proportion to its driven down ports."""
    if not topo.num_links:
        return 0.0
    meta = getattr(topo, "meta", {}) or {}
    port_Bps = float(meta.get("nic_Gbps") or power_data()["network"]["switch_port_Gbps"]) * 1e9 / 8
    kind = topo.node_kind
    switches = [n for n, k in enumerate(kind) if k == "switch"]
    if not switches:
        return 0.0
    tier = {n: int(topo.attr(n, "tier", 1) or 1) for n in switches}
    down: dict[int, list[tuple[int, float]]] = {n: [] for n in switches}   # (lower node, ports)
    up: dict[int, float] = {n: 0.0 for n in switches}
    for n in switches:
        for link in topo.out_links[n]:
            dst = int(topo.link_dst[link])
            ports = float(topo.capacity[link]) / port_Bps
            if kind[dst] == "switch" and tier[dst] > tier[n]:
                up[n] += ports
            elif kind[dst] == "switch" and tier[dst] == tier[n]:
                up[n] += ports                      # a peer link (torus of switches): count as up
            else:
                down[n].append((dst, ports))
    lowest = min(tier.values())
    design = meta.get("leaf_down_ports")
    frac: dict[int, float] = {}
    total = 0.0
    for n in sorted(switches, key=lambda s: tier[s]):
        built = sum(p for _, p in down[n])
        if tier[n] == lowest:
            driven = built                          # NIC-facing ports: the GPUs' own
            capacity = max(float(design), built) if design else built
        else:
            driven = sum(p * frac.get(d, 1.0) for d, p in down[n])
            capacity = built
        frac[n] = min(1.0, driven / capacity) if capacity > 0 else 0.0
        total += driven + frac[n] * up[n]
    return total


def network_ports(topo) -> dict[str, float]:
    """Active port counts of a topology: ``nvswitch`` (NVLink ports), ``nic`` (NICs), ``switch``
    (physical scale-out switch ports the GPUs can drive, ``driven_switch_ports``),
    ``switch_Gbps`` (their line rate) and ``hosts`` (servers)."""
    net = power_data()["network"]
    kinds = np.asarray([topo.node_kind[s] for s in topo.link_src]) if topo.num_links else np.array([])
    cap = topo.capacity
    nvlink_Bps = float(net["nvlink_port_GBps"]) * 1e9
    nvswitch = float(cap[kinds == "nvswitch"].sum() / nvlink_Bps) if len(kinds) else 0.0
    switch = driven_switch_ports(topo)
    nics = sum(1 for k in topo.node_kind if k == "nic")
    hosts = sum(1 for k in topo.node_kind if k == "host")
    if hosts == 0:
        servers = {topo.attr(g, "node", 0) for g in topo.gpus}
        hosts = len(servers)
    meta = getattr(topo, "meta", {}) or {}
    return {"nvswitch": nvswitch, "nic": float(nics), "switch": switch, "hosts": float(hosts),
            "switch_Gbps": float(meta.get("nic_Gbps") or net["switch_port_Gbps"])}


def power_model(spec, topo, pue: float | None = None, gpu_cap_W: float | None = None,
                host_W: float | None = None, gpus: int | None = None) -> PowerModel:
    """The power model of a job on ``topo`` with GPUs of catalogue entry ``spec``.

    ``pue``, ``host_W`` (per server) default to ``power.toml``; ``gpu_cap_W`` caps the board power
    (must lie between idle power and TDP); ``gpus`` defaults to every GPU of the topology (a job on
    fewer GPUs pays that share of the network and host power).
    """
    data = power_data()
    net = data["network"]
    idle = gpu_idle_W(spec.name, spec.power_W)
    top = spec.power_W
    if gpu_cap_W is not None:
        if not idle < gpu_cap_W <= spec.power_W:
            raise ConfigError("power.gpu_cap_W", f"{gpu_cap_W} W must lie above {spec.name}'s idle power "
                                                 f"({idle:.0f} W) and at most its TDP ({spec.power_W:.0f} W)")
        top = float(gpu_cap_W)
    ports = network_ports(topo)
    n = int(gpus if gpus is not None else len(topo.gpus))
    share = n / max(len(topo.gpus), 1)      # a job on part of the cluster pays its share of it
    parts = {
        "nvswitch": share * ports["nvswitch"] * float(net["nvswitch_W_per_port"]),
        "nic": share * ports["nic"] * float(net["nic_W"]),
        "switch": share * ports["switch"] * port_W(net, ports["switch_Gbps"]),
        "host": share * (ports["hosts"] * float(host_W) if host_W is not None else
                         len(topo.gpus) * float(data["host"]["host_W"]) / float(data["host"]["host_gpus"])),
    }
    return PowerModel(
        gpus=n,
        gpu_idle_W=idle, gpu_max_W=top,
        network_W=parts["nvswitch"] + parts["nic"] + parts["switch"],
        host_W=parts["host"],
        pue=float(pue if pue is not None else data["host"]["pue"]),
        parts=parts,
    )
