"""A job's view of a shared simulation, topology and fabric."""

from __future__ import annotations

import numpy as np

from sim.fabric import Fabric
from sim.simulation import Simulation
from sim.tenant import JobFabric, JobSimulation, JobTopology
from tests.nets import switch_domain


def test_job_views_index_the_jobs_gpus_and_share_the_fabric():
    topo = switch_domain(8)
    sim = Simulation(3)
    fabric = Fabric(sim, topo)
    jobs = []
    for name, ranks in (("a", [0, 1, 2, 3]), ("b", [4, 5, 6, 7])):
        jsim = JobSimulation(sim, name)
        jtopo = JobTopology(topo, [topo.gpus[r] for r in ranks])
        jobs.append(JobFabric(fabric, jtopo, jsim))
    a, b = jobs
    assert a.topo.gpu(0) == topo.gpus[0] and b.topo.gpu(0) == topo.gpus[4] and len(b.topo.gpus) == 4
    # the same stream names draw the same numbers as the job alone would
    assert a.sim.rng("x").random() == Simulation(3).rng("x").random()
    ev1 = a.transfer(a.topo.gpu(0), a.topo.gpu(1), 1e9)
    ev2 = b.transfer_bundle([(b.topo.gpu(0), b.topo.gpu(1)), (b.topo.gpu(2), b.topo.gpu(3))], 1e9)
    sim.run(sim.env.all_of([ev1, ev2]))
    np.testing.assert_allclose(a.link_bytes + b.link_bytes, fabric.link_bytes)
    assert a.link_bytes.sum() == 2e9 and b.link_bytes.sum() == 4e9   # two hops per transfer
