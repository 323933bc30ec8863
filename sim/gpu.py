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
    """Seconds covered by at least one interval."""
    return sum(b - a for a, b in merged(intervals))


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

    def __init__(self, env, interference: float = 0.0, kinds: tuple[str, ...] = (), slowdown: float = 1.0):
        if not 0.0 <= interference < 1.0:
            raise ValueError("interference must be in [0, 1)")
        self.env = env
        self.interference = float(interference)
        self.slowdown = float(slowdown)     # every kernel, overlapped or not (an averaged stand-in)
        self.compute: list[tuple[float, float]] = []
        self.comm: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
        self._in_flight = 0
        self._change = None           # fires when communication starts or stops during compute

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

    def _poke(self) -> None:
        if self._change is not None and not self._change.triggered and self.interference:
            self._change.succeed()

    # -- accounting ---------------------------------------------------------------------------
    def compute_s(self) -> float:
        return union_length(self.compute)

    def comm_s(self, kinds=None) -> float:
        return union_length([iv for k, ivs in self.comm.items() if kinds is None or k in kinds for iv in ivs])

    def exposed_comm_s(self, kinds=None) -> float:
        return uncovered([iv for k, ivs in self.comm.items() if kinds is None or k in kinds for iv in ivs],
                         self.compute)


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
                                  f"{self.capacity / 1e9:.0f} GB HBM")

    def table(self) -> dict[str, float]:
        """GB per allocation (for summaries)."""
        return {k: v / 1e9 for k, v in self.items.items()}
