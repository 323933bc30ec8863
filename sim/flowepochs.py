"""Flow epochs: transfers started together, drained under max-min fairness with a rate tolerance.

Vocabulary:
- transfer set: F point-to-point transfers that all start at t = 0 (``dcsim traffic``), each
  with its route (links), size (bytes) and path latency (s). Its flow completion time (FCT) is
  when the last byte lands: drain time + latency, as in ``sim.fabric``.
- epoch: an interval over which every rate is constant. An epoch starts with one max-min solve
  (``sim.fairshare.maxmin_dense``, ``maxmin_rates``' arithmetic) over the flows still draining and ends when the flows of its
  completion window have drained.
- rate tolerance ``eps`` (>= 0): the completion window of an epoch that starts at time t and
  whose first flow drains at t + d is every flow that drains by t + d + eps x (t + d), i.e.
  within a relative ``eps`` of the elapsed time. Each such flow drains at its own rate and
  completes at its own drain time, exactly as under these rates; the bandwidth it frees stays
  unused until the epoch ends (at the window's last drain) and the next solve shares it out.
  ``eps = 0`` keeps only ties (within 1e-9 relative, the fabric's own coalescing): one solve
  per distinct completion time, the fabric's exact max-min simulation.
- Invariants at any ``eps``: the rates of an epoch are max-min for the flows that start it, so
  no link carries more than its capacity (flows that leave early only lower the loads); every
  flow delivers exactly its bytes (an epoch moves rate x duration of each flow, and a flow of
  the window moves exactly what it has left); FCTs are monotone in time within an epoch.

Why this design (measured, benchmarks/RESULTS-traffic.txt): with exact max-min, a completion
among 20,000 random flows on a 1,024-GPU fat-tree moves up to 8,700 rates, so one re-solve per
completion costs F x (changed flows): F^2.75 from 1,000 to 8,000 flows (57-197 s at 8,000).
The alternatives: (b) a cascade threshold in the incremental solver leaves rates that should
have dropped above their share (links above capacity unless patched) and still pays one solve
per completion; (c) a vectorized solve per completion is 20,000 solves of up to 20 ms. Completion
windows bound the solves by about ln(T / t_first) / eps plus isolated completions, almost
independent of F (394 at 20,000 flows, eps = 0.02), and each solve is one vectorized pass over
the active flows' entries without dominated links (~20 ms at 20,000 flows), so the cost grows
about as F (F^1.0-1.1 measured), while both invariants stay exact.

Error against the exact fabric (``--rate-tolerance 0``): random pattern, 1,024-GPU fat-tree,
sizes 64K:64M, seed 0; signed relative error of the makespan and of the FCT percentiles, and
the largest |relative error| of any one flow's FCT (20,000 flows: against eps = 0.001, as the
exact run would take hours; ``python benchmarks/bench_fabric.py --only traffic-errors``,
benchmarks/RESULTS-traffic.txt):

    eps    flows  solves  makespan  FCT p50  FCT p99  max per flow
    0.01    1000     418   +0.04%   +0.01%   +0.00%   0.53%
    0.01    2000     509   +0.00%   +0.00%   +0.13%   0.64%
    0.01    4000     596   +0.06%   +0.19%   +0.46%   0.88%
    0.01    8000     655   +0.15%   +0.05%   +0.34%   0.94%
    0.01   20000     714   +0.29%   +0.09%   +0.48%   1.36%
    0.02    1000     271   +0.76%   +0.00%   +0.01%   0.96%
    0.02    2000     301   +0.01%   +0.07%   +0.25%   1.19%
    0.02    4000     330   +0.33%   +0.31%   +0.66%   1.45%
    0.02    8000     363   +0.29%   +0.12%   +0.55%   2.23%
    0.02   20000     394   +2.43%   +0.19%   +1.03%   2.43%
    0.05    1000     135   +1.11%   -0.22%   +0.15%   3.47%
    0.05    2000     139   +0.58%   +0.06%   +0.48%   2.67%
    0.05    4000     148   +2.75%   +0.36%   +1.47%   4.23%
    0.05    8000     164   +2.27%   +0.47%   +2.33%   5.24%
    0.05   20000     180   +4.90%   +0.43%   +2.82%   6.26%
    0.1     4000      85   +3.40%   +0.85%   +2.62%   7.17%
    0.1    20000     101   +8.61%   +0.90%   +4.76%  11.5%

Stated bound: every flow's FCT within about 1.25 eps of exact (tested: within eps on a
700-flow case, tests/test_flowepochs.py); FCTs come out late rather than early (freed
bandwidth idles until the epoch ends), and the median moves least. The exact runs cost 0.75 s
(1,000 flows), 1.28 s (2,000), 5.25 s (4,000) and 57 s (8,000) of CPU; eps = 0.02 costs
0.33 s .. 6.0 s from 1,000 to 20,000 flows.
"""

from __future__ import annotations

import numpy as np

from sim.fairshare import maxmin_dense

TIES = 1e-9   # relative: completions this close count as one (the fabric's coalescing)


def dense_routes(routes: list, capacity: np.ndarray) -> np.ndarray:
    """Routes as rows of a (F, k) int array padded with -1, without *dominated* links: a link
    l is dominated by m when every flow crossing l also crosses m and m is narrower (equal
    capacity: the lower index). Such a link never saturates before m, so max-min rates are
    the same without it (``sim.fairshare.IncrementalMaxMin`` skips them too: a GPU's PCIe link
    behind its NIC's port). Flows only leave in ``drain``, so that stays true. Raises
    ValueError for an empty route."""
    n = len(routes)
    lengths = np.fromiter((len(r) for r in routes), dtype=np.int64, count=n)
    if n and lengths.min() < 1:
        raise ValueError("every transfer needs at least one link")
    k = int(lengths.max()) if n else 1
    rows = np.full((n, k), -1, dtype=np.int64)
    rows[np.arange(k) < lengths[:, None]] = np.concatenate(routes) if n else []
    cap = np.asarray(capacity, dtype=np.float64)
    n_links = len(cap)
    on = np.bincount(rows[rows >= 0], minlength=n_links)       # flows crossing each link
    keys = []
    for a in range(k):
        for b in range(k):
            if a != b:
                la, lb = rows[:, a], rows[:, b]
                ok = (la >= 0) & (lb >= 0)
                la, lb = la[ok], lb[ok]
                ca, cb = cap[la], cap[lb]
                narrower = (cb < ca) | ((cb == ca) & (lb < la))
                keys.append(la[narrower] * n_links + lb[narrower])
    keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    if len(keys):
        pair, shared = np.unique(keys, return_counts=True)
        link = pair // n_links
        dominated = np.zeros(n_links + 1, dtype=bool)
        dominated[link[shared == on[link]]] = True
        drop = dominated[rows]                                  # rows == -1 reads the spare slot
        if drop.any():
            kept = np.where(drop, -1, rows)
            order = np.argsort(kept < 0, axis=1, kind="stable")  # links first, padding last
            rows = np.take_along_axis(kept, order, axis=1)
            rows = rows[:, :int((rows >= 0).sum(axis=1).max())]
    return rows


def drain(routes: list, sizes: np.ndarray, latency: np.ndarray, capacity: np.ndarray,
          eps: float, link_bytes: bool = False) -> dict:
    """Drain transfers that all start at t = 0 in epochs (see the module docstring).

    ``routes``: per transfer, its link indices (int arrays, non-empty); ``sizes``: bytes (> 0),
    shape (F,); ``latency``: s, shape (F,); ``capacity``: bytes/s per link (shape (L,), already
    scaled by efficiencies); ``eps``: rate tolerance (>= 0). Returns ``fct`` (s, shape (F,)),
    ``epochs`` (solves), ``peak_utilization`` (max over epochs of load / capacity) and, with
    ``link_bytes``, ``link_bytes`` (bytes carried per link, shape (L,)).
    Raises ValueError for a negative ``eps`` or an empty route."""
    if not eps >= 0:
        raise ValueError(f"rate tolerance must be >= 0, not {eps}")
    n = len(routes)
    sizes = np.asarray(sizes, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    n_links = len(capacity)
    rows = dense_routes(routes, capacity)
    if link_bytes:
        lengths = np.fromiter((len(r) for r in routes), dtype=np.int64, count=n)
        all_ef = np.repeat(np.arange(n), lengths)
        all_el = np.concatenate(routes) if n else np.zeros(0, dtype=np.int64)
    fct = np.full(n, np.nan)
    rem = sizes.copy()
    carried = np.zeros(n_links) if link_bytes else None
    t = 0.0
    epochs = 0
    peak = 0.0
    act = np.arange(n, dtype=np.int64)                             # flows still draining
    while len(act):
        rates = maxmin_dense(rows, capacity)
        epochs += 1
        real = rows >= 0
        load = np.bincount(rows[real], weights=np.broadcast_to(rates[:, None], rows.shape)[real],
                           minlength=n_links)
        u = float((load / capacity).max())
        if u > peak:
            peak = u
        r = rem[act]
        left = r / rates
        first = float(left.min())
        end = first + max(eps, TIES) * (t + first)
        done = left <= end
        span = float(left[done].max())
        if carried is not None:                                    # every link of the route
            moved = np.zeros(n)
            moved[act] = rates * np.minimum(left, span)
            carried += np.bincount(all_el, weights=moved[all_ef], minlength=n_links)
        gone = act[done]
        fct[gone] = t + left[done] + latency[gone]
        keep = ~done
        rem[act[keep]] = r[keep] - rates[keep] * span
        t += span
        act = act[keep]
        rows = rows[keep]
    out = {"fct": fct, "epochs": epochs, "peak_utilization": peak}
    if carried is not None:
        out["link_bytes"] = carried
    return out
