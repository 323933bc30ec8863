"""Fitting calibration constants: a derivative-free search over positive constants.

Vocabulary:
- constants: a frozen dataclass (``sim.compute.Efficiency`` or a subclass) whose named fields
  are positive numbers; ``names`` says which of them the search may move.
- loss: any function of the dataclass to a float, usually the mean squared log error of
  predicted against measured times (log: a 10% miss costs the same on a 10 us kernel and a 10 s
  step).
- bounds: ``{name: (lo, hi)}`` clamps (efficiencies stay below 1, physically).
- search: coordinate descent on the logarithm of each constant: walk each constant up, then
  down, in multiplicative steps while the loss falls; halve the step each round. Robust to the
  kinks that ``max(compute, memory)`` rooflines put in the loss, and numpy-free.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, TypeVar

T = TypeVar("T")


def coordinate_descent(constants: T, names: tuple[str, ...], loss: Callable[[T], float],
                       bounds: dict[str, tuple[float, float]] | None = None,
                       rounds: int = 4, step: float = 0.3, floor: float = 1e-3,
                       tol: float = 1e-9) -> tuple[T, float]:
    """Minimize ``loss`` over the fields ``names`` of ``constants``; returns (best, its loss).

    ``floor``: a constant at zero restarts from this value (a multiplicative step cannot leave 0);
    ``tol``: the least loss decrease that counts as an improvement.
    """
    bounds = bounds or {}
    best = loss(constants)
    for _ in range(rounds):
        for name in names:
            for direction in (1, -1):
                while True:
                    val = getattr(constants, name)
                    trial_val = max(val, floor) * math.exp(direction * step)
                    lo, hi = bounds.get(name, (0.0, math.inf))
                    trial_val = min(max(trial_val, lo), hi)
                    if trial_val == val:
                        break
                    trial = dataclasses.replace(constants, **{name: trial_val})
                    value = loss(trial)
                    if value < best - tol:
                        constants, best = trial, value
                    else:
                        break
        step /= 2
    return constants, best
