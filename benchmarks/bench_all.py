"""Every speed figure of issue 14 in one command, in CPU time (time.process_time). Prints figures;
asserts nothing. Results of the last full run: benchmarks/RESULTS-all.txt.

1. traffic: ``dcsim traffic --pattern random --flows F`` on a 1,024-GPU fat-tree for growing F,
   and the exponent of CPU time against F (goal: 20,000 flows <= 10 s, exponent <= 1.3).
2. plan matrix: Llama 3 405B (TP8 PP16, interleaved, DP = GPUs / 128) on llama3-h100-roce at
   2,048 and 16,384 GPUs, one knob changed per variant (SP off, ZeRO 0-3, rank order, schedule,
   recompute, CP, full fidelity) plus Mixtral 8x7B with EP; each variant's CPU time over the
   fastest at the same scale (goal: every one <= 3x; 405B/16k without SP <= 10 s).
3. serving: the Vidur C2 case (../shared/cases/perf/vidur_c2.toml, goal <= 2.9 s for the whole
   process, measured here without interpreter start-up) and serving variants (schedulers,
   prefix cache, disaggregation, many replicas).

Run: python benchmarks/bench_all.py [--quick] [--only traffic|plans|serving]
``--quick``: traffic up to 4,000 flows, plans at 2,048 GPUs only. (20,000 flows is left out: it
 still takes minutes, see RESULTS-all.txt.)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import load_config  # noqa: E402
from sim.app.runner import run  # noqa: E402
from sim.app.traffic import traffic  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent.parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")


def cpu(fn):
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


# -- 1. traffic ------------------------------------------------------------------------------------

def bench_traffic(flow_counts) -> None:
    print("== traffic: random point-to-point transfers, 1,024-GPU fat-tree, sizes 64K:64M ==")
    cfg = load_config(data={"topology": {"gpus": 1024, "fabric": "fat-tree"}})
    pts = []
    for f in flow_counts:
        r, t = cpu(lambda: traffic(cfg, "random", f, 64 * 1024, 64 * 1024**2, seed=0))
        pts.append((f, t))
        print(f"  flows={f:6d} cpu={t:8.2f}s events={r['sim_events']:7d} solves={r['rate_computations']:6d} "
              f"makespan={r['makespan_s'] * 1e3:.3f}ms fct_p99={r['fct_p99_s'] * 1e3:.3f}ms", flush=True)
    if len(pts) > 1:
        (f0, t0), (f1, t1) = pts[0], pts[-1]
        print(f"  cpu time grows as F^{math.log(t1 / t0) / math.log(f1 / f0):.2f} from {f0} to {f1} flows")
    from topologies import build
    for gpus in (2048, 16384):
        _, t = cpu(lambda: build(load_config(data={"topology": {"preset": "llama3-h100-roce", "gpus": gpus}}).topology))
        print(f"  topology build llama3-h100-roce gpus={gpus:6d} cpu={t:6.2f}s")


# -- 2. plan matrix --------------------------------------------------------------------------------

def llama405(gpus: int, **train) -> dict:
    dp = gpus // 128
    t = {"tp": 8, "pp": 16, "dp": dp, "micro_batch": 1, "global_batch": 16 * dp,
         "schedule": "interleaved", "virtual_stages": 2, "recompute": "none",
         "sequence_parallel": True, "zero": 1, "rank_order": "tp-cp-pp-dp",
         "precision": "bf16", "check_memory": False}
    t.update(train)
    return {"run": {"kind": "train", "name": f"llama3-405b-{gpus}"},
            "topology": {"preset": "llama3-h100-roce", "gpus": gpus},
            "model": {"preset": "llama3-405b"}, "train": t}


def mixtral_ep(gpus: int) -> dict:
    dp = gpus // 16
    return {"run": {"kind": "train", "name": f"mixtral-ep-{gpus}"},
            "topology": {"preset": "llama3-h100-roce", "gpus": gpus},
            "model": {"preset": "mixtral-8x7b"},
            "train": {"tp": 2, "pp": 8, "dp": dp, "ep": 8, "micro_batch": 1, "global_batch": 8 * dp,
                      "sequence_parallel": True, "zero": 1, "precision": "bf16", "check_memory": False}}


def plan_variants(gpus: int) -> list[tuple[str, dict]]:
    v = [("base (SP, ZeRO-1, interleaved)", llama405(gpus)),
         ("SP off", llama405(gpus, sequence_parallel=False)),
         ("SP off, ZeRO-2", llama405(gpus, sequence_parallel=False, zero=2))]
    v += [(f"ZeRO-{z}", llama405(gpus, zero=z)) for z in (0, 2, 3)]
    v += [("rank order tp-cp-dp-pp", llama405(gpus, rank_order="tp-cp-dp-pp")),
          ("schedule 1f1b", llama405(gpus, schedule="1f1b", virtual_stages=1)),
          ("schedule gpipe", llama405(gpus, schedule="gpipe", virtual_stages=1)),
          ("recompute full", llama405(gpus, recompute="full")),
          ("recompute selective", llama405(gpus, recompute="selective")),
          ("CP2 (DP halved)", llama405(gpus, cp=2, dp=gpus // 256, global_batch=16 * (gpus // 256))),
          ("MoE Mixtral 8x7B TP2 PP8 EP8", mixtral_ep(gpus))]
    if gpus <= 2048:
        v.append(("fidelity full", llama405(gpus, fidelity="full")))
    return v


def bench_plans(scales) -> None:
    for gpus in scales:
        print(f"== plan matrix at {gpus} GPUs ==")
        rows = []
        for name, data in plan_variants(gpus):
            try:
                s, t = cpu(lambda: run(load_config(data=data)).summary)
                rows.append((name, t, s))
                print(f"  {name:32s} cpu={t:7.2f}s step={s['step_time_s']:7.3f}s mfu={s['mfu']:.3f} "
                      f"events={s['sim_events']:7d}", flush=True)
            except Exception as err:                         # a plan this scale cannot take
                print(f"  {name:32s} not run: {type(err).__name__}: {err}", flush=True)
        if rows:
            best = min(t for _, t, _ in rows)
            worst = max(rows, key=lambda r: r[1])
            print(f"  slowest over fastest: {worst[1] / best:.2f}x ({worst[0]})")


# -- 3. serving ------------------------------------------------------------------------------------

def serve(name: str, **serve) -> dict:
    s = {"tp": 2, "replicas": 8, "scheduler": "vllm"}
    s.update(serve)
    return {"run": {"kind": "serve", "name": name},
            "topology": {"gpu": "H100-SXM-80GB", "gpus": 64, "fabric": "fat-tree"},
            "model": {"preset": "llama3-8b"}, "serve": s,
            "workload": {"arrival": "trace", "trace": "AzureLLMInferenceTrace_conv.csv", "requests": 4000}}


def bench_serving() -> None:
    print("== serving ==")
    c2 = SHARED / "cases" / "perf" / "vidur_c2.toml"
    cases = []
    if c2.exists():
        cases.append(("Vidur C2 (10,000 requests)", lambda: load_config(c2)))
    variants = [("vllm 8 replicas", serve("v")), ("sarathi", serve("s", scheduler="sarathi", chunk_size=2048)),
                ("orca", serve("o", scheduler="orca")), ("prefix cache", serve("p", prefix_cache=True)),
                ("disaggregated 4P+4D", serve("d", replicas=0, prefill_replicas=4, decode_replicas=4)),
                ("32 replicas", serve("m", replicas=32))]
    cases += [(n, (lambda d=d: load_config(data=d))) for n, d in variants]
    for name, make in cases:
        try:
            s, t = cpu(lambda: run(make()).summary)
            print(f"  {name:32s} cpu={t:7.2f}s requests={s['requests']:6d} events={s['sim_events']:8d} "
                  f"ttft_p50={s['ttft_p50_s']:.3f}s", flush=True)
        except Exception as err:
            print(f"  {name:32s} not run: {type(err).__name__}: {err}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["traffic", "plans", "serving"], default=None)
    args = ap.parse_args()
    if args.only in (None, "traffic"):
        bench_traffic([1000, 2000, 4000] if args.quick else [1000, 2000, 4000, 8000])
    if args.only in (None, "plans"):
        bench_plans([2048] if args.quick else [2048, 16384])
    if args.only in (None, "serving"):
        bench_serving()


if __name__ == "__main__":
    main()
