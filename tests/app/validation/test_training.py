"""The training validation targets against published measurements (sim/app/validation/training.py).

- vTrain single node (1,440 measured Megatron-DeepSpeed iteration times on one A100 node):
  every row predicted with the pass costs and the schedule replay, closed-form collectives
  (``calibration.predict``, what ``run_suite`` does by default). Targets: median |error| <= 10%,
  90th percentile <= 20%. ACHIEVED (and asserted): median 6.3%, p90 16.1% (before the
  per-micro-batch host work was modelled: 7.0% / 20.3%; before host dispatch: 11.8% / 24.0%).
  A pass takes max(GPU kernel time, kernels x host dispatch cost) (``costs.py``), and each
  forward of a model chunk adds the framework's serial per-micro-batch work
  (``microbatch_overhead_us``): the measured time per extra micro-batch, extrapolated to zero
  layers, is 2-4 ms at every TP degree and pipeline depth. Left in the residuals: TP8 with
  micro-batch 1 (~20% slower than predicted) and the TP1 logits/loss (~2x the GEMM curve's cost).
- Narayanan et al. 2021 Table 1 (hardware TFLOP/s per GPU on Selene): targets every row within
  10%, median within 5%. ACHIEVED (and asserted): median 1.7%, every row within 10% (closed
  form: largest +4.2%). Rows up to 1,920 GPUs are simulated end to end through ``sim.app.runner``
  (seconds). The 2,520- and 3,072-GPU rows take minutes to simulate on a 2-core machine, so
  they are predicted with ``estimate.estimate_step`` (same pass costs, closed-form
  collectives), which agrees with their simulation within about 1% of the measurement
  (checked with the pre-dispatch constants: 2,520 GPUs sim -0.3% vs estimate -0.5%; 3,072 GPUs sim -4.5% vs
  estimate -4.4%).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.compute import efficiency_for
from sim.config import load_config
from workloads.training.calibration import errors, prepare
from workloads.training.cases import narayanan_cases, vtrain_cases

SIMULATED_MAX_GPUS = 1920       # larger Narayanan rows use the closed form (see module docstring)


@pytest.fixture(scope="module")
def a100():
    return efficiency_for("A100-SXM-80GB")


def test_vtrain_median_and_p90(a100):
    err = np.abs(errors(prepare(vtrain_cases()), a100))
    assert len(err) == 1440
    assert np.median(err) <= 0.10, np.median(err)
    assert np.percentile(err, 90) <= 0.20, np.percentile(err, 90)


def test_vtrain_no_tp_degree_biased_beyond_15_percent(a100):
    # the shape term exists to remove the TP-degree bias (narrow GEMMs at TP8); a regression
    # in it shows up as one TP degree's median signed error drifting
    cases = vtrain_cases()
    err = errors(prepare(cases), a100)
    tp = np.array([c["config"]["train"]["tp"] for c in cases])
    for d in np.unique(tp):
        assert abs(np.median(err[tp == d])) <= 0.15, (d, np.median(err[tp == d]))


def test_narayanan_table1_every_row_within_10_percent_median_within_5(a100):
    from sim.app.runner import run

    cases = narayanan_cases()
    err = []
    for c in cases:
        if c["config"]["topology"]["gpus"] <= SIMULATED_MAX_GPUS:
            pred = float(run(load_config(data=c["config"])).summary[c["metric"]])
            err.append(pred / c["measured"] - 1.0)
        else:
            err.append(float(errors(prepare([c]), a100)[0]))
    err = np.abs(np.array(err))
    assert len(err) == 10
    assert np.max(err) <= 0.10, err.round(3)
    assert np.median(err) <= 0.05, err.round(3)


def test_llmfoundry_mpt3b_fp8_against_its_bf16_reference():
    """MPT-3B on H100 (llm-foundry, FSDP): FP8 30,586 tokens/s/GPU measured, BF16 24,142 (1.27x).
    Before per-op precision dcsim predicted 60,037 (1.75x its bf16 34,404): every op at the fp8
    peak, no Transformer Engine casts, no fp8 GEMM factor in training. Now GEMMs run at fp8 x
    the measured factor (0.891 on H100), attention and the output layer at bf16, casts cost
    their bytes: predicted 45,306 (+48%), and the FP8/BF16 ratio 1.32 vs 1.27 measured.
    Remaining gap (not FP8's): the BF16 row itself is predicted +42% (34,404 vs 24,142): the H100
    constants are fitted to single cold kernels and are optimistic on sustained FSDP training
    (issue 11 item 1). Asserted: the ratio within 15% of the measured one, and the FP8 row's
    error within 10 points of the BF16 row's (FP8 adds no gap of its own)."""
    from sim.app.validation.training import published_rows
    rows = {r["case"]: r for r in published_rows()}
    fp8, bf16 = rows["llmfoundry_mpt3b_h100x8_fp8"], rows["llmfoundry_mpt3b_h100x16_bf16"]
    ratio = fp8["predicted"] / bf16["predicted"]
    measured = fp8["measured"] / bf16["measured"]
    assert abs(ratio / measured - 1) <= 0.15, ratio
    assert abs(fp8["error"] - bf16["error"]) <= 0.10, (fp8["error"], bf16["error"])
    assert fp8["predicted"] < 0.8 * 60037          # the fault: 60,037 predicted before
