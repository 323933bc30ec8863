"""Sweeps: many runs of one base config over a grid (and zip) of dotted keys, resumable.

Vocabulary:
- sweep file: TOML with ``name``, ``base`` (a run config, relative to the sweep file),
  ``[grid]`` (cartesian product: dotted key -> list of values), optional ``[zip]`` (lists of
  equal length varied together) and optional ``[set]`` (dotted key -> value fixed for every
  point). Any dotted key works, presets included (``"topology.preset" = [...]``).
- axis: one swept key. Its partition name is the key's last component (``nic_Gbps``), or
  ``section_key`` when two axes share a last component; a ``[[jobs]]`` key is always named
  whole (``jobs_0_train_tp``), so it says which job it varies and no job's own column is hidden. Axis order = grid keys, then zip keys.
- point: one combination of axis values; it lives in ``OUT/<name>=<value>/...`` (hive layout),
  values percent-encoded, integral numbers written without a decimal point so DuckDB's hive
  autocast reads them as BIGINT; ``partition_types()`` gives every axis's DuckDB type for
  readers (``hive_types``), since DuckDB never autocasts a partition value to DOUBLE.
- point function: ``fn(task: PointTask) -> dict`` runs one point and writes its directory
  atomically (the default loads the config and calls ``sim.app.runner.run_to_dir``). A sweep is a
  thin layer over it; tests and benchmarks pass their own.
- finished point: its directory holds ``manifest.json`` (written last, then renamed into place)
  whose ``point_hash`` matches the point's identity: its fully resolved config (base, ``[set]``
  and axis values, with preset files expanded as they are now and defaults filled in), the
  content (sha256) of the trace files it reads, and the dcsim version (``point_identity``). A
  rerun skips finished points; failed, interrupted and changed ones (a preset file or trace
  edited, a new dcsim) run again, and so does a point directory whose
  manifest has no ``point_hash`` (a single ``dcsim run --out`` into it: another config) when the
  default point function runs the sweep.
- orphans: pool workers exit when the sweep process dies, even by SIGKILL (``_worker_init``:
  Linux's parent-death signal, and a watchdog on the parent pid elsewhere; under the forkserver
  start method a worker's parent is the fork server, which exits with the sweep).
- start methods (``mp_context``): fork (Linux's default), spawn and forkserver give the same tables.
- stop: Ctrl-C or SIGTERM, whichever thread of the sweep process the kernel hands it to, stops the
  local pool within ``WAKE_S``: the points running then finish and are kept, no other point starts
  (queued ones included); a second one terminates the running points (``_DeferredSignals``; the same
  signal again within ``SAME_SIGNAL_S``, as ``timeout`` sends it to the sweep and then its group, is
  one). Pool workers ignore both signals (sent to the whole process group by a terminal, ``timeout`` or
  a batch scheduler) from birth (``_pool_context``: blocked until ``_worker_init`` ignores them): the
  sweep decides, and stops a worker with SIGKILL. One worker (points run in the sweep's own process,
  ``_run_in_process``) stops the same way.
- sweep manifest: ``OUT/sweep.json``: axes, partition types, every point's status
  (``done``, ``skipped`` (finished earlier), ``failed`` with its error, ``pending``), their
  ``counts`` and ``points_finished`` (done + skipped), rewritten
  atomically after completions (at most every SAVE_INTERVAL_S) and at the end, when ``running``
  turns false. A sweep killed outright (SIGKILL) leaves ``running: true`` and may list its last
  finished points as pending; their directories are complete all the same, and both a rerun
  and ``dcsim analyze`` go by the directories.
- lock: a running sweep holds ``fcntl.flock`` on ``OUT/.sweep.lock`` (``_lock_output``) and writes
  ``LOCK_LINE`` there ("dcsim sweep lock, process N"); a second sweep into the same directory
  meanwhile is refused (``ConfigError`` naming ``--out``, exit 2), and so is a sweep into a directory
  whose ``.sweep.lock`` holds anything but that line, older dcsim's bare process id or nothing (a
  user's file: left untouched).
- engine: ``local`` (a process pool, workers = cores by default; 1 worker runs in-process)
  or ``dask`` (a running scheduler at ``address``, or a local cluster on 127.0.0.1).
"""

from __future__ import annotations

import copy
import errno
import itertools
import math
import multiprocessing.context as _mpc
import os
import queue
import re
import signal
import sys
import time
import traceback
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sim.config import read_toml

try:
    import fcntl
except ImportError:     # Windows: sweeps run without the output directory's lock
    fcntl = None
from sim.errors import ConfigError, DcsimError
from sim.outputs import (SWEEP_LOCK, check_replaceable, is_complete, is_json_atomic_temp, is_sweep_output,
                         keep_aside, remove_stale_staging, write_json_atomic)

SWEEP_MANIFEST = "sweep.json"
SAVE_INTERVAL_S = 0.5       # at most this often the sweep manifest is rewritten mid-sweep
# The longest the sweep's main thread sleeps in one pool wait before it looks at the Ctrl-C / SIGTERM it
# noted (``_DeferredSignals``). Python runs signal handlers only in the main thread, and only when that
# thread runs Python code: a signal the kernel hands to a pool thread (manager, queue feeder) was seen only
# when a point finished while the main thread slept in an untimed wait.
WAKE_S = 0.2
# A SIGINT or SIGTERM that comes this soon after the same signal was noted is that signal again, not a second
# Ctrl-C: ``timeout`` (and a batch scheduler's kill of a job) sends it to the sweep and then to its whole
# process group, microseconds apart, and the sweep, seeing two, stopped its running points at once (they
# were lost; the pool broke with a traceback). Far shorter than anyone presses Ctrl-C twice.
SAME_SIGNAL_S = 0.1
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_NOT_RUN = "not run"        # a worker's answer for a point it took from the queue after a stop
MAX_SWEEP_POINTS = 100_000      # points of one sweep (grid product x zip rows x replicates)
_SWEEP_KEYS = {"name", "base", "grid", "zip", "set", "description", "replicates"}


@dataclass(frozen=True)
class Axis:
    key: str            # dotted config key, e.g. "topology.nic_Gbps"
    name: str           # partition column name, e.g. "nic_Gbps"
    values: tuple
    kind: str           # "grid" | "zip"

    @property
    def duckdb_type(self) -> str:
        return duckdb_type(self.values)


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run one point (picklable, no open handles)."""
    index: int
    values: dict            # dotted key -> value
    out_dir: str
    base_data: dict         # the base run config as parsed TOML, [set] keys applied
    base_path: str | None
    staging_root: str | None
    partition: dict = field(default_factory=dict)   # partition name -> value
    point_hash: str = ""    # of the point's config data: a rerun recomputes a point whose config changed
    force: bool = False     # replace point directories dcsim did not write
    trace_dirs: tuple = ()  # where a relative trace a grid / [set] value names is looked for (Sweep.trace_dirs)


@dataclass
class Point:
    index: int
    values: dict            # dotted key -> value
    partition: dict         # partition name -> value
    rel_dir: str


@dataclass
class Sweep:
    name: str
    base_path: Path | None
    base_data: dict
    axes: list[Axis]
    source: Path | None = None

    @property
    def trace_dirs(self) -> tuple[str, ...]:
        """Directories a relative trace path in the sweep is looked for in: the sweep file's, the base's."""
        dirs = [str(p.parent.resolve()) for p in (self.source, self.base_path) if p is not None]
        return tuple(dict.fromkeys(dirs))

    def points(self) -> list[Point]:
        grid = [a for a in self.axes if a.kind == "grid"]
        zipped = [a for a in self.axes if a.kind == "zip"]
        zip_rows = list(zip(*(a.values for a in zipped))) if zipped else [()]
        out = []
        for combo in itertools.product(*(a.values for a in grid)):
            for zrow in zip_rows:
                values = {a.key: v for a, v in zip(grid, combo)}
                values.update({a.key: v for a, v in zip(zipped, zrow)})
                partition = {a.name: values[a.key] for a in self.axes}
                rel = "/".join(f"{name}={encode_value(v)}" for name, v in partition.items())
                out.append(Point(len(out), values, partition, rel or "point"))
        return out

    def partition_types(self) -> dict[str, str]:
        return {a.name: a.duckdb_type for a in self.axes}


# -- values and partition directories ----------------------------------------------------------

def encode_value(value: Any) -> str:
    """A partition directory value: integral numbers without '.0', strings percent-encoded."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, dict)):
        import json
        value = json.dumps(value, separators=(",", ":"))
    return urllib.parse.quote(str(value), safe="-_.~+:@,")


def duckdb_type(values) -> str:
    kinds = {type(v) for v in values}
    if kinds <= {bool}:
        return "BOOLEAN"
    if kinds <= {int}:
        return "BIGINT"
    if kinds <= {int, float}:
        return "DOUBLE"
    return "VARCHAR"


def set_dotted(data: dict, key: str, value: Any) -> None:
    """Set dotted ``key`` in ``data``; a number part indexes a list (``jobs.1.placement``: the
    second ``[[jobs]]`` entry, which must exist); a quoted part may hold dots
    (``hardware."V100S.mine".hbm_GB``, as ``--set`` reads it)."""
    from sim.config import _key_path
    parts = _key_path(key)
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(key, f"{part} is not an index of the list ({len(node)} entries)")
            if last:
                node[int(part)] = copy.deepcopy(value)
                return
            node = node[int(part)]
            continue
        if last:
            node[part] = copy.deepcopy(value)
            return
        if node is data and part == "jobs" and part not in node:    # was "jobs: Input should be a valid list"
            raise ConfigError(key, "the base config has no [[jobs]] tables to index: jobs.N.KEY varies a key of "
                                   "the Nth [[jobs]] of a multi-job config (sweep the single job's key without "
                                   "the jobs.N prefix)")
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, (dict, list)):
            raise ConfigError(key, f"{part} is not a table")
        node = nxt


def point_config_data(task: PointTask) -> dict:
    return config_data(task.base_data, task.values, task.trace_dirs)


def config_data(base_data: dict, values: dict, trace_dirs: tuple = ()) -> dict:
    """The run config of a point: ``base_data`` with the point's ``values`` set. A relative trace
    path a value names that is not found from the current directory is looked for in ``trace_dirs``
    (the sweep file's directory, then the base config's: ``Sweep.trace_dirs``), as a config file's own
    trace is looked for beside it (``sim.config.anchor_traces``)."""
    from sim.config import anchor_traces
    data = copy.deepcopy(base_data)
    for key, value in values.items():
        set_dotted(data, key, value)
    for d in trace_dirs:
        anchor_traces(data, Path(d))
    return data


def config_hash(data: dict) -> str:
    import hashlib
    import json
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


_DIGESTS: dict[tuple, str] = {}      # (path, size, mtime_ns, inode) -> sha256: a trace is read once per sweep


def file_digest(path: str | Path) -> str | None:
    """The sha256 (hex) of the bytes of the file at ``path``, read in 1 MiB blocks; None when it cannot
    be read. Remembered for a file whose size, modification time and inode are unchanged, so that the
    points of a sweep that share a trace read it once."""
    import hashlib
    try:
        st = os.stat(path)
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _DIGESTS:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            _DIGESTS[key] = h.hexdigest()
        return _DIGESTS[key]
    except OSError:
        return None


def input_files(resolved: dict) -> dict[str, str | None]:
    """The files a config reads besides itself (``resolved``: a validated config's ``config_to_dict``):
    ``workload.trace`` and each ``[[jobs]]`` entry's, as the run finds them (``sim.config.find_trace``),
    keyed by the config key, each with its content's sha256 (``file_digest``; None when not found or
    unreadable: the point fails anyway)."""
    from sim.config import find_trace, trace_tables
    out = {}
    for key, w in trace_tables(resolved):
        found = find_trace(w["trace"])
        out[f"{key}.trace"] = file_digest(found) if found is not None else None
    return out


def point_identity(data: dict) -> str:
    """The hash that says whether a finished point is still valid: of the point's fully resolved
    config (presets expanded from their files as they are now, defaults filled in), the content of
    the files it reads (its traces: ``input_files``) and the dcsim version. A changed preset file,
    trace, default or version makes a rerun recompute the point. A config that does not validate is
    hashed as written (it fails again anyway)."""
    import sim
    from sim import config
    try:
        resolved = config.config_to_dict(config.validate(copy.deepcopy(data)))
        files = input_files(resolved)
    except Exception:   # an invalid point: it is recomputed (and fails) regardless
        resolved, files = {"unresolved": data}, {}
    identity = {"config": resolved, "dcsim_version": sim.__version__}
    if files:           # only then: the points of a sweep that reads no file keep the hash they had
        identity["files"] = files
    return config_hash(identity)


def is_finished(directory: Path, point_hash: str, require_hash: bool = False) -> bool:
    """A complete point directory written from the same config. With ``require_hash`` (the default
    point function, which always records one) a manifest without ``point_hash`` is not this sweep's
    point: a single ``dcsim run --out`` into the point's directory, or an older dcsim's point, so the
    point runs again. Without it (a custom point function, which may record none) such a point counts
    as finished."""
    if not is_complete(directory):
        return False
    import json
    try:
        written = json.loads((directory / "manifest.json").read_text()).get("point_hash")
    except (OSError, ValueError):
        return False
    if written is None:
        return not require_hash
    return written == point_hash


# -- loading a sweep file ----------------------------------------------------------------------

def _axis_names(keys: list[str]) -> list[str]:
    """Partition names: a key's last component, or the whole key with ``_`` for ``.`` where two
    keys share it. A ``[[jobs]]`` key (``jobs.0.train.tp``) is always named whole
    (``jobs_0_train_tp``): every job's summary row has its own ``tp`` column, which a partition
    named ``tp`` replaced with job 0's value on every job's row."""
    from sim.config import _key_path
    paths = [_key_path(k) for k in keys]
    last = [p[-1] for p in paths]
    names = []
    for path, short in zip(paths, last):
        whole = last.count(short) > 1 or path[0] == "jobs"
        names.append("_".join(path).replace(".", "_") if whole else short)
    return names


def _check_key(key: str, where: str) -> None:
    """Refuse a swept key no config has: ``section.key``, ``jobs.N.key`` / ``jobs.N.section.key``
    (a ``[[jobs]]`` entry's; N from 0) or ``hardware.NAME.field`` (a GPU defined in the config)."""
    from sim.config import SECTIONS, JobSection, _key_path
    parts = _key_path(key)
    if len(parts) < 2 or any(not p for p in parts):
        raise ConfigError(f"{where}.{key}", "a swept key is a dotted config key such as train.tp")
    if parts[0] == "jobs":
        if len(parts) < 3 or not parts[1].isdigit():
            raise ConfigError(f"{where}.{key}", "a [[jobs]] key is jobs.N.KEY (N: the job's index from 0), such "
                                               "as jobs.1.placement or jobs.0.train.tp")
        fields = JobSection.model_fields
        if parts[2] not in fields:
            raise ConfigError(f"{where}.{key}", f"unknown key {parts[2]!r} in [[jobs]]; known: {', '.join(fields)}")
        if parts[2] in SECTIONS and len(parts) > 3 and parts[3] not in SECTIONS[parts[2]].model_fields:
            raise ConfigError(f"{where}.{key}", f"unknown key {parts[3]!r} in a job's {parts[2]} table")
        return
    if parts[0] == "hardware":
        if len(parts) < 3:
            raise ConfigError(f"{where}.{key}", "a [hardware.NAME] key is hardware.NAME.FIELD, such as "
                                               "hardware.MyGPU.hbm_GBps")
        if len(parts) > 3:       # hardware.X.y.hbm_GB: a GPU name with a dot, unquoted
            name = ".".join(parts[1:-1])
            raise ConfigError(f"{where}.{key}", f"a [hardware.NAME] key is hardware.NAME.FIELD; a GPU name with a "
                                               f"dot is quoted: 'hardware.\"{name}\".{parts[-1]}'")
        return                   # the fields are checked with each point's config
    if parts[0] not in SECTIONS:
        raise ConfigError(f"{where}.{key}", f"unknown section {parts[0]!r}; known: {', '.join(SECTIONS)}")
    fields = SECTIONS[parts[0]].model_fields
    if parts[1] not in fields:   # caught once here rather than as a failure of every point
        from sim.config import _did_you_mean
        raise ConfigError(f"{where}.{key}", f"unknown key {parts[1]!r} in [{parts[0]}]{_did_you_mean(tuple(parts[:2]))}")


def load_sweep(path: str | Path | None = None, data: dict | None = None,
               base_data: dict | None = None) -> Sweep:
    """Parse and check a sweep file (or its dict); the base config is read, not yet validated."""
    source = Path(path).resolve() if path is not None else None
    spec = read_toml(source) if source is not None else copy.deepcopy(data or {})
    unknown = sorted(set(spec) - _SWEEP_KEYS)
    from sim.config import SECTIONS
    if unknown and set(unknown) <= set(SECTIONS) | {"hardware", "jobs"}:   # a run config given to `dcsim sweep`
        # no key prefix: the first section's name ("model: ...") read as the culprit; the file is
        raise ConfigError("", f"{path or 'the sweep'} looks like a run config ([{'], ['.join(unknown)}]), "
                                      "not a sweep file (name, base, [grid], [zip], [set]): run it with `dcsim "
                                      "run`, or sweep it from a file with base = its path and a [grid] table")
    if unknown:
        raise ConfigError(unknown[0], f"unknown sweep key; known: {', '.join(sorted(_SWEEP_KEYS))}")
    name = spec.get("name", None)
    if name is None:
        name = source.stem if source else "sweep"
    if not isinstance(name, str):
        raise ConfigError("name", "must be a string")
    if not name.strip():        # name = "" ran silently under the file's name
        raise ConfigError("name", "must not be empty: give the sweep a name, or leave the key out to name it "
                                  "after its file")
    from sim.config import check_name
    try:
        check_name(name)
    except ValueError as err:
        raise ConfigError("name", str(err)) from None
    base_path = None
    if base_data is None:
        base = spec.get("base")
        if base is None:
            base_data = {}
            print("note: the sweep file has no base = PATH: every point starts from dcsim's defaults "
                  "(model 'custom', 8 GPUs) plus its [set] and axes", file=sys.stderr)
        else:
            if not isinstance(base, str):
                raise ConfigError("base", "must be a path to a run config")
            base_path = (source.parent / base) if source else Path(base)
            base_data = read_toml(base_path)
            if set(base_data) <= _SWEEP_KEYS and set(base_data) & {"base", "grid", "zip", "set", "replicates"}:
                raise ConfigError("base", f"{base_path} is a sweep file ({', '.join(sorted(base_data))}), not a "
                                          "run config: base names the run config whose keys the sweep varies")
    base_data = copy.deepcopy(base_data)
    fixed = spec.get("set", {})
    if not isinstance(fixed, dict):
        raise ConfigError("set", "must be a table of dotted key = value")
    for key, value in fixed.items():
        _check_key(key, "set")
        set_dotted(base_data, key, value)
    if fixed and source is not None:     # a [set] trace path is written beside the sweep file
        from sim.config import anchor_traces
        anchor_traces(base_data, source.parent)
    from sim.config import check_overrides_reach_jobs
    check_overrides_reach_jobs(base_data, list(fixed), "set")     # train.tp on a [[jobs]] base: no effect

    axes_in: list[tuple[str, list, str]] = []
    for kind in ("grid", "zip"):
        table = spec.get(kind, {})
        if not isinstance(table, dict):
            raise ConfigError(kind, "must be a table of dotted key = [values]")
        for key, values in table.items():
            _check_key(key, kind)
            check_overrides_reach_jobs(base_data, [key], kind)   # identical points otherwise
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{kind}.{key}", "must be a non-empty list of values")
            # a [zip] column may repeat a value (the rows differ in another column): its rows are checked below
            if kind == "grid" and len({encode_value(v) for v in values}) != len(values):
                raise ConfigError(f"{kind}.{key}", "values repeat (two points would share a directory)")
            axes_in.append((key, values, kind))
    zip_lengths = {len(v) for k, v, kind in axes_in if kind == "zip"}
    if len(zip_lengths) > 1:
        lengths = ", ".join(f"{k!r} has {len(v)}" for k, v, kind in axes_in if kind == "zip")
        raise ConfigError("zip", f"lists must have equal lengths (they vary together, one point per "
                                 f"position): {lengths}; give every [zip] list the same length")
    zipped = [(k, v) for k, v, kind in axes_in if kind == "zip"]
    if zipped:
        rows = list(zip(*(tuple(encode_value(x) for x in v) for _, v in zipped)))
        seen: dict = {}
        for i, row in enumerate(rows):
            if row in seen and len(zipped) == 1:
                raise ConfigError(f"zip.{zipped[0][0]}", "values repeat (two points would share a directory)")
            if row in seen:
                raise ConfigError("zip", f"rows {seen[row]} and {i} (from 0) are the same ("
                                  + ", ".join(f"{k} = {v[i]!r}" for k, v in zipped)
                                  + "): two points would share a directory")
            seen[row] = i
    keys = [k for k, _, _ in axes_in]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(dup, "key appears in both [grid] and [zip]")
    names = _axis_names(keys)
    axes = [Axis(k, n, tuple(v), kind) for (k, v, kind), n in zip(axes_in, names)]
    from sim.outputs import NAME_MAX, STAGING_ROOM
    for a in axes:                      # each value names a directory: too long a name failed the whole sweep
        for v in a.values:
            part = f"{a.name}={encode_value(v)}"
            if len(part.encode()) > NAME_MAX - STAGING_ROOM:
                raise ConfigError(f"{a.kind}.{a.key}", f"the value {str(v)[:30]!r}... names a point directory of "
                                  f"{len(part.encode())} bytes ({part[:30]}...); at most {NAME_MAX - STAGING_ROOM} "
                                  "fit in a file name: sweep shorter values")
    axes += replicate_axes(spec, base_data, keys)
    total = math.prod(len(a.values) for a in axes if a.kind == "grid") * max(zip_lengths or {1})
    if total > MAX_SWEEP_POINTS:
        sizes = " x ".join(f"{len(a.values)} ({a.key})" for a in axes if a.kind == "grid")
        raise ConfigError("grid", f"the sweep has {total:,} points ({sizes}"
                                  + (f" x {max(zip_lengths)} [zip] rows" if zip_lengths else "")
                                  + f"), over the bound of {MAX_SWEEP_POINTS:,} (days of CPU at a second each, "
                                    "and one directory per point): sweep fewer values")
    sweep = Sweep(name, base_path, base_data, axes, source)
    check_fixed_keys(sweep, list(fixed), "set", [a for a in axes if a.key in keys])   # not replicates: [set] run.seed is their base
    return sweep


def check_fixed_keys(sweep: Sweep, keys: list[str], where: str, axes: list[Axis] | None = None) -> None:
    """Refuse (``ConfigError`` naming ``where``) a fixed key (``[set]``, ``--set``) that a swept
    key of ``axes`` (default: all the sweep's) overrides or lies inside (``train.tp`` with
    ``[grid] "train.tp"``, ``train`` with ``train.tp``): every point's swept value won, and the
    fixed one was silently ignored. ``replicates`` draws its seeds from the base's run.seed as
    the sweep file gives it (``[set]`` included), so ``--set run.seed`` cannot move them."""
    from sim.config import _key_path
    for key in keys:
        fixed = _key_path(key)
        for axis in sweep.axes if axes is None else axes:
            swept = _key_path(axis.key)
            n = min(len(fixed), len(swept))
            if fixed[:n] == swept[:n]:
                what = (f"[{axis.kind}] {axis.key!r}" if axis.key != "run.seed" else
                        "[grid] 'run.seed', or replicates = N, whose seeds count from the sweep file's run.seed")
                raise ConfigError(f"{where}.{key}" if where == "set" else where,
                                  f"{key} is also swept ({what}); the swept values win at every point: remove "
                                  "one of them")


def validate_points(sweep: Sweep) -> int:
    """Validate every point's config before any point runs: an invalid grid value (``train.tp =
    -1``) is a ``ConfigError`` (exit 2) naming the point and the key, not a failed point. An
    infeasible plan (does not fit, sizes do not divide) is found only by running the point and
    stays a per-point failure. An axis no point reads is refused as well (``check_axes_read``), and so is
    a ``workload.requests`` axis two of whose points replay the same requests of a trace (``_SameRuns``).
    Returns the number of points checked."""
    from sim import config
    points = sweep.points()
    read = _AxesRead(sweep)
    same = _SameRuns(sweep)
    for p in points:
        try:
            data = config_data(sweep.base_data, p.values, sweep.trace_dirs)
            cfg = config.validate(data)
            _check_traces_exist(data)
        except ConfigError as err:
            reason = err.reason[len(f"{err.key}: "):] if err.reason.startswith(f"{err.key}: ") else err.reason
            raise ConfigError(err.key, f"sweep point {p.rel_dir}: {reason}") from None
        read.see(data, cfg)
        same.see(p, cfg)
    read.check()
    same.check()
    return len(points)


def check_axes_read(sweep: Sweep) -> None:
    """Refuse (``ConfigError`` naming the axis, exit 2) a swept key that no point of the sweep reads, whose
    points would all be the same run: ``train.dp_bucket_MB`` when every point has run.kind = 'serve' (a
    section ``sim.config.UNUSED_SECTIONS`` says that kind ignores), or a key that the config's own warnings
    (``sim.config.ineffective_settings``) say has no effect at every point (``train.sequence_parallel``
    with tp = 1, ``workload.rate`` with arrival = 'burst', a job's table its kind does not run). An axis
    read by at least one point is fine (a grid that varies run.kind too). Points are validated until
    every axis is found read; an invalid point raises its own ``ConfigError``."""
    from sim import config
    read = _AxesRead(sweep)
    for p in sweep.points():
        if not read.pending:
            break
        data = config_data(sweep.base_data, p.values, sweep.trace_dirs)
        read.see(data, config.validate(data))
    read.check()


def unread_axes(axes: list[Axis], data: dict, cfg) -> dict[str, str]:
    """The keys of ``axes`` that the run of ``cfg`` (validated from ``data``) does not read, each with
    why: a section its run.kind ignores (``sim.config.UNUSED_SECTIONS``), or a setting
    ``sim.config.ineffective_settings`` names as without effect (each of its messages starts with the key
    it names, or a table above it: ``jobs.1.train does not apply to kind = 'serve'``)."""
    from sim.config import UNUSED_SECTIONS, _key_path, ineffective_settings
    out: dict[str, str] = {}
    named = None
    for axis in axes:
        path = tuple(_key_path(axis.key))
        if not cfg.jobs and path[0] in UNUSED_SECTIONS.get(cfg.run.kind, ()):
            out[axis.key] = (f"run.kind is {cfg.run.kind!r}, and a {cfg.run.kind} run ignores [{path[0]}]")
            continue
        if named is None:
            named = [(m, _named_path(m)) for m in ineffective_settings(data, cfg)]
        for message, where in named:
            if where and path[:len(where)] == where:
                out[axis.key] = message
                break
    return out


_HARDWARE_MESSAGE = re.compile(r"\[hardware\.('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\] has no effect")


def _named_path(message: str) -> tuple[str, ...] | None:
    """The key path an ``ineffective_settings`` message says has no effect: its first word (``train.tp``,
    ``jobs.1.train``, ``serve.chunk_size = 8``), or ``("hardware", NAME)`` for ``[hardware.'NAME'] has no
    effect``; None for a message of another form (``[train] next to [[jobs]] is ignored``)."""
    import ast
    m = _HARDWARE_MESSAGE.match(message)
    if m:
        return ("hardware", ast.literal_eval(m.group(1)))
    if " has no effect" not in message and " does not apply" not in message:
        return None
    head = message.split(" ", 1)[0]
    if not head or head.startswith("["):
        return None
    return tuple(head.split("."))


class _AxesRead:
    """The axes of a sweep not yet found read by a point (``unread_axes``), with the reasons the points
    seen so far gave; ``check`` refuses the first still unread."""

    def __init__(self, sweep: Sweep):
        self.pending = {a.key: a for a in sweep.axes}
        self.reasons: dict[str, list[str]] = {a.key: [] for a in sweep.axes}
        self.points = 0     # seen

    def see(self, data: dict, cfg) -> None:
        self.points += 1
        if not self.pending:
            return
        unread = unread_axes(list(self.pending.values()), data, cfg)
        for key in list(self.pending):
            if key not in unread:
                why = _off_switch_unread(self.pending[key], data)
                if why:
                    unread[key] = why
            if key in unread:
                if len(self.reasons[key]) < 2 and unread[key] not in self.reasons[key]:
                    self.reasons[key].append(unread[key])
            else:
                del self.pending[key]

    def check(self) -> None:
        if not self.pending or not self.points:
            return
        axis = next(iter(self.pending.values()))
        why = self.reasons[axis.key]
        more = f" (at other points: {why[1]})" if len(why) > 1 else ""
        change = "its value changes nothing" if len(axis.values) == 1 else \
            "its values change nothing (points that differ only in it are the same run)"
        raise ConfigError(f"{axis.kind}.{axis.key}", f"no point of this sweep reads {axis.key}: {why[0]}{more}; "
                                                     f"{change}: sweep a key these runs read")


_REQUESTS_AXIS = re.compile(r"(?:jobs\.(\d+)\.)?workload\.requests")


class _SameRuns:
    """Points of a ``workload.requests`` axis (a job's too) that are the same run: a workload replaying a
    trace request by request (arrival = 'trace' or 'closed') runs its first workload.requests, so every
    value at or past the trace's length replays the whole trace (``sim.config.replayed_requests``; the run
    warns of a value past it, ``sim.config.ineffective_settings``). Two such points whose other axes agree
    are refused (``check``: ``ConfigError`` naming the axis, the points, the trace and its length, exit 2)
    before any point runs, rather than run twice and read as a throughput that saturates at the trace's
    length. One point past the end alone is the run's warning, printed when the sweep validates it (and a
    whole axis past the end is refused as unread, ``check_axes_read``). A trace's length is read once
    (``sim.config.trace_length``: its lines counted, not parsed)."""

    def __init__(self, sweep: Sweep):
        self.axes = [a for a in sweep.axes if _REQUESTS_AXIS.fullmatch(a.key)]
        self.groups: dict[tuple, list[Point]] = {}
        self.traces: dict[tuple, str] = {}

    def see(self, point: Point, cfg) -> None:
        import json
        from sim.config import replayed_requests
        for axis in self.axes:
            job = _REQUESTS_AXIS.fullmatch(axis.key).group(1)
            if job is not None:
                scope = cfg.jobs[int(job)] if int(job) < len(cfg.jobs) else None
                kind = getattr(scope, "kind", None)
            else:
                scope, kind = (None, None) if cfg.jobs else (cfg, cfg.run.kind)
            if kind != "serve":
                continue
            n = replayed_requests(scope.workload)
            if n is None:
                continue
            others = json.dumps({k: v for k, v in point.values.items() if k != axis.key}, sort_keys=True, default=str)
            group = (axis.key, others, n)
            self.groups.setdefault(group, []).append(point)
            self.traces[group] = scope.workload.trace

    def check(self) -> None:
        for group, points in self.groups.items():
            if len(points) < 2:
                continue
            key, _, n = group
            axis = next(a for a in self.axes if a.key == key)
            a, b = points[0], points[1]
            more = f" (and {len(points) - 2} more)" if len(points) > 2 else ""
            raise ConfigError(f"{axis.kind}.{key}", f"sweep points {a.rel_dir} and {b.rel_dir}{more} are the same run: "
                                                    f"{self.traces[group]} holds {n:,} requests, and {key} = "
                                                    f"{a.values[key]:,} and {b.values[key]:,} both replay those {n:,} "
                                                    f"(a value past a trace's end has no effect); sweep values up to "
                                                    f"{n:,}, or leave {key} unset to replay the whole trace")


def _off_switch_unread(axis: Axis, data: dict) -> str | None:
    """Why a switch axis (true / false) at its off value is not read either: the point with it turned on
    is one ``unread_axes`` names (``train.sequence_parallel = true`` with tp = 1, ``serve.async_scheduling
    = true`` on the trtllm engine), so both values are the same run there; None otherwise. A run warns of
    the on value only, so without this a [true, false] axis passed as read at its false points."""
    from sim import config
    from sim.config import _key_path
    path = _key_path(axis.key)
    node = data
    try:
        for part in path[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if node.get(path[-1]) is not False:
            return None
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return None
    on = copy.deepcopy(data)
    set_dotted(on, axis.key, True)
    try:
        why = unread_axes([axis], on, config.validate(on)).get(axis.key)
    except ConfigError:
        return None
    return f"{why} (and {axis.key} = false is its off value: both are the same run)" if why else None


def _check_traces_exist(data: dict) -> None:
    """Refuse (``ConfigError`` naming the key) a point whose trace file is not found, is a directory, is
    empty or blank, or has an unknown format (``check_trace_file``, as ``dcsim run`` refuses it before its
    run): such a point failed at run time, one by one, and the sweep exited 0."""
    from sim.config import trace_tables
    from workloads.serving.traces import check_trace_file
    for key, w in trace_tables(data):
        check_trace_file(w["trace"], f"{key}.trace")


def replicate_axes(spec: dict, base_data: dict, keys: list[str]) -> list[Axis]:
    """``replicates = N``: every point runs under N seeds (``run.seed`` = base seed + 0..N-1), as a
    last grid axis named ``seed``; ``dcsim analyze`` then reports mean and 95% interval per point."""
    n = spec.get("replicates")
    if n is None:
        return []
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("replicates", f"must be an integer >= 1, got {n!r}")
    if n > MAX_SWEEP_POINTS:            # replicates = 1000000 spent minutes listing points, silently
        raise ConfigError("replicates", f"{n:,} seeds per point is over the bound of {MAX_SWEEP_POINTS:,} "
                                        "points a sweep may have; 5 to 30 seeds give a 95% interval")
    if "run.seed" in keys:
        raise ConfigError("replicates", "run.seed is already swept; use one or the other")
    base_seed = base_data.get("run", {}).get("seed", 0) if isinstance(base_data.get("run"), dict) else 0
    if isinstance(base_seed, bool) or not isinstance(base_seed, int):
        raise ConfigError("run.seed", "must be an integer")
    name = "seed" if "seed" not in [k.split(".")[-1] for k in keys] else "run_seed"
    return [Axis("run.seed", name, tuple(base_seed + i for i in range(n)), "grid")]


# -- running points ----------------------------------------------------------------------------

def run_point(task: PointTask) -> dict:
    """The default point function: validate the point's config and run it into its directory.
    A point directory of the sweep's output that holds only files dcsim never writes (a user's
    ``notes.txt``, left when an earlier dcsim removed the point's own files after it failed) is written into
    beside them, as an earlier run's would be; one with a file of a name dcsim writes
    (``summary.parquet``, ``manifest.json``) but no dcsim manifest still needs ``force``."""
    from sim import config
    from sim.app import runner
    from sim.outputs import holds_only_foreign_names
    cfg = config.validate(point_config_data(task))
    result = runner.run_to_dir(cfg, Path(task.out_dir), staging_root=task.staging_root,
                               extra_manifest={"point": task.partition, "point_hash": task.point_hash},
                               force=task.force or holds_only_foreign_names(Path(task.out_dir)))
    return {"summary": result.summary}


def execute(point_fn: Callable[[PointTask], dict], task: PointTask) -> dict:
    """Run one point and report, never raise: a failed point must not stop the sweep."""
    t0 = time.perf_counter()
    outcome = {"index": task.index, "status": "done", "error": None, "exit_code": 0}
    try:
        result = point_fn(task) or {}
        summary = result.get("summary") if isinstance(result, dict) else None
        if isinstance(summary, dict) and summary:
            outcome["summary"] = {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))}
    except DcsimError as err:
        outcome.update(status="failed", error=str(err), error_type=type(err).__name__,
                       exit_code=err.exit_code)
        if isinstance(getattr(err, "key", None), str):
            outcome["error_key"] = err.key      # "--out": the point's directory was refused, not its config
    except Exception as err:  # a bug in one point is recorded; the sweep goes on
        outcome.update(status="failed", error=f"{type(err).__name__}: {err}",
                       error_type=type(err).__name__, exit_code=1,
                       traceback=traceback.format_exc(limit=8))
    outcome["wall_s"] = time.perf_counter() - t0
    return outcome


_STOP = None                # in a pool worker: shared byte, nonzero once the sweep is stopping


def _execute_unless_stopped(point_fn: Callable[[PointTask], dict], task: PointTask) -> dict:
    """``execute`` in a pool worker, unless the sweep was stopped (Ctrl-C) after the pool queued the
    point: the pool hands workers a few points ahead, and those must not start after a stop."""
    if _STOP is not None and _STOP.value:
        return {"index": task.index, "status": _NOT_RUN}
    # the point's "warning: ..." lines go back with its outcome and the sweep prints each once: every
    # worker process printed the same config warnings again (twice with --workers 2)
    real, sys.stderr = sys.stderr, WarningLines(sys.stderr)
    try:
        outcome = execute(point_fn, task)
    finally:
        caught, sys.stderr = sys.stderr, real
    caught.flush_rest()
    if caught.lines:
        outcome["warnings"] = caught.lines
    return outcome


class WarningLines:
    """A stand-in for ``sys.stderr`` that keeps the ``warning: ...`` lines its writers print (``lines``:
    each message, without the ``warning: `` prefix) and passes every other line through to ``stream``;
    ``flush_rest`` passes on an unfinished last line. Used for a pool worker's points (the sweep prints
    each warning once) and by ``dcsim validate`` (a suite's hundreds of configs' warnings, counted)."""

    def __init__(self, stream):
        self.stream, self.lines, self._part = stream, [], ""

    def write(self, text: str) -> int:
        self._part += text
        while "\n" in self._part:
            line, self._part = self._part.split("\n", 1)
            if line.startswith("warning: "):
                self.lines.append(line[len("warning: "):])
            else:
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def flush_rest(self) -> None:
        if self._part:
            self.stream.write(self._part)
            self._part = ""


def _ignore_interrupts() -> None:
    # Ctrl-C goes to the whole process group, and so does the SIGTERM of `timeout` and batch schedulers
    # (kill -TERM -PGID): the sweep process decides what its workers do (finish the running point, or die
    # at a second signal). A worker that died of the group's SIGTERM broke the pool: every point failed
    # (BrokenProcessPool). The sweep stops a worker with SIGKILL (``_pool_context``), never SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


_CAN_MASK = hasattr(signal, "pthread_sigmask")     # not on Windows


class _WorkerProcess:
    """A multiprocessing Process for a pool worker: born with SIGINT and SIGTERM blocked, which
    ``_worker_init`` unblocks once it ignores them, and whose ``terminate`` sends SIGKILL (the pool
    terminates the workers with it when one died; they ignore SIGTERM).

    Why blocked: a worker is not immune until its initializer runs. One born by spawn (fork, then exec: a
    handled signal is reset to the default, and Python's default raises KeyboardInterrupt) died of a Ctrl-C
    that came while it started, with a traceback, and the pool broke: every point failed (``worker died:
    BrokenProcessPool``). Under forkserver the fork server, started with the first worker, died so (the sweep
    failed with EOFError), and its workers get its startup handlers back. A forked worker inherits the
    sweep's deferring handler, harmless, but is blocked alike. A blocked signal stays pending in the worker,
    and ignoring it discards it; the mask is inherited through fork and exec alike (the fork server keeps
    it, and hands it on). Only the thread that starts a worker blocks them, and only meanwhile: a Ctrl-C that
    comes then is held for the sweep, or taken by another of its threads, never lost (so the standard
    library starts its resource tracker)."""

    def start(self) -> None:
        if not _CAN_MASK:
            return super().start()
        before = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)

    def terminate(self) -> None:
        self.kill()


# At module level, by name: the spawn and forkserver start methods pickle a worker's Process object.
_KILLING_CONTEXTS: dict[str, type] = {}


class _KillingSpawnProcess(_WorkerProcess, _mpc.SpawnProcess):
    pass


class _KillingSpawnContext(_mpc.SpawnContext):
    Process = _KillingSpawnProcess


_KILLING_CONTEXTS["spawn"] = _KillingSpawnContext
if sys.platform != "win32":
    class _KillingForkProcess(_WorkerProcess, _mpc.ForkProcess):
        pass

    class _KillingForkServerProcess(_WorkerProcess, _mpc.ForkServerProcess):
        pass

    class _KillingForkContext(_mpc.ForkContext):
        Process = _KillingForkProcess

    class _KillingForkServerContext(_mpc.ForkServerContext):
        Process = _KillingForkServerProcess

    _KILLING_CONTEXTS.update(fork=_KillingForkContext, forkserver=_KillingForkServerContext)


def _pool_context(method: str):
    """The multiprocessing context for the pool: ``method``'s, its workers born with SIGINT and SIGTERM
    blocked and stopped by SIGKILL (``_WorkerProcess``)."""
    import multiprocessing as mp
    return _KILLING_CONTEXTS[method]() if method in _KILLING_CONTEXTS else mp.get_context(method)


def _pid_running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie, dead and not yet reaped, has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Make this worker process exit when ``parent`` (the sweep) dies, however it dies: on Linux
    the kernel sends SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere (and as a back-up) a daemon
    thread notices that the parent pid changed. Without this, workers of a SIGKILLed sweep live on
    and keep writing points.

    The worker's own parent is the sweep under the fork and spawn start methods, but under
    forkserver it is the fork server, which exits when the sweep does (its pipe from the sweep
    closes). So the death signal and the watch follow the parent the worker has at start, and
    the sweep's pid is watched beside it; the worker no longer takes a parent other than the
    sweep for a dead sweep (every forkserver worker exited at start: every point failed with
    BrokenProcessPool)."""
    import threading
    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)          # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def orphaned() -> bool:
        if os.getppid() != ppid:        # the parent at start died (also before the signal was armed)
            return True
        return ppid != parent and not _pid_running(parent)     # forkserver: the sweep itself

    # the parent died before the signal was armed: the worker was re-parented, and the sweep is gone
    if orphaned():
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if orphaned():
                os._exit(1)

    threading.Thread(target=watch, name="dcsim-parent-watch", daemon=True).start()


def _worker_init(parent: int, stop=None) -> None:
    global _STOP
    _ignore_interrupts()
    if _CAN_MASK:       # born with both blocked (``_WorkerProcess``): one sent meanwhile is discarded now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _INTERRUPTS)
    _STOP = stop
    _exit_with_parent(parent)
    import topologies
    topologies.keep_built()     # points that share a [topology] share one build


# -- progress ----------------------------------------------------------------------------------

class Progress:
    """A rich progress bar with ETA on a terminal; one line per completed point otherwise."""

    def __init__(self, total: int, todo: int, stream=None, live: bool | None = None):
        self.total, self.todo, self.done = total, todo, 0
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._bar = None
        if self.live and todo:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)
            from rich.console import Console
            self._bar = RichProgress(TextColumn("[bold]sweep"), BarColumn(bar_width=24), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                     TextColumn("{task.fields[last]}"), transient=False,
                                     console=Console(file=self.stream))
            self._task = self._bar.add_task("sweep", total=todo, last="")
            self._bar.start()

    def update(self, point: Point, outcome: dict) -> None:
        self.done += 1
        status = outcome["status"]
        msg = f"{point.rel_dir} {status} {outcome.get('wall_s', 0.0):.2f}s"
        if status == "failed":
            msg += f": {outcome['error']}"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, last=point.rel_dir[-40:])
            if status == "failed":
                self._bar.console.print(f"[red]failed[/red] {point.rel_dir}: {outcome['error']}")
        else:
            width = len(str(self.todo))
            print(f"[{self.done:>{width}}/{self.todo}] {msg}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# -- the sweep ---------------------------------------------------------------------------------

@dataclass
class SweepResult:
    out_dir: Path
    points: list[Point]
    status: dict[int, dict]         # index -> outcome
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for s in self.status.values() if s["status"] == status)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _staging_root(out_dir: Path) -> Path:
    # beside OUT, not inside it: OUT/**/summary.parquet must never match a half-written point
    return out_dir.parent / f".{out_dir.name}.staging"


def _manifest(sweep: Sweep, out_dir: Path, points: list[Point], status: dict, engine: str,
              workers: int, started: float, interrupted: bool, running: bool = False) -> dict:
    import sim
    return {
        "name": sweep.name,
        "sweep_file": str(sweep.source) if sweep.source else None,
        "base": str(sweep.base_path) if sweep.base_path else None,
        "dcsim_version": sim.__version__,
        "engine": engine,
        "workers": workers,
        "axes": [{"key": a.key, "name": a.name, "kind": a.kind, "type": a.duckdb_type,
                  "values": list(a.values)} for a in sweep.axes],
        "partition_types": sweep.partition_types(),
        "points_total": len(points),
        "counts": {s: sum(1 for o in status.values() if o["status"] == s)
                   for s in ("done", "skipped", "failed", "pending")},
        # finished points, this run's (done) and an earlier run's (skipped): a resumed sweep's counts
        # read done 0, skipped N, and its finished points are N
        "points_finished": sum(1 for o in status.values() if o["status"] in ("done", "skipped")),
        "interrupted": interrupted,
        # true until the sweep's last write: a sweep.json that stays true was left by a killed sweep
        # (SIGKILL, out of memory, power loss), whose last finished points it may list as pending
        "running": running,
        "started_unix": started,
        "updated_unix": time.time(),
        "points": [{"index": p.index, "dir": p.rel_dir, "values": p.values,
                    **{k: v for k, v in status[p.index].items() if k not in ("index", "summary")}}
                   for p in points],
    }


# What a sweep writes into its lock file (``SWEEP_LOCK``): a line that says whose it is. Older dcsim wrote the
# process id alone; a file of that name holding anything else is not dcsim's and is never rewritten.
LOCK_LINE = "dcsim sweep lock, process {pid}\n"
_LOCK_TEXT = re.compile(rb"(?:dcsim sweep lock, process )?([0-9]{1,20})\n?")
_LOCK_READ = 256        # bytes read from a lock file: dcsim's line is far shorter


def lock_holder(text: bytes) -> int | None:
    """The process id a dcsim lock file's contents name (``LOCK_LINE``, or the bare process id older dcsim
    wrote); None for contents dcsim did not write (an empty file is dcsim's too, and names no process)."""
    m = _LOCK_TEXT.fullmatch(text)
    return int(m.group(1)) if m else None


def _lock_output(out_dir: Path):
    """Take the advisory lock of a sweep's output directory (``SWEEP_LOCK``, ``fcntl.flock``, not waiting)
    and note this process in it (``LOCK_LINE``); returns the open file (None where the platform or file
    system has no flock: the sweep runs unlocked, with a warning). Raises ``ConfigError`` naming ``--out``
    (exit 2) when another sweep holds it: two sweeps into one directory each ran every point, and one
    removed the other's staging directories as stale; and when a file of that name holds anything but
    dcsim's line (or the bare process id older dcsim wrote, or nothing): a user's file, left byte for
    byte as it is (it was overwritten with the process id). The lock goes when the sweep's process ends,
    however it ends."""
    if fcntl is None:
        return None
    path = out_dir / SWEEP_LOCK
    try:
        # not through a link: a .sweep.lock that links elsewhere would have the process id written there;
        # bytes: a user's binary file of that name is read without a decoding error
        f = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644), "a+b")
    except OSError as err:
        print(f"warning: cannot open {path} ({err.strerror or err}): the sweep runs without its lock, so "
              "another sweep into the same directory is not refused", file=sys.stderr)
        return None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            f.seek(0)
            holder = lock_holder(f.read(_LOCK_READ))
            f.close()
            by = f" (process {holder})" if holder is not None else ""
            raise ConfigError("--out", f"{str(out_dir)!r} is being written by another dcsim sweep{by}: it holds "
                                       f"{SWEEP_LOCK} there; wait until that sweep ends (then run this one again: "
                                       "it resumes), or choose another --out") from None
        f.close()
        print(f"warning: cannot lock {path} ({err.strerror or err}; a network file system?): the sweep runs "
              "without its lock, so another sweep into the same directory is not refused", file=sys.stderr)
        return None
    f.seek(0)
    held = f.read(_LOCK_READ)
    if held and lock_holder(held) is None:      # not dcsim's: left as it is, and the sweep does not run
        f.close()
        raise ConfigError("--out", f"{str(path)!r} is not dcsim's sweep lock (it holds other contents), and a "
                                   f"sweep keeps its lock in that file: move or rename {SWEEP_LOCK}, or choose "
                                   "another --out")
    f.seek(0)
    f.truncate()
    f.write(LOCK_LINE.format(pid=os.getpid()).encode())
    f.flush()
    return f


def _unlock_output(lock) -> None:
    """Release ``_lock_output``'s lock (the file stays: removing it would let a sweep that opened it just
    before lock a file no longer in the directory while a third locks a new one)."""
    if lock is None:
        return
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)   # also for pool workers forked with a copy of the file
    finally:
        lock.close()


def run_sweep(sweep: Sweep, out_dir: str | Path, workers: int | None = None, engine: str = "local",
              address: str | None = None, point_fn: Callable[[PointTask], dict] = run_point,
              progress: bool | None = None, stream=None, mp_context: str | None = None,
              force: bool = False) -> SweepResult:
    """Run every unfinished point of ``sweep`` into ``out_dir``; see the module docstring.
    ``out_dir`` must be new, empty or an earlier sweep's output unless ``force``
    (``sim.outputs.check_replaceable``)."""
    if engine not in ("local", "dask"):
        raise ConfigError("--engine", f"unknown engine {engine!r}; use local or dask")
    if engine == "dask":     # before anything is written (OUT/sweep.json)
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise ConfigError("--engine", "dask is not installed; pip install 'dcsim[dask]'") from None
    check_replaceable(Path(out_dir), "sweep", force)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError("--workers", f"must be a whole number >= 1, got {workers!r}")
    if mp_context is not None:
        import multiprocessing as mp
        if mp_context not in mp.get_all_start_methods():
            raise ConfigError("mp_context", f"unknown start method {mp_context!r}; this platform has "
                                            f"{', '.join(mp.get_all_start_methods())}")
    if engine == "dask" and address:
        check_address(address)       # before anything is written
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_output(out_dir)        # before anything is cleaned or written: another sweep's staging is live
    try:
        return _run_locked(sweep, out_dir, workers, engine, address, point_fn, progress, stream, mp_context,
                           force)
    finally:
        _unlock_output(lock)


def _run_locked(sweep: Sweep, out_dir: Path, workers: int | None, engine: str, address: str | None,
                point_fn: Callable[[PointTask], dict], progress: bool | None, stream, mp_context: str | None,
                force: bool) -> SweepResult:
    """``run_sweep`` once its checks passed and it holds ``out_dir``'s lock."""
    staging_root = _staging_root(out_dir)
    remove_stale_staging(staging_root)
    for tmp in out_dir.glob(f".{SWEEP_MANIFEST}.*.tmp"):    # write_json_atomic's, left by a sweep killed mid-write
        if is_json_atomic_temp(tmp.name, SWEEP_MANIFEST) and tmp.is_file() and not tmp.is_symlink():
            tmp.unlink()
    workers = workers or default_workers()
    points = sweep.points()
    status: dict[int, dict] = {}
    todo: list[Point] = []
    identity = point_identity if point_fn is run_point else config_hash
    require_hash = point_fn is run_point    # it always records the point's hash in its manifest
    hashes = {p.index: identity(config_data(sweep.base_data, p.values, sweep.trace_dirs)) for p in points}
    for p in points:
        if is_finished(out_dir / p.rel_dir, hashes[p.index], require_hash):
            status[p.index] = {"index": p.index, "status": "skipped", "error": None}
        else:
            status[p.index] = {"index": p.index, "status": "pending", "error": None}
            todo.append(p)
    started = time.time()
    manifest_path = out_dir / SWEEP_MANIFEST
    if (manifest_path.is_symlink() or manifest_path.exists()) and not is_sweep_output(out_dir):
        keep_aside(manifest_path)              # a user's sweep.json (--force): kept beside, never overwritten

    def save(interrupted: bool = False, running: bool = True) -> None:
        write_json_atomic(manifest_path, _manifest(sweep, out_dir, points, status, engine,
                                                   workers, started, interrupted, running))

    save()
    tasks = {p.index: PointTask(p.index, p.values, str(out_dir / p.rel_dir), sweep.base_data,
                                str(sweep.base_path) if sweep.base_path else None,
                                str(staging_root), p.partition, hashes[p.index], force, sweep.trace_dirs)
             for p in todo}
    by_index = {p.index: p for p in points}
    bar = Progress(len(points), len(todo), stream=stream, live=progress)

    last_save = [time.perf_counter()]
    warned: set[str] = set()

    def record(outcome: dict) -> None:
        # (a point that fails keeps an earlier run's tables where they are: sweep.json lists it as failed,
        # so analyze leaves them out, and a rerun with that run's config finds them valid again; they were
        # deleted, and a mistyped --set or a moved trace wiped every finished point)
        for message in outcome.pop("warnings", ()):     # a pool worker's: each once per sweep
            if message not in warned:
                warned.add(message)
                print(f"warning: {message}", file=sys.stderr)
        status[outcome["index"]] = outcome
        bar.update(by_index[outcome["index"]], outcome)
        # the filesystem says which points are finished; the manifest may lag by a second, so
        # rewriting it is throttled (its size grows with the sweep)
        now = time.perf_counter()
        if now - last_save[0] >= SAVE_INTERVAL_S:
            save()
            last_save[0] = now

    interrupted = False
    try:
        if not todo:
            pass
        elif engine == "dask":
            _run_dask(point_fn, [tasks[p.index] for p in todo], workers, address, record)
        elif workers == 1:
            _run_in_process(point_fn, [tasks[p.index] for p in todo], record)
        else:
            _run_local(point_fn, [tasks[p.index] for p in todo], workers, record, mp_context)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        # the filesystem is the truth: a point published by a worker whose report was cut off
        # by an interrupt is finished all the same
        for p in todo:
            if status[p.index]["status"] == "pending" and is_finished(out_dir / p.rel_dir, hashes[p.index],
                                                                      require_hash):
                status[p.index] = {"index": p.index, "status": "done", "error": None}
        # a stop that came once every point had finished (during the last one, or as the pool shut
        # down) left nothing to resume: the sweep is complete, not interrupted
        if interrupted and not any(s["status"] == "pending" for s in status.values()):
            interrupted = False
        # points that died mid-write leave staging directories; finished ones are in place
        if staging_root.exists():
            remove_stale_staging(staging_root)
            try:
                staging_root.rmdir()
            except OSError:
                pass
        save(interrupted, running=False)
    return SweepResult(out_dir, points, status, interrupted)


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Refuse (``ConfigError`` naming ``--address``, exit 2) a Dask scheduler address that does
    not accept a TCP connection within ``timeout_s``, before the sweep writes anything."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError("--address", f"{address!r} is not a scheduler address such as tcp://HOST:8786")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise ConfigError("--address", f"no Dask scheduler answers at {address} "
                                       f"({err.strerror or err}); start one (dask scheduler) or omit "
                                       "--address for a local cluster") from None


class _DeferredSignals:
    """While the process pool runs, a SIGINT or SIGTERM whose handler is Python code only notes that it
    came; the main thread runs that handler itself (Ctrl-C's raises KeyboardInterrupt) between its waits
    (``deliver``), at most WAKE_S later, whichever thread the kernel handed the signal to.

    Why: Python runs a handler in the main thread at whatever bytecode it is executing. A KeyboardInterrupt
    raised inside ``concurrent.futures.wait`` while it takes its futures' locks one by one left a lock
    held, and the pool's manager thread, which takes that lock to mark the future running or done, blocked
    forever: the sweep hung, no further point run (reproduced by raising SIGINT there). No signal mask
    is set: masks are per thread, inherited by threads and forked workers. Signals whose handler is
    SIG_DFL or SIG_IGN are left alone, as are all signals when the sweep runs off the main thread (only
    the main thread may set handlers; it gets the KeyboardInterrupt itself)."""

    def __init__(self, second_now: bool = False):
        self.pending: list[int] = []
        self.previous: dict = {}
        # a second signal runs its handler at once instead of waiting for ``deliver``: for a main thread
        # that runs a point itself (``_run_in_process``) and so calls ``deliver`` only between points
        self.second_now = second_now
        self.noted = 0
        self.counted: dict[int, float] = {}     # signal -> when it was last noted as a stop (SAME_SIGNAL_S)

    def __enter__(self):
        import threading
        if threading.current_thread() is threading.main_thread():
            try:
                for sig in _INTERRUPTS:
                    if callable(signal.getsignal(sig)):
                        self.previous[sig] = signal.signal(sig, self._note)
            except BaseException:       # a signal's handler raised between the two: put both back
                self.__exit__(BaseException)
                raise
        return self

    def _note(self, signum, frame) -> None:
        now = time.monotonic()
        if now - self.counted.get(signum, -math.inf) < SAME_SIGNAL_S:
            return      # one stop sent twice (to the sweep, then to its process group), as the kernel merges it
        self.counted[signum] = now
        self.noted += 1
        if self.second_now and self.noted > 1:
            self.pending.clear()
            self.previous[signum](signum, frame)
            return
        self.pending.append(signum)

    def deliver(self) -> None:
        """Run the handler each noted signal had, here and now."""
        while self.pending:
            signum = self.pending.pop(0)
            self.previous[signum](signum, None)

    def __exit__(self, exc_type, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if exc_type is None:
            self.deliver()          # a signal that came as the pool shut down is not lost


def _run_in_process(point_fn, tasks: list[PointTask], record) -> None:
    """The points one after another in this process (``--workers 1``), stopped as the pool is: a Ctrl-C or
    SIGTERM lets the point running then finish and be recorded, no other point starts, and the
    KeyboardInterrupt goes on to ``run_sweep`` (``dcsim sweep`` exits 130); a second one interrupts the
    running point at once (its half-written directory stays in staging and is removed). Before, the first
    Ctrl-C raised inside the point and dropped it, however long it had run."""
    with _DeferredSignals(second_now=True) as signals:
        for t in tasks:
            signals.deliver()
            record(execute(point_fn, t))
        signals.deliver()


def _run_local(point_fn, tasks: list[PointTask], workers: int, record, mp_context: str | None) -> None:
    import multiprocessing as mp
    method = mp_context or ("fork" if sys.platform.startswith("linux") else "spawn")
    ctx = _pool_context(method)
    if method == "fork" and point_fn is run_point:
        _preload()
    # No set_forkserver_preload: Python 3.11's fork server ignores the sys.path it is handed, so it imported
    # the simulator installed in site-packages, not the one this sweep runs (a worktree, PYTHONPATH), and
    # every forkserver worker ran that other copy. Its default preload (__main__) is kept.
    stop = ctx.RawValue("b", 0)     # lock-free: a worker killed mid-read cannot leave it locked
    futures: dict = {}
    unrecorded: set = set()         # submitted, neither recorded nor cancelled
    # Each future, once done, puts itself here (a callback in the pool's manager thread): the main thread
    # waits on this one queue, O(1) a wake-up, instead of concurrent.futures.wait over every unrecorded
    # future (O(points) each call: 1.4 s for 100,000 futures).
    finished: queue.SimpleQueue = queue.SimpleQueue()

    def drain() -> None:
        """Record the points that finished, waiting at most WAKE_S for the first."""
        try:
            f = finished.get(timeout=WAKE_S)
            while True:
                if f in unrecorded:
                    unrecorded.discard(f)
                    outcome = None if f.cancelled() else _outcome(f, futures[f])    # cancelled: never ran
                    if outcome is not None and outcome["status"] != _NOT_RUN:
                        record(outcome)
                f = finished.get_nowait()
        except queue.Empty:
            pass

    with _DeferredSignals() as signals:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                                   initializer=_worker_init, initargs=(os.getpid(), stop))
        try:
            for t in tasks:
                f = pool.submit(_execute_unless_stopped, point_fn, t)
                futures[f] = t
                unrecorded.add(f)
                f.add_done_callback(finished.put)
            signals.deliver()
            while unrecorded:
                drain()
                signals.deliver()
        except BaseException as err:
            # Stop starting points; on Ctrl-C let running ones finish (they are nearly free to keep)
            # unless a second Ctrl-C says not to wait.
            stop.value = 1
            # The pool's manager thread cancels the queued points itself (shutdown's cancel_futures), never
            # this thread: it drops them from its work items as it cancels them. A future cancelled here
            # stayed among them until the manager next woke, and a worker that died meanwhile (killed at a
            # second Ctrl-C, out of memory) made it fail them all: InvalidStateError on the cancelled one, a
            # traceback from its thread (CPython gh-107219; 3.11.7 has it), and the pool left half shut down.
            workers_now = list((getattr(pool, "_processes", None) or {}).values())
            manager = getattr(pool, "_executor_manager_thread", None)
            pool.shutdown(wait=False, cancel_futures=True)
            settled = False         # every point recorded or cancelled: the workers are idle
            if isinstance(err, KeyboardInterrupt):
                try:
                    while unrecorded:
                        drain()
                        signals.deliver()
                    settled = True
                except KeyboardInterrupt:       # the second: the workers ignore SIGTERM, so SIGKILL
                    for proc in workers_now:
                        proc.kill()
            # idle workers are joined (quick: the manager thread joins them as it ends): a pool left shutting
            # down raced the interpreter's exit, whose concurrent.futures hook woke its closed pipe
            # ("OSError: Bad file descriptor" traceback)
            if settled and manager is not None:
                manager.join()
            raise
        pool.shutdown(wait=True)


_PRELOAD = ("sim.app.runner", "sim.fabric", "sim.collectives", "topologies", "workloads.training",
            "workloads.serving")


def _preload() -> None:
    """Import the simulator once in the parent so that forked workers inherit it instead of
    each importing it again on its first point."""
    import importlib
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _outcome(future, task: PointTask) -> dict:
    try:
        return future.result()
    except Exception as err:   # the worker process itself died (killed, out of memory)
        return {"index": task.index, "status": "failed", "error": f"worker died: {type(err).__name__}: {err}",
                "exit_code": 1, "wall_s": 0.0}


DASK_POLL_S = 0.05          # the dask engine's main thread looks for finished points (and noted signals) this often


def _worker_ignores_sigint():
    """A Dask worker plugin for the local cluster's worker processes: Ctrl-C goes to the whole process
    group, and each worker process died of it with a KeyboardInterrupt traceback on the terminal (the
    sweep decides what its points do, as with the local engine's pool). Made here, not at import: dask is
    optional (Dask pickles the class by value)."""
    from distributed import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker) -> None:
            import signal as sig
            try:
                sig.signal(sig.SIGINT, sig.SIG_IGN)
            except ValueError:          # not the worker process's main thread: leave it
                pass

    return IgnoreSigint()


def _run_dask(point_fn, tasks: list[PointTask], workers: int, address: str | None, record) -> None:
    """The points on a Dask cluster. Ctrl-C / SIGTERM (``_DeferredSignals``, as the local engine): only noted
    while the main thread is inside Dask, and acted on between its polls (``DASK_POLL_S``): a
    KeyboardInterrupt raised at any bytecode of Dask's client (a lock held, a half-submitted batch) could
    leave it stuck, and one raised inside ``record`` left a point's outcome half noted. Then the points not
    yet finished are cancelled, the finished ones are kept (recorded, or found complete on disk by
    ``run_sweep``), and the KeyboardInterrupt goes on to ``run_sweep`` (``dcsim sweep`` exits 130)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("--engine", "dask is not installed; pip install 'dcsim[dask]'") from None
    cluster = client = None
    try:
        if address:
            client = Client(address)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
            client.register_plugin(_worker_ignores_sigint(), name="dcsim-ignore-sigint")
        with _DeferredSignals() as signals:
            futures = []
            for t in tasks:
                futures.append(client.submit(execute, point_fn, t, pure=False,
                                             key=f"dcsim-point-{t.index}-{os.getpid()}"))
                signals.deliver()
            task_of = {f.key: t for f, t in zip(futures, tasks)}
            done = as_completed(futures)
            try:
                while not done.is_empty():
                    batch = done.next_batch(block=False)
                    for f in batch:
                        try:
                            outcome = f.result()
                        except Exception as err:    # the worker died, or the task was lost
                            t = task_of[f.key]
                            outcome = {"index": t.index, "status": "failed", "error": f"dask: {err}",
                                       "exit_code": 1, "wall_s": 0.0}
                        record(outcome)
                    if not batch:
                        time.sleep(DASK_POLL_S)
                    signals.deliver()
            except KeyboardInterrupt:
                client.cancel(futures)
                raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
