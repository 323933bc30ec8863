"""Fitting the compute constants of one GPU to published training runs.

Vocabulary:
- constants: the fields of ``costs.TrainingEfficiency`` (``sim.compute.Efficiency`` plus the
  host-dispatch constants) that training exercises (GEMM and
  attention efficiency curves, HBM efficiency, kernel launch, framework per-layer and per-step
  overheads, host kernel dispatch). They are data in ``sim/data/compute.toml``; this module only re-derives them.
- objective: mean squared log error of predicted vs measured step time over the vTrain
  single-node rows, plus the Narayanan Table 1 rows (hardware TFLOP/s) weighted so that the two
  sets count about equally. Predictions come from ``estimate.estimate_step`` (closed-form
  communication), which is fast enough for a few hundred evaluations of every row.
- search: coordinate descent on the logarithm of each constant with shrinking steps (numpy
  only; the package does not depend on scipy).

Run ``python -m workloads.training.calibration`` to print the fitted constants and the errors.
"""

from __future__ import annotations

import numpy as np

from sim.compute import ComputeModel, Efficiency
from sim.config import load_config
from sim.fitting import coordinate_descent
from sim.hardware import gpu
from workloads.model import ModelSpec
from sim.compute import constants_row
from workloads.training.costs import overlap_interference, step_costs, training_efficiency
from workloads.training.cases import narayanan_cases, vtrain_cases
from workloads.training.estimate import Network, estimate_step
from workloads.training.plan import make_plan
from workloads.training import sync_jitter

FITTED = ("gemm_eff_max", "gemm_half_flops", "gemm_half_dim", "attn_eff_max", "attn_half_flops", "hbm_eff_max",
          "launch_us", "layer_overhead_us", "step_overhead_ms", "tp_call_overhead_us",
          "tp_rank_overhead_us", "cpu_dispatch_us", "tp_collective_kernels", "microbatch_overhead_us")
BOUNDS = {"gemm_eff_max": (0.3, 0.95), "attn_eff_max": (0.1, 0.95), "hbm_eff_max": (0.4, 0.95)}


def prepare(cases: list[dict]) -> list[tuple]:
    out = []
    for c in cases:
        cfg = load_config(data=c["config"])
        t, tr = cfg.topology, cfg.train
        m = ModelSpec.from_section(cfg.model)
        g = gpu(t.gpu)
        plan = make_plan(tr, m, t.gpus)
        net = Network.of(g, t.nic_Gbps, t.nics_per_node, t.gpus_per_node, t.scaleup_domain)
        out.append((c, tr, m, plan, net, g, sync_jitter(cfg, g, plan.world)))
    return out


def predict(prepared: list[tuple], eff: Efficiency) -> np.ndarray:
    """Predicted value of each case's metric."""
    out = []
    for c, tr, m, plan, net, g, jitter in prepared:
        cm = ComputeModel(g, tr.precision, eff)
        interference = tr.interference
        if interference is None:      # the runner's default (costs.overlap_interference)
            slowdown = getattr(eff, "overlap_slowdown", None)
            slowdown = constants_row(g.name).get("overlap_slowdown", 0.0) if slowdown is None else slowdown
            interference = overlap_interference(step_costs(m, plan, cm, tr.attention, tr.optimizer_step), plan,
                                                net, slowdown, tr.overlap_grad_reduce)
        if interference:
            cm = ComputeModel(g, tr.precision, eff, speed=1.0 - interference)
        r = estimate_step(m, plan, cm, net, tr.attention, tr.overlap_grad_reduce, tr.optimizer_step,
                          sync_jitter=jitter)
        if c["metric"] == "step_time_s":
            out.append(r["step_time_s"])
        elif c["metric"] == "tokens_per_s / gpus":
            out.append(tr.global_batch * m.seq_len / r["step_time_s"] / plan.world)
        else:
            out.append(r["hw_flops"] / r["step_time_s"] / plan.world / 1e12)
    return np.array(out)


def errors(prepared, eff) -> np.ndarray:
    measured = np.array([p[0]["measured"] for p in prepared])
    return predict(prepared, eff) / measured - 1.0


def fit(gpu_name: str = "A100-SXM-80GB", vtrain_every: int = 3, rounds: int = 4) -> tuple[Efficiency, float]:
    v = prepare(vtrain_cases()[::vtrain_every])
    n = prepare(narayanan_cases())
    w_n = len(v) / len(n)

    def loss(e: Efficiency) -> float:
        ev = np.log1p(errors(v, e))
        en = np.log1p(errors(n, e))
        return float((np.sum(ev ** 2) + w_n * np.sum(en ** 2)) / (2 * len(v)))

    return coordinate_descent(training_efficiency(gpu_name), FITTED, loss, BOUNDS, rounds, tol=1e-7)


def fit_end_to_end(gpu_name: str, cases: list[dict], names: tuple[str, ...] = ("gemm_eff_max",),
                   rounds: int = 6) -> tuple[Efficiency, float]:
    """Fit ``names`` of a GPU's constants to end-to-end training steps of that GPU (mean squared
    log error of ``predict``); the other constants stay as ``compute.toml`` has them. Used where a
    GPU has few public runs (MI300X: one constant, one run; its other runs are held out)."""
    prepared = prepare(cases)

    def loss(e: Efficiency) -> float:
        return float(np.mean(np.log1p(errors(prepared, e)) ** 2))

    return coordinate_descent(training_efficiency(gpu_name), names, loss, BOUNDS, rounds, tol=1e-9)


def report(eff: Efficiency) -> dict:
    ev = errors(prepare(vtrain_cases()), eff)
    en = errors(prepare(narayanan_cases()), eff)
    return {"vtrain_median_abs": float(np.median(np.abs(ev))), "vtrain_p90_abs": float(np.percentile(np.abs(ev), 90)),
            "narayanan": [round(float(x), 4) for x in en], "narayanan_median_abs": float(np.median(np.abs(en)))}


if __name__ == "__main__":
    eff, best = fit()
    print({k: getattr(eff, k) for k in FITTED}, "loss", best)
    print(report(eff))
