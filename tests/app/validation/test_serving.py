"""Serving validation against TensorRT-LLM maximum-throughput measurements (data/inference.csv):
median |error| <= 10 %, every row within 20 %."""

import statistics

import pytest

from sim.app.validation import serving as validation


def test_shipped_cases_carry_their_citation():
    rows = validation.cases()
    assert len(rows) == 20
    assert all(r["source"] and r["source_url"] and r["value"] for r in rows)


def test_trtllm_max_throughput_within_stated_error():
    rows = [validation.run_case(r) for r in validation.cases()]
    errors = [abs(r["error"]) for r in rows]
    assert all(set(r) >= {"case", "metric", "predicted", "measured", "error", "source"} for r in rows)
    assert statistics.median(errors) <= 0.10
    worst = max(rows, key=lambda r: abs(r["error"]))
    assert abs(worst["error"]) <= 0.20, worst
    # issue 12: with decode steps padded to the overview's CUDA graphs and trtllm-bench's own limits
    # the constants fitted to these rows without padding (trtllm step 500 us, KV reads at the copy
    # rate) read median 4.1 %, worst 10.4 %; refitted (step hidden by the overlap scheduler, KV
    # reads 1.04 x the copy rate) 1.8 % / 8.6 %; with a mixed step's attention as two launches (engines.toml
    # [trtllm] split_mixed_attention) 2.2 % / 6.5 %: refitting the KV reads on these rows (1.06-1.09) moved every
    # held-out check of them the wrong way and was not adopted (issue 12, refit16: calibration.toml [attention])
    assert statistics.median(errors) <= 0.03 and abs(worst["error"]) <= 0.10


@pytest.mark.slow
def test_large_models_fitted_and_held_out():
    """Llama 3.3 70B and 3.1 405B rows of the same TensorRT-LLM overview, at the published
    request counts. The B200 serving constants were fitted to the 10 Llama 3.3 70B B200 FP4 rows
    only; the 30 other FP4 rows (GB200, 405B TP4) and the 40 Hopper FP8 rows (H200 TP1 / H100 TP2
    70B, TP8 405B) are held out. Before the fit every FP4 row was over-predicted by 16-67 %.

    Issue 12 (405B): the rows ran with 2048 sequences / 8192 tokens and unpadded decode, which
    over-predicted every decode-heavy 405B row (H100 TP8 +16 to +34 %, B200 / GB200 TP4 +21 to
    +22 % at 500/2000 and 1000/2000). trtllm-bench runs with its own heuristic limits and the
    overview's CUDA graphs pad every decode-only step to the next captured size, up to that
    max_batch_size (engines.trtllm_bench_limits, IterationCost.padded): the KV pool holds fewer
    sequences than the heuristic's optimistic batch (B200 TP4 1000/2000: 663 of 896), so decode
    runs the 896-row graph. Those rows are now within 10 %, 405B H100 within 11 % but one."""
    from sim.app import validation as suites
    assert "serving-large" in suites.SUITES
    rows = validation.large_cases()
    assert len(rows) == 80 and sum(r["fit"] == "fit" for r in rows) == 10
    assert all(r["source"] and r["source_url"] and r["value"] for r in rows)
    res = {r["id"]: validation.run_case(r)["error"] for r in rows}
    fitted = [abs(res[r["id"]]) for r in rows if r["fit"] == "fit"]
    # issue 12, refit16: serve_fp4_gemm_factor 0.6 -> 0.61 with the split mixed-step attention (fit rows median
    # 3.9 -> 2.9 %, worst 9.1 -> 9.9 %); the fit's 0.637 would take the 405B TP4 rows below past their bounds
    assert statistics.median(fitted) <= 0.06 and max(fitted) <= 0.10
    for prec in ("FP4", "FP8"):
        held = [abs(res[r["id"]]) for r in rows if r["fit"] != "fit" and r["precision"] == prec]
        assert statistics.median(held) <= 0.065, prec
    # the faults of issue 12, each row before -> after
    for row, bound in [("405B_B200_tp4_500_2000", 0.05), ("405B_B200_tp4_1000_2000", 0.10),
                       ("405B_GB200_tp4_500_2000", 0.12), ("405B_GB200_tp4_1000_2000", 0.12),
                       ("405B_H100_tp8_128_2048", 0.05), ("405B_H100_tp8_1000_2000", 0.12),
                       ("405B_H100_tp8_2048_2048", 0.10), ("405B_H100_tp8_20000_2000", 0.12)]:
        assert abs(res[f"trtllm_Llama_3.1_{row}"]) <= bound, (row, res[f"trtllm_Llama_3.1_{row}"])
    others = {k: abs(v) for k, v in res.items() if not k.endswith("405B_H100_tp8_128_4096")}
    assert max(others.values()) <= 0.16, max(others.items(), key=lambda kv: kv[1])
    # Remaining gap: 405B FP8 on 8 x H100 at 128/4096 (+30 %, from +34 %). Its KV pool holds 211
    # sequences (27 GiB per GPU after 47.7 GiB of weights) and decode runs the 256-row graph; the
    # measured 3,116 tokens/s needs a ~68 ms step where the model gives 53 ms, yet 2048/2048 (217
    # sequences, the same 256-row graph) is within 9 %. Neither a smaller KV pool (it would take
    # 2048/2048 to -15 %) nor a slower all-reduce (H200 TP8 rows to -10 %) fits both. The
    # overview falls back to kv_cache_free_gpu_mem_fraction 0.90 "or lower" where 0.95 runs out of
    # memory (405B on 80 GB is the tightest fit of the table): this row reads +18 % at 0.90 and
    # +6.5 % at 0.80, but the fraction each row ran at is not published.
    assert res["trtllm_Llama_3.1_405B_H100_tp8_128_4096"] <= 0.30


@pytest.fixture(scope="module")
def published():
    return validation.run_published()


def test_published_runs_within_tolerance_or_explained(published):
    """Every case of ../shared/cases/serving we own (copied with its citation): within 15 % on its
    headline figure and 25 % on latencies, or a recorded gap whose error must stay under its bound."""
    rows = published
    assert {r["case"] for r in rows} >= {"qwen3_32b_h100_32k_throughput", "qwen3_8b_h100_c4_ttft",
                                          "qwen3_8b_h100_eagle3_tpot", "dsr1_h200_tp8_c64_tpot",
                                          "r1llama70b_pd_h100_ttft"}
    for r in rows:
        assert r["source"], r
        if not r["gap"]:
            assert abs(r["error"]) <= r["tolerance"], r
        else:
            assert abs(r["error"]) <= r["bound"], r


def test_low_load_ttft_no_longer_off_by_a_factor(published):
    # Qwen3-8B on one H100, concurrency 4 (vLLM): 64 ms measured; 9.8 ms before host time was modelled
    # concurrency 2, 4 and 8: held out of the fit of vLLM's per-request path (concurrency 1)
    for case in ("qwen3_8b_h100_c2_ttft", "qwen3_8b_h100_c4_ttft", "qwen3_8b_h100_c8_ttft"):
        row = next(r for r in published if r["case"] == case)
        assert abs(row["error"]) <= 0.25, row


def test_speculative_decoding_tpot_within_tolerance(published):
    # EAGLE3 on Qwen3-8B-FP8 (SGLang): 3.75 ms measured; 2.30 ms before the draft/verify/host terms
    row = next(r for r in published if r["case"] == "qwen3_8b_h100_eagle3_tpot")
    assert abs(row["error"]) <= 0.15, row


def test_kv_pool_sizes_match_engine_logs():
    """Issue 12 item 1: the KV pool of each logged vLLM / SGLang start-up (kv_logs.csv) within 5 %,
    or its recorded gap's bound; the held-out v0.11.0 rows (Qwen3-32B TP1: +78 % before, Llama-3.3-70B
    FP8 TP2) within 5 %."""
    rows = validation.run_kv_cases()
    assert len(rows) >= 7 and {r["fit"] for r in rows} == {"fit", "held-out"}
    for r in rows:
        assert r["source"], r
        assert abs(r["error"]) <= (r["bound"] if r["gap"] else r["tolerance"]), r
    held = {r["case"]: r for r in rows if r["fit"] == "held-out" and not r["gap"]}
    assert {"kv_vllm011_qwen3_32b_h100", "kv_vllm011_llama33_70b_fp8_tp2_h100"} <= set(held)
    assert all(abs(r["error"]) <= 0.05 for r in held.values())


def test_trtllm_ledger_matches_its_logged_terms():
    """Issue 12 (trtkvlog): TensorRT-LLM's own KV-sizing log lines (trtllm_kv_logs.csv) against the trtllm
    profile's ledger term by term: KV bytes per token exact, weights as loaded within 5 % (GPT-OSS-120B:
    -4.5 % before the MXFP4 expert padding, -0.4 % with it), the Llama-3.1-8B FP8 H100 pool within 5 %, the
    activation peak within its recorded gap's bound."""
    rows = {r["case"]: r for r in validation.run_trtllm_kv_cases()}
    assert len(rows) >= 5 and {r["fit"] for r in rows.values()} == {"held-out"}
    for r in rows.values():
        assert r["source"], r
        assert abs(r["error"]) <= (r["bound"] if r["gap"] else r["tolerance"]), r
    assert abs(rows["trtllm_kv_trtllm11rc3_gptoss120b_gb10_weights"]["error"]) <= 0.01
    # GB10 (SM121) runs GPT-OSS's experts as W4A8_MXFP4_MXFP8 on the CUTLASS backend (get_mxfp4_quant_algo):
    # the CUTLASS padding (2944 x 2944), not the weight-only TRITON one (K 128 / N 256, +0.9 %)
    assert rows["trtllm_kv_trtllm11rc3_gptoss120b_gb10_weights"]["error"] < 0.0
    assert abs(rows["trtllm_kv_trtllm020_llama31_8b_fp8_h100_kv_cache_tokens"]["error"]) <= 0.02
    # unified memory (GB10): its pool and non-torch term are not compared
    assert not any("gb10_kv_cache_tokens" in c or "gb10_non_torch" in c for c in rows)


def test_trtllm_kv_logs_read_strictly(tmp_path, monkeypatch):
    """A copy of trtllm_kv_logs.csv without a column the suite reads, or with a logged term or a limit
    that is not a number, or a precision dcsim refuses: a ConfigError naming the file / column and the
    row, never a KeyError or ValueError."""
    from sim.errors import ConfigError
    row = dict(validation.trtllm_kv_cases()[1])
    header = validation.TRTLLM_KV_LOGS.read_text().splitlines()[0].split(",")
    copy = tmp_path / "trtllm_kv_logs.csv"
    copy.write_text(",".join(h for h in header if h != "logged_weights_GiB") + "\n")
    monkeypatch.setattr(validation, "TRTLLM_KV_LOGS", copy)
    with pytest.raises(ConfigError) as e:
        validation.run_trtllm_kv_cases()
    assert e.value.key == "trtllm_kv_logs.csv.logged_weights_GiB"
    for key, value in (("tp", "one"), ("free_fraction", "inf"), ("max_batch_size", ""), ("dp_attention", "Yes")):
        with pytest.raises(ConfigError) as e:
            validation.trtllm_kv_ledger(dict(row, **{key: value}))
        assert e.value.key == f"trtllm_kv_logs.{key}", e.value.key
    with pytest.raises(ConfigError) as e:
        validation.trtllm_kv_ledger(dict(row, precision="fp7"))
    assert "precision" in e.value.key and repr(row["id"]) in str(e.value)
    copy.write_text("\n".join([",".join(header), ",".join(f'"{row[h]}"' for h in header)
                               .replace('"63.52"', '"63.5 GiB"')]) + "\n")
    with pytest.raises(ConfigError) as e:
        validation.run_trtllm_kv_cases()
    assert e.value.key == "trtllm_kv_logs.logged_weights_GiB" and "63.5 GiB" in str(e.value)


def test_one_mxfp4_expert_padding_per_run():
    """GPT-OSS-120B MXFP4 experts on one GPU under trtllm: weight-only on Hopper (TRITON backend), its K 128 /
    N 256 padding held in the weights and no CUTLASS expert_padding item; W4A8-MXFP8 on Blackwell (CUTLASS), the
    CUTLASS 128-element padding (2.55 GiB) and no TRITON padding. Never both."""
    from sim.hardware import GiB
    row = dict(validation.trtllm_kv_cases()[1])
    hop_items, _, hop = validation.trtllm_kv_ledger(dict(row, ledger_gpu="H200-SXM-141GB", expert_compute_precision=""))
    bw_items, _, bw = validation.trtllm_kv_ledger(dict(row, ledger_gpu="GB200", expert_compute_precision="mxfp8"))
    assert hop.weight_only_experts and hop.expert_pad_bytes / GiB == pytest.approx(3.41, abs=0.05)
    assert hop_items.get("expert_padding", 0.0) == 0.0
    assert not bw.weight_only_experts and bw.expert_pad_bytes == 0.0
    assert bw_items["expert_padding"] / GiB == pytest.approx(2.55, abs=0.01)


def test_dynamo_start_burst_tail():
    """Dynamo 4P(TP1)+1D(TP4) (ai-dynamo/dynamo#402): GenAI-Perf ran 128 requests at concurrency 32,
    so the closed loop's start is a quarter of the run. Its 32 first prompts reach the 4 prefill
    workers at once and the last waits for 8 prefills on its worker: measured max TTFT 4,052 ms,
    p99 4,028 ms. The model's p99 is that queue: ~8 of its own prefill times (closed form), within
    25 % of the measured tail (its prefill is ~1.2x fast: the throughput row's gap)."""
    from sim.app.runner import run
    from sim.config import load_config
    cfg = load_config(validation.PUBLISHED_DIR / "dynamo_r1llama70b_pd_h100.toml")
    assert cfg.workload.requests == 128
    result = run(cfg)
    p99 = float(result.summary["ttft_p99_s"])
    from sim.hardware import gpu as gpu_spec
    from workloads.model import ModelSpec
    from workloads.serving.cost import IterationCost
    prefill = IterationCost(ModelSpec.from_section(cfg.model), gpu_spec(cfg.topology.gpu), "fp8", "bf16",
                            1).prefill_time(3000)
    assert 7.5 * prefill <= p99 <= 9.0 * prefill, (p99, prefill)
    assert abs(p99 / 4.028 - 1.0) <= 0.25, p99


def test_kv_logs_read_strictly(tmp_path, monkeypatch):
    """A copy of kv_logs.csv without a column the suite reads, with a short line, or with an
    architecture / limit / measurement that is not a number, an unknown engine or GPU: a ConfigError
    naming the file or column and the row, never a KeyError, ValueError or ZeroDivisionError."""
    from sim.errors import ConfigError
    rows = validation.kv_cases()
    row = dict(rows[0])
    header = validation.KV_LOGS.read_text().splitlines()[0].split(",")
    copy = tmp_path / "kv_logs.csv"
    monkeypatch.setattr(validation, "KV_LOGS", copy)
    copy.write_text(",".join(h for h in header if h != "measured_kv_GiB") + "\n")
    with pytest.raises(ConfigError) as e:
        validation.run_kv_cases()
    assert e.value.key == "kv_logs.csv.measured_kv_GiB"
    copy.write_text(",".join(header) + "\n" + ",".join(f'"{row[h]}"' for h in header[:-2]) + "\n")
    with pytest.raises(ConfigError) as e:
        validation.run_kv_cases()
    assert e.value.key == "kv_logs.csv" and "line 2" in str(e.value)
    for key, value in (("layers", "32.5"), ("tp", "0"), ("hidden", ""), ("experts", "nan"), ("gpu", "TPU"),
                       ("tied_embeddings", "yes"), ("kv_precision", "int8")):
        with pytest.raises(ConfigError) as e:
            validation.kv_case_cost(dict(row, **{key: value}))
        assert e.value.key == f"kv_logs.{key}" and repr(row["id"]) in str(e.value), (key, str(e.value))
    for key, value in (("gpu_memory_utilization", "inf"), ("max_batch_size", "many"), ("engine", "llama.cpp"),
                       ("measured_kv_GiB", "")):
        bad = dict(row, **{key: value})
        copy.write_text(",".join(header) + "\n" + ",".join(f'"{bad[h]}"' for h in header) + "\n")
        with pytest.raises(ConfigError) as e:
            validation.run_kv_cases()
        assert e.value.key.startswith("kv_logs.") and repr(row["id"]) in str(e.value), (key, str(e.value))


@pytest.mark.parametrize("table", ["inference", "inference_large", "inference_heldout"])
def test_inference_tables_read_strictly(table, tmp_path, monkeypatch):
    """A copy of an inference*.csv table without a column case_config reads, or with a short line:
    a ConfigError naming the file and column / line; a row whose tp, lengths, ep, dp_attention, GPU,
    model, precision, gpu_count or measured value is not what the suite reads: a ConfigError keyed
    ``<table>.<column>`` naming the row, raised before any simulation."""
    from sim.app.validation import serving_heldout, serving_large
    from sim.errors import ConfigError
    module, attr, read = {"inference": (validation, "DATA", validation.cases),
                          "inference_large": (validation, "DATA_LARGE", validation.large_cases),
                          "inference_heldout": (serving_heldout, "DATA_HELDOUT", serving_heldout.heldout_cases)}[table]
    path = getattr(module, attr)
    assert path.stem == table
    row = next(r for r in read() if "GPT-OSS" in r["model"]) if table == "inference_heldout" else read()[0]
    header = path.read_text().splitlines()[0].split(",")
    copy = tmp_path / f"{table}.csv"
    monkeypatch.setattr(module, attr, copy)
    copy.write_text(",".join(h for h in header if h != "input_len_tokens") + "\n")
    with pytest.raises(ConfigError) as e:
        read()
    assert e.value.key == f"{table}.csv.input_len_tokens"
    copy.write_text(",".join(header) + "\n" + ",".join(f'"{row[h]}"' for h in header[:-1]) + "\n")
    with pytest.raises(ConfigError) as e:
        read()
    assert e.value.key == f"{table}.csv" and "line 2" in str(e.value)
    for key, value in (("tp", "two"), ("pp", "1.5"), ("ep", "nan"), ("input_len_tokens", ""),
                       ("output_len_tokens", "1k"), ("dp_attention", "Y"), ("gpu_type", "TPU v5"),
                       ("model", "GPT-5"), ("value", "inf"), ("gpu_count", "eight")):
        with pytest.raises(ConfigError) as e:
            validation.run_case(dict(row, **{key: value}), max_requests=1, where=table)
        assert e.value.key == f"{table}.{key}" and repr(row["id"]) in str(e.value), (key, str(e.value))
    if table == "inference_heldout":
        with pytest.raises(ConfigError) as e:
            validation.case_config(dict(row, precision="INT8"), where=table)
        assert e.value.key == f"{table}.precision"
        # the suites name their own table
        monkeypatch.setattr(serving_heldout, "DATA_HELDOUT", path)
        monkeypatch.setattr(serving_heldout, "heldout_cases", lambda: [dict(row, tp="two")])
        with pytest.raises(ConfigError) as e:
            serving_heldout.run_suite(max_requests=1)
        assert e.value.key == "inference_heldout.tp"
    if table == "inference_large":
        monkeypatch.setattr(serving_large, "large_cases", lambda: [dict(row, ep="x")])
        with pytest.raises(ConfigError) as e:
            serving_large.run_suite(max_requests=1)
        assert e.value.key == "inference_large.ep"
