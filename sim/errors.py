"""Errors a user can act on.

Vocabulary:
- ``ConfigError``: the config is malformed (unknown key, wrong type, bad value). Exit status 2.
- ``InfeasibleError``: the config is well formed but the plan cannot run (does not fit in
  memory, parallel sizes do not divide). Exit status 3.
- ``SimulationError``: the simulation itself broke an invariant or deadlocked.

Every error names the key path it is about, so a user can find the line to change.
"""

from __future__ import annotations


class DcsimError(Exception):
    """Base of all errors dcsim reports to a user (never shown as a traceback)."""

    exit_code = 1


class ConfigError(DcsimError):
    """A config key is missing, unknown, of the wrong type or out of range."""

    exit_code = 2

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)


class InfeasibleError(DcsimError):
    """The plan cannot run: it does not fit, or parallel sizes do not divide."""

    exit_code = 3

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"infeasible ({key}): {reason}" if key else f"infeasible: {reason}")


class SimulationError(DcsimError):
    """The simulation deadlocked or broke a physical invariant."""

    exit_code = 4
