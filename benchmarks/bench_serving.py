"""Serving speed benchmarks: simulated requests per wall-clock second.

Run: ``python benchmarks/bench_serving.py [azure|mooncake|scaling|all]``. Prints one line per case:
requests, simulated duration, wall seconds, simulated requests per wall second, events, and the
headline serving metrics. Targets (issue): Azure conv trace on 8 x Llama 3 70B FP8 TP2 (16 H100)
<= 60 s wall; Mooncake conversation trace with prefix caching, disaggregated, <= 120 s wall.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import load_config  # noqa: E402
from sim.app.runner import run  # noqa: E402


def bench(name: str, data: dict) -> dict:
    cfg = load_config(data=data)
    t0 = time.perf_counter()
    result = run(cfg)
    wall = time.perf_counter() - t0
    s = result.summary
    print(f"{name:38s} requests={s['requests']:6d} sim={s['duration_s']:8.1f}s wall={wall:6.1f}s "
          f"req/wall_s={s['requests'] / wall:8.0f} events={s['sim_events']:8d} "
          f"ttft_p50={s['ttft_p50_s']:.3f} tpot_p50={s['tpot_p50_s'] * 1e3:.1f}ms "
          f"out_tok/s={s['output_tokens_per_s']:.0f} prefix_hit={s['prefix_hit_rate']:.2f} "
          f"kv_GB={s['kv_transfer_GB']:.1f} preempt={s['preemptions']}", flush=True)
    return s


def azure(replicas: int = 8, time_scale: float = 1.0, requests: int | None = None) -> dict:
    workload = {"arrival": "trace", "trace": "AzureLLMInferenceTrace_conv.csv", "time_scale": time_scale}
    if requests:
        workload["requests"] = requests
    return {"run": {"kind": "serve", "name": "bench-azure"},
            "topology": {"gpu": "H100-SXM-80GB", "gpus": max(16, replicas * 2), "fabric": "fat-tree"},
            "model": {"preset": "llama3-70b"},
            "serve": {"tp": 2, "replicas": replicas, "scheduler": "sarathi", "chunk_size": 2048,
                      "router": "least-loaded"},
            "workload": workload}


def mooncake() -> dict:
    return {"run": {"kind": "serve", "name": "bench-mooncake"},
            "topology": {"gpu": "H100-SXM-80GB", "gpus": 32, "fabric": "fat-tree"},
            "model": {"preset": "llama3-70b"},
            "serve": {"tp": 4, "prefill_replicas": 4, "decode_replicas": 4, "scheduler": "sarathi",
                      "chunk_size": 4096, "prefix_cache": True, "host_kv_GB": 400, "router": "prefix-aware"},
            "workload": {"arrival": "trace", "trace": "mooncake_fast25_conversation_trace.jsonl"}}


def main(which: str) -> None:
    if which in ("azure", "all"):
        bench("azure-conv 8 x 70B TP2 (16 H100)", azure())
    if which in ("mooncake", "all"):
        bench("mooncake-conv disagg 4P+4D TP4", mooncake())
    if which in ("scaling", "all"):
        # the Azure conversation trace sped up in proportion to the replicas (same load per replica)
        for n in (1, 8, 64):
            bench(f"scaling: {n} replicas (trace x{n / 8:g})", azure(n, time_scale=n / 8, requests=4000 if n == 1 else None))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
