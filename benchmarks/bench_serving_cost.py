"""The serving iteration cost: CPU time of one batch evaluation and of Vidur's C2 case.

Run: ``python benchmarks/bench_serving_cost.py [CASE.toml] [--repeat N]`` (default case
``/work/shared/cases/perf/vidur_c2.toml``: CodeLlama-34B TP2 on A100, vLLM scheduler, the
10,000 requests Vidur simulated). Prints
- per call: CPU microseconds of one iteration batch priced by the vectorized methods the
  replica used to call (``times`` + ``comm_bytes`` + ``model_flops`` + ``model_bytes`` +
  ``comm_time``) and by the scalar path (``IterationCost.batch``), on the case's replica;
- the whole ``dcsim run`` process: CPU seconds (user + system of the child process, from
  ``resource.getrusage``), median of ``--repeat`` runs. Goal (issue 14): <= 2.9 s.
CPU time, not wall time: the machine is shared.

Results (2 shared cores under load 8-15, interleaved runs, medians of 3, user + system CPU):
- scalar path alone (commit 96ef745 against its parent): 12.6 s -> 4.7 s.
- branch point 2edcf28 -> costmodel after the shared layer model and main's merge: 7.4 s -> 2.8 s
  (main at 581c6f7, with the scalar path but not the shared layer model: 2.8 s).
- one batch: ~60-260 us through the vectorized methods, 3-6 us through ``batch``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.config import load_config  # noqa: E402
from sim.hardware import gpu  # noqa: E402
from workloads.model import ModelSpec  # noqa: E402
from workloads.serving.cost import IterationCost  # noqa: E402

DEFAULT = Path("/work/shared/cases/perf/vidur_c2.toml")


def per_call(case: Path, n: int = 5000) -> tuple[float, float]:
    cfg = load_config(case)
    s = cfg.serve
    c = IterationCost(ModelSpec.from_section(cfg.model), gpu(cfg.topology.gpu), s.precision, s.kv_precision,
                      s.tp, s.pp, s.ep)
    desc = ([96.0], [96.0], [96.0 * 1800], [96.0 * 1800])
    t0 = time.process_time()
    for _ in range(n):
        c.times(*desc), c.comm_bytes(desc[0]), c.model_flops(*desc[:3]), c.model_bytes(desc[0], desc[3])
        c.comm_time(desc[0])
    vec = (time.process_time() - t0) / n
    t0 = time.process_time()
    for _ in range(n):
        c.batch(96.0, 96.0, 96.0 * 1800, 96.0 * 1800)
    return vec, (time.process_time() - t0) / n


def whole_run(case: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "sim.app.cli", "run", case.name, "--out", "/tmp/bench_serving_cost"],
                   cwd=case.parent, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str]) -> None:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    paths = [a for a in argv if a.endswith(".toml")]
    case = Path(paths[0]) if paths else DEFAULT
    vec, scalar = per_call(case)
    print(f"one batch: vectorized methods {vec * 1e6:.1f} us CPU, scalar IterationCost.batch {scalar * 1e6:.1f} us CPU")
    runs = [whole_run(case) for _ in range(repeat)]
    print(f"dcsim run {case.name}: CPU {statistics.median(runs):.2f} s (median of {repeat}: "
          + ", ".join(f"{r:.2f}" for r in runs) + "); goal <= 2.9 s")


if __name__ == "__main__":
    main(sys.argv[1:])
