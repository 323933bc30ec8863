"""Trace readers: published LLM serving traces turned into request columns.

Vocabulary:
- Azure CSV: the Azure LLM inference trace 2023 (Patel et al., Splitwise, ISCA 2024), columns
  ``TIMESTAMP`` (``YYYY-MM-DD HH:MM:SS.fffffff``), ``ContextTokens``, ``GeneratedTokens``.
- Mooncake JSONL: the Mooncake FAST'25 traces (Qin et al.), one object per line with
  ``timestamp`` (ms), ``input_length``, ``output_length`` and ``hash_ids``: ids of the prompt's
  512-token prefix blocks (equal ids = the same prefix, reusable KV).
- ``Trace``: columns ``arrival_s`` (relative to the first request), ``input_tokens``,
  ``output_tokens`` and, for Mooncake, ``prefix_blocks`` (one int64 array per request).
- ``resolve_trace(name)``: a path, or the file name of a trace shipped in ``data/``.
- ``check_trace_file(name)``: that path, refused (``ConfigError``) when it is missing, a directory, empty or
  blank, or of an unknown format: checks that read no more than the file's first line, so a sweep makes them
  for every point before any point runs (as ``dcsim run`` does before its run).

A malformed line is a ``ConfigError`` naming the file and the line number: a trace that does not
parse never becomes a silent number. Timestamps must be finite (no NaN, no Infinity) and not
negative, token counts whole numbers within 1..``MAX_REQUEST_TOKENS``; the message names the
column. Rows are in time order, as the published traces are (equal timestamps allowed): a
timestamp earlier than the line before it is a ``ConfigError`` naming the file, both lines and
both timestamps (a trace cut and pasted, or merged from several files, out of order), never
reordered silently.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.config import MAX_REQUEST_TOKENS, TRACE_DIR, find_trace
from sim.errors import ConfigError

DATA_DIR = TRACE_DIR      # the traces shipped with dcsim (sim.config.find_trace looks there)
MOONCAKE_BLOCK_TOKENS = 512      # Mooncake FAST'25 README: hash_ids index 512-token blocks
AZURE_HEADER = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")     # an Azure CSV's first line


@dataclass
class Trace:
    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    prefix_blocks: list[np.ndarray] | None = None
    block_tokens: int = MOONCAKE_BLOCK_TOKENS
    path: str = ""

    def __len__(self) -> int:
        return len(self.arrival_s)


def resolve_trace(name: str, key: str = "workload.trace") -> Path:
    if not name:
        raise ConfigError(key, "no trace file given")
    found = find_trace(name)
    if found is None:
        raise ConfigError(key, f"trace file {name!r} not found (nor in {DATA_DIR})")
    return found


def _check_row(t: float, n_in: int, n_out: int, columns: tuple[str, str, str] = ("timestamp", "input", "output")) -> None:
    """Raise ``ValueError`` (the reader adds file and line) for a value no request can have;
    ``columns`` names the timestamp, input and output columns in the message. A request has at
    least one prompt token and one output token (as workload.input_tokens/output_tokens >= 1):
    a count of 0 is an error, not silently raised to 1."""
    if not math.isfinite(t):
        raise ValueError(f"{columns[0]}: timestamp {t} is not a finite number")
    if t < 0:
        raise ValueError(f"{columns[0]}: timestamp {t} is negative")
    for what, n in ((columns[1], n_in), (columns[2], n_out)):
        if n < 1:
            raise ValueError(f"{what}: token count {n} is not >= 1 (a request has at least one prompt and one "
                             "output token)" if n == 0 else f"{what}: negative token count {n}")
        if n > MAX_REQUEST_TOKENS:
            raise ValueError(f"{what}: token count {n} exceeds {MAX_REQUEST_TOKENS:,} (the longest context of any model)")


def _token_count(value, column: str) -> int:
    """A trace's token count: an integer (``100`` or ``100.0``); ``100.5``, a boolean or a string
    is a ``ValueError`` naming the column, never truncated."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{column}: {value!r} is not a token count")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{column}: {value!r} is not a whole number of tokens")
        return int(value)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{column}: {value!r} is not a whole number of tokens") from None


def _hash_ids(value) -> np.ndarray:
    """A Mooncake line's ``hash_ids``: a list of integer block ids (``[1.5]`` is not truncated to
    block 1, a bare ``7`` is not a list of one)."""
    # (the set of the ids' types first: a JSON list of plain ints, the common line, needs no loop in Python)
    if not isinstance(value, list) or (not set(map(type, value)) <= {int}
                                       and any(isinstance(x, bool) or not isinstance(x, int) for x in value)):
        raise ValueError(f"hash_ids: {str(value)[:40]} is not a list of integer block ids")
    return np.asarray(value, dtype=np.int64)


def _out_of_order(path: Path, lineno: int, stamp, prev_lineno: int, prev_stamp, how_to_sort: str) -> ConfigError:
    """The error for a row whose timestamp ``stamp`` (as written) is earlier than the row before it."""
    return ConfigError("workload.trace", f"{path}:{lineno}: timestamp {stamp} is earlier than {prev_stamp} on line "
                                         f"{prev_lineno}: a trace lists its requests in time order; sort it by "
                                         f"timestamp ({how_to_sort})")


def _open_text(path: Path):
    if path.is_dir():
        raise ConfigError("workload.trace", f"{path} is a directory, not a trace file")
    try:
        return path.open(encoding="utf-8-sig")      # -sig: Excel's "CSV UTF-8" starts with a BOM
    except OSError as err:
        raise ConfigError("workload.trace", f"{path} cannot be read: {err.strerror or err}") from None


def _clock_seconds(stamp: str) -> float:
    """Seconds of ``YYYY-MM-DD HH:MM:SS.fffffff`` from a fixed origin (only differences matter;
    parsed by hand because datetime keeps six fractional digits, the trace has seven)."""
    whole, frac = _clock_parts(stamp)
    return whole + frac


def _clock_parts(stamp: str) -> tuple[int, float]:
    """``_clock_seconds`` as whole seconds (an exact integer) and the fraction of the second: their
    float sum, ~6.4e10 s from year 1, keeps only ~8 us, so the reader subtracts the first
    request's whole seconds before adding the fractions (the trace's 100 ns digits survive)."""
    try:
        date, clock = stamp.strip().split(" ")
        y, mo, d = (int(x) for x in date.split("-"))
        h, mi, s = clock.split(":")
        days = datetime.date(y, mo, d).toordinal()
        h, mi, sec = int(h), int(mi), float(s)
        if not (0 <= h < 24 and 0 <= mi < 60 and (0 <= sec < 61 or not math.isfinite(sec))):
            raise ValueError("a clock field out of range")     # 25:00:00 was read as the next day's 1:00
        whole = math.floor(sec) if math.isfinite(sec) else 0
        return days * 86400 + h * 3600 + mi * 60 + whole, sec - whole
    except ValueError:      # "not enough values to unpack (expected 2, got 1)" named no column
        raise ValueError(f"TIMESTAMP: {stamp!r} is not a time such as 2023-11-16 18:15:46.6805900") from None


def _read_text(path: str | Path, parse) -> Trace:
    """``parse(path, file)`` over a trace opened as text; a binary file is a ConfigError."""
    path = Path(path)
    with _open_text(path) as f:
        try:
            return parse(path, f)
        except UnicodeDecodeError:
            raise ConfigError("workload.trace", f"{path} is not a text file (binary?)") from None


def read_azure(path: str | Path) -> Trace:
    return _read_text(path, _read_azure)


def _read_azure(path: Path, f) -> Trace:
    arrivals, fractions, inputs, outputs = [], [], [], []
    first = f.readline()
    header = first.strip().split(",")
    want = list(AZURE_HEADER)
    if not first:
        raise ConfigError("workload.trace", f"{path} is empty: an Azure trace starts with the header "
                                            f"{','.join(want)}, then one request per line")
    if header != want:
        got = ",".join(header) if first.strip() else "a blank line (the header comes first)"
        raise ConfigError("workload.trace", f"{path}:1: expected header {','.join(want)}, got {got}")
    last = None         # (whole, fraction, line number, TIMESTAMP as written) of the row before
    for lineno, line in enumerate(f, start=2):
        if not line.strip():
            continue
        parts = line.rstrip("\n").split(",")
        try:
            if len(parts) != 3:
                raise ValueError(f"expected 3 fields, got {len(parts)}")
            whole, frac = _clock_parts(parts[0])
            t = whole + frac
            n_in, n_out = _token_count(parts[1], "ContextTokens"), _token_count(parts[2], "GeneratedTokens")
            _check_row(t, n_in, n_out, ("TIMESTAMP", "ContextTokens", "GeneratedTokens"))
        except ValueError as err:
            raise ConfigError("workload.trace", f"{path}:{lineno}: malformed line ({err}): {line.strip()[:80]!r}") from None
        if last is not None and (whole, frac) < last[:2]:      # exact: not the float sum (~8 us)
            raise _out_of_order(path, lineno, parts[0].strip(), last[2], last[3],
                                "its header, then the other lines sorted: the TIMESTAMP format sorts as text")
        last = (whole, frac, lineno, parts[0].strip())
        arrivals.append(whole)
        fractions.append(frac)
        inputs.append(n_in)
        outputs.append(n_out)
    if not arrivals:
        raise ConfigError("workload.trace", f"{path}: no requests")
    arr = (np.asarray(arrivals, np.int64) - arrivals[0]).astype(np.float64) + np.asarray(fractions)
    arr -= arr[0]       # in time order (checked above): the first N requests are the N earliest
    return Trace(arr, np.asarray(inputs, np.int64), np.asarray(outputs, np.int64), path=str(path))


def read_mooncake(path: str | Path) -> Trace:
    return _read_text(path, _read_mooncake)


def _read_mooncake(path: Path, f) -> Trace:
    arrivals, inputs, outputs, blocks = [], [], [], []
    last = None         # (t, line number, timestamp as read) of the request before
    for lineno, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError(f"a JSON object per line is expected, not {type(obj).__name__}")
            stamp = obj["timestamp"]
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
                raise ValueError(f"timestamp: {json.dumps(stamp)} is not a number of milliseconds")
            t = float(stamp) / 1e3
            n_in, n_out = _token_count(obj["input_length"], "input_length"), _token_count(obj["output_length"], "output_length")
            ids = _hash_ids(obj.get("hash_ids", []))
            _check_row(t, n_in, n_out, ("timestamp", "input_length", "output_length"))
        except (ValueError, KeyError, TypeError, OverflowError) as err:
            kind = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            raise ConfigError("workload.trace", f"{path}:{lineno}: malformed line ({kind}): {line.strip()[:80]!r}") from None
        if last is not None and t < last[0]:
            raise _out_of_order(path, lineno, json.dumps(stamp), last[1], json.dumps(last[2]),
                                "jq -c -s 'sort_by(.timestamp)[]' FILE")
        last = (t, lineno, stamp)       # written out only for the error
        arrivals.append(t)
        inputs.append(n_in)
        outputs.append(n_out)
        blocks.append(ids)
    if not arrivals:
        raise ConfigError("workload.trace", f"{path}: no requests")
    arr = np.asarray(arrivals)
    arr = arr - arr[0]      # in time order (checked above)
    return Trace(arr, np.asarray(inputs, np.int64), np.asarray(outputs, np.int64), blocks,
                 MOONCAKE_BLOCK_TOKENS, str(path))


def _first_lines(path: Path, count: int = 1, limit: int = 1 << 16) -> list[str] | None:
    """The first ``count`` lines of ``path`` that are not blank (at most ``limit`` characters of each),
    fewer where the file has fewer, None for one that cannot be read as text."""
    out = []
    try:
        with path.open(encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    out.append(line[:limit].strip())
                    if len(out) == count:
                        break
        return out
    except (OSError, UnicodeDecodeError):
        return None


def _first_line(path: Path, limit: int = 1 << 16) -> str | None:
    """The first line of ``path`` that is not blank (at most ``limit`` characters of it), "" for a file of
    blank lines only, None for one that cannot be read as text."""
    lines = _first_lines(path, 1, limit)
    return None if lines is None else (lines[0] if lines else "")


def _looks_like_trace(path: Path) -> bool:
    """Whether ``path`` starts as a trace does: an Azure .csv with its header, a Mooncake .jsonl / .json
    whose first line is an object with a timestamp."""
    if not path.is_file() or path.suffix not in (".jsonl", ".json", ".csv"):
        return False
    first = _first_line(path)
    if not first:
        return False
    if path.suffix == ".csv":
        return tuple(first.split(",")) == AZURE_HEADER     # as _read_azure reads it
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and "timestamp" in obj


def check_trace_file(name: str, key: str = "workload.trace") -> Path:
    """The file ``workload.trace = name`` names (``resolve_trace``), refused with a ``ConfigError`` naming
    ``key`` when it is missing, a directory (the message lists the files in it that start as a trace does),
    empty, of blank lines only or (an Azure .csv) of its header only, or of an unknown format. Reads no more
    than its first two non-blank lines, so
    a sweep checks every point's trace before any point runs; the rows are checked when the trace is read."""
    path = resolve_trace(name, key)
    if path.is_dir():       # it read as "unknown trace format"
        try:
            inside = sorted(p.name for p in path.iterdir() if _looks_like_trace(p))
        except OSError:
            inside = []
        hint = (f" (in it, {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''} "
                f"{'starts' if len(inside) == 1 else 'start'} as a trace does)") if inside else ""
        raise ConfigError(key, f"{path} is a directory, not a trace file: name the Azure .csv or Mooncake .jsonl "
                               f"file{hint}")
    if path.suffix not in (".jsonl", ".json", ".csv"):
        if path.is_file() and path.stat().st_size == 0:
            raise ConfigError(key, f"{path} is empty (0 bytes): expected an Azure .csv or a Mooncake .jsonl trace")
        raise ConfigError(key, f"{path}: unknown trace format (expected an Azure .csv or a Mooncake .jsonl)")
    what = ("a Mooncake trace has one JSON object per line (timestamp, input_length, output_length, hash_ids)"
            if path.suffix in (".jsonl", ".json") else
            f"an Azure trace starts with the header {','.join(AZURE_HEADER)}, then one request per line")
    if path.is_file() and path.stat().st_size == 0:
        raise ConfigError(key, f"{path} is empty (0 bytes): {what}")
    lines = _first_lines(path, 2)
    if lines == []:
        raise ConfigError(key, f"{path} holds only blank lines: {what}")
    if (path.suffix == ".csv" and lines is not None and len(lines) == 1
            and tuple(lines[0].split(",")) == AZURE_HEADER):     # as _read_azure reads the header
        # it failed at run time as "no requests" (a sweep: point by point)
        raise ConfigError(key, f"{path} holds only its header, no requests: {what}")
    return path


def read_trace(name: str, key: str = "workload.trace") -> Trace:
    """The trace ``name`` (a path, or a shipped trace's file name), read once per process while the
    file is unchanged (same size and modification time): a run checks it before it starts and its
    workload reads it again, a sweep's points in one worker share it. The returned arrays are
    read-only (one copy serves every caller). Errors: ``ConfigError`` naming ``key`` (no such file,
    a directory, an empty file, unknown format: ``check_trace_file``) or the file and line (a malformed row)."""
    path = check_trace_file(name, key)
    st = path.stat()
    return _read_unchanged(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_unchanged(path: str, size: int, mtime_ns: int) -> Trace:
    """One read of the trace at ``path`` as it is at (``size``, ``mtime_ns``), its arrays read-only."""
    trace = read_mooncake(path) if Path(path).suffix in (".jsonl", ".json") else read_azure(path)
    for a in (trace.arrival_s, trace.input_tokens, trace.output_tokens, *(trace.prefix_blocks or ())):
        a.flags.writeable = False
    return trace
