"""Presets: every file builds, validates, and carries the numbers its comment cites."""

from __future__ import annotations

import pytest

from sim.config import load_config
from sim.errors import ConfigError
from topologies import build, preset_description, preset_names, preset_spec

SMALL = {  # smaller instances of the big presets keep the suite fast; full sizes in benchmarks/
    "llama3-h100-roce": {"gpus": 6144},
    "dgx-a100-superpod": {"gpus": 1024},
    "tpu-v4-pod": {"gpus": 512, "torus_dims": [8, 8, 8]},
}


def test_required_presets_exist():
    assert {"dgx-a100-superpod", "dgx-h100-superpod", "llama3-h100-roce", "gb200-nvl72", "tpu-v4-pod",
            "hgx-h100-8", "mi300x-node"} <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_preset_builds_and_validates(name):
    topo = build(preset_spec(name, **SMALL.get(name, {})))
    topo.validate()
    assert topo.name == name
    assert preset_description(name)
    g0, g1 = topo.gpu(0), topo.gpu(len(topo.gpus) - 1)
    assert len(topo.route(g0, g1)) >= 1


def test_preset_loads_through_config():
    cfg = load_config(data={"topology": {"preset": "llama3-h100-roce", "gpus": 6144}})
    topo = build(cfg.topology)
    m = topo.meta
    assert (m["pod_gpus"], m["pods"], m["oversubscription"]) == (3072, 2, [1.0, 7.0])
    assert m["scaleout_GBps_per_gpu"] == pytest.approx(50.0)
    # Llama 3: a ToR holds one rack of 16 GPUs; pods at full bisection, 1:7 above them
    assert m["leaf_down_ports"] == 16
    cap = topo.capacity
    up = sum(cap[i] for i in range(topo.num_links) if topo.link_class[i] == "spine-core"
             and topo.attr(topo.link_dst[i], "tier") == 3)
    assert up == pytest.approx(6144 * 50e9 / 7)


def test_selene_and_superpods():
    a100 = build(preset_spec("dgx-a100-superpod", gpus=1024))
    assert a100.meta["scaleout_GBps_per_gpu"] == pytest.approx(25.0)      # 8 x 200 Gb/s per 8 GPUs
    assert a100.meta["scaleup_GBps"] == pytest.approx(300.0)
    h100 = build(preset_spec("dgx-h100-superpod"))
    assert h100.meta["fabric"] == "rail-optimized" and h100.meta["rail_group_servers"] == 32
    assert h100.meta["leaves"] == 32                 # 4 scalable units x 8 rail leaves


def test_gb200_domains_span_trays():
    topo = build(preset_spec("gb200-nvl72", gpus=144))
    assert topo.meta["scaleup_domain"] == 72 and topo.meta["servers"] == 36
    nvs = [n for n, k in enumerate(topo.node_kind) if k == "nvswitch"]
    assert len(nvs) == 2
    a, b = topo.gpu(0), topo.gpu(71)                 # trays 0 and 17 of one rack
    assert topo.attr(a, "node") != topo.attr(b, "node")
    assert [topo.link_class[i] for i in topo.route(a, b)] == ["nvlink", "nvlink"]
    assert topo.meta["scaleout_GBps_per_gpu"] == pytest.approx(50.0)


def test_tpu_pod_default_is_16_cubed():
    spec = preset_spec("tpu-v4-pod")
    assert spec.gpus == 4096 and spec.torus_dims == [16, 16, 16]


def test_unknown_preset():
    with pytest.raises(ConfigError) as err:
        preset_spec("dgx-z100")
    assert err.value.key == "topology.preset"


def test_hgx_b200_preset_names_its_gpu():
    # a fresh user's review: B200 HGX runs were labelled preset=hgx-h100-8 (that preset with the
    # gpu overridden); the B200 server has its own preset, so the label names the system
    spec = preset_spec("hgx-b200-8")
    assert spec.gpu == "B200-180GB"
    topo = build(spec)
    assert topo.meta["scaleup_domain"] == 8 and len(topo.gpus) == 8
    assert topo.meta["scaleup_GBps"] == pytest.approx(900.0)        # NVLink 5, per direction


def test_example_sweeps_label_each_system_by_its_own_preset():
    """Where an example sweep varies ``topology.preset`` together with ``topology.gpu`` (a zip),
    each point's preset is the one for that GPU, so the sweep's ``preset=`` partition names the
    system that was simulated (not another GPU's preset with the GPU overridden)."""
    import tomllib
    from pathlib import Path
    runs = Path(__file__).resolve().parents[2] / "runs"
    checked = 0
    for path in sorted(runs.glob("*.toml")):
        zipped = tomllib.loads(path.read_text()).get("zip", {})
        if "topology.preset" in zipped and "topology.gpu" in zipped:
            for preset, gpu in zip(zipped["topology.preset"], zipped["topology.gpu"]):
                assert preset_spec(preset).gpu == gpu, (path.name, preset, gpu)
                checked += 1
    assert checked >= 5
