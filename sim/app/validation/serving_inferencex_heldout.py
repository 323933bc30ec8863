"""Held-out serving validation on SemiAnalysis InferenceX (InferenceMAX) runs dcsim has never seen: it measures,
nothing here or elsewhere in dcsim is fitted to these rows (issue 12, infx21).

Vocabulary:
- row: one line of ``workloads/serving/data/inferencex_heldout.csv`` (``ROWS_FILE``), in the columns of the
  fitted InferenceX suite's files (``serving_inferencex.COLUMNS`` and its optional run columns; the same
  ``case_config`` builds each run as its engine served it) plus ``total_tput_per_gpu`` and ``mean_e2el_s`` (the
  record's tput_per_gpu and mean_e2el, kept to cross-check the transcription) and ``same_config_as`` (the id of
  a row of another shipped file with the same engine image, GPU, TP, prompt / output lengths and concurrency,
  ``file:id``; empty for a configuration no other file holds). Rows: GPT-OSS-120B (MXFP4 experts) under vLLM
  0.13.0 on H100 / H200 / B200, TP1-TP8, concurrency 4-128 (InferenceMAX run 20667906037: 1024/1024,
  1024/8192 on B200, 8192/1024; the run's Hopper 1024/8192 points are not here: hopper_gptoss_vllm_steps.csv
  holds them and a test prices them), and trtllm-serve 1.2.0rc2 on B200 TP2 / TP4 / TP8 without attention DP
  (run 20286968709), each as the mantile mirror of the run's agg_bmk.json records it; sources per row.
- case: ``<row id>:<metric>`` for each of ``METRICS``: the mean TTFT (s), the mean TPOT (s) and the output
  tokens/s per GPU of dcsim's closed-loop run against the row's.
- group: a row's (engine, GPU), the ``KINDS`` key its id contains. ``KINDS`` holds each group's per-metric
  (bound, gap): a case outside ``TOLERANCE`` carries the gap text and is held to the bound.
  ``GROUP_BOUNDS`` holds each group's documented median and p90 |error| per metric (``group_stats``).
- gap texts: blocks of ``sim/data/validation/inferencex_heldout_gaps.toml`` (``GAP_FILE``), read through
  ``gap_text.load`` under the same names.
"""

from __future__ import annotations

import statistics

from sim.app.validation import gap_text
from sim.app.validation import serving_inferencex as ix
from sim.app.validation.case import Case

ROWS_FILE = ix.DATA.parent / ix.HELDOUT_FILE

GAP_FILE = "inferencex_heldout_gaps.toml"
_GAPS = gap_text.load(GAP_FILE)
VLLM_TTFT_GAP = _GAPS["VLLM_TTFT_GAP"]
TRT_TTFT_GAP = _GAPS["TRT_TTFT_GAP"]
TRT_B200_TPOT_GAP = _GAPS["TRT_B200_TPOT_GAP"]
VLLM_TPOT_GAP = _GAPS["VLLM_TPOT_GAP"]

# (case suffix, the run summary's key) per metric; the throughput is divided by the row's gpu_count
METRICS = (("ttft", "ttft_mean_s"), ("tpot", "tpot_mean_s"), ("output_tokens_per_s", "output_tokens_per_s per GPU"))
TOLERANCE = 0.15

# (row-id substring, {metric: (bound, gap)}): a case within TOLERANCE has no gap and is held to it
KINDS = [
    ("_h100_vllm013_", {"ttft": (0.65, VLLM_TTFT_GAP), "tpot": (0.20, VLLM_TPOT_GAP),
                        "output_tokens_per_s": (0.22, VLLM_TPOT_GAP)}),
    ("_h200_vllm013_", {"ttft": (0.60, VLLM_TTFT_GAP), "tpot": (0.20, VLLM_TPOT_GAP),
                        "output_tokens_per_s": (0.22, VLLM_TPOT_GAP)}),
    ("_b200_vllm013_", {"ttft": (0.65, VLLM_TTFT_GAP), "tpot": (0.20, VLLM_TPOT_GAP),
                        "output_tokens_per_s": (0.22, VLLM_TPOT_GAP)}),
    ("_b200_trt_", {"ttft": (0.65, TRT_TTFT_GAP), "tpot": (0.62, TRT_B200_TPOT_GAP),
                    "output_tokens_per_s": (0.40, TRT_B200_TPOT_GAP)}),
]

# each group's documented (median, p90) |error| per metric, a little above the suite's figures when it was built
# (issue 12, infx21: vLLM B200 TTFT 25.2 / 92.1 %, TPOT 3.8 / 11.3, output 3.6 / 11.6; H100 21.1 / 63.5, 5.1 / 13.6,
# 6.0 / 12.9; H200 23.3 / 51.9, 4.5 / 9.2, 4.9 / 9.9; trtllm-serve B200 11.2 / 45.5, 39.0 / 51.9, 28.6 / 34.0);
# vLLM TTFT once the rows ran the completions endpoint (serve.endpoint, issue 12, endpoint22): B200 19.4 / 43.1,
# H100 22.0 / 31.8, H200 24.7 / 34.7 (worst 56.4 / 56.6 / 49.1 %, KINDS' bounds)
GROUP_BOUNDS = {
    "_h100_vllm013_": {"ttft": (0.25, 0.37), "tpot": (0.08, 0.16), "output_tokens_per_s": (0.08, 0.16)},
    "_h200_vllm013_": {"ttft": (0.27, 0.40), "tpot": (0.07, 0.12), "output_tokens_per_s": (0.07, 0.12)},
    "_b200_vllm013_": {"ttft": (0.22, 0.48), "tpot": (0.06, 0.14), "output_tokens_per_s": (0.06, 0.14)},
    "_b200_trt_": {"ttft": (0.15, 0.50), "tpot": (0.45, 0.56), "output_tokens_per_s": (0.32, 0.38)},
}


def rows() -> list[dict]:
    """Every row of ``ROWS_FILE`` (strict: ``serving_inferencex.inferencex_rows``' checks)."""
    return ix.inferencex_rows([ROWS_FILE])


def group_of(case_id: str) -> str:
    """The ``KINDS`` key the case's row id contains; a row no kind names is a ValueError (every row is in one)."""
    for key, _ in KINDS:
        if key in case_id:
            return key
    raise ValueError(f"{case_id!r}: no KINDS group")


def run_row(row: dict, max_requests: int | None = None) -> list[Case]:
    """The row's three cases (``METRICS``) from one closed-loop run of ``serving_inferencex.case_config(row)``."""
    from sim.app.runner import run
    source = "; ".join(ix._text(row, k) for k in ("source", "source_location", "source_url"))
    s = run(ix.case_config(row, max_requests)).summary
    gpus = ix._int(row, "gpu_count", 1)
    measured = {"ttft": ix._req_float(row, "ttft_ms") / 1e3, "tpot": ix._req_float(row, "tpot_or_itl_ms") / 1e3,
                "output_tokens_per_s": ix._req_float(row, "value")}
    predicted = {"ttft": float(s["ttft_mean_s"]), "tpot": float(s["tpot_mean_s"]),
                 "output_tokens_per_s": float(s["output_tokens_per_s"]) / gpus}
    kinds = dict(KINDS)[group_of(row["id"])]
    out = []
    for name, metric in METRICS:
        bound, gap = kinds[name]
        within = abs(predicted[name] / measured[name] - 1.0) <= TOLERANCE
        out.append(Case(f"{row['id']}:{name}", metric, predicted[name], measured[name], source, tolerance=TOLERANCE,
                        bound=TOLERANCE if within else bound, gap="" if within else gap,
                        fit=row.get("fit") or "held-out"))
    return out


def run_suite(max_requests: int | None = None) -> list[Case]:
    """Every row of ``ROWS_FILE``: its TTFT, TPOT and output-throughput cases."""
    return [c for row in rows() for c in run_row(row, max_requests)]


def group_stats(cases) -> dict[str, dict[str, tuple[int, float, float]]]:
    """{group: {metric: (cases, median |error|, p90 |error|)}}; p90 the value at rank round(0.9 (n - 1))."""
    errs: dict[str, dict[str, list[float]]] = {}
    for c in cases:
        rid, name = c["case"].rsplit(":", 1)
        errs.setdefault(group_of(rid), {}).setdefault(name, []).append(abs(c["error"]))
    out = {}
    for g, by in errs.items():
        out[g] = {}
        for name, v in by.items():
            v = sorted(v)
            out[g][name] = (len(v), statistics.median(v), v[round(0.9 * (len(v) - 1))])
    return out
