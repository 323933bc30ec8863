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
import math

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
    if len(ef) > 1 and not (ef[1:] >= ef[:-1]).all():
        order = np.argsort(ef, kind="stable")   # entries grouped by flow, for reduceat
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


def maxmin_rounds(routes: list, count, remaining) -> list:
    """The water-filling rounds of ``maxmin_rates`` on Python floats: ``routes[i]`` is flow i's
    [(link, weight), ...] (non-empty), ``count[link]`` the summed weights of the flows on it and
    ``remaining[link]`` its capacity (bytes/s; lists or dicts indexed by link, both consumed).
    Each round every link offers remaining / count (clamped at 0, NaN kept, as ``np.maximum``);
    a flow takes its least offer, and the flows crossing a link whose offer is within ``TIE`` of
    the least taken there are fixed and leave. The same float operations in the same order as the
    arrays, so the same rates bit for bit. Returns each flow's rate."""
    got = [INF] * len(routes)
    alive = list(range(len(routes)))
    up = 1 + TIE
    while alive:
        share = {}
        for i in alive:
            for c, _ in routes[i]:
                if c not in share:
                    k = count[c]
                    x = remaining[c] / k if k > 0 else INF
                    share[c] = x if not x < 0.0 else 0.0      # np.maximum(x, 0.0), NaN kept
        fmin = [min([share[c] for c, _ in routes[i]]) for i in alive]
        lmin: dict = {}
        for i, m in zip(alive, fmin):
            for c, _ in routes[i]:
                if m < lmin.get(c, INF):
                    lmin[c] = m
        local = {c for c, x in share.items() if x <= lmin.get(c, INF) * up}
        sub: dict = {}
        cnt: dict = {}
        rest = []
        for i, m in zip(alive, fmin):
            r = routes[i]
            for c, _ in r:
                if c in local:
                    break
            else:
                rest.append(i)
                continue
            got[i] = m
            for c, wc in r:
                # an unweighted entry adds m (m x 1.0 is m) and 1 (counts are whole numbers)
                sub[c] = sub.get(c, 0.0) + m * wc
                cnt[c] = cnt.get(c, 0.0) + wc
        for c, x in sub.items():
            remaining[c] -= x
            count[c] -= cnt[c]
        alive = rest
    return got


def maxmin_small(entry_flow: list, entry_link: list, n_flows: int, capacity: list,
                 entry_weight: list | None = None) -> tuple[list, list] | None:
    """``maxmin_rates(..., compact=True)`` and ``link_loads`` of the result, on Python lists and
    floats: the same rounds and the same float operations in the same order (a link's count and
    what a round takes from it summed from 0.0 in entry order, as ``np.bincount`` does; minima
    are exact), so the same rates and loads, bit for bit; several times faster than numpy's
    calls on the few entries of a small fabric's update. Entries must be grouped by flow in
    flow order (``entry_flow`` non-decreasing): returns None otherwise (the caller uses the
    arrays). Returns (rates, loads) as lists of floats."""
    rates = [INF] * n_flows
    n_links = len(capacity)
    if n_flows == 0 or not entry_flow:
        return rates, [0.0] * n_links
    if entry_flow != sorted(entry_flow):
        return None
    w = entry_weight if entry_weight is not None else [1.0] * len(entry_flow)
    routes: dict = {}                                   # flow -> [(link, weight), ...] in entry order
    for f, c, wc in zip(entry_flow, entry_link, w):
        r = routes.get(f)
        if r is None:
            routes[f] = [(c, wc)]
        else:
            r.append((c, wc))
    if len(entry_link) == n_links and len(set(entry_link)) == n_links:
        # maxmin_rates' unshared case: each flow at its tightest link's capacity / weight (x / 1.0 is x)
        for f, r in routes.items():
            x = INF
            for c, wc in r:
                v = capacity[c] / wc
                if v < x or v != v:
                    x = v
            rates[f] = x
    else:
        count = [0.0] * n_links                         # np.bincount: 0.0 + each weight in entry order
        for c, wc in zip(entry_link, w):
            count[c] += wc
        flows = list(routes)
        for f, x in zip(flows, maxmin_rounds([routes[f] for f in flows], count, [float(x) for x in capacity])):
            rates[f] = x
    loads = [0.0] * n_links
    for f, r in routes.items():
        x = rates[f]
        if not math.isfinite(x):
            x = 0.0
        for c, wc in r:
            loads[c] += x * wc
    return rates, loads


def maxmin_dense(links: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """``maxmin_rates`` for flows given as rows of a dense (F, k) int array of link indices,
    each row padded with -1 past its flow's links (every flow has at least one link).

    The same rounds and the same arithmetic as ``maxmin_rates`` on the entries in row order
    (so the same rates, bit for bit), on a layout where a flow's tightest link is a minimum
    across k columns instead of a segmented reduction, and where a round looks at the entries
    that hold their flow's minimum only (about one per flow): a link is locally minimal when
    all its entries do. About 2-3x faster for many short routes (``dcsim traffic``'s epochs,
    ``sim.flowepochs``). Returns rates (bytes/s, shape (F,)). Raises ValueError for a row
    without links."""
    links = np.asarray(links, dtype=np.int64)
    n, k = links.shape
    n_links = len(capacity)
    if n and (links < 0).all(axis=1).any():
        raise ValueError("every flow needs at least one link")
    pad = n_links                                   # padding: a link of infinite share
    ent = np.ascontiguousarray(np.where(links < 0, pad, links).T.astype(np.int32))   # (k, F): column = flow
    remaining = np.append(np.asarray(capacity, dtype=np.float64), np.inf)
    count = np.bincount(ent.ravel(), minlength=n_links + 1).astype(np.float64)
    rates = np.full(n, np.inf)
    fid = np.arange(n)
    share = np.empty(n_links + 1)
    up = 1 + TIE
    while len(fid):
        m = len(fid)
        share.fill(np.inf)
        np.divide(remaining, count, out=share, where=count > 0)
        np.maximum(share, 0.0, out=share)
        share[pad] = np.inf
        se = share[ent]
        flow_min = se.min(axis=0)                               # per flow: its tightest link
        # maxmin_rates' locally minimal link: share <= min over its flows of flow_min x (1 +
        # TIE), i.e. every entry of the link is "tight" (share <= its flow's flow_min x (1 + TIE))
        tight = np.flatnonzero(se <= flow_min * up)
        tl = ent.ravel()[tight]
        local = np.bincount(tl, minlength=n_links + 1) == count
        freeze = np.zeros(m, dtype=bool)
        freeze[(tight % m)[local[tl]]] = True                   # flows on a locally minimal link
        fm = flow_min[freeze]
        rates[fid[freeze]] = fm
        fl = ent[:, freeze].T.ravel()                           # entries in row (flow) order
        remaining -= np.bincount(fl, weights=np.repeat(fm, k), minlength=n_links + 1)
        count -= np.bincount(fl, minlength=n_links + 1)
        keep = ~freeze
        ent = ent.compress(keep, axis=1)
        fid = fid[keep]
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


TOL = 1e-12         # relative: a flow re-frozen this close to its old rate keeps it (no change)
INF = float("inf")


class IncrementalMaxMin:
    """Max-min fair rates kept across arrivals and completions of flows.

    Vocabulary (besides the module's):
    - flow id: any hashable the caller picks (the fabric uses slot numbers); ``add(fid, links,
      weights)`` and ``remove(fid)`` change the flow set, ``solve()`` brings the rates up to date
      and returns the flows whose rate changed and the links whose load changed.
    - per-link flow lists: for each link, the flows crossing it and their weights; per link its
      load (bytes/s, the sum of weight x rate).
    - level of a link: the water level at which progressive filling saturates it (the rate of
      the flows it freezes), or infinity; bottleneck of a flow: the link that froze it. Each flow
      records its bottleneck, each link its level and the flows it bottlenecks.
    - perturbed link: one whose fill curve (the sum over its flows of weight x min(rate, level))
      may differ from the last solve's: it lost or gained a flow, or a flow on it changed rate.
    - dominated link: every flow that crossed it also crosses a narrower link (a GPU's PCIe
      link to its NIC behind the NIC's own port): it never saturates first, so it is skipped.

    Algorithm. ``solve`` replays progressive filling in level order, but only for perturbed
    links; every other link saturates where it did before, freezing the same flows at the same
    rate. A heap holds each perturbed link twice: at its share on what is known so far (its
    flows frozen below that share count at their rate, the others share the rest) and at its
    old level (a *release*: if the water passes the old level before the link saturates, the
    flows it froze there are unfrozen, and each of their links is perturbed). Popping a share
    freezes the link's unfrozen flows at that level; a flow whose rate moved (by more than
    ``TOL`` relative) perturbs its other links. A flow frozen below the current level at an
    unperturbed link is final, so each pop is exact, and the work is proportional to the flows
    whose rate really changes and their links, not to all flows.
    """

    def __init__(self, capacity: np.ndarray):
        self.cap = np.asarray(capacity, dtype=np.float64).tolist()
        n = len(self.cap)
        self.load = [0.0] * n
        self.level = [INF] * n                              # link -> its saturation level
        self.flows_on: list[dict | None] = [None] * n       # link -> {flow: weight}
        self.bottlenecked: list[set | None] = [None] * n    # link -> flows it bottlenecks
        self.route: dict = {}                               # flow -> (links, weights)
        self.rate: dict = {}
        self.bn: dict = {}                                  # flow -> its bottleneck link
        self.dominated: list[set | None] = [None] * n      # link -> links that dominate it
        self._new: dict = {}                                # flows added since the last solve
        self._freed: set = set()                            # links that lost a flow since then
        self.solved_flows = 0                               # flows re-frozen in all (a cost figure)

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
        cap, dominated = self.cap, self.dominated
        for l, w in zip(links, weights):
            d = self.flows_on[l]
            if d is None:
                d = self.flows_on[l] = {}
            d[fid] = w
            # m dominates l while every flow ever on l crosses m at least as often and m is
            # narrower (ties: the lower index): l then never saturates before m, so it is left out
            dom = dominated[l]
            if dom is None or dom:
                c = cap[l]
                mine = {m for m, v in zip(links, weights)
                        if v >= w and (cap[m] < c or (cap[m] == c and m < l))}
                dominated[l] = mine if dom is None else dom & mine
        self._new[fid] = None

    def remove(self, fid) -> None:
        links, weights = self.route.pop(fid)
        r = self.rate.pop(fid)
        self._new.pop(fid, None)
        b = self.bn.pop(fid, None)
        if b is not None:
            self.bottlenecked[b].discard(fid)
        flows_on, load = self.flows_on, self.load
        for l, w in zip(links, weights):
            del flows_on[l][fid]
            load[l] -= w * r
            self._freed.add(l)

    def solve(self) -> tuple[dict, set]:
        """Bring rates up to date. Returns ({flow: new rate} for flows whose rate changed, the
        links whose load changed)."""
        route, rate, cap, flows_on, level = self.route, self.rate, self.cap, self.flows_on, self.level
        bottlenecked = self.bottlenecked
        cur: dict = {}          # flow -> its rate in this solve where known to differ from `rate`
        via: dict = {}          # flow -> the link that froze it in this solve
        ver: dict = {}          # perturbed link -> version of its share entry in the heap
        share: dict = {}        # saturated link -> its level
        heap: list = []
        t = 0.0                 # the water level reached

        def recompute(l):
            # the level at which l saturates, given what is known at water level t
            res = cap[l]
            cnt = 0.0
            up = []
            for f, w in flows_on[l].items():
                x = cur.get(f)
                if x is None:
                    x = rate[f]
                if x < t:
                    res -= w * x
                else:
                    cnt += w
                    up.append((x, w))
            v = ver[l] + 1
            ver[l] = v
            if cnt <= 0.0:
                return
            s = (res if res > 0.0 else 0.0) / cnt
            if len(up) > 1:
                up.sort()
            for x, w in up:
                if x >= s or cnt - w <= 0.0:
                    break
                res -= w * x
                cnt -= w
                s = (res if res > 0.0 else 0.0) / cnt
            heapq.heappush(heap, (s, 0, v, l))

        dominated = self.dominated

        def perturb(l):
            if l in share or dominated[l]:
                return
            if l not in ver:
                ver[l] = 0
                if bottlenecked[l]:
                    heapq.heappush(heap, (level[l] * (1 + TOL), 1, 0, l))
            recompute(l)

        for f in self._new:
            cur[f] = INF
        for l in self._freed:
            if flows_on[l] is not None:
                perturb(l)
        for f in self._new:
            for l in route[f][0]:
                if l not in ver:
                    perturb(l)
        self._new = {}
        freed = self._freed
        self._freed = set()

        while heap:
            s, kind, v, l = heapq.heappop(heap)
            if l in share:
                continue
            if kind == 0:
                if v != ver[l]:
                    continue
                t = s
                share[l] = s
                lo = s * (1 - TOL)
                hi = s * (1 + TOL)
                moved = []
                for f in flows_on[l]:
                    if f in via:
                        continue
                    x = cur.get(f)
                    if x is None:
                        x = rate[f]
                    if x < lo:
                        continue                        # frozen below this level
                    via[f] = l
                    if x <= hi:
                        continue                        # the same rate: nothing moves
                    cur[f] = s
                    moved.append(f)
                if moved:
                    todo = {c for f in moved for c in route[f][0]}
                    todo.discard(l)
                    for c in todo:
                        perturb(c)
            else:
                t = max(t, s)
                b = bottlenecked[l]
                moved = [f for f in b if f not in via and f not in cur]
                for f in moved:
                    cur[f] = INF
                for c in {c for f in moved for c in route[f][0]}:
                    perturb(c)

        # write the new state back
        self.solved_flows += len(via)
        changed: dict = {}
        touched = set(freed)
        old_rate: dict = {}
        for f, x in cur.items():
            if x != rate[f]:
                old_rate[f] = rate[f]
                rate[f] = x
                changed[f] = x
                touched.update(route[f][0])
        bn = self.bn
        for f, l in via.items():
            old = bn.get(f)
            if old != l:
                if old is not None:
                    bottlenecked[old].discard(f)
                bn[f] = l
                s = bottlenecked[l]
                if s is None:
                    s = bottlenecked[l] = set()
                s.add(f)
        for l in ver:
            level[l] = share.get(l, INF)
        load = self.load
        for f, x in changed.items():
            links, weights = route[f]
            dx = x - old_rate[f]
            for l, w in zip(links, weights):
                load[l] += w * dx
        for l in touched:
            if not flows_on[l]:
                load[l] = 0.0
        return changed, touched
