"""Max-min fair rates of flows sharing links (parallel water-filling, vectorized with numpy).

Vocabulary:
- entry: one (flow, link) incidence; a flow crossing k links has k entries, given as two aligned
  integer arrays ``entry_flow`` and ``entry_link`` (any order).
- capacity: bytes/s each link can carry (already scaled by any efficiency).
- share of a link: its remaining capacity / its unfrozen flows.
- max-min fair: no flow's rate can grow without shrinking a flow whose rate is no larger.

Algorithm. Progressive filling raises all unfrozen flows together and freezes the flows of the
link that saturates first. A link's share never decreases as flows elsewhere freeze (a flow
leaves at a rate below the link's share, so what remains per flow grows). Hence a link whose
share is no larger than the share of every link it shares a flow with (a *locally minimal*
link) saturates exactly at its current share, and all locally minimal links can be frozen in
the same round. The global minimum is always locally minimal, so each round makes progress, and
rounds number the depth of the bottleneck dependency chain (a handful on Clos fabrics) rather
than the number of distinct rates (thousands for random traffic).
A flow with no links (source = destination) gets an infinite rate.
"""

from __future__ import annotations

import numpy as np

TIE = 1e-9  # relative tolerance: shares this close count as equal


def maxmin_rates(entry_flow: np.ndarray, entry_link: np.ndarray, n_flows: int,
                 capacity: np.ndarray, entry_weight: np.ndarray | None = None,
                 compact: bool = False) -> np.ndarray:
    """Rates (bytes/s) of ``n_flows`` flows under max-min fairness.

    ``entry_weight`` (optional) makes a flow a *bundle*: weight w on a link means w identical
    member flows of the bundle cross it, each at the bundle's rate (replicas of a symmetric
    job). Unweighted entries count 1. ``compact``: links are already numbered 0..L-1 over the
    links in use and ``capacity`` is theirs (the fabric does this once per recomputation)."""
    rates = np.full(n_flows, np.inf)
    if n_flows == 0 or len(entry_flow) == 0:
        return rates
    ef = np.asarray(entry_flow, dtype=np.int64)
    if compact:
        el = np.asarray(entry_link, dtype=np.int64)
        remaining = np.array(capacity, dtype=np.float64)
    else:
        used, el = np.unique(np.asarray(entry_link, dtype=np.int64), return_inverse=True)
        remaining = np.asarray(capacity, dtype=np.float64)[used].copy()
    n_links = len(remaining)
    w = None if entry_weight is None else np.asarray(entry_weight, dtype=np.float64)
    if len(ef) == n_links and np.all(np.bincount(el, minlength=n_links) == 1):
        # no link is shared between flows: each flow runs at its tightest link's share
        share = remaining[el] / (w if w is not None else 1.0)
        np.minimum.at(rates, ef, share)
        return rates
    order = np.argsort(ef, kind="stable")       # entries grouped by flow, for reduceat
    ef = ef[order]
    el = el[order]
    if w is not None:
        w = w[order]
    count = np.bincount(el, weights=w, minlength=n_links).astype(np.float64)
    share = np.empty(n_links)
    while len(ef):
        share.fill(np.inf)
        np.divide(remaining, count, out=share, where=count > 0)
        np.maximum(share, 0.0, out=share)
        starts = np.flatnonzero(np.concatenate(([True], ef[1:] != ef[:-1])))
        seg = np.diff(np.append(starts, len(ef)))
        flow_min = np.minimum.reduceat(share[el], starts)           # per flow: its tightest link
        flow_min_e = np.repeat(flow_min, seg)
        link_min = np.full(n_links, np.inf)
        np.minimum.at(link_min, el, flow_min_e)                     # per link: tightest among its flows
        local = share <= link_min * (1 + TIE)
        freeze = np.logical_or.reduceat(local[el], starts)          # flows on a locally minimal link
        rates[ef[starts[freeze]]] = flow_min[freeze]
        freeze_e = np.repeat(freeze, seg)
        fl = el[freeze_e]
        if w is None:
            remaining -= np.bincount(fl, weights=flow_min_e[freeze_e], minlength=n_links)
            count -= np.bincount(fl, minlength=n_links)
        else:
            wf = w[freeze_e]
            remaining -= np.bincount(fl, weights=flow_min_e[freeze_e] * wf, minlength=n_links)
            count -= np.bincount(fl, weights=wf, minlength=n_links)
            w = w[~freeze_e]
        keep = ~freeze_e
        ef = ef[keep]
        el = el[keep]
    return rates


def link_loads(entry_flow: np.ndarray, entry_link: np.ndarray, rates: np.ndarray,
               n_links: int, entry_weight: np.ndarray | None = None) -> np.ndarray:
    """Total rate on each link (bytes/s) for given flow rates."""
    if len(entry_flow) == 0:
        return np.zeros(n_links)
    r = rates[entry_flow]
    r = np.where(np.isfinite(r), r, 0.0)
    if entry_weight is not None:
        r = r * entry_weight
    return np.bincount(entry_link, weights=r, minlength=n_links)
