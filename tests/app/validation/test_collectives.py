"""Calibrated collective efficiencies against published NCCL bus bandwidths (issue: within 15%
of every modeled row of ../shared/reference/collectives.csv, copied into sim/data/validation)."""

import pytest

from sim.app.validation import collectives as V


@pytest.fixture(scope="module")
def rows():
    return V.run_suite()


def test_every_modeled_row_within_tolerance(rows):
    assert len(rows) >= 14
    bad = [(r["case"], round(r["predicted"], 1), r["measured"]) for r in rows if abs(r["error"]) > V.TOLERANCE]
    assert not bad, f"outside {V.TOLERANCE:.0%}: {bad}"


def test_rows_left_out_say_why():
    for case in V.cases():
        if case["modeled"] != "yes":
            assert len(case["model_note"]) > 20


def test_nvls_beats_ring_on_eight_h100_but_not_on_two():
    ring8, _ = V.simulate_busbw("H100-SXM-80GB", 8, 1, 8, 400, "ring")
    nvls8, _ = V.simulate_busbw("H100-SXM-80GB", 8, 1, 8, 400, "nvls")
    ring2, _ = V.simulate_busbw("H100-SXM-80GB", 2, 1, 8, 400, "ring")
    nvls2, _ = V.simulate_busbw("H100-SXM-80GB", 2, 1, 8, 400, "nvls")
    assert nvls8 > ring8 and nvls2 < ring2


def test_platform_cases_within_tolerance(rows):
    # GB200 NVL72 rack (NVLS ramp 586 -> 835 GB/s from 512 MiB to 8 GiB; a flat 1,200 before)
    # and 2 x 8 MI300X over RoCE (361 GB/s measured at 16 GiB; 110 before: one xGMI link)
    got = {r["case"]: r for r in rows if r["case"].startswith(("coreweave43", "rccl2078"))}
    assert len(got) == 9
    bad = [(c, round(r["predicted"], 1), r["measured"]) for c, r in got.items() if abs(r["error"]) > V.TOLERANCE]
    assert not bad, bad
    nvl = [got[f"coreweave43_gb200_nvl72_allreduce72[{s}]"]["predicted"] for s in ("512 MiB", "1024 MiB", "2048 MiB", "8192 MiB")]
    assert nvl == sorted(nvl) and nvl[-1] / nvl[0] > 1.25          # the size ramp
    assert all("(nvls)" in got[c]["metric"] for c in got if c.startswith("coreweave"))


# -- collectives at hundreds to thousands of GPUs (issue 11 items 4 and 7) -----------------------

def test_scale_cases_within_tolerance(rows):
    got = {r["case"]: r for r in rows if r["case"].startswith(tuple(c["id"] for c in V.SCALE_CASES))}
    assert len(got) == sum(len(V.scale_points(c)) for c in V.SCALE_CASES) == 8
    bad = [(c, round(r["predicted"], 1), r["measured"]) for c, r in got.items() if abs(r["error"]) > V.TOLERANCE]
    assert not bad, bad


def test_1984_gpu_allreduce_needs_adaptive_routing():
    # nccl-tests#283: ~350 GB/s on 248 x 8 H200 at 512 MiB. With one static (D-mod-K) path per
    # flow the tree's flows collide on leaf-spine uplinks once rings and trees leave a scalable
    # unit: 240 GB/s (-31%), the fault this row caught; the IB fabric's adaptive routing
    # (the SuperPOD preset's) spreads them and lands within 1%.
    case = next(c for c in V.SCALE_CASES if c["id"].startswith("nccltests283"))
    static = dict(case, topology=dict(case["topology"], routing="static"))
    bw_static, _ = V.simulate_scale(static, 1984, 512 << 20)
    bw_ar, _ = V.simulate_scale(case, 1984, 512 << 20)
    assert bw_static < 0.75 * 350.0 < 0.9 * 350.0 < bw_ar


def test_adding_gpus_never_collapses_allreduce():
    # Measured all-reduce busbw is flat from 256 GPUs (340 GB/s, nccl#1218) to 1,984 (350 GB/s,
    # nccl-tests#283): on the SuperPOD preset 512 to 2,048 GPUs stay within 10% of 256 GPUs'
    case = {"op": "all_reduce", "algo": "auto", "preset": "dgx-h100-superpod", "topology": {}}
    bw = {n: V.simulate_scale(case, n, 1 << 30)[0] for n in (256, 512, 1024, 2048)}
    assert all(bw[n] > 0.9 * bw[256] for n in bw), bw
    tree = dict(case, algo="tree")
    bwt = {n: V.simulate_scale(tree, n, 1 << 30)[0] for n in (512, 1024, 2048)}
    assert all(bwt[n] > 0.9 * bwt[512] for n in bwt), bwt


def test_known_gap_four_node_allreduce_is_optimistic():
    # Two independent 4-node H100 runs measure 320 and 331 GB/s (nccl#1221 on RoCE,
    # aigatech/vpbenchmarking on IB); dcsim's NVLSTree runs at its links' bound (~466 GB/s):
    # per-channel (SM) throughput limits NCCL's trees (V.KNOWN_GAPS). When this fails, the gap
    # is closed: move the rows into SCALE_CASES.
    for case in V.KNOWN_GAPS:
        for gpus, size, measured in V.scale_points(case):
            busbw, algo = V.simulate_scale(case, gpus, size)
            assert busbw > 1.25 * measured, (case["id"], busbw, algo)
