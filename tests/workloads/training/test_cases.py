"""The published training cases as data (workloads/training/cases.py): AMD Instinct rows."""

import csv
from importlib import resources

import pytest

from workloads.training.cases import amd_training_cases


def _amd_rows():
    text = resources.files("workloads.training").joinpath("data/amd_instinct_training.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def _reproducer_flops_per_token(L, E, K, H, J, V, T, window=0):
    """AMD-AIG-AIMA/pytorch-training-benchmark llama.py / mistral.py estimate_flops_per_token:
    3 x (2 x matmul params + 2 E V) per token, plus non-causal attention 12 L T E (window W: 12 L W E)."""
    hd = E // H
    matmul = 3 * K * E + E * (H + 2 * J) * hd + E * H * hd
    return 6 * (L * matmul + E * V) + 12 * L * (min(window, T) if window else T) * H * hd


def _torchtitan_flops_per_token(L, E, K, H, J, V, T):
    """torchtitan get_num_flop_per_token: 6 x non-embedding params (norms and output included) + 12 L H hd T."""
    hd = E // H
    per_layer = 3 * K * E + E * (H + 2 * J) * hd + E * H * hd + 2 * E
    return 6 * (L * per_layer + E + E * V) + 12 * L * H * hd * T


def test_amd_flops_per_token_is_each_reproducers_own_count():
    for r in _amd_rows():
        T = int(r["seq"])
        if r["model"] == "llama3.1-70b":
            want = _torchtitan_flops_per_token(80, 8192, 28672, 64, 8, 128256, T)
        else:
            window = 1024 if r["model"].startswith("mistral") else 0
            want = _reproducer_flops_per_token(32, 4096, 14336, 32, 8, 128256, T, window)
        assert int(r["flops_per_token"]) == want, r["id"]
        # the tokens/s column is the published TFLOP/s over that count
        tokens = float(r["measured_tflops_per_gpu"]) * 1e12 / want
        assert float(r["tokens_per_s_per_gpu"]) == pytest.approx(tokens, abs=0.1), r["id"]


def test_amd_cases_are_the_csv_rows_with_their_roles_and_citations():
    cases = amd_training_cases()
    rows = _amd_rows()
    assert [c["case"] for c in cases] == [r["id"] for r in rows] and len(cases) == 14
    assert {c["use"] for c in cases} == {"fit", "holdout"}
    assert all(c["gpu"] == "MI300X" for c in cases if c["use"] == "fit")     # MI325X never fitted
    assert all("rocm/pytorch-training:v25.2" in c["source"] and "row:" in c["source"] for c in cases)
    assert len(amd_training_cases("MI325X")) == 7 and len(amd_training_cases("MI300X", "fit")) == 4
    for c in cases:
        t = c["config"]["train"]
        assert t["zero"] == 3 and t["tp"] == 1
        assert t["global_batch"] == t["micro_batch"] * 8 * (1 if "70b" in c["case"] else 8)


def test_amd_fp8_rows_run_the_four_kv_heads_transformer_engine_was_given():
    # the reproducer passes num_gqa_groups = heads / kv_heads = 4 to te.TransformerLayer
    from sim.config import load_config
    from workloads.model import ModelSpec
    for c in amd_training_cases():
        m = ModelSpec.from_section(load_config(data=c["config"]).model)
        assert m.kv_heads == (4 if c["config"]["train"]["precision"] == "fp8" else 8), c["case"]
        assert m.sliding_window == (1024 if "mistral" in c["case"] else 0)
