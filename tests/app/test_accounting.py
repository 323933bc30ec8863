"""sim.app.accounting: energy, cost and goodput columns on real runs (CONTRACT round 2)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from sim.app.runner import run, run_to_dir
from sim.config import load_config
from sim.errors import ConfigError

TRAIN = {"topology": {"preset": "dgx-h100-superpod", "gpus": 16},
         "model": {"preset": "llama3-8b", "layers": 4, "seq_len": 2048},
         "train": {"tp": 4, "global_batch": 8, "zero": 1}}
SERVE = {"run": {"kind": "serve", "seed": 3}, "topology": {"gpus": 2, "gpus_per_node": 2, "fabric": "none"},
         "model": {"preset": "llama3-8b"}, "serve": {"replicas": 2},
         "workload": {"rate": 8.0, "requests": 40, "input_tokens": 300, "output_tokens": 40}}
ROUND2 = {"energy_J", "J_per_token", "avg_power_kW", "usd_per_Mtoken"}
LONG = {"goodput", "effective_mfu", "interruptions", "mtbf_s", "checkpoint_s"}


def _cfg(base, **sections):
    data = {k: dict(v) for k, v in base.items()}
    for k, v in sections.items():
        data.setdefault(k, {}).update(v)
    return load_config(data=data)


@pytest.fixture(scope="module")
def step():
    return run(_cfg(TRAIN)).summary


def test_training_energy_lies_between_idle_and_max_power(step):
    assert ROUND2 <= set(step)
    t = step["step_time_s"]
    assert step["idle_power_kW"] * 1e3 * t <= step["energy_J"] <= step["max_power_kW"] * 1e3 * t
    assert step["J_per_token"] == pytest.approx(step["energy_J"] / (step["tokens_per_s"] * t))
    assert 0 < step["gpu_utilization"] <= 1


def test_cost_per_million_tokens_is_gpu_hours_plus_energy(step):
    r = run(_cfg(TRAIN, cost={"gpu_hour_usd": 3.0, "kwh_usd": 0.0})).summary
    tokens = r["tokens_per_s"] * r["step_time_s"]
    assert r["usd_per_Mtoken"] == pytest.approx(16 * r["step_time_s"] / 3600 * 3.0 / tokens * 1e6)
    dear = run(_cfg(TRAIN, cost={"gpu_hour_usd": 3.0, "kwh_usd": 1.0})).summary
    assert dear["usd_per_Mtoken"] > r["usd_per_Mtoken"]
    with pytest.raises(ConfigError):
        _cfg(TRAIN, cost={"kwh_usd": -1.0})


def test_long_horizon_run_writes_goodput_columns_and_a_timeline(tmp_path, step):
    cfg = _cfg(TRAIN, run={"duration_h": 200.0, "seed": 5}, failures={"gpu": 2e-3})
    res = run_to_dir(cfg, tmp_path / "o")
    s = res.summary
    assert LONG | ROUND2 <= set(s)
    assert 0 < s["goodput"] < 1 and s["effective_mfu"] == pytest.approx(s["mfu"] * s["goodput"])
    tl = pq.read_table(tmp_path / "o" / "timeline.parquet")
    assert tl.column("end_s")[-1].as_py() == pytest.approx(200 * 3600)
    wall = 200 * 3600
    assert s["idle_power_kW"] * 1e3 * wall <= s["energy_J"] <= s["max_power_kW"] * 1e3 * wall
    # same seed, same timeline; the step is the short run's step
    again = run(cfg)
    assert again.tables["timeline"].equals(res.tables["timeline"])
    assert s["step_time_s"] == pytest.approx(step["step_time_s"])


NO_FAILURES = {k: 0.0 for k in ("gpu", "hbm", "nic", "switch", "host", "cable", "software")}


def test_a_long_horizon_without_failures_reports_null_mtbf_and_interval(step):
    # every failure rate 0: no checkpoint, no infinity in the summary (was an OverflowError traceback)
    import pyarrow as pa
    result = run(_cfg(TRAIN, run={"duration_h": 10.0}, failures=NO_FAILURES))
    s = result.summary
    assert s["interruptions"] == 0 and s["checkpoints"] == 0
    assert s["mtbf_s"] is None and s["checkpoint_interval_s"] is None
    schema = result.tables["summary"].schema            # null, typed double (a sweep's glob reads them all)
    assert schema.field("mtbf_s").type == schema.field("checkpoint_interval_s").type == pa.float64()
    assert s["goodput"] == pytest.approx(1.0, abs=step["step_time_s"] / 36000)


def test_a_checkpoint_interval_under_a_step_is_warned_about(step, capsys):
    # it ran as one step without a word: a sweep's 1 s and 2 s points came out the same
    s = run(_cfg(TRAIN, run={"duration_h": 1.0}, train={"checkpoint_interval_s": 1e-3})).summary
    assert s["checkpoint_interval_s"] == pytest.approx(s["step_time_s"])
    assert "train.checkpoint_interval_s = 0.001 s is under half a training step" in capsys.readouterr().err


def test_a_token_budget_beyond_the_long_horizon_cap_is_infeasible(step):
    from sim.errors import InfeasibleError
    # 100 years of this step train ~1e14 tokens: a budget of 1e30 was cut at the cap and reported
    # as if the run had ended, with trained_tokens far below the budget
    with pytest.raises(InfeasibleError, match="run.token_budget") as err:
        run(_cfg(TRAIN, run={"token_budget": 1e30}, failures=NO_FAILURES))
    assert "100 years" in str(err.value)
    s = run(_cfg(TRAIN, run={"token_budget": 1e9}, failures=NO_FAILURES)).summary
    assert s["trained_tokens"] >= 1e9


def test_serving_runs_carry_energy_and_cost():
    s = run(load_config(data=SERVE)).summary
    assert ROUND2 <= set(s)
    d = s["duration_s"]
    assert s["idle_power_kW"] * 1e3 * d <= s["energy_J"] <= s["max_power_kW"] * 1e3 * d
    assert s["J_per_token"] == pytest.approx(s["energy_J"] / (s["output_tokens_per_s"] * d))


def test_every_job_of_a_multi_job_run_carries_energy_and_cost():
    from tests.app.test_jobs import two_jobs
    data = two_jobs(1.0, "packed", baseline=False)
    data["cost"] = {"gpu_hour_usd": 2.0, "kwh_usd": 0.0}
    out = {r["job"]: r for r in run(load_config(data=data)).summary}
    for name, r in out.items():
        assert ROUND2 <= set(r), name
        assert r["energy_J"] > 0 and r["usd_per_Mtoken"] > 0
    # half the cluster each: each job pays half the hosts and network at idle
    assert out["pre"]["idle_power_kW"] == pytest.approx(out["chat"]["idle_power_kW"])


def test_a_training_job_beside_a_serving_one_pays_for_every_step_it_ran():
    # [[jobs]]: training runs steps back to back until chat is done; its energy and dollars cover
    # all of them (steps x mean step time), not the first step alone
    from tests.app.test_jobs import two_jobs
    data = two_jobs(1.0, "packed", baseline=False)
    data["cost"] = {"gpu_hour_usd": 2.0, "kwh_usd": 0.0}
    pre = {r["job"]: r for r in run(load_config(data=data)).summary}["pre"]
    n = pre["steps"]
    assert n >= 2
    horizon = n * pre["mean_step_time_s"]
    assert pre["energy_J"] == pytest.approx(pre["avg_power_kW"] * 1e3 * horizon)
    assert pre["idle_power_kW"] * 1e3 * horizon <= pre["energy_J"] <= pre["max_power_kW"] * 1e3 * horizon
    assert pre["usd"] == pytest.approx(2.0 * 16 * horizon / 3600)       # kWh free: GPU-hours only
    assert pre["usd"] == pytest.approx(n * pre["usd_per_step"], rel=0.05)
    assert pre["J_per_token"] == pytest.approx(pre["energy_J"] / (pre["tokens_per_s"] * pre["step_time_s"] * n))


def test_a_training_job_whose_dp_leaves_its_gpus_idle_pays_idle_power_for_them():
    # jobs.0.train.dp = 1 runs TP8 on 8 of the job's 16 GPUs: the other 8 are billed and draw idle
    # power (utilization 0), as a serving job's idle GPUs; they ran at the busy GPUs' utilization
    from tests.app.test_jobs import two_jobs
    rows = {}
    for dp in (2, 1):
        data = two_jobs(1.0, "packed", baseline=False)
        data["jobs"][0]["train"]["dp"] = dp
        data["run"]["steps"] = 1
        rows[dp] = {r["job"]: r for r in run(load_config(data=data)).summary}["pre"]
    full, half = rows[2], rows[1]
    assert half["gpus"] == 16 and half["idle_power_kW"] == pytest.approx(full["idle_power_kW"])
    busy_u = half["compute_s"] / half["step_time_s"]
    assert half["gpu_utilization"] == pytest.approx(busy_u * 8 / 16)
    # power is linear in utilization: idle + (max - idle) x the job's mean utilization
    want = half["idle_power_kW"] + (half["max_power_kW"] - half["idle_power_kW"]) * busy_u / 2
    assert half["avg_power_kW"] == pytest.approx(want)
    assert half["energy_J"] == pytest.approx(want * 1e3 * half["step_time_s"])


def test_long_horizon_keys_on_a_serving_run_are_an_error():
    data = {k: dict(v) for k, v in SERVE.items()}
    data["run"]["duration_h"] = 10.0
    with pytest.raises(ConfigError, match="run.duration_h"):
        run(load_config(data=data))


def test_checkpoint_times_come_from_the_simulated_write_beside_the_job(step):
    # NIC-bound: the write shares the job's NICs (at full line rate, for the closed form)
    tier = {"storage_GBps": 2000.0, "scaleout_efficiency": 1.0}
    # one micro-batch per step: the step is short enough that the write overlaps its gradient
    # reduction (with two, H100's calibrated per-layer costs let the write end before it starts)
    one = {"global_batch": 4}
    sync = run(_cfg(TRAIN, run={"duration_h": 1.0}, topology=tier, train=one)).summary
    asy = run(_cfg(TRAIN, run={"duration_h": 1.0}, topology=tier, train={"checkpoint_async": True, **one})).summary
    state = sync["checkpoint_GB"] * 1e9
    # sync: the write alone over 2 servers x 8 NICs x 400 Gb/s (the tier is faster)
    assert sync["checkpoint_s"] == pytest.approx(state / (16 * 50e9), rel=1e-3)
    assert sync["checkpoint_step_slowdown"] == 1.0 and sync["checkpoint_contention_s"] == 0.0
    # async: the step beside the write is slower than alone, the write slower than alone, and
    # the contention the step loses is part of the checkpoint's cost
    assert asy["checkpoint_step_slowdown"] > 1.01
    copy = state / 16 / 64e9                        # HBM -> host memory per GPU, H100 host link
    assert asy["checkpoint_write_s"] - copy > 1.05 * sync["checkpoint_s"]
    assert asy["checkpoint_contention_s"] > 0
    assert asy["checkpoint_s"] == pytest.approx(copy + asy["checkpoint_contention_s"], rel=1e-2)


def test_long_horizon_points_that_differ_only_in_horizon_keys_share_one_simulated_step(monkeypatch):
    from sim.app import accounting, runner
    calls = []
    real = runner._workload

    def counting(kind):
        calls.append(kind)
        return real(kind)

    monkeypatch.setattr(runner, "_workload", counting)
    monkeypatch.setattr(accounting, "_step_cache", {})
    monkeypatch.setattr(accounting, "_checkpoint_cache", {})
    tier = {"storage_GBps": 2000.0}
    cfgs = [_cfg(TRAIN, run={"duration_h": 2.0}, topology=tier, train={"checkpoint_interval_s": i, "checkpoint_async": a},
                 failures={"gpu": 1e-3})
            for a in (False, True) for i in (30.0, 60.0)]
    cached = [run(c).summary for c in cfgs]
    assert len(calls) == 1 and len(accounting._checkpoint_cache) == 2     # one step; sync and async checkpoints
    run(_cfg(TRAIN, run={"duration_h": 2.0}, topology=tier, train={"micro_batch": 2}))
    assert len(calls) == 2                                                 # another step config simulates
    for c, hit in zip(cfgs, cached):
        accounting._step_cache.clear()
        accounting._checkpoint_cache.clear()
        fresh = run(c).summary
        assert {k: v for k, v in fresh.items() if k != "wall_s"} == {k: v for k, v in hit.items() if k != "wall_s"}


@pytest.mark.parametrize("hours", [1e6, 1e9])
def test_a_horizon_over_a_century_is_refused_as_the_config_loads(hours, monkeypatch, tmp_path, capsys):
    """run.duration_h = 1e6 was refused (exit 3, "the timeline passed 5,000,000 phases") only after the
    step, the checkpoint and seconds of timeline had been simulated, or, on a small job that rarely fails,
    ran to a 114-year result. Now the config loader refuses it (exit 2, naming the key): nothing is
    simulated (every simulation entry point here fails if called)."""
    from sim.app import accounting, runner
    from sim.app.cli import main
    with pytest.raises(ConfigError) as err:
        _cfg(TRAIN, run={"duration_h": hours})
    assert err.value.key == "run.duration_h" and "100 years" in str(err.value)
    assert _cfg(TRAIN, run={"duration_h": 876000.0}).run.duration_h == 876000.0      # the bound itself runs

    def never(*a, **k):
        raise AssertionError("simulated before the horizon was checked")
    for name in ("run", "run_to_dir"):
        monkeypatch.setattr(runner, name, never)
    monkeypatch.setattr(accounting, "cached_step", never)
    monkeypatch.setattr(accounting, "_long_horizon", never)
    from pathlib import Path
    quickstart = Path(__file__).resolve().parents[2] / "runs" / "quickstart.toml"
    assert main(["run", str(quickstart), "--set", f"run.duration_h={hours!r}", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: run.duration_h:")
    assert not (tmp_path / "o").exists()
