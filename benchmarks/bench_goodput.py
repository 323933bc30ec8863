"""Long-horizon timeline speed: the 54-day Llama 3 405B job on 16,384 H100 (failures at the Llama 3
Table 5 rates, sync and async checkpoints at several intervals), CPU seconds per timeline.

Second figure: a checkpoint-interval sweep (6 intervals x sync/async, runner.run in one process,
Llama 3 70B on 1,024 H100 of llama3-h100-roce, 54 days, a 100 GB/s storage tier) with the
per-process step and checkpoint caches of sim.app.accounting off (every point simulates its step
and its checkpoint: the code before the cache) and on (one step, one checkpoint per mode).

Run: python benchmarks/bench_goodput.py
Target (issue 13): a 54-day timeline of a 16,384-GPU job in a few seconds; the step itself is
simulated once by the engine (bench_training.py) and is not part of this figure.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.failures import failure_model  # noqa: E402
from workloads.training.goodput import checkpoint_cost, simulate_timeline  # noqa: E402

STEP_S = 5.79          # dcsim's Llama 3 405B step on llama3-h100-roce (runs/llama3-405b-goodput.toml)


def main() -> None:
    fm = failure_model({"gpu": 16384, "nic": 16384, "host": 2048})
    for is_async in (False, True):
        ckpt = checkpoint_cost(405e9, 16384, 2048, 64e9, 7e9, 400e9, 100e9, is_async)
        for interval in (60.0, 300.0, 1800.0):
            t0 = time.process_time()
            s, tl = simulate_timeline(STEP_S, 54 * 86400.0, ckpt, interval, fm, seed=0)
            cpu = time.process_time() - t0
            print(f"async={is_async!s:5} interval={interval:6.0f}s rows={tl.num_rows:7d} "
                  f"interruptions={s['interruptions']} goodput={s['goodput']:.3f} cpu={cpu:.3f}s")


SWEEP = {"run": {"duration_h": 1296.0}, "topology": {"preset": "llama3-h100-roce", "gpus": 1024, "storage_GBps": 100},
         "model": {"preset": "llama3-70b"}, "train": {"tp": 8, "pp": 8, "global_batch": 128, "zero": 1}}
INTERVALS = (120.0, 300.0, 600.0, 1200.0, 2400.0, 4800.0)


def sweep(cached: bool) -> tuple[float, list[float]]:
    """CPU seconds of the interval sweep, and its goodputs."""
    import copy
    from sim.app import accounting
    from sim.app.runner import run
    from sim.config import load_config
    accounting._step_cache.clear()
    accounting._checkpoint_cache.clear()
    goodputs = []
    t0 = time.process_time()
    for is_async in (False, True):
        for interval in INTERVALS:
            data = copy.deepcopy(SWEEP)
            data["train"].update(checkpoint_interval_s=interval, checkpoint_async=is_async)
            if not cached:
                accounting._step_cache.clear()
                accounting._checkpoint_cache.clear()
            goodputs.append(run(load_config(data=data)).summary["goodput"])
    return time.process_time() - t0, goodputs


if __name__ == "__main__":
    main()
    before, g0 = sweep(cached=False)
    after, g1 = sweep(cached=True)
    assert g0 == g1, "the cache changed a result"
    print(f"interval sweep, {len(g0)} points: cpu {before:.1f}s uncached -> {after:.1f}s cached "
          f"({before / after:.1f}x); goodput {min(g0):.4f}..{max(g0):.4f}")
