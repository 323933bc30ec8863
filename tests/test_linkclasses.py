"""Link classes: the fabric's class mode gives the plain first mode's rates, times and bytes."""

import numpy as np
import pytest
from hypothesis import given, settings

import sim.fabric as fabric_mod
from sim.fabric import Fabric
from sim.fairshare import link_loads, maxmin_rates
from sim.linkclasses import LinkClasses
from sim.simulation import Simulation
from tests.nets import two_level
from tests.test_fabric import bundle_finish_times, random_arrivals


def run_bundles(topo, transfers, class_links, tenants=0, check=None):
    """Bundles arriving at given times, with class mode from ``class_links`` links on, on a
    fabric shared by ``tenants`` jobs (settled changes from 2 on); ``check(fab)`` after every
    update."""
    old = fabric_mod.CLASS_LINKS
    fabric_mod.CLASS_LINKS = class_links
    try:
        sim = Simulation(0)
        fab = Fabric(sim, topo, "flow", 0.9, 0.8)
        fab.tenants = tenants
        if check is not None:
            update = fab._update

            def checked(_event=None):
                update(_event)
                check(fab)
            fab._update = checked
        done = bundle_finish_times(sim, fab, transfers)
    finally:
        fabric_mod.CLASS_LINKS = old
    return done, fab


@settings(max_examples=80, deadline=None)
@given(random_arrivals())
def test_class_mode_equals_the_plain_first_mode(case):
    # every flow puts the fabric in class mode (CLASS_LINKS = 1) or none does: the same
    # completion times bit for bit (the same max-min arithmetic), the same link accounting
    topo, transfers = case
    cls_done, cls = run_bundles(topo, transfers, 1)
    ref_done, ref = run_bundles(topo, transfers, 10**9)
    assert cls_done == ref_done
    assert cls._lc is None                                   # drained: back to the first mode
    np.testing.assert_allclose(cls.link_bytes, ref.link_bytes, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cls.link_busy, ref.link_busy, rtol=1e-12, atol=1e-12)
    assert cls.peak_utilization == ref.peak_utilization
    assert cls.rate_computations == ref.rate_computations
    assert cls.bytes_delivered == ref.bytes_delivered


def test_a_symmetric_bundle_collapses_to_few_classes_with_exact_rates(monkeypatch):
    # one ring step over 16 two-GPU replicas of a 32-node fabric: hundreds of links, a handful
    # of classes; the class solve equals maxmin_rates on every link, and a half-way read of
    # link_bytes pays exactly what the classes owe
    topo = two_level(32, 2, nic_bw=10.0, spines=2, leaf_nodes=4, uplink_bw=30.0)
    g = topo.gpus
    ring = [(g[2 * r], g[(2 * r + 6) % 64]) for r in range(32)]
    other = [(g[2 * r + 1], g[(2 * r + 11) % 64]) for r in range(0, 32, 2)]
    lc = LinkClasses(np.asarray(topo.capacity, dtype=float))
    shapes = []
    for k, pairs in enumerate((ring, other)):
        links, w = np.unique(np.concatenate([topo.route(s, d) for s, d in pairs]), return_counts=True)
        shapes.append((links, w.astype(float)))
        lc.add(k, links, w.astype(float))
    n_links = len(np.unique(np.concatenate([s[0] for s in shapes])))
    assert n_links == 224 and len(lc) == 14                  # 224 links in 14 classes
    rates = np.zeros(2)
    lc.solve([0, 1], range(len(lc)), rates)
    ef = np.concatenate([np.full(len(s[0]), k) for k, s in enumerate(shapes)])
    el = np.concatenate([s[0] for s in shapes])
    ew = np.concatenate([s[1] for s in shapes])
    ref = maxmin_rates(ef, el, 2, np.asarray(topo.capacity, dtype=float), ew)
    assert np.array_equal(rates, ref)
    load = link_loads(ef, el, ref, topo.num_links, ew)
    used = np.flatnonzero(lc.cls >= 0)
    assert np.array_equal(lc.load[lc.cls[used]], load[used])

    def halfway(class_links):
        monkeypatch.setattr(fabric_mod, "CLASS_LINKS", class_links)
        sim = Simulation(0)
        fab = Fabric(sim, topo)
        ev = fab.transfer_bundle(ring, 1e3)
        sim.run(until=25.0)
        ev2 = fab.transfer_bundle(other, 1e3)                # an update at 25 s: accounting
        sim.run(until=50.0)
        mode = fab._lc is not None
        half = fab.link_bytes.copy()                          # flushes what the classes owe
        sim.run(sim.env.all_of([ev, ev2]))
        return mode, half, fab
    mode, half, fab = halfway(64)
    ref_mode, ref_half, ref = halfway(10**9)
    assert mode and not ref_mode and fab._lc is None
    links = shapes[0][0]
    assert half[links].max() > 0
    np.testing.assert_allclose(half, ref_half, rtol=1e-12)
    np.testing.assert_allclose(fab.link_bytes, ref.link_bytes, rtol=1e-12)


@pytest.mark.parametrize("train", [
    {"tp": 2, "pp": 2, "dp": 8, "global_batch": 32, "micro_batch": 2, "zero": 3},
    {"tp": 2, "pp": 2, "dp": 8, "global_batch": 16, "micro_batch": 1, "schedule": "interleaved",
     "virtual_stages": 2, "zero": 1, "sequence_parallel": True},
    {"tp": 2, "pp": 2, "dp": 8, "global_batch": 16, "micro_batch": 1, "zero": 3, "fidelity": "full"},
])
def test_training_step_is_the_same_with_and_without_classes(train, monkeypatch):
    from tests.workloads.training.test_engine import simulate
    topo = {"gpus": 32, "fabric": "fat-tree"}
    monkeypatch.setattr(fabric_mod, "CLASS_LINKS", 1)
    cls = simulate(topo, train)
    monkeypatch.setattr(fabric_mod, "CLASS_LINKS", 10**9)
    ref = simulate(topo, train)
    for k in ("step_time_s", "exposed_comm_s", "comm_s", "bubble_s", "mfu"):
        assert cls.summary[k] == pytest.approx(ref.summary[k], rel=1e-9, abs=1e-15)
    a, b = cls.tables["links"].to_pydict(), ref.tables["links"].to_pydict()
    np.testing.assert_allclose(a["bytes"], b["bytes"], rtol=1e-9)
    np.testing.assert_allclose(a["busy_s"], b["busy_s"], rtol=1e-9, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(random_arrivals())
def test_class_mode_hands_over_to_the_incremental_mode(case):
    # from 4 concurrent flows on the fabric keeps rates incrementally: class mode pays what the
    # classes owe and hands its flows over; times and bytes equal the plain first mode's path
    topo, transfers = case
    old = fabric_mod.INCREMENTAL_FLOWS
    fabric_mod.INCREMENTAL_FLOWS = 4
    try:
        cls_done, cls = run_bundles(topo, transfers, 1)
        ref_done, ref = run_bundles(topo, transfers, 10**9)
    finally:
        fabric_mod.INCREMENTAL_FLOWS = old
    assert cls_done.keys() == ref_done.keys()
    np.testing.assert_allclose([cls_done[k] for k in sorted(cls_done)], [ref_done[k] for k in sorted(ref_done)],
                               rtol=1e-9)
    np.testing.assert_allclose(cls.link_bytes, ref.link_bytes, rtol=1e-9, atol=1e-6)
    assert cls.bytes_delivered == pytest.approx(ref.bytes_delivered, rel=1e-12)


def run_tenants(topo, transfers, tenants, check=None):
    """``run_bundles`` in class mode (from the first flow) on a fabric shared by ``tenants``."""
    return run_bundles(topo, transfers, 1, tenants, check)


def check_maxmin(fab):
    """The rates equal a from-scratch max-min solve of every active flow within 1e-12."""
    flows = fab._flows
    if fab._lc is None or not flows:
        return
    ef = np.repeat(np.arange(len(flows)), [len(f.links) for f in flows])
    el = np.concatenate([f.links for f in flows])
    w = np.concatenate([f.weights for f in flows])
    ref = maxmin_rates(ef, el, len(flows), fab.capacity, w)
    np.testing.assert_allclose(fab._rates, ref, rtol=1e-12)
    lc = fab._lc
    load = link_loads(ef, el, ref, fab.n_links, w)
    used = np.flatnonzero(lc.cls >= 0)
    np.testing.assert_allclose(lc.load[lc.cls[used]], load[used], rtol=1e-12, atol=1e-9 * fab.capacity.max())


@settings(max_examples=80, deadline=None)
@given(random_arrivals())
def test_settled_changes_keep_max_min_rates(case):
    # two jobs on the fabric: arrivals and departures that move no other flow's rate are not
    # re-solved; after every update the rates still equal a whole-network solve (to 1e-12),
    # and completion times and link bytes equal the single-job path's
    topo, transfers = case
    done, fab = run_tenants(topo, transfers, 2, check_maxmin)
    ref_done, ref = run_tenants(topo, transfers, 1)
    assert ref.settled_changes == 0
    assert done.keys() == ref_done.keys()
    np.testing.assert_allclose([done[k] for k in sorted(done)], [ref_done[k] for k in sorted(done)], rtol=1e-12)
    np.testing.assert_allclose(fab.link_bytes, ref.link_bytes, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(fab.link_busy, ref.link_busy, rtol=1e-12, atol=1e-12)
    assert fab.bytes_delivered == pytest.approx(ref.bytes_delivered, rel=1e-14)
    assert fab.peak_utilization == pytest.approx(ref.peak_utilization, rel=1e-12)


def test_a_flow_on_spare_links_is_settled_and_one_that_squeezes_another_is_not(monkeypatch):
    # two servers under one uplink of 12 (NICs 10): A (0 -> 2) runs at 10; B (1 -> 3) would
    # get the uplink's spare 2, but A is faster there, so B's arrival is re-solved (6 each);
    # when B leaves, A (bottlenecked beside it) speeds up again: re-solved; C (0 -> 1, over
    # server 0's NVSwitch) meets no flow: settled at its links' 100, and so is its departure
    monkeypatch.setattr(fabric_mod, "CLASS_LINKS", 1)
    topo = two_level(2, 2, nic_bw=10.0, spines=1, leaf_nodes=1, uplink_bw=12.0)
    g = topo.gpus
    sim = Simulation(0)
    fab = Fabric(sim, topo)
    fab.tenants = 2
    a = fab.transfer(g[0], g[2], 100.0)
    sim.run(until=1.0)
    assert fab._rates.tolist() == [10.0] and fab.settled_changes == 0     # the first solve
    b = fab.transfer(g[1], g[3], 6.0)
    sim.run(until=1.5)
    assert fab._rates.tolist() == [6.0, 6.0] and fab.settled_changes == 0
    sim.run(until=2.5)                                                    # B done at 2.0
    assert fab._rates.tolist() == [10.0] and fab.settled_changes == 0
    c = fab.transfer(g[0], g[1], 1.0)
    sim.run(until=2.505)
    assert fab._rates.tolist() == [10.0, 100.0] and fab.settled_changes == 1
    sim.run(until=3.0)                                                    # C done at 2.51
    assert fab._rates.tolist() == [10.0] and fab.settled_changes == 2
    sim.run(sim.env.all_of([a, b, c]))
    assert sim.now == pytest.approx(10.4, rel=1e-12)                     # 10 + 6 + 84 bytes


@settings(max_examples=60, deadline=None)
@given(random_arrivals())
def test_one_flow_components_match_the_general_rounds(case):
    # solve's shortcut for a component of one flow or none gives what the general rounds give,
    # bit for bit: the same completion times, loads, accounting and peak
    topo, transfers = case
    fast_done, fast = run_bundles(topo, transfers, 1)
    one = LinkClasses._solve_one
    LinkClasses._solve_one = lambda *a: None
    try:
        slow_done, slow = run_bundles(topo, transfers, 1)
    finally:
        LinkClasses._solve_one = one
    assert fast_done == slow_done
    assert np.array_equal(fast.link_bytes, slow.link_bytes)
    assert np.array_equal(fast.link_busy, slow.link_busy)
    assert fast.peak_utilization == slow.peak_utilization
