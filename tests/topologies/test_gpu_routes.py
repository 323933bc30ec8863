"""The Clos router's batched routes (``ClosRouter.gpu_routes``) and the fabric's batched bundle
shape (``Fabric._bundle_shape_fast``) against their one-route-at-a-time references: the same
links in the same order, and the same (links, weights, latency) bit for bit."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sim.config import TopologySection
from sim.fabric import Fabric
from sim.simulation import Simulation
from topologies import build

SPECS = {
    "2-tier": dict(gpus=128, switch_radix=16),
    "2-tier 7:1": dict(gpus=128, switch_radix=16, oversubscription=7.0),
    "3-tier pods 1:7": dict(gpus=512, gpus_per_node=8, leaf_radix=8, switch_radix=64, tiers=3, pod_gpus=128,
                            oversubscription=[1.0, 7.0]),
    "3-tier 7:1 leaf": dict(gpus=512, switch_radix=16, tiers=3, oversubscription=[7.0, 1.0]),
    "rail-optimized": dict(gpus=128, fabric="rail-optimized", switch_radix=16),
    "ecmp": dict(gpus=128, switch_radix=16, routing="ecmp"),
    "mi300x mesh": dict(gpus=64, gpu="MI300X", switch_radix=16),
    "llama3-h100-roce 1024": dict(preset="llama3-h100-roce", gpus=1024, pod_gpus=256),
}


def topo_of(name):
    return build(TopologySection(**SPECS[name]))


def pairs_of(topo, n, seed):
    rng = random.Random(seed)
    gpus = list(topo.gpus)
    hosts = [i for i, k in enumerate(topo.node_kind) if k in ("host", "ssd")]
    out = [(rng.choice(gpus), rng.choice(gpus)) for _ in range(n)]
    out += [(g, g) for g in gpus[:3]]                              # src == dst: the empty route
    out += [(rng.choice(hosts), rng.choice(gpus)) for _ in range(20)]   # endpoints left to route
    out += [(rng.choice(gpus), rng.choice(hosts)) for _ in range(20)]
    # an all-to-all over consecutive ranks (an EP group): NVLink, same leaf, cross-spine, cross-pod
    g = gpus[: min(64, len(gpus))]
    out += [(a, b) for a in g for b in g if a != b]
    return out


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("key", [0, 3])
def test_gpu_routes_equal_route(name, key):
    topo = topo_of(name)
    pairs = pairs_of(topo, 2000, 7 + key)
    arr = np.asarray(pairs, dtype=np.int64)
    blocks, rest = topo.router.gpu_routes(arr[:, 0], arr[:, 1], key)
    seen = np.zeros(len(pairs), dtype=int)
    for index, links in blocks:
        assert links.shape == (len(index), links.shape[1])
        for i, row in zip(index.tolist(), links.tolist()):
            assert row == [int(x) for x in topo.route(pairs[i][0], pairs[i][1], key)], (name, pairs[i])
            seen[i] += 1
    seen[rest] += 1
    assert (seen == 1).all()          # each pair once: in a block or left to route
    if name not in ("ecmp", "mi300x mesh"):
        assert sum(len(ix) for ix, _ in blocks) > len(pairs) // 2   # the batched path does the bulk


@pytest.mark.parametrize("name", sorted(SPECS))
def test_bundle_shape_fast_equals_reference(name):
    topo = topo_of(name)
    fab = Fabric(Simulation(0), topo)
    for seed in range(3):
        pairs = pairs_of(topo, 1500, seed)
        for key in (0, 5):
            fast = fab._bundle_shape_fast(pairs, key)
            ref = fab._bundle_shape_reference(pairs, key)
            assert fast is not None
            assert fast[0].dtype == ref[0].dtype and fast[1].dtype == ref[1].dtype
            assert np.array_equal(fast[0], ref[0]) and np.array_equal(fast[1], ref[1])
            assert fast[2] == ref[2]          # bit for bit, not approximately


def test_bundle_shape_fast_latency_order_matters():
    # links of unequal latencies, whose float sum depends on the order of addition: the fast
    # path must add in numpy's order (left to right below 8 links, pairwise at 8)
    topo = topo_of("3-tier pods 1:7")
    rng = np.random.default_rng(1)
    topo._lat = list(rng.uniform(1e-7, 3e-6, topo.num_links))
    topo._frozen = None
    fab = Fabric(Simulation(0), topo)
    pairs = pairs_of(topo, 3000, 11)
    fast, ref = fab._bundle_shape_fast(pairs, 0), fab._bundle_shape_reference(pairs, 0)
    assert fast[2] == ref[2]
    # and the order matters here: summing every route left to right would differ somewhere
    lat = topo.latency
    diffs = 0
    for s, d in pairs:
        r = topo.route(s, d, 0)
        if len(r) == 8:
            acc = 0.0
            for x in lat[r]:
                acc += float(x)
            diffs += acc != float(lat[r].sum())
    assert diffs > 0


def test_small_and_adaptive_bundles_take_the_reference():
    topo = build(TopologySection(gpus=128, switch_radix=16, routing="adaptive"))
    fab = Fabric(Simulation(0), topo)
    pairs = pairs_of(topo, 1000, 1)
    assert fab._bundle_shape_fast(pairs, 0) is None
    topo2 = topo_of("2-tier")
    fab2 = Fabric(Simulation(0), topo2)
    assert fab2._bundle_shape_fast(pairs_of(topo2, 10, 1)[:10], 0) is None


@pytest.mark.parametrize("name", ["3-tier pods 1:7", "mi300x mesh", "ecmp"])
def test_max_route_latency_batched_equals_reference(name):
    from sim.collectives import _max_route_latency
    topo = topo_of(name)
    rng = np.random.default_rng(3)
    topo._lat = list(rng.uniform(1e-7, 3e-6, topo.num_links))
    topo._frozen = None
    pairs = pairs_of(topo, 2000, 5)
    assert topo.route_blocks(pairs, 0) is not None
    ref = max(topo.path_latency(*topo.route_weighted(s, d, 0)) for s, d in pairs)
    assert _max_route_latency(topo, pairs) == ref


def test_bundle_shape_identity_cache():
    # the same pairs list is found by identity; an equal new list by value; another key is not confused
    topo = topo_of("3-tier pods 1:7")
    fab = Fabric(Simulation(0), topo)
    pairs = pairs_of(topo, 500, 2)
    first = fab.bundle_shape(pairs, 0)
    assert fab.bundle_shape(pairs, 0) is first
    assert fab.bundle_shape(list(pairs), 0) is first
    other = fab.bundle_shape(pairs, 1)
    ref = fab._bundle_shape_reference(pairs, 1)
    assert np.array_equal(other[0], ref[0]) and np.array_equal(other[1], ref[1]) and other[2] == ref[2]


@pytest.mark.parametrize("name", ["3-tier pods 1:7", "llama3-h100-roce 1024", "ecmp", "mi300x mesh", "rail-optimized"])
def test_estimate_on_batched_equals_loop(name):
    # estimate_on's batched phase loads (BATCH_MIN pairs and up) against its flow-by-flow loop
    # (forced by a BATCH_MIN above every phase): the same seconds, bit for bit, on links of
    # unequal latencies and capacities
    from sim.collectives import estimate_on
    topo = topo_of(name)
    rng = np.random.default_rng(4)
    topo._lat = list(rng.uniform(1e-7, 3e-6, topo.num_links))
    topo._frozen = None
    cap = topo.capacity * rng.uniform(0.5, 1.0, topo.num_links)
    gpus = len(topo.gpus)
    groups = [list(range(min(256, gpus))), list(range(0, gpus, 4)), list(range(min(64, gpus)))]
    cases = [("all_to_all", "direct"), ("all_reduce", "ring"), ("reduce_scatter", "ring"), ("all_gather", "ring"),
             ("all_reduce", "tree"), ("all_reduce", "hierarchical"), ("all_gather", "direct")]
    checked = 0
    for group in groups:
        for op, algo in cases:
            # a direct phase holds every ordered pair: 128 GPUs give 16k flows, far past BATCH_MIN (256
            # GPUs took 18 s of this test on one core); ring phases need the 256-GPU groups to batch
            g = group[:128] if algo == "direct" else group
            try:
                fast = estimate_on(topo, cap, op, algo, g, 3.7e8)
            except ValueError:
                continue
            topo.BATCH_MIN = 10 ** 9
            try:
                ref = estimate_on(topo, cap, op, algo, g, 3.7e8)
            finally:
                del topo.BATCH_MIN
            assert fast == ref, (name, op, algo, len(g))
            checked += 1
    assert checked >= 10
    from sim.collectives import _phase_drain_batched, plan
    ph = plan(topo, "all_to_all", "direct", groups[2], 1e6)[0]
    assert _phase_drain_batched(topo, cap, ph.flows) is not None      # the batched path ran
