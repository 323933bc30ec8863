"""Stragglers: per-GPU speed factors (named slow GPUs, a spread of speeds, power caps).

Vocabulary:
- speed factor: a GPU's compute rate over the catalogue rate (1 = nominal, 0.5 = half speed); its
  compute takes ``1 / factor`` as long. Communication is not slowed (links are separate).
- named slow GPUs: ``topology.gpu_speed = {"RANK" = factor}``.
- spread: ``topology.speed_cv``: every GPU runs at ``exp(-|z|)``, ``z ~ Normal(0, speed_cv)``
  drawn from the run's seed (``numpy.random.default_rng([seed, 0x57A6])``): no GPU is faster than
  nominal; a larger cv gives slower stragglers in a larger job.
- power cap: ``power.gpu_cap_W`` slows every GPU to ``((cap - idle) / (TDP - idle)) ** (1/3)``:
  dynamic power grows roughly as the cube of the clock under DVFS (P ~ f V^2 with V ~ f).
- degraded NICs: ``topology.nic_speed = {"RANK" = factor}``: the scale-out NIC that GPU rank
  sends through runs at ``factor`` x its line rate, both directions of its link to the fabric
  (a port that trained at a lower speed, a flapping optic); every flow through it slows by the
  fabric's fair sharing.
- degraded links: ``topology.link_speed = {"NODE" = factor, "NODE:CLASS" = factor}``: every
  link at node ``NODE`` (a GPU ``gpu3``, a switch ``leaf0.1``/``spine0.2``, an ``nvswitch``...;
  names as ``dcsim topology`` prints them), or only those of link class ``CLASS`` (``nvlink``,
  ``leaf-spine``, ``spine-core``, ``nic``, ``pcie``, ``ici``...), runs at ``factor`` x its line rate
  in both directions (``Topology.scale_capacity``). Keys naming the same link multiply.
- a synchronous step runs at its slowest rank: the engine slows each pipeline stage's compute by
  its slowest GPU (over its TP ranks; in symmetric fidelity over every data-parallel replica,
  since the gradient reduction makes every replica wait for the slowest).

Errors: a rank outside the job or a factor outside (0, 1] raises ``ConfigError`` naming
``topology.gpu_speed`` (``topology.nic_speed``, ``topology.link_speed``: an unknown node or a
class with no link at that node, too).
"""

from __future__ import annotations

import numpy as np

from sim.errors import ConfigError


def speed_factors(gpus: int, named: dict | None = None, cv: float = 0.0, seed: int = 0,
                  cap_factor: float = 1.0) -> np.ndarray:
    """Speed factor of every rank ``0..gpus-1`` (float64 array, values in (0, 1])."""
    speed = np.ones(gpus)
    if cv > 0:
        rng = np.random.default_rng([int(seed), 0x57A6])
        speed = np.exp(-np.abs(rng.normal(0.0, cv, gpus)))
    for key, factor in (named or {}).items():
        try:
            rank = int(key)
        except (TypeError, ValueError):
            raise ConfigError("topology.gpu_speed", f"key {key!r} is not a GPU rank") from None
        if not 0 <= rank < gpus:
            raise ConfigError("topology.gpu_speed", f"GPU rank {rank} outside 0..{gpus - 1}")
        if not 0 < float(factor) <= 1:
            raise ConfigError("topology.gpu_speed", f"speed factor of GPU {rank} must lie in (0, 1], got {factor}")
        speed[rank] = float(factor)
    return speed * cap_factor


def cap_speed(cap_W: float | None, idle_W: float, tdp_W: float) -> float:
    """Speed factor of a GPU capped at ``cap_W`` (1 without a cap)."""
    if cap_W is None or cap_W >= tdp_W:
        return 1.0
    if cap_W <= idle_W:
        raise ConfigError("power.gpu_cap_W", f"{cap_W} W is not above the GPU's idle power ({idle_W:.0f} W)")
    return float(((cap_W - idle_W) / (tdp_W - idle_W)) ** (1.0 / 3.0))


def degrade_nics(topo, nic_speed: dict | None) -> None:
    """Scale the NIC-to-fabric links of the NICs of the named GPU ranks (``topology.nic_speed``)."""
    for key, factor in (nic_speed or {}).items():
        try:
            rank = int(key)
        except (TypeError, ValueError):
            raise ConfigError("topology.nic_speed", f"key {key!r} is not a GPU rank") from None
        if not 0 <= rank < len(topo.gpus):
            raise ConfigError("topology.nic_speed", f"GPU rank {rank} outside 0..{len(topo.gpus) - 1}")
        if not 0 < float(factor) <= 1:
            raise ConfigError("topology.nic_speed", f"speed factor of GPU {rank}'s NIC must lie in (0, 1], got {factor}")
        nic = topo.attr(topo.gpu(rank), "nic")
        if nic is None:
            raise ConfigError("topology.nic_speed", f"GPU {rank} has no scale-out NIC in this topology")
        links = [i for i in topo.out_links[nic] if topo.node_kind[topo.link_dst[i]] == "switch"]
        links += [topo.link_of[(topo.link_dst[i], nic)] for i in links if (topo.link_dst[i], nic) in topo.link_of]
        for i in links:
            topo.scale_capacity(i, float(factor))


def degrade_links(topo, link_speed: dict | None) -> None:
    """Scale the links named by ``topology.link_speed`` keys (``NODE`` or ``NODE:CLASS``)."""
    for key, factor in (link_speed or {}).items():
        name, _, cls = str(key).partition(":")
        if name not in topo.node_index:
            raise ConfigError("topology.link_speed", f"unknown node {name!r} (names as `dcsim topology` lists them, "
                                                     f"e.g. {', '.join(topo.node_names[i] for i in (0, -1))})")
        try:
            factor = float(factor)
        except (TypeError, ValueError):
            raise ConfigError("topology.link_speed", f"factor of {key!r} is not a number: {factor!r}") from None
        if not 0 < factor <= 1:
            raise ConfigError("topology.link_speed", f"factor of {key!r} must lie in (0, 1], got {factor}")
        node = topo.node_index[name]
        out = [i for i in topo.out_links[node] if not cls or topo.link_class[i] == cls]
        if not out:
            have = sorted({topo.link_class[i] for i in topo.out_links[node]})
            raise ConfigError("topology.link_speed", f"node {name!r} has no {cls!r} link (its classes: {', '.join(have)})")
        for i in out:
            topo.scale_capacity(i, factor)
            back = topo.link_of.get((topo.link_dst[i], node))
            if back is not None:
                topo.scale_capacity(back, factor)
