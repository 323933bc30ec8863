"""The GPU model: streams, interference only under overlap, busy accounting, HBM ledger."""

from __future__ import annotations

import pytest
import simpy

from sim.errors import InfeasibleError
from sim.gpu import Gpu, HbmLedger, union_length, uncovered


def run_compute_with_comm(f: float, work: float, comm: tuple[float, float] | None):
    env = simpy.Environment()
    gpu = Gpu(env, f)

    def comm_proc(a, b):
        yield env.timeout(a)
        t0 = gpu.comm_begin()
        yield env.timeout(b - a)
        gpu.comm_end("DP", t0)

    if comm is not None:
        env.process(comm_proc(*comm))
    p = env.process(gpu.run(work))
    env.run(p)
    return env.now, gpu


@pytest.mark.parametrize("f", [0.0, 0.2, 0.5])
def test_interference_slows_compute_only_while_communication_overlaps(f):
    alone, _ = run_compute_with_comm(f, 1.0, None)
    assert alone == pytest.approx(1.0)                   # no communication: full speed
    inside, gpu = run_compute_with_comm(f, 1.0, (0.2, 0.6))
    assert inside == pytest.approx(1.0 + f * 0.4)        # W + f x overlapped wall time
    assert gpu.compute == [(0.0, pytest.approx(inside))] and gpu.comm["DP"] == [(0.2, 0.6)]
    # communication that outlives the kernel: overlap = the whole kernel, W / (1 - f)
    longer, _ = run_compute_with_comm(f, 1.0, (0.0, 10.0))
    assert longer == pytest.approx(1.0 / (1.0 - f))
    assert gpu.exposed_comm_s() == pytest.approx(0.0) and gpu.comm_s() == pytest.approx(0.4)


def test_busy_interval_accounting():
    assert union_length([(0, 1), (0.5, 2), (3, 4)]) == pytest.approx(3.0)
    assert uncovered([(0, 2), (3, 5)], [(1, 4)]) == pytest.approx(2.0)
    assert uncovered([(0, 1)], []) == pytest.approx(1.0)


def test_busy_time_of_no_interval_is_a_float():
    # an int 0 typed a one-GPU step's comm_s (and steps.parquet's tp_comm_s at tp = 1) BIGINT, and
    # a raw read_parquet glob over a sweep then cast the other points' seconds to 0
    assert type(union_length([])) is float and union_length([]) == 0.0
    assert type(uncovered([], [(0, 1)])) is float


def test_hbm_ledger():
    led = HbmLedger(80e9, "H100")
    led.allocate("weights", 60e9)
    led.allocate("kv", 15e9)
    led.check("serve.tp")
    led.release("kv", 5e9)
    assert led.used == pytest.approx(70e9) and led.peak == pytest.approx(75e9)
    led.allocate("workspace", 20e9)
    with pytest.raises(InfeasibleError, match="serve.tp.*weights 60.0 GB"):
        led.check("serve.tp")

    # the capacity in both units: "H100-SXM-80GB's 85 GB HBM" read as a wrong capacity to anyone who
    # knows the card as 80 GB (80 GiB = 85.9e9 bytes; the runtime reports 79.1 GiB usable)
    h100 = HbmLedger(80 * 2**30, "H100-SXM-80GB")
    h100.allocate("weights", 90e9)
    with pytest.raises(InfeasibleError, match=r"H100-SXM-80GB's 85\.9 GB \(80\.0 GiB usable\) of HBM"):
        h100.check("serve.tp")


def test_uniform_slowdown_stretches_every_kernel():
    env = simpy.Environment()
    gpu = Gpu(env, 0.0, (), slowdown=1.25)
    env.run(env.process(gpu.run(2.0)))
    assert env.now == pytest.approx(2.5) and gpu.compute_time(2.0) == pytest.approx(2.5)


@pytest.mark.parametrize("record", [True, False])
def test_a_batch_is_compute_then_its_collectives_stretched_to_its_end(record):
    gpu = Gpu(simpy.Environment(), kinds=("TP", "PP"), record=record)
    gpu.log_batch(0.0, 1.0, 0.5, (("TP", 0.2), ("PP", 0.1)), planned_s=1.0)   # 0.2 s of host time
    gpu.log_batch(2.0, 3.0, 0.4, (("TP", 0.3), ("PP", 0.0)))      # waited 0.3 s more for its flows
    assert gpu.compute_s() == pytest.approx(0.9)
    assert gpu.comm_s(["TP"]) == pytest.approx(0.2 + 0.6) and gpu.comm_s(["PP"]) == pytest.approx(0.1)
    assert gpu.exposed_comm_s() == pytest.approx(gpu.comm_s()) == pytest.approx(0.9)
    assert gpu.busy_s() == pytest.approx(1.8)
    if record:
        assert gpu.compute == [(0.0, 0.5), (2.0, 2.4)] and gpu.comm["TP"] == [(0.5, 0.7), (2.4, 3.0)]
        assert gpu.comm["PP"] == [(0.7, pytest.approx(0.8))] and len(gpu.streams()) == 5
    else:
        assert gpu.compute == [] and gpu.streams() == []       # O(1) memory: seconds only
