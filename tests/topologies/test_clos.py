"""Clos builder and router: hand-counted instances, oversubscription, ECMP and minimal hops."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from sim.config import TopologySection
from sim.errors import ConfigError
from sim.topology import ShortestPathRouter
from topologies import build
from topo_helpers import check_route, interconnect

NDR = 400e9 / 8     # one 400 Gb/s port, bytes/s


def spec(**kw) -> TopologySection:
    return TopologySection(**kw)


def kinds(topo):
    out = {}
    for k in topo.node_kind:
        out[k] = out.get(k, 0) + 1
    return out


def links_of(topo, cls):
    return [i for i in range(topo.num_links) if topo.link_class[i] == cls]


def test_two_nodes_two_tier_hand_count():
    # 16 H100 in 2 servers, 8 x 400G NICs each, radix 8: a leaf has 4 down + 4 up ports, so
    # 16 NICs fill 4 leaves; each leaf has one up port to each of 4 spines (a spine of 8 ports
    # could take 8 leaves: the fabric is built for its radix, not for these 16 GPUs).
    topo = build(spec(gpus=16, switch_radix=8))
    assert kinds(topo) == {"gpu": 16, "nic": 16, "nvswitch": 2, "host": 2, "ssd": 2, "switch": 8}
    tiers = [topo.attr(n, "tier") for n, k in enumerate(topo.node_kind) if k == "switch"]
    assert sorted(tiers) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert len(links_of(topo, "leaf-spine")) == 4 * 4 * 2          # both directions
    assert all(topo.capacity[i] == pytest.approx(NDR) for i in links_of(topo, "leaf-spine"))
    assert all(topo.capacity[i] == pytest.approx(NDR) for i in links_of(topo, "nic"))
    assert all(topo.capacity[i] == pytest.approx(450e9) for i in links_of(topo, "nvlink"))
    assert all(topo.capacity[i] == pytest.approx(2 * NDR) for i in links_of(topo, "pcie"))   # 2x NIC rate by default
    assert all(topo.capacity[i] == pytest.approx(64e9) for i in links_of(topo, "host"))
    assert topo.num_links == 2 * (16 + 16 + 16 + 2 + 16 + 16)
    assert topo.meta["leaves"] == 4 and topo.meta["spines"] == 4 and topo.meta["scaleout_GBps_per_gpu"] == 50.0
    g = topo.gpu(3)
    assert topo.attr(g, "node") == 0 and topo.attr(g, "domain") == 0 and topo.attr(g, "rank") == 3
    assert topo.node_names[topo.attr(g, "nic")] == "nic0.3"
    assert topo.node_names[topo.attr(g, "host")] == "host0"
    assert topo.attr(topo.gpu(9), "node") == 1 and topo.attr(topo.gpu(9), "domain") == 1


def test_single_leaf_has_no_spines():
    topo = build(spec(gpus=16))          # radix 64: 32 down ports hold all 16 NICs
    assert topo.meta["leaves"] == 1 and topo.meta["spines"] == 0
    assert len(check_route(topo, topo.gpu(0), topo.gpu(8))) == 4


@pytest.mark.parametrize("o", [1.0, 3.0, 7.0])
def test_bisection_is_full_over_oversubscription(o):
    topo = build(spec(gpus=128, switch_radix=16, oversubscription=o))
    full = 128 * NDR
    up = sum(topo.capacity[i] for i in links_of(topo, "leaf-spine")
             if topo.attr(topo.link_src[i], "tier") == 1)
    assert up == pytest.approx(full / o)
    # the cut also equals the max flow from all leaves to all spines
    g = nx.DiGraph()
    for i in links_of(topo, "leaf-spine"):
        u, v = topo.link_src[i], topo.link_dst[i]
        if topo.attr(u, "tier") == 1:
            g.add_edge("s", u, capacity=float("inf"))
            g.add_edge(u, v, capacity=float(topo.capacity[i]))
            g.add_edge(v, "t", capacity=float("inf"))
    assert nx.maximum_flow_value(g, "s", "t") == pytest.approx(full / o)


def test_oversubscribed_leaf_ports():
    # the layout keeps the non-blocking split (8 down ports); 3:1 tapers the uplinks to
    # 8/3 ports' worth, cabled as 3 ports, spread over the design's 8 spines
    topo = build(spec(gpus=64, switch_radix=16, oversubscription=3.0))
    assert topo.meta["leaf_down_ports"] == 8 and topo.meta["leaf_up_ports"] == 3
    assert topo.meta["leaves"] == 8 and topo.meta["spines"] == 8
    assert topo.meta["leaf_uplink_GBps"] == pytest.approx(8 * 50 / 3)


def test_three_tier_counts_and_core_bisection():
    # radix 8, non-blocking: leaf 4 down + 4 up; a pod holds 4 leaves (a spine's 4 down ports)
    # = 16 NICs = 2 servers; 64 GPUs = 4 pods of 4 spines (one port per leaf-spine pair);
    # a spine's 4 up ports go to the 4 cores of its group, which could join 8 pods: 16 cores,
    # as in the classical k = 8 fat-tree, whether 4 or 8 pods are built.
    topo = build(spec(gpus=64, switch_radix=8, tiers=3))
    m = topo.meta
    assert (m["pods"], m["leaves"], m["spines"], m["cores"]) == (4, 16, 16, 16)
    assert all(topo.capacity[i] == pytest.approx(NDR) for i in links_of(topo, "leaf-spine"))
    assert all(topo.capacity[i] == pytest.approx(NDR) for i in links_of(topo, "spine-core"))
    up = sum(topo.capacity[i] for i in links_of(topo, "spine-core") if topo.attr(topo.link_dst[i], "tier") == 3)
    assert up == pytest.approx(64 * NDR)
    over = build(spec(gpus=64, switch_radix=8, tiers=3, oversubscription=[1.0, 3.0]))
    up = sum(over.capacity[i] for i in links_of(over, "spine-core") if over.attr(over.link_dst[i], "tier") == 3)
    assert up == pytest.approx(64 * NDR / 3)


def test_pods_hold_whole_domains():
    topo = build(spec(gpu="GB200", gpus=288, gpus_per_node=4, nics_per_node=4, tiers=3, switch_radix=32))
    # spine down ports 16 -> 16 leaves x 16 NICs = 256 NICs = 64 trays; rounded to whole
    # NVL72 domains (18 trays): 54 trays = 216 GPUs per pod
    assert topo.meta["pod_gpus"] == 216
    for r in range(288):
        g = topo.gpu(r)
        assert topo.attr(g, "pod") == r // 216


def test_rail_optimized_leaves_are_rails():
    topo = build(spec(gpus=64, fabric="rail-optimized", switch_radix=16))   # 8 servers per rail leaf
    assert topo.meta["leaves"] == 8 and topo.meta["rail_group_servers"] == 8
    for r in range(64):
        leaf = topo.attr(topo.gpu(r), "leaf")
        assert leaf == r % 8                      # NIC i of every server on rail leaf i
    same_rail = check_route(topo, topo.gpu(1), topo.gpu(9))
    assert [topo.link_class[i] for i in same_rail] == ["pcie", "nic", "nic", "pcie"]
    cross = check_route(topo, topo.gpu(1), topo.gpu(10))
    assert [topo.link_class[i] for i in cross] == ["pcie", "nic", "leaf-spine", "leaf-spine", "nic", "pcie"]


def test_ecmp_permutation_uses_every_spine():
    topo = build(spec(gpus=128, switch_radix=16))     # 16 leaves of 8 NICs, 8 spines
    spines = {n for n, k in enumerate(topo.node_kind) if k == "switch" and topo.attr(n, "tier") == 2}
    assert len(spines) == 8
    used = set()
    for r in range(128):
        path = topo.route(topo.gpu(r), topo.gpu((r + 8) % 128))   # each leaf sends to the next
        used.update(topo.link_dst[i] for i in path if topo.link_dst[i] in spines)
    assert used == spines


def test_ecmp_keys_spread_one_pair():
    topo = build(spec(gpus=64, switch_radix=8, tiers=3))
    a, b = topo.gpu(0), topo.gpu(63)
    cores = {topo.link_dst[i] for key in range(64) for i in topo.route(a, b, key) if topo.attr(topo.link_dst[i], "tier") == 3}
    assert len(cores) == topo.meta["cores"]
    assert list(topo.route(a, b, 5)) == list(topo.route(a, b, 5))


CASES = [
    dict(gpus=64, switch_radix=8, tiers=3),
    dict(gpus=48, switch_radix=16, oversubscription=3.0),
    dict(gpus=128, fabric="rail-optimized", switch_radix=16, tiers=3),
    dict(gpus=40, switch_radix=10, gpus_per_node=4, nics_per_node=2),            # NICs shared, leaves straddle servers
    dict(gpus=64, gpu="MI300X", fabric="rail-optimized", switch_radix=16),       # mesh: PXN relay
    dict(gpus=48, gpu="MI300X", switch_radix=10),                                # mesh, servers straddle leaves
    dict(gpus=288, gpu="GB200", gpus_per_node=4, nics_per_node=4, switch_radix=32, fabric="rail-optimized", tiers=3),
    dict(gpus=32, gpus_per_node=8, scaleup_domain=4, nics_per_node=4, switch_radix=8),
    dict(gpus=32, gpus_per_node=4, nics_per_node=8, switch_radix=16),             # 2 ports per NIC node
]
BUILT = {}


def built(i):
    if i not in BUILT:
        BUILT[i] = build(spec(**CASES[i]))
    return BUILT[i]


@settings(max_examples=60, deadline=None)
@given(case=st.integers(0, len(CASES) - 1), a=st.integers(0, 10**6), b=st.integers(0, 10**6), key=st.integers(0, 99))
def test_routes_are_minimal_hop(case, a, b, key):
    topo = built(case)
    n = len(topo.gpus)
    src, dst = topo.gpu(a % n), topo.gpu(b % n)
    path = check_route(topo, src, dst, key)
    assert len(path) == nx.shortest_path_length(interconnect(topo), src, dst)


@pytest.mark.parametrize("case", [0, 2, 4, 6])
def test_routes_agree_with_shortest_path_router(case):
    # scale-up domains hold whole servers here, so host memory offers no shortcut
    topo = built(case)
    sp = ShortestPathRouter()
    n = len(topo.gpus)
    for a in range(0, n, 3):
        b = (a * 7 + 5) % n
        src, dst = topo.gpu(a), topo.gpu(b)
        assert len(topo.route(src, dst)) == len(sp.route(topo, src, dst))


def test_two_tiers_too_small_names_tiers():
    with pytest.raises(ConfigError) as err:
        build(spec(gpus=4096, switch_radix=16))
    assert err.value.key == "topology.tiers" and "tiers = 3" in err.value.reason


def test_too_many_pods_and_big_pods():
    with pytest.raises(ConfigError) as err:
        build(spec(gpus=256, switch_radix=8, tiers=3))
    assert err.value.key == "topology.gpus"
    with pytest.raises(ConfigError) as err:
        build(spec(gpus=3072, tiers=3, pod_gpus=3072, switch_radix=64))
    assert err.value.key == "topology.pod_gpus"


def test_no_nics_between_domains():
    with pytest.raises(ConfigError) as err:
        build(spec(gpus=16, nics_per_node=0))
    assert err.value.key == "topology.nics_per_node"


@pytest.mark.parametrize("fabric,shift", [("fat-tree", 8), ("rail-optimized", 64), ("rail-optimized", 65)])
def test_shift_permutation_is_contention_free(fabric, shift):
    # a full non-blocking 2-tier fabric (16 leaves of 8 NICs, 8 spines): a shift permutation
    # between leaves puts at most one flow on every leaf-spine link (D-mod-K by leaf port)
    topo = build(spec(gpus=128, switch_radix=16, fabric=fabric))
    assert topo.meta["leaves"] == 16 and topo.meta["spines"] == 8
    load = {}
    for r in range(128):
        for i in topo.route(topo.gpu(r), topo.gpu((r + shift) % 128)):
            if topo.link_class[i] == "leaf-spine":
                load[int(i)] = load.get(int(i), 0) + 1
    assert load and max(load.values()) == 1


def test_fat_tree_that_fits_one_domain_is_that_domain():
    # one 8-GPU server needs no scale-out fabric: same GPUs and NVLink links as fabric = "none"
    from sim.config import TopologySection
    from topologies import build as build_spec
    ft = build_spec(TopologySection(gpu="H100-SXM-80GB", gpus=8, fabric="fat-tree"))
    one = build_spec(TopologySection(gpu="H100-SXM-80GB", gpus=8, fabric="none"))
    assert len(ft.gpus) == 8 and ft.node_kind.count("switch") == 0
    assert sorted(ft.link_class) == sorted(one.link_class)


# -- sized for the fabric, not for the job (issue 9 item 2) --------------------------------------

def _time(topo_spec, op, algo, ranks, size=64 << 20):
    from sim.collectives import default_efficiencies, measure
    from sim.fabric import Fabric
    from sim.simulation import Simulation

    topo = build(topo_spec)
    eff = default_efficiencies()
    fabric = Fabric(Simulation(0), topo, "flow", eff["scaleup"], eff["scaleout"])
    return measure(fabric, op, algo, [topo.gpu(r) for r in ranks], float(size))[0]


def _busbw(topo_spec, op, n, size=256 << 20):
    from sim.collectives import BUSBW_FACTOR
    t = _time(topo_spec, op, "auto", range(n), size)
    return size / t / 1e9 * BUSBW_FACTOR[op](n)


def test_partly_filled_scalable_unit_keeps_full_uplinks():
    # repro: dgx-h100-superpod, 256 MiB all-reduce: 512 GPUs 339 GB/s busbw, 520 GPUs 15.7
    # (the 65th server's 8 rail leaves had uplinks of 1/32 of their ports)
    from topologies import preset_spec
    full = _busbw(preset_spec("dgx-h100-superpod", gpus=512), "all_reduce", 512)
    extra = _busbw(preset_spec("dgx-h100-superpod", gpus=520), "all_reduce", 520)
    assert extra == pytest.approx(full, rel=0.05)
    topo = build(preset_spec("dgx-h100-superpod", gpus=520))
    ups = [topo.capacity[i] for i in links_of(topo, "leaf-spine") if topo.attr(topo.link_src[i], "tier") == 1]
    assert min(ups) == pytest.approx(max(ups)) == pytest.approx(NDR)     # 32 up ports over 32 spines


def test_rail_preset_same_for_any_cluster_size():
    # repro: 16-GPU all-to-all on the rail-optimized preset built for 16 / 32 / 64 GPUs gave
    # 25 / 51 / 89 GB/s. The NIC bound: half of each GPU's bytes leave the server through its
    # own NIC at 0.95 x 50 GB/s, so algbw = 2 x 47.5 and busbw = 95 x 15/16 = 89
    from topologies import preset_spec
    got = [_busbw(preset_spec("dgx-h100-superpod", gpus=n), "all_to_all", 16) for n in (16, 32, 64, 256)]
    assert max(got) == pytest.approx(min(got), rel=1e-9)
    assert got[0] == pytest.approx(2 * 0.95 * 50 * 15 / 16, rel=0.01)


def test_all_to_all_falls_with_oversubscription():
    # repro: 48.7 / 25.5 / 8.9 / 16.8 / 0.94 GB/s at 1 / 1.5 / 2 / 3 / 4 (a partly filled
    # scalable unit; 33 servers here). Cross-rail traffic crosses the spines, so busbw follows
    # the leaf uplinks: 1/o of the non-blocking figure.
    # With adaptive routing (the preset's) every flow spreads over all spines, so the uplinks
    # bind exactly: of a GPU's 263 peers, the 31 on its own rail leaf stay below it, and
    # busbw(o) = busbw(1) x (1/o) / (232/263) once that is below the NIC bound.
    from topologies import preset_spec
    for routing in ("static", "adaptive"):
        got = [_busbw(preset_spec("dgx-h100-superpod", gpus=264, oversubscription=o, routing=routing), "all_to_all", 264)
               for o in (1.0, 1.5, 2.0, 3.0, 4.0)]
        assert all(b < a for a, b in zip(got, got[1:])), got
        assert got[-1] == pytest.approx(got[0] / 4, rel=0.1 if routing == "static" else 0.2)
    assert got[-1] == pytest.approx(got[0] / 4 / (232 / 263), rel=0.02)


# small fabrics: servers of 4 GPUs with 4 NICs, radix 8 (a leaf holds one server's NICs)
FABRICS = st.fixed_dictionaries({
    "fabric": st.sampled_from(["fat-tree", "rail-optimized"]),
    "tiers": st.sampled_from([2, 3]),
    "switch_radix": st.sampled_from([8, 16]),
})
COLLECTIVES = st.sampled_from([("all_reduce", "ring"), ("all_reduce", "tree"), ("all_to_all", "direct"),
                               ("all_gather", "ring"), ("reduce_scatter", "hierarchical")])


def _small(fab, servers, **kw):
    return spec(gpu="H100-SXM-80GB", gpus=4 * servers, gpus_per_node=4, scaleup_domain=4, nics_per_node=4, **fab, **kw)


def _max_servers(fab):
    k = fab["switch_radix"]
    leaves = k if fab["tiers"] == 2 else k * (k // 2)       # 2 tiers: k leaves; 3: k pods of k/2
    return leaves * (k // 2) // 4 if fab["fabric"] == "fat-tree" else (leaves // 4) * (k // 2)


@settings(max_examples=15, deadline=None)
@given(fab=FABRICS, base=st.integers(2, 12), extra=st.integers(1, 24), coll=COLLECTIVES, data=st.data())
def test_adding_gpus_never_slows_a_fixed_subset(fab, base, extra, coll, data):
    cap = min(_max_servers(fab), 40)
    base = min(base, cap - 1)
    more = min(base + extra, cap)
    servers = data.draw(st.lists(st.integers(0, base - 1), min_size=2, max_size=4, unique=True))
    ranks = sorted(4 * s + i for s in servers for i in range(4))
    op, algo = coll
    small = _time(_small(fab, base), op, algo, ranks)
    large = _time(_small(fab, more), op, algo, ranks)
    assert large <= small * (1 + 1e-9)


@settings(max_examples=15, deadline=None)
@given(fab=FABRICS, servers=st.integers(4, 24), coll=COLLECTIVES, data=st.data())
def test_busbw_never_rises_with_oversubscription(fab, servers, coll, data):
    servers = min(servers, _max_servers(fab))
    chosen = data.draw(st.lists(st.integers(0, servers - 1), min_size=2, max_size=6, unique=True))
    ranks = sorted(4 * s + i for s in chosen for i in range(4))
    ratios = sorted(data.draw(st.lists(st.sampled_from([1.0, 1.5, 2.0, 3.0, 4.0, 7.0]), min_size=2, max_size=3, unique=True)))
    op, algo = coll
    times = [_time(_small(fab, servers, oversubscription=o), op, algo, ranks) for o in ratios]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(times, times[1:])), (ratios, times)


@settings(max_examples=15, deadline=None)
@given(fab=FABRICS, servers=st.integers(2, 40), coll=COLLECTIVES, data=st.data())
def test_two_node_collective_ignores_the_rest_of_the_cluster(fab, servers, coll, data):
    servers = min(servers, _max_servers(fab))
    a, b = sorted(data.draw(st.lists(st.integers(0, servers - 1), min_size=2, max_size=2, unique=True)))
    ranks = [4 * a + i for i in range(4)] + [4 * b + i for i in range(4)]
    op, algo = coll
    alone = _time(_small(fab, b + 1), op, algo, ranks)
    inside = _time(_small(fab, servers), op, algo, ranks)
    assert inside == pytest.approx(alone, rel=1e-9)


# -- routing modes (topology.routing) ------------------------------------------------------------

def _cross_spine(topo):
    """Two GPUs on different leaves of one pod (rail 0 of servers 0 and 32 of a rail fabric)."""
    return topo.gpu(0), topo.gpu(32 * 8)


def test_adaptive_routing_spreads_a_flow_evenly_over_every_spine():
    topo = build(spec(gpus=512, fabric="rail-optimized", tiers=2, switch_radix=64, routing="adaptive"))
    a, b = _cross_spine(topo)
    links, shares = topo.route_weighted(a, b)
    cls = [topo.link_class[i] for i in links]
    up = [s for i, s in zip(links, shares) if topo.link_class[i] == "leaf-spine" and topo.node_kind[topo.link_src[i]] == "switch"
          and topo.attr(topo.link_src[i], "tier") == 1]
    assert len(up) == topo.meta["spines"] and sum(up) == pytest.approx(1.0)
    assert cls.count("nic") == 2 and cls.count("pcie") == 2           # the ends stay one path
    # the load it puts on each tier is one flow's worth; latency is one hop per tier
    static = build(spec(gpus=512, fabric="rail-optimized", tiers=2, switch_radix=64))
    assert topo.path_latency(links, shares) == pytest.approx(static.path_latency(static.route(a, b)))
    # routes that cross no spine are not spread
    near_links, near = topo.route_weighted(topo.gpu(0), topo.gpu(8))
    assert (near == 1.0).all() and list(near_links) == list(topo.route(topo.gpu(0), topo.gpu(8)))


def test_adaptive_routing_spreads_across_pods_over_spines_and_cores():
    topo = build(spec(gpus=2048, fabric="rail-optimized", tiers=3, switch_radix=64, routing="adaptive"))
    assert topo.meta["pods"] == 2
    a, b = topo.gpu(0), topo.gpu(1024)
    links, shares = topo.route_weighted(a, b)
    by: dict[str, float] = {}
    for i, s in zip(links, shares):
        by[topo.link_class[i]] = by.get(topo.link_class[i], 0.0) + s
    assert by["spine-core"] == pytest.approx(2.0) and by["leaf-spine"] == pytest.approx(2.0)   # up and down


def test_ecmp_hashes_flows_while_static_routes_by_destination():
    kw = dict(gpus=512, fabric="rail-optimized", tiers=2, switch_radix=64)
    static, ecmp = build(spec(**kw)), build(spec(**kw, routing="ecmp"))
    dst = static.gpu(32 * 8)
    # D-mod-K: every source reaches one destination through the same spine; a flow hash does not
    spine = lambda t, s: [t.link_dst[i] for i in t.route(s, dst) if t.link_class[i] == "leaf-spine"][0]
    srcs = [static.gpu(8 * k) for k in range(32)]
    assert len({spine(static, s) for s in srcs}) == 1
    assert len({spine(ecmp, s) for s in srcs}) > 8
    for s in srcs[:4]:
        check_route(ecmp, s, dst)
