"""Replica engine: every request gets exactly its output tokens (through preemption and
transfer), KV never exceeds capacity, macro-steps equal one event per iteration, the queueing
limits (low load, overload, M/D/1) hold."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import workloads.serving.replica as replica_mod
from workloads.serving import engines
from workloads.serving.cost import IterationCost

from .serving_helpers import serve


def _check_tokens(result):
    r = result.tables["requests"].to_pydict()
    assert r["generated_tokens"] == r["output_tokens"]
    assert all(f >= t >= a for a, t, f in zip(r["arrival_s"], r["first_token_s"], r["finish_s"]))
    return r


@settings(max_examples=12, deadline=None)
@given(policy=st.sampled_from(["vllm", "sarathi", "orca"]), preemption=st.sampled_from(["recompute", "swap"]),
       mem=st.floats(0.145, 0.2), max_batch=st.integers(2, 48), seed=st.integers(0, 5), disagg=st.booleans())
def test_tokens_conserved_and_kv_within_capacity(policy, preemption, mem, max_batch, seed, disagg):
    # a tiny KV pool (HBM fraction just above the weights) forces preemption; KV blocks beyond
    # capacity raise SimulationError inside the run, so finishing is the capacity check
    deploy = {"prefill_replicas": 1, "decode_replicas": 1} if disagg else {"replicas": 1}
    res = serve(run={"seed": seed}, serve={"scheduler": policy, "preemption": preemption, "gpu_memory_utilization": mem,
                                           "max_batch_size": max_batch, "chunk_size": 256, **deploy},
                workload={"arrival": "burst", "requests": 40,
                          "input_tokens": {"dist": "uniform", "min": 16, "max": 1500},
                          "output_tokens": {"dist": "uniform", "min": 1, "max": 300}})
    r = _check_tokens(res)
    s = res.summary
    assert s["requests"] == 40
    assert s["kv_capacity_tokens"] > 0 and 0 < s["kv_peak_utilization"] <= 1.0
    if disagg:
        assert s["disagg_kv_GB"] > 0 and all(x == 1 for x in r["replica"])


def test_preemption_happens_and_tokens_still_conserved():
    res = serve(serve={"gpu_memory_utilization": 0.145, "max_batch_size": 64},
                workload={"arrival": "burst", "requests": 60, "input_tokens": 1000, "output_tokens": 400})
    _check_tokens(res)
    assert res.summary["preemptions"] > 0
    assert 0.9 < res.summary["kv_peak_utilization"] <= 1.0      # pressure fills the pool, never beyond


def test_swap_preemption_does_not_thrash_under_chunked_prefill(monkeypatch):
    """serve.preemption = 'swap' with chunked prefill (sarathi) on a small pool under Poisson
    arrivals: a victim swapped out at the end of a step used to be swapped straight back into the
    blocks it freed, the next step preempted it again, and the replica cycled without decoding
    (runs/serve-colocated.toml with kv_capacity_tokens = 40000 never finished). As vLLM V0's
    scheduler, swapped sequences come back only in a step that preempted nothing: the run ends
    with every token, and its KV crossed the host link both ways."""
    calls = {"n": 0}
    preempt = replica_mod.Replica._preempt

    def counted(self, *a, **k):
        calls["n"] += 1
        if calls["n"] > 1000:        # a thrashing replica would preempt forever: fail, do not hang
            raise AssertionError("preemption livelock: over 1,000 preemptions for 60 requests")
        return preempt(self, *a, **k)

    monkeypatch.setattr(replica_mod.Replica, "_preempt", counted)
    res = serve(topology={"gpus": 1},
                serve={"preemption": "swap", "kv_capacity_tokens": 12000, "replicas": 1, "scheduler": "sarathi",
                       "chunk_size": 2048},
                workload={"arrival": "poisson", "rate": 10.0, "requests": 60,
                          "input_tokens": {"dist": "uniform", "min": 200, "max": 3000},
                          "output_tokens": {"dist": "uniform", "min": 50, "max": 600}})
    _check_tokens(res)
    s = res.summary
    assert s["requests"] == 60 and s["preemptions"] > 0
    assert s["swap_GB"] > 0                          # the victims' KV went to host memory and back
    assert s["preemptions"] <= calls["n"] < 200


# 60 Poisson requests of mixed lengths: arrivals cut decode macro-steps often
POISSON_60 = {"arrival": "poisson", "rate": 20.0, "requests": 60,
              "input_tokens": {"dist": "uniform", "min": 20, "max": 900},
              "output_tokens": {"dist": "uniform", "min": 1, "max": 200}}


@pytest.mark.parametrize("policy", ["vllm", "sarathi", "orca"])
def test_macro_steps_equal_one_event_per_iteration(policy, monkeypatch):
    over = dict(serve={"scheduler": policy, "chunk_size": 256, "gpu_memory_utilization": 0.145},
                workload=POISSON_60)
    fast = serve(**over)
    monkeypatch.setattr(replica_mod, "MAX_MACRO_ITERATIONS", 1)
    slow = serve(**over)
    a, b = fast.tables["requests"].to_pydict(), slow.tables["requests"].to_pydict()
    assert np.allclose(a["finish_s"], b["finish_s"], rtol=1e-9, atol=1e-9)
    assert np.allclose(a["first_token_s"], b["first_token_s"], rtol=1e-9, atol=1e-9)
    assert slow.summary["sim_events"] > fast.summary["sim_events"]


def test_cut_macro_steps_put_only_the_iterations_run_on_private_links(monkeypatch):
    """A TP2 replica's ring bytes are credited to its private NVLink links; a macro-step cut by
    an arrival ran fewer iterations than it planned, and only those cross the links: the link
    bytes equal those of one event per iteration (they were the planned ones before)."""
    over = dict(topology={"fabric": "fat-tree"}, serve={"tp": 2, "replicas": 1},
                workload=POISSON_60)
    fast = serve(**over)
    monkeypatch.setattr(replica_mod, "MAX_MACRO_ITERATIONS", 1)
    slow = serve(**over)
    a, b = fast.tables["links"]["bytes"].to_numpy(), slow.tables["links"]["bytes"].to_numpy()
    assert a.sum() > 0
    assert np.allclose(a, b, rtol=1e-9, atol=0)


def test_low_load_ttft_approaches_unloaded_prefill():
    res = serve(workload={"arrival": "poisson", "rate": 0.2, "requests": 20, "input_tokens": 2048, "output_tokens": 4})
    r = res.tables["requests"].to_pydict()
    from sim.config import load_config
    from sim.hardware import gpu
    from workloads.model import ModelSpec
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "llama3-8b"}}).model)
    eng = engines.profile("vllm")
    # unloaded TTFT = frontend (HTTP, tokenizer) + one prefill iteration with its per-sequence CPU
    t_prefill = (IterationCost(spec, gpu("H100-SXM-80GB"), "fp8", "fp8").prefill_time(2048)
                 + eng.step_us_per_seq * 1e-6)
    ttft = np.array(r["ttft_s"])
    assert np.median(ttft) == pytest.approx(t_prefill + eng.frontend_s(2048), rel=1e-6)
    assert np.allclose(r["frontend_s"], eng.frontend_s(2048))
    assert np.all(np.array(r["queueing_s"]) < 1e-9)


def test_overload_queueing_grows_without_bound():
    waits = []
    for n in (100, 200, 400):
        res = serve(workload={"arrival": "poisson", "rate": 200.0, "requests": n, "input_tokens": 2000, "output_tokens": 200})
        waits.append(res.summary["queueing_mean_s"])
    assert waits[0] < waits[1] < waits[2] and waits[2] > 1.8 * waits[1]


def test_md1_mean_wait():
    # batch of one, one output token: each request is one prefill iteration of fixed length
    over = dict(serve={"max_batch_size": 1},
                workload={"arrival": "poisson", "requests": 10000, "input_tokens": 1024, "output_tokens": 1})
    from sim.config import load_config
    from sim.hardware import gpu
    from workloads.model import ModelSpec
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "llama3-8b"}}).model)
    eng = engines.profile("vllm")
    service = IterationCost(spec, gpu("H100-SXM-80GB"), "fp8", "fp8").prefill_time(1024) + eng.step_us_per_seq * 1e-6
    for rho in (0.5, 0.8):
        over["workload"]["rate"] = rho / service
        res = serve(**over)
        r = res.tables["requests"].to_pydict()
        # the frontend is a constant delay before the engine: the engine still sees M/D/1
        assert np.allclose(np.array(r["ttft_s"]) - np.array(r["queueing_s"]), service + eng.frontend_s(1024), rtol=1e-9)
        wq = rho * service / (2 * (1 - rho))                  # Pollaczek-Khinchine, deterministic service
        assert res.summary["queueing_mean_s"] == pytest.approx(wq, rel=0.1)   # sampling error ~3-5 %


def test_sarathi_chunks_bound_decode_stalls():
    """Chunked prefill keeps a running decode's token gaps near one small iteration, where
    prefill-first scheduling stalls it for whole long prompts (worse TPOT p99)."""
    wl = {"arrival": "poisson", "rate": 6.0, "requests": 120, "input_tokens": 6000, "output_tokens": 128}
    v = serve(serve={"scheduler": "vllm", "max_batch_tokens": 8192}, workload=wl).summary
    s = serve(serve={"scheduler": "sarathi", "chunk_size": 512, "max_batch_tokens": 8192}, workload=wl).summary
    assert s["tpot_p99_s"] < v["tpot_p99_s"]


def test_schedulers_and_routers_are_policy_classes_in_registries(monkeypatch):
    """The replica asks its registry's class to plan every batch, the deployment its router's
    class to place every request: a new policy is one class and one registry line."""
    from workloads.serving import deployment, replica
    assert set(replica.SCHEDULERS) == {"vllm", "sarathi", "orca"}
    assert set(deployment.ROUTERS) == {"round-robin", "least-loaded", "prefix-aware", "weighted"}
    calls = {"plan": 0, "choose": 0}

    class CountingScheduler(replica.VllmScheduler):
        def plan(self, rep, decodes):
            calls["plan"] += 1
            return super().plan(rep, decodes)

    class LastReplica:
        def choose(self, replicas, req):
            calls["choose"] += 1
            return replicas[-1]

    monkeypatch.setitem(replica.SCHEDULERS, "vllm", CountingScheduler)
    monkeypatch.setitem(deployment.ROUTERS, "round-robin", LastReplica)
    res = serve(serve={"replicas": 3, "scheduler": "vllm", "router": "round-robin"},
                workload={"requests": 10, "output_tokens": 4})
    assert calls["plan"] > 10 and calls["choose"] == 10
    assert set(res.tables["requests"]["replica"].to_pylist()) == {2}


def test_iterations_run_on_the_replicas_gpu_streams():
    """Serving's compute and TP collectives are on sim.gpu streams, one interval per iteration
    batch (not per GPU or per iteration), inside the replica's busy time; a trace draws them."""
    wl = {"requests": 60, "rate": 20.0, "input_tokens": 512, "output_tokens": 64}
    kept = serve(run={"trace": True}, serve={"tp": 2, "replicas": 2}, workload=wl)
    sums = serve(serve={"tp": 2, "replicas": 2}, workload=wl)
    s = kept.summary
    assert s["compute_comm_ratio"] == pytest.approx(sums.summary["compute_comm_ratio"], rel=1e-9)
    assert 1.0 < s["compute_comm_ratio"] < float("inf")
    streams = kept.tables["streams"].to_pydict()
    assert set(streams["lane"]) == {"replica 0", "replica 1"} and set(streams["stream"]) == {"compute", "TP"}
    per_lane = {}
    for lane, stream, a, b in zip(streams["lane"], streams["stream"], streams["start_s"], streams["end_s"]):
        per_lane.setdefault((lane, stream), []).append((a, b))
    compute = sum(b - a for (_, k), v in per_lane.items() if k == "compute" for a, b in v)
    comm = sum(b - a for (_, k), v in per_lane.items() if k == "TP" for a, b in v)
    assert compute / comm == pytest.approx(s["compute_comm_ratio"], rel=1e-9)
    # at most one compute interval per event-loop batch: far fewer than iterations x GPUs
    assert len(per_lane[("replica 0", "compute")]) + len(per_lane[("replica 1", "compute")]) <= s["iterations"]
    for (lane, _), v in per_lane.items():        # a stream's intervals never overlap
        v.sort()
        assert all(b0 <= a1 + 1e-12 for (_, b0), (a1, _) in zip(v, v[1:]))
    busy = s["busy_fraction"] * s["duration_s"] * 2
    assert compute + comm <= busy * (1 + 1e-9)
    names = {e["args"]["name"] for e in kept.trace["traceEvents"] if e.get("name") == "thread_name"}
    assert {"lane=replica 0 stream=compute", "lane=replica 1 stream=TP"} <= names


def test_iterations_count_draft_and_verify_steps_under_speculation():
    """``iterations`` counts engine steps: 8 requests of 100 prompt and 201 output tokens in one batch
    run one prefill step (its first token) and 200 decode steps; with EAGLE of 3 drafts all accepted
    (gain 4) the 200 tokens take 50 draft-and-verify steps (it counted 201: one per generated token)."""
    from sim.app.runner import run
    from sim.config import load_config

    def iterations(serve):
        return run(load_config(data={"run": {"kind": "serve", "name": "t"},
                                     "topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "fabric": "none"},
                                     "model": {"preset": "llama3-8b"}, "serve": serve,
                                     "workload": {"arrival": "closed", "concurrency": 8, "requests": 8,
                                                  "input_tokens": 100, "output_tokens": 201}})).summary["iterations"]
    assert iterations({}) == 1 + 200
    assert iterations({"speculative": {"method": "eagle", "tokens": 3, "acceptance": 1.0}}) == 1 + 200 // 4
