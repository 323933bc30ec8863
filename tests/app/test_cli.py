"""Command line: size lists, exit statuses for user errors (no tracebacks), catalogue listings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.app.cli import main, parse_size, parse_sizes
from sim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ROOT_RUNS = ROOT / "runs"


def test_parse_sizes_powers_of_1024():
    assert parse_sizes("1M,64M,1G") == [1 << 20, 64 << 20, 1 << 30]
    assert parse_sizes("1024, 8K ,2g") == [1024, 8192, 2 << 30]
    assert parse_size("1.5K") == 1536
    assert parse_size("3MiB") == 3 << 20
    assert parse_sizes("1K:16K") == [1024, 2048, 4096, 8192, 16384]
    assert parse_sizes("1M,64M,") == [1 << 20, 64 << 20]         # one trailing comma is no size left out


def test_a_range_doubles_from_lo_and_includes_hi_or_is_refused():
    assert parse_sizes("3:12") == [3, 6, 12]            # nccl-tests -b 3 -e 12 -f 2
    assert parse_sizes("1M:1M") == [1 << 20]
    for unaligned in ("3:7", "1K:3K", "1K:1000000"):     # doubling from LO never lands on HI: HI was dropped
        with pytest.raises(ConfigError) as err:
            parse_sizes(unaligned)
        assert err.value.key == "--sizes" and "power of two" in str(err.value), unaligned


def test_a_fractional_size_is_taken_only_where_it_makes_whole_bytes():
    assert parse_size("1.5M") == 3 << 19 and parse_size("0.5K") == 512
    for bad in ("1.5", "1.0000000000000000001K", "0.1G"):       # the middle one is 1024.0 as a float
        with pytest.raises(ConfigError) as err:
            parse_size(bad)
        assert err.value.key == "--sizes" and "whole number of bytes" in str(err.value), bad


@pytest.mark.parametrize("bad", ["", "1X", "-1", "0", "1.3", "K", "1K:512", "99999999999999999999G",
                                 "1K,,2K", ",1K", ",", " , "])
def test_parse_sizes_rejects_bad_input(bad):
    with pytest.raises(ConfigError) as err:
        parse_sizes(bad)
    assert err.value.key == "--sizes"


CLI_TIMEOUT_S = 600     # a hard limit on every dcsim subprocess here: a hang fails the test, never blocks CI


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sim.app.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=CLI_TIMEOUT_S)


def test_bad_config_exits_2_with_key_and_no_traceback(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\ntp = 0\n")
    r = _cli("run", str(cfg), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "train.tp" in r.stderr and "Traceback" not in r.stderr
    r = _cli("run", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = _cli("run", str(cfg), "--set", "train.bogus=1")
    assert r.returncode == 2 and "bogus" in r.stderr


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n", "\ufeff\n", "[run]\n[workload]\n"],
                         ids=["0 bytes", "comments", "BOM", "empty tables"])
def test_an_empty_config_exits_2_naming_the_file(tmp_path, monkeypatch, capsys, text):
    """An empty config ran every default and failed later (exit 3: the default job does not fit in
    memory); every command that reads a config file refuses it, naming the file."""
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty.toml"
    empty.write_text(text, encoding="utf-8")
    (tmp_path / "base.toml").write_text('[run]\nname = "base"\n')
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "empty.toml"\n[grid]\n"train.tp" = [1, 2]\n')
    for argv in (["run", str(empty), "--out", "o"], ["sweep", str(empty), "--out", "so"],
                 ["sweep", "s.toml", "--out", "so"],                          # an empty base
                 ["collective", str(empty), "--op", "all_reduce", "--gpus", "8"],
                 ["traffic", str(empty)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"error: {empty}: empty config: the file sets no key"), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.toml", "empty.toml", "s.toml"]   # nothing written


def test_bad_collective_size_exits_2(capsys):
    assert main(["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "12Q"]) == 2
    assert "--sizes" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "-1M"],
                                  ["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "-1K,2K"],
                                  ["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "-1"],
                                  ["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "1K:-1M"],
                                  ["traffic", "--flows", "4", "--sizes", "-64K"]])
def test_a_negative_size_reaches_dcsim_s_own_message(argv, capsys):
    # --sizes -1M stopped in argparse ("expected one argument": a leading '-' reads as an option)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --sizes: '-") and "is negative" in err and "expected one argument" not in err


def test_a_size_rounded_to_whole_elements_is_said_on_stderr(capsys):
    assert main(["collective", "--set", "topology.gpus=8", "--op", "all_gather", "--gpus", "3", "--sizes", "1000,1K",
                 "--json"]) == 0
    out, err = capsys.readouterr()
    assert [r["size_bytes"] for r in json.loads(out.strip().splitlines()[-1])] == [996, 1020]
    assert "rounded down" in err and "1,000 -> 996" in err and "1,024 -> 1,020" in err


def test_send_recv_on_other_than_two_gpus_says_it_needs_two(capsys):
    # --op send_recv --gpus 4 said "unknown or unsupported op 'send_recv'; one of ..., send_recv"
    assert main(["collective", "--op", "send_recv", "--gpus", "4", "--sizes", "1M"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --gpus: send_recv") and "--gpus 2" in err and "unsupported" not in err
    assert main(["collective", "--op", "send_recv", "--gpus", "2", "--sizes", "1M"]) == 0


def test_a_collective_size_beyond_the_gpu_s_memory_exits_2_and_help_names_the_suffixes(capsys):
    # --sizes 1T (an undocumented suffix) ran a 1 TiB collective on 80 GB GPUs without a word
    assert main(["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "1M,1T"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --sizes: ") and "memory" in err and "Traceback" not in err
    for command in ("collective", "traffic"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "K, M, G, T = powers of 1024" in " ".join(capsys.readouterr().out.split()), command


def test_hardware_lists_the_contract_gpus(capsys):
    assert main(["hardware", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    names = {r["gpu"] for r in rows}
    assert {"A100-SXM-40GB", "A100-SXM-80GB", "H100-SXM-80GB", "H800-SXM-80GB", "H200-SXM-141GB",
            "B200-180GB", "GB200", "MI300X"} <= names


def test_hardware_table_has_no_nan_and_rounded_capacities(capsys):
    """A precision a GPU lacks is "-" (null in JSON), never nan; capacities print as a datasheet does."""
    assert main(["hardware"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    assert main(["hardware", "--json"]) == 0
    rows = {r["gpu"]: r for r in json.loads(capsys.readouterr().out.strip().splitlines()[-1])}
    v100 = rows["V100-SXM2-32GB"]
    assert v100["bf16_TFLOPs"] is None and v100["fp16_TFLOPs"] == 125.0
    assert rows["H100-SXM-80GB"]["hbm_GiB"] == round(rows["H100-SXM-80GB"]["hbm_GiB"], 1)


def test_validate_unknown_suite_exits_2(capsys):
    assert main(["validate", "nonsense"]) == 2
    assert "unknown validation suite" in capsys.readouterr().err
    assert main(["validate", ""]) == 2           # an empty suite name ran every suite (minutes)
    assert "unknown validation suite ''" in capsys.readouterr().err


def test_sweep_with_bad_base_exits_2(tmp_path):
    (tmp_path / "base.toml").write_text("[train]\nschedule = 'zigzag'\n")
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n"train.tp" = [1, 2]\n')
    r = _cli("sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "train.schedule" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_sweep_command_interrupted_by_sigint_resumes(tmp_path, signame):
    """The real CLI and runner: Ctrl-C partway, rerun, every point exactly once, none redone.
    SIGTERM (`timeout`, kill, batch schedulers) stops it the same way: before, the sweep died
    without a word and its manifest was not marked interrupted."""
    import signal
    from tests.app.test_runner import SERVE
    (tmp_path / "base.toml").write_text(SERVE)
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n'
                                     '"workload.rate" = [2.0, 4.0, 8.0, 16.0]\n"run.seed" = [1, 2]\n')
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sim.app.cli", "sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "2"]
    from tests.app.test_sweep import _Lines
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = _Lines(proc.stdout)         # every read has a timeout
        seen = 0
        while seen < 2:
            line = lines.next()
            assert line, "the sweep ended before it could be interrupted"
            seen += line.startswith("[")
        proc.send_signal(getattr(signal, signame))
        lines.rest()
        _, err = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=CLI_TIMEOUT_S)
    manifest = json.loads((out / "sweep.json").read_text())
    done = {p["dir"] for p in manifest["points"] if p["status"] == "done"}
    assert proc.returncode in (0, 130), err       # 0: the sweep finished before the signal landed
    if proc.returncode == 130:
        assert "rerun" in err or "again" in err
        assert manifest["interrupted"] and "Traceback" not in err
    stamps = {d: json.loads((out / d / "manifest.json").read_text())["created_unix"] for d in done}
    assert len(stamps) >= 2
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=CLI_TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already done" in r.stderr
    rows = subprocess.run([sys.executable, "-c", (
        "import duckdb; print(duckdb.sql(\"select count(*), count(distinct (rate, seed)) from read_parquet("
        f"'{out}/**/summary.parquet', hive_partitioning=true)\").fetchall())")], capture_output=True, text=True,
        timeout=CLI_TIMEOUT_S)
    assert rows.stdout.strip() == "[(8, 8)]"
    for d, t in stamps.items():      # finished points were not recomputed
        assert json.loads((out / d / "manifest.json").read_text())["created_unix"] == t


def test_validate_every_suite_says_which_suite_runs(monkeypatch, capsys):
    # `dcsim validate` runs for minutes; it printed nothing until each suite finished
    from sim.app import validation
    row = {"case": "c", "metric": "m", "predicted": 1.0, "measured": 1.0, "error": 0.0, "source": "s"}
    monkeypatch.setattr(validation, "SUITES", {"a": None, "b": None})
    monkeypatch.setattr(validation, "run_suite", lambda name: [dict(row)])
    assert main(["validate"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["validate: suite 1 of 2, a ...", "validate: suite 2 of 2, b ..."]
    assert main(["validate", "a"]) == 0 and capsys.readouterr().err == ""      # one suite, to a pipe: no progress line
    # one suite on a terminal: one line says it runs (it sat silent for minutes)
    from sim.app import cli
    monkeypatch.setattr(cli, "_isatty", lambda stream: True)
    assert main(["validate", "a"]) == 0
    assert capsys.readouterr().err.splitlines() == ["validate: a ... (minutes for the larger suites)"]



def test_validate_does_not_warn_about_its_own_cases_gpus(monkeypatch, capsys):
    # "warning: V100S-PCIE-32GB is not calibrated for train runs" came from a validation case's GPU
    from sim.app import runner, validation
    row = {"case": "c", "metric": "m", "predicted": 1.0, "measured": 1.0, "error": 0.0, "source": "s"}

    def suite(name):
        runner.calibrated("V100S-PCIE-32GB", "train")
        return [dict(row)]
    monkeypatch.setattr(validation, "SUITES", {"a": None})
    monkeypatch.setattr(validation, "run_suite", suite)
    monkeypatch.setattr(runner, "_WARNED", set())
    monkeypatch.setattr("sim.compute.calibration", lambda gpu, kind, precision="": (False, ["gemm_eff_max"]))
    assert main(["validate", "a"]) == 0
    assert "not calibrated" not in capsys.readouterr().err
    assert runner.WARN_UNCALIBRATED                    # a run's own GPU still warns after validate
    runner.calibrated("V100S-PCIE-32GB", "train")
    assert "V100S-PCIE-32GB is not calibrated" in capsys.readouterr().err


def test_validate_collects_its_cases_config_warnings(monkeypatch, capsys):
    # `validate serving-heldout` printed one "serve.cuda_graph_batch_sizes [...] exceed the largest
    # decode batch" warning per case: the table drowned in them
    from sim.app import validation
    row = {"case": "c", "metric": "m", "predicted": 1.0, "measured": 1.0, "error": 0.0, "source": "s"}

    def suite(name):
        for n in range(30):
            print(f"warning: serve.cuda_graph_batch_sizes [{n + 900}] exceed the largest decode batch", file=sys.stderr)
        print("warning: serve.precision = 'fp8' on A100", file=sys.stderr)
        print("a line that is no warning", file=sys.stderr)
        return [dict(row)]
    monkeypatch.setattr(validation, "SUITES", {"a": None})
    monkeypatch.setattr(validation, "run_suite", suite)
    assert main(["validate", "a"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["a line that is no warning",
                   "a: 31 config warnings from its cases (30 x serve.cuda_graph_batch_sizes, 1 x serve.precision); "
                   "--details prints them"]
    assert main(["validate", "a", "--details"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 32 and err[1].startswith("warning: serve.cuda_graph_batch_sizes [900]")
    print("warning: a run still warns", file=sys.stderr)       # stderr is itself again afterwards
    assert capsys.readouterr().err == "warning: a run still warns\n"


def test_more_sweep_workers_than_cores_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    (tmp_path / "s.toml").write_text(f'name = "s"\nbase = "{QUICKSTART}"\n[grid]\n"train.tp" = [4]\n')
    assert main(["sweep", "s.toml", "--out", "o", "--workers", "64"]) == 0
    assert "--workers 64 is more than the 2 CPU cores" in capsys.readouterr().err


def test_error_stats_median_and_worst():
    from sim.app.validation import error_stats
    rows = [{"case": "a", "error": 0.1}, {"case": "b", "error": -0.3}, {"case": "c", "error": 0.02}]
    s = error_stats(rows)
    assert s["cases"] == 3 and s["median_abs_error"] == pytest.approx(0.1)
    assert s["worst_abs_error"] == pytest.approx(0.3) and s["worst_case"] == "b"


def test_validate_collectives_rows(capsys):
    assert main(["validate", "collectives", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows and all({"suite", "case", "predicted", "measured", "error", "source"} <= set(r) for r in rows)
    for r in rows:   # error is relative and signed: predicted / measured - 1
        assert r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1, rel=1e-6, abs=1e-9)
    assert main(["validate", "collectives", "--worst", "2"]) == 0
    out = capsys.readouterr().out
    assert "median |error|" in out and "worst |error|" in out


# -- never destroy what dcsim did not write (issue 9, item 1) -------------------------------

QUICKSTART = str(ROOT / "runs" / "quickstart.toml")


def test_run_refuses_to_replace_a_directory_dcsim_did_not_write(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    assert main(["run", QUICKSTART, "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "mine" in err and "--force" in err and "Traceback" not in err
    assert (mine / "precious.txt").read_text() == "keep"
    # the earlier run's own directory is replaced; --force writes into any directory, keeping what is there
    assert main(["run", QUICKSTART, "--out", "r", "--json"]) == 0
    assert main(["run", QUICKSTART, "--out", "r", "--json"]) == 0
    assert main(["run", QUICKSTART, "--out", str(mine), "--force", "--json"]) == 0
    assert (mine / "manifest.json").exists() and (mine / "precious.txt").read_text() == "keep"


@pytest.mark.parametrize("name", ['""', '"  "', '"../../x"', '"a/b"', '".."', '"."', '".hidden"'])
def test_empty_or_path_like_run_names_exit_2(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "runs" / "out" / "earlier"
    earlier.mkdir(parents=True)
    (earlier / "summary.parquet").write_text("an earlier run")
    assert main(["run", QUICKSTART, "--set", f"run.name={name}"]) == 2
    err = capsys.readouterr().err
    assert "run.name" in err and "Traceback" not in err
    assert (earlier / "summary.parquet").read_text() == "an earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_out_dot_exits_2_without_traceback(tmp_path):
    r = _cli("run", QUICKSTART, "--out", ".", cwd=tmp_path)
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
    r = _cli("run", QUICKSTART, "--out", "..", "--force", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_sweep_refuses_a_directory_dcsim_did_not_write(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(f'name = "s"\nbase = "{QUICKSTART}"\n[grid]\n"train.tp" = [2]\n')
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["sweep", "s.toml", "--out", str(mine), "--workers", "1"]) == 2
    assert "mine" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    (tmp_path / "bad.toml").write_text(f'name = "../up"\nbase = "{QUICKSTART}"\n')
    assert main(["sweep", "bad.toml"]) == 2
    assert "name" in capsys.readouterr().err


def test_a_sweep_with_no_axes_warns_that_it_runs_one_point(tmp_path, monkeypatch, capsys):
    # no [grid] or [zip] (here a [set] table alone): it ran the base config as one point, silently
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.toml").write_text(SERVE_SMALL)
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[set]\n"workload.requests" = 5\n')
    assert main(["sweep", "s.toml", "--out", "o", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "no [grid] or [zip]" in err and "one point" in err and "1 ran" in err
    (tmp_path / "g.toml").write_text('name = "g"\nbase = "base.toml"\n[grid]\n"workload.requests" = [5]\n')
    assert main(["sweep", "g.toml", "--out", "g", "--workers", "1"]) == 0
    assert "no [grid]" not in capsys.readouterr().err


# -- bad input: exit 2 naming the key (or trace file and line) and why (issue 9, item 5) ---------

SERVE_SMALL = """
[run]
kind = "serve"
name = "s"
[topology]
gpus = 8
[model]
preset = "llama3-8b"
[serve]
tp = 8
[workload]
arrival = "burst"
requests = 20
input_tokens = 100
output_tokens = 10
"""


def _trace(tmp_path, name, text=None, raw=None):
    if raw is not None:
        (tmp_path / name).write_bytes(raw)
    elif text is not None:
        (tmp_path / name).write_text(text)
    else:
        (tmp_path / name).mkdir()
    return ["--set", 'workload.arrival="trace"', "--set", f'workload.trace="{tmp_path / name}"',
            "--set", 'workload.input_tokens={dist="trace"}', "--set", 'workload.output_tokens={dist="trace"}']


MOONCAKE_ROW = '{{"timestamp": {t}, "input_length": {n}, "output_length": 5, "hash_ids": []}}\n'


@pytest.mark.parametrize("case,extra,expect", [
    ("nan timestamp", lambda p: _trace(p, "t.jsonl", MOONCAKE_ROW.format(t=0, n=10) + MOONCAKE_ROW.format(t="NaN", n=10)),
     ["t.jsonl:2", "finite"]),
    ("infinite timestamp", lambda p: _trace(p, "t.jsonl", MOONCAKE_ROW.format(t="Infinity", n=10)), ["t.jsonl:1", "finite"]),
    ("huge token count", lambda p: _trace(p, "t.jsonl", MOONCAKE_ROW.format(t=0, n=10**30)), ["t.jsonl:1", "token count"]),
    ("azure nan clock", lambda p: _trace(p, "t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                         "2023-11-16 18:15:46.6805900,10,5\n2023-11-16 18:15:nan,10,5\n"), ["t.csv:3", "finite"]),
    ("azure huge tokens", lambda p: _trace(p, "t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                           "2023-11-16 18:15:46.6805900,99999999999999999999999,5\n"), ["t.csv:2", "token count"]),
    ("binary trace", lambda p: _trace(p, "b.jsonl", raw=bytes(range(256))), ["b.jsonl", "not a text file"]),
    ("directory trace", lambda p: _trace(p, "d.jsonl"), ["d.jsonl", "directory"]),
    ("seed -1", lambda p: ["--set", "run.seed=-1"], ["run.seed"]),
    ("cv inf", lambda p: ["--set", 'workload.arrival="gamma"', "--set", "workload.cv=inf"], ["workload.cv", "finite"]),
    ("scale-up latency inf", lambda p: ["--set", "topology.scaleup_latency_us=inf"], ["topology.scaleup_latency_us"]),
    ("host kv inf", lambda p: ["--set", "serve.host_kv_GB=inf"], ["serve.host_kv_GB"]),
    ("oversubscription inf", lambda p: ["--set", "topology.oversubscription=inf"], ["topology.oversubscription"]),
    ("overflowing lengths", lambda p: ["--set", 'workload.input_tokens={dist="lognormal", mean=1e30, sigma=0.5}'],
     ["workload.input_tokens"]),
    ("sampled overflow", lambda p: ["--set", 'workload.input_tokens={dist="normal", mean=1000, sigma=1e15}'],
     ["workload.input_tokens", "sampled"]),
    ("block size", lambda p: ["--set", "serve.kv_block_tokens=1000000"], ["serve.kv_block_tokens"]),
    # arrivals at 1e301 s: service times rounded away (TTFT 0) before
    ("tiny rate", lambda p: ["--set", 'workload.arrival="poisson"', "--set", "workload.rate=1e-300"], ["workload.rate"]),
    ("tiny time scale", lambda p: _trace(p, "t.jsonl", MOONCAKE_ROW.format(t=0, n=10) + MOONCAKE_ROW.format(t=1000, n=10))
     + ["--set", "workload.time_scale=1e-300"], ["workload.time_scale"]),
    ("input_tokens=true", lambda p: ["--set", "workload.input_tokens=true"], ["workload.input_tokens", "boolean"]),
    ("fp4 on H100", lambda p: ["--set", 'serve.precision="fp4"'], ["serve.precision", "fp4"]),
    # vLLM's and TensorRT-LLM's NVFP4 KV cache need Blackwell; ran silently at 4-bit KV before
    ("bf16 KV on V100", lambda p: ["--set", 'topology.gpu="V100-SXM2-32GB"', "--set", 'serve.precision="fp16"',
                                   "--set", 'serve.kv_precision="bf16"'], ["serve.kv_precision", "no bf16"]),
    ("ep on a dense model", lambda p: ["--set", "serve.ep=2", "--set", "serve.tp=2", "--set", "serve.replicas=4"],
     ["serve.ep", "model.experts = 0"]),
    # the model has no experts: a config mistake, exit 2 (was 3, infeasible)
    ("dp_attention on a dense model", lambda p: ["--set", "serve.dp_attention=true"],
     ["serve.dp_attention", "no routed experts"]),
    ("fp4 KV on H100, vllm", lambda p: ["--set", 'serve.kv_precision="fp4"'], ["serve.kv_precision", "Blackwell"]),
    ("fp4 KV on H100, trtllm", lambda p: ["--set", 'serve.kv_precision="fp4"', "--set", 'serve.engine="trtllm"'],
     ["serve.kv_precision", "'trtllm'"]),
    ("replicas ignored", lambda p: ["--set", "serve.replicas=3", "--set", "serve.prefill_replicas=1",
                                    "--set", "serve.decode_replicas=1", "--set", "serve.tp=4"], ["serve.replicas"]),
    ("trace replaces lengths", lambda p: ["--set", 'workload.arrival="trace"',
                                          "--set", 'workload.trace="AzureLLMInferenceTrace_conv.csv"'],
     ["workload.input_tokens", "trace"]),
])
def test_bad_serving_input_exits_2_naming_the_key(tmp_path, monkeypatch, capsys, case, extra, expect):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "serve.toml").write_text(SERVE_SMALL)
    assert main(["run", "serve.toml", "--out", "o", "--json", *extra(tmp_path)]) == 2, case
    err = capsys.readouterr().err
    assert all(e in err for e in expect), err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_fp4_kv_cache_with_sglang_on_hopper_runs_with_a_warning(tmp_path, monkeypatch, capsys):
    # SGLang's fp4_e2m1 KV cache dequantizes in software: it runs on Hopper, and the run says how
    # it is modelled; on Blackwell (fp4 tensor cores) there is nothing to warn about. The warning is
    # printed once per process: start from an empty record so the test does not depend on which
    # tests ran before it in the same process
    import sim.app.runner
    monkeypatch.setattr(sim.app.runner, "_WARNED", set())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "serve.toml").write_text(SERVE_SMALL)
    kv = ["--set", 'serve.kv_precision="fp4"', "--set", 'serve.engine="sglang"']
    assert main(["run", "serve.toml", "--out", "o", "--json", *kv]) == 0
    err = capsys.readouterr().err
    assert "serve.kv_precision = 'fp4' on H100-SXM-80GB" in err and "bf16" in err
    assert main(["run", "serve.toml", "--out", "b", "--json", *kv, "--set", 'topology.gpu="B200-180GB"']) == 0
    assert "serve.kv_precision" not in capsys.readouterr().err


def test_an_undefined_summary_value_prints_as_in_json(tmp_path, monkeypatch, capsys):
    # one output token per request: TPOT is undefined; --json printed null, the table "nan"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "serve.toml").write_text(SERVE_SMALL)
    assert main(["run", "serve.toml", "--out", "o", "--set", "workload.output_tokens=1"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line.startswith("tpot_"))
    assert rows and set(rows.values()) == {"-"} and "nan" not in "".join(rows.values())


def test_expert_parallelism_on_a_dense_model_exits_2(capsys):
    # exit 3 (infeasible) before: a model without experts is a config mistake, not a plan that does not fit
    assert main(["run", QUICKSTART, "--set", "train.ep=2"]) == 2
    assert "train.ep" in capsys.readouterr().err


@pytest.mark.parametrize("gpu,precision", [("A100-SXM-80GB", "fp8"), ("H100-SXM-80GB", "fp4"),
                                           ("V100S-PCIE-32GB", "bf16")])
def test_low_precision_training_on_a_gpu_without_it_exits_2(capsys, gpu, precision):
    assert main(["run", QUICKSTART, "--set", f"topology.gpu={gpu}", "--set", f'train.precision="{precision}"']) == 2
    err = capsys.readouterr().err
    assert "train.precision" in err and f"no {precision} tensor cores" in err


@pytest.mark.parametrize("config", ["binary", "directory"])
def test_a_binary_file_or_directory_as_config_exits_2(tmp_path, capsys, config):
    p = tmp_path / "c.toml"
    p.write_bytes(bytes(range(256))) if config == "binary" else p.mkdir()
    assert main(["run", str(p)]) == 2
    assert str(p) in capsys.readouterr().err


def test_collective_on_one_gpu_exits_2(capsys):
    assert main(["collective", "--op", "all_reduce", "--gpus", "1", "--sizes", "1M"]) == 2
    assert "--gpus" in capsys.readouterr().err


def test_analyze_with_an_unknown_axis_exits_2(tmp_path, capsys):
    import pyarrow as pa
    from sim.outputs import write_run_dir
    write_run_dir(tmp_path / "r", {"summary": pa.table({"mfu": [0.4], "step_time_s": [2.0], "compute_comm_ratio": [3.0],
                                                        "compute_s": [1.5], "gpu": ["H100"]})}, {})
    for flag, value in (("--x", "unknown"), ("--color", "nope"), ("--marker", "nope"), ("--x", "gpu")):
        assert main(["analyze", str(tmp_path / "r"), flag, value, "--plots", str(tmp_path / "p")]) == 2
        err = capsys.readouterr().err
        assert flag in err and value in err
    assert main(["analyze", str(tmp_path / "r"), "--x", "compute_s", "--plots", str(tmp_path / "p")]) == 0


# -- output for files and pipes, and README commands that work (issue 9, item 9) ----------------

def test_tables_in_a_file_or_pipe_carry_full_values(tmp_path):
    import io
    from sim.app.tables import print_summary, print_table
    buf = io.StringIO()                         # not a terminal
    print_table([{"case": "a-rather-long-case-name-" * 4, "x": 1.5641234567891233e-07, "y": 123456789.125}], file=buf)
    print_summary({"step_time_s": 1.9413549222651445}, title="t", file=buf)
    out = buf.getvalue()
    for text in ("a-rather-long-case-name-" * 4, "1.5641234567891233e-07", "123456789.125", "1.9413549222651445"):
        assert text in out
    assert "…" not in out


def test_validate_prints_a_summary_unless_details_are_asked_for(capsys):
    assert main(["validate", "collectives"]) == 0
    short = capsys.readouterr().out.splitlines()
    assert main(["validate", "collectives", "--details"]) == 0
    full = capsys.readouterr().out.splitlines()
    cases = int(next(line for line in full if line.startswith("collectives:")).split()[1])
    assert len(short) < 12 and len(full) >= cases + 3 and "--details" in short[0]


def test_readme_query_command_works_after_the_readme_set_up(tmp_path):
    """The README's Python DuckDB line (no duckdb CLI needed) reads a sweep as one table."""
    import pyarrow as pa
    from sim.outputs import write_run_dir
    for tp in (2, 4):
        write_run_dir(tmp_path / "runs/out/train-sweep" / f"tp={tp}", {"summary": pa.table({"mfu": [0.1 * tp]})}, {})
    readme = (ROOT / "README.md").read_text()
    line = next(l for l in readme.splitlines() if l.startswith('python -c "import duckdb'))
    assert "duckdb -c" not in readme.split("## Outputs and how to query them")[1].split("## Config reference")[0]
    r = subprocess.run(["bash", "-c", line.replace("python ", f"{sys.executable} ", 1)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert "0.2" in r.stdout and "0.4" in r.stdout and "tp" in r.stdout


# -- one-line errors instead of tracebacks (a new user's report) ----------------------------------

@pytest.mark.parametrize("argv", [
    ["run", str(ROOT_RUNS / "quickstart.toml"), "--out", "afile/sub"],
    ["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--out", "afile/sub"],
    ["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--workers", "-1", "--out", "s"],
    ["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--workers", "0", "--out", "s"],
    ["topologies", "--draw", "hgx-h100-8", "--out", "nodir/x.png"],
    ["topologies", "--draw", "hgx-h100-8", "--out", "x.txt"],
])
def test_bad_output_paths_and_workers_exit_2_naming_the_flag(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    assert main(argv) == 2
    err = capsys.readouterr().err
    flag = "--workers" if "--workers" in argv else "--out"
    assert err.startswith(f"error: {flag}:") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_unreachable_dask_scheduler_exits_2_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("dask.distributed")
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--engine", "dask",
            "--address", "tcp://127.0.0.1:1", "--out", "s"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: --address:")
    assert list(tmp_path.iterdir()) == []


def test_analyze_skips_a_users_non_parquet_file_with_a_warning(tmp_path, capsys):
    import pyarrow as pa
    from sim.outputs import write_run_dir
    write_run_dir(tmp_path / "r", {"summary": pa.table({"mfu": [0.4], "step_time_s": [2.0]})}, {"dcsim_version": "x"})
    (tmp_path / "r" / "requests.parquet").write_text("my notes\n")
    assert main(["analyze", str(tmp_path / "r"), "--no-plots", "--json"]) == 0
    out = capsys.readouterr()
    assert "requests.parquet" in out.err and "not a Parquet file" in out.err
    assert json.loads(out.out.strip().splitlines()[-1])[0]["mfu"] == 0.4


@pytest.mark.parametrize("n", ["0", "-3"])
def test_validate_worst_below_one_exits_2(capsys, n):
    assert main(["validate", "collectives", "--worst", n]) == 2
    assert capsys.readouterr().err.startswith("error: --worst:")


def test_an_invalid_grid_value_exits_2_before_any_point_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(f'name = "bad"\nbase = "{ROOT_RUNS / "quickstart.toml"}"\n'
                                     '[grid]\n"train.tp" = [2, -1]\n')
    assert main(["sweep", "s.toml", "--out", "o", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.tp: sweep point tp=-1:") and err.count("train.tp") == 1
    assert not (tmp_path / "o").exists()


def test_collective_and_validate_help_describe_every_flag_and_suite(capsys):
    from sim.app.validation import SUITES
    with pytest.raises(SystemExit):
        main(["collective", "--help"])
    out = capsys.readouterr().out
    for text in ("all_reduce", "nvls", "first N GPUs", "powers of 1024"):
        assert text in out, text
    from sim.collectives import ALGOS, OPS
    words = set(out.replace("|", " ").replace("(", " ").replace(")", " ").replace(":", " ").split())
    for name in ALGOS + OPS:            # every registered name (nvls_tree was missing from a hand-written list)
        assert name in words, name
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    out = capsys.readouterr().out
    for suite in SUITES:
        assert suite in out, suite


def test_analyze_a_sweep_with_no_finished_point_names_no_sql(tmp_path, capsys):
    from sim.app.sweep import load_sweep, run_sweep
    (tmp_path / "base.toml").write_text('[run]\nname = "base"\n')
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n"train.tp" = [1]\n')

    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "o", workers=1, point_fn=_always_fails, progress=False)
    assert main(["analyze", str(tmp_path / "o"), "--no-plots"]) == 0
    captured = capsys.readouterr()
    assert "--sql" not in captured.err and "0 finished of 1" in captured.out


def _always_fails(task):
    from sim.errors import InfeasibleError
    raise InfeasibleError("train.tp", "never fits")


def test_cotenant_errors_name_the_job_key_path(capsys):
    cot = str(ROOT_RUNS / "cotenant.toml")
    for setting, head in [("jobs.1.workload.input_tokens=100", "error: jobs.1.workload.input_tokens:"),
                          ('jobs.0.name="chat"', "error: jobs.1.name: jobs 0 and 1 are both named 'chat'"),
                          ('jobs.0.placement="spred"', "error: jobs.0.placement: must be one of packed, spread, "
                                                       "or a list of [first, last) GPU index ranges")]:
        assert main(["run", cot, "--set", setting, "--out", "/nonexistent/never"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(head), err
        assert "literal[" not in err and "list[list" not in err


def test_replica_and_link_speed_errors_read_plainly(capsys):
    assert main(["run", str(ROOT_RUNS / "quickstart-serving.toml"), "--set", "serve.replicas=9",
                 "--set", "topology.gpus=8", "--out", "/nonexistent/never"]) == 3
    assert "9 replicas (co-located tp=1)" in capsys.readouterr().err
    assert main(["run", str(ROOT_RUNS / "quickstart.toml"), "--set", 'topology.link_speed={"nosuch"=0.5}',
                 "--out", "/nonexistent/never"]) == 2
    err = capsys.readouterr().err
    assert "links.parquet" in err and "dcsim topology`" not in err


def test_hardware_says_calibrated_per_kind_of_run(capsys):
    """`calibrated` is training's flag, `calibrated_serve` serving's: each is what a run of that
    kind reports (B200 is fitted for training only, H200 for serving only)."""
    from sim.compute import calibration
    assert main(["hardware", "--json"]) == 0
    rows = {r["gpu"]: r for r in json.loads(capsys.readouterr().out.strip().splitlines()[-1])}
    for name, r in rows.items():
        assert r["calibrated"] == calibration(name, "train")[0], name
        assert r["calibrated_serve"] == calibration(name, "serve")[0], name
    assert rows["B200-180GB"]["calibrated"] and not rows["B200-180GB"]["calibrated_serve"]
    assert rows["H200-SXM-141GB"]["calibrated_serve"] and not rows["H200-SXM-141GB"]["calibrated"]
    assert rows["MI300X"]["calibrated"] and not rows["MI300X"]["calibrated_serve"]


@pytest.mark.parametrize("bits", ["1Mb", "64kb", "1Gb", "8b"])
def test_a_size_in_bits_is_refused_not_read_as_bytes(bits):
    # --sizes 1Mb used to run 1 MiB (bytes): a lowercase b is bits, an 8x unit slip
    with pytest.raises(ConfigError) as err:
        parse_sizes(bits)
    assert err.value.key == "--sizes" and "bits" in str(err.value)
    assert parse_size(bits[:-1] + "B") > 0      # the bytes spelling works


def test_a_figure_path_below_a_file_names_the_file(tmp_path):
    # `dcsim topologies --draw X --out FILE/x.png` said "directory FILE does not exist"
    from sim.app.cli import check_figure_path
    from sim.config import ConfigError
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    for out in (blocker / "x.png", blocker / "sub" / "x.png"):
        with pytest.raises(ConfigError) as e:
            check_figure_path(out)
        assert "is a file, not a directory" in str(e.value) and str(blocker) in str(e.value)
    with pytest.raises(ConfigError) as e:
        check_figure_path(tmp_path / "missing" / "x.png")
    assert "does not exist" in str(e.value)
    assert blocker.read_text() == "mine"
    # below a dangling link: the link is named (it said "directory LINK does not exist")
    (tmp_path / "figs").symlink_to(tmp_path / "nowhere")
    for out in (tmp_path / "figs" / "x.png", tmp_path / "figs" / "sub" / "x.png"):
        with pytest.raises(ConfigError) as e:
            check_figure_path(out)
        assert e.value.key == "--out" and f"{str(tmp_path / 'figs')!r} is a symbolic link to" in str(e.value)
    (tmp_path / "real").mkdir()
    (tmp_path / "figs2").symlink_to(tmp_path / "real")
    check_figure_path(tmp_path / "figs2" / "x.png")                 # a link to a directory is that directory


def test_every_shipped_config_has_its_own_default_output_directory():
    # runs/headline-base.toml was named "headline", as is the sweep runs/headline.toml: running
    # the base first left runs/out/headline a run's directory, and the README's sweep was refused
    import tomllib
    names = {}
    for path in sorted(ROOT_RUNS.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        name = data["name"] if "grid" in data or "base" in data else data.get("run", {}).get("name", path.stem)
        names.setdefault(name, []).append(path.name)
    assert {n: files for n, files in names.items() if len(files) > 1} == {}


def test_a_file_system_error_is_reported_without_a_traceback(monkeypatch, capsys):
    # a full disk or a refused write printed a Python traceback
    import errno
    import sim.app.runner as runner

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out/summary.parquet")
    monkeypatch.setattr(runner, "run_to_dir", full)
    assert main(["run", QUICKSTART, "--out", "o"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: /data/out/summary.parquet: No space left on device"


def test_topologies_out_without_draw_exits_2(tmp_path, monkeypatch, capsys):
    # `dcsim topologies --out fabric.png` listed the presets, exit 0, and wrote no figure
    monkeypatch.chdir(tmp_path)
    assert main(["topologies", "--out", "fabric.png"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--draw" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, flag", [(["topologies", "--draw", "hgx-h100-8", "--json"], "--json"),
                                        (["docs", "--check", "--write", "--readme", "R.md"], "--check")])
def test_flags_that_exclude_each_other_exit_2_before_anything_is_written(tmp_path, monkeypatch, capsys, argv, flag):
    # topologies --draw --json drew hgx-h100-8.png and printed no JSON; docs --check --write rewrote the README
    monkeypatch.chdir(tmp_path)
    (tmp_path / "R.md").write_text("mine\n")
    assert main(argv) == 2
    assert f"{flag}:" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["R.md"] and (tmp_path / "R.md").read_text() == "mine\n"


def test_sweep_set_of_a_swept_key_exits_2(tmp_path, monkeypatch, capsys):
    # `dcsim sweep runs/train-sweep.toml --set train.tp=4` ran the grid's tp values, the --set ignored
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--set", "train.tp=4", "--out", "o"]) == 2
    assert "--set" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["sweep", str(ROOT_RUNS / "chat-cost-sweep.toml"), "--set", "run.seed=3", "--out", "o"]) == 2
    assert "replicates" in capsys.readouterr().err


def test_sweep_address_without_the_dask_engine_exits_2(tmp_path, monkeypatch, capsys):
    # --address tcp://... without --engine dask ran the local pool and never used the scheduler
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--address", "tcp://127.0.0.1:8786", "--out", "o"]) == 2
    assert "--engine dask" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_training_plan_that_does_not_fit_gives_the_capacity_in_gib_too(capsys):
    # "exceeds H100-SXM-80GB's 85 GB HBM": the card is sold as 80 GB (80 GiB; the runtime reports
    # 79.1 GiB = 84.9e9 bytes usable)
    assert main(["run", QUICKSTART, "--set", "train.tp=1", "--set", "model.preset=llama3-70b"]) == 3
    assert "H100-SXM-80GB's 84.9 GB (79.1 GiB usable) of HBM" in capsys.readouterr().err


def test_a_sweep_whose_every_point_fails_exits_with_their_status(tmp_path, monkeypatch, capsys):
    # every point infeasible (tp that divides no head count) exited 0, as if the sweep had worked
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(f'name = "s"\nbase = "{QUICKSTART}"\n[grid]\n"train.tp" = [3, 5]\n')
    assert main(["sweep", "s.toml", "--out", "o", "--workers", "1"]) == 3
    assert "no point of s could run" in capsys.readouterr().err
    (tmp_path / "t.toml").write_text(f'name = "t"\nbase = "{QUICKSTART}"\n[grid]\n"train.tp" = [3, 4]\n')
    assert main(["sweep", "t.toml", "--out", "p", "--workers", "1"]) == 0      # one point ran: expected failures


@pytest.mark.parametrize("argv", [["run", str(ROOT_RUNS / "quickstart.toml"), "--out", ""],
                                  ["sweep", str(ROOT_RUNS / "train-sweep.toml"), "--out", ""],
                                  ["topologies", "--draw", "hgx-h100-8", "--out", ""]])
def test_an_empty_out_is_refused_not_replaced_by_the_default(argv, tmp_path, monkeypatch, capsys):
    """`--out "$DIR"` with DIR unset wrote runs/out/NAME/ under the current directory."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert "--out: is an empty path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_unwritable_out_exits_2_before_the_run(capsys):
    assert main(["run", str(ROOT_RUNS / "quickstart.toml"), "--out", "/proc/dcsim-out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out: cannot write") and "staging" not in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_unwritable_figure_path_exits_2(capsys):
    assert main(["topologies", "--draw", "hgx-h100-8", "--out", "/proc/dcsim-fabric.png"]) == 2
    assert capsys.readouterr().err.startswith("error: --out: cannot write")


def test_collective_warns_about_set_keys_and_jobs_it_does_not_read(capsys):
    # dcsim collective --set train.tp=4 ran without a word (it reads [topology] and [hardware] only)
    assert main(["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "1M",
                 "--set", "train.tp=4", "--set", "topology.gpu=H100-SXM-80GB"]) == 0
    err = capsys.readouterr().err
    assert "--set train.tp has no effect on dcsim collective" in err and "topology.gpu" not in err
    assert main(["collective", "runs/cotenant.toml", "--op", "all_reduce", "--gpus", "8", "--sizes", "1M"]) == 0
    assert "are ignored: dcsim collective runs --op all_reduce" in capsys.readouterr().err


@pytest.mark.parametrize("argv, command", [
    (["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "1M"], "collective"),
    (["traffic", "--flows", "4", "--sizes", "64K"], "traffic")])
def test_collective_and_traffic_warn_about_an_unread_set_key_once_and_only_that_way(capsys, argv, command):
    # --set serve.tp=2 also printed the config's "[serve] does not apply to run.kind = 'train'"
    from sim import config
    config._WARNED_UNUSED.clear()
    assert main(argv + ["--set", "serve.tp=2"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert lines == [f"warning: --set serve.tp has no effect on dcsim {command}: it reads "
                     + ("[topology], [hardware] only" if command == "collective" else "[topology], [hardware], [run] only")]


def test_collective_protocol_column_names_what_priced_the_row(capsys):
    # a named algorithm printed protocol Simple whatever priced it
    argv = ["collective", "--set", "topology.preset=dgx-h100-superpod", "--op", "all_gather", "--gpus", "64",
            "--sizes", "1M", "--json"]
    assert main(argv + ["--algo", "ring", "--protocol", "calibrated"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])[0]["protocol"] == "calibrated"
    assert main(argv + ["--algo", "ring"]) == 0
    named = json.loads(capsys.readouterr().out.splitlines()[-1])[0]
    assert main(argv) == 0
    auto = json.loads(capsys.readouterr().out.splitlines()[-1])[0]
    assert (named["time_s"], named["protocol"]) == (auto["time_s"], auto["protocol"]) and auto["algo"] == "ring"
    with pytest.raises(SystemExit):
        main(["collective", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--protocol" in out and "auto | calibrated | LL | LL128 | Simple" in out and "NCCL's tuner" in out


def test_hardware_shows_the_architecture_behaviour_reads(capsys):
    # [hardware] arch / sms key Blackwell's fp8 layouts and TP-overlap SMs: the catalogue shows them
    assert main(["hardware", "--json"]) == 0
    rows = {r["gpu"]: r for r in json.loads(capsys.readouterr().out.strip().splitlines()[-1])}
    assert (rows["B200-180GB"]["arch"], rows["B200-180GB"]["sms"]) == ("blackwell", 148)
    assert (rows["H100-SXM-80GB"]["arch"], rows["MI300X"]["arch"], rows["MI300X"]["sms"]) == ("hopper", "cdna3", 304)


def test_an_arch_of_another_vendor_exits_2_naming_the_key(tmp_path, capsys):
    cfg = tmp_path / "amd-blackwell.toml"
    cfg.write_text((ROOT / "runs" / "quickstart.toml").read_text()
                   + '\n[hardware."MI300X-B"]\nlike = "MI300X"\narch = "blackwell"\n')
    assert main(["run", str(cfg), "--set", "topology.gpu=MI300X-B", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "hardware.MI300X-B.arch" in err and "blackwell is one of NVIDIA's architectures" in err
    assert "Traceback" not in err


def test_hardware_says_which_training_precisions_are_calibrated(capsys):
    # B200 / GB200 / GB300 showed calibrated True while their bf16 and fp4 training is not (their
    # fit has FP8 rows only): calibrated_precisions lists the train.precision values whose runs
    # report calibrated = true
    from sim.compute import calibration
    assert main(["hardware", "--json"]) == 0
    rows = {r["gpu"]: r for r in json.loads(capsys.readouterr().out.strip().splitlines()[-1])}
    # bwbf16: the B200 / GB200 die's bf16 curve is fitted to B200 cuBLAS kernels; gb300bf16: GB300's to
    # Transformer Engine's B300 GEMM timings
    for g, fitted in (("B200-180GB", ["bf16", "fp8"]), ("GB200", ["bf16", "fp8"]), ("GB300", ["bf16", "fp8"])):
        assert rows[g]["calibrated"] and rows[g]["calibrated_precisions"] == fitted, g
        assert calibration(g, "train", "bf16")[0] == ("bf16" in fitted)
        assert not calibration(g, "train", "fp16")[0] and not calibration(g, "train", "fp4")[0]
    assert rows["H100-SXM-80GB"]["calibrated_precisions"] == ["fp16", "bf16", "fp8"]
    assert rows["A100-SXM-80GB"]["calibrated_precisions"] == ["fp16", "bf16"]          # no fp8 tensor cores
    assert rows["H200-SXM-141GB"]["calibrated_precisions"] == []
    for name, r in rows.items():
        assert all(calibration(name, "train", p)[0] for p in r["calibrated_precisions"]), name
    assert main(["hardware"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "calibrated_precisions" in table[1]
    assert next(line for line in table if line.startswith("B200-180GB")).split()[-3:] == ["bf16,", "fp8", "False"]


def test_a_refused_run_prints_its_error_alone_and_a_run_that_runs_its_warnings(tmp_path, capsys, monkeypatch):
    # fresh27 #8b: "train.zero = 1 has no effect with a data-parallel group of one rank" came
    # before the real refusal, "tp (16) does not divide key/value heads (8)" (exit 3)
    quick = str(ROOT_RUNS / "quickstart.toml")
    assert main(["run", quick, "--set", "train.tp=16", "--out", str(tmp_path / "refused")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: infeasible (train.tp): tp (16) does not divide") and "warning" not in err, err
    # the same warning about a run that does run (dp = 1 at tp 8 on 8 GPUs) is printed (a process
    # warns once per message: a fresh set, as each dcsim command is a process of its own)
    from sim import config
    monkeypatch.setattr(config, "_WARNED_INEFFECTIVE", set())
    assert main(["run", quick, "--set", "train.tp=8", "--set", "topology.gpus=8", "--set", "train.global_batch=8",
                 "--out", str(tmp_path / "ran")]) == 0
    assert "warning: train.zero = 1 has no effect" in capsys.readouterr().err


def test_collective_on_more_gpus_than_the_topology_says_how_to_get_them(capsys):
    # fresh27 #8e: "16 GPUs requested but the topology has 8" left the fix to the user
    assert main(["collective", "--op", "all_reduce", "--gpus", "16", "--sizes", "1M"]) == 2
    assert "add --set topology.gpus=16" in capsys.readouterr().err
    assert main(["collective", "--op", "all_reduce", "--gpus", "16", "--sizes", "1M",      # the fix runs
                 "--set", "topology.gpus=16"]) == 0


def test_a_training_run_at_every_default_says_its_refusal_is_of_the_defaults(tmp_path, capsys):
    # fresh27 #10: `[run] name = "plain"` alone exits 3 (189.5 GB a GPU) with nothing saying that is
    # dcsim's placeholder model at tp 1, zero 0 rather than a plan the user wrote
    plain = tmp_path / "plain.toml"
    plain.write_text('[run]\nname = "plain"\n')
    assert main(["run", str(plain), "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "The config gives no [model] or [train], so it trains dcsim's defaults: model 'custom'" in err, err
    assert "on 8 H100-SXM-80GB GPUs at tp = 1, pp = 1, zero = 0" in err and "runs/quickstart.toml" in err
    # a config that sets its training (here by --set) is refused on its own terms
    assert main(["run", str(plain), "--set", "train.zero=1", "--out", str(tmp_path / "o")]) == 3
    assert "dcsim's defaults" not in capsys.readouterr().err
