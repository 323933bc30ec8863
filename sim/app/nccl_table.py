"""The nccl-tests table of ``dcsim collective``: one collective timed on a config's topology.

Vocabulary (nccl-tests): algbw = size / time; busbw = algbw x the op's bus factor
(``sim.collectives.BUSBW_FACTOR``). Columns: op, algo, gpus, size_bytes, time_s, algbw_GBps,
busbw_GBps, protocol: the protocol the time was priced with (``sim.collectives.resolve``):
LL, LL128 or Simple, or ``calibrated`` (Simple's bandwidth at LL128's per-step latency: the
calibrated run of a named algorithm, and what all_to_all and send_recv run with: NCCL's
point-to-point sends, which its tuner does not price), dtype: the data type (``--dtype``).
- algo ``auto``: NCCL's tuner picks the algorithm and protocol with NCCL's own cost model
  (``sim.collectives.tune``), as NCCL does, so its choice is not always the fastest simulated
  candidate; a named algorithm is timed by the same path (``measure_protocol``), so an
  (algorithm, protocol) costs the same whichever way it was chosen.
- element rounding (``nccl_tests_bytes``): nccl-tests times ``count = size / wordSize(type)``
  elements of its data type (``-d``, default ``float``, 4 bytes), and all_gather, reduce_scatter
  and all_to_all ``count / nranks`` elements per rank, every division rounding down; its size column
  is the rounded size (common.cu setupArgs, each op's GetCollByteCount). The table does the same: a
  size runs and is reported as the whole elements it holds (``--sizes 1000`` on 3 GPUs' all_gather is
  996 bytes), and a size of less than one element (per rank, where the op splits the buffer), which
  nccl-tests would run as an empty collective, is refused naming ``--sizes``.
- data type (``--dtype``, ``DTYPES``: nccl-tests' ``-d`` names): the element size of that
  rounding. The fabric prices bytes moved and no reduction arithmetic (NCCL reduces inside its
  kernel, behind the transfer at bandwidth-bound sizes), so a type changes a time otherwise only by
  NCCL's rules for it: NVLS reduces only ``NVLS_DTYPES`` in the switch, so an all_reduce or
  reduce_scatter of int8, uint8 or FP8 runs without NVLS (auto's candidates leave it out, a named
  nvls or nvls_tree is refused); NCCL refuses an FP8 reduction on a GPU before sm90
  (``PRE_SM90_ARCHS``), and so does the table.
- protocol (``--protocol``): ``auto`` (default) NCCL's tuner's protocol for the algorithm (as
  under NCCL_ALGO; ``hierarchical``, not NCCL's, by its own steps in that model); ``LL``,
  ``LL128``, ``Simple`` that one (as NCCL_PROTO); ``calibrated`` a named algorithm's calibrated run (the pricing of the validation suite's named-algorithm rows).
"""

from __future__ import annotations

from sim.collectives import (ALGOS, BUSBW_FACTOR, OPS, PROTOCOLS, applicable, default_efficiencies,
                             measure_protocol, protocol_name)
from sim.collective_names import DTYPES     # nccl-tests' -d names and their element bytes
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


PROTOCOL_CHOICES = ("auto", "calibrated") + PROTOCOLS      # what --protocol takes

DEFAULT_DTYPE = "float"                     # nccl-tests' default, -d float
ELEMENT_BYTES = DTYPES[DEFAULT_DTYPE]       # the default data type's element size
SPLIT_OPS = ("all_gather", "reduce_scatter", "all_to_all")     # nccl-tests splits count over the ranks
REDUCE_OPS = ("all_reduce", "reduce_scatter")       # the ops whose kernels reduce (nccl-tests' -o sum)
# the types NVLS reduces in the switch under sum (NCCL src/include/device.h ncclNvlsSupported: 32- and
# 64-bit integers, half, bfloat16, float, double): an all_reduce or reduce_scatter of int8, uint8 or
# FP8 runs without NVLS (NCCL's enqueue.cc leaves NVLS out of its tuner's candidates for it)
NVLS_DTYPES = ("int32", "uint32", "int64", "uint64", "half", "bfloat16", "float", "double")
FP8_DTYPES = ("f8e4m3", "f8e5m2")
# NVIDIA architectures before sm90, where NCCL refuses an FP8 reduction (enqueue.cc taskAppend: "FP8
# reduction support begins with sm90 capable devices"). Current NCCL (2.31.2) refuses FP8 only for
# Reduce, AllReduce and ReduceScatter: its taskAppend exempts AllGather, Broadcast, AlltoAll, Scatter
# and Gather, and send/recv never reach the check. Earlier FP8 releases (2.27 among them) refused
# every FP8 collective but send/recv before sm90 (``if (comm->minCompCap < 90)`` alone); a uint8
# view of the same bytes runs there.
PRE_SM90_ARCHS = ("volta", "ampere", "ada")
# names people write for nccl-tests' types, said back in the error for an unknown --dtype
DTYPE_HINTS = {"fp8": "f8e4m3 or f8e5m2", "e4m3": "f8e4m3", "e5m2": "f8e5m2", "fp16": "half", "float16": "half",
               "f16": "half", "bf16": "bfloat16", "fp32": "float", "float32": "float", "f32": "float",
               "fp64": "double", "float64": "double", "f64": "double", "char": "int8", "int": "int32"}


def check_dtype(dtype: str, op: str, spec) -> None:
    """``--dtype``: one of nccl-tests' names (``DTYPES``), and not an FP8 reduction on a GPU before
    sm90 (``PRE_SM90_ARCHS``), which NCCL refuses."""
    if dtype not in DTYPES:
        word = dtype.strip().casefold()
        hint = DTYPE_HINTS.get(word) or (word if word in DTYPES else None)
        said = (f" (nccl-tests calls it {hint})" if hint else
                " (nccl-tests' -d all runs every type in turn; dcsim collective times one type a run)" if word == "all"
                else "")
        raise ConfigError("--dtype", f"unknown data type {dtype!r}{said}; one of {', '.join(DTYPES)} "
                                     "(nccl-tests' -d names)")
    if dtype in FP8_DTYPES and op in REDUCE_OPS and spec.arch in PRE_SM90_ARCHS:
        raise ConfigError("--dtype", f"{dtype} {op} needs an sm90 (Hopper) or newer GPU: NCCL refuses FP8 reductions "
                                     f"on {spec.name} ({spec.arch}), 'FP8 reduction support begins with sm90 capable "
                                     "devices'; all_gather, all_to_all, broadcast and send_recv move FP8 on any GPU in "
                                     "current NCCL (earlier FP8 releases, 2.27 among them, refused those too; a uint8 view "
                                     "of the same bytes runs on any)")


def nccl_tests_bytes(op: str, size: int, gpus: int, element_bytes: int = ELEMENT_BYTES) -> int:
    """The bytes nccl-tests times for ``size`` (its -b/-e value): whole ``element_bytes`` elements, and
    for ``SPLIT_OPS`` a whole number of them per rank (count / nranks x nranks), rounded down."""
    count = size // element_bytes
    if op in SPLIT_OPS:
        count = count // gpus * gpus
    return count * element_bytes


def element_sizes(op: str, sizes: list[int], gpus: int, dtype: str = DEFAULT_DTYPE) -> list[int]:
    """``nccl_tests_bytes`` of each size in elements of ``dtype``; a size holding no whole element (per
    rank for ``SPLIT_OPS``) is refused naming ``--sizes`` (nccl-tests would time an empty collective)."""
    eb = DTYPES[dtype]
    out = [nccl_tests_bytes(op, s, gpus, eb) for s in sizes]
    for size, b in zip(sizes, out):
        if b == 0:
            least = eb * (gpus if op in SPLIT_OPS else 1)
            per = f" per rank: {gpus} GPUs x {eb} byte{'s' if eb != 1 else ''}" if op in SPLIT_OPS else ""
            which = "nccl-tests' default data type, float" if dtype == DEFAULT_DTYPE else f"--dtype {dtype}"
            raise ConfigError("--sizes", f"{size:,} byte{'s' if size != 1 else ''} is less than one {eb}-byte element "
                                         f"({which}){per}; {op} needs at least {least:,} bytes")
    return out


def nccl_table(cfg, op: str, algo: str, gpus: int, sizes: list[int], protocol: str = "auto",
               dtype: str = DEFAULT_DTYPE):
    """``dcsim collective``: op, algo, gpus, size_bytes, time_s, algbw_GBps, busbw_GBps, protocol, dtype."""
    import pyarrow as pa

    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build

    if op not in BUSBW_FACTOR:
        raise ConfigError("--op", f"unknown op {op!r}; one of {', '.join(OPS)}")
    if op == "send_recv" and gpus != 2:
        raise ConfigError("--gpus", f"send_recv runs between two GPUs (one sends, one receives): give --gpus 2, "
                                    f"not {gpus}")
    if algo not in ALGOS:
        raise ConfigError("--algo", f"unknown algorithm {algo!r}; one of {', '.join(ALGOS)}")
    if protocol not in PROTOCOL_CHOICES:
        raise ConfigError("--protocol", f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOL_CHOICES)}")
    if protocol == "calibrated" and algo == "auto" and op not in ("send_recv", "all_to_all"):
        raise ConfigError("--protocol", "calibrated is the calibrated run of a named algorithm; give --algo "
                                        "(auto takes NCCL's tuner's protocol)")
    if algo in ("nvls", "nvls_tree") and protocol in ("LL", "LL128"):
        raise ConfigError("--protocol", f"{algo} runs NCCL's Simple protocol only, not {protocol}")
    topo = build(cfg.topology)
    if not 1 <= gpus <= len(topo.gpus):
        more = f": add --set topology.gpus={gpus} for a larger one" if gpus > len(topo.gpus) else ""
        raise ConfigError("--gpus", f"{gpus} GPUs requested but the topology has {len(topo.gpus)}{more}")
    spec = gpu_spec(cfg.topology.gpu)
    check_dtype(dtype, op, spec)
    check_sizes_fit(sizes, spec)
    eff = default_efficiencies(spec)
    group = [topo.gpu(r) for r in range(gpus)]
    nvls_type = op not in REDUCE_OPS or dtype in NVLS_DTYPES
    if algo in ("nvls", "nvls_tree") and not nvls_type and algo in applicable(topo, op, group, spec.nvls):
        raise ConfigError("--algo", f"{algo} does not run {op} on {dtype} data: NVLS reduces only "
                                    f"{', '.join(NVLS_DTYPES)} in the switch (NCCL's ncclNvlsSupported), so NCCL "
                                    f"runs it without NVLS; applicable: {', '.join(applicable(topo, op, group, False))}")
    if algo != "auto" and op != "send_recv" and algo not in applicable(topo, op, group, spec.nvls):
        raise ConfigError("--algo", f"{algo} is not applicable to {op} on these {gpus} GPUs; "
                                    f"applicable: {', '.join(applicable(topo, op, group, spec.nvls))}")
    gpu_nvls = bool(topo.meta.get("nvls", False)) and nvls_type     # auto's candidates leave NVLS out for int8 etc.
    fp8 = dtype in FP8_DTYPES and op in REDUCE_OPS      # NCCL's tuner relegates the ring for it past 8 ranks
    rows = {k: [] for k in ("op", "algo", "gpus", "size_bytes", "time_s", "algbw_GBps", "busbw_GBps", "protocol",
                            "dtype")}
    for size in element_sizes(op, sizes, gpus, dtype):
        sim = Simulation(cfg.run.seed)
        fabric = Fabric(sim, topo, cfg.topology.network_model,
                        cfg.topology.scaleup_efficiency or eff["scaleup"],
                        cfg.topology.scaleout_efficiency or eff["scaleout"])
        t, chosen, proto = measure_protocol(fabric, op, algo, group, float(size), protocol, gpu_nvls, fp8)
        algbw = size / t / 1e9
        rows["op"].append(op)
        rows["algo"].append(chosen)
        rows["gpus"].append(gpus)
        rows["size_bytes"].append(int(size))
        rows["time_s"].append(t)
        rows["algbw_GBps"].append(algbw)
        rows["busbw_GBps"].append(algbw * BUSBW_FACTOR[op](gpus))
        rows["protocol"].append(protocol_name(chosen, proto))
        rows["dtype"].append(dtype)
    return pa.table(rows)
