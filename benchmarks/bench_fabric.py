"""Fabric and collective speed (issue: foundation). Prints figures; asserts nothing.

1. Max-min rate computation for 10,000 concurrent flows between random GPU pairs on a
   1,024-GPU fat-tree (target: <= 50 ms).
2. A 1 GiB hierarchical all-reduce over N GPUs of ``dgx-h100-superpod`` (flow model), wall time
   and rate computations for N = 512 .. 16,384 (target at 8,192: <= 10 s on 2 cores), and the
   exponent of wall time against N.

3. ``dcsim traffic --pattern random --flows F`` on a 1,024-GPU fat-tree (all transfers start at
   once, sizes 64 KiB-64 MiB log-uniform): CPU time of the whole command but interpreter start,
   for F = 1,000 .. ``--max-flows`` (20,000), and the exponent of CPU time against F (goal:
   <= 1.3, 20,000 flows <= 10 s), at ``--rate-tolerance`` (default run.rate_tolerance: epochs
   of sim/flowepochs.py; 0: the fabric's exact incremental re-solve per completion).
   ``--only traffic-errors``: the error table of sim/flowepochs.py (each tolerance against the
   exact simulation up to ``--max-exact`` flows, against eps = 0.001 beyond).
4. Building the ``llama3-h100-roce`` topology (arrays only) at 1,024 .. 16,384 GPUs, CPU time,
   and the networkx graph made from it on demand (drawing and export only).

Run: python benchmarks/bench_fabric.py [--max-gpus 16384] [--max-flows 20000] [--rate-tolerance EPS]
     [--only maxmin|traffic|traffic-errors|build]
Results: benchmarks/RESULTS-fabric.txt; traffic: benchmarks/RESULTS-traffic.txt.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.collectives import collective, default_efficiencies  # noqa: E402
from sim.config import load_config  # noqa: E402
from sim.fabric import Fabric  # noqa: E402
from sim.fairshare import maxmin_rates  # noqa: E402
from sim.simulation import Simulation  # noqa: E402
from topologies import build  # noqa: E402


def bench_maxmin(flows: int = 10_000, gpus: int = 1024, repeats: int = 5) -> dict:
    cfg = load_config(data={"topology": {"gpus": gpus, "fabric": "fat-tree", "gpu": "H100-SXM-80GB"}})
    topo = build(cfg.topology)
    rng = np.random.default_rng(0)
    src = rng.integers(0, gpus, flows)
    dst = (src + rng.integers(1, gpus, flows)) % gpus
    t0 = time.perf_counter()
    paths = [topo.route(topo.gpu(int(s)), topo.gpu(int(d)), i) for i, (s, d) in enumerate(zip(src, dst))]
    route_s = time.perf_counter() - t0
    lengths = np.array([len(p) for p in paths])
    el = np.concatenate(paths)
    ef = np.repeat(np.arange(flows), lengths)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        maxmin_rates(ef, el, flows, topo.capacity)
        times.append(time.perf_counter() - t0)
    return {"flows": flows, "gpus": gpus, "links": topo.num_links, "entries": len(el),
            "route_s": route_s, "maxmin_ms_median": 1e3 * float(np.median(times)),
            "maxmin_ms_min": 1e3 * min(times)}


def bench_allreduce(gpus: int, size: int = 1 << 30, algo: str = "hierarchical") -> dict:
    t0 = time.perf_counter()
    cfg = load_config(data={"topology": {"preset": "dgx-h100-superpod", "gpus": gpus}})
    topo = build(cfg.topology)
    t_build = time.perf_counter() - t0
    eff = default_efficiencies()
    sim = Simulation(0)
    fabric = Fabric(sim, topo, "flow", eff["scaleup"], eff["scaleout"])
    t1 = time.perf_counter()
    ev = collective(fabric, "all_reduce", [list(topo.gpus)], size, algo)
    sim.run(ev)
    t_sim = time.perf_counter() - t1
    busbw = size / sim.now * 2 * (gpus - 1) / gpus / 1e9
    return {"gpus": gpus, "build_s": t_build, "simulate_s": t_sim, "wall_s": t_build + t_sim,
            "sim_time_ms": sim.now * 1e3, "busbw_GBps": busbw,
            "rate_computations": fabric.rate_computations, "events": sim.events_processed}


FLOW_COUNTS = (1000, 2000, 4000, 8000, 12000, 20000)


def bench_traffic(max_flows: int, eps: float | None = None) -> None:
    """CPU time of ``traffic`` against F at rate tolerance ``eps`` (None: run.rate_tolerance)."""
    from sim.app.traffic import traffic
    cfg = load_config(data={"topology": {"gpus": 1024, "fabric": "fat-tree"}})
    eps_used = cfg.run.rate_tolerance if eps is None else eps
    pts = []
    for f in (f for f in FLOW_COUNTS if f <= max_flows):
        c0 = time.process_time()
        r = traffic(cfg, "random", f, 64 * 1024, 64 * 1024**2, seed=0, rate_tolerance=eps)
        t = time.process_time() - c0
        pts.append((f, t))
        print(f"traffic random eps={eps_used:g}: flows={f:6d} cpu_s={t:7.2f} events={r['sim_events']:7d} "
              f"solves={r['rate_computations']:6d} makespan_ms={r['makespan_s'] * 1e3:.6f} "
              f"fct_mean_ms={r['fct_mean_s'] * 1e3:.6f}", flush=True)
    if len(pts) > 1:
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        print(f"traffic eps={eps_used:g}: cpu time grows as F^{np.polyfit(x, y, 1)[0]:.2f} (least squares) "
              f"from {pts[0][0]} to {pts[-1][0]} flows; end to end F^"
              f"{np.log(pts[-1][1] / pts[0][1]) / np.log(pts[-1][0] / pts[0][0]):.2f}")


def bench_traffic_errors(max_exact: int, max_flows: int, tolerances=(0.01, 0.02, 0.05, 0.1)) -> None:
    """The error table of sim/flowepochs.py: each tolerance against the exact simulation
    (F <= ``max_exact``) or, beyond, against eps = 0.001 (exact would take hours)."""
    from sim.app.traffic import completion_times
    cfg = load_config(data={"topology": {"gpus": 1024, "fabric": "fat-tree"}})
    kw = dict(pattern="random", lo=64 * 1024, hi=64 * 1024**2, seed=0)
    print("eps    flows  solves  makespan  FCT p50  FCT p99  max per flow   cpu_s  (reference)")
    for f in (f for f in FLOW_COUNTS if f <= max_flows):
        ref_eps = 0.0 if f <= max_exact else 0.001
        c0 = time.process_time()
        ref, _, _ = completion_times(cfg, flows=f, rate_tolerance=ref_eps, **kw)
        ref_cpu = time.process_time() - c0
        for eps in tolerances:
            c0 = time.process_time()
            got, _, info = completion_times(cfg, flows=f, rate_tolerance=eps, **kw)
            c = time.process_time() - c0

            def rel(q):
                return np.percentile(got, q) / np.percentile(ref, q) - 1
            print(f"{eps:<5g} {f:6d} {info['rate_computations']:7d}  {rel(100):+7.2%}  {rel(50):+7.2%}  "
                  f"{rel(99):+7.2%}  {np.max(np.abs(got / ref - 1)):8.2%}  {c:9.2f}  "
                  f"(eps={ref_eps:g}: {ref_cpu:.2f} s)", flush=True)


def bench_build(max_gpus: int) -> None:
    n = 1024
    while n <= max_gpus:
        cfg = load_config(data={"topology": {"preset": "llama3-h100-roce", "gpus": n}})
        c0 = time.process_time()
        topo = build(cfg.topology)
        t_build = time.process_time() - c0
        c0 = time.process_time()
        topo.graph
        t_graph = time.process_time() - c0
        print(f"build llama3-h100-roce: gpus={n:6d} links={topo.num_links:7d} build_cpu_s={t_build:.3f} "
              f"graph_on_demand_cpu_s={t_graph:.3f}", flush=True)
        n *= 4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-gpus", type=int, default=16384)
    ap.add_argument("--max-flows", type=int, default=20000)
    ap.add_argument("--max-exact", type=int, default=4000, help="traffic-errors: largest exact reference run")
    ap.add_argument("--rate-tolerance", type=float, default=None, help="traffic: default run.rate_tolerance")
    ap.add_argument("--only", choices=["maxmin", "traffic", "traffic-errors", "build"], default=None)
    args = ap.parse_args()
    if args.only == "traffic":
        return bench_traffic(args.max_flows, args.rate_tolerance)
    if args.only == "traffic-errors":
        return bench_traffic_errors(args.max_exact, args.max_flows)
    if args.only == "build":
        return bench_build(args.max_gpus)
    print("max-min:", bench_maxmin())
    rows = []
    n = 512
    while n <= args.max_gpus:
        r = bench_allreduce(n)
        rows.append(r)
        print("hierarchical all-reduce 1 GiB:", {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
        n *= 2
    if len(rows) >= 2:
        x = np.log([r["gpus"] for r in rows])
        y = np.log([r["wall_s"] for r in rows])
        print(f"wall time grows as N^{np.polyfit(x, y, 1)[0]:.2f} from {rows[0]['gpus']} to {rows[-1]['gpus']} GPUs")
    if args.only is None:
        bench_build(args.max_gpus)
        bench_traffic(args.max_flows, args.rate_tolerance)


if __name__ == "__main__":
    main()
