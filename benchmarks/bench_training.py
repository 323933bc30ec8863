"""Training simulation speed: wall time and event counts of one step at growing scale.

Run: python benchmarks/bench_training.py [--quick] [--routing]
(--routing: only the 16,384-GPU Llama 3 405B step on the DGX H100 SuperPOD fabric, once per
``topology.routing`` mode: the cost of spreading flows over every spine with adaptive routing.)
Prints one line per case: GPUs, simulated step time, sim events, wall and CPU seconds (CPU time
is the figure to compare when other jobs share the machine).
Targets (issue "Training workloads"): Llama 3 405B on 16,384 H100 (llama3-h100-roce, TP8 PP16
DP128, seq 8192, global batch 2048, interleaved) <= 60 s wall, symmetric; GPT 1T on 3,072 A100
<= 20 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import load_config
from sim.app.runner import run


def llama405(gpus: int) -> dict:
    dp = gpus // 128
    return {"run": {"kind": "train", "name": f"llama3-405b-{gpus}"},
            "topology": {"preset": "llama3-h100-roce", "gpus": gpus},
            "model": {"preset": "llama3-405b"},
            "train": {"tp": 8, "pp": 16, "dp": dp, "micro_batch": 1, "global_batch": 16 * dp,
                      "schedule": "interleaved", "virtual_stages": 2, "recompute": "none",
                      "sequence_parallel": True, "zero": 1, "rank_order": "tp-cp-pp-dp",
                      "precision": "bf16", "check_memory": False}}


def gpt1t() -> dict:
    from workloads.training.cases import narayanan_cases
    return narayanan_cases()[-1]["config"]


def bench(name: str, data: dict) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    s = run(load_config(data=data)).summary
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{name:28s} gpus={s['gpus']:6d} step={s['step_time_s']:8.3f}s mfu={s['mfu']:.3f} "
          f"events={s['sim_events']:9d} wall={wall:7.1f}s cpu={cpu:7.1f}s", flush=True)


if __name__ == "__main__":
    if "--routing" in sys.argv:
        for mode in ("static", "adaptive"):
            cfg = llama405(16384)
            cfg["topology"] = {"preset": "dgx-h100-superpod", "gpus": 16384, "routing": mode}
            bench(f"llama3-405b superpod {mode}", cfg)
        sys.exit(0)
    quick = "--quick" in sys.argv
    bench("gpt-1t a100 3072", gpt1t())
    for g in ([512, 2048] if quick else [512, 2048, 8192, 16384]):
        bench(f"llama3-405b h100 {g}", llama405(g))
