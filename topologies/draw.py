"""Drawings of small topologies (PNG, matplotlib), for documentation and sanity checks.

Vocabulary:
- layer: one row of the layered drawing, bottom up: SSDs, host memory, GPUs, NVSwitches, NICs,
  leaves, spines, cores. Nodes of a row sit in index order, which follows servers, so a
  server's GPUs, NICs and host line up.
- torus drawing: a torus (GPUs joined by ``ici`` links, no switches) is drawn as grids, one
  X-by-Y grid per Z plane side by side; wraparound links are drawn as short dashed stubs.
- ``draw(topo, path)``; ``draw_preset(name, path, gpus=None)`` builds a small instance of a
  preset (32 GPUs by default, or 144 for 72-GPU domains) with switch radix 8 so that every
  switch tier shows.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from sim.errors import ConfigError  # noqa: E402
from sim.outputs import save_figure  # noqa: E402
from sim.topology import Topology  # noqa: E402

CLASS_COLOURS = {"nvlink": "#76b900", "ici": "#76b900", "pcie": "#8c564b", "nic": "#1f77b4",
                 "leaf-spine": "#9467bd", "spine-core": "#d62728", "host": "#bbbbbb", "ssd": "#dddddd"}
KIND_COLOURS = {"gpu": "#2ca02c", "nvswitch": "#76b900", "nic": "#1f77b4", "switch": "#9467bd",
                "host": "#7f7f7f", "ssd": "#c7c7c7"}


def _layer(topo: Topology, n: int) -> int:
    kind = topo.node_kind[n]
    if kind == "switch":
        return 3 + int(topo.attr(n, "tier", 1))
    return {"ssd": -2, "host": -1, "gpu": 0, "nvswitch": 1, "nic": 2}[kind]


def _layered_positions(topo: Topology) -> dict[int, tuple[float, float]]:
    rows: dict[int, list[int]] = {}
    for n in range(len(topo.node_names)):
        rows.setdefault(_layer(topo, n), []).append(n)
    width = max(len(r) for r in rows.values())
    pos = {}
    for y, nodes in rows.items():
        step = width / len(nodes)
        for i, n in enumerate(nodes):
            pos[n] = ((i + 0.5) * step, float(y))
    return pos


def _torus_positions(topo: Topology) -> dict[int, tuple[float, float]]:
    dims = list(topo.meta.get("torus_dims") or [len(topo.gpus)])
    dims = (dims + [1, 1])[:3]
    pos = {}
    for g in topo.gpus:
        c = tuple(topo.attr(g, "coords")) + (0, 0)
        x, y, z = c[0], c[1], c[2]
        pos[g] = (z * (dims[0] + 1.5) + x, float(y))
    return pos


def draw(topo: Topology, path_png, max_nodes: int = 400) -> None:
    """Draw ``topo`` to ``path_png``; refuses graphs of more than ``max_nodes`` nodes."""
    is_torus = "ici" in topo.link_class
    nodes = topo.gpus if is_torus else range(len(topo.node_names))
    if len(nodes) > max_nodes:
        raise ConfigError("topology.gpus", f"{len(nodes)} nodes are too many to draw (max_nodes = {max_nodes}); draw a smaller instance")
    pos = _torus_positions(topo) if is_torus else _layered_positions(topo)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span_x = max(xs) - min(xs) + 1
    span_y = max(ys) - min(ys) + 1
    fig_w = min(24.0, max(8.0, span_x * (0.6 if is_torus else 0.18)))
    fig_h = min(14.0, max(4.0, span_y * (0.6 if is_torus else 1.0)))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    seen = set()
    classes = set()
    for i in range(topo.num_links):
        u, v = topo.link_src[i], topo.link_dst[i]
        if (v, u) in seen or u not in pos or v not in pos:
            continue
        seen.add((u, v))
        cls = topo.link_class[i]
        classes.add(cls)
        (x0, y0), (x1, y1) = pos[u], pos[v]
        colour = CLASS_COLOURS.get(cls, "#333333")
        if is_torus and abs(x0 - x1) + abs(y0 - y1) > 1.01:      # wraparound: dashed stubs
            for (xa, ya), (xb, yb) in (((x0, y0), (x1, y1)), ((x1, y1), (x0, y0))):
                dx = 0.35 if xb < xa and ya == yb else (-0.35 if ya == yb else 0)
                dy = 0.35 if yb < ya and xa == xb else (-0.35 if xa == xb else 0)
                ax.plot([xa, xa + dx], [ya, ya + dy], color=colour, lw=0.8, ls="--", zorder=1)
            continue
        ax.plot([x0, x1], [y0, y1], color=colour, lw=0.6 if cls in ("host", "ssd", "pcie") else 0.9, zorder=1, alpha=0.8)
    for kind in dict.fromkeys(topo.node_kind[n] for n in pos):
        pts = [pos[n] for n in pos if topo.node_kind[n] == kind]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=60 if kind != "switch" else 110,
                   c=KIND_COLOURS[kind], marker="s" if kind in ("switch", "nvswitch") else "o",
                   edgecolors="black", linewidths=0.4, zorder=2, label=kind)
    if is_torus:
        for g, (x, y) in pos.items():
            ax.annotate(str(topo.attr(g, "rank")), (x, y), fontsize=6, ha="center", va="center", zorder=3)
        ax.set_xlabel("x (planes of z side by side)")
        ax.set_ylabel("y")
    else:
        names = {-2: "ssd", -1: "host", 0: "gpu", 1: "nvswitch", 2: "nic", 4: "leaf", 5: "spine", 6: "core"}
        ticks = sorted({int(p[1]) for p in pos.values()})
        ax.set_yticks(ticks, [names.get(t, str(t)) for t in ticks])
        ax.set_xticks([])
    handles = [Line2D([0], [0], color=CLASS_COLOURS.get(c, "#333333"), label=c) for c in sorted(classes)]
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    meta = topo.meta
    title = f"{topo.name}: {len(topo.gpus)} x {meta.get('gpu', '')}, {meta.get('fabric', '')}"
    if meta.get("tiers"):
        title += f", {meta['tiers']} tiers, radix {meta.get('switch_radix')}, oversubscription {meta.get('oversubscription')}"
    if meta.get("torus_dims"):
        title += f", torus {'x'.join(str(d) for d in meta['torus_dims'])}"
    ax.set_title(title, fontsize=10)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    save_figure(fig, path_png, dpi=110)      # a user's file at that path is kept aside, not overwritten
    plt.close(fig)


def small_spec(name: str, gpus: int | None = None):
    """A small instance of preset ``name``: few GPUs and radix-8 switches so every tier shows."""
    from topologies import preset_spec

    from topologies.clos import ClosLayout
    from topologies.params import resolve

    base = preset_spec(name)
    if base.fabric in ("fat-tree", "rail-optimized"):
        domain = base.scaleup_domain or 8
        n = gpus or (2 * domain if domain > 16 else 32)
        error = None
        for radix in (8, 16, 32, 64, base.switch_radix):      # the smallest switches that fit
            spec = preset_spec(name, gpus=n, switch_radix=radix, leaf_radix=None, pod_gpus=None)
            try:
                ClosLayout(resolve(spec))
                return spec
            except ConfigError as err:
                error = err
        raise error
    if base.fabric == "torus3d":
        return preset_spec(name, gpus=gpus or 32, torus_dims=None)
    return preset_spec(name, gpus=gpus) if gpus else base


def draw_preset(name: str, path_png, gpus: int | None = None) -> Topology:
    """Build a small instance of preset ``name`` and draw it; returns the topology drawn."""
    from topologies import build

    topo = build(small_spec(name, gpus))
    draw(topo, path_png)
    return topo
