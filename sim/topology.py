"""The topology: a directed graph of typed nodes and links, with link attributes in numpy arrays.

Vocabulary:
- node kinds: ``gpu``, ``nvswitch`` (a scale-up switch, possibly standing for several chips),
  ``nic``, ``switch`` (a scale-out switch; ``tier`` 1 = leaf, 2 = spine, 3 = core), ``host``
  (host DRAM), ``ssd``.
- link: a directed edge ``u -> v`` with ``capacity`` (bytes/s, line rate), ``latency`` (s),
  ``link_class`` (``nvlink``, ``pcie``, ``nic``, ``leaf-spine``, ``spine-core``, ``ici``, ...)
  and ``domain`` (``scaleup``, ``scaleout`` or ``host``; the collective efficiencies of the
  config apply per domain). Links are numbered; ``capacity[i]`` is link i's line rate.
- GPU attributes: ``rank`` (its index in ``gpus``), ``node`` (server), ``domain`` (scale-up
  domain id), ``nic`` (the NIC it sends through by default), ``host`` (its host memory node).
- route: the list of link indices a flow from ``src`` to ``dst`` crosses. A ``Router`` makes it;
  builders install routers that know their structure (up/down in a Clos, dimension order in a
  torus); ``ShortestPathRouter`` is the fallback for user graphs: ECMP among equal-cost next hops
  chosen by a stable hash of (src, dst, key), so a flow key spreads flows across paths
  deterministically.
- spread route: ``route_weighted`` gives a flow's links and the share of its bytes on each;
  one path (shares 1) unless the topology's ``meta["routing"]`` is ``adaptive`` and its router
  has a ``spread`` (Clos: every spine at 1/S), the fluid limit of per-packet adaptive routing.
"""

from __future__ import annotations

from typing import Protocol

import networkx as nx
import numpy as np

from sim.errors import ConfigError

NODE_KINDS = ("gpu", "nvswitch", "nic", "switch", "host", "ssd", "storage")
LINK_DOMAINS = ("scaleup", "scaleout", "host")


def mix(*values: int) -> int:
    """A stable 64-bit hash of small integers (splitmix64 steps), for ECMP choices."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    # final avalanche, so hashes that differ only in the last value (the hop) are independent
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return h ^ (h >> 31)


class Router(Protocol):
    def route(self, topo: "Topology", src: int, dst: int, key: int = 0) -> list[int]:
        """Link indices from node index ``src`` to node index ``dst``."""


class Topology:
    """Nodes and directed links of one cluster; what the fabric moves bytes over.

    Nodes and links live in plain lists (numpy arrays once read): building a 16,384-GPU fabric
    appends ~200,000 links and never touches networkx. ``graph`` is a networkx ``DiGraph`` made
    from them on first use, for drawing and export only; node attributes are read with ``attr``
    and written with ``set_attr``."""

    def __init__(self, name: str = "custom"):
        self.name = name
        self._graph: nx.DiGraph | None = None
        self.node_attrs: list[dict] = []       # per node: name, kind and builder attributes
        self.in_links: list[list[int]] = []    # per node, indices of links entering it
        self.node_names: list[str] = []
        self.node_index: dict[str, int] = {}
        self.node_kind: list[str] = []
        self.gpus: list[int] = []              # node indices of GPUs in rank order
        self._cap: list[float] = []
        self._lat: list[float] = []
        self.link_src: list[int] = []
        self.link_dst: list[int] = []
        self.link_class: list[str] = []
        self.link_domain: list[str] = []
        self.out_links: list[list[int]] = []   # per node, indices of links leaving it
        self.link_of: dict[tuple[int, int], int] = {}
        self.router: Router = ShortestPathRouter()
        self.meta: dict = {}                   # builder parameters, for display and manifests
        self._frozen: tuple[np.ndarray, np.ndarray] | None = None
        self.version = 0                       # bumped by every change (nodes, links, capacities)
        self._route_cache: dict[tuple[int, int, int], np.ndarray] = {}
        self._spread_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    # -- building ---------------------------------------------------------------------------
    def add_node(self, name: str, kind: str, **attrs) -> int:
        if kind not in NODE_KINDS:
            raise ConfigError("topology", f"node {name!r}: unknown kind {kind!r}")
        if name in self.node_index:
            raise ConfigError("topology", f"duplicate node {name!r}")
        idx = len(self.node_names)
        self.node_names.append(name)
        self.node_index[name] = idx
        self.node_kind.append(kind)
        self.out_links.append([])
        self.in_links.append([])
        data = {"name": name, "kind": kind, **attrs}
        if kind == "gpu":
            data["rank"] = len(self.gpus)
            self.gpus.append(idx)
        self.node_attrs.append(data)
        self._frozen = None
        self._graph = None
        self.version += 1
        return idx

    def set_attr(self, node: int, key: str, value) -> None:
        """Set attribute ``key`` of node ``node`` (an index)."""
        self.node_attrs[node][key] = value
        self.version += 1
        if self._graph is not None:
            self._graph.nodes[node][key] = value

    def add_link(self, u: int | str, v: int | str, capacity_Bps: float, latency_s: float,
                 link_class: str, domain: str, both: bool = True) -> int:
        """Add the link u -> v (and v -> u when ``both``); returns the index of u -> v."""
        u = self._idx(u)
        v = self._idx(v)
        if not capacity_Bps > 0:
            raise ConfigError("topology", f"link {self.node_names[u]} -> {self.node_names[v]} "
                                          f"({link_class}) has non-positive bandwidth {capacity_Bps}")
        if latency_s < 0:
            raise ConfigError("topology", f"link {self.node_names[u]} -> {self.node_names[v]} has negative latency")
        if domain not in LINK_DOMAINS:
            raise ConfigError("topology", f"link domain {domain!r} not in {LINK_DOMAINS}")
        first = self._add_one(u, v, capacity_Bps, latency_s, link_class, domain)
        if both:
            self._add_one(v, u, capacity_Bps, latency_s, link_class, domain)
        return first

    def _add_one(self, u, v, cap, lat, cls, dom) -> int:
        if (u, v) in self.link_of:
            raise ConfigError("topology", f"duplicate link {self.node_names[u]} -> {self.node_names[v]}")
        i = len(self._cap)
        self._cap.append(float(cap))
        self._lat.append(float(lat))
        self.link_src.append(u)
        self.link_dst.append(v)
        self.link_class.append(cls)
        self.link_domain.append(dom)
        self.out_links[u].append(i)
        self.in_links[v].append(i)
        self.link_of[(u, v)] = i
        self._frozen = None
        self._graph = None
        self.version += 1
        return i

    def _idx(self, node: int | str) -> int:
        if isinstance(node, str):
            if node not in self.node_index:
                raise ConfigError("topology", f"unknown node {node!r}")
            return self.node_index[node]
        return int(node)

    def scale_capacity(self, link: int, factor: float) -> None:
        """Degrade (factor < 1) or upgrade link ``link``'s line rate by ``factor`` (> 0)."""
        if not factor > 0:
            raise ConfigError("topology", f"link capacity factor must be > 0, got {factor}")
        self._cap[link] *= float(factor)
        if self._graph is not None:
            self._graph.edges[self.link_src[link], self.link_dst[link]]["capacity"] = self._cap[link]
        self._frozen = None
        self.version += 1

    # -- reading ----------------------------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        """The topology as a networkx ``DiGraph`` (node attributes as ``attr``; edge attributes
        ``index``, ``capacity``, ``latency``, ``link_class``, ``domain``), made on first use for
        drawing and export. Changing it does not change the topology."""
        if self._graph is None:
            g = nx.DiGraph()
            g.add_nodes_from((i, dict(d)) for i, d in enumerate(self.node_attrs))
            g.add_edges_from((u, v, {"index": i, "capacity": c, "latency": lt, "link_class": k, "domain": d})
                             for i, (u, v, c, lt, k, d) in enumerate(zip(self.link_src, self.link_dst, self._cap,
                                                                         self._lat, self.link_class,
                                                                         self.link_domain)))
            self._graph = g
        return self._graph

    @property
    def num_links(self) -> int:
        return len(self._cap)

    @property
    def capacity(self) -> np.ndarray:
        """Line rate of every link, bytes/s (read-only array)."""
        return self._arrays()[0]

    @property
    def latency(self) -> np.ndarray:
        return self._arrays()[1]

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._frozen is None:
            cap = np.asarray(self._cap, dtype=np.float64)
            lat = np.asarray(self._lat, dtype=np.float64)
            cap.flags.writeable = False
            lat.flags.writeable = False
            self._frozen = (cap, lat)
        return self._frozen

    def gpu(self, rank: int) -> int:
        """Node index of the GPU with this rank."""
        if not 0 <= rank < len(self.gpus):
            raise ConfigError("topology.gpus", f"GPU rank {rank} outside 0..{len(self.gpus) - 1}")
        return self.gpus[rank]

    def attr(self, node: int, key: str, default=None):
        return self.node_attrs[node].get(key, default)

    def gpu_domain(self, rank: int) -> int:
        return int(self.node_attrs[self.gpus[rank]].get("domain", 0))

    def gpu_server(self, rank: int) -> int:
        return int(self.node_attrs[self.gpus[rank]].get("node", 0))

    def route(self, src: int, dst: int, key: int = 0) -> np.ndarray:
        """Link indices from node ``src`` to node ``dst`` (cached per ECMP key)."""
        ck = (src, dst, key)
        path = self._route_cache.get(ck)
        if path is None:
            path = np.asarray(self.router.route(self, src, dst, key), dtype=np.int64)
            if len(self._route_cache) < 2_000_000:
                self._route_cache[ck] = path
        return path

    def route_weighted(self, src: int, dst: int, key: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The links a flow from ``src`` to ``dst`` loads and the share of its bytes on each
        (cached per key). One path (every share 1) unless the router spreads flows over
        equal-cost paths (``topo.meta["routing"] = "adaptive"``: a router's ``spread``, the
        fluid limit of per-packet adaptive routing); shares on each tier sum to 1."""
        ck = (src, dst, key)
        hit = self._spread_cache.get(ck)
        if hit is None:
            spread = getattr(self.router, "spread", None)
            res = spread(self, src, dst, key) if spread is not None and self.meta.get("routing") == "adaptive" else None
            if res is None:
                links = self.route(src, dst, key)
                hit = (links, np.ones(len(links)))
            else:
                hit = (np.asarray(res[0], dtype=np.int64), np.asarray(res[1], dtype=np.float64))
            if len(self._spread_cache) < 2_000_000:
                self._spread_cache[ck] = hit
        return hit

    # at least this many pairs take the router's batched routes (an all-to-all over EP groups:
    # 10^5 pairs); fewer are walked one route at a time
    BATCH_MIN = 256

    def batches_routes(self, n: int) -> bool:
        """Whether ``n`` pairs' routes are batched (``route_blocks``): at least ``BATCH_MIN`` of
        them, a router with ``gpu_routes``, and no adaptive routing (its spread routes carry
        shares below 1)."""
        return (n >= self.BATCH_MIN and getattr(self.router, "gpu_routes", None) is not None
                and not (getattr(self.router, "spread", None) is not None and self.meta.get("routing") == "adaptive"))

    def route_blocks(self, pairs, key: int = 0) -> list[np.ndarray] | None:
        """The routes of many (src, dst) pairs at once, as blocks of equal-length routes (2-D
        arrays, one route a row, each in ``route``'s link order; rows in no particular order),
        from the router's ``gpu_routes`` (pairs it leaves go through ``route``). None where
        batching does not apply: fewer than ``BATCH_MIN`` pairs, a router without
        ``gpu_routes``, or adaptive routing (its spread routes carry shares below 1)."""
        if not self.batches_routes(len(pairs)):
            return None
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        blocks, rest = self.router.gpu_routes(arr[:, 0], arr[:, 1], key)
        mats = [links for _, links in blocks]
        by_len: dict[int, list] = {}
        for i in rest.tolist():
            r = self.route(int(arr[i, 0]), int(arr[i, 1]), key)
            by_len.setdefault(len(r), []).append(r)
        mats += [np.stack(rs) if n else np.zeros((len(rs), 0), dtype=np.int64) for n, rs in by_len.items()]
        return mats

    def max_block_latency(self, mats: list[np.ndarray]) -> float:
        """The largest ``path_latency`` of the routes in ``route_blocks``' blocks (0.0 when none),
        bit for bit: each route summed in numpy's order for a short array (left to right below
        8 links, numpy's pairwise order at 8), longer routes one at a time."""
        lat = self.latency
        best = 0.0
        for m in mats:
            if m.size == 0:
                continue
            vals = lat[m]
            n = m.shape[1]
            if n < 8:
                acc = vals[:, 0].copy()
                for c in range(1, n):
                    acc = acc + vals[:, c]
            elif n == 8:
                acc = ((vals[:, 0] + vals[:, 1]) + (vals[:, 2] + vals[:, 3])) + (
                    (vals[:, 4] + vals[:, 5]) + (vals[:, 6] + vals[:, 7]))
            else:
                acc = np.array([float(row.sum()) for row in vals])
            best = max(best, float(acc.max()))
        return best

    def path_latency(self, links: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Latency of a route (s); a spread route's (``weights``) is the share-weighted sum,
        one hop per tier."""
        if not len(links):
            return 0.0
        if weights is None:
            return float(self.latency[links].sum())
        return float((self.latency[links] * weights).sum())

    def classes(self) -> list[str]:
        return sorted(set(self.link_class))

    # -- checking ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Every GPU reaches every other GPU; every link has positive bandwidth."""
        if not self.gpus:
            raise ConfigError("topology", "the topology has no GPUs")
        cap = self.capacity
        if len(cap) and not np.all(cap > 0):
            bad = int(np.argmin(cap))
            raise ConfigError("topology", f"link {self.describe_link(bad)} has zero bandwidth")
        if len(self.gpus) > 1:
            comp = self.components()
            first = self.gpus[0]
            cut = [g for g in self.gpus if comp[g] != comp[first]][:5]
            if cut:
                raise ConfigError("topology", "the graph is disconnected: GPU "
                                  f"{self.node_names[first]} cannot reach " + ", ".join(self.node_names[g] for g in cut))

    def components(self) -> np.ndarray:
        """Weakly connected component of every node: an int array, equal within a component
        (label propagation with pointer jumping over the link arrays)."""
        n = len(self.node_names)
        label = np.arange(n, dtype=np.int64)
        if not self._cap:
            return label
        u = np.asarray(self.link_src, dtype=np.int64)
        v = np.asarray(self.link_dst, dtype=np.int64)
        while True:
            low = np.minimum(label[u], label[v])
            new = label.copy()
            np.minimum.at(new, label[u], low)       # hook each component's root under the lower
            np.minimum.at(new, label[v], low)
            new = new[new]
            while True:                             # shortcut to the roots
                nxt = new[new]
                if np.array_equal(nxt, new):
                    break
                new = nxt
            if np.array_equal(new, label):
                return label
            label = new

    def describe_link(self, i: int) -> str:
        return f"{self.node_names[self.link_src[i]]} -> {self.node_names[self.link_dst[i]]} ({self.link_class[i]})"

    def summary(self) -> dict:
        kinds: dict[str, int] = {}
        for k in self.node_kind:
            kinds[k] = kinds.get(k, 0) + 1
        return {"name": self.name, "nodes": kinds, "links": self.num_links, **self.meta}


class ShortestPathRouter:
    """Minimum-hop routes with ECMP, for any graph. BFS distances to each destination are
    computed over the reversed graph, level by level, only as far as a route needs them (a
    GPU-to-its-switch route explores one level, not the whole fabric) and kept per destination;
    the walk then picks among next hops that are one hop closer by a stable hash, so equal keys
    give equal paths."""

    def __init__(self) -> None:
        # per destination: [distances found so far (node -> hops), current frontier, its level]
        self._bfs: dict[int, list] = {}

    def _reach(self, topo: Topology, dst: int, src: int | None) -> dict:
        """Distances to ``dst`` of every node no farther than ``src`` (all nodes when ``src`` is
        None). Levels up to the one holding ``src`` are complete, so a walk from ``src`` sees
        every closer node."""
        st = self._bfs.get(dst)
        if st is None:
            if len(self._bfs) > 65536:
                self._bfs.clear()
            st = self._bfs[dst] = [{dst: 0}, [dst], 0]
        dist, frontier, level = st
        in_links, link_src = topo.in_links, topo.link_src
        while frontier and (src is None or src not in dist):
            level += 1
            nxt = []
            for x in frontier:
                for i in in_links[x]:
                    p = link_src[i]
                    if p not in dist:
                        dist[p] = level
                        nxt.append(p)
            frontier = nxt
        st[1], st[2] = frontier, level
        return dist

    def distances_to(self, topo: Topology, dst: int) -> np.ndarray:
        """Hop distance of every node to ``dst`` (-1: unreachable)."""
        dist = self._reach(topo, dst, None)
        d = np.full(len(topo.node_names), -1, dtype=np.int64)
        d[list(dist)] = list(dist.values())
        return d

    def route(self, topo: Topology, src: int, dst: int, key: int = 0) -> list[int]:
        if src == dst:
            return []
        d = self._reach(topo, dst, src)
        if src not in d:
            raise ConfigError("topology", f"no path from {topo.node_names[src]} to {topo.node_names[dst]}")
        path = []
        x = src
        hop = 0
        link_dst = topo.link_dst
        while x != dst:
            want = d[x] - 1
            choices = [i for i in topo.out_links[x] if d.get(link_dst[i], -1) == want]
            i = choices[mix(src, dst, key, hop) % len(choices)] if len(choices) > 1 else choices[0]
            path.append(i)
            x = link_dst[i]
            hop += 1
        return path
