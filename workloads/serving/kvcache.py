"""The paged KV cache of one replica, and its prefix cache over HBM, host DRAM and SSD tiers.

Vocabulary:
- block: ``block_tokens`` tokens of KV for every layer the replica holds (vLLM's page).
- ``KVCache``: ``capacity`` blocks; ``used`` blocks owned by running requests, ``cached`` blocks
  held by prefix-cache entries in HBM (reusable, evictable when no request pins them).
  ``free = capacity - used - cached``. Invariant: ``used + cached <= capacity``, checked on
  every change (a violation raises ``SimulationError``).
- prefix entry: the KV of one prefix block of a trace (``prefix_tokens`` tokens, 512 in Mooncake)
  keyed by its hash id. It lives in one tier: ``hbm`` (costs HBM blocks), ``host`` or ``ssd``
  (bytes against ``host_bytes`` / ``ssd_bytes``). Each tier is an LRU; evicting from HBM demotes
  to host, from host to SSD, from SSD drops. A hit on host or SSD costs a transfer to HBM.
- pin: a running request that reuses HBM entries pins them (reference count) so they are not
  evicted under it.
- sliding windows (``full_fraction`` f < 1: the share of layers that attend the whole context):
  a windowed layer keeps only its last window of KV (vLLM's hybrid KV cache manager frees the
  blocks that leave it), so what a prefix entry keeps for a chain of prefix blocks is the
  full-attention layers' KV of its ``prefix_tokens``: f x ``prefix_tokens`` all-layer token
  slots (``entry_blocks``, ``entry_bytes``). The windowed layers' last window stays with the
  request that computed it (``IterationCost.kv_blocks`` counts it), as do their blocks on a hit.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from sim.errors import SimulationError


def blocks_for(tokens: int, block_tokens: int) -> int:
    return -(-int(tokens) // block_tokens)


class KVCache:
    """Block accounting of one replica's HBM KV pool."""

    __slots__ = ("capacity", "block_tokens", "used", "cached", "peak_used")

    def __init__(self, capacity_blocks: int, block_tokens: int):
        self.capacity = int(capacity_blocks)
        self.block_tokens = int(block_tokens)
        self.used = 0
        self.cached = 0
        self.peak_used = 0

    @property
    def free(self) -> int:
        return self.capacity - self.used - self.cached

    def allocate(self, blocks: int) -> None:
        if blocks < 0 or blocks > self.free:
            raise SimulationError(f"KV allocation of {blocks} blocks exceeds free {self.free} "
                                  f"(capacity {self.capacity}, used {self.used}, cached {self.cached})")
        self.used += blocks
        if self.used + self.cached > self.peak_used:
            self.peak_used = self.used + self.cached

    def release(self, blocks: int) -> None:
        if blocks < 0 or blocks > self.used:
            raise SimulationError(f"KV release of {blocks} blocks but only {self.used} in use")
        self.used -= blocks


class PrefixCache:
    """Prefix-block entries in HBM (sharing the replica's ``KVCache``), host DRAM and SSD."""

    def __init__(self, kv: KVCache, prefix_tokens: int, bytes_per_token: float,
                 host_bytes: float = 0.0, ssd_bytes: float = 0.0, full_fraction: float = 1.0):
        if not 0.0 <= full_fraction <= 1.0:
            raise SimulationError(f"full_fraction {full_fraction} outside [0, 1]")
        self.kv = kv
        self.prefix_tokens = int(prefix_tokens)
        # all-layer token slots an entry keeps: the full-attention layers' share (see the module)
        slots = math.ceil(prefix_tokens * full_fraction - 1e-9)
        self.entry_blocks = max(blocks_for(slots, kv.block_tokens), 1)
        self.entry_bytes = float(prefix_tokens) * full_fraction * bytes_per_token
        self.host_slots = int(host_bytes // self.entry_bytes) if self.entry_bytes > 0 else 0
        self.ssd_slots = int(ssd_bytes // self.entry_bytes) if self.entry_bytes > 0 else 0
        self.hbm: OrderedDict[int, int] = OrderedDict()    # id -> pins
        self.unpinned = 0                                  # HBM entries with no pin (evictable)
        self.host: OrderedDict[int, None] = OrderedDict()
        self.ssd: OrderedDict[int, None] = OrderedDict()
        self.demoted_bytes = 0.0                           # HBM -> host copies (offload traffic)
        self.hits = {"hbm": 0, "host": 0, "ssd": 0}

    def load_bytes(self, tiers) -> tuple[float, float]:
        """Bytes per GPU that bring entries found in ``tiers`` ("host" / "ssd"; "hbm" costs
        nothing) back to HBM, and the part of them read from SSD first: ``entry_bytes`` each, the
        full-attention layers' KV of ``prefix_tokens`` tokens (a windowed layer's KV of an old
        prefix block is gone from every tier: it left the window)."""
        host = sum(t == "host" for t in tiers)
        ssd = sum(t == "ssd" for t in tiers)
        return (host + ssd) * self.entry_bytes, ssd * self.entry_bytes

    def tier_of(self, block_id: int) -> str | None:
        if block_id in self.hbm:
            return "hbm"
        if block_id in self.host:
            return "host"
        if block_id in self.ssd:
            return "ssd"
        return None

    def match(self, block_ids) -> list[str]:
        """Tiers of the longest cached prefix of ``block_ids`` (stops at the first miss)."""
        tiers = []
        for b in block_ids:
            t = self.tier_of(int(b))
            if t is None:
                break
            tiers.append(t)
        return tiers

    def acquire(self, block_ids) -> list[str]:
        """Pin the matched prefix in HBM for a request: host/SSD entries are promoted (the caller
        pays their transfer). Returns the tiers they came from; promotion needs HBM room, and the
        match is cut where room runs out."""
        tiers = []
        for b in block_ids:
            b = int(b)
            t = self.tier_of(b)
            if t is None:
                break
            if t != "hbm":
                if not self._make_room(self.entry_blocks):
                    break
                t = self.tier_of(b)             # making room may have pushed it down a tier
                if t is None:
                    break
                (self.host if t == "host" else self.ssd).pop(b)
                self.hbm[b] = 0
                self.unpinned += 1
                self.kv.cached += self.entry_blocks
                self.kv.peak_used = max(self.kv.peak_used, self.kv.used + self.kv.cached)
            pins = self.hbm[b]
            if pins == 0:
                self.unpinned -= 1
            self.hbm[b] = pins + 1
            self.hbm.move_to_end(b)
            self.hits[t] += 1
            tiers.append(t)
        return tiers

    def release(self, block_ids) -> None:
        """Unpin entries a request held."""
        for b in block_ids:
            b = int(b)
            pins = self.hbm.get(b, 0)
            if pins > 0:
                self.hbm[b] = pins - 1
                if pins == 1:
                    self.unpinned += 1

    def insert(self, block_ids, pin: bool = True) -> list[int]:
        """After a prefill: the request's own full prefix blocks become cache entries, taking
        their blocks from the request (``used -> cached``, no copy), pinned by it while it runs
        (it still reads them). Returns the ids that became entries."""
        added = []
        for b in block_ids:
            b = int(b)
            if b in self.hbm:
                self.hbm.move_to_end(b)
                continue
            if self.kv.used < self.entry_blocks:
                break
            if b in self.host:
                self.host.pop(b)
            elif b in self.ssd:
                self.ssd.pop(b)
            self.kv.used -= self.entry_blocks
            self.kv.cached += self.entry_blocks
            self.hbm[b] = 1 if pin else 0
            if not pin:
                self.unpinned += 1
            added.append(b)
        return added

    def _make_room(self, blocks: int) -> bool:
        while self.kv.free < blocks:
            if not self.evict_one():
                return False
        return True

    def evict_one(self) -> bool:
        """Demote the least recently used unpinned HBM entry. False when none can go."""
        for b, pins in self.hbm.items():
            if pins == 0:
                break
        else:
            return False
        del self.hbm[b]
        self.unpinned -= 1
        self.kv.cached -= self.entry_blocks
        if self.host_slots > 0:
            self.demoted_bytes += self.entry_bytes
            self.host[b] = None
            if len(self.host) > self.host_slots:
                old, _ = self.host.popitem(last=False)
                if self.ssd_slots > 0:
                    self.ssd[old] = None
                    if len(self.ssd) > self.ssd_slots:
                        self.ssd.popitem(last=False)
        return True

    def reclaim(self, blocks: int) -> bool:
        """Free at least ``blocks`` HBM blocks by evicting entries; False if impossible."""
        return self._make_room(blocks)

    def evictable_blocks(self) -> int:
        # a running count of the unpinned entries (``unpinned``), kept by every change of a pin
        return self.unpinned * self.entry_blocks
