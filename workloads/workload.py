"""The workload protocol: what the runner needs of a training run or a serving deployment so
that it can run any number of them on one clock and one fabric.

Vocabulary:
- ``Workload``: built from a config (its ``model``/``train``/``serve``/``workload`` sections),
  a simulation, a topology whose ranks are the workload's GPUs, and a fabric. ``start()``
  starts its SimPy processes and returns the event that fires when it is done; it never runs
  the clock itself (the runner does). ``tables()`` gives its output tables (``summary``: one
  row) once done.
- open-ended: a workload with no natural end (a training job without ``run.steps``, next to
  co-tenants) runs until ``stop()`` is called (when every finite co-tenant is done), ending at
  its next boundary (a training step).
- ``slowdown(alone)``: how much slower the workload ran beside co-tenants than ``alone`` (the
  same workload simulated by itself), as summary columns (``slowdown`` and, for serving,
  ``tpot_slowdown``).
- ``KINDS``: the registry, ``run.kind`` / ``jobs.kind`` -> workload class (a new kind is one
  class and one line here).
"""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa
import simpy


class Workload(Protocol):
    kind: str
    open_ended: bool

    def start(self) -> simpy.Event:
        """Start the workload's processes; the event fires when it is done."""

    def stop(self) -> None:
        """Co-tenants are done: an open-ended workload ends at its next boundary."""

    def tables(self) -> dict[str, pa.Table]:
        """Output tables once done (``summary``: one row)."""

    def slowdown(self, alone: "Workload") -> dict[str, float]:
        """Summary columns comparing this run with ``alone`` (the workload by itself)."""


def _training():
    from workloads.training import TrainingWorkload
    return TrainingWorkload


def _serving():
    from workloads.serving import ServingWorkload
    return ServingWorkload


KINDS = {"train": _training, "serve": _serving}


def make(kind: str, cfg, sim, topo, fabric, steps: int | None = None) -> Workload:
    """A workload of ``kind`` (``train`` | ``serve``). ``steps``: training steps to run
    (None: open-ended, until ``stop()``)."""
    from sim.errors import ConfigError
    if kind not in KINDS:
        raise ConfigError("run.kind", f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    cls = KINDS[kind]()
    return cls(cfg, sim, topo, fabric, steps=steps)
