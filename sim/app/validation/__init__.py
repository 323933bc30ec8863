"""Validation suites: predictions set against published measurements shipped in the package.

Vocabulary:
- suite: a named set of cases; ``SUITES`` maps its name to the module whose ``run_suite()``
  returns ``Case``s (``sim.app.validation.case``: case, metric, predicted, measured, error,
  source; ``error`` relative and signed: predicted / measured - 1), here turned into their rows
  (dicts). Each owner keeps its cases as CSV inside its package.
- ``error_stats(rows)``: the median and worst |error| of a suite, the figures a user quotes.
"""

from __future__ import annotations

import importlib
import statistics

from sim.app.validation.case import Case
from sim.errors import ConfigError

SUITES = {
    "collectives": "sim.app.validation.collectives",
    "training": "sim.app.validation.training",
    "serving": "sim.app.validation.serving",
    "measured": "sim.app.validation.measured",
    "serving-large": "sim.app.validation.serving_large",
    "serving-heldout": "sim.app.validation.serving_heldout",
    "serving-inferencex": "sim.app.validation.serving_inferencex",
    "serving-inferencex-heldout": "sim.app.validation.serving_inferencex_heldout",
    "trtllm-steps": "sim.app.validation.iter_logs",
    "serving-llama4-public": "sim.app.validation.serving_llama4_public",
    "serving-amd": "sim.app.validation.serving_amd",
}


def run_suite(name: str) -> list[dict]:
    if name not in SUITES:
        raise ConfigError("suite", f"unknown validation suite {name!r}; known: {', '.join(SUITES)}")
    try:
        module = importlib.import_module(SUITES[name])
    except ModuleNotFoundError as err:
        raise ConfigError("suite", f"suite {name!r} is not available ({err.name} is missing)") from None
    return [Case(**r).row() if isinstance(r, dict) else r.row() for r in module.run_suite()]


def error_stats(rows: list[dict]) -> dict:
    errors = [(abs(r["error"]), r.get("case", "")) for r in rows if r.get("error") is not None]
    if not errors:
        return {"cases": len(rows), "median_abs_error": float("nan"), "worst_abs_error": float("nan"),
                "worst_case": ""}
    worst = max(errors)
    return {"cases": len(rows), "median_abs_error": statistics.median(e for e, _ in errors),
            "worst_abs_error": worst[0], "worst_case": worst[1]}
