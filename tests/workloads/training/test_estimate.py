"""Closed-form collectives of workloads.training.estimate.Network."""

import pytest

from sim.collectives import estimate
from sim.hardware import gpu
from workloads.training.estimate import Network


def _nvl72() -> Network:
    # GB200 NVL72: 72 GPUs per NVLink domain, one 400 Gb/s NIC per GPU
    return Network.of(gpu("GB200"), 400, 4, 4, 72)


def test_a_group_that_does_not_tile_the_domains_keeps_its_ring_inside_them():
    # The fault (issue 11, GB200 Megatron-FSDP 405B at -47%): 64 FSDP ranks at stride 2 over
    # NVL72 racks (36 of them in the first 72-GPU domain; 64 % 36 != 0) were priced as a ring
    # whose every hop is a 400 Gb/s NIC: 8.4 s per 203 GB all-gather, twice the measured step.
    # NCCL's channels cross a domain through one NIC each and stay on NVLink inside it: priced
    # as the even 32 + 32 layout (hierarchical), within 1% of it and > 10x faster than the NIC ring
    net = _nvl72()
    nbytes = 203e9
    t = net.collective("all_gather", 64, nbytes, 2)
    even = estimate("all_gather", "hierarchical", 64, nbytes, net.scaleup_Bps, net.scaleup_latency_s,
                    per_domain=32, scaleout_Bps=net.scaleout_Bps, scaleout_latency_s=net.scaleout_latency_s)
    flat = estimate("all_gather", "ring", 64, nbytes, net.scaleout_Bps, net.scaleout_latency_s)
    assert t == pytest.approx(even, rel=0.01)
    assert t < flat / 10
    # a group inside one domain and an evenly tiled one are priced as before
    assert net.collective("all_gather", 32, nbytes, 2) == pytest.approx(
        estimate("all_gather", "ring", 32, nbytes, net.scaleup_Bps, net.scaleup_latency_s))
    assert net.collective("all_gather", 4, nbytes, 72) == pytest.approx(
        estimate("all_gather", "ring", 4, nbytes, net.scaleout_Bps, net.scaleout_latency_s))


def test_prime_group_across_domains_stays_a_nic_ring():
    # no even split with more than one rank per domain (7 ranks, 4 per domain at most): a ring of NICs
    net = Network.of(gpu("H100-SXM-80GB"), 400, 8, 8, 8)
    assert net.collective("all_gather", 7, 1e9, 2) == pytest.approx(
        estimate("all_gather", "ring", 7, 1e9, net.scaleout_Bps, net.scaleout_latency_s))
