"""Output writers: a run directory of Parquet tables, its manifest, and a Perfetto trace.

Vocabulary:
- run directory: ``<table>.parquet`` per table (``summary`` always, one row), ``manifest.json``
  (resolved config, dcsim version, seed, wall time, event count, tables and their row counts)
  and, on request, ``trace.json``.
- atomic write: a run directory is written into a staging directory first and renamed into
  place when new, so a reader (or a resumed sweep) sees either no directory or a complete one;
  into an existing directory the files move one by one, manifest last. The manifest is written
  last; ``is_complete(dir)`` checks for it.
- staging root: where staging directories live. By default beside the final directory; a sweep
  puts them next to (not inside) its output directory so that ``OUT/**/summary.parquet`` never
  matches a half-written point.
- dcsim output: a directory whose ``manifest.json`` (a run) or ``sweep.json`` (a sweep) dcsim
  wrote, known by the shape dcsim writes (``_is_run_manifest``, ``_is_sweep_manifest``), never by
  the name alone: another tool's manifest.json makes a directory foreign. A run or sweep replaces
  only an empty directory or a dcsim output; anything else is refused (``check_replaceable``, exit
  2 naming the directory) unless ``force`` is given (a sweep also writes a point into its own
  point directory that holds only entries of names dcsim never writes:
  ``holds_only_foreign_names``). The current directory and its ancestors are never replaced. dcsim
  never renames, moves or removes a directory it did not create, and never deletes a file it did
  not write: a new output directory is renamed into place whole (atomic); into an existing
  directory (an earlier run's, or, with ``force``, any other) dcsim writes its own files in place,
  manifest removed first and written last, and replaces or removes only the files the earlier manifest
  lists as its own (``dcsim_written``) that are unchanged since (``changed_since_written``: size and
  sha256 recorded under ``CHECKSUMS``). A user's file that has the name of one of dcsim's, one dcsim
  wrote that the user changed since, or a file at the output path itself, is kept beside as
  ``NAME.kept-XXXXXXXX`` with a note on stderr (``keep_aside``); the same holds for a figure's path
  (``save_figure``: dcsim's figures carry ``FIGURE_MARK`` in their metadata).
- linked output: an output path that is a symbolic link to a directory is that directory
  (``output_path``): checked and written through, the link left as it is; a link to a file or to
  nothing is refused naming the key.
- trace: Chrome trace-event JSON (``traceEvents`` of complete ``"X"`` events in microseconds,
  with ``"M"`` metadata naming processes and threads) that ui.perfetto.dev opens. Tables
  become tracks by convention: any table with ``start_s`` and ``end_s`` columns is drawn, one
  process per table, one thread per value of its lane column (``gpu``/``rank``, ``stream``,
  ``replica``, ``link``...).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
# An earlier run's manifest while a new run is written over it in place (``publish``): the directory reads as
# unfinished (no MANIFEST) yet still says which files dcsim wrote, so that a run killed mid-way (SIGKILL) can
# be replaced by the next one (a sweep's rerun) instead of being refused as not dcsim's.
REPLACING = ".manifest.json.replacing"
# A run manifest's size and sha256 of each file the run wrote (``file_checksum``), by name: a later run
# replaces or removes such a file only while it is unchanged (``changed_since_written``). The
# ``REPLACING`` marker also records the checksums of the run being written over it (``INCOMING``).
CHECKSUMS = "checksums"
INCOMING = "incoming_checksums"
SWEEP_MANIFEST = "sweep.json"
# The advisory lock a running sweep holds on its output directory (``sim.app.sweep._lock_output``), which
# writes "dcsim sweep lock, process N" into it and refuses one holding other contents. The
# file is dcsim's and stays after the sweep; a directory holding nothing else counts as empty here (a
# sweep killed before its first sweep.json), and ``dcsim analyze`` reads only tables and sweep.json.
SWEEP_LOCK = ".sweep.lock"


def _json_object(path: Path) -> dict | None:
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_run_manifest(man: dict | None) -> bool:
    """Whether ``man`` has the shape every run manifest dcsim has written has (``write_run_dir``, every
    version in this repository): a non-empty ``dcsim_version`` string and ``tables``, an object of table
    name -> row count that holds ``summary`` (every run writes it), and ``files``, when there, a list of
    names. Another tool's ``manifest.json`` (``{"tables": ["notes"]}``) is not dcsim's: taken for a run's,
    its directory was replaced and the user's tables in it deleted."""
    if not isinstance(man, dict):
        return False
    version, tables, files = man.get("dcsim_version"), man.get("tables"), man.get("files", [])
    return (isinstance(version, str) and bool(version) and isinstance(tables, dict) and "summary" in tables
            and all(isinstance(k, str) and _count(v) for k, v in tables.items())
            and isinstance(files, list) and all(isinstance(f, str) for f in files))


def _is_sweep_manifest(man: dict | None) -> bool:
    """Whether ``man`` has the shape of every ``sweep.json`` dcsim has written (``sim.app.sweep``): a
    non-empty ``dcsim_version`` and a ``name`` string, ``points_total`` a count, ``axes`` a list of
    objects each with a string ``key`` and ``name``, and ``points`` a list of objects each with an integer
    ``index`` and a string ``dir``."""
    if not isinstance(man, dict):
        return False
    version, axes, points = man.get("dcsim_version"), man.get("axes"), man.get("points")
    return (isinstance(version, str) and bool(version) and isinstance(man.get("name"), str)
            and _count(man.get("points_total"))
            and isinstance(axes, list) and all(isinstance(a, dict) and isinstance(a.get("key"), str)
                                               and isinstance(a.get("name"), str) for a in axes)
            and isinstance(points, list) and all(isinstance(q, dict) and _count(q.get("index"))
                                                 and isinstance(q.get("dir"), str) for q in points))


def is_run_output(directory: Path) -> bool:
    """True when ``directory`` holds a run's manifest written by ``write_run_dir``, or the earlier
    manifest of a run that was being written over it in place when it was cut off (``REPLACING``);
    either has the shape dcsim writes (``_is_run_manifest``), not just the name."""
    return (_is_run_manifest(_json_object(Path(directory) / MANIFEST))
            or _is_run_manifest(_json_object(Path(directory) / REPLACING)))


def is_sweep_output(directory: Path) -> bool:
    """True when ``directory`` holds a sweep manifest (``sweep.json``) written by dcsim (``_is_sweep_manifest``:
    a user's own sweep.json is not dcsim's, and a sweep into that directory is refused)."""
    return _is_sweep_manifest(_json_object(Path(directory) / SWEEP_MANIFEST))


def broken_link(path: Path) -> Path | None:
    """The first symbolic link at or above ``path`` that leads nowhere (its target does not exist, or
    links lead round in a loop), or None."""
    for p in (Path(path), *Path(path).parents):
        if p.is_symlink() and not p.exists():
            return p
    return None


def broken_link_reason(link: Path) -> str:
    """What is wrong with ``link`` (a ``broken_link``), for an error message."""
    try:
        return f"{str(link)!r} is a symbolic link to {os.readlink(link)!r}, which does not exist"
    except OSError:
        return f"{str(link)!r} is a symbolic link that cannot be followed"


def output_path(final: Path, key: str = "--out") -> Path:
    """Where an output directory named ``final`` is: ``final`` itself, or, when ``final`` is a symbolic
    link to a directory (an output folder on scratch storage), that directory (resolved): every check and
    write goes there, and the link itself is never replaced, renamed or removed. A link to anything else,
    a dangling link or a loop of links is refused (``ConfigError`` naming ``key``, exit 2): it was renamed
    aside (``--force``) and a new directory written in its place."""
    from sim.errors import ConfigError
    final = Path(final)
    if not final.is_symlink():
        return final
    if not final.exists():
        raise ConfigError(key, f"{broken_link_reason(final)}: create that directory first, or choose another "
                               "path (dcsim leaves the link as it is)")
    if not final.is_dir():
        raise ConfigError(key, f"{str(final)!r} is a symbolic link to {os.readlink(final)!r}, which is not a "
                               "directory: give a directory for the output (dcsim leaves the link and its target "
                               "as they are)")
    return final.resolve()


def check_replaceable(final: Path, kind: str = "run", force: bool = False, key: str = "--out") -> None:
    """Refuse (``ConfigError`` naming ``key`` and the directory, exit 2) to write a ``kind``
    ("run" or "sweep") output over anything dcsim did not write.

    A missing or empty directory is fine; a run replaces an earlier run's directory, a sweep
    resumes an earlier sweep's. ``force`` allows replacing anything except the current
    directory or one of its ancestors (never: the shell is standing in it)."""
    from sim.errors import ConfigError
    given = Path(final)
    check_parents(given, key)
    final = output_path(given, key)         # a link to a directory is that directory
    shown = repr(str(given)) + (f" (a link to {str(final)!r})" if final != given else "")
    resolved = final.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ConfigError(key, f"{shown} is the current directory or contains it; "
                               "write into a new subdirectory instead")
    if not final.exists() and not final.is_symlink():
        check_writable(final, key)
        return
    if final.is_dir() and not final.is_symlink():
        if not any(e.name != SWEEP_LOCK for e in final.iterdir()) or (kind == "run" and is_run_output(final)) or \
                (kind == "sweep" and is_sweep_output(final)):
            check_writable(final, key)
            return
    if force:
        check_writable(final, key)
        return
    what = "a directory" if final.is_dir() else "a file"
    other = {"run": "an earlier run", "sweep": "an earlier sweep"}.get(kind, "dcsim")
    held = {"run": is_sweep_output, "sweep": is_run_output}.get(kind)
    if final.is_dir() and held is not None and held(final):     # a run and a sweep of the same name
        was = "sweep" if kind == "run" else "run"
        raise ConfigError(key, f"{shown} holds a dcsim {was}'s output, not a {kind}'s (a {was} and a "
                               f"{kind} of the same name share runs/out/NAME); refusing to replace it: choose "
                               "another --out, or remove that directory yourself")
    raise ConfigError(key, f"{shown} exists and is {what} that is not {other}'s output "
                           f"(no {SWEEP_MANIFEST if kind == 'sweep' else MANIFEST} written by dcsim); "
                           "refusing to replace it: choose a new directory, or pass --force")


def dcsim_may_write(name: str) -> bool:
    """Whether dcsim may write an entry of this name into a run directory: its manifest (also kept
    as ``REPLACING`` while a run is written over it), a table (any ``NAME.parquet``) or ``trace.json``."""
    return name in (MANIFEST, REPLACING, "trace.json") or name.endswith(".parquet")


def holds_only_foreign_names(directory: Path) -> bool:
    """True when ``directory`` is a directory (or a link to one) that is not empty and none of whose entries has
    a name dcsim may write there (``dcsim_may_write``): a run written into it overwrites, moves and
    deletes nothing (a sweep point directory where a user put ``notes.txt`` before the point ran,
    or whose dcsim files an earlier version removed after the point failed)."""
    directory = Path(directory)
    if not directory.is_dir():          # a link to a directory is that directory (``output_path``)
        return False
    try:
        names = [e.name for e in directory.iterdir()]
    except OSError:
        return False
    return bool(names) and not any(dcsim_may_write(n) for n in names)


def check_writable(final: Path, key: str = "--out") -> None:
    """Refuse (``ConfigError`` naming ``key``, exit 2) an output path dcsim could not write, before
    the run: a file is created and removed again in the nearest existing directory at or above
    ``final``'s parent (where its staging directory goes) and in ``final`` itself when that is a
    directory. A run into a read-only or pseudo file system failed only after the simulation, with
    the staging directory's name and exit 1."""
    import tempfile
    from sim.errors import ConfigError
    final = Path(final)
    places = [final] if final.is_dir() else []
    above = final.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    places.append(above)
    for place in places:
        try:
            fd, probe = tempfile.mkstemp(prefix=".dcsim-probe-", dir=place)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise ConfigError(key, f"cannot write {str(final)!r}: creating a file in {str(place)!r} fails "
                                   f"({err.strerror or err}); choose a writable directory") from None


NAME_MAX = 255          # bytes in one path component (Linux, macOS)
STAGING_ROOM = 40       # what a staging name (staging_dir) or NAME.kept-XXXXXXXX adds to a name


def check_parents(final: Path, key: str = "--out") -> None:
    """Refuse (``ConfigError`` naming ``key``, exit 2) an output path below an existing file:
    its directories could never be created; and one with a component too long for the file
    system (the last one with room for its staging name): it failed with an OSError traceback."""
    from sim.errors import ConfigError
    for i, part in enumerate(Path(final).parts):
        limit = NAME_MAX - (STAGING_ROOM if i == len(Path(final).parts) - 1 else 0)
        if len(part.encode("utf-8", "surrogateescape")) > limit:
            raise ConfigError(key, f"the path component {part[:40]!r}... is {len(part.encode('utf-8', 'surrogateescape'))} "
                                   f"bytes long; at most {limit} fit (the file system allows {NAME_MAX} per name, "
                                   "and dcsim adds a staging suffix to the last): choose a shorter name")
    for parent in Path(final).parents:
        if parent.exists() or parent.is_symlink():
            if parent.is_symlink() and not parent.exists():
                raise ConfigError(key, f"{broken_link_reason(parent)}, so {str(final)!r} cannot be a directory "
                                       "below it: create that directory first, or choose another path")
            if not parent.is_dir():
                raise ConfigError(key, f"{str(parent)!r} is a file, so {str(final)!r} cannot be a directory "
                                       "below it: choose another path")
            return


def jsonable(value: Any) -> Any:
    """Plain JSON values (NaN/inf become None: JSON has no spelling for them)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):   # numpy scalars
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def is_json_atomic_temp(name: str, target: str) -> bool:
    """Whether ``name`` is the temporary file ``write_json_atomic`` writes ``target`` through
    (``.TARGET.PID.XXXXXXXX.tmp``), left by a process killed mid-write: a user's ``.TARGET.old.tmp``
    is not."""
    return re.fullmatch(rf"\.{re.escape(target)}\.\d+\.[0-9a-f]{{8}}\.tmp", name) is not None


def write_json_atomic(path: Path, obj: Any, mtime_ns: int | None = None) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file renamed over it; ``mtime_ns``: the
    modification time the new file gets (the ``REPLACING`` marker keeps its manifest's)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")
    if mtime_ns is not None:
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.replace(tmp, path)


def write_tables(tables: dict[str, pa.Table], directory: Path) -> None:
    for name, table in tables.items():
        # fixed writer options so identical tables give identical bytes
        pq.write_table(table, Path(directory) / f"{name}.parquet", compression="zstd")


def is_complete(directory: Path) -> bool:
    return (Path(directory) / MANIFEST).is_file()


def staging_dir(final: Path, staging_root: Path | None = None) -> Path:
    final = Path(final)
    root = Path(staging_root) if staging_root is not None else final.parent
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.staging"
    path.mkdir()
    return path


def publish(staging: Path, final: Path, force: bool = False) -> None:
    """Put a finished staging directory's files at ``final`` (only over an earlier run's output
    or an empty directory unless ``force``: ``check_replaceable``; a link to a directory is that
    directory: ``output_path``).

    A new ``final`` is the staging directory renamed into place (atomic). An existing directory
    is written into in place, never renamed or removed: its manifest goes first, renamed to
    ``REPLACING`` (a reader sees an unfinished run, ``is_complete`` false; a run cut off from here on
    is still known as dcsim's, and the next one replaces it), and the new run's checksums are added to
    that marker (``INCOMING``: what a cut-off run already moved in is dcsim's too), then each of the new
    files replaces its namesake, the earlier run's own files that the new run does not write are removed
    (``dcsim_written``), and the manifest comes last. A file there that dcsim did not write but that has
    the name of one of its own, or one dcsim wrote that was changed since (``changed_since_written``), is
    kept as ``NAME.kept-XXXXXXXX`` with a note (``keep_aside``); a file at ``final`` itself likewise."""
    final = Path(final)
    staging = Path(staging)
    check_replaceable(final, "run", force)
    final = output_path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not final.is_dir():
        keep_aside(final)                               # the user's file, kept beside (never a link: output_path)
    if not final.exists():
        os.rename(staging, final)
        return
    earlier = dcsim_written(final) if is_run_output(final) else set()
    changed = changed_since_written(final) if earlier else set()
    own = earlier - changed
    new = {e.name for e in staging.iterdir()}
    manifest = final / MANIFEST
    marker = final / REPLACING
    moved = False
    if MANIFEST in earlier and manifest.is_file() and not manifest.is_symlink():
        # first: the directory reads as unfinished; the earlier manifest is kept aside (not deleted) so
        # that, if this is cut off, the next run still knows which files here are dcsim's. A file of the
        # marker's name that is not a dcsim manifest is the user's: kept beside, never overwritten
        if (marker.is_symlink() or marker.exists()) and not (
                marker.is_file() and _is_run_manifest(_json_object(marker))):
            keep_aside(marker)
        os.replace(manifest, marker)
        moved = True
    if moved or REPLACING in earlier:
        # the files this run moves in are dcsim's as well, should it be cut off on the way
        incoming = _json_object(staging / MANIFEST)
        man = _json_object(marker)
        if _is_run_manifest(man) and isinstance(incoming, dict) and isinstance(incoming.get(CHECKSUMS), dict):
            man[INCOMING] = {**(man.get(INCOMING) if isinstance(man.get(INCOMING), dict) else {}),
                             **incoming[CHECKSUMS]}
            # its time stays the earlier manifest's: an earlier version's files are judged by it
            write_json_atomic(marker, man, mtime_ns=marker.stat().st_mtime_ns)
    for name in sorted(new - {MANIFEST}) + ([MANIFEST] if MANIFEST in new else []):
        target = final / name
        if target.is_symlink() or target.exists():
            if name in own and target.is_file() and not target.is_symlink():
                target.unlink()                         # dcsim's own earlier file
            else:                                       # the user's: kept beside
                keep_aside(target, CHANGED if name in changed else NOT_DCSIMS)
        os.rename(staging / name, target)
    for name in sorted(earlier - new):                  # the earlier run's files this run has not
        entry = final / name
        if name in changed:
            if entry.is_file() and not entry.is_symlink():
                keep_aside(entry, CHANGED)              # read as this run's table if left under its name
        elif entry.is_file() and not entry.is_symlink():
            entry.unlink()
    if moved and marker.is_file() and not marker.is_symlink():
        marker.unlink()                                 # the earlier manifest this call moved there
    try:
        staging.rmdir()
    except OSError:
        pass


FIGURE_MARK = "dcsim figure"      # written into every figure's metadata (PNG Software, SVG/PDF Creator)


def is_dcsim_figure(path: Path) -> bool:
    """Whether the file at ``path`` is a figure dcsim wrote (it carries ``FIGURE_MARK``)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 64 << 20:
            return False
        return FIGURE_MARK.encode() in path.read_bytes()
    except OSError:
        return False


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """``fig.savefig(path)`` that never overwrites a file dcsim did not write: a file or link of
    the user's at ``path`` is kept beside as ``NAME.kept-XXXXXXXX`` first (a note on stderr names it); dcsim's own earlier
    figure (``is_dcsim_figure``) is replaced. The figure's metadata carries ``FIGURE_MARK`` (and,
    for SVG, no date stamp, so identical data gives identical files)."""
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    meta = {"png": {"Software": FIGURE_MARK}, "svg": {"Creator": FIGURE_MARK, "Date": None},
            "pdf": {"Creator": FIGURE_MARK}}.get(ext)
    if path.is_symlink() or (path.exists() and not is_dcsim_figure(path)):
        if path.is_dir() and not path.is_symlink():
            raise IsADirectoryError(str(path))
        keep_aside(path)
    fig.savefig(path, metadata=meta, **savefig_kwargs)
    return path


def aside_name(path: Path, tag: str = "kept") -> Path:
    """A free ``NAME.TAG-XXXXXXXX`` beside ``path`` (``kept``: a user's file set aside; ``earlier``: a
    figure of an earlier analyze)."""
    while True:
        kept = path.with_name(f"{path.name}.{tag}-{uuid.uuid4().hex[:8]}")
        if not kept.exists() and not kept.is_symlink():
            return kept


NOT_DCSIMS = "was not written by dcsim"
CHANGED = "was changed since dcsim wrote it"


def keep_aside(path: Path, why: str = NOT_DCSIMS) -> Path:
    """Rename a user's entry at ``path`` (a file dcsim would write there, or a link) to a free
    ``NAME.kept-XXXXXXXX`` beside it and say so on stderr: ``note: PATH WHY: kept it as NAME``. Every
    entry dcsim sets aside for a user goes through here, so none is moved without a word."""
    path = Path(path)
    kept = aside_name(path)
    os.rename(path, kept)
    print(f"note: {path} {why}: kept it as {kept.name}", file=sys.stderr)
    return kept


def file_checksum(path: Path) -> dict:
    """``{"bytes": size, "sha256": hex digest}`` of the file at ``path``: what a run manifest records
    under ``CHECKSUMS`` for each file dcsim wrote. sha256 reads about 1 GB/s on one core."""
    import hashlib
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"bytes": size, "sha256": digest}


def _checksum_entry(value) -> bool:
    return (isinstance(value, dict) and _count(value.get("bytes")) and isinstance(value.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", value["sha256"]) is not None)


def changed_since_written(directory: Path) -> set[str]:
    """Of the files the run manifest (or ``REPLACING`` marker) in ``directory`` lists as dcsim's
    (``dcsim_written``), those there that are no longer what dcsim wrote: the user replaced or edited
    them. A later run keeps them (``keep_aside``) instead of overwriting or removing them.

    A file the manifest records in ``CHECKSUMS`` (this version on) is dcsim's while its size and
    sha256 match (the size first: a file of another size is not hashed; the marker's ``INCOMING``
    entries count too). A manifest of an earlier version records none: its file is dcsim's while it is
    no newer than the manifest (dcsim writes every table and trace before the manifest, and a move keeps
    the time), so a table the user wrote over afterwards is kept while an untouched earlier run's files
    are replaced as before, without a ``.kept`` file for each. Anything but a plain file is not dcsim's."""
    directory = Path(directory)
    names = dcsim_written(directory) - {MANIFEST, REPLACING}
    if not names:
        return set()
    source = directory / MANIFEST if _is_run_manifest(_json_object(directory / MANIFEST)) else directory / REPLACING
    man = _json_object(source) or {}
    sums = man.get(CHECKSUMS) if isinstance(man.get(CHECKSUMS), dict) else {}
    incoming = man.get(INCOMING) if isinstance(man.get(INCOMING), dict) else {}
    try:
        written_ns = os.stat(source).st_mtime_ns
    except OSError:
        written_ns = None
    changed = set()
    for name in names:
        path = directory / name
        try:
            if path.is_symlink() or not path.is_file():
                if path.is_symlink() or path.exists():
                    changed.add(name)
                continue
            size = path.stat()
        except OSError:
            continue
        known = [e for e in (sums.get(name), incoming.get(name)) if _checksum_entry(e)]
        if known:
            sized = [e for e in known if e["bytes"] == size.st_size]
            if not sized or file_checksum(path)["sha256"] not in {e["sha256"] for e in sized}:
                changed.add(name)
        elif written_ns is None or size.st_mtime_ns > written_ns:
            changed.add(name)
    return changed


def dcsim_written(directory: Path) -> set[str]:
    """Names of the entries of a run directory that dcsim wrote: its manifest, the tables the
    manifest lists (``<table>.parquet``) and the files it lists under ``files`` (``trace.json``
    when a trace was written). A ``trace.json`` that no manifest lists is the user's. A run cut off
    while written over an earlier one left that run's manifest as ``REPLACING``: the marker and what
    it lists (a ``manifest.json`` beside it is not dcsim's: a dcsim one would have been read). With
    neither a manifest nor a marker of the shape dcsim writes (``_is_run_manifest``), nothing."""
    man = _json_object(Path(directory) / MANIFEST)
    if _is_run_manifest(man):
        return {MANIFEST} | _listed(man)
    marker = _json_object(Path(directory) / REPLACING)
    if _is_run_manifest(marker):
        incoming = marker.get(INCOMING) if isinstance(marker.get(INCOMING), dict) else {}
        return {REPLACING} | _listed(marker) | {n for n in incoming if _plain_name(n)}
    return set()


def _listed(man: dict) -> set[str]:
    """The files a run manifest lists: ``<table>.parquet`` per table and its ``files``. Only plain names
    inside the directory: a manifest listing the table "../notes" (or "/x") had a rerun delete
    ../notes.parquet, a file outside the run that dcsim never wrote."""
    return {n for n in [f"{name}.parquet" for name in man["tables"]] + man.get("files", []) if _plain_name(n)}


def _plain_name(name) -> bool:
    """A file name of one path component that is not hidden: what dcsim names its tables and files."""
    return (isinstance(name, str) and name not in ("", ".", "..") and not name.startswith(".")
            and "/" not in name and "\\" not in name and "\0" not in name)


def write_run_dir(final: Path, tables: dict[str, pa.Table], manifest: dict,
                  trace: dict | None = None, staging_root: Path | None = None,
                  force: bool = False) -> Path:
    """Write tables, an optional trace and the manifest (last), then publish atomically.
    Raises ``ConfigError`` (before writing anything) when ``final`` holds something dcsim did
    not write and ``force`` is false."""
    final = Path(final)
    if final.name in ("", ".", ".."):
        final = final.resolve()
    given = final
    check_replaceable(final, "run", force)
    final = output_path(final)                  # a link to a directory: written through, left a link
    if staging_root is not None and not _same_file_system(Path(staging_root), final):
        staging_root = None                     # a point directory linked elsewhere: a rename cannot cross
    staging = staging_dir(final, staging_root)
    try:
        write_tables(tables, staging)
        manifest = dict(manifest)
        if not isinstance(manifest.get("dcsim_version"), str) or not manifest["dcsim_version"]:
            import sim                          # the runner gives it; the mark that the manifest is dcsim's
            manifest["dcsim_version"] = sim.__version__
        if trace is not None:
            (staging / "trace.json").write_text(json.dumps(trace))
            manifest["files"] = ["trace.json"]
        manifest["tables"] = {name: t.num_rows for name, t in tables.items()}
        manifest[CHECKSUMS] = {e.name: file_checksum(e) for e in sorted(staging.iterdir(), key=lambda e: e.name)}
        write_json_atomic(staging / MANIFEST, manifest)
        publish(staging, final, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return given


def _same_file_system(a: Path, b: Path) -> bool:
    """Whether the nearest existing directories at or above ``a`` and ``b`` are on one file system."""
    def device(p: Path) -> int | None:
        for q in (p, *p.parents):
            try:
                return os.stat(q).st_dev
            except OSError:
                continue
        return None
    return device(Path(a).absolute()) == device(Path(b).absolute())


_STAGING_NAME = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.staging$")


def remove_stale_staging(root: Path) -> int:
    """Delete staging directories left by killed writers under ``root`` (one level)."""
    root = Path(root)
    if not root.is_dir():
        return 0
    removed = 0
    for p in root.iterdir():
        if not (p.name.startswith(".") and p.name.endswith((".staging", ".old")) and p.is_dir()):
            continue
        # only the names staging_dir gives (.NAME.PID.XXXXXXXX.staging): a user's own ".x.staging"
        # directory beside the output is not dcsim's to delete
        if p.name.endswith(".staging") and not _STAGING_NAME.match(p.name):
            continue
        # a replaced run directory left by a killed writer may still hold a user's files:
        # delete it only when everything in it is dcsim's
        if p.name.endswith(".old") and not {e.name for e in p.iterdir()} <= (
                dcsim_written(p) - changed_since_written(p)):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed += 1
    return removed


# -- Perfetto / Chrome trace ----------------------------------------------------------------

# Columns that name a track's lane (the first one found), refined by a stream column.
LANE_COLUMNS = ("lane", "gpu", "rank", "replica", "stage", "src", "link", "link_class")
LABEL_COLUMNS = ("name", "op", "kind", "tag", "phase", "event", "request_id")
# (start, end) column pairs that make a table drawable, in order of preference.
INTERVALS = (("start_s", "end_s"), ("arrival_s", "finish_s"), ("arrival", "finish"))


def _lane_of(columns: list[str]) -> list[str]:
    lane = [c for c in LANE_COLUMNS if c in columns][:1]
    return lane + (["stream"] if "stream" in columns else [])


def _interval_columns(columns: list[str]) -> tuple[str, str] | None:
    return next(((a, b) for a, b in INTERVALS if a in columns and b in columns), None)


def _sequential(spans: list[tuple[float, float]]) -> bool:
    """True when no two spans of a lane overlap (a stream): they can be complete events."""
    spans = sorted(spans)
    return all(b0 <= a1 + 1e-12 for (_, b0), (a1, _) in zip(spans, spans[1:]))


def trace_events(tables: dict[str, pa.Table], max_events: int = 1_000_000) -> dict:
    """Chrome trace-event JSON of every table with an interval (``start_s``/``end_s``, or a
    request's ``arrival_s``/``finish_s``). One process per table, one thread per lane. A lane
    whose spans never overlap (a GPU stream) gets complete events (``X``); a lane with
    concurrent spans (flows from one NIC, requests on one replica) gets async events
    (``b``/``e`` with an id), which Perfetto stacks instead of mis-nesting."""
    events: list[dict] = []
    pid = 0
    for name in sorted(tables):
        table = tables[name]
        cols = table.column_names
        interval = _interval_columns(cols)
        if interval is None or table.num_rows == 0:
            continue
        start_col, end_col = interval
        pid += 1
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}})
        lanes = _lane_of(cols)
        label_col = next((c for c in LABEL_COLUMNS if c in cols and c not in lanes), None)
        data = table.to_pydict()
        arg_cols = [c for c in cols if c not in (start_col, end_col)][:10]
        rows_by_lane: dict[tuple, list[int]] = {}
        for i in range(table.num_rows):
            start, end = data[start_col][i], data[end_col][i]
            if start is None or end is None or end < 0 or start < 0:
                continue     # unfinished (e.g. a request still running at the horizon)
            rows_by_lane.setdefault(tuple(data[c][i] for c in lanes), []).append(i)
        for tid, (lane, rows) in enumerate(sorted(rows_by_lane.items(), key=lambda kv: str(kv[0])), 1):
            label = " ".join(f"{c}={v}" for c, v in zip(lanes, lane)) or name
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": label}})
            spans = [(float(data[start_col][i]), float(data[end_col][i])) for i in rows]
            complete = _sequential(spans)
            for i, (start, end) in zip(rows, spans):
                if len(events) >= max_events:
                    break
                base = {"pid": pid, "tid": tid, "cat": name,
                        "name": (f"request {data[label_col][i]}" if label_col == "request_id"
                                 else str(data[label_col][i])) if label_col else name,
                        "args": jsonable({c: data[c][i] for c in arg_cols})}
                if complete:
                    events.append({**base, "ph": "X", "ts": start * 1e6, "dur": max(end - start, 0.0) * 1e6})
                else:
                    events.append({**base, "ph": "b", "id": f"{pid}-{i}", "ts": start * 1e6})
                    events.append({"ph": "e", "pid": pid, "tid": tid, "cat": name, "name": base["name"],
                                   "id": f"{pid}-{i}", "ts": end * 1e6})
    return {"traceEvents": events, "displayTimeUnit": "ms"}

