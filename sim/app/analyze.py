"""Reports and plots over run and sweep outputs, read with DuckDB.

Vocabulary:
- output directory: a run (``summary.parquet`` and ``manifest.json`` at the top), a sweep
  (``sweep.json`` and hive-partitioned point directories below), or a folder of several runs and
  sweeps (each in a folder of its own, at any depth: ``Outputs._several_runs``), whose views carry a
  ``run`` column (each row's folder relative to the directory) and the sweeps' axis columns.
- views: ``open_outputs(dir)`` returns a DuckDB connection with one view per table name found
  (``summary``, ``steps``, ``requests``, ``links``, ...). In a sweep each view spans every point
  and carries the partition columns, typed from ``sweep.json`` (DuckDB would read a float axis
  as text). ``points`` lists every point of a sweep with its swept keys, its status (``done``, ``skipped`` =
  finished by an earlier run, ``failed``, ``pending``), ``finished`` (done or skipped) and error.
- plots (PNG and SVG): ``throughput`` (MFU, or output tokens/s for serving, against the
  compute/communication ratio, with the knee marked), ``breakdown`` (step time stacked as
  compute, exposed communication by kind, bubble), ``latency`` (TTFT and TPOT against arrival
  rate), ``links`` (utilization by link class).
- knee: where throughput leaves its plateau as the compute/communication ratio falls, fitted
  with the overlap roofline ``plateau * min(1, ratio / knee)`` (``fit_knee``): to its left,
  overlap no longer hides communication.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path

from sim.errors import ConfigError
from sim.outputs import aside_name, save_figure

SUMMARY_METRICS = ["mfu", "step_time_s", "tokens_per_s", "compute_comm_ratio", "overlap_fraction",
                   "exposed_comm_s", "bubble_s", "output_tokens_per_s", "ttft_p50_s", "tpot_p50_s",
                   "slo_attainment", "wall_s"]
SUMMARY_METRICS += ["goodput", "effective_mfu", "interruptions", "usd_per_Mtoken", "J_per_token"]


# x-axis titles of the plots, by summary column or sweep axis (others are titled by their name)
AXIS_LABELS = {"compute_comm_ratio": "compute / communication time per step",
               "rate": "arrival rate (requests/s)", "workload.rate": "arrival rate (requests/s)"}


def parquet_files(paths: list[Path]) -> list[Path]:
    """The paths that are Parquet files (``PAR1`` at both ends); any other file named
    ``*.parquet`` (a user's) is skipped with a warning on stderr naming it."""
    kept = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                head = f.read(4)
                f.seek(0, 2)
                ok = f.tell() >= 12 and head == b"PAR1"
                if ok:
                    f.seek(-4, 2)
                    ok = f.read(4) == b"PAR1"
        except OSError:
            ok = False
        if ok:
            kept.append(p)
        else:
            print(f"warning: skipping {p}: not a Parquet file", file=sys.stderr)
    return kept


PARTITION_TYPES = {"BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR"}     # those sim.app.sweep.duckdb_type gives


def read_sweep_manifest(path: Path) -> dict:
    """``sweep.json`` as dcsim writes it, or a ``ConfigError`` on ``DIR`` naming what is wrong (a
    truncated or hand-edited file, one of another program's): its ``name``, ``points_total``,
    ``partition_types`` (axis name -> one of ``PARTITION_TYPES``, which go into the SQL that reads
    the points) and ``points`` (each with an integer ``index`` and a relative ``dir``)."""
    where = f"{path} is not a dcsim sweep manifest"
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError("DIR", f"{where}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError("DIR", f"{where}: a JSON object is expected, not {type(data).__name__}")
    if not isinstance(data.get("name"), str):
        raise ConfigError("DIR", f"{where}: 'name' must be a string")
    total = data.get("points_total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ConfigError("DIR", f"{where}: 'points_total' must be a whole number >= 0")
    types = data.get("partition_types", {})
    if not isinstance(types, dict) or not all(
            isinstance(k, str) and "'" not in k and v in PARTITION_TYPES for k, v in types.items()):
        raise ConfigError("DIR", f"{where}: 'partition_types' must map axis names to one of "
                                 f"{', '.join(sorted(PARTITION_TYPES))}")
    axes = data.get("axes", [])
    if not isinstance(axes, list) or not all(isinstance(a, dict) and isinstance(a.get("key"), str)
                                             and isinstance(a.get("name"), str) for a in axes):
        raise ConfigError("DIR", f"{where}: 'axes' must be a list of objects with a 'key' and a 'name'")
    points = data.get("points", [])
    if not isinstance(points, list):
        raise ConfigError("DIR", f"{where}: 'points' must be a list")
    for i, p in enumerate(points):
        if not (isinstance(p, dict) and isinstance(p.get("index"), int) and isinstance(p.get("dir"), str)
                and not Path(p["dir"]).is_absolute() and ".." not in Path(p["dir"]).parts):
            raise ConfigError("DIR", f"{where}: points[{i}] needs an integer 'index' and a 'dir' "
                                     f"relative to the sweep directory")
    return data


def sweep_point_files(directory: Path, sweep: dict, checked: bool = True) -> list[Path]:
    """The Parquet tables of the points ``sweep`` (its ``sweep.json``) lists under ``directory``, less
    those it records as failed (a table left there by an earlier run of another config is stale). A
    point directory of an earlier grid that this sweep no longer has (its ``[grid]`` shrank) is stale
    too: its tables are left out, with a warning on stderr naming how many such directories there are
    (they stay on disk: dcsim does not delete results). ``checked``: only those that are Parquet files
    (``parquet_files``)."""
    from sim.outputs import is_complete
    points = [p for p in sweep.get("points", []) if isinstance(p, dict) and p.get("dir")]
    live = {Path(p["dir"]).parts for p in points if p.get("status") != "failed"}
    complete: dict[tuple, bool] = {}
    files, stale, unfinished = [], set(), set()
    for f in sorted(directory.glob("**/*.parquet")):
        parts = f.relative_to(directory).parent.parts
        point = next((parts[:n] for n in range(len(parts) + 1) if parts[:n] in live), None)
        if point is not None:
            # a point directory without its manifest is being written, or its sweep was killed while
            # it was rewritten in place (an earlier run's tables beside the new run's): not a result
            if point not in complete:
                complete[point] = is_complete(directory.joinpath(*point))
            if complete[point]:
                files.append(f)
            else:
                unfinished.add(point)
        elif f.name == "summary.parquet" and not any(
                (Path(p["dir"]).parts == parts) for p in points):
            stale.add(parts)
    if unfinished:
        example = "/".join(sorted(unfinished)[0])
        print(f"warning: {len(unfinished)} point director{'y' if len(unfinished) == 1 else 'ies'} under "
              f"{directory} (e.g. {example}) {'is' if len(unfinished) == 1 else 'are'} unfinished (no "
              f"manifest.json: a point cut off mid-write): left out of the tables; rerun the sweep to "
              f"finish {'it' if len(unfinished) == 1 else 'them'}", file=sys.stderr)
    if () in stale:     # a summary.parquet beside sweep.json itself: not a point directory
        stale.discard(())
        print(f"warning: {directory / 'summary.parquet'} sits beside sweep.json, not in a point directory "
              f"(a run written into the sweep's folder?): left out of the tables", file=sys.stderr)
    if stale:
        example = "/".join(sorted(stale)[0])
        print(f"warning: {len(stale)} point director{'y' if len(stale) == 1 else 'ies'} under "
              f"{directory} (e.g. {example}) {'is' if len(stale) == 1 else 'are'} not in this "
              f"sweep's grid (sweep.json): left out of the tables", file=sys.stderr)
    return parquet_files(files) if checked else files


def _infer_type(values: list) -> str:
    """The DuckDB type of hive-style folder values (text; None where a file has none): BIGINT when
    every value is a whole number, DOUBLE when every one is a number, BOOLEAN for true/false, else
    VARCHAR."""
    vals = [v for v in values if v is not None]
    if vals and all(re.fullmatch(r"-?\d{1,18}", v) for v in vals):
        return "BIGINT"
    if vals and all(re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v) for v in vals):
        return "DOUBLE"
    if vals and all(v.lower() in ("true", "false") for v in vals):
        return "BOOLEAN"
    return "VARCHAR"


class Outputs:
    """A DuckDB connection over one run or sweep directory."""

    def __init__(self, directory: str | Path):
        import duckdb
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise ConfigError("DIR", f"{self.dir} is not a directory")
        self.con = duckdb.connect()
        self.sweep: dict | None = None
        self.partitions: list[str] = []
        self.tables: list[str] = []
        sweep_file = self.dir / "sweep.json"
        self.renamed: dict[str, str] = {}      # partition name -> the column it is shown as (clashes)
        self.run_column: str | None = None     # several runs: the column naming each row's run (``run``)
        from sim.outputs import is_run_output, is_sweep_output
        users = sweep_file.exists() and not is_sweep_output(self.dir) and is_run_output(self.dir)
        if users:
            # a user's own sweep.json beside the run dcsim wrote there (run --force keeps it): read the run
            print(f"warning: {sweep_file} is not a sweep manifest dcsim wrote; reading {self.dir} as the run "
                  f"its manifest.json describes", file=sys.stderr)
        if sweep_file.exists() and not users:
            self.sweep = read_sweep_manifest(sweep_file)
            types = self.sweep.get("partition_types", {})
            files = self._point_files()
            names = sorted({p.stem for p in files})
            self.renamed = self._clashing_axes(files, names, types)
            self.partitions = [self.renamed.get(p, p) for p in types]
            hive = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
            for name in names:
                listed = ", ".join(f"'{self._esc(p)}'" for p in files if p.stem == name)
                if self.renamed:
                    self._view(name, self._axes_joined(listed, types, self._file_columns[name]))
                    continue
                opts = "hive_partitioning=true, union_by_name=true" + (f", hive_types={hive}" if types else "")
                self._view(name, f"read_parquet([{listed}], {opts})")
            self._points_view()
        elif (self.dir / "summary.parquet").exists():
            files = parquet_files(sorted(self.dir.glob("*.parquet")))
            if self.dir / "summary.parquet" not in files:
                raise ConfigError("DIR", f"{self.dir / 'summary.parquet'} is not a Parquet file "
                                         f"(truncated, or not written by dcsim)")
            for p in files:
                self._view(p.stem, f"read_parquet('{self._esc(p)}')")
        elif any(self.dir.glob("**/summary.parquet")):
            self._several_runs()
        else:
            raise ConfigError("DIR", f"{self.dir} holds no dcsim outputs (no summary.parquet or sweep.json)")
        self._read_only_files()

    _FILE = "__dcsim_file"          # the column naming each row's file, while the views are built

    def _clashing_axes(self, files: list[Path], names: list[str], types: dict) -> dict[str, str]:
        """Axes whose partition name is also a column of a table's files (``topology.gpus`` is the
        partition ``gpus``, and every summary has its own ``gpus``: the GPUs the job used) and whose
        value differs from that column's in some row: partition name -> the column the axis is shown
        as, its whole key with ``_`` for ``.`` (``topology_gpus``), in every table; the file's column
        keeps its name and meaning. DuckDB's hive partitioning would have replaced the file's column
        with the axis value on every row, silently. A clash whose values agree on every row
        (``train.tp`` and the summary's ``tp``) keeps the one column, as before. Each rename is noted
        on stderr."""
        self._file_columns: dict[str, set[str]] = {}
        if not types:
            return {}
        self.con.register("__dcsim_axes", self._axis_table(files, types))
        keys = {a["name"]: a["key"] for a in self.sweep.get("axes", [])}
        columns: set[str] = set()
        renamed: dict[str, tuple[str, str, int]] = {}
        try:
            for name in names:
                listed = ", ".join(f"'{self._esc(p)}'" for p in files if p.stem == name)
                scan = (f"read_parquet([{listed}], hive_partitioning=false, union_by_name=true, "
                        f"filename='{self._FILE}')")
                described = {r[0]: r[1] for r in self.con.execute(f"describe select * from {scan}").fetchall()}
                self._file_columns[name] = set(described)
                columns |= set(described)
                for p, typ in types.items():
                    if p not in described or p in renamed:
                        continue
                    numeric = typ in ("BIGINT", "DOUBLE") and not described[p].startswith(("VARCHAR", "BOOL"))
                    own, axis = (f'f."{p}"', f'cast(a."{p}" as {typ})') if numeric else \
                        (f'cast(f."{p}" as VARCHAR)', f'cast(cast(a."{p}" as {typ}) as VARCHAR)')
                    n = self.con.execute(f'select count(*) from {scan} f join __dcsim_axes a on '
                                         f'f."{self._FILE}" = a."{self._FILE}" where {own} is distinct from '
                                         f'{axis}').fetchone()[0]
                    if n:
                        renamed[p] = (name, keys.get(p, p), n)
        except Exception as err:            # a damaged table: _view names it with DuckDB's reason
            import duckdb
            if not isinstance(err, duckdb.Error):
                raise
            return {}
        out = {}
        for p, (table, key, n) in renamed.items():
            shown = key.replace(".", "_")
            while shown in columns or shown in types:
                shown += "_axis"
            out[p] = shown
            print(f"note: the sweep axis {key} is shown as column {shown}: the {table} table's own {p} column "
                  f"differs from it in {n} row{'s' if n != 1 else ''} and keeps its name and meaning (each run's own "
                  f"value); name the axis {shown} in --sql, --x, --color or --marker", file=sys.stderr)
        return out

    def _axis_table(self, files: list[Path], types: dict):
        """An Arrow table: each file's path and its point's partition values as written in its
        directory names (percent-decoded text, cast to ``types`` in the views)."""
        import urllib.parse
        import pyarrow as pa
        cols: dict[str, list] = {self._FILE: [str(f) for f in files]}
        for p in types:
            cols[p] = []
        for f in files:
            found = {}
            for part in f.relative_to(self.dir).parent.parts:
                k, eq, v = part.partition("=")
                if eq and k in types and k not in found:
                    found[k] = urllib.parse.unquote(v)
            for p in types:
                cols[p].append(found.get(p))
        return pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()})

    def _axes_joined(self, listed: str, types: dict, own_columns: set[str]) -> str:
        """The source of a view whose axes are joined by file (``_clashing_axes``): the files'
        own columns, then each axis under its shown name, typed as hive partitioning types them."""
        axes = ", ".join(f'cast(a."{p}" as {t}) as "{self.renamed.get(p, p)}"' for p, t in types.items())
        own = f'f.* exclude ("{self._FILE}"' + "".join(f', "{p}"' for p in types if p not in self.renamed and p in own_columns) + ")"
        scan = f"read_parquet([{listed}], hive_partitioning=false, union_by_name=true, filename='{self._FILE}')"
        return (f'(select {own}, {axes} from {scan} f join __dcsim_axes a on '
                f'f."{self._FILE}" = a."{self._FILE}")')

    def _read_only_files(self) -> None:
        """Let the connection reach no file outside this output directory, and no setting
        change after that. ``query`` also refuses every statement but a SELECT (a COPY into an
        allowed path would still truncate it), so this is the second guard (DuckDB's
        ``allowed_directories``, 1.2 and later: pyproject.toml requires it)."""
        dirs = sorted({str(self.dir.resolve()), str(self.dir.absolute())})   # and through a link
        self.con.execute(f"set allowed_directories = [{', '.join('?' * len(dirs))}]", dirs)
        self.con.execute("set enable_external_access = false")
        self.con.execute("set lock_configuration = true")

    def _point_files(self) -> list[Path]:
        return sweep_point_files(self.dir, self.sweep)

    RUN = "run"         # the column naming each row's run in a directory of several runs

    def _several_runs(self) -> None:
        """Views over a directory holding several runs (each ``summary.parquet`` in a folder of its own,
        at any depth) and no sweep manifest at its top: every view gets a ``run`` column, the folder of
        the row's table relative to ``DIR`` (posix: ``a``, ``nested/c``, ``sw/tp=4``), and a column per
        ``name=value`` folder on the way (hive-style), typed from the ``sweep.json`` of a sweep below
        ``DIR`` that names it, else from the values (whole numbers BIGINT, numbers DOUBLE, true/false
        BOOLEAN, otherwise text). A sweep below ``DIR`` contributes the points its ``sweep.json`` lists
        (as when it is analyzed on its own). A folder column named like a column of a table's own files
        is not added to that table (the file's column keeps its name and meaning; ``run`` names the point);
        if the tables have a ``run`` column of their own, ours is ``run_dir`` (``self.partitions[0]``)."""
        import urllib.parse
        import pyarrow as pa
        from sim.outputs import is_sweep_output
        sweeps: dict[Path, dict] = {}
        files: list[Path] = []
        for f in sorted(self.dir.glob("**/*.parquet")):
            # a hidden folder is not a run: a run being written stages its tables in .NAME.PID.XXXXXXXX.staging
            if any(s in f.parents for s in sweeps) or any(
                    part.startswith(".") for part in f.relative_to(self.dir).parent.parts):
                continue
            below = [d for d in reversed(f.relative_to(self.dir).parents[:-1])]    # outermost first
            sweep = next((self.dir / d for d in below if is_sweep_output(self.dir / d)), None)
            if sweep is None:
                files.append(f)
            else:
                sweeps[sweep] = read_sweep_manifest(sweep / "sweep.json")
        for d, manifest in sweeps.items():
            files += sweep_point_files(d, manifest, checked=False)
        files = parquet_files(sorted(files))
        # each file's folder values; the types the sweeps give them (None: some value not from a sweep)
        values: dict[str, list] = {}
        declared: dict[str, set | None] = {}
        for i, f in enumerate(files):
            sweep = next((d for d in sweeps if d in f.parents), None)
            types = sweeps[sweep].get("partition_types", {}) if sweep is not None else {}
            for part in f.relative_to(self.dir).parent.parts:
                k, eq, v = part.partition("=")
                if not eq or not k or "'" in k or '"' in k or k in values and values[k][i] is not None:
                    continue
                values.setdefault(k, [None] * len(files))[i] = urllib.parse.unquote(v)
                if k in types and declared.get(k, set()) is not None:
                    declared.setdefault(k, set()).add(types[k])
                else:
                    declared[k] = None
        typed = {k: next(iter(declared[k])) if declared.get(k) and len(declared[k]) == 1 else _infer_type(v)
                 for k, v in values.items()}
        names = sorted({p.stem for p in files})
        listed = {name: ", ".join(f"'{self._esc(p)}'" for p in files if p.stem == name) for name in names}
        scans = {name: (f"read_parquet([{listed[name]}], "
                        f"hive_partitioning=false, union_by_name=true, filename='{self._FILE}')") for name in names}
        own = {}
        for name, scan in scans.items():
            try:
                own[name] = [r[0] for r in self.con.execute(f"describe select * from {scan}").fetchall()]
            except Exception as err:
                import duckdb
                if not isinstance(err, duckdb.Error):
                    raise
                own[name] = []                  # _view below names the table and DuckDB's reason
        run = self.RUN
        while any(run in cols for cols in own.values()) or run in values:
            run += "_dir"
        self.partitions = [run] + list(values)
        self.run_column = run
        rel = [f.relative_to(self.dir).parent.as_posix() for f in files]
        table = {self._FILE: pa.array([str(f) for f in files], pa.string()),
                 run: pa.array(rel, pa.string())}
        table.update({k: pa.array(v, pa.string()) for k, v in values.items()})
        self.con.register("__dcsim_runs", pa.table(table))
        for name, scan in scans.items():
            cols = own[name]
            added = ", ".join([f'a."{run}"'] + [f'cast(a."{k}" as {typed[k]}) as "{k}"'
                                                 for k in values if k not in cols])
            self._view(name, f'(select f.* exclude ("{self._FILE}"), {added} from {scan} f join __dcsim_runs a '
                             f'on f."{self._FILE}" = a."{self._FILE}")')

    @staticmethod
    def _esc(path: Path) -> str:
        return str(path).replace("'", "''")

    def _glob(self, name: str) -> str:
        return self._esc(self.dir) + f"/**/{name}.parquet"

    def _view(self, name: str, source: str) -> None:
        import duckdb
        try:
            self.con.execute(f'create or replace view "{name}" as select * from {source}')
        except duckdb.Error as err:          # a corrupt or truncated table (its magic bytes intact)
            first = str(err).splitlines()[0]
            raise ConfigError("DIR", f"the {name} table{'s' if self.sweep else ''} under {self.dir} "
                                     f"cannot be read ({first})") from None
        self.tables.append(name)

    def _points_view(self) -> None:
        import pyarrow as pa
        from sim.outputs import is_complete
        pts = [dict(p) for p in self.sweep.get("points", [])]
        for p in pts:
            # the filesystem is the truth, as for the sweep itself: sweep.json is rewritten at most every
            # SAVE_INTERVAL_S, so a sweep killed outright (SIGKILL, power loss) lists its last finished
            # points as pending although their directories are complete (and read as tables)
            if p.get("status") == "pending" and isinstance(p.get("dir"), str) and is_complete(self.dir / p["dir"]):
                p["status"] = "done"
        # finished: this run's points (done) and those an earlier run finished (skipped on resume), so
        # `where finished` finds every point with tables where `where status = 'done'` misses a resumed run's
        cols = {"index": pa.array([p["index"] for p in pts], pa.int64()),
                "dir": pa.array([p["dir"] for p in pts], pa.string()),
                "status": pa.array([p.get("status") for p in pts], pa.string()),
                "finished": pa.array([p.get("status") in ("done", "skipped") for p in pts], pa.bool_()),
                "error": pa.array([p.get("error") for p in pts], pa.string()),
                "wall_s": pa.array([p.get("wall_s") for p in pts], pa.float64())}
        # the swept keys, as every other view carries them (typed as sweep.json's partition types)
        arrow = {"BIGINT": pa.int64(), "DOUBLE": pa.float64()}
        for axis in self.sweep.get("axes", []):
            name, key = axis.get("name"), axis.get("key")
            if not isinstance(name, str) or name in cols or not isinstance(key, str):
                continue
            values = [p["values"].get(key) if isinstance(p.get("values"), dict) else None for p in pts]
            texts = pa.array([None if v is None else str(v) for v in values], pa.string())
            kind = arrow.get(axis.get("type"))
            try:
                cols[name] = pa.array(values, kind) if kind else texts
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):      # a hand-edited sweep.json
                cols[name] = texts
        self._points = pa.table(cols)
        self.con.register("points", self._points)
        self.tables.append("points")

    @property
    def is_sweep(self) -> bool:
        return self.sweep is not None

    def query(self, sql: str):
        """Rows of a read-only query (``check_read_only_sql``) as a list of dicts."""
        import duckdb
        check_read_only_sql(sql)
        try:
            cur = self.con.execute(sql)
        except duckdb.PermissionException as err:
            raise ConfigError("--sql", f"reads only the files under {self.dir} ({str(err).splitlines()[0]})") from None
        except duckdb.CatalogException as err:
            missing = re.match(r"Catalog Error: Table with name (.+?) does not exist!", str(err))
            raise ConfigError("--sql", self._no_table(missing.group(1)) if missing
                              else str(err).splitlines()[0]) from None
        except duckdb.Error as err:
            raise ConfigError("--sql", str(err).splitlines()[0]) from None
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _no_table(self, name: str) -> str:
        """Why a query's table ``name`` is not here (DuckDB said only "Catalog Error: Table with name
        summary does not exist!"): a sweep none of whose points has finished yet has only its points
        view; a run of the other kind writes no such table (training ``steps``, serving ``requests``);
        else no table of that name, with the tables there are."""
        here = f"tables here: {', '.join(self.tables)}"
        if self.is_sweep and "summary" not in self.tables:
            status = [p.get("status") for p in self.sweep.get("points", []) if isinstance(p, dict)]
            failed = f", {status.count('failed')} failed" if "failed" in status else ""
            return (f"table {name}: no point of this sweep has finished yet (of its {len(status)} points"
                    f"{failed}), so it has no table but points (each point's status and error: "
                    f"select * from points); {here}")
        kinds = self._kinds()
        if name in KIND_TABLES and kinds and KIND_TABLES[name] not in kinds:
            ran = " and ".join(f"a {RUN_KINDS[k]} run" for k in sorted(kinds))
            return f"table {name}: {ran} writes no {name} table (a {RUN_KINDS[KIND_TABLES[name]]} run does); {here}"
        return f"table {name}: no such table under {self.dir}; {here}"

    def _kinds(self) -> set[str]:
        """The kinds of run (train, serve) whose summaries are here: a [[jobs]] run's ``kind`` column,
        else the columns only one kind writes."""
        cols = self.columns("summary")
        if "kind" in cols:
            return {r["kind"] for r in self.query('select distinct "kind" from summary') if r["kind"] in RUN_KINDS}
        return {k for k, column in (("train", "step_time_s"), ("serve", "ttft_p50_s")) if column in cols}

    def columns(self, table: str) -> list[str]:
        if table not in self.tables:
            return []
        return [r[0] for r in self.con.execute(f'describe "{table}"').fetchall()]

    def summary_rows(self) -> list[dict]:
        if "summary" not in self.tables:      # a sweep with no finished point yet
            return []
        cols = self.columns("summary")
        metrics = [c for c in SUMMARY_METRICS if c in cols]
        keys = [c for c in self.partitions if c in cols]
        # a [[jobs]] run has one row per job: name each row by its job and kind
        names = [c for c in ("job", "kind") if c in cols and c not in keys]
        # an axis shown under its whole key (its partition name clashed with a column): that column beside it
        names += [p for p in self.renamed if p in cols and p not in keys + names]
        # whether each point's GPU constants were fitted to its measurements: a comparison across GPUs
        # (topology.gpu as an axis) needs it beside the figures, not only in the runs' stderr
        flags = [c for c in ("calibrated",) if c in cols and c not in keys]
        select = ", ".join(f'"{c}"' for c in keys + names + metrics + flags) or "*"
        order = (" order by " + ", ".join(f'"{c}"' for c in keys + names[:1])) if keys else ""
        return self.query(f"select {select} from summary{order}")


# the tables only one kind of run writes (training: one row per step and stage; serving: one row per
# request), and how a message names each kind
KIND_TABLES = {"steps": "train", "requests": "serve"}
RUN_KINDS = {"train": "training", "serve": "serving"}

READ_ONLY_STATEMENTS = {"SELECT"}       # DuckDB's statement types --sql runs (SHOW, DESCRIBE,
                                        # SUMMARIZE, VALUES and FROM-first queries parse as SELECT)


def check_read_only_sql(sql: str) -> None:
    """Refuse (``ConfigError`` on ``--sql``) a query that could write or change anything: only
    SELECT statements (and ``EXPLAIN [ANALYZE]`` of one) run, one per query. DuckDB would otherwise run a
    ``COPY ... TO 'file'`` (overwriting a user's file), ``EXPORT DATABASE``, ``ATTACH``,
    ``INSTALL``/``LOAD``, ``CREATE``, ``SET`` or a ``PRAGMA`` (``profiling_output`` writes a file)
    as given: dcsim never overwrites what it did not write."""
    import duckdb
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise ConfigError("--sql", str(err).splitlines()[0]) from None
    if not statements:          # ";" or a comment alone: the cursor had no result (AttributeError)
        raise ConfigError("--sql", "holds no statement; give a query such as \"select * from summary\"")
    for st in statements:
        kind = st.type.name
        if kind == "EXPLAIN":
            m = re.match(r"\s*explain(\s+analyze)?\b", st.query, re.IGNORECASE)
            inner = duckdb.extract_statements(st.query[m.end():]) if m else []
            if len(inner) == 1 and inner[0].type.name in READ_ONLY_STATEMENTS:
                continue
        elif kind in READ_ONLY_STATEMENTS:
            continue
        word = kind.replace("_", " ")
        raise ConfigError("--sql", f"runs only read-only queries (SELECT, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN), "
                                   f"not {word}: analyze writes no file and changes no setting "
                                   f"(to save a table, redirect --json or the printed table)")
    if len(statements) > 1:     # DuckDB ran them all and returned the last one's rows only
        raise ConfigError("--sql", f"runs one query at a time, got {len(statements)} statements (only the "
                                   "last one's rows would be printed); give each its own --sql run, or "
                                   "join them with UNION ALL")


def open_outputs(directory: str | Path) -> Outputs:
    return Outputs(directory)


# -- plots -------------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plain_log_ticks(axis) -> None:
    """Label a log-scaled ``axis`` (``ax.xaxis``, ``ax.yaxis``) with plain numbers (25, 50, 100,
    not 2.5 x 10^1): over a decade or more, the powers of ten and the 2s and 5s between them;
    within one, matplotlib's own ticks. Matplotlib's default labelled every minor tick of a range
    of a decade or two in scientific form, and the labels ran into each other. Over more than
    2.5 decades, the powers of ten alone."""
    import math
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    lo, hi = sorted(axis.get_view_interval())
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    if lo > 0 and math.log10(hi / lo) >= 1:
        wide = math.log10(hi / lo) > 2.5         # many decades: the powers of ten alone
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)


def check_plot_dir(plot_dir: Path, default: bool = False) -> None:
    """Refuse (``ConfigError`` on ``--plots``) a plot directory that is, or lies below, a file, or
    that cannot be created: the plots would otherwise fail half-way with a traceback. Creates
    nothing: the directory is made by the first plot written into it, so a run or sweep with
    nothing to plot (no finished point) leaves no empty ``plots/`` behind. ``default``: the plot
    directory is ``DIR/plots``, which the user did not name: the error names ``DIR`` and says how
    to put the plots elsewhere (the file at ``DIR/plots`` is the user's and stays as it is)."""
    key = "DIR" if default else "--plots"
    hint = ("; it is where the plots go by default: --plots PLOTDIR puts them elsewhere, --no-plots draws none"
            if default else "")
    from sim.outputs import broken_link, broken_link_reason
    if (link := broken_link(plot_dir)) is not None:     # mkdir failed with "File exists"
        raise ConfigError(key, f"{broken_link_reason(link)}: create that directory first, or choose another "
                               f"path for the plots{hint}")
    for p in (plot_dir, *plot_dir.parents):
        if p.exists() and not p.is_dir():
            below = "" if p == plot_dir else f", so {str(plot_dir)!r} cannot be a directory below it"
            raise ConfigError(key, f"{str(p)!r} is a file{below}" + (
                hint + " (dcsim leaves that file as it is)" if default else ": choose a directory for the plots"))
    # the nearest existing directory must let dcsim create (or write into) the plot directory
    here = next((p for p in (plot_dir, *plot_dir.parents) if p.exists()), Path("."))
    if not os.access(here, os.W_OK | os.X_OK):
        what = "write into" if here == plot_dir else "create"
        raise ConfigError(key, f"cannot {what} {str(plot_dir)!r}: {str(here)!r} is not writable{hint}")


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        save_figure(fig, p, dpi=130, bbox_inches="tight")     # a user's file of that name is kept aside
        paths.append(p)
    _plt().close(fig)
    return paths


def fit_knee(ratios, values, grid: int = 400) -> tuple[float, float] | None:
    """Fit ``value = plateau * min(1, ratio / knee)`` by least squares; (knee, plateau).

    The model is the overlap roofline: with communication fully hidden a step takes
    max(compute, communication), so throughput is flat while compute dominates and falls in
    proportion to the ratio once communication does. The fitted knee is where the sweep's
    points leave the plateau (1.0 for perfect overlap; larger when overlap is partial).
    None when the points never leave the plateau or never reach it (a knee at an end).
    """
    import numpy as np
    pts = [(float(r), float(v)) for r, v in zip(ratios, values)
           if r is not None and v is not None and math.isfinite(r) and math.isfinite(v) and r > 0]
    if len(pts) < 3:
        return None
    r = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    knees = np.geomspace(r.min(), r.max(), grid)
    f = np.minimum(1.0, r[None, :] / knees[:, None])           # (grid, points)
    plateau = (f * y).sum(axis=1) / (f * f).sum(axis=1)
    sse = ((plateau[:, None] * f - y) ** 2).sum(axis=1)
    best = int(np.argmin(sse))
    if best in (0, grid - 1):
        return None
    return float(knees[best]), float(plateau[best])


def _sorted_values(values) -> list:
    """Distinct values, numbers in numeric order before strings."""
    vals = set(values)
    return sorted(vals, key=lambda v: (isinstance(v, str) or v is None, 0 if isinstance(v, str) or v is None else v, str(v)))


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _series_axis(out: Outputs, rows: list[dict], exclude: set[str]) -> str | None:
    """The partition column that best splits points into lines: fewest distinct values > 1."""
    best = None
    for c in out.partitions:
        if c in exclude or not rows or c not in rows[0]:
            continue
        n = len({r[c] for r in rows})
        if n > 1 and (best is None or n < best[0]):
            best = (n, c)
    return best[1] if best else None


def _explained(rows: list[dict], column: str, values) -> float:
    """Share of the variance of ``values`` that grouping the rows by ``column`` explains."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    total = float(((v - v.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    groups: dict = {}
    for r, value in zip(rows, v):
        groups.setdefault(r[column], []).append(value)
    return float(sum(len(g) * (np.mean(g) - v.mean()) ** 2 for g in groups.values()) / total)


def marker_axis(rows: list[dict], axes: list[str], series: str | None) -> str | None:
    """The default marker of the throughput plot: the first of ``axes`` (``curve_axes``' order)
    that groups the rows otherwise than the colour ``series`` does; None if none does."""
    return next((a for a in axes if a != series and not _same_partition(rows, a, series)), None)


def _same_partition(rows: list[dict], a: str, b: str | None) -> bool:
    """Whether columns ``a`` and ``b`` group the rows alike (each value of one goes with one value
    of the other, both ways)."""
    if b is None:
        return False
    pairs = {(r.get(a), r.get(b)) for r in rows}
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def curve_axes(out: Outputs, rows: list[dict], x: str) -> list[str]:
    """Partition columns with more than one value, those that move ``x`` least first: a colour
    group should trace a curve along x (the axis that drives x, such as bandwidth, stays inside
    each group). A replicate axis (``replicates = N``, a swept ``run.seed``) is left out: its
    values are draws of one point, not a curve (coloured by seed, a GPU sweep's roofline was
    fitted per seed across GPUs)."""
    import numpy as np
    logx = np.log([r[x] for r in rows])
    seed = replicate_axis(out)
    cands = [c for c in out.partitions if c not in (x, seed) and c in rows[0] and len({r[c] for r in rows}) > 1]
    return sorted(cands, key=lambda c: (round(_explained(rows, c, logx), 3), len({r[c] for r in rows})))


def plot_throughput(out: Outputs, out_dir: Path, x: str | None = None, color: str | None = None,
                    marker: str | None = None) -> list[Path]:
    import numpy as np
    from matplotlib.lines import Line2D
    cols = out.columns("summary")
    y = "mfu" if "mfu" in cols and "step_time_s" in cols else (
        "output_tokens_per_s" if "output_tokens_per_s" in cols else None)
    x = x or "compute_comm_ratio"
    if y is None or x not in cols:
        return []
    rows = out.query(f'select * from summary where "{x}" is not null and "{y}" is not null')
    rows = [r for r in rows if r[x] is not None and math.isfinite(r[x]) and r[x] > 0]
    if not rows:        # say why there is no throughput plot (a serving run without communication)
        print(f"note: no throughput plot: {x} is null, zero or undefined in every row"
              + (" (no communication: compute_comm_ratio is undefined)" if x == "compute_comm_ratio" else "")
              + "; --x COLUMN plots against another summary column", file=sys.stderr)
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    axes = curve_axes(out, rows, x)
    series = color if color else (axes[0] if axes else None)
    # the marker: the next axis that splits the points otherwise than the colour does (a preset
    # swept zipped with its GPU is one partition under two names: as marker it told nothing)
    shape = marker if marker else marker_axis(rows, axes, series)
    for key, value in (("--color", series), ("--marker", shape)):
        if value is not None and value not in rows[0]:
            raise ConfigError(key, f"{value!r} is not a column of the summary")
    markers = "os^Dv<>pP*"
    colours = {k: f"C{i % 10}" for i, k in enumerate(_sorted_values(r.get(series) for r in rows))}
    shapes = {k: markers[i % len(markers)] for i, k in enumerate(_sorted_values(r.get(shape) for r in rows))}
    handles = []
    fitted = False
    for ck, colour in colours.items():
        group = [r for r in rows if r.get(series) == ck]
        for sk in shapes:
            pts = [r for r in group if r.get(shape) == sk]
            if pts:
                ax.scatter([r[x] for r in pts], [r[y] for r in pts], color=colour, marker=shapes[sk],
                           alpha=0.85, s=28)
        label = f"{series}={_label(ck)}" if series else "points"
        # each colour group gets its own overlap roofline: its plateau and its knee
        fit = fit_knee([r[x] for r in group], [r[y] for r in group]) if x == "compute_comm_ratio" else None
        if fit is not None:
            fitted = True
            knee, plateau = fit
            xs = np.geomspace(min(r[x] for r in group), max(r[x] for r in group), 200)
            ax.plot(xs, plateau * np.minimum(1.0, xs / knee), "--", color=colour, lw=1, alpha=0.7)
            ax.plot([knee], [plateau], "|", color=colour, ms=14, mew=2)
            label += f" (knee {knee:.2g})"
        handles.append(Line2D([], [], color=colour, marker="o", ls="", label=label))
    handles += [Line2D([], [], color="0.3", marker=m, ls="", label=f"{shape}={_label(k)}")
                for k, m in shapes.items() if shape]
    overall = fit_knee([r[x] for r in rows], [r[y] for r in rows]) if x == "compute_comm_ratio" else None
    if overall is not None and series:
        knee, plateau = overall
        ax.axvline(knee, color="k", ls=":", lw=1)
        ax.annotate(f"all points: knee ≈ {knee:.2g}", xy=(knee, ax.get_ylim()[0]), xytext=(4, 6),
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel("MFU" if y == "mfu" else "output tokens/s")
    ax.grid(True, which="both", alpha=0.3)
    if len(handles) > 1 or series:
        ax.legend(handles=handles, fontsize=8, loc="lower right")
    name = out.sweep["name"] if out.sweep else out.dir.name
    against = "compute/communication ratio" if x == "compute_comm_ratio" else x
    ax.set_title(f"{name}: {'MFU' if y == 'mfu' else 'throughput'} against {against}"
                 + ("\ndashed: overlap roofline plateau x min(1, ratio / knee), fitted per colour" if fitted else ""),
                 fontsize=10)
    return _save(fig, out_dir, "throughput")


def plot_breakdown(out: Outputs, out_dir: Path, max_bars: int | None = None) -> list[Path]:
    """Step time of every point (all of them unless ``max_bars``) stacked as compute, exposed
    communication by kind (which add up to ``exposed_comm_s``), bubble and any remainder. Up to
    40 points are vertical bars; more are horizontal bars, one labelled row per point, the
    figure growing with the count so that every label stays legible."""
    cols = out.columns("summary")
    if "step_time_s" not in cols or "compute_s" not in cols:
        return []
    by_kind = [c for c in cols if c.startswith("exposed_") and c.endswith("_s") and c != "exposed_comm_s"]
    comm_parts = by_kind or (["exposed_comm_s"] if "exposed_comm_s" in cols else [])
    parts = ["compute_s"] + comm_parts + (["bubble_s"] if "bubble_s" in cols else [])
    keys = [c for c in out.partitions if c in cols]
    order = (" order by " + ", ".join(f'"{c}"' for c in keys)) if keys else ""
    rows = out.query(f"select * from summary where step_time_s is not null{order}")[:max_bars]
    if not rows:
        return []
    plt = _plt()
    n = len(rows)
    horizontal = n > 40
    if horizontal:
        fig, ax = plt.subplots(figsize=(9, 0.17 * n + 1.8))
        bar = ax.barh
    else:
        fig, ax = plt.subplots(figsize=(max(5, 0.35 * n + 3), 4.5))
        bar = ax.bar
    # several runs: the run's folder names it (and its folder values: sw/tp=4)
    labels = [str(r[out.run_column]) if out.run_column in r else
              "/".join(f"{k}={_label(r[k])}" for k in keys) or out.dir.name for r in rows]
    pos = list(range(n))
    base = [0.0] * n
    for part in parts:
        vals = [float(r.get(part) or 0.0) for r in rows]
        if horizontal:
            bar(pos, vals, left=base, label=part.removesuffix("_s"), height=0.8)
        else:
            bar(pos, vals, bottom=base, label=part.removesuffix("_s"))
        base = [b + v for b, v in zip(base, vals)]
    other = [max(float(r["step_time_s"]) - b, 0.0) for r, b in zip(rows, base)]
    if any(o > 1e-9 * max(base) for o in other):
        if horizontal:
            bar(pos, other, left=base, label="other", color="0.8", height=0.8)
        else:
            bar(pos, other, bottom=base, label="other", color="0.8")
    if horizontal:
        ax.set_yticks(pos, labels, fontsize=7)
        ax.set_ylim(n - 0.5, -0.5)             # first point at the top, as in the table
        ax.set_xlabel("seconds per step")
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.set_xticks(pos, labels, rotation=70, ha="right", fontsize=7)
        ax.set_ylabel("seconds per step")
        ax.legend(fontsize=8)
    ax.set_title(f"step time breakdown ({n} points)")
    return _save(fig, out_dir, "breakdown")


def _rate_column(out: Outputs, cols: list[str]) -> str | None:
    for c in ("rate", "arrival_rate", "rate_rps", "workload_rate"):
        if c in cols:
            return c
    return None


def plot_latency(out: Outputs, out_dir: Path) -> list[Path]:
    cols = out.columns("summary")
    rate = _rate_column(out, cols)
    if rate is None or "ttft_p50_s" not in cols:
        return []
    rows = out.query(f'select * from summary order by "{rate}"')
    if len(rows) < 2:
        return []
    series = _series_axis(out, rows, {rate})
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("ttft", "tpot")):
        groups: dict = {}
        for r in rows:
            groups.setdefault(r.get(series) if series else None, []).append(r)
        for n, (key, pts) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
            lab = f"{series}={key} " if series else ""
            for q, style in (("p50", "o-"), ("p99", "s--")):
                c = f"{metric}_{q}_s"
                if c in cols:
                    ax.plot([r[rate] for r in pts], [r[c] for r in pts], style, ms=4, color=f"C{n}",
                            label=f"{lab}{q}")
        rates = [r[rate] for r in rows if r[rate]]
        if rates and min(rates) > 0 and max(rates) / min(rates) >= 10:
            ax.set_xscale("log")
        ax.set_xlabel(AXIS_LABELS["rate"])
        ax.set_ylabel(f"{metric.upper()} (s)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                plain_log_ticks(axis)
        ax.legend(fontsize=7)
    fig.suptitle("latency against arrival rate")
    return _save(fig, out_dir, "latency")


def plot_links(out: Outputs, out_dir: Path) -> list[Path]:
    cols = out.columns("links")
    if "link_class" not in cols or "utilization" not in cols:
        return []
    rows = out.query("select link_class, avg(utilization) as mean_util, max(utilization) as max_util, "
                     "sum(bytes) as bytes from links group by link_class order by link_class")
    if not rows:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = range(len(rows))
    ax.bar(xs, [r["mean_util"] for r in rows], label="mean over links")
    ax.plot(xs, [r["max_util"] for r in rows], "kv", label="busiest link")
    ax.set_xticks(list(xs), [r["link_class"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("utilization (bytes / effective capacity / run time)")
    ax.set_title("link utilization by class" + (" (all points)" if out.is_sweep else ""))
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "links")


def check_plot_axes(out: Outputs, x: str | None, color: str | None, marker: str | None) -> None:
    """``--x`` must name a numeric summary column, ``--color``/``--marker`` a summary column:
    a plot is never skipped silently (``ConfigError`` naming the flag, exit 2)."""
    cols = out.columns("summary") if "summary" in out.tables else []
    for flag, name in (("--x", x), ("--color", color), ("--marker", marker)):
        if name is not None and name not in cols:
            raise ConfigError(flag, f"{name!r} is not a column of {out.dir}'s summary; columns: "
                                    f"{', '.join(cols) or '(none)'}")
    if x is not None:
        bad = out.query(f'select "{x}" as v from summary where "{x}" is not null limit 1')
        if bad and not isinstance(bad[0]["v"], (int, float)) or bad and isinstance(bad[0]["v"], bool):
            raise ConfigError("--x", f"{x!r} is not numeric: the throughput plot needs a numeric x axis")


def make_plots(out: Outputs, out_dir: Path, x: str | None = None, color: str | None = None,
               marker: str | None = None) -> list[Path]:
    paths = []
    paths += plot_throughput(out, out_dir, x, color, marker)
    paths += plot_breakdown(out, out_dir)
    paths += plot_latency(out, out_dir)
    paths += plot_links(out, out_dir)
    paths += plot_intervals(out, out_dir, x)
    set_aside_stale_plots(out_dir, paths)
    return paths


PLOT_NAMES = ("throughput", "breakdown", "latency", "links", "intervals")


def set_aside_stale_plots(out_dir: Path, written: list[Path]) -> list[Path]:
    """Move aside (``NAME.earlier-XXXXXXXX``, a note on stderr) each figure an earlier analyze wrote
    into ``out_dir`` (``PLOT_NAMES``, marked as a dcsim figure) that this one did not draw: left in place
    it read as drawn from the current data. Nothing is deleted; a user's file of such a name stays where
    it is. Returns the new paths."""
    from sim.outputs import is_dcsim_figure
    if not out_dir.is_dir():
        return []
    fresh = {Path(p).name for p in written}
    moved = []
    for name in PLOT_NAMES:
        for ext in ("png", "svg"):
            p = out_dir / f"{name}.{ext}"
            if p.name in fresh or p.is_symlink() or not p.is_file() or not is_dcsim_figure(p):
                continue
            aside = aside_name(p, "earlier")
            os.rename(p, aside)
            moved.append(aside)
            print(f"note: {p} is from an earlier analyze (this data draws no {name} plot): moved it aside "
                  f"as {aside.name}", file=sys.stderr)
    return moved


# -- replicates: mean and 95% confidence interval per point -----------------------------------

# Student's t, two-sided 95%, by degrees of freedom (1..30); beyond 30 the normal 1.96 is within 2%.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042]


def t975(dof: int) -> float:
    """Two-sided 95% quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        return float("nan")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def mean_ci(values) -> tuple[float, float, int]:
    """(mean, half-width of the 95% confidence interval of the mean, n) of finite values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan"), 0
    mean = sum(xs) / n
    if n == 1:
        return mean, float("nan"), 1
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, t975(n - 1) * math.sqrt(var / n), n


def replicate_axis(out: "Outputs") -> str | None:
    """The partition name of the sweep's seed axis (``replicates = N`` or a swept run.seed)."""
    if not out.is_sweep:
        return None
    for a in out.sweep.get("axes", []):
        if a.get("key") == "run.seed":
            return out.renamed.get(a["name"], a["name"])
    return None


def interval_rows(out: "Outputs", metrics: list[str] | None = None) -> list[dict]:
    """One row per point of a replicated sweep: its other axes, ``n``, and for each metric
    ``<metric>_mean`` and ``<metric>_ci95`` (half-width of the 95% interval of the mean)."""
    seed = replicate_axis(out)
    if seed is None:
        return []
    cols = out.columns("summary")
    metrics = [m for m in (metrics or SUMMARY_METRICS) if m in cols and m != "wall_s"]
    keys = [c for c in out.partitions if c in cols and c != seed]
    rows = out.query("select * from summary")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    result = []
    for key in sorted(groups, key=lambda k: tuple(str(v) for v in k)):
        rs = groups[key]
        row = dict(zip(keys, key))
        row["n"] = len(rs)
        for m in metrics:
            try:
                mean, half, _ = mean_ci(r.get(m) for r in rs)
            except (TypeError, ValueError):
                continue
            row[f"{m}_mean"] = mean
            row[f"{m}_ci95"] = half
        result.append(row)
    return result


def plot_intervals(out: "Outputs", out_dir: Path, x: str | None = None) -> list[Path]:
    """Error bars (mean +- 95% interval over seeds) of each varying metric against the first axis."""
    rows = interval_rows(out)
    if not rows:
        return []
    seed = replicate_axis(out)
    axes = [c for c in out.partitions if c != seed and c in rows[0]]
    x = x if x in axes else (axes[0] if axes else None)
    names = [k[:-5] for k in rows[0] if k.endswith("_mean")]
    first = ["goodput", "usd_per_Mtoken", "J_per_token", "effective_mfu", "output_tokens_per_s", "mfu"]
    names = [m for m in first if m in names] + [m for m in names if m not in first]
    metrics = [m for m in names if any((r.get(f"{m}_ci95") or 0) > 0 for r in rows)][:6]
    if not metrics:
        return []
    plt = _plt()
    fig, axs = plt.subplots(len(metrics), 1, figsize=(6, 2.4 * len(metrics)), squeeze=False)
    others = [a for a in axes if a != x]
    for ax, m in zip(axs[:, 0], metrics):
        series: dict[tuple, list[dict]] = {}
        for r in rows:
            series.setdefault(tuple(r.get(o) for o in others), []).append(r)
        for label, rs in series.items():
            if x is not None:
                rs = sorted(rs, key=lambda r: (str(type(r[x])), r[x]))
                xs = [r[x] if isinstance(r[x], (int, float)) else str(r[x]) for r in rs]
            else:
                xs = list(range(len(rs)))
            ys = [r[f"{m}_mean"] for r in rs]
            es = [r[f"{m}_ci95"] if r[f"{m}_ci95"] == r[f"{m}_ci95"] else 0.0 for r in rs]
            name = ", ".join(f"{o}={_label(v)}" for o, v in zip(others, label)) or None
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
        ax.set_ylabel(m)
        if others:
            ax.legend(fontsize=7)
    axs[-1, 0].set_xlabel(x or "point")
    fig.suptitle(f"mean and 95% interval over {rows[0]['n']} seeds")
    fig.tight_layout()
    return _save(fig, out_dir, "intervals")


# -- the command -------------------------------------------------------------------------------

def main(args) -> int:
    dirs = getattr(args, "dirs", None) or [args.dir]
    outputs = [open_outputs(d) for d in dirs]      # every directory is checked before any work
    for out in outputs:
        check_plot_axes(out, getattr(args, "x", None), getattr(args, "color", None),
                        getattr(args, "marker", None))
    if args.sql is not None and not args.sql.strip():     # it printed the summary and drew plots instead
        raise ConfigError("--sql", "is empty; give a query such as \"select * from summary\"")
    if args.sql:
        check_read_only_sql(args.sql)                     # before any directory prints a table
    if args.plots and (args.no_plots or args.sql):         # no plot is drawn: the directory was ignored
        raise ConfigError("--plots", "names where the plots go, but " + ("--no-plots" if args.no_plots else "--sql")
                          + " draws none; drop one of them")
    for flag in ("x", "color", "marker"):                  # likewise a plot's axis: it was ignored
        if getattr(args, flag, None) is not None and (args.no_plots or args.sql):
            raise ConfigError(f"--{flag}", "sets an axis of the throughput plot, but "
                              + ("--no-plots" if args.no_plots else "--sql") + " draws none; drop one of them")
    plot_dirs = [str(Path(args.plots) / out.dir.name) if args.plots and len(outputs) > 1 else args.plots
                 for out in outputs]
    if not args.no_plots and not args.sql:
        for out, plots in zip(outputs, plot_dirs):  # a bad plot directory fails before any table is printed
            check_plot_dir(Path(plots) if plots else out.dir / "plots", default=not plots)
    # --json over several directories: one list on the last line (as every --json prints), each row
    # with the directory it came from ("output_dir"); it printed one list per directory
    collected: list[dict] | None = [] if args.json and len(outputs) > 1 else None
    for out, plots in zip(outputs, plot_dirs):
        analyze_one(out, args, plots, collected)
    if collected is not None:
        from sim.app.tables import json_line
        print(json_line(collected))
    return 0


def _emit_json(out: Outputs, rows: list[dict], collected: list[dict] | None) -> None:
    """``--json``: print ``rows`` as one line, or (several directories) keep them, each with the
    directory it came from (``output_dir``; the points view has its own ``dir``, the point's)."""
    from sim.app.tables import json_line
    if collected is None:
        print(json_line(rows))
    else:
        collected.extend({**r, "output_dir": str(out.dir)} for r in rows)


def analyze_one(out: Outputs, args, plots: str | None, collected: list[dict] | None = None) -> None:
    from sim.app.tables import print_table
    if args.sql:
        rows = out.query(args.sql)
        # stdout holds the result alone (a table, or --json's line), for a pipe or a file; the heading
        # and notes go to stderr
        several = len(getattr(args, "dirs", None) or []) > 1
        heading = " ".join(([f"{out.dir}:"] if several else []) + ([args.sql] if len(args.sql) < 80 else []))
        if heading and not args.json:
            print(heading, file=sys.stderr)
        if args.json:
            _emit_json(out, rows, collected)
        else:
            print_table(rows)
        sql_uncalibrated_note(out, rows)
        _note_unfinished(out)
        return
    try:
        _summarize(out, args, plots, collected)
    except ConfigError as err:
        if err.key != "--sql":
            raise
        # dcsim's own queries over tables it cannot read (a hand-edited sweep.json's types, a
        # damaged file) named --sql, which the command was not given
        raise ConfigError("DIR", f"the tables under {out.dir} cannot be read ({err.reason})") from None


def uncalibrated_note(out: Outputs, rows: list[dict], single: bool = False, of: str = "rows") -> None:
    """A note on stderr naming the summary rows (sweep points, [[jobs]]) whose run was not calibrated
    (``calibrated`` false: a compute constant came from defaults or a ``like``, so its times are
    estimates); a single run's summary prints the column itself (``single``: note it all the same).
    ``of`` names what the rows are."""
    bad = [r for r in rows if r.get("calibrated") is False]
    if not bad or (len(rows) == 1 and not single):
        return
    keys = [k for k in out.partitions if k in bad[0]] or [k for k in ("job",) if k in bad[0]]

    def name(r: dict) -> str:
        # a row's own parts: not a folder value it lacks (None: a run beside a sweep has none of
        # its axes) nor one its run folder already names (run=hs/tp=4, not run=hs/tp=4/tp=4)
        seen = str(r.get(out.run_column, "")).split("/")
        return "/".join(f"{k}={r[k]}" for k in keys
                        if r.get(k) is not None and (k == out.run_column or f"{k}={r[k]}" not in seen))
    names = [name(r) for r in bad[:5]] if keys else []
    more = f" and {len(bad) - 5} more" if len(bad) > 5 and names else ""
    print(f"note: {len(bad)} of {len(rows)} {of} are not calibrated (calibrated = false: their GPU's compute "
          f"constants for that kind of run were not fitted to its measurements, so their times are estimates; "
          f"`dcsim hardware` lists calibrated / calibrated_serve per GPU)"
          + (f": {', '.join(names)}{more}" if names else ""), file=sys.stderr)


def sql_uncalibrated_note(out: Outputs, rows: list[dict]) -> None:
    """``uncalibrated_note`` for an ``--sql`` result: on its rows when it has a ``calibrated``
    column, else on the summary rows of the outputs it read (their tables, and any figure the query
    derives from them, are estimates where a run was not calibrated)."""
    if rows and "calibrated" in rows[0]:
        uncalibrated_note(out, rows, single=True)
    elif "summary" in out.tables and "calibrated" in out.columns("summary"):
        summary = out.query('select * from summary')
        uncalibrated_note(out, summary, single=True,
                          of=f"summary rows under {out.dir} (the runs this query reads)")


def _note_unfinished(out: Outputs) -> None:
    if out.is_sweep and out.sweep.get("running") is True:
        print("note: the sweep that wrote this directory has not ended: it is still running, or it was "
              "killed; the tables hold the points finished so far (rerun the same `dcsim sweep` to resume: "
              "finished points are kept and skipped)", file=sys.stderr)


def _summarize(out: Outputs, args, plots: str | None, collected: list[dict] | None = None) -> None:
    from sim.app.tables import print_table
    rows = out.summary_rows()
    if args.json:
        _emit_json(out, rows, collected)
        _note_unfinished(out)          # stderr: the JSON line stays alone on stdout
    else:
        if out.is_sweep:
            # a resumed sweep records the points an earlier run finished as skipped: finished all the same
            n = {r["status"]: r["n"] for r in out.query("select status, count(*) as n from points "
                                                        "where status in ('done', 'skipped') group by status")}
            earlier = f" ({n['skipped']} from an earlier run)" if n.get("skipped") else ""
            print_table(rows, title=f"sweep {out.sweep['name']}: {n.get('done', 0) + n.get('skipped', 0)} "   # rows: one per job
                                    f"finished of {out.sweep['points_total']} points{earlier}")
        elif len(rows) == 1:
            from sim.app.tables import print_summary
            print_summary(out.query("select * from summary")[0], title=f"run {out.dir.name}")
        else:
            print_table(rows, title=str(out.dir))
        intervals = interval_rows(out)
        if intervals:
            print_table(intervals, title=f"mean and 95% confidence interval over {replicate_axis(out)}")
        _note_unfinished(out)
        uncalibrated_note(out, rows)
        if out.is_sweep:
            failed = out.query("select dir, error from points where status = 'failed'")
            for r in failed[:10]:
                print(f"failed {r['dir']}: {r['error']}", file=sys.stderr)
    if not args.no_plots:
        plot_dir = Path(plots) if plots else out.dir / "plots"
        check_plot_dir(plot_dir, default=not plots)
        try:
            paths = make_plots(out, plot_dir, getattr(args, "x", None), getattr(args, "color", None),
                               getattr(args, "marker", None))
        except OSError as err:
            raise ConfigError("--plots", f"cannot write the plots into {str(plot_dir)!r}: "
                              f"{err.strerror or err}") from None
        for p in paths:
            print(f"wrote {p}", file=sys.stderr)
