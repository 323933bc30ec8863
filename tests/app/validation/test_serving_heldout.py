"""The held-out serving group (sim/app/validation/serving_heldout.py): 30 TensorRT-LLM
maximum-throughput runs that no constant was fitted to."""

import statistics

import pytest

from sim.app import validation as suites
from sim.app.validation import serving_heldout as held


@pytest.fixture(scope="module")
def runs() -> dict:
    """The group's rows run in this module, by id (serving.run_case: a deterministic run of the row's config):
    a test that checks a row reads the run the suite made (``suite``) or that an earlier test made, and
    runs the row itself only where none did (a test run alone)."""
    return {}


@pytest.fixture(scope="module")
def suite(runs) -> tuple:
    """The whole group run once for this module's tests (164 rows)."""
    rows = tuple(held.run_suite())
    runs.update((c["case"], c) for c in rows)
    return rows


def _run(runs: dict, row: dict):
    """The held-out row's run (its Case: error, predicted): the one ``runs`` holds, else a new one. Only for
    the row as shipped: never while a test patches the model (its runs are its own)."""
    from sim.app.validation import serving
    if row["id"] not in runs:
        runs[row["id"]] = serving.run_case(row)
    return runs[row["id"]]


def test_rows_carry_their_citation_and_are_all_held_out():
    rows = held.heldout_cases()
    assert len(rows) == 40 + 44 + 80 and all(r["fit"] == "held-out" for r in rows)
    # DeepSeek-R1-0528: the overview's 14 cells (B200 / GB200 DEP4 FP4, H200 DEP8 FP8; issue 12 deepseek
    # added 1024/1024, 1024/8192, 1024/32768 and GB200 8192/1024, the same runs' other lengths)
    dsr1 = {r["id"].removeprefix("trtllm12_DeepSeek_R1_0528_"): float(r["value"]) for r in rows if "DeepSeek_R1" in r["id"]}
    assert len(dsr1) == 14
    assert (dsr1["B200_dep4_1024_1024"], dsr1["GB200_dep4_1024_8192"], dsr1["H200_dep8_1024_32768"],
            dsr1["GB200_dep4_8192_1024"]) == (6430, 4379, 438, 1192)
    assert sum(r["id"].startswith("trtllm12_Llama_4_Maverick") for r in rows) == 17
    assert sum(r["id"].startswith("trtllm10_Llama_4") for r in rows) == 63
    assert all(r["source"] and r["source_url"] and r["source_location"] and float(r["value"]) > 0 for r in rows)
    assert "serving-heldout" in suites.SUITES
    # every row runs as an expressible config: dense TP, or DEP (attention DP + EP over the TP GPUs)
    assert {r["dp_attention"] for r in rows} == {"", "yes"}


@pytest.mark.slow
def test_heldout_median_p90_and_each_row_in_its_bound(suite):
    """Dense Llama 3.3 70B on B200/GB200 NVFP4 and H200/H100 FP8 at lengths the fitted v1.0 table
    lacks: each within 15 % but GB200 1024/8192 (-15.0 %; median 5.7 %), so Blackwell FP4 is not too
    fast as such. The MoE rows
    are the fault (TensorRT-LLM Qwen3 / DeepSeek-R1 at large decode batches, attention DP most):
    each within its kind's bound, with its gap stated (serving_heldout.KINDS). Whole group: median
    17.8 % / p90 53.1 % before the per-rank CUDA-graph padding of DP attention, 15.0 % / 49.1 % after,
    15.0 % / 47.6 % with the overlap scheduler's per-sequence host time; 17.8 % / 59.4 % once the DEP rows'
    MoE all-gathers as TensorRT-LLM's does on NVLink servers (issue 12, hopdep: top_k 8 over 4 ranks moves
    half the all-to-all's bytes, so the Qwen3 DEP4 rows rose 10-19 points; serving_heldout.DEP_MOE_COMM)."""
    rows = [r for r in suite if "GPT_OSS" not in r["case"]]      # GPT-OSS: its own test below
    errs = {r["case"]: abs(r["error"]) for r in rows}
    dense = [e for k, e in errs.items() if "Llama_3.3" in k]
    assert len(dense) == 11 and max(dense) <= 0.16 and statistics.median(dense) <= 0.07
    for r in rows:
        assert abs(r["error"]) <= r["tolerance"] or (r["gap"] and abs(r["error"]) <= r["bound"]), r["case"]
    # the first 30 rows (Llama 3.3, Qwen3, DeepSeek-R1); the Llama 4 rows: test_llama4_maverick_rows_...
    # (the 10 DeepSeek-R1 rows issue 12's deepseek pass added are held to their kind's bound above)
    new_dsr1 = ("DeepSeek_R1_0528_B200_dep4_1024", "DeepSeek_R1_0528_GB200_dep4_1024", "DeepSeek_R1_0528_H200_dep8_1024",
                "DeepSeek_R1_0528_GB200_dep4_8192_1024")
    a = sorted(e for k, e in errs.items() if "Llama_4" not in k and not k.startswith("trtllm10")
               and not any(n in k for n in new_dsr1))
    # trtllm-bench's real limits (issue 12, benchlim: DeepSeek-R1 at 384 per rank) took the median 19 -> 10.6 %
    # and, with the H200 DEP8 row at +84 % (DSR1_GAP), the p90 0.62 -> 0.68; the most loaded EP rank
    # (routeskew: DeepSeek's routing skew) takes the median 10.6 -> 12.3 % (the Blackwell DEP4 DeepSeek rows
    # 3-4 points further under) and the p90 0.68 -> 0.59 (H200 DEP8 +84 -> +57 %)
    assert len(a) == 30 and statistics.median(a) <= 0.125
    assert a[int(0.9 * (len(a) - 1) + 0.5)] <= 0.60
    # the DP-attention padding moved every Qwen3-235B DEP row toward the measurement (B200 1000/1000 49.2 %);
    # the all-gather of the MoE's hidden states took it to 68.1 % (serving_heldout.QWEN_DEP_GAP)
    # and the most loaded EP rank at Qwen3-235B's routing skew (skew2, ROUTE_SKEW) 67.7 -> 47.8 %, H100 71.3 -> 36.0 %
    # and TensorRT-LLM's CUTLASS NVFP4 fused-MoE terms (bwmoe, QWEN_MOE_CANDIDATES (4)) 47.8 -> 19.5 %
    # and the profile pass's all-gathered MoE buffers (dpws, 2.84 GiB per GPU: the pool holds 735 of each
    # rank's 750 requests, not 750, so 15 per rank run a second, small-batch wave) 19.5 -> 6.3 %
    assert 0.03 < errs["trtllm12_Qwen3_235B_A22B_B200_dep4_1000_1000"] <= 0.10
    assert 0.28 < errs["trtllm12_Qwen3_235B_A22B_H100_dep8_1000_1000"] <= 0.44
    # the overlap scheduler's host time (engines.toml [trtllm] overlap_us_per_seq): 49.1 % before, 47.6 % with
    # it; 39.2 % once GB200's Grace host runs it at hardware.toml's host_speed 0.85 (hostcpu)
    # and the CUTLASS NVFP4 fused-MoE terms (bwmoe) 39.2 -> 20.8 %
    # and the mixed steps' eager kernel dispatch on the executor's thread at Grace's dispatch_speed (scout17:
    # engines.toml [trtllm] launch_us / eager_serial, hardware.toml dispatch_speed) 20.6 -> 0.5 %
    assert abs(errs["trtllm12_Qwen3_30B_A3B_GB200_tp1_1000_1000"]) <= 0.05
    assert errs["trtllm12_Qwen3_30B_A3B_B200_tp1_1000_1000"] <= 0.10


@pytest.mark.slow
def test_v10_qwen3_30b_short_prompt_rows_are_bounded_by_the_host():
    """The v1.0 table's Qwen3-30B-A3B B200 128/2048 and 128/4096 rows (held out, nothing fitted to them):
    their decode steps of ~1,800 / ~900 sequences are bound by the overlap scheduler's host time, not the GPU
    (128/2048 was +25.0 % with the GPU alone)."""
    from sim.app.validation import serving
    rows = held.v10_qwen3_30b_rows(["128/2048", "128/4096"], gpus=("B200",))
    assert len(rows) == 2 and all("00f37686" in r["source"] for r in rows)
    errs = {r["id"]: serving.run_case(r)["error"] for r in rows}
    # -3.8 -> -5.7 % with the mixed steps' kernel dispatch on the executor's thread (scout17: 912 kernels x 13.48 us
    # = 12.3 ms beside ~1,800 x 25 us): the 25 us fit, from 8B steps the GPU bound, may hold part of it
    assert abs(errs["trtllm10_Qwen3_30B_A3B_B200_tp1_128_2048"]) <= 0.07
    assert abs(errs["trtllm10_Qwen3_30B_A3B_B200_tp1_128_4096"]) <= 0.12


def test_gpt_oss_rows_are_every_cell_of_the_two_tables_and_expressible():
    """The post-1.0 overview's GPT-OSS 120B and 20B tables, every filled cell (44): each row builds a config
    (no row the config cannot express), the release's MXFP4 experts as ``serving.MXFP4_EXPERTS`` maps them."""
    from sim.app.validation import serving
    rows = [r for r in held.heldout_cases() if "GPT_OSS" in r["id"]]
    assert len(rows) == 44 and all("03e27c7d" in r["source_url"] for r in rows)
    values = {r["id"]: int(r["value"]) for r in rows}
    assert values["trtllm12_GPT_OSS_120B_B200_dep2_1000_1000"] == 25943
    assert values["trtllm12_GPT_OSS_20B_H100_tp1_32768_1024"] == 785
    for r in rows:
        cfg = serving.case_config(r, max_requests=8)
        s = cfg.serve
        assert s.expert_precision == "mxfp4" and s.precision == "bf16"
        if r["precision"] == "FP4":        # Blackwell: MXFP8 x MXFP4 experts, FP8 KV
            assert (s.expert_compute_precision, s.kv_precision) == ("mxfp8", "fp8")
        else:                              # Hopper: BF16 x MXFP4 (weight-only), bf16 KV
            assert s.expert_compute_precision is None and s.kv_precision == "bf16"
        assert s.dp_attention == (r["dp_attention"] == "yes")


@pytest.mark.slow
def test_gpt_oss_rows_each_within_their_kind_bound(suite):
    """GPT-OSS on TensorRT-LLM (44 rows, nothing fitted to them): each within its kind's bound with its gap
    stated (serving_heldout.KINDS), at trtllm-bench's default limits (an MXFP4 checkpoint is outside its
    heuristic: 2048 sequences, serving_heldout.BENCH_LIMITS) and TensorRT-LLM's uniform KV pool. The Hopper 120B
    rows read -10 % only at the heuristic's wrong cap of 160; at the pool's batch they are compute-bound and over,
    as the 20B's. The known faults are pinned so they cannot silently get worse:
    Hopper compute-bound rows over (what the fused-MoE model leaves, serving_heldout.GPT_OSS_HOPPER_GAP), Blackwell
    decode-heavy rows under (the v1.0-fitted per-sequence host time), attention DP over."""
    rows = [r for r in suite if "GPT_OSS" in r["case"]]
    assert len(rows) == 44
    err = {r["case"].replace("trtllm12_GPT_OSS_", ""): r["error"] for r in rows}
    for r in rows:
        assert abs(r["error"]) <= r["tolerance"] or (r["gap"] and abs(r["error"]) <= r["bound"]), r["case"]
    for k in ("120B_GB200_tp1_1024_8192", "120B_GB200_tp1_8192_1024", "120B_GB200_tp1_32768_1024",
              "120B_B200_dep2_1024_8192", "120B_B200_dep2_1024_32768", "20B_B200_tp1_1024_8192",
              "20B_GB200_tp1_1024_8192", "20B_B200_tp1_1024_32768", "20B_H200_tp1_1024_8192"):
        assert abs(err[k]) <= 0.15, k
    # GB200 TP1 1024/32768 read -38.7 % at the heuristic's 64 sequences (issue 12, benchlim)
    assert -0.30 < err["120B_GB200_tp1_1024_32768"] < -0.15
    # per GPU, B200 DEP2 over GB200 TP1: measured 0.95-1.17, dcsim 1.09-2.36 at the heuristic's TP1 batch
    pred = {r["case"].replace("trtllm12_GPT_OSS_", ""): r["predicted"] for r in rows}
    for L in ("1000_1000", "1024_8192", "1024_32768", "8192_1024", "32768_1024"):
        assert 0.9 < pred[f"120B_B200_dep2_{L}"] / pred[f"120B_GB200_tp1_{L}"] < 1.5, L
    # the signs of the kinds: Hopper compute-bound over, Blackwell host-capped decode under
    assert all(err[f"20B_{g}_tp1_1000_1000"] > 0.15 for g in ("H200", "H100"))
    assert -0.35 < err["20B_B200_tp1_1000_1000"] < -0.2
    # GB200's Grace host (hardware.toml host_speed 0.85) caps the 20B's steps lower still: -31.5 -> -41.0 %
    # (serving_heldout.GPT_OSS_BLACKWELL_GAP: the post-1.0 executor's per-sequence time is what it misses)
    # and with the mixed steps' eager dispatch at Grace's dispatch_speed (scout17) -41.7 -> -43.7 %
    assert -0.45 < err["20B_GB200_tp1_1000_1000"] < -0.35
    # and takes the 120B GB200 TP1 short rows from +22.5 / +25.0 % to +9.8 / +12.0 % (+5.5 / +7.6 % with gptbw16's
    # CUTLASS per-copy cost of the W4A8 experts)
    assert all(0.03 < err[f"120B_GB200_tp1_{L}"] < 0.15 for L in ("1000_1000", "1024_1024"))
    # issue 12 (gptbw16): a mixed step's context and generation attention as two launches (engines.toml
    # split_mixed_attention) and the CUTLASS module's per-copy cost of the W4A8 MXFP4 x MXFP8 experts: the
    # prefill-heavy Blackwell rows from +11..+37 % to -6..+21 % (20B B200 8192/1024 +26.2 -> +7.9 %)
    for g in ("20B_B200_tp1", "20B_GB200_tp1", "120B_GB200_tp1"):
        for L in ("8192_1024", "32768_1024"):
            assert abs(err[f"{g}_{L}"]) <= 0.10, (g, L)
    assert all(0.10 < err[f"120B_B200_dep2_{L}"] <= 0.25 for L in ("8192_1024", "32768_1024"))
    # the fused-MoE GEMM (workloads/serving/fused_moe.py: M-tile padding, the mixed-input MXFP4 x BF16
    # kernel's rate) took the Hopper TP1 rows from +105.6 / +112.4 % (20B 1000/1000) and +48.9 % (120B
    # 32768/1024) to +39 / +47 % and +23 %
    assert all(err[f"20B_{g}_tp1_1000_1000"] < 0.55 for g in ("H200", "H100"))
    assert err["120B_H200_tp1_32768_1024"] < 0.15 and abs(err["120B_H200_tp1_8192_1024"]) <= 0.20
    # the mixed-input kernel's rate by M tile and the graph padding's dummy request (issue 12, gptosshop):
    # the 120B H200 TP1 rows from +11..+63 % (benchlim) to -1..+29 %; its decode-bound 1024/8192 (3.4 tokens
    # per expert) from +27.4 % to within 15 %
    assert all(abs(err[f"120B_H200_tp1_{L}"]) <= 0.15 for L in ("1024_8192", "8192_1024", "32768_1024"))
    # the MXFP4 expert padding (issue 12, trtkvlog: 2.55 GiB off the TP1 pool) takes 1000/1000 from 520 to 502
    # sequences, under the 512-row graph: +7.1 -> +24.4 %; measured 1000/1000 and 1024/1024 agree (6,868 / 6,798)
    # and so do dcsim's now (ratio 0.87 before, when 1000/1000 alone ran the 1,024-row graph)
    assert err["120B_H200_tp1_1000_1000"] <= 0.30
    assert 0.95 < pred["120B_H200_tp1_1000_1000"] / pred["120B_H200_tp1_1024_1024"] < 1.10
    assert max(abs(err[k]) for k in err if k.startswith("120B_H200")) <= 0.35
    # TensorRT-LLM's TRITON backend holds its experts padded (issue 12, tritonhop: 3.7 GB more weights on the
    # 120B's H200): 1000/1000 and 1024/1024 both fit the 512-row graph (+7.1 / +25.1 % -> +15.1 / +13.0 %),
    # as the measured pair reads alike (6,868 / 6,798 tokens/s per GPU)
    assert all(0.0 < err[f"120B_H200_tp1_{L}"] <= 0.20 for L in ("1000_1000", "1024_1024"))
    assert abs(err["120B_H200_tp1_1000_1000"] - err["120B_H200_tp1_1024_1024"]) < 0.05
    a = sorted(abs(e) for e in err.values())
    assert statistics.median(a) <= 0.24    # 31.1 % before the fused-MoE model, 24.3 % after, 23.2 % (benchlim)


@pytest.mark.slow
def test_both_tables_run_the_v10_host_fit_and_a_lower_one_lifts_the_gpu_bound_moe_rows(monkeypatch, runs):
    """issue 12, trtllmver: no public source quantifies the post-1.0 (1.1-era) trtllm-bench loop's host time
    per sequence-step against 1.0 (serving_heldout.GPT_OSS_BLACKWELL_GAP), so the trtllm12 rows run the
    [trtllm] profile fitted on the v1.0 table. A version-wide lower value (18 us, the 20B rows' ceiling)
    would lift the 20B B200 1000/1000 row from -31 % to about -13 %, but take the 120B GB200 TP1 1000/1000
    row from +6 % to about +21 %: on the same table and host that row is GPU-bound, and the 25 us term
    hides its MoE step's over-prediction."""
    from sim.app.validation.serving import case_config, run_case
    from workloads.serving import engines
    rows = {r["id"]: r for r in held.heldout_cases()}
    r20, r120 = rows["trtllm12_GPT_OSS_20B_B200_tp1_1000_1000"], rows["trtllm12_GPT_OSS_120B_GB200_tp1_1000_1000"]
    assert case_config(r20).serve.engine == case_config(r120).serve.engine == "trtllm"
    assert engines.profile("trtllm").overlap_us_per_seq == 25.0
    before = (_run(runs, r20)["error"], _run(runs, r120)["error"])      # the suite's runs, where it ran
    monkeypatch.setitem(engines._data()["trtllm"], "overlap_us_per_seq", 18.0)
    after = (run_case(r20)["error"], run_case(r120)["error"])
    # issue 12 (gptbw16: the split mixed-step attention and the W4A8 experts' CUTLASS per-copy cost made both
    # GPU steps longer): 20B -31.1 -> -13.2 %, 120B +5.5 -> +20.8 % (was -29.4 -> -9.5, +9.8 -> +30.7)
    assert before[0] < -0.2 and -0.18 < after[0] < -0.05
    assert before[1] < 0.10 and 0.15 < after[1] < 0.25


@pytest.mark.slow
def test_llama4_maverick_rows_expressible_and_in_their_bounds(suite):
    """The perf overview's 17 "LLaMA v4 Maverick" rows (DEP4 NVFP4 on B200 / GB200, DEP8 FP8 on H200; nothing
    fitted to them) run as the llama4-maverick preset: MoE every 2nd layer, chunked attention of 8,192 tokens on
    3 of 4 layers. Blackwell: each within 21 % (median 10.1 %; GB200 1024/32768 -18.0 -> -20.6 % with the busiest
    EP rank's expert reads, issue 12 smallar); H200: over-predicted (serving_heldout MAVERICK_HOPPER_GAP), each
    within its bound."""
    errs = {r["case"]: r["error"] for r in suite if r["case"].startswith("trtllm12_Llama_4_Maverick")}
    blackwell = [abs(e) for k, e in errs.items() if "H200" not in k]
    # 0.21 -> 0.22 (issue 12, llama4bw17): the bf16 LM head takes GB200 1024/32768 -20.7 -> -21.7 %
    assert len(blackwell) == 12 and max(blackwell) <= 0.22 and statistics.median(blackwell) <= 0.12
    hopper = {k: e for k, e in errs.items() if "H200" in k}
    assert len(hopper) == 5 and all(0.0 < e <= 0.30 for e in hopper.values())     # +7 to +22 % since mmha2
    # the same B200 long-context rows with full attention on every layer read -34 to -38 %; the vision encoder's
    # fp32 copy on every rank (issue 12, llama4hop) took 1024/32768 -14.6 -> -16.2 %, the busiest EP4 rank's
    # distinct expert reads (smallar: ~160 gathered top-1 tokens over 4 x 32 experts) -16.3 -> -18.8 %, the bf16
    # LM head (llama4bw17) -18.8 -> -19.8 %
    assert abs(errs["trtllm12_Llama_4_Maverick_B200_dep4_1024_32768"]) <= 0.20
    assert abs(errs["trtllm12_Llama_4_Maverick_B200_dep4_32768_1024"]) <= 0.13


def test_llama4_chunked_attention_carries_the_long_context_rows(runs):
    """B200 32768/1024: with Llama 4's chunked attention the row reads +11 %; with every layer attending the
    whole context -34 % (the attention and KV reads of 36 of 48 layers bounded by the 8,192-token chunk), and
    with a KV pool that keeps only the current chunk on chunked layers (vLLM's hybrid manager) +49 %:
    TensorRT-LLM keeps every token."""
    from sim.app.validation import serving
    row = next(r for r in held.heldout_cases() if r["id"] == "trtllm12_Llama_4_Maverick_B200_dep4_32768_1024")
    chunked = _run(runs, row)["error"]
    assert abs(chunked) <= 0.13
    full = dict(row, id=row["id"] + "_full")
    orig = serving.load_config

    def no_chunk(*a, data=None, **k):
        if data is not None and "model" in data:
            data = dict(data, model=dict(data["model"], attention_chunk=None, global_every=0))
        return orig(*a, data=data, **k)
    serving.load_config = no_chunk
    try:
        unchunked = serving.run_case(full)["error"]
    finally:
        serving.load_config = orig
    assert unchunked < -0.30


def test_llama4_vision_encoder_memory_takes_the_h200_dep8_row_off_one_wave(runs):
    """Issue 12 (llama4hop): TensorRT-LLM holds Llama 4's vision encoder in fp32 on every rank (3.49 GB per GPU,
    engines.toml encoder_bytes_per_param). Maverick H200 DEP8 1000/1000 runs 3,000 requests: without it the pool
    holds 383 sequences per rank (all 3,000 at once) and the row reads +58.7 %; with it 365 (80 requests left to a
    second wave), +27.4 %. With the profile pass's all-gathered MoE buffers (dpws: 3.12 GiB per GPU) the
    pool holds 350 with the encoder (+22.4 %) and ~367 without it (+32.7 %: the gathered buffers alone also
    leave a second wave); with the busiest EP rank's distinct expert reads (issue 12, smallar) +20.5 % with the
    encoder, +24.1 % without. Pinned both ways."""
    from sim.app.validation import serving
    row = next(r for r in held.heldout_cases() if r["id"] == "trtllm12_Llama_4_Maverick_H200_dep8_1000_1000")
    with_encoder = _run(runs, row)["error"]
    assert 0.18 < with_encoder < 0.35
    orig = serving.load_config

    def no_encoder(*a, data=None, **k):
        if data is not None and "model" in data:
            data = dict(data, model=dict(data["model"], encoder_params=0))
        return orig(*a, data=data, **k)
    serving.load_config = no_encoder
    try:
        bare = serving.run_case(dict(row, id=row["id"] + "_no_encoder"))["error"]
    finally:
        serving.load_config = orig
    assert 0.21 < bare < 0.40 and bare > with_encoder + 0.02


def test_llama4_hopper_rows_over_the_chunk_decode_with_mmha(runs):
    """Issue 12 (mmha, mmha2): TensorRT-LLM on Hopper decodes a chunked layer with MMHA when the run's
    max_seq_len exceeds the 8,192-token chunk (PR #6306); cost.IterationCost.mmha_key_time prices its key
    at the FP32 bound, 5.0x XQA's for Maverick's 40 / 8 heads at every length (mmha_fp32_eff re-read from
    the XQA blog's 2.4x through the whole step; the logits' shared memory bounded by the chunk, four CTAs
    an SM). The five rows over the chunk move (mmha2: 1024/8192 +89.0 -> +21.1 %, its 1024/1024 sibling's
    +21.1; 1024/32768 +25.2 -> +13.8, 8192/1024 +11.7 -> +7.1, v1.0 Scout / Maverick 20000/2000 +64.9 /
    +33.2 -> +48.2 / +22.2); Blackwell's do not. Pinned both ways."""
    want = {"trtllm12_Llama_4_Maverick_H200_dep8_1024_8192": (0.12, 0.30),
            "trtllm12_Llama_4_Maverick_H200_dep8_1024_32768": (0.06, 0.20),
            "trtllm12_Llama_4_Maverick_H200_dep8_8192_1024": (0.02, 0.12),
            "trtllm10_Llama_4_Scout_H200_tp4_20000_2000": (0.40, 0.56),
            "trtllm10_Llama_4_Maverick_H200_tp8_20000_2000": (0.12, 0.30),   # 0.15 -> 0.12: bf16 LM head (llama4bw17)
            "trtllm12_Llama_4_Maverick_B200_dep4_1024_8192": (-0.16, -0.08)}     # Blackwell: XQA's -12.0 %
    rows = {r["id"]: r for r in held.heldout_cases() if r["id"] in want}
    for rid, (lo, hi) in want.items():
        e = _run(runs, rows[rid])["error"]
        assert lo < e < hi, (rid, e)


@pytest.mark.slow
def test_v10_llama4_rows_expressible_each_in_its_kind(suite):
    """The v1.0 table's Llama 4 rows (63, nothing fitted to them). Scout TP1 NVFP4 decode-bound rows within
    10 % (as the v1.0 Qwen3-30B-A3B TP1 rows); the multi-GPU rows run with attention DP (the doc's MoE yaml) and
    read over, within their kind's bound; read as one-scheduler TP, B200 Maverick TP8 128/128 cannot pass the
    overlap scheduler's 25 us per sequence and step (40,000 tokens/s) where 124,323 were measured."""
    from sim.app.validation import serving
    rows = {r["id"]: r for r in held.heldout_cases() if r["id"].startswith("trtllm10_Llama_4")}
    errs = {r["case"]: r["error"] for r in suite}
    err = errs.__getitem__
    for k in ("trtllm10_Llama_4_Scout_B200_tp1_128_4096", "trtllm10_Llama_4_Scout_B200_tp1_20000_2000",
              "trtllm10_Llama_4_Scout_GB200_tp1_2048_2048"):
        assert abs(err(k)) <= 0.11, k
    for k in ("trtllm10_Llama_4_Maverick_B200_tp8_128_4096", "trtllm10_Llama_4_Maverick_H100_tp8_1000_1000"):
        tol, bound, gap = held.kind_of(k)
        assert 0.0 < err(k) <= bound and gap, k
    tp_only = dict(rows["trtllm10_Llama_4_Maverick_B200_tp8_128_128"], dp_attention="", batch_or_concurrency="3000 requests")
    assert serving.run_case(tp_only)["predicted"] <= 41000 < 124323 / 3


def test_dsr1_nvfp4_rows_run_their_experts_w4a4():
    """nvidia/DeepSeek-R1-0528-NVFP4-v2 quantizes the weights AND activations of the MoE's linear layers:
    the routed experts hold NVFP4 weights and run the FP4 MMA, the rest FP8; the H200 FP8 row is all FP8."""
    from sim.app.validation import serving
    rows = [r for r in held.heldout_cases() if "DeepSeek_R1" in r["id"]]
    for r in rows:
        s = serving.case_config(r, max_requests=8).serve
        if r["precision"] == "FP4":
            assert (s.precision, s.expert_precision, s.expert_compute_precision) == ("fp8", "fp4", "fp4"), r["id"]
        else:
            assert s.precision == "fp8" and s.expert_precision is None and s.expert_compute_precision is None


def test_dep_rows_apply_trtllm_bench_limits_per_rank():
    """trtllm-bench's limits are each attention-DP rank's: get_settings hands them to the LLM API, where every
    attention-DP rank runs its own executor with them (the DeepSeek-R1 blog run: --max_batch_size 128 at
    concurrency 1024 on 8 ranks keeps 1,012 requests in flight, tests/workloads/serving/test_dp_attention.py).
    The heuristic itself is the whole group's (tuning.py: tp x the GPU's memory, max(tp, kv heads)): for
    DeepSeek-R1 H200 DEP8 at 1000/1000 it gives 384 (engines.trtllm_bench_limits, head_size 56), so the
    replica runs 8 x 384 (it read 128 per rank while dcsim priced a token's KV with 128-wide heads)."""
    from sim.app.validation import serving
    row = next(r for r in held.heldout_cases() if "DeepSeek_R1_0528_H200_dep8" in r["id"])
    assert serving.case_config(row, max_requests=8).serve.max_batch_size == 8 * 384


# (row id, max_batch_size, max_num_tokens) per rank as trtllm-bench 1.0-1.2 resolves them for one row of each
# group (engines.trtllm_bench_limits; tests/workloads/serving/test_engines.py works three of them by hand). No
# published trtllm-bench log of these runs gives its "Max Runtime Batch Size" / "Max Runtime Tokens" lines.
RESOLVED_LIMITS = [
    ("trtllm12_Llama_3.3_70B_B200_tp1_1024_8192", 128, 2048),
    ("trtllm12_Qwen3_30B_A3B_B200_tp1_1000_1000", 1792, 3584),
    ("trtllm12_Qwen3_235B_A22B_B200_dep4_1000_1000", 3584, 7168),
    ("trtllm12_Qwen3_235B_A22B_H100_dep8_1000_1000", 1280, 2304),
    ("trtllm12_DeepSeek_R1_0528_B200_dep4_1000_1000", 384, 2048),
    ("trtllm12_DeepSeek_R1_0528_H200_dep8_1000_1000", 384, 2048),
    ("trtllm12_GPT_OSS_120B_GB200_tp1_1024_32768", 2048, 8192),
    ("trtllm12_GPT_OSS_120B_B200_dep2_1024_32768", 2048, 8192),
    ("trtllm12_GPT_OSS_120B_H100_dep4_32768_1024", 2048, 34816),
    ("trtllm12_GPT_OSS_20B_H200_tp1_1000_1000", 2048, 8192),
    ("trtllm12_Llama_4_Maverick_B200_dep4_1024_8192", 768, 2048),
    ("trtllm10_Llama_4_Scout_H200_tp4_1000_1000", 2560, 5120),
    ("trtllm10_Llama_4_Maverick_H100_tp8_1000_1000", 1536, 2816),
]


def test_each_groups_limits_are_trtllm_bench_s():
    from sim.app.validation import serving
    rows = {r["id"]: r for r in held.heldout_cases()}
    for rid, bs, tokens in RESOLVED_LIMITS:
        r = rows[rid]
        ranks = int(r["tp"]) if r["dp_attention"] == "yes" else 1
        s = serving.case_config(r, max_requests=8).serve
        assert (s.max_batch_size, s.max_batch_tokens) == (bs * ranks, tokens * ranks), rid


def test_dep_kinds_share_the_moe_traffic_text():
    """Every attention-DP kind says what is modelled of its MoE traffic and what was ruled out (issue 12)."""
    for key in ("Qwen3_235B_A22B", "GPT_OSS_120B_H100_dep"):
        assert held.DEP_MOE_COMM in held.kind_of(key)[2]
    for key in ("DeepSeek_R1", "GPT_OSS_120B_B200_dep", "Llama_4_Maverick_H200", "trtllm10_Llama_4_Maverick"):
        assert "DEP_MOE_COMM" in held.kind_of(key)[2] or "hopdep" in held.kind_of(key)[2]

def test_gpt_oss_20b_h200_moe_gemms_run_at_the_fused_kernels_rate(runs):
    """Issue 12's repro (kind 4, MoE grouped GEMMs too fast): GPT-OSS-20B TP1 on one H200 at 1000/1000
    (decode batches ~1,000 x 4 of 32 experts: 125 tokens per expert) read +105.6 % while its expert GEMMs
    ran on the dense BF16 curve at each expert's token count; with each expert's rows padded to the fused
    kernel's 128-row tile (1.40x) and the weight-only MXFP4 x BF16 kernel at its published rate
    (workloads/serving/fused_moe.py) it reads +39 %; at the pool's batch (benchlim) +26.8 %, with the
    graph padding's copies of one dummy request routed alike (gptosshop) +21.8 %."""
    row = next(r for r in held.heldout_cases() if r["id"] == "trtllm12_GPT_OSS_20B_H200_tp1_1000_1000")
    err = _run(runs, row)["error"]
    assert 0.15 < err < 0.45


@pytest.mark.slow
def test_v10_qwen3_235b_dep8_rows_read_over_on_blackwell_as_on_hopper():
    """The v1.0 table's Qwen3-235B-A22B TP8 rows (held out, nothing fitted to them), run as the doc's MoE yaml
    reads (attention DP, DEP8) with the post-1.0 rows' options: B200 NVFP4 is over-predicted as much as H200
    FP8 (1000/1000: +59 / +55 %; H100 +78 %), so the Qwen3 DEP step's missing time is not the Hopper kernels'
    (issue 12, depstep: serving_heldout.QWEN_DEP_GAP). With the EP8 rank's routing skew (skew2, ROUTE_SKEW:
    2.03x the mean rank) 1000/1000 +30.0 / +17.4 / +41.1 %, 128/2048 +26.3 / +5.9 / +53.9 % (B200 / H200 /
    H100; +47.2 / +34.9 / +85.2 before). With TensorRT-LLM's CUTLASS NVFP4 fused-MoE terms (bwmoe,
    QWEN_MOE_CANDIDATES (4); Blackwell only) B200 1000/1000 +30.0 -> +5.5 %, 128/2048 +26.3 -> +6.1 %: the
    Blackwell rows' excess was that kernel's, the Hopper rows' is not. A gap pinned, not a fit: fails when the
    model moves it."""
    from sim.app.validation import serving
    rows = held.v10_qwen3_235b_rows(["1000/1000", "128/2048"])
    assert len(rows) == 6 and all("00f37686" in r["source"] and "Qwen3-235B-A22B table" in r["source_location"]
                                  for r in rows)
    assert len(held.v10_qwen3_235b_rows()) == 27
    errs = {r["id"].split("A22B_")[1]: serving.run_case(r)["error"] for r in rows}
    assert all(0.0 < e < 1.2 for e in errs.values()), errs
    assert 0.0 < errs["B200_dep8_1000_1000"] < 0.10 and 0.12 < errs["H200_dep8_1000_1000"] < 0.23
    assert 0.0 < errs["B200_dep8_128_2048"] < 0.10 and 0.35 < errs["H100_dep8_1000_1000"] < 0.47


def _with_rank_cap(row: dict, per_rank: int):
    """The row's config with each rank's max_batch_size set to ``per_rank`` (a diagnostic cap)."""
    from sim.app.validation import serving
    from sim.config import load_config
    d = serving.case_config(row).model_dump()
    d["serve"]["max_batch_size"] = per_rank * d["serve"]["tp"]
    return load_config(data=d)


@pytest.mark.slow
def test_gpt_oss_blackwell_dep2_step_matches_at_a_tp1_sized_batch():
    """GPT-OSS-120B 1024/8192 (issue 12, depstep): B200 DEP2 and GB200 TP1 measure 17,289 and 14,800 tokens/s
    per GPU. Run with ~380 sequences per DEP2 rank (max_batch_size 384 per rank) and ~390 on the TP1 GPU (448),
    dcsim reads +11.6 / +2.8 %: the DEP2 step at a TP1-sized batch matches, and the rows' gap (+41.0 / -30.2 %
    at trtllm-bench's heuristic 768 per rank / 224) is the limits' (serving_heldout.DEP_MOE_COMM)."""
    from sim.app.runner import run
    rows = {r["id"]: r for r in held.heldout_cases()}
    for rid, cap in (("trtllm12_GPT_OSS_120B_B200_dep2_1024_8192", 384),
                     ("trtllm12_GPT_OSS_120B_GB200_tp1_1024_8192", 448)):
        r = rows[rid]
        per_gpu = float(run(_with_rank_cap(r, cap)).summary["output_tokens_per_s"]) / int(r["gpu_count"])
        assert abs(per_gpu / float(r["value"]) - 1.0) <= 0.15, (rid, per_gpu)


def test_moe_kernel_samples_read_slower_than_dcsims_routed_expert_ops_and_not_by_the_weights():
    """Issue 12 (qwenmoe), candidate (3) at the kernel level: FlashInfer's published TensorRT-LLM-gen NVFP4
    fused-MoE sample (1,024 tokens, hidden = intermediate = 1,024, top-8) takes 1.90x dcsim's routed-expert ops
    with 128 experts and 1.37x with 256; the measured launch takes the same time with twice the experts' weights
    (0.216 vs 0.219 ms) where dcsim's grows by a third: the missing time is the routed copies' work, not the
    weight reads. A DeepSeek-V3-shaped launch (EP8, 512 tokens, B300) reads 1.24x. Gaps pinned, not fitted
    (serving_heldout.QWEN_MOE_CANDIDATES): fails when the model moves them."""
    s = held.MOE_KERNEL_SAMPLES
    assert all(v[8] and v[7] > 0 for v in s.values())
    pred = {k: held.fused_moe_layer_s(*v[:7]) for k, v in s.items()}
    ratio = {k: s[k][7] / pred[k] for k in s}
    assert 1.7 < ratio["fi_sample_e128_renorm"] < 2.1, ratio
    assert 1.25 < ratio["fi_sample_e256_dsv3"] < 1.5, ratio
    assert 1.1 < ratio["fi_pr5301_dsv3_ep8_t512"] < 1.4, ratio
    measured_e = s["fi_sample_e256_dsv3"][7] / s["fi_sample_e128_renorm"][7]
    dcsim_e = pred["fi_sample_e256_dsv3"] / pred["fi_sample_e128_renorm"]
    assert abs(measured_e - 1.0) < 0.02 and dcsim_e > 1.3
    # the op set is the layer's routed-expert ops, at more tokens never less time
    assert held.fused_moe_layer_s("B200-180GB", 2048, 1024, 1024, 128, 8) > pred["fi_sample_e128_renorm"]


def test_deepgemm_k_sweep_shows_a_tile_depth_cost_that_its_masked_moe_rows_do_not_need():
    """Issue 12 (qwenmoe), candidate (1): DeepGEMM's H800 FP8 dense GEMMs at 4,096 rows (held-out kernel table
    data/fused_moe_kernels.csv) slow with the reduction depth K as K / (K + 768) (normalized at K = 7,168) within
    12 %, where dcsim's curve, flat in K, reads K = 512 2x too fast; but its masked grouped rows at 256-1,024 rows
    per expert and K = 2,048 (the MoE regime of the Qwen3 steps) read within 8 % without any K term, so a tile-depth
    factor is not adopted for the expert GEMMs (serving_heldout.QWEN_MOE_CANDIDATES)."""
    import csv
    from pathlib import Path
    from sim.compute import ComputeModel, efficiency_for
    from sim.hardware import gpu
    from workloads.serving import fused_moe as fm
    with (Path(fm.__file__).parent / "data" / "fused_moe_kernels.csv").open() as f:
        rows = list(csv.DictReader(f))
    cm = ComputeModel(gpu("H800-SXM-80GB"), "fp8", efficiency_for("H800-SXM-80GB"))

    def measured_over_dcsim(r):
        g, m, n, k = int(r["groups"]), float(r["m_per_group"]), int(r["n"]), int(r["k"])
        pad = fm.uniform_padding(m, float(r["m_spread"]), fm.tile_rows(m, 8.0, 128.0))
        seconds = fm.grouped_gemm_seconds(cm, g, m, n, k, cm.rate("fp8"), pad)
        return float(r["tflops"]) * 1e12 * seconds / (2.0 * g * m * n * k)

    def depth(k):
        return (k / (k + 768.0)) / (7168.0 / (7168.0 + 768.0))
    sweep = {int(r["k"]): measured_over_dcsim(r) for r in rows
             if r["layout"] == "dense" and r["m_per_group"] == "4096" and r["n"] != "2112"}
    assert sorted(sweep) == [512, 1536, 2048, 7168, 16384]
    assert sweep[512] < 0.55 and sweep[16384] > 1.0                 # flat in K, dcsim misses the trend
    assert all(abs(v / depth(k) - 1.0) < 0.12 for k, v in sweep.items()), sweep
    masked = [measured_over_dcsim(r) for r in rows if r["layout"] == "masked" and r["k"] == "2048"]
    assert len(masked) == 3 and all(abs(v - 1.0) < 0.08 for v in masked), masked
    assert all(v * depth(2048) < 0.80 for v in masked)           # the K term: their rate 22-25 % under the measured


def test_dsr1_rows_after_the_block_scaled_gather_and_bf16_mla_decode(runs):
    """Issue 12 (deepseek, with benchlim's limits): the 14 DeepSeek-R1-0528 cells. trtllm-bench's heuristic
    runs 384 sequences per rank (its KV estimate: 128 heads x 56); the FP8 release's all-gather carries bf16
    (block scales are applied inside the MoE kernel), MLA decode runs its MMA at bf16 over an FP8 cache,
    Hopper's block-scaled GEMMs store after the MMA. Blackwell within 11 % but 1024/8192 (-33 / -40 %);
    H200 1024/8192 +14.7 %, 1000/1000 and 1024/1024 +84 %, 1024/32768 +44 % (serving_heldout.DSR1_GAP:
    the DEP step). With the most loaded EP rank (routeskew, the preset's expert_load_cv): Blackwell within
    14 % but 1024/8192 (-33.5 / -40.3 %), H200 1000/1000 and 1024/1024 +57 %, 1024/8192 +13.5 %, 1024/32768
    +42.7 %. Since bwattn Blackwell's MLA decode runs FP8 MMA and each DEP rank
    captures graphs to its own limit (merged figures in DSR1_GAP). Pinned both ways: fails when the model moves a row."""
    err = {r["id"].removeprefix("trtllm12_DeepSeek_R1_0528_"): _run(runs, r)["error"]
           for r in held.heldout_cases() if "DeepSeek_R1" in r["id"]}
    assert len(err) == 14
    assert 0.5 < err["H200_dep8_1000_1000"] < 0.65 and 0.5 < err["H200_dep8_1024_1024"] < 0.65
    assert abs(err["H200_dep8_1024_8192"]) <= 0.15 and 0.35 < err["H200_dep8_1024_32768"] < 0.5
    # TensorRT-LLM's CUTLASS NVFP4 fused-MoE terms (bwmoe) took the Blackwell rows 7-9 points down (DSR1_GAP)
    assert all(-0.15 <= e <= -0.07 for k, e in err.items() if "dep4" in k and "_8192" not in k and "_32768" not in k)
    # -16.1 / -13.3 % until issue 12 (gptbw16): a mixed step's context and generation attention as two launches
    # (the generation requests' MLA absorbed beside the context chunk's MHA form): +1.8 / +4.0 %
    assert all(-0.02 < e < 0.08 for k, e in err.items() if "dep4_8192_1024" in k)
    assert all(-0.40 < e < -0.24 for k, e in err.items() if "dep4_1024_8192" in k)
    assert all(0.12 < e < 0.20 for k, e in err.items() if "dep4_1024_32768" in k)


def test_dsr1_blackwell_long_output_rows_after_fp8_mla_decode(runs):
    """Issue 12 (bwattn): Blackwell's MLA decode runs FP8 MMA over the FP8 cache (compute.toml [GB200]
    mla_decode_fp8_mma) and each DEP rank captures CUDA graphs up to its own 96: B200 1024/8192 -32.9 ->
    -27.3 %, GB200 -39.8 -> -35.5 %, 1024/32768 +2.2 -> +15.7 % (B200). The audit in DSR1_GAP: at
    1024/8192 trtllm-bench's heuristic gives 96 sequences per rank, which the pool holds with room to
    spare (not KV-limited), and at 96 per rank dcsim's step reads the 64 local experts' NVFP4 weights
    (~84 GB) at serve_hbm_eff_max, ~18 ms of its ~33 ms, where the measured step is 24.9 / 21.9 ms
    (B200 / GB200). At 1024/32768 64 per rank fill ~91 % of dcsim's pool: a knife edge."""
    from sim.app.validation import serving
    rows = {r["id"]: r for r in held.heldout_cases()}
    b8k = rows["trtllm12_DeepSeek_R1_0528_B200_dep4_1024_8192"]
    s = serving.case_config(b8k, max_requests=8).serve
    assert (s.max_batch_size, s.max_batch_tokens) == (4 * 96, 4 * 2048)
    err = {k: _run(runs, rows[f"trtllm12_DeepSeek_R1_0528_{k}"])["error"]
           for k in ("B200_dep4_1024_8192", "GB200_dep4_1024_8192", "B200_dep4_1024_32768", "B200_dep4_1000_1000")}
    assert -0.31 < err["B200_dep4_1024_8192"] < -0.24 and -0.39 < err["GB200_dep4_1024_8192"] < -0.32
    assert 0.12 < err["B200_dep4_1024_32768"] < 0.20 and -0.12 < err["B200_dep4_1000_1000"] < -0.07   # bwmoe: -1.1 -> -9.6 %
    # the measured 1024/8192 step at 96 per rank, against the expert weights one rank reads per step
    step_ms = 96 / float(b8k["value"]) * 1e3
    assert 24.0 < step_ms < 26.0
    from workloads.model import ModelSpec
    spec = ModelSpec.from_section(serving.case_config(b8k, max_requests=8).model)
    moe_layers = sum(spec.is_moe_layer(i) for i in range(spec.layers))
    # NVFP4: 0.5 B per weight + one FP8 scale per 16
    experts_GB = spec.experts / 4 * spec.expert_params() * moe_layers * (0.5 + 1 / 16) / 1e9
    assert moe_layers == 58 and 88 < experts_GB < 96
    # at FlashInfer's measured 5.5 TB/s for TensorRT-LLM's NVFP4 MoE (PR #5301) that alone is >= 16 ms
    assert experts_GB / 5.5 > 16.0


def test_routing_skew_is_modelled_only_where_a_source_gives_it():
    """Issue 12 (routeskew): a DEP step waits for its most loaded EP rank (fused_moe.rank_load_factor of
    model.expert_load_cv). DeepSeek's router: TensorRT-LLM's EP32 example (the deepseek-v3 preset's cv 1.51);
    Qwen3-235B's (skew2): aiconfigurator's latency-matched power law, checked against that DeepSeek statistic
    (cv 2.45; tests/workloads/serving/test_fused_moe.py). Qwen3-30B-A3B, Llama 4, GPT-OSS and Mixtral stay
    balanced (cv 0): no source (ROUTE_SKEW lists what was searched). DeepSeek-R1 H200 DEP8 1000/1000 +84 -> +57 %,
    Qwen3-235B H100 DEP8 +71 -> +36 %. Fails when a preset gains a skew without its audit being redone."""
    from sim.config import load_config
    from workloads.model import ModelSpec
    def cv(preset):
        cfg = load_config(data={"run": {"kind": "serve", "name": "cv"}, "model": {"preset": preset},
                                "topology": {"gpu": "H200-SXM-141GB", "gpus": 8, "gpus_per_node": 8, "fabric": "none"},
                                "serve": {"tp": 8}, "workload": {"requests": 1}})
        return ModelSpec.from_section(cfg.model).expert_load_cv
    assert cv("deepseek-v3") == pytest.approx(1.51)
    assert cv("qwen3-235b-a22b") == pytest.approx(2.45)
    for preset in ("qwen3-30b-a3b", "llama4-maverick", "llama4-scout", "gpt-oss-120b",
                   "gpt-oss-20b", "mixtral-8x7b"):
        assert cv(preset) == 0.0, preset
    for key in ("Qwen3_235B_A22B", "GPT_OSS_120B_H100_dep"):
        assert held.ROUTE_SKEW in held.kind_of(key)[2]
    assert "routeskew" in held.DSR1_GAP and "+84.2 -> +57.4" in held.ROUTE_SKEW
    assert "+67.7 -> +47.8" in held.ROUTE_SKEW and "+71.3 -> +36.0" in held.ROUTE_SKEW


def test_gpt_oss_h100_dep4_runs_tensorrt_llm_s_triton_ep_path(runs):
    """Issue 12 (gptossdep): the H100 DEP4 rows as TensorRT-LLM ran them (serving_heldout.GPT_OSS_DEP_HOPPER_GAP):
    W4A16 (BF16 activations x MXFP4, the mixed-input kernel: TRITON backend), EP4 over 4 attention-DP ranks,
    the bf16 hidden states all-gathered (2 bytes) and the output reduce-scattered; matmul_ogs sizing its M tile
    from every gathered pair over the 32 local experts (4x the real rows per expert) and each rank gating all
    ranks' tokens. The 1000/1000 row read +110.3 % without the two Triton rules, +75.6 % with them."""
    import topologies
    from sim.app.runner import build_fabric
    from sim.app.validation import serving
    from sim.simulation import Simulation
    from workloads.serving.deployment import Deployment
    from workloads.serving.requests import build_stream
    row = next(r for r in held.heldout_cases() if r["id"] == "trtllm12_GPT_OSS_120B_H100_dep4_1000_1000")
    cfg = serving.case_config(row)
    s = cfg.serve
    assert (s.dp_attention, s.ep, s.precision, s.expert_precision, s.kv_precision) == (True, 4, "bf16", "mxfp4", "bf16")
    assert s.expert_compute_precision is None
    sim = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    c = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim)).cost
    assert c._mixed_input and c.moe_all_gather() and c.gather_bytes == 2.0
    assert c._moe_tile_scale() == 4.0 and c.moe_gate_on_gathered
    err = _run(runs, row)["error"]
    assert 0.60 < err < 0.90, err


def test_qwen3_235b_gb200_1000_1000_is_a_wave_edge_of_the_kv_pool():
    """BW_DECODE_AUDIT (issue 12, bwdec17): the GB200 DEP4 1000/1000 row's over-prediction is the pool's edge,
    not a per-sequence cost: GB200's pool (each rank's blocks) holds every one of the 3,000 requests of 2,000
    tokens at once (750 a rank), B200's does not. Fails when the HBM ledger, the limits or the rows move it."""
    from sim.app.validation.serving import case_config, deployment
    rows = {r["id"]: r for r in held.heldout_cases()}
    pools = {}
    for g in ("GB200", "B200"):
        cfg = case_config(rows[f"trtllm12_Qwen3_235B_A22B_{g}_dep4_1000_1000"], None, "inference_heldout")
        dep = deployment(cfg)
        per_request = dep.cost.kv_blocks(1000 + 1000, cfg.serve.kv_block_tokens)
        pools[g] = (dep.kv_blocks * dep.engines / cfg.serve.tp, cfg.workload.requests / cfg.serve.tp * per_request)
    blocks, needed = pools["GB200"]
    assert needed <= blocks < 1.05 * needed          # every request at once, within 5 %
    blocks, needed = pools["B200"]
    assert 0.95 * needed < blocks < needed           # a few short: a second wave


@pytest.mark.slow
def test_v10_scout_grace_rows_are_held_by_the_mixed_steps_kernel_dispatch(monkeypatch):
    """issue 12 (scout17): TensorRT-LLM runs a step with a prompt in it eagerly, each kernel dispatched from the
    executor's one Python thread after the overlap scheduler's per-sequence work (engines.toml [trtllm]
    launch_us 13.48 us, eager_serial; TransformerEngine issue #2053), on Grace at 1 / 0.364 of the x86 speed
    (hardware.toml dispatch_speed). Llama 4 Scout's 1,152 kernels take 42.7 ms there: the v1.0 GB200 rows with a
    prompt in most steps read +63.0 -> +27.1 % (128/128) and +74.8 -> +58.3 % (1000/1000), while on B200's x86
    host the 15.5 ms hides behind the GPU step (128/128 +26.0 -> +25.9 %). Without the dispatch GB200 128/128
    reads +63 % again."""
    from sim.app.validation import serving
    from workloads.serving import engines
    rows = {r["id"]: r for r in held.heldout_cases()}
    gb, b = rows["trtllm10_Llama_4_Scout_GB200_tp1_128_128"], rows["trtllm10_Llama_4_Scout_B200_tp1_128_128"]
    assert 0.15 < serving.run_case(gb)["error"] < 0.35
    assert 0.45 < serving.run_case(rows["trtllm10_Llama_4_Scout_GB200_tp1_1000_1000"])["error"] < 0.65
    assert 0.20 < serving.run_case(b)["error"] < 0.30
    monkeypatch.setitem(engines._data()["trtllm"], "launch_us", 0.0)
    assert serving.run_case(gb)["error"] > 0.55
