"""Routers as filters plus weighted scores."""

from types import SimpleNamespace

import pytest

from sim.errors import ConfigError
from workloads.serving.routing import SCORERS, WeightedRouter, check_weights


def rep(i, load, used, cap=100, queued=0):
    return SimpleNamespace(index=i, load=lambda: load, kv=SimpleNamespace(used=used, cached=0, capacity=cap),
                           queued_tokens=queued, prefix=None)


def test_scores_are_fractions_and_filter_drops_full_replicas():
    reps = [rep(0, 4, 95), rep(1, 2, 50), rep(2, 0, 10)]
    req = SimpleNamespace(blocks=None, prompt=100)
    for name, f in SCORERS.items():
        assert all(0.0 <= f(r, req, reps) <= 1.0 for r in reps), name
    # KV weight prefers the emptiest pool; with the filter at 0.9 replica 0 is never chosen
    assert WeightedRouter({"kv": 1.0}).choose(reps, req).index == 2
    assert WeightedRouter({"queue": 1.0}, max_kv_utilization=0.9).choose(reps[:2], req).index == 1
    # every replica over the filter: the filter yields instead of refusing
    full = [rep(0, 1, 99), rep(1, 0, 98)]
    assert WeightedRouter({"queue": 1.0}, max_kv_utilization=0.5).choose(full, req).index == 1


def test_weights_are_checked():
    with pytest.raises(ConfigError):
        check_weights({})
    with pytest.raises(ConfigError):
        check_weights({"queue": -1.0})
    # all weights 0: no scorer counted, and every request went to the lowest-index replica
    with pytest.raises(ConfigError) as err:
        check_weights({"prefix": 0, "queue": 0.0})
    assert err.value.key == "serve.router_weights" and "every weight is 0" in str(err.value)
    assert check_weights({"prefix": 0, "queue": 1.0}) == {"prefix": 0, "queue": 1.0}
