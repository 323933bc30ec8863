"""Analysis: DuckDB views over runs and sweeps, typed partitions, --sql, plots and the knee."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from sim.analyze import find_knee, make_plots, open_outputs
from sim.errors import ConfigError
from sim.outputs import write_run_dir
from sim.sweep import load_sweep, run_sweep


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
    (tmp / "base.toml").write_text("")
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


def test_knee_from_overlap():
    # overlap holds at ratio >= 2 and breaks below it
    ratios = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    overlaps = [0.3, 0.5, 0.8, 0.93, 0.95, 0.95]
    assert find_knee(ratios, overlaps) == 2.0
    # a point that breaks overlap at a high ratio moves the knee right of it
    assert find_knee(ratios + [6.0], overlaps + [0.5]) == 8.0
    assert find_knee(ratios, [0.95] * 6) is None   # never reached the knee
    assert find_knee([], []) is None


def test_knee_of_the_synthetic_sweep_matches_closed_form(sweep_dir):
    # overlap_point: overlap >= 0.9 exactly when comm <= 0.95 C / 0.1 ... i.e. exposed/comm <= 0.1,
    # which holds when comm - 0.95 C <= 0.1 comm  <=>  C / comm >= 0.9 / 0.95
    out = open_outputs(sweep_dir)
    rows = out.query("select compute_comm_ratio r, overlap_fraction o from summary")
    knee = find_knee([r["r"] for r in rows], [r["o"] for r in rows])
    holding = [r["r"] for r in rows if r["r"] >= 0.9 / 0.95 - 1e-12]
    assert knee == pytest.approx(min(holding))


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
    from sim.cli import main
    assert main(["analyze", str(sweep_dir), "--plots", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(rows) == 18
    assert main(["analyze", str(sweep_dir), "--json", "--sql",
                 "select tp, avg(mfu) m from summary group by tp order by tp"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["tp"] for r in rows] == [1, 2, 4]
    assert main(["analyze", str(sweep_dir), "--sql", "select bogus"]) == 2
