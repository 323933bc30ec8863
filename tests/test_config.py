"""Config loading: presets, dotted overrides, validation errors naming the key."""

import pytest

from sim.config import apply_overrides, load_config, parse_override
from sim.errors import ConfigError


def test_override_values_are_toml_literals_or_bare_strings():
    assert parse_override("train.tp=4") == (["train", "tp"], 4)
    assert parse_override('topology.gpu="H100-SXM-80GB"') == (["topology", "gpu"], "H100-SXM-80GB")
    assert parse_override("topology.gpu=H100-SXM-80GB") == (["topology", "gpu"], "H100-SXM-80GB")
    assert parse_override("topology.oversubscription=[1.0, 7.0]")[1] == [1.0, 7.0]
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


def test_preset_loads_first_and_explicit_keys_override_it():
    cfg = load_config(data={"topology": {"preset": "dgx-a100-superpod", "gpus": 64}})
    assert cfg.topology.gpu == "A100-SXM-80GB" and cfg.topology.nic_Gbps == 200
    assert cfg.topology.gpus == 64
    cfg = load_config(data={"model": {"preset": "llama3-70b"}}, overrides=["model.layers=2"])
    assert cfg.model.layers == 2 and cfg.model.hidden == 8192


@pytest.mark.parametrize("data,key", [
    ({"train": {"tpp": 4}}, "train.tpp"),
    ({"train": {"tp": "four"}}, "train.tp"),
    ({"topology": {"oversubscription": 0.5}}, "topology.oversubscription"),
    ({"serve": {"scheduler": "fifo"}}, "serve.scheduler"),
    ({"bogus": {}}, "bogus"),
    ({"model": {"preset": "gpt-9"}}, "model.preset"),
])
def test_errors_name_the_key_path(data, key):
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert key in str(err.value)
    assert err.value.exit_code == 2


def test_every_error_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config(data={"train": {"tp": "x", "pp": "y"}})
    assert "train.tp" in str(err.value) and "train.pp" in str(err.value)
