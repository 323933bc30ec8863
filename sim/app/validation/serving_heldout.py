"""Held-out serving validation: maximum-throughput runs of the TensorRT-LLM performance overview
that no dcsim constant was fitted to (``workloads/serving/data/inference_heldout.csv``): the
post-1.0 per-GPU tables (docs/source/developer-guide/perf-overview.md, trtllm-bench, PyTorch
backend), dense Llama 3.3 70B at lengths the v1.0 table lacks (1024/8192, 8192/1024, 32768/1024;
B200 / GB200 TP1 NVFP4, H200 TP2 and H100 TP2 FP8) and the MoE models (Qwen3-30B-A3B TP1 NVFP4,
Qwen3-235B-A22B DEP4 / DEP8, DeepSeek-R1-0528 DEP4 / DEP8, and the 17 Llama 4 Maverick rows:
B200 / GB200 DEP4 NVFP4, H200 DEP8 FP8; DEP = attention DP with expert parallelism over the same
GPUs); and the v1.0 table's 63 Llama 4 rows (``trtllm10_*``: Scout TP1 NVFP4 on B200 / GB200, TP4
FP8 on H200 / H100; Maverick TP8 NVFP4 on B200, FP8 on H200 / H100; whole-replica throughput). Each row runs through ``serving.case_config`` (trtllm-bench's
heuristic limits, CUDA graphs with padding); the metric is output tokens/s per GPU.

Vocabulary:
- ``KINDS``: (row-id substring, tolerance, bound, gap) by kind of row: the dense rows are held to
  the suite's 15 %; each MoE kind has a ``bound`` it must stay under and a ``gap`` saying what is
  known of the difference (no per-row factor: the rows are predicted from the model as it is).
- ``run_suite()``: the rows as ``Case``s (``fit`` "held-out" on every one).
"""

from __future__ import annotations

import csv

from sim.app.validation.case import Case
from sim.app.validation.serving import DATA, run_case

DATA_HELDOUT = DATA.parent / "inference_heldout.csv"

QWEN_SMALL_GAP = (
    "Qwen3-30B-A3B TP1: decode-bound rows (1024/8192, 32768/1024) within 5 %; 1000/1000 and the prefill-heavy "
    "8192/1024 over-predicted. Modelled since issue 12: the overlap scheduler's host work, 25 us per sequence "
    "and step (engines.toml [trtllm] overlap_us_per_seq, fitted to the Llama 3.1 8B rows), bounds a step at "
    "max(GPU, 25 us x sequences): it holds the v1.0 table's B200 128/128 and 128/2048 rows (not in this group: "
    "+111.5 -> -0.1 %, +25.0 -> +1.4 %) but moves 1000/1000 only +26.6 -> +25.2 % (B200) and +49.1 -> +47.6 % "
    "(GB200): dcsim's GPU step there is ~29 us per sequence already. What is left, measured: a per-sequence "
    "host cost large enough for B200 1000/1000 (35 us) takes the 8B fit rows' worst from 6.6 to 9.3 % and 40 us "
    "to 14 %; the same v1.0 B200 rows at ISL >= 500 stay +25 to +31 % (500/2000, 1000/1000, 1000/2000) and the "
    "prefill-heavy ones +44 to +66 % (2048/128, 5000/500) on B200 and GB200 alike (GB200 measures at or above "
    "B200 there, so not the host); eager kernel dispatch of mixed steps (every kernel at 13.5 us, TE issue "
    "#2053's x86 torch-op CPU time) moves 1000/1000 < 1 point, at 30 us it takes 1024/8192 to -26 %: not it. "
    "Tried for 8192/1024: a mixed step's attention as TensorRT-LLM runs it, the context requests' FMHA and the "
    "generation requests' decode kernel one after the other (times added, where dcsim takes one op over both): "
    "8192/1024 +18.5 -> +7.2 % (GB200 +11.0 -> +1.3 %), 32768/1024 -2.1 -> -5.5 %, but the fitted attention "
    "constants then leave the dense prefill-heavy rows 1-5 points lower (serving-large median 4.6 -> 5.1 %, 8B "
    "rows 1.7 -> 2.2 %): not adopted without refitting them. "
    "GB200 (Grace host) measures below B200 where steps are host-bound (v1.0 128/128: 24,107 vs 39,827, i.e. "
    "~41 us per sequence, 1.66x the x86 fit; TE #2053 times a torch op 2.75x slower on Grace): no source "
    "separates the Grace factor for the executor's Python, so it is not modelled")
QWEN_DEP_GAP = (
    "Qwen3-235B-A22B with attention DP (DEP4 / DEP8): over-predicted on every GPU (B200/GB200 NVFP4 "
    "+13 to +49 %, H200/H100 FP8 +33 to +72 %), most at 1000/1000 (the largest decode batch). Per-rank "
    "CUDA-graph padding (dp_attention.DpAttentionCost.batch) took 4-13 points off; the rest is not "
    "isolated: the Hopper rows match within 18 % if the FP8 checkpoint's KV cache is bf16 (the Qwen3 "
    "options set no kv_cache_config, so trtllm-bench keeps the checkpoint's, which is not published), "
    "but the NVFP4 rows then fall 16-31 % below on the decode-heavy lengths. Candidate not modelled: "
    "TensorRT-LLM's attention-DP ranks admit context requests on their own (these options set no "
    "attention_dp_config balance), so a replica step carries one rank's whole prefill while the others "
    "wait, and runs without CUDA graphs unless every rank is generation-only; dcsim spreads a step's "
    "prefill evenly over the ranks (bounding the loaded rank by its own max_num_tokens, tried, moves "
    "these rows < 2 points: the replica's one scheduler packs full-budget prefill steps, where each "
    "TensorRT-LLM rank admits at its own steps; per-rank schedulers are not modelled). Grouped expert GEMMs at the per-expert GEMM's efficiency instead of "
    "the layer's (tried) give 1000/1000 +42 % and push the decode-bound Qwen3-30B rows to -28 %: not it")
DSR1_GAP = (
    "DeepSeek-R1-0528: Blackwell rows under-predicted (-26 to -48 %): the NVFP4-v2 checkpoint is run as "
    "NVFP4 routed experts at the FP8 tensor rate with FP8 attention (which modules v2 quantizes and at "
    "which rate TensorRT-LLM's FP4 MoE runs are not published per module); the H200 DEP8 FP8 row is over "
    "(+43 %) like the Qwen3 DEP rows, with MLA decode (worked on apart) in it")
GB200_GAP = (
    "GB200 Llama 3.3 70B rows read 9-15 % low while the B200 ones are within 7 %: the Blackwell serving "
    "constants (compute.toml [GB200] serve_*) were fitted to B200 rows and serve both boards alike; the v1.0 "
    "table's held-out GB200 rows show the same sign (-2 to -13 %)")
MAVERICK_BLACKWELL_GAP = (
    "Llama 4 Maverick DEP4 NVFP4 (B200 / GB200): -16 to +11 %, decode-heavy lengths under, prefill-heavy over. "
    "Chunked local attention (model.attention_chunk 8192 on 36 of 48 layers) carries these rows: with every layer "
    "attending the whole context they read -17 to -40 % (1024/32768 -38 %, 32768/1024 -34 %). TensorRT-LLM keeps "
    "every token's KV on chunked layers (one uniform KV pool; a pool keeping only the current chunk would read "
    "+40 to +63 % on B200). GB200's decode-heavy rows read ~2-5 points lower than B200's, as the Llama 3.3 GB200 "
    "rows do (the Blackwell serving constants were fitted to B200 rows)")
MAVERICK_HOPPER_GAP = (
    "Llama 4 Maverick DEP8 FP8 on H200: over-predicted +27 to +119 %. Two known faults, neither modelled: "
    "(1) attention DP on Hopper FP8 is over-predicted for every MoE model (1000/1000, 2,000-token sequences, no "
    "chunking involved: +74 %; Qwen3-235B DEP rows +33 to +72 %, see the Qwen3 DEP gap); (2) TensorRT-LLM runs "
    "chunked generation attention with its MMHA kernel when max_seq_len > attention_chunk_size, as XQA lacks "
    "chunked attention (TensorRT-LLM PR #6306), a known Hopper-only Llama 4 regression for sequences over 8K "
    "(release notes, PRs #6247 / #6438): the rows whose sequences exceed 8,192 tokens measure 3.6x below "
    "1024/1024 at 1024/8192 where B200 measures 2.2x below. No public figure gives MMHA's speed, so it is not "
    "fitted to these rows")
V10_SCOUT_TP1_GAP = (
    "v1.0 table, Llama 4 Scout TP1 NVFP4 on B200 / GB200: the Qwen3-30B-A3B v1.0 TP1 pattern (V10_QWEN3_30B): "
    "long decode-bound rows within 10 % (128/4096, 2048/2048, 20000/2000), 128/128 and 1000/1000 over (+28 to "
    "+90 %, GB200 most: its Grace host measures below B200 at short prompts) and the prefill-heavy 2048/128 and "
    "5000/500 +23 to +35 %: the overlap scheduler's host time and the prefill-heavy gap of QWEN_SMALL_GAP")
V10_DEP_GAP = (
    "v1.0 table, Llama 4 Scout TP4 / Maverick TP8 (FP8 Hopper, NVFP4 B200), run with attention DP: the doc's MoE "
    "llm_options.yml sets enable_attention_dp: true (printed under cuda_graph_config, which TensorRT-LLM's strict "
    "CudaGraphConfig rejects, so read as top-level). Every row is over-predicted, +12 to +110 %: the attention-DP "
    "fault of the Qwen3-235B DEP rows (QWEN_DEP_GAP), Hopper most, plus on Hopper the MMHA chunked-generation "
    "kernel for 22,000-token sequences (MAVERICK_HOPPER_GAP). Read as plain TP (one scheduler for the replica) "
    "the Maverick B200 rows cannot be reached: the overlap scheduler's 25 us per sequence and step caps a replica "
    "at 40,000 output tokens/s at 128/128, where B200 TP8 measures 124,323 (TP reading: B200 -57 to -69 %, H100 "
    "+101 % at 1000/1000). The Scout H200 TP4 rows read closer as plain TP (128/128 +5 %, 1000/1000 +5 %, "
    "20000/2000 +84 %): which mode each v1.0 run used is not published, so the doc's yaml decides")
# (row-id substring, tolerance, bound, gap): the first match decides
KINDS = [
    ("Llama_3.3_70B_GB200", 0.15, 0.17, GB200_GAP),
    ("Llama_3.3_70B", 0.15, None, ""),
    ("Qwen3_30B_A3B", 0.15, 0.55, QWEN_SMALL_GAP),
    ("Qwen3_235B_A22B", 0.15, 0.80, QWEN_DEP_GAP),
    ("DeepSeek_R1", 0.15, 0.55, DSR1_GAP),
    ("trtllm10_Llama_4_Scout_B200", 0.15, 0.50, V10_SCOUT_TP1_GAP),
    ("trtllm10_Llama_4_Scout_GB200", 0.15, 1.00, V10_SCOUT_TP1_GAP),
    ("trtllm10_Llama_4", 0.15, 1.20, V10_DEP_GAP),
    ("Llama_4_Maverick_H200", 0.15, 1.25, MAVERICK_HOPPER_GAP),
    ("Llama_4_Maverick", 0.15, 0.20, MAVERICK_BLACKWELL_GAP),
]


def heldout_cases() -> list[dict]:
    with DATA_HELDOUT.open() as f:
        return list(csv.DictReader(f))


def kind_of(case_id: str) -> tuple[float, float | None, str]:
    for key, tol, bound, gap in KINDS:
        if key in case_id:
            return tol, bound, gap
    return 0.15, None, ""


def run_suite(max_requests: int | None = None) -> list[Case]:
    out = []
    for row in heldout_cases():
        c = run_case(row, max_requests)
        tol, bound, gap = kind_of(row["id"])
        within = abs(c["error"]) <= tol
        out.append(Case(c["case"], "output_tokens_per_s per GPU", c["predicted"], c["measured"], c["source"],
                        tolerance=tol, bound=tol if within or bound is None else bound,
                        gap="" if within else gap, fit=row["fit"]))
    return out


# The v1.0 perf overview's Qwen3-30B-A3B TP1 NVFP4 rows (github.com/NVIDIA/TensorRT-LLM blob
# 00f37686aa854010d68bcbd0f4ab000221541ca6 docs/source/performance/perf-overview.md, "Qwen3-30B-A3B" table,
# B200 TP1 (FP4) and GB200 TP1 (FP4) columns; trtllm-bench throughput, PyTorch backend; the request counts of
# its "$num_requests" table). Not in the fitted tables and nothing fitted to them: a second held-out check
# of the MoE kind (issue 12), run as the group's rows are (same options, checkpoint and KV precision).
# Errors (B200 / GB200) before -> after the overlap scheduler's host time: 128/128 +111.5 -> -0.1 / +252.6 ->
# +65.0 %, 128/2048 +25.0 -> +1.4 / +51.6 -> +22.7 %, 128/4096 +13.2 -> +9.2 / +7.5 -> +3.6 %, 500/2000
# +31.9 -> +24.9 / +78.9 -> +68.3 %, 1000/1000 +32.3 -> +30.8 / +94.9 -> +93.0 %, 1000/2000 +26.3 -> +26.2 /
# +63.6 -> +63.5 %, 2048/128 +65.7 / +58.7 % (unmoved), 2048/2048 +15.0 / +37.6 %, 5000/500 +44.2 / +51.3 %,
# 20000/2000 -1.3 / -7.3 %.
V10_QWEN3_30B = {"128/128": (39827, 24107), "128/2048": (37844, 31311), "128/4096": (24953, 26337),
                 "500/2000": (27817, 20604), "1000/1000": (25828, 17481), "1000/2000": (22051, 17177),
                 "2048/128": (6251, 6595), "2048/2048": (17554, 14719), "5000/500": (6142, 5908),
                 "20000/2000": (2944, 3203)}
V10_REQUESTS = {"128/128": 30000, "128/2048": 3000, "128/4096": 1500, "500/2000": 3000, "1000/1000": 3000,
                "1000/2000": 1500, "2048/128": 3000, "2048/2048": 1500, "5000/500": 1500, "20000/2000": 1000}
V10_SOURCE = ("NVIDIA TensorRT-LLM performance overview (v1.0 docs; trtllm-bench, PyTorch backend), Qwen3-30B-A3B "
              "table; github.com/NVIDIA/TensorRT-LLM blob 00f37686aa854010d68bcbd0f4ab000221541ca6 "
              "docs/source/performance/perf-overview.md")


def v10_qwen3_30b_rows(lengths=None, gpus=("B200", "GB200")) -> list[dict]:
    """The v1.0 Qwen3-30B-A3B rows as rows of this group's CSV shape (``lengths``: "ISL/OSL" keys of
    ``V10_QWEN3_30B``, None: all), each built from the group's row of the same GPU."""
    base = {r["gpu_type"].split()[0]: r for r in heldout_cases() if "Qwen3_30B_A3B" in r["id"]}
    out = []
    for lens, values in V10_QWEN3_30B.items():
        if lengths is not None and lens not in lengths:
            continue
        isl, osl = lens.split("/")
        for g, value in zip(("B200", "GB200"), values):
            if g not in gpus:
                continue
            r = dict(base[g])
            r.update(id=f"trtllm10_Qwen3_30B_A3B_{g}_tp1_{isl}_{osl}", input_len_tokens=isl, output_len_tokens=osl,
                     value=str(value), batch_or_concurrency=f"infinite request rate; {V10_REQUESTS[lens]} requests",
                     source=V10_SOURCE, source_location=f"Qwen3-30B-A3B table, {g} TP1 (FP4) column, {lens} row",
                     source_url="https://nvidia.github.io/TensorRT-LLM/performance/perf-overview.html")
            out.append(r)
    return out
