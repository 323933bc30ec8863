"""Coordinate descent recovers known optima and respects bounds."""

import math
from dataclasses import dataclass

from sim.fitting import coordinate_descent


@dataclass(frozen=True)
class Pair:
    a: float
    b: float
    c: float = 7.0


def log_bowl(p: Pair) -> float:
    return (math.log(p.a) - math.log(2.0)) ** 2 + 3 * (math.log(p.b) - math.log(0.05)) ** 2


def test_recovers_separable_optimum():
    best, loss = coordinate_descent(Pair(1.0, 1.0), ("a", "b"), log_bowl, rounds=8)
    assert abs(best.a / 2.0 - 1) < 0.01 and abs(best.b / 0.05 - 1) < 0.01
    assert loss < 1e-3
    assert best.c == 7.0                      # not named: never moved


def test_bounds_clamp_the_search():
    best, _ = coordinate_descent(Pair(1.0, 1.0), ("a", "b"), log_bowl, bounds={"a": (0.5, 1.5)}, rounds=8)
    assert best.a == 1.5                      # optimum 2.0 lies outside: stops at the bound


def test_zero_start_leaves_zero():
    # a multiplicative step cannot leave 0; the floor restarts the constant from 1e-3
    def loss(p: Pair) -> float:
        return (math.log(max(p.a, 1e-12)) - math.log(2.0)) ** 2

    best, _ = coordinate_descent(Pair(0.0, 1.0), ("a",), loss, rounds=12)
    assert abs(best.a / 2.0 - 1) < 0.02
