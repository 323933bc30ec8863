"""Sweep machinery speed: per-point overhead with a no-op point, and scaling with workers.

    python benchmarks/bench_sweep.py                      # overhead figures (seconds)
    python benchmarks/bench_sweep.py --quickstart 100 --workers 1,2,4

Overhead = (sweep wall time - time inside the point functions / workers) / points; it covers
point generation, pickling, the process pool, progress lines and manifest writes. The
"write" variant adds what every real point pays: an atomic run directory with one Parquet table.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from sim.outputs import write_run_dir  # noqa: E402
from sim.app.sweep import load_sweep, run_sweep  # noqa: E402


def noop_point(task):
    return {}


def write_point(task):
    write_run_dir(Path(task.out_dir), {"summary": pa.table({"x": [float(task.index)]})},
                  {"point": task.partition}, staging_root=task.staging_root)
    return {}


def _sweep(tmp: Path, n: int, base: str | None = None):
    body = f'name = "bench"\n' + (f'base = "{base}"\n' if base else "")
    body += '[grid]\n"run.seed" = [' + ", ".join(str(i) for i in range(n)) + "]\n"
    path = tmp / "sweep.toml"
    path.write_text(body)
    return load_sweep(path)


def overhead(point_fn, n: int, workers: int) -> float:
    tmp = Path(tempfile.mkdtemp())
    try:
        sweep = _sweep(tmp, n)
        t0 = time.perf_counter()
        res = run_sweep(sweep, tmp / "out", workers=workers, point_fn=point_fn, progress=False,
                        stream=io.StringIO())
        wall = time.perf_counter() - t0
        inside = sum(o.get("wall_s", 0.0) for o in res.status.values())
        return (wall - inside / workers) / n, wall / n
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _burn(_=None) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(5_000_000):
        x += i
    return time.perf_counter() - t0


def machine_speedup(workers: int) -> float:
    """What the machine itself gives: throughput of `workers` CPU-bound processes relative to one
    (on a shared or throttled VM this is well below `workers`)."""
    import multiprocessing as mp
    one = _burn()
    with mp.get_context("fork").Pool(workers) as pool:
        t0 = time.perf_counter()
        pool.map(_burn, range(workers * 2))
        wall = time.perf_counter() - t0
    return (workers * 2 * one) / wall


def quickstart(n: int, workers_list: list[int]) -> None:
    base = ROOT / "runs" / "quickstart.toml"
    base_rate = None
    for w in workers_list:
        tmp = Path(tempfile.mkdtemp())
        try:
            shutil.copy(base, tmp / "quickstart.toml")
            sweep = _sweep(tmp, n, "quickstart.toml")
            t0 = time.perf_counter()
            res = run_sweep(sweep, tmp / "out", workers=w, progress=False, stream=io.StringIO())
            wall = time.perf_counter() - t0
            assert res.count("done") == n, [o for o in res.status.values() if o["status"] == "failed"][:1]
            busy = sum(o.get("wall_s", 0.0) for o in res.status.values())
            # busy fraction: how much of workers x wall the points themselves used; on a loaded
            # machine points slow down, but a busy fraction near 1 says the pool kept every
            # worker fed
            print(f"quickstart x{n}: workers={w:>2}  wall {wall:7.2f} s  {n / wall:6.2f} points/s  "
                  f"mean point {busy / n * 1e3:6.1f} ms  busy fraction {busy / (wall * w):.2f}  "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            base_rate = base_rate or n / wall
            if w > 1:
                print(f"  speed-up over 1 worker {n / wall / base_rate:.2f}; this machine's own speed-up "
                      f"for {w} CPU-bound processes: {machine_speedup(w):.2f}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=400)
    ap.add_argument("--quickstart", type=int, default=0, help="also time a sweep of N quickstart runs")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    for w in workers:
        for name, fn in (("no-op", noop_point), ("write", write_point)):
            over, total = overhead(fn, args.points, w)
            print(f"{name:5s} point, workers={w}: machinery overhead {over * 1e3:6.2f} ms/point, "
                  f"wall {total * 1e3:6.2f} ms/point ({args.points} points)")
    if args.quickstart:
        quickstart(args.quickstart, workers)


if __name__ == "__main__":
    main()
