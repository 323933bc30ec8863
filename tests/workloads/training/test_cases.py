"""The published-run tables as cases: the Blackwell NeMo / Megatron-Bridge rows (issue 11, item 1)."""

from collections import defaultdict

import pytest

from workloads.training.cases import _rows, blackwell_cases


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
