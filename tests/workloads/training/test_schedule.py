"""Pipeline schedules against the closed-form bubble (Narayanan et al. 2021, Sec. 2.2)."""

import pytest

from workloads.training.schedule import actions, timeline


@pytest.mark.parametrize("schedule,pp,m,v", [
    ("gpipe", 4, 8, 1), ("1f1b", 4, 8, 1), ("1f1b", 8, 32, 1), ("1f1b", 3, 5, 1),
    ("interleaved", 4, 8, 2), ("interleaved", 4, 16, 4), ("interleaved", 8, 16, 3),
])
def test_bubble_matches_closed_form(schedule, pp, m, v):
    f, b = 1.0, 2.0
    makespan, busy = timeline(actions(schedule, pp, m, v), lambda ph, k: (f if ph == "F" else b) / v)
    ideal = m * (f + b)
    assert busy[0] == pytest.approx(ideal)
    assert (makespan - ideal) / ideal == pytest.approx((pp - 1) / (v * m), rel=1e-9)


@pytest.mark.parametrize("schedule,v", [("gpipe", 1), ("1f1b", 1), ("interleaved", 2)])
def test_every_pass_runs_once(schedule, v):
    pp, m = 4, 8
    acts = actions(schedule, pp, m, v)
    for s, stage in enumerate(acts):
        assert len(stage) == 2 * m * v
        assert len(set(stage)) == len(stage)
        assert {k % pp for (_, _, k) in stage} == {s}


def test_1f1b_holds_fewer_microbatches_than_gpipe():
    def peak(stage):
        held = best = 0
        for ph, _, _ in stage:
            held += 1 if ph == "F" else -1
            best = max(best, held)
        return best
    assert peak(actions("gpipe", 4, 16)[0]) == 16
    assert peak(actions("1f1b", 4, 16)[0]) == 4
    assert peak(actions("1f1b", 4, 16)[3]) == 1
