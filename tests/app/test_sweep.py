"""Sweep engine: points, hive layout, typed partitions, failures, resume after Ctrl-C, engines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sim.errors import ConfigError, InfeasibleError
from sim.outputs import write_run_dir
from sim.app.sweep import SAME_SIGNAL_S, Sweep, encode_value, load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[2]

BASE = '[run]\nname = "base"\n'     # a base run config (an empty file is refused)


# -- point functions used by the tests (module level: workers import them by name) -------------

def tiny_point(task):
    """A stand-in for a run: a one-row summary computed from the point's values."""
    values = task.values
    over = float(values.get("topology.oversubscription", 1.0))
    tp = int(values.get("train.tp", 1))
    if tp == 3:
        raise InfeasibleError("train.tp", "3 does not divide the 8 GPUs of a node")
    summary = pa.table({"step_time_s": [over / tp], "tp_seen": [tp], "token": [uuid.uuid4().hex]})
    write_run_dir(Path(task.out_dir), {"summary": summary}, {"point": task.partition,
                  "point_hash": task.point_hash}, staging_root=task.staging_root)
    return {"summary": {"step_time_s": over / tp}}


def slow_point(task):
    # long enough that a SIGINT sent after three points lands before the twelfth, even when
    # the test process is slow to read the progress lines (a loaded 2-core machine)
    time.sleep(1.0)
    return tiny_point(task)


def gated_point(task):
    """Notes that it started (a file in $DCSIM_TEST_STARTED), then holds until the sweep is stopping (its
    pool workers' stop flag) and finishes as ``tiny_point``. A sweep that never notices its Ctrl-C lets the
    point go after 60 s, failed, and the next points start: the test that uses it then fails."""
    from sim.app import sweep as sw
    (Path(os.environ["DCSIM_TEST_STARTED"]) / str(task.index)).touch()
    give_up = time.monotonic() + 60
    while not getattr(getattr(sw, "_STOP", None), "value", 0):
        if time.monotonic() > give_up:
            raise RuntimeError("the sweep never stopped")
        time.sleep(0.02)
    return tiny_point(task)


def held_point(task):
    """Notes that it started (a file in $DCSIM_TEST_STARTED), then holds until the test creates the file
    $DCSIM_TEST_STARTED/release and finishes as ``tiny_point``. Given up after 60 s (failed): a test
    that never releases it then sees a failed point and the next one started."""
    started = Path(os.environ["DCSIM_TEST_STARTED"])
    (started / str(task.index)).touch()
    give_up = time.monotonic() + 60
    while not (started / "release").exists():
        noted = getattr(getattr(signal.getsignal(signal.SIGINT), "__self__", None), "noted", 0)
        if noted:       # the sweep's deferred handler (sweep._DeferredSignals) noted a Ctrl-C
            (started / "noted").touch()
        if time.monotonic() > give_up:
            raise RuntimeError("never released")
        time.sleep(0.02)
    return tiny_point(task)


def stop_held_point(task):
    """Notes that it started (a file in $DCSIM_TEST_STARTED), and that the sweep is stopping (its pool
    workers' stop flag: file ``stopping``), then holds until $DCSIM_TEST_STARTED/release exists and finishes
    as ``tiny_point``. Given up after 60 s (a file ``gave_up``, then failed): a sweep that left it running
    after it was told to stop at once then finds that file."""
    from sim.app import sweep as sw
    started = Path(os.environ["DCSIM_TEST_STARTED"])
    (started / str(task.index)).touch()
    give_up = time.monotonic() + 60
    while not (started / "release").exists():
        if getattr(getattr(sw, "_STOP", None), "value", 0):
            (started / "stopping").touch()
        if time.monotonic() > give_up:
            (started / "gave_up").touch()
            raise RuntimeError("never released")
        time.sleep(0.02)
    return tiny_point(task)


def last_held_point(task):
    """``tiny_point``, except the point with ``train.tp`` = 2 (the last of a ``[1, 2]`` sweep), which is
    ``held_point``."""
    return held_point(task) if task.values["train.tp"] == 2 else tiny_point(task)


def buggy_point(task):
    if task.values["train.tp"] == 2:
        raise ZeroDivisionError("a bug")
    return tiny_point(task)


def signal_state(out=None):
    """This process's SIGINT and SIGTERM: (each one's handler is SIG_IGN, each one blocked); put on the queue
    ``out`` when given (a Process's target), else returned (a pool task)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    state = ([signal.getsignal(s) is signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM)],
             [s in blocked for s in (signal.SIGINT, signal.SIGTERM)])
    if out is None:
        return state
    out.put(state)


def _write_sweep(tmp_path: Path, grid: dict, zipped: dict | None = None, name="s") -> Path:
    (tmp_path / "base.toml").write_text('[run]\nname = "base"\n')
    lines = [f'name = "{name}"', 'base = "base.toml"', "[grid]"]
    lines += [f'"{k}" = {json.dumps(v)}' for k, v in grid.items()]
    if zipped:
        lines.append("[zip]")
        lines += [f'"{k}" = {json.dumps(v)}' for k, v in zipped.items()]
    path = tmp_path / "sweep.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _source(out: Path, table="summary") -> str:
    types = json.loads((out / "sweep.json").read_text())["partition_types"]
    hive_types = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
    return f"read_parquet('{out}/**/{table}.parquet', hive_partitioning=true, hive_types={hive_types})"


def _read(out: Path, table="summary"):
    return duckdb.sql(f"select * from {_source(out, table)}")


# -- loading -----------------------------------------------------------------------------------

def test_points_grid_times_zip(tmp_path):
    path = _write_sweep(tmp_path, {"topology.nic_Gbps": [100, 200, 400], "train.tp": [4, 8]},
                        {"train.micro_batch": [1, 2], "train.global_batch": [64, 128]})
    sweep = load_sweep(path)
    points = sweep.points()
    assert len(points) == 3 * 2 * 2
    assert [a.name for a in sweep.axes] == ["nic_Gbps", "tp", "micro_batch", "global_batch"]
    assert points[0].rel_dir == "nic_Gbps=100/tp=4/micro_batch=1/global_batch=64"
    # zip axes vary together
    assert all((p.values["train.micro_batch"], p.values["train.global_batch"]) in {(1, 64), (2, 128)}
               for p in points)
    assert len({p.rel_dir for p in points}) == len(points)


def test_a_zip_column_may_repeat_a_value_when_its_rows_differ(tmp_path):
    # a model swept at two TP degrees and another at one: the model column repeats, every row is
    # new. It was refused ("values repeat") although every point has its own directory.
    sweep = load_sweep(data={"name": "z", "zip": {"train.tp": [2, 4, 2], "topology.nic_Gbps": [100, 100, 200]}})
    dirs = [p.rel_dir for p in sweep.points()]
    assert dirs == ["tp=2/nic_Gbps=100", "tp=4/nic_Gbps=100", "tp=2/nic_Gbps=200"]
    with pytest.raises(ConfigError) as err:       # the same row twice: one directory for two points
        load_sweep(data={"name": "z", "zip": {"train.tp": [2, 4, 2], "topology.nic_Gbps": [100, 200, 100]}})
    assert err.value.key == "zip" and "rows 0 and 2 (from 0) are the same" in str(err.value)
    for kind in ("grid", "zip"):                  # one column repeating is that column's error
        with pytest.raises(ConfigError) as err:
            load_sweep(data={"name": "z", kind: {"train.tp": [2, 4, 2]}})
        assert err.value.key == f"{kind}.train.tp" and "values repeat" in str(err.value)


def test_axis_names_disambiguate_shared_last_component(tmp_path):
    path = _write_sweep(tmp_path, {"train.tp": [1, 2], "serve.tp": [1, 2]})
    assert [a.name for a in load_sweep(path).axes] == ["train_tp", "serve_tp"]


def test_partition_values_and_types():
    assert encode_value(200.0) == "200"
    assert encode_value(1.5) == "1.5"
    assert encode_value(True) == "true"
    assert encode_value("a/b c") == "a%2Fb%20c"
    sweep = Sweep("x", None, {}, [])
    assert sweep.partition_types() == {}
    from sim.app.sweep import duckdb_type
    assert duckdb_type([1, 2]) == "BIGINT"
    assert duckdb_type([1, 2.5]) == "DOUBLE"
    assert duckdb_type([True]) == "BOOLEAN"
    assert duckdb_type(["llama3-8b"]) == "VARCHAR"


@pytest.mark.parametrize("body, key", [
    ('name = "x"\n[grid]\n"train.tp" = []\n', "grid.train.tp"),
    ('name = "x"\n[grid]\n"tp" = [1]\n', "grid.tp"),
    ('name = "x"\n[grid]\n"bogus.tp" = [1]\n', "grid.bogus.tp"),
    ('name = "x"\n[grid]\n"train.bogus" = [1]\n', "grid.train.bogus"),
    ('name = "x"\n[zip]\n"train.tp" = [1, 2]\n"train.pp" = [1]\n', "zip"),
    ('name = "x"\nextra = 1\n', "extra"),
    ('name = "x"\n[grid]\n"train.tp" = [1, 1.0]\n', "grid.train.tp"),
    ('name = "x"\n[grid]\n"jobs.x.gpus" = [1]\n', "grid.jobs.x.gpus"),
    ('name = "x"\n[grid]\n"jobs.0.bogus" = [1]\n', "grid.jobs.0.bogus"),
    ('name = "x"\n[grid]\n"jobs.0.train.bogus" = [1]\n', "grid.jobs.0.train.bogus"),
    ('name = "x"\n[grid]\n"hardware.X" = [1]\n', "grid.hardware.X"),
])
def test_bad_sweep_files_name_the_key(tmp_path, body, key):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert err.value.key == key


JOBS_BASE = textwrap.dedent('''
    [topology]
    gpus = 16
    [[jobs]]
    name = "a"
    kind = "train"
    gpus = 8
    [[jobs]]
    name = "b"
    kind = "serve"
    gpus = 8
    [hardware.MyGPU]
    like = "H100-SXM-80GB"
    ''')


def test_jobs_and_hardware_keys_are_swept_like_any_other(tmp_path):
    """A [[jobs]] entry's keys (jobs.N.KEY, jobs.N.SECTION.KEY) and a defined GPU's fields
    (hardware.NAME.FIELD) are swept as --set sets them (the sweep refused them: unknown section
    'jobs'), so README's packed-vs-spread comparison is one sweep."""
    from sim.app.sweep import config_data, validate_points
    (tmp_path / "base.toml").write_text(JOBS_BASE)
    (tmp_path / "s.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n'
                                     '"jobs.1.placement" = ["packed", "spread"]\n"jobs.0.train.tp" = [1, 2]\n'
                                     '[set]\n"hardware.MyGPU.hbm_GBps" = 4000\n')
    sweep = load_sweep(tmp_path / "s.toml")
    # named whole: each job's row has its own placement and tp, which a bare "tp" label replaced
    assert [a.name for a in sweep.axes] == ["jobs_1_placement", "jobs_0_train_tp"]
    points = sweep.points()
    assert points[-1].rel_dir == "jobs_1_placement=spread/jobs_0_train_tp=2"
    data = config_data(sweep.base_data, points[-1].values)
    assert data["jobs"][1]["placement"] == "spread" and data["jobs"][0]["train"]["tp"] == 2
    assert data["jobs"][0]["name"] == "a" and data["hardware"]["MyGPU"]["hbm_GBps"] == 4000
    assert validate_points(sweep) == 4
    # an index past the jobs the base config has names the key
    (tmp_path / "s2.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n"jobs.2.gpus" = [4]\n')
    with pytest.raises(ConfigError) as err:
        config_data(load_sweep(tmp_path / "s2.toml").base_data, {"jobs.2.gpus": 4})
    assert err.value.key == "jobs.2.gpus"


def _serve_sweep(tmp_path: Path, grid: str, base_extra: str = "") -> Path:
    """A sweep file over ``grid`` (TOML lines of [grid]) on a one-GPU llama3-8b serving base."""
    (tmp_path / "base.toml").write_text(TINY_SERVE.replace("sweep-test-model", "llama3-8b") + base_extra)
    (tmp_path / "s.toml").write_text(f'name = "u"\nbase = "base.toml"\n[grid]\n{grid}\n')
    return tmp_path / "s.toml"


def test_an_axis_no_point_reads_is_refused_naming_it_and_why(tmp_path, capsys):
    """A swept key that no point reads (train.dp_bucket_MB in a serving grid) ran every point twice over,
    the same run under two directories: dcsim sweep exits 2 naming the axis and why, and runs nothing."""
    from sim.app.cli import main
    path = _serve_sweep(tmp_path, '"train.dp_bucket_MB" = [25, 50]\n"serve.max_batch_size" = [8, 16]')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "grid.train.dp_bucket_MB" in err and "no point of this sweep reads train.dp_bucket_MB" in err, err
    assert "run.kind is 'serve'" in err and "max_batch_size" not in err.split("error:")[-1]
    assert not out.exists()
    # a key the config's warnings say has no effect at every point: workload.rate with arrival = 'burst'
    path = _serve_sweep(tmp_path, '"workload.rate" = [1.0, 2.0]')
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "no point of this sweep reads workload.rate: workload.rate has no effect with arrival = 'burst'" in err


def test_an_axis_read_by_some_point_is_fine(tmp_path):
    """A grid that varies what makes a key read (run.kind, arrival) runs: its points differ."""
    from sim.app.sweep import check_axes_read, validate_points
    path = _serve_sweep(tmp_path, '"run.kind" = ["serve", "train"]\n"train.dp_bucket_MB" = [25, 50]')
    assert validate_points(load_sweep(path)) == 4
    check_axes_read(load_sweep(path))
    path = _serve_sweep(tmp_path, '"workload.arrival" = ["burst", "poisson"]\n"workload.rate" = [1.0, 2.0]')
    assert validate_points(load_sweep(path)) == 4
    # a key read at no point of the grid that varies something else is still refused
    path = _serve_sweep(tmp_path, '"workload.requests" = [4, 8]\n"train.tp" = [1, 2]')
    with pytest.raises(ConfigError) as err:
        check_axes_read(load_sweep(path))
    assert err.value.key == "grid.train.tp"


def test_an_axis_the_engine_s_scheduler_leaves_unread_is_refused_before_running(tmp_path, capsys):
    """serve.chunk_size swept on a base with scheduler = 'vllm' (runs/quickstart-serving.toml) ran every point,
    the same run twice: the warning that it has no effect came only at run time, after the engine's defaults.
    It is the config's own now: refused (exit 2) naming the axis; a grid whose points include a scheduler
    that reads it runs."""
    from sim.app.cli import main
    from sim.app.sweep import check_axes_read, validate_points
    path = _serve_sweep(tmp_path, '"serve.chunk_size" = [256, 512]', '[serve]\nscheduler = "vllm"\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "grid.serve.chunk_size" in err and "no point of this sweep reads serve.chunk_size" in err, err
    assert not out.exists()
    # the engine's default scheduler decides it where the base gives none: TensorRT-LLM's is 'orca'
    path = _serve_sweep(tmp_path, '"serve.chunk_size" = [256, 512]', '[serve]\nengine = "trtllm"\n')
    with pytest.raises(ConfigError) as err:
        check_axes_read(load_sweep(path))
    assert err.value.key == "grid.serve.chunk_size" and "(trtllm's default)" in str(err.value)
    # vLLM's default scheduler is chunked prefill ('sarathi'): it reads chunk_size
    check_axes_read(load_sweep(_serve_sweep(tmp_path, '"serve.chunk_size" = [256, 512]')))
    path = _serve_sweep(tmp_path, '"serve.scheduler" = ["vllm", "sarathi"]\n"serve.chunk_size" = [256, 512]')
    assert validate_points(load_sweep(path)) == 4


def test_a_switch_axis_whose_on_value_has_no_effect_is_refused_at_its_off_value_too(tmp_path):
    """[true, false] of a switch that has no effect where it is swept (serve.async_scheduling on the trtllm
    engine) ran both points, the same run: a run warns of the on value only, so the false points passed as
    read. The off value of such a switch is refused too; where the switch has effect (vllm) it runs."""
    from sim.app.sweep import check_axes_read
    path = _serve_sweep(tmp_path, '"serve.async_scheduling" = [true, false]', '[serve]\nengine = "trtllm"\n')
    with pytest.raises(ConfigError) as err:
        check_axes_read(load_sweep(path))
    assert err.value.key == "grid.serve.async_scheduling" and "is its off value" in str(err.value), err.value
    path = _serve_sweep(tmp_path, '"serve.async_scheduling" = [false]\n"serve.max_batch_size" = [8, 16]',
                        '[serve]\nengine = "trtllm"\n')
    with pytest.raises(ConfigError) as err:
        check_axes_read(load_sweep(path))
    assert err.value.key == "grid.serve.async_scheduling"
    check_axes_read(load_sweep(_serve_sweep(tmp_path, '"serve.async_scheduling" = [true, false]',
                                            '[serve]\nengine = "vllm"\n')))


def test_a_jobs_or_hardware_axis_no_point_reads_is_refused(tmp_path):
    """The same for a [[jobs]] entry's table its kind does not run and a defined GPU no point runs on."""
    from sim.app.sweep import validate_points
    (tmp_path / "base.toml").write_text(JOBS_BASE)
    (tmp_path / "s.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n"jobs.1.train.tp" = [1, 2]\n')
    with pytest.raises(ConfigError) as err:
        validate_points(load_sweep(tmp_path / "s.toml"))
    assert err.value.key == "grid.jobs.1.train.tp"
    assert "jobs.1.train does not apply to kind = 'serve'" in str(err.value)
    (tmp_path / "s.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n"hardware.MyGPU.hbm_GBps" = [3000, 4000]\n')
    with pytest.raises(ConfigError) as err:
        validate_points(load_sweep(tmp_path / "s.toml"))
    assert err.value.key == "grid.hardware.MyGPU.hbm_GBps" and "does not use it" in str(err.value)
    (tmp_path / "s.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n"hardware.MyGPU.hbm_GBps" = [3000, 4000]\n'
                                     '"topology.gpu" = ["H100-SXM-80GB", "MyGPU"]\n')
    assert validate_points(load_sweep(tmp_path / "s.toml")) == 4


def test_a_gpu_name_with_a_dot_is_swept_by_its_quoted_key(tmp_path, capsys):
    # 'hardware."V100S.mine".hbm_GB' was split at every dot: a garbled warning, then "unknown key"
    from sim.app.sweep import config_data, validate_points
    (tmp_path / "base.toml").write_text('[run]\nname = "b"\n[topology]\ngpu = "V100S.mine"\ngpus = 8\n'
                                        '[hardware."V100S.mine"]\nlike = "H100-SXM-80GB"\nhbm_GB = 64\n')
    (tmp_path / "s.toml").write_text('name = "d"\nbase = "base.toml"\n[grid]\n'
                                     "'hardware.\"V100S.mine\".hbm_GB' = [200, 300]\n'hardware.\"V100S.mine\".power_W' = [700]\n")
    sweep = load_sweep(tmp_path / "s.toml")
    assert [a.name for a in sweep.axes] == ["hbm_GB", "power_W"]
    data = config_data(sweep.base_data, sweep.points()[0].values)
    assert data["hardware"]["V100S.mine"]["hbm_GB"] == 200 and "V100S" not in data["hardware"]
    assert validate_points(sweep) == 2
    assert "V100S'" not in capsys.readouterr().err
    (tmp_path / "s.toml").write_text('name = "d"\nbase = "base.toml"\n[grid]\n"hardware.V100S.mine.hbm_GB" = [200]\n')
    with pytest.raises(ConfigError) as err:           # unquoted: "unknown key" with no hint
        load_sweep(tmp_path / "s.toml")
    assert "quoted: 'hardware.\"V100S.mine\".hbm_GB'" in str(err.value)


@pytest.mark.parametrize("table, key", [
    ('[grid]\n"train.tp" = [2, 4, 8]\n', "grid.train.tp"),
    ('[zip]\n"jobs.0.gpus" = [4, 8]\n"serve.tp" = [1, 2]\n', "zip.serve.tp"),
    ('[set]\n"model.layers" = 4\n[grid]\n"jobs.0.train.tp" = [1, 2]\n', "set.model.layers"),
    ('[grid]\n"workload.rate" = [1, 2]\n', "grid.workload.rate"),
])
def test_a_swept_section_that_jobs_ignore_is_refused_naming_the_job_key(tmp_path, table, key):
    """[grid] "train.tp" = [2, 4, 8] on a [[jobs]] base warned "[train] next to [[jobs]] is ignored"
    and ran three identical points: a swept or fixed key of a section the jobs do not read is an
    error naming the key and suggesting the job's key (jobs.N.<key>)."""
    (tmp_path / "base.toml").write_text(JOBS_BASE)
    (tmp_path / "s.toml").write_text(f'name = "j"\nbase = "base.toml"\n{table}')
    with pytest.raises(ConfigError) as err:
        load_sweep(tmp_path / "s.toml")
    section = key.split(".")[1]
    assert err.value.key == key and "[[jobs]]" in err.value.reason
    assert f"jobs.{0 if section in ('train', 'model') else 1}.{key.split('.', 1)[1]}" in err.value.reason
    # the same key on a base without [[jobs]] is an ordinary axis or [set] key
    (tmp_path / "base.toml").write_text('[topology]\ngpus = 16\n')
    (tmp_path / "s.toml").write_text(f'name = "j"\nbase = "base.toml"\n{table.replace("jobs.0.train.", "train.").replace("jobs.0.gpus", "train.pp")}')
    assert load_sweep(tmp_path / "s.toml").axes


# -- running -----------------------------------------------------------------------------------

def test_two_workers_hive_layout_typed_partitions_and_failures(tmp_path):
    path = _write_sweep(tmp_path, {"topology.oversubscription": [1.0, 1.5, 3.0], "train.tp": [1, 2, 3]})
    out = tmp_path / "out"
    res = run_sweep(load_sweep(path), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("done") == 6 and res.count("failed") == 3
    rel = _read(out)
    rows = rel.fetchall()
    cols = rel.columns
    assert len(rows) == 6
    # one row per point, partition columns typed: the float axis compares as a number
    types = dict(zip(cols, rel.types))
    assert str(types["oversubscription"]) == "DOUBLE" and str(types["tp"]) == "BIGINT"
    q = duckdb.sql(f"select count(*), min(oversubscription) from {_source(out)} "
                   "where oversubscription > 2").fetchall()
    assert q == [(2, 3.0)]
    # partition values are the values the point ran with
    assert duckdb.sql(f"select count(*) from {_source(out)} where tp_seen != tp").fetchall() == [(0,)]
    # integral partitions need no hive_types at all: plain DuckDB reads tp as BIGINT
    plain = duckdb.sql(f"select tp from read_parquet('{out}/**/summary.parquet', hive_partitioning=true)")
    assert str(plain.types[0]) == "BIGINT"
    # the failure is recorded with its error; the sweep went on
    manifest = json.loads((out / "sweep.json").read_text())
    failed = [p for p in manifest["points"] if p["status"] == "failed"]
    assert len(failed) == 3 and all("does not divide" in p["error"] for p in failed)
    assert all(p["exit_code"] == 3 for p in failed)
    assert manifest["counts"]["done"] == 6
    # no staging left inside or beside OUT
    assert not list(out.rglob("*.staging")) and not (tmp_path / ".out.staging").exists()


def test_rerun_skips_finished_points_and_retries_failed(tmp_path):
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4]})
    out = tmp_path / "out"
    first = run_sweep(load_sweep(path), out, workers=2, point_fn=buggy_point, progress=False)
    assert first.count("done") == 2 and first.count("failed") == 1
    assert "ZeroDivisionError" in first.status[1]["error"]
    tokens = dict(duckdb.sql(f"select tp, token from read_parquet('{out}/**/summary.parquet', "
                             "hive_partitioning=true)").fetchall())
    second = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert second.count("skipped") == 2 and second.count("done") == 1
    after = dict(duckdb.sql(f"select tp, token from read_parquet('{out}/**/summary.parquet', "
                            "hive_partitioning=true)").fetchall())
    assert set(after) == {1, 2, 4}
    assert after[1] == tokens[1] and after[4] == tokens[4]   # not recomputed
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["counts"] == {"done": 1, "skipped": 2, "failed": 0, "pending": 0}
    assert manifest["points_finished"] == 3         # this run's and the earlier run's
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)     # all skipped
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["counts"]["skipped"] == 3 and manifest["points_finished"] == 3


def test_progress_prints_one_line_per_point(tmp_path, capsys):
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8]})
    run_sweep(load_sweep(path), tmp_path / "out", workers=1, point_fn=tiny_point, progress=False)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("[")]
    assert len(lines) == 4 and lines[-1].startswith("[4/4]")


TIMEOUT_S = 120      # the longest any test here waits on a sweep subprocess: a hang fails, never blocks CI


class _Lines:
    """A subprocess's output lines, read by a daemon thread so that every wait for one has a timeout."""

    def __init__(self, stream):
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def next(self) -> str:
        """The next line ('' at the end of the output)."""
        try:
            return self.lines.get(timeout=TIMEOUT_S) or ""
        except queue.Empty:
            raise AssertionError(f"no output for {TIMEOUT_S} s: the sweep hangs") from None

    def rest(self) -> str:
        out = []
        while line := self.next():
            out.append(line)
        return "".join(out)


def _sweep_process(path, out, point="slow_point", cli=False, prelude="", env=None,
                   workers=2, new_session=False, mp_context=None) -> subprocess.Popen:
    """A child Python running the sweep at ``path`` into ``out`` with ``workers`` workers and the point function
    ``point`` of this module, its progress lines on a pipe. With ``cli``, through ``dcsim sweep`` (its
    SIGTERM handling and exit status); otherwise it exits 130 when the sweep was interrupted, else 0.
    ``prelude``: code run first. ``new_session``: in its own process group (whose id is its pid), as a shell
    or a batch scheduler starts a job, so that ``os.killpg`` signals the sweep and its workers together.
    ``mp_context``: the pool's start method (not with ``cli``)."""
    if cli:
        body = f"""
            import functools
            import sim.app.sweep as sw
            from sim.app.cli import main
            sw.run_sweep = functools.partial(sw.run_sweep, point_fn={point}, progress=False)
            sys.exit(main(["sweep", {str(path)!r}, "--out", {str(out)!r}, "--workers", "{workers}"]))
        """
    else:
        body = f"""
            from sim.app.sweep import load_sweep, run_sweep
            res = run_sweep(load_sweep({str(path)!r}), {str(out)!r}, workers={workers}, point_fn={point}, progress=False,
                            mp_context={mp_context!r})
            sys.exit(130 if res.interrupted else 0)
        """
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests' / 'app')!r}]
        from test_sweep import {point}
    """) + textwrap.dedent(prelude) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, start_new_session=new_session)


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    """Wait for ``proc`` (at most TIMEOUT_S, then kill it and fail): its stdout and stderr."""
    try:
        return proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=TIMEOUT_S)
        raise AssertionError(f"the sweep did not end in {TIMEOUT_S} s (killed): {err[-2000:]}") from None


def _reap_group(proc: subprocess.Popen) -> None:
    """Kill what is left of ``proc``'s process group (workers left behind, if any) and wait for it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=TIMEOUT_S)


def test_sigint_loses_no_finished_point(tmp_path):
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out = tmp_path / "out"
    proc = _sweep_process(path, out)
    try:
        lines = _Lines(proc.stdout)
        _wait_for_points(lines, 3, "interrupted")
        proc.send_signal(signal.SIGINT)
        rest = lines.rest()
        assert proc.wait(timeout=TIMEOUT_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True
    finished = {p["dir"] for p in manifest["points"] if p["status"] == "done"}
    assert 3 <= len(finished) < 12, rest
    tokens = dict(duckdb.sql(f"select filename, token from read_parquet('{out}/**/summary.parquet', "
                             "filename=true)").fetchall())
    assert len(tokens) == len(finished)
    res = run_sweep(load_sweep(path), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == len(finished) and res.count("done") == 12 - len(finished)
    rows = _read(out).fetchall()
    assert len(rows) == 12
    got = dict(duckdb.sql(f"select filename, token from read_parquet('{out}/**/summary.parquet', "
                          "filename=true)").fetchall())
    assert len(set(got)) == 12
    assert all(got[f] == t for f, t in tokens.items())     # finished points were not recomputed


def _wait_for_file(path: Path, proc: subprocess.Popen) -> None:
    give_up = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert proc.poll() is None, proc.communicate(timeout=TIMEOUT_S)
        assert time.monotonic() < give_up, f"{path.name} never appeared"
        time.sleep(0.02)


def _interrupted_one_worker_sweep(tmp_path: Path, interrupt):
    """A ``dcsim sweep --workers 1`` of three held points, ``interrupt(proc, started)`` called once the
    first point runs; returns (sweep file, output dir, started-marker dir, process, stderr)."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4]})
    out, started = tmp_path / "out", tmp_path / "started"
    started.mkdir()
    proc = _sweep_process(path, out, point="held_point", cli=True, workers=1,
                          env={"DCSIM_TEST_STARTED": str(started)})
    try:
        _wait_for_file(started / "0", proc)
        interrupt(proc, started)
        _, stderr = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    return path, out, started, proc, stderr


def test_ctrl_c_with_one_worker_lets_the_running_point_finish_and_keeps_it(tmp_path):
    """``--workers 1`` runs the points in the sweep's own process. A Ctrl-C raised its KeyboardInterrupt
    inside the running point, which was dropped (the sweep exited at once). Now, as with the pool, the
    point running at the Ctrl-C finishes and is kept, no other point starts, and ``dcsim sweep`` exits
    130; a rerun skips the kept point."""
    def interrupt(proc, started):
        proc.send_signal(signal.SIGINT)
        (started / "release").touch()   # the held point may finish now; the sweep must stop after it
    path, out, started, proc, stderr = _interrupted_one_worker_sweep(tmp_path, interrupt)
    assert proc.returncode == 130, stderr
    assert "interrupted: finished points are kept" in stderr
    assert {p.name for p in started.iterdir()} <= {"0", "noted", "release"}   # no point started after it
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True and manifest["running"] is False
    assert [p["status"] for p in manifest["points"]] == ["done", "pending", "pending"]
    assert _read(out).fetchall() and [r[0] for r in duckdb.sql(f"select tp_seen from {_source(out)}").fetchall()] == [1]
    res = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == 1 and res.count("done") == 2


def test_a_second_ctrl_c_with_one_worker_stops_the_running_point(tmp_path):
    """As the pool's: a second Ctrl-C does not wait for the running point; nothing half-written is kept."""
    def interrupt(proc, started):
        proc.send_signal(signal.SIGINT)
        _wait_for_file(started / "noted", proc)     # two signals sent at once may merge into one
        time.sleep(SAME_SIGNAL_S)                   # and within SAME_SIGNAL_S they are one stop
        proc.send_signal(signal.SIGINT)
    path, out, started, proc, stderr = _interrupted_one_worker_sweep(tmp_path, interrupt)
    assert proc.returncode == 130, stderr
    assert sorted(p.name for p in started.iterdir()) == ["0", "noted"]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True
    assert [p["status"] for p in manifest["points"]] == ["pending"] * 3
    assert not list(out.rglob("summary.parquet"))
    assert not (tmp_path / ".out.staging").exists()


def test_a_ctrl_c_during_the_last_point_with_one_worker_completes_the_sweep(tmp_path):
    """A Ctrl-C while the last point runs (``--workers 1``): that point finishes and nothing is left to run,
    so the sweep is complete: exit 0, no resume message, ``sweep.json`` not marked interrupted (before, it
    printed "2 ran ... of 2 points" and then "interrupted ... run the same command again", exit 130)."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out, started = tmp_path / "out", tmp_path / "started"
    started.mkdir()
    proc = _sweep_process(path, out, point="last_held_point", cli=True, workers=1,
                          env={"DCSIM_TEST_STARTED": str(started)})
    try:
        _wait_for_file(started / "1", proc)     # the last point runs, held until released
        proc.send_signal(signal.SIGINT)
        _wait_for_file(started / "noted", proc)
        (started / "release").touch()
        stdout, stderr = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    assert proc.returncode == 0, stderr
    assert "2 ran" in stderr and "interrupted" not in stderr, stderr
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is False and manifest["points_finished"] == 2


def test_a_ctrl_c_while_the_pool_runs_its_last_points_completes_the_sweep(tmp_path, monkeypatch):
    """The pool's path: a Ctrl-C noted while the last points run (none left to start) lets them finish; the
    sweep is then complete, not interrupted."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    started = tmp_path / "started"
    started.mkdir()
    monkeypatch.setenv("DCSIM_TEST_STARTED", str(started))
    noted = []

    def interrupt_then_release():
        give_up = time.monotonic() + TIMEOUT_S
        while not ((started / "0").exists() and (started / "1").exists()) and time.monotonic() < give_up:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)
        while time.monotonic() < give_up:
            handler = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
            if getattr(handler, "noted", 0):
                noted.append(True)
                break
            time.sleep(0.02)
        (started / "release").touch()

    helper = threading.Thread(target=interrupt_then_release, daemon=True)
    helper.start()
    res = run_sweep(load_sweep(path), tmp_path / "out", workers=2, point_fn=held_point, progress=False)
    helper.join(TIMEOUT_S)
    assert noted, "the sweep never noted the Ctrl-C"
    assert res.count("done") == 2 and not res.interrupted
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["interrupted"] is False


def _tgkill():
    import ctypes
    return getattr(ctypes.CDLL(None, use_errno=True), "tgkill", None)


def _blocked_signals(pid: int, tid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigBlk line")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or _tgkill() is None,
                    reason="sends a signal to one thread of another process (Linux tgkill, /proc)")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_the_kernel_hands_to_a_pool_thread_stops_the_sweep(tmp_path, sig):
    """The kernel hands a process-directed SIGINT (Ctrl-C) or SIGTERM to any thread that does not block it,
    and Python acts on it only in the main thread. Landing on the pool's queue-feeder thread while the main
    thread slept in an untimed wait, it was seen only when a point finished (points running for hours:
    hours later), and then the points the pool had queued ran too. Now: both points that were running at
    the signal finish and are kept, no other point starts, and ``dcsim sweep`` exits 130 (SIGTERM: as
    Ctrl-C)."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out, started = tmp_path / "out", tmp_path / "started"
    started.mkdir()
    proc = _sweep_process(path, out, point="gated_point", cli=True, env={"DCSIM_TEST_STARTED": str(started)})
    try:
        give_up = time.monotonic() + TIMEOUT_S
        while len(list(started.iterdir())) < 2:          # both workers hold a point
            assert proc.poll() is None, proc.communicate(timeout=TIMEOUT_S)
            assert time.monotonic() < give_up, "the pool never started two points"
            time.sleep(0.05)
        bit = 1 << (sig - 1)
        threads = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task"))
        takers = [t for t in threads if t != proc.pid and not _blocked_signals(proc.pid, t) & bit]
        assert takers, "no thread besides the main one could take the signal"
        assert _tgkill()(proc.pid, takers[-1], int(sig)) == 0      # the newest: the pool's queue feeder
        stdout, stderr = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert sorted(p.name for p in started.iterdir()) == ["0", "1"]    # no point started after the signal
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True
    status = [p["status"] for p in manifest["points"]]
    assert status[:2] == ["done", "done"] and set(status[2:]) == {"pending"}, status
    assert len(stdout.splitlines()) == 2


def _group_signalled_sweep(tmp_path: Path, point: str, signal_group):
    """A ``dcsim sweep --workers 2`` of twelve points in its own process group; once both workers run a point,
    ``signal_group(proc, started)`` (the group's id is ``proc.pid``). Returns (output dir, started-marker dir, process, stderr); the group is
    killed at the end whatever happened."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out, started = tmp_path / "out", tmp_path / "started"
    started.mkdir()
    proc = _sweep_process(path, out, point=point, cli=True, env={"DCSIM_TEST_STARTED": str(started)},
                          new_session=True)
    try:
        give_up = time.monotonic() + TIMEOUT_S
        while not {"0", "1"} <= {p.name for p in started.iterdir()}:      # both workers hold a point
            assert proc.poll() is None, proc.communicate(timeout=TIMEOUT_S)
            assert time.monotonic() < give_up, "the pool never started two points"
            time.sleep(0.05)
        signal_group(proc, started)
        _, stderr = _finish(proc)
    finally:
        _reap_group(proc)
    return out, started, proc, stderr


def test_sigterm_to_the_process_group_stops_a_pool_sweep_as_ctrl_c_does(tmp_path):
    """``timeout`` and batch schedulers send SIGTERM to the whole process group. The pool's workers died of
    it: every running and queued point was recorded as failed (``worker died: BrokenProcessPool``), the
    running ones lost, exit 1 and ``interrupted: false``. Now the workers ignore it as they ignore Ctrl-C:
    the points running at the signal finish and are kept, no other point starts, exit 130."""
    out, started, proc, stderr = _group_signalled_sweep(
        tmp_path, "gated_point", lambda proc, started: os.killpg(proc.pid, signal.SIGTERM))
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    assert sorted(p.name for p in started.iterdir()) == ["0", "1"]    # no point started after the signal
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True and manifest["running"] is False
    status = [p["status"] for p in manifest["points"]]
    assert status[:2] == ["done", "done"] and set(status[2:]) == {"pending"}, status
    assert sorted(r[0] for r in duckdb.sql(f"select tp_seen from {_source(out)}").fetchall()) == [1, 1]


def test_a_second_sigterm_to_the_process_group_stops_the_running_points(tmp_path):
    """As a second Ctrl-C: the sweep does not wait for the running points. Its workers ignore SIGTERM, so
    the sweep kills them (SIGKILL); they neither finish nor linger until their points give up."""
    def twice(proc, started):
        os.killpg(proc.pid, signal.SIGTERM)
        give_up = time.monotonic() + TIMEOUT_S
        while not (started / "stopping").exists():     # the sweep acted on the first (two may merge into one)
            assert proc.poll() is None, proc.communicate(timeout=TIMEOUT_S)
            assert time.monotonic() < give_up, "the sweep never noted the first SIGTERM"
            time.sleep(0.02)
        time.sleep(SAME_SIGNAL_S)                       # sooner, the same signal again is that one stop
        os.killpg(proc.pid, signal.SIGTERM)
    out, started, proc, stderr = _group_signalled_sweep(tmp_path, "stop_held_point", twice)
    assert proc.returncode == 130, stderr
    assert sorted(p.name for p in started.iterdir()) == ["0", "1", "stopping"]     # none gave up, none released
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True
    assert {p["status"] for p in manifest["points"]} == {"pending"}
    assert not list(out.glob("**/summary.parquet"))


def _assert_stopped_cleanly(tmp_path: Path, out: Path, stderr: str) -> list[str]:
    """A sweep into ``out`` that was stopped: no traceback, ``sweep.json`` says interrupted and not running,
    every point is either done (its summary in place) or not (no summary), and nothing is left in staging.
    Returns the points' statuses."""
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True and manifest["running"] is False
    status = [p["status"] for p in manifest["points"]]
    for point in manifest["points"]:
        assert (out / point["dir"] / "summary.parquet").exists() == (point["status"] == "done"), point
    assert not (tmp_path / f".{out.name}.staging").exists()
    return status


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_sent_to_the_sweep_and_then_its_group_lets_the_running_points_finish(tmp_path, sig):
    """``timeout -s INT`` (plain ``timeout``: SIGTERM) signals the sweep, then its whole process group. The sweep
    took the two for two Ctrl-Cs and SIGKILLed its workers: the points running were lost, and the pool's
    manager thread printed an InvalidStateError traceback (3 of 12 of a fresh user's runs). Here the two come
    20 ms apart (a sender slowed between its two kill calls; the old sweep took them as two every time): the
    points running finish and are kept, no other point starts, exit 130, no traceback; a rerun completes."""
    def as_timeout_sends(proc, started):
        os.kill(proc.pid, sig)
        time.sleep(0.02)
        os.killpg(proc.pid, sig)
        give_up = time.monotonic() + TIMEOUT_S
        while not (started / "stopping").exists() and proc.poll() is None:     # the workers saw the stop
            assert time.monotonic() < give_up, "the sweep never stopped its workers"
            time.sleep(0.02)
        (started / "release").touch()
    out, started, proc, stderr = _group_signalled_sweep(tmp_path, "stop_held_point", as_timeout_sends)
    assert proc.returncode == 130, stderr
    assert "interrupted: finished points are kept; run the same command again to resume" in stderr
    status = _assert_stopped_cleanly(tmp_path, out, stderr)
    assert status[:2] == ["done", "done"] and set(status[2:]) == {"pending"}, (status, stderr)
    assert sorted(p.name for p in started.iterdir()) == ["0", "1", "release", "stopping"]
    res = run_sweep(load_sweep(tmp_path / "sweep.toml"), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == 2 and res.count("done") == 10 and not res.interrupted


WORKER_START_METHODS = [m for m in ("spawn", "forkserver")
                        if m in __import__("multiprocessing").get_all_start_methods()]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="signal masks: POSIX")
@pytest.mark.parametrize("method", WORKER_START_METHODS)
def test_a_ctrl_c_to_the_group_while_the_workers_start_stops_the_sweep_cleanly(tmp_path, method):
    """Ctrl-C reaches the whole process group, workers being born included. Under spawn a worker then died of
    KeyboardInterrupt before its initializer ignored it (a traceback), the pool broke, and every point was
    recorded as failed: the sweep exited as complete (0), nothing to resume. Under forkserver the fork server
    itself died as it started (``EOFError`` traceback, exit 1). Now, Ctrl-C 0.05 s and 0.25 s after the
    sweep starts (its workers starting): exit 130, no traceback, each point done or not started, and a rerun
    completes the sweep."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8]})
    for delay in (0.05, 0.25):
        out = tmp_path / f"out-{int(delay * 1000)}"
        proc = _sweep_process(path, out, point="slow_point", new_session=True, mp_context=method)
        try:
            _wait_for_file(out / "sweep.json", proc)    # the pool starts next
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGINT)
            _, stderr = _finish(proc)
        finally:
            _reap_group(proc)
        assert proc.returncode == 130, (delay, stderr)
        status = _assert_stopped_cleanly(tmp_path, out, stderr)
        assert set(status) <= {"done", "pending"} and "pending" in status, (delay, status)
    res = run_sweep(load_sweep(path), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("done") + res.count("skipped") == 4 and not res.interrupted


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_a_worker_that_dies_after_a_ctrl_c_fails_its_points_without_a_traceback(tmp_path):
    """A worker that died after the Ctrl-C (killed by a second one, or out of memory) broke the pool while the
    sweep had cancelled its queued points: the pool's manager thread, failing every point it held, stopped at
    the first cancelled one with InvalidStateError (CPython gh-107219; 3.11.7 has it): a traceback, and the
    other worker left running. Now the manager cancels them itself: the points that were running are recorded
    as failed (their worker died), the rest as not run, exit 130, no traceback; a rerun completes."""
    def ctrl_c_then_a_worker_dies(proc, started):
        os.kill(proc.pid, signal.SIGINT)
        _wait_for_file(started / "stopping", proc)
        workers = sorted(_children(proc.pid))
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
    out, started, proc, stderr = _group_signalled_sweep(tmp_path, "stop_held_point", ctrl_c_then_a_worker_dies)
    assert proc.returncode == 130, stderr
    assert sorted(p.name for p in started.iterdir()) == ["0", "1", "stopping"]    # none released, none gave up
    manifest = json.loads((out / "sweep.json").read_text())
    assert "InvalidStateError" not in stderr and "Traceback" not in stderr, stderr
    assert manifest["interrupted"] is True and manifest["running"] is False
    points = manifest["points"]
    assert [p["status"] for p in points[:2]] == ["failed", "failed"], points[:3]
    assert all("worker died" in p["error"] for p in points if p["status"] == "failed")
    assert {p["status"] for p in points[2:]} <= {"failed", "pending"}
    assert not list(out.rglob("summary.parquet")) and not (tmp_path / ".out.staging").exists()
    res = run_sweep(load_sweep(tmp_path / "sweep.toml"), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("done") == 12 and not res.interrupted


def test_the_same_signal_twice_at_once_is_one_stop_and_a_later_one_a_second():
    """``timeout -s INT`` (and a batch scheduler's kill of a job) sends its signal to the sweep and then to its
    whole process group, microseconds apart. The sweep took the two for two Ctrl-Cs and killed the points that
    were running (a fresh user's ``timeout --preserve-status -s INT 4 dcsim sweep ... --workers 2``: in 3 of 12
    runs, with an InvalidStateError traceback from the pool). Now the same signal again within SAME_SIGNAL_S
    is that one stop; one after it is the second, and so is another signal."""
    from sim.app import sweep as sw
    calls = []
    previous = {sig: signal.signal(sig, lambda signum, frame: calls.append(signum)) for sig in sw._INTERRUPTS}
    try:
        with sw._DeferredSignals() as signals:
            os.kill(os.getpid(), signal.SIGINT)     # to the sweep; its handler runs before the next line
            os.kill(os.getpid(), signal.SIGINT)     # and to its process group
            assert signals.noted == 1
            signals.deliver()
            assert calls == [signal.SIGINT]
            os.kill(os.getpid(), signal.SIGTERM)    # another signal: another stop (SIGTERM's own handler)
            time.sleep(sw.SAME_SIGNAL_S + 0.05)
            os.kill(os.getpid(), signal.SIGINT)     # a person's second Ctrl-C
            signals.deliver()
            assert calls == [signal.SIGINT, signal.SIGTERM, signal.SIGINT] and signals.noted == 3
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


START_METHODS = [m for m in ("fork", "spawn", "forkserver") if m in __import__("multiprocessing").get_all_start_methods()]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="signal masks: POSIX")
@pytest.mark.parametrize("method", START_METHODS)
def test_a_pool_worker_is_born_deaf_to_ctrl_c_and_ignores_it_from_its_first_point(method):
    """A worker ignored Ctrl-C and SIGTERM only once its initializer ran. Born by spawn (exec resets a handled
    signal to the default: KeyboardInterrupt) or by the fork server, one that got the group's Ctrl-C while it
    started died with a traceback, and the pool broke: every point failed (BrokenProcessPool), and the sweep
    exited as if complete. Now a worker is born with both signals blocked (held, not lost: an ignored one is
    discarded), and from its first point ignores them, unblocked; the sweep's own mask is as it was."""
    from concurrent.futures import ProcessPoolExecutor
    from sim.app import sweep as sw
    ctx = sw._pool_context(method)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    out = ctx.SimpleQueue()
    born = ctx.Process(target=signal_state, args=(out,))
    born.start()
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask
    state = out.get()
    born.join(TIMEOUT_S)
    assert state[1] == [True, True], "a worker must be born with SIGINT and SIGTERM blocked"
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=sw._worker_init, initargs=(os.getpid(),)) as pool:
        assert pool.submit(signal_state).result(timeout=TIMEOUT_S) == ([True, True], [False, False])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask


# Ctrl-C at the K-th line the sweep's main thread runs in the standard library's pool, queue and lock code.
# On CPython 3.11.7 a 12-point sweep runs about 2,300 such lines now (most to start the pool and submit);
# with main's code before this fix K = 1715 fell inside wait()'s lock loop and hung it.
CTRL_C_AT_LINES = [1, 10, 100, 400, 1000, 1500, 1700, 1715, 1730, 2000, 2250]


@pytest.mark.parametrize("k", CTRL_C_AT_LINES)
def test_a_ctrl_c_anywhere_in_the_pool_code_stops_the_sweep_without_a_hang(tmp_path, k):
    """Python runs a signal's handler at whatever bytecode the main thread is at. A KeyboardInterrupt raised
    inside concurrent.futures.wait while it took its futures' locks one by one left some held; the pool's
    manager thread then blocked forever taking one to mark a future running or done, and the sweep hung: the
    hang of a clean-clone CI run, whose test sent its SIGINT just as the main thread went back into wait()
    (reproduced by raising SIGINT there). Here the Ctrl-C lands at the K-th line the main thread runs in
    concurrent.futures, multiprocessing, queue or threading code (a line trace): the sweep ends, exit 130
    (or, where it ran fewer such lines than K or the Ctrl-C came once every point had finished, it simply
    finishes)."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out = tmp_path / "out"
    prelude = f"""
        import signal
        lines = [0]
        POOL_CODE = ("concurrent", "multiprocessing", "queue.py", "threading.py")

        def trace_lines(frame, event, arg):
            if event == "line":
                lines[0] += 1
                if lines[0] == {k}:
                    sys.settrace(None)
                    print("ctrl-c at", frame.f_code.co_qualname, file=sys.stderr, flush=True)
                    signal.raise_signal(signal.SIGINT)      # its handler runs at the next bytecode, here
            return trace_lines

        def trace_calls(frame, event, arg):
            return trace_lines if any(part in frame.f_code.co_filename for part in POOL_CODE) else None

        sys.settrace(trace_calls)       # the main thread only
    """
    proc = _sweep_process(path, out, prelude=prelude)
    stdout, stderr = _finish(proc)
    manifest = json.loads((out / "sweep.json").read_text())
    done = sum(p["status"] == "done" for p in manifest["points"])
    assert done == len(stdout.splitlines())
    if "ctrl-c at" not in stderr or done == 12:     # fewer lines than k ran, or the Ctrl-C came as the last
        assert proc.returncode == 0 and done == 12, stderr      # points finished: nothing left to resume
        assert manifest["interrupted"] is False
        return
    assert proc.returncode == 130, stderr
    assert manifest["interrupted"] is True


def test_a_ctrl_c_while_points_are_submitted_stops_the_sweep(tmp_path, monkeypatch):
    """A Ctrl-C that comes while the pool starts and takes the points (noted, not raised there) stops
    the sweep as soon as submission ends: the points submitted by then are cancelled or not started, and
    the pool is shut down (before, a stop at this moment left the pool to run every point)."""
    from sim.app import sweep as sw
    pools = []

    class Pool(sw.ProcessPoolExecutor):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            pools.append(self)

        def submit(self, *a, **kw):
            if not getattr(self, "_signalled", False):
                self._signalled = True
                signal.raise_signal(signal.SIGINT)
            return super().submit(*a, **kw)

    monkeypatch.setattr(sw, "ProcessPoolExecutor", Pool)
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    res = run_sweep(load_sweep(path), tmp_path / "out", workers=2, point_fn=slow_point, progress=False)
    assert res.interrupted
    assert len(pools) == 1 and pools[0]._shutdown_thread
    assert res.count("done") <= 2 and res.count("pending") == 12 - res.count("done")


def test_progress_bar_on_a_terminal_shows_count_and_eta(tmp_path):
    import io
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 3]})
    stream = io.StringIO()
    res = run_sweep(load_sweep(path), tmp_path / "out", workers=1, point_fn=tiny_point, progress=True,
                    stream=stream)
    text = stream.getvalue()
    assert res.count("done") == 2
    assert "3/3" in text and "eta" in text and "failed" in text
    assert not any(l.startswith("[1/3]") for l in text.splitlines())   # no per-point lines


def test_rerun_recomputes_points_whose_config_changed(tmp_path):
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    again = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert again.count("skipped") == 2
    # the base changes: every point is stale and runs again
    (tmp_path / "base.toml").write_text('[run]\nname = "base"\nseed = 7\n')
    changed = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert changed.count("done") == 2 and changed.count("skipped") == 0


# -- a point's identity is its resolved config and the dcsim version (issue 9, item 8) ---------

TINY_SERVE = """
[run]
kind = "serve"
name = "tiny"
[topology]
gpus = 1
gpus_per_node = 1
fabric = "none"
[model]
preset = "sweep-test-model"
[workload]
arrival = "burst"
requests = 8
input_tokens = 64
output_tokens = 4
"""


def test_a_changed_preset_or_version_recomputes_finished_points(tmp_path, monkeypatch):
    import sim
    from sim import config
    presets = tmp_path / "presets"
    presets.mkdir()
    llama = (ROOT / "workloads" / "presets" / "llama3-8b.toml").read_text()
    (presets / "sweep-test-model.toml").write_text(llama)
    monkeypatch.setitem(config._PRESET_DIRS, "model", config._PRESET_DIRS["model"] + [presets])
    (tmp_path / "base.toml").write_text(TINY_SERVE)
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n"serve.max_batch_size" = [4, 8]\n')

    def sweep():
        res = run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, progress=False)
        ttft = duckdb.sql(f"select max_batch_size, ttft_p50_s from read_parquet('{tmp_path}/out/**/summary.parquet', "
                          "hive_partitioning=true) order by 1").fetchall()
        return res, ttft

    res, first = sweep()
    assert res.count("done") == 2
    res, same = sweep()
    assert res.count("skipped") == 2 and same == first           # nothing changed: nothing reruns
    # the preset file changes (a model with half the layers): the old results are no longer valid
    (presets / "sweep-test-model.toml").write_text(llama.replace("layers = 32", "layers = 16"))
    res, changed = sweep()
    assert res.count("done") == 2 and res.count("skipped") == 0
    assert all(b[1] < a[1] for a, b in zip(first, changed))
    monkeypatch.setattr(sim, "__version__", sim.__version__ + ".test")
    res, _ = sweep()
    assert res.count("done") == 2                                  # a new dcsim recomputes too


TRACE_CSV = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.10,120,8\n"
TRACE_BASES = {
    "workload": TINY_SERVE.replace("sweep-test-model", "llama3-8b").replace(
        'arrival = "burst"\nrequests = 8\ninput_tokens = 64\noutput_tokens = 4\n',
        'arrival = "trace"\ntrace = "t.csv"\n'),
    "jobs": '[run]\nname = "tiny"\nbaseline = false\n[topology]\ngpus = 1\ngpus_per_node = 1\nfabric = "none"\n'
            '[[jobs]]\nname = "chat"\nkind = "serve"\ngpus = 1\nmodel = { preset = "llama3-8b" }\n'
            'workload = { arrival = "trace", trace = "t.csv" }\n',
}


@pytest.mark.parametrize("where", ["workload", "jobs"])
def test_a_changed_trace_file_recomputes_finished_points(tmp_path, where):
    """A point reads its ``workload.trace`` (a ``[[jobs]]`` entry's too); the config names the file, not its
    content. A row added to the trace left every point finished ("0 ran, 2 already done", requests still 2).
    Now the trace's content is part of the point's identity: a changed trace reruns the points."""
    (tmp_path / "t.csv").write_text(TRACE_CSV)
    (tmp_path / "base.toml").write_text(TRACE_BASES[where])
    key = "serve.max_batch_size" if where == "workload" else "jobs.0.serve.max_batch_size"
    (tmp_path / "s.toml").write_text(f'name = "s"\nbase = "base.toml"\n[grid]\n"{key}" = [4, 8]\n')

    def sweep():
        res = run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, progress=False)
        requests = duckdb.sql(f"select requests from read_parquet('{tmp_path}/out/**/summary.parquet')").fetchall()
        return res, sorted(r[0] for r in requests)

    res, requests = sweep()
    assert res.count("done") == 2 and requests == [2, 2]
    res, requests = sweep()
    assert res.count("skipped") == 2 and requests == [2, 2]        # nothing changed: nothing reruns
    (tmp_path / "t.csv").write_text(TRACE_CSV + "2023-11-16 18:15:48.00,200,16\n")
    res, requests = sweep()
    assert res.count("done") == 2 and res.count("skipped") == 0
    assert requests == [3, 3]
    assert sweep()[0].count("skipped") == 2


def _serve_row(point: Path) -> tuple:
    return duckdb.sql(f"select ttft_p50_s, output_tokens_per_s from read_parquet('{point}/summary.parquet')").fetchall()[0]


def test_a_point_overwritten_by_a_single_run_runs_again(tmp_path):
    """``dcsim run --out OUT/max_batch_size=4`` (another config, a training run) leaves a complete run
    directory with a manifest but no ``point_hash``. It is not the sweep's point: a rerun recomputes it
    (before, it counted as finished for good and analyze showed a training row in a serving sweep)."""
    from sim import config
    from sim.app import runner
    (tmp_path / "base.toml").write_text(TINY_SERVE.replace("sweep-test-model", "llama3-8b"))
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n"serve.max_batch_size" = [4, 8]\n')
    out = tmp_path / "out"
    assert run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, progress=False).count("done") == 2
    point = out / "max_batch_size=4"
    first = _serve_row(point)
    assert first[0] is not None and first[0] > 0
    ours = json.loads((point / "manifest.json").read_text())["point_hash"]
    runner.run_to_dir(config.load_config(ROOT / "runs" / "quickstart.toml"), point)
    assert "point_hash" not in json.loads((point / "manifest.json").read_text())
    res = run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, progress=False)
    assert res.count("done") == 1 and res.count("skipped") == 1
    assert [p.rel_dir for p in res.points if res.status[p.index]["status"] == "done"] == ["max_batch_size=4"]
    assert json.loads((point / "manifest.json").read_text())["point_hash"] == ours
    assert _serve_row(point) == first                   # the sweep's own point again, not the training run
    assert not (point / "steps.parquet").exists()      # the training run's own table went with it


def test_a_custom_point_without_a_hash_still_counts_as_finished(tmp_path):
    """A custom point function may record no ``point_hash``; its complete points are kept on a rerun."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    for m in out.glob("*/manifest.json"):
        data = json.loads(m.read_text())
        del data["point_hash"]
        m.write_text(json.dumps(data))
    assert run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False).count("skipped") == 2


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _wait_for_points(lines, n: int, what: str) -> None:
    """Read the sweep's progress lines until ``n`` points have printed theirs ("[..."); fail if it ends first."""
    seen = 0
    while seen < n:
        line = lines.next()
        assert line, f"sweep ended before it could be {what}"
        seen += line.startswith("[")


def _assert_all_exit(pids, what: str) -> None:
    """Within 30 s of the sweep's kill every pid in ``pids`` is gone; any left is killed and fails the test."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(w) for w in pids):
        time.sleep(0.2)
    alive = [w for w in pids if _alive(w)]
    try:
        assert not alive, f"{what} {alive} outlived the killed sweep"
    finally:
        for w in alive:
            os.kill(w, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits for its parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_pool_workers_exit_when_the_sweep_is_killed(tmp_path):
    """SIGKILL of the sweep process: its workers exit too and write no further points."""
    from tests.app.test_runner import SERVE
    (tmp_path / "base.toml").write_text(SERVE)
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n'
                                     '"workload.rate" = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]\n"run.seed" = [1, 2, 3]\n')
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "sim.app.cli", "sweep", str(tmp_path / "s.toml"), "--out", str(out),
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = _Lines(proc.stdout).next()       # the first finished point: the pool is running
        assert line.startswith("["), line
        workers = _children(proc.pid)
        assert workers
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT_S)
    _assert_all_exit(workers, "workers")
    written = sorted(str(p) for p in out.glob("**/manifest.json"))
    time.sleep(1.5)
    assert sorted(str(p) for p in out.glob("**/manifest.json")) == written    # nobody writes any more
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_a_sigkilled_sweep_keeps_its_finished_points_for_analyze_and_the_rerun(tmp_path, capsys):
    """``dcsim sweep`` killed outright (SIGKILL: no handler runs) after three points: every point directory
    it completed stays readable, ``dcsim analyze`` reads them (and counts them finished, although sweep.json,
    rewritten at most every SAVE_INTERVAL_S, lagged behind: it said 3 finished beside 4 rows) and says the
    sweep did not end, and the same sweep run again skips them (same bytes) and runs only the rest."""
    from sim.app.analyze import open_outputs
    from sim.app.cli import main
    from sim.outputs import is_complete
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out = tmp_path / "out"
    proc = _sweep_process(path, out, cli=True)
    try:
        lines = _Lines(proc.stdout)
        _wait_for_points(lines, 3, "killed")
        workers = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    deadline = time.monotonic() + 30           # its workers exit with it (tested above): wait for them
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["running"] is True and manifest["interrupted"] is False
    finished = sorted(p["dir"] for p in manifest["points"] if is_complete(out / p["dir"]))
    assert 3 <= len(finished) < 12
    outputs = open_outputs(out)
    assert len(outputs.summary_rows()) == len(finished)
    assert outputs.query("select count(*) as n from points where status = 'done'")[0]["n"] == len(finished)
    capsys.readouterr()
    assert main(["analyze", str(out), "--no-plots"]) == 0
    shown = capsys.readouterr()
    assert f"{len(finished)} finished of 12 points" in shown.out
    assert "has not ended" in shown.err and "resume" in shown.err
    for extra in (["--json"], ["--sql", "select count(*) as n from summary"]):    # they said nothing of it
        assert main(["analyze", str(out), "--no-plots", *extra]) == 0
        assert "has not ended" in capsys.readouterr().err
    tokens = dict(duckdb.sql(f"select filename, token from read_parquet('{out}/**/summary.parquet', "
                             "filename=true)").fetchall())
    assert len(tokens) == len(finished)
    # a sweep.json rewrite the kill cut off (write_json_atomic's temporary file) goes with the rerun
    (out / ".sweep.json.4242.0123abcd.tmp").write_text('{"half": ')
    res = run_sweep(load_sweep(path), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == len(finished) and res.count("done") == 12 - len(finished)
    assert json.loads((out / "sweep.json").read_text())["running"] is False
    assert not list(out.glob(".sweep.json.*"))
    got = dict(duckdb.sql(f"select filename, token from read_parquet('{out}/**/summary.parquet', "
                          "filename=true)").fetchall())
    assert len(got) == 12 and all(got[f] == t for f, t in tokens.items())
    assert not (tmp_path / ".out.staging").exists()       # a point cut off mid-write left only staging


def test_analyze_leaves_out_a_point_cut_off_while_rewritten_in_place(tmp_path, capsys):
    """A point rewritten in place (its config changed) has its manifest moved aside first and a new one
    written last (``sim.outputs.publish``): a sweep killed in between leaves the earlier run's tables beside
    the new run's. ``dcsim analyze`` read them as a finished point; now it leaves them out, with a warning.
    And the rerun refused the point for good ("not an earlier run's output (no dcsim manifest.json)": the
    manifest was deleted first): now the manifest kept aside says the files are dcsim's, and the rerun
    writes the point again."""
    from sim.app.analyze import open_outputs
    from sim.outputs import REPLACING
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    (out / "tp=2" / "notes.txt").write_text("mine")
    os.replace(out / "tp=2" / "manifest.json", out / "tp=2" / REPLACING)     # where publish was cut off
    assert [r["tp"] for r in open_outputs(out).summary_rows()] == [1]
    assert "1 point directory" in capsys.readouterr().err
    res = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == 1 and res.count("done") == 1, res.status
    assert [r["tp"] for r in open_outputs(out).summary_rows()] == [1, 2]
    assert sorted(p.name for p in (out / "tp=2").iterdir()) == ["manifest.json", "notes.txt", "summary.parquet"]


# -- start methods -----------------------------------------------------------------------------

def _start_method_sweep(tmp_path: Path, method: str) -> list[dict]:
    """The quickstart training sweep over tp = 4, 8 run by the default point function with 2 workers under
    start ``method`` in a child Python (hard timeout): its summary rows by point, ``wall_s`` left out."""
    sweep_file = tmp_path / "s.toml"
    if not sweep_file.exists():
        sweep_file.write_text(f'name = "s"\nbase = {str(ROOT / "runs" / "quickstart.toml")!r}\n'
                              '[grid]\n"train.tp" = [4, 8]\n')
    out = tmp_path / f"out-{method}"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}]
        from sim.app.sweep import load_sweep, run_sweep
        if __name__ == "__main__":
            res = run_sweep(load_sweep({str(sweep_file)!r}), {str(out)!r}, workers=2, progress=False,
                            mp_context={method!r})
            bad = {{i: s.get("error") for i, s in res.status.items() if s["status"] != "done"}}
            sys.exit(f"points not done: {{bad}}" if bad else 0)
    """)
    (tmp_path / f"run_{method}.py").write_text(script)      # a file: spawn and forkserver re-import __main__
    proc = subprocess.Popen([sys.executable, str(tmp_path / f"run_{method}.py")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    _, err = _finish(proc)
    assert proc.returncode == 0, err[-3000:]
    rows = _read(out).fetchall()
    cols = [d[0] for d in _read(out).description]
    return sorted(({k: v for k, v in zip(cols, r) if k != "wall_s"} for r in rows), key=lambda r: r["tp"])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and forkserver: Linux start methods")
def test_every_start_method_runs_the_sweep_to_the_same_tables(tmp_path):
    """Under forkserver every pool worker exited at start (its parent is the fork server, not the sweep,
    which the orphan check took for a dead sweep): every point failed with BrokenProcessPool. Now fork,
    spawn and forkserver give the same summary rows (and spawn/forkserver workers import everything
    themselves, so no state inherited from the sweep process changes a point)."""
    fork = _start_method_sweep(tmp_path, "fork")
    assert [r["tp"] for r in fork] == [4, 8] and all(r["step_time_s"] > 0 for r in fork)
    for method in ("spawn", "forkserver"):
        assert _start_method_sweep(tmp_path, method) == fork, method


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not sys.platform.startswith("linux"),
                    reason="needs /proc to find the workers, and forkserver")
def test_forkserver_workers_exit_when_the_sweep_is_killed(tmp_path):
    """Under forkserver a worker's parent is the fork server, not the sweep: the orphan check now follows
    both, so a SIGKILLed sweep's workers still exit (and write no further point)."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out = tmp_path / "out"
    script = tmp_path / "run_forkserver.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests' / 'app')!r}]
        from test_sweep import slow_point
        from sim.app.sweep import load_sweep, run_sweep
        if __name__ == "__main__":
            run_sweep(load_sweep({str(path)!r}), {str(out)!r}, workers=2, point_fn=slow_point, progress=False,
                      mp_context="forkserver")
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        line = _Lines(proc.stdout).next()       # the first finished point: the pool is running
        assert line.startswith("["), line + proc.stderr.read() if not line else line
        tree = _children(proc.pid)              # the fork server (and resource tracker) ...
        tree |= {w for c in tree for w in _children(c)}     # ... and the workers it forked
        assert len(tree) >= 3
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT_S)
    _assert_all_exit(tree, "processes")


def test_an_unknown_start_method_is_refused_before_anything_is_written(tmp_path):
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    with pytest.raises(ConfigError) as err:
        run_sweep(load_sweep(path), tmp_path / "out", workers=2, point_fn=tiny_point, progress=False,
                  mp_context="vfork")
    assert err.value.key == "mp_context" and "vfork" in str(err.value)
    assert not (tmp_path / "out").exists()


# -- replicates --------------------------------------------------------------------------------

def test_replicates_add_a_seed_axis_from_the_base_seed(tmp_path):
    (tmp_path / "base.toml").write_text("[run]\nseed = 10\n")
    (tmp_path / "s.toml").write_text('name = "r"\nbase = "base.toml"\nreplicates = 3\n[grid]\n"train.tp" = [1, 2]\n')
    sweep = load_sweep(tmp_path / "s.toml")
    assert sweep.axes[-1].key == "run.seed" and sweep.axes[-1].name == "seed"
    assert sweep.axes[-1].values == (10, 11, 12)
    points = sweep.points()
    assert len(points) == 6 and points[0].rel_dir == "tp=1/seed=10"


@pytest.mark.parametrize("body", ['replicates = 0', 'replicates = "3"', 'replicates = 2\n[grid]\n"run.seed" = [1, 2]'])
def test_bad_replicates_name_the_key(tmp_path, body):
    (tmp_path / "s.toml").write_text(body + "\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(tmp_path / "s.toml")
    assert err.value.key == "replicates"


def seeded_point(task):
    """tiny_point, except that tp=2 is infeasible once the base config sets a seed."""
    if task.base_data.get("run", {}).get("seed") == 7 and task.values["train.tp"] == 2:
        raise InfeasibleError("train.tp", "2 does not fit")
    return tiny_point(task)


def test_a_point_that_fails_on_a_rerun_keeps_its_earlier_tables_out_of_analyze(tmp_path):
    """A rerun whose point fails deleted that point's finished tables (a mistyped --set, or a moved trace,
    wiped every finished point). They now stay where they are: sweep.json lists the point as failed, so
    analyze leaves them out, and a rerun with the earlier config finds them valid again."""
    from sim.app.analyze import open_outputs
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, workers=1, point_fn=seeded_point, progress=False)
    before = (out / "tp=2" / "summary.parquet").read_bytes()
    (out / "tp=2" / "notes.txt").write_text("mine")
    (tmp_path / "base.toml").write_text('[run]\nname = "base"\nseed = 7\n')
    again = run_sweep(load_sweep(path), out, workers=1, point_fn=seeded_point, progress=False)
    assert again.count("failed") == 1 and again.count("done") == 1
    assert (out / "tp=2" / "summary.parquet").read_bytes() == before
    assert (out / "tp=2" / "notes.txt").read_text() == "mine"
    assert [r["tp"] for r in open_outputs(out).summary_rows()] == [1]      # the failed point's tables left out
    (tmp_path / "base.toml").write_text('[run]\nname = "base"\n')        # the earlier config: tp=2 is valid again
    third = run_sweep(load_sweep(path), out, workers=1, point_fn=seeded_point, progress=False)
    assert third.count("skipped") == 1 and third.count("done") == 1
    assert sorted(r["tp"] for r in open_outputs(out).summary_rows()) == [1, 2]


def test_a_second_sweep_into_the_same_directory_is_refused_while_the_first_runs(tmp_path, monkeypatch, capsys):
    """Two sweeps started into one output directory both ran every point (and each removed the other's
    staging directories as stale). The running sweep now holds an advisory lock (OUT/.sweep.lock): the
    second exits 2 naming the directory, and runs nothing. The lock file stays; it breaks neither the
    first sweep's resume nor analyze."""
    import functools
    from sim.app import sweep as sw
    from sim.app.analyze import open_outputs
    from sim.app.cli import main

    def second_sweep(proc, started):     # while the first holds its first point
        monkeypatch.setattr(sw, "run_sweep", functools.partial(sw.run_sweep, point_fn=tiny_point, progress=False))
        assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
        err = capsys.readouterr().err
        assert str(out) in err and "another dcsim sweep" in err and f"process {proc.pid}" in err, err
        assert not list(out.glob("**/summary.parquet"))         # the second ran nothing
        (started / "release").touch()

    path, out = tmp_path / "sweep.toml", tmp_path / "out"      # as _interrupted_one_worker_sweep writes them
    path, out, started, proc, stderr = _interrupted_one_worker_sweep(tmp_path, second_sweep)
    assert proc.returncode == 0, stderr
    assert sorted(p.name for p in started.iterdir()) == ["0", "1", "2", "release"]
    assert (out / ".sweep.lock").is_file()
    manifest = json.loads((out / "sweep.json").read_text())
    assert {p["status"] for p in manifest["points"]} == {"done"}
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0     # the lock is free again
    assert "0 ran, 3 already done" in capsys.readouterr().err
    assert sorted(r["tp"] for r in open_outputs(out).summary_rows()) == [1, 2, 4]


def test_an_output_holding_only_a_killed_sweeps_lock_is_taken_as_empty(tmp_path):
    """A sweep killed before it wrote its first sweep.json leaves OUT with its lock file only: the next
    sweep runs there (the lock is free), not refused as a directory dcsim did not write."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    out.mkdir()
    (out / ".sweep.lock").write_text("12345\n")
    res = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert res.count("done") == 2
    assert (out / ".sweep.lock").read_text() == f"dcsim sweep lock, process {os.getpid()}\n"   # dcsim's own line


def test_a_lock_file_of_someone_elses_is_left_alone_and_the_sweep_refused(tmp_path, capsys):
    """A .sweep.lock dcsim did not write (a user's file of that name) was overwritten with the sweep's process
    id when it held digits (and locked as it was otherwise): now any contents but dcsim's lock line, older
    dcsim's bare process id or nothing are left byte for byte, and the sweep exits 2 naming the file."""
    from sim.app.cli import main
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    out.mkdir()
    for mine in (b"my notes\n", b"4242 is my pin\n", b"\xff\xfe binary\x00", b" 12\n", b"12\n\n"):
        (out / ".sweep.lock").write_bytes(mine)
        with pytest.raises(ConfigError) as err:
            run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
        assert err.value.key == "--out" and str(out / ".sweep.lock") in str(err.value), err.value
        assert "not dcsim's sweep lock" in str(err.value)
        assert (out / ".sweep.lock").read_bytes() == mine
        assert not list(out.glob("**/summary.parquet")) and not (out / "sweep.json").exists()
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    assert ".sweep.lock" in capsys.readouterr().err
    assert (out / ".sweep.lock").read_bytes() == b"12\n\n"


def test_a_lock_file_older_dcsim_wrote_is_taken_as_dcsims(tmp_path):
    """Older dcsim wrote the process id alone into .sweep.lock; that file, an empty one (a sweep killed as it
    created it) and this dcsim's line are all dcsim's: the sweep takes the lock and writes its own line."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    out.mkdir()
    for older in (b"12345\n", b"12345", b"", b"dcsim sweep lock, process 77\n"):
        (out / ".sweep.lock").write_bytes(older)
        run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
        assert (out / ".sweep.lock").read_text() == f"dcsim sweep lock, process {os.getpid()}\n"
    from sim.app.sweep import lock_holder
    assert lock_holder(b"dcsim sweep lock, process 77\n") == 77 and lock_holder(b"12345\n") == 12345
    assert lock_holder(b"my notes") is None and lock_holder(b"") is None


def _tp_sweep(tmp_path: Path) -> Path:
    """A serving sweep over serve.tp = 1, 2 on two GPUs (``--set topology.gpus=1`` makes tp = 2 infeasible)."""
    (tmp_path / "base.toml").write_text(TINY_SERVE.replace("sweep-test-model", "llama3-8b").replace(
        "gpus = 1\ngpus_per_node = 1", "gpus = 2\ngpus_per_node = 2"))
    (tmp_path / "s.toml").write_text('name = "s"\nbase = "base.toml"\n[grid]\n"serve.tp" = [1, 2]\n')
    return tmp_path / "s.toml"


def test_a_point_dir_left_with_only_user_files_runs_again(tmp_path, capsys):
    """A point directory holding only the user's ``notes.txt`` (dcsim's own files gone: an earlier dcsim
    removed them when the point failed) was refused as not dcsim's (``pass --force``), for good, and the
    sweep exited 0. A point directory holding only files whose names dcsim never writes is now written
    into beside them: the point runs, and the user's file stays as it was. A point that fails keeps its
    earlier tables, and the next rerun with the earlier config skips it."""
    from sim.app.cli import main
    path, out = _tp_sweep(tmp_path), tmp_path / "out"
    sweep = ["sweep", str(path), "--out", str(out), "--workers", "1"]
    assert main(sweep) == 0
    (out / "tp=2" / "notes.txt").write_text("mine")
    assert main(sweep + ["--set", "topology.gpus=1", "--set", "topology.gpus_per_node=1"]) == 0   # tp = 2 fails
    assert {"notes.txt", "summary.parquet", "manifest.json"} <= {p.name for p in (out / "tp=2").iterdir()}
    capsys.readouterr()
    assert main(sweep) == 0
    assert "1 ran, 1 already done, 0 failed" in capsys.readouterr().err     # tp = 1 ran with --set last: it reruns
    for f in (out / "tp=2").iterdir():         # what an earlier dcsim left: the user's file alone
        if f.name != "notes.txt":
            f.unlink()
    assert main(sweep) == 0
    assert "1 ran, 1 already done, 0 failed" in capsys.readouterr().err
    assert (out / "tp=2" / "notes.txt").read_text() == "mine"
    assert duckdb.sql(f"select count(*) from read_parquet('{out}/tp=2/summary.parquet')").fetchall() == [(1,)]
    assert "notes.txt" not in json.dumps(json.loads((out / "tp=2" / "manifest.json").read_text()))
    assert main(sweep) == 0 and "0 ran, 2 already done" in capsys.readouterr().err


def test_a_point_dir_with_a_user_file_of_a_dcsim_name_fails_and_the_sweep_exits_2(tmp_path, capsys):
    """A user's ``summary.parquet`` (no dcsim manifest) in a point's directory: dcsim would overwrite it, so
    the point is refused as before, and the sweep, whose output is incomplete for a reason of the output
    and not of the grid, exits 2 (it exited 0 as if the point were an infeasible combination). ``--force``
    keeps the file beside and runs the point."""
    from sim.app.cli import main
    import shutil
    path, out = _tp_sweep(tmp_path), tmp_path / "out"
    sweep = ["sweep", str(path), "--out", str(out), "--workers", "1"]
    assert main(sweep) == 0
    shutil.rmtree(out / "tp=2")
    (out / "tp=2").mkdir()
    (out / "tp=2" / "summary.parquet").write_bytes(b"mine")
    capsys.readouterr()
    assert main(sweep) == 2
    err = capsys.readouterr().err
    assert "0 ran, 1 already done, 1 failed" in err and "could not be written into their directories" in err, err
    assert (out / "tp=2" / "summary.parquet").read_bytes() == b"mine"
    assert main(sweep + ["--force"]) == 0
    kept = list((out / "tp=2").glob("summary.parquet.kept-*"))
    assert [p.read_bytes() for p in kept] == [b"mine"]
    # said on stderr, as for a user's sweep.json (it was renamed without a word)
    assert f"{out / 'tp=2' / 'summary.parquet'} was not written by dcsim: kept it as {kept[0].name}" in \
        capsys.readouterr().err


def test_a_sweep_into_a_link_to_a_directory_writes_and_resumes_through_it(tmp_path, capsys):
    """``dcsim sweep --out LINK`` (a symbolic link to a directory on scratch storage) was refused as "not an
    earlier sweep's output". The link is that directory now: the sweep writes there, a point directory that
    is itself a link to a directory is written through, a rerun resumes (every point already done), and the
    links stay links. A dangling link is refused naming --out, with nothing created."""
    from sim.app.cli import main
    path = _tp_sweep(tmp_path)
    scratch, elsewhere, out = tmp_path / "scratch", tmp_path / "elsewhere", tmp_path / "out"
    scratch.mkdir()
    elsewhere.mkdir()
    out.symlink_to(scratch)
    sweep = ["sweep", str(path), "--out", str(out), "--workers", "1"]
    assert main(sweep) == 0
    assert "2 ran, 0 already done, 0 failed" in capsys.readouterr().err
    assert out.is_symlink() and out.readlink() == scratch
    assert (scratch / "sweep.json").is_file() and (scratch / "tp=2" / "manifest.json").is_file()
    # the user moves one point to other storage and links it back: still done
    (scratch / "tp=2").rename(elsewhere)
    (scratch / "tp=2").symlink_to(elsewhere)
    assert main(sweep) == 0
    assert "0 ran, 2 already done, 0 failed" in capsys.readouterr().err
    # a changed config reruns both points: the linked one is written through its link
    assert main(sweep + ["--set", "workload.requests=4"]) == 0
    assert "2 ran, 0 already done, 0 failed" in capsys.readouterr().err
    assert (scratch / "tp=2").is_symlink() and (scratch / "tp=2").readlink() == elsewhere
    assert json.loads((elsewhere / "manifest.json").read_text())["config"]["workload"]["requests"] == 4
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "base.toml", "elsewhere", "out", "s.toml", "scratch"]
    assert not list(scratch.rglob("*.kept-*")) and not list(elsewhere.glob("*.kept-*"))
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert main(["sweep", str(path), "--out", str(tmp_path / "dangling"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and "is a symbolic link to" in err and "does not exist" in err
    assert not (tmp_path / "nowhere").exists() and (tmp_path / "dangling").is_symlink()


def test_analyze_leaves_out_a_failed_points_tables(tmp_path):
    """Tables of a point sweep.json records as failed (left by an older dcsim, or written by
    hand) are not part of the summary view."""
    from sim.app.analyze import open_outputs
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    man = json.loads((out / "sweep.json").read_text())
    for p in man["points"]:
        if p["dir"] == "tp=2":
            p["status"] = "failed"
    (out / "sweep.json").write_text(json.dumps(man))
    assert [r["tp"] for r in open_outputs(out).summary_rows()] == [1]


def test_dask_engine_without_dask_exits_2_before_writing(tmp_path, monkeypatch, capsys):
    import sys
    from pathlib import Path
    from sim.app.cli import main
    monkeypatch.setitem(sys.modules, "dask", None)            # import dask -> ImportError
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    monkeypatch.chdir(tmp_path)
    runs = Path(__file__).resolve().parents[2] / "runs"
    assert main(["sweep", str(runs / "train-sweep.toml"), "--engine", "dask", "--out", "s"]) == 2
    assert capsys.readouterr().err.startswith("error: --engine:")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_of_a_dask_sweep_keeps_finished_points_and_exits_130(tmp_path):
    """Ctrl-C at a terminal goes to the whole process group: the local Dask cluster's worker processes died
    of it, each printing a KeyboardInterrupt traceback, and the sweep's main thread took its own
    KeyboardInterrupt at whatever line of Dask's client it was running. Now the workers ignore it, the
    sweep notes it and stops between polls: exit 130, no traceback, every finished point kept, and the
    rerun resumes."""
    pytest.importorskip("dask.distributed")
    from sim.outputs import is_complete
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 4, 8], "topology.oversubscription": [1.0, 2.0, 4.0]})
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import functools, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests' / 'app')!r}]
        from test_sweep import slow_point
        import sim.app.sweep as sw
        from sim.app.cli import main
        sw.run_sweep = functools.partial(sw.run_sweep, point_fn=slow_point, progress=False)
        sys.exit(main(["sweep", {str(path)!r}, "--out", {str(out)!r}, "--workers", "2", "--engine", "dask"]))
    """)
    # its own process group, as a shell gives a job: the SIGINT to the group reaches the sweep and its workers
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        lines = _Lines(proc.stdout)
        _wait_for_points(lines, 3, "interrupted")
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=TIMEOUT_S)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=TIMEOUT_S)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "interrupted: finished points are kept" in err, err[-3000:]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["interrupted"] is True and manifest["running"] is False
    done = {p["dir"] for p in manifest["points"] if p["status"] == "done"}
    assert done == {p["dir"] for p in manifest["points"] if is_complete(out / p["dir"])}
    assert 3 <= len(done) < 12
    res = run_sweep(load_sweep(path), out, workers=2, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == len(done) and res.count("done") == 12 - len(done)


def test_zip_lists_of_different_lengths_name_each_key_and_its_length():
    # the error said only "got [2, 3]", leaving the user to find which lists differ
    with pytest.raises(ConfigError) as err:
        load_sweep(data={"name": "x", "zip": {"train.tp": [1, 2], "topology.nic_Gbps": [100, 200, 400]}})
    assert err.value.key == "zip"
    assert "'train.tp' has 2" in str(err.value) and "'topology.nic_Gbps' has 3" in str(err.value)


def test_a_run_config_given_as_a_sweep_file_is_named_as_such():
    # `dcsim sweep runs/quickstart.toml` said only "model: unknown sweep key"
    from pathlib import Path
    quickstart = Path(__file__).resolve().parents[2] / "runs" / "quickstart.toml"
    with pytest.raises(ConfigError) as err:
        load_sweep(quickstart)
    assert "looks like a run config" in str(err.value) and "dcsim run" in str(err.value)
    # fresh27 #8a: it began "model: ...", the first section's name as if that key were at fault
    assert str(err.value).startswith(f"{quickstart} looks like a run config"), str(err.value)
    with pytest.raises(ConfigError) as err:                  # a misspelled sweep key is still just that
        load_sweep(data={"name": "s", "grids": {"train.tp": [1]}})
    assert "unknown sweep key" in str(err.value)


def test_a_misspelled_swept_key_names_the_key_it_is_close_to():
    with pytest.raises(ConfigError) as err:
        load_sweep(data={"name": "s", "grid": {"train.tpp": [1, 2]}})
    assert "unknown key 'tpp' in [train]; did you mean 'tp'?" in str(err.value)


def test_a_fixed_key_that_is_also_swept_is_refused():
    # [set] (or --set) train.tp with [grid] train.tp: the grid's values won and the fixed one was ignored
    with pytest.raises(ConfigError) as err:
        load_sweep(data={"name": "s", "set": {"train.tp": 4}, "grid": {"train.tp": [2, 8]}})
    assert err.value.key == "set.train.tp" and "also swept" in str(err.value)
    with pytest.raises(ConfigError):                  # a whole section fixed over a swept key inside it
        load_sweep(data={"name": "s", "set": {"train": {"tp": 4}}, "zip": {"train.tp": [2, 8]}})
    # replicates count their seeds from [set] run.seed: that is their base, not a conflict
    sweep = load_sweep(data={"name": "s", "set": {"run.seed": 7}, "replicates": 2, "grid": {"train.tp": [2]}})
    assert [p.values["run.seed"] for p in sweep.points()] == [7, 8]


def test_a_swept_value_too_long_for_a_directory_name_is_refused_up_front():
    # a 300-character value ended the whole sweep with "File name too long" before any point ran
    with pytest.raises(ConfigError) as err:
        load_sweep(data={"name": "s", "grid": {"model.name": ["n" * 300, "short"]}})
    assert err.value.key == "grid.model.name" and "point directory" in str(err.value)
    load_sweep(data={"name": "s", "grid": {"model.name": ["n" * 200, "short"]}})


def test_a_sweep_over_the_point_bound_is_refused_before_listing_points(tmp_path):
    # replicates = 1000000 spent minutes listing two million points, printing nothing
    (tmp_path / "base.toml").write_text(BASE)
    with pytest.raises(ConfigError) as err:
        load_sweep(data={"base": str(tmp_path / "base.toml"), "replicates": 1_000_000, "grid": {"train.tp": [1, 2]}})
    assert err.value.key == "replicates" and "100,000" in str(err.value)
    grid = {"train.tp": [1, 2], "run.seed": list(range(60_000))}
    with pytest.raises(ConfigError) as err:
        load_sweep(data={"base": str(tmp_path / "base.toml"), "grid": grid})
    assert err.value.key == "grid" and "120,000 points" in str(err.value)
    assert len(load_sweep(data={"base": str(tmp_path / "base.toml"), "grid": {"run.seed": list(range(50_000))},
                                "zip": {"train.tp": [1, 2]}}).points()) == 100_000


def test_a_sweep_whose_base_is_a_sweep_file_names_base(tmp_path):
    (tmp_path / "inner.toml").write_text('name = "inner"\nbase = "x.toml"\n[grid]\n"train.tp" = [2]\n')
    (tmp_path / "outer.toml").write_text('name = "outer"\nbase = "inner.toml"\n[grid]\n"train.tp" = [2]\n')
    with pytest.raises(ConfigError) as err:
        load_sweep(tmp_path / "outer.toml")
    assert err.value.key == "base" and "sweep file" in err.value.reason


def test_jobs_keys_on_a_base_without_jobs_say_so(tmp_path):
    """It failed as 'jobs: Input should be a valid list' (set_dotted made jobs a table)."""
    from sim.app.sweep import set_dotted
    with pytest.raises(ConfigError) as err:
        set_dotted({"train": {"tp": 2}}, "jobs.0.gpus", 8)
    assert err.value.key == "jobs.0.gpus" and "no [[jobs]]" in err.value.reason
    data = {"jobs": [{"gpus": 4}]}
    set_dotted(data, "jobs.0.gpus", 8)
    assert data == {"jobs": [{"gpus": 8}]}


def test_a_boolean_axis_needs_the_listed_partition_types(tmp_path):
    """README: DuckDB reads a true/false partition as a string (as it reads 1.5 as one); the
    types sweep.json lists make it a boolean. The README said only fractional axes needed them."""
    path = _write_sweep(tmp_path, {"train.sequence_parallel": [False, True]})
    out = tmp_path / "out"
    assert run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False).count("done") == 2
    plain = duckdb.sql(f"select sequence_parallel from read_parquet('{out}/**/summary.parquet', "
                       "hive_partitioning=true) order by 1")
    assert str(plain.types[0]) == "VARCHAR" and plain.fetchall() == [("false",), ("true",)]
    typed = duckdb.sql(f"select sequence_parallel from {_source(out)} order by 1")
    assert str(typed.types[0]) == "BOOLEAN" and typed.fetchall() == [(False,), (True,)]


AZURE_ROWS = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.1,200,20\n"


def test_a_trace_named_by_the_grid_is_found_beside_the_sweep_and_a_missing_one_is_refused_up_front(tmp_path, monkeypatch):
    # a grid's relative trace was looked for only in the current directory: every point failed "not found",
    # one by one (and a rerun's failures deleted the finished points' tables)
    from sim.app.sweep import validate_points
    d = tmp_path / "cfg"
    d.mkdir()
    (d / "a.csv").write_text(AZURE_ROWS)
    (d / "b.csv").write_text(AZURE_ROWS)
    (d / "base.toml").write_text('[run]\nkind = "serve"\nname = "t"\n[topology]\ngpus = 1\ngpus_per_node = 1\n'
                                 'fabric = "none"\n[model]\npreset = "llama3-8b"\n[workload]\narrival = "trace"\n')
    monkeypatch.chdir(tmp_path)                 # not the configs' directory
    (d / "s.toml").write_text('name = "t"\nbase = "base.toml"\n[grid]\n"workload.trace" = ["a.csv", "b.csv"]\n')
    assert validate_points(load_sweep(d / "s.toml")) == 2
    (d / "s.toml").write_text('name = "t"\nbase = "base.toml"\n[grid]\n"workload.trace" = ["a.csv", "gone.csv"]\n')
    with pytest.raises(ConfigError) as err:
        validate_points(load_sweep(d / "s.toml"))
    assert err.value.key == "workload.trace" and "sweep point trace=gone.csv" in str(err.value)
    assert "'gone.csv' not found" in str(err.value)


def test_an_empty_sweep_name_is_refused(tmp_path):
    # name = "" ran silently under the file's name, where README says the name must not be empty
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]}, name="")
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert err.value.key == "name" and "must not be empty" in str(err.value)


def test_a_lock_file_that_is_a_link_is_not_written_through(tmp_path, capsys):
    # a .sweep.lock linking to a user's file had the process id written into that file
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    (out / ".sweep.lock").unlink()
    (tmp_path / "important.txt").write_text("42\n")
    (out / ".sweep.lock").symlink_to(tmp_path / "important.txt")
    res = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)
    assert res.count("skipped") == 2
    assert (tmp_path / "important.txt").read_text() == "42\n"
    assert "runs without its lock" in capsys.readouterr().err


def test_a_warning_of_the_points_prints_once_with_several_workers(tmp_path):
    # each pool worker printed a point's warning again: twice with --workers 2, once with --workers 1
    import subprocess
    import sys
    (tmp_path / "base.toml").write_text(TINY_SERVE.replace("sweep-test-model", "llama3-8b").replace(
        "[workload]", '[serve]\nscheduler = "vllm"\nchunk_size = 100\n[workload]'))
    (tmp_path / "s.toml").write_text('name = "w"\nbase = "base.toml"\n[grid]\n"workload.requests" = [4, 5, 6, 7]\n')
    done = subprocess.run([sys.executable, "-m", "sim.app.cli", "sweep", str(tmp_path / "s.toml"), "--out",
                           str(tmp_path / "out"), "--workers", "2"], capture_output=True, text=True,
                          timeout=TIMEOUT_S, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("serve.chunk_size has no effect") == 1, done.stderr


def test_a_forced_sweep_keeps_a_users_sweep_json_and_files_that_look_like_a_torn_one(tmp_path):
    """A sweep removes the temporary sweep.json a killed sweep left (``.sweep.json.PID.XXXXXXXX.tmp``);
    it removed any ``.sweep.json.*.tmp``, such as a user's ``.sweep.json.backup.tmp`` in a directory
    written with --force: only the name write_json_atomic gives counts. And a user's own sweep.json
    there was overwritten: it is kept beside as ``sweep.json.kept-*``."""
    path = _write_sweep(tmp_path, {"train.tp": [1, 2]})
    out = tmp_path / "out"
    out.mkdir()
    (out / ".sweep.json.backup.tmp").write_text("mine")
    (out / ".sweep.json.4242.0123abcd.tmp").write_text('{"half": ')       # a killed sweep's
    (out / "sweep.json").write_text('{"axes": [], "points": []}')          # another tool's: overwritten
    res = run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False, force=True)
    assert res.count("done") == 2
    assert (out / ".sweep.json.backup.tmp").read_text() == "mine"
    assert not (out / ".sweep.json.4242.0123abcd.tmp").exists()
    kept = [p for p in out.iterdir() if p.name.startswith("sweep.json.kept-")]
    assert [p.read_text() for p in kept] == ['{"axes": [], "points": []}']
    assert json.loads((out / "sweep.json").read_text())["points_total"] == 2
    run_sweep(load_sweep(path), out, workers=1, point_fn=tiny_point, progress=False)    # resumed: dcsim's now
    assert [p for p in out.iterdir() if p.name.startswith("sweep.json.kept-")] == kept


def _trace_sweep(tmp_path: Path, grid: str, rows: int = 5, arrival: str = "trace") -> Path:
    """A sweep over ``grid`` on a one-GPU llama3-8b serving base that replays a trace of ``rows`` requests."""
    (tmp_path / "t.jsonl").write_text("".join(f'{{"timestamp": {i}, "input_length": 16, "output_length": 2}}\n'
                                              for i in range(rows)))
    (tmp_path / "fifty.jsonl").write_text("".join(f'{{"timestamp": {i}, "input_length": 16, "output_length": 2}}\n'
                                                  for i in range(50)))
    (tmp_path / "base.toml").write_text(TINY_SERVE.replace("sweep-test-model", "llama3-8b")
                                        .replace('arrival = "burst"\nrequests = 8\ninput_tokens = 64\noutput_tokens = 4',
                                                 f'arrival = "{arrival}"\ntrace = "t.jsonl"'))
    (tmp_path / "s.toml").write_text(f'name = "r"\nbase = "base.toml"\n[grid]\n{grid}\n')
    return tmp_path / "s.toml"


@pytest.mark.parametrize("arrival", ["trace", "closed"])
def test_requests_past_a_trace_s_end_at_two_points_is_refused_before_running(tmp_path, capsys, arrival):
    """workload.requests = [2, 10, 20] over a 5-request trace ran 10 and 20 as two points, the same run (each
    replays the 5): the run's warning came only at run time. The sweep exits 2 naming the axis, the points,
    the trace and its length, and runs nothing; values up to the trace's length run."""
    from sim.app.cli import main
    from sim.app.sweep import validate_points
    path = _trace_sweep(tmp_path, '"workload.requests" = [2, 10, 20]', arrival=arrival)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "grid.workload.requests" in err and "sweep points requests=10 and requests=20 are the same run" in err, err
    assert "t.jsonl holds 5 requests" in err and "sweep values up to 5" in err
    assert not out.exists()
    # the trace's length itself and a value past it: the same run too
    with pytest.raises(ConfigError) as e:
        validate_points(load_sweep(_trace_sweep(tmp_path, '"workload.requests" = [3, 5, 10]', arrival=arrival)))
    assert e.value.key == "grid.workload.requests" and "requests=5 and requests=10" in str(e.value)
    # every value past the end: no point reads it (the config's warning names the key)
    with pytest.raises(ConfigError) as e:
        validate_points(load_sweep(_trace_sweep(tmp_path, '"workload.requests" = [10, 20]', arrival=arrival)))
    assert e.value.key == "grid.workload.requests" and "exceeds the 5 requests" in str(e.value)
    assert validate_points(load_sweep(_trace_sweep(tmp_path, '"workload.requests" = [2, 4, 5]', arrival=arrival))) == 3
    # one value past the end alone is the run's warning, printed before any point runs
    capsys.readouterr()
    assert validate_points(load_sweep(_trace_sweep(tmp_path, '"workload.requests" = [2, 9]', arrival=arrival))) == 2
    assert capsys.readouterr().err.count("workload.requests = 9 exceeds the 5 requests") == 1


def test_requests_past_the_end_of_one_swept_trace_is_refused_and_of_none_runs(tmp_path):
    """With the trace swept too, points are the same run only where the other axes agree: 10 and 20 over the
    5-request trace are; over a 50-request trace each value runs its own requests."""
    from sim.app.sweep import validate_points
    path = _trace_sweep(tmp_path, '"workload.trace" = ["t.jsonl", "fifty.jsonl"]\n"workload.requests" = [10, 20]')
    with pytest.raises(ConfigError) as e:
        validate_points(load_sweep(path))
    assert e.value.key == "grid.workload.requests" and "trace=t.jsonl/requests=10" in str(e.value), e.value
    path = _trace_sweep(tmp_path, '"workload.trace" = ["fifty.jsonl"]\n"workload.requests" = [10, 20]')
    assert validate_points(load_sweep(path)) == 2
    # a trace read for its lengths only (arrival = 'burst'): every value draws its own requests
    path = _trace_sweep(tmp_path, '"workload.requests" = [10, 20]\n"workload.input_tokens" = [{dist = "trace"}]',
                        arrival="burst")
    assert validate_points(load_sweep(path)) == 2


def test_a_moe_backend_axis_whose_kernels_do_not_apply_is_refused_before_running(tmp_path):
    """serve.moe_backend = ['cutlass', 'trtllm_gen'] for FP8 experts on an H100 under vLLM: neither kernel
    applies (their terms are modelled for FP4 tensor cores), so both points ran the dense curve, the same run;
    the warnings came at run time. Refused naming the axis; on a B200 with FP4 experts the axis is read."""
    from sim.app.sweep import validate_points
    base = ('[run]\nkind = "serve"\nname = "m"\n[topology]\ngpu = "GPU"\ngpus = 8\nfabric = "none"\n'
            '[model]\npreset = "mixtral-8x7b"\n[serve]\ntp = 8\nprecision = "PREC"\n'
            '[workload]\narrival = "burst"\nrequests = 2\ninput_tokens = 64\noutput_tokens = 4\n')
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[grid]\n"serve.moe_backend" = ["cutlass", "trtllm_gen"]\n')
    (tmp_path / "base.toml").write_text(base.replace("GPU", "H100-SXM-80GB").replace("PREC", "fp8"))
    with pytest.raises(ConfigError) as e:
        validate_points(load_sweep(tmp_path / "s.toml"))
    assert e.value.key == "grid.serve.moe_backend" and "serve.moe_backend = 'cutlass' has no effect" in str(e.value)
    (tmp_path / "base.toml").write_text(base.replace("GPU", "B200-180GB").replace("PREC", "fp4"))
    assert validate_points(load_sweep(tmp_path / "s.toml")) == 2


def test_a_moe_backend_point_that_cannot_run_is_refused_before_any_point_runs(tmp_path, capsys):
    """serve.moe_backend = ['triton', 'marlin'] under TensorRT-LLM (no Marlin MoE: engines.toml moe_backends)
    ran the triton point and failed the marlin one at run time; a model.preset axis with a dense model under
    a base's moe_backend failed its dense point the same way. Both are the config's errors now: dcsim sweep
    exits 2 naming the point, the key and why, before any point runs (no output folder)."""
    from sim.app.cli import main
    from sim.app.sweep import validate_points
    base = ('[run]\nkind = "serve"\nname = "m"\n[topology]\ngpu = "H200-SXM-141GB"\ngpus = 8\nfabric = "none"\n'
            '[model]\npreset = "gpt-oss-120b"\n[serve]\ntp = 8\nengine = "trtllm"\nprecision = "bf16"\n'
            'expert_precision = "mxfp4"\n'
            '[workload]\narrival = "burst"\nrequests = 2\ninput_tokens = 64\noutput_tokens = 4\n')
    (tmp_path / "base.toml").write_text(base)
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[grid]\n"serve.moe_backend" = ["triton", "marlin"]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert ("error: serve.moe_backend: sweep point moe_backend=marlin: engine 'trtllm' has no 'marlin' MoE kernel "
            "(its backends: cutlass, trtllm_gen, triton; engines.toml moe_backends)") in err, err
    assert not out.exists()
    # a dense model among the points of a base that names an MoE kernel (and no expert precision, which a
    # dense model refuses first: sim.config.serve_refusal)
    (tmp_path / "base.toml").write_text(base.replace('engine = "trtllm"', 'moe_backend = "triton"')
                                        .replace('expert_precision = "mxfp4"\n', ''))
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[grid]\n"model.preset" = ["gpt-oss-120b", "llama3-8b"]\n')
    with pytest.raises(ConfigError) as e:
        validate_points(load_sweep(tmp_path / "s.toml"))
    assert e.value.key == "serve.moe_backend"
    assert "sweep point preset=llama3-8b: 'triton' names an MoE kernel, but llama3-8b has no routed experts" in str(e.value)
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 2
    assert not out.exists()



@pytest.mark.parametrize("key", ["expert_precision", "expert_compute_precision"])
def test_an_expert_precision_on_a_dense_point_is_refused_before_any_point_runs(tmp_path, capsys, key):
    """A model.preset axis with a dense model under a base's serve.expert_precision (or
    expert_compute_precision) ran the MoE point and failed the dense one at run time; it is the config's
    error now: dcsim sweep exits 2 naming the point, the key and why, before any point runs (no output folder)."""
    from sim.app.cli import main
    from sim.app.sweep import validate_points
    base = ('[run]\nkind = "serve"\nname = "m"\n[topology]\ngpu = "H100-SXM-80GB"\ngpus = 8\nfabric = "none"\n'
            f'[model]\npreset = "mixtral-8x7b"\n[serve]\ntp = 8\nprecision = "bf16"\n{key} = "fp8"\n'
            '[workload]\narrival = "burst"\nrequests = 2\ninput_tokens = 64\noutput_tokens = 4\n')
    (tmp_path / "base.toml").write_text(base)
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[grid]\n"model.preset" = ["mixtral-8x7b", "llama3-8b"]\n')
    with pytest.raises(ConfigError) as e:
        validate_points(load_sweep(tmp_path / "s.toml"))
    assert e.value.key == f"serve.{key}"
    assert "sweep point preset=llama3-8b: 'fp8' " in str(e.value) and "llama3-8b has no routed experts" in str(e.value)
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f"error: serve.{key}: sweep point preset=llama3-8b: 'fp8' " in err, err
    assert not out.exists()


def test_a_sweep_file_without_base_says_its_points_start_from_the_defaults(capsys):
    """A sweep file with no base ran dcsim's bare defaults (model 'custom', 8 GPUs) with no word."""
    load_sweep(data={"name": "nobase", "grid": {"train.tp": [1, 2]}})
    assert "has no base" in capsys.readouterr().err


_DENSE_SERVE_BASE = ('[run]\nkind = "serve"\nname = "d"\n[topology]\ngpu = "H100-SXM-80GB"\ngpus = 8\nfabric = "none"\n'
                     '[model]\npreset = "llama3-8b"\n[serve]\ntp = 2\nreplicas = 1\nprecision = "fp8"\n'
                     '[workload]\narrival = "burst"\nrequests = 2\ninput_tokens = 64\noutput_tokens = 4\n')


@pytest.mark.parametrize("key,value", [("dp_attention", "true"), ("expert_precision", '"mxfp4"')])
def test_an_moe_setting_in_set_over_a_dense_base_runs_when_every_point_is_moe(tmp_path, capsys, key, value):
    """A dense base (llama3-8b) with an MoE setting in [set], swept over MoE presets only, was refused (exit 2,
    "llama3-8b has no routed experts") because the base + [set] was checked as a run of its own, though no point
    runs llama3-8b. The base is checked key by key; each point is checked whole: both points run."""
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(_DENSE_SERVE_BASE)
    (tmp_path / "s.toml").write_text(f'name = "m"\nbase = "base.toml"\n[set]\n"serve.{key}" = {value}\n'
                                     '[grid]\n"model.preset" = ["gpt-oss-20b", "qwen3-30b-a3b"]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 0, capsys.readouterr().err
    assert "2 ran, 0 already done, 0 failed of 2 points" in capsys.readouterr().err
    # the same base file giving the setting itself (not [set]) runs too
    (tmp_path / "base.toml").write_text(_DENSE_SERVE_BASE.replace('replicas = 1\n', f'replicas = 1\n{key} = {value}\n'))
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[grid]\n"model.preset" = ["gpt-oss-20b", "qwen3-30b-a3b"]\n')
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out2"), "--workers", "1"]) == 0


def test_a_sweep_whose_every_point_is_refused_by_its_serve_settings_names_a_point(tmp_path, capsys):
    """The base + [set] check no longer refuses a [serve] that cannot serve the base's model; a sweep none of
    whose points can serve (dense base, dp_attention in [set], a grid that leaves the model) is still refused
    before any point runs, naming a point."""
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(_DENSE_SERVE_BASE)
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[set]\n"serve.dp_attention" = true\n'
                                     '[grid]\n"serve.max_batch_size" = [8, 16]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: serve.dp_attention: sweep point max_batch_size=8: llama3-8b has no routed experts" in err, err
    assert not out.exists()


def test_an_error_of_the_sweep_base_and_set_names_them(tmp_path, capsys):
    """A base + [set] that fails its per-key checks is refused once, and the error says it is the base + [set]
    (it named only the key, as if a point or the base file alone were wrong)."""
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(_DENSE_SERVE_BASE)
    (tmp_path / "s.toml").write_text('name = "m"\nbase = "base.toml"\n[set]\n"serve.tp" = 0\n'
                                     '[grid]\n"serve.max_batch_size" = [8, 16]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 2
    assert "error: serve.tp: sweep base + [set]: " in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("bad", ["dir", "empty.csv", "blank.jsonl", "header.csv"])
def test_a_trace_axis_with_a_directory_or_an_empty_trace_is_refused_before_any_point_runs(tmp_path, capsys, bad):
    """A workload.trace axis naming a directory or an empty / blank file ran its good points and failed the
    others one by one, exit 0 (a missing file was refused up front): it is refused before any point runs,
    exit 2, naming the point and the key, as dcsim run refuses it before its run."""
    from sim.app.cli import main
    good = tmp_path / "good.jsonl"
    good.write_text('{"timestamp": 0, "input_length": 64, "output_length": 4}\n'
                    '{"timestamp": 10, "input_length": 64, "output_length": 4}\n')
    (tmp_path / "dir").mkdir()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    (tmp_path / "header.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n\n")     # "no requests" at run time
    base = _DENSE_SERVE_BASE.replace('arrival = "burst"\nrequests = 2\ninput_tokens = 64\noutput_tokens = 4\n',
                                     'arrival = "trace"\n')
    (tmp_path / "base.toml").write_text(base)
    (tmp_path / "s.toml").write_text(f'name = "t"\nbase = "base.toml"\n[grid]\n'
                                     f'"workload.trace" = [{str(good)!r}, {str(tmp_path / bad)!r}]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: workload.trace: sweep point trace=" in err, err
    why = {"dir": "is a directory, not a trace file", "empty.csv": "is empty (0 bytes)",
           "blank.jsonl": "holds only blank lines", "header.csv": "holds only its header, no requests"}[bad]
    assert why in err, err
    assert not out.exists()
