"""One case shape for every validation suite (sim.app.validation.case.Case)."""

from __future__ import annotations

import pytest

from sim.app import validation
from sim.app.validation.case import Case


def test_a_case_computes_its_error_and_reads_as_its_row():
    c = Case("x", "busbw", 90.0, 100.0, "src", tolerance=0.15)
    assert c.error == pytest.approx(-0.1) and c.id == "x"
    assert dict(c) == c.row() == {"case": "x", "metric": "busbw", "predicted": 90.0, "measured": 100.0,
                                  "error": pytest.approx(-0.1), "source": "src", "tolerance": 0.15}
    assert c["gap"] is None and c.get("bound") is None        # optional fields not set
    with pytest.raises(KeyError):
        c["nope"]


@pytest.mark.parametrize("suite", ["collectives", "measured"])
def test_suites_return_cases_and_the_cli_their_rows(suite):
    import importlib
    cases = importlib.import_module(validation.SUITES[suite]).run_suite()
    assert cases and all(isinstance(c, Case) for c in cases)
    rows = validation.run_suite(suite)
    assert rows == [c.row() for c in cases]
    assert all(list(r)[:6] == ["case", "metric", "predicted", "measured", "error", "source"] for r in rows)
