"""Analysis: DuckDB views over runs and sweeps, typed partitions, --sql, plots and the knee."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from sim.app.analyze import fit_knee, make_plots, open_outputs
from sim.errors import ConfigError
from sim.outputs import write_run_dir
from sim.app.sweep import load_sweep, run_sweep

BASE = '[run]\nname = "base"\n'     # a base run config (an empty file is refused)


def overlap_point(task):
    """A synthetic training point with a closed-form step: compute C, communication M, overlap
    hides min(C, M) * 0.95 of the communication; MFU = 0.5 * C / step."""
    bw = float(task.values["topology.nic_Gbps"])
    tp = int(task.values["train.tp"])
    compute = 1.0 / tp
    comm = 40.0 / bw
    exposed = max(comm - 0.95 * compute, 0.05 * comm)
    step = compute + exposed
    summary = pa.table({"step_time_s": [step], "compute_s": [compute], "comm_s": [comm],
                        "exposed_comm_s": [exposed], "bubble_s": [0.0], "mfu": [0.5 * compute / step],
                        "compute_comm_ratio": [compute / comm], "overlap_fraction": [1 - exposed / comm]})
    links = pa.table({"link_class": ["nvlink", "nic"], "bytes": [1e9, 2e9 * tp],
                      "utilization": [0.2, min(comm / step, 1.0)]})
    write_run_dir(Path(task.out_dir), {"summary": summary, "links": links}, {"point": task.partition},
                  staging_root=task.staging_root)
    return {}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("an")
    (tmp / "base.toml").write_text(BASE)
    (tmp / "s.toml").write_text('name = "bw"\nbase = "base.toml"\n[grid]\n'
                                '"topology.nic_Gbps" = [12.5, 50, 100, 200, 400, 800]\n"train.tp" = [1, 2, 4]\n')
    out = tmp / "out"
    run_sweep(load_sweep(tmp / "s.toml"), out, workers=1, point_fn=overlap_point, progress=False)
    return out


def test_sweep_views_are_typed_and_complete(sweep_dir):
    out = open_outputs(sweep_dir)
    assert out.is_sweep and set(out.partitions) == {"nic_Gbps", "tp"}
    rows = out.query("select count(*) as n, count(distinct (nic_Gbps, tp)) as d from summary")
    assert rows == [{"n": 18, "d": 18}]
    # the float axis compares as a number (12.5 < 50 would fail as text: '12.5' < '50' but '100' < '50')
    assert out.query("select count(*) as n from summary where nic_Gbps >= 100") == [{"n": 12}]
    assert out.query("select max(nic_Gbps) as m from summary")[0]["m"] == 800.0
    # joins across tables of the same point work through partition columns
    j = out.query("select count(*) as n from summary s join links l using (nic_Gbps, tp) where l.link_class='nic'")
    assert j == [{"n": 18}]
    assert out.query("select count(*) as n from points where status='done'") == [{"n": 18}]


def test_summary_rows_are_ordered_by_partitions(sweep_dir):
    rows = open_outputs(sweep_dir).summary_rows()
    keys = [(r["nic_Gbps"], r["tp"]) for r in rows]
    assert keys == sorted(keys) and "mfu" in rows[0]


def test_plots_written_as_png_and_svg(sweep_dir, tmp_path):
    paths = make_plots(open_outputs(sweep_dir), tmp_path)
    names = {p.name for p in paths}
    for plot in ("throughput", "breakdown", "links"):
        assert {f"{plot}.png", f"{plot}.svg"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "throughput.svg").read_text()[:2000]


def test_knee_fit_recovers_the_overlap_roofline():
    import numpy as np
    rng = np.random.default_rng(0)
    ratios = np.geomspace(0.05, 50, 40)
    mfu = 0.55 * np.minimum(1.0, ratios / 2.0) * (1 + 0.02 * rng.standard_normal(40))
    knee, plateau = fit_knee(ratios, mfu)
    assert knee == pytest.approx(2.0, rel=0.1) and plateau == pytest.approx(0.55, rel=0.03)
    # a sweep that never leaves the plateau (or never reaches it) has no knee
    assert fit_knee(ratios[ratios > 3], mfu[ratios > 3]) is None
    assert fit_knee([1.0, 2.0], [0.1, 0.2]) is None


def test_knee_of_the_synthetic_sweep(sweep_dir):
    # overlap_point: step = C + max(M - 0.95 C, 0.05 M), so MFU leaves its plateau near
    # C / M = 1 / 0.95 (partial overlap moves the knee right of 1)
    out = open_outputs(sweep_dir)
    rows = out.query("select compute_comm_ratio r, mfu from summary")
    knee, plateau = fit_knee([r["r"] for r in rows], [r["mfu"] for r in rows])
    assert 0.8 < knee < 1.6 and plateau == pytest.approx(0.5, rel=0.1)


def test_run_directory_and_sql(tmp_path):
    write_run_dir(tmp_path / "r", {"summary": pa.table({"mfu": [0.42], "step_time_s": [2.0]}),
                                   "steps": pa.table({"step": [0, 1], "time_s": [2.0, 2.0]})}, {})
    out = open_outputs(tmp_path / "r")
    assert not out.is_sweep and set(out.tables) == {"summary", "steps"}
    assert out.query("select sum(time_s) as t from steps") == [{"t": 4.0}]
    with pytest.raises(ConfigError) as err:
        out.query("select nope from steps")
    assert err.value.key == "--sql"


def test_not_an_output_directory(tmp_path):
    with pytest.raises(ConfigError):
        open_outputs(tmp_path)


def test_analyze_command_prints_and_plots(sweep_dir, tmp_path, capsys):
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), "--plots", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(rows) == 18
    assert main(["analyze", str(sweep_dir), "--json", "--sql",
                 "select tp, avg(mfu) m from summary group by tp order by tp"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["tp"] for r in rows] == [1, 2, 4]
    assert main(["analyze", str(sweep_dir), "--sql", "select bogus"]) == 2


# -- replicates: mean and 95% interval ---------------------------------------------------------

def noisy_point(task):
    """A metric with known mean (x) and standard deviation 0.1, drawn from the point's seed."""
    import numpy as np
    x = float(task.values["train.tp"])
    seed = int(task.values["run.seed"])
    rng = np.random.default_rng([int(x), seed])
    summary = pa.table({"mfu": [x + 0.1 * rng.standard_normal()], "step_time_s": [1.0]})
    write_run_dir(Path(task.out_dir), {"summary": summary}, {"point": task.partition},
                  staging_root=task.staging_root)
    return {}


def _replicated(tmp, n: int, points: int = 40):
    from sim.app.analyze import interval_rows
    (tmp / "base.toml").write_text(BASE)
    (tmp / f"s{n}.toml").write_text(f'name = "r"\nbase = "base.toml"\nreplicates = {n}\n[grid]\n'
                                    f'"train.tp" = {list(range(1, points + 1))}\n')
    out = tmp / f"out{n}"
    run_sweep(load_sweep(tmp / f"s{n}.toml"), out, workers=1, point_fn=noisy_point, progress=False)
    return open_outputs(out), interval_rows(open_outputs(out), ["mfu"])


def test_intervals_cover_the_mean_and_shrink_as_one_over_sqrt_n(tmp_path):
    from sim.app.analyze import t975
    out8, rows8 = _replicated(tmp_path, 8)
    _, rows32 = _replicated(tmp_path, 32)
    assert len(rows8) == 40 and all(r["n"] == 8 for r in rows8)
    covered = sum(abs(r["mfu_mean"] - r["tp"]) <= r["mfu_ci95"] for r in rows8 + rows32)
    assert 0.85 <= covered / 80 <= 1.0           # 95% intervals cover the true mean ~95% of the time
    h8 = sum(r["mfu_ci95"] for r in rows8) / 40
    h32 = sum(r["mfu_ci95"] for r in rows32) / 40
    expected = 2.0 * t975(7) / t975(31)           # sqrt(32 / 8), times the t quantiles
    assert h8 / h32 == pytest.approx(expected, rel=0.15)
    assert h32 == pytest.approx(t975(31) * 0.1 / 32 ** 0.5, rel=0.15)
    paths = make_plots(out8, tmp_path / "plots")
    assert any(p.name == "intervals.png" for p in paths)


def test_breakdown_draws_every_point(tmp_path, monkeypatch):
    """88 points (the headline sweep's count) give 88 bars per stacked part, each labelled."""
    import sim.app.analyze as an
    tmp = tmp_path
    (tmp / "base.toml").write_text(BASE)
    (tmp / "s.toml").write_text('name = "big"\nbase = "base.toml"\n[grid]\n'
                                '"topology.nic_Gbps" = [12.5, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800]\n'
                                '"train.tp" = [1, 2, 3, 4, 5, 6, 7, 8]\n')
    run_sweep(load_sweep(tmp / "s.toml"), tmp / "out", workers=1, point_fn=overlap_point, progress=False)
    figs = []
    monkeypatch.setattr(an, "_save", lambda fig, d, name: figs.append(fig) or [])
    an.plot_breakdown(open_outputs(tmp / "out"), tmp / "plots")
    ax = figs[0].axes[0]
    assert [len(c) for c in ax.containers][:3] == [88, 88, 88]     # compute, exposed_comm, bubble
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 88 and labels[0] == "nic_Gbps=12.5/tp=1"


def test_runs_of_both_kinds_in_one_directory_are_analyzed(tmp_path):
    """A directory holding a training and a serving run (no sweep): the breakdown skips the
    serving row (no step time) instead of failing on its nulls."""
    write_run_dir(tmp_path / "t", {"summary": pa.table({"step_time_s": [2.0], "compute_s": [1.5], "bubble_s": [0.1],
                                                        "exposed_comm_s": [0.4], "mfu": [0.4]})}, {})
    write_run_dir(tmp_path / "s", {"summary": pa.table({"ttft_p50_s": [0.1], "output_tokens_per_s": [900.0]})}, {})
    out = open_outputs(tmp_path)
    paths = make_plots(out, tmp_path / "plots")
    assert tmp_path / "plots" / "breakdown.png" in paths


def test_rows_of_a_multi_job_run_name_their_job(tmp_path, capsys):
    """A [[jobs]] run's summary has one row per job: the table dcsim analyze prints names each
    row's job and kind (it printed two unnamed rows)."""
    from sim.app.cli import main
    write_run_dir(tmp_path / "r", {"summary": pa.table({
        "job": ["pretrain", "chat"], "kind": ["train", "serve"], "step_time_s": [2.0, None],
        "mfu": [0.4, 0.05], "ttft_p50_s": [None, 0.1]})}, {})
    rows = open_outputs(tmp_path / "r").summary_rows()
    assert [(r["job"], r["kind"]) for r in rows] == [("pretrain", "train"), ("chat", "serve")]
    assert main(["analyze", str(tmp_path / "r"), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "pretrain" in printed and "chat" in printed


def test_plots_keep_a_users_file_of_the_same_name(sweep_dir, tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "throughput.png").write_text("mine")
    make_plots(open_outputs(sweep_dir), plots)
    kept = list(plots.glob("throughput.png.kept-*"))
    assert len(kept) == 1 and kept[0].read_text() == "mine"
    make_plots(open_outputs(sweep_dir), plots)       # the second time it replaces its own figure
    assert len(list(plots.glob("*.kept-*"))) == 1


def two_job_point(task):
    write_run_dir(Path(task.out_dir), {"summary": pa.table({"job": ["a", "b"], "kind": ["train", "serve"],
                                                            "mfu": [0.4, 0.1]})},
                  {"point": task.partition}, staging_root=task.staging_root)
    return {}


def test_a_sweep_of_multi_job_runs_counts_points_not_rows(tmp_path, capsys):
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n"train.tp" = [1, 2]\n')
    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, point_fn=two_job_point, progress=False)
    assert main(["analyze", str(tmp_path / "out"), "--no-plots"]) == 0
    assert "sweep j: 2 finished of 2 points" in capsys.readouterr().out     # said 4 (one row per job)


def test_points_of_an_earlier_larger_grid_are_left_out(tmp_path, capsys):
    """A sweep rerun with a smaller [grid] into the same directory: analyze returned the earlier
    grid's points too (8 rows for a 4-point sweep, a user's report). Only the points sweep.json
    lists are read; the others stay on disk and a warning says how many were left out."""
    (tmp_path / "base.toml").write_text(BASE)
    def sweep(rates):
        (tmp_path / "s.toml").write_text('name = "bw"\nbase = "base.toml"\n[grid]\n'
                                         f'"topology.nic_Gbps" = {rates}\n"train.tp" = [1, 2]\n')
        run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1,
                  point_fn=overlap_point, progress=False)
    sweep([100, 200, 400, 800])
    sweep([100, 200])
    rows = open_outputs(tmp_path / "out").query("select nic_Gbps, tp from summary")
    assert sorted((r["nic_Gbps"], r["tp"]) for r in rows) == [(100, 1), (100, 2), (200, 1), (200, 2)]
    assert "4 point directories" in capsys.readouterr().err
    assert (tmp_path / "out" / "nic_Gbps=800" / "tp=2" / "summary.parquet").exists()


def test_a_summary_beside_sweep_json_is_named_not_an_empty_example(tmp_path, capsys):
    """A summary.parquet at the sweep's top level (not in a point directory) was reported as
    '1 point directory under DIR (e.g. ) is not in this sweep's grid', with an empty example."""
    import shutil
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "bw"\nbase = "base.toml"\n[grid]\n'
                                     '"topology.nic_Gbps" = [100, 200]\n"train.tp" = [1, 2]\n')
    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, point_fn=overlap_point,
              progress=False)
    shutil.copy(tmp_path / "out" / "nic_Gbps=100" / "tp=1" / "summary.parquet", tmp_path / "out" / "summary.parquet")
    rows = open_outputs(tmp_path / "out").query("select tp from summary")
    assert len(rows) == 4
    err = capsys.readouterr().err
    assert "(e.g. )" not in err and "sits beside sweep.json" in err


def test_a_plot_directory_that_is_a_file_is_refused_with_exit_2(sweep_dir, tmp_path, capsys):
    # `dcsim analyze DIR --plots FILE` used to end in a FileExistsError traceback
    from sim.app.cli import main
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert main(["analyze", str(sweep_dir), "--plots", str(afile)]) == 2
    assert main(["analyze", str(sweep_dir), "--plots", str(afile / "sub")]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "--plots" in err and "is a file" in err and "Traceback" not in err
    assert afile.read_text() == "mine"
    assert captured.out == ""    # refused before the summary table (it was printed, then the error)


def test_a_plot_directory_through_a_link(sweep_dir, tmp_path, capsys):
    """``--plots LINK``: a link to a directory is that directory (the plots go there, the link stays); a
    dangling one is refused naming --plots and the link (it failed with "cannot write the plots into
    LINK: File exists"), before the summary table, with nothing created."""
    from sim.app.cli import main
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for plots in ("dangling", "dangling/sub"):
        assert main(["analyze", str(sweep_dir), "--plots", str(tmp_path / plots)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith("error: --plots:") and "is a symbolic link to" in captured.err
        assert "does not exist" in captured.err and captured.out == "" and "Traceback" not in captured.err
    assert not (tmp_path / "nowhere").exists() and (tmp_path / "dangling").is_symlink()
    (tmp_path / "scratch").mkdir()
    (tmp_path / "plots").symlink_to(tmp_path / "scratch")
    assert main(["analyze", str(sweep_dir), "--plots", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots").is_symlink() and (tmp_path / "scratch" / "throughput.png").is_file()
    capsys.readouterr()


@pytest.mark.parametrize("lo,hi", [(25, 800), (3.9, 4.8), (0.5, 22), (1e-3, 1e3)])
def test_log_axis_labels_are_plain_numbers_that_do_not_overlap(lo, hi):
    # the latency plot of a 25..800 requests/s sweep labelled every minor tick as 3x10^1, 4x10^1,
    # ... and the labels ran into each other
    from sim.app.analyze import _plt, plain_log_ticks
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([lo, hi], [1, 2])
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    fig.canvas.draw()
    labels = [t for t in ax.xaxis.get_ticklabels(which="both") if t.get_visible() and t.get_text()
              and lo <= t.get_position()[0] <= hi]
    plt.close(fig)
    assert len(labels) >= 2
    assert all("times" not in t.get_text() and "^" not in t.get_text() for t in labels)
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in labels]


def test_a_replicate_axis_is_never_a_curve_to_colour(tmp_path):
    # replicates = 5 over topology.gpu coloured the throughput plot by seed (the seed moves the
    # ratio least) and fitted a roofline per seed across GPUs
    from sim.app.analyze import curve_axes
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "r"\nbase = "base.toml"\nreplicates = 3\n[grid]\n'
                                     '"topology.nic_Gbps" = [50, 200]\n"train.tp" = [1, 2]\n')
    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, point_fn=overlap_point, progress=False)
    out = open_outputs(tmp_path / "out")
    rows = out.query("select * from summary")
    assert "seed" in out.partitions and len(rows) == 12
    assert curve_axes(out, rows, "compute_comm_ratio") == ["tp", "nic_Gbps"]


def test_the_marker_is_an_axis_that_splits_the_points_otherwise_than_the_colour():
    # nvl72-vs-hgx sweeps zip each GPU with its preset: coloured by preset and marked by gpu, two
    # GB200 points of different tp had one colour and one marker
    from sim.app.analyze import marker_axis
    rows = [{"preset": p, "gpu": g, "tp": t} for p, g, t in
            [("gb200-nvl72", "GB200", 72), ("gb200-nvl72", "GB200", 8), ("hgx-b200-8", "B200-180GB", 8)]]
    assert marker_axis(rows, ["preset", "gpu", "tp"], "preset") == "tp"
    assert marker_axis(rows, ["preset", "gpu"], "preset") is None
    assert marker_axis(rows, ["gpu", "preset", "tp"], "tp") == "gpu"


def test_an_empty_sql_query_exits_2(sweep_dir, tmp_path, capsys):
    # --sql "" printed the summary and wrote plots into the sweep, as if no query were given
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), "--sql", " ", "--plots", str(tmp_path / "p")]) == 2
    assert "--sql: is empty" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_an_sql_query_of_two_statements_exits_2(sweep_dir, capsys):
    # "select 1; select 2" printed the second's rows only, the first's silently dropped
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), "--sql", "select 1 as a; select 2 as b"]) == 2
    err = capsys.readouterr().err
    assert "--sql: runs one query at a time, got 2 statements" in err and "Traceback" not in err
    assert main(["analyze", str(sweep_dir), "--sql", "select 1 as a;"]) == 0      # a trailing ; is one


def test_a_plot_no_longer_drawn_is_set_aside_not_left_as_current(tmp_path, capsys):
    """An analyze that draws no throughput plot (here: no --x for a run without communication) left the
    throughput.png an earlier analyze drew, beside fresh plots as if from the same data. It is moved aside
    as throughput.png.earlier-XXXXXXXX with a note; a user's file of a plot's name is never touched."""
    write_run_dir(tmp_path / "r", {"summary": pa.table({"output_tokens_per_s": [900.0, 1000.0],
                                                        "compute_comm_ratio": pa.array([None, None], pa.float64()),
                                                        "workload_rate": [1.0, 2.0]})}, {})
    plots = tmp_path / "p"
    drawn = make_plots(open_outputs(tmp_path / "r"), plots, x="workload_rate")
    assert (plots / "throughput.png") in drawn
    before = (plots / "throughput.png").read_bytes()
    (plots / "latency.png").write_text("mine")       # a user's file named like a plot this data does not draw
    capsys.readouterr()
    paths = make_plots(open_outputs(tmp_path / "r"), plots)
    assert not any(p.name.startswith("throughput") for p in paths)
    assert not (plots / "throughput.png").exists() and not (plots / "throughput.svg").exists()
    aside = list(plots.glob("throughput.png.earlier-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == before
    assert len(list(plots.glob("throughput.svg.earlier-*"))) == 1
    assert "from an earlier analyze" in capsys.readouterr().err
    assert (plots / "latency.png").read_text() == "mine"
    assert all(p.exists() for p in paths)


@pytest.mark.parametrize("sql", [";", "-- a comment", " ; ;"])
def test_an_sql_query_of_no_statement_exits_2(sweep_dir, capsys, sql):
    # --sql ";" passed the read-only check and died on the cursor's missing description (traceback)
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), "--sql", sql]) == 2
    err = capsys.readouterr().err
    assert "--sql: holds no statement" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", [["--no-plots"], ["--sql", "select 1"]])
def test_plots_with_no_plots_or_sql_exits_2(sweep_dir, tmp_path, capsys, flag):
    # --plots DIR beside --no-plots or --sql was ignored: nothing was drawn there
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), *flag, "--plots", str(tmp_path / "p")]) == 2
    assert "--plots" in capsys.readouterr().err and not (tmp_path / "p").exists()


@pytest.mark.parametrize("flag", [["--no-plots"], ["--sql", "select 1"]])
@pytest.mark.parametrize("axis", ["--x", "--color", "--marker"])
def test_a_plot_axis_with_no_plots_or_sql_exits_2(sweep_dir, capsys, flag, axis):
    # --color tp beside --no-plots or --sql was silently ignored
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), *flag, axis, "tp"]) == 2
    err = capsys.readouterr().err
    assert f"{axis}: sets an axis of the throughput plot, but {flag[0]} draws none" in err


def test_a_missing_throughput_plot_is_explained(tmp_path, capsys):
    # one-GPU serving replicas have no communication (compute_comm_ratio null): the throughput plot
    # was left out without a word, though the README lists it
    write_run_dir(tmp_path / "r", {"summary": pa.table({"output_tokens_per_s": [900.0, 1000.0],
                                                        "compute_comm_ratio": pa.array([None, None], pa.float64()),
                                                        "workload_rate": [1.0, 2.0]})}, {})
    paths = make_plots(open_outputs(tmp_path / "r"), tmp_path / "p")
    assert not any(p.name.startswith("throughput") for p in paths)
    assert "no throughput plot" in capsys.readouterr().err
    paths = make_plots(open_outputs(tmp_path / "r"), tmp_path / "q", x="workload_rate")
    assert any(p.name == "throughput.png" for p in paths)


@pytest.mark.parametrize("sql", [
    "copy (select 1 as a) to '{victim}'",
    "copy summary to '{victim}' (use_tmp_file false)",
    "select 1; copy (select 1) to '{victim}'",
    "export database '{tmp}/exported'",
    "attach '{victim}' as v",
    "install httpfs",
    "create table t as select 1",
    "set enable_external_access = true",
    "pragma profiling_output = '{victim}'",
    "explain analyze copy (select 1) to '{victim}'",
])
def test_analyze_sql_refuses_anything_that_writes(sweep_dir, tmp_path, capsys, sql):
    # `--sql "copy (...) to 'file'"` overwrote the user's file: DuckDB ran whatever it was given
    from sim.app.cli import main
    victim = tmp_path / "notes.txt"
    victim.write_text("mine")
    own = sorted(sweep_dir.glob("**/summary.parquet"))[0]
    before = own.read_bytes()
    for target in (victim, own):
        query = sql.format(victim=str(target).replace("'", "''"), tmp=tmp_path)
        assert main(["analyze", str(sweep_dir), "--sql", query]) == 2
        err = capsys.readouterr().err
        assert "--sql" in err and "read-only" in err and "Traceback" not in err
    assert victim.read_text() == "mine" and own.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_analyze_sql_reads_the_outputs_only(sweep_dir, tmp_path):
    # SELECT, SHOW, DESCRIBE, EXPLAIN, FROM-first and a glob inside the directory still run;
    # a file outside it cannot be read, and no setting can open it again
    out = open_outputs(sweep_dir)
    assert out.query("from summary select count(*) as n") == [{"n": 18}]
    assert out.query("describe summary") and out.query("show tables") and out.query("explain select 1")
    glob = str(sweep_dir / "**" / "summary.parquet").replace("'", "''")
    assert out.query(f"select count(*) as n from read_parquet('{glob}')") == [{"n": 18}]
    (tmp_path / "other.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError) as err:
        out.query(f"select * from read_csv('{tmp_path / 'other.csv'}')")
    assert err.value.key == "--sql" and f"reads only the files under {sweep_dir}" in str(err.value)


def test_readme_says_sql_is_read_only():
    # the README said `--sql` ran "any DuckDB query", though writes and outside files are refused
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "runs any\nDuckDB query" not in text and "`--sql` runs a\nread-only DuckDB query" in text


# -- odd, corrupt and foreign output directories -----------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("nope{", "Expecting value"),
    ("[1, 2]", "a JSON object"),
    ('{"not": "a sweep"}', "'name'"),
    ('{"name": "s", "points_total": "9"}', "'points_total'"),
    ('{"name": "s", "points_total": 1, "partition_types": {"tp": "BIGINT\'); select 1; --"}}', "'partition_types'"),
    ('{"name": "s", "points_total": 1, "axes": [1]}', "'axes'"),
    ('{"name": "s", "points_total": 1, "points": [{"index": 0, "dir": 7}]}', "points[0]"),
    ('{"name": "s", "points_total": 1, "points": [{"index": 0, "dir": "../../etc"}]}', "points[0]"),
])
def test_a_sweep_manifest_that_is_not_dcsims_exits_2_naming_the_reason(tmp_path, capsys, text, reason):
    from sim.app.cli import main
    (tmp_path / "sweep.json").write_text(text)
    assert main(["analyze", str(tmp_path), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "sweep.json is not a dcsim sweep manifest" in err and reason in err and "Traceback" not in err


def test_a_users_sweep_json_beside_a_run_dcsim_wrote_does_not_hide_the_run(tmp_path, capsys):
    """`dcsim run --force` into a folder holding the user's own sweep.json keeps that file; analyze
    then refused the folder ('not a dcsim sweep manifest') until the user renamed their file."""
    write_run_dir(tmp_path / "r", {"summary": pa.table({"mfu": [0.42]})}, {})
    (tmp_path / "r" / "sweep.json").write_text('{"not": "a sweep"}')
    out = open_outputs(tmp_path / "r")
    assert not out.is_sweep and out.query("select mfu from summary") == [{"mfu": 0.42}]
    assert "not a sweep manifest dcsim wrote" in capsys.readouterr().err
    assert (tmp_path / "r" / "sweep.json").read_text() == '{"not": "a sweep"}'


def test_a_corrupt_summary_of_a_run_exits_2_and_draws_nothing(tmp_path, capsys):
    from sim.app.cli import main
    write_run_dir(tmp_path / "r", {"summary": pa.table({"mfu": [0.42]})}, {})
    (tmp_path / "r" / "summary.parquet").write_bytes(b"not parquet at all")
    assert main(["analyze", str(tmp_path / "r")]) == 2
    assert "summary.parquet is not a Parquet file" in capsys.readouterr().err
    assert not (tmp_path / "r" / "plots").exists()
    (tmp_path / "r" / "summary.parquet").write_bytes(b"PAR1" + b"x" * 40 + b"PAR1")   # magic intact
    assert main(["analyze", str(tmp_path / "r"), "--sql", "select * from summary"]) == 2
    err = capsys.readouterr().err
    assert "DIR: the summary table" in err and "cannot be read" in err


def test_a_truncated_table_of_one_sweep_point_exits_2_naming_it(sweep_dir, tmp_path, capsys):
    import shutil
    from sim.app.cli import main
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    victim = sorted(copy.glob("**/links.parquet"))[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] + data[-8:])
    assert main(["analyze", str(copy), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "links tables" in err and victim.name in err and "Traceback" not in err


def test_tables_dcsim_cannot_read_name_the_directory_not_sql(sweep_dir, tmp_path, capsys):
    # a sweep.json whose partition type does not fit its directories: the summary query failed
    # as "--sql: ..." though no --sql was given
    import shutil
    from sim.app.cli import main
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    manifest = json.loads((copy / "sweep.json").read_text())
    name = next(iter(manifest["partition_types"]))
    manifest["partition_types"][name] = "BOOLEAN"
    (copy / "sweep.json").write_text(json.dumps(manifest))
    assert main(["analyze", str(copy), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: DIR: the tables under {copy} cannot be read") and "BOOLEAN" in err


def test_a_resumed_sweep_counts_the_points_an_earlier_run_finished(tmp_path, capsys):
    # a rerun records the points finished before as skipped: analyze said "0 finished of 9"
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "r"\nbase = "base.toml"\n[grid]\n'
                                     '"topology.nic_Gbps" = [100, 200, 400]\n"train.tp" = [1, 2, 4]\n')
    out = tmp_path / "out"
    first = run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, point_fn=overlap_point, progress=False)
    assert first.count("done") == 9
    shutil.rmtree(out / "nic_Gbps=400" / "tp=4")       # one point to run again
    second = run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, point_fn=overlap_point, progress=False)
    assert second.count("done") == 1 and second.count("skipped") == 8
    capsys.readouterr()
    assert main(["analyze", str(out), "--no-plots"]) == 0
    assert "sweep r: 9 finished of 9 points (8 from an earlier run)" in capsys.readouterr().out
    # the points view: status keeps sweep.json's names; `finished` counts an earlier run's points too
    assert main(["analyze", str(out), "--sql", "select count(*) as n from points where finished", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == [{"n": 9}]
    run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, point_fn=overlap_point, progress=False)
    capsys.readouterr()
    assert main(["analyze", str(out), "--no-plots"]) == 0
    assert "sweep r: 9 finished of 9 points (9 from an earlier run)" in capsys.readouterr().out


def _sweep_of_failed_points(tmp_path):
    """A two-point sweep (train.tp 1, 2) under tmp_path/out whose every point failed."""
    def boom(task):
        raise RuntimeError("point failed")

    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "f"\nbase = "base.toml"\n[grid]\n"train.tp" = [1, 2]\n')
    out = tmp_path / "out"
    run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, point_fn=boom, progress=False)
    return out


def test_a_sweep_with_no_finished_point_gets_no_empty_plots_dir(tmp_path, capsys):
    # every point failing left an empty DIR/plots/ behind after `dcsim analyze DIR`
    from sim.app.cli import main

    out = _sweep_of_failed_points(tmp_path)
    before = sorted(p.name for p in out.iterdir())
    assert main(["analyze", str(out)]) == 0
    assert "0 finished of 2 points" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == before and not (out / "plots").exists()
    assert main(["analyze", str(out), "--plots", str(tmp_path / "p" / "q")]) == 0
    assert not (tmp_path / "p").exists()


def test_plots_dir_is_made_when_a_plot_is_written(sweep_dir, tmp_path):
    from sim.app.cli import main
    assert main(["analyze", str(sweep_dir), "--plots", str(tmp_path / "a" / "b"), "--json"]) == 0
    assert (tmp_path / "a" / "b" / "throughput.png").exists()


def calibration_point(task):
    """A synthetic point whose summary says whether its GPU was calibrated (B200 serving is not)."""
    gpu = task.values["topology.gpu"]
    summary = pa.table({"output_tokens_per_s": [1000.0], "usd_per_Mtoken": [2.0],
                        "calibrated": [gpu != "B200-180GB"]})
    write_run_dir(Path(task.out_dir), {"summary": summary}, {"point": task.partition},
                  staging_root=task.staging_root)
    return {}


def _gpu_sweep(tmp_path):
    """A sweep over topology.gpu, H200 (calibrated) and B200 (not), of calibration_point; its output dir."""
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "gpus"\nbase = "base.toml"\n[grid]\n'
                                     '"topology.gpu" = ["H200-SXM-141GB", "B200-180GB"]\n')
    out = tmp_path / "out"
    run_sweep(load_sweep(tmp_path / "s.toml"), out, workers=1, point_fn=calibration_point, progress=False)
    return out


def test_a_sweep_across_gpus_says_which_points_are_not_calibrated(tmp_path, capsys):
    # comparing GPUs (topology.gpu as an axis), the summary table of `dcsim analyze` showed the figures
    # without the calibrated column, so a B200 serving estimate read like a fitted H200 figure
    from types import SimpleNamespace
    from sim.app.analyze import analyze_one
    out = _gpu_sweep(tmp_path)
    rows = open_outputs(out).summary_rows()
    assert {r["gpu"]: r["calibrated"] for r in rows} == {"H200-SXM-141GB": True, "B200-180GB": False}
    args = SimpleNamespace(sql=None, json=False, no_plots=True)
    analyze_one(open_outputs(out), args, None)
    err = capsys.readouterr().err
    assert "note: 1 of 2 rows are not calibrated" in err and "gpu=B200-180GB" in err
    assert "H200" not in err.split("note:", 1)[1]


def test_sql_prints_the_result_alone_on_stdout_and_notes_uncalibrated_rows(tmp_path, capsys):
    # the query's text printed as a heading on stdout, above the result a script reads; and an --sql
    # result over B200 serving points said nothing of their constants being estimates
    from sim.app.cli import main
    out = _gpu_sweep(tmp_path)
    capsys.readouterr()
    sql = "select gpu, output_tokens_per_s from summary order by gpu"
    assert main(["analyze", str(out), "--sql", sql]) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines() == ["gpu             output_tokens_per_s", "B200-180GB      1000.0",
                                        "H200-SXM-141GB  1000.0"]
    assert sql in printed.err and "note: 1 of 2 summary rows under" in printed.err
    # a result with the calibrated column: the note counts its own rows and names them
    assert main(["analyze", str(out), "--sql", "select gpu, calibrated from summary", "--json"]) == 0
    printed = capsys.readouterr()
    assert len(json.loads(printed.out)) == 2 and "note: 1 of 2 rows are not calibrated" in printed.err
    assert "gpu=B200-180GB" in printed.err
    # calibrated rows only: no note
    assert main(["analyze", str(out), "--sql", "select * from summary where calibrated"]) == 0
    assert "not calibrated" not in capsys.readouterr().err


JOBS_BASE = """
[run]
name = "t"
baseline = false
[topology]
gpus = 32
fabric = "fat-tree"
leaf_radix = 32
[[jobs]]
name = "pre"
kind = "train"
gpus = 16
model = { preset = "llama3-8b", seq_len = 2048, layers = 2 }
train = { tp = 8, global_batch = 8 }
[[jobs]]
name = "chat"
kind = "serve"
gpus = 16
model = { preset = "llama3-8b", layers = 2 }
serve = { tp = 1, replicas = 16 }
workload = { rate = 50, requests = 20, input_tokens = 200, output_tokens = 5 }
"""


def test_a_jobs_axis_labels_its_own_column_and_keeps_each_job_s_values(tmp_path, capsys):
    """A sweep over "jobs.0.train.tp" = [2, 4] was partitioned as tp=2/tp=4, and the label replaced
    every job's own tp: the serve job's rows read tp = 4 though it ran (and its summary.parquet
    says) tp = 1. The axis is named whole (jobs_0_train_tp), on every row of the point as any axis
    is, and each row keeps the value it ran with."""
    import pyarrow.parquet as pq
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(JOBS_BASE)
    (tmp_path / "s.toml").write_text('name = "j"\nbase = "base.toml"\n[grid]\n"jobs.0.train.tp" = [2, 4]\n')
    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, progress=False)
    own = pq.read_table(tmp_path / "out" / "jobs_0_train_tp=4" / "summary.parquet").to_pylist()
    assert {r["job"]: r["tp"] for r in own} == {"pre": 4, "chat": 1}
    out = open_outputs(tmp_path / "out")
    assert out.partitions == ["jobs_0_train_tp"]
    rows = out.query("select jobs_0_train_tp as axis, tp, job, kind from summary order by axis, job")
    assert [(r["axis"], r["job"], r["tp"]) for r in rows] == [(2, "chat", 1), (2, "pre", 2),
                                                             (4, "chat", 1), (4, "pre", 4)]
    assert [r["jobs_0_train_tp"] for r in out.summary_rows()] == [2, 2, 4, 4]
    assert main(["analyze", str(tmp_path / "out"), "--no-plots"]) == 0
    assert "jobs_0_train_tp" in capsys.readouterr().out


def gpus_point(task):
    """A synthetic training point on ``topology.gpus`` GPUs of which the job uses 8 (an explicit dp):
    its summary's own ``gpus`` column is 8 whatever the axis; ``links`` has no such column."""
    summary = pa.table({"mfu": [0.4 * 16 / task.values["topology.gpus"]], "gpus": [8], "tp": [4]})
    links = pa.table({"link_class": ["nic"], "bytes": [1e9]})
    write_run_dir(Path(task.out_dir), {"summary": summary, "links": links}, {"point": task.partition},
                  staging_root=task.staging_root)
    return {}


def test_an_axis_named_like_a_summary_column_keeps_both_values(tmp_path, capsys):
    """A sweep over "topology.gpus" is partitioned as gpus=16/gpus=32, and DuckDB's hive partitioning
    replaced the summary's own gpus column (the 8 GPUs the job used) with the axis value on every row,
    silently. The axis is shown as topology_gpus in every table, with a note; gpus keeps the run's value.
    An axis that agrees with its column (train.tp and the summary's tp) keeps the one column."""
    from sim.app.cli import main
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "g"\nbase = "base.toml"\n[grid]\n'
                                     '"topology.gpus" = [16, 32]\n"train.tp" = [4]\n')
    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "out", workers=1, point_fn=gpus_point, progress=False)
    out = open_outputs(tmp_path / "out")
    assert out.partitions == ["topology_gpus", "tp"]
    assert "topology.gpus is shown as column topology_gpus" in capsys.readouterr().err
    rows = out.query("select topology_gpus, gpus, tp, mfu from summary order by topology_gpus")
    assert rows == [{"topology_gpus": 16, "gpus": 8, "tp": 4, "mfu": 0.4},
                    {"topology_gpus": 32, "gpus": 8, "tp": 4, "mfu": 0.2}]
    assert out.query("select topology_gpus as g from links order by g") == [{"g": 16}, {"g": 32}]
    assert [(r["topology_gpus"], r["gpus"]) for r in out.summary_rows()] == [(16, 8), (32, 8)]
    assert main(["analyze", str(tmp_path / "out"), "--no-plots", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["topology_gpus"], r["gpus"]) for r in printed] == [(16, 8), (32, 8)]


def test_json_over_several_directories_is_one_list_naming_each_row_s_directory(tmp_path, capsys):
    # `dcsim analyze A B --json` printed one list per directory, not the one list --json promises
    from sim.app.cli import main
    for name, mfu in (("a", 0.4), ("b", 0.3)):
        write_run_dir(tmp_path / name, {"summary": pa.table({"step_time_s": [1.0], "mfu": [mfu]})}, {"run": name})
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    for extra in (["--no-plots"], ["--sql", "select mfu from summary"]):
        capsys.readouterr()
        assert main(["analyze", *dirs, "--json", *extra]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        rows = json.loads(lines[-1])
        assert len(lines) == 1 and [r["output_dir"] for r in rows] == dirs and [r["mfu"] for r in rows] == [0.4, 0.3]


def test_the_points_view_carries_the_swept_keys_typed(sweep_dir):
    # README says every view carries the swept keys; `select tp from points` failed, and error / wall_s
    # were typed NULL when every value was missing
    out = open_outputs(sweep_dir)
    types = {r["column_name"]: r["column_type"] for r in out.query("describe points")}
    assert types["nic_Gbps"] == "DOUBLE" and types["tp"] == "BIGINT"
    assert types["error"] == "VARCHAR" and types["wall_s"] == "DOUBLE" and types["finished"] == "BOOLEAN"
    rows = out.query("select nic_Gbps, tp, dir from points order by index")
    assert len(rows) == 18 and all(r["dir"].startswith(f"nic_Gbps={r['nic_Gbps']:g}/tp={r['tp']}") for r in rows)


def test_sql_on_a_table_not_there_says_why_not_duckdb_s_catalog_error(tmp_path, capsys):
    """--sql on a sweep with no finished point printed DuckDB's "Catalog Error: Table with name summary
    does not exist!", and the same for steps on a serving run: dcsim says why (exit 2), naming the tables."""
    from sim.app.cli import main

    out = _sweep_of_failed_points(tmp_path)
    assert main(["analyze", str(out), "--sql", "select * from summary"]) == 2
    err = capsys.readouterr().err
    assert "no point of this sweep has finished yet (of its 2 points, 2 failed)" in err, err
    assert "tables here: points" in err and "Catalog Error" not in err
    assert main(["analyze", str(out), "--sql", "select count(*) as n from points where status = 'failed'",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == [{"n": 2}]
    # a serving run writes requests, not steps; a training run steps, not requests
    serving = {"summary": pa.table({"ttft_p50_s": [0.1], "output_tokens_per_s": [900.0]}),
               "requests": pa.table({"arrival_s": [0.0]})}
    write_run_dir(tmp_path / "serve", serving, {})
    assert main(["analyze", str(tmp_path / "serve"), "--sql", "select * from steps"]) == 2
    err = capsys.readouterr().err
    assert "table steps: a serving run writes no steps table (a training run does); tables here: " \
           "requests, summary" in err, err
    write_run_dir(tmp_path / "train", {"summary": pa.table({"step_time_s": [2.0]}),
                                       "steps": pa.table({"step": [0]})}, {})
    with pytest.raises(ConfigError, match="table requests: a training run writes no requests table"):
        open_outputs(tmp_path / "train").query("select * from requests")
    # a [[jobs]] run names its jobs' kinds; a name no run writes is no such table
    write_run_dir(tmp_path / "jobs", {"summary": pa.table({"job": ["a"], "kind": ["serve"], "ttft_p50_s": [0.1]})}, {})
    with pytest.raises(ConfigError, match="table steps: a serving run writes no steps table"):
        open_outputs(tmp_path / "jobs").query("select * from steps")
    with pytest.raises(ConfigError, match=r"table sumary: no such table under .*; tables here: summary$"):
        open_outputs(tmp_path / "jobs").query("select * from sumary")


# -- a folder of several runs (no sweep.json at its top) -----------------------------------------

def _train_run(path: Path, mfu: float, **extra) -> None:
    summary = {"step_time_s": [1.0], "compute_s": [0.8], "exposed_comm_s": [0.2], "bubble_s": [0.0],
               "mfu": [mfu], "compute_comm_ratio": [2.0 + mfu], **{k: [v] for k, v in extra.items()}}
    write_run_dir(path, {"summary": pa.table(summary),
                         "links": pa.table({"link_class": ["nic"], "bytes": [1e9], "utilization": [mfu]})}, {})


def test_a_folder_of_runs_names_each_row_s_run(tmp_path, capsys):
    """`dcsim analyze DIR` over DIR/a, DIR/b, DIR/nested/c (separate runs, not a sweep) stacked their
    summaries with nothing saying which run a row came from. Every view has a column run: the row's
    folder relative to DIR, in the printed table, --json and --sql."""
    from sim.app.cli import main
    for rel, mfu in (("a", 0.4), ("b", 0.3), ("nested/c", 0.2)):
        _train_run(tmp_path / "DIR" / rel, mfu)
    out = open_outputs(tmp_path / "DIR")
    assert out.query("select run, mfu from summary order by run") == [
        {"run": "a", "mfu": 0.4}, {"run": "b", "mfu": 0.3}, {"run": "nested/c", "mfu": 0.2}]
    assert out.query("select run, utilization from links order by run")[2] == {"run": "nested/c", "utilization": 0.2}
    assert [r["run"] for r in out.summary_rows()] == ["a", "b", "nested/c"]
    assert main(["analyze", str(tmp_path / "DIR"), "--no-plots", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["run"], r["mfu"]) for r in rows] == [("a", 0.4), ("b", 0.3), ("nested/c", 0.2)]
    assert main(["analyze", str(tmp_path / "DIR"), "--json", "--sql",
                 "select s.run, l.bytes from summary s join links l using (run) where s.mfu < 0.35 order by 1"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows == [{"run": "b", "bytes": 1e9}, {"run": "nested/c", "bytes": 1e9}]


def test_a_sweep_inside_a_folder_of_runs_keeps_its_point_columns(tmp_path):
    """A sweep's directory beside separate runs: analyze of the folder failed (DuckDB: "Hive partition
    mismatch"). The sweep's points keep their axis columns, typed as its sweep.json types them (a float
    axis compares as a number), the other runs have them null, and run names each point's folder; a
    hand-made name=value folder is typed from its values."""
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "s.toml").write_text('name = "bw"\nbase = "base.toml"\n[grid]\n'
                                     '"topology.nic_Gbps" = [12.5, 50]\n"train.tp" = [1, 2]\n')
    run_sweep(load_sweep(tmp_path / "s.toml"), tmp_path / "DIR" / "sw", workers=1, point_fn=overlap_point,
              progress=False)
    _train_run(tmp_path / "DIR" / "a", 0.4)
    _train_run(tmp_path / "DIR" / "x=1.5", 0.3)
    out = open_outputs(tmp_path / "DIR")
    rows = out.query("select run, nic_Gbps, tp, x from summary order by run")
    assert [r["run"] for r in rows] == ["a", "sw/nic_Gbps=12.5/tp=1", "sw/nic_Gbps=12.5/tp=2",
                                        "sw/nic_Gbps=50/tp=1", "sw/nic_Gbps=50/tp=2", "x=1.5"]
    assert rows[0] == {"run": "a", "nic_Gbps": None, "tp": None, "x": None}
    assert rows[1]["nic_Gbps"] == 12.5 and rows[1]["tp"] == 1 and rows[-1]["x"] == 1.5
    assert out.query("select count(*) as n from summary where nic_Gbps < 20") == [{"n": 2}]    # '12.5' > '20' as text
    assert out.query("select count(*) as n from links where tp = 2") == [{"n": 4}]
    assert {"run", "nic_Gbps", "tp", "x"} <= set(out.partitions)


def test_the_not_calibrated_note_over_a_folder_of_runs_names_each_run_without_none_parts(tmp_path, capsys):
    """fresh27 #8f: the note listed run=hwb/nic_Gbps=None/tp=8/...: the folder columns a run lacks
    (None), and a point's folder values a second time after its run path."""
    from sim.app.analyze import uncalibrated_note
    _train_run(tmp_path / "DIR" / "a", 0.4, calibrated=False)
    _train_run(tmp_path / "DIR" / "sw" / "nic_Gbps=12.5" / "tp=1", 0.3, calibrated=False)
    _train_run(tmp_path / "DIR" / "b", 0.5, calibrated=True)
    out = open_outputs(tmp_path / "DIR")
    capsys.readouterr()
    uncalibrated_note(out, out.summary_rows())
    err = capsys.readouterr().err
    assert "note: 2 of 3 rows are not calibrated" in err and "None" not in err, err
    assert err.rstrip().endswith(": run=a, run=sw/nic_Gbps=12.5/tp=1"), err
    assert {r["run"]: r["nic_Gbps"] for r in out.summary_rows()}["a"] is None      # the data keeps its nulls


def test_a_folder_of_runs_leaves_out_a_run_being_written(tmp_path):
    """A run being written stages its tables in DIR/.NAME.PID.XXXXXXXX.staging: analyze of DIR read it as
    one more run."""
    _train_run(tmp_path / "a", 0.4)
    staging = tmp_path / ".b.123.0123abcd.staging"
    staging.mkdir()
    shutil.copy(tmp_path / "a" / "summary.parquet", staging / "summary.parquet")
    out = open_outputs(tmp_path)
    assert out.query("select count(*) as n from summary") == [{"n": 1}]
    assert out.query("select run from summary") == [{"run": "a"}]


def test_a_folder_of_runs_whose_tables_have_a_run_column_gets_run_dir(tmp_path):
    _train_run(tmp_path / "a", 0.4, run="mine")
    _train_run(tmp_path / "b", 0.3, run="mine too")
    out = open_outputs(tmp_path)
    assert out.query("select run, run_dir from summary order by run_dir") == [
        {"run": "mine", "run_dir": "a"}, {"run": "mine too", "run_dir": "b"}]


def test_a_default_plot_dir_that_is_a_file_exits_2_naming_dir_before_any_table(tmp_path, capsys):
    """DIR/plots is a file of the user's: analyze printed the summary table, then failed naming --plots (which
    the user had not given). It fails first, names DIR and says how to put the plots elsewhere; the file stays."""
    from sim.app.cli import main
    _train_run(tmp_path / "DIR" / "a", 0.4)
    (tmp_path / "DIR" / "plots").write_text("mine")
    assert main(["analyze", str(tmp_path / "DIR")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "DIR: " in captured.err and "--plots PLOTDIR" in captured.err
    assert (tmp_path / "DIR" / "plots").read_text() == "mine"
    assert main(["analyze", str(tmp_path / "DIR"), "--plots", str(tmp_path / "p")]) == 0
