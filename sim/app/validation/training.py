"""The training validation suite: predictions against published measurements shipped in ``data/``.

Vocabulary:
- row: a ``Case`` (``sim.app.validation.case``: case, metric, predicted, measured, error,
  source); ``error`` = predicted / measured - 1 (relative, signed).
- Narayanan et al. 2021 Table 1: each row simulated end to end (topology, fabric, SimPy step)
  through the runner, compared on hardware TFLOP/s per GPU (their FLOPs include recompute).
- vTrain single node: 1,440 rows. By default each row is predicted with the same pass costs and
  schedule replay but closed-form collectives (``estimate.estimate_step``), which keeps the suite
  to seconds; ``simulate_vtrain=True`` runs every row through the simulator instead.
- published end-to-end cases (``PUBLISHED``): a config, the measured figure and its citation
  copied from the case, compared on tokens/s per GPU. MPT-3B FP8 on 8 H100 (llm-foundry) with
  its BF16 reference row from the same table: what FP8 buys (per-op precision, Transformer
  Engine's casts, the measured fp8 GEMM factor) is in the FP8/BF16 ratio.
- issue 11 cases (``cases.issue11_cases``): published runs beyond the calibration set (a V100S,
  MI300X FSDP, Mixtral 8x7B with EP), simulated end to end; each within 15% or its gap explained
  in tests/app/validation/test_training.py.
- llm-foundry rows (``llmfoundry_rows``): the H100 bf16 MPT benchmark table (760M-30B, 8 and
  16 GPUs, seq 512-65k, FSDP), closed-form; the rows marked ``fit`` calibrate H100's host
  constants, the rest are held out (workloads/training/data/llmfoundry_benchmarks.csv).
- MoE cases (``cases.moe_cases``): NeMo / Megatron-Bridge MoE pre-training rows on DGX H100
  (Qwen3 30B-A3B and 235B-A22B), held out; each within 15% or its gap explained in the tests.
- multi-node runs held out of every fit (issue 11, "optimism at scale"): Narayanan Table 2
  (Megatron PTD-P and DeepSpeed ZeRO-3 on 384-2,240 A100, ``cases.narayanan_t2_cases``), Llama 3
  405B on 8K and 16K H100 and torchtitan FSDP on 128 H100 (``cases.multinode_cases``).
- AMD Instinct rows (``amd_rows``, ``cases.amd_training_cases``): AMD's MI300X and MI325X FSDP
  runs (rocm/pytorch-training v25.2); MI300X's constants are fitted to the rows marked ``fit``,
  the rest are held out (``AMD_TOLERANCE``); ``amd_summary`` gives median, p90 and worst |error|.
- Blackwell rows (``blackwell_rows``): NeMo / Megatron-Bridge dense pre-training on B200, GB200
  and GB300 (Llama 3 8B-405B, GPT-3 175B, Nemotron-4; FP8, MXFP8, NVFP4), closed-form; 9 fit the
  Blackwell training constants (calibration.fit_blackwell: one fit for the DGX B200 and GB200,
  one die; one for GB300), the rest are held out, each within 15% or in a documented gap
  (``BLACKWELL_GAPS``).
- llm-foundry A100 rows (``llmfoundry_a100_rows``): the 8-GPU bf16 MPT tables (80GB: 125M-30B, seq
  512-65k; 40GB: 125M-13B, seq 512-32k; FSDP, MPT's Triton attention), closed-form, every row held out
  (``LLMFOUNDRY_A100_GAPS`` explains the rows past ``LLMFOUNDRY_A100_TOLERANCE``).
- round 2 of the multi-node set (``scale_rows``): Megatron-Turing NLG 530B on 2,240-3,360 A100
  (DeepSpeed's 2021 pipeline engine), NeMo 24.07 / Megatron-Bridge 25.09 FP8 on 64-1,024 H100,
  llm-foundry MPT FSDP on 16-128 A100 40GB (weak scaling) and 32-64 H100 / A100 80GB.
- held-out round 3 (``heldout_round3_rows``, ``cases.heldout_round3_cases``): 27 public runs new
  to the project (torchtitan Llama 3.1 on 8-512 H100 with FSDP / CP / 2D / 3D / 4D, NeMo 24.07
  and Megatron-Bridge H100 rows, DeepSeek-V3 and Qwen3 MoE on H100 and Blackwell, the BF16 MoE
  rows on GB200 / GB300 among them), simulated,
  each within ``HELDOUT3_TOLERANCE`` or in a documented gap (``HELDOUT3_GAPS``).
- targets (issue "Training workloads"): Narayanan Table 1 every row within 10%, median within 5%;
  vTrain median |error| <= 10%, 90th percentile <= 20%. ``summarize(rows)`` reports them.
"""

from __future__ import annotations

import numpy as np

from sim.app.validation import gap_text
from sim.app.validation.case import Case
from sim.config import load_config
from workloads.training.calibration import prepare, predict
from workloads.training.cases import (issue11_cases, moe_cases, multinode_cases, narayanan_cases, narayanan_t2_cases,
                                     v100_calibration_cases, vtrain_cases)
from workloads.training.cases import llmfoundry_multinode_cases, mpt_attention_kernel, multinode_published_cases

# The documented gaps' texts (the "why" of BLACKWELL_GAPS, LLMFOUNDRY_A100_GAPS, HELDOUT3_GAPS): one block of
# sim/data/validation/training_gaps.toml per gap, named as the gap; its header says how to add or extend one.
GAP_FILE = "training_gaps.toml"
_GAPS = gap_text.load(GAP_FILE)


def _simulate(case: dict) -> float:
    from sim.app.runner import run  # the composition root (imported lazily: it imports workloads)
    summary = run(load_config(data=case["config"])).summary
    if case["metric"] == "tokens_per_s / gpus":
        return float(summary["tokens_per_s"]) / float(summary["gpus"])
    return float(summary[case["metric"]])


def run_suite(simulate_vtrain: bool = False, vtrain_every: int = 1) -> list[Case]:
    rows = []
    for case in narayanan_cases():
        pred = _simulate(case)
        rows.append(_row(case, pred))
    vcases = vtrain_cases()[::vtrain_every]
    if simulate_vtrain:
        preds = [_simulate(c) for c in vcases]
    else:
        from sim.compute import efficiency_for
        preds = predict(prepare(vcases), efficiency_for("A100-SXM-80GB"))
    for case, pred in zip(vcases, preds):
        rows.append(_row(case, float(pred)))
    for case in issue11_cases() + v100_calibration_cases() + moe_cases():
        rows.append(_row(case, _simulate(case)))
    for case in narayanan_t2_cases() + multinode_cases():
        if _passes(case) > MAX_SIMULATED_PASSES:     # minutes to simulate: the closed form
            from sim.compute import efficiency_for
            rows.append(_row(case, float(predict(prepare([case]), efficiency_for(case["config"]["topology"]["gpu"]))[0])))
        else:
            rows.append(_row(case, _simulate(case)))
    return (rows + published_rows(pairs=True) + llmfoundry_rows() + amd_rows() + blackwell_rows() + scale_rows()
            + llmfoundry_a100_rows() + heldout_round3_rows())


def scale_rows() -> list[Case]:
    """Multi-node runs held out of every fit, round 2 of issue 11 item 7: Megatron-Turing NLG
    530B on 2,240-3,360 A100, NeMo / Megatron-Bridge FP8 on 64-1,024 H100
    (``cases.multinode_published_cases``: simulated, or the closed form past
    ``MAX_SIMULATED_PASSES``), and llm-foundry's multi-node FSDP rows (``cases.
    llmfoundry_multinode_cases``: closed form, like ``llmfoundry_rows``)."""
    from workloads.training.costs import training_efficiency
    rows = []
    for case in multinode_published_cases():
        if _passes(case) > MAX_SIMULATED_PASSES:
            eff = training_efficiency(case["config"]["topology"].get("gpu", "H100-SXM-80GB"))
            rows.append(_row(case, float(predict(prepare([case]), eff)[0])))
        else:
            rows.append(_row(case, _simulate(case)))
    for gpu in ("H100-SXM-80GB", "A100-SXM-80GB", "A100-SXM-40GB"):
        tag = gpu.split("-")[0].lower() + ("_40gb" if gpu.endswith("40GB") else "_80gb")
        cases = [c for c in llmfoundry_multinode_cases() if c["gpu"] == tag]
        preds = predict(prepare(cases), training_efficiency(gpu))
        rows.extend(_row(c, float(p)) for c, p in zip(cases, preds))
    return rows


def llmfoundry_rows() -> list[dict]:
    """llm-foundry's H100 bf16 MPT rows (cases.llmfoundry_cases; 9 fit H100's host constants, 33
    are held out), closed-form like the vTrain rows."""
    from workloads.training.costs import training_efficiency
    from workloads.training.cases import llmfoundry_cases
    cases = llmfoundry_cases("h100_80gb")
    preds = predict(prepare(cases), training_efficiency("H100-SXM-80GB"))
    return [_row(c, float(p)) for c, p in zip(cases, preds)]


LLMFOUNDRY = ("mosaicml/llm-foundry scripts/train/benchmarking/README.md, H100 80GB FP8 and BF16 tables "
              "(https://github.com/mosaicml/llm-foundry/blob/main/scripts/train/benchmarking/README.md)")
# MPT-3B (scripts/train/yamls/pretrain/mpt-3b.yaml): d_model 2560, 20 heads, 32 layers,
# expansion 4 (GELU), vocab 50368, tied embeddings; FSDP FULL_SHARD, no activation checkpointing,
# seq 2048, MBS 10, GBS 480. FP8: Transformer Engine amp_fp8 linears, one 8 x H100 node,
# GradAccum 6: 30,586 tokens/s/GPU (MFU 27.7% of the fp8 peak). BF16: 16 H100 (no 8-GPU
# seq-2048 BF16 row exists), GradAccum 3: 24,142 tokens/s/GPU -> measured FP8/BF16 ~1.27x.
_MPT3B = {"name": "mpt-3b", "layers": 32, "hidden": 2560, "ffn_hidden": 10240, "heads": 20, "vocab": 50368,
          "seq_len": 2048, "gated_mlp": False, "tied_embeddings": True}
# MPT-1B (scripts/train/yamls/pretrain/mpt-1b.yaml): d_model 2048, 16 heads, 24 layers, expansion 4
_MPT1B = dict(_MPT3B, name="mpt-1b", layers=24, hidden=2048, ffn_hidden=8192, heads=16)


def _llmfoundry(name: str, gpus: int, precision: str, measured: float, model: dict = _MPT3B, seq: int = 2048,
                mbs: int = 10, gbs: int = 480, recompute: str = "none") -> dict:
    return {"case": name, "metric": "tokens_per_s / gpus", "measured": measured, "source": LLMFOUNDRY,
            "config": {"run": {"kind": "train", "name": name},
                       "topology": {"preset": "dgx-h100-superpod", "gpus": gpus},
                       "model": dict(model, seq_len=seq),
                       "train": {"tp": 1, "pp": 1, "zero": 3, "micro_batch": mbs, "global_batch": gbs,
                                 "recompute": recompute, "precision": precision,
                                 # MPT's Triton attention (cases.mpt_attention_kernel)
                                 "attention_kernel": mpt_attention_kernel("h100_80gb"),
                                 **({} if seq == 2048 else {"check_memory": False})}}}


PUBLISHED = [
    _llmfoundry("llmfoundry_mpt3b_h100x8_fp8", 8, "fp8", 30586.0),
    _llmfoundry("llmfoundry_mpt3b_h100x16_bf16", 16, "bf16", 24142.0),
]

# The other FP8 rows of the same README with a BF16 row of the same model, sequence and 8 GPUs
# (FSDP FULL_SHARD; "Activation Checkpointing True" -> recompute full): (model, seq, recompute,
# (bf16 MBS, GBS, tokens/s/GPU), (fp8 MBS, GBS, tokens/s/GPU)). Their FP8/BF16 ratios check
# what FP8 buys across sequence lengths (attention, which stays 16-bit, grows with the
# sequence); nothing is fitted to them.
LLMFOUNDRY_FP8_PAIRS = [
    ("mpt3b", _MPT3B, 32768, "full", (3, 144, 5873.0), (3, 144, 5856.0)),
    ("mpt3b", _MPT3B, 8192, "none", (3, 144, 16578.0), (3, 144, 19146.0)),
    ("mpt3b", _MPT3B, 512, "none", (40, 1920, 27965.0), (40, 1920, 36527.0)),
    ("mpt1b", _MPT1B, 32768, "none", (1, 32, 12025.0), (1, 32, 12580.0)),
    ("mpt1b", _MPT1B, 8192, "none", (3, 96, 29157.0), (2, 64, 32010.0)),
    ("mpt1b", _MPT1B, 512, "none", (56, 1792, 52275.0), (56, 1792, 70315.0)),
]


def llmfoundry_pairs() -> list[tuple[dict, dict]]:
    """(bf16 case, fp8 case) for every pair of ``LLMFOUNDRY_FP8_PAIRS`` plus the MPT-3B seq-2048 pair."""
    out = [(PUBLISHED[1], PUBLISHED[0])]
    for tag, model, seq, rc, (bm, bg, bt), (fm, fg, ft) in LLMFOUNDRY_FP8_PAIRS:
        out.append((_llmfoundry(f"llmfoundry_{tag}_s{seq}_h100x8_bf16", 8, "bf16", bt, model, seq, bm, bg, rc),
                    _llmfoundry(f"llmfoundry_{tag}_s{seq}_h100x8_fp8", 8, "fp8", ft, model, seq, fm, fg, rc)))
    return out


def published_rows(pairs: bool = False) -> list[Case]:
    """The published cases' rows; ``pairs``: also every llm-foundry FP8/BF16 pair and the
    Blackwell MXFP8/NVFP4 pairs (``cases.blackwell_fp4_pairs``)."""
    from workloads.training.cases import blackwell_fp4_pairs
    extra = llmfoundry_pairs()[1:] + blackwell_fp4_pairs() if pairs else []
    cases = list(PUBLISHED) + [c for pair in extra for c in pair]
    return [_row(case, _simulate(case)) for case in cases]


def _row(case: dict, pred: float) -> Case:
    return Case(case["case"], case["metric"], pred, case["measured"], case["source"])


# Multi-node cases with more passes per step than this (Narayanan Table 2's 530B rows: 280-1,120
# micro-batches x 105 chunks) are predicted with the closed form (``estimate.estimate_step``,
# the same pass costs; within ~0.5% of their simulation), not simulated (minutes each).
MAX_SIMULATED_PASSES = 20000


def _passes(case: dict) -> int:
    t = case["config"]["train"]
    dp = t.get("dp") or case["config"]["topology"]["gpus"] // (t.get("tp", 1) * t.get("pp", 1) * t.get("cp", 1))
    m = t["global_batch"] // (t.get("micro_batch", 1) * dp)
    return 2 * m * t.get("pp", 1) * t.get("virtual_stages", 1)


PTDP_ROWS = tuple(f"narayanan21_t2_{i}" for i in range(7, 13))     # Table 2's Megatron (PTD-P) rows


def summarize(rows: list[dict]) -> dict:
    nar = np.array([r["error"] for r in rows if r["case"].startswith("narayanan21_t1")])
    ptdp = np.array([r["error"] for r in rows if r["case"] in PTDP_ROWS])
    vt = np.array([r["error"] for r in rows if r["case"].startswith("vtrain")])
    out = {}
    if len(nar):
        out.update(narayanan_max_abs=float(np.max(np.abs(nar))), narayanan_median_abs=float(np.median(np.abs(nar))))
    if len(ptdp):
        out.update(narayanan_t2_ptdp_max_abs=float(np.max(np.abs(ptdp))), narayanan_t2_ptdp_mean=float(np.mean(ptdp)))
    if len(vt):
        out.update(vtrain_median_abs=float(np.median(np.abs(vt))), vtrain_p90_abs=float(np.percentile(np.abs(vt), 90)))
    out.update(amd_summary(rows))
    out.update(llmfoundry_a100_summary(rows))
    for role in ("fit", "holdout"):       # Blackwell rows (blackwell_rows): fitted and held out
        bw = np.abs([r["error"] for r in rows if r["case"].startswith("nemo") and getattr(r, "fit", None) == role])
        if len(bw):
            out.update({f"blackwell_{role}_median_abs": float(np.median(bw)),
                        f"blackwell_{role}_p90_abs": float(np.percentile(bw, 90))})
    return out


# AMD Instinct rows (cases.amd_training_cases): MI300X's constants are fitted to the rows marked
# ``fit``; every held-out row (MI300X FP8 and 70B, all MI325X) is held to AMD_TOLERANCE.
AMD_TOLERANCE = 0.15


def amd_rows() -> list[Case]:
    """AMD's MI300X and MI325X FSDP training rows (rocm/pytorch-training v25.2), simulated, each
    marked with its role in the MI300X fit (``fit``/``holdout``)."""
    from workloads.training.cases import amd_training_cases
    return [Case(c["case"], c["metric"], _simulate(c), c["measured"], c["source"], tolerance=AMD_TOLERANCE,
                 fit=c["use"]) for c in amd_training_cases()]


def amd_summary(rows) -> dict:
    """median, p90 and worst |error| of the AMD rows, fitted and held out."""
    out = {}
    for use in ("fit", "holdout"):
        e = np.abs([r["error"] for r in rows if r["case"].startswith("rocm2502_") and r.get("fit") == use])
        if len(e):
            out.update({f"amd_{use}_median_abs": float(np.median(e)), f"amd_{use}_p90_abs": float(np.percentile(e, 90)),
                        f"amd_{use}_max_abs": float(np.max(e))})
    return out


if __name__ == "__main__":
    rows = run_suite()
    for r in rows[:10]:
        print(f'{r["case"]:20s} {r["predicted"]:8.1f} {r["measured"]:8.1f} {r["error"]:+.3f}')
    print(summarize(rows))


# -- Blackwell pre-training rows (issue 11, item 1): fitted and held out ----------------------

BLACKWELL_TOLERANCE = 0.15      # a held-out Blackwell row without a documented gap

# Documented gaps, each a kind of row (not a row): (name, test on the case, |error| bound, why: _GAPS[name])
BLACKWELL_GAPS = (
    ("gb200_cp", lambda c: c["gpu"] == "GB200" and c["config"]["train"]["cp"] > 1, 0.5, _GAPS["gb200_cp"]),
    ("nemotron4", lambda c: c["model"].startswith("nemotron4"), 0.4, _GAPS["nemotron4"]),
    ("nemo2502", lambda c: c["case"].startswith("nemo2502"), 0.25, _GAPS["nemo2502"]),
    ("nvfp4", lambda c: c["recipe"] == "nvfp4", 0.2, _GAPS["nvfp4"]),
)


def documented_gap(case: dict, gaps: tuple) -> tuple[str, float, str] | None:
    """(name, bound, why) of the first documented gap in ``gaps`` (rows of (name, test on the
    case, |error| bound, why): ``BLACKWELL_GAPS``, ``LLMFOUNDRY_A100_GAPS``) that ``case``
    belongs to, else None."""
    for name, test, bound, why in gaps:
        if test(case):
            return name, bound, why
    return None


def gap_case(c: dict, pred: float, gaps: tuple, tolerance: float, fit: str = "holdout") -> Case:
    """``c`` predicted at ``pred`` as a ``Case``: held to ``tolerance``, or, when it belongs to one
    of ``gaps`` (``documented_gap``; only a held-out row can), to that gap's bound with its text."""
    gap = documented_gap(c, gaps) if fit == "holdout" else None
    return Case(c["case"], c["metric"], float(pred), c["measured"], c["source"], fit=fit,
                tolerance=None if gap else tolerance,
                bound=gap[1] if gap else None, gap=f"{gap[0]}: {gap[2]}" if gap else None)


def blackwell_rows() -> list[Case]:
    """The NeMo / Megatron-Bridge dense pre-training rows on B200, GB200 and GB300
    (``cases.blackwell_cases``), closed-form like the llm-foundry rows, each with its role in the
    fit (``calibration.fit_blackwell``: ``fit`` or ``holdout``), the tolerance a held-out row is
    held to, or its documented gap and bound (``BLACKWELL_GAPS``)."""
    from workloads.training.calibration import BLACKWELL_GPUS
    from workloads.training.cases import blackwell_cases
    from workloads.training.costs import training_efficiency
    out = []
    for system, gpu_name in BLACKWELL_GPUS.items():
        cases = blackwell_cases(system)
        preds = predict(prepare(cases), training_efficiency(gpu_name))
        out.extend(gap_case(c, p, BLACKWELL_GAPS, BLACKWELL_TOLERANCE, fit=c["use"]) for c, p in zip(cases, preds))
    return out


# -- llm-foundry A100 80GB rows (issue 11): held out of every fit ------------------------------

LLMFOUNDRY_A100_TOLERANCE = 0.20     # a held-out A100 row without a documented gap

# Documented gaps, each a kind of row (not a row): (name, test on the case, |error| bound, why: _GAPS[name])
LLMFOUNDRY_A100_GAPS = (
    ("mpt760m_short_seq", lambda c: c["case"].startswith("llmfoundry_mpt760m_s") and "_a100x8_" in c["case"] and
     int(c["config"]["model"]["seq_len"]) <= 1024, 0.40, _GAPS["mpt760m_short_seq"]),
    ("mpt30b_seq8192", lambda c: c["case"].startswith("llmfoundry_mpt30b_s8192_a100"), 0.45, _GAPS["mpt30b_seq8192"]),
)


def llmfoundry_a100_rows() -> list[Case]:
    """llm-foundry's A100 80GB bf16 MPT table (``cases.llmfoundry_cases("a100_80gb")``: 59 rows, 8
    GPUs, MPT 125M-30B, seq 512-65k, FSDP FULL_SHARD, MPT's Triton attention) and the A100 40GB
    table's 8-GPU rows at seq 512-32k (``cases.llmfoundry_a100_40gb_cases``: 39 rows; its seq-2048
    rows are in ``scale_rows``), closed-form like ``llmfoundry_rows``. Every row is held out (``fit="holdout"``): A100's kernel constants come
    from Megatron runs (vTrain, Narayanan), its Triton attention curves from Dao 2023's kernel
    measurements and its FSDP per-block cost from H100's fit (compute.toml [A100.triton]). Each
    row is held to ``LLMFOUNDRY_A100_TOLERANCE`` or to the bound of its documented gap."""
    from workloads.training.cases import llmfoundry_a100_40gb_cases, llmfoundry_cases
    from workloads.training.costs import training_efficiency
    cases = llmfoundry_cases("a100_80gb")
    preds = list(predict(prepare(cases), training_efficiency("A100-SXM-80GB")))
    c40 = llmfoundry_a100_40gb_cases()
    cases, preds = cases + c40, preds + list(predict(prepare(c40), training_efficiency("A100-SXM-40GB")))
    return [gap_case(c, p, LLMFOUNDRY_A100_GAPS, LLMFOUNDRY_A100_TOLERANCE) for c, p in zip(cases, preds)]


def llmfoundry_a100_summary(rows) -> dict:
    """median, p90 and worst |error| of the llm-foundry A100 8-GPU rows: the 80GB table
    (``llmfoundry_a100_*``) and the 40GB table, seq 2048 included (``llmfoundry_a100_40gb_*``)."""
    import re
    out = {}
    for key, pattern in (("llmfoundry_a100", r"llmfoundry_mpt\w+_a100x8_mb"),
                         ("llmfoundry_a100_40gb", r"llmfoundry_mpt\w+_a100x40gx8_mb")):
        e = np.abs([r["error"] for r in rows if re.match(pattern, r["case"])])
        if len(e):
            out.update({f"{key}_median_abs": float(np.median(e)), f"{key}_p90_abs": float(np.percentile(e, 90)),
                        f"{key}_max_abs": float(np.max(e))})
    return out


# -- Held-out round 3 (issue 11): 27 public runs new to the project, simulated ----------------

HELDOUT3_TOLERANCE = 0.15       # a held-out round-3 row without a documented gap

# Documented gaps, each a kind of row (not a row): (name, test on the case, |error| bound, why: _GAPS[name])
HELDOUT3_GAPS = (
    ("moe_ep_across_nodes", lambda c: c["moe"] and c["system"] == "H100" and c["config"]["train"]["ep"] >= 64, 0.25,
     _GAPS["moe_ep_across_nodes"]),
    ("moe_nvl72_recipe", lambda c: c["moe"] and c["system"] in ("GB200", "GB300"), 0.25, _GAPS["moe_nvl72_recipe"]),
    ("megatron_fsdp", lambda c: c["framework"] == "megatron-bridge" and c["config"]["train"]["zero"] == 3,
     0.25, _GAPS["megatron_fsdp"]),
    ("cp8_262k", lambda c: c["config"]["train"]["cp"] == 8, 0.25, _GAPS["cp8_262k"]),
)


def heldout_round3_rows() -> list[Case]:
    """The 27 runs of ``cases.heldout_round3_cases`` (torchtitan on 8-512 H100, NeMo 24.07 and
    Megatron-Bridge H100 rows, DeepSeek-V3 MXFP8 on 256 Blackwell GPUs, DeepSeek-V3 and
    Qwen3-235B BF16 on 256 GB200 / GB300), each simulated, held
    out of every fit, each within ``HELDOUT3_TOLERANCE`` or in a documented gap."""
    from workloads.training.cases import heldout_round3_cases
    return [gap_case(c, _simulate(c), HELDOUT3_GAPS, HELDOUT3_TOLERANCE) for c in heldout_round3_cases()]


# the round-3 rows of MoE models (the rest are dense)
MOE_PREFIXES = ("mb2509_deepseek", "mb2602_", "mb2511_deepseek", "mb2511_qwen")


def heldout_round3_summary(rows) -> dict:
    """median, p90 and worst |error| of the round-3 rows, and of its dense rows alone."""
    err = np.abs([r["error"] for r in rows])
    dense = np.abs([r["error"] for r in rows if not r["case"].startswith(MOE_PREFIXES)])
    return {"median": float(np.median(err)), "p90": float(np.percentile(err, 90)), "worst": float(err.max()),
            "dense_median": float(np.median(dense)), "dense_p90": float(np.percentile(dense, 90)), "n": len(rows)}
