"""The nccl-tests table of ``dcsim collective`` (sim/app/nccl_table.py)."""

from __future__ import annotations

import pytest

from sim.app.nccl_table import nccl_table
from sim.config import load_config
from sim.errors import ConfigError


def test_a_size_larger_than_one_gpu_s_memory_is_refused_naming_sizes():
    # --sizes 1T ran a 1 TiB all-reduce on 80 GB GPUs without a word
    cfg = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 8}})
    with pytest.raises(ConfigError) as e:
        nccl_table(cfg, "all_reduce", "auto", 8, [1 << 20, 1 << 40])
    assert e.value.key == "--sizes" and "H100-SXM-80GB's memory" in str(e.value)
    assert nccl_table(cfg, "all_reduce", "auto", 8, [64 << 30]).num_rows == 1     # 64 GiB fits in 80


@pytest.fixture(scope="module")
def h100_64():
    return load_config(data={"topology": {"preset": "dgx-h100-superpod"}})


def test_a_named_algorithm_s_row_is_auto_s_row_when_auto_picks_it(h100_64):
    # --algo ring printed protocol Simple for a time priced at Simple's bandwidth and LL128's step latency,
    # 3.17 ms against auto's ring/Simple 3.37 ms at 1 GiB (and ring/LL at 1 MiB)
    sizes = [1 << 20, 1 << 30]
    auto = nccl_table(h100_64, "all_gather", "auto", 64, sizes).to_pylist()
    ring = nccl_table(h100_64, "all_gather", "ring", 64, sizes).to_pylist()
    assert [r["algo"] for r in auto] == ["ring", "ring"]
    assert [(r["time_s"], r["protocol"]) for r in ring] == [(r["time_s"], r["protocol"]) for r in auto]
    assert [r["protocol"] for r in auto] == ["LL", "Simple"]


def test_the_calibrated_run_of_a_named_algorithm_says_calibrated(h100_64):
    from sim.collectives import measure
    from sim.fabric import Fabric
    from sim.simulation import Simulation
    from topologies import build
    row = nccl_table(h100_64, "all_gather", "ring", 64, [1 << 30], "calibrated").to_pylist()[0]
    topo = build(h100_64.topology)
    fab = Fabric(Simulation(0), topo, "flow", 0.806, 0.95)
    # the validation suite's pricing of a named algorithm (measure without a protocol)
    assert row["protocol"] == "calibrated"
    assert row["time_s"] == measure(fab, "all_gather", "ring", [topo.gpu(r) for r in range(64)], float(1 << 30))[0]


@pytest.mark.parametrize("algo, protocol, words", [("auto", "calibrated", "give --algo"),
                                                   ("nvls", "LL", "Simple protocol only"),
                                                   ("ring", "LL64", "unknown protocol")])
def test_a_protocol_that_cannot_run_is_refused_naming_protocol(h100_64, algo, protocol, words):
    with pytest.raises(ConfigError) as e:
        nccl_table(h100_64, "all_reduce", algo, 8, [1 << 20], protocol)
    assert e.value.key == "--protocol" and words in str(e.value)


def test_calibrated_without_algo_is_what_auto_runs_for_point_to_point_ops(h100_64):
    """all_to_all runs as calibrated under auto: asking for calibrated without --algo gives that run (it was
    refused as if the op had a tuner's protocol to take); a forced protocol is priced and labelled as such."""
    auto = nccl_table(h100_64, "all_to_all", "auto", 16, [1 << 24], "auto").to_pylist()[0]
    cal = nccl_table(h100_64, "all_to_all", "auto", 16, [1 << 24], "calibrated").to_pylist()[0]
    assert cal["protocol"] == auto["protocol"] == "calibrated" and cal["time_s"] == auto["time_s"]
    ll = nccl_table(h100_64, "all_to_all", "auto", 16, [1 << 24], "LL").to_pylist()[0]
    assert ll["protocol"] == "LL" and ll["time_s"] > cal["time_s"]


def test_a_size_runs_as_the_whole_elements_nccl_tests_would_time():
    """nccl-tests times size / 4 float elements, split over the ranks for all_gather, reduce_scatter and
    all_to_all (rounded down), and prints that size; a size of no whole element is refused (--sizes 1 ran a
    1-byte all-reduce, 1000 bytes a 3-way all_gather of 333.3 bytes per rank)."""
    cfg = load_config(data={"topology": {"gpu": "H100-SXM-80GB", "gpus": 8}})
    assert nccl_table(cfg, "all_reduce", "ring", 2, [1002]).column("size_bytes").to_pylist() == [1000]
    for op in ("all_gather", "reduce_scatter", "all_to_all"):
        row = nccl_table(cfg, op, "auto", 3, [1000, 1 << 20]).to_pylist()
        assert [r["size_bytes"] for r in row] == [996, (1 << 20) - 4], op
        assert row[0]["algbw_GBps"] == pytest.approx(996 / row[0]["time_s"] / 1e9)
    for op, gpus, size in (("all_reduce", 2, 1), ("all_reduce", 2, 3), ("all_gather", 3, 8), ("all_to_all", 4, 15)):
        with pytest.raises(ConfigError) as e:
            nccl_table(cfg, op, "auto", gpus, [size])
        assert e.value.key == "--sizes" and "element" in str(e.value), (op, size)
