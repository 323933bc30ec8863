"""Request streams: arrival processes and length distributions have their stated moments."""

import numpy as np
import pytest

from sim.config import load_config
from sim.errors import ConfigError
from sim.simulation import Simulation
from workloads.serving.requests import build_stream, inter_arrivals, sample_lengths


def _stream(**workload):
    cfg = load_config(data={"run": {"kind": "serve"}, "workload": workload})
    return build_stream(cfg.workload, Simulation(seed=1))


def test_poisson_rate_and_exponential_gaps():
    s = _stream(arrival="poisson", rate=50.0, requests=20000, input_tokens=10, output_tokens=5)
    gaps = np.diff(s.arrival_s)
    assert abs(gaps.mean() - 1 / 50) < 0.02 / 50 * 5
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.03


@pytest.mark.parametrize("cv", [0.5, 2.0, 4.0])
def test_gamma_coefficient_of_variation(cv):
    t = inter_arrivals("gamma", 40000, 10.0, cv, np.random.default_rng(0))
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert abs(gaps.mean() - 0.1) < 0.1 * 0.06
    assert abs(gaps.std() / gaps.mean() - cv) < 0.08 * cv


def test_burst_all_at_zero_and_closed_loop():
    assert np.all(_stream(arrival="burst", requests=7).arrival_s == 0.0)
    s = _stream(arrival="closed", concurrency=3, requests=10)
    assert np.sum(s.arrival_s == 0.0) == 3 and np.isnan(s.arrival_s[3:]).all() and s.concurrency == 3


def test_length_distributions():
    s = _stream(arrival="burst", requests=20000,
                input_tokens={"dist": "lognormal", "mean": 1000, "sigma": 0.5},
                output_tokens={"dist": "uniform", "min": 10, "max": 20})
    assert abs(s.input_tokens.mean() - 1000) < 15
    assert s.output_tokens.min() == 10 and s.output_tokens.max() == 20
    s = _stream(arrival="burst", requests=5000, trace="AzureLLMInferenceTrace_conv.csv",
                output_tokens={"dist": "trace"}, input_tokens=100)
    assert abs(s.output_tokens.mean() - 211) < 12 and np.all(s.input_tokens == 100)


def test_trace_replay_with_time_scale():
    full = _stream(arrival="trace", trace="AzureLLMInferenceTrace_conv.csv")
    assert len(full) == 19366
    fast = _stream(arrival="trace", trace="AzureLLMInferenceTrace_conv.csv", time_scale=2.0, requests=100)
    assert len(fast) == 100
    assert np.allclose(fast.arrival_s, full.arrival_s[:100] / 2.0)


def test_bad_length_spec_is_config_error():
    with pytest.raises(ConfigError, match="workload.input_tokens"):
        sample_lengths(load_config(data={"workload": {"input_tokens": {"dist": "uniform", "min": 5}}}).workload.input_tokens,
                       3, np.random.default_rng(0), "workload.input_tokens")


def test_closed_loop_over_a_trace_keeps_its_lengths_and_prefix_ids():
    from workloads.serving.traces import read_trace
    t = read_trace("mooncake_fast25_conversation_trace.jsonl")
    s = _stream(arrival="closed", concurrency=4, requests=50, trace="mooncake_fast25_conversation_trace.jsonl")
    assert len(s) == 50 and s.concurrency == 4
    assert np.sum(s.arrival_s == 0.0) == 4 and np.isnan(s.arrival_s[4:]).all()
    assert np.array_equal(s.input_tokens, np.maximum(t.input_tokens[:50], 1))
    assert np.array_equal(s.output_tokens, np.maximum(t.output_tokens[:50], 1))
    assert all(np.array_equal(a, b) for a, b in zip(s.prefix_blocks, t.prefix_blocks[:50]))
    # a resampled prompt keeps only the ids inside it
    r = _stream(arrival="closed", concurrency=4, requests=50, trace="mooncake_fast25_conversation_trace.jsonl",
                input_tokens=600)
    assert all(len(b) <= 2 for b in r.prefix_blocks)


@pytest.mark.parametrize("arrival", ["trace", "closed"])
def test_more_requests_than_the_trace_holds_is_warned_about(tmp_path, capsys, arrival):
    p = tmp_path / "five.jsonl"
    p.write_text("".join(f'{{"timestamp": {i}, "input_length": 10, "output_length": 2}}\n' for i in range(5)))
    s = _stream(arrival=arrival, trace=str(p), requests=50)
    assert len(s) == 5
    assert "workload.requests = 50 exceeds the 5 requests" in capsys.readouterr().err
    _stream(arrival=arrival, trace=str(p), requests=5)
    assert capsys.readouterr().err == ""


def test_a_lognormal_sigma_whose_median_is_under_one_token_is_refused():
    # sigma = 50 silently gave 1-token prompts: its median mean * exp(-sigma^2/2) is 1e-540 tokens
    with pytest.raises(ConfigError) as err:
        load_config(data={"workload": {"input_tokens": {"dist": "lognormal", "mean": 1000, "sigma": 50}}})
    assert str(err.value).startswith("workload.input_tokens") and "sigma = 50" in str(err.value)
    assert "at most 3.72" in str(err.value)             # sqrt(2 ln 1000)
    load_config(data={"workload": {"input_tokens": {"dist": "lognormal", "mean": 1000, "sigma": 3.7}}})


def test_lengths_mostly_raised_to_one_token_are_warned_about(capsys):
    from workloads.serving import requests
    requests._WARNED.clear()
    spec = load_config(data={"workload": {"input_tokens": {"dist": "normal", "mean": 1000, "sigma": 5000}}})
    out = sample_lengths(spec.workload.input_tokens, 1000, np.random.default_rng(0), "workload.input_tokens")
    share = float(np.mean(out == 1))
    assert 0.4 < share < 0.5                              # P(N(1000, 5000) < 0.5) = 0.42
    err = capsys.readouterr().err
    assert f"warning: workload.input_tokens: {share:.0%} of the 1000 sampled lengths" in err
    ok = load_config(data={"workload": {"input_tokens": {"dist": "lognormal", "mean": 1000, "sigma": 0.5}}})
    sample_lengths(ok.workload.input_tokens, 1000, np.random.default_rng(0), "workload.input_tokens")
    assert capsys.readouterr().err == ""
