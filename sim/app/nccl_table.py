"""The nccl-tests table of ``dcsim collective``: one collective timed on a config's topology.

Vocabulary (nccl-tests): algbw = size / time; busbw = algbw x the op's bus factor
(``sim.collectives.BUSBW_FACTOR``). Columns: op, algo, gpus, size_bytes, time_s, algbw_GBps,
busbw_GBps, protocol (the NCCL protocol ``auto`` chose by NCCL's tuning model: LL, LL128 or
Simple; Simple for an algorithm given by name).
"""

from __future__ import annotations

from sim.collectives import (ALGOS, BUSBW_FACTOR, OPS, applicable, default_efficiencies, measure, tune)
from sim.errors import ConfigError
from sim.fabric import Fabric


def check_sizes_fit(sizes: list[int], spec) -> None:
    """A ``--sizes`` entry larger than one GPU's memory (``spec.hbm_bytes``, what the runtime
    reports) is an error: every rank holds a buffer of the size (nccl-tests' count: all_reduce's
    buffer, all_gather's gathered output, all_to_all's send buffer), so no such collective runs."""
    largest = max(sizes, default=0)
    if largest > spec.hbm_bytes:
        raise ConfigError("--sizes", f"{largest:,} bytes ({largest / 2**30:g} GiB) is more than one {spec.name}'s "
                                     f"memory ({spec.hbm_bytes / 2**30:.1f} GiB): every rank holds a buffer of the "
                                     "size, which must fit on the GPU")


def nccl_table(cfg, op: str, algo: str, gpus: int, sizes: list[int]):
    """``dcsim collective``: op, algo, gpus, size_bytes, time_s, algbw_GBps, busbw_GBps."""
    import pyarrow as pa

    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build

    if op not in BUSBW_FACTOR or op == "send_recv" and gpus != 2:
        raise ConfigError("--op", f"unknown or unsupported op {op!r}; one of {', '.join(OPS)}")
    if algo not in ALGOS:
        raise ConfigError("--algo", f"unknown algorithm {algo!r}; one of {', '.join(ALGOS)}")
    topo = build(cfg.topology)
    if not 1 <= gpus <= len(topo.gpus):
        raise ConfigError("--gpus", f"{gpus} GPUs requested but the topology has {len(topo.gpus)}")
    spec = gpu_spec(cfg.topology.gpu)
    check_sizes_fit(sizes, spec)
    eff = default_efficiencies(spec)
    group = [topo.gpu(r) for r in range(gpus)]
    if algo != "auto" and op != "send_recv" and algo not in applicable(topo, op, group, spec.nvls):
        raise ConfigError("--algo", f"{algo} is not applicable to {op} on these {gpus} GPUs; "
                                    f"applicable: {', '.join(applicable(topo, op, group, spec.nvls))}")
    rows = {k: [] for k in ("op", "algo", "gpus", "size_bytes", "time_s", "algbw_GBps", "busbw_GBps", "protocol")}
    for size in sizes:
        sim = Simulation(cfg.run.seed)
        fabric = Fabric(sim, topo, cfg.topology.network_model,
                        cfg.topology.scaleup_efficiency or eff["scaleup"],
                        cfg.topology.scaleout_efficiency or eff["scaleout"])
        t, chosen = measure(fabric, op, algo, group, float(size))
        algbw = size / t / 1e9
        rows["op"].append(op)
        rows["algo"].append(chosen)
        rows["gpus"].append(gpus)
        rows["size_bytes"].append(int(size))
        rows["time_s"].append(t)
        rows["algbw_GBps"].append(algbw)
        rows["busbw_GBps"].append(algbw * BUSBW_FACTOR[op](gpus))
        proto = "Simple"
        if algo == "auto" and op != "send_recv" and len(applicable(topo, op, group, spec.nvls)) > 1:
            proto = tune(topo, op, group, float(size), fabric, spec.nvls)[1]
        rows["protocol"].append(proto)
    return pa.table(rows)
