"""Tenancy: one job's view of a shared world (clock, topology, fabric) when several jobs run
on one cluster.

Vocabulary:
- job: one workload (a training run or a serving deployment) placed on a set of GPUs of the
  cluster. Jobs never share a GPU; they share the clock and the fabric's links.
- ``JobSimulation``: the shared ``Simulation`` (clock, processes, watchdog) with the job's own
  random streams (same seed and stream names as the job run alone, so a job draws the same
  requests with or without co-tenants) and its own recorder (its tables stay its own).
- ``JobTopology``: the shared ``Topology`` seen through the job's GPUs: ``gpus``, ``gpu(rank)``,
  ``gpu_domain(rank)`` and ``gpu_server(rank)`` index the job's ranks 0..n-1; nodes, links and
  routes are the cluster's.
- ``JobFabric``: the shared ``Fabric`` seen by one job. Transfers and credits go to the shared
  fabric (so they contend with every other job's flows) and are also accounted per link for the
  job (``link_bytes``: bytes the job put on each link, counted when issued; once every flow has
  drained, the jobs' bytes sum to the fabric's per link). Its transfers carry the job's name, so a
  traced run's flows table names the job of each flow.
"""

from __future__ import annotations

import numpy as np

from sim.errors import ConfigError
from sim.recorder import Recorder
from sim.simulation import Simulation, stream_key


class JobSimulation:
    """The shared simulation with a job's own random streams and recorder."""

    def __init__(self, base: Simulation, name: str):
        self.base = base
        self.name = name
        self.env = base.env
        self.seed = base.seed
        self.recorder = Recorder()
        self._streams: dict[str, np.random.Generator] = {}

    @property
    def now(self) -> float:
        return float(self.env.now)

    @property
    def events_processed(self) -> int:
        return self.base.events_processed

    def rng(self, name: str) -> np.random.Generator:
        if name not in self._streams:
            seq = np.random.SeedSequence(entropy=[self.seed, stream_key(name)])
            self._streams[name] = np.random.Generator(np.random.PCG64(seq))
        return self._streams[name]

    def process(self, generator, name: str):
        return self.base.process(generator, f"{self.name}:{name}")

    def run(self, until=None) -> None:
        self.base.run(until)


class JobTopology:
    """The cluster's topology with the job's GPUs as ranks 0..n-1."""

    def __init__(self, topo, gpus: list[int]):
        self._topo = topo
        self.gpus = list(gpus)

    def __getattr__(self, name):
        return getattr(self._topo, name)

    def gpu(self, rank: int) -> int:
        if not 0 <= rank < len(self.gpus):
            raise ConfigError("jobs.gpus", f"GPU rank {rank} outside the job's 0..{len(self.gpus) - 1}")
        return self.gpus[rank]

    def gpu_domain(self, rank: int) -> int:
        return int(self._topo.attr(self.gpus[rank], "domain", 0))

    def gpu_server(self, rank: int) -> int:
        return int(self._topo.attr(self.gpus[rank], "node", 0))


class JobFabric:
    """The shared fabric as one job uses it, with the job's bytes per link."""

    def __init__(self, fabric, topo: JobTopology, sim: JobSimulation):
        self._fabric = fabric
        fabric.tenants += 1
        self.topo = topo
        self.sim = sim
        self.env = fabric.env
        self.link_bytes = np.zeros(fabric.n_links)
        self._shapes: dict = {}

    def __getattr__(self, name):
        return getattr(self._fabric, name)

    def transfer(self, src: int, dst: int, nbytes: float, tag: str = "", key: int = 0):
        links, shares = self._fabric.topo.route_weighted(src, dst, key)
        self.link_bytes[links] += float(nbytes) * shares
        return self._fabric.transfer(src, dst, nbytes, tag, key, job=self.sim.name)

    def transfer_bundle(self, pairs, nbytes: float, tag: str = "", key: int = 0):
        # collectives pass the same (cached) pair lists again and again: key on the object,
        # kept alive in the entry so that its id cannot be reused
        ck = (id(pairs), key)
        shape = self._shapes.get(ck)
        if shape is None or shape[0] is not pairs:
            links, weights, _ = self._fabric.bundle_shape(pairs, key)   # spread routes carry shares
            shape = (pairs, links, weights)
            if len(self._shapes) > 65536:
                self._shapes.clear()
            self._shapes[ck] = shape
        _, links, counts = shape
        self.link_bytes[links] += float(nbytes) * counts
        return self._fabric.transfer_bundle(pairs, nbytes, tag, key, job=self.sim.name)

    def credit(self, links, nbytes, busy_s, tag: str = "", total_bytes=None, peak_utilization: float = 0.0):
        np.add.at(self.link_bytes, np.asarray(links, dtype=np.int64), nbytes)
        self._fabric.credit(links, nbytes, busy_s, tag, total_bytes, peak_utilization)
