"""Run-directory writers: atomic publish, deterministic bytes, and the Perfetto trace format."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.outputs import (is_complete, jsonable, publish, remove_stale_staging, staging_dir,
                         trace_events, write_run_dir)


def _tables():
    return {"summary": pa.table({"step_time_s": [1.5], "mfu": [0.4]}),
            "ops": pa.table({"gpu": [0, 0, 1], "stream": ["compute", "comm", "compute"],
                             "name": ["fwd", "all_reduce", "fwd"],
                             "start_s": [0.0, 0.5, 0.0], "end_s": [1.0, 0.75, 1.25]}),
            "flows": pa.table({"src": [3, 4], "tag": ["tp", "dp"], "bytes": [1e6, 2e6],
                               "start_s": [0.1, 0.2], "end_s": [0.3, 0.6]}),
            # two requests overlap on replica 0; one is unfinished (finish = -1)
            "requests": pa.table({"request": [0, 1, 2], "replica": [0, 0, 1],
                                  "arrival_s": [0.0, 0.1, 0.2], "first_token_s": [0.2, 0.3, -1.0],
                                  "finish_s": [1.0, 0.9, -1.0]})}


# the shape of a sweep.json dcsim writes (sim.app.sweep._manifest), as small as it gets
_SWEEP_JSON = {"name": "sw", "dcsim_version": "0.1.0", "axes": [{"key": "train.tp", "name": "tp"}],
               "points_total": 1, "points": [{"index": 0, "dir": "tp=1", "values": {"train.tp": 1}}]}


def test_write_run_dir_is_complete_and_replaces_atomically(tmp_path):
    final = tmp_path / "run"
    write_run_dir(final, _tables(), {"seed": 1})
    assert is_complete(final)
    man = json.loads((final / "manifest.json").read_text())
    assert man["tables"] == {"summary": 1, "ops": 3, "flows": 2, "requests": 3}
    assert pq.read_table(final / "summary.parquet").to_pydict()["mfu"] == [0.4]
    # a second write replaces the first, leaving no staging or old directories behind
    write_run_dir(final, {"summary": pa.table({"mfu": [0.5]})}, {"seed": 2})
    assert pq.read_table(final / "summary.parquet").to_pydict() == {"mfu": [0.5]}
    assert not (final / "ops.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failed_write_leaves_nothing(tmp_path):
    class BadTable:   # not a pyarrow table: the Parquet writer fails mid-write
        num_rows = 1

    with pytest.raises(Exception):
        write_run_dir(tmp_path / "run", {"summary": BadTable()}, {})
    assert list(tmp_path.iterdir()) == []


def test_identical_tables_give_identical_bytes(tmp_path):
    write_run_dir(tmp_path / "a", _tables(), {})
    write_run_dir(tmp_path / "b", _tables(), {})
    for name in ("summary", "ops", "flows", "requests"):
        assert (tmp_path / "a" / f"{name}.parquet").read_bytes() == (tmp_path / "b" / f"{name}.parquet").read_bytes()


def test_stale_staging_is_removed(tmp_path):
    s = staging_dir(tmp_path / "x")
    (s / "summary.parquet").write_text("half")
    assert remove_stale_staging(tmp_path) == 1 and not s.exists()
    s = staging_dir(tmp_path / "x")
    publish(s, tmp_path / "x")
    assert remove_stale_staging(tmp_path) == 0 and (tmp_path / "x").is_dir()


def test_a_users_staging_named_directory_is_kept(tmp_path):
    """Only directories named as staging_dir names them (.NAME.PID.XXXXXXXX.staging) are a killed
    writer's; a user's own ".notes.staging" beside the outputs stays with its files."""
    mine = tmp_path / ".notes.staging"
    mine.mkdir()
    (mine / "draft.txt").write_text("mine")
    s = staging_dir(tmp_path / "x")
    assert remove_stale_staging(tmp_path) == 1 and not s.exists()
    assert (mine / "draft.txt").read_text() == "mine"


def test_trace_follows_the_trace_event_format():
    trace = json.loads(json.dumps(trace_events(_tables())))    # must survive JSON
    events = trace["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    meta = [e for e in events if e["ph"] == "M"]
    begins = [e for e in events if e["ph"] == "b"]
    ends = {e["id"]: e for e in events if e["ph"] == "e"}
    # GPU streams and single flows per NIC are complete events; overlapping requests are async
    assert len(complete) == 5 and len(begins) == 2
    for e in complete:   # the fields ui.perfetto.dev needs for a complete event, in microseconds
        assert {"name", "ph", "ts", "dur", "pid", "tid", "cat"} <= set(e)
        assert isinstance(e["ts"], float) and e["dur"] >= 0
    for b in begins:     # every async begin has an end with the same id, category and name, later
        e = ends[b["id"]]
        assert (e["cat"], e["name"], e["pid"]) == (b["cat"], b["name"], b["pid"]) and e["ts"] >= b["ts"]
    assert len(ends) == len(begins)
    # every (pid, tid) used by an event is named by a thread_name metadata event
    named = {(e["pid"], e["tid"]) for e in meta if e["name"] == "thread_name"}
    assert {(e["pid"], e["tid"]) for e in complete + begins} <= named
    procs = {e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert procs == {"ops", "flows", "requests"}
    ar = next(e for e in complete if e["name"] == "all_reduce")
    assert ar["ts"] == pytest.approx(0.5e6) and ar["dur"] == pytest.approx(0.25e6)
    # the compute and comm streams of GPU 0 are different tracks
    gpu0 = {e["tid"] for e in complete if e["cat"] == "ops" and e["args"]["gpu"] == 0}
    assert len(gpu0) == 2


def test_jsonable_handles_numpy_and_nan():
    import numpy as np
    assert jsonable({"a": np.float64(1.5), "b": float("nan"), "c": [np.int64(2)]}) == {"a": 1.5, "b": None, "c": [2]}


# -- never destroy what dcsim did not write (issue 9, item 1) -------------------------------

def test_write_refuses_a_directory_dcsim_did_not_write(tmp_path):
    from sim.errors import ConfigError
    from sim.outputs import check_replaceable
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError) as err:
        write_run_dir(mine, _tables(), {})
    assert err.value.key == "--out" and "mine" in str(err.value) and "--force" in str(err.value)
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]     # no staging left behind
    # a file is refused too; a manifest.json dcsim did not write does not count
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError):
        check_replaceable(tmp_path / "f")
    (mine / "manifest.json").write_text('["not ours"]')
    with pytest.raises(ConfigError):
        check_replaceable(mine)
    # an earlier run, an empty or a missing directory may be replaced; force replaces anything
    write_run_dir(tmp_path / "run", _tables(), {})
    check_replaceable(tmp_path / "run")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")
    check_replaceable(tmp_path / "new")
    # force writes into the user's directory; it never deletes or moves what is there
    write_run_dir(mine, _tables(), {}, force=True)
    assert (mine / "thesis.tex").read_text() == "years of work" and is_complete(mine)
    write_run_dir(tmp_path / "f", _tables(), {}, force=True)
    assert is_complete(tmp_path / "f")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("f.kept-")]
    assert len(kept) == 1 and kept[0].read_text() == "x"


def test_force_never_deletes_or_moves_a_users_directory(tmp_path):
    """``--out ~ --force`` renamed the user's home away, wrote the run in its place and deleted
    the old directory (a user's report, 2026-11-29). Now a forced write into any directory adds
    dcsim's files in place: every entry there stays where it was, byte for byte, the directory
    keeps its inode, and a user's file named like one of dcsim's is kept beside it."""
    home = tmp_path / "home"
    (home / ".config" / "app").mkdir(parents=True)
    (home / ".config" / "app" / "settings").write_text("s")
    (home / "notes").write_text("n")
    (home / "summary.parquet").write_text("my own table")
    inode = home.stat().st_ino
    before = {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    write_run_dir(home, _tables(), {}, force=True)
    assert home.stat().st_ino == inode and is_complete(home)
    after = {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    kept = [k for k in after if k.startswith("summary.parquet.kept-")]
    assert len(kept) == 1 and after[kept[0]] == b"my own table"
    for name, data in before.items():
        if name != "summary.parquet":
            assert after[name] == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]   # no staging, no .old
    # a second run (now an earlier run's directory) replaces only dcsim's files
    write_run_dir(home, {"summary": pa.table({"mfu": [0.5]})}, {})
    assert home.stat().st_ino == inode
    assert (home / "notes").read_text() == "n" and (home / ".config" / "app" / "settings").read_text() == "s"
    assert not (home / "ops.parquet").exists() and pq.read_table(home / "summary.parquet").num_rows == 1


def test_a_users_trace_json_is_not_dcsims(tmp_path):
    """``trace.json`` is dcsim's only when the manifest lists it (a run with a trace); a user's
    own trace.json in a run directory survives a rerun (it was deleted)."""
    final = tmp_path / "run"
    write_run_dir(final, _tables(), {})
    (final / "trace.json").write_text("mine")
    write_run_dir(final, _tables(), {})
    assert (final / "trace.json").read_text() == "mine"
    write_run_dir(final, _tables(), {}, trace={"traceEvents": []})     # a run with a trace
    kept = [p for p in final.iterdir() if p.name.startswith("trace.json.kept-")]
    assert len(kept) == 1 and kept[0].read_text() == "mine"
    assert json.loads((final / "trace.json").read_text()) == {"traceEvents": []}
    write_run_dir(final, _tables(), {})                                 # dcsim's trace is stale now
    assert not (final / "trace.json").exists() and kept[0].read_text() == "mine"


def test_a_run_never_replaces_a_sweep_or_the_current_directory(tmp_path, monkeypatch):
    from sim.errors import ConfigError
    from sim.outputs import check_replaceable
    sweep = tmp_path / "sw"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps(_SWEEP_JSON))
    check_replaceable(sweep, "sweep")
    with pytest.raises(ConfigError):
        check_replaceable(sweep, "run")
    monkeypatch.chdir(sweep)
    for where in (".", "..", str(sweep)):
        with pytest.raises(ConfigError) as err:
            write_run_dir(Path(where), _tables(), {}, force=True)
        assert "current directory" in str(err.value)
    assert (sweep / "sweep.json").exists()


def test_a_sweep_over_a_runs_directory_of_the_same_name_says_so(tmp_path):
    # `dcsim run runs/headline-base.toml` (run.name "headline") then `dcsim sweep runs/headline.toml`
    # was refused as "not an earlier sweep's output (no dcsim sweep.json)", as if no dcsim output
    from sim.errors import ConfigError
    from sim.outputs import check_replaceable
    write_run_dir(tmp_path / "headline", _tables(), {})
    with pytest.raises(ConfigError) as err:
        check_replaceable(tmp_path / "headline", "sweep")
    assert "holds a dcsim run's output, not a sweep's" in str(err.value) and "--out" in str(err.value)
    check_replaceable(tmp_path / "headline", "sweep", force=True)        # --force still writes beside it


def test_rerun_keeps_what_dcsim_did_not_write(tmp_path):
    """A new run into an earlier run's directory replaces dcsim's files only: a user's notes and
    analysis folder stay (they were deleted with the old directory before), and a file named
    like one of the new run's tables is kept beside it, never overwritten."""
    final = tmp_path / "run"
    write_run_dir(final, _tables(), {"seed": 1}, trace={"traceEvents": []})
    (final / "notes.txt").write_text("mine")
    (final / "analysis").mkdir()
    (final / "analysis" / "a.py").write_text("print(1)")
    write_run_dir(final, {"summary": pa.table({"mfu": [0.5]})}, {"seed": 2})
    assert (final / "notes.txt").read_text() == "mine"
    assert (final / "analysis" / "a.py").read_text() == "print(1)"
    assert not (final / "ops.parquet").exists() and not (final / "trace.json").exists()
    # the user's own "ops.parquet" (not dcsim's now: the last run wrote no ops table) survives a
    # run that writes an ops table, under another name
    (final / "ops.parquet").write_text("user data")
    write_run_dir(final, _tables(), {"seed": 3})
    kept = [p for p in final.iterdir() if p.name.startswith("ops.parquet.kept-")]
    assert len(kept) == 1 and kept[0].read_text() == "user data"
    assert pq.read_table(final / "ops.parquet").num_rows == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_manifest_naming_files_outside_its_directory_never_deletes_them(tmp_path):
    """A run's manifest lists the tables it wrote; a manifest (hand-edited, or another tool's)
    listing "../notes" or an absolute path had the next run into that directory delete
    notes.parquet beside it: only plain names inside count."""
    final = tmp_path / "run"
    final.mkdir()
    (tmp_path / "notes.parquet").write_text("mine")
    (tmp_path / "abs.parquet").write_text("mine too")
    (tmp_path / "trace.json").write_text("{}")
    (final / "manifest.json").write_text(json.dumps({
        "dcsim_version": "0", "tables": {"../notes": 1, str(tmp_path / "abs"): 1, "summary": 1},
        "files": ["../trace.json", "..", ".hidden"]}))
    (final / "summary.parquet").write_text("an earlier run's table")
    write_run_dir(final, {"summary": pa.table({"mfu": [0.5]})}, {"seed": 2})
    assert (tmp_path / "notes.parquet").read_text() == "mine"
    assert (tmp_path / "abs.parquet").read_text() == "mine too"
    assert (tmp_path / "trace.json").read_text() == "{}"


def test_stale_replaced_run_with_user_files_is_kept(tmp_path):
    """A killed writer's ``.old`` directory is removed only when everything in it is dcsim's."""
    for name, extra in (("a", False), ("b", True)):
        write_run_dir(tmp_path / name, _tables(), {})
        if extra:
            (tmp_path / name / "notes.txt").write_text("mine")
        (tmp_path / name).rename(tmp_path / f".{name}.1234.old")
    assert remove_stale_staging(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.1234.old"]


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_a_figure_never_overwrites_a_file_dcsim_did_not_write(tmp_path, ext, capsys):
    """save_figure keeps a user's file at the figure's path as NAME.kept-XXXXXXXX (it was
    overwritten: `dcsim topologies --draw X --out thesis.png`, `dcsim analyze --plots DIR`) and
    replaces only a figure dcsim wrote (marked in its metadata)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sim.outputs import is_dcsim_figure, save_figure
    path = tmp_path / f"fig.{ext}"
    path.write_text("my own figure")
    fig = plt.figure()
    save_figure(fig, path)
    kept = list(tmp_path.glob(f"fig.{ext}.kept-*"))
    assert len(kept) == 1 and kept[0].read_text() == "my own figure"
    assert kept[0].name in capsys.readouterr().err       # the user is told where their file went
    assert is_dcsim_figure(path) and not is_dcsim_figure(kept[0])
    save_figure(fig, path)                          # dcsim's own figure: replaced, nothing more kept
    plt.close(fig)
    assert len(list(tmp_path.glob(f"fig.{ext}.kept-*"))) == 1 and is_dcsim_figure(path)


def test_an_output_name_too_long_for_the_file_system_is_refused_naming_the_key(tmp_path):
    # --out with a 300-character name (or run.name) ended in "OSError: File name too long"
    from sim.errors import ConfigError
    from sim.outputs import NAME_MAX, STAGING_ROOM, check_replaceable
    for length, key in ((300, "--out"), (NAME_MAX - STAGING_ROOM + 1, "run.name")):
        with pytest.raises(ConfigError) as err:
            check_replaceable(tmp_path / ("x" * length), "run", key=key)
        assert err.value.key == key and f"{length} bytes" in str(err.value)
    ok = tmp_path / ("x" * (NAME_MAX - STAGING_ROOM))
    check_replaceable(ok, "run")
    write_run_dir(ok, _tables(), {})         # the longest accepted name is written, staging included
    assert (ok / "summary.parquet").exists() and list(tmp_path.iterdir()) == [ok]


def test_check_replaceable_refuses_an_unwritable_out_before_the_run(tmp_path, monkeypatch):
    """A run into a directory it cannot write failed after the simulation, exit 1, naming its
    staging directory; now a ConfigError naming the key, before. The probe leaves nothing."""
    import os
    import tempfile
    from sim.errors import ConfigError
    from sim.outputs import check_replaceable
    check_replaceable(tmp_path / "a" / "b", "run", key="--out")
    check_replaceable(tmp_path, "run", key="--out")                 # empty directory
    assert sorted(os.listdir(tmp_path)) == []
    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kw):
        if Path(dir) == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kw)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ConfigError) as err:
        check_replaceable(tmp_path / "new" / "run", "run", key="--out")
    assert err.value.key == "--out" and "Permission denied" in err.value.reason
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_check_replaceable_refuses_a_pseudo_file_system():
    from sim.errors import ConfigError
    from sim.outputs import check_replaceable
    with pytest.raises(ConfigError) as err:
        check_replaceable(Path("/proc/dcsim-out"), "run", key="--out")
    assert err.value.key == "--out" and "/proc" in err.value.reason


def test_a_run_cut_off_while_written_over_an_earlier_one_is_replaced_by_the_next(tmp_path, monkeypatch):
    """``publish`` into an existing run directory removed the manifest first: a process killed before the
    new manifest landed (SIGKILL mid-way) left tables without a manifest, which every later run refused
    ("not an earlier run's output"), so a resumed sweep failed that point for good. The earlier manifest is
    now moved aside (``REPLACING``) instead: the directory reads as unfinished, the next run replaces it,
    and a user's file there stays."""
    import os
    import sim.outputs as outputs
    from sim.outputs import REPLACING
    final = tmp_path / "run"
    write_run_dir(final, {"summary": pa.table({"mfu": [0.4]}), "steps": pa.table({"t": [1.0]})}, {"seed": 1})
    (final / "notes.txt").write_text("mine")
    real_rename, moved = os.rename, []

    def cut_off(src, dst):          # the process dies after the first new table is in place
        if moved:
            raise KeyboardInterrupt("killed")
        real_rename(src, dst)
        moved.append(dst)
    monkeypatch.setattr(outputs.os, "rename", cut_off)
    with pytest.raises(KeyboardInterrupt):
        write_run_dir(final, {"summary": pa.table({"mfu": [0.5]}), "steps": pa.table({"t": [2.0]})}, {"seed": 2})
    monkeypatch.setattr(outputs.os, "rename", real_rename)
    assert not is_complete(final) and (final / REPLACING).is_file()
    write_run_dir(final, {"summary": pa.table({"mfu": [0.6]}), "steps": pa.table({"t": [3.0]})}, {"seed": 3})
    assert is_complete(final) and not (final / REPLACING).exists()
    assert json.loads((final / "manifest.json").read_text())["seed"] == 3
    assert pq.read_table(final / "steps.parquet").column("t").to_pylist() == [3.0]
    assert sorted(p.name for p in final.iterdir()) == ["manifest.json", "notes.txt", "steps.parquet",
                                                        "summary.parquet"]


def test_holds_only_foreign_names_is_true_only_where_no_name_dcsim_writes_is_taken(tmp_path):
    from sim.outputs import holds_only_foreign_names
    d = tmp_path / "point"
    assert not holds_only_foreign_names(d)              # missing
    d.mkdir()
    assert not holds_only_foreign_names(d)              # empty: replaceable anyway, not this case
    (d / "notes.txt").write_text("mine")
    (d / "plots").mkdir()
    assert holds_only_foreign_names(d)
    (tmp_path / "link").symlink_to(d)
    assert holds_only_foreign_names(tmp_path / "link")         # a link to a directory is that directory
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert not holds_only_foreign_names(tmp_path / "dangling")
    for name in ("summary.parquet", "anything.parquet", "manifest.json", ".manifest.json.replacing", "trace.json"):
        (d / name).write_text("mine")
        assert not holds_only_foreign_names(d), name
        (d / name).unlink()
    assert holds_only_foreign_names(d)


# -- a file of dcsim's name is not dcsim's output: only the shape dcsim writes counts -------------

QUICKSTART = str(Path(__file__).resolve().parents[1] / "runs" / "quickstart.toml")

FOREIGN_MANIFESTS = [
    {"tables": ["notes"]},                                     # another tool's manifest
    {"tables": {"notes": 1}},                                  # no dcsim_version
    {"dcsim_version": "2.0"},                                  # no tables
    {"dcsim_version": "", "tables": {"summary": 1}},
    {"dcsim_version": "1", "tables": ["summary"]},
    {"dcsim_version": "1", "tables": {"summary": "one"}},
    {"dcsim_version": "1", "tables": {"summary": True}},
    {"dcsim_version": "1", "tables": {"notes": 1}},            # every dcsim run writes a summary
    {"dcsim_version": "1", "tables": {"summary": 1}, "files": "trace.json"},
]


@pytest.mark.parametrize("name", ["manifest.json", ".manifest.json.replacing"])
@pytest.mark.parametrize("manifest", FOREIGN_MANIFESTS)
def test_a_run_never_takes_a_users_manifest_for_an_earlier_runs(tmp_path, capsys, manifest, name):
    """A directory holding a user's own manifest.json (``{"tables": ["notes"]}``, another tool's) beside
    their notes.parquet was taken for a dcsim run's output: ``dcsim run CONFIG --out DIR`` overwrote the
    manifest and deleted notes.parquet. Only the shape dcsim writes counts now (the crash marker's too);
    anything else is a foreign directory: refused, exit 2 naming --out, every byte left as it was."""
    from sim.app.cli import main
    from sim.outputs import dcsim_written, is_run_output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / name).write_text(json.dumps(manifest))
    (mine / "notes.parquet").write_bytes(b"PAR1 the user's own table PAR1")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    assert not is_run_output(mine) and dcsim_written(mine) == set()
    assert main(["run", QUICKSTART, "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and "--force" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]        # no staging left beside
    # --force writes beside them: the user's manifest is kept as manifest.json.kept-*, nothing deleted
    assert main(["run", QUICKSTART, "--out", str(mine), "--force"]) == 0
    assert (mine / "notes.parquet").read_bytes() == before["notes.parquet"]
    kept = [p for p in mine.iterdir() if p.name.startswith(f"{name}.kept-")]
    assert [p.read_bytes() for p in kept] == ([before[name]] if name == "manifest.json" else [])
    if name != "manifest.json":
        assert (mine / name).read_bytes() == before[name]                 # not dcsim's marker: left alone


def test_an_earlier_runs_output_is_still_replaced_in_place(tmp_path, capsys):
    """A run's directory (this version's, or one whose manifest has only the keys the first dcsim
    wrote) is replaced by the next run; a user's files in it stay; a run cut off mid-replace (its
    earlier manifest kept as the REPLACING marker) is replaced by the next one."""
    from sim.app.cli import main
    from sim.outputs import REPLACING, is_run_output
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--out", str(out)]) == 0
    assert is_run_output(out)
    (out / "notes.txt").write_text("mine")
    man = json.loads((out / "manifest.json").read_text())
    first = {k: man[k] for k in ("dcsim_version", "kind", "name", "seed", "wall_s", "sim_events", "sim_time_s",
                                 "gpus", "python", "created_unix", "config", "tables")}
    (out / "manifest.json").write_text(json.dumps(first))
    assert is_run_output(out)
    assert main(["run", QUICKSTART, "--set", "train.tp=8", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["config"]["train"]["tp"] == 8
    os_names = sorted(p.name for p in out.iterdir())
    assert "notes.txt" in os_names and not any(".kept-" in n for n in os_names)
    # cut off after the manifest went aside: the marker alone says the directory is dcsim's
    (out / "manifest.json").rename(out / REPLACING)
    assert is_run_output(out)
    assert main(["run", QUICKSTART, "--out", str(out)]) == 0
    assert not (out / REPLACING).exists() and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == os_names
    capsys.readouterr()


FOREIGN_SWEEPS = [
    {"axes": [], "points": []},                                # another tool's (no dcsim_version, name...)
    {"name": "s", "dcsim_version": "1", "points_total": 1, "axes": ["tp"], "points": []},
    {"name": "s", "dcsim_version": "1", "points_total": 1, "axes": [], "points": [{"dir": "x"}]},
    {"name": "s", "dcsim_version": "1", "points_total": "1", "axes": [], "points": []},
    {"dcsim_version": "1", "points_total": 0, "axes": [], "points": []},
]


@pytest.mark.parametrize("manifest", FOREIGN_SWEEPS)
def test_a_sweep_never_takes_a_users_sweep_json_for_an_earlier_sweeps(tmp_path, capsys, manifest):
    from sim.app.cli import main
    from sim.outputs import is_sweep_output
    (tmp_path / "s.toml").write_text(f'name = "s"\nbase = "{QUICKSTART}"\n[grid]\n"train.tp" = [4]\n')
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sweep.json").write_text(json.dumps(manifest))
    (mine / "results.csv").write_text("a,b\n1,2\n")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    assert not is_sweep_output(mine)
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(mine), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "s.toml"]
    (mine / "sweep.json").write_text(json.dumps(_SWEEP_JSON))                # dcsim's shape
    assert is_sweep_output(mine)


def test_files_of_dcsims_names_beside_a_run_that_are_not_dcsims_are_kept(tmp_path):
    """A user's file named like the crash marker beside a real run was overwritten by the earlier
    manifest and then deleted; a user's manifest.json beside a crashed run's marker was moved over the
    marker and deleted with it. Both are kept beside now (``NAME.kept-*``), byte for byte."""
    from sim.outputs import REPLACING, dcsim_written
    final = tmp_path / "run"
    write_run_dir(final, _tables(), {"seed": 1})
    (final / REPLACING).write_text('{"tables": ["notes"]}')
    write_run_dir(final, {"summary": pa.table({"mfu": [0.5]})}, {"seed": 2})
    kept = [p for p in final.iterdir() if p.name.startswith(f"{REPLACING}.kept-")]
    assert [p.read_text() for p in kept] == ['{"tables": ["notes"]}'] and not (final / REPLACING).exists()
    for p in kept:
        p.unlink()
    # cut off mid-replace (the earlier manifest is the marker), then the user put a manifest.json there
    (final / "manifest.json").rename(final / REPLACING)
    (final / "manifest.json").write_text('{"tables": ["notes"]}')
    assert dcsim_written(final) == {REPLACING, "summary.parquet"}
    write_run_dir(final, _tables(), {"seed": 3})
    kept = [p for p in final.iterdir() if p.name.startswith("manifest.json.kept-")]
    assert [p.read_text() for p in kept] == ['{"tables": ["notes"]}']
    assert json.loads((final / "manifest.json").read_text())["seed"] == 3 and not (final / REPLACING).exists()


# -- --out through a symbolic link; a user's file set aside with a note; checksums ----------------

def _tree(root: Path) -> dict:
    """Every entry under ``root`` (links not followed): a link's target, a file's bytes, a directory."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = ("link", str(p.readlink())) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


def test_out_a_link_to_a_directory_is_that_directory(tmp_path, capsys):
    """``--out LINK`` where LINK is a symbolic link to a directory (an output folder on scratch storage)
    behaves as ``--out`` that directory: into an earlier run's output it is a rerun (it was refused as
    "not an earlier run's output (no manifest.json written by dcsim)", though the target held one); into a
    user's directory it is refused naming the link, and ``--force`` writes through the link (it renamed the
    link to LINK.kept-XXXXXXXX without a word and wrote a new directory in its place)."""
    from sim.app.cli import main
    scratch = tmp_path / "scratch"
    assert main(["run", QUICKSTART, "--out", str(scratch / "run1")]) == 0
    (tmp_path / "run1").symlink_to(scratch / "run1")
    assert main(["run", QUICKSTART, "--out", str(tmp_path / "run1"), "--set", "train.tp=8"]) == 0
    assert (tmp_path / "run1").is_symlink() and (tmp_path / "run1").readlink() == scratch / "run1"
    assert json.loads((scratch / "run1" / "manifest.json").read_text())["config"]["train"]["tp"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1", "scratch"]      # nothing kept, no staging
    assert sorted(p.name for p in scratch.iterdir()) == ["run1"]
    assert not any(".kept-" in p.name for p in (scratch / "run1").iterdir())
    # a user's directory behind the link: refused, as the directory itself is, naming the link
    (scratch / "mine").mkdir()
    (scratch / "mine" / "thesis.tex").write_text("years of work")
    (tmp_path / "mine").symlink_to(scratch / "mine")
    capsys.readouterr()
    assert main(["run", QUICKSTART, "--out", str(tmp_path / "mine")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and str(tmp_path / "mine") in err and "--force" in err
    assert "a link to" in err and "Traceback" not in err
    assert _tree(scratch / "mine") == {"thesis.tex": b"years of work"}
    # --force writes through the link, beside the user's file; the link stays a link
    assert main(["run", QUICKSTART, "--out", str(tmp_path / "mine"), "--force"]) == 0
    assert (tmp_path / "mine").is_symlink() and (tmp_path / "mine").readlink() == scratch / "mine"
    assert is_complete(scratch / "mine") and (scratch / "mine" / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "run1", "scratch"]
    assert sorted(p.name for p in scratch.iterdir()) == ["mine", "run1"]


@pytest.mark.parametrize("force", [False, True])
def test_out_a_dangling_link_or_a_link_to_a_file_is_refused_naming_out(tmp_path, capsys, force):
    """A link at ``--out`` that leads nowhere, or to a file, cannot be an output directory: refused, exit 2
    naming ``--out`` and saying what the link is, with or without ``--force`` (a dangling link was refused as
    "a file that is not an earlier run's output", and ``--force`` renamed the link aside), and so is a path
    below a dangling link. The links and the file stay as they were; nothing is created."""
    from sim.app.cli import main
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "tofile").symlink_to(tmp_path / "data.csv")
    before = _tree(tmp_path)
    extra = ["--force"] if force else []
    for out, says in (("dangling", "which does not exist"), ("dangling/sub", "which does not exist"),
                      ("tofile", "which is not a directory")):
        assert main(["run", QUICKSTART, "--out", str(tmp_path / out)] + extra) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --out:") and "is a symbolic link to" in err and says in err, err
        assert str(tmp_path / out.split("/")[0]) in err and "Traceback" not in err
        assert _tree(tmp_path) == before


def test_a_users_file_of_a_dcsim_name_is_kept_with_a_note(tmp_path, capsys):
    """``dcsim run --out D --force`` where D holds the user's summary.parquet: the file is kept beside as
    summary.parquet.kept-XXXXXXXX, and stderr says so (it was renamed without a word; figures and
    sweep.json already said so)."""
    from sim.app.cli import main
    d = tmp_path / "d"
    d.mkdir()
    (d / "summary.parquet").write_text("x")
    assert main(["run", QUICKSTART, "--out", str(d), "--force"]) == 0
    kept = list(d.glob("summary.parquet.kept-*"))
    assert [p.read_text() for p in kept] == ["x"]
    err = capsys.readouterr().err
    assert f"note: {d / 'summary.parquet'} was not written by dcsim: kept it as {kept[0].name}" in err


def test_the_manifest_records_the_size_and_sha256_of_each_file_dcsim_wrote(tmp_path):
    import hashlib
    final = tmp_path / "run"
    write_run_dir(final, _tables(), {}, trace={"traceEvents": []})
    sums = json.loads((final / "manifest.json").read_text())["checksums"]
    files = {p.name: p.read_bytes() for p in final.iterdir() if p.name != "manifest.json"}
    assert sorted(files) == ["flows.parquet", "ops.parquet", "requests.parquet", "summary.parquet", "trace.json"]
    assert sums == {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    for name, data in files.items()}


def test_a_table_the_user_changed_after_the_run_is_kept_on_rerun(tmp_path, capsys):
    """After ``dcsim run --out D`` the user put their own steps.parquet in D; the next run into D deleted it
    (the earlier manifest lists that name, so dcsim trusted the name). A file dcsim wrote is replaced or
    removed now only while its size and sha256 are what the manifest records; a changed one (another size,
    or the same size and other bytes) is kept as NAME.kept-XXXXXXXX with a note."""
    from sim.app.cli import main
    d = tmp_path / "d"
    assert main(["run", QUICKSTART, "--out", str(d)]) == 0
    (d / "steps.parquet").write_bytes(b"my own steps")
    capsys.readouterr()
    assert main(["run", QUICKSTART, "--out", str(d)]) == 0
    kept = list(d.glob("steps.parquet.kept-*"))
    assert [p.read_bytes() for p in kept] == [b"my own steps"]
    assert f"{d / 'steps.parquet'} was changed since dcsim wrote it: kept it as {kept[0].name}" in \
        capsys.readouterr().err
    assert is_complete(d) and pq.read_table(d / "steps.parquet").num_rows > 0
    # the same size, one byte different: the hash tells
    data = bytearray((d / "summary.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "summary.parquet").write_bytes(bytes(data))
    assert main(["run", QUICKSTART, "--out", str(d)]) == 0
    assert [p.read_bytes() for p in d.glob("summary.parquet.kept-*")] == [bytes(data)]
    # a changed table the next run does not write is kept, not removed; dcsim's own are removed
    final = tmp_path / "run"
    write_run_dir(final, _tables(), {})
    (final / "ops.parquet").write_text("edited")
    write_run_dir(final, {"summary": pa.table({"mfu": [0.5]})}, {})
    assert [p.read_text() for p in final.glob("ops.parquet.kept-*")] == ["edited"]
    assert sorted(p.name for p in final.iterdir() if ".kept-" not in p.name) == ["manifest.json", "summary.parquet"]
    # an unchanged run is replaced without a .kept file
    write_run_dir(final, _tables(), {})
    write_run_dir(final, _tables(), {})
    assert len(list(final.glob("*.kept-*"))) == 1


def test_an_earlier_versions_run_without_checksums_keeps_only_files_newer_than_its_manifest(tmp_path, capsys):
    """A manifest from before checksums names its files only. Its files are replaced as before while none is
    newer than the manifest (dcsim writes every table before the manifest): an untouched earlier run leaves
    no .kept file. One the user wrote after the run is newer, and is kept."""
    import os
    final = tmp_path / "run"

    def earlier_version_run():
        write_run_dir(final, _tables(), {"seed": 1})
        man = json.loads((final / "manifest.json").read_text())
        del man["checksums"]
        (final / "manifest.json").write_text(json.dumps(man))
        stamp = (final / "manifest.json").stat().st_mtime_ns
        for p in final.iterdir():
            os.utime(p, ns=(stamp - 10**9, stamp - 10**9))
        os.utime(final / "manifest.json", ns=(stamp, stamp))
        return stamp

    earlier_version_run()
    write_run_dir(final, _tables(), {"seed": 2})
    assert not list(final.glob("*.kept-*"))
    stamp = earlier_version_run()
    (final / "steps.parquet").write_text("not in the manifest")     # not listed: the user's anyway
    (final / "ops.parquet").write_text("mine now")
    os.utime(final / "ops.parquet", ns=(stamp + 10**9, stamp + 10**9))
    write_run_dir(final, {"summary": pa.table({"mfu": [0.5]})}, {"seed": 3})
    assert [p.read_text() for p in final.glob("ops.parquet.kept-*")] == ["mine now"]
    assert (final / "steps.parquet").read_text() == "not in the manifest"
    assert not (final / "flows.parquet").exists() and not (final / "requests.parquet").exists()
    assert "ops.parquet was changed since dcsim wrote it" in capsys.readouterr().err
