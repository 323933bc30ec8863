"""Plan variants of bench_all's matrix, before and after a change: CPU time (time.process_time)
of one training run, in a fresh process per run (after a 128-GPU warm-up run that pays imports
and caches), the two checkouts interleaved, minimum of ``--repeat`` runs (the machine is shared
and noisy); prints the minimum and the median. Prints events and step times too (a speed change
must leave step times identical, or within 1e-9 relative where it sums in another order: the
relative difference is shown).
Results of the last run: benchmarks/RESULTS-plans.txt.

Run: python benchmarks/bench_plans_ab.py BEFORE_CHECKOUT [AFTER_CHECKOUT] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = {"base": {}, "zero3": {"zero": 3}, "full": {"fidelity": "full"},
            "1f1b": {"schedule": "1f1b", "virtual_stages": 1}, "gpipe": {"schedule": "gpipe", "virtual_stages": 1}}
CASES = [(2048, k) for k in ("base", "zero3", "1f1b", "gpipe", "full")] + [(16384, k) for k in ("base", "zero3", "1f1b", "full")]


def one(root: str, gpus: int, variant: str) -> None:
    """Child: time one run of ``variant`` at ``gpus`` with the code of checkout ``root``."""
    import time
    sys.path[:0] = [root, str(Path(root) / "benchmarks")]
    from bench_all import llama405
    from sim.config import load_config
    from sim.app.runner import run
    kw = VARIANTS[variant]
    run(load_config(data=llama405(128, **{k: v for k, v in kw.items() if k != "fidelity"})))
    cfg = load_config(data=llama405(gpus, **kw))
    t = time.process_time()
    s = run(cfg).summary
    t = time.process_time() - t
    print(json.dumps({"cpu": t, "step": s["step_time_s"], "events": s["sim_events"]}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        one(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=None, help="run only the cases whose 'GPUS VARIANT' contains this")
    a = ap.parse_args()
    cases = [c for c in CASES if a.only is None or a.only in f"{c[0]} {c[1]}"]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    res: dict = {}
    for _ in range(a.repeat):
        for gpus, v in cases:
            for name, root in (("before", a.before), ("after", a.after)):
                out = subprocess.run([sys.executable, __file__, "--one", root, str(gpus), v],
                                     capture_output=True, text=True, env=env)
                if out.returncode:
                    print(f"{name} {gpus} {v} failed: {out.stderr[-300:]}", flush=True)
                    continue
                res.setdefault((gpus, v, name), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    for gpus, v in cases:
        b, f = res.get((gpus, v, "before")), res.get((gpus, v, "after"))
        if b and f:
            same = b[0]['step'] == f[0]['step']
            rel = abs(b[0]['step'] - f[0]['step']) / b[0]['step']
            print(f"{gpus:6d} {v:6s} cpu {min(x['cpu'] for x in b):6.2f}s -> {min(x['cpu'] for x in f):6.2f}s  "
                  f"(median {statistics.median(x['cpu'] for x in b):6.2f}s -> {statistics.median(x['cpu'] for x in f):6.2f}s)  "
                  f"events {b[0]['events']:6d} -> {f[0]['events']:6d}  step_time identical: "
                  f"{same if same else f'{same} (rel {rel:.1e})'}", flush=True)


if __name__ == "__main__":
    main()
