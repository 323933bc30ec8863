"""Deployments: placement and feasibility errors, routing, prefix caching across tiers,
disaggregated prefill/decode with KV flows on the fabric, determinism, output columns."""

import numpy as np
import pytest

from sim.errors import ConfigError, InfeasibleError

from .serving_helpers import serve

SUMMARY_COLUMNS = ["requests", "duration_s", "input_tokens_per_s", "output_tokens_per_s", "ttft_p50_s",
                   "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "goodput_rps",
                   "slo_attainment", "mfu", "mbu", "kv_transfer_GB", "prefix_hit_rate", "preemptions",
                   "compute_comm_ratio", "gpus", "sim_events", "wall_s"]
REQUEST_COLUMNS = ["arrival_s", "scheduled_s", "first_token_s", "finish_s", "input_tokens", "output_tokens",
                   "replica", "queueing_s", "kv_transfer_s", "prefix_hit_tokens"]


def test_contract_columns_and_determinism():
    a = serve(serve={"replicas": 2, "tp": 2})
    for c in SUMMARY_COLUMNS:
        assert c in a.summary, c
    assert a.summary["gpus"] == 4 and a.summary["requests"] == 100
    assert 0 < a.summary["mfu"] < 1 and 0 < a.summary["mbu"] < 1
    assert np.isfinite(a.summary["compute_comm_ratio"]) and a.summary["compute_comm_ratio"] > 0
    assert set(REQUEST_COLUMNS) <= set(a.tables["requests"].column_names)
    b = serve(serve={"replicas": 2, "tp": 2})
    assert {k: v for k, v in a.summary.items() if k != "wall_s"} == {k: v for k, v in b.summary.items() if k != "wall_s"}


def test_tp_traffic_lands_on_the_fabric():
    res = serve(serve={"tp": 2}, workload={"requests": 20})
    links = res.tables["links"].to_pydict()
    assert sum(b for b, c in zip(links["bytes"], links["link_class"]) if c == "nvlink") > 0


def test_infeasible_plans():
    with pytest.raises(InfeasibleError, match="serve.replicas"):
        serve(serve={"replicas": 5, "tp": 2})
    with pytest.raises(InfeasibleError, match="serve.tp"):
        serve(model={"preset": "llama3-70b"}, serve={"precision": "fp16"})
    with pytest.raises(ConfigError, match="decode_replicas"):
        serve(serve={"prefill_replicas": 1})
    with pytest.raises(InfeasibleError, match="workload.input_tokens"):
        serve(serve={"gpu_memory_utilization": 0.145}, workload={"input_tokens": 100000, "requests": 2})


@pytest.mark.parametrize("section,key", [({"replicas": 2 ** 62}, "serve.replicas"),
                                         ({"replicas": 10 ** 9}, "serve.replicas"),
                                         ({"prefill_replicas": 1, "decode_replicas": 2 ** 62}, "serve.decode_replicas")])
def test_absurd_replica_counts_are_infeasible_before_any_replica_is_built(section, key):
    """replicas = 2**63 raised OverflowError (a list of 2**63 roles; now refused by the config's
    int64 bound), 2**62 MemoryError; 10**9 built a billion-entry list."""
    with pytest.raises(InfeasibleError) as err:
        serve(serve=section)
    assert err.value.key == key and "GPUs; the topology has" in err.value.reason


def test_round_robin_spreads_evenly_least_loaded_balances():
    rr = serve(serve={"replicas": 4, "router": "round-robin"}, workload={"requests": 200}).tables["requests"]
    counts = np.bincount(rr["replica"].to_numpy(), minlength=4)
    assert counts.tolist() == [50, 50, 50, 50]
    ll = serve(serve={"replicas": 4, "router": "least-loaded"}, workload={"arrival": "burst", "requests": 200}).tables["requests"]
    counts = np.bincount(ll["replica"].to_numpy(), minlength=4)
    assert counts.max() - counts.min() <= 1


MOONCAKE = {"arrival": "trace", "trace": "mooncake_fast25_conversation_trace.jsonl", "requests": 300,
            "time_scale": 1.0, "input_tokens": None, "output_tokens": None}


def test_prefix_cache_skips_compute_and_host_tier_adds_hits():
    off = serve(serve={"replicas": 1, "max_batch_size": 32, "gpu_memory_utilization": 0.3}, workload=MOONCAKE).summary
    hbm = serve(serve={"replicas": 1, "max_batch_size": 32, "prefix_cache": True,
                       "gpu_memory_utilization": 0.3}, workload=MOONCAKE)
    host = serve(serve={"replicas": 1, "max_batch_size": 32, "prefix_cache": True,
                        "gpu_memory_utilization": 0.3, "host_kv_GB": 200}, workload=MOONCAKE).summary
    assert off["prefix_hit_rate"] == 0
    h = hbm.summary
    # upper bound: an infinite cache hits every leading block seen before (minus the last token)
    from workloads.serving.traces import read_trace
    t = read_trace("mooncake_fast25_conversation_trace.jsonl")
    seen, ideal = set(), 0
    for ids, n in zip(t.prefix_blocks[:300], t.input_tokens[:300]):
        k = 0
        while k < len(ids) and int(ids[k]) in seen and (k + 1) * 512 < n:
            k += 1
        ideal += k * 512
        seen.update(int(b) for b in ids[: n // 512])
    ideal /= t.input_tokens[:300].sum()
    assert 0 < h["prefix_hit_rate"] < host["prefix_hit_rate"] <= ideal  # evicted prefixes come back from DRAM
    assert host["prefix_load_GB"] > 0 and h["prefix_load_GB"] == 0
    assert h["ttft_p50_s"] < off["ttft_p50_s"]                       # hits skip prefill compute
    r = hbm.tables["requests"].to_pydict()
    assert all(hit % 512 == 0 and hit < n for hit, n in zip(r["prefix_hit_tokens"], r["input_tokens"]))


def test_prefix_aware_routing_finds_more_hits():
    common = {"replicas": 4, "prefix_cache": True, "max_batch_size": 32}
    rr = serve(serve={**common, "router": "round-robin"}, workload=MOONCAKE).summary
    pa = serve(serve={**common, "router": "prefix-aware"}, workload=MOONCAKE).summary
    assert pa["prefix_hit_rate"] > rr["prefix_hit_rate"]


def test_settings_the_config_says_change_nothing_change_nothing_in_the_run():
    """What the config's warnings (sim.config.ineffective_settings, tested in tests/test_config.py) say of
    these settings before the run is what the run does: chunk_size under a whole-prompt scheduler,
    prefix-aware routing and a prefix cache with no prefix blocks to match (synthetic prompts)."""
    def same(a, b):
        return {k: v for k, v in a.items() if k != "wall_s"} == {k: v for k, v in b.items() if k != "wall_s"}
    wl = {"requests": 8}
    assert same(serve(serve={"scheduler": "vllm", "chunk_size": 100}, workload=wl).summary,
                serve(serve={"scheduler": "vllm"}, workload=wl).summary)
    assert same(serve(serve={"scheduler": None, "engine": "trtllm", "chunk_size": 100}, workload=wl).summary,
                serve(serve={"scheduler": None, "engine": "trtllm"}, workload=wl).summary)
    two = {"replicas": 2, "prefix_cache": True}
    r = serve(serve={**two, "router": "prefix-aware"}, workload=wl).summary
    assert same(r, serve(serve={**two, "router": "least-loaded"}, workload=wl).summary)
    assert r["prefix_hit_rate"] == 0
    trace = {**MOONCAKE, "requests": 8}
    assert same(serve(serve={"replicas": 2, "router": "prefix-aware"}, workload=trace).summary,
                serve(serve={"replicas": 2, "router": "least-loaded"}, workload=trace).summary)


def test_disaggregated_trade_tpot_for_ttft():
    wl = {"arrival": "poisson", "rate": 6.0, "requests": 200, "input_tokens": 3000, "output_tokens": 200}
    co = serve(serve={"replicas": 2, "scheduler": "sarathi", "chunk_size": 1024}, workload=wl)
    dis = serve(serve={"prefill_replicas": 1, "decode_replicas": 1, "kv_transfer": "whole",
                       "scheduler": "sarathi", "chunk_size": 1024}, workload=wl)
    c, d = co.summary, dis.summary
    assert d["tpot_p50_s"] < c["tpot_p50_s"] and d["tpot_p99_s"] < c["tpot_p99_s"]
    assert d["ttft_p50_s"] > c["ttft_p50_s"]
    r = dis.tables["requests"].to_pydict()
    assert r["generated_tokens"] == r["output_tokens"]
    assert min(r["kv_transfer_s"]) > 0
    assert all(p == 0 for p in r["prefill_replica"]) and all(x == 1 for x in r["replica"])
    kv_bytes = 200 * 3000 * 32 * 2 * 8 * 128 * 1.0                  # prompt tokens x layers x K,V x heads x dim x fp8
    assert d["disagg_kv_GB"] * 1e9 == pytest.approx(kv_bytes, rel=1e-6)
    # the transfer is a flow on NVLink: bytes on the fabric match the KV moved
    links = dis.tables["links"].to_pydict()
    assert sum(b for b, c in zip(links["bytes"], links["link_class"]) if c == "nvlink") >= kv_bytes
    # layer-by-layer streaming hides most of the transfer behind prefill compute
    lw = serve(serve={"prefill_replicas": 1, "decode_replicas": 1, "kv_transfer": "layerwise",
                      "scheduler": "sarathi", "chunk_size": 1024}, workload=wl).tables["requests"]
    assert np.mean(lw["kv_transfer_s"].to_numpy()) < 0.2 * np.mean(r["kv_transfer_s"])


def test_closed_loop_keeps_concurrency():
    res = serve(workload={"arrival": "closed", "concurrency": 4, "requests": 40})
    r = res.tables["requests"].to_pydict()
    events = sorted([(a, 1) for a in r["arrival_s"]] + [(f, -1) for f in r["finish_s"]])
    level, peak = 0, 0
    for _, d in events:
        level += d
        peak = max(peak, level)
    assert peak == 4


def test_ring_traffic_same_bytes_private_or_shared():
    """Co-located TP rings are credited to their private NVLink links; disaggregated ones share
    those ports with KV transfers and run as flows. Either way each link carries the same ring
    bytes per token processed."""
    wl = {"arrival": "burst", "requests": 20, "input_tokens": 500, "output_tokens": 20}
    co = serve(serve={"tp": 2, "replicas": 1}, workload=wl)
    dis = serve(serve={"tp": 2, "prefill_replicas": 1, "decode_replicas": 1, "kv_transfer": "whole"}, workload=wl)
    assert dis.tables["requests"]["generated_tokens"].to_pylist() == dis.tables["requests"]["output_tokens"].to_pylist()
    nv = lambda res: sum(b for b, c in zip(res.tables["links"]["bytes"].to_pylist(),  # noqa: E731
                                             res.tables["links"]["link_class"].to_pylist()) if c == "nvlink")
    kv = dis.summary["disagg_kv_GB"] * 1e9 * 2          # each KV byte crosses GPU->switch and switch->GPU
    ring_co, ring_dis = nv(co), nv(dis) - kv
    assert ring_co > 0 and ring_dis == pytest.approx(ring_co, rel=1e-6)


def test_pipeline_parallel_latency_serial_throughput_parallel():
    """A lone request crosses the stages in turn (TPOT as on one GPU holding all layers, plus
    the sends); a full load keeps pp batches in flight (throughput near pp x one GPU's)."""
    one = {"arrival": "burst", "requests": 1, "input_tokens": 500, "output_tokens": 100}
    t1 = serve(serve={"pp": 1}, workload=one).summary["tpot_p50_s"]
    t2 = serve(serve={"pp": 2}, workload=one).summary["tpot_p50_s"]
    assert t1 < t2 < 1.25 * t1
    load = {"arrival": "burst", "requests": 256, "input_tokens": 500, "output_tokens": 100}
    x1 = serve(serve={"pp": 1, "max_batch_size": 64}, workload=load)
    x2 = serve(serve={"pp": 2, "max_batch_size": 128}, workload=load)
    assert 1.6 < x2.summary["output_tokens_per_s"] / x1.summary["output_tokens_per_s"] < 2.05
    assert set(x2.tables["requests"]["replica"].to_pylist()) == {0} and x2.summary["gpus"] == 2


def test_prefill_and_decode_tp_differ():
    # Dynamo-style 4 prefill replicas at TP1 + 1 decode replica at TP4 on 8 GPUs
    wl = {"arrival": "closed", "concurrency": 8, "requests": 24, "input_tokens": 1000, "output_tokens": 20}
    res = serve(serve={"tp": 4, "prefill_tp": 1, "decode_tp": 4, "prefill_replicas": 4, "decode_replicas": 1,
                       "scheduler": "sarathi"}, workload=wl)
    s, r = res.summary, res.tables["requests"].to_pydict()
    assert s["gpus"] == 8 and s["replicas"] == 5
    assert set(r["prefill_replica"]) <= {0, 1, 2, 3} and len(set(r["prefill_replica"])) > 1
    assert set(r["replica"]) == {4}
    assert r["generated_tokens"] == r["output_tokens"]
    # every prompt token's KV crosses once: a TP1 prefill GPU holds all KV heads
    from sim.config import load_config
    from workloads.model import ModelSpec
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "llama3-8b"}}).model)
    expected = sum(n for n in r["input_tokens"]) * spec.kv_cache_bytes_per_token(1.0) / 1e9
    assert s["disagg_kv_GB"] == pytest.approx(expected, rel=1e-9)


def test_role_tp_errors_name_the_role_key():
    from sim.errors import InfeasibleError
    with pytest.raises(InfeasibleError) as e:
        serve(serve={"prefill_tp": 1, "decode_tp": 3, "prefill_replicas": 1, "decode_replicas": 1},
              workload={"requests": 4})
    assert e.value.key == "serve.decode_tp"


def tp16_two_nodes(fabric="rail-optimized", prompt=128, latency_us=None):
    """DeepSeek-R1 FP8 served TP16 over two DGX H100 nodes (the shape of the published case
    tenstorrent/tt-inference-server#356, "16 H100 (SGLANG + INFINIBAND)")."""
    topo = {"preset": "dgx-h100-superpod", "gpus": 16, "fabric": fabric}
    if latency_us is not None:
        topo["scaleout_latency_us"] = latency_us
    return serve(topology=topo, model={"preset": "deepseek-v3"},
                 serve={"tp": 16, "scheduler": "sarathi", "chunk_size": 8192, "max_batch_tokens": 8192,
                        "max_batch_size": 256, "precision": "fp8", "kv_precision": "bf16"},
                 workload={"arrival": "closed", "concurrency": 1, "requests": 2, "input_tokens": prompt,
                           "output_tokens": 16})


def test_tp_across_two_nodes_decode_pays_the_inter_node_all_reduce():
    """Each of a decode step's 2 x 61 all-reduces crosses the NICs (it was priced between the
    first two GPUs, both in one node, so the scale-out latency did not show)."""
    fast = tp16_two_nodes(latency_us=1.0).summary["tpot_p50_s"]
    slow = tp16_two_nodes(latency_us=6.0).summary["tpot_p50_s"]
    assert slow - fast >= 2 * 61 * 5e-6


def test_a_replica_straddling_two_nodes_pays_the_inter_node_all_reduce():
    """One TP2 prefill replica then two TP4 decode replicas on two DGX H100 nodes: decode replica
    1 sits on GPUs 2-5 (one node), replica 2 on GPUs 6-9 (across both). Every replica was priced
    on the topology's first GPUs (one node), so both decoded alike; now each of replica 2's
    2 x 32 all-reduces crosses the NICs (at least a scale-out hop's latency each)."""
    res = serve(topology={"preset": "dgx-h100-superpod", "gpus": 16, "fabric": "rail-optimized"},
                serve={"tp": 4, "prefill_tp": 2, "decode_tp": 4, "prefill_replicas": 1, "decode_replicas": 2},
                workload={"arrival": "closed", "concurrency": 4, "requests": 16, "input_tokens": 256,
                          "output_tokens": 64})
    r = res.tables["requests"].to_pydict()
    tpot: dict[int, list[float]] = {}
    for rep, f, ft, o in zip(r["replica"], r["finish_s"], r["first_token_s"], r["output_tokens"]):
        tpot.setdefault(rep, []).append((f - ft) / (o - 1))
    assert set(tpot) == {1, 2}
    inside, across = np.mean(tpot[1]), np.mean(tpot[2])
    assert across - inside >= 2 * 32 * 5e-6


def _mean_tpot_by_replica(res) -> dict[int, float]:
    r = res.tables["requests"].to_pydict()
    tpot: dict[int, list[float]] = {}
    for rep, f, ft, o in zip(r["replica"], r["finish_s"], r["first_token_s"], r["output_tokens"]):
        tpot.setdefault(rep, []).append((f - ft) / (o - 1))
    return {k: float(np.mean(v)) for k, v in tpot.items()}


def test_a_dp_attention_replica_straddling_two_nodes_pays_the_inter_node_all_to_all():
    """As above with attention DP (Qwen3-30B-A3B, 48 MoE layers): decode replica 2 on GPUs 6-9
    took the first replica's one-node all-to-all link; now each of its 2 x 48 MoE dispatch /
    combine collectives pays the cross-node link's latency (at least 3 us more each)."""
    res = serve(topology={"preset": "dgx-h100-superpod", "gpus": 16, "fabric": "rail-optimized"},
                model={"preset": "qwen3-30b-a3b"},
                serve={"dp_attention": True, "tp": 4, "prefill_tp": 2, "decode_tp": 4, "prefill_replicas": 1,
                       "decode_replicas": 2},
                workload={"arrival": "closed", "concurrency": 4, "requests": 16, "input_tokens": 256,
                          "output_tokens": 64})
    tpot = _mean_tpot_by_replica(res)
    assert set(tpot) == {1, 2}
    assert tpot[2] - tpot[1] >= 2 * 48 * 3e-6


def test_a_pipeline_replica_straddling_two_nodes_pays_the_inter_node_send():
    """Five tp=1, pp=3 replicas on two DGX H100 nodes: replica 2 holds GPUs 6-8, its second stage
    boundary crosses the NICs. Every replica sent its activations at the first replica's NVLink
    link; now replica 2 pays the cross-node link's latency per step, and the others, each inside
    a node, are unchanged (one request each: equal batches)."""
    res = serve(topology={"preset": "dgx-h100-superpod", "gpus": 16, "fabric": "rail-optimized"},
                model={"preset": "qwen3-30b-a3b"}, serve={"tp": 1, "pp": 3, "replicas": 5, "router": "round-robin"},
                workload={"arrival": "closed", "concurrency": 15, "requests": 15, "input_tokens": 256,
                          "output_tokens": 64})
    tpot = _mean_tpot_by_replica(res)
    assert set(tpot) == {0, 1, 2, 3, 4}
    assert tpot[0] == tpot[1] == tpot[3] == tpot[4]
    assert tpot[2] - tpot[0] >= 4e-6


def test_tp16_prefill_moves_little_between_rail_optimized_and_fat_tree():
    """NCCL's rail-aligned channels keep inter-node traffic on its rail; the ring in rank order
    crossed rails through the spines and made TTFT at 8,192 tokens 4x fabric-dependent."""
    rail = tp16_two_nodes("rail-optimized", prompt=8192).summary["ttft_p50_s"]
    fat = tp16_two_nodes("fat-tree", prompt=8192).summary["ttft_p50_s"]
    assert abs(rail / fat - 1) < 0.30


def test_closed_loop_trace_reaches_the_prefix_cache():
    wl = {"arrival": "closed", "concurrency": 8, "trace": "mooncake_fast25_conversation_trace.jsonl", "requests": 150,
          "input_tokens": None, "output_tokens": None}
    on = serve(serve={"replicas": 1, "prefix_cache": True}, workload=wl).summary
    off = serve(serve={"replicas": 1}, workload=wl).summary
    assert on["prefix_hit_rate"] > 0.01 and off["prefix_hit_rate"] == 0
    assert on["ttft_mean_s"] < off["ttft_mean_s"]


def test_weighted_router_scores():
    common = {"replicas": 4, "prefix_cache": True, "max_batch_size": 32}
    # prefix-affinity weight alone finds more hits than round-robin; a queue weight alone
    # balances like least-loaded; an unknown scorer is a config error naming it
    rr = serve(serve={**common, "router": "round-robin"}, workload=MOONCAKE).summary
    aff = serve(serve={**common, "router": "weighted", "router_weights": {"prefix": 2.0, "queue": 1.0, "kv": 1.0}},
                workload=MOONCAKE).summary
    assert aff["prefix_hit_rate"] > rr["prefix_hit_rate"]
    q = serve(serve={"replicas": 4, "router": "weighted", "router_weights": {"queue": 1.0}},
              workload={"requests": 200, "rate": 40.0})
    counts = np.bincount(q.tables["requests"]["replica"].to_numpy(), minlength=4)
    assert counts.min() > 0 and counts.max() <= 1.3 * counts.mean()
    with pytest.raises(ConfigError) as e:
        serve(serve={"replicas": 2, "router": "weighted", "router_weights": {"affinity": 1.0}}, workload={"requests": 4})
    assert "router_weights.affinity" in str(e.value)


def test_hbm_ledger_fills_the_engines_share_of_hbm():
    """Weights, runtime, activations and the KV pool fill gpu_memory_utilization of HBM (vLLM's
    memory model; the pool is whole blocks, so within one block per engine of it) and never
    exceed it."""
    from sim.hardware import gpu
    res = serve(serve={"tp": 2, "replicas": 1, "gpu_memory_utilization": 0.8})
    used = res.summary["hbm_used_GB"]
    share = 0.8 * gpu("H100-SXM-80GB").hbm_bytes / 1e9
    assert used <= share + 1e-9 and used == pytest.approx(share, rel=1e-3)
    assert 0 < res.summary["hbm_kv_GB"] < used


def test_sliding_window_hybrid_pool_holds_more_sequences():
    """gpt-oss-20b-shaped model (every other layer windowed, 128 tokens): a request of 16,000 +
    64 tokens holds 12 x 16,064 + 12 x 128 layer-tokens = 8,096 all-layer slots = 506 blocks of 16
    (vLLM's hybrid KV cache manager keeps only the window on windowed layers), so a 40,000-token
    pool (2,500 blocks) runs 4 at once; with full attention on every layer 1,004 blocks, 2 at once,
    as under TensorRT-LLM, whose one KV pool keeps every token on windowed layers too (engines.toml
    [trtllm] window_kv_freed = false: no kv_cache_config.max_attention_window in the overview's options)."""
    from tests.workloads.serving.test_cost import GPT_OSS_20B
    peaks = []
    for over, engine in (({}, "vllm"), ({"sliding_window": None, "global_every": 0}, "vllm"), ({}, "trtllm")):
        r = serve(topology={"gpus": 1}, model={**GPT_OSS_20B, **over, "preset": None},
                  serve={"engine": engine, "scheduler": "orca", "precision": "bf16", "kv_precision": "bf16",
                         "kv_capacity_tokens": 40000, "max_batch_tokens": 8192},
                  workload={"arrival": "burst", "requests": 12, "input_tokens": 16000, "output_tokens": 64})
        t = r.tables["requests"].to_pydict()
        events = sorted([(a, 1) for a in t["scheduled_s"]] + [(b, -1) for b in t["finish_s"]], key=lambda e: (e[0], e[1]))
        n = most = 0
        for _, d in events:
            n += d
            most = max(most, n)
        peaks.append((most, r.summary["kv_peak_utilization"]))
    assert peaks[0] == (4, pytest.approx(4 * 506 / 2500))
    assert peaks[1] == (2, pytest.approx(2 * 1004 / 2500))
    assert peaks[2] == peaks[1]


def test_mi300x_tp8_serving_all_reduce_uses_every_xgmi_link():
    """A serving TP8 replica on the MI300X xGMI full mesh puts its all-reduces on all 56 links
    (seven per GPU, as RCCL's channels do), evenly; it was priced over one 64 GB/s peer link."""
    res = serve(topology={"preset": "mi300x-node", "gpu": None, "fabric": None},
                serve={"tp": 8, "replicas": 1}, workload={"requests": 20})
    links = res.tables["links"].to_pydict()
    xgmi = [b for c, b in zip(links["link_class"], links["bytes"]) if c == "nvlink"]
    assert len(xgmi) == 56 and min(xgmi) > 0
    assert max(xgmi) == pytest.approx(min(xgmi), rel=1e-6)


def test_queueing_is_never_negative_from_rounding():
    """scheduled - arrival - frontend of a request scheduled the instant its frontend finishes
    is rounding residue (-2e-17 s on the quickstart), clamped to 0."""
    from sim.app.runner import run
    from sim.config import load_config
    from pathlib import Path
    r = run(load_config(Path(__file__).resolve().parents[3] / "runs" / "quickstart-serving.toml"))
    q = np.asarray(r.tables["requests"]["queueing_s"])
    assert q.min() >= 0.0 and (q == 0.0).any()
    assert r.summary["queueing_mean_s"] >= 0.0


def test_an_empty_queue_is_exactly_zero_not_a_float_residue():
    """Requests that find their replica idle queue 0 s: measured from the instant they reached
    it, their queueing and its mean are exactly 0 (2.1e-16 s in a co-tenant summary before)."""
    res = serve(workload={"arrival": "poisson", "rate": 0.2, "requests": 20, "input_tokens": 2048, "output_tokens": 4})
    assert np.all(np.asarray(res.tables["requests"]["queueing_s"]) == 0.0)
    assert res.summary["queueing_mean_s"] == 0.0


def test_sliding_window_prefix_load_and_disagg_bytes_closed_form(monkeypatch):
    """gpt-oss-20b-shaped model (every other layer windowed, 128 tokens), bf16 KV: 49,152 B per
    token over its 24 layers. (1) A prefix entry brought back from host DRAM moves only the full
    layers' KV of its 512 tokens: prefix_load bytes = host/SSD hits x 512 x 0.5 x 49,152 per GPU
    (it moved the whole 512 x 49,152 before). (2) A disaggregated prompt of P tokens sends
    kv_tokens(P) = 0.5 P + 0.5 x 128 all-layer token slots."""
    from tests.workloads.serving.test_cost import GPT_OSS_20B
    from workloads.serving import kvcache
    moved = []
    acquire = kvcache.PrefixCache.acquire

    def spy(self, block_ids):
        tiers = acquire(self, block_ids)
        moved.append(sum(t != "hbm" for t in tiers))
        return tiers
    monkeypatch.setattr(kvcache.PrefixCache, "acquire", spy)
    model = {**GPT_OSS_20B, "preset": None}
    # vLLM's hybrid pool (TensorRT-LLM keeps every layer's KV: its prefix entries are whole, engines.toml)
    common = {"engine": "vllm", "scheduler": "orca", "precision": "bf16", "kv_precision": "bf16"}
    res = serve(topology={"gpus": 1}, model=model,
                serve={**common, "replicas": 1, "max_batch_size": 32, "prefix_cache": True,
                       "kv_capacity_tokens": 150000, "host_kv_GB": 200}, workload=MOONCAKE).summary
    per_token = 24 * 2 * 8 * 64 * 2
    assert sum(moved) > 0
    assert res["prefix_load_GB"] * 1e9 == pytest.approx(sum(moved) * 512 * 0.5 * per_token, rel=1e-9)
    P, n = 3000, 20
    dis = serve(topology={"gpus": 2}, model=model,
                serve={**common, "prefill_replicas": 1, "decode_replicas": 1, "kv_transfer": "whole"},
                workload={"arrival": "burst", "requests": n, "input_tokens": P, "output_tokens": 8}).summary
    assert dis["disagg_kv_GB"] * 1e9 == pytest.approx(n * (0.5 * P + 0.5 * 128) * per_token, rel=1e-9)


def test_a_request_larger_than_the_given_kv_capacity_names_that_key_not_the_memory_model():
    # --set serve.kv_capacity_tokens=10: the pool is the user's, so the error must name it (the
    # memory model's advice, "raise gpu_memory_utilization ... or set kv_capacity_tokens", misleads)
    with pytest.raises(InfeasibleError) as err:
        serve(serve={"kv_capacity_tokens": 100})
    assert err.value.key == "serve.kv_capacity_tokens"
    assert "kv_capacity_tokens = 100" in str(err.value) and "gpu_memory_utilization" not in str(err.value)


def test_kv_refusals_state_one_rule_with_its_numbers_at_the_block_boundary():
    # fresh27 #4: 256 + 32 = 288-token requests write the KV of 287 tokens (the last sampled one is
    # never fed back, vLLM V1 allocate_slots) = 18 blocks of 16. A pool short of 18 whole blocks is
    # refused naming the key the pool came from, with the rule's numbers; 8-token pages cannot help
    # (ceil(287 / 8) = 36 pages need 288 tokens, which hold 18 pages of 16 as well)
    for cap in (272, 280, 287):
        with pytest.raises(InfeasibleError) as err:
            serve(serve={"kv_capacity_tokens": cap})
        msg = str(err.value)
        assert err.value.key == "serve.kv_capacity_tokens", (cap, msg)
        assert "a request of 288 tokens (prompt + output) needs 287 KV token slots" in msg, msg
        assert "= 18 block(s) of 16; a replica holds 17 block(s)" in msg, msg
        assert "raise serve.kv_capacity_tokens to 288" in msg, msg
        assert "smaller" not in msg and "kv_block_tokens =" not in msg, msg
    serve(serve={"kv_capacity_tokens": 288})      # 18 whole blocks: runs
    # 64-token pages: ceil(287 / 64) = 5 blocks (320 tokens) do not fit 300 // 64 = 4, but
    # ceil(287 / 32) = 9 pages of 32 fit 300 // 32 = 9 (the old 289 slots needed 10): smaller blocks help
    with pytest.raises(InfeasibleError) as err:
        serve(serve={"kv_capacity_tokens": 300, "kv_block_tokens": 64})
    msg = str(err.value)
    assert err.value.key == "serve.kv_block_tokens", msg
    assert "needs 287 KV token slots" in msg and "= 5 block(s) of 64; a replica holds 4 block(s)" in msg, msg
    assert "set serve.kv_block_tokens = 32 (9 of the 9 blocks of 32 it leaves)" in msg, msg
    assert "raise serve.kv_capacity_tokens to 320" in msg, msg


@pytest.mark.parametrize("array_min", [None, 1])
@pytest.mark.parametrize("check_fits", [True, False])
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_pool_of_prompt_plus_output_minus_one_slots_serves_the_request_without_preemption(
        engine, check_fits, array_min, monkeypatch):
    # 257 + 32 tokens: the KV written is the prompt's 257 and the 31 fed-back output tokens (the
    # 32nd is sampled, never fed: vLLM V1 allocate_slots = num_computed_tokens + num_new_tokens),
    # 288 slots = exactly 18 blocks of 16. dcsim reserved prompt + output + 1 = 290 (19 blocks) and
    # refused this pool; one request at a time must now run to completion, never preempted. With
    # the fits check off the replica's own accounting is tested (the old one deadlocked: "no events
    # left"); array_min = 1 runs its array path (ARRAY_MIN_BATCH) on every batch
    from workloads.serving import deployment, replica
    if not check_fits:
        monkeypatch.setattr(deployment.Deployment, "_check_fits", lambda *a, **k: None)
    if array_min is not None:
        monkeypatch.setattr(replica, "ARRAY_MIN_BATCH", array_min)
    n = 4
    out = serve(serve={"engine": engine, "kv_capacity_tokens": 288, "max_batch_size": 8},
                workload={"arrival": "burst", "requests": n, "input_tokens": 257, "output_tokens": 32}).summary
    assert out["preemptions"] == 0
    assert out["requests"] == n, out


def test_trtllm_guaranteed_no_evict_reserves_prompt_plus_max_new_tokens():
    # TensorRT-LLM's GUARANTEED_NO_EVICT reserves ceil((prompt + max_new_tokens) / block) at
    # admission (getRemainingBlocksToCompletion): 257 + 32 = 289 tokens = 19 blocks of 16
    with pytest.raises(InfeasibleError) as err:
        serve(serve={"engine": "trtllm", "kv_capacity_tokens": 288},
              workload={"input_tokens": 257, "output_tokens": 32})
    assert "needs 289 KV token slots" in str(err.value) and "reserved at admission" in str(err.value)


def test_a_given_kv_capacity_beyond_hbm_names_that_key():
    # --set serve.kv_capacity_tokens=100000000000 (a pool of 6.5 PB on an 80 GB GPU) was refused
    # under serve.gpu_memory_utilization, a key the config never set
    with pytest.raises(InfeasibleError) as err:
        serve(serve={"kv_capacity_tokens": 10**11})
    assert err.value.key == "serve.kv_capacity_tokens"
    assert "kv_cache" in str(err.value) and "of HBM" in str(err.value)


def test_a_draft_vocabulary_beyond_the_models_is_refused():
    # --set serve.speculative.draft_vocab=10000000000 ran, costing a drafter head of 10 billion rows
    # (usd_per_Mtoken 5,310 against 1.5) for tokens the target (128,256 of them) cannot verify
    spec = {"method": "eagle", "tokens": 3, "acceptance": 0.5}
    with pytest.raises(ConfigError) as err:
        serve(serve={"speculative": {**spec, "draft_vocab": 10**10}}, workload={"requests": 4})
    assert err.value.key == "serve.speculative.draft_vocab" and "128,256" in str(err.value)
    with pytest.raises(ConfigError):
        serve(serve={"speculative": {**spec, "draft_vocab": 128_257}}, workload={"requests": 4})
    for vocab in (32_000, 128_256):          # EAGLE-3's reduced head, and the whole vocabulary
        assert serve(serve={"speculative": {**spec, "draft_vocab": vocab}}, workload={"requests": 4}).summary["requests"] == 4


@pytest.mark.parametrize("engine,gpu", [("trtllm", "MI300X"), ("trtllm-serve", "TPU-v4")])
def test_tensorrt_llm_on_a_gpu_it_has_no_build_for_is_refused(engine, gpu):
    # --set serve.engine=trtllm --set topology.gpu=MI300X ran as if TensorRT-LLM (a CUDA library) ran on AMD
    with pytest.raises(ConfigError) as err:
        serve(topology={"gpu": gpu}, serve={"engine": engine, "precision": "bf16", "kv_precision": "bf16"},
              workload={"requests": 4})
    assert err.value.key == "serve.engine" and "NVIDIA" in str(err.value)
    # the engines that run on it still do
    ok = serve(topology={"gpu": gpu}, serve={"engine": "vllm", "precision": "bf16", "kv_precision": "bf16"},
               workload={"requests": 4})
    assert ok.summary["requests"] == 4


def test_graph_sizes_above_the_largest_decode_batch_are_warned_about(capsys):
    # --set serve.cuda_graph_batch_sizes=[4096] ran silently: the engine drops the size (and
    # TensorRT-LLM pads every larger decode batch to the limit, 7x the TPOT of the quickstart)
    from workloads.serving import deployment
    deployment._WARNED.clear()
    serve(serve={"cuda_graph_batch_sizes": [8, 4096], "max_batch_size": 64, "engine": "trtllm"})
    err = capsys.readouterr().err
    assert "serve.cuda_graph_batch_sizes [4096] exceed the largest decode batch" in err
    assert "pads every larger decode batch to 64 rows" in err and err.count("cuda_graph_batch_sizes") == 1
    serve(serve={"cuda_graph_batch_sizes": [8, 64], "max_batch_size": 64, "engine": "trtllm"})
    assert "cuda_graph_batch_sizes" not in capsys.readouterr().err


@pytest.mark.parametrize("key, value", [("expert_precision", "fp8"), ("expert_compute_precision", "fp8"),
                                        ("moe_backend", "marlin"), ("moe_backend", "cutlass")])
def test_expert_precisions_on_a_dense_model_are_an_error_even_at_serve_precision(key, value):
    """serve.expert_precision / expert_compute_precision equal to serve.precision on a dense model
    used to pass silently (only a differing value reached the cost model's check); serve.moe_backend
    on a dense model was accepted without effect."""
    with pytest.raises(ConfigError) as e:
        serve(serve={"precision": "fp8", key: value}, workload={"requests": 2})
    assert e.value.key == f"serve.{key}" and "no routed experts" in str(e.value)


def test_weights_that_do_not_fit_name_serve_tp_and_the_expert_precision():
    """GPT-OSS-120B at FP8 on one H100: the error names serve.tp (not the last expert key looked at)
    and points at serve.expert_precision (its checkpoint's MXFP4 experts fit one 80 GB GPU)."""
    with pytest.raises(InfeasibleError) as e:
        serve(model={"preset": "gpt-oss-120b"}, workload={"requests": 2})
    assert e.value.key == "serve.tp" and "serve.expert_precision" in str(e.value)
    res = serve(model={"preset": "gpt-oss-120b"}, serve={"expert_precision": "mxfp4"}, workload={"requests": 2})
    assert res.summary["requests"] == 2


def test_fp8_serving_without_fp8_tensor_cores_is_warned_about(capsys):
    # an A100 has no fp8 tensor cores: fp8 ran silently as weight-only FP8 (W8A16) at the bf16 rate
    from workloads.serving import deployment
    deployment._WARNED.clear()
    a100 = {"topology": {"gpu": "A100-SXM-80GB"}, "workload": {"requests": 5}}
    fp8 = serve(serve={"precision": "fp8"}, **a100)
    err = capsys.readouterr().err
    assert "warning: serve.precision = 'fp8' on A100-SXM-80GB, which has no fp8 tensor cores" in err
    assert "weight-only" in err
    bf16 = serve(serve={"precision": "bf16"}, **a100)
    assert "serve.precision" not in capsys.readouterr().err
    assert fp8.summary["tpot_p50_s"] < bf16.summary["tpot_p50_s"]     # what it models: 1-byte weight reads
    serve(serve={"precision": "fp8"}, workload={"requests": 5})      # H100: fp8 tensor cores, no warning
    assert "serve.precision" not in capsys.readouterr().err


def test_the_summary_carries_the_replicas_layout_as_resolved():
    dense = serve(serve={"tp": 2, "precision": "bf16"}, workload={"requests": 5})
    s = dense.summary
    assert (s["tp"], s["ep"], s["dp_attention"], s["precision"], s["kv_precision"]) == (2, 1, False, "bf16", "fp8")
    assert s["expert_precision"] is None                              # a dense model has no experts
    assert dense.tables["summary"].schema.field("expert_precision").type == "string"
    moe = {"model": {"preset": "qwen3-30b-a3b"}, "workload": {"requests": 5}}
    a = serve(serve={"tp": 2, "dp_attention": True, "precision": "fp8"}, **moe).summary
    assert (a["ep"], a["dp_attention"], a["expert_precision"]) == (2, True, "fp8")   # ep = tp
    b = serve(serve={"tp": 2, "ep": 2, "precision": "bf16", "expert_precision": "fp8"}, **moe).summary
    assert (b["ep"], b["dp_attention"], b["precision"], b["expert_precision"]) == (2, False, "bf16", "fp8")


def test_the_summary_gives_each_roles_tp_and_ep():
    # with prefill_tp != decode_tp the ep column showed only the decode side's; the per-role
    # columns give both (co-located: both the replica's)
    moe = {"model": {"preset": "qwen3-30b-a3b"}, "workload": {"requests": 6, "input_tokens": 128, "output_tokens": 8}}
    d = serve(serve={"dp_attention": True, "prefill_tp": 2, "decode_tp": 4, "prefill_replicas": 2,
                     "decode_replicas": 1}, **moe).summary
    assert (d["prefill_tp"], d["decode_tp"], d["prefill_ep"], d["decode_ep"], d["ep"]) == (2, 4, 2, 4, 4)
    c = serve(serve={"tp": 2, "ep": 2}, **moe).summary
    assert (c["prefill_tp"], c["decode_tp"], c["prefill_ep"], c["decode_ep"]) == (2, 2, 2, 2)
    dense = serve(serve={"tp": 4, "prefill_tp": 1, "prefill_replicas": 4, "decode_replicas": 1},
                  workload={"requests": 4}).summary
    assert (dense["tp"], dense["prefill_tp"], dense["decode_tp"], dense["prefill_ep"], dense["decode_ep"]) == (4, 1, 4, 1, 1)


def test_mmha_chunked_decode_only_on_trtllm_hopper_over_the_chunk():
    """TensorRT-LLM runs Llama 4's chunked layers' generation attention with MMHA only where XQA is
    its generation kernel (Hopper: compute.toml xqa_decode) and the run's longest sequence exceeds
    the chunk (PR #6306); Blackwell, other engines, short runs and unchunked models keep XQA's reads."""
    from types import SimpleNamespace

    import numpy as np

    from sim.config import load_config
    from sim.hardware import gpu
    from workloads.model import ModelSpec
    from workloads.serving import engines
    from workloads.serving.cost import IterationCost
    from workloads.serving.deployment import Deployment

    def weight(preset, g, engine, isl, osl, **model):
        cfg = load_config(data={"model": {"preset": preset, **model}})
        spec = ModelSpec.from_section(cfg.model)
        cost = IterationCost(spec, gpu(g), "fp8", "fp8", tp=8, schedule_overhead_s=1e-9)
        stream = type("Stream", (), {"input_tokens": np.array([isl, 10]), "output_tokens": np.array([osl, 10]),
                                     "__len__": lambda self: 2})()
        stub = SimpleNamespace(engine=engines.profile(engine), gpu=gpu(g), stream=stream, cfg=cfg)
        Deployment._chunked_decode_kernel(stub, cost)
        return cost.decode_chunk_weight

    assert weight("llama4-maverick", "H200-SXM-141GB", "trtllm", 1024, 8192) > 1.0
    assert weight("llama4-maverick", "H100-SXM-80GB", "trtllm", 20000, 2000) >= 1.0
    assert weight("llama4-maverick", "H200-SXM-141GB", "trtllm-serve", 1024, 8192) > 1.0
    # trtllm-serve sizes max_seq_len by the model (max_position_embeddings: Scout 10,485,760), not the
    # workload: short requests still decode the chunked layers with MMHA; trtllm-bench's dataset-sized
    # max_seq_len keeps XQA for them
    assert weight("llama4-scout", "H100-SXM-80GB", "trtllm-serve", 128, 128) > 1.0
    assert weight("llama4-scout", "H100-SXM-80GB", "trtllm", 128, 128) == 1.0
    assert weight("llama4-maverick", "H200-SXM-141GB", "trtllm-serve", 1024, 1024) > 1.0
    # a model that declares no max context (or one within the chunk): the workload's, as trtllm-bench
    assert weight("llama4-scout", "H100-SXM-80GB", "trtllm-serve", 128, 128, max_context=None) == 1.0
    assert weight("llama4-scout", "H100-SXM-80GB", "trtllm-serve", 128, 128, max_context=8192) == 1.0
    # MMHA's grid bound follows the batch's longest past (within the chunk), not max_seq_len: a short run
    # on trtllm-serve costs what trtllm-bench's >8K-max_seq_len run of the same short requests would
    assert weight("llama4-scout", "H100-SXM-80GB", "trtllm-serve", 128, 128) == \
        weight("llama4-scout", "H100-SXM-80GB", "trtllm", 128, 128, attention_chunk=200)
    assert weight("llama4-maverick", "H200-SXM-141GB", "trtllm", 1024, 7168) == 1.0    # max_seq_len <= chunk: XQA
    assert weight("llama4-maverick", "B200-180GB", "trtllm", 1024, 8192) == 1.0       # Blackwell: trtllm-gen
    assert weight("llama4-maverick", "H200-SXM-141GB", "vllm", 1024, 8192) == 1.0
    assert weight("llama3-70b", "H200-SXM-141GB", "trtllm", 1024, 8192) == 1.0        # no chunked attention


def test_requests_beyond_model_max_context_are_warned_about(capsys):
    """model.max_context below some of the workload's prompt + output ran silently: an engine sized by the
    model refuses or stops such requests, dcsim serves them whole; one warning names the key and the count."""
    from workloads.serving import deployment
    deployment._WARNED.clear()
    w = {"requests": 40, "input_tokens": {"dist": "uniform", "min": 500, "max": 1500}, "output_tokens": 100}
    serve(model={"max_context": 1050}, workload=w)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "max_context" in line]
    assert len(lines) == 1 and "of 40 requests run past model.max_context = 1,050 tokens" in lines[0], err
    assert not lines[0].startswith("warning: 40 of 40")
    w = {"requests": 4, "input_tokens": 1000, "output_tokens": 100}
    serve(model={"max_context": 1100}, workload=w)        # prompt + output = the context: fits
    serve(workload=w)                                      # the preset's 131,072: far above
    assert "max_context" not in capsys.readouterr().err


def test_a_workload_whose_every_request_exceeds_max_context_is_refused(tmp_path, capsys):
    """Every request past model.max_context was a warning and a run of a deployment that cannot exist (an
    engine sized by the model serves none of them): now a ConfigError naming model.max_context and the
    lengths, exit 2 from dcsim run."""
    from sim.app.cli import main
    w = {"requests": 4, "input_tokens": 1000, "output_tokens": 100}
    with pytest.raises(ConfigError) as e:
        serve(model={"max_context": 1050}, workload=w)
    assert e.value.key == "model.max_context"
    assert "every request runs past model.max_context = 1,050 tokens" in str(e.value)
    assert "1,100 tokens" in str(e.value)
    # a preset's declared context: Mixtral's 32,768 under 40,000-token prompts, from the command line
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nkind = "serve"\nname = "m"\n[topology]\ngpu = "H100-SXM-80GB"\ngpus = 8\nfabric = "none"\n'
                   '[model]\npreset = "mixtral-8x7b"\n[serve]\ntp = 8\n'
                   '[workload]\narrival = "burst"\nrequests = 2\ninput_tokens = 40000\noutput_tokens = 10\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model.max_context" in err and "32,768" in err and "40,010 tokens" in err, err


def test_a_weight_only_moe_backend_on_experts_with_their_own_mma_is_warned_about(capsys):
    """serve.moe_backend = marlin / triton prices only weight-only experts (weights narrower than their
    MMA): on GPT-OSS-120B's MXFP4 experts at bf16 on an H200 it runs quietly; with the experts at FP8
    (their own MMA) it has no effect, which used to pass silently."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()      # the config's warning (sim.config.ineffective_settings), before the run
    oss = {"model": {"preset": "gpt-oss-120b"}, "topology": {"gpu": "H200-SXM-141GB"}, "workload": {"requests": 2}}
    serve(serve={"precision": "bf16", "expert_precision": "mxfp4", "moe_backend": "marlin"}, **oss)
    assert "serve.moe_backend" not in capsys.readouterr().err
    serve(serve={"precision": "fp8", "expert_precision": "fp8", "moe_backend": "marlin"}, **oss)
    err = capsys.readouterr().err
    assert "warning: serve.moe_backend = 'marlin' (a weight-only MoE kernel) has no effect" in err


def test_async_scheduling_without_host_time_to_hide_changes_nothing():
    """serve.async_scheduling = true on an engine whose profile exposes no per-step CPU (TensorRT-LLM:
    step_us = step_us_per_seq = 0, its overlap is overlap_us_per_seq) changes nothing, as the config's
    warning says before the run (tests/test_config.py); with serve.schedule_overhead_us it hides that time."""
    def summary(**serve_keys):
        r = serve(serve={"engine": "trtllm", **serve_keys}, workload={"requests": 2}).summary
        return {k: v for k, v in r.items() if k != "wall_s"}
    assert summary(async_scheduling=True) == summary(async_scheduling=False)
    assert summary(async_scheduling=True, schedule_overhead_us=300.0) != \
        summary(async_scheduling=False, schedule_overhead_us=300.0)


def test_trtllm_gen_moe_backend_without_fp4_tensor_cores_is_warned_about(capsys):
    """serve.moe_backend = 'trtllm_gen' is priced on GPUs with FP4 tensor cores only (calibration.toml
    [fused_moe] trtllm_gen_*): on an H100 it changed nothing, silently; on a B200 it runs quietly."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()      # the config's warning (sim.config.ineffective_settings), before the run
    moe = {"model": {"preset": "mixtral-8x7b"}, "workload": {"requests": 2}}
    serve(serve={"precision": "fp8", "moe_backend": "trtllm_gen"}, **moe)
    assert ("warning: serve.moe_backend = 'trtllm_gen' has no effect: H100-SXM-80GB has no FP4 tensor cores"
            in capsys.readouterr().err)
    serve(serve={"precision": "fp8", "moe_backend": "trtllm_gen"}, topology={"gpu": "B200-180GB"}, **moe)
    assert "serve.moe_backend" not in capsys.readouterr().err


def test_cutlass_moe_backend_where_its_terms_do_not_apply_is_warned_about(capsys):
    """serve.moe_backend = 'cutlass' is priced (calibration.toml [fused_moe] cutlass_fp4_*) for FP4 experts on
    GPUs with FP4 tensor cores: FP8 experts on an H100 or a B200 under vLLM ran the dense curve silently;
    FP4 experts on a B200 take its terms quietly, and TensorRT-LLM, whose default it is, does not warn."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()      # the config's warning (sim.config.ineffective_settings), before the run
    moe = {"model": {"preset": "mixtral-8x7b"}, "workload": {"requests": 2}}
    for gpu in ("H100-SXM-80GB", "B200-180GB"):
        config._WARNED_INEFFECTIVE.clear()
        serve(serve={"precision": "fp8", "moe_backend": "cutlass"}, topology={"gpu": gpu}, **moe)
        assert "warning: serve.moe_backend = 'cutlass' has no effect" in capsys.readouterr().err
    serve(serve={"precision": "fp4", "moe_backend": "cutlass"}, topology={"gpu": "B200-180GB"}, **moe)
    serve(serve={"precision": "fp8", "moe_backend": "cutlass", "engine": "trtllm"}, **moe)
    assert "serve.moe_backend" not in capsys.readouterr().err


@pytest.mark.parametrize("gpu", ["H100-SXM-80GB", "B200-180GB"])
def test_the_config_s_expert_kernel_is_the_cost_model_s(gpu):
    """The config decides whether serve.moe_backend has any effect before the run (sim.config.expert_kernel,
    its warnings): the experts' MMA and whether they run weight-only must be what the replica's cost model
    prices, for every combination of weight, expert and expert-MMA precision a GPU takes."""
    from sim import config
    from sim.app.validation.serving import deployment
    from sim.hardware import gpu as gpu_spec
    from .serving_helpers import BASE, merge
    fp4 = gpu_spec(gpu).has_tensor_rate("fp4")
    seen = set()
    for precision in ("bf16", "fp8", "fp4"):
        for expert in (None, "bf16", "fp8", "fp4", "mxfp4"):
            for mma in (None, "bf16", "fp8", "mxfp8", "fp4"):
                data = merge(BASE, {"topology": {"gpu": gpu}, "model": {"preset": "mixtral-8x7b"},
                                    "serve": {"tp": 8, "precision": precision, "expert_precision": expert,
                                              "expert_compute_precision": mma}, "workload": {"requests": 1}})
                try:
                    cfg = config.load_config(data=data)
                    cost = deployment(cfg).cost
                except (ConfigError, InfeasibleError):
                    continue        # a precision the GPU or the experts' weights do not take
                assert config.expert_kernel(cfg.serve, fp4) == (cost.expert_mma, cost.weight_only_experts), \
                    (precision, expert, mma)
                seen.add(cost.weight_only_experts)
    assert seen == {True, False}


def test_moe_backend_names_agree_with_the_kernels_modelled():
    """serve.moe_backend's allowed names are listed three times (the config's Literal, fused_moe.BACKENDS
    for the fused-MoE classes, cost.MIXED_INPUT_KERNELS for the weight-only kernels): each name reaches
    exactly one of the two setters in Deployment."""
    import typing
    from sim.config import ServeSection
    from workloads.serving import fused_moe
    from workloads.serving.cost import MIXED_INPUT_KERNELS
    ann = ServeSection.model_fields["moe_backend"].annotation
    names = {a for arg in typing.get_args(ann) for a in typing.get_args(arg)}
    classes = set(fused_moe.BACKENDS) - {""}
    assert names == classes | set(MIXED_INPUT_KERNELS) and not classes & set(MIXED_INPUT_KERNELS)
    from workloads.serving.engines import MOE_BACKENDS
    assert set(MOE_BACKENDS) == names and len(MOE_BACKENDS) == len(names)


def test_a_moe_backend_the_engine_does_not_have_is_refused():
    """serve.moe_backend names a kernel of the engine's (engines.toml moe_backends): TensorRT-LLM has no
    Marlin MoE (MoeConfig.backend: CUTLASS, CUTEDSL, WIDEEP, TRTLLM, DEEPGEMM, VANILLA, TRITON), so
    marlin on trtllm / trtllm-serve used to run vLLM's kernel silently; vLLM runs it."""
    from sim.errors import ConfigError
    oss = {"model": {"preset": "gpt-oss-120b"}, "topology": {"gpu": "H200-SXM-141GB"}, "workload": {"requests": 2}}
    marlin = {"precision": "bf16", "expert_precision": "mxfp4", "moe_backend": "marlin"}
    for engine in ("trtllm", "trtllm-serve"):
        with pytest.raises(ConfigError) as e:
            serve(serve={**marlin, "engine": engine}, **oss)
        assert e.value.key == "serve.moe_backend" and f"engine {engine!r} has no 'marlin' MoE kernel" in str(e.value)
    serve(serve={**marlin, "engine": "vllm"}, **oss)
    serve(serve={**marlin, "engine": "trtllm", "moe_backend": "triton"}, **oss)
    # the config refuses both before the run (sim.config.serve_refusal); the deployment asks the same
    # rule again for a config changed after it was validated (the Python API)
    from sim.app.runner import run
    from sim.config import load_config
    from .serving_helpers import BASE, merge
    cfg = load_config(data=merge(BASE, {"serve": {**marlin, "engine": "vllm"}, **oss}))
    cfg.serve.engine = "trtllm"
    with pytest.raises(ConfigError) as e:
        run(cfg)
    assert e.value.key == "serve.moe_backend" and "engine 'trtllm' has no 'marlin' MoE kernel" in str(e.value)


@pytest.mark.parametrize("bad", [[], ["cutlas"], "cutlass", [1]])
def test_engine_moe_backends_edited_wrong_are_refused(monkeypatch, bad):
    """engines.toml moe_backends edited to an empty list, a misspelled name or a non-list is refused naming
    the engine, not carried into every MoE run; a list without the engine's fused_moe_backend too."""
    from sim.errors import ConfigError
    from workloads.serving import engines
    data = {k: dict(v) for k, v in engines._data().items()}
    data["trtllm"]["moe_backends"] = bad
    monkeypatch.setattr(engines, "_data", lambda: data)
    with pytest.raises(ConfigError, match="moe_backends"):
        engines.profile("trtllm")
    data["trtllm"]["moe_backends"] = ["trtllm_gen", "triton"]          # without its default, cutlass
    with pytest.raises(ConfigError, match="fused_moe_backend = 'cutlass' is not among its moe_backends"):
        engines.profile("trtllm")


def test_a_wide_ep_replica_on_the_engines_default_limits_is_warned_about(capsys):
    # DeepSeek-R1 over a GB200 NVL72 rack (dp_attention, tp = 72) on the engine's default 8,192 batch
    # tokens ran silently with 113 prompt tokens per rank and step: TTFTs of a minute, a quarter of the
    # throughput of nine 8-GPU replicas. The limits are the replica's, split over its ranks.
    from sim.app.runner import run
    from sim.config import load_config
    from workloads.serving import deployment

    def wide(**limits):
        data = {"run": {"kind": "serve", "name": "t"},
                "topology": {"preset": "dgx-h100-superpod", "gpus": 16, "fabric": "rail-optimized"},
                "model": {"preset": "qwen3-30b-a3b"},
                "serve": {"dp_attention": True, "tp": 16, "engine": "sglang", **limits},
                "workload": {"arrival": "closed", "concurrency": 16, "requests": 16, "input_tokens": 128,
                             "output_tokens": 4}}
        return run(load_config(data=data))

    deployment._WARNED.clear()
    wide()
    err = capsys.readouterr().err
    assert "each of its 16 attention-DP ranks runs at most" in err and "per-rank limits x 16" in err
    assert "serve.max_batch_tokens and serve.max_batch_size unset" in err
    # limits given for the replica, or a replica of one server: nothing to say
    wide(max_batch_tokens=16 * 8192, max_batch_size=16 * 64)
    wide(tp=8, replicas=2)
    assert "attention-DP ranks" not in capsys.readouterr().err
