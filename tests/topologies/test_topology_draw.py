"""Drawings: a PNG is written for every preset's small instance; big graphs are refused."""

from __future__ import annotations

import pytest

from sim.errors import ConfigError
from topologies import build, preset_names, preset_spec
from topologies.draw import draw, draw_preset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", preset_names())
def test_draw_preset_writes_png(tmp_path, name):
    out = tmp_path / f"{name}.png"
    topo = draw_preset(name, out)
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert len(topo.node_names) <= 400


def test_draw_preset_small_instance_shows_switch_tiers(tmp_path):
    topo = draw_preset("llama3-h100-roce", tmp_path / "x.png")
    tiers = {topo.attr(n, "tier") for n, k in enumerate(topo.node_kind) if k == "switch"}
    assert tiers == {1, 2, 3}


def test_draw_refuses_big_graphs(tmp_path):
    topo = build(preset_spec("dgx-h100-superpod", gpus=256))
    with pytest.raises(ConfigError):
        draw(topo, tmp_path / "big.png", max_nodes=400)
