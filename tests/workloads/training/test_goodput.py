"""workloads.training.goodput: the long-horizon timeline against closed forms."""

import math

import numpy as np
import pytest

from sim.failures import FailureModel, failure_model, poisson_interval, young_daly_interval
from workloads.training.goodput import Checkpoint, checkpoint_cost, simulate_timeline


def _fm(mtbf_s: float, recovery_s: float = 0.0) -> FailureModel:
    return FailureModel({"gpu": 1.0 / mtbf_s}, recovery_s / 2, recovery_s / 2)


def _sync(stall: float) -> Checkpoint:
    return Checkpoint(1e12, stall, stall, False)


def test_without_failures_goodput_is_work_over_work_plus_checkpoints():
    none = FailureModel({}, 0.0, 0.0)
    s, tl = simulate_timeline(2.0, 100_000.0, _sync(10.0), 100.0, none, seed=0)
    assert s["interruptions"] == 0
    assert s["goodput"] == pytest.approx(100.0 / 110.0, rel=1e-3)
    assert s["checkpoint_interval_s"] == 100.0


def test_best_interval_of_a_sweep_is_within_20_percent_of_young_daly():
    delta, mtbf = 60.0, 3600.0
    fm = _fm(mtbf)
    intervals = np.geomspace(200, 2000, 13)
    good = [simulate_timeline(10.0, 1500 * mtbf, _sync(delta), float(iv), fm, seed=7)[0]["goodput"]
            for iv in intervals]
    # the sweep's optimum: vertex of a parabola through goodput against log(interval) (the curve is
    # flat at the top, so the argmax alone is at the mercy of the failure draw)
    a, b, _ = np.polyfit(np.log(intervals), good, 2)
    assert a < 0
    best = float(np.exp(-b / (2 * a)))
    opt = young_daly_interval(delta, mtbf)
    assert abs(best - opt) / opt < 0.20, (best, opt)


def test_expected_failures_equal_rate_times_device_hours_within_the_poisson_interval():
    fm = failure_model({"gpu": 16384, "nic": 16384, "host": 2048})
    horizon = 54 * 86400.0
    for seed in range(3):
        s, _ = simulate_timeline(15.0, horizon, _sync(3.0), 3000.0, fm, seed=seed)
        lo, hi = poisson_interval(s["interruptions"], 0.99)
        assert lo <= fm.expected(horizon) <= hi


def test_phases_tile_the_wall_time_and_lost_work_is_since_the_last_checkpoint():
    s, tl = simulate_timeline(3.0, 50_000.0, _sync(5.0), 60.0, _fm(2000.0, 100.0), seed=3)
    start, end = tl.column("start_s").to_numpy(), tl.column("end_s").to_numpy()
    assert start[0] == 0 and np.allclose(start[1:], end[:-1]) and end[-1] == pytest.approx(50_000.0)
    # a failure never loses more than one interval of steps
    assert tl.column("lost_steps").to_numpy().max() <= 20
    phases = set(tl.column("phase").to_pylist())
    assert {"train", "checkpoint", "recovery"} <= phases
    useful = s["useful_steps"] * 3.0
    assert s["goodput"] == pytest.approx(useful / 50_000.0)
    causes = [c for c in tl.column("cause").to_pylist() if c]
    assert len(causes) == s["interruptions"]


def test_same_seed_same_timeline_and_another_seed_differs():
    args = (3.0, 50_000.0, _sync(5.0), 60.0, _fm(2000.0, 100.0))
    a = simulate_timeline(*args, seed=1)
    b = simulate_timeline(*args, seed=1)
    c = simulate_timeline(*args, seed=2)
    assert a[0] == b[0] and a[1].equals(b[1])
    assert not a[1].equals(c[1])


def test_async_checkpoints_stall_less_than_sync():
    fm = _fm(5000.0, 60.0)
    sync = simulate_timeline(1.0, 500_000.0, Checkpoint(1e12, 30.0, 30.0, False), 300.0, fm, seed=4)[0]
    asyn = simulate_timeline(1.0, 500_000.0, Checkpoint(1e12, 1.0, 30.0, True), 300.0, fm, seed=4)[0]
    assert asyn["goodput"] > sync["goodput"]
    assert asyn["checkpoint_s"] == 1.0


def test_async_write_longer_than_the_interval_makes_training_wait():
    none = FailureModel({}, 0.0, 0.0)
    s, tl = simulate_timeline(1.0, 10_000.0, Checkpoint(1e12, 1.0, 50.0, True), 10.0, none, seed=0)
    assert "checkpoint_wait" in set(tl.column("phase").to_pylist())
    # a checkpoint every 50 s of wall time at best: 10 steps, wait, 1 s copy
    assert s["goodput"] == pytest.approx(10.0 / 50.0, rel=0.05)


def test_token_budget_stops_the_job():
    none = FailureModel({}, 0.0, 0.0)
    s, _ = simulate_timeline(2.0, math.inf, _sync(1.0), 10.0, none, seed=0, max_steps=100)
    assert s["useful_steps"] == 100
    assert s["wall_h"] * 3600 == pytest.approx(100 * 2.0 + 19 * 1.0)


def test_checkpoint_cost_from_state_bytes_and_storage_tier():
    # 8B parameters x 14 bytes over 2 servers with 7 GB/s SSDs each
    c = checkpoint_cost(8e9, 16, 2, 64e9, 7e9, 400e9, None, False)
    assert c.bytes_total == pytest.approx(112e9)
    assert c.stall_s == pytest.approx(112e9 / 2 / 7e9)
    # a storage tier of 10 GB/s is the bottleneck; async stalls only for the HBM -> host copy
    a = checkpoint_cost(8e9, 16, 2, 64e9, 7e9, 400e9, 10e9, True)
    assert a.write_s == pytest.approx(11.2) and a.stall_s == pytest.approx(112e9 / 16 / 64e9)


def test_a_budget_the_job_cannot_reach_is_an_infeasible_plan(monkeypatch):
    from sim.errors import InfeasibleError
    from workloads.training import goodput
    monkeypatch.setattr(goodput, "MAX_ROWS", 1000)
    # failures every 10 s, checkpoints every 100 s: no checkpoint ever completes
    with pytest.raises(InfeasibleError, match="run.token_budget"):
        simulate_timeline(1.0, math.inf, _sync(5.0), 100.0, _fm(10.0, 1.0), seed=0, max_steps=10_000)


def test_without_failures_or_an_interval_the_job_never_checkpoints():
    # Young/Daly's interval is infinite without failures: every step of the horizon is useful
    # (this raised OverflowError converting the infinite interval to a step count)
    none = FailureModel({}, 0.0, 0.0)
    s, tl = simulate_timeline(2.0, 1000.0, _sync(10.0), math.inf, none, seed=0)
    assert s["checkpoints"] == 0 and s["useful_steps"] == 500 and s["goodput"] == 1.0
    assert s["checkpoint_interval_s"] is None and s["mtbf_s"] is None     # null, not an infinity
    assert tl.column("phase").to_pylist() == ["train"]


def test_failures_faster_than_a_recovery_can_complete_are_infeasible():
    from sim.errors import InfeasibleError
    # failures every 1 s, 1,000 s to recover: each recovery restarts ~e^1000 times (this grew the
    # timeline without bound inside the recovery loop)
    with pytest.raises(InfeasibleError, match="failures") as err:
        simulate_timeline(1.0, 3600.0, _sync(5.0), 100.0, _fm(1.0, 1000.0), seed=0)
    assert err.value.key == "failures"
    # a recovery that usually completes is simulated (recovery x rate = 0.5)
    s, _ = simulate_timeline(1.0, 3600.0, _sync(5.0), 100.0, _fm(200.0, 100.0), seed=0)
    assert s["interruptions"] > 0


# -- checkpoints as fabric flows ---------------------------------------------------------------

def _fabric_and_storage(storage_GBps: float):
    import topologies
    from sim.fabric import Fabric
    from sim.simulation import Simulation
    from topologies import preset_spec
    from workloads.training.goodput import attach_storage
    topo = topologies.build(preset_spec("dgx-h100-superpod", gpus=16))
    storage = attach_storage(topo, storage_GBps * 1e9)
    sim = Simulation(0)
    return sim, Fabric(sim, topo), topo, storage


def _write(sim, fabric, topo, storage, total: float, gpus: int = 16):
    from workloads.training.goodput import checkpoint_pairs, write_shards
    done = []
    proc = sim.process(write_shards(sim, fabric, checkpoint_pairs(topo, gpus, storage), total / gpus, 4, done), "ckpt")
    return proc, done


def test_checkpoint_write_alone_moves_the_state_bytes_at_the_storage_tier_rate():
    total = 8e9 * 14                              # 8B parameters, weights + Adam state
    sim, fabric, topo, storage = _fabric_and_storage(10.0)
    proc, done = _write(sim, fabric, topo, storage, total)
    sim.run(proc)
    assert fabric.bytes_by_tag["checkpoint"] == pytest.approx(total)        # conservation
    assert fabric.bytes_delivered == pytest.approx(fabric.bytes_sent)
    # the 10 GB/s tier is the bottleneck: the closed form, within the path latency of 4 rounds
    bound = checkpoint_cost(8e9, 16, 2, 64e9, 7e9, 8 * 50e9, 10e9, False)
    assert done[-1] == pytest.approx(bound.write_s, rel=1e-4)
    # per-host SSDs: each server's 8 GPUs share its SSD (through host memory)
    sim, fabric, topo, _ = _fabric_and_storage(10.0)
    proc, done = _write(sim, fabric, topo, None, total)
    sim.run(proc)
    assert fabric.bytes_by_tag["checkpoint"] == pytest.approx(total)
    assert done[-1] == pytest.approx(total / 2 / 7e9, rel=1e-4)


def test_checkpoint_write_and_job_traffic_over_the_same_nics_slow_each_other():
    total = 8e9 * 14
    gpus = topo_gpus = 16

    def job_traffic(sim, fabric, topo):
        # every GPU of server 0 sends 20 GB to its peer on server 1 (a DP exchange over the NICs)
        evs = [fabric.transfer(topo.gpu(r), topo.gpu(r + 8), 20e9, tag="DP") for r in range(8)]
        t = {}
        sim.env.all_of(evs).callbacks.append(lambda _e: t.setdefault("job", sim.now))
        return t

    sim, fabric, topo, storage = _fabric_and_storage(2000.0)     # the NICs, not the tier, limit the write
    proc, done = _write(sim, fabric, topo, storage, total, gpus)
    sim.run(proc)
    write_alone = done[-1]
    sim, fabric, topo, storage = _fabric_and_storage(2000.0)
    t = job_traffic(sim, fabric, topo)
    sim.run()
    job_alone = t["job"]
    sim, fabric, topo, storage = _fabric_and_storage(2000.0)
    proc, done = _write(sim, fabric, topo, storage, total, topo_gpus)
    t = job_traffic(sim, fabric, topo)
    sim.run()
    assert done[-1] > 1.2 * write_alone and t["job"] > 1.2 * job_alone
    assert fabric.bytes_by_tag["checkpoint"] == pytest.approx(total)
    assert fabric.bytes_by_tag["DP"] == pytest.approx(8 * 20e9)


def test_storage_tier_needs_a_switched_fabric():
    import topologies
    from sim.errors import ConfigError
    from topologies import preset_spec
    from workloads.training.goodput import attach_storage
    topo = topologies.build(preset_spec("dgx-h100-superpod", gpus=8, fabric="none"))
    with pytest.raises(ConfigError, match="storage_GBps"):
        attach_storage(topo, 1e9)


def test_default_async_interval_leaves_the_write_time_to_finish():
    from workloads.training.goodput import default_interval
    fm = _fm(3 * 3600.0)
    quick = Checkpoint(1e12, 0.01, 60.0, True)
    assert default_interval(quick, fm) == pytest.approx(60.0 - 0.01)
    assert default_interval(Checkpoint(1e12, 0.01, 0.02, True), fm) == pytest.approx(young_daly_interval(0.01, fm.mtbf_s))


def test_a_horizon_of_more_phases_than_the_timeline_holds_is_refused_before_the_loop(monkeypatch):
    """No phase outlasts max(interval of training, stall, write, recovery): a horizon holding more than
    MAX_ROWS such spans passes MAX_ROWS phases whatever the failures draw. That was found only after
    building 5,000,000 rows (seconds to minutes); now it is refused before the first draw."""
    from sim.errors import InfeasibleError
    from workloads.training import goodput

    def no_draws(seed):
        raise AssertionError("the timeline was simulated")
    monkeypatch.setattr(goodput.np.random, "default_rng", no_draws)
    monkeypatch.setattr(goodput, "MAX_ROWS", 1000)
    # a checkpoint every 10 s of 1 s steps, a 5 s stall, recovery 60 s: no phase exceeds 60 s, so
    # 1010 x 60 s of horizon hold over 1008 phases; the refusal names the key and the figures
    with pytest.raises(InfeasibleError) as err:
        simulate_timeline(1.0, 1010 * 60.0, _sync(5.0), 10.0, _fm(3600.0, 60.0), seed=0)
    assert err.value.key == "run.duration_h" and "would pass 1,000 phases" in str(err.value)
    # 999 spans of 60 s: the bound does not say it must fail, so the loop runs (and here draws)
    with pytest.raises(AssertionError, match="simulated"):
        simulate_timeline(1.0, 999 * 60.0, _sync(5.0), 10.0, _fm(3600.0, 60.0), seed=0)


def test_the_up_front_refusal_agrees_with_the_loop(monkeypatch):
    """The bound is a true lower bound: where it refuses, the loop (run anyway) passes MAX_ROWS too."""
    from sim.errors import InfeasibleError
    from workloads.training import goodput
    monkeypatch.setattr(goodput, "MAX_ROWS", 1000)
    args = (1.0, 1010 * 60.0, _sync(5.0), 10.0, _fm(3600.0, 60.0))
    with pytest.raises(InfeasibleError, match="would pass"):
        simulate_timeline(*args, seed=0)
    monkeypatch.setattr(goodput, "MAX_ROWS", 10 ** 9)        # no up-front refusal: count the rows
    _, timeline = simulate_timeline(*args, seed=0)
    assert timeline.num_rows > 1000 + 4        # past what the loop can end at without refusing
    longest = max(b - a for a, b in zip(timeline.column("start_s").to_pylist(), timeline.column("end_s").to_pylist()))
    assert longest <= 60.0 + 1e-9
