"""Runner and engines: the Dask engine gives the same tables as the local pool."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sim.sweep import load_sweep, run_sweep

from test_sweep import _write_sweep, tiny_point


def _rows(out: Path):
    return sorted(duckdb.sql(f"select tp, oversubscription, step_time_s, tp_seen from read_parquet("
                             f"'{out}/**/summary.parquet', hive_partitioning=true, "
                             "hive_types={'tp': 'BIGINT', 'oversubscription': 'DOUBLE'})").fetchall())


def test_dask_local_cluster_matches_local_pool(tmp_path):
    pytest.importorskip("dask.distributed")
    path = _write_sweep(tmp_path, {"train.tp": [1, 2, 3], "topology.oversubscription": [1.0, 2.5]})
    local = run_sweep(load_sweep(path), tmp_path / "local", workers=2, point_fn=tiny_point, progress=False)
    dask = run_sweep(load_sweep(path), tmp_path / "dask", workers=2, engine="dask", point_fn=tiny_point,
                     progress=False)
    assert dask.count("done") == local.count("done") == 4
    assert dask.count("failed") == local.count("failed") == 2
    assert _rows(tmp_path / "dask") == _rows(tmp_path / "local") and len(_rows(tmp_path / "local")) == 4
    man = json.loads((tmp_path / "dask" / "sweep.json").read_text())
    assert man["engine"] == "dask"
