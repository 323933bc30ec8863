"""Collectives decomposed into flows on the fabric, with a closed-form estimate beside each.

Vocabulary:
- op: ``all_reduce``, ``reduce_scatter``, ``all_gather``, ``all_to_all``, ``broadcast``,
  ``send_recv``. ``nbytes`` follows nccl-tests: the per-rank buffer (all_reduce S; all_gather and
  reduce_scatter the full, gathered size; all_to_all the bytes each rank sends in total;
  send_recv the bytes sent).
- algo: ``ring``, ``tree`` (NCCL's: a chain through each domain's GPUs, a double binary tree
  over the domains), ``hierarchical`` (inside each scale-up domain,
  then across domains, then inside again), ``direct`` (every pair at once), ``nvls`` (in-switch
  reduction, NVLink SHARP; across domains NVLS + rings, which NCCL's auto does not pick),
  ``nvls_tree`` (NCCL's NVLSTree: NVLS inside each domain, trees across), ``auto`` (NCCL's
  choice: ``tune`` costs every applicable algorithm and protocol with NCCL's tuning model,
  src/graph/tuning.cc, on this fabric's bandwidths, and the collective runs with it; the
  cheapest in NCCL's model, as NCCL chooses, not always the fastest simulated).
- protocol: NCCL's ``LL``, ``LL128``, ``Simple``: the bandwidth share and per-step latency of
  each (``protocol_scales``). A named algorithm runs as calibrated (protocol None: Simple's
  bandwidth at LL128's per-step latency) unless a protocol is given. ``resolve`` turns an
  (algo, protocol) request into what runs, one rule for ``auto`` and named algorithms
  (protocol ``"auto"``: NCCL's tuner's protocol for the algorithm; for ``hierarchical``, dcsim's
  own algorithm, the protocol its own steps price cheapest in that model), and ``measure_protocol``
  times it: an (algorithm, protocol) costs the same however it was chosen.
- mesh (xGMI): RCCL's channels take different orders through a full mesh, so ring and tree
  traffic inside a mesh domain spreads over every link between the group's GPUs.
- group: the GPU node indices taking part; ``groups``: many groups running the same collective at
  once (all TP groups of a job, say). All their flows share the fabric.
- phase: a set of flows that run concurrently (a pipelined ring moves all its steps' bytes over
  each ring edge at once), followed by the latency of its ``steps``: a step inside a scale-up
  domain pays the longest route there, a step across domains (``Phase.inter_steps``) the
  longest across, each times the protocol's ratio for that class of hop. A collective is a
  sequence of phases; one rate computation serves a whole phase.
- domains of unequal size (72 + 56 GPUs of two NVL72 racks): rings and trees run as on equal
  ones (a tree's chain is the largest domain's); NVLS across domains (``nvls``, ``nvls_tree``)
  and the hierarchical all-reduce take one shard per GPU of the smallest domain, as NCCL
  connects NVLS across nodes with the fewest heads of any node (ncclTopoPostset, minHeadNum),
  each domain of at least 2 GPUs (a lone GPU has no NVLS, and NCCL then runs none). The
  hierarchical reduce-scatter and all-gather leave every GPU its own shard: equal domains only.
  A small domain's NICs bound every algorithm: its k GPUs' k NICs must carry in (all_gather)
  or out (reduce_scatter) the (N - k) / N of the data of the GPUs outside it, so a partly filled
  second rack is physical, not a model error: GB200 all_gather / reduce_scatter at 1 GiB give
  619 GB/s busbw on one NVL72 rack, 181 on 72 + 4 (4 NICs x 400 Gb/s), 345 on 72 + 8, 601 on
  72 + 16, where NVLink sets the rate again; NCCL would ring there too (its PAT algorithm is for
  one GPU per node only). A ring crosses into each domain once per channel, so every crossing
  carries the ring's whole volume and the smallest domain's NICs set the rate.
- channel: NCCL runs one ring per NIC rail across scale-up domains; channel c enters every
  domain at its c-th GPU and leaves through the same rail (PXN), so inter-domain traffic spreads
  over all NICs and stays on its rail. Intra-domain ring edges then carry the full ring volume.
- efficiencies: ``DEFAULT_EFFICIENCY`` holds the fraction of line rate that NCCL reaches, one
  value per link domain, fitted to ../shared/reference/collectives.csv (see the comment there);
  ``SCALEUP_EFFICIENCY`` per vendor and scale-up link class; NVLS its own per NVLink
  generation and domain size (``nvls_efficiency``) with a size ramp (``NVLS_FILL_BYTES``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from sim.collective_names import ALGOS, OPS, PROTOCOLS
from sim.fabric import Fabric
from sim.topology import Topology


# Fraction of line rate reached by NCCL's simple/LL128 protocols, one value per link domain.
# scaleup 0.81: ring all-reduce busbw at large sizes on NVSwitch nodes: H100 365-370 of 450 GB/s
#   (nccl#1455, nccl-tests#212 "~20% protocol overhead ... 370GB/s"), A100 232.5 and 235 of
#   300 GB/s (nccl-tests#175, ml-engineering). Least-squares over those four rows: 0.806.
# scaleout 0.95: DGX A100 8x200 Gb/s ring all-reduce busbw 192 of 200 GB/s (nccl#812,
#   maintainer), CX-7 NDR 46-49 of 50 GB/s per NIC (nccl-tests#290/#267, maintainer): 0.96, 0.95.
# NVLS multimem traffic reaches less of line rate than ring copies: busbw 365-480 GB/s on 4-8
#   H100 (nccl#1455) fits algbw = eff x 450 x n/(n+1) with eff = 0.686 (all five rows within 1%);
#   relative to the scaleup value that is NVLS_RELATIVE = 0.686 / 0.806.
DEFAULT_EFFICIENCY = {"scaleup": 0.806, "scaleout": 0.95}
# Per vendor and link class (scale-up): the fraction of line rate the vendor's library reaches.
# NVLink (NVIDIA, NCCL): the 0.806 above. xGMI (AMD, RCCL): 48 of 64 GB/s per link per
#   direction "after protocol and error correction overheads" (RCCL maintainer, ROCm/rccl#1210;
#   RCCL's own topology model, ncclTopoXGMISpeed, uses 48 GB/s for gfx94x): 0.75.
# TPU ICI has no public collective measurement here: it keeps the NVLink value.
SCALEUP_EFFICIENCY = {("NVIDIA", "switch"): 0.806, ("AMD", "mesh"): 0.75}

# NVLS (NVLink SHARP, in-switch reduction). busbw = eff(n) x B x 2(n-1)/(n+1) at large sizes,
# with eff(n) = NVLS_GEN_EFF[gen] / (1 + n / NVLS_DOMAIN_N0): multimem traffic reaches less of
# line rate than ring copies, and less still as a reduction spans more switch ports.
# - NVLink4 / NVSwitch gen3 (H100, H200, H800; 450 GB/s per GPU): busbw 365-480 GB/s on 4-8
#   H100 (nccl#1455, nccl-tests#212, #290): eff 0.686 at n = 4-8 (all five rows within 1.5%).
# - NVLink5 / NVLink Switch (B200, GB200; 900 GB/s): 811 GB/s on 8 GB200 over MNNVL (2 trays
#   of 4, lixueduan.com/posts/ai/13-gb200-mnnvl-nccl-test) fixes the 8-GPU value; the 72-GPU
#   rack plateau (839 / 835 GB/s at 4 / 8 GiB, coreweave/nccl-tests#43) fixes N0 = 294.
# Held out of these fits: the 4-7 GPU H100 rows and the NVL72 rack's 1-2 GiB points.
NVLS_GEN_EFF = {"NVLink4": 0.700, "NVLink5": 0.595}
NVLS_DOMAIN_N0 = 294.0
# The NVLS size ramp: a start-up of NVLS_FILL_BYTES per rank of the domain (at most the message)
# at the NVLS rate (pipeline fill and multicast set-up), fitted to the NVL72 rack's 512 MiB point (586 GB/s:
# 0.54 ms over 72 ranks at ~430 GB/s, less the 23 us of NVLS_LATENCY_S, which is 3.24e6 B per rank
# before that latency was charged); on 8 H100 it costs 81 us (2% at 256 MiB, where the
# NCCL maintainer calls the size "too small" for the peak, nccl-tests#212).
NVLS_FILL_BYTES = 3.11e6
# The fixed latency of one NVLS all-reduce inside a domain (its multicast barriers and the
# multimem ld_reduce / st round trips through the switch), on top of the launch (LAUNCH_S): NCCL's
# own figure for it, hwLat[NVLink][NVLS][Simple] = 23 us (NVIDIA/nccl src/graph/tuning.cc,
# 2.19-2.21; the 2.29 tuning table prints 25.0 us for AllReduce NVLS on 6 H100,
# waynehacking8/nccl-collectives-bench results/scaling_attributed/g6_Ring.log). Measured,
# NVLS is no faster than a ring at small sizes on 8 H100 (128 B-64 KB with CUDA graphs,
# NVIDIA/nccl#1259) and NCCL's own choice on 8 H100 keeps Ring/LL up to 1 MB and takes NVLS
# from 2 MB (NVIDIA/nccl-tests#309); with this latency the simulated ring/LL and NVLS cross at
# ~1 MB there (a route step of ~2 us instead put NVLS 8 us under ring/LL at 8 KB).
NVLS_LATENCY_S = 23e-6
NVLS_RELATIVE = 0.686 / 0.806    # NVLink4 at 8 GPUs relative to ring (kept for callers)
# Per-collective base latency (kernel launch, protocol start): NCCL's cost model gives ring
# baseLat 10 us for LL128 and 8.4 us for Simple (NVIDIA/nccl src/graph/tuning.cc).
LAUNCH_S = 10e-6


def default_efficiencies(gpu_spec=None) -> dict[str, float]:
    """Calibrated collective efficiencies per link domain for ``gpu_spec``'s vendor and
    scale-up link class (``SCALEUP_EFFICIENCY``; NVLink's when unknown or no GPU given)."""
    eff = dict(DEFAULT_EFFICIENCY)
    if gpu_spec is not None:
        eff["scaleup"] = SCALEUP_EFFICIENCY.get((gpu_spec.vendor, gpu_spec.scaleup_kind), eff["scaleup"])
    return eff


def nvls_generation(topo: Topology) -> str:
    """NVLink generation of the NVLS switch: NVLink5 above 450 GB/s per GPU, else NVLink4."""
    return "NVLink5" if float(topo.meta.get("scaleup_GBps", 450.0)) > 450.0 + 1e-9 else "NVLink4"


def nvls_efficiency(topo: Topology, n: int) -> float:
    """Fraction of NVLink line rate NVLS multimem traffic reaches on a domain of ``n`` GPUs."""
    return NVLS_GEN_EFF[nvls_generation(topo)] / (1.0 + n / NVLS_DOMAIN_N0)


@dataclass
class Phase:
    flows: dict[tuple[int, int], float]   # (src, dst) -> bytes
    steps: int                             # latency steps (hops in sequence) of this phase
    extra_s: float = 0.0                   # fixed start-up of the phase (NVLS pipeline fill)
    fill_s: float = 0.0                    # the part of extra_s that is a size ramp (NVLS fill), not a latency
    # of ``steps``, those whose hop crosses scale-up domains (the network's latency); the others
    # stay inside a domain (NVLink's). 0: every step at the phase's longest route (one class of hop)
    inter_steps: int = 0


# -- structure of a group ---------------------------------------------------------------------

def domains_of(topo: Topology, group: list[int]) -> list[list[int]]:
    """The group's GPUs split by scale-up domain, in order of first appearance."""
    by: dict[int, list[int]] = {}
    for g in group:
        by.setdefault(int(topo.attr(g, "domain", 0)), []).append(g)
    return list(by.values())


def switch_of(topo: Topology, gpu: int) -> int | None:
    for i in topo.out_links[gpu]:
        d = topo.link_dst[i]
        if topo.node_kind[d] == "nvswitch":
            return d
    return None


def _add(flows: dict, src: int, dst: int, nbytes: float) -> None:
    if src != dst and nbytes > 0:
        flows[(src, dst)] = flows.get((src, dst), 0.0) + nbytes


def ring_edges(topo: Topology, group: list[int]) -> dict[tuple[int, int], float]:
    """Edges of the ring(s) with the share of the ring volume each carries."""
    n = len(group)
    edges: dict[tuple[int, int], float] = {}
    doms = domains_of(topo, group)
    if len(doms) == 1:
        for i in range(n):
            _add(edges, group[i], group[(i + 1) % n], 1.0)
        return edges
    channels = min(len(d) for d in doms)
    w = 1.0 / channels
    for c in range(channels):
        for k, dom in enumerate(doms):
            m = len(dom)
            rot = [dom[(c + i) % m] for i in range(m)]
            for i in range(m):          # the intra-domain cycle, closing back to the rail GPU (PXN)
                _add(edges, rot[i], rot[(i + 1) % m], w)
            nxt = doms[(k + 1) % len(doms)]
            _add(edges, rot[0], nxt[c % len(nxt)], w)
    return edges


def _binary_tree(order: list[int]) -> list[tuple[int, int]]:
    """(child, parent) edges of a complete binary tree laid out in heap order."""
    return [(order[i], order[(i - 1) // 2]) for i in range(1, len(order))]


def tree_edges(topo: Topology, group: list[int]) -> tuple[dict, int]:
    """Double binary tree all-reduce: each tree reduces half the data up and broadcasts it
    down, pipelined; across domains, one tree pair per rail channel with a chain inside each
    domain (inside one domain, a chain). Returns edge -> share of S, and the tree depth in
    hops (up and down)."""
    doms = domains_of(topo, group)
    edges: dict[tuple[int, int], float] = {}
    if len(doms) == 1:
        # inside one node NCCL's trees are a chain through the node's GPUs (its INIT log: rank r
        # has parent r-1 and child r+1 on every channel, "Trees [0] 2/-1/-1->1->0"), and its
        # tuning model charges 2 (ppn - 1) intra-node hops (src/graph/tuning.cc); two chains in
        # opposite orders, each with half the data, as across domains
        order = list(group)
        for chain in (order, order[::-1]):
            for i in range(len(chain) - 1):
                _add(edges, chain[i + 1], chain[i], 0.5)
                _add(edges, chain[i], chain[i + 1], 0.5)
        return edges, 2 * (len(group) - 1)
    channels = min(len(d) for d in doms)
    w = 1.0 / channels
    for c in range(channels):
        leaders = [d[c % len(d)] for d in doms]
        for dom in doms:
            m = len(dom)
            rot = [dom[(c + i) % m] for i in range(m)]
            for i in range(m - 1):      # chain to the leader and back
                _add(edges, rot[i + 1], rot[i], w)
                _add(edges, rot[i], rot[i + 1], w)
        for tree in (leaders, leaders[::-1]):
            for child, parent in _binary_tree(tree):
                _add(edges, child, parent, 0.5 * w)
                _add(edges, parent, child, 0.5 * w)
    return edges, tree_steps(doms)[0]


def tree_steps(doms: list[list[int]]) -> tuple[int, int]:
    """(steps, inter_steps) of a tree all-reduce over these domains: up and down the chain
    through the largest domain (its m - 1 hops each way: a chunk passes every GPU of every
    chain, and the longest chain is the last to finish) and the double binary tree over the
    domains (floor(log2 D) hops each way, across domains). NCCL's model charges the same
    2 ((ppn - 1) x intra + log2(nodes) x inter) (src/graph/tuning.cc)."""
    chain = max(len(d) for d in doms) - 1
    if len(doms) == 1:
        return 2 * chain, 0
    depth = max(1, math.ceil(math.log2(len(doms) + 1)) - 1)
    return 2 * (depth + chain), 2 * depth


def ring_inter_steps(op: str, n: int, domains: int) -> int:
    """Of a ring's steps over ``n`` GPUs in ``domains`` scale-up domains, those that cross
    domains: a chunk goes round the ring hop by hop and crosses into the next domain
    ``domains`` times a turn; NCCL's model counts 2 x nodes of an all-reduce's 2 (n - 1) steps
    and nodes - 1 of a reduce-scatter's or all-gather's n - 1 (src/graph/tuning.cc, nInterSteps;
    broadcast's n - 1 hops from the root cross nodes - 1 times). One GPU per domain: every step."""
    steps = 2 * (n - 1) if op == "all_reduce" else n - 1
    if domains <= 1:
        return 0
    if domains >= n:
        return steps
    return min(steps, 2 * domains if op == "all_reduce" else domains - 1)


def equal_domains(topo: Topology, group: list[int]) -> bool:
    doms = domains_of(topo, group)
    return len(doms) > 1 and len({len(d) for d in doms}) == 1


def nvls_capable(topo: Topology, group: list[int], gpu_nvls: bool) -> bool:
    return gpu_nvls and all(switch_of(topo, g) is not None for g in group)


# -- phases of each algorithm -----------------------------------------------------------------

def plan(topo: Topology, op: str, algo: str, group: list[int], nbytes: float) -> list[Phase]:
    """The phases (flows and latency steps) of one collective on one group."""
    n = len(group)
    S = float(nbytes)
    if n <= 1 and op != "send_recv":
        return []
    if op == "send_recv":
        if n != 2:
            raise ValueError("send_recv takes groups of two: [src, dst]")
        return [Phase({(group[0], group[1]): S}, 1)]
    if algo in ("ring", "tree") and is_mesh(topo):
        return spread_over_mesh(topo, _plan(topo, op, algo, group, nbytes))
    return _plan(topo, op, algo, group, nbytes)


def _plan(topo: Topology, op: str, algo: str, group: list[int], nbytes: float) -> list[Phase]:
    n = len(group)
    S = float(nbytes)
    if algo == "ring":
        edges = ring_edges(topo, group)
        D = len(domains_of(topo, group))
        if op == "all_reduce":
            steps = 2 * (n - 1)
            return [Phase({e: w * 2 * (n - 1) / n * S for e, w in edges.items()}, steps, 0.0, 0.0,
                          ring_inter_steps(op, n, D))]
        if op in ("reduce_scatter", "all_gather"):
            return [Phase({e: w * (n - 1) / n * S for e, w in edges.items()}, n - 1, 0.0, 0.0,
                          ring_inter_steps(op, n, D))]
        if op == "broadcast":
            root = group[0]
            return [Phase({e: w * S for e, w in edges.items() if e[1] != root}, n - 1, 0.0, 0.0,
                          ring_inter_steps(op, n, D))]
        raise ValueError(f"{op} has no ring algorithm")
    if algo == "tree":
        if op != "all_reduce":
            raise ValueError(f"{op} has no tree algorithm (NCCL's tree is all_reduce only)")
        edges, depth = tree_edges(topo, group)
        return [Phase({e: w * S for e, w in edges.items()}, depth, 0.0, 0.0,
                      tree_steps(domains_of(topo, group))[1])]
    if algo == "direct":
        if op == "all_to_all":
            flows = {(a, b): S / n for a in group for b in group if a != b}
            return [Phase(flows, 1)]
        if op in ("all_gather", "reduce_scatter"):
            return [Phase({(a, b): S / n for a in group for b in group if a != b}, 1)]
        if op == "all_reduce":
            ph = {(a, b): S / n for a in group for b in group if a != b}
            return [Phase(dict(ph), 1), Phase(dict(ph), 1)]
        if op == "broadcast":
            return [Phase({(group[0], b): S for b in group[1:]}, 1)]
    if algo in ("nvls", "nvls_tree"):
        if op != "all_reduce":
            raise ValueError(f"{op} has no {algo} algorithm (all_reduce only)")
        doms = domains_of(topo, group)
        if len(doms) == 1:
            return [_nvls_phase(topo, group, S, S)]
        # one shard per head: the smallest domain's GPU count, as NCCL takes the fewest NVLS
        # heads of any node (ncclTopoPostset: minHeadNum), so domains of unequal size work too;
        # the j-th GPUs of every domain carry shard j across (a larger domain's others reduce
        # into the switch and take the result from it, but hold no shard)
        m = min(len(d) for d in doms)
        inner = [list(col) for col in zip(*doms)]      # the j-th GPUs of every domain, j < m
        if algo == "nvls":      # the NVLS latency split between its reduce and gather halves
            return [_nvls_phase_many(topo, doms, S, S / m, NVLS_LATENCY_S / 2),
                    _ring_phase_many(topo, inner, "all_reduce", S / m),
                    _nvls_phase_many(topo, doms, S / m, S, NVLS_LATENCY_S / 2)]
        # NCCL's NVLSTree: NVLS reduce-scatter inside each domain, a tree all-reduce of each
        # shard across domains, NVLS all-gather, all three pipelined chunk by chunk: one phase
        # whose flows run at once (as a ring's steps do here), so the slower of NVLink and the
        # network sets the rate, as in NCCL's model (bw = min(bwIntra, bwInter)); the NVLS
        # latency once, as NCCL's model charges its intra-node latency once
        parts = [_nvls_phase_many(topo, doms, S, S / m, 0.0), _tree_phase_many(topo, inner, S / m),
                 _nvls_phase_many(topo, doms, S / m, S, 0.0)]
        flows: dict = {}
        for ph in parts:
            for e, b in ph.flows.items():
                _add(flows, e[0], e[1], b)
        return [Phase(flows, sum(ph.steps for ph in parts),
                      max(ph.extra_s for ph in parts) + NVLS_LATENCY_S, max(ph.fill_s for ph in parts),
                      sum(ph.inter_steps for ph in parts))]
    if algo == "hierarchical":
        doms = domains_of(topo, group)
        if len(doms) == 1 or (op != "all_reduce" and not equal_domains(topo, group)):
            return plan(topo, op, "ring", group, nbytes)
        m = min(len(d) for d in doms)
        inner = [list(col) for col in zip(*doms)]  # the j-th GPU of every domain, j < m
        if op == "all_reduce":
            if not equal_domains(topo, group):
                # domains of unequal size: m shards, one per head (the first m GPUs of each
                # domain, m the smallest domain's size), reduced onto the heads round each
                # domain's ring, all-reduced across by the heads, gathered back round the ring
                return [_ring_heads_phase_many(topo, doms, m, S, gather=False),
                        _ring_phase_many(topo, inner, "all_reduce", S / m),
                        _ring_heads_phase_many(topo, doms, m, S, gather=True)]
            return [_ring_phase_many(topo, doms, "reduce_scatter", S),
                    _ring_phase_many(topo, inner, "all_reduce", S / m),
                    _ring_phase_many(topo, doms, "all_gather", S)]
        if op == "reduce_scatter":
            return [_ring_phase_many(topo, doms, "reduce_scatter", S),
                    _ring_phase_many(topo, inner, "reduce_scatter", S / m)]
        if op == "all_gather":
            return [_ring_phase_many(topo, inner, "all_gather", S / m),
                    _ring_phase_many(topo, doms, "all_gather", S)]
        if op == "broadcast":
            leaders = [d[0] for d in doms]
            return [_ring_phase_many(topo, [leaders], "broadcast", S),
                    _ring_phase_many(topo, doms, "broadcast", S)]
    raise ValueError(f"{op} has no {algo} algorithm")


def _ring_heads_phase_many(topo, doms, heads: int, S: float, gather: bool) -> Phase:
    """Reduce ``S`` round each domain's ring onto its first ``heads`` GPUs (one shard of
    S / heads each), or (``gather``) send each head's shard round the ring to every GPU: a
    domain of exactly ``heads`` GPUs runs a ring reduce-scatter (all-gather). Shard j passes
    every ring edge but the one leaving (entering) its head, so an edge carries S less the
    shards of the heads it leaves (enters): (m - 1) / m of S in a domain of m = heads, up to S
    in a larger one; m - 1 steps."""
    flows: dict = {}
    steps = 0
    for dom in doms:
        m = len(dom)
        if m == heads:
            ph = _ring_phase_many(topo, [dom], "all_gather" if gather else "reduce_scatter", S)
            for e, b in ph.flows.items():
                _add(flows, e[0], e[1], b)
        else:
            for i in range(m):
                src, dst = dom[i], dom[(i + 1) % m]
                at_head = (i + 1) % m < heads if gather else i < heads
                _add(flows, src, dst, S * (1.0 - (1.0 / heads if at_head else 0.0)))
        steps = max(steps, m - 1)
    return Phase(flows, steps)


def _ring_phase_many(topo, groups, op, S) -> Phase:
    flows: dict = {}
    steps = inter = 0
    for g in groups:
        for ph in plan(topo, op, "ring", g, S):
            for e, b in ph.flows.items():
                _add(flows, e[0], e[1], b)
            steps, inter = max(steps, ph.steps), max(inter, ph.inter_steps)
    return Phase(flows, steps, inter_steps=inter)


def _nvls_phase(topo, group, up_bytes, down_bytes, latency_s: float = NVLS_LATENCY_S) -> Phase:
    """In-switch reduction: each GPU pushes its data into the switch, which reduces (or
    multicasts) it; each GPU pulls the reduced shard back. Bytes are scaled by the lower
    efficiency of multimem traffic (``nvls_efficiency`` relative to the ring's scale-up
    efficiency), and the phase starts with the NVLS pipeline fill (``NVLS_FILL_BYTES`` per rank)
    and pays ``latency_s`` (``NVLS_LATENCY_S``: barriers and the multimem round trips through
    the switch) besides its transfers' own route latency (one hop, into the switch)."""
    n = len(group)
    flows: dict = {}
    eff = nvls_efficiency(topo, n)
    scale = DEFAULT_EFFICIENCY["scaleup"] / eff
    up_link = None
    for g in group:
        sw = switch_of(topo, g)
        _add(flows, g, sw, (up_bytes + down_bytes / n) * scale)
        _add(flows, sw, g, (down_bytes + up_bytes / n) * scale)
        if up_link is None:
            up_link = topo.link_of.get((g, sw))
    rate = eff * float(topo.capacity[up_link]) if up_link is not None else 0.0
    # the pipeline fills with at most the message itself (a small message is one chunk)
    fill = min(n * NVLS_FILL_BYTES, max(up_bytes, down_bytes)) / rate if rate > 0 else 0.0
    return Phase(flows, 1, fill + latency_s, fill)


def _nvls_phase_many(topo, groups, up, down, latency_s: float = NVLS_LATENCY_S) -> Phase:
    flows: dict = {}
    extra = fill = 0.0
    for g in groups:
        ph = _nvls_phase(topo, g, up, down, latency_s)
        extra, fill = max(extra, ph.extra_s), max(fill, ph.fill_s)
        for e, b in ph.flows.items():
            _add(flows, e[0], e[1], b)
    return Phase(flows, 1, extra, fill)


def _tree_phase_many(topo, groups, S) -> Phase:
    flows: dict = {}
    steps = inter = 0
    for g in groups:
        for ph in plan(topo, "all_reduce", "tree", g, S):
            for e, b in ph.flows.items():
                _add(flows, e[0], e[1], b)
            steps, inter = max(steps, ph.steps), max(inter, ph.inter_steps)
    return Phase(flows, steps, inter_steps=inter)


def is_mesh(topo: Topology) -> bool:
    return topo.meta.get("scaleup_kind") == "mesh"


def spread_over_mesh(topo: Topology, phases: list[Phase]) -> list[Phase]:
    """RCCL on a full mesh (xGMI) runs many channels whose rings take different orders through
    the domain, so the traffic a ring or tree moves inside a domain spreads evenly over every
    link between the group's GPUs there (all seven links of an 8-GPU MI300X platform), instead
    of one neighbour link per GPU."""
    if not is_mesh(topo):
        return phases
    dom = topo.node_attrs
    out = []
    for ph in phases:
        flows: dict = {}
        inner: dict[int, float] = {}
        members: dict[int, set] = {}
        for (a, b), nbytes in ph.flows.items():
            da, db = dom[a].get("domain"), dom[b].get("domain")
            if da is not None and da == db and topo.node_kind[a] == "gpu" and topo.node_kind[b] == "gpu":
                inner[da] = inner.get(da, 0.0) + nbytes
                members.setdefault(da, set()).update((a, b))
            else:
                _add(flows, a, b, nbytes)
        for d, total in inner.items():
            m = sorted(members[d])
            share = total / (len(m) * (len(m) - 1))
            for a in m:
                for b in m:
                    _add(flows, a, b, share)
        out.append(Phase(flows, ph.steps, ph.extra_s, ph.fill_s, ph.inter_steps))
    return out


# -- running on the fabric --------------------------------------------------------------------

# -- NCCL's tuning model (NVIDIA/nccl src/graph/tuning.cc, ncclTopoTuneModel, 2.19-2.21) ------
# Latencies in us per (algorithm, protocol LL / LL128 / Simple): a base latency and a per-step
# hardware latency inside the node (NVLink) and across nodes (NET).
NCCL_BASE_LAT = {"tree": (6.8, 14.0, 0.0), "ring": (6.6, 14.0, 8.4), "nvls": (0.0, 0.0, 0.0),
                 "nvls_tree": (0.0, 0.0, 0.0)}
NCCL_HW_LAT = {"nvlink": {"tree": (0.6, 1.25, 28.0), "ring": (0.6, 1.9, 3.4), "nvls": (0, 0, 23.0), "nvls_tree": (0, 0, 23.0)},
               "net": {"tree": (5.0, 8.5, 28.0), "ring": (2.7, 4.0, 14.0), "nvls": (0, 0, 18.0), "nvls_tree": (0, 0, 14.0)}}


OWN_ALGOS = ("hierarchical",)      # dcsim's own algorithms, not NCCL's: their protocol by their own steps (``tune``)

# NCCL's tuner relegates the ring for an FP8 collective on more than 8 ranks (enqueue.cc
# updateCollCostTable, in the releases with FP8 types: "Relegate fp8 reduction trees of sufficient depth that they
# incur precision loss to be least preferred": datatype ncclFloat8e4m3 / ncclFloat8e5m2, algorithm
# ring, comm->nRanks > 8: its cost x 1024, "any factor large enough to act as a partition between
# lossy and non-lossy algos"). NCCL's all_gather and broadcast move FP8 as int8, so only its
# reductions see it (here all_reduce and reduce_scatter).
FP8_RING_PENALTY = 1024.0
FP8_RING_MAX_RANKS = 8


def _nccl_refined(algo: str, proto: str, nodes: int) -> float:
    """NCCL's bandwidth refinements per algorithm and protocol (relative to Simple)."""
    if algo in ("nvls", "nvls_tree"):
        return 1.0 if proto == "Simple" else 0.0            # NVLS runs the Simple protocol only
    if algo == "tree":
        f = 0.92
        if proto == "LL":
            f *= 1 / 3.8
        elif proto == "LL128":
            f *= 7 / 9 if nodes == 1 else 120 / 128
        return f
    return {"LL": 1 / 4, "LL128": 0.92, "Simple": 1.0}[proto]   # ring, and rings of our own


def _nccl_latency_us(algo: str, proto: str, op: str, n: int, nodes: int, largest: int | None = None,
                     own: bool = False) -> float:
    """NCCL's modelled latency (us) of ``algo`` with ``proto`` on ``n`` GPUs in ``nodes`` domains
    (``largest``: the GPUs of the largest domain, n / nodes when not given). An algorithm NCCL lacks
    is priced as NCCL's ring over all n GPUs; with ``own``, ``hierarchical`` (``OWN_ALGOS``) by its
    own steps at NCCL's ring per-step latencies (each of its phases is a ring): all_reduce (largest
    - 1) steps inside a domain, 2 (nodes - 1) across, (largest - 1) inside again; reduce_scatter,
    all_gather and broadcast one of each half. ``tune`` takes its protocol so (priced as a ring of
    2 (n - 1) steps, a named hierarchical took LL at 4 MiB on 64 H100, where LL128 ran 1.6x faster)."""
    p = PROTOCOLS.index(proto)
    key = algo if algo in NCCL_BASE_LAT else "ring"
    intra = NCCL_HW_LAT["nvlink"][key][p] * (1.8 if nodes > 1 and proto == "LL" else 1.0)
    inter = NCCL_HW_LAT["net"][key][p]
    lat = NCCL_BASE_LAT[key][p]
    ppn = max(1, n // max(nodes, 1))
    log_nodes = math.floor(math.log2(nodes)) if nodes > 1 else 0
    if own and algo in OWN_ALGOS and nodes > 1:
        halves = 2 if op == "all_reduce" else 1
        m = largest if largest is not None else ppn
        return lat + halves * ((m - 1) * intra + (nodes - 1) * inter)
    if key == "ring":
        steps = 2 * (n - 1) if op == "all_reduce" else n - 1
        inter_steps = (2 * nodes if nodes > 1 else 0) if op == "all_reduce" else nodes - 1
        return lat + (steps - inter_steps) * intra + inter_steps * inter
    if key == "tree":
        return lat + 2 * ((ppn - 1) * intra + log_nodes * inter)
    if key == "nvls":
        return intra + (inter if nodes > 1 else 0.0)
    return lat + intra + 2 * log_nodes * inter              # nvls_tree


def tune(topo: Topology, op: str, group: list[int], nbytes: float, fabric: Fabric | None = None,
         gpu_nvls: bool = False, algos: tuple[str, ...] | None = None,
         protocols: tuple[str, ...] = PROTOCOLS, fp8: bool = False) -> tuple[str, str, float]:
    """NCCL's choice for ``op`` on ``group``: (algorithm, protocol, modelled seconds).

    As ncclTopoTuneModel, each applicable (algorithm, protocol) costs latency + size /
    bandwidth with NCCL's latency table and protocol refinements (LL moves 1/4 of the ring's
    bandwidth, LL128 0.92, tree 0.92 of its own; NVLS only Simple); the bandwidth of each
    algorithm is its idealised rate on this fabric (``estimate_on``) instead of NCCL's graph
    search. ``hierarchical`` (``OWN_ALGOS``, not NCCL's) competes priced as NCCL's ring (as before:
    where auto picks it is unchanged), and once chosen, by auto or by name (``algos``), runs the
    protocol that its own steps price cheapest (``_nccl_latency_us(own=True)``). The cheapest wins, so small messages take LL/LL128 rings or trees and large ones
    Simple rings or NVLS, per node count, as NCCL does. The cheapest in NCCL's model, not in
    the simulation: the simulated time of another candidate may be lower (NCCL's own choice
    is not always the fastest either). ``algos`` / ``protocols``: only these candidates (as
    NCCL_ALGO / NCCL_PROTO restrict NCCL's tuner); an algorithm that none of them admits
    comes back with Simple at an infinite modelled time. ``fp8``: the data are FP8 (f8e4m3,
    f8e5m2) of a reduction; on more than ``FP8_RING_MAX_RANKS`` GPUs every protocol of the ring
    costs ``FP8_RING_PENALTY`` times more, as in NCCL's tuner, so the ring wins only where nothing
    else runs the op, and a named ring keeps its protocol (every one is scaled alike).
    ``hierarchical``, which this model prices as NCCL's ring, is scaled with it: else a
    reduce_scatter on 16 GPUs, whose only NCCL candidate is the ring, would turn hierarchical."""
    cands = [a for a in applicable(topo, op, group, gpu_nvls) if algos is None or a in algos]
    caps = fabric.capacity if fabric is not None else topo.capacity
    doms = domains_of(topo, group)
    nodes = max(1, len(doms))
    largest = max((len(d) for d in doms), default=1)
    n = len(group)
    best = (cands[0] if cands else (algos or ("ring",))[0], "Simple", math.inf)
    drains: dict[str, float] = {}

    def penalty(a: str) -> float:       # NCCL's FP8 ring relegation, on what is priced as its ring
        ring_priced = a not in NCCL_BASE_LAT
        return FP8_RING_PENALTY if fp8 and n > FP8_RING_MAX_RANKS and (a == "ring" or ring_priced) else 1.0

    for a in cands:
        if a == "nvls" and nodes > 1:
            continue      # NCCL: NVLS across nodes needs in-network reduction (CollNet); NVLSTree instead
        drain = drains[a] = max(estimate_on(topo, caps, op, a, group, nbytes, latency=False), 1e-30)
        for proto in protocols:
            f = _nccl_refined(a, proto, nodes)
            if f <= 0:
                continue
            t = (_nccl_latency_us(a, proto, op, n, nodes) * 1e-6 + drain / f) * penalty(a)
            if t < best[2] - 1e-15:
                best = (a, proto, t)
    if best[0] in OWN_ALGOS and nodes > 1:
        # dcsim's own algorithm: its protocol by its own steps (``_nccl_latency_us`` with ``largest``);
        # whether it is chosen at all stays as NCCL's ring-priced candidate had it
        a = best[0]
        drain = drains.get(a) or max(estimate_on(topo, caps, op, a, group, nbytes, latency=False), 1e-30)
        own = [((_nccl_latency_us(a, p, op, n, nodes, largest, own=True) * 1e-6 + drain / _nccl_refined(a, p, nodes))
                * penalty(a), p) for p in protocols if _nccl_refined(a, p, nodes) > 0]
        t, proto = min(own)
        best = (a, proto, t)
    return best


def choose_protocol(topo: Topology, op: str, group: list[int], nbytes: float, fabric: Fabric | None = None,
                    gpu_nvls: bool = False, fp8: bool = False) -> tuple[str, str | None]:
    """``auto``: NCCL's (algorithm, protocol) for ``op`` (``tune``), an op with one algorithm
    too (an all-gather inside one node: the ring, with NCCL's protocol for it). send_recv and
    all_to_all run as calibrated (protocol None): NCCL moves them as point-to-point sends,
    which its tuner does not price (a protocol given to ``resolve`` still forces one, as NCCL_PROTO).
    ``fp8``: as ``tune``'s."""
    if op == "send_recv":
        return "ring", None
    cands = applicable(topo, op, group, gpu_nvls)
    if op == "all_to_all":
        return cands[0], None
    a, proto, _ = tune(topo, op, group, nbytes, fabric, gpu_nvls, fp8=fp8)
    return a, proto


def resolve(topo: Topology, op: str, algo: str, group: list[int], nbytes: float, fabric: Fabric | None = None,
            gpu_nvls: bool = False, protocol: str | None = None, fp8: bool = False) -> tuple[str, str | None]:
    """The (algorithm, protocol) a collective runs with for an ``algo`` and a ``protocol`` asked
    for, one rule for ``auto`` and a named algorithm alike (the protocol None: as calibrated,
    ``protocol_scales``):

    - ``protocol`` None: ``auto`` is NCCL's choice (``choose_protocol``); a named algorithm
      runs as calibrated (the library's default: serving's collectives, the validation suite's
      named-algorithm rows).
    - ``"auto"``: NCCL's tuner picks the protocol for the algorithm, as NCCL does under
      NCCL_ALGO: a named algorithm costs exactly what it costs when ``auto`` picks it (where
      ``auto`` runs as calibrated, all_to_all and send_recv, so does a named algorithm).
    - ``"calibrated"``: a named algorithm as calibrated (``auto`` has no calibrated choice).
    - ``LL`` / ``LL128`` / ``Simple``: that protocol (as NCCL_PROTO); ``auto`` then picks the
      algorithm NCCL's tuner finds cheapest with it. NVLS runs Simple only.

    ``fp8``: FP8 data, which NCCL's tuner prices as ``tune`` says."""
    if protocol not in (None, "auto", "calibrated") + PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of auto, calibrated, {', '.join(PROTOCOLS)}")
    if algo in ("nvls", "nvls_tree") and protocol in ("LL", "LL128"):
        raise ValueError(f"{algo} runs NCCL's Simple protocol only, not {protocol}")
    if protocol == "calibrated":
        if algo == "auto" and op in ("send_recv", "all_to_all"):
            return choose_protocol(topo, op, group, nbytes, fabric, gpu_nvls, fp8)   # calibrated, as auto runs them
        if algo == "auto":
            raise ValueError("the calibrated protocol is that of a named algorithm; auto chooses NCCL's protocol")
        return algo, None
    if protocol is None and algo != "auto":
        return algo, None
    if op == "send_recv":
        return ("ring" if algo == "auto" else algo), (protocol if protocol in PROTOCOLS else None)
    cands = applicable(topo, op, group, gpu_nvls)
    if protocol in PROTOCOLS:
        if algo != "auto":
            return algo, protocol
        if len(cands) == 1:
            return cands[0], protocol
        return tune(topo, op, group, nbytes, fabric, gpu_nvls, protocols=(protocol,), fp8=fp8)[0], protocol
    if algo == "auto":
        return choose_protocol(topo, op, group, nbytes, fabric, gpu_nvls, fp8)
    if op == "all_to_all" or algo not in cands:
        return algo, None
    return algo, tune(topo, op, group, nbytes, fabric, gpu_nvls, algos=(algo,), fp8=fp8)[1]


def protocol_name(algo: str, protocol: str | None) -> str:
    """What a table calls the protocol a collective ran with: None is ``calibrated`` (Simple's
    bandwidth at LL128's per-step latency, ``protocol_scales``), except for NVLS, which runs
    Simple whatever it is given."""
    if algo in ("nvls", "nvls_tree"):
        return "Simple"
    return protocol or "calibrated"


def choose(topo: Topology, op: str, group: list[int], nbytes: float, fabric: Fabric | None = None,
           gpu_nvls: bool = False) -> str:
    """``auto``: the algorithm NCCL's tuning model picks (``tune``)."""
    return choose_protocol(topo, op, group, nbytes, fabric, gpu_nvls)[0]


def applicable(topo: Topology, op: str, group: list[int], gpu_nvls: bool = False) -> list[str]:
    doms = domains_of(topo, group)
    multi = len(doms) > 1
    out = []
    if op in ("all_reduce", "reduce_scatter", "all_gather", "broadcast"):
        out.append("ring")
    if op == "all_reduce":
        out.append("tree")
        # NVLS across domains of any sizes (NCCL takes the fewest heads of any node), each of at
        # least 2 GPUs (a lone GPU has no NVLS: NCCL then disables it for the communicator)
        if nvls_capable(topo, group, gpu_nvls) and (not multi or min(len(d) for d in doms) >= 2):
            out.append("nvls")
            if multi:
                out.append("nvls_tree")
    # hierarchical all-reduce across domains of any sizes (one shard per GPU of the smallest);
    # its reduce-scatter and all-gather leave every GPU its own shard, so equal domains only
    if multi and (op == "all_reduce" or op in ("reduce_scatter", "all_gather") and equal_domains(topo, group)):
        out.append("hierarchical")
    if op == "all_to_all":
        out.append("direct")
    return out


def protocol_scales(algo: str, proto: str | None, nodes: int) -> tuple[float, float]:
    """(bandwidth, per-step latency inside a domain) of ``proto`` relative to the calibrated run
    of ``algo`` (None: as calibrated, Simple's bandwidth at LL128's per-step latency; a step
    across domains: ``protocol_latency_scales``). From NCCL's model:
    LL moves 1/4 of a ring's bytes (1/3.8 of a tree's) at a third of LL128's per-step latency;
    LL128 0.92 of the bandwidth (a tree 7/9 in one node, 120/128 across); Simple all of it at
    hwLat ratios 3.4/1.9 (ring) and 28/1.25 (tree, one chunk per step)."""
    if proto is None or algo in ("nvls", "nvls_tree"):
        return 1.0, 1.0
    p = PROTOCOLS.index(proto)
    key = "tree" if algo == "tree" else "ring"
    bw = _nccl_refined(key, proto, nodes) / _nccl_refined(key, "Simple", nodes)
    hw = NCCL_HW_LAT["nvlink"][key]
    return bw, hw[p] / hw[1]


def protocol_latency_scales(algo: str, proto: str | None) -> tuple[float, float]:
    """The per-step latency of ``proto`` relative to the calibrated run of ``algo``, for a step
    inside a scale-up domain (NVLink) and for one across domains (the network): NCCL's hwLat
    ratios to LL128 per link class (src/graph/tuning.cc): a Simple tree step costs 28 / 1.25 of
    an LL128 one on NVLink but 28 / 8.5 on the network, a Simple ring step 3.4 / 1.9 and
    14 / 4.0. (None, or NVLS: 1, 1.)"""
    if proto is None or algo in ("nvls", "nvls_tree"):
        return 1.0, 1.0
    p = PROTOCOLS.index(proto)
    key = "tree" if algo == "tree" else "ring"
    up, out = NCCL_HW_LAT["nvlink"][key], NCCL_HW_LAT["net"][key]
    return up[p] / up[1], out[p] / out[1]


def collective(fabric: Fabric, op: str, groups: list[list[int]], nbytes: float, algo: str = "auto",
               tag: str = "", gpu_nvls: bool | None = None, protocol: str | None = None,
               on_done=None) -> simpy.Event | None:
    """Run ``op`` on every group at once; the event fires when all of them are done.

    ``algo = "auto"`` takes NCCL's (algorithm, protocol) from ``tune`` and runs it with that
    protocol's bandwidth and latency (``protocol_scales``); a named algorithm runs as
    calibrated unless ``protocol`` (LL, LL128, Simple) is given. ``on_done``: a callback
    (called with None) run when all are done, instead of an event (returns None; one event
    fewer per call, for a caller that only chains work on it)."""
    phases = collective_phases(fabric, op, groups, nbytes, algo, gpu_nvls, protocol)
    if phases is None:
        if on_done is not None:
            on_done(None)
            return None
        ev = fabric.env.event()
        ev.succeed()
        return ev
    return _start(fabric, phases, tag or op, on_done)


def start_phases(fabric: Fabric, phases, tag: str, on_done=None) -> simpy.Event | None:
    """Start a collective planned by ``collective_phases`` (not None) on ``fabric``: what
    ``collective`` does after planning, for a caller that issues one planned collective many
    times (a training step's pipeline sends) and keeps its phases."""
    return _start(fabric, phases, tag, on_done)


def collective_phases(fabric: Fabric, op: str, groups: list[list[int]], nbytes: float, algo: str = "auto",
                      gpu_nvls: bool | None = None, protocol: str | None = None):
    """The phases ``collective`` runs for these arguments (planned once per fabric and cached),
    or None when there is nothing to move (no group of two or more, or no bytes)."""
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; one of {OPS}")
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; one of {ALGOS}")
    topo = fabric.topo
    if gpu_nvls is None:
        gpu_nvls = bool(topo.meta.get("nvls", False))
    groups = [tuple(g) for g in groups if len(g) > 1]
    if not groups or nbytes <= 0:
        return None
    # a training step repeats the same collective thousands of times: plan it once per fabric
    cache = fabric.__dict__.setdefault("_collective_plans", {})
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of {PROTOCOLS}")
    key = (op, algo, float(nbytes), gpu_nvls, tuple(groups), protocol)
    phases = cache.get(key)
    if phases is None:
        chosen, proto = algo, protocol
        if algo == "auto":
            chosen, proto = choose_protocol(topo, op, list(groups[0]), nbytes, fabric, gpu_nvls)
        if chosen == "nvls" and not nvls_capable(topo, list(groups[0]), gpu_nvls):
            raise ValueError("nvls needs GPUs on an NVSwitch with in-switch reduction (NVLS)")
        bw_scale, _ = protocol_scales(chosen, proto, len(domains_of(topo, list(groups[0]))))
        lat_in, lat_out = protocol_latency_scales(chosen, proto)
        per_group = [plan(topo, op, chosen, list(g), nbytes / bw_scale) for g in groups]
        phases = [_phase_bundles(topo, [p[k] for p in per_group if k < len(p)], lat_in, lat_out)
                  for k in range(max(len(p) for p in per_group))]
        if len(cache) > 4096:
            cache.clear()
        cache[key] = phases
    return phases


def _phase_bundles(topo: Topology, phases: list[Phase], lat_scale: float = 1.0,
                   inter_scale: float | None = None) -> tuple[list, float]:
    """A phase over all groups: its bundles and the extra latency of its steps after the first
    (each step's path latency x the protocol's scale: ``lat_scale`` for a hop inside a domain,
    ``inter_scale`` (default ``lat_scale``) for one across; ``protocol_latency_scales``)."""
    steps = max(ph.steps for ph in phases)
    inter = max(ph.inter_steps for ph in phases)
    extra = max(ph.extra_s for ph in phases)
    bundles = _bundles(phases)
    if steps <= 1:
        # one step: no step after the first, no route latency to add (an all-to-all's
        # 10^5-10^6 member routes need not be walked here)
        return bundles, 0.0 + extra
    pairs = [pair for pairs, _ in bundles for pair in pairs]
    if inter <= 0:
        # the longest route sets each step's latency (computed once: plans are cached)
        return bundles, (steps - 1) * _max_route_latency(topo, pairs) * lat_scale + extra
    # the transfer waits for its own (longest, cross-domain) route once: the other steps here
    li, lo = _step_latencies(topo, pairs)
    scale_out = lat_scale if inter_scale is None else inter_scale
    return bundles, (steps - inter) * li * lat_scale + (inter - 1) * lo * scale_out + extra


def _step_latencies(topo: Topology, pairs: list[tuple[int, int]]) -> tuple[float, float]:
    """The longest route latency of these pairs inside one scale-up domain and across domains
    (0.0 where there is none): a step of a ring or a tree pays the one or the other."""
    attrs = topo.node_attrs
    intra, inter = [], []
    for a, b in pairs:
        da, db = attrs[a].get("domain"), attrs[b].get("domain")
        (inter if da is not None and db is not None and da != db else intra).append((a, b))
    return _max_route_latency(topo, intra), _max_route_latency(topo, inter)


def _max_route_latency(topo: Topology, pairs: list[tuple[int, int]]) -> float:
    """The largest ``path_latency`` over these pairs' routes (0.0 for none): batched where the
    topology batches them (``route_blocks``, bit for bit the same), else route by route."""
    mats = topo.route_blocks(pairs, 0)
    if mats is not None:
        return topo.max_block_latency(mats)
    return max((topo.path_latency(*topo.route_weighted(src, dst, 0)) for src, dst in pairs), default=0.0)


def _run(fabric: Fabric, phases, tag):
    delay = LAUNCH_S
    for bundles, extra_latency in phases:
        # the launch and the phase's extra step latencies as one wait (fewer events; the order
        # of a fixed wait and a transfer does not change when the phase ends)
        delay += extra_latency
        if delay > 0:
            yield fabric.env.timeout(delay)
        delay = 0.0
        events = [fabric.transfer_bundle(pairs, nbytes, tag=tag) for pairs, nbytes in bundles]
        if len(events) == 1:
            yield events[0]
        elif events:
            yield fabric.env.all_of(events)


def _start(fabric: Fabric, phases, tag, on_done=None) -> simpy.Event | None:
    """The phases of a collective driven by callbacks: the same waits as ``_run`` (a launch
    and each phase's extra latency, then its bundles), and an event that fires when the last
    phase has landed (or ``on_done`` called then, and None returned), without a process's
    start and end events (a training step issues thousands of collectives)."""
    env = fabric.env
    done = env.event() if on_done is None else None
    finish = done.succeed if on_done is None else on_done
    n = len(phases)

    def phase(i, delay):
        bundles, extra = phases[i]
        delay += extra

        def go(_=None):
            events = [fabric.transfer_bundle(pairs, nbytes, tag=tag) for pairs, nbytes in bundles]
            after = (lambda _: phase(i + 1, 0.0)) if i + 1 < n else (lambda _: finish(None))
            if len(events) == 1:
                events[0].callbacks.append(after)
            elif events:
                env.all_of(events).callbacks.append(after)
            else:
                after(None)
        if delay > 0:
            env.timeout(delay).callbacks.append(go)
        else:
            go()
    if n:
        phase(0, LAUNCH_S)
    else:
        finish(None)
    return done


def _bundles(phases: list[Phase]) -> list[tuple[list[tuple[int, int]], float]]:
    """The flows of one phase (over all groups) bundled by size: flows of equal size are the
    same step of a symmetric pattern (ring edges, tree edges, replicas), so they move at one
    rate and the phase ends when the slowest would. One bundle per size class keeps a ring
    phase at one flow however many groups run it."""
    by_size: dict[float, list[tuple[int, int]]] = {}
    for ph in phases:
        for e, b in ph.flows.items():
            by_size.setdefault(b, []).append(e)
    return [(pairs, b) for b, pairs in by_size.items()]


# -- one collective at many sizes (serving iterations) ----------------------------------------

def _unit_plan(fabric, op: str, algo: str, groups: list[list[int]]):
    """The bundles of ``op`` on ``groups`` for a 1-byte buffer, cached per fabric: every
    algorithm's bytes scale linearly with the buffer and its latency steps do not depend on it."""
    cache = fabric.__dict__.setdefault("_unit_plans", {})
    key = (op, algo, tuple(tuple(g) for g in groups))
    phases = cache.get(key)
    if phases is None:
        topo = fabric.topo
        per_group = [plan(topo, op, algo, list(g), 1.0) for g in groups]
        phases = [_phase_bundles(topo, [p[k] for p in per_group if k < len(p)])
                  for k in range(max((len(p) for p in per_group), default=0))]
        if len(cache) > 4096:
            cache.clear()
        cache[key] = phases
    return phases


def collective_scaled(fabric: Fabric, op: str, groups: list[list[int]], nbytes: float, algo: str,
                      tag: str = "") -> simpy.Event:
    """``collective`` with a fixed algorithm, planned once per (op, algo, groups) and scaled to
    ``nbytes``: for a workload that issues one collective at many sizes (a serving replica's
    iterations), where planning per size would dominate."""
    groups = [list(g) for g in groups if len(g) > 1]
    if not groups or nbytes <= 0:
        ev = fabric.env.event()
        ev.succeed()
        return ev
    phases = [([(pairs, b * nbytes) for pairs, b in bundles], lat)
              for bundles, lat in _unit_plan(fabric, op, algo, groups)]
    return _start(fabric, phases, tag or op)


def credit(fabric: Fabric, op: str, groups: list[list[int]], nbytes: float, algo: str,
           tag: str = "") -> None:
    """The private-link fast path: put the exact link bytes of ``op`` on ``fabric`` at once,
    without flows (``Fabric.credit``), for groups whose links carry nothing else, so that
    when the bytes move changes no other flow. Busy time is bytes / effective capacity."""
    groups = [list(g) for g in groups if len(g) > 1]
    if not groups or nbytes <= 0:
        return
    cache = fabric.__dict__.setdefault("_unit_loads", {})
    key = (op, algo, tuple(tuple(g) for g in groups))
    loads = cache.get(key)
    if loads is None:
        topo = fabric.topo
        acc: dict[int, float] = {}
        sent = 0.0
        for bundles, _ in _unit_plan(fabric, op, algo, groups):
            for pairs, b in bundles:
                sent += b * len(pairs)
                for src, dst in pairs:
                    links, shares = topo.route_weighted(src, dst, 0)
                    for link, w in zip(links.tolist(), shares.tolist()):
                        acc[link] = acc.get(link, 0.0) + b * w
        links = np.fromiter(acc.keys(), dtype=np.int64, count=len(acc))
        unit = np.fromiter(acc.values(), dtype=np.float64, count=len(acc))
        loads = (links, unit, unit / fabric.capacity[links], sent)
        if len(cache) > 4096:
            cache.clear()
        cache[key] = loads
    links, unit, unit_busy, sent = loads
    fabric.credit(links, unit * nbytes, unit_busy * nbytes, tag, total_bytes=sent * nbytes)


# -- closed forms -----------------------------------------------------------------------------

def _steps_latency(topo: Topology, ph: Phase, max_lat: float) -> float:
    """``estimate_on``'s latency of a phase's steps: each at its longest route (``max_lat``),
    or, for a phase whose steps are of both classes (``Phase.inter_steps``), those inside a
    domain at the longest route there and those across at the longest across."""
    if ph.inter_steps <= 0 or ph.steps <= 1:
        return ph.steps * max_lat
    li, lo = _step_latencies(topo, list(ph.flows))
    return (ph.steps - ph.inter_steps) * li + ph.inter_steps * lo


def estimate_on(topo: Topology, capacity: np.ndarray, op: str, algo: str, group: list[int],
                nbytes: float, latency: bool = True) -> float:
    """Closed-form time of one collective on an idle fabric: for each phase, the most loaded
    link's bytes / capacity plus the phase's steps x its largest path latency (a step inside a
    domain at the largest there, one across at the largest across: ``Phase.inter_steps``; the
    alpha-beta model, exact when the phase's flows share no link unevenly). ``latency=False``: the time the
    bytes take alone, the drains plus NVLS's size ramp (``Phase.fill_s``, the pipeline fill, a
    cost of the message's size), without launch, route or NVLS latency (``tune`` adds NCCL's)."""
    total = LAUNCH_S if latency else 0.0
    for ph in plan(topo, op, algo, group, nbytes):
        batched = _phase_drain_batched(topo, capacity, ph.flows)
        if batched is not None:
            drain, max_lat = batched
            total += drain + (_steps_latency(topo, ph, max_lat) + ph.extra_s if latency else ph.fill_s)
            continue
        # the loads of the links the flows cross only (a 16,384-GPU fabric has ~10^5 links):
        # each link's bytes add up flow by flow, as an array over every link would
        load: dict[int, float] = {}
        max_lat = 0.0
        for (src, dst), b in ph.flows.items():
            links, shares = topo.route_weighted(src, dst, 0)
            for link, w in dict(zip(links.tolist(), shares.tolist())).items():
                load[link] = load.get(link, 0.0) + b * w
            max_lat = max(max_lat, topo.path_latency(links, shares))
        drain = 0.0
        if load:
            idx = np.fromiter(load, dtype=np.int64, count=len(load))
            val = np.fromiter(load.values(), dtype=np.float64, count=len(load))
            pos = val > 0
            if pos.any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    drain = max(0.0, float(np.max(val[pos] / capacity[idx[pos]])))
        total += drain + (_steps_latency(topo, ph, max_lat) + ph.extra_s if latency else ph.fill_s)
    return total


def _phase_drain_batched(topo: Topology, capacity: np.ndarray, flows: dict) -> tuple[float, float] | None:
    """``estimate_on``'s (drain, largest route latency) of one phase from routes batched by the
    topology (``Topology.route_blocks``), bit for bit the loop's: every flow's bytes (its share
    is 1 on a batched route) are added to each link it crosses in the loop's order (flows in
    order, ``np.add.at`` adding repeated links one after another from 0.0). None where routes
    are not batched or a route repeats a link (the loop counts a repeated link once)."""
    pairs = list(flows)
    if not topo.batches_routes(len(pairs)):
        return None
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    blocks, rest = topo.router.gpu_routes(arr[:, 0], arr[:, 1], 0)
    width = 0
    for index, links in blocks:
        width = max(width, links.shape[1])
    rest_routes = [(i, topo.route(int(arr[i, 0]), int(arr[i, 1]), 0)) for i in rest.tolist()]
    for _, r in rest_routes:
        width = max(width, len(r))
    mat = np.full((len(pairs), width), -1, dtype=np.int64)
    for index, links in blocks:
        mat[index, :links.shape[1]] = links
    for i, r in rest_routes:
        mat[i, :len(r)] = r
    srt = np.sort(mat, axis=1)
    if ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any():
        return None
    b = np.fromiter(flows.values(), dtype=np.float64, count=len(pairs))
    valid = mat >= 0
    flat = mat[valid]                                   # row-major: flow by flow, in route order
    vals = np.broadcast_to(b[:, None] * 1.0, mat.shape)[valid]
    load = np.zeros(len(capacity))
    np.add.at(load, flat, vals)
    touched = np.zeros(len(capacity), dtype=bool)
    touched[flat] = True
    idx = np.flatnonzero(touched & (load > 0))
    drain = 0.0
    if len(idx):
        with np.errstate(divide="ignore", invalid="ignore"):
            drain = max(0.0, float(np.max(load[idx] / capacity[idx])))
    mats = [links for _, links in blocks]
    by_len: dict[int, list] = {}
    for _, r in rest_routes:
        by_len.setdefault(len(r), []).append(r)
    mats += [np.stack(rs) if n else np.zeros((len(rs), 0), dtype=np.int64) for n, rs in by_len.items()]
    return drain, topo.max_block_latency(mats)


def estimate(op: str, algo: str, n: int, nbytes: float, bw_Bps: float, latency_s: float = 0.0,
             per_domain: int | None = None, scaleout_Bps: float | None = None,
             scaleout_latency_s: float = 0.0) -> float:
    """Textbook alpha-beta formulas. ``bw_Bps``: per-GPU scale-up bandwidth (one direction);
    ``per_domain`` GPUs share a domain and ``scaleout_Bps`` is one GPU's scale-out bandwidth
    when the group spans domains. Launch overhead included."""
    S = float(nbytes)
    t = LAUNCH_S
    if n <= 1:
        return t
    if op == "send_recv":
        return t + S / bw_Bps + latency_s
    m = per_domain or n
    D = n // m
    multi = D > 1
    if algo == "ring":
        factor = {"all_reduce": 2 * (n - 1) / n, "reduce_scatter": (n - 1) / n,
                  "all_gather": (n - 1) / n, "broadcast": 1.0}[op]
        steps = {"all_reduce": 2 * (n - 1), "broadcast": n - 1}.get(op, n - 1)
        if not multi:
            return t + factor * S / bw_Bps + steps * latency_s
        up = factor * S / bw_Bps
        out = factor * S / m / scaleout_Bps
        return t + max(up, out) + steps * max(latency_s, scaleout_latency_s)
    if algo == "hierarchical" and multi:
        if op == "all_reduce":
            rs = (m - 1) / m * S / bw_Bps + (m - 1) * latency_s
            ar = 2 * (D - 1) / D * S / m / scaleout_Bps + 2 * (D - 1) * scaleout_latency_s
            return t + 2 * rs + ar
        if op in ("reduce_scatter", "all_gather"):
            return t + (m - 1) / m * S / bw_Bps + (m - 1) * latency_s + \
                (D - 1) / D * S / m / scaleout_Bps + (D - 1) * scaleout_latency_s
    if algo == "nvls" and not multi and op == "all_reduce":
        # one hop into the switch (half a GPU-to-GPU step) and NVLS's own latency
        # (NVLS_LATENCY_S); NVLink4 efficiency (the generation of a 450 GB/s switch)
        eff = NVLS_GEN_EFF["NVLink4"] / (1 + n / NVLS_DOMAIN_N0)
        rel = eff / DEFAULT_EFFICIENCY["scaleup"]
        fill = min(n * NVLS_FILL_BYTES, S) / (bw_Bps * eff)     # bw_Bps taken as the line rate here
        return t + S * (1 + 1 / n) / (bw_Bps * rel) + latency_s / 2 + fill + NVLS_LATENCY_S
    if algo == "direct" and op == "all_to_all" and not multi:
        return t + (n - 1) / n * S / bw_Bps + latency_s
    raise ValueError(f"no textbook closed form for {op}/{algo} (use estimate_on)")


# -- nccl-tests-like table --------------------------------------------------------------------

BUSBW_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "send_recv": lambda n: 1.0,
}


def measure(fabric: Fabric, op: str, algo: str, group: list[int], nbytes: float,
            protocol: str | None = None) -> tuple[float, str]:
    """Simulated time of one collective on an idle fabric, and the algorithm it used
    (``measure_protocol`` also says the protocol)."""
    t, chosen, _ = measure_protocol(fabric, op, algo, group, nbytes, protocol)
    return t, chosen


def measure_protocol(fabric: Fabric, op: str, algo: str, group: list[int], nbytes: float,
                     protocol: str | None = None, gpu_nvls: bool | None = None,
                     fp8: bool = False) -> tuple[float, str, str | None]:
    """Simulated time of one collective on an idle fabric, with the (algorithm, protocol) it ran
    (``resolve``: the protocol None is calibrated). The one path of ``auto`` and of a named
    algorithm: the same (algorithm, protocol) costs the same however it was chosen. ``gpu_nvls``
    False leaves NVLS out of the candidates (NCCL's for a data type NVLS does not reduce); None:
    the topology's. ``fp8``: the data are FP8, which NCCL's tuner prices apart (``tune``)."""
    sim = fabric.sim
    start = sim.now
    topo = fabric.topo
    if gpu_nvls is None:
        gpu_nvls = bool(topo.meta.get("nvls", False))
    chosen, proto = resolve(topo, op, algo, group, nbytes, fabric, gpu_nvls, protocol, fp8)
    ev = collective(fabric, op, [group], nbytes, chosen, gpu_nvls=gpu_nvls, protocol=proto)
    sim.run(ev)
    return sim.now - start, chosen, proto


def build_fabric(topology, simulation, topo: Topology, record_flows: bool = False) -> Fabric:
    """A ``Fabric`` over ``topo`` with a ``[topology]`` section's collective efficiencies where
    given (``scaleup_efficiency``, ``scaleout_efficiency``, ``network_model``), the GPU's
    calibrated defaults (``default_efficiencies``) elsewhere."""
    from sim import hardware
    defaults = default_efficiencies(hardware.gpu(topology.gpu))
    up = topology.scaleup_efficiency if topology.scaleup_efficiency is not None else defaults.get("scaleup", 1.0)
    out = topology.scaleout_efficiency if topology.scaleout_efficiency is not None else defaults.get("scaleout", 1.0)
    return Fabric(simulation, topo, model=topology.network_model, scaleup_efficiency=up,
                  scaleout_efficiency=out, record_flows=record_flows)
