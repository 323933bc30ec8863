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


def test_hardware_tables_define_gpus_and_report_bad_keys():
    from sim import hardware
    cfg = load_config(data={"topology": {"gpu": "V100S-cfg", "gpus": 1},
                            "hardware": {"V100S-cfg": {"like": "A100-SXM-40GB",
                                                       "dense_tflops": {"fp16": 130, "bf16": 0, "fp32": 16.4},
                                                       "hbm_GB": 32, "hbm_GBps": 1134, "scaleup_GBps": 16}}})
    assert cfg.hardware["V100S-cfg"]["hbm_GB"] == 32
    assert hardware.gpu("V100S-cfg").peak_flops("fp16") == 130e12
    with pytest.raises(ConfigError) as err:
        load_config(data={"hardware": {"X": {"like": "A100-SXM-40GB", "hbm_GB": "lots"}}})
    assert err.value.key == "hardware.X.hbm_GB"
    with pytest.raises(ConfigError) as err:
        load_config(data={"hardware": {"X": 3}})
    assert err.value.key == "hardware"
