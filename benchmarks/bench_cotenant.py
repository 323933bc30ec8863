"""Co-tenancy speed (issue 10): a two-job run costs at most the sum of its jobs alone + 20 %.

Runs a two-job config with both jobs on one fabric (baselines off), then each job alone on the
same GPUs doing the same work (training: the steps it ran beside its co-tenant), and prints CPU
seconds (time.process_time) of each and the ratio together / (sum alone). The machine is
shared, so after one warm-up each configuration runs ``--repeat`` interleaved rounds (job 0
alone, job 1 alone, ..., together: load drifts alike over the runs of a round); printed are the
median and range of each, the ratio of the medians, and the median and range of the per-round
ratios (its spread is the noise of one measurement). Also printed, free of noise: events and
fabric rate computations together against the sum alone. Asserts nothing.

Configs: ``runs/cotenant.toml`` packed and spread (the README study), and ``small``: the
16 + 16 GPU pair of tests/app/test_jobs.py spread over an oversubscribed fat-tree.

Run: python benchmarks/bench_cotenant.py [CONFIG ...] [--repeat N] [--set KEY=VALUE ...]
     CONFIG: packed | spread | small | a path (default: packed spread small)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.app.runner import _simulate_jobs  # noqa: E402
from sim.config import apply_overrides, load_config  # noqa: E402

COTENANT = ROOT / "runs" / "cotenant.toml"
SMALL = {
    "run": {"name": "small"},
    "topology": {"gpus": 32, "fabric": "fat-tree", "leaf_radix": 32, "oversubscription": 4.0},
    "jobs": [
        {"name": "pre", "kind": "train", "gpus": 16, "placement": "spread",
         "model": {"preset": "llama3-8b", "seq_len": 2048, "layers": 8}, "train": {"tp": 8, "global_batch": 8}},
        {"name": "chat", "kind": "serve", "gpus": 16, "placement": "spread", "model": {"preset": "llama3-8b", "layers": 8},
         "serve": {"tp": 1, "prefill_replicas": 8, "decode_replicas": 8, "kv_transfer": "whole", "kv_precision": "bf16"},
         "workload": {"rate": 200, "requests": 400, "input_tokens": 8000, "output_tokens": 20}},
    ]}
CONFIGS = {"packed": (COTENANT, []), "spread": (COTENANT, ['jobs.1.placement="spread"']), "small": (SMALL, [])}


def load(config, sets):
    if isinstance(config, dict):
        return load_config(data=apply_overrides(copy.deepcopy(config), sets))
    return load_config(config, sets)


def cpu(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def bench(name: str, config, sets: list[str], repeat: int) -> float:
    sets = sets + ["run.baseline=false"]
    cfg = load(config, sets)
    jobs = list(range(len(cfg.jobs)))
    workloads, _, sim, fabric = _simulate_jobs(cfg, jobs, False)       # warm-up: imports, caches
    steps = {i: len(w.step_times) for i, w in workloads.items() if w.kind == "train"}
    alone_cfg = {i: load(config, sets + ([f"run.steps={steps[i]}"] if i in steps else [])) for i in jobs}
    together, alone = [], {i: [] for i in jobs}
    counts = {"together": (sim.events_processed, fabric.rate_computations)}
    for _ in range(repeat):                     # one round: each job alone, then together
        for i in jobs:
            t, (_, _, s, f) = cpu(lambda: _simulate_jobs(alone_cfg[i], [i], False))
            alone[i].append(t)
            counts[i] = (s.events_processed, f.rate_computations)
        together.append(cpu(lambda: _simulate_jobs(cfg, jobs, False))[0])
    rounds = [t / sum(alone[i][r] for i in jobs) for r, t in enumerate(together)]
    med = {i: _median(v) for i, v in alone.items()}
    shared = _median(together)
    ratio = shared / sum(med.values())
    print(f"{name}: median of {repeat} interleaved rounds (CPU s; a round = each job alone, then together)")
    for i in jobs:
        print(f"  {cfg.jobs[i].name:>10} alone: {med[i]:7.2f} [{min(alone[i]):.2f}-{max(alone[i]):.2f}]"
              + (f" ({steps[i]} steps)" if i in steps else "")
              + f"   events {counts[i][0]:>7}, rate computations {counts[i][1]:>6}")
    ev = sum(counts[i][0] for i in jobs)
    rc = sum(counts[i][1] for i in jobs)
    print(f"  {'together':>10}      : {shared:7.2f} [{min(together):.2f}-{max(together):.2f}]"
          f"   events {counts['together'][0]:>7} (sum alone {ev}), "
          f"rate computations {counts['together'][1]:>6} (sum alone {rc}), "
          f"settled changes {getattr(fabric, 'settled_changes', 0)}")
    print(f"  together / sum alone = {ratio:.3f} (medians; target <= 1.20); per round: median "
          f"{_median(rounds):.3f}, range {min(rounds):.3f}-{max(rounds):.3f} ("
          + ", ".join(f"{x:.3f}" for x in rounds) + ")")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="*", default=["packed", "spread", "small"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    for c in args.config:
        config, sets = CONFIGS.get(c, (c, []))
        bench(c, config, sets + args.set, args.repeat)


if __name__ == "__main__":
    main()
