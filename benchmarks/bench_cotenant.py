"""Co-tenancy speed (issue 10): a two-job run costs at most the sum of its jobs alone + 20 %.

Runs ``runs/cotenant.toml`` (or CONFIG) with both jobs on one fabric (baselines off), then
each job alone on the same GPUs doing the same work (training: the steps it ran beside chat),
and prints CPU seconds (time.process_time, after one warm-up run) of each and the ratio shared / (sum alone).
Asserts nothing.

Run: python benchmarks/bench_cotenant.py [CONFIG] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.app.runner import _simulate_jobs  # noqa: E402
from sim.config import load_config  # noqa: E402


def cpu(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?", default=str(ROOT / "runs" / "cotenant.toml"))
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.set + ["run.baseline=false"])
    jobs = list(range(len(cfg.jobs)))
    _simulate_jobs(cfg, jobs, False)        # warm-up: imports, trace parsing and other caches
    shared_s, (workloads, _, sim, _) = cpu(lambda: _simulate_jobs(cfg, jobs, False))
    steps = {i: len(w.step_times) for i, w in workloads.items() if w.kind == "train"}
    alone = {}
    for i in jobs:
        sets = args.set + ["run.baseline=false"] + ([f"run.steps={steps[i]}"] if i in steps else [])
        alone[i] = cpu(lambda: _simulate_jobs(load_config(args.config, sets), [i], False))[0]
        print(f"{cfg.jobs[i].name:>12} alone: {alone[i]:7.2f} s CPU" + (f" ({steps[i]} steps)" if i in steps else ""))
    total = sum(alone.values())
    print(f"{'together':>12}      : {shared_s:7.2f} s CPU, {sim.events_processed} events")
    print(f"shared / sum alone = {shared_s / total:.3f} (target <= 1.20)")


if __name__ == "__main__":
    main()
