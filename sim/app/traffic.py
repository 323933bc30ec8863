"""``dcsim traffic``: a traffic matrix of point-to-point transfers on a config's topology.

Vocabulary:
- pattern: how the N transfers pick their (source, destination) GPU ranks, from a seeded
  generator: ``random`` (each pair uniform, source != destination), ``permutation`` (rounds of a
  random cyclic permutation of all GPUs: every GPU sends once and receives once per round),
  ``incast`` (every transfer ends at one GPU, drawn once; sources uniform over the others),
  ``all-to-all`` (shift pattern: transfer k goes from rank k mod n to the rank
  1 + (k div n) mod (n - 1) further on, so the first n(n - 1) transfers cover every ordered pair).
- sizes: log-uniform in [LO, HI] bytes, drawn from the same generator.
- All transfers start at t = 0 and share the fabric (max-min fair with the ``flow`` network
  model). A transfer's flow completion time (FCT) is when its last byte lands, latency included.
- rate tolerance ``eps`` (``--rate-tolerance``, ``run.rate_tolerance``, default 0.02): with
  ``eps > 0`` and the ``flow`` model, completions within ``eps`` x the elapsed time share one
  max-min re-solve (``sim.flowepochs``: no link above capacity, every flow delivers exactly
  its bytes; measured per-flow FCT error up to about 1.25 ``eps``, tabled there); ``eps = 0`` runs the
  fabric's exact simulation, one re-solve per completion (``sim.fabric``, as training,
  serving and co-tenant runs always do).
- Output: ``flows``, ``makespan_s`` (the last completion), ``fct_mean_s``, ``fct_p99_s``,
  ``sim_events`` (with a rate tolerance: epochs), ``wall_s`` (this process's wall time for the
  whole command, building the topology included), ``cpu_s`` (the same in CPU time),
  ``rate_computations`` (max-min solves; with a rate tolerance: epochs), ``bytes`` (total
  sent), ``rate_tolerance`` (the ``eps`` used; 0 with the ``analytic`` model).
"""

from __future__ import annotations

import time

import numpy as np

from sim.errors import ConfigError
from sim.config import INT64_MAX
from sim.flowepochs import drain

PATTERNS = ("random", "permutation", "incast", "all-to-all")


def pairs(pattern: str, n: int, flows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Source and destination ranks (two int arrays of length ``flows``) on ``n`` GPUs."""
    if pattern not in PATTERNS:
        raise ConfigError("--pattern", f"unknown pattern {pattern!r}; one of {', '.join(PATTERNS)}")
    if n < 2:
        raise ConfigError("topology.gpus", f"a traffic pattern needs at least 2 GPUs, not {n}")
    k = np.arange(flows, dtype=np.int64)
    if pattern == "random":
        src = rng.integers(0, n, flows)
        dst = (src + rng.integers(1, n, flows)) % n
    elif pattern == "permutation":
        rounds = -(-flows // n)
        src = np.empty(rounds * n, dtype=np.int64)
        dst = np.empty(rounds * n, dtype=np.int64)
        for r in range(rounds):
            order = rng.permutation(n)
            src[r * n:(r + 1) * n] = order
            dst[r * n:(r + 1) * n] = np.roll(order, -1)
        src, dst = src[:flows], dst[:flows]
    elif pattern == "incast":
        target = int(rng.integers(0, n))
        src = (target + rng.integers(1, n, flows)) % n
        dst = np.full(flows, target, dtype=np.int64)
    else:
        src = k % n
        dst = (src + 1 + (k // n) % (n - 1)) % n
    return src.astype(np.int64), dst.astype(np.int64)


def sizes(lo: float, hi: float, flows: int, rng: np.random.Generator) -> np.ndarray:
    """Log-uniform transfer sizes in [lo, hi] bytes."""
    if not 0 < lo <= hi:
        raise ConfigError("--sizes", f"need 0 < LO <= HI, not {lo:g}:{hi:g}")
    # whole bytes: a transfer moves an integer count (rounding keeps them in [lo, hi])
    return np.clip(np.rint(np.exp(rng.uniform(np.log(lo), np.log(hi), flows))), lo, hi)


# Work bound: past it an exact run (--rate-tolerance 0) would take hours, so it is refused before
# it starts. The exact cost is the max-min re-solve per completion, proportional to the flows
# whose rate really changes; on a 1,024-GPU fat-tree that grows fast with density (measured: ~2
# flows per completion at 900 active random flows, ~30 at 3,500, ~370 at 7,500;
# benchmarks/RESULTS-fabric.txt). With a rate tolerance the cost grows about as F (5 s of CPU
# at 20,000 flows, benchmarks/RESULTS-traffic.txt); the bound stays one number for both.
MAX_FLOWS = 50_000


def traffic(cfg, pattern: str, flows: int, lo: float, hi: float, seed: int | None = None,
            rate_tolerance: float | None = None) -> dict:
    """Simulate ``flows`` transfers of ``pattern`` on ``cfg.topology``; the summary dict.
    ``rate_tolerance`` (default ``run.rate_tolerance``): see the module docstring; 0 = exact."""
    t0, c0 = time.perf_counter(), time.process_time()
    fct, size, info = completion_times(cfg, pattern, flows, lo, hi, seed, rate_tolerance)
    return {"pattern": pattern, "flows": flows, "gpus": info["gpus"], "bytes": int(size.sum()),
            "makespan_s": float(fct.max()), "fct_mean_s": float(fct.mean()),
            "fct_p99_s": float(np.percentile(fct, 99)), "sim_events": info["sim_events"],
            "rate_computations": info["rate_computations"], "rate_tolerance": info["rate_tolerance"],
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def completion_times(cfg, pattern: str, flows: int, lo: float, hi: float, seed: int | None = None,
                     rate_tolerance: float | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Per-transfer FCTs (s, shape (flows,)), sizes (bytes) and run figures (``gpus``,
    ``sim_events``, ``rate_computations``, ``rate_tolerance``, ``peak_utilization``) of
    ``traffic``. Errors: ConfigError naming ``--flows``, ``--seed``, ``--rate-tolerance``."""
    from sim.collectives import default_efficiencies
    from sim.fabric import Fabric
    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build

    if flows < 1:
        raise ConfigError("--flows", f"must be >= 1, not {flows}")
    if flows > MAX_FLOWS:
        raise ConfigError("--flows", f"{flows:,} flows exceed the bound of {MAX_FLOWS:,} per run (about an hour "
                                     "of CPU); a sample of a few thousand shows what the fabric does")
    seed = cfg.run.seed if seed is None else seed
    if seed < 0:
        raise ConfigError("--seed", f"must be >= 0, not {seed}")
    if seed > INT64_MAX:        # as run.seed is refused (sim.config.check_bounds)
        raise ConfigError("--seed", f"{seed} is beyond {INT64_MAX:,} (2**63 - 1), the largest integer dcsim's "
                          "tables hold, and any count or size a run has")
    eps = cfg.run.rate_tolerance if rate_tolerance is None else rate_tolerance
    if not 0 <= eps < 1:
        raise ConfigError("--rate-tolerance", f"must be in [0, 1), not {eps}")
    rng = np.random.default_rng(seed)
    topo = build(cfg.topology)
    src, dst = pairs(pattern, len(topo.gpus), flows, rng)
    size = sizes(lo, hi, flows, rng)
    eff = default_efficiencies(gpu_spec(cfg.topology.gpu))
    sim = Simulation(seed)
    fabric = Fabric(sim, topo, cfg.topology.network_model,
                    cfg.topology.scaleup_efficiency or eff["scaleup"],
                    cfg.topology.scaleout_efficiency or eff["scaleout"])
    gpus = topo.gpus
    info = {"gpus": len(gpus), "rate_tolerance": 0.0}
    if eps > 0 and fabric.model == "flow":
        routes = [topo.route(gpus[s], gpus[d], i) for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist()))]
        latency = np.fromiter((topo.path_latency(r) for r in routes), dtype=np.float64, count=flows)
        out = drain(routes, size, latency, fabric.capacity, eps)
        info.update(sim_events=out["epochs"], rate_computations=out["epochs"], rate_tolerance=float(eps),
                    peak_utilization=out["peak_utilization"])
        return out["fct"], size, info
    fct = np.full(flows, np.nan)
    env = sim.env
    events = []
    for i, (s, d, b) in enumerate(zip(src.tolist(), dst.tolist(), size.tolist())):
        ev = fabric.transfer(gpus[s], gpus[d], b, tag=pattern, key=i)

        def done(_, i=i):
            fct[i] = env.now
        ev.callbacks.append(done)
        events.append(ev)
    sim.run(env.all_of(events))
    info.update(sim_events=sim.events_processed, rate_computations=fabric.rate_computations,
                peak_utilization=fabric.peak_utilization)
    return fct, size, info
