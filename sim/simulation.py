"""The simulation kernel: a ``simpy.Environment`` with a clock in seconds, named random
streams, a recorder and a deadlock watchdog.

Vocabulary:
- ``Simulation``: owns the environment (``env``), the clock (``now``, float seconds), the
  ``recorder`` and the random streams. No singletons: several workloads can share one.
- ``rng(name)``: a ``numpy.random.Generator`` derived from (seed, name). Streams are
  independent of each other and of creation order, so adding a stream never shifts another.
- ``process(generator, name)``: starts a named SimPy process the watchdog knows about.
- ``run(until)``: runs to a time or an event. If the event queue empties while named processes
  still wait, it raises ``SimulationError`` naming them instead of returning a silent number.
"""

from __future__ import annotations

import hashlib
from typing import Any, Generator

import numpy as np
import simpy

from sim.errors import SimulationError
from sim.recorder import Recorder


def stream_key(name: str) -> int:
    """A stable 64-bit integer for a stream name (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


class Simulation:
    """One simulated world: clock, random streams, recorder and named processes."""

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self.env = simpy.Environment()
        self.recorder = Recorder()
        self._streams: dict[str, np.random.Generator] = {}
        self._alive: dict[simpy.Process, str] = {}
        self.events_processed = 0

    @property
    def now(self) -> float:
        return float(self.env.now)

    def rng(self, name: str) -> np.random.Generator:
        if name not in self._streams:
            seq = np.random.SeedSequence(entropy=[self.seed, stream_key(name)])
            self._streams[name] = np.random.Generator(np.random.PCG64(seq))
        return self._streams[name]

    def process(self, generator: Generator[Any, Any, Any], name: str) -> simpy.Process:
        proc = self.env.process(generator)
        self._alive[proc] = name
        proc.callbacks.append(lambda _event, p=proc: self._alive.pop(p, None))
        return proc

    def waiting_processes(self) -> list[str]:
        return sorted(name for proc, name in self._alive.items() if proc.is_alive)

    def run(self, until: float | simpy.Event | None = None) -> None:
        """Run the event loop; a deadlock becomes a ``SimulationError`` naming the waiters."""
        env = self.env
        stop_at = None
        if until is not None and not isinstance(until, simpy.Event):
            stop_at = float(until)
        target = until if isinstance(until, simpy.Event) else None
        step = env.step
        count = 0
        try:
            while True:
                if target is not None and target.processed:
                    break
                next_time = env.peek()
                if next_time == float("inf"):
                    break
                if stop_at is not None and next_time > stop_at:
                    env._now = stop_at  # advance the clock to the horizon, as simpy's run does
                    break
                step()
                count += 1
        finally:
            self.events_processed += count
        if target is not None and not target.processed:
            waiting = self.waiting_processes()
            raise SimulationError(
                "deadlock: no events left but the run's goal was not reached; "
                f"{len(waiting)} process(es) still waiting: {', '.join(waiting[:20]) or '(none named)'}"
            )
        if target is not None and not target.ok:
            raise target.value
        if target is None and stop_at is None:
            waiting = self.waiting_processes()
            if waiting:
                raise SimulationError(
                    f"deadlock: no events left while {len(waiting)} process(es) still wait: "
                    + ", ".join(waiting[:20])
                )
