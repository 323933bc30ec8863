"""Fuzz over the whole config space (issue 9, item 10): every config ends in finite results or in
an exit-2/3 error that names a key, never a traceback, a NaN or a hang.

Each example starts from a small valid training or serving config and changes one to three keys
of any section to values drawn from every type and range: valid choices, presets, zero,
negative, huge and tiny numbers, NaN and infinities, booleans, strings, lists, tables and
unknown keys. The example count is fixed and the draw derandomized, so CI runs the same
configs every time; each example runs under an alarm so a hang fails the test instead of CI.
"""

from __future__ import annotations

import math
import signal
import typing
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import SECTIONS, LengthDist, load_config, preset_names
from sim.errors import DcsimError

EXAMPLES = 40          # per test: enough to cover every section's keys, few enough for CI
ALARM_S = 120          # a generous bound on one example (the loaded CI machine included)

TRAIN = {"run": {"kind": "train", "name": "fuzz"},
         "topology": {"gpus": 8, "fabric": "none"},
         "model": {"preset": "llama3-8b", "layers": 2},
         "train": {"tp": 2, "global_batch": 8, "micro_batch": 1}}
SERVE = {"run": {"kind": "serve", "name": "fuzz"},
         "topology": {"gpus": 2, "gpus_per_node": 2, "fabric": "none"},
         "model": {"preset": "llama3-8b", "layers": 2},
         "serve": {"max_batch_size": 16},
         "workload": {"arrival": "poisson", "rate": 20.0, "requests": 12, "input_tokens": 64, "output_tokens": 8}}

EDGE_NUMBERS = [0, 1, 2, 3, 7, 64, -1, -(2 ** 63), 2 ** 63, 10 ** 12, 10 ** 30, 0.5, 1e-300, 1e300, -0.0,
                float("nan"), float("inf"), float("-inf")]
OTHER_VALUES = [True, False, "", "x", "../x", [], [1.0, 2.0], [float("inf")], {"dist": "lognormal"}, {"bogus": 1}]


def _choices(annotation) -> list:
    """Valid values of a key's type: the choices of a Literal, presets, a distribution table."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    out = []
    for arg in typing.get_args(annotation):
        out += _choices(arg)
        if arg is LengthDist:
            out += [{"dist": "lognormal", "mean": 200.0, "sigma": 0.5}, {"dist": "uniform", "min": 1, "max": 300},
                    {"dist": "normal", "mean": 50.0, "sigma": 1e9}, {"dist": "exponential", "mean": 1e-9}]
    return out


def _plausible(field) -> list:
    """Numbers near a numeric key's default (half, double, x4), or small ones if it has none."""
    types = set(typing.get_args(field.annotation)) | {field.annotation}
    default = field.default
    if isinstance(default, bool) or not (types & {int, float}):
        return []
    if isinstance(default, (int, float)) and default:
        values = [default * f for f in (0.5, 1, 2, 4)]
    else:
        values = [1, 2, 4, 8, 0.5, 10.0]
    return [int(v) if int in types and float not in types else float(v) for v in values]


def _value_for(section: str, key: str):
    field = SECTIONS[section].model_fields[key]
    valid = _choices(field.annotation) + _plausible(field)
    if key == "preset":
        valid = preset_names(section) + ["no-such-preset"]
    # valid-looking values three times as often as edge values: most examples get past the
    # validator and run, the rest probe it
    return st.sampled_from(3 * valid + EDGE_NUMBERS + OTHER_VALUES)


KEYS = [(s, k) for s, model in SECTIONS.items() for k in model.model_fields]


@st.composite
def mutated(draw, base: dict) -> dict:
    import copy
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 15)) == 0:
            section, key, value = draw(st.sampled_from(list(SECTIONS) + ["nonsense"])), "unknown_key", 1
        else:
            section, key = draw(st.sampled_from(KEYS))
            value = draw(_value_for(section, key))
        data.setdefault(section, {})[key] = value
    return data


@contextmanager
def alarm(seconds: int):
    def fail(signum, frame):
        raise TimeoutError(f"one config ran for more than {seconds} s")
    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _outcome(data: dict) -> None:
    from sim.app.runner import run
    try:
        with alarm(ALARM_S):
            summary = run(load_config(data=data)).summary
    except DcsimError as err:
        assert err.exit_code in (2, 3), f"exit {err.exit_code}: {err}"
        assert err.key, f"the error names no key: {err}"
        return
    for name, value in summary.items():
        if isinstance(value, float) and not math.isfinite(value):
            # no infinity or NaN reaches a summary (compute_comm_ratio is null without communication)
            assert name not in ("compute_comm_ratio",) and not math.isinf(value), (name, value)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
@FUZZ
@given(mutated(TRAIN))
def test_fuzzed_training_configs_end_in_results_or_a_keyed_error(data):
    _outcome(data)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
@FUZZ
@given(mutated(SERVE))
def test_fuzzed_serving_configs_end_in_results_or_a_keyed_error(data):
    _outcome(data)
