"""The validation suites' gap texts as data (sim/app/validation/gap_text.py) and the suites' files of them
(sim/data/validation/heldout_gaps.toml, read by serving_heldout.py; inferencex_gaps.toml, inferencex_heldout_gaps.toml,
iter_logs_gaps.toml, training_gaps.toml, serving_gaps.toml, amd_gaps.toml, read by serving_inferencex.py,
serving_inferencex_heldout.py, iter_logs.py, training.py, serving.py, serving_amd.py):
each file's structure, and the loader's errors on a bad file. No test here reads the prose itself."""

import ast

import pytest

from sim.app.validation import gap_text
from sim.app.validation import iter_logs
from sim.app.validation import serving
from sim.app.validation import serving_amd
from sim.app.validation import serving_heldout as held
from sim.app.validation import serving_inferencex as infx
from sim.app.validation import serving_inferencex_heldout as infx_held
from sim.app.validation import training
from sim.errors import ConfigError


def _kinds_block_names() -> list[tuple[str, list[str]]]:
    """(row-id substring, the module-level names its gap is the sum of) for each KINDS entry, read from
    serving_heldout.py's source: a gap is "" or a sum of names."""
    tree = ast.parse(open(held.__file__, encoding="utf-8").read())
    kinds = next(st.value for st in tree.body if isinstance(st, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "KINDS" for t in st.targets))

    def names(node) -> list[str]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return names(node.left) + names(node.right)
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, ast.Constant) and node.value == "":
            return []
        raise AssertionError(f"a KINDS gap is a sum of block names, not {ast.dump(node)}")

    return [(entry.elts[0].value, names(entry.elts[3])) for entry in kinds.elts]


def _heldout_blocks() -> dict:
    where = "sim/data/validation/" + held.GAP_FILE
    return gap_text.read_blocks(gap_text.path(held.GAP_FILE).read_text(encoding="utf-8"), where)


def test_heldout_gap_file_structure():
    """The held-out file reads without error (every before / after name a block of the file, no block made of
    itself); every name a KINDS gap sums is a block; every block is read by some kind, directly or through
    other blocks; each block serving_heldout.py names is the file's block of that name, composed as the file
    says, and each KINDS gap the sum of its blocks."""
    blocks = _heldout_blocks()
    texts = gap_text.compose(blocks, held.GAP_FILE)
    kinds = _kinds_block_names()
    assert [key for key, _ in kinds] == [k[0] for k in held.KINDS]
    used = [name for _, names in kinds for name in names]
    assert used and set(used) <= set(blocks), sorted(set(used) - set(blocks))
    unused = sorted(set(blocks) - gap_text.reachable(blocks, used))
    assert not unused, f"blocks no kind reads, directly or through another block: {unused}"
    for name, block in blocks.items():
        if name in used or hasattr(held, name):              # the module's name is the file's block
            assert getattr(held, name) == texts[name], name
        assert texts[name] == ("".join(texts[n] for n in block.before) + block.text
                               + "".join(texts[n] for n in block.after))
        assert texts[name], f"block {name} is empty"
    for (key, names), (_, tol, bound, gap) in zip(kinds, held.KINDS):
        assert gap == "".join(texts[n] for n in names), key


def test_heldout_gap_texts_are_single_lines():
    """A block's text is prose on one logical line: the file's line breaks are spaces, so no block's own text
    holds a line break, a tab or a double space (a double space appears only where two blocks meet)."""
    blocks = _heldout_blocks()
    for name, block in blocks.items():
        assert "\n" not in block.text and "\t" not in block.text, name
        assert "  " not in block.text, name


SUITES = (infx, infx_held, iter_logs, training, serving, serving_amd)


def _tree(module) -> ast.Module:
    return ast.parse(open(module.__file__, encoding="utf-8").read())


def _gap_reads(module) -> tuple[list[str], dict[str, str]]:
    """The block names a module reads (every ``_GAPS["NAME"]`` in its source, in order) and its module-level
    names assigned one (``NAME = _GAPS["BLOCK"]``: name -> block)."""
    reads = [node.slice.value for node in ast.walk(_tree(module)) if isinstance(node, ast.Subscript)
             and isinstance(node.value, ast.Name) and node.value.id == "_GAPS"]
    assigned = {st.targets[0].id: st.value.slice.value for st in _tree(module).body
                if isinstance(st, ast.Assign) and isinstance(st.value, ast.Subscript)
                and isinstance(st.value.value, ast.Name) and st.value.value.id == "_GAPS"}
    return reads, assigned


def _suite_blocks(module) -> dict:
    where = "sim/data/validation/" + module.GAP_FILE
    return gap_text.read_blocks(gap_text.path(module.GAP_FILE).read_text(encoding="utf-8"), where)


@pytest.mark.parametrize("module", SUITES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_suite_gap_file_structure(module):
    """A suite's file reads without error (every before / after name a block of the file, no block made of
    itself); every block the module reads (``_GAPS["NAME"]``) is one; every block is read by the module,
    directly or through other blocks; each module-level name assigned a block has the block's name and is the
    block as the file composes it, and each block is its before blocks, its text and its after blocks."""
    blocks = _suite_blocks(module)
    texts = gap_text.compose(blocks, module.GAP_FILE)
    reads, assigned = _gap_reads(module)
    assert reads and set(reads) <= set(blocks), sorted(set(reads) - set(blocks))
    unused = sorted(set(blocks) - gap_text.reachable(blocks, reads))
    assert not unused, f"blocks the module does not read, directly or through another block: {unused}"
    for name, block_name in assigned.items():
        assert name == block_name and getattr(module, name) == texts[name], name
    for name, block in blocks.items():
        assert texts[name] == ("".join(texts[n] for n in block.before) + block.text
                               + "".join(texts[n] for n in block.after))
        assert texts[name], f"block {name} is empty"
        assert "\n" not in block.text and "\t" not in block.text and "  " not in block.text, name


def _joined(node, texts) -> str:
    """A gap expression of the source (names of blocks joined with + and string separators) over ``texts``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _joined(node.left, texts) + _joined(node.right, texts)
    if isinstance(node, ast.Name):
        return texts[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) <= 2:
        return node.value                 # "", " " or ". " between blocks: no prose in the source
    raise AssertionError(f"a gap is block names joined with separators, not {ast.dump(node)}")


def _assigned_value(module, name):
    return next(st.value for st in _tree(module).body if isinstance(st, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in st.targets))


def test_inferencex_kinds_are_blocks_joined():
    """Each gap of serving_inferencex.KINDS (TPOT case and throughput case) is the file's blocks joined with
    the separators its source writes: no prose left in the table."""
    texts = gap_text.compose(_suite_blocks(infx), infx.GAP_FILE)
    kinds = _assigned_value(infx, "KINDS")
    assert len(kinds.elts) == len(infx.KINDS)
    for entry, (key, tpot, tput) in zip(kinds.elts, infx.KINDS):
        assert entry.elts[0].value == key
        assert _joined(entry.elts[1].elts[2], texts) == tpot[2], key
        assert _joined(entry.elts[2].elts[2], texts) == tput[2], key


def test_iter_logs_kinds_are_blocks():
    """Each gap of iter_logs.KINDS is one block of its file."""
    texts = gap_text.compose(_suite_blocks(iter_logs), iter_logs.GAP_FILE)
    kinds = _assigned_value(iter_logs, "KINDS")
    assert len(kinds.values) == len(iter_logs.KINDS)
    for value, (key, (bound, gap)) in zip(kinds.values, iter_logs.KINDS.items()):
        assert _joined(value.elts[1], texts) == gap, key


@pytest.mark.parametrize("table", ["BLACKWELL_GAPS", "LLMFOUNDRY_A100_GAPS", "HELDOUT3_GAPS"])
def test_training_gaps_are_the_blocks_of_their_names(table):
    """Each documented gap of training.py's tables has as its text the block of its own name."""
    texts = gap_text.compose(_suite_blocks(training), training.GAP_FILE)
    rows = getattr(training, table)
    assert rows
    for name, test, bound, why in rows:
        assert why == texts[name], name


@pytest.mark.parametrize("table, gap_index", [("PUBLISHED", 6), ("STEP_CASES", 9)])
def test_serving_case_gaps_are_blocks_of_their_ids(table, gap_index):
    """A serving case's gap is "" (none), the block of the case's own id (``_GAPS["<id>"]``), or a block the
    module assigns under its name (a gap cases share); its value is that block as the file composes it."""
    texts = gap_text.compose(_suite_blocks(serving), serving.GAP_FILE)
    _, assigned = _gap_reads(serving)
    rows = getattr(serving, table)
    nodes = _assigned_value(serving, table).elts
    assert rows and len(nodes) == len(rows)
    for node, row in zip(nodes, rows):
        case, gap = node.elts[0].value, node.elts[gap_index]
        assert row[0] == case
        if isinstance(gap, ast.Constant):
            assert gap.value == "" == row[gap_index], case
        elif isinstance(gap, ast.Name):
            assert gap.id in assigned and row[gap_index] == texts[gap.id], case
        else:
            assert gap.slice.value == case and row[gap_index] == texts[case], case


@pytest.mark.parametrize("table", ["KV_GAPS", "TRTLLM_KV_GAPS"])
def test_serving_kv_gaps_are_blocks_of_their_ids(table):
    """Each KV-cache row's gap (id -> (gap, bound)) is the block of the row's id."""
    texts = gap_text.compose(_suite_blocks(serving), serving.GAP_FILE)
    gaps = getattr(serving, table)
    assert gaps
    for case, (gap, bound) in gaps.items():
        assert gap == texts[case], case


def _read(text: str) -> dict:
    return gap_text.read_blocks(text, "gaps.toml")


def test_compose_reads_before_text_after_and_joins_lines():
    """A block is its before blocks, its text, then its after blocks; a line break in a text is one space,
    an edge space inside the quotes stays, and a break before a closing ''' on its own line is dropped."""
    blocks = _read("[A]\nbefore = ['B']\ntext = '''one\ntwo'''\nafter = ['C', 'B']\n"
                   "[B]\ntext = '''b '''\n"
                   "[C]\ntext = '''\n c\n'''\n")
    texts = gap_text.compose(blocks, "gaps.toml")
    assert texts == {"A": "b one two cb ", "B": "b ", "C": " c"}
    assert gap_text.reachable(blocks, ["C"]) == {"C"} and gap_text.reachable(blocks, ["A"]) == {"A", "B", "C"}


def test_missing_reference_names_the_block():
    with pytest.raises(ConfigError) as err:
        _read("[A]\ntext = 'a'\nafter = ['MISSING']\n")
    assert err.value.key == "gaps.toml [A].after" and "'MISSING'" in err.value.reason
    with pytest.raises(ConfigError) as err:
        _read("[A]\ntext = 'a'\n[B]\nbefore = ['A', 'NOPE']\n")
    assert err.value.key == "gaps.toml [B].before" and "'NOPE'" in err.value.reason


def test_cycle_is_refused_with_its_path():
    with pytest.raises(ConfigError) as err:
        _read("[A]\ntext = 'a'\nafter = ['B']\n[B]\ntext = 'b'\nbefore = ['C']\n[C]\nafter = ['A']\n")
    assert "A -> B -> C -> A" in err.value.reason
    with pytest.raises(ConfigError) as err:
        _read("[A]\ntext = 'a'\nafter = ['A']\n")
    assert err.value.key == "gaps.toml [A]" and "A -> A" in err.value.reason


@pytest.mark.parametrize("toml, key", [
    ("[A]\ntxt = 'a'\n", "gaps.toml [A].txt"),                       # unknown key
    ("[A]\ntext = 3\n", "gaps.toml [A].text"),                       # not a string
    ("[A]\ntext = 'a'\nafter = 'B'\n[B]\n", "gaps.toml [A].after"),  # not a list
    ("A = 'a'\n", "gaps.toml [A]"),                                  # not a table
    ("[A]\ntext = '''one \ntwo'''\n", "gaps.toml [A].text"),         # a line ends with a space: two spaces
    ("[A]\ntext = '''one\n two'''\n", "gaps.toml [A].text"),         # a line starts with one
    ("[A]\ntext = '''one\n\ntwo'''\n", "gaps.toml [A].text"),        # a blank line
    ("[A\n", "gaps.toml"),                                           # not TOML
])
def test_bad_file_is_a_config_error_naming_the_key(toml, key):
    with pytest.raises(ConfigError) as err:
        _read(toml)
    assert err.value.key == key and err.value.exit_code == 2


def test_a_name_the_file_lacks_is_a_config_error():
    texts = gap_text.compose(_read("[A]\ntext = 'a'\n"), "gaps.toml")
    with pytest.raises(ConfigError) as err:
        texts["B"]
    assert err.value.key == "gaps.toml [B]"
