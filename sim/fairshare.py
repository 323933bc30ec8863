"""Max-min fair rates of flows sharing links (progressive filling, vectorized with numpy).

Vocabulary:
- entry: one (flow, link) incidence; a flow crossing k links has k entries. Entries are given as
  two aligned integer arrays ``entry_flow`` and ``entry_link`` (CSR-like, any order).
- capacity: bytes/s each link can carry (already scaled by any efficiency).
- max-min fair: no flow's rate can grow without shrinking a flow whose rate is no larger. The
  progressive-filling algorithm raises all unfrozen flows together; the link whose fair share
  (remaining capacity / unfrozen flows on it) is smallest saturates first, its flows freeze at
  that share, and the rest continue. All links within a relative tolerance of the minimum
  saturate in the same round, so symmetric flow sets (a ring, a permutation) take one round.
- a flow with no links (source = destination) gets an infinite rate.
"""

from __future__ import annotations

import numpy as np

TIE = 1e-9  # links whose shares differ by less than this (relative) saturate in one round


def maxmin_rates(entry_flow: np.ndarray, entry_link: np.ndarray, n_flows: int,
                 capacity: np.ndarray) -> np.ndarray:
    """Rates (bytes/s) of ``n_flows`` flows under max-min fairness."""
    rates = np.full(n_flows, np.inf)
    if n_flows == 0 or len(entry_flow) == 0:
        return rates
    n_links = len(capacity)
    ef = np.asarray(entry_flow, dtype=np.int64)
    el = np.asarray(entry_link, dtype=np.int64)
    remaining = np.array(capacity, dtype=np.float64, copy=True)
    count = np.bincount(el, minlength=n_links).astype(np.float64)
    frozen = np.zeros(n_flows, dtype=bool)
    while len(ef):
        used = count > 0
        share = np.full(n_links, np.inf)
        np.divide(remaining, count, out=share, where=used)
        level = share.min()
        if not np.isfinite(level):
            break
        level = max(level, 0.0)
        bottleneck = share <= level * (1 + TIE) + 1e-300
        hit = bottleneck[el]
        newly = np.zeros(n_flows, dtype=bool)
        newly[ef[hit]] = True
        rates[newly] = level
        frozen |= newly
        # every link a newly frozen flow crosses gives up that flow's share
        drop = newly[ef]
        dl = el[drop]
        if len(dl):
            dropped = np.bincount(dl, minlength=n_links)
            remaining -= dropped * level
            count -= dropped
        keep = ~drop
        ef = ef[keep]
        el = el[keep]
        np.maximum(remaining, 0.0, out=remaining)
    return rates


def link_loads(entry_flow: np.ndarray, entry_link: np.ndarray, rates: np.ndarray,
               n_links: int) -> np.ndarray:
    """Total rate on each link (bytes/s) for given flow rates."""
    if len(entry_flow) == 0:
        return np.zeros(n_links)
    r = rates[entry_flow]
    r = np.where(np.isfinite(r), r, 0.0)
    return np.bincount(entry_link, weights=r, minlength=n_links)
