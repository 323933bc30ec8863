"""Fabric and collective speed (issue: foundation). Prints figures; asserts nothing.

1. Max-min rate computation for 10,000 concurrent flows between random GPU pairs on a
   1,024-GPU fat-tree (target: <= 50 ms).
2. A 1 GiB hierarchical all-reduce over N GPUs of ``dgx-h100-superpod`` (flow model), wall time
   and rate computations for N = 512 .. 16,384 (target at 8,192: <= 10 s on 2 cores), and the
   exponent of wall time against N.

Run: python benchmarks/bench_fabric.py [--max-gpus 16384]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-gpus", type=int, default=16384)
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
