"""Columnar recorders: rows kept as lists of columns, turned into ``pyarrow.Table`` at the end.

Vocabulary:
- ``Recorder``: a named set of ``TableRecorder``s belonging to one simulation.
- ``TableRecorder``: one table; ``add(**row)`` appends a row column by column. Columns are
  fixed by the first row; a later row with other keys is an error (it would silently misalign).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa


class TableRecorder:
    """Rows appended column by column (lists, not dicts: cheap and Arrow-ready)."""

    def __init__(self, name: str):
        self.name = name
        self.columns: dict[str, list[Any]] = {}
        self.rows = 0

    def add(self, **row: Any) -> None:
        if not self.columns:
            self.columns = {key: [] for key in row}
        elif row.keys() != self.columns.keys():
            missing = set(self.columns) ^ set(row)
            raise ValueError(f"table {self.name!r}: row columns differ from the first row's: {sorted(missing)}")
        for key, value in row.items():
            self.columns[key].append(value)
        self.rows += 1

    def extend(self, columns: dict[str, list[Any]]) -> None:
        """Append many rows given as columns of equal length."""
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"table {self.name!r}: columns of unequal length {sorted(lengths)}")
        if not self.columns:
            self.columns = {key: [] for key in columns}
        for key, values in columns.items():
            self.columns[key].extend(values)
        self.rows += lengths.pop() if lengths else 0

    def to_arrow(self) -> pa.Table:
        return pa.table({key: pa.array(values) for key, values in self.columns.items()})


class Recorder:
    """All tables of one simulation, created on first use."""

    def __init__(self) -> None:
        self.tables: dict[str, TableRecorder] = {}

    def table(self, name: str) -> TableRecorder:
        if name not in self.tables:
            self.tables[name] = TableRecorder(name)
        return self.tables[name]

    def to_arrow(self) -> dict[str, pa.Table]:
        return {name: t.to_arrow() for name, t in self.tables.items() if t.rows}
