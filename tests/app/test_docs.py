"""The config reference: generated from the config models, complete, and current in README.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.config import SECTIONS
from sim.app.docs import config_reference, readme_is_current, section_rows, type_name, unit_of

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_of_every_section_is_documented():
    text = config_reference()
    for name, model in SECTIONS.items():
        assert f"`[{name}]`" in text
        table = text.split(f"`[{name}]`", 1)[1].split("#### ", 1)[0]
        for key in model.model_fields:
            # preset: only in the sections that have presets (elsewhere it is refused)
            assert (f"| `{key}` |" in table) == (key != "preset" or name in ("model", "topology")), f"{name}.{key}"
        for row in section_rows(model):
            assert row["type"] and row["default"], (name, row)


def test_units_types_and_defaults_come_from_the_models():
    rows = {r["key"]: r for r in section_rows(SECTIONS["topology"])}
    assert rows["nic_Gbps"]["unit"].startswith("Gb/s") and rows["scaleup_GBps"]["unit"].startswith("GB/s")
    assert rows["fabric"]["type"].count('"') == 8          # the four choices of a Literal
    assert rows["gpus"]["type"] == "int" and "(>= 1)" in rows["gpus"]["meaning"]
    assert unit_of("slo_ttft_s") == "s" and unit_of("scaleout_latency_us") == "µs" and unit_of("tp") == ""
    assert type_name(list[int] | None) == "list of int (optional)"


def test_readme_reference_is_current():
    assert readme_is_current(ROOT / "README.md"), "run: python -m sim.app.cli docs --write"


def test_readme_headline_figures_come_from_the_simulator():
    """Every figure README.md quotes about the headline study is regenerated here and must match
    (the README once quoted MFU 0.50 / 0.54 where the code gave 0.48 / 0.52)."""
    from sim.app.docs import headline_is_current, headline_numbers
    n = headline_numbers()
    text = (ROOT / "README.md").read_text()
    assert headline_is_current(ROOT / "README.md", n), "run: python -m sim.app.cli docs --write"
    assert f"vary: {n['points']} points" in text
    assert 0 < n["tp1_slow_mfu"] < n["tp1_mfu_100"] <= n["tp1_mfu_400"] < 1
    assert n["knee_lo"] <= n["knee_hi"]


def test_readme_chat_cost_table_comes_from_the_simulator():
    """The chat-cost study's table and ratios are regenerated here (the README read H100 3,880
    tokens/s where the model gave 3,912), and the prose around them still holds."""
    from sim.app.docs import chat_cost_is_current, chat_cost_numbers
    n = chat_cost_numbers()
    assert chat_cost_is_current(ROOT / "README.md", n), "run: python -m sim.app.cli docs --write"
    h100, h200, b200 = n["H100-SXM-80GB"], n["H200-SXM-141GB"], n["B200-180GB"]
    assert h200["usd_per_Mtoken"][0] > h100["usd_per_Mtoken"][0]       # "not enough to pay its rate"
    assert h100["J_per_token"][0] > h200["J_per_token"][0] > b200["J_per_token"][0]   # energy falls
    lo = lambda r: r["usd_per_Mtoken"][0] - r["usd_per_Mtoken"][1]      # noqa: E731
    hi = lambda r: r["usd_per_Mtoken"][0] + r["usd_per_Mtoken"][1]      # noqa: E731
    assert lo(b200) < hi(h100) and lo(h100) < hi(b200)                # "inside the 95% intervals"


def test_chat_cost_section_is_written_between_its_markers_only(tmp_path):
    """update_chat_cost replaces the marked table (markers kept) and nothing around it; a README
    without the markers is a ValueError naming the section (the three generated sections share
    one writer)."""
    from sim.app.docs import CHAT_BEGIN, CHAT_END, chat_cost_is_current, update_chat_cost
    row = {"output_tokens_per_s": (1000.0, 10.0), "usd_per_Mtoken": (1.0, 0.1), "J_per_token": (2.0, 0.1),
           "tpot_p50_s": (0.02, 0.0)}
    n = {"H100-SXM-80GB": row, "H200-SXM-141GB": dict(row, output_tokens_per_s=(1100.0, 10.0)),
         "B200-180GB": dict(row, output_tokens_per_s=(1500.0, 10.0))}
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{CHAT_BEGIN}\nold\n{CHAT_END}\nafter\n")
    assert not chat_cost_is_current(readme, n)
    update_chat_cost(readme, n)
    text = readme.read_text()
    assert chat_cost_is_current(readme, n) and text.startswith("before\n") and text.endswith("\nafter\n")
    assert "| H100 | 1,000 +- 10 |" in text and "old" not in text
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="chat-cost markers"):
        update_chat_cost(readme, n)
    assert readme.read_text() == "no markers\n"


def test_keys_with_a_default_factory_are_not_shown_as_required():
    from sim.config import JobSection, TopologySection
    topo = {r["key"]: r["default"] for r in section_rows(TopologySection)}
    assert topo["gpu_speed"] == topo["nic_speed"] == topo["link_speed"] == "{}"
    job = {r["key"]: r["default"] for r in section_rows(JobSection)}
    assert job["train"] == job["serve"] == job["workload"] == job["model"] == "{}"
    assert job["name"] == job["kind"] == job["gpus"] == "(required)"


def test_write_to_a_readme_without_the_markers_exits_2_and_writes_nothing(tmp_path, capsys):
    # it raised ValueError (a traceback) after running the studies, having rewritten the
    # sections whose markers it did find
    from sim.app.cli import main
    from sim.app.docs import BEGIN, END
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    assert main(["docs", "--write", "--readme", str(notes)]) == 2
    err = capsys.readouterr().err
    assert "--readme:" in err and "config-reference, headline-numbers, chat-cost-numbers" in err
    partial = tmp_path / "partial.md"
    partial.write_text(f"x\n{BEGIN}\nold\n{END}\n")          # one section of three
    assert main(["docs", "--write", "--readme", str(partial)]) == 2
    assert "headline-numbers, chat-cost-numbers" in capsys.readouterr().err
    assert notes.read_text() == "my notes\n" and partial.read_text() == f"x\n{BEGIN}\nold\n{END}\n"
    for missing in (tmp_path / "nope.md", tmp_path):
        assert main(["docs", "--check", "--readme", str(missing)]) == 2
        assert "--readme:" in capsys.readouterr().err
