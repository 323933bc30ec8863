"""The GPU model every workload uses: a compute stream and communication streams with busy
intervals, compute/communication interference, and an HBM ledger.

Vocabulary:
- stream: a sequence of busy intervals ``(start_s, end_s)``. ``compute`` is serial (the
  workload's process issues kernels one after another); communication has one stream per kind
  (``TP``, ``PP``, ``DP``, ``EP``, ``CP``, ...; the workload names them) whose intervals may overlap.
- interference: communication kernels take SMs and HBM bandwidth from compute (NCCL runs its
  collectives on SMs). While at least one communication interval is in flight on the GPU,
  compute progresses at ``1 - interference`` of its speed; alone it runs at full speed. A
  compute kernel of W seconds of work therefore lasts W + interference x (the time it spends
  overlapped with communication). ``interference = 0`` (the default) costs one timeout.
  ``slowdown`` instead stretches every kernel by one factor, overlapped or not: the averaged
  stand-in that training's calibrated default uses (``train.interference`` unset: the measured
  overlap slowdown x the closed-form overlapped fraction, ``training.costs.overlap_interference``).
- busy accounting: ``union_length`` (time with any interval of a list open),
  ``uncovered(a, b)`` (time of a's union outside b's union): compute time, communication time
  and exposed communication of a GPU come from these.
- batch: work timed in closed form rather than kernel by kernel (a serving iteration, or a
  macro-step of decode iterations: the forward passes and their blocking TP/EP/PP collectives),
  logged with ``log_batch`` as one compute interval followed by one interval per communication
  kind, in O(1). A ``Gpu`` may stand for a group of GPUs that move in lockstep (the TP ranks of
  a serving replica): one set of streams for all of them. With ``record=False`` a batch's
  intervals are not kept, only their seconds (``logged``; batches of one ``Gpu`` never overlap,
  so their lengths add), and the accounting is the same.
- HBM ledger (``HbmLedger``): named allocations in bytes against the GPU's capacity; ``peak``
  is the largest total ever held; ``check`` raises ``InfeasibleError`` naming the config key
  and what does not fit.
"""

from __future__ import annotations

from sim.errors import InfeasibleError


def merged(intervals) -> list[list[float]]:
    """The union of ``intervals`` as sorted, disjoint ``[start, end]`` pairs."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def union_length(intervals) -> float:
    """Seconds covered by at least one interval (a float: 0.0 for none, so that a column of
    these is typed double even where a run has no interval, such as comm_s of a one-GPU step;
    an int 0 typed it BIGINT and a raw read_parquet glob over a sweep truncated the others')."""
    return sum((b - a for a, b in merged(intervals)), 0.0)


def uncovered(intervals, cover) -> float:
    """Length of the union of ``intervals`` not covered by the union of ``cover``."""
    A, C = merged(intervals), merged(cover)
    total, j = 0.0, 0
    for a, b in A:
        length = b - a
        while j < len(C) and C[j][1] <= a:
            j += 1
        k = j
        while k < len(C) and C[k][0] < b:
            length -= max(0.0, min(b, C[k][1]) - max(a, C[k][0]))
            k += 1
        total += length
    return total


class Gpu:
    """One (simulated) GPU's streams on a SimPy environment."""

    def __init__(self, env, interference: float = 0.0, kinds: tuple[str, ...] = (), slowdown: float = 1.0,
                 record: bool = True):
        if not 0.0 <= interference < 1.0:
            raise ValueError("interference must be in [0, 1)")
        self.env = env
        self.interference = float(interference)
        self.slowdown = float(slowdown)     # every kernel, overlapped or not (an averaged stand-in)
        self.compute: list[tuple[float, float]] = []
        self.comm: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
        self._in_flight = 0
        self._change = None           # fires when communication starts or stops during compute
        self.record = record          # keep log_batch intervals (a trace draws them)
        self.logged: dict[str, float] = {}    # seconds per stream of log_batch batches not kept

    # -- compute ------------------------------------------------------------------------------
    def run(self, seconds: float):
        """Generator: ``seconds`` of compute work on the compute stream, slowed by interference
        while communication is in flight; logs the interval."""
        if seconds <= 0:
            return
        env = self.env
        t0 = env.now
        seconds = seconds * self.slowdown
        if self.interference == 0.0:
            yield env.timeout(seconds)
        else:
            work = float(seconds)
            while work > 1e-15 * max(seconds, 1.0):
                rate = 1.0 - self.interference if self._in_flight else 1.0
                self._change = env.event()
                start = env.now
                yield env.any_of([env.timeout(work / rate), self._change])
                work -= (env.now - start) * rate
            self._change = None
        self.compute.append((t0, env.now))

    def compute_time(self, seconds: float) -> float:
        """Duration of ``seconds`` of compute work started now if the communication now in
        flight stays in flight (for work timed in closed form, such as a pass merged with
        its blocking collectives)."""
        if seconds <= 0:
            return 0.0
        seconds = seconds * self.slowdown
        return seconds / (1.0 - self.interference) if self._in_flight else seconds

    # -- communication ------------------------------------------------------------------------
    def comm_begin(self) -> float:
        """A communication interval opens; returns its start time."""
        self._in_flight += 1
        self._poke()
        return self.env.now

    def comm_end(self, kind: str, start: float) -> None:
        """The interval opened at ``start`` closes now; it is logged on stream ``kind``."""
        self._in_flight -= 1
        self.comm.setdefault(kind, []).append((start, self.env.now))
        self._poke()

    def log_comm(self, kind: str, start: float, end: float) -> None:
        """Log communication timed elsewhere (no interference bookkeeping)."""
        self.comm.setdefault(kind, []).append((start, end))

    def log_batch(self, start: float, end: float, compute_s: float, comm=(), planned_s: float | None = None) -> None:
        """A batch timed in closed form that ran from ``start`` to ``end``: ``compute_s`` of
        compute from ``start``, then each ``(kind, seconds)`` of ``comm`` in order (blocking
        collectives); the rest of ``planned_s`` (its closed-form duration, default compute +
        communication) is host time (the engine's scheduling and launches). When the batch
        ended later than planned it waited for its collectives (flows on a shared fabric): the
        last communication interval is stretched by the wait. Batches of one ``Gpu`` must not
        overlap. O(1)."""
        if planned_s is None:
            planned_s = compute_s + sum(s for _, s in comm)
        wait = end - start - planned_s           # > 0: waited for the collectives' flows
        last = -1
        for i, (_, seconds) in enumerate(comm):
            if seconds > 0:
                last = i
        record, logged = self.record, self.logged
        t = start + compute_s if compute_s > 0 else start
        if t > end:
            t = end
        if t > start:
            if record:
                self.compute.append((start, t))
            else:
                logged["compute"] = logged.get("compute", 0.0) + (t - start)
        for i, (kind, seconds) in enumerate(comm):
            if seconds <= 0:
                continue
            b = t + seconds + wait if i == last and wait > 0 else t + seconds
            if b > end:
                b = end
            if b > t:
                if record:
                    self.comm.setdefault(kind, []).append((t, b))
                else:
                    logged[kind] = logged.get(kind, 0.0) + (b - t)
            t = b

    def _poke(self) -> None:
        if self._change is not None and not self._change.triggered and self.interference:
            self._change.succeed()

    # -- accounting ---------------------------------------------------------------------------
    def compute_s(self) -> float:
        """Seconds with the compute stream busy."""
        return union_length(self.compute) + self.logged.get("compute", 0.0)

    def _logged_comm(self, kinds) -> float:
        return sum(v for k, v in self.logged.items() if k != "compute" and (kinds is None or k in kinds))

    def comm_s(self, kinds=None) -> float:
        """Seconds with communication (of ``kinds``, default all) in flight."""
        return union_length([iv for k, ivs in self.comm.items() if kinds is None or k in kinds for iv in ivs]) \
            + self._logged_comm(kinds)

    def exposed_comm_s(self, kinds=None) -> float:
        """Seconds of communication not overlapped by compute (a batch's is all exposed)."""
        return uncovered([iv for k, ivs in self.comm.items() if kinds is None or k in kinds for iv in ivs],
                         self.compute) + self._logged_comm(kinds)

    def busy_s(self) -> float:
        """Seconds with compute or communication in flight."""
        return union_length(self.compute + [iv for ivs in self.comm.values() for iv in ivs]) \
            + sum(self.logged.values())

    def streams(self) -> list[tuple[str, float, float]]:
        """Every kept interval as ``(stream, start_s, end_s)``, compute first, in time order per
        stream (for trace tables)."""
        return [("compute", a, b) for a, b in self.compute] + \
            [(k, a, b) for k, ivs in self.comm.items() for a, b in ivs]


class HbmLedger:
    """Named HBM allocations of one GPU against its capacity (bytes)."""

    def __init__(self, capacity_bytes: float, name: str = "GPU"):
        self.capacity = float(capacity_bytes)
        self.name = name
        self.items: dict[str, float] = {}
        self.peak = 0.0

    @property
    def used(self) -> float:
        return sum(self.items.values())

    @property
    def free(self) -> float:
        return self.capacity - self.used

    def allocate(self, what: str, nbytes: float) -> None:
        if nbytes < 0:
            raise ValueError(f"{what}: negative allocation")
        self.items[what] = self.items.get(what, 0.0) + float(nbytes)
        self.peak = max(self.peak, self.used)

    def release(self, what: str, nbytes: float | None = None) -> None:
        if nbytes is None or nbytes >= self.items.get(what, 0.0):
            self.items.pop(what, None)
        else:
            self.items[what] -= float(nbytes)

    def check(self, key: str) -> None:
        """InfeasibleError (naming ``key``) when the allocations exceed the capacity."""
        if self.used > self.capacity:
            parts = ", ".join(f"{k} {v / 1e9:.1f} GB" for k, v in self.items.items())
            raise InfeasibleError(key, f"{parts} = {self.used / 1e9:.1f} GB exceed {self.name}'s "
                                  f"{self.capacity / 1e9:.1f} GB ({self.capacity / 2**30:.1f} GiB usable) of HBM")

    def table(self) -> dict[str, float]:
        """GB per allocation (for summaries)."""
        return {k: v / 1e9 for k, v in self.items.items()}
