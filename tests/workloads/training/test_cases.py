"""The published training cases as data (workloads/training/cases.py): AMD Instinct rows and the
Blackwell NeMo / Megatron-Bridge rows (issue 11, item 1)."""

import csv
from collections import defaultdict
from importlib import resources

import pytest

from workloads.training.cases import _rows, amd_training_cases, blackwell_cases


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



def test_blackwell_rows_copied_consistently():
    # a transcription check: within one release's table and model, NVIDIA's model TFLOP/s per GPU
    # is the same FLOPs per token times tokens/s, so TFLOP/s / tokens/s agrees across systems
    # and recipes to the tables' rounding
    ratio = defaultdict(list)
    for r in _rows("nemo_blackwell_pretrain.csv"):
        if float(r["model_tflops_per_gpu"]) > 0:
            ratio[(r["release"], r["model"])].append(float(r["model_tflops_per_gpu"]) / float(r["tokens_per_s_per_gpu"]))
    assert len(ratio) >= 12
    for key, xs in ratio.items():
        assert max(xs) / min(xs) - 1 < 0.01, (key, xs)


def test_blackwell_fit_set_is_two_sizes_of_one_recipe_and_the_rest_is_held_out():
    rows = blackwell_cases()
    fit = [c for c in rows if c["use"] == "fit"]
    assert len(rows) == 52 and len(fit) == 9
    assert {c["model"] for c in fit} == {"llama3_8b", "llama31_405b"}
    assert {c["recipe"] for c in fit} == {"fp8_cs"}
    assert {c["gpu"] for c in fit} == {"B200", "GB200", "GB300"}
    held = [c for c in rows if c["use"] == "holdout"]
    assert {c["recipe"] for c in held} == {"fp8_cs", "fp8_ds", "mxfp8", "nvfp4"}
    assert {"llama3_70b", "gpt3_175b", "nemotron4_15b", "nemotron4_340b"} <= {c["model"] for c in held}


def test_blackwell_case_layout_follows_the_row():
    c = next(c for c in blackwell_cases("B200") if c["case"] == "nemo2511_llama31_405b_b200x128_fp8_cs")
    t = c["config"]["train"]
    assert (t["tp"], t["pp"], t["cp"], t["dp"], t["virtual_stages"]) == (4, 8, 2, 2, 8)
    assert t["sequence_parallel"] and t["zero"] == 1 and t["precision"] == "fp8"
    assert c["config"]["topology"]["gpu"] == "B200-180GB" and c["measured"] == 661
    fsdp = next(c for c in blackwell_cases("GB200") if c["case"] == "nemo2511_llama3_70b_gb200x64_fp8_cs_fsdp")
    assert fsdp["config"]["train"]["zero"] == 3 and fsdp["config"]["topology"]["gpu"] == "GB200"
    assert next(c for c in blackwell_cases(recipe="nvfp4"))["config"]["train"]["precision"] == "fp4"


def test_405b_at_pp16_vp8_keeps_every_chunk_a_layer():
    # 126 layers cannot fill 16 x 8 = 128 chunks (the recipes give the embedding and the loss
    # chunks of their own): the most virtual stages that split the layers, 4
    c = next(c for c in blackwell_cases("GB200") if c["case"] == "nemo2602_llama31_405b_gb200x256_nvfp4")
    assert c["config"]["train"]["pp"] == 16 and c["config"]["train"]["virtual_stages"] == 4


def test_blackwell_rows_run_as_their_recipes_ran():
    # Megatron-Bridge / NeMo perf recipes: TP communication overlap for TP > 1 except NVFP4
    # (llama3_llm_pretrain.py: tp_comm_overlap = False if precision == "nvfp4"); each row's FP8
    # recipe as train.fp8_recipe (FP8-CS = Transformer Engine's tensorwise current scaling)
    from workloads.training.cases import blackwell_cases
    rows = blackwell_cases()
    want = {"fp8_cs": "tensorwise", "fp8_ds": "delayed", "mxfp8": "mxfp8", "nvfp4": "nvfp4"}
    for c in rows:
        tr = c["config"]["train"]
        assert tr["fp8_recipe"] == want[c["recipe"]], c["case"]
        assert tr["tp_comm_overlap"] == (tr["tp"] > 1 and c["recipe"] != "nvfp4"), c["case"]
    assert sum(c["config"]["train"]["tp_comm_overlap"] for c in rows) >= 20
