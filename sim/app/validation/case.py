"""A validation case: one prediction set against one published (or measured) figure.

Vocabulary:
- ``Case``: ``case`` (its id), ``metric`` (what is compared, e.g. ``output_tokens_per_s``),
  ``predicted`` and ``measured`` (same unit), ``error`` (relative and signed: predicted /
  measured - 1, computed when not given), ``source`` (citation: repository/paper, location,
  URL). Optional: ``tolerance`` (the |error| a test holds the case to), ``bound`` (a looser
  bound where a documented ``gap`` explains the difference), ``fit`` (whether a calibration was
  fitted to the case: ``fit``/``held-out`` in the serving suites, as their tables' ``fit`` column;
  ``fit``/``holdout`` in the training suites, as their tables' ``use`` column).
- row: ``Case.row()``, the dict the CLI prints and ``--json`` writes: the six fields, then the
  optional ones that are set. A ``Case`` is also a read-only mapping with those keys, so
  ``case["error"]`` and ``dict(case)`` give the row.
Every suite (``collectives``, ``training``, ``serving``, ``measured``) returns ``Case``s.
- shipped tables: ``read_rows`` reads a suite's CSV strictly (the columns it reads must be in the
  header, every line the header's width), ``column_number`` / ``column_yes`` read one cell; each
  failure is a ``ConfigError`` naming the file or ``<file stem>.<column>`` and the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPTIONAL = ("tolerance", "bound", "gap", "fit")


@dataclass(frozen=True)
class Case(Mapping):
    case: str
    metric: str
    predicted: float
    measured: float
    source: str
    error: float | None = None
    tolerance: float | None = None
    bound: float | None = None
    gap: str | None = None
    fit: str | None = None          # a calibration row's role: "fit", or "held-out" (serving) / "holdout" (training)

    def __post_init__(self):
        if self.error is None and self.measured:
            object.__setattr__(self, "error", self.predicted / self.measured - 1.0)

    @property
    def id(self) -> str:
        return self.case

    def row(self) -> dict:
        out = {"case": self.case, "metric": self.metric, "predicted": self.predicted,
               "measured": self.measured, "error": self.error, "source": self.source}
        out.update({k: getattr(self, k) for k in OPTIONAL if getattr(self, k) is not None})
        return out

    # read-only mapping over row(); an optional field that is not set reads as None
    def __getitem__(self, key):
        if key in self.__dataclass_fields__:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self):
        return iter(self.row())

    def __len__(self) -> int:
        return len(self.row())


def read_rows(path, columns) -> list[dict]:
    """The rows of a shipped validation CSV (``path``), each a dict of column -> text, read strictly: a
    header without one of ``columns`` (the ones the suite reads) or a line with more or fewer fields
    than the header raises ``ConfigError`` naming the file and the column or line (never a KeyError
    later)."""
    import csv
    from pathlib import Path

    from sim.errors import ConfigError
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise ConfigError(f"{path.name}.{missing[0]}", f"{path}: the header has no column {missing[0]!r} "
                                                           f"(missing: {', '.join(missing)})")
        rows = []
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise ConfigError(path.name, f"{path}, line {reader.line_num} (row {row.get(header[0])!r}): "
                                             f"not the header's {len(header)} fields")
            rows.append(row)
    return rows


def column_number(row: dict, key: str, where: str, kind=float, required: bool = True):
    """Column ``key`` of a validation CSV row as ``kind`` (float: finite); None where it is empty and not
    ``required``. Raises ``ConfigError`` keyed ``<where>.<key>`` (``where``: the file's stem) naming the
    row otherwise."""
    import math

    from sim.errors import ConfigError
    v = (row.get(key) or "").strip()
    rid = row.get("id", "?")
    if not v:
        if required:
            raise ConfigError(f"{where}.{key}", f"row {rid!r}: {key} is empty")
        return None
    try:
        out = kind(v)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{where}.{key}", f"row {rid!r}: {key} = {v!r} is not {what}") from None
    if not math.isfinite(out):
        raise ConfigError(f"{where}.{key}", f"row {rid!r}: {key} = {v!r} is not a finite number")
    return out


def column_yes(row: dict, key: str, where: str) -> bool:
    """Column ``key`` of a validation CSV row as a flag: ``yes`` True, ``no`` or empty False; anything else
    a ``ConfigError`` keyed ``<where>.<key>`` naming the row."""
    from sim.errors import ConfigError
    v = (row.get(key) or "").strip()
    if v not in ("yes", "no", ""):
        raise ConfigError(f"{where}.{key}", f"row {row.get('id', '?')!r}: {key} = {v!r} is not yes, no or empty (no)")
    return v == "yes"
