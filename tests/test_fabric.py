"""The fabric against closed forms and physical invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fabric import Fabric
from sim.simulation import Simulation
from tests.nets import switch_domain, two_level


def run_transfers(topo, transfers, model="flow", **kw):
    sim = Simulation(0)
    fab = Fabric(sim, topo, model, **kw)
    done = {}

    def one(i, src, dst, nbytes, start):
        yield sim.env.timeout(start)
        yield fab.transfer(src, dst, nbytes)
        done[i] = sim.now

    procs = [sim.process(one(i, *t), f"t{i}") for i, t in enumerate(transfers)]
    sim.run(sim.env.all_of(procs))
    return sim, fab, done


def test_single_transfer_is_latency_plus_bytes_over_bandwidth():
    topo = switch_domain(2, bw=50.0, lat=0.25)
    g = topo.gpus
    for model in ("flow", "analytic"):
        _, _, done = run_transfers(topo, [(g[0], g[1], 100.0, 0.0)], model)
        assert done[0] == 2.0 + 0.5  # 100/50 + two hops of 0.25


def test_two_flows_into_one_gpu_share_its_link():
    topo = switch_domain(3, bw=100.0)
    g = topo.gpus
    _, fab, done = run_transfers(topo, [(g[0], g[2], 100.0, 0.0), (g[1], g[2], 100.0, 0.0)])
    assert done == {0: 2.0, 1: 2.0}
    assert fab.peak_utilization <= 1 + 1e-9


def test_late_flow_reshares_and_first_speeds_up_after_second_ends():
    # flow A 300 B alone at 100 B/s for 1 s; B (50 B) joins at t=1: both at 50 B/s; B ends at
    # t=2; A has 300-100-50 = 150 left at full rate: ends at 3.5
    topo = switch_domain(3, bw=100.0)
    g = topo.gpus
    _, _, done = run_transfers(topo, [(g[0], g[2], 300.0, 0.0), (g[1], g[2], 50.0, 1.0)])
    assert np.isclose(done[1], 2.0) and np.isclose(done[0], 3.5)


def test_efficiency_scales_capacity_per_domain():
    topo = two_level(2, 1, up_bw=100.0, nic_bw=10.0)
    a, b = topo.gpus
    _, _, done = run_transfers(topo, [(a, b, 10.0, 0.0)], scaleout_efficiency=0.5)
    assert np.isclose(done[0], 2.0)  # 10 B over a 10 B/s NIC at 50 %


def test_link_accounting_bytes_and_busy_time():
    topo = switch_domain(2, bw=10.0)
    a, b = topo.gpus
    sim, fab, _ = run_transfers(topo, [(a, b, 20.0, 0.0)])
    used = fab.link_bytes > 0
    assert np.allclose(fab.link_bytes[used], 20.0)
    assert np.allclose(fab.link_busy[used], 2.0)
    assert used.sum() == 2  # gpu0 -> nvs, nvs -> gpu1


@st.composite
def random_transfers(draw):
    nodes = draw(st.integers(1, 3))
    per = draw(st.integers(1, 3))
    topo = two_level(nodes, per, up_bw=draw(st.floats(5, 100)), nic_bw=draw(st.floats(1, 20)),
                     spines=draw(st.integers(1, 2)), leaf_nodes=draw(st.integers(1, nodes)))
    g = topo.gpus
    k = draw(st.integers(1, 10))
    transfers = []
    for _ in range(k):
        s = draw(st.sampled_from(g))
        d = draw(st.sampled_from(g))
        transfers.append((s, d, draw(st.floats(1.0, 1000.0)), draw(st.floats(0.0, 5.0))))
    return topo, transfers


@settings(max_examples=60, deadline=None)
@given(random_transfers())
def test_fabric_invariants(case):
    topo, transfers = case
    sim, fab, done = run_transfers(topo, transfers)
    # bytes sent equal bytes delivered; no link above its capacity at any time
    assert np.isclose(fab.bytes_sent, fab.bytes_delivered)
    assert fab.peak_utilization <= 1 + 1e-9
    # a link carries at most capacity x busy time, and its bytes equal the flows crossing it
    assert np.all(fab.link_bytes <= fab.capacity * fab.link_busy * (1 + 1e-9) + 1e-9)
    expected = np.zeros(topo.num_links)
    for s, d, nbytes, _ in transfers:
        expected[topo.route(s, d, 0)] += nbytes
    assert np.allclose(fab.link_bytes, expected, rtol=1e-7, atol=1e-6)
    # every transfer takes at least its uncontended time
    for i, (s, d, nbytes, start) in enumerate(transfers):
        links = topo.route(s, d, 0)
        floor = nbytes / fab.capacity[links].min() if len(links) else 0.0
        assert done[i] - start >= floor * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(random_transfers(), st.floats(1.0, 3.0))
def test_more_bandwidth_is_never_slower(case, factor):
    topo, transfers = case
    _, _, slow = run_transfers(topo, [(s, d, b, 0.0) for s, d, b, _ in transfers])
    _, _, fast = run_transfers(topo, [(s, d, b / factor, 0.0) for s, d, b, _ in transfers])
    # scaling every size down by f is the same as scaling every capacity up by f
    assert max(fast.values()) <= max(slow.values()) * (1 + 1e-9)


def test_flow_and_analytic_agree_without_contention():
    topo = two_level(4, 2, up_bw=100.0, nic_bw=10.0, up_lat=1e-6, out_lat=2e-6)
    g = topo.gpus
    pairs = [(g[0], g[3], 1e3), (g[2], g[5], 5e2), (g[4], g[7], 2e3)]  # disjoint links
    for s, d, b in pairs:
        _, _, f = run_transfers(topo, [(s, d, b, 0.0)], "flow")
        _, _, a = run_transfers(topo, [(s, d, b, 0.0)], "analytic")
        assert np.isclose(f[0], a[0], rtol=1e-12)


def test_same_seed_identical_link_tables():
    topo = two_level(2, 2)
    g = topo.gpus
    tr = [(g[0], g[3], 100.0, 0.0), (g[1], g[2], 70.0, 0.5)]
    t1 = run_transfers(topo, tr)[1].link_table()
    t2 = run_transfers(topo, tr)[1].link_table()
    assert t1.equals(t2)


def test_bundle_equals_its_members_on_a_symmetric_job():
    # the same ring step in four 2-node replicas: one bundle moves as the four flows do and
    # leaves exactly the same bytes on every link
    topo = two_level(8, 2, up_bw=100.0, nic_bw=10.0, spines=2, leaf_nodes=2, uplink_bw=20.0)
    g = topo.gpus
    pairs = [(g[2 * r], g[2 * r + 4]) for r in range(4)]

    sim1 = Simulation(0)
    fab1 = Fabric(sim1, topo)
    sim1.run(sim1.env.all_of([fab1.transfer(s, d, 50.0) for s, d in pairs]))
    sim2 = Simulation(0)
    fab2 = Fabric(sim2, topo)
    sim2.run(fab2.transfer_bundle(pairs, 50.0))
    assert sim2.now == pytest.approx(sim1.now, rel=1e-12)
    assert np.allclose(fab1.link_bytes, fab2.link_bytes)
    assert fab2.bytes_delivered == fab1.bytes_delivered == 200.0
    assert fab2.peak_utilization <= 1 + 1e-9


def test_incremental_mode_matches_from_scratch_mode(monkeypatch):
    # 600 random transfers on a 64-GPU fat-tree: the fabric switches to incremental max-min
    # (INCREMENTAL_FLOWS = 512); completion times and link accounting equal the from-scratch
    # fabric's to 1e-9 relative
    import sim.fabric as fabric_mod
    from sim.config import load_config
    from sim.app.traffic import pairs, sizes
    from topologies import build

    cfg = load_config(data={"topology": {"gpus": 64, "fabric": "fat-tree"}})
    topo = build(cfg.topology)
    rng = np.random.default_rng(3)
    src, dst = pairs("random", 64, 600, rng)
    size = sizes(1e4, 1e8, 600, rng)

    def simulate():
        sim = Simulation(0)
        fab = Fabric(sim, topo, "flow", 0.8, 0.95)
        done = np.zeros(600)
        evs = []
        for i in range(600):
            ev = fab.transfer(topo.gpu(int(src[i])), topo.gpu(int(dst[i])), float(size[i]), key=i)
            ev.callbacks.append(lambda _, i=i: done.__setitem__(i, sim.now))
            evs.append(ev)
        sim.run(sim.env.all_of(evs))
        return done, fab

    inc_done, inc = simulate()
    monkeypatch.setattr(fabric_mod, "INCREMENTAL_FLOWS", 10**9)
    ref_done, ref = simulate()
    assert inc._inc is None and inc.active_flows() == 0          # drained: back to the first mode
    np.testing.assert_allclose(inc_done, ref_done, rtol=1e-9)
    np.testing.assert_allclose(inc.link_bytes, ref.link_bytes, rtol=1e-9, atol=1e-3)
    np.testing.assert_allclose(inc.link_busy, ref.link_busy, rtol=1e-9, atol=1e-12)
    assert inc.bytes_delivered == pytest.approx(ref.bytes_delivered, rel=1e-12)
    assert inc.peak_utilization == pytest.approx(ref.peak_utilization, rel=1e-9)


def test_credit_accounts_bytes_like_a_flow_without_one():
    topo = switch_domain(4)
    sim = Simulation(0)
    f = Fabric(sim, topo)
    links = topo.route(topo.gpus[0], topo.gpus[1])
    f.credit(links, np.full(len(links), 1e6), np.full(len(links), 1e-3), tag="TP", peak_utilization=0.5)
    assert f.link_bytes[links].tolist() == [1e6] * len(links)
    assert f.link_busy[links].tolist() == [1e-3] * len(links)
    assert f.bytes_sent == f.bytes_delivered == 1e6 * len(links)
    assert f.bytes_by_tag["TP"] == 1e6 * len(links) and f.peak_utilization == 0.5
    assert f.active_flows() == 0 and sim.now == 0.0


@st.composite
def random_arrivals(draw):
    # random two-level fabrics, transfers and bundles arriving and completing at random times
    nodes = draw(st.integers(2, 6))
    per = draw(st.integers(1, 4))
    topo = two_level(nodes, per, up_bw=draw(st.floats(5, 100)), nic_bw=draw(st.floats(1, 20)),
                     spines=draw(st.integers(1, 3)), leaf_nodes=draw(st.integers(1, nodes)))
    g = topo.gpus
    transfers = []
    for _ in range(draw(st.integers(1, 30))):
        pairs = [(draw(st.sampled_from(g)), draw(st.sampled_from(g))) for _ in range(draw(st.integers(1, 3)))]
        transfers.append((pairs, draw(st.floats(1.0, 1000.0)), draw(st.sampled_from([0.0, 0.5, 1.0, 2.5])) + draw(st.floats(0.0, 3.0))))
    return topo, transfers


def check_groups(fab):
    """After an update: the rates and link loads of the first mode's groups equal a
    from-scratch solve of every active flow (bit for bit: the same arithmetic per component),
    and the groups partition the flows with no link shared between two groups."""
    from sim.fairshare import link_loads, maxmin_rates
    flows = fab._flows
    if fab._inc is not None or not flows:
        assert not fab._groups
        return
    ef = np.repeat(np.arange(len(flows)), [len(f.links) for f in flows])
    el = np.concatenate([f.links for f in flows])
    w = np.concatenate([f.weights for f in flows]) if fab._weighted else None
    ref = maxmin_rates(ef, el, len(flows), fab.capacity, w)
    assert np.array_equal(fab._rates, ref)
    load = link_loads(ef, el, ref, fab.n_links, w)
    assert [f.slot for f in flows] == list(range(len(flows)))
    owner = np.full(fab.n_links, -1)
    seen = 0
    for gid, g in fab._groups.items():
        assert g.gid == gid and g.flows and all(f.group is g for f in g.flows)
        assert [f.slot for f in g.flows] == sorted(f.slot for f in g.flows)
        links = np.unique(np.concatenate([f.links for f in g.flows]))
        assert np.array_equal(g.active, links)
        assert (owner[links] == -1).all()            # no link in two groups
        owner[links] = gid
        assert np.array_equal(g.load, load[links])
        seen += len(g.flows)
    assert seen == len(flows)
    assert np.array_equal(fab._link_group, owner)


def bundle_finish_times(sim, fab, transfers) -> dict:
    """Run ``transfers`` ((pairs, bytes, start s) each) on ``fab`` to completion: {index: finish time}."""
    done = {}

    def one(i, pairs, nbytes, start):
        yield sim.env.timeout(start)
        yield fab.transfer_bundle(pairs, nbytes)
        done[i] = sim.now

    procs = [sim.process(one(i, *t), f"t{i}") for i, t in enumerate(transfers)]
    sim.run(sim.env.all_of(procs))
    return done


@settings(max_examples=80, deadline=None)
@given(random_arrivals())
def test_group_resolve_equals_whole_network_solve(case):
    # a change re-solves only the components of the changed flows' links within the groups
    # they touch; after every change the rates and link loads equal a from-scratch solve of
    # every active flow, and a whole run equals one that re-solves every flow at each change
    topo, transfers = case

    def simulate(whole):
        sim = Simulation(0)
        fab = Fabric(sim, topo, "flow", 0.9, 0.8)
        regroup, update = fab._regroup, fab._update_first

        def everything(touched, pending, seeds):
            groups = {g.gid: g for g in touched} | dict(fab._groups)
            links = [f.links for f in fab._flows]
            regroup(list(groups.values()), pending, np.concatenate(links) if links else seeds)

        def checked(now):
            update(now)
            check_groups(fab)
        if whole:
            fab._regroup = everything
        fab._update_first = checked
        done = bundle_finish_times(sim, fab, transfers)
        assert not fab._groups and (fab._link_group == -1).all()
        return done, fab

    part_done, part = simulate(False)
    ref_done, ref = simulate(True)
    assert part_done == ref_done
    np.testing.assert_allclose(part.link_bytes, ref.link_bytes, rtol=1e-12)
    np.testing.assert_allclose(part.link_busy, ref.link_busy, rtol=1e-12)
    assert part.peak_utilization == ref.peak_utilization
    assert part.rate_computations == ref.rate_computations


@settings(max_examples=60, deadline=None)
@given(random_arrivals())
def test_small_update_paths_equal_the_array_paths(case):
    # below SCALAR_FLOWS active flows completions and wake-ups are found on Python floats, a
    # re-solve of SMALL_ENTRIES or fewer runs maxmin_small, and a fabric under SMALL_FABRIC_LINKS
    # links numbers its links by marking them: a run equals the one on numpy's paths bit for bit
    import sim.fabric as fabric_mod
    topo, transfers = case

    def simulate():
        sim = Simulation(0)
        fab = Fabric(sim, topo, "flow", 0.9, 0.8)
        done = bundle_finish_times(sim, fab, transfers)
        return done, fab

    small_done, small = simulate()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fabric_mod, "SCALAR_FLOWS", 0)
        mp.setattr(fabric_mod, "SMALL_ENTRIES", -1)
        mp.setattr(fabric_mod, "SMALL_FABRIC_LINKS", 0)
        ref_done, ref = simulate()
    assert small_done == ref_done
    assert small.link_bytes.tobytes() == ref.link_bytes.tobytes()
    assert small.link_busy.tobytes() == ref.link_busy.tobytes()
    assert small.peak_utilization == ref.peak_utilization
    assert small.rate_computations == ref.rate_computations


def test_groups_owe_link_bytes_until_read():
    # a group pays its links when it changes or when read, up to the last fabric update
    topo = switch_domain(4, bw=10.0, lat=0.0)
    g = topo.gpus
    sim = Simulation(0)
    fab = Fabric(sim, topo, "flow")
    a = topo.route(g[0], g[1])
    b = topo.route(g[2], g[3])
    fab.transfer(g[0], g[1], 100.0)
    sim.run(until=0.5)
    fab.transfer(g[2], g[3], 100.0)                  # disjoint links: a second group
    sim.run(until=1.0)
    assert len(fab._groups) == 2
    assert fab.link_bytes[a].tolist() == [5.0, 5.0]  # paid up to the last update (t = 0.5)
    assert fab.link_bytes[b].tolist() == [0.0, 0.0]
    fab.transfer(g[0], g[3], 50.0)                   # meets both groups: one group
    sim.run(until=2.0)
    assert len(fab._groups) == 1
    assert fab.link_bytes[a].tolist() == [10.0, 10.0]
    assert fab.link_bytes[b].tolist() == [5.0, 5.0]
    sim.run()
    assert not fab._groups and (fab._link_group == -1).all()
    assert np.isclose(fab.link_bytes.sum(), 2 * fab.bytes_delivered)   # two links per route
