"""sim.stragglers and the training step's slowest-rank rule, against closed forms."""

import numpy as np
import pytest

from sim.app.runner import run
from sim.config import load_config
from sim.errors import ConfigError
from sim.stragglers import cap_speed, speed_factors

PIPE = {"topology": {"gpus": 4, "gpus_per_node": 4, "fabric": "none"},
        "model": {"preset": "llama3-8b", "layers": 4, "seq_len": 1024},
        "train": {"pp": 4, "schedule": "gpipe", "micro_batch": 1, "global_batch": 8, "optimizer_step": False}}


def _run(**topology):
    data = {k: dict(v) for k, v in PIPE.items()}
    data["topology"].update(topology)
    return run(load_config(data=data))


def _flow_shop_extra(c: list[float], slow_stage: int, m: int, k: float = 2.0) -> float:
    """GPipe as a flow shop of m identical micro-batches over stages of time t_i per direction:
    makespan = sum t_i + (m - 1) max t_i. Slowing one stage by k multiplies its t by k; with
    per-stage step compute c_i = m (f_i + b_i), the step grows by (k - 1) c_s / m + (m - 1) / m
    (max c' - max c). Exact when the slowest stage is the same in both directions (the slowed
    stage clearly the bottleneck, or clearly not)."""
    c2 = list(c)
    c2[slow_stage] *= k
    return (k - 1) * c[slow_stage] / m + (m - 1) / m * (max(c2) - max(c))


@pytest.mark.parametrize("stage", [2, 3])
def test_one_slow_gpu_runs_the_step_at_its_pace(stage):
    base = _run()
    # 0.4: the slowed stage is the bottleneck in the forward and the backward alike (at 0.5 a
    # middle stage ties the last, whose LM head weighs differently in the two directions)
    slow = _run(gpu_speed={str(stage): 0.4})     # tp = dp = 1: rank = stage
    steps = base.tables["steps"].to_pydict()
    c = [steps["compute_s"][steps["stage"].index(i)] for i in range(4)]
    m = base.summary["microbatches"]
    extra = slow.summary["step_time_s"] - base.summary["step_time_s"]
    assert extra == pytest.approx(_flow_shop_extra(c, stage, m, 2.5), rel=0.02)
    if stage == 3:      # the bottleneck stage (it holds the LM head): 1.5 x the whole compute again
        assert extra == pytest.approx(1.5 * c[3], rel=0.02)
    # a factor of 1 changes nothing
    same = _run(gpu_speed={str(stage): 1.0})
    assert same.summary["step_time_s"] == pytest.approx(base.summary["step_time_s"], rel=1e-12)


def test_speed_factors_named_spread_and_cap():
    s = speed_factors(8, {"3": 0.5})
    assert s[3] == 0.5 and np.all(np.delete(s, 3) == 1.0)
    a = speed_factors(1000, cv=0.1, seed=1)
    assert np.all((a > 0) & (a <= 1)) and np.array_equal(a, speed_factors(1000, cv=0.1, seed=1))
    # E|z| = cv sqrt(2/pi) for a half-normal: the mean slowdown in log space
    assert -np.log(a).mean() == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.1)
    assert cap_speed(None, 75, 700) == 1.0
    assert cap_speed(75 + 625 / 8, 75, 700) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="topology.gpu_speed"):
        speed_factors(8, {"8": 0.5})
    with pytest.raises(ConfigError, match="topology.gpu_speed"):
        speed_factors(8, {"1": 0.0})


def test_a_power_cap_slows_the_step_and_lowers_the_power():
    base = _run()
    data = {k: dict(v) for k, v in PIPE.items()}
    data["power"] = {"gpu_cap_W": 400}
    capped = run(load_config(data=data))
    factor = cap_speed(400, 75, 700)
    assert capped.summary["step_time_s"] > base.summary["step_time_s"]
    assert capped.summary["compute_s"] == pytest.approx(base.summary["compute_s"] / factor, rel=1e-6)
    assert capped.summary["max_power_kW"] < base.summary["max_power_kW"]


@pytest.mark.parametrize("fidelity", ["symmetric", "full"])
def test_data_parallel_replicas_wait_for_the_slow_one(fidelity):
    def go(speed):
        return run(load_config(data={
            "topology": {"gpus": 2, "gpus_per_node": 2, "fabric": "none", "gpu_speed": speed},
            "model": {"preset": "llama3-8b", "layers": 2, "seq_len": 1024},
            "train": {"global_batch": 4, "fidelity": fidelity, "optimizer_step": False}})).summary
    base, slow = go({}), go({"1": 0.5})
    # replica 1 computes twice as long; replica 0 waits for it at the gradient all-reduce
    assert slow["step_time_s"] - base["step_time_s"] == pytest.approx(base["compute_s"], rel=0.05)


def _serve(router="round-robin", speed=None):
    return run(load_config(data={
        "run": {"kind": "serve", "seed": 1},
        "topology": {"gpus": 2, "gpus_per_node": 2, "fabric": "none", "gpu_speed": speed or {}},
        "model": {"preset": "llama3-8b"}, "serve": {"replicas": 2, "router": router},
        "workload": {"rate": 20.0, "requests": 200, "input_tokens": 500, "output_tokens": 100}}))


def test_a_replica_on_a_slow_gpu_serves_slower_and_the_router_sees_it():
    res = _serve(speed={"1": 0.5}).tables["requests"].to_pydict()
    tpot = {r: np.median([t for t, rep in zip(res["tpot_s"], res["replica"]) if rep == r]) for r in (0, 1)}
    # every kernel of replica 1 takes twice as long (its host overhead does not, and its batches
    # grow a little as its queue builds)
    assert 1.5 < tpot[1] / tpot[0] < 2.5
    ll = _serve("least-loaded", {"1": 0.5}).tables["requests"].to_pydict()["replica"]
    assert ll.count(1) < ll.count(0)          # least-loaded routing sends the slow replica less
    base = _serve().tables["requests"].to_pydict()["tpot_s"]
    assert np.median(base) == pytest.approx(tpot[0], rel=0.1)


def test_a_degraded_nic_halves_the_bandwidth_of_collectives_through_it():
    from sim.app.nccl_table import nccl_table

    def busbw(nic_speed):
        cfg = load_config(data={"topology": {"gpus": 4, "gpus_per_node": 1, "nics_per_node": 1,
                                             "scaleup_domain": 1, "nic_speed": nic_speed}})
        return nccl_table(cfg, "all_reduce", "ring", 4, [1 << 30]).column("busbw_GBps")[0].as_py()

    base, slow = busbw({}), busbw({"2": 0.5})
    # a ring runs at its slowest link: one NIC at half rate halves the bus bandwidth
    assert slow == pytest.approx(base / 2, rel=0.03)
    with pytest.raises(ConfigError, match="topology.nic_speed"):
        busbw({"9": 0.5})


def test_a_degraded_nvlink_halves_the_bandwidth_of_a_ring_through_it():
    from sim.app.nccl_table import nccl_table

    def busbw(link_speed):
        cfg = load_config(data={"topology": {"gpus": 8, "gpus_per_node": 8, "fabric": "none",
                                             "link_speed": link_speed}})
        return nccl_table(cfg, "all_reduce", "ring", 8, [1 << 30]).column("busbw_GBps")[0].as_py()

    base, slow = busbw({}), busbw({"gpu2:nvlink": 0.5})
    assert slow == pytest.approx(base / 2, rel=0.03)
    for bad, why in [({"gpu99": 0.5}, "unknown node"), ({"gpu2:leaf-spine": 0.5}, "no 'leaf-spine' link"),
                     ({"gpu2": 1.5}, r"\(0, 1\]")]:
        with pytest.raises(ConfigError, match=why):
            busbw(bad)


def test_link_speed_scales_exactly_the_named_switchs_links_of_the_named_class():
    import topologies
    from topologies import preset_spec
    base = topologies.build(preset_spec("dgx-h100-superpod", gpus=64))
    slow = topologies.build(preset_spec("dgx-h100-superpod", gpus=64, link_speed={"spine0.0:leaf-spine": 0.25}))
    spine = base.node_index["spine0.0"]
    hit = {i for i in range(base.num_links) if spine in (base.link_src[i], base.link_dst[i])
           and base.link_class[i] == "leaf-spine"}
    assert hit
    for i in range(base.num_links):
        want = base.capacity[i] * (0.25 if i in hit else 1.0)
        assert slow.capacity[i] == pytest.approx(want)


# -- the default speed spread: a synchronous step waits for the slowest of its GPUs (issue 11) --

def test_expected_max_normal_matches_exact_small_n_and_grows_like_sqrt_2_ln_n():
    from math import pi, sqrt, log
    from sim.stragglers import expected_max_normal
    assert expected_max_normal(1) == 0.0
    assert expected_max_normal(2) == pytest.approx(1 / sqrt(pi), abs=1e-6)          # exact
    assert expected_max_normal(3) == pytest.approx(3 / (2 * sqrt(pi)), abs=1e-6)    # exact
    values = [expected_max_normal(n) for n in (2, 8, 64, 512, 4096, 32768)]
    assert all(b > a for a, b in zip(values, values[1:]))
    for n, v in zip((2, 8, 64, 512, 4096, 32768), values):
        assert v < sqrt(2 * log(n))                 # the classical upper bound
    assert values[-1] / sqrt(2 * log(32768)) > 0.85  # and its rate
    rng = np.random.default_rng(7)
    assert expected_max_normal(128) == pytest.approx(rng.standard_normal((20000, 128)).max(1).mean(), rel=0.01)


def test_sync_slowdown_is_one_for_one_gpu_and_never_faster_with_more_gpus():
    from sim.stragglers import sync_slowdown
    assert sync_slowdown(1, 0.015) == 1.0
    assert sync_slowdown(4096, 0.0) == 1.0
    weak = [sync_slowdown(n, 0.015) for n in (1, 2, 8, 64, 1024, 16384)]
    assert all(b >= a for a, b in zip(weak, weak[1:]))
    assert sync_slowdown(8, 0.015) == pytest.approx(1 / (1 - 0.015 * 1.42360), rel=1e-5)
    with pytest.raises(ConfigError, match="topology.speed_spread"):
        sync_slowdown(8, 0.25)


def _dp_run(gpus: int, spread=None):
    data = {"topology": {"gpus": gpus, "gpus_per_node": 8, "fabric": "none"},
            "model": {"preset": "llama3-8b", "layers": 2, "seq_len": 1024},
            "train": {"dp": gpus, "micro_batch": 1, "global_batch": gpus, "zero": 1}}
    if spread is not None:
        data["topology"]["speed_spread"] = spread
    return run(load_config(data=data)).summary


def test_default_spread_stretches_the_steps_compute_by_the_slowest_of_the_job():
    from sim.compute import constants_row
    from sim.stragglers import sync_slowdown
    sigma = constants_row("H100-SXM-80GB")["speed_spread"]
    assert 0.005 <= sigma <= 0.03                   # compute.toml: Sinha et al. SC22, 8% range
    for gpus in (1, 8):
        ideal, default = _dp_run(gpus, 0.0), _dp_run(gpus)
        assert default["compute_s"] / ideal["compute_s"] == pytest.approx(sync_slowdown(gpus, sigma), rel=1e-9)
    one = _dp_run(1)
    assert one["step_time_s"] == _dp_run(1, 0.0)["step_time_s"]     # one GPU waits for nobody


def test_spread_with_a_named_slow_gpu_multiplies():
    base = _run(speed_spread=0.0)
    slow = _run(gpu_speed={"3": 0.5})
    both = _run(gpu_speed={"3": 0.5}, speed_spread=0.0)
    assert slow.summary["step_time_s"] > both.summary["step_time_s"] > base.summary["step_time_s"]
    with pytest.raises(ConfigError, match="topology.speed_spread"):
        _run(speed_spread=0.3)


def test_sync_wait_is_sigma_times_the_expected_max_of_k_normals():
    # closed forms: E[max of 2 normals] = 1/sqrt(pi); one rank never waits; never shrinks with k
    from sim.stragglers import sync_wait
    assert sync_wait(1, 3e-4) == 0.0
    assert sync_wait(64, 0.0) == 0.0
    assert sync_wait(2, 1e-3) == pytest.approx(1e-3 / np.sqrt(np.pi), rel=1e-5)
    waits = [sync_wait(k, 1e-3) for k in (2, 8, 64, 512, 4096)]
    assert all(a < b for a, b in zip(waits, waits[1:]))
    assert waits[-1] < 1e-3 * np.sqrt(2 * np.log(4096))      # below the sqrt(2 ln k) envelope
    with pytest.raises(ConfigError, match="topology.sync_jitter_us"):
        sync_wait(8, -1e-6)
