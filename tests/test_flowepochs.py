"""Flow epochs: closed forms, the invariants at any tolerance, eps = 0 against the fabric's
exact max-min simulation, and the stated error bound of the approximate mode."""

import numpy as np
import pytest

from sim.config import load_config
from sim.flowepochs import drain


def test_one_link_closed_form():
    # three flows of 1, 2, 3 bytes on a 1 B/s link: exact max-min drains them at 3, 5, 6 s
    routes = [np.array([0])] * 3
    sizes = np.array([1.0, 2.0, 3.0])
    exact = drain(routes, sizes, np.zeros(3), np.array([1.0]), 0.0)
    assert exact["fct"] == pytest.approx([3.0, 5.0, 6.0], rel=1e-12)
    assert exact["epochs"] == 3
    # eps = 0.5: after the first completion (t = 3) both others drain within 2 + 0.5 x 5 s, so
    # they share one epoch: the 2-byte flow is exact (5 s), the 3-byte one keeps its 1/2 B/s
    # after the first leaves (the freed half stays unused): 3 + 2 / 0.5 = 7 s
    approx = drain(routes, sizes, np.full(3, 0.25), np.array([1.0]), 0.5)
    assert approx["fct"] == pytest.approx([3.25, 5.25, 7.25], rel=1e-12)
    assert approx["epochs"] == 2


def test_bad_tolerance_and_empty_route():
    with pytest.raises(ValueError, match="tolerance"):
        drain([np.array([0])], np.ones(1), np.zeros(1), np.ones(1), -0.1)
    with pytest.raises(ValueError, match="link"):
        drain([np.array([], dtype=np.int64)], np.ones(1), np.zeros(1), np.ones(1), 0.0)


def _random_case(gpus=64, flows=700, seed=3):
    from sim.app.traffic import completion_times
    cfg = load_config(data={"topology": {"gpus": gpus, "fabric": "fat-tree"}})
    return cfg, completion_times, dict(pattern="random", flows=flows, lo=64 * 1024, hi=16 * 2**20, seed=seed)


def _routes(gpus, flows, seed):
    # the same transfers as dcsim traffic draws (pairs, sizes, routes keyed by index)
    from sim.app.traffic import pairs, sizes
    from sim.collectives import default_efficiencies
    from sim.fabric import Fabric
    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build
    cfg = load_config(data={"topology": {"gpus": gpus, "fabric": "fat-tree"}})
    rng = np.random.default_rng(seed)
    topo = build(cfg.topology)
    src, dst = pairs("random", gpus, flows, rng)
    size = sizes(64 * 1024, 16 * 2**20, flows, rng)
    eff = default_efficiencies(gpu_spec(cfg.topology.gpu))
    fab = Fabric(Simulation(0), topo, "flow", eff["scaleup"], eff["scaleout"])
    routes = [topo.route(topo.gpus[s], topo.gpus[d], i) for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist()))]
    lat = np.array([topo.path_latency(r) for r in routes])
    return routes, size, lat, fab.capacity


@pytest.mark.parametrize("flows", [300, 700])     # the fabric's first mode and its incremental mode
def test_eps_zero_is_the_fabrics_exact_simulation(flows):
    cfg, completion_times, kw = _random_case(flows=flows)
    exact, _, info = completion_times(cfg, **kw, rate_tolerance=0.0)
    assert info["rate_tolerance"] == 0.0
    routes, size, lat, cap = _routes(64, flows, kw["seed"])
    mine = drain(routes, size, lat, cap, 0.0)
    np.testing.assert_allclose(mine["fct"], exact, rtol=1e-9)


@pytest.mark.parametrize("eps", [0.0, 0.01, 0.1])
def test_invariants_at_any_tolerance(eps):
    routes, size, lat, cap = _routes(64, 700, 5)
    out = drain(routes, size, lat, cap, eps, link_bytes=True)
    # no link above its capacity in any epoch
    assert out["peak_utilization"] <= 1 + 1e-9
    # bytes conserved: each link carried exactly the bytes of the flows crossing it
    want = np.zeros(len(cap))
    for r, b in zip(routes, size):
        want[r] += b
    np.testing.assert_allclose(out["link_bytes"], want, rtol=1e-9, atol=1e-3)
    assert np.isfinite(out["fct"]).all() and (out["fct"] > lat).all()


@pytest.mark.parametrize("eps", [0.01, 0.05])
def test_approximate_mode_within_its_stated_bound(eps):
    # stated bound (sim/flowepochs.py): every flow's FCT within eps (relative) of exact,
    # makespan and FCT percentiles within eps / 2
    cfg, completion_times, kw = _random_case(flows=700)
    exact, _, _ = completion_times(cfg, **kw, rate_tolerance=0.0)
    approx, _, info = completion_times(cfg, **kw, rate_tolerance=eps)
    assert info["rate_tolerance"] == eps and info["rate_computations"] < 700
    err = np.abs(approx - exact) / exact
    assert err.max() <= eps
    for q in (50, 99, 100):
        assert abs(np.percentile(approx, q) / np.percentile(exact, q) - 1) <= eps / 2
