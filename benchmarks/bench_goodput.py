"""Long-horizon timeline speed: the 54-day Llama 3 405B job on 16,384 H100 (failures at the Llama 3
Table 5 rates, sync and async checkpoints at several intervals), CPU seconds per timeline.

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


if __name__ == "__main__":
    main()
