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
  so a completion re-solves only the flows it affects; below it (the first mode), each change
  re-solves the components it touches with the vectorized solver. Both give the max-min rates (to 1e-9 relative); the fabric goes
  back to the first mode when it has drained.
- component: a connected part of the graph whose nodes are links and active flows, a flow
  joining the links it crosses. Max-min shares of different components are independent, so
  in the first mode a change re-solves only the components holding the changed flows' links;
  the other flows keep their rates and their links their loads. The solver does the same
  arithmetic on a component's entries, in the same order, alone or beside others, so the
  rates are identical to a whole-network solve.
- group: a set of active flows that shares no link with any other group (a union of
  components; the first mode keeps every active flow in exactly one). A change touches only
  the groups holding the changed flows' links (``_link_group``): their flows are searched
  breadth-first from those links, the components reached are re-solved as one new group and
  the rest of the touched groups become another, keeping their rates and loads. Each group
  owes its links the bytes and busy time since its last change (``t0``) and pays them when
  it changes or when ``link_bytes``/``link_busy`` is read (up to the last fabric update, as
  before; the sums are rounded differently, ~1e-15 relative), so an update costs O(the touched
  groups' entries), not O(every active flow's) (two jobs on one fabric: one job's change does
  not touch the other's flows unless they share a link).
- class mode: once a flow crosses ``CLASS_LINKS`` links (a symmetric collective bundled over
  every group of a stage), the fabric keeps its first-mode flows on link classes instead of
  groups (``sim.linkclasses``: links of equal capacity crossed by the same flows with the same
  weights), re-solves the changed flows' components on one representative per class with the
  same arithmetic, and owes per-link bytes and busy time per class until ``link_bytes`` /
  ``link_busy`` are read. Rates and completion times are identical to the first mode's; it
  goes back to groups when drained.
- tenants: the jobs sharing the fabric (``sim.tenant.JobFabric`` registers each). With two or
  more, class mode first tries each arrival and departure as a *settled change*
  (``sim.linkclasses``: one that provably moves no other flow's max-min rate, such as a chat
  flow joining spine links that training leaves unsaturated) and re-solves only when one is
  not: the same max-min rates to ~1e-15 relative instead of bit for bit, so a job alone (one
  tenant, or none) keeps the exact re-solve and its results bit for bit.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import simpy

from sim.fairshare import IncrementalMaxMin, link_loads, maxmin_rates, maxmin_small
from sim.linkclasses import LinkClasses
from sim.simulation import Simulation
from sim.topology import Topology


INCREMENTAL_FLOWS = 512     # concurrent flows from which rates are kept incrementally
# below this many active flows the first mode checks completions and the next wake-up on Python
# floats (the same IEEE operations as the arrays, element by element: the same flows, the same
# times), where numpy's per-call overhead outweighs the work
SCALAR_FLOWS = 32
# a fabric of fewer links numbers the links in use by marking them (no sort), whatever their count
SMALL_FABRIC_LINKS = 4096
# a re-solve of this many (flow, link) entries or fewer runs sim.fairshare.maxmin_small (Python floats,
# the same arithmetic as maxmin_rates and link_loads, bit for bit), faster than numpy's calls on so few
SMALL_ENTRIES = 64
CLASS_LINKS = 256           # a flow over this many links puts the first mode in class mode



# The ``flows`` table a traced run writes (``run.trace``): one row per finished network flow,
# its tag (the collective or transfer), source and destination GPU, bytes and start / end (s).
# Written with this schema whatever the run recorded, also empty when no flow crossed the fabric.
# On a fabric shared by jobs (``tenants``, sim.tenant.JobFabric) each row also names its ``job``.
FLOW_SCHEMA = pa.schema([("tag", pa.string()), ("src", pa.int64()), ("dst", pa.int64()),
                         ("bytes", pa.float64()), ("start_s", pa.float64()), ("end_s", pa.float64())])

class Flow:
    __slots__ = ("fid", "links", "weights", "members", "spread", "size", "event", "tag", "latency", "start", "src", "dst",
                 "slot", "group", "job")

    def __init__(self, fid, links, size, event, tag, latency, start, src, dst, weights=None, members=1,
                 spread=False, job=None):
        self.fid = fid
        self.links = links
        self.weights = weights if weights is not None else np.ones(len(links))
        self.members = members
        self.spread = spread      # weights below 1 (a flow spread over parallel paths)
        self.size = size
        self.event = event
        self.tag = tag
        self.latency = latency
        self.start = start
        self.src = src
        self.dst = dst
        self.slot = -1          # first mode: position in the fabric's flow list (-1: not active)
        self.group = None       # first mode: the _Group holding it
        self.job = job          # the job that sent it on a shared fabric (flows table), else None


class _Group:
    """Active flows sharing no link with other groups (see "group" in the module docstring):
    ``flows`` in arrival order, the links they use (``active``, sorted) and their loads
    (bytes/s), owed to the links' counters since ``t0``."""
    __slots__ = ("gid", "flows", "active", "load", "t0")

    def __init__(self, gid, flows, active, load, t0):
        self.gid = gid
        self.flows = flows
        self.active = active
        self.load = load
        self.t0 = t0


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
        self._link_bytes = np.zeros(self.n_links)   # see link_bytes (groups owe some)
        self._link_busy = np.zeros(self.n_links)
        self._lc: LinkClasses | None = None          # class mode (see "class mode" above)
        self._lc_last: LinkClasses | None = None
        self.bytes_sent = 0.0
        self.bytes_delivered = 0.0
        self.bytes_by_tag: dict[str, float] = {}
        self.peak_utilization = 0.0                  # max over time of load / effective capacity
        self.rate_computations = 0
        self.tenants = 0                             # jobs sharing the fabric (sim.tenant.JobFabric)
        self.settled_changes = 0                     # arrivals/departures that needed no re-solve
        self.record_flows = record_flows
        # active flows; _rem, _size and _rates are aligned with this list (a flow's ``slot``)
        self._flows: list[Flow] = []
        self._pending: list[Flow] = []
        self._next_id = 0
        self._rates = np.zeros(0)
        self._rem = np.zeros(0)
        self._size = np.zeros(0)
        self._weighted = False                       # any bundle seen: use weighted max-min
        self._bundle_shapes: dict = {}               # (pairs, key) -> (links, weights, latency)
        self._bundle_by_id: dict = {}                # id(pairs) -> (pairs, key, shape) for large bundles
        self._groups: dict[int, _Group] = {}         # first mode: group id -> group
        self._link_group = np.full(self.n_links, -1, dtype=np.int64)   # link -> group id (-1: none)
        self._next_gid = 0
        self._load_full = np.zeros(self.n_links)     # first mode: load of every grouped link
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
    def transfer(self, src: int, dst: int, nbytes: float, tag: str = "", key: int = 0,
                 job: str | None = None) -> simpy.Event:
        """An event that fires when ``nbytes`` sent from node ``src`` have reached ``dst`` (``job``: the
        job sending it on a shared fabric, recorded in the flows table)."""
        event = self.env.event()
        nbytes = float(nbytes)
        if nbytes < 0:
            raise ValueError("transfer size must be non-negative")
        links, shares = self.topo.route_weighted(src, dst, key)
        spread = bool(len(shares)) and shares.min() < 1.0
        latency = self.topo.path_latency(links, shares if spread else None)
        self.bytes_sent += nbytes
        if nbytes == 0 or len(links) == 0:
            self._finish_after(event, latency, nbytes, tag, src, dst, self.sim.now, job)
            return event
        if self.model == "analytic":
            cap = self.capacity[links] / shares
            duration = nbytes / cap.min()
            self._link_bytes[links] += nbytes * shares
            self._link_busy[links] += duration * shares
            self._finish_after(event, latency + duration, nbytes, tag, src, dst, self.sim.now, job)
            return event
        flow = Flow(self._next_id, links, nbytes, event, tag, latency, self.sim.now, src, dst,
                    shares if spread else None, spread=spread, job=job)
        self._next_id += 1
        self._pending.append(flow)
        self._queue_update()
        return event

    def transfer_bundle(self, pairs: list[tuple[int, int]], nbytes: float, tag: str = "",
                        key: int = 0, job: str | None = None) -> simpy.Event:
        """One event for ``len(pairs)`` identical transfers of ``nbytes`` (the same step of
        every replica of a symmetric job). The members move at one common rate, so the max-min
        computation sees one flow whose weight on each link is the number of members crossing
        it; every link still carries its exact load. Exact when the members are symmetric
        (they would get equal rates anyway); otherwise all members move at the slowest one's
        share, which is when a collective waiting on all of them completes."""
        if len(pairs) == 1:
            return self.transfer(pairs[0][0], pairs[0][1], nbytes, tag, key, job)
        event = self.env.event()
        nbytes = float(nbytes)
        members = len(pairs)
        self.bytes_sent += nbytes * members
        links, weights, latency = self.bundle_shape(pairs, key)
        if nbytes == 0 or len(links) == 0:
            self._finish_after(event, latency, nbytes * members, tag, pairs[0][0], pairs[0][1], self.sim.now, job)
            return event
        if self.model == "analytic":
            duration = nbytes / (self.capacity[links] / weights).min()
            self._link_bytes[links] += nbytes * weights
            self._link_busy[links] += duration
            self._finish_after(event, latency + duration, nbytes * members, tag, pairs[0][0], pairs[0][1], self.sim.now,
                               job)
            return event
        flow = Flow(self._next_id, links, nbytes, event, tag, latency, self.sim.now, pairs[0][0], pairs[0][1],
                    weights, members, spread=bool(len(weights)) and weights.min() < 1.0, job=job)
        self._next_id += 1
        self._pending.append(flow)
        self._queue_update()
        return event

    def bundle_shape(self, pairs: list[tuple[int, int]], key: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
        """What ``transfer_bundle(pairs, ...)`` puts on the fabric: the links its members cross
        (sorted), how many members cross each (float weights) and its latency (the longest
        member route's, seconds). Cached per (pairs, key)."""
        # a planned collective passes the same pairs list on every call: found by identity
        # first (hashing 10^5 pairs per call was a tenth of a 16k-GPU MoE run), the list kept
        # so that its id stays its own
        hit = self._bundle_by_id.get(id(pairs))
        if hit is not None and hit[0] is pairs and hit[1] == key:
            return hit[2]
        ck = (tuple(pairs), key)
        shape = self._bundle_shapes.get(ck)
        if shape is None:
            shape = self._bundle_shape_fast(pairs, key)
            if shape is None:
                shape = self._bundle_shape_reference(pairs, key)
            if len(self._bundle_shapes) > 65536:
                self._bundle_shapes.clear()
            self._bundle_shapes[ck] = shape
        if isinstance(pairs, list) and len(pairs) >= 64:
            if len(self._bundle_by_id) > 4096:
                self._bundle_by_id.clear()
            self._bundle_by_id[id(pairs)] = (pairs, key, shape)
        return shape

    def _bundle_shape_fast(self, pairs, key: int = 0):
        """``_bundle_shape_reference``'s result, bit for bit, from the members' routes computed
        at once (``Topology.route_blocks``), or None where that does not apply (a small bundle,
        a router without batched routes, adaptive routing). Every member's weight on its links
        is 1 there, so a link's weight is the number of members crossing it."""
        mats = self.topo.route_blocks(pairs, key)
        if mats is None:
            return None
        counts = np.zeros(self.n_links, dtype=np.int64)
        for m in mats:
            if m.size:
                counts += np.bincount(m.ravel(), minlength=self.n_links)
        links = np.flatnonzero(counts).astype(np.int64)
        return links, counts[links].astype(np.float64), self.topo.max_block_latency(mats)

    def _bundle_shape_reference(self, pairs, key: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
        """``bundle_shape`` one member route at a time (the reference the fast path is held to)."""
        routes = [self.topo.route_weighted(s, d, key) for s, d in pairs]
        lat = self.topo.latency
        latency = max((float((lat[r] * w).sum()) for r, w in routes), default=0.0)
        # each member adds its share on each link (1 on a single path; spread routes less)
        all_links = np.concatenate([r for r, _ in routes]) if routes else np.zeros(0, dtype=np.int64)
        all_w = np.concatenate([w for _, w in routes]) if routes else np.zeros(0)
        links, inv = np.unique(all_links, return_inverse=True)
        return links, np.bincount(inv, weights=all_w, minlength=len(links)), latency

    def credit(self, links: np.ndarray, nbytes: np.ndarray, busy_s: np.ndarray | float, tag: str = "",
               total_bytes: float | None = None, peak_utilization: float = 0.0) -> None:
        """Account bytes that crossed ``links`` without flows: the private-link fast path of a
        collective whose links carry nothing else, timed once on an idle copy of the fabric.
        ``nbytes`` and ``busy_s`` are per link (arrays aligned with ``links``, or scalars);
        ``total_bytes`` (default: the sum of ``nbytes``) counts as sent and delivered under
        ``tag``. Links may repeat (each occurrence adds)."""
        links = np.asarray(links, dtype=np.int64)
        np.add.at(self._link_bytes, links, nbytes)
        np.add.at(self._link_busy, links, busy_s)
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

    def _settle_accounts(self) -> None:
        """Pay what flow groups and link classes owe the per-link counters (deferred accounting)."""
        self._pay_groups()
        if self._lc is not None:
            self._lc.flush(self._link_bytes, self._link_busy)

    @property
    def link_bytes(self) -> np.ndarray:
        """Bytes carried per link (shape (links,)), up to the last fabric update."""
        self._settle_accounts()
        return self._link_bytes

    @property
    def link_busy(self) -> np.ndarray:
        """Seconds each link carried any flow (shape (links,)), up to the last fabric update."""
        self._settle_accounts()
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
    def _finish_after(self, event, delay, nbytes, tag, src, dst, start, job=None):
        def done(_):
            self.bytes_delivered += nbytes
            self.bytes_by_tag[tag] = self.bytes_by_tag.get(tag, 0.0) + nbytes
            if self.record_flows:
                row = dict(tag=tag, src=int(src), dst=int(dst), bytes=nbytes, start_s=start, end_s=self.sim.now)
                if self.tenants:            # a shared fabric: every row names its job (FLOW_SCHEMA's note)
                    row["job"] = job
                self.sim.recorder.table("flows").add(**row)
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
            self._link_bytes[idx] += self._load_all[idx] * dt
            self._link_busy[idx] += dt
        elif dt > 0 and self._lc is not None:
            self._rem -= self._rates * dt
            self._lc.advance(dt)
        elif dt > 0 and len(self._flows):
            self._rem -= self._rates * dt            # links: the groups owe them (_pay)
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
        self._pay_groups()                                  # the solver holds the flows now
        for g in self._groups.values():
            self._link_group[g.active] = -1
            for f in g.flows:
                f.group = None
        self._groups = {}

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
                self._finish_after(f.event, f.latency, f.size * f.members, f.tag, f.src, f.dst, f.start, f.job)
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
        self._update_first(now)
        self._schedule_wakeup()

    # -- first mode: groups -----------------------------------------------------------------
    def _update_first(self, now: float) -> None:
        """Complete drained flows, add pending ones, re-solve the components they touch."""
        touched: dict[int, _Group] = {}              # group id -> group that lost or meets a flow
        seeds = []                                   # links of the flows that came or went
        flows = self._flows
        if flows:
            # complete drained flows, coalescing those within float noise of now
            idx = self._drained(now)
            if len(idx):
                done = np.zeros(len(flows), dtype=bool)
                done[idx] = True
                for i in idx:
                    f = flows[i]
                    self._finish_after(f.event, f.latency, f.size * f.members, f.tag, f.src, f.dst, f.start, f.job)
                    g = f.group
                    touched[g.gid] = g
                    seeds.append(f.links)
                    f.slot = -1
                    f.group = None
                keep = ~done
                flows = self._flows = [f for f in flows if f.slot >= 0]
                for i in range(int(idx[0]), len(flows)):
                    flows[i].slot = i
                self._rates = self._rates[keep]
                self._rem = self._rem[keep]
                self._size = self._size[keep]
        if self._pending:
            pending = self._pending
            self._pending = []
            base = len(flows)
            gid = self._link_group
            for k, f in enumerate(pending):
                f.slot = base + k
                seeds.append(f.links)
                on = gid[f.links].tolist()
                if on:
                    lo, hi = min(on), max(on)
                    if hi >= 0:
                        ids = [hi] if lo == hi else sorted({x for x in on if x >= 0})
                        for x in ids:
                            touched[x] = self._groups[x]
            self._weighted = self._weighted or any(f.members > 1 or f.spread for f in pending)
            sizes = np.fromiter((f.size for f in pending), dtype=np.float64, count=len(pending))
            self._rem = np.concatenate([self._rem, sizes])
            self._size = np.concatenate([self._size, sizes])
            self._rates = np.concatenate([self._rates, np.zeros(len(pending))])
            flows.extend(pending)
        else:
            pending = []
        if not seeds:
            return
        self._regroup(list(touched.values()), pending, np.concatenate(seeds))

    def _drained(self, now: float):
        """Positions of the active flows that have drained by ``now`` (time left within float
        noise of now, or bytes left within 1e-9 of their size), in order: the same comparisons
        on Python floats below ``SCALAR_FLOWS`` flows as on the arrays above it."""
        lim = 1e-9 * max(now, 1e-6)
        if len(self._flows) < SCALAR_FLOWS:
            inf = np.inf
            return [i for i, (m, r, z) in enumerate(zip(self._rem.tolist(), self._rates.tolist(), self._size.tolist()))
                    if (m / r if r > 0 else inf) <= lim or m <= 1e-9 * z]
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(self._rates > 0, self._rem / self._rates, np.inf)
        done = (left <= lim) | (self._rem <= 1e-9 * self._size)
        return np.flatnonzero(done).tolist()

    def _pay(self, g: _Group) -> None:
        """Account what group ``g`` owes its links up to the last update."""
        dt = self._last - g.t0
        if dt > 0:
            self._link_bytes[g.active] += g.load * dt
            self._link_busy[g.active[g.load > 0]] += dt
        g.t0 = self._last

    def _pay_groups(self) -> None:
        for g in self._groups.values():
            self._pay(g)

    def _new_group(self, flows: list, active: np.ndarray, load: np.ndarray) -> None:
        gid = self._next_gid
        self._next_gid += 1
        g = _Group(gid, flows, active, load, self._last)
        for f in flows:
            f.group = g
        self._groups[gid] = g
        self._link_group[active] = gid

    def _regroup(self, touched: list, pending: list, seeds: np.ndarray) -> None:
        """Re-solve the components of ``seeds`` (links of flows that came or went) among the
        touched groups' flows and the ``pending`` ones: those components become one group
        with new rates, the rest of the touched flows another keeping theirs."""
        gid = self._link_group
        work = []
        for g in touched:
            self._pay(g)
            gid[g.active] = -1
            del self._groups[g.gid]
            work.extend(f for f in g.flows if f.slot >= 0)
        if not self._flows:
            return
        self.rate_computations += 1                  # a fabric update: counted solved or not
        if touched:
            work.extend(pending)
            work.sort(key=lambda f: f.slot)          # arrival order: the solver's entry order
        else:
            work = pending
        if not work:
            return
        lengths = np.fromiter((len(f.links) for f in work), dtype=np.int64, count=len(work))
        el_all = np.concatenate([f.links for f in work])
        ef_all = np.repeat(np.arange(len(work), dtype=np.int64), lengths)
        # the component(s) of the seed links: grow marked links <-> flows until closed
        n = len(work)
        if n == len(pending):
            on_flow = np.ones(n, dtype=bool)         # only new flows: all are re-solved
            sel = None
        else:
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
                marked = m
                on_link[el_all[sel]] = True
            if m == len(el_all):
                sel = None
        if sel is None:
            solve, rest = work, []
            ef, el, nf = ef_all, el_all, n
            w = np.concatenate([f.weights for f in work]) if self._weighted else None
        else:
            solve = [f for f, o in zip(work, on_flow.tolist()) if o]
            rest = [f for f, o in zip(work, on_flow.tolist()) if not o]
            pos = np.cumsum(on_flow) - 1
            ef, el, nf = pos[ef_all[sel]], el_all[sel], len(solve)
            w = np.concatenate([f.weights for f in solve]) if self._weighted and solve else None
        if rest:
            rl = el_all[~sel]
            ra = (np.unique(rl) if 16 * len(rl) < self.n_links and self.n_links > SMALL_FABRIC_LINKS
                  else np.flatnonzero(np.bincount(rl, minlength=self.n_links)))
            self._new_group(rest, ra, self._load_full[ra])
        if not solve:
            return
        # work on the links that carry flows only (a 16k-GPU fabric has ~10^5 links, few busy):
        # few entries: np.unique; many: mark the links in use and number them in order (no sort)
        if 16 * len(el) < self.n_links and self.n_links > SMALL_FABRIC_LINKS:
            active, inverse = np.unique(el, return_inverse=True)
        else:
            used = np.zeros(self.n_links, dtype=bool)
            used[el] = True
            active = np.flatnonzero(used)
            lpos = self._link_pos                    # link -> its rank among active (no cumsum)
            lpos[active] = np.arange(len(active))
            inverse = lpos[el]
        small = None
        if len(el) <= SMALL_ENTRIES:                 # few entries: the same arithmetic on floats
            small = maxmin_small(ef.tolist(), inverse.tolist(), nf, self.capacity[active].tolist(),
                                 w.tolist() if w is not None else None)
        if small is not None:
            rates, load = np.array(small[0], dtype=np.float64), np.array(small[1], dtype=np.float64)
        else:
            rates = maxmin_rates(ef, inverse, nf, self.capacity[active], w, compact=True)
            load = link_loads(ef, inverse, rates, len(active), w)
        self._load_full[active] = load
        slots = np.fromiter((f.slot for f in solve), dtype=np.int64, count=nf)
        self._rates[slots] = rates
        self._new_group(solve, active, load)
        util = float((load / self.capacity[active]).max())
        if util > self.peak_utilization:
            self.peak_utilization = util

    def _schedule_wakeup(self) -> None:
        if not len(self._flows) or (self._inc is not None and not len(self._inc)):
            return
        rates = self._rates                          # time left per flow (inf: no rate)
        if len(rates) < SCALAR_FLOWS:               # the same divisions and minimum on floats
            inf = np.inf
            left = [m / r if r > 0 else inf for m, r in zip(self._rem.tolist(), rates.tolist())]
            dt = min(left)
            if any(x != x for x in left):           # numpy's minimum is NaN when any is
                dt = np.nan
        else:
            left = np.divide(self._rem, rates, out=np.full(len(rates), np.inf), where=rates > 0)
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
        """Move the first mode's flows from their groups into link classes
        (``sim.linkclasses``); the groups pay what they owe first."""
        self._pay_groups()
        for g in self._groups.values():
            self._link_group[g.active] = -1
            for f in g.flows:
                f.group = None
        self._groups = {}
        lc = self._lc = LinkClasses(self.capacity, self._lc_last)
        self._lc_last = lc
        for f in self._flows:
            lc.add(f.fid, f.links, f.weights)

    def _leave_classes(self) -> None:
        """Pay what the classes owe and drop them (the incremental mode takes the flows)."""
        if self._lc is not None:
            self._lc.flush(self._link_bytes, self._link_busy)
            self._lc = None

    def _update_classes(self, now: float) -> None:
        """The first mode's update (``_update``) on link classes: the same completions, the
        same max-min arithmetic on one representative per class (so the same rates), loads
        per class and per-link accounting owed until read (``link_bytes``)."""
        lc, changed, seeds = self._lc, False, []
        settle = self.tenants > 1 and not lc.fresh   # settled changes (sim.linkclasses) first
        if len(self._flows):
            rates = self._rates
            left = np.divide(self._rem, rates, out=np.full(len(rates), np.inf), where=rates > 0)
            done = (left <= 1e-9 * max(now, 1e-6)) | (self._rem <= 1e-9 * self._size)
            if done.any():
                flows = self._flows
                for i in np.flatnonzero(done):
                    f = flows[i]
                    self._finish_after(f.event, f.latency, f.size * f.members, f.tag, f.src, f.dst, f.start, f.job)
                    if settle:
                        back = lc.settle_removal(f.fid)
                        if back is None:
                            self.settled_changes += 1
                        else:                            # not settled: re-solve from here on
                            settle = False
                            seeds.extend(back)
                    else:
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
            settled = []
            for f in pending:
                lc.add(f.fid, f.links, f.weights)
                if settle:
                    x = lc.settle_arrival(f.fid)
                    if x is None:
                        settle = False
                    else:
                        settled.append(x)
            self._weighted = self._weighted or any(f.members > 1 or f.spread for f in pending)
            sizes = np.fromiter((f.size for f in pending), dtype=np.float64, count=len(pending))
            self._rem = np.concatenate([self._rem, sizes])
            self._size = np.concatenate([self._size, sizes])
            self._rates = np.concatenate([self._rates, np.zeros(len(pending))])
            if settled:
                self.settled_changes += len(settled)
                base = len(self._flows)
                self._rates[base:base + len(settled)] = settled
                load, cap = lc.load, lc.cap
                util = max(load[c] / cap[c] for f in pending[:len(settled)] for c in lc.entries[f.fid])
                if util > self.peak_utilization:
                    self.peak_utilization = float(util)
            self._flows.extend(pending)
            pending = pending[len(settled):]             # the rest are re-solved
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
            if not seeds:                            # every change settled
                return
        util = lc.solve([f.fid for f in self._flows], seeds, self._rates)
        if util > self.peak_utilization:
            self.peak_utilization = util
