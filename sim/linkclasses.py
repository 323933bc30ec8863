"""Link classes: links that max-min fair sharing cannot tell apart, solved as one.

Vocabulary:
- signature of a link: its effective capacity and the flows crossing it, each with its weight
  (bundle members on the link). Links of equal signature have equal shares in every round of
  progressive filling, saturate together and carry equal loads, so max-min needs one of them.
- class: a set of links of equal signature (not necessarily all of them: a finer partition is
  still exact). ``add`` refines the partition by the new flow's links and weights (a class that
  the flow crosses only in part splits, and every flow on it then crosses both parts); removing
  a flow never merges classes. A symmetric collective over many groups (every DP group of a
  stage, one bundle of thousands of links) collapses to a few dozen classes.
- entry: one (flow, class) incidence with the flow's weight on each of the class's links.
- owed bytes / busy time: per class, the bytes (and busy seconds) that every member link has
  carried since the last ``flush``; a class split copies them to the new part. ``flush`` adds
  them to per-link counters, so accounting costs O(classes) per event, not O(links).
- settled change: a flow arriving or leaving without moving any other flow's max-min rate, so
  that no re-solve is needed (the owner uses it where the last bits of a re-solve need not be
  reproduced: several jobs on one fabric). An arrival is settled when the flow, at the spare
  capacity of its tightest class, is no slower than the flows on every class it fills (then
  every flow keeps a bottleneck: a saturated class where no flow is faster; that is max-min).
  A departure is settled when each class it crossed is short of saturation or carries only
  flows slower than it (no flow had its bottleneck there, so none can speed up). Rates then
  equal a re-solve's to rounding (~1e-15 relative), not bit for bit.
"""

from __future__ import annotations

import numpy as np

from sim.fairshare import maxmin_rounds

INF = float("inf")
SETTLE_TIE = 1e-9       # relative: rates this close count as tied (a settled change needs none)
SETTLE_SPARE = 1e-6     # relative: a class with less spare capacity than this counts as saturated


class LinkClasses:
    """A partition of the links in use into classes of equal signature (module docstring).

    ``capacity``: effective bytes/s per link (shape (links,)). Flows are any hashable keys.
    ``like``: an earlier partition of the same links, whose per-link codes and per-shape
    groupings are reused (not its classes)."""

    def __init__(self, capacity: np.ndarray, like: "LinkClasses | None" = None):
        self.link_cap = np.asarray(capacity, dtype=np.float64)
        if like is not None and like.link_cap is self.link_cap:   # reuse what depends on links only
            self._capcode, self._shapes = like._capcode, like._shapes
        else:
            _, self._capcode = np.unique(self.link_cap, return_inverse=True)
            self._shapes: dict = {}                  # id(links) -> (links, groups)
        self._ncap = int(self._capcode.max()) + 1 if len(self._capcode) else 1
        self.cls = np.full(len(self.link_cap), -1, dtype=np.int64)   # link -> class (-1: none yet)
        self.size: list[int] = []                    # class -> member links
        self.flows: list[dict] = []                  # class -> {flow: weight}
        self.entries: dict = {}                      # flow -> {class: weight}
        self.cap = np.zeros(16)                      # class -> capacity (bytes/s)
        self.load = np.zeros(16)                     # class -> load per member link (bytes/s)
        self.owed_bytes = np.zeros(16)
        self.owed_busy = np.zeros(16)
        self.fresh = True                            # no solve yet (the owner solves all)
        self.rate: dict = {}                         # flow -> its rate (bytes/s) at the last solve

    def __len__(self) -> int:
        return len(self.size)

    def _new_class(self, cap: float, like: int) -> int:
        c = len(self.size)
        if c == len(self.cap):
            grow = len(self.cap)
            self.cap = np.concatenate([self.cap, np.zeros(grow)])
            self.load = np.concatenate([self.load, np.zeros(grow)])
            self.owed_bytes = np.concatenate([self.owed_bytes, np.zeros(grow)])
            self.owed_busy = np.concatenate([self.owed_busy, np.zeros(grow)])
        self.cap[c] = cap
        if like >= 0:
            self.load[c] = self.load[like]
            self.owed_bytes[c] = self.owed_bytes[like]
            self.owed_busy[c] = self.owed_busy[like]
            self.flows.append(dict(self.flows[like]))
        else:
            self.load[c] = self.owed_bytes[c] = self.owed_busy[c] = 0.0
            self.flows.append({})
        self.size.append(0)
        return c

    def _shape_groups(self, links: np.ndarray, weights: np.ndarray) -> tuple[list, np.ndarray]:
        """The flow's links split by (capacity, weight): ([(positions, weight)], each link
        position's group index), cached per links array (a bundle's shape is one array reused
        for every run of the step)."""
        hit = self._shapes.get(id(links))
        if hit is not None and hit[0] is links:
            return hit[1]
        wvals, wcode = np.unique(weights, return_inverse=True)
        key = self._capcode[links] * len(wvals) + wcode
        _, first, inv, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        order = np.argsort(inv, kind="stable")
        ends = np.cumsum(counts)
        groups = [(order[e - n:e], float(weights[i])) for i, n, e in zip(first, counts, ends)]
        rank = np.empty(len(links), dtype=np.int64)  # link position -> its group's index
        for g, (pos, _) in enumerate(groups):
            rank[pos] = g
        if len(self._shapes) > 4096:
            self._shapes.clear()
        self._shapes[id(links)] = (links, (groups, rank))
        return groups, rank

    def add(self, flow, links: np.ndarray, weights: np.ndarray) -> None:
        """A flow over ``links`` (distinct) with ``weights`` (members per link): refine."""
        size, flows, entries, cls = self.size, self.flows, self.entries, self.cls
        groups, rank = self._shape_groups(links, weights)
        old = cls[links]                             # every link's class before this flow
        # parts: (group, old class) with its link count, by group then class (one sort)
        span = len(size) + 1
        keys, counts = np.unique(rank * span + (old + 1), return_counts=True)
        mine: dict = {}
        emptied = []
        for k, n in zip(keys.tolist(), counts.tolist()):
            g, c = divmod(k, span)
            c -= 1
            pos, w = groups[g]
            if c >= 0 and size[c] == n:              # the flow crosses all of c alike
                flows[c][flow] = w
                mine[c] = w
                continue
            lk = links[pos] if n == len(pos) else links[pos[old[pos] == c]]
            new = self._new_class(float(self.link_cap[lk[0]]), c)
            cls[lk] = new
            size[new] = n
            if c >= 0:
                size[c] -= n
                for g, wg in flows[c].items():       # the flows on c cross the new part too
                    entries[g][new] = wg
                if size[c] == 0:
                    emptied.append(c)
            flows[new][flow] = w
            mine[new] = w
        for c in emptied:                            # an emptied class leaves every entry
            for g in flows[c]:
                entries[g].pop(c, None)
            flows[c] = {}
        entries[flow] = mine

    def remove(self, flow) -> list:
        """Take a flow out; returns the classes it crossed."""
        mine = self.entries.pop(flow)
        self.rate.pop(flow, None)
        for c in mine:
            del self.flows[c][flow]
        return list(mine)

    def entry_arrays(self, order: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(entry flow position, class, weight) for the flows in ``order``, grouped by flow."""
        ef, ec, ew = [], [], []
        entries = self.entries
        for i, f in enumerate(order):
            e = entries[f]
            ef.extend([i] * len(e))
            ec.extend(e.keys())
            ew.extend(e.values())
        return (np.array(ef, dtype=np.int64), np.array(ec, dtype=np.int64), np.array(ew, dtype=np.float64))

    def solve(self, order: list, seeds, rates: np.ndarray) -> float:
        """Max-min rates after flows came or went on classes ``seeds``: the flows connected to
        a seed class (through shared classes) are re-solved, and written into ``rates``
        (aligned with ``order``, bytes/s); their classes' ``load`` is set. Returns the peak
        load / capacity among them. The arithmetic of ``sim.fairshare.maxmin_rates`` and
        ``link_loads`` (the same rounds, the same sums in the same order: entries grouped by
        flow in ``order``; a component alone gives the rates it gets beside others), in plain
        Python floats, which is faster on the few entries that classes leave."""
        entries, cap, flows = self.entries, self.cap, self.flows
        seen = set(seeds)
        stack = list(seen)
        comp = set()
        while stack:
            for f in flows[stack.pop()]:
                if f not in comp:
                    comp.add(f)
                    for c in entries[f]:
                        if c not in seen:
                            seen.add(c)
                            stack.append(c)
        pos = [i for i, f in enumerate(order) if f in comp]
        if len(pos) <= 1:                            # most changes: one flow or none left
            one = self._solve_one(order, pos, seen, rates)
            if one is not None:
                return one
        routes = [list(entries[order[i]].items()) for i in pos]
        count: dict = {}
        for r in routes:
            for c, w in r:
                count[c] = count.get(c, 0.0) + w
        remaining = {c: float(cap[c]) for c in count}
        got = [INF] * len(pos)
        live = [i for i, r in enumerate(routes) if r]
        for i, x in zip(live, maxmin_rounds([routes[i] for i in live], count, remaining)):
            got[i] = x
        acc = dict.fromkeys(seen, 0.0)
        for r, x in zip(routes, got):
            if x == INF:
                x = 0.0
            for c, w in r:
                acc[c] += x * w
        load = self.load
        peak = 0.0
        for c, x in acc.items():
            load[c] = x
            u = x / cap[c]
            if u > peak:
                peak = u
        if pos:
            rates[pos] = got
            self.rate.update(zip([order[i] for i in pos], got))
        return float(peak)

    def _solve_one(self, order: list, pos: list, seen: set, rates: np.ndarray) -> float | None:
        """``solve`` for a component of one flow (``pos``: its position in ``order``) or
        none, with the same float operations as the general rounds (a flow alone gets the
        least share ``cap / (0 + weight)`` of its classes, clamped at 0, and loads ``x * w``;
        a flow on no class gets rate inf, as there); None where that share is not finite (the
        caller runs the general rounds)."""
        cap, load = self.cap, self.load
        x, route = 0.0, ()                           # a flow on no class: rate inf, no load
        if pos:
            route = self.entries[order[pos[0]]]
            if route:
                x = INF
                for c, w in route.items():
                    s = float(cap[c]) / (0.0 + w)
                    if not s > 0.0:
                        s = 0.0
                    if s < x:
                        x = s
                if not x < INF:
                    return None
        peak = 0.0
        for c in seen:
            w = route.get(c) if route else None
            v = 0.0 + x * w if w is not None else 0.0
            load[c] = v
            u = v / cap[c]
            if u > peak:
                peak = u
        if pos:
            r = x if route else INF
            rates[pos] = [r]
            self.rate[order[pos[0]]] = r
        return float(peak)

    # -- settled changes (see "settled change" in the module docstring) -------------------------
    def settle_arrival(self, flow) -> float | None:
        """After ``add(flow)``: if every class of the flow has spare capacity and the flow,
        filling the tightest of them, is no slower than any flow already there, the other
        flows keep their rates. Then the flow's rate (bytes/s) is returned and its classes'
        loads include it; otherwise None and nothing changes (the caller re-solves)."""
        mine = self.entries[flow]
        cap, load = self.cap, self.load
        x = INF
        for c, w in mine.items():
            r = (cap[c] - load[c]) / w
            if r < x:
                x = r
        if not 0.0 < x < INF:
            return None
        near = x * (1 + SETTLE_TIE)
        rate, flows = self.rate, self.flows
        for c, w in mine.items():
            if (cap[c] - load[c]) / w <= near:       # the flow saturates c: it must be maximal there
                for g in flows[c]:
                    if g != flow and rate.get(g, INF) > x:
                        return None
        for c, w in mine.items():
            load[c] += x * w
        rate[flow] = x
        return float(x)

    def settle_removal(self, flow) -> list | None:
        """Take ``flow`` out (as ``remove``). If no class it crossed is where another flow is
        held back (each is either short of saturation or only carries flows slower than
        ``flow``), the others keep their rates: its load leaves its classes and None is
        returned. Otherwise the classes it crossed, to re-solve."""
        mine = self.entries.pop(flow)
        x = self.rate.pop(flow, 0.0)
        flows, cap, load, rate = self.flows, self.cap, self.load, self.rate
        for c in mine:
            del flows[c][flow]
        ok = 0.0 < x < INF
        if ok:
            low = x * (1 - SETTLE_TIE)
            for c in mine:
                if cap[c] - load[c] <= SETTLE_SPARE * cap[c]:      # saturated (or nearly)
                    for g in flows[c]:
                        if rate.get(g, INF) >= low:
                            ok = False
                            break
                    if not ok:
                        break
        if not ok:
            return list(mine)
        for c, w in mine.items():
            load[c] = load[c] - x * w if flows[c] else 0.0
        return None

    def advance(self, dt: float) -> None:
        """Every class's member links carried ``load`` for ``dt`` seconds."""
        n = len(self.size)
        load = self.load[:n]
        self.owed_bytes[:n] += load * dt
        self.owed_busy[:n][load > 0] += dt

    def flush(self, link_bytes: np.ndarray, link_busy: np.ndarray) -> None:
        """Add what every class owes to its member links' counters, and owe nothing."""
        n = len(self.size)
        if not n:
            return
        used = np.flatnonzero(self.cls >= 0)
        c = self.cls[used]
        link_bytes[used] += self.owed_bytes[c]
        link_busy[used] += self.owed_busy[c]
        self.owed_bytes[:n] = 0.0
        self.owed_busy[:n] = 0.0
