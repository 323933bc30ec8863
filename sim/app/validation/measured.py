"""The ``measured`` validation suite: whole-model times measured on our own GPUs against the
serving and training cost models (``sim/data/measured/<gpu>/``, see its README).

Vocabulary:
- iteration row: one ``serving.csv`` row replayed from a CUDA graph (no host gaps): a Llama 3
  8B-shaped model's prefill of one prompt or decode step of a batch, against
  ``IterationCost.stage_compute`` (the replica's kernels; no engine overhead, which a bare
  PyTorch loop does not have).
- layer row: one ``layer.csv`` row replayed from CUDA graphs: forward + backward of one
  Megatron GPT layer's TP shard (no communication), against the training cost model's forward
  ops and their backward (``costs.backward_ops``), no recompute.
- Neither table is used to fit anything: the kernel constants come from the GEMM, copy and
  attention tables alone (``sim.measured``).
"""

from __future__ import annotations

import numpy as np

from sim.app.validation.case import Case
from sim.compute import ComputeModel, efficiency_for
from sim.config import load_config
from sim.hardware import gpu as gpu_spec
from sim.measured import available, table
from workloads.model import ModelSpec, Shard

SOURCE = "dcsim measurement, benchmarks/gpu/measure.py (sim/data/measured/README.md)"


def _row(case, metric, pred, meas) -> Case:
    return Case(case, metric, float(pred), float(meas), SOURCE)


def iteration_rows(gpu_name: str) -> list[Case]:
    from workloads.serving.cost import IterationCost
    try:
        rows = [r for r in table(gpu_name, "serving") if r["mode"] == "graph"]
    except FileNotFoundError:
        return []
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "llama3-8b"}}).model)
    # the kernels that ran: PyTorch SDPA's flash backend (FlashAttention-2: the [<GPU>.fa2] curves
    # fitted to the attention table's flash rows), whose decode has no split-KV (README)
    cost = IterationCost(spec, gpu_spec(gpu_name), "bf16", "bf16", attention_kernel="fa2")
    cost.split_kv = False
    out = []
    short = gpu_name.split("-")[0].lower()
    for r in rows:
        B, ctx = r["batch"], r["context"]
        if r["phase"] == "decode":
            pred = cost.stage_compute([B], [B], [B * ctx], [B * ctx])[0]
            case = f"{short}_decode_b{int(B)}_ctx{int(ctx)}"
        else:
            pred = cost.stage_compute([ctx], [1.0], [ctx * ctx / 2.0], [ctx])[0]
            case = f"{short}_prefill_{int(ctx)}"
        out.append(_row(case, "iteration_s", pred, r["time_s"]))
    return out


def layer_rows(gpu_name: str) -> list[Case]:
    from workloads.training.costs import backward_ops
    try:
        rows = [r for r in table(gpu_name, "layer") if r["mode"] == "graph"]
    except FileNotFoundError:
        return []
    # back-to-back layers are a sustained load: the clock the power limit holds (sustained_clock)
    cm = ComputeModel(gpu_spec(gpu_name), "bf16", efficiency_for(gpu_name), sustained=True)
    out = []
    short = gpu_name.split("-")[0].lower()
    for r in rows:
        h, tp, mb, seq = int(r["h"]), int(r["tp"]), int(r["micro_batch"]), int(r["seq"])
        spec = ModelSpec.from_section(load_config(data={"model": {
            "name": f"gpt-h{h}", "layers": 1, "hidden": h, "heads": h // 128, "ffn_hidden": 4 * h,
            "vocab": 51200, "seq_len": seq, "gated_mlp": False}}).model)
        fwd = tuple(spec.layer_ops(0, mb, Shard(tp=tp), "flash"))
        pred = cm.op_times(fwd).sum() + cm.op_times(backward_ops(list(fwd), "flash")).sum()
        out.append(_row(f"{short}_layer_h{h}_tp{tp}_mb{mb}", "fwd_bwd_s", pred, r["time_s"]))
    return out


def run_suite() -> list[Case]:
    rows = []
    for g in available():
        rows += iteration_rows(g) + layer_rows(g)
    return rows


def summarize(rows: list[dict]) -> dict:
    out = {}
    for kind in ("decode", "prefill", "layer"):
        e = np.array([abs(r["error"]) for r in rows if f"_{kind}_" in r["case"]])
        if len(e):
            out[kind] = {"rows": len(e), "median_abs": float(np.median(e)), "max_abs": float(e.max())}
    return out


if __name__ == "__main__":
    rows = run_suite()
    for r in rows:
        print(f'{r["case"]:28s} {r["predicted"] * 1e3:9.2f} ms {r["measured"] * 1e3:9.2f} ms {r["error"]:+.3f}')
    print(summarize(rows))
