"""Paged KV cache and prefix tiers: capacity is never exceeded; LRU demotes HBM -> host -> SSD."""

from hypothesis import given, settings, strategies as st
import pytest

from sim.errors import SimulationError
from workloads.serving.kvcache import KVCache, PrefixCache, blocks_for


def test_blocks_for():
    assert blocks_for(1, 16) == 1 and blocks_for(16, 16) == 1 and blocks_for(17, 16) == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alloc", "free", "insert", "acquire", "release"]),
                          st.integers(0, 40), st.lists(st.integers(0, 12), max_size=6)), max_size=80))
def test_used_plus_cached_never_exceed_capacity(ops):
    kv = KVCache(64, 16)
    pc = PrefixCache(kv, 64, 1.0, host_bytes=64 * 3, ssd_bytes=64 * 2)   # entry = 4 blocks
    held = []
    pinned = []
    for op, n, ids in ops:
        if op == "alloc":
            if kv.free >= n or pc.reclaim(n):
                kv.allocate(n)
                held.append(n)
            else:
                with pytest.raises(SimulationError):
                    kv.allocate(n + kv.free + 1)
        elif op == "free" and held:
            kv.release(held.pop())
        elif op == "insert" and held:
            taken = len(pc.insert(ids, pin=False)) * pc.entry_blocks
            # blocks moved from a request to the cache are no longer the request's
            while taken > 0 and held:
                give = min(taken, held[-1])
                held[-1] -= give
                taken -= give
                if held[-1] == 0:
                    held.pop()
        elif op == "acquire":
            got = pc.acquire(ids)
            pinned.append(ids[:len(got)])
        elif op == "release" and pinned:
            pc.release(pinned.pop())
        assert 0 <= kv.used and 0 <= kv.cached
        assert kv.used + kv.cached <= kv.capacity
        assert kv.cached == len(pc.hbm) * pc.entry_blocks
        assert len(pc.host) <= pc.host_slots and len(pc.ssd) <= pc.ssd_slots
        assert not (set(pc.hbm) & set(pc.host)) and not (set(pc.host) & set(pc.ssd))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alloc", "insert", "insert_pinned", "acquire", "release", "reclaim"]),
                          st.integers(0, 40), st.lists(st.integers(0, 12), max_size=6)), max_size=80))
def test_unpinned_count_equals_a_scan_of_the_entries(ops):
    # evictable_blocks reads a running count of unpinned HBM entries (kept as pins change): it
    # equals counting the entries with no pin, after every kind of change
    kv = KVCache(64, 16)
    pc = PrefixCache(kv, 64, 1.0, host_bytes=64 * 3, ssd_bytes=64 * 2)   # entry = 4 blocks
    pinned = []
    for op, n, ids in ops:
        if op == "alloc" and (kv.free >= n or pc.reclaim(n)):
            kv.allocate(n)
        elif op in ("insert", "insert_pinned"):
            got = pc.insert(ids, pin=op == "insert_pinned")
            if op == "insert_pinned":
                pinned.append(got)
        elif op == "acquire":
            got = pc.acquire(ids)
            pinned.append(ids[:len(got)])
        elif op == "release" and pinned:
            pc.release(pinned.pop())
        elif op == "reclaim":
            pc.reclaim(n)
        scan = sum(1 for pins in pc.hbm.values() if pins == 0)
        assert pc.unpinned == scan
        assert pc.evictable_blocks() == scan * pc.entry_blocks


def test_lru_demotion_through_tiers():
    kv = KVCache(8, 16)
    pc = PrefixCache(kv, 64, 1.0, host_bytes=64, ssd_bytes=64)          # 2 entries in HBM, 1 host, 1 SSD
    kv.allocate(8)
    assert pc.insert([1, 2], pin=False) == [1, 2] and kv.used == 0 and kv.cached == 8
    kv.allocate(0)
    assert pc.reclaim(4)                      # evicts LRU entry 1 to host
    assert pc.tier_of(1) == "host" and pc.tier_of(2) == "hbm"
    assert pc.reclaim(8)                      # evicts 2 to host, pushing 1 to SSD
    assert pc.tier_of(1) == "ssd" and pc.tier_of(2) == "host"
    assert pc.match([2, 1, 3]) == ["host", "ssd"]
    assert pc.demoted_bytes == 2 * 64


def test_pinned_entries_are_not_evicted():
    kv = KVCache(8, 16)
    pc = PrefixCache(kv, 64, 1.0)
    kv.allocate(8)
    pc.insert([5, 6])                         # pinned by the request that computed them
    assert not pc.reclaim(4)
    pc.release([5, 6])
    pc.acquire([5])
    assert pc.reclaim(4) and pc.tier_of(5) == "hbm" and pc.tier_of(6) is None
    assert not pc.reclaim(8)                  # only the pinned entry is left


def test_windowed_prefix_entries_keep_only_full_attention_layers():
    """Issue 12: a prefix entry of a sliding-window model kept its 512 tokens on every layer, so a
    request's own blocks (windowed layers capped at the window) could turn only half of its prefix
    into entries (GPT-OSS-like: every other layer windowed at 128, 16-token blocks)."""
    from tests.workloads.serving.test_cost import _windowed
    c = _windowed()
    assert c.full_fraction == 0.5
    prompt = 8192                                   # 16 prefix blocks of 512 tokens
    own = c.kv_blocks(prompt, 16)                   # layer-averaged: 256 full-layer + 4 windowed-layer blocks
    assert own == 260
    kv = KVCache(1000, 16)
    kv.allocate(own)
    pc = PrefixCache(kv, 512, c.kv_token_gpu, full_fraction=c.full_fraction)
    assert pc.entry_blocks == 16 and pc.entry_bytes == pytest.approx(256 * c.kv_token_gpu)
    added = pc.insert(range(16)[: own // pc.entry_blocks])
    assert len(added) == 16                         # the whole prefix is cached (8 before)
    assert kv.cached == 256 and kv.used == 4        # the windowed layers' window stays with the request
    assert PrefixCache(kv, 512, 1.0).entry_blocks == 32       # no window: every layer, as before


def test_windowed_model_deployment_builds_window_aware_prefix_cache():
    import topologies
    from sim.app.runner import build_fabric
    from sim.config import load_config
    from sim.simulation import Simulation
    from tests.workloads.serving.serving_helpers import BASE, merge
    from tests.workloads.serving.test_cost import GPT_OSS_20B
    from workloads.serving.deployment import Deployment
    from workloads.serving.requests import build_stream
    wl = {"arrival": "trace", "trace": "mooncake_fast25_conversation_trace.jsonl", "requests": 20,
          "time_scale": 1.0, "input_tokens": None, "output_tokens": None}
    cfg = load_config(data=merge(BASE, {"model": {**GPT_OSS_20B, "preset": None}, "workload": wl,
                                        "serve": {"replicas": 1, "prefix_cache": True}}))
    sim = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    dep = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))
    pc = dep.replicas[0].prefix
    assert pc.entry_blocks == 512 // 2 // cfg.serve.kv_block_tokens      # half the layers keep the prefix


def test_prefix_load_bytes_are_the_entries_kept_closed_form():
    """A host / SSD hit brings back what the entry holds: prefix_tokens x full_fraction x bytes per
    token (a sliding-window model keeps only its full-attention layers' KV of an old prefix block)."""
    from workloads.serving.kvcache import KVCache, PrefixCache
    bpt = 49152.0                                   # gpt-oss-20b bf16: 24 layers x 2 x 8 x 64 x 2 B
    for f in (1.0, 0.5):
        pc = PrefixCache(KVCache(1000, 16), 512, bpt, host_bytes=1e12, ssd_bytes=1e12, full_fraction=f)
        nbytes, ssd = pc.load_bytes(["hbm", "host", "ssd", "host"])
        assert nbytes == pytest.approx(3 * 512 * f * bpt) and ssd == pytest.approx(512 * f * bpt)
