"""``dcsim traffic``: patterns, sizes, the summary and its errors."""

import json

import numpy as np
import pytest

from sim.app.cli import main
from sim.app.traffic import pairs, sizes


@pytest.mark.parametrize("pattern", ["random", "permutation", "incast", "all-to-all"])
def test_patterns_pick_valid_pairs(pattern):
    src, dst = pairs(pattern, 16, 100, np.random.default_rng(0))
    assert len(src) == len(dst) == 100
    assert ((0 <= src) & (src < 16) & (0 <= dst) & (dst < 16) & (src != dst)).all()
    if pattern == "incast":
        assert len(set(dst.tolist())) == 1
    if pattern == "permutation":        # each round: every GPU sends once and receives once
        assert sorted(src[:16].tolist()) == sorted(dst[:16].tolist()) == list(range(16))
    if pattern == "all-to-all":         # the first n(n-1) transfers cover every ordered pair
        s, d = pairs(pattern, 6, 30, np.random.default_rng(0))
        assert len(set(zip(s.tolist(), d.tolist()))) == 30


def test_sizes_log_uniform_in_range():
    x = sizes(1024, 1024**3, 20000, np.random.default_rng(1))
    assert x.min() >= 1024 and x.max() <= 1024**3
    # log-uniform: the median is the geometric mean of the bounds
    assert np.median(np.log(x)) == pytest.approx(np.log(1024 * 1024**3) / 2, rel=0.02)


def test_cli_json_summary(capsys):
    assert main(["traffic", "--set", "topology.gpus=16", "--pattern", "incast", "--flows", "15",
                 "--sizes", "1M:1M", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("flows", "makespan_s", "fct_mean_s", "fct_p99_s", "sim_events", "wall_s"):
        assert key in row
    assert row["flows"] == 15
    # 15 x 1 MiB into one GPU: its NIC (400 Gb/s x scale-out efficiency) or its NVLink port
    # carries all of it, so the makespan is at least 15 MiB over the fastest of those
    assert row["makespan_s"] >= 15 * 2**20 / 450e9
    assert row["fct_p99_s"] <= row["makespan_s"] and row["fct_mean_s"] <= row["makespan_s"]


def test_cli_deterministic(capsys):
    args = ["traffic", "--set", "topology.gpus=32", "--flows", "50", "--seed", "4", "--json"]
    main(args)
    a = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    main(args)
    b = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: v for k, v in a.items() if k not in ("wall_s", "cpu_s")} == \
           {k: v for k, v in b.items() if k not in ("wall_s", "cpu_s")}


@pytest.mark.parametrize("args,key", [(["--flows", "0"], "--flows"), (["--sizes", "1M:1K"], "--sizes"),
                                      (["--sizes", "abc"], "--sizes"), (["--seed", "-1"], "--seed"),
                                      # past int64, as run.seed refuses it (ran: numpy takes any size)
                                      (["--seed", str(2 ** 63)], "--seed"), (["--seed", str(2 ** 64)], "--seed")])
def test_bad_input_exit_2(capsys, args, key):
    assert main(["traffic", "--set", "topology.gpus=8"] + args) == 2
    assert key in capsys.readouterr().err


def test_flows_past_the_work_bound_exit_2_at_once(capsys):
    # a typo (--flows 100000000) used to run silently for minutes
    assert main(["traffic", "--set", "topology.gpus=16", "--flows", "100000000"]) == 2
    err = capsys.readouterr().err
    assert "--flows" in err and "bound" in err


def test_transfer_sizes_and_the_bytes_total_are_whole_bytes(capsys):
    x = sizes(1000, 5000, 500, np.random.default_rng(3))
    assert (x == np.rint(x)).all() and x.min() >= 1000 and x.max() <= 5000
    assert main(["traffic", "--flows", "20", "--sizes", "1K:1M", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert isinstance(out["bytes"], int)


def test_rate_tolerance_flag_zero_is_exact_and_default_coarser(capsys):
    base = ["traffic", "--set", "topology.gpus=64", "--flows", "600", "--seed", "2", "--json"]
    assert main(base + ["--rate-tolerance", "0"]) == 0
    exact = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(base) == 0
    coarse = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # eps = 0: one max-min solve per completion time (the fabric, as before the flag existed)
    assert exact["rate_tolerance"] == 0.0 and exact["rate_computations"] >= 600
    # the default (run.rate_tolerance = 0.02) shares solves between completions, and stays
    # within its tolerance of exact (sim/flowepochs.py states the bound per flow)
    assert coarse["rate_tolerance"] == 0.02 and coarse["rate_computations"] < exact["rate_computations"] / 2
    for key in ("makespan_s", "fct_mean_s", "fct_p99_s"):
        assert coarse[key] == pytest.approx(exact[key], rel=0.02)
    assert coarse["bytes"] == exact["bytes"]
    # the config key sets the same thing
    assert main(base + ["--set", "run.rate_tolerance=0"]) == 0
    keyed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: v for k, v in keyed.items() if k not in ("wall_s", "cpu_s")} == \
           {k: v for k, v in exact.items() if k not in ("wall_s", "cpu_s")}


@pytest.mark.parametrize("value", ["-0.1", "1", "nan"])
def test_bad_rate_tolerance_exit_2(capsys, value):
    assert main(["traffic", "--set", "topology.gpus=8", "--rate-tolerance", value]) == 2
    assert "--rate-tolerance" in capsys.readouterr().err

def test_reversed_sizes_are_echoed_as_typed(capsys):
    assert main(["traffic", "--set", "topology.gpus=8", "--sizes", "2M:1M"]) == 2
    err = capsys.readouterr().err
    assert "2M:1M" in err and "e+06" not in err


def test_a_jobs_config_warns_that_its_jobs_are_ignored(tmp_path, capsys):
    # `dcsim traffic` on a [[jobs]] config used its [topology] and said nothing about the jobs
    cfg = tmp_path / "jobs.toml"
    cfg.write_text('[topology]\ngpus = 16\n[[jobs]]\nname = "a"\nkind = "train"\ngpus = 8\n'
                   '[jobs.model]\npreset = "llama3-8b"\n')
    assert main(["traffic", str(cfg), "--flows", "10", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out.strip().splitlines()[-1])["gpus"] == 16
    assert "[[jobs]] (1 job) are ignored" in cap.err and "[topology]" in cap.err
    # a config without [[jobs]] gets no such warning
    assert main(["traffic", "--set", "topology.gpus=16", "--flows", "10", "--json"]) == 0
    assert "[[jobs]]" not in capsys.readouterr().err


def test_the_largest_int64_seed_runs(capsys):
    # the bound is 2**63 - 1 itself, as run.seed's
    assert main(["traffic", "--set", "topology.gpus=8", "--flows", "5", "--seed", str(2 ** 63 - 1)]) == 0
