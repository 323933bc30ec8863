"""Topology builders: how hardware is wired, from a ``[topology]`` spec to a ``Topology``.

Vocabulary:
- builder: a function ``spec -> Topology`` for one ``fabric``: ``none`` (one scale-up domain,
  ``topologies.scaleup``), ``fat-tree`` and ``rail-optimized`` (``topologies.clos``),
  ``torus3d`` (``topologies.torus``). Each installs a structured router (no graph search per
  flow) and fills ``topo.meta`` with the parameters it used.
- preset: a TOML file in ``topologies/presets/`` whose keys are ``[topology]`` keys plus a
  ``description`` string; ``preset_spec(name, **overrides)`` loads one.

``build(spec)`` validates the result (connected, every link with positive bandwidth).
``keep_built()`` (sweep workers) makes ``build`` hand back the topology it built last for an
equal ``[topology]`` section on an equal GPU (its whole ``GpuSpec``: a config's
``[hardware."NAME"]`` may change scaleup_GBps, scaleup_domain, nvls or host_GBps between sweep
points under the same name), as long as no run has changed it since (``Topology.version``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from sim.config import TopologySection
from sim.errors import ConfigError
from sim.topology import Topology

PRESET_DIR = Path(__file__).resolve().parent / "presets"


_kept: dict | None = None      # [topology] as JSON + its GPU's spec -> (Topology, its version when built)


def keep_built(on: bool = True) -> None:
    """Reuse the last built topology for an equal ``[topology]`` section and GPU spec (``on``), or build
    every time (the default). A run that changes its topology (storage nodes, degraded links)
    bumps ``Topology.version``, and the next ``build`` makes a fresh one."""
    global _kept
    _kept = {} if on else None


def build(spec: TopologySection) -> Topology:
    """The topology a ``[topology]`` section describes, validated, with its router installed."""
    if _kept is None:
        return _build(spec)
    from sim.hardware import gpu as gpu_spec
    # the builders read the GPU's spec (sim.hardware.gpu(spec.gpu)); a [hardware."NAME"] swept
    # under one name changes it while [topology] stays equal
    key = spec.model_dump_json() + repr(gpu_spec(spec.gpu))
    hit = _kept.get(key)
    if hit is not None and hit[0].version == hit[1]:
        return hit[0]
    topo = _build(spec)
    _kept.clear()
    _kept[key] = (topo, topo.version)
    return topo


def _build(spec: TopologySection) -> Topology:
    from topologies.clos import build_clos
    from topologies.scaleup import build_single_domain
    from topologies.torus import build_torus

    builders = {"none": build_single_domain, "fat-tree": build_clos, "rail-optimized": build_clos,
                "torus3d": build_torus}
    if spec.fabric not in builders:
        raise ConfigError("topology.fabric", f"unknown fabric {spec.fabric!r}; known: {', '.join(builders)}")
    topo = builders[spec.fabric](spec)
    # collectives read this to offer in-switch reduction (NVLS) where the GPU's switch has it
    from sim.hardware import gpu as gpu_spec
    topo.meta.setdefault("nvls", gpu_spec(spec.gpu).nvls)
    if spec.preset:
        topo.name = spec.preset
    if spec.nic_speed:      # degraded NICs (sim.stragglers)
        from sim.stragglers import degrade_nics
        degrade_nics(topo, spec.nic_speed)
    if spec.link_speed:     # degraded links of any class (sim.stragglers)
        from sim.stragglers import degrade_links
        degrade_links(topo, spec.link_speed)
    topo.validate()
    return topo


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_description(name: str) -> str:
    return str(_read_preset(name).get("description", ""))


def _read_preset(name: str) -> dict:
    path = PRESET_DIR / f"{name}.toml"
    if not path.exists():
        raise ConfigError("topology.preset", f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    return tomllib.loads(path.read_text())


def preset_spec(name: str, **overrides) -> TopologySection:
    """The ``TopologySection`` of preset ``name`` with ``overrides`` applied (validated)."""
    data = {k: v for k, v in _read_preset(name).items() if k != "description"}
    data.update(overrides)
    data["preset"] = name
    try:
        return TopologySection(**data)
    except Exception as err:   # pydantic ValidationError: name the key
        raise ConfigError("topology", f"preset {name!r}: {err}") from None
