"""The validation suites' gap texts as data (sim/app/validation/gap_text.py): composition, and the loader's
errors on a bad file."""

import pytest

from sim.app.validation import gap_text
from sim.errors import ConfigError


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
