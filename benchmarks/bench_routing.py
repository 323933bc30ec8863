"""Routing and build speed of the structured routers at 1k to 16k GPUs (prints figures).

Run: ``python benchmarks/bench_routing.py [--pairs N]``. For each instance it builds the
topology (timed), then routes N random GPU pairs with distinct keys through the router
directly (no cache: the cost a first flow pays) and through ``Topology.route`` twice (the
second pass is served by the route cache).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import TopologySection  # noqa: E402
from topologies import build, preset_spec  # noqa: E402

CASES = [
    ("fat-tree 1k (2 tiers)", lambda: TopologySection(gpus=1024, fabric="fat-tree", tiers=2)),
    ("rail-optimized 8k (3 tiers)", lambda: TopologySection(gpus=8192, fabric="rail-optimized", tiers=3)),
    ("dgx-h100-superpod 16k", lambda: preset_spec("dgx-h100-superpod", gpus=16384)),
    ("llama3-h100-roce 16k", lambda: preset_spec("llama3-h100-roce")),
    ("tpu-v4-pod 4k torus", lambda: preset_spec("tpu-v4-pod")),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)   # benchmark inputs only; simulation code uses sim.rng
    print(f"{'instance':30s} {'gpus':>6s} {'nodes':>7s} {'links':>7s} {'build_s':>8s} {'router/s':>10s} {'route()/s':>10s} {'cached/s':>10s} {'mean hops':>9s}")
    for name, make in CASES:
        spec = make()
        t0 = time.perf_counter()
        topo = build(spec)
        build_s = time.perf_counter() - t0
        n = len(topo.gpus)
        src = rng.integers(0, n, args.pairs)
        dst = rng.integers(0, n, args.pairs)
        gpus = topo.gpus
        pairs = [(gpus[a], gpus[b], k) for k, (a, b) in enumerate(zip(src.tolist(), dst.tolist()))]
        router = topo.router
        t0 = time.perf_counter()
        hops = 0
        for a, b, k in pairs:
            hops += len(router.route(topo, a, b, k))
        direct = len(pairs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for a, b, k in pairs:
            topo.route(a, b, k)
        first = len(pairs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for a, b, k in pairs:
            topo.route(a, b, k)
        cached = len(pairs) / (time.perf_counter() - t0)
        print(f"{name:30s} {n:6d} {len(topo.node_names):7d} {topo.num_links:7d} {build_s:8.2f} {direct:10.0f} {first:10.0f} {cached:10.0f} {hops / len(pairs):9.2f}")


if __name__ == "__main__":
    main()
