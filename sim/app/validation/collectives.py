"""Validation suite ``collectives``: simulated NCCL bus bandwidth against published figures.

Vocabulary:
- case: one row of ``sim/data/validation/collectives.csv`` (copied from
  ../shared/reference/collectives.csv with its source and URL) that says how it is modeled
  (GPU, GPU count, nodes, NICs, algorithm) and the measured busbw (midpoint of a stated range).
  Rows marked ``modeled = no`` carry the reason they are left out.
- busbw: nccl-tests bus bandwidth, algbw x 2(n-1)/n for all-reduce, at a large message (4 GiB,
  where latency no longer matters, as in the sources' 2-4 GB sweeps).
- rack/platform cases (``PLATFORM_CASES``): published all-reduce sweeps on whole platforms,
  simulated on a topology preset with ``auto`` (NCCL's tuning) at each measured size: the
  GB200 NVL72 rack (NVLS size ramp) and 2 x 8 MI300X over RoCE (RCCL over the xGMI mesh).
- scale cases (``SCALE_CASES``): all-reduce and reduce-scatter on 32 to 1,984 GPUs across
  nodes, simulated on the DGX SuperPOD preset with the routing mode of the source's fabric
  (``topology.routing``: InfiniBand adaptive routing, RoCE ECMP). A case that names NCCL's
  algorithm runs it with NCCL's protocol for it where it says ``"protocol": "auto"`` (as
  nccl-tests ran it, the protocol left to NCCL), as calibrated otherwise.
"""

from __future__ import annotations

import csv
from importlib import resources

from sim.app.validation.case import Case

SIZE = 4 << 30
TOLERANCE = 0.15   # issue #2: calibrated busbw within 15% of each modeled row


def cases() -> list[dict]:
    text = resources.files("sim").joinpath("data/validation/collectives.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def simulate_busbw(gpu: str, gpus: int, nodes: int, nics_per_node: int, nic_Gbps: float,
                   algo: str, size: int = SIZE) -> tuple[float, str]:
    from sim.collectives import BUSBW_FACTOR, default_efficiencies, measure
    from sim.config import TopologySection
    from sim.fabric import Fabric
    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build

    spec = TopologySection(gpu=gpu, gpus=nodes * 8, gpus_per_node=8, nics_per_node=nics_per_node,
                           nic_Gbps=nic_Gbps, fabric="fat-tree" if nodes > 1 else "none")
    topo = build(spec)
    eff = default_efficiencies(gpu_spec(gpu))
    sim = Simulation(0)
    fabric = Fabric(sim, topo, "flow", eff["scaleup"], eff["scaleout"])
    group = [topo.gpu(r) for r in range(gpus)]
    t, chosen = measure(fabric, "all_reduce", algo, group, float(size))
    return size / t / 1e9 * BUSBW_FACTOR["all_reduce"](gpus), chosen


# Copied from ../shared/cases/training/*.toml (their figures and citations).
PLATFORM_CASES = [
    {"id": "coreweave43_gb200_nvl72_allreduce72",
     "source": "coreweave/nccl-tests PR #43 ('feat(slurm): Add a GB200 NVL72 example'): all_reduce_perf, "
               "float sum, 72 ranks (one per GPU) on a full NVL72 rack, out-of-place busbw",
     "source_url": "https://github.com/coreweave/nccl-tests/pull/43",
     "preset": "gb200-nvl72", "topology": {"gpus": 72}, "gpus": 72,
     "measured": {512 << 20: 586.06, 1 << 30: 681.17, 2 << 30: 757.78, 4 << 30: 839.16, 8 << 30: 834.57},
     "note": "calibration: the NVLink5 NVLS efficiency's domain term is fitted to the 4-8 GiB plateau and the "
             "size ramp to the 512 MiB point; 1-2 GiB are held out"},
    {"id": "rccl2078_mi300x_2nodes_ainic_allreduce16",
     "source": "ROCm/rccl PR #2078 ('Add support for AMD AINIC within RCCL default internal network plugin'): "
               "rccl-tests all_reduce_perf, 2 hosts x 8 MI300X (Supermicro), RCCL_AINIC_ROCE=1, out-of-place busbw",
     "source_url": "https://github.com/ROCm/rccl/pull/2078",
     "preset": "mi300x-node",
     "topology": {"gpus": 16, "gpus_per_node": 8, "scaleup_domain": 8, "nics_per_node": 8, "nic_Gbps": 400,
                  "fabric": "fat-tree", "tiers": 2, "switch_radix": 64},
     "gpus": 16,
     "measured": {2 << 30: 359.98, 4 << 30: 359.35, 8 << 30: 360.04, 16 << 30: 360.98},
     "note": "held out (no figure fitted to it); one 400G AINIC per GPU assumed (AMD reference design)"},
]


def simulate_platform(case: dict, size: int) -> tuple[float, str]:
    """busbw (GB/s) and the algorithm ``auto`` picks for one platform case at ``size`` bytes."""
    from sim.collectives import BUSBW_FACTOR, default_efficiencies, measure
    from sim.fabric import Fabric
    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build, preset_spec

    spec = preset_spec(case["preset"], **case["topology"])
    topo = build(spec)
    eff = default_efficiencies(gpu_spec(spec.gpu))
    fabric = Fabric(Simulation(0), topo, "flow", eff["scaleup"], eff["scaleout"])
    group = [topo.gpu(r) for r in range(case["gpus"])]
    t, chosen = measure(fabric, "all_reduce", "auto", group, float(size))
    return size / t / 1e9 * BUSBW_FACTOR["all_reduce"](case["gpus"]), chosen


# Collectives at hundreds to thousands of GPUs (issue 11 items 4 and 7), copied from public
# threads with their citations. Each: the op, NCCL's algorithm (``auto`` where the run left it
# to NCCL), the message size (nccl-tests' per-rank buffer), the topology it is simulated on,
# and the measured busbw points; ``assumed`` says what the source does not state.
SCALE_CASES = [
    {"id": "nccltests283_h200_1984_allreduce",
     "source": "NVIDIA/nccl-tests#283 (LXLei, 2025-01-18): all_reduce_perf on 248 servers x 8 H200 (1,984 ranks), "
               "8 HCAs per server (mlx5_1..8, NCCL_IB_HCA; UCX_TLS=rc: InfiniBand), default NCCL_ALGO, 512 MiB: "
               "'typically measuring around 350G, but occasionally dropping below 300G'",
     "source_url": "https://github.com/NVIDIA/nccl-tests/issues/283",
     "op": "all_reduce", "algo": "auto", "preset": "dgx-h100-superpod",
     "topology": {"gpu": "H200-SXM-141GB", "gpus": 1984},
     "measured": {512 << 20: 350.0},
     "assumed": "400 Gb/s NDR per HCA, one per GPU (HGX H200 reference); a DGX SuperPOD rail-optimized 3-tier "
                "fabric with adaptive routing (the preset's); the 'typical' figure, not the dips"},
    {"id": "nccl1218_h100_256_roce_allreduce",
     "source": "NVIDIA/nccl#1218 (chgdragon2023, 2024-03-12): all_reduce_perf on 32 H100 nodes (256 GPUs), 8 NICs "
               "per node over RoCE (NCCL_IB_GID_INDEX=3), NCCL_MIN/MAX_NCHANNELS=16, NCCL_IB_QPS_PER_CONNECTION=1, "
               "2 GiB: 340 GB/s busbw",
     "source_url": "https://github.com/NVIDIA/nccl/issues/1218",
     "op": "all_reduce", "algo": "auto", "preset": "dgx-h100-superpod",
     "topology": {"gpus": 256, "routing": "ecmp"},
     "measured": {2 << 30: 340.0},
     "assumed": "400 Gb/s per NIC, one per GPU; one rail-optimized scalable unit (256 GPUs never cross a spine, so "
                "the routing mode does not matter). The same run's all_gather (200 GB/s at 2 GiB) is left out: "
                "its forced 16 channels with one QP each are not expressible here"},
    {"id": "nccl1229_h100_reduce_scatter_nodes",
     "source": "NVIDIA/nccl#1229 (HEMINSAN, 2024-03-16): H100 clusters of 4/8/16/32/64/128 nodes, reduce_scatter "
               "busbw 'Linear decline, just like 360,345,320,300,280,260' (NCCL runs reduce_scatter as a ring "
               "across nodes)",
     "source_url": "https://github.com/NVIDIA/nccl/issues/1229",
     "op": "reduce_scatter", "algo": "ring", "protocol": "auto", "preset": "dgx-h100-superpod",
     "topology": {}, "sizes": {32: 360.0, 64: 345.0, 128: 320.0, 256: 300.0, 512: 280.0, 1024: 260.0},
     "size": 4 << 30,
     "assumed": "message size not stated: 4 GiB (nccl-tests sweeps commonly end at 4-8 GiB); 8 x 400 Gb/s "
                "NDR per node, the DGX SuperPOD preset's fabric; figures are the thread's round numbers; "
                "NCCL's protocol for the ring (its tuner's: Simple to 256 nodes' worth of GPUs, LL128 beyond), "
                "whose per-step latencies (a Simple step 3.4 us on NVLink, 14 us on the network) make the "
                "decline with scale"},
]


# Measured rows dcsim does not yet match, kept with the reason (not in the suite's error
# figures; tests/app/validation/test_collectives.py asserts the gap, so a fix shows up there).
# On 4 nodes NCCL's all-reduce reaches ~320-330 GB/s, below the ~380 GB/s network bound, while
# dcsim runs NVLSTree at its links' bound: a double binary tree over 4 nodes moves 1.5 S per
# node through the NICs, busbw 2(n-1)/n x 380 / 1.5 = 491 GB/s. NCCL's trees do not reach that
# with the default 16 channels: "Tree would require 32 SMs to achieve the same performance ...
# Tree usually achieves significantly lower bandwidth than NVLSTree", and NVLSTree reaches
# ~370-380 GB/s across nodes (NCCL maintainer sjeaugey, NVIDIA/nccl#1649, on GTC 2024's figures).
# Per-channel (SM) throughput is not modelled: the "optimism at scale" on 4-16 nodes.
KNOWN_GAPS = [
    {"id": "nccl1221_h100_32_roce_allreduce",
     "source": "NVIDIA/nccl#1221 (qdbkppkbdq, 2024-03-13): all_reduce_perf on 4 nodes x 8 H100, 8 x 400 Gb/s RoCE "
               "per node, NCCL 2.19.3, 4-8 GiB: 'same busbw 320GB' with NCCL_NVLS_ENABLE=0 or 1 (330 -> 430 GB/s "
               "on 1-2 nodes)",
     "source_url": "https://github.com/NVIDIA/nccl/issues/1221",
     "op": "all_reduce", "algo": "auto", "preset": "dgx-h100-superpod", "topology": {"gpus": 32, "routing": "ecmp"},
     "measured": {4 << 30: 320.0}, "assumed": "one 400G NIC per GPU on one rail-optimized scalable unit"},
    {"id": "vpbench_h100_32_ib_allreduce",
     "source": "aigatech/vpbenchmarking README (Voltage Park with AI @ Georgia Tech): 4 nodes x 8 H100 80GB SXM5, "
               "3.2 Tbps InfiniBand per node, NCCL 2.24.3: multi-node AllReduce bus bandwidth 330.93 GB/s "
               "(single node 479.72 GB/s at 8 GiB)",
     "source_url": "https://github.com/aigatech/vpbenchmarking",
     "op": "all_reduce", "algo": "auto", "preset": "dgx-h100-superpod", "topology": {"gpus": 32},
     "measured": {8 << 30: 330.93}, "assumed": "the peak of an 8 GiB-ended sweep; 8 x 400G NDR, rail-optimized"},
]


def simulate_scale(case: dict, gpus: int, size: int) -> tuple[float, str]:
    """busbw (GB/s) and the algorithm run for one scale case on ``gpus`` GPUs at ``size`` bytes."""
    from sim.collectives import BUSBW_FACTOR, default_efficiencies, measure
    from sim.fabric import Fabric
    from sim.hardware import gpu as gpu_spec
    from sim.simulation import Simulation
    from topologies import build, preset_spec

    spec = preset_spec(case["preset"], **dict(case["topology"], gpus=gpus))
    topo = build(spec)
    eff = default_efficiencies(gpu_spec(spec.gpu))
    fabric = Fabric(Simulation(0), topo, "flow", eff["scaleup"], eff["scaleout"])
    group = [topo.gpu(r) for r in range(gpus)]
    t, chosen = measure(fabric, case["op"], case["algo"], group, float(size), case.get("protocol"))
    return size / t / 1e9 * BUSBW_FACTOR[case["op"]](gpus), chosen


def scale_points(case: dict) -> list[tuple[int, int, float]]:
    """(gpus, size, measured busbw) of a scale case."""
    if "sizes" in case:
        return [(n, case["size"], m) for n, m in case["sizes"].items()]
    return [(case["topology"]["gpus"], size, m) for size, m in case["measured"].items()]


def run_suite() -> list[Case]:
    rows = []
    for case in SCALE_CASES:
        for gpus, size, measured in scale_points(case):
            busbw, chosen = simulate_scale(case, gpus, size)
            rows.append(Case(f"{case['id']}[{gpus} GPUs, {size >> 20} MiB]", f"{case['op']} busbw GB/s ({chosen})",
                             busbw, measured, case["source_url"], tolerance=TOLERANCE))
    for case in PLATFORM_CASES:
        for size, measured in case["measured"].items():
            busbw, chosen = simulate_platform(case, size)
            rows.append(Case(f"{case['id']}[{size >> 20} MiB]", f"all_reduce busbw GB/s ({chosen})",
                             busbw, measured, case["source_url"], tolerance=TOLERANCE))
    for case in cases():
        if case["modeled"] != "yes":
            continue
        for n in str(case["model_gpus"]).split(";"):
            busbw, chosen = simulate_busbw(case["model_gpu"], int(n), int(case["model_nodes"]),
                                           int(case["model_nics_per_node"]), float(case["model_nic_Gbps"]),
                                           case["model_algo"])
            measured = float(case["measured_busbw_GBps"])
            rows.append(Case(f"{case['id']}" + (f"[{n} GPUs]" if ";" in case["model_gpus"] else ""),
                             f"all_reduce busbw GB/s ({chosen})", busbw, measured, case["source_url"],
                             tolerance=TOLERANCE))
    return rows
