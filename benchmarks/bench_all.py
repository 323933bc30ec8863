"""Every speed figure of issue 14 in one command, in CPU time (time.process_time; a whole
process: user + system CPU of the child from resource.getrusage). Prints figures; asserts
nothing. Results of the last full run: benchmarks/RESULTS-all.txt.

1. traffic: ``dcsim traffic --pattern random --flows F`` on a 1,024-GPU fat-tree for growing F,
   and the exponent of CPU time against F (goal: 20,000 flows <= 10 s, exponent <= 1.3), at the
   default rate tolerance (run.rate_tolerance, sim/flowepochs.py) and exact (0). A point whose
   predicted time (the last exponent) exceeds ``--traffic-budget`` seconds is skipped.
2. plan matrix: Llama 3 405B (TP8 PP16, interleaved, DP = GPUs / 128) on llama3-h100-roce at
   2,048 and 16,384 GPUs, one knob changed per variant (SP off, ZeRO 0-3, rank order, schedule,
   recompute, CP, full fidelity) plus Mixtral 8x7B with EP; each variant's CPU time over the
   fastest at the same scale (goal: every one <= 3x; 405B/16k without SP <= 10 s). Then the two
   Megatron-style H100 configurations of the issue (hidden 10,240 with PP4, hidden 18,432 with
   PP16; both did not finish in 300 s), SP on and off, and the topology build's share of the
   16,384-GPU run.
3. serving: the Vidur C2 case (../shared/cases/perf/vidur_c2.toml: 10,000 requests,
   CodeLlama-34B TP2 on A100, vLLM; Vidur 29.4 s; goal <= 2.9 s for the whole ``dcsim run``
   process), as a whole process with and without cached bytecode, and in process; the same
   replica on fixed 1024/256-token requests at 3 req/s (10,000 and 100,000 requests); one
   iteration batch priced by the vectorized methods and by the scalar path; serving variants
   (schedulers, prefix cache, disaggregation, many replicas).

Run: python benchmarks/bench_all.py [--quick] [--only traffic|plans|serving] [--traffic-budget S]
``--quick``: traffic up to 4,000 flows, plans at 2,048 GPUs only, no 100,000-request run.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import load_config  # noqa: E402
from sim.app.runner import run  # noqa: E402
from sim.app.traffic import traffic  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
SHARED = ROOT.parent.parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")


def cpu(fn):
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


# -- 1. traffic ------------------------------------------------------------------------------------

def bench_traffic(flow_counts, budget_s: float = 120.0, tolerances=(None, 0.0)) -> None:
    """Per rate tolerance (None: the default, run.rate_tolerance; 0: exact), CPU time against
    F and its exponent, fitted over every point run (least squares in log-log)."""
    print("== traffic: random point-to-point transfers, 1,024-GPU fat-tree, sizes 64K:64M ==")
    cfg = load_config(data={"topology": {"gpus": 1024, "fabric": "fat-tree"}})
    for eps in tolerances:
        name = f"rate tolerance {cfg.run.rate_tolerance:g} (default)" if eps is None else \
            ("exact (--rate-tolerance 0)" if eps == 0 else f"rate tolerance {eps:g}")
        print(f"  -- {name}")
        pts = []
        for f in flow_counts:
            if pts:
                f1, t1 = pts[-1]
                f0, t0 = pts[-2] if len(pts) > 1 else (f1, t1)
                expo = math.log(t1 / t0) / math.log(f1 / f0) if f1 > f0 and t1 > t0 > 0 else 2.2
                predicted = t1 * (f / f1) ** max(expo, 1.0)
                if predicted > budget_s:
                    print(f"  flows={f:6d} skipped: predicted {predicted:.0f} s CPU (F^{expo:.2f}) > budget {budget_s:.0f} s")
                    continue
            r, t = cpu(lambda: traffic(cfg, "random", f, 64 * 1024, 64 * 1024**2, seed=0, rate_tolerance=eps))
            pts.append((f, t))
            print(f"  flows={f:6d} cpu={t:8.2f}s events={r['sim_events']:7d} solves={r['rate_computations']:6d} "
                  f"makespan={r['makespan_s'] * 1e3:.3f}ms fct_p99={r['fct_p99_s'] * 1e3:.3f}ms", flush=True)
        if len(pts) > 1:
            x = [math.log(f) for f, _ in pts]
            y = [math.log(t) for _, t in pts]
            mx, my = sum(x) / len(x), sum(y) / len(y)
            slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
            print(f"  cpu time grows as F^{slope:.2f} (least squares) from {pts[0][0]} to {pts[-1][0]} flows")


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
          ("MoE Mixtral 8x7B TP2 PP8 EP8", mixtral_ep(gpus)),
          ("fidelity full", llama405(gpus, fidelity="full"))]
    return v


def megatron_h100(hidden: int, sp: bool) -> dict:
    """The issue's two Megatron-style H100 configurations on 1,024 GPUs: GPT 76.1B (hidden
    10,240, Narayanan et al. 2021 Table 1) with TP8 PP4, and a hidden-18,432 model of
    Nemotron-4 340B's shape (96 layers, 96 heads, 8 KV heads) with TP8 PP16 interleaved."""
    if hidden == 10240:
        model = {"preset": "gpt-76.1b"}
        train = {"tp": 8, "pp": 4, "dp": 32, "micro_batch": 2, "global_batch": 1792, "schedule": "1f1b",
                 "recompute": "full"}
    else:
        model = {"name": "h18432", "layers": 96, "hidden": 18432, "ffn_hidden": 73728, "heads": 96,
                 "kv_heads": 8, "vocab": 256000, "seq_len": 4096, "gated_mlp": False}
        train = {"tp": 8, "pp": 16, "dp": 8, "micro_batch": 1, "global_batch": 768, "schedule": "interleaved",
                 "virtual_stages": 2, "recompute": "none"}
    train.update(sequence_parallel=sp, precision="bf16", check_memory=False)
    return {"run": {"kind": "train", "name": f"megatron-h{hidden}"},
            "topology": {"preset": "llama3-h100-roce", "gpus": 1024}, "model": model, "train": train}


def bench_megatron() -> None:
    print("== Megatron-style H100 configurations (1,024 GPUs; did not finish in 300 s before) ==")
    for hidden in (10240, 18432):
        for sp in (True, False):
            s, t = cpu(lambda: run(load_config(data=megatron_h100(hidden, sp))).summary)
            print(f"  hidden {hidden} SP {'on ' if sp else 'off'}               cpu={t:7.2f}s "
                  f"step={s['step_time_s']:7.3f}s mfu={s['mfu']:.3f} events={s['sim_events']:7d}", flush=True)


def bench_topology_share(gpus: int = 16384) -> None:
    import topologies
    cfg = load_config(data=llama405(gpus))
    _, build = cpu(lambda: topologies.build(cfg.topology))
    _, total = cpu(lambda: run(cfg))
    print(f"== topology build at {gpus} GPUs: {build:.2f} s CPU of a {total:.2f} s base run ({100 * build / total:.0f}%) ==")


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
    s = {k: v for k, v in s.items() if v is not None}      # None: leave the key out
    return {"run": {"kind": "serve", "name": name},
            "topology": {"gpu": "H100-SXM-80GB", "gpus": 64, "fabric": "fat-tree"},
            "model": {"preset": "llama3-8b"}, "serve": s,
            "workload": {"arrival": "trace", "trace": "AzureLLMInferenceTrace_conv.csv", "requests": 4000}}


C2 = SHARED / "cases" / "perf" / "vidur_c2.toml"


def c2_data(**workload) -> dict:
    """The C2 case's config with its trace path made absolute (it is relative to the case's
    folder), or with ``workload`` in place of its trace."""
    data = tomllib.loads(C2.read_text())
    data["workload"] = dict(workload) if workload else {"arrival": "trace", "trace": str(C2.parent / "vidur_c2_requests.csv")}
    return data


def whole_process(case: Path, cached_bytecode: bool, repeat: int = 3) -> list[float]:
    """CPU seconds (user + system) of ``dcsim run CASE`` as a child process, ``repeat`` runs
    after a warm-up. ``cached_bytecode``: compiled modules are written (to a private cache)
    and reused, as in any installation after its first run; otherwise every run compiles them
    (PYTHONDONTWRITEBYTECODE, as this machine's shells set it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cache = tempfile.mkdtemp(prefix="dcsim-pyc-")
    if cached_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = tempfile.mkdtemp(prefix="dcsim-c2-")
    runs = []
    for i in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "sim.app.cli", "run", case.name, "--out", out],
                       cwd=case.parent, env=env, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            runs.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return runs


def bench_serving(quick: bool = False) -> None:
    print("== serving ==")
    if C2.exists():
        for cached in (True, False):
            runs = whole_process(C2, cached)
            print(f"  Vidur C2 whole dcsim run process, bytecode {'cached' if cached else 'compiled'}: "
                  f"cpu={statistics.median(runs):.2f}s (median of {len(runs)}: {', '.join(f'{r:.2f}' for r in runs)}); "
                  "Vidur 29.4 s, goal <= 2.9 s", flush=True)
        from bench_serving_cost import per_call
        vec, scalar = per_call(C2)
        print(f"  one iteration batch (C2 replica): vectorized methods {vec * 1e6:.1f} us, scalar path {scalar * 1e6:.1f} us CPU")
    cases = []
    if C2.exists():
        fixed = {"arrival": "poisson", "rate": 3.0, "input_tokens": 1024, "output_tokens": 256}
        cases += [("Vidur C2 in process (10,000 req)", lambda: load_config(data=c2_data())),
                  ("C2 replica, 1024/256 @3/s, 10,000", lambda: load_config(data=c2_data(**fixed, requests=10000)))]
        if not quick:
            cases.append(("C2 replica, 1024/256 @3/s, 100,000", lambda: load_config(data=c2_data(**fixed, requests=100000))))
    variants = [("vllm 8 replicas", serve("v")), ("sarathi", serve("s", scheduler="sarathi", chunk_size=2048)),
                ("orca", serve("o", scheduler="orca")), ("prefix cache", serve("p", prefix_cache=True)),
                ("disaggregated 4P+4D", serve("d", replicas=None, prefill_replicas=4, decode_replicas=4)),
                ("32 replicas", serve("m", replicas=32))]
    cases += [(n, (lambda d=d: load_config(data=d))) for n, d in variants]
    for name, make in cases:
        try:
            s, t = cpu(lambda: run(make()).summary)
            print(f"  {name:36s} cpu={t:7.2f}s requests={s['requests']:6d} events={s['sim_events']:8d} "
                  f"ttft_p50={s['ttft_p50_s']:.3f}s", flush=True)
        except Exception as err:
            print(f"  {name:36s} not run: {type(err).__name__}: {err}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["traffic", "plans", "serving"], default=None)
    ap.add_argument("--traffic-budget", type=float, default=120.0,
                    help="skip a traffic point predicted to take longer (CPU seconds)")
    args = ap.parse_args()
    if args.only in (None, "traffic"):
        bench_traffic([1000, 2000, 4000] if args.quick else [1000, 2000, 4000, 8000, 20000], args.traffic_budget)
    if args.only in (None, "plans"):
        bench_plans([2048] if args.quick else [2048, 16384])
        bench_megatron()
        if not args.quick:
            bench_topology_share()
    if args.only in (None, "serving"):
        bench_serving(args.quick)


if __name__ == "__main__":
    main()
