"""InferenceX TensorRT-LLM, vLLM and SGLang runs at a known concurrency (sim.app.validation.serving_inferencex;
issue 12)."""

from __future__ import annotations

import csv

import pytest

from sim.app import validation
from sim.app.validation import serving_inferencex as ix
from sim.errors import ConfigError

HOPPER = ix.DATA.parent / "inferencex_trtllm.csv"


def _hopper_rows() -> dict[str, dict]:
    with HOPPER.open() as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def test_every_inferencex_file_is_read_and_every_row_builds():
    assert "serving-inferencex" in validation.SUITES
    assert HOPPER in ix.data_files()
    rows = ix.inferencex_rows()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) and set(_hopper_rows()) <= set(ids)
    for r in rows:
        assert r["fit"] in ("fit", "held-out"), r["id"]
        assert float(r["value"]) > 0 and float(r["tpot_or_itl_ms"]) > 0, r["id"]
        cfg = ix.case_config(r)
        assert cfg.workload.concurrency == int(r["concurrency"])
    # the Hopper file: nothing fitted to it; DEP rows run attention DP with ep = tp
    hop = _hopper_rows()
    assert len(hop) == 26 and all(r["fit"] == "held-out" for r in hop.values())
    assert sum(r["pd_disaggregated"] == "yes" for r in hop.values()) == 11
    dep = ix.case_config(hop["infx_dsr1_fp8_h200_trt_dep8_8192_1024_c64"])
    assert dep.serve.dp_attention and dep.serve.ep == 8
    # trtllm-serve's per-rank max_num_tokens (conc + ISL + 127) // 64 * 64 over the 8 ranks
    assert dep.serve.max_batch_tokens == 8 * ((64 + 8192 + 127) // 64 * 64)
    tep = ix.case_config(hop["infx_dsr1_fp8_h200_trt_tep8_1024_1024_c64"])
    assert not tep.serve.dp_attention and tep.serve.ep == 8 and tep.serve.max_batch_tokens == 1152
    assert tep.workload.input_tokens.min == 820 and tep.workload.requests == 640


def test_cuda_graph_sizes_follow_tensorrt_llm_padding_list():
    assert ix.cuda_graph_batch_sizes(128) == [1, 2, 4] + [8 * i for i in range(1, 17)]
    assert ix.cuda_graph_batch_sizes(512)[-3:] == [128, 256, 512]
    assert ix.cuda_graph_batch_sizes(200)[-2:] == [128, 200]


def test_a_bad_row_names_its_column():
    row = dict(_hopper_rows()["infx_dsr1_fp8_h200_trt_tep8_1024_1024_c4"])
    with pytest.raises(ConfigError, match="concurrency"):
        ix.case_config({**row, "concurrency": ""})
    with pytest.raises(ConfigError, match="max_num_tokens"):
        ix.case_config({**row, "max_num_tokens": "many"})
    with pytest.raises(ConfigError, match="gpu_type"):
        ix.case_config({**row, "gpu_type": "TPU"})
    with pytest.raises(ConfigError, match="tpot_or_itl_ms"):
        ix.run_row({**row, "tpot_or_itl_ms": "n/a"})


@pytest.mark.parametrize("column, text", [
    ("tp", "inf"), ("tp", "1.5"), ("tp", "0"), ("concurrency", "nan"), ("concurrency", "-4"),
    ("random_range_ratio", "nan"), ("random_range_ratio", "1.5"), ("kv_cache_free_gpu_mem_fraction", "0"),
    ("dp_attention", "Yes"), ("precision", ""), ("gpu_type", ""), ("id", "")])
def test_a_malformed_row_is_a_config_error_naming_its_column(column, text):
    """A non-finite, fractional or non-positive count, a fraction outside (0, 1], a yes / no column
    that is neither, an empty required column: a ConfigError naming the column (was an OverflowError,
    a KeyError, a silent truncation of 1.5 to 1, or 'Yes' read as no)."""
    row = dict(_hopper_rows()["infx_dsr1_fp8_h200_trt_tep8_1024_1024_c4"])
    with pytest.raises(ConfigError) as e:
        ix.case_config({**row, column: text})
    assert e.value.key == column


@pytest.mark.parametrize("column, text", [("tpot_or_itl_ms", "nan"), ("tpot_or_itl_ms", "0"),
                                          ("tpot_or_itl_ms", "-3"), ("ttft_ms", "inf"), ("pd_disaggregated", "y")])
def test_a_malformed_measurement_is_a_config_error_not_a_nan_case(column, text):
    """A measured column that is NaN, infinite, zero or negative (was a NaN or negative case, or a
    ZeroDivisionError), checked before anything runs."""
    row = dict(_hopper_rows()["infx_dsr1_fp8_h200_dynamo_tep8x9_1024_1024_c36"])   # a decode worker's row
    with pytest.raises(ConfigError) as e:
        ix.run_row({**row, column: text})
    assert e.value.key == column


def test_hopper_rows_stay_within_their_kinds_bounds():
    """Every Hopper row's TPOT and throughput case within its KINDS bound (trtllm-serve rows: TPOT -13.2
    .. +5.5 %, throughput -5.8 .. +25.3 % (DEP8 8k/1k c64 -7.8 / +18.0 % before issue 12's gptbw16 split the
    mixed steps' attention); Dynamo decode workers' TPOT -10.9 .. -0.7 %)."""
    cases = [c for r in _hopper_rows().values() for c in ix.run_row(r)]
    assert len(cases) == 2 * 15 + 11
    assert all(abs(c.error) <= c.bound for c in cases), [(c.case, round(c.error, 3)) for c in cases
                                                          if abs(c.error) > c.bound]
    by = {c.case: c.error for c in cases}
    # decode-bound TP8 EP8 steps at 16-64 sequences: within 6 %
    for conc in (16, 32, 64):
        assert abs(by[f"infx_dsr1_fp8_h200_trt_tep8_1024_8192_c{conc}:tpot_mean_s"]) < 0.06
    # 4 sequences: within 4 % with the busiest EP rank's expert reads (was 11-12 % short; TEP_GAP)
    for isl_osl in ("1024_1024", "1024_8192", "8192_1024"):
        assert abs(by[f"infx_dsr1_fp8_h200_trt_tep8_{isl_osl}_c4:tpot_mean_s"]) < 0.04
    # and so the Dynamo TP8 EP8 decode workers at 1-8 sequences (DISAGG_GAP)
    for k in ("tep8x9_1024_1024_c36", "tep8x7_8192_1024_c9", "tep8x7_8192_1024_c28"):
        assert abs(by[f"infx_dsr1_fp8_h200_dynamo_{k}:tpot_mean_s"]) < 0.04, k
    # DEP8 at 8 sequences per rank: TPOT inside the tolerance, throughput over by the TTFT (DEP_GAP)
    assert -0.15 < by["infx_dsr1_fp8_h200_trt_dep8_8192_1024_c64:tpot_mean_s"] < 0.0
    # (+18.0 % until gptbw16's split mixed-step attention: the generation MLA absorbed in mixed steps, +25.3 %)
    assert 0.10 < by["infx_dsr1_fp8_h200_trt_dep8_8192_1024_c64:output_tokens_per_s"] < 0.30


def test_disaggregated_rows_price_the_decode_workers_step():
    """A Dynamo row's case is its decode worker's step at Little's-law batch: DEP8 c768 over 3 workers with
    TTFT 8.8 s and TPOT 44 ms holds 768 / 3 x 0.82 = 210 sequences per worker, 26 per rank."""
    hop = _hopper_rows()
    row = hop["infx_dsr1_fp8_h200_dynamo_dep8x3_8192_1024_c768"]
    seqs, ctx = ix.decode_batch(row)
    assert seqs == pytest.approx(210.2, rel=0.01) and ctx == pytest.approx(0.9 * 8192 + 0.45 * 1024)
    (case,) = ix.run_row(row)
    assert case.metric == "tpot_mean_s" and case.measured == pytest.approx(0.044013)
    assert case.predicted == pytest.approx(ix.step_cost(row).batch(seqs, seqs, seqs * ctx, seqs * ctx).time_s)
    with pytest.raises(ConfigError, match="decode_workers"):
        ix.decode_batch({**row, "decode_workers": "x"})


def test_dep_deficit_grows_with_tokens_per_rank():
    """The diagnosis (module docstring): dcsim's pure TP8 EP8 decode step matches the measured 1k/8k TPOTs
    (the least prefill-disturbed rows) at 4-64 sequences, and the DEP8 closed loop at 8 per rank; at the
    blog's 128 per rank its DEP8 step (46-48 ms at a 2,048-token context) is below 0.7x the ~69-81 ms of
    the measured pure decode, while its own TP8 EP8 step at the same 1,024 tokens is 75-82 ms. Pinned:
    fails when the model moves the step."""
    from workloads.serving.dp_attention import DpAttentionCost
    hop = _hopper_rows()
    tep = ix.step_cost(hop["infx_dsr1_fp8_h200_trt_tep8_1024_8192_c64"])
    dep = ix.step_cost(hop["infx_dsr1_fp8_h200_trt_dep8_8192_1024_c64"])
    assert isinstance(dep, DpAttentionCost) and dep.dp == 8 and not isinstance(tep, DpAttentionCost)

    def step(c, tokens, ctx):
        return c.batch(float(tokens), float(tokens), tokens * ctx, tokens * ctx).time_s

    # 4-64 sequences: -1 / +3 / +6 / +4 / -1 % (the busiest EP rank's expert reads, TEP_GAP)
    for conc in (4, 8, 16, 32, 64):
        measured = float(hop[f"infx_dsr1_fp8_h200_trt_tep8_1024_8192_c{conc}"]["tpot_or_itl_ms"]) / 1e3
        assert step(tep, conc, 4600.0) == pytest.approx(measured, rel=0.065), conc
    at128 = step(dep, 8 * 128, 2048.0)
    assert 0.044 < at128 < 0.049 and at128 < 0.7 * 0.069
    assert 0.075 < step(tep, 1024, 2048.0) < 0.082
    # the Dynamo DEP8 decode workers: 13 per rank within 5 %, 26 per rank 7-14 % short (DEP_STEP_DIAGNOSIS);
    # measured 13 -> 26 per rank adds ~2x dcsim's step time per sequence
    err = {k: ix.run_row(hop[k])[0].error for k in ("infx_dsr1_fp8_h200_dynamo_dep8x1_8192_1024_c128",
                                                     "infx_dsr1_fp8_h200_dynamo_dep8x3_8192_1024_c768")}
    assert abs(err["infx_dsr1_fp8_h200_dynamo_dep8x1_8192_1024_c128"]) < 0.05
    assert -0.14 < err["infx_dsr1_fp8_h200_dynamo_dep8x3_8192_1024_c768"] < -0.07
    (lo, c_lo), (hi, c_hi) = (ix.decode_batch(hop[k]) for k in ("infx_dsr1_fp8_h200_dynamo_dep8x1_8192_1024_c128",
                                                                  "infx_dsr1_fp8_h200_dynamo_dep8x3_8192_1024_c768"))
    measured_slope = (0.044013 - 0.036309) / (hi - lo)
    model_slope = (step(dep, hi, c_hi) - step(dep, lo, c_lo)) / (hi - lo)
    assert 1.6 < measured_slope / model_slope < 2.4


# --- vLLM / SGLang rows (inferencex_vllm_sglang.csv; issue 12, infxvllm) -------------------------------------

VLLM_SGLANG = ix.DATA.parent / "inferencex_vllm_sglang.csv"


def _vs_rows() -> dict[str, dict]:
    with VLLM_SGLANG.open() as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def test_framework_picks_the_engine():
    assert ix.engine_of({"framework": "trt"}) == "trtllm-serve"
    dynamo = "TensorRT-LLM under NVIDIA Dynamo (disaggregated prefill / decode)"
    assert ix.engine_of({"framework": dynamo}) == "trtllm-serve"
    assert ix.engine_of({"framework": "vllm"}) == "vllm"
    assert ix.engine_of({"framework": "SGLang (sglang.launch_server)"}) == "sglang"
    assert ix.engine_of({}) == "trtllm-serve"
    row = dict(next(iter(_vs_rows().values())))
    with pytest.raises(ConfigError, match="framework"):
        ix.case_config({**row, "framework": "llama.cpp"})
    with pytest.raises(ConfigError, match="max_batch_size"):
        ix.case_config({**row, "max_batch_size": "lots"})


def test_vllm_and_sglang_rows_carry_their_servers_flags():
    rows = _vs_rows()
    assert VLLM_SGLANG in ix.data_files() and set(rows) <= {r["id"] for r in ix.inferencex_rows()}
    assert len(rows) == 41 and all(r["fit"] == "held-out" for r in rows.values())
    engines = {ix.case_config(r).serve.engine for r in rows.values()}
    assert engines == {"vllm", "sglang"}
    # Hopper vLLM: Marlin MXFP4 weight-only experts (bf16 MMA), the checkpoint's bf16 KV, --max-num-seqs = conc
    hop = ix.case_config(rows["infx_gptoss120b_h200_vllm_tp8_1024_1024_c8"]).serve
    assert (hop.engine, hop.precision, hop.expert_precision, hop.expert_compute_precision, hop.kv_precision) == \
        ("vllm", "bf16", "mxfp4", None, "bf16")
    assert hop.max_batch_size == 8 and hop.max_batch_tokens == 8192 and "scheduler" not in hop.model_fields_set
    from workloads.serving import engines
    assert engines.apply_defaults(hop, 141e9).scheduler == "sarathi"     # vLLM V1's chunked prefill
    # B200 vLLM: FlashInfer MXFP4 x MXFP8, fp8 KV, --max-num-seqs 512; the MoE is FlashInfer's TRTLLM-gen kernel
    # (VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 -> SM100_FI_MXFP4_MXFP8_TRTLLM: VLLM_B200_GAP), every B200 vLLM row
    bw = ix.case_config(rows["infx_gptoss120b_b200_vllm_tp1_1024_1024_c16"]).serve
    assert (bw.expert_compute_precision, bw.kv_precision, bw.max_batch_size) == ("mxfp8", "fp8", 512)
    assert {ix.case_config(r).serve.moe_backend for k, r in rows.items() if "_b200_vllm" in k} == {"trtllm_gen"}
    # SGLang H200: --chunked-prefill-size 32768, --mem-fraction-static 0.82, bf16 KV, the engine's scheduler
    sg = ix.case_config(rows["infx_dsr1_fp8_h200_sglang_tp8_1024_1024_c64"]).serve
    assert (sg.engine, sg.max_batch_tokens, sg.gpu_memory_utilization, sg.kv_precision, sg.max_batch_size) == \
        ("sglang", 32768, 0.82, "bf16", 512)
    assert engines.apply_defaults(sg, 141e9).scheduler == "vllm" and not sg.dp_attention   # prefill-first
    # SGLang B200 NVFP4: TP4 EP4, NVFP4 experts on the FP8 release
    fp4 = ix.case_config(rows["infx_dsr1_fp4_b200_sglang_tp4ep4_1024_1024_c8"]).serve
    assert (fp4.tp, fp4.ep, fp4.precision, fp4.expert_precision, fp4.kv_precision) == (4, 4, "fp8", "fp4", "fp8")
    # scheduling: every vLLM script sets async-scheduling: true (vLLM 0.11's default is off); the SGLang
    # scripts leave the overlap scheduler at its default (on: engines.toml [sglang] async_scheduling)
    for r in rows.values():
        s = ix.case_config(r).serve
        assert s.async_scheduling is (True if s.engine == "vllm" else None), r["id"]
    assert engines.profile("sglang").async_scheduling and not engines.profile("vllm").async_scheduling
    with pytest.raises(ConfigError, match="async_scheduling"):
        ix.case_config({**rows["infx_gptoss120b_h200_vllm_tp8_1024_1024_c8"], "async_scheduling": "maybe"})
    off = ix.case_config({**rows["infx_gptoss120b_h200_vllm_tp8_1024_1024_c8"], "async_scheduling": "no"})
    assert off.serve.async_scheduling is False


def test_vllm_and_sglang_rows_stay_within_their_kinds_bounds():
    """Held-out check of the [vllm] / [sglang] profiles (gap texts VLLM_HOPPER_GAP, VLLM_B200_GAP,
    SGLANG_H200_GAP, SGLANG_B200_GAP): every case within its bound, and the shapes the gaps describe: dcsim
    too slow at small batches (never more than 10 % too fast: with vLLM's async scheduling modelled the H100
    TP4 8k/1k c64 row, its 8k prefills interleaved, reads -8.3 %), SGLang H200 right at 4 sequences and its
    batch term too steep."""
    rows = _vs_rows()
    cases = [c for r in rows.values() for c in ix.run_row(r)]
    assert len(cases) == 2 * 41
    assert all(abs(c.error) <= c.bound for c in cases), [(c.case, round(c.error, 3)) for c in cases
                                                          if abs(c.error) > c.bound]
    by = {c.case: c.error for c in cases}
    tpot = {k.split(":")[0]: v for k, v in by.items() if k.endswith(":tpot_mean_s")}
    assert min(tpot.values()) > -0.10
    # issue 12 (marlinsmall): the Marlin MoE's small-M form (serve.moe_backend marlin) took 56 -> 34 %
    # off this row, asynchost's async scheduling (the runs' flag) 34 -> 21 %; the rest of the small-batch
    # floor is elsewhere (VLLM_HOPPER_GAP). The Marlin dequantization per weight element puts the H200 TP2
    # c64 row (2 rows per expert, every expert touched) +5 -> +19 % (+15 % with async scheduling)
    assert tpot["infx_gptoss120b_h100_vllm_tp8_1024_1024_c8"] > 0.10
    assert abs(tpot["infx_gptoss120b_h200_vllm_tp2_1024_1024_c64"]) < 0.25
    for k in ("infx_dsr1_fp8_h200_sglang_tp8_1024_1024_c4", "infx_dsr1_fp8_h200_sglang_tp8_8192_1024_c4"):
        assert abs(tpot[k]) < 0.06, k
    assert 0.15 < tpot["infx_dsr1_fp8_h200_sglang_tp8_1024_1024_c64"] < 0.30
    c4, c64 = (ix.run_row(rows[f"infx_dsr1_fp8_h200_sglang_tp8_1024_1024_c{c}"])[0] for c in (4, 64))
    assert (c64.predicted - c4.predicted) > 1.3 * (c64.measured - c4.measured)

HOPPER_GPTOSS_STEPS = ix.DATA.parent / "hopper_gptoss_vllm_steps.csv"


def _gptoss_hopper_steps() -> dict[tuple[str, int], list[tuple[int, float, float]]]:
    """dcsim's pure decode step vs the measured mean TPOT of the vLLM GPT-OSS-120B 1024/8192 rows
    (hopper_gptoss_vllm_steps.csv): {(gpu, tp): [(concurrency, dcsim s, measured s)]}. Each row's
    concurrency decodes together (prefill < 1 % of the steps) at the mean context (lengths uniform in
    [0.8, 1] x ISL / OSL: 0.9 x 1024 + 0.45 x 8192). The model runs as the held-out Hopper GPT-OSS rows
    (``precision`` FP8 -> serving.MXFP4_EXPERTS: bf16 activations x MXFP4 weights, the mixed-input
    Triton MoE, bf16 KV), without attention DP or EP, with the runs' async scheduling (the step's host
    time beside the GPU step)."""
    with HOPPER_GPTOSS_STEPS.open() as f:
        rows = list(csv.DictReader(f))
    out: dict[tuple[str, int], list] = {}
    costs = {}
    for r in rows:
        gpu, tp, c = r["gpu_type"].split()[0], int(r["tp"]), int(r["concurrency"])
        if (gpu, tp) not in costs:
            probe = dict(r, precision="FP8", kv_cache_dtype="bf16", max_batch_size="64", max_num_tokens="8192",
                         kv_cache_free_gpu_mem_fraction="0.9", cuda_graph_max_batch_size="", concurrency="64",
                         tpot_or_itl_ms=r["tpot_mean_ms"], ttft_ms=r["ttft_mean_ms"], value=r["output_tput_per_gpu"],
                         async_scheduling="yes")     # the runs' vllm serve config sets async-scheduling
            costs[(gpu, tp)] = ix.step_cost(probe)
        ctx = 0.9 * int(r["input_len_tokens"]) + 0.45 * int(r["output_len_tokens"])
        step = costs[(gpu, tp)].decode_run(c, c * ctx, 1, contexts=[ctx] * c).totals(1).time_s
        out.setdefault((gpu, tp), []).append((c, step, float(r["tpot_mean_ms"]) / 1e3))
    return out


def test_gptoss_hopper_triton_moe_step_at_a_known_batch():
    """GPT_OSS_HOPPER_STEP_DIAGNOSIS (issue 12, infxgptoss): on H100 / H200 without attention DP, at
    4-64 sequences (0.06-2 rows per expert), dcsim's decode step with the Triton MXFP4 MoE against the
    measured TPOT: +34..+60 % at 4 sequences on TP2-8 and +12..+16 % at 64 when the suite was built,
    +7..+17 % / -7..+3 % since issue 12's marlinsmall (small-M form) and asynchost (the runs' async
    scheduling); its growth from 4 to 64 sequences within 35 % of the measured growth. Bounds, not
    fits: a slower small-M MoE or launch floor would break the first, a wrong weight-read slope the
    second."""
    steps = _gptoss_hopper_steps()
    assert sum(len(v) for v in steps.values()) == 31
    for (gpu, tp), pts in steps.items():
        pts.sort()
        for c, pred, meas in pts:
            assert -0.10 <= pred / meas - 1.0 <= 0.25, (gpu, tp, c, pred, meas)
        if len(pts) < 2:
            continue
        (c0, p0, m0), (c1, p1, m1) = pts[0], pts[-1]
        assert (c0, c1) == (4, 64)
        # the excess shrinks with the batch: a constant floor, not a per-sequence term
        assert p1 / m1 < p0 / m0, (gpu, tp)
        assert p1 / m1 - 1.0 <= 0.20, (gpu, tp, p1, m1)
        assert abs((p1 - p0) / (m1 - m0) - 1.0) <= 0.35, (gpu, tp, p1 - p0, m1 - m0)


def test_gptoss_hopper_step_diagnosis_names_its_data():
    text = ix.GPT_OSS_HOPPER_STEP_DIAGNOSIS
    assert "hopper_gptoss_vllm_steps.csv" in text and "gptoss_dp_tp_pairs.csv" in text and "DEP_STEP_DIAGNOSIS" in text
    # the steps file is not an inferencex_* file: it is no suite of trtllm-serve rows
    for path in (HOPPER_GPTOSS_STEPS, ix.DATA.parent / "gptoss_dp_tp_pairs.csv"):
        assert path.exists() and path not in ix.data_files()


GPTOSS_DP_TP_PAIRS = ix.DATA.parent / "gptoss_dp_tp_pairs.csv"


def test_gptoss_attention_dp_step_is_not_too_fast_at_8_to_64_per_rank():
    """GPT_OSS_HOPPER_STEP_DIAGNOSIS (issue 12, infxgptoss): the only GPT-OSS attention-DP runs at a known
    per-rank batch (B200, TensorRT-LLM 1.2.0rc2, one InferenceX run, gptoss_dp_tp_pairs.csv) pair each DP
    point with the same TP / concurrency without DP. Measured, attention DP shortens the step by 10-17 % at
    8-64 sequences per rank; dcsim's DEP step (experts EP over the ranks where the run TP-shards them: the
    same expert bytes per rank on average) is 3-10 % longer than its TP step. The pair ratio cancels the
    B200 MoE rate both share (GPT_OSS_BLACKWELL_GAP), so dcsim's attention-DP step is not too fast there:
    as DeepSeek-R1's (DEP_STEP_DIAGNOSIS, ~0 at 8-13 per rank), the held-out deficit needs larger batches."""
    with GPTOSS_DP_TP_PAIRS.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    by_key: dict[tuple, dict] = {}
    for r in rows:
        probe = dict(r, kv_cache_dtype="fp8", kv_cache_free_gpu_mem_fraction="0.85", max_batch_size="512",
                     max_num_tokens="20000", cuda_graph_max_batch_size=r["concurrency"],
                     tpot_or_itl_ms=r["tpot_mean_ms"], ttft_ms=r["ttft_mean_ms"], value=r["output_tput_per_gpu"])
        c = int(r["concurrency"])
        ctx = 0.9 * int(r["input_len_tokens"]) + 0.45 * int(r["output_len_tokens"])
        step = ix.step_cost(probe).decode_run(c, c * ctx, 1, contexts=[ctx] * c).totals(1).time_s
        key = (r["tp"], r["input_len_tokens"], r["output_len_tokens"], c)
        by_key.setdefault(key, {})[r["dp_attention"]] = (step, float(r["tpot_mean_ms"]) / 1e3)
    assert len(by_key) == 5
    for key, pair in by_key.items():
        (dp_pred, dp_meas), (tp_pred, tp_meas) = pair["yes"], pair["no"]
        measured, predicted = dp_meas / tp_meas, dp_pred / tp_pred
        assert 0.75 <= measured <= 0.92, key
        assert 0.95 <= predicted <= 1.20, (key, predicted)
        assert 0.05 <= predicted - measured <= 0.40, (key, predicted, measured)


BLACKWELL = ix.DATA.parent / "inferencex_blackwell.csv"


def _blackwell_rows() -> dict[str, dict]:
    with BLACKWELL.open() as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def test_blackwell_rows_run_their_moe_backend():
    """The GPT-OSS-120B B200 rows ran MoeConfig backend TRTLLM: dcsim's TRTLLM-gen kernel class (issue 12, bwgen);
    CUTLASS rows and rows without the column keep the engine's class; an unknown backend names the column."""
    bw = _blackwell_rows()
    row = bw["infx_gptoss120b_b200_trt_tp1_1024_1024_c64"]
    assert ix.case_config(row).serve.moe_backend == "trtllm_gen"
    assert ix.case_config({**row, "moe_backend": "CUTLASS"}).serve.moe_backend == "cutlass"
    assert ix.case_config({**row, "moe_backend": ""}).serve.moe_backend is None
    with pytest.raises(ConfigError, match="moe_backend"):
        ix.case_config({**row, "moe_backend": "WIDEEP"})
    assert ix.case_config({**row, "moe_backend": "TRITON"}).serve.moe_backend == "triton"
    cost = ix.step_cost(row)
    assert cost.fused_moe_backend == "trtllm_gen" and "permute" not in {o.name for o, _ in cost.layers.ops}
    # the decode step at the run's 64 sequences (~1.4k context): 15.3 ms with the CUTLASS class, 11.7 with
    # TRTLLM-gen's streaming, against the measured 9.55 ms TPOT (GPT_OSS_B200_GEN)
    ctx = 0.9 * 1024 + 0.45 * 1024
    gen = cost.batch(64, 64, 64 * ctx, 64 * ctx).time_s
    cut = ix.step_cost({**row, "moe_backend": "CUTLASS"}).batch(64, 64, 64 * ctx, 64 * ctx).time_s
    meas = float(row["tpot_or_itl_ms"]) / 1e3
    assert 1.10 < gen / meas < 1.30 and cut / meas > 1.5
    assert ix.kind_of(row["id"])[0][2].startswith("GPT-OSS-120B on B200")


def test_blackwell_tp8_small_steps_stay_within_their_bound():
    """TP8 at 4 sequences: +57 % (the kernel-count floor, GPT_OSS_B200_TP8), inside the kind's 0.65 bound."""
    row = _blackwell_rows()["infx_gptoss120b_b200_trt_tp8_1024_1024_c4"]
    cases = ix.run_row(row)
    assert all(abs(c.error) <= c.bound for c in cases), [(c.case, c.error) for c in cases]
    tpot = next(c for c in cases if c.metric == "tpot_mean_s")
    assert 0.40 < tpot.error < 0.65 and "RESIDUAL_RMS_NORM" in tpot.gap


# --- DeepSeek-R1 on B200, post-1.0 TensorRT-LLM (inferencex_trtllm_blackwell.csv; issue 12, infxdsrb) -----------

DSR1_BLACKWELL = ix.DATA.parent / "inferencex_trtllm_blackwell.csv"


def _dsr1_bw_rows() -> dict[str, dict]:
    with DSR1_BLACKWELL.open() as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def test_dsr1_blackwell_rows_carry_their_runs_options():
    """52 trtllm-serve rows and 15 Dynamo decode workers, all held out; the trtllm-serve rows' options are
    dsr1_{fp8,fp4}_b200_trt_slurm.sh's: kv 0.8 fp8, CUDA graphs to 512 (FP4) / 256 (FP8), max_num_tokens
    (conc + ISL + 127) // 64 * 64 per rank, FP4 MoE TRTLLM below the script's CUTLASS thresholds; FP4 runs the
    NVFP4 experts on FP8 dense layers."""
    bw = _dsr1_bw_rows()
    assert DSR1_BLACKWELL in ix.data_files() and set(bw) <= {r["id"] for r in ix.inferencex_rows()}
    assert len(bw) == 67 and all(r["fit"] == "held-out" for r in bw.values())
    assert sum(r["pd_disaggregated"] == "yes" for r in bw.values()) == 15
    assert all(r["gpu_type"] == "B200 180GB" and r["model"] == "DeepSeek R1 0528" for r in bw.values())
    dep = ix.case_config(bw["infx_dsr1_fp4_b200_trt_dep8_1024_1024_c256"])
    assert dep.serve.dp_attention and dep.serve.ep == 8 and dep.serve.moe_backend == "cutlass"
    assert dep.serve.max_batch_tokens == 8 * ((256 + 1024 + 127) // 64 * 64)
    assert dep.serve.expert_precision == "fp4" and dep.serve.precision == "fp8"
    assert dep.serve.gpu_memory_utilization == 0.8 and dep.serve.cuda_graph_batch_sizes[-1] == 512
    tep = ix.case_config(bw["infx_dsr1_fp4_b200_trt_tep8_1024_1024_c128"])
    assert not tep.serve.dp_attention and tep.serve.ep == 8 and tep.serve.moe_backend == "trtllm_gen"
    fp8 = ix.case_config(bw["infx_dsr1_fp8_b200_trt_tep8_1024_1024_c4"])
    assert fp8.serve.moe_backend is None and fp8.serve.cuda_graph_batch_sizes[-1] == 256
    assert ix.case_config(bw["infx_dsr1_fp4_b200_trt_tp8_1024_1024_c4"]).serve.ep in (None, 1)


def test_dsr1_blackwell_rows_stay_within_their_kinds_bounds():
    """Every B200 DeepSeek-R1 row's cases within its KINDS bound, each with a gap where outside the tolerance."""
    cases = [c for r in _dsr1_bw_rows().values() for c in ix.run_row(r)]
    assert len(cases) == 2 * 52 + 15
    assert all(abs(c.error) <= c.bound for c in cases), [(c.case, round(c.error, 3)) for c in cases
                                                          if abs(c.error) > c.bound]
    assert all(c.gap for c in cases if abs(c.error) > c.tolerance)


def test_blackwell_dep_deficit_is_fp8_and_grows_with_tokens_per_rank():
    """B200_DEP_STEP_DIAGNOSIS: the FP8 Dynamo DEP8 decode step falls further short as the per-rank batch grows
    (15 / 29 / 72 / 482 per rank: -7 / -10 / -18 / -29 %) while the same build's FP8 steps without attention DP
    are too slow (+12 to +20 %) and the FP4 DEP8 workers match at 30-121 per rank (+4 to +5 %). Pinned: fails when
    the model moves the step, and when a change closes the gap (then rewrite the diagnosis)."""
    bw = _dsr1_bw_rows()
    fp8 = ["infx_dsr1_fp8_b200_dynamo_dep8x1_8192_1024_c128", "infx_dsr1_fp8_b200_dynamo_dep8x1_8192_1024_c256",
           "infx_dsr1_fp8_b200_dynamo_dep8x1_8192_1024_c640", "infx_dsr1_fp8_b200_dynamo_dep8x1_1024_1024_c4096"]
    per_rank = [ix.decode_batch(bw[k])[0] / 8 for k in fp8]
    assert per_rank == sorted(per_rank) and 14 < per_rank[0] < 16 and 470 < per_rank[-1] < 490
    err = [ix.run_row(bw[k])[0].error for k in fp8]
    assert err == sorted(err, reverse=True) and -0.12 < err[0] < -0.03 and err[-1] < -0.2
    no_dp = [k for k in bw if k.startswith("infx_dsr1_fp8_b200_dynamo_tp8")]
    assert len(no_dp) == 7 and all(0.08 < ix.run_row(bw[k])[0].error < 0.25 for k in no_dp)
    for k in ("infx_dsr1_fp4_b200_dynamo_dep8x5_1024_1024_c1365", "infx_dsr1_fp4_b200_dynamo_dep8x2_1024_1024_c2192",
              "infx_dsr1_fp4_b200_dynamo_dep8x3_8192_1024_c837"):
        assert abs(ix.run_row(bw[k])[0].error) < 0.08, k
    assert ix.decode_batch(bw["infx_dsr1_fp4_b200_dynamo_dep8x2_1024_1024_c2192"])[0] / 8 > 115
    # the FP8 routed experts are weight-read bound in dcsim from 15 to 72 per rank (flat), where the measured
    # step adds 11 ms
    def experts(k):
        s, ctx = ix.decode_batch(bw[k])
        ob = ix.step_cost(bw[k]).op_breakdown(s, s, s * ctx, s * ctx)
        return ob["expert_up"] + ob["expert_down"]
    assert experts(fp8[2]) == pytest.approx(experts(fp8[0]), rel=0.05)
    assert ix.kind_of(fp8[0])[0][2].endswith(ix.B200_DEP_STEP_DIAGNOSIS)


def test_a_malformed_inferencex_file_is_a_config_error_naming_it(tmp_path, monkeypatch):
    """A copy of inferencex_trtllm_blackwell.csv without a required column, or with a short line, is a
    ConfigError naming the file and the column / line (was a KeyError on the row's id, or None values)."""
    path = ix.DATA.parent / "inferencex_trtllm_blackwell.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    copy = tmp_path / "inferencex_trtllm_blackwell.csv"
    copy.write_text(",".join(h for h in header if h != "tpot_or_itl_ms") + "\n")
    monkeypatch.setattr(ix, "data_files", lambda: [copy])
    with pytest.raises(ConfigError) as e:
        ix.inferencex_rows()
    assert e.value.key == "inferencex_trtllm_blackwell.csv.tpot_or_itl_ms"
    copy.write_text(lines[0] + "\ninfx_x,source\n")
    with pytest.raises(ConfigError, match="inferencex_trtllm_blackwell.csv, line 2"):
        ix.inferencex_rows()
