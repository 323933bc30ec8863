"""Max-min fair rates against hand-solved examples and invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fairshare import link_loads, maxmin_rates, maxmin_small


def test_shared_bottleneck_hand_solved():
    # three flows share link 0 (cap 3); flow 0 is also limited by link 1 (cap 0.5):
    # flow 0 gets 0.5, the other two split the remaining 2.5
    rates = maxmin_rates(np.array([0, 1, 2, 0]), np.array([0, 0, 0, 1]), 3, np.array([3.0, 0.5]))
    assert np.allclose(rates, [0.5, 1.25, 1.25])


def test_parking_lot_chain():
    # a long flow over three unit links and one short flow on each: every flow gets 1/2
    rates = maxmin_rates(np.array([0, 0, 0, 1, 2, 3]), np.array([0, 1, 2, 0, 1, 2]), 4, np.ones(3))
    assert np.allclose(rates, [0.5, 0.5, 0.5, 0.5])


def test_parking_lot_with_unequal_capacities():
    # long flow crosses links of capacity 1 and 4; link 1 also carries two short flows:
    # link 0 saturates first (long 0.5, short-a 0.5), then link 1 leaves (4 - 0.5)/2 = 1.75 each
    ef = np.array([0, 0, 1, 2, 3])
    el = np.array([0, 1, 0, 1, 1])
    rates = maxmin_rates(ef, el, 4, np.array([1.0, 4.0]))
    assert np.allclose(rates, [0.5, 0.5, 1.75, 1.75])


def test_flow_without_links_is_unbounded():
    rates = maxmin_rates(np.array([1]), np.array([0]), 2, np.array([2.0]))
    assert np.isinf(rates[0]) and rates[1] == 2.0


@st.composite
def flow_sets(draw):
    n_links = draw(st.integers(1, 8))
    n_flows = draw(st.integers(1, 12))
    cap = np.array(draw(st.lists(st.floats(0.1, 100.0), min_size=n_links, max_size=n_links)))
    ef, el = [], []
    for f in range(n_flows):
        links = draw(st.sets(st.integers(0, n_links - 1), min_size=1, max_size=n_links))
        for link in sorted(links):
            ef.append(f)
            el.append(link)
    return np.array(ef), np.array(el), n_flows, cap


@settings(max_examples=200, deadline=None)
@given(flow_sets())
def test_maxmin_invariants(case):
    ef, el, n, cap = case
    rates = maxmin_rates(ef, el, n, cap)
    load = link_loads(ef, el, rates, len(cap))
    # feasible: no link above capacity
    assert np.all(load <= cap * (1 + 1e-9))
    # max-min: every flow crosses a saturated link on which it has the largest rate
    for f in range(n):
        links = el[ef == f]
        ok = False
        for link in links:
            if load[link] >= cap[link] * (1 - 1e-9):
                on_link = ef[el == link]
                if rates[f] >= rates[on_link].max() * (1 - 1e-9):
                    ok = True
        assert ok, f"flow {f} could grow"


@settings(max_examples=100, deadline=None)
@given(flow_sets(), st.floats(1.0, 4.0))
def test_more_capacity_never_lowers_the_minimum_rate(case, factor):
    ef, el, n, cap = case
    before = maxmin_rates(ef, el, n, cap)
    after = maxmin_rates(ef, el, n, cap * factor)
    assert after.min() >= before.min() * (1 - 1e-9)


def reference_progressive_filling(ef, el, n, cap):
    """Textbook progressive filling, one saturating link per round (slow, obviously right)."""
    rates = np.zeros(n)
    frozen = np.zeros(n, bool)
    remaining = cap.astype(float).copy()
    while not frozen.all():
        best, best_link = np.inf, None
        for link in range(len(cap)):
            flows = [f for f in ef[el == link] if not frozen[f]]
            if flows and remaining[link] / len(flows) < best:
                best, best_link = remaining[link] / len(flows), link
        for f in set(ef[el == best_link]):
            if not frozen[f]:
                frozen[f] = True
                rates[f] = best
                for link in el[ef == f]:
                    remaining[link] -= best
    return rates


@settings(max_examples=150, deadline=None)
@given(flow_sets())
def test_parallel_water_filling_equals_textbook_progressive_filling(case):
    ef, el, n, cap = case
    assert np.allclose(maxmin_rates(ef, el, n, cap), reference_progressive_filling(ef, el, n, cap), rtol=1e-7)


@settings(max_examples=100, deadline=None)
@given(flow_sets(), st.integers(1, 4))
def test_bundle_weight_equals_that_many_replicated_flows(case, k):
    # a bundle with weight k on each of its links gets the rate of each of k identical flows
    ef, el, n, cap = case
    weighted = maxmin_rates(ef, el, n, cap, np.full(len(ef), float(k)))
    rep_ef = np.concatenate([ef + i * n for i in range(k)])
    rep_el = np.tile(el, k)
    replicated = maxmin_rates(rep_ef, rep_el, n * k, cap)
    assert np.allclose(weighted, replicated[:n], rtol=1e-7)


# -- the incremental solver ----------------------------------------------------------------------

@st.composite
def flow_histories(draw, max_links=10, max_adds=6, tied=False):
    """A random network (links with capacities), then a random sequence of batches: each batch
    adds some flows (random link sets, some weighted) and completes some active ones.
    ``tied``: capacities from {1, 2, 4}, so that many links saturate at equal levels."""
    n_links = draw(st.integers(1, max_links))
    value = st.sampled_from([1.0, 2.0, 4.0]) if tied else st.floats(0.1, 100.0)
    cap = draw(st.lists(value, min_size=n_links, max_size=n_links))
    batches = []
    for _ in range(draw(st.integers(1, 12))):
        adds = []
        for _ in range(draw(st.integers(0, max_adds))):
            links = sorted(draw(st.sets(st.integers(0, n_links - 1), min_size=1, max_size=min(n_links, 4))))
            weights = [draw(st.sampled_from([1.0, 1.0, 2.0, 3.0])) for _ in links]
            adds.append((links, weights))
        removes = draw(st.lists(st.integers(0, 10**6), max_size=4))   # picks among active flows
        batches.append((adds, removes))
    return np.array(cap), batches


def scratch(active: dict, cap: np.ndarray) -> dict:
    ids = sorted(active)
    ef, el, ew = [], [], []
    for i, f in enumerate(ids):
        links, weights = active[f]
        ef += [i] * len(links)
        el += links
        ew += weights
    rates = maxmin_rates(np.array(ef, dtype=np.int64), np.array(el, dtype=np.int64), len(ids), cap, np.array(ew))
    return dict(zip(ids, rates))


def run_history(cap, batches):
    from sim.fairshare import IncrementalMaxMin
    inc = IncrementalMaxMin(cap)
    active: dict = {}
    next_id = 0
    for adds, removes in batches:
        for r in removes:
            if active:
                f = sorted(active)[r % len(active)]
                del active[f]
                inc.remove(f)
        for links, weights in adds:
            active[next_id] = (links, weights)
            inc.add(next_id, links, weights)
            next_id += 1
        changed, _ = inc.solve()
        want = scratch(active, cap)
        for f, r in want.items():
            assert inc.rate[f] == pytest.approx(r, rel=1e-9)
        # the load of every link is the sum of its flows' rates
        load = np.zeros(len(cap))
        for f, (links, weights) in active.items():
            load[links] += np.array(weights) * want[f]
        assert np.allclose(inc.load, load, rtol=1e-9, atol=1e-9 * cap.max())


@settings(max_examples=300, deadline=None)
@given(flow_histories())
def test_incremental_equals_from_scratch(history):
    run_history(*history)


@settings(max_examples=80, deadline=None)
@given(flow_histories(max_links=16, max_adds=20))
def test_incremental_equals_from_scratch_with_many_flows_per_link(history):
    # denser histories: a completion moves flows several links away (cascades)
    run_history(*history)


@settings(max_examples=100, deadline=None)
@given(flow_histories(max_links=8, max_adds=10, tied=True))
def test_incremental_equals_from_scratch_with_tied_levels(history):
    run_history(*history)


def test_incremental_dominated_link_counts_again_once_a_flow_needs_it():
    # links 0..3 (capacity 10) each carry one flow that also crosses the shared link 4
    # (capacity 4): every private link is dominated and left out. Then a flow over link 0 alone
    # arrives: link 0 is no longer dominated and becomes the second flow's bottleneck there
    from sim.fairshare import IncrementalMaxMin
    cap = np.array([10.0, 10.0, 10.0, 10.0, 4.0])
    inc = IncrementalMaxMin(cap)
    for f in range(4):
        inc.add(f, [f, 4])
    inc.solve()
    assert [inc.rate[f] for f in range(4)] == [1.0] * 4
    assert all(inc.dominated[f] == {4} for f in range(4)) and not inc.dominated[4]
    inc.add(4, [0])
    inc.solve()
    assert not inc.dominated[0]
    assert inc.rate[4] == pytest.approx(9.0)           # link 0 leaves 10 - 1 to the new flow
    inc.remove(1)
    inc.remove(2)
    inc.remove(3)
    inc.solve()
    # link 4 (4) saturates first and freezes flow 0 at 4; flow 4 takes the 6 left on link 0
    assert inc.rate[0] == pytest.approx(4.0) and inc.rate[4] == pytest.approx(6.0)
    assert inc.load == pytest.approx([10.0, 0.0, 0.0, 0.0, 4.0])


def test_incremental_completion_resolves_few_flows():
    # 2,000 flows, each on its own private link plus one of 100 shared links: a completion
    # re-solves the flows of one shared link, not all 2,000
    from sim.fairshare import IncrementalMaxMin
    rng = np.random.default_rng(0)
    cap = rng.uniform(1, 2, 2100)
    inc = IncrementalMaxMin(cap)
    for f in range(2000):
        inc.add(f, [f, 2000 + f % 100])
    inc.solve()
    before = inc.solved_flows
    inc.remove(7)
    changed, _ = inc.solve()
    assert 0 < inc.solved_flows - before <= 40
    assert set(changed) <= {f for f in range(2000) if f % 100 == 7}


@settings(max_examples=200, deadline=None)
@given(flow_sets())
def test_dense_layout_gives_the_same_rates_bit_for_bit(case):
    from sim.fairshare import maxmin_dense
    ef, el, n, cap = case
    k = int(np.bincount(ef).max())
    rows = np.full((n, k), -1)
    for f in range(n):
        links = el[ef == f]
        rows[f, :len(links)] = links
    assert np.array_equal(maxmin_dense(rows, cap), maxmin_rates(ef, el, n, cap))


def test_dense_layout_refuses_a_flow_without_links():
    from sim.fairshare import maxmin_dense
    with pytest.raises(ValueError, match="link"):
        maxmin_dense(np.array([[0], [-1]]), np.ones(1))


@st.composite
def small_weighted_sets(draw):
    # few links of a handful of capacities (ties between shares), flows over 0..4 of them, in
    # flow order, weights of bundles and spread routes (or none)
    n_links = draw(st.integers(1, 10))
    cap = [draw(st.sampled_from([1e9, 2e9, 3.3e9, 12.5e9, 50e9])) * draw(st.sampled_from([1.0, 0.9, 1 + 1e-10]))
           for _ in range(n_links)]
    n_flows = draw(st.integers(1, 9))
    ef, el, w = [], [], []
    for f in range(n_flows):
        for link in sorted(draw(st.sets(st.integers(0, n_links - 1), max_size=min(n_links, 4)))):
            ef.append(f)
            el.append(link)
            w.append(draw(st.sampled_from([1.0, 2.0, 0.5, 0.25, 3.0, 1 / 3])))
    return ef, el, n_flows, cap, (w if draw(st.booleans()) else None)


@settings(max_examples=400, deadline=None)
@given(small_weighted_sets())
def test_maxmin_small_equals_the_arrays_bit_for_bit(case):
    # the fabric's small re-solves (sim.fabric.SMALL_ENTRIES) run maxmin_small: the same rates
    # and link loads as maxmin_rates + link_loads, to the last bit (shared and unshared links,
    # weighted or not, flows without links)
    ef, el, n, cap, w = case
    e_f, e_l = np.array(ef, dtype=np.int64), np.array(el, dtype=np.int64)
    W = np.array(w) if w is not None else None
    rates = maxmin_rates(e_f, e_l, n, np.array(cap), W, compact=True)
    load = link_loads(e_f, e_l, rates, len(cap), W)
    got = maxmin_small(ef, el, n, cap, w)
    assert got is not None
    assert np.array(got[0]).tobytes() == rates.tobytes()
    assert np.array(got[1]).tobytes() == load.tobytes()


def test_maxmin_small_refuses_entries_out_of_flow_order():
    # entries not grouped by flow in order: None (the caller solves on arrays)
    assert maxmin_small([1, 0], [0, 0], 2, [1.0]) is None
    rates, load = maxmin_small([0, 1], [0, 0], 2, [1.0])
    assert rates == [0.5, 0.5] and load == [1.0]
