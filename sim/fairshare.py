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

import heapq

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


CHECK = 1e-10       # relative slack of the bottleneck checks of the incremental solver
VECTOR_MIN = 2000   # re-solve this many flows or more with the vectorized solver


class IncrementalMaxMin:
    """Max-min fair rates kept across arrivals and completions of flows.

    Vocabulary (besides the module's):
    - flow id: any hashable the caller picks (the fabric uses slot numbers); ``add(fid, links,
      weights)`` and ``remove(fid)`` change the flow set, ``solve()`` brings the rates up to date
      and returns the flows whose rate changed and the links whose load changed.
    - per-link flow lists: for each link, the flows crossing it and their weights; per link its
      load (bytes/s, the sum of weight x rate).
    - bottleneck of a flow: a saturated link on which no flow has a larger rate. An allocation is
      max-min fair exactly when it is feasible and every flow has a bottleneck (Bertsekas and
      Gallager, Data Networks, 6.5.2). Each flow records one; each link the flows it bottlenecks.
    - affected set A: the flows re-solved. A starts with the new flows and the flows whose
      bottleneck link lost a flow; A is re-solved by progressive filling on the capacity the
      other flows leave (they keep their rates); then every flow of A must be the largest on
      its bottleneck link, and every other flow whose bottleneck link saw a rate change must
      still be the largest there on a saturated link. Flows failing these checks join A and A
      is solved again, until nothing fails: then every flow has a bottleneck, so the rates are
      the max-min rates (the same as ``maxmin_rates`` from scratch, to rounding).
    A flow changing rate touches its few links only, so a completion among 20,000 random flows
    on a fat-tree re-solves tens of flows instead of all of them.
    """

    def __init__(self, capacity: np.ndarray):
        self.cap = np.asarray(capacity, dtype=np.float64).tolist()
        n = len(self.cap)
        self.load = [0.0] * n
        self.flows_on: list[dict | None] = [None] * n       # link -> {flow: weight}
        self.bottlenecked: list[set | None] = [None] * n    # link -> flows it bottlenecks
        self.route: dict = {}                               # flow -> (links, weights)
        self.rate: dict = {}
        self.bn: dict = {}                                  # flow -> its bottleneck link
        self._new: dict = {}                                # flows added since the last solve
        self._freed: set = set()                            # links that lost a flow since then
        self.solved_flows = 0                               # flows re-solved in all (a cost figure)

    def __len__(self) -> int:
        return len(self.route)

    def add(self, fid, links, weights=None) -> None:
        """A new flow over ``links`` (weights: members per link, default 1). Rate 0 until
        ``solve``."""
        links = [int(x) for x in links]
        if not links:
            raise ValueError("a flow needs at least one link")
        weights = [1.0] * len(links) if weights is None else [float(x) for x in weights]
        self.route[fid] = (links, weights)
        self.rate[fid] = 0.0
        for l, w in zip(links, weights):
            d = self.flows_on[l]
            if d is None:
                d = self.flows_on[l] = {}
            d[fid] = w
        self._new[fid] = None

    def remove(self, fid) -> None:
        links, weights = self.route.pop(fid)
        r = self.rate.pop(fid)
        self._new.pop(fid, None)
        b = self.bn.pop(fid, None)
        if b is not None:
            self.bottlenecked[b].discard(fid)
        load, flows_on = self.load, self.flows_on
        for l, w in zip(links, weights):
            d = flows_on[l]
            del d[fid]
            load[l] = load[l] - w * r if d else 0.0
            self._freed.add(l)

    def solve(self) -> tuple[dict, set]:
        """Bring rates up to date. Returns ({flow: new rate} for flows whose rate changed, the
        links whose load changed)."""
        A = set(self._new)
        for l in self._freed:
            b = self.bottlenecked[l]
            if b:
                A |= b
        self._new = {}
        self._freed = set()
        changed: dict = {}
        touched: set = set()
        route, rate, load, cap, flows_on = self.route, self.rate, self.load, self.cap, self.flows_on
        while A:
            self.solved_flows += len(A)
            new_rate, via, members = self._fill(A)
            moved = set()                                   # links whose load changed
            for f in A:
                r_old, r_new = rate[f], new_rate[f]
                if r_new != r_old:
                    links, weights = route[f]
                    for l, w in zip(links, weights):
                        load[l] += w * (r_new - r_old)
                        moved.add(l)
                    rate[f] = r_new
                    changed[f] = r_new
                self._set_bn(f, via[f])
            touched |= moved
            more = set()
            # flows of A: the largest on their bottleneck link, counting the others too
            lowest: dict = {}
            for f in A:
                l = via[f]
                r = rate[f]
                if r < lowest.get(l, np.inf):
                    lowest[l] = r
            for l, r in lowest.items():
                r *= 1 + CHECK
                for g in flows_on[l]:
                    if g not in A and rate[g] > r:
                        more.add(g)
            # the others: still bottlenecked where they were, if a rate there moved
            for l in moved:
                b = self.bottlenecked[l]
                if not b:
                    continue
                saturated = load[l] >= cap[l] * (1 - CHECK)
                top = max(rate[g] for g in members[l]) if saturated else 0.0
                for g in b:
                    if g not in A and (not saturated or top > rate[g] * (1 + CHECK)):
                        more.add(g)
            if not more:
                break
            A |= more
        return changed, touched

    def _set_bn(self, f, link) -> None:
        old = self.bn.get(f)
        if old == link:
            return
        if old is not None:
            self.bottlenecked[old].discard(f)
        self.bn[f] = link
        s = self.bottlenecked[link]
        if s is None:
            s = self.bottlenecked[link] = set()
        s.add(f)

    def _fill(self, A: set) -> tuple[dict, dict]:
        """Progressive filling of the flows of ``A`` on the capacity the others leave: the rate
        of each, the link that froze it (saturated, and none of A larger on it), and per link
        the flows of A on it."""
        route, rate, load, cap = self.route, self.rate, self.load, self.cap
        residual: dict = {}
        count: dict = {}
        members: dict = {}
        for f in A:
            links, weights = route[f]
            r = rate[f]
            for l, w in zip(links, weights):
                if l in count:
                    count[l] += w
                    residual[l] += w * r
                    members[l].append(f)
                else:
                    count[l] = w
                    residual[l] = cap[l] - load[l] + w * r
                    members[l] = [f]
        if len(A) >= VECTOR_MIN:
            new, via = self._fill_vector(A, residual)
            return new, via, members
        heap = [(max(residual[l], 0.0) / count[l], l) for l in count]
        heapq.heapify(heap)
        new: dict = {}
        via: dict = {}
        while heap:
            s, l = heapq.heappop(heap)
            c = count[l]
            if c <= 1e-12:
                continue
            cur = max(residual[l], 0.0) / c
            if cur > s:                                     # shares only grow: look again later
                heapq.heappush(heap, (cur, l))
                continue
            for f in members[l]:
                if f in new:
                    continue
                new[f] = cur
                via[f] = l
                links, weights = route[f]
                for l2, w in zip(links, weights):
                    residual[l2] -= w * cur
                    count[l2] -= w
        return new, via, members

    def _fill_vector(self, A: set, residual: dict) -> tuple[dict, dict]:
        flows = list(A)
        index = {f: i for i, f in enumerate(flows)}
        links = list(residual)
        lindex = {l: i for i, l in enumerate(links)}
        route = self.route
        ef, el, ew = [], [], []
        for f in flows:
            ls, ws = route[f]
            i = index[f]
            for l, w in zip(ls, ws):
                ef.append(i)
                el.append(lindex[l])
                ew.append(w)
        ef = np.array(ef, dtype=np.int64)
        el = np.array(el, dtype=np.int64)
        ew = np.array(ew)
        res = np.maximum(np.array([residual[l] for l in links]), 0.0)
        rates = maxmin_rates(ef, el, len(flows), res, ew, compact=True)
        # the freezing link of each flow: saturated on the residual, none of A larger on it
        load = np.bincount(el, weights=rates[ef] * ew, minlength=len(links))
        top = np.zeros(len(links))
        np.maximum.at(top, el, rates[ef])
        ok = (load[el] >= res[el] * (1 - 1e-9)) & (rates[ef] >= top[el] * (1 - 1e-9))
        util = np.divide(load[el], res[el], out=np.ones(len(el)), where=res[el] > 0)
        score = np.where(ok, 0.0, 2.0 - util)              # else the fullest link
        order = np.lexsort((score, ef))                     # per flow, its best link first
        first = order[np.concatenate(([True], ef[order][1:] != ef[order][:-1]))]
        new = {flows[i]: float(r) for i, r in enumerate(rates)}
        via = {flows[int(ef[e])]: links[int(el[e])] for e in first}
        return new, via
