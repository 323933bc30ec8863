"""``dcsim collective --dtype``: nccl-tests' data types (sim/app/nccl_table.py, sim/app/cli.py)."""

from __future__ import annotations

import json

import pytest

from sim.app.cli import main
from sim.app.nccl_table import nccl_table
from sim.collective_names import DTYPES
from sim.config import load_config
from sim.errors import ConfigError

COLUMNS = ["op", "algo", "gpus", "size_bytes", "time_s", "algbw_GBps", "busbw_GBps", "protocol", "dtype"]


@pytest.fixture(scope="module")
def h100_8():
    return load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 8}})


def test_nccl_tests_type_names_and_sizes():
    # nccl-tests src/common.cu test_typenames, with NCCL's ncclTypeSize of each
    assert DTYPES == {"int8": 1, "uint8": 1, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "half": 2,
                      "float": 4, "double": 8, "bfloat16": 2, "f8e4m3": 1, "f8e5m2": 1}


def test_bfloat16_rounds_to_2_byte_elements_and_int8_keeps_every_byte(h100_8):
    """count = size // wordSize, bytes = count x wordSize: 1001 -> 1000 as bfloat16, 7 stays 7 as int8
    (float: 1000 and 4)."""
    bf = nccl_table(h100_8, "all_reduce", "ring", 2, [1001, 7], dtype="bfloat16").to_pylist()
    assert [r["size_bytes"] for r in bf] == [1001 // 2 * 2, 7 // 2 * 2] == [1000, 6]
    i8 = nccl_table(h100_8, "all_reduce", "ring", 2, [1001, 7], dtype="int8").to_pylist()
    assert [r["size_bytes"] for r in i8] == [1001, 7]
    assert {r["dtype"] for r in bf} == {"bfloat16"} and {r["dtype"] for r in i8} == {"int8"}
    assert [r["size_bytes"] for r in nccl_table(h100_8, "all_reduce", "ring", 2, [1001, 7]).to_pylist()] == [1000, 4]


def test_double_rounds_per_rank_for_all_gather(h100_8):
    # 1000 bytes = 125 doubles; 3 ranks take 41 each: 123 x 8 = 984 (float: 996)
    row = nccl_table(h100_8, "all_gather", "auto", 3, [1000], dtype="double").to_pylist()[0]
    assert row["size_bytes"] == (1000 // 8) // 3 * 3 * 8 == 984
    assert row["algbw_GBps"] == pytest.approx(984 / row["time_s"] / 1e9)
    with pytest.raises(ConfigError) as e:       # 20 bytes: 2 doubles, not one per rank of 3
        nccl_table(h100_8, "all_gather", "auto", 3, [20], dtype="double")
    assert e.value.key == "--sizes" and "8-byte element" in str(e.value) and "--dtype double" in str(e.value)
    assert nccl_table(h100_8, "all_gather", "auto", 3, [20]).to_pylist()[0]["size_bytes"] == 12   # 5 floats: 1 a rank


def test_a_type_the_same_size_as_float_gives_float_s_row(h100_8):
    # dcsim prices bytes and no reduction arithmetic: int32 is float's 4 bytes, the same time
    f = nccl_table(h100_8, "all_reduce", "auto", 8, [1 << 20, 1 << 30]).to_pylist()
    i = nccl_table(h100_8, "all_reduce", "auto", 8, [1 << 20, 1 << 30], dtype="int32").to_pylist()
    assert [{**r, "dtype": None} for r in f] == [{**r, "dtype": None} for r in i]


def test_int8_all_reduce_runs_without_nvls(h100_8):
    """NCCL's NVLS reduces 16-, 32- and 64-bit types only (ncclNvlsSupported): an int8 all-reduce on an
    NVSwitch node runs what auto picks without NVLS, and --algo nvls is refused for it."""
    f = nccl_table(h100_8, "all_reduce", "auto", 8, [1 << 30]).to_pylist()[0]
    i8 = nccl_table(h100_8, "all_reduce", "auto", 8, [1 << 30], dtype="int8").to_pylist()[0]
    bf = nccl_table(h100_8, "all_reduce", "auto", 8, [1 << 30], dtype="bfloat16").to_pylist()[0]
    assert f["algo"] == bf["algo"] == "nvls" and i8["algo"] != "nvls"
    ring = nccl_table(h100_8, "all_reduce", i8["algo"], 8, [1 << 30]).to_pylist()[0]
    assert (i8["time_s"], i8["protocol"]) == (ring["time_s"], ring["protocol"]) and i8["time_s"] > f["time_s"]
    for dtype in ("int8", "uint8", "f8e4m3"):
        with pytest.raises(ConfigError) as e:
            nccl_table(h100_8, "all_reduce", "nvls", 8, [1 << 30], dtype=dtype)
        assert e.value.key == "--algo" and "ncclNvlsSupported" in str(e.value), dtype
    # all_gather moves bytes: any type is the same bytes and the same row
    ag = [nccl_table(h100_8, "all_gather", "auto", 8, [1 << 30], dtype=d).to_pylist()[0] for d in ("int8", "float")]
    assert ag[0]["time_s"] == ag[1]["time_s"]


def test_fp8_reductions_are_refused_before_sm90_as_nccl_does():
    a100 = load_config(data={"topology": {"gpu": "A100-SXM-80GB", "gpus": 8}})
    for op in ("all_reduce", "reduce_scatter"):
        with pytest.raises(ConfigError) as e:
            nccl_table(a100, op, "auto", 8, [1 << 20], dtype="f8e5m2")
        assert e.value.key == "--dtype" and "sm90" in str(e.value), op
        assert "2.27" in str(e.value) and "uint8" in str(e.value), op    # the older NCCLs that refuse all_gather too
    # current NCCL (2.31.2 taskAppend) exempts AllGather, Broadcast, AlltoAll, Scatter, Gather; send/recv never check
    for op in ("all_gather", "all_to_all", "broadcast"):        # no arithmetic: any GPU
        assert nccl_table(a100, op, "auto", 8, [1 << 20], dtype="f8e4m3").num_rows == 1, op
    h100 = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 8}})
    assert nccl_table(h100, "all_reduce", "auto", 8, [1 << 20], dtype="f8e4m3").num_rows == 1


def test_an_unknown_dtype_exits_2_naming_dtype_and_the_names(capsys):
    assert main(["collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "1M", "--dtype", "bf16"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dtype: ") and "'bf16'" in err and "bfloat16" in err and "Traceback" not in err
    assert all(name in err for name in DTYPES)


def test_default_dtype_is_float_and_keeps_every_column(capsys):
    argv = ["collective", "--set", "topology.gpus=8", "--op", "all_gather", "--gpus", "3", "--sizes", "1000,1M", "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    default = json.loads(out.strip().splitlines()[-1])
    assert [list(r) for r in default] == [COLUMNS, COLUMNS]
    assert [r["dtype"] for r in default] == ["float", "float"] and [r["size_bytes"] for r in default] == [996, (1 << 20) - 4]
    assert "4-byte float elements per rank" in err and "1,000 -> 996" in err
    assert main(argv + ["--dtype", "float"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == default
    assert main(argv + ["--dtype", "bfloat16"]) == 0
    out, err = capsys.readouterr()
    assert [r["size_bytes"] for r in json.loads(out.strip().splitlines()[-1])] == [996, (1 << 20) - 4]  # 498 halves
    assert "2-byte bfloat16 elements per rank" in err


def test_collective_help_names_every_dtype(capsys):
    with pytest.raises(SystemExit):
        main(["collective", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--dtype" in out and " | ".join(DTYPES) in out and "no reduction arithmetic" in out


SIZES_1K_4G = [1 << k for k in range(10, 33)]


@pytest.mark.parametrize("gpus, sizes", [(16, SIZES_1K_4G), (64, SIZES_1K_4G[::2])])
def test_fp8_all_reduce_past_8_ranks_never_takes_the_ring_and_its_busbw_rises(gpus, sizes):
    """NCCL's tuner (enqueue.cc updateCollCostTable) multiplies the ring's cost by 1024 for an FP8 type
    when nRanks > 8, so on 16 or 64 H100 (tree available, NVLS not: FP8 is not an NVLS type) auto never
    takes the ring for FP8, and busbw rises with size (without the rule the ring at 256 MiB on 16 H100
    ran 329 GB/s against the tree's 343 at 128 MiB)."""
    cfg = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": gpus}})
    for dtype in ("f8e4m3", "f8e5m2"):
        rows = nccl_table(cfg, "all_reduce", "auto", gpus, sizes, dtype=dtype).to_pylist()
        assert "ring" not in {r["algo"] for r in rows}, dtype
        bus = [r["busbw_GBps"] for r in rows]
        assert all(a < b for a, b in zip(bus, bus[1:])), (dtype, bus)
    # int8 has no such rule in NCCL: its tuner still weighs ring against tree (ring at 1 GiB here)
    assert nccl_table(cfg, "all_reduce", "auto", gpus, [1 << 30], dtype="int8").to_pylist()[0]["algo"] == "ring"


def test_fp8_ring_costs_1024x_in_the_tuner_past_8_ranks_only():
    """The closed form of NCCL's rule on ``tune``'s modelled time: the ring (and hierarchical, priced as
    NCCL's ring) x 1024 with fp8 on more than 8 GPUs, with the same protocol; nothing at 8 GPUs; the tree
    unchanged. reduce_scatter, whose candidates are all ring-priced, keeps its choice."""
    from sim.collectives import FP8_RING_PENALTY, build_fabric, tune
    from sim.simulation import Simulation
    from topologies import build

    assert FP8_RING_PENALTY == 1024.0
    cfg = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 16}})
    topo = build(cfg.topology)
    fab = build_fabric(cfg.topology, Simulation(0), topo)       # the efficiencies dcsim collective prices with
    for n in (8, 16):
        g = [topo.gpu(r) for r in range(n)]
        for size in (4096.0, float(1 << 28)):
            for algo in ("ring", "tree") + (("hierarchical",) if n > 8 else ()):
                plain = tune(topo, "all_reduce", g, size, fab, algos=(algo,))
                fp8 = tune(topo, "all_reduce", g, size, fab, algos=(algo,), fp8=True)
                factor = FP8_RING_PENALTY if n > 8 and algo != "tree" else 1.0
                assert fp8[:2] == plain[:2] and fp8[2] == pytest.approx(plain[2] * factor), (n, size, algo)
            assert tune(topo, "reduce_scatter", g, size, fab, fp8=True)[:2] == tune(topo, "reduce_scatter", g, size, fab)[:2]
    g16 = [topo.gpu(r) for r in range(16)]
    ring_sizes = [s for s in SIZES_1K_4G if tune(topo, "all_reduce", g16, float(s), fab)[0] == "ring"]
    assert ring_sizes and all(tune(topo, "all_reduce", g16, float(s), fab, fp8=True)[0] != "ring" for s in ring_sizes)
