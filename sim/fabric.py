"""The fabric: moves bytes between topology nodes over links, with contention.

Vocabulary:
- transfer: ``transfer(src, dst, nbytes)`` returns a SimPy event that fires when the last byte
  has landed. It becomes a *flow* on the route's links.
- network model: ``flow`` shares every link max-min fairly among the flows crossing it; rates are
  recomputed only when the set of flows changes, and all changes at one timestamp are coalesced
  into one recomputation. ``analytic`` gives each transfer latency + bytes / bottleneck capacity,
  ignoring other flows. Without contention the two agree exactly.
- effective capacity: line rate x the efficiency of the link's domain (``scaleup_efficiency``
  for NVLink/ICI, ``scaleout_efficiency`` for NICs and switches, 1.0 for host links): the
  fraction of line rate that collective traffic reaches after protocol overheads.
- latency: the sum of the per-hop latencies of the route; a flow completes ``latency`` after its
  last byte drains (the pipe's fill time).
- accounting: per link, bytes carried and busy time (time with any flow on it); per tag, bytes
  delivered; in total, bytes sent and bytes delivered (equal once all flows complete).
- incremental mode: from ``INCREMENTAL_FLOWS`` concurrent flows on, the fabric keeps flows in
  slots and max-min rates in an ``IncrementalMaxMin`` (per-link flow lists kept across updates),
  so a completion re-solves only the flows it affects; below it, each change re-solves all flows
  with the vectorized solver. Both give the max-min rates (to 1e-9 relative); the fabric goes
  back to the first mode when it has drained.
- component: a connected part of the graph whose nodes are links and active flows, a flow
  joining the links it crosses. Max-min shares of different components are independent, so
  in the first mode a change re-solves only the components holding the changed flows' links
  (found by breadth-first search over links and flows); the other flows keep their rates and
  their links their loads. The solver does the same arithmetic on a component's entries, in
  the same order, alone or beside others, so the rates are identical to a whole-network solve.
- class mode: once a flow crosses ``CLASS_LINKS`` links (a symmetric collective bundled over
  every group of a stage), the first mode keeps its flows on link classes (``sim.linkclasses``:
  links of equal capacity crossed by the same flows with the same weights), re-solves the
  changed flows' components on one representative per class with the same arithmetic, and owes
  per-link bytes and busy time per class until ``link_bytes``/``link_busy`` are read. Rates and
  completion times are identical to the plain first mode's; it goes back to that when drained.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import simpy

from sim.fairshare import IncrementalMaxMin, link_loads, maxmin_rates
from sim.linkclasses import LinkClasses
from sim.simulation import Simulation
from sim.topology import Topology


INCREMENTAL_FLOWS = 512     # concurrent flows from which rates are kept incrementally
CLASS_LINKS = 256           # a flow over this many links puts the first mode in class mode


class Flow:
    __slots__ = ("fid", "links", "weights", "members", "size", "event", "tag", "latency", "start", "src", "dst")

    def __init__(self, fid, links, size, event, tag, latency, start, src, dst, weights=None, members=1):
        self.fid = fid
        self.links = links
        self.weights = weights if weights is not None else np.ones(len(links))
        self.members = members
        self.size = size
        self.event = event
        self.tag = tag
        self.latency = latency
        self.start = start
        self.src = src
        self.dst = dst


class Fabric:
    """Byte movement over a topology (``flow`` or ``analytic`` model)."""

    def __init__(self, sim: Simulation, topo: Topology, model: str = "flow",
                 scaleup_efficiency: float = 1.0, scaleout_efficiency: float = 1.0,
                 host_efficiency: float = 1.0, record_flows: bool = False):
        if model not in ("flow", "analytic"):
            raise ValueError(f"network_model must be 'flow' or 'analytic', not {model!r}")
        self.sim = sim
        self.env = sim.env
        self.topo = topo
        self.model = model
        self.efficiency = {"scaleup": scaleup_efficiency, "scaleout": scaleout_efficiency,
                           "host": host_efficiency}
        dom = np.array(topo.link_domain)
        eff = np.ones(topo.num_links)
        for name, value in self.efficiency.items():
            eff[dom == name] = value
        self.capacity = topo.capacity * eff          # effective bytes/s per link
        self.n_links = topo.num_links
        self._link_bytes = np.zeros(self.n_links)    # see link_bytes (class mode owes some)
        self._link_busy = np.zeros(self.n_links)
        self._lc: LinkClasses | None = None          # class mode (see "class mode" above)
        self._lc_last: LinkClasses | None = None
        self.bytes_sent = 0.0
        self.bytes_delivered = 0.0
        self.bytes_by_tag: dict[str, float] = {}
        self.peak_utilization = 0.0                  # max over time of load / effective capacity
        self.rate_computations = 0
        self.record_flows = record_flows
        # active flows; _rem, _size and _rates are aligned with this list, and the (flow, link)
        # entries are kept incrementally so a change costs O(changed flows) in Python
        self._flows: list[Flow] = []
        self._pending: list[Flow] = []
        self._next_id = 0
        self._rates = np.zeros(0)
        self._rem = np.zeros(0)
        self._size = np.zeros(0)
        self._entry_flow = np.zeros(0, dtype=np.int64)
        self._entry_link = np.zeros(0, dtype=np.int64)
        self._entry_weight = np.zeros(0)
        self._weighted = False                       # any bundle seen: use weighted max-min
        self._bundle_shapes: dict = {}               # (pairs, key) -> (links, weights, latency)
        self._active = np.zeros(0, dtype=np.int64)   # links carrying flows, and their loads
        self._active_load = np.zeros(0)
        self._load_full = np.zeros(self.n_links)     # first mode: load of every link (bytes/s)
        self._link_pos = np.zeros(self.n_links, dtype=np.int64)   # scratch: link -> compact index
        self._last = 0.0
        self._update_queued = False
        self._wake_generation = 0
        self._inc: IncrementalMaxMin | None = None  # incremental mode (see module docstring)
        self._free: list[int] = []                   # incremental mode: free flow slots
        self._load_all = np.zeros(0)                 # incremental mode: load of every link
        self._loaded: set = set()                    # incremental mode: links with load > 0
        self._loaded_idx = np.zeros(0, dtype=np.int64)

    # -- public -----------------------------------------------------------------------------
    def transfer(self, src: int, dst: int, nbytes: float, tag: str = "", key: int = 0) -> simpy.Event:
        """An event that fires when ``nbytes`` sent from node ``src`` have reached ``dst``."""
        event = self.env.event()
        nbytes = float(nbytes)
        if nbytes < 0:
            raise ValueError("transfer size must be non-negative")
        links = self.topo.route(src, dst, key)
        latency = self.topo.path_latency(links)
        self.bytes_sent += nbytes
        if nbytes == 0 or len(links) == 0:
            self._finish_after(event, latency, nbytes, tag, src, dst, self.sim.now)
            return event
        if self.model == "analytic":
            cap = self.capacity[links]
            duration = nbytes / cap.min()
            self.link_bytes[links] += nbytes
            self.link_busy[links] += duration
            self._finish_after(event, latency + duration, nbytes, tag, src, dst, self.sim.now)
            return event
        flow = Flow(self._next_id, links, nbytes, event, tag, latency, self.sim.now, src, dst)
        self._next_id += 1
        self._pending.append(flow)
        self._queue_update()
        return event

    def transfer_bundle(self, pairs: list[tuple[int, int]], nbytes: float, tag: str = "",
                        key: int = 0) -> simpy.Event:
        """One event for ``len(pairs)`` identical transfers of ``nbytes`` (the same step of
        every replica of a symmetric job). The members move at one common rate, so the max-min
        computation sees one flow whose weight on each link is the number of members crossing
        it; every link still carries its exact load. Exact when the members are symmetric
        (they would get equal rates anyway); otherwise all members move at the slowest one's
        share, which is when a collective waiting on all of them completes."""
        if len(pairs) == 1:
            return self.transfer(pairs[0][0], pairs[0][1], nbytes, tag, key)
        event = self.env.event()
        nbytes = float(nbytes)
        members = len(pairs)
        self.bytes_sent += nbytes * members
        shape = self._bundle_shapes.get((tuple(pairs), key))
        if shape is None:
            routes = [self.topo.route(s, d, key) for s, d in pairs]
            lat = self.topo.latency
            latency = max((float(lat[r].sum()) for r in routes), default=0.0)
            all_links = np.concatenate(routes) if routes else np.zeros(0, dtype=np.int64)
            links, weights = np.unique(all_links, return_counts=True)
            shape = (links, weights.astype(np.float64), latency)
            if len(self._bundle_shapes) > 65536:
                self._bundle_shapes.clear()
            self._bundle_shapes[(tuple(pairs), key)] = shape
        links, weights, latency = shape
        if nbytes == 0 or len(links) == 0:
            self._finish_after(event, latency, nbytes * members, tag, pairs[0][0], pairs[0][1], self.sim.now)
            return event
        if self.model == "analytic":
            duration = nbytes / self.capacity[links].min()
            self.link_bytes[links] += nbytes * weights
            self.link_busy[links] += duration
            self._finish_after(event, latency + duration, nbytes * members, tag, pairs[0][0], pairs[0][1], self.sim.now)
            return event
        flow = Flow(self._next_id, links, nbytes, event, tag, latency, self.sim.now, pairs[0][0], pairs[0][1],
                    weights, members)
        self._next_id += 1
        self._pending.append(flow)
        self._queue_update()
        return event

    def credit(self, links: np.ndarray, nbytes: np.ndarray, busy_s: np.ndarray | float, tag: str = "",
               total_bytes: float | None = None, peak_utilization: float = 0.0) -> None:
        """Account bytes that crossed ``links`` without flows: the private-link fast path of a
        collective whose links carry nothing else, timed once on an idle copy of the fabric.
        ``nbytes`` and ``busy_s`` are per link (arrays aligned with ``links``, or scalars);
        ``total_bytes`` (default: the sum of ``nbytes``) counts as sent and delivered under
        ``tag``. Links may repeat (each occurrence adds)."""
        links = np.asarray(links, dtype=np.int64)
        np.add.at(self.link_bytes, links, nbytes)
        np.add.at(self.link_busy, links, busy_s)
        total = float(np.sum(np.broadcast_to(nbytes, links.shape))) if total_bytes is None else float(total_bytes)
        self.bytes_sent += total
        self.bytes_delivered += total
        self.bytes_by_tag[tag] = self.bytes_by_tag.get(tag, 0.0) + total
        if peak_utilization > self.peak_utilization:
            self.peak_utilization = peak_utilization

    def active_flows(self) -> int:
        if self._inc is not None:
            return len(self._inc) + len(self._pending)
        return len(self._flows) + len(self._pending)

    @property
    def link_bytes(self) -> np.ndarray:
        """Bytes carried per link (shape (links,)), up to now."""
        if self._lc is not None:
            self._lc.flush(self._link_bytes, self._link_busy)
        return self._link_bytes

    @property
    def link_busy(self) -> np.ndarray:
        """Seconds each link carried any flow (shape (links,)), up to now."""
        if self._lc is not None:
            self._lc.flush(self._link_bytes, self._link_busy)
        return self._link_busy

    def link_table(self) -> pa.Table:
        topo = self.topo
        names = topo.node_names
        elapsed = max(self.sim.now, 1e-30)
        return pa.table({
            "link": np.arange(self.n_links, dtype=np.int64),
            "src": [names[i] for i in topo.link_src],
            "dst": [names[i] for i in topo.link_dst],
            "link_class": list(topo.link_class),
            "domain": list(topo.link_domain),
            "capacity_GBps": topo.capacity / 1e9,
            "effective_GBps": self.capacity / 1e9,
            "bytes": self.link_bytes.copy(),
            "busy_s": self.link_busy.copy(),
            "utilization": self.link_bytes / (self.capacity * elapsed),
        })

    def class_table(self) -> pa.Table:
        """Bytes, busy time and mean utilization per link class."""
        topo = self.topo
        classes = sorted(set(topo.link_class))
        cls = np.array(topo.link_class)
        elapsed = max(self.sim.now, 1e-30)
        rows = {"link_class": [], "links": [], "bytes": [], "busy_s": [], "mean_utilization": [], "max_utilization": []}
        for c in classes:
            m = cls == c
            util = self.link_bytes[m] / (self.capacity[m] * elapsed)
            rows["link_class"].append(c)
            rows["links"].append(int(m.sum()))
            rows["bytes"].append(float(self.link_bytes[m].sum()))
            rows["busy_s"].append(float(self.link_busy[m].sum()))
            rows["mean_utilization"].append(float(util.mean()) if len(util) else 0.0)
            rows["max_utilization"].append(float(util.max()) if len(util) else 0.0)
        return pa.table(rows)

    # -- internals --------------------------------------------------------------------------
    def _finish_after(self, event, delay, nbytes, tag, src, dst, start):
        def done(_):
            self.bytes_delivered += nbytes
            self.bytes_by_tag[tag] = self.bytes_by_tag.get(tag, 0.0) + nbytes
            if self.record_flows:
                self.sim.recorder.table("flows").add(tag=tag, src=int(src), dst=int(dst), bytes=nbytes,
                                                     start_s=start, end_s=self.sim.now)
        if delay <= 0:
            done(None)
            event.succeed()
        else:
            # the event itself fires after ``delay`` (as a timeout does), its accounting first:
            # one event per transfer, not a timeout and then the event
            event.callbacks.insert(0, done)
            event._ok, event._value = True, None
            self.env.schedule(event, delay=delay)

    def _queue_update(self):
        if not self._update_queued:
            self._update_queued = True
            self.env.timeout(0).callbacks.append(self._update)

    def _advance(self, now: float) -> None:
        dt = now - self._last
        if dt > 0 and self._inc is not None:
            self._rem -= self._rates * dt
            idx = self._loaded_idx                   # loaded links only (10^5 links at 16k GPUs)
            self.link_bytes[idx] += self._load_all[idx] * dt
            self.link_busy[idx] += dt
        elif dt > 0 and self._lc is not None:
            self._rem -= self._rates * dt
            self._lc.advance(dt)
        elif dt > 0 and len(self._flows):
            self._rem -= self._rates * dt
            self.link_bytes[self._active] += self._active_load * dt
            self.link_busy[self._active[self._active_load > 0]] += dt
        self._last = now

    # -- incremental mode -------------------------------------------------------------------
    def _to_incremental(self) -> None:
        """Move the active flows into slots of an incremental solver (slot = position)."""
        inc = self._inc = IncrementalMaxMin(self.capacity)
        for i, f in enumerate(self._flows):
            inc.add(i, f.links, f.weights)
        self._rates = np.zeros(len(self._flows))            # the first solve sets them all
        self._free = []
        self._load_all = np.zeros(self.n_links)
        self._loaded = set()
        self._loaded_idx = np.zeros(0, dtype=np.int64)
        self._entry_flow = np.zeros(0, dtype=np.int64)      # the solver holds the entries now
        self._entry_link = np.zeros(0, dtype=np.int64)
        self._entry_weight = np.zeros(0)
        self._active = np.zeros(0, dtype=np.int64)
        self._active_load = np.zeros(0)
        self._load_full = np.zeros(self.n_links)

    def _update_incremental(self, now: float) -> None:
        inc, flows = self._inc, self._flows
        if len(inc):
            with np.errstate(divide="ignore", invalid="ignore"):
                left = np.where(self._rates > 0, self._rem / self._rates, np.inf)
            done = (left <= 1e-9 * max(now, 1e-6)) | (self._rem <= 1e-9 * self._size)
            # complete in arrival order, as the from-scratch mode does (same-time events keep
            # their order, so both modes give the same simulation)
            for i in sorted(np.flatnonzero(done).tolist(), key=lambda i: flows[i].fid):
                f = flows[i]
                self._finish_after(f.event, f.latency, f.size * f.members, f.tag, f.src, f.dst, f.start)
                inc.remove(i)
                flows[i] = None
                self._free.append(i)
            if done.any():
                self._rates[done] = 0.0
                self._rem[done] = np.inf                     # a free slot never completes
                self._size[done] = 1.0
        if self._pending:
            pending = self._pending
            self._pending = []
            grow = len(pending) - len(self._free)
            if grow > 0:
                n = len(flows)
                flows.extend([None] * grow)
                self._rates = np.concatenate([self._rates, np.zeros(grow)])
                self._rem = np.concatenate([self._rem, np.full(grow, np.inf)])
                self._size = np.concatenate([self._size, np.ones(grow)])
                self._free.extend(range(n + grow - 1, n - 1, -1))
            for f in pending:
                i = self._free.pop()
                flows[i] = f
                self._rem[i] = self._size[i] = f.size
                inc.add(i, f.links, f.weights)
        changed, touched = inc.solve()
        self.rate_computations += 1
        if changed:
            slots = np.fromiter(changed.keys(), dtype=np.int64, count=len(changed))
            self._rates[slots] = np.fromiter(changed.values(), dtype=np.float64, count=len(changed))
        if touched:
            links = np.fromiter(touched, dtype=np.int64, count=len(touched))
            load = inc.load
            self._load_all[links] = [load[x] for x in links.tolist()]
            loaded, moved = self._loaded, False
            for x, y in zip(links.tolist(), self._load_all[links].tolist()):
                if (y > 0) != (x in loaded):
                    moved = True
                    if y > 0:
                        loaded.add(x)
                    else:
                        loaded.discard(x)
            if moved:
                self._loaded_idx = np.fromiter(loaded, dtype=np.int64, count=len(loaded))
            util = float((self._load_all[links] / self.capacity[links]).max())
            if util > self.peak_utilization:
                self.peak_utilization = util
        if not len(inc):                                    # drained: back to the first mode
            self._inc = None
            self._flows = []
            self._free = []
            self._rates = np.zeros(0)
            self._rem = np.zeros(0)
            self._size = np.zeros(0)
            self._load_all = np.zeros(0)
            self._loaded = set()
            self._loaded_idx = np.zeros(0, dtype=np.int64)

    def _update(self, _event=None) -> None:
        self._update_queued = False
        now = self.sim.now
        self._advance(now)
        if self._inc is None and len(self._flows) + len(self._pending) >= INCREMENTAL_FLOWS:
            self._leave_classes()
            self._to_incremental()
        if self._inc is not None:
            self._update_incremental(now)
            self._schedule_wakeup()
            return
        if self._lc is None and any(len(f.links) >= CLASS_LINKS for f in self._pending):
            self._enter_classes()
        if self._lc is not None:
            self._update_classes(now)
            self._schedule_wakeup()
            return
        changed = False
        seeds = []                                   # links of the flows that came or went
        if len(self._flows):
            # complete drained flows, coalescing those within float noise of now
            with np.errstate(divide="ignore", invalid="ignore"):
                left = np.where(self._rates > 0, self._rem / self._rates, np.inf)
            done = (left <= 1e-9 * max(now, 1e-6)) | (self._rem <= 1e-9 * self._size)
            if done.any():
                flows = self._flows
                for i in np.flatnonzero(done):
                    f = flows[i]
                    self._finish_after(f.event, f.latency, f.size * f.members, f.tag, f.src, f.dst, f.start)
                keep = ~done
                self._flows = [f for f, k in zip(flows, keep) if k]
                newpos = np.cumsum(keep) - 1
                ekeep = keep[self._entry_flow]
                seeds.append(self._entry_link[~ekeep])
                self._rates = self._rates[keep]
                self._entry_flow = newpos[self._entry_flow[ekeep]]
                self._entry_link = self._entry_link[ekeep]
                self._entry_weight = self._entry_weight[ekeep]
                self._rem = self._rem[keep]
                self._size = self._size[keep]
                changed = True
        if self._pending:
            pending = self._pending
            self._pending = []
            base = len(self._flows)
            lengths = np.fromiter((len(f.links) for f in pending), dtype=np.int64, count=len(pending))
            self._entry_flow = np.concatenate([self._entry_flow,
                                               base + np.repeat(np.arange(len(pending), dtype=np.int64), lengths)])
            self._entry_link = np.concatenate([self._entry_link] + [f.links for f in pending])
            self._entry_weight = np.concatenate([self._entry_weight] + [f.weights for f in pending])
            self._weighted = self._weighted or any(f.members > 1 for f in pending)
            sizes = np.fromiter((f.size for f in pending), dtype=np.float64, count=len(pending))
            self._rem = np.concatenate([self._rem, sizes])
            self._size = np.concatenate([self._size, sizes])
            self._rates = np.concatenate([self._rates, np.zeros(len(pending))])
            self._flows.extend(pending)
            seeds.extend(f.links for f in pending)
            changed = True
        if changed:
            self._recompute(np.concatenate(seeds))
        self._schedule_wakeup()

    def _recompute(self, seeds: np.ndarray | None = None) -> None:
        """Re-solve max-min rates after flows came or went over links ``seeds`` (None: all).
        Only the components holding a seed link are solved (module docstring)."""
        n = len(self._flows)
        ef_all, el_all = self._entry_flow, self._entry_link
        if seeds is not None:
            self._load_full[seeds] = 0.0             # links that lost flows; the rest is redone
        if n == 0:
            self._rates = np.zeros(0)
            self._active = np.zeros(0, dtype=np.int64)
            self._active_load = np.zeros(0)
            return
        self.rate_computations += 1                  # a fabric update: counted solved or not
        # the component(s) of the seed links: grow marked links <-> flows until closed; give up
        # (solve everything, the same rates) once they hold most entries
        sel = None
        if seeds is not None:
            on_link = np.zeros(self.n_links, dtype=bool)
            on_link[seeds] = True
            marked = -1
            while True:
                on_flow = np.zeros(n, dtype=bool)
                on_flow[ef_all[on_link[el_all]]] = True
                sel = on_flow[ef_all]
                m = int(np.count_nonzero(sel))
                if m == marked:
                    break
                if 4 * m > 3 * len(ef_all):
                    sel = None
                    break
                marked = m
                on_link[el_all[sel]] = True
        w_all = self._entry_weight if self._weighted else None
        if sel is not None and marked == 0:          # only flows that left: no rate moves
            self._set_active()
            return
        if sel is None:
            flows = None
            ef, el, w, nf = ef_all, el_all, w_all, n
        else:
            flows = np.flatnonzero(on_flow)
            pos = np.cumsum(on_flow) - 1
            ef, el, nf = pos[ef_all[sel]], el_all[sel], len(flows)
            w = None if w_all is None else w_all[sel]
        # work on the links that carry flows only (a 16k-GPU fabric has ~10^5 links, few busy):
        # few entries: np.unique; many: mark the links in use and number them in order (no sort)
        if 16 * len(el) < self.n_links:
            active, inverse = np.unique(el, return_inverse=True)
        else:
            used = np.zeros(self.n_links, dtype=bool)
            used[el] = True
            active = np.flatnonzero(used)
            pos = self._link_pos                     # link -> its rank among active (no cumsum)
            pos[active] = np.arange(len(active))
            inverse = pos[el]
        rates = maxmin_rates(ef, inverse, nf, self.capacity[active], w, compact=True)
        load = link_loads(ef, inverse, rates, len(active), w)
        self._load_full[active] = load
        if flows is None:
            self._rates = rates
            self._active, self._active_load = active, load
        else:
            self._rates[flows] = rates
            self._set_active()
        util = float((load / self.capacity[active]).max())
        if util > self.peak_utilization:
            self.peak_utilization = util

    def _set_active(self) -> None:
        """The links carrying flows (first mode) and their loads, from ``_load_full``."""
        el = self._entry_link
        if 16 * len(el) < self.n_links:
            self._active = np.unique(el)
        else:
            used = np.zeros(self.n_links, dtype=bool)
            used[el] = True
            self._active = np.flatnonzero(used)
        self._active_load = self._load_full[self._active]

    def _schedule_wakeup(self) -> None:
        if not len(self._flows) or (self._inc is not None and not len(self._inc)):
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(self._rates > 0, self._rem / self._rates, np.inf)
        dt = float(left.min())
        if not np.isfinite(dt):
            return
        self._wake_generation += 1
        gen = self._wake_generation

        def wake(_):
            if gen == self._wake_generation:
                self._update()
        self.env.timeout(max(dt, 0.0)).callbacks.append(wake)

    # -- class mode -------------------------------------------------------------------------
    def _enter_classes(self) -> None:
        """Move the first mode's flows into link classes (``sim.linkclasses``)."""
        lc = self._lc = LinkClasses(self.capacity, self._lc_last)
        self._lc_last = lc
        for f in self._flows:
            lc.add(f.fid, f.links, f.weights)
        self._entry_flow = np.zeros(0, dtype=np.int64)      # the classes hold the entries now
        self._entry_link = np.zeros(0, dtype=np.int64)
        self._entry_weight = np.zeros(0)
        self._active = np.zeros(0, dtype=np.int64)
        self._active_load = np.zeros(0)
        self._load_full = np.zeros(self.n_links)

    def _leave_classes(self) -> None:
        """Back to the first mode: pay what the classes owe, and rebuild its entries."""
        lc = self._lc
        if lc is None:
            return
        lc.flush(self._link_bytes, self._link_busy)
        self._lc = None
        flows = self._flows
        if flows:
            lengths = np.fromiter((len(f.links) for f in flows), dtype=np.int64, count=len(flows))
            self._entry_flow = np.repeat(np.arange(len(flows), dtype=np.int64), lengths)
            self._entry_link = np.concatenate([f.links for f in flows])
            self._entry_weight = np.concatenate([f.weights for f in flows])
            cls = lc.cls[self._entry_link]
            self._load_full[self._entry_link] = lc.load[cls]
            self._set_active()

    def _update_classes(self, now: float) -> None:
        """The first mode's update (``_update``) on link classes: the same completions, the
        same max-min arithmetic on one representative per class (so the same rates), loads
        per class and per-link accounting owed until read (``link_bytes``)."""
        lc, changed, seeds = self._lc, False, []
        if len(self._flows):
            with np.errstate(divide="ignore", invalid="ignore"):
                left = np.where(self._rates > 0, self._rem / self._rates, np.inf)
            done = (left <= 1e-9 * max(now, 1e-6)) | (self._rem <= 1e-9 * self._size)
            if done.any():
                flows = self._flows
                for i in np.flatnonzero(done):
                    f = flows[i]
                    self._finish_after(f.event, f.latency, f.size * f.members, f.tag, f.src, f.dst, f.start)
                    seeds.extend(lc.remove(f.fid))
                keep = ~done
                self._flows = [f for f, k in zip(flows, keep) if k]
                self._rates = self._rates[keep]
                self._rem = self._rem[keep]
                self._size = self._size[keep]
                changed = True
        pending = self._pending
        if pending:
            self._pending = []
            for f in pending:
                lc.add(f.fid, f.links, f.weights)
            self._weighted = self._weighted or any(f.members > 1 for f in pending)
            sizes = np.fromiter((f.size for f in pending), dtype=np.float64, count=len(pending))
            self._rem = np.concatenate([self._rem, sizes])
            self._size = np.concatenate([self._size, sizes])
            self._rates = np.concatenate([self._rates, np.zeros(len(pending))])
            self._flows.extend(pending)
            changed = True
        if not changed:
            return
        if not self._flows:                          # drained: pay the classes, first mode again
            lc.flush(self._link_bytes, self._link_busy)
            self._lc = None
            self._rates = np.zeros(0)
            return
        self.rate_computations += 1
        if len(lc) > 4 * sum(map(len, lc.entries.values())) + 1024:   # fragmented: rebuild
            lc.flush(self._link_bytes, self._link_busy)
            self._enter_classes()
            lc = self._lc
        if lc.fresh:                                 # new classes: solve every flow
            lc.fresh = False
            seeds = range(len(lc))
        else:
            for f in pending:
                seeds.extend(lc.entries[f.fid])
        util = lc.solve([f.fid for f in self._flows], seeds, self._rates)
        if util > self.peak_utilization:
            self.peak_utilization = util
