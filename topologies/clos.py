"""Clos fabrics: fat-trees of 1 to 3 switch tiers, plain or rail-optimized, with up/down ECMP.

Vocabulary:
- leaf (tier 1), spine (tier 2), core (tier 3): ``switch`` nodes with attribute ``tier``.
  A leaf has ``D = floor(k/2)`` down ports (``k`` = ``leaf_radix``, default
  ``switch_radix``): the non-blocking split. Oversubscription ``o1`` (leaf -> spine) tapers
  the uplinks to ``ceil(D/o1)`` cabled ports' worth of bandwidth and never moves
  a GPU to another leaf, so which GPUs share a leaf does not depend on it (fat-trees are
  tapered by removing spine ports and switches, as the DGX SuperPOD keeps 32 servers per
  scalable unit whatever the spine count).
- pod: a 2-tier block (leaves + spines, full mesh between them). In a 3-tier fabric pods are
  joined by cores; a pod holds whole scale-up domains and whole servers, so no route is ever
  shortened by a detour through NVLink into another pod. Default pod: as many leaves as a
  spine has down ports at the non-blocking split (``floor(k/2)``), rounded down to whole
  domains; an explicit ``pod_gpus`` may use up to ``floor(k*o2/(o2+1))`` spine down ports.
- plain fat-tree: NICs fill leaf ports in order (server 0's NICs, then server 1's, ...).
- rail-optimized: NIC ``i`` of every server of a leaf group attaches to rail leaf ``i`` of the
  group; a group holds as many servers as a leaf has down ports (a DGX H100 SuperPOD
  scalable unit: 32 servers, 8 rail leaves). Same-rail traffic stays under the rail leaf;
  cross-rail traffic goes through a spine.
- spine ``j`` of every pod connects to core group ``j``; a core of group ``j`` connects to
  spine ``j`` of every pod.
- aggregation: parallel links between the same two switches are ONE link whose capacity is
  their sum (the graph stays small; max-min sharing over the sum equals sharing over the
  bundle when ECMP spreads flows evenly over it).
- capacities (sized for the fabric, never for how many GPUs it holds): a leaf's uplinks carry
  ``(a full leaf's NIC bandwidth) / o1`` split evenly over its spines, even when only part of
  its down ports are used (a partly filled leaf or rail group keeps all its uplinks); a
  spine's core links carry ``(a full pod's leaf links) / o2`` split over its core group.
  Spines per pod and cores per group are those of the non-blocking design (``D`` spines,
  one core per leaf of a full pod; at most ``MAX_BUNDLES`` nodes, more are bundled), so
  oversubscription lowers capacities and changes no route. So the bisection of the
  leaf/spine cut of a full fabric is exactly full / o1 even when port counts round. Switch
  ports run at the NIC port rate; the radix sets how many switches there are and how many
  GPUs fit.
- route (ranks a -> b): same scale-up domain: over NVLink. Otherwise GPU -> NIC -> leaf ->
  [spine -> [core -> spine] ->] leaf -> NIC -> GPU, the spine chosen by
  ``v % spines`` and the core by ``(v // spines) % cores`` for ``v = dest_index(b) + key``,
  where ``dest_index`` numbers the destination GPU by leaf inside its pod (a full leaf's GPU
  count apart), then by port on its leaf, plus (rail-optimized) its rail index x ``spines // rails``,
  so that the GPUs of one server, at the same port of every rail leaf, take spines spread over
  all of them (a partly filled rail group then loads its spines evenly) (D-mod-K, as InfiniBand subnet managers route fat-trees; a per-flow hash would
  collide ring steps onto a few spines).
  ``topology.routing`` picks how a flow crosses the spine tier: ``static`` (default) is the
  D-mod-K choice above; ``ecmp`` hashes the flow (RoCE ECMP: ``mix(src, dst, key)`` picks the
  spine and the core, so flows collide as hashed flows do); ``adaptive`` (InfiniBand adaptive
  routing, packet spraying) spreads each flow's bytes evenly over every spine, and across pods
  over one core per spine group (``ClosRouter.spread``; ``Topology.route_weighted``), the fluid
  limit of per-packet load balancing.
  In a mesh (XGMI) domain a route to another leaf of the same pod first crosses one mesh link
  to a peer on the destination's leaf when there is one (5 hops instead of 6; NCCL's PXN does
  the same); with an NVSwitch the two are equally short and the route takes the spine.
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import ConfigError
from sim.topology import Topology, mix
from topologies.params import Params, base_meta, resolve
from topologies.routing import StructuredRouter
from topologies.scaleup import ScaleupLinks, add_domains
from topologies.servers import Servers, add_servers


MAX_BUNDLES = 64   # switch nodes per tier group: more ports are aggregated (graph stays small)


def bundled(ports: int, cap: int = MAX_BUNDLES) -> int:
    """How many switch nodes stand for ``ports`` parallel uplinks: one per port up to ``cap``,
    else the largest divisor of ``ports`` at most ``cap`` (each node then bundles several)."""
    for m in range(min(ports, cap), 0, -1):
        if ports % m == 0:
            return m
    return 1


def down_ports(radix: int, oversub: float) -> int:
    """Down ports of a switch of ``radix`` ports at down:up ratio ``oversub``."""
    return int(math.floor(radix * oversub / (oversub + 1.0) + 1e-9))


class ClosLayout:
    """How many switches of each tier, which leaf every NIC plugs into, and the capacity of
    every switch tier's uplinks, all sized for the fabric (radix, port rate, oversubscription),
    never for how many GPUs the cluster happens to hold."""

    def __init__(self, p: Params):
        self.p = p
        rail = p.fabric == "rail-optimized"
        self.rail = rail
        R, pp = p.nic_nodes, p.ports_per_nic
        kl, k = p.leaf_radix, p.switch_radix
        o1, o2 = p.oversub
        tiers = p.tiers
        # the non-blocking split fixes the layout; oversubscription tapers the uplinks
        self.D = down_ports(kl, 1.0) if tiers > 1 else kl
        if self.D < pp:
            raise ConfigError("topology.leaf_radix" if kl != k else "topology.switch_radix",
                              f"a leaf of {kl} ports has {self.D} down ports, fewer than the {pp} ports of one NIC")
        self.nics_per_leaf = self.D // pp                 # plain fat-tree
        self.group_servers = self.D // pp                 # rail-optimized: servers per leaf group
        self.leaf_gpus = self.nics_per_leaf * (p.gpus_per_node // max(R, 1))   # GPUs under a full leaf
        self.U = max(1, math.ceil(self.D / o1 - 1e-9)) if tiers > 1 else 0   # cabled up ports
        # a leaf's uplinks carry a full leaf's NIC bandwidth / o1, however many NICs are plugged in
        self.leaf_up_Bps = self.nics_per_leaf * p.nic_Bps / o1
        dsrv = p.domain_servers

        def leaves_for(servers: int) -> int:
            if rail:
                return math.ceil(servers / self.group_servers) * R
            return math.ceil(servers * R / self.nics_per_leaf)

        if tiers == 3:
            self.Ds = down_ports(k, 1.0)                  # a default pod: the non-blocking split
            ds_max = down_ports(k, o2)                    # an explicit pod may use the ports o2 frees
            if k - ds_max < 1:
                raise ConfigError("topology.oversubscription", f"a spine of {k} ports at oversubscription {o2} keeps no up port")

            def servers_under(spine_down: int) -> int:
                if rail:
                    return (spine_down // R) * self.group_servers
                return spine_down * self.nics_per_leaf // R

            if p.pod_gpus is not None:
                if p.pod_gpus % p.gpus_per_node or (p.pod_gpus // p.gpus_per_node) % dsrv:
                    raise ConfigError("topology.pod_gpus", f"{p.pod_gpus} is not a whole number of servers and scale-up domains "
                                                           f"({p.gpus_per_node} GPUs per server, {p.domain_gpus} per domain)")
                pod_servers = p.pod_gpus // p.gpus_per_node
                if pod_servers > servers_under(ds_max):
                    raise ConfigError("topology.pod_gpus", f"a pod of {p.pod_gpus} GPUs needs {leaves_for(pod_servers)} leaves; a spine of "
                                                           f"switch_radix {k} has {ds_max} down ports (at most {servers_under(ds_max) * p.gpus_per_node} GPUs per pod): raise switch_radix or lower pod_gpus")
            else:
                pod_servers = servers_under(self.Ds) // dsrv * dsrv
                if pod_servers < 1:
                    raise ConfigError("topology.switch_radix", f"switch_radix {k} cannot hold one scale-up domain of {p.domain_gpus} GPUs in a pod")
            self.design_pod_servers = pod_servers
            self.pod_servers = min(pod_servers, p.servers)
        else:
            self.Ds = k
            self.design_pod_servers = self.pod_servers = p.servers
        self.pods = math.ceil(p.servers / self.pod_servers)
        self.leaves_full_pod = leaves_for(self.pod_servers)
        if tiers == 1 and self.leaves_full_pod > 1:
            raise ConfigError("topology.tiers", f"{p.gpus} GPUs need {self.leaves_full_pod} leaves of {kl} ports; one switch tier holds "
                                                f"{self.nics_per_leaf * pp} NIC ports: set tiers = 2")
        if tiers == 2 and self.leaves_full_pod > k:
            cap = ((k // R) * self.group_servers if rail else k * self.nics_per_leaf // R) * p.gpus_per_node
            raise ConfigError("topology.tiers", f"{p.gpus} GPUs need {self.leaves_full_pod} leaves; 2 tiers of switch_radix {k} hold at most "
                                                f"{k} leaves ({cap} GPUs): set tiers = 3")
        if tiers == 3 and self.pods > k:
            raise ConfigError("topology.gpus", f"{p.gpus} GPUs need {self.pods} pods; 3 tiers of switch_radix {k} join at most {k} pods: "
                                               f"raise switch_radix or pod_gpus")
        need_spines = tiers >= 2 and (self.leaves_full_pod > 1 or self.pods > 1)
        # The spine count of the non-blocking design (one leaf port per spine) whatever o1:
        # tapering lowers every leaf-spine capacity alike, so routes, and which flows share a
        # link, do not change with the ratio.
        self.spines = bundled(self.D) if need_spines else 0
        self.leaf_spine_Bps = self.leaf_up_Bps / self.spines if self.spines else 0.0
        if tiers == 3 and self.pods > 1:
            design_leaves = leaves_for(self.design_pod_servers)
            self.Us = max(1, math.ceil(design_leaves / o2 - 1e-9))   # cabled spine up ports
            self.cores_per_group = bundled(design_leaves)          # likewise independent of o2
            # a spine's uplinks carry a full pod's leaf links / o2
            self.spine_up_Bps = design_leaves * self.leaf_spine_Bps / o2
        else:
            self.Us = 0
            self.cores_per_group = 0
            self.spine_up_Bps = 0.0

    def pod_of_server(self, srv: int) -> int:
        return srv // self.pod_servers

    def leaf_in_pod(self, srv: int, slot: int) -> int:
        """Leaf (numbered inside the pod) that NIC ``slot`` of server ``srv`` plugs into."""
        local = srv - self.pod_of_server(srv) * self.pod_servers
        if self.rail:
            return (local // self.group_servers) * self.p.nic_nodes + slot
        return (local * self.p.nic_nodes + slot) // self.nics_per_leaf

    def leaves_in_pod(self, pod: int) -> int:
        servers = min(self.pod_servers, self.p.servers - pod * self.pod_servers)
        if self.rail:
            return math.ceil(servers / self.group_servers) * self.p.nic_nodes
        return math.ceil(servers * self.p.nic_nodes / self.nics_per_leaf)


class ClosRouter(StructuredRouter):
    """Up/down routing with ECMP over spines and cores; see the module docstring."""

    def __init__(self, topo: Topology, servers: Servers, scaleup: ScaleupLinks, fab: dict):
        super().__init__(topo, servers)
        self.scaleup = scaleup
        self.mesh = scaleup.kind == "mesh"
        self.domain_of = servers.domain_of
        self.nic_of = servers.nic_node
        self.g2n = servers.gpu_nic
        self.n2g = servers.nic_gpu
        self.leaf_of = fab["leaf_of"]            # per rank, global leaf id
        self.n2l = fab["nic_leaf"]               # per rank, NIC -> leaf
        self.l2n = fab["leaf_nic"]               # per rank, leaf -> NIC
        self.pod_of_leaf = fab["pod_of_leaf"]
        self.leaf_spine = fab["leaf_spine"]      # per leaf: [link to spine j]
        self.spine_leaf = fab["spine_leaf"]      # per leaf: [link from spine j]
        self.spine_core = fab["spine_core"]      # per pod, per spine j: [link to core (j, c)]
        self.core_spine = fab["core_spine"]      # per pod, per spine j: [link from core (j, c)]
        self.spines = fab["spines"]
        self.ecmp = fab.get("routing") == "ecmp"
        self.cores = fab["cores_per_group"]
        # dest_index: leaf position inside the pod x GPUs per leaf + position under the leaf
        first_leaf_of_pod: dict[int, int] = {}
        for leaf, pod in enumerate(self.pod_of_leaf):
            first_leaf_of_pod.setdefault(pod, leaf)
        per_leaf = fab["leaf_gpus"]     # a full leaf's GPUs: the numbering ignores how full it is
        seen: dict[int, int] = {}
        self.dest_index = []
        for leaf in self.leaf_of:
            pos = seen.get(leaf, 0)
            seen[leaf] = pos + 1
            in_pod = leaf - first_leaf_of_pod[self.pod_of_leaf[leaf]]
            # rail-optimized: the rail index shifts the numbering, so that the GPUs of one server
            # (same position on every rail leaf) are reached through different spines
            rail = in_pod % fab["rails"] if fab["rails"] else 0
            self.dest_index.append(in_pod * per_leaf + pos + rail * max(1, self.spines // max(fab["rails"], 1)))
        self.dom_leaf: dict[tuple[int, int], list[int]] = {}
        if self.mesh:
            for r, (d, leaf) in enumerate(zip(self.domain_of, self.leaf_of)):
                self.dom_leaf.setdefault((d, leaf), []).append(r)

    def gpu_route(self, a, b, src, dst, key):
        if self.domain_of[a] == self.domain_of[b]:
            return self.scaleup.route(a, b)
        g2n, n2g = self.g2n, self.n2g
        if self.nic_of[a] == self.nic_of[b]:
            return [g2n[a], n2g[b]]
        la, lb = self.leaf_of[a], self.leaf_of[b]
        if la == lb:
            return [g2n[a], self.n2l[a], self.l2n[b], n2g[b]]
        pa, pb = self.pod_of_leaf[la], self.pod_of_leaf[lb]
        if self.mesh and pa == pb:
            peers = self.dom_leaf.get((self.domain_of[a], lb))
            if peers:
                a2 = peers[mix(src, dst, key, 2) % len(peers)]
                return self.scaleup.route(a, a2) + [g2n[a2], self.n2l[a2], self.l2n[b], n2g[b]]
            peers = self.dom_leaf.get((self.domain_of[b], la))
            if peers:
                b2 = peers[mix(src, dst, key, 2) % len(peers)]
                return [g2n[a], self.n2l[a], self.l2n[b2], n2g[b2]] + self.scaleup.route(b2, b)
        # destination-based (D-mod-K) uplink choice, as InfiniBand subnet managers route
        # fat-trees (OpenSM ftree): shifts and permutations such as ring steps spread over all
        # spines without the collisions a per-flow hash makes; ``key`` shifts the choice.
        # v numbers the destination by its leaf port inside its pod, so that the GPUs under
        # one leaf (consecutive ranks in a fat-tree, every 8th rank on a rail leaf) reach it
        # through different spines and the leaves of a pod through different cores.
        v = self.dest_index[b] + key
        if self.ecmp:      # RoCE ECMP: a hash of the flow (its 5-tuple) picks spine and core
            v = mix(src, dst, key, 1)
        j = v % self.spines
        if pa == pb:
            return [g2n[a], self.n2l[a], self.leaf_spine[la][j], self.spine_leaf[lb][j], self.l2n[b], n2g[b]]
        c = (v // self.spines) % self.cores
        return [g2n[a], self.n2l[a], self.leaf_spine[la][j], self.spine_core[pa][j][c],
                self.core_spine[pb][j][c], self.spine_leaf[lb][j], self.l2n[b], n2g[b]]


    def _route_arrays(self):
        """The routing tables as numpy arrays (made on first use), or None where a table is
        ragged (then ``gpu_routes`` leaves every pair to ``route``)."""
        arrs = self.__dict__.get("_arrs", False)
        if arrs is False:
            try:
                arrs = {name: np.asarray(getattr(self, attr), dtype=np.int64) for name, attr in (
                    ("rank_of", "rank_of"), ("domain_of", "domain_of"), ("nic_of", "nic_of"), ("g2n", "g2n"),
                    ("n2g", "n2g"), ("leaf_of", "leaf_of"), ("n2l", "n2l"), ("l2n", "l2n"),
                    ("pod_of_leaf", "pod_of_leaf"), ("dest_index", "dest_index"))}
                arrs["up"] = np.asarray(self.scaleup.up, dtype=np.int64)
                arrs["down"] = np.asarray(self.scaleup.down, dtype=np.int64)
                if self.spines:
                    arrs["leaf_spine"] = np.asarray(self.leaf_spine, dtype=np.int64)
                    arrs["spine_leaf"] = np.asarray(self.spine_leaf, dtype=np.int64)
                    if arrs["leaf_spine"].ndim != 2 or arrs["spine_leaf"].ndim != 2:
                        raise ValueError("ragged")
                if self.spines and self.cores:
                    arrs["spine_core"] = np.asarray(self.spine_core, dtype=np.int64)
                    arrs["core_spine"] = np.asarray(self.core_spine, dtype=np.int64)
                    if arrs["spine_core"].ndim != 3 or arrs["core_spine"].ndim != 3:
                        raise ValueError("ragged")
            except ValueError:
                arrs = None
            self._arrs = arrs
        return arrs

    def gpu_routes(self, src: np.ndarray, dst: np.ndarray, key: int = 0):
        """``route`` for many (src, dst) node pairs at once: ``(blocks, rest)``, where each
        block is ``(index, links)``, ``links[i]`` the route of pair ``index[i]`` (every row of
        a block as long as the others, in ``route``'s order), and ``rest`` the indices of the
        pairs left to ``route`` (inside a mesh domain, host or SSD endpoints, mesh detours,
        ECMP hashes). The same links in the same order as ``route``
        (tests/topologies/test_gpu_routes.py)."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        idx = np.arange(len(src))
        t = self._route_arrays()
        if t is None:
            return [], idx
        rank_of = t["rank_of"]
        n = len(rank_of)
        ok = (src != dst) & (src < n) & (dst < n)
        a = np.where(ok, rank_of[np.minimum(src, n - 1)], -1)
        b = np.where(ok, rank_of[np.minimum(dst, n - 1)], -1)
        ok &= (a >= 0) & (b >= 0)
        a = np.where(ok, a, 0)
        b = np.where(ok, b, 0)
        blocks = []
        same_dom = ok & (t["domain_of"][a] == t["domain_of"][b])
        if not self.mesh and same_dom.any() and len(t["up"]) == len(t["domain_of"]) == len(t["down"]):
            # one NVSwitch domain: GPU -> switch -> GPU (ScaleupLinks.route)
            up, down = t["up"], t["down"]
            blocks.append((idx[same_dom], np.stack([up[a[same_dom]], down[b[same_dom]]], axis=1)))
            ok &= ~same_dom
            rest = [idx[~ok & ~same_dom]]
        else:
            ok &= ~same_dom
            rest = [idx[~ok]]
        g2n, n2g, n2l, l2n = t["g2n"], t["n2g"], t["n2l"], t["l2n"]
        same_nic = ok & (t["nic_of"][a] == t["nic_of"][b])
        if same_nic.any():
            aa, bb = a[same_nic], b[same_nic]
            blocks.append((idx[same_nic], np.stack([g2n[aa], n2g[bb]], axis=1)))
        ok &= ~same_nic
        la, lb = t["leaf_of"][a], t["leaf_of"][b]
        same_leaf = ok & (la == lb)
        if same_leaf.any():
            aa, bb = a[same_leaf], b[same_leaf]
            blocks.append((idx[same_leaf], np.stack([g2n[aa], n2l[aa], l2n[bb], n2g[bb]], axis=1)))
        ok &= ~same_leaf
        pa, pb = t["pod_of_leaf"][la], t["pod_of_leaf"][lb]
        if self.mesh or self.ecmp or not self.spines:
            # mesh detours and per-flow hashes stay per pair
            left = ok if (self.ecmp or not self.spines) else ok & (pa == pb)
            rest.append(idx[left])
            ok &= ~left
        v = t["dest_index"][b] + key
        j = v % self.spines if self.spines else v
        same_pod = ok & (pa == pb)
        if same_pod.any():
            m = same_pod
            aa, bb, jj = a[m], b[m], j[m]
            blocks.append((idx[m], np.stack([g2n[aa], n2l[aa], t["leaf_spine"][la[m], jj],
                                             t["spine_leaf"][lb[m], jj], l2n[bb], n2g[bb]], axis=1)))
        ok &= ~same_pod
        if ok.any():
            if not self.cores or "spine_core" not in t:
                rest.append(idx[ok])
            else:
                m = ok
                aa, bb, jj = a[m], b[m], j[m]
                c = (v[m] // self.spines) % self.cores
                blocks.append((idx[m], np.stack([g2n[aa], n2l[aa], t["leaf_spine"][la[m], jj],
                                                 t["spine_core"][pa[m], jj, c], t["core_spine"][pb[m], jj, c],
                                                 t["spine_leaf"][lb[m], jj], l2n[bb], n2g[bb]], axis=1)))
        return blocks, np.concatenate(rest)

    def spread(self, topo, src, dst, key):
        """Adaptive routing (``routing = "adaptive"``): a GPU -> GPU flow that crosses the
        spine tier spreads its bytes evenly over every spine (share 1/S on each leaf-spine
        link), and across pods over one core per spine group (``(v + j) % cores`` for spine
        j), so each flow's bytes also spread over S cores. None for every other route (it has
        one path): NVLink, same NIC, same leaf, mesh detours and host/SSD endpoints."""
        a = self.rank_of[src] if src < len(self.rank_of) else -1
        b = self.rank_of[dst] if dst < len(self.rank_of) else -1
        if a < 0 or b < 0 or not self.spines or self.domain_of[a] == self.domain_of[b]:
            return None
        la, lb = self.leaf_of[a], self.leaf_of[b]
        if la == lb or self.nic_of[a] == self.nic_of[b]:
            return None
        pa, pb = self.pod_of_leaf[la], self.pod_of_leaf[lb]
        if self.mesh and pa == pb and (self.dom_leaf.get((self.domain_of[a], lb)) or self.dom_leaf.get((self.domain_of[b], la))):
            return None
        S = self.spines
        g2n, n2g = self.g2n, self.n2g
        ends = [g2n[a], self.n2l[a], self.l2n[b], n2g[b]]
        share = 1.0 / S
        if pa == pb:
            mid = list(self.leaf_spine[la]) + list(self.spine_leaf[lb])
        else:
            v = self.dest_index[b] + key
            cs = [(v + j) % self.cores for j in range(S)]
            mid = (list(self.leaf_spine[la]) + [self.spine_core[pa][j][cs[j]] for j in range(S)]
                   + [self.core_spine[pb][j][cs[j]] for j in range(S)] + list(self.spine_leaf[lb]))
        return ends + mid, [1.0] * 4 + [share] * len(mid)


def build_clos(spec) -> Topology:
    """A fat-tree (``fabric = "fat-tree"``) or rail-optimized Clos of 1 to 3 tiers."""
    p = resolve(spec)
    if p.nic_nodes == 0:
        # all GPUs sit in one scale-up domain: no scale-out network is needed to reach them
        from topologies.scaleup import build_single_domain
        return build_single_domain(spec)
    layout = ClosLayout(p)
    topo = Topology(p.name)
    servers = add_servers(topo, p)
    scaleup = add_domains(topo, p, servers)
    lat = p.scaleout_latency_s
    nic_Bps = p.nic_Bps

    # leaves, pod by pod
    leaf_nodes: list[int] = []
    pod_of_leaf: list[int] = []
    first_leaf: list[int] = []
    for pod in range(layout.pods):
        first_leaf.append(len(leaf_nodes))
        for i in range(layout.leaves_in_pod(pod)):
            leaf_nodes.append(topo.add_node(f"leaf{pod}.{i}", "switch", tier=1, pod=pod))
            pod_of_leaf.append(pod)
    nic_leaf_link: dict[int, tuple[int, int, int]] = {}     # NIC node -> (leaf, up link, down link)
    for srv in range(p.servers):
        pod = layout.pod_of_server(srv)
        for slot, nic in enumerate(servers.nics[srv]):
            leaf = first_leaf[pod] + layout.leaf_in_pod(srv, slot)
            up = topo.add_link(nic, leaf_nodes[leaf], nic_Bps, lat, "nic", "scaleout")
            nic_leaf_link[nic] = (leaf, up, topo.link_of[(leaf_nodes[leaf], nic)])
            topo.set_attr(nic, "leaf", leaf)
    leaf_of, nic_leaf, leaf_nic = [], [], []
    for r, nic in enumerate(servers.nic_node):
        leaf, up, down = nic_leaf_link[nic]
        leaf_of.append(leaf)
        nic_leaf.append(up)
        leaf_nic.append(down)
        topo.set_attr(servers.gpu_node[r], "leaf", leaf)
        topo.set_attr(servers.gpu_node[r], "pod", pod_of_leaf[leaf])

    # spines: spine j of a pod links to every leaf of the pod
    S = layout.spines
    leaf_spine = [[] for _ in leaf_nodes]
    spine_leaf = [[] for _ in leaf_nodes]
    spine_nodes: list[list[int]] = []
    for pod in range(layout.pods if S else 0):
        nodes = [topo.add_node(f"spine{pod}.{j}", "switch", tier=2, pod=pod) for j in range(S)]
        spine_nodes.append(nodes)
        for leaf in range(first_leaf[pod], first_leaf[pod] + layout.leaves_in_pod(pod)):
            cap = layout.leaf_spine_Bps
            for j, sp in enumerate(nodes):
                leaf_spine[leaf].append(topo.add_link(leaf_nodes[leaf], sp, cap, lat, "leaf-spine", "scaleout"))
                spine_leaf[leaf].append(topo.link_of[(sp, leaf_nodes[leaf])])

    # cores: core (j, c) links to spine j of every pod
    C = layout.cores_per_group
    spine_core = [[[] for _ in range(S)] for _ in range(layout.pods)]
    core_spine = [[[] for _ in range(S)] for _ in range(layout.pods)]
    if C:
        for j in range(S):
            cores = [topo.add_node(f"core{j}.{c}", "switch", tier=3, group=j) for c in range(C)]
            for pod in range(layout.pods):
                sp = spine_nodes[pod][j]
                cap = layout.spine_up_Bps / C
                for core in cores:
                    spine_core[pod][j].append(topo.add_link(sp, core, cap, lat, "spine-core", "scaleout"))
                    core_spine[pod][j].append(topo.link_of[(core, sp)])

    fab = {"leaf_of": leaf_of, "nic_leaf": nic_leaf, "leaf_nic": leaf_nic, "pod_of_leaf": pod_of_leaf,
           "leaf_spine": leaf_spine, "spine_leaf": spine_leaf, "spine_core": spine_core,
           "core_spine": core_spine, "spines": S, "cores_per_group": C, "leaf_gpus": layout.leaf_gpus,
           "rails": p.nic_nodes if layout.rail else 0, "routing": p.routing}
    topo.router = ClosRouter(topo, servers, scaleup, fab)
    topo.meta = {
        **base_meta(p), "tiers": p.tiers, "switch_radix": p.switch_radix, "leaf_radix": p.leaf_radix,
        "oversubscription": p.oversub[:max(p.tiers - 1, 0)], "leaf_down_ports": layout.D,
        "leaf_up_ports": layout.U if p.tiers > 1 else 0,
        "leaf_uplink_GBps": layout.leaf_up_Bps / 1e9 if S else 0.0,
        "leaves": len(leaf_nodes), "spines": S * len(spine_nodes), "cores": C * S,
        "pods": layout.pods, "pod_gpus": layout.pod_servers * p.gpus_per_node,
        "rail_group_servers": layout.group_servers if layout.rail else None,
        "links_note": "parallel links between two switches are aggregated into one link of summed capacity",
    }
    return topo
