"""Gap texts of the validation suites, kept as data: the prose a suite shows beside a row kind it does not
hold to its tolerance (what was modelled, measured and ruled out, with sources) lives in a TOML file under
``sim/data/validation/`` rather than in Python strings.

File format (one TOML table per named block):
- ``[NAME]``: a block; ``NAME`` is how suites and other blocks refer to it.
- ``text``: the block's own words, a multi-line literal string (``'''...'''``) wrapped at spaces; every line
  break stands for one space. A line break right after the opening ``'''`` (TOML drops it) or right before the
  closing ``'''`` is not part of the text. A text that must start or end with a space shows it inside the
  quotes; no other line may start or end with whitespace, and no line is blank (either would double the
  space the line break adds).
- ``before`` / ``after``: optional lists of block names; the block reads as the ``before`` blocks, its
  ``text``, then the ``after`` blocks, each composed the same way, joined with nothing in between.

Vocabulary:
- ``Block``: one table as read (``before``, ``text``, ``after``).
- ``read_blocks(text, where)``: the tables of a file's text, checked: only those keys, strings where strings
  go, every name in ``before`` / ``after`` a block of the file, no block made of itself. Anything else is a
  ``ConfigError`` naming the file, the block and the key.
- ``compose(blocks, where)``: every block's full text (``GapTexts``: a dict whose missing key is a
  ``ConfigError`` naming the file and the block).
- ``reachable(blocks, roots)``: the blocks a set of names reads, directly or through others (to find the
  ones nothing reads).
- ``load(name)``: ``compose(read_blocks(...))`` of ``sim/data/validation/<name>``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from sim.errors import ConfigError

KEYS = ("before", "text", "after")


@dataclass(frozen=True)
class Block:
    before: tuple[str, ...]
    text: str
    after: tuple[str, ...]


class GapTexts(dict):
    """Composed block texts by name; a name the file lacks is a ConfigError naming it."""

    def __init__(self, texts: dict[str, str], where: str):
        super().__init__(texts)
        self.where = where

    def __missing__(self, name: str) -> str:
        raise ConfigError(f"{self.where} [{name}]", "no such block in the file (a suite reads it by this name)")


def _text(raw: str, key: str) -> str:
    raw = raw.replace("\r\n", "\n")
    if raw.endswith("\n"):          # the line break before a closing ''' on its own line
        raw = raw[:-1]
    lines = raw.split("\n")
    for i, line in enumerate(lines):
        if line != line.lstrip() and i > 0 or line != line.rstrip() and i < len(lines) - 1:
            raise ConfigError(key, f"line {i + 1} of the text starts or ends with whitespace; each line break "
                                   "already stands for one space (write edge spaces inside the quotes)")
        if not line and len(lines) > 1:
            raise ConfigError(key, f"line {i + 1} of the text is blank; each line break stands for one space, "
                                   "so a blank line would add two")
    return " ".join(lines)


def read_blocks(text: str, where: str) -> dict[str, Block]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(where, f"not valid TOML: {err}") from None
    blocks = {}
    for name, table in data.items():
        key = f"{where} [{name}]"
        if not isinstance(table, dict):
            raise ConfigError(key, "every top-level entry is a [table] (a block), not a value")
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", f"unknown key; a block has {', '.join(KEYS)}")
        if not isinstance(table.get("text", ""), str):
            raise ConfigError(f"{key}.text", "must be a string ('''...''')")
        for part in ("before", "after"):
            names = table.get(part, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{key}.{part}", "must be a list of block names")
        blocks[name] = Block(tuple(table.get("before", [])), _text(table.get("text", ""), f"{key}.text"),
                             tuple(table.get("after", [])))
    for name, block in blocks.items():
        for part in ("before", "after"):
            for ref in getattr(block, part):
                if ref not in blocks:
                    raise ConfigError(f"{where} [{name}].{part}", f"{ref!r} is no block of the file")
    state: dict[str, int] = {}          # 1: being composed, 2: done

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + (name,)
            raise ConfigError(f"{where} [{name}]", "is made of itself: " + " -> ".join(cycle))
        state[name] = 1
        for ref in blocks[name].before + blocks[name].after:
            visit(ref, path + (name,))
        state[name] = 2

    for name in blocks:
        visit(name, ())
    return blocks


def compose(blocks: dict[str, Block], where: str) -> GapTexts:
    done: dict[str, str] = {}

    def full(name: str) -> str:
        if name not in done:
            b = blocks[name]
            done[name] = "".join(full(n) for n in b.before) + b.text + "".join(full(n) for n in b.after)
        return done[name]

    return GapTexts({name: full(name) for name in blocks}, where)


def reachable(blocks: dict[str, Block], roots) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in blocks]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(blocks[name].before + blocks[name].after)
    return seen


def path(name: str):
    return resources.files("sim").joinpath(f"data/validation/{name}")


def load(name: str) -> GapTexts:
    where = f"sim/data/validation/{name}"
    return compose(read_blocks(path(name).read_text(encoding="utf-8"), where), where)
