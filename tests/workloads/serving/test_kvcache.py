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
