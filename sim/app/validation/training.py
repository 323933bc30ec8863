"""The training validation suite: predictions against published measurements shipped in ``data/``.

Vocabulary:
- row: ``{case, metric, predicted, measured, error, source}``; ``error`` = predicted /
  measured - 1 (relative, signed).
- Narayanan et al. 2021 Table 1: each row simulated end to end (topology, fabric, SimPy step)
  through the runner, compared on hardware TFLOP/s per GPU (their FLOPs include recompute).
- vTrain single node: 1,440 rows. By default each row is predicted with the same pass costs and
  schedule replay but closed-form collectives (``estimate.estimate_step``), which keeps the suite
  to seconds; ``simulate_vtrain=True`` runs every row through the simulator instead.
- issue 11 cases (``cases.issue11_cases``): published runs beyond the calibration set (a V100S,
  MI300X FSDP, Mixtral 8x7B with EP), simulated end to end; each within 15% or its gap explained
  in tests/app/validation/test_training.py.
- targets (issue "Training workloads"): Narayanan every row within 10%, median within 5%;
  vTrain median |error| <= 10%, 90th percentile <= 20%. ``summarize(rows)`` reports them.
"""

from __future__ import annotations

import numpy as np

from sim.config import load_config
from workloads.training.calibration import prepare, predict
from workloads.training.cases import issue11_cases, narayanan_cases, vtrain_cases


def _simulate(case: dict) -> float:
    from sim.app.runner import run  # the composition root (imported lazily: it imports workloads)
    summary = run(load_config(data=case["config"])).summary
    if case["metric"] == "tokens_per_s / gpus":
        return float(summary["tokens_per_s"]) / float(summary["gpus"])
    return float(summary[case["metric"]])


def run_suite(simulate_vtrain: bool = False, vtrain_every: int = 1) -> list[dict]:
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
    for case in issue11_cases():
        rows.append(_row(case, _simulate(case)))
    return rows


def _row(case: dict, pred: float) -> dict:
    return {"case": case["case"], "metric": case["metric"], "predicted": pred, "measured": case["measured"],
            "error": pred / case["measured"] - 1.0, "source": case["source"]}


def summarize(rows: list[dict]) -> dict:
    nar = np.array([r["error"] for r in rows if r["case"].startswith("narayanan")])
    vt = np.array([r["error"] for r in rows if r["case"].startswith("vtrain")])
    out = {}
    if len(nar):
        out.update(narayanan_max_abs=float(np.max(np.abs(nar))), narayanan_median_abs=float(np.median(np.abs(nar))))
    if len(vt):
        out.update(vtrain_median_abs=float(np.median(np.abs(vt))), vtrain_p90_abs=float(np.percentile(np.abs(vt), 90)))
    return out


if __name__ == "__main__":
    rows = run_suite()
    for r in rows[:10]:
        print(f'{r["case"]:20s} {r["predicted"]:8.1f} {r["measured"]:8.1f} {r["error"]:+.3f}')
    print(summarize(rows))
