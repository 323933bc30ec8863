"""Serving validation on AMD Instinct MI355X: SemiAnalysis InferenceX (InferenceMAX) runs of SGLang at a known
concurrency.

Vocabulary:
- row: one line of ``workloads/serving/data/amd_inferencex.csv``, in ``serving_inferencex``'s columns
  (``serving_inferencex.COLUMNS``, read strictly) plus ``expert_precision`` (the checkpoint's routed experts in
  a block-scaled format: ``serving_inferencex.BLOCK_SCALED_EXPERTS``). The file's name keeps it out of
  ``serving_inferencex``'s ``inferencex_*.csv`` glob: ``dcsim validate serving-inferencex`` does not run it.
- fit: the column says which rows compute.toml [MI355X] ``serve_launch_us`` was fitted to ("fit": 2 rows)
  and which are held out of every fit ("held-out": 18 rows); ``Case.fit`` carries it.
- ``run_suite()``: each row's two cases as ``serving_inferencex.run_row`` builds them (the closed-loop run of
  ``serving_inferencex.case_config``: mean TPOT, ``tpot_mean_s``; output tokens/s per GPU), with this
  suite's ``KINDS`` (row-id substring, (tolerance, bound, gap) of the TPOT case, the same of the throughput
  case): a case outside its tolerance is held to its kind's bound and shows its kind's gap text.

Rows (amd_inferencex.csv): DeepSeek-R1-0528 as amd/DeepSeek-R1-0528-MXFP4-Preview (AMD-Quark MXFP4 weights and
activations in the MLPs, attention BF16: ``expert_precision`` mxfp4, expert MMA fp4, replica bf16, FP8 KV cache),
served by SGLang v0.5.6.post1 (lmsysorg/sglang:v0.5.6.post1-rocm700-mi35x; aiter attention and MoE) on 4 and 8
MI355X, TP4 at 1k/1k and TP8 at 1k/1k, 1k/8k and 8k/1k, concurrency 4-64: the InferenceMAX sweep run 20248091324
as mirrored in gminneci/mantile (1d3c259, reconcile/sources/inferencemax/raw/run_20248091324/agg_bmk.json), server
flags from SemiAnalysisAI/InferenceX benchmarks/dsr1_fp4_mi355x_docker.sh at 2e46dba. Not here: MI300X / MI325X
rows (none taken: dcsim's MI300X / MI325X constants are fitted to training steps only), ATOM / vLLM rows, MTP.

Gaps: ``MI355X_DECODE_GAP`` (what the fit moved and what is left of the decode step), ``MI355X_PREFILL_GAP``
(8k/1k TP8: prefill-bound steps under-predicted), in ``sim/data/validation/amd_gaps.toml``, one block per name,
read through ``gap_text.load`` and assigned here under the same names.
"""

from __future__ import annotations

from sim.app.validation import gap_text
from sim.app.validation import serving_inferencex as infx
from sim.app.validation.case import Case, read_rows
from sim.app.validation.serving import DATA

DATA_FILE = DATA.parent / "amd_inferencex.csv"
COLUMNS = infx.COLUMNS + ("expert_precision",)

GAP_FILE = "amd_gaps.toml"
_GAPS = gap_text.load(GAP_FILE)

MI355X_DECODE_GAP = _GAPS["MI355X_DECODE_GAP"]
MI355X_PREFILL_GAP = _GAPS["MI355X_PREFILL_GAP"]

# (row-id substring, (tolerance, bound, gap) of the TPOT case, the same of the throughput case); the first
# entry whose key the row id contains
KINDS = [
    ("mi355x_sglang_tp8_8192_1024", (0.15, 0.20, MI355X_PREFILL_GAP), (0.15, 0.20, MI355X_PREFILL_GAP)),
    ("mi355x_sglang", (0.15, 0.20, MI355X_DECODE_GAP), (0.15, 0.20, MI355X_DECODE_GAP)),
]


def amd_rows() -> list[dict]:
    """The rows of ``amd_inferencex.csv`` in file order (read strictly: ``case.read_rows``, ``COLUMNS``)."""
    return read_rows(DATA_FILE, COLUMNS)


def run_suite(max_requests: int | None = None) -> list[Case]:
    """Every row of ``amd_inferencex.csv``: its TPOT and output-throughput-per-GPU cases."""
    return [c for row in amd_rows() for c in infx.run_row(row, max_requests, KINDS)]
