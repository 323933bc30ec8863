"""The kernel: named random streams, the deadlock watchdog, the clock."""

import numpy as np
import pytest

from sim.errors import SimulationError
from sim.simulation import Simulation


def test_streams_depend_on_seed_and_name_not_on_creation_order():
    a = Simulation(7)
    x1 = a.rng("arrivals").random(5)
    y1 = a.rng("lengths").random(5)
    b = Simulation(7)
    y2 = b.rng("lengths").random(5)   # created first this time
    x2 = b.rng("arrivals").random(5)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, y1)
    assert not np.array_equal(Simulation(8).rng("arrivals").random(5), x1)


def test_watchdog_names_processes_waiting_on_events_that_never_fire():
    sim = Simulation(0)
    never = sim.env.event()

    def stuck():
        yield never

    def fine():
        yield sim.env.timeout(1.0)

    goal = sim.env.all_of([sim.process(stuck(), "stage-3/backward"), sim.process(fine(), "ok")])
    with pytest.raises(SimulationError, match="stage-3/backward"):
        sim.run(goal)
    assert sim.now == 1.0


def test_run_until_time_stops_on_the_horizon():
    sim = Simulation(0)
    ticks = []

    def clock():
        while True:
            yield sim.env.timeout(0.3)
            ticks.append(sim.now)

    sim.process(clock(), "clock")
    sim.run(1.0)
    assert sim.now == 1.0 and len(ticks) == 3


def test_failure_inside_a_process_propagates():
    sim = Simulation(0)

    def bad():
        yield sim.env.timeout(1)
        raise ValueError("broken invariant")

    with pytest.raises(ValueError, match="broken invariant"):
        sim.run(sim.process(bad(), "bad"))
