"""Tables on the terminal and in pipes: how dcsim prints rows, summaries and JSON lines.

Vocabulary: a *table* is a list of row dicts; on a terminal it is drawn with rich (4 significant
digits), in a file or a pipe as plain aligned columns with full values (``repr`` of floats, so
nothing is cut or rounded); a *JSON line* is one compact JSON document on one line (what
``--json`` prints last).
"""

from __future__ import annotations

import json
import sys


def _fmt(value, full: bool = False) -> str:
    """A cell: 4 significant digits on a terminal; with ``full`` (stdout is a file or a pipe)
    the shortest text that reads back as the same number. A missing value (None) prints "-", and
    so does an undefined one (NaN: TPOT of one-token answers), as ``--json`` prints both null."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "-"
        if full:
            return repr(value)
        if value == 0:
            return "0"
        a = abs(value)
        return f"{value:.4g}" if 1e-3 <= a < 1e6 else f"{value:.3e}"
    return str(value)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _plain_table(rows: list[list[str]], header: list[str], title: str | None, file) -> None:
    """Aligned columns, nothing cut: what a table looks like in a file or a pipe."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    if title:
        print(title, file=file)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), file=file)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=file)


def print_table(rows: list[dict], title: str | None = None, columns: list[str] | None = None,
                file=None) -> None:
    """A table of rows: a rich table on a terminal; full values in plain aligned columns when
    the output is a file or a pipe (so no value is ever cut or rounded there)."""
    file = file or sys.stdout
    columns = columns or (list(rows[0]) if rows else [])
    if not _is_terminal(file):
        _plain_table([[_fmt(r.get(c, ""), full=True) for c in columns] for r in rows], columns, title, file)
        return
    from rich.console import Console
    from rich.table import Table
    console = Console(file=file, width=max(100, Console().width))
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, justify="left" if rows and isinstance(rows[0].get(c), str) else "right")
    for r in rows:
        table.add_row(*(_fmt(r.get(c, "")) for c in columns))
    console.print(table)


def print_summary(summary: dict, title: str, file=None) -> None:
    """A two-column key/value table of a summary row (full values when not on a terminal)."""
    file = file or sys.stdout
    if not _is_terminal(file):
        _plain_table([[k, _fmt(v, full=True)] for k, v in summary.items()], ["metric", "value"], title, file)
        return
    from rich.console import Console
    from rich.table import Table
    console = Console(file=file)
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k, _fmt(v))
    console.print(table)


def json_line(obj) -> str:
    from sim.outputs import jsonable
    return json.dumps(jsonable(obj), separators=(",", ":"))
