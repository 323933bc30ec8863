"""The nccl-tests table of ``dcsim collective`` (sim/app/nccl_table.py)."""

from __future__ import annotations

import pytest

from sim.app.nccl_table import nccl_table
from sim.config import load_config
from sim.errors import ConfigError


def test_a_size_larger_than_one_gpu_s_memory_is_refused_naming_sizes():
    # --sizes 1T ran a 1 TiB all-reduce on 80 GB GPUs without a word
    cfg = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 8}})
    with pytest.raises(ConfigError) as e:
        nccl_table(cfg, "all_reduce", "auto", 8, [1 << 20, 1 << 40])
    assert e.value.key == "--sizes" and "H100-SXM-80GB's memory" in str(e.value)
    assert nccl_table(cfg, "all_reduce", "auto", 8, [64 << 30]).num_rows == 1     # 64 GiB fits in 80
