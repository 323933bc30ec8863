"""Replica classes: the data-parallel replicas of a full-fidelity training step that provably run
alike, so that one SimPy process per pipeline stage and class stands for all of them.

Vocabulary:
- replica: one (dp, cp) coordinate of the plan (a copy of the pipeline), as in ``engine``.
- private flows: the flows a replica's ranks send among themselves: its pipeline sends (every
  TP rank to its peer of the neighbouring stage, both directions, with wrap-around). Their
  links are the replica's *private links*. TP collectives run on scale-up links nothing else
  uses (the engine's "private TP links" fast path), off the shared fabric.
- shared flows: the collectives over ``dp`` (gradient reductions, parameter all-gathers), one
  bundle per phase and size for all replicas (``sim.collectives``), issued once all replicas
  have arrived; their bundles' per-link member counts are their *weights*.
- isolated replica: one whose private links no other replica's private flows cross.
- signature of an isolated replica: its private routes with links numbered in order of first
  appearance (which flows share which link), and per link its effective capacity, latency and
  the weight of every shared bundle the step issues on it; its TP groups' routes (all ordered
  pairs of a group, and each GPU to and from its NVSwitch) with their capacities, latencies
  and numbering; its compute speed per stage (slowest of its TP ranks, ``sim.stragglers``).
- class: isolated replicas with equal signatures. Swapping two of them (their private links,
  their flows, their GPUs) maps the whole system (links, capacities, every flow and weight)
  onto itself, so max-min gives their flows equal rates at every moment and their timelines
  are identical: simulating one with its pipeline sends bundled over the class (one flow per
  send whose weight per link is the members crossing it, ``Fabric.transfer_bundle``) gives
  every member's timeline (the bundle's max-min rate equals each member's, as the water
  level freezes all of them at one link). Results agree with one process per replica to the
  rounding of sums taken in another order (~1e-15 relative).
- not merged (every replica its own process): a replica that is not isolated (e.g. on an
  oversubscribed fabric where replicas' sends share spine links, or a replica straddling a
  leaf boundary that others do not), and every replica when the step cannot be proven
  symmetric this way: co-tenants on the fabric (``Fabric.tenants`` > 1), CP, EP or expert TP
  (collectives over other dimensions), TP collectives on the shared fabric, or recorded flows
  (the flows table lists every replica's own).
"""

from __future__ import annotations

import numpy as np

from sim.collectives import collective_phases, switch_of


def dp_collectives(step, stage: int) -> set[tuple[str, float]]:
    """(op, bytes) of every collective over ``dp`` that ``step`` issues for ``stage`` (the
    engine's ``_stage`` and ``_dp_reduce``, with the same arithmetic, so the same floats):
    gradient buckets (overlapped reduction), whole-chunk reductions (ZeRO-3, or no overlap),
    ZeRO-3 parameter all-gathers and the distributed optimizer's all-gather (ZeRO-1/2)."""
    p, costs = step.plan, step.costs
    red = "all_reduce" if p.zero == 0 else "reduce_scatter"
    out = set()
    for k in p.stage_chunks(stage):
        chunk = costs.chunks[k]
        if step.overlap:
            for _, dense_b, expert_b in step._buckets(chunk):
                out.add((red, dense_b + expert_b))
        if p.zero >= 3 or not step.overlap:
            out.add((red, step.grad_bytes * chunk.dense_params + step.grad_bytes * chunk.expert_params))
        if p.zero >= 3:
            out.add(("all_gather", step.weight_bytes * (chunk.dense_params + chunk.expert_params)))
    if p.zero in (1, 2):
        dense = sum(costs.chunks[k].dense_params for k in p.stage_chunks(stage))
        expert = sum(costs.chunks[k].expert_params for k in p.stage_chunks(stage))
        out.add(("all_gather", step.weight_bytes * (dense + expert)))
    return out


def _numbered(routes: list[np.ndarray]) -> tuple[bytes, np.ndarray]:
    """Routes' links renumbered in order of first appearance (bytes of lengths and local ids),
    and the links in that order."""
    if not routes:
        return b"", np.zeros(0, dtype=np.int64)
    allr = np.concatenate(routes)
    uniq, first, inv = np.unique(allr, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    lengths = np.array([len(r) for r in routes], dtype=np.int64)
    return lengths.tobytes() + rank[inv].tobytes(), uniq[order]


def replica_classes(step) -> dict[tuple, list[tuple]]:
    """Classes of interchangeable replicas of a full-fidelity ``TrainingStep``:
    {representative (the lowest replica): [its members, representative first]}, in replica
    order; a replica that cannot be proven interchangeable with another is its own class."""
    p, topo, fab = step.plan, step.topo, step.fabric
    reps = [(d, c) for d in range(p.dp) for c in range(p.cp)]
    alone = {r: [r] for r in reps}
    expert_tp = getattr(p, "etp", 1) > 1 and any(pc.etp_calls for ch in step.costs.chunks for pc in (ch.fwd, ch.bwd))
    if (len(reps) < 2 or p.cp > 1 or p.ep > 1 or expert_tp or fab.record_flows
            or getattr(fab, "tenants", 0) > 1 or (p.tp > 1 and not step.fast_tp)):
        return alone
    node, route = step._node, topo.route
    cap, lat = np.asarray(fab.capacity), np.asarray(topo.latency)
    hops = sorted({(s, (s + d) % p.pp) for s in range(p.pp) for d in (1, -1)} - {(s, s) for s in range(p.pp)})
    private, tp_sig = {}, {}
    for r in reps:
        d, c = r
        private[r] = [route(node(p.rank_of(tp=t, cp=c, dp=d, pp=s)), node(p.rank_of(tp=t, cp=c, dp=d, pp=s2)), 0)
                      for s, s2 in hops for t in range(p.tp)]
        if p.tp > 1:
            tr = []
            for s in range(p.pp):
                g = [node(p.rank_of(tp=t, cp=c, dp=d, pp=s)) for t in range(p.tp)]
                tr += [route(a, b, 0) for a in g for b in g if a != b]
                for a in g:
                    sw = switch_of(topo, a)
                    if sw is not None:
                        tr += [route(a, sw, 0), route(sw, a, 0)]
            shape, links = _numbered(tr)
            tp_sig[r] = shape + cap[links].tobytes() + lat[links].tobytes()
    # isolated replicas: no private link crossed by two replicas' private flows
    sets = {r: np.unique(np.concatenate(v)) if v else np.zeros(0, np.int64) for r, v in private.items()}
    every = np.concatenate(list(sets.values()))
    used, count = np.unique(every, return_counts=True)
    shared_links = used[count > 1]
    # per private link: capacity, latency and each shared bundle's weight on it
    cols = [cap[used], lat[used]]
    if p.dp > 1:
        seen = set()
        for s in range(p.pp):
            groups = step.groups("dp", s, reps[0])
            for op, nbytes in sorted(dp_collectives(step, s)):
                for bundles, _ in collective_phases(fab, op, groups, nbytes) or ():
                    for pairs, _ in bundles:
                        if id(pairs) in seen:
                            continue
                        seen.add(id(pairs))
                        links, w, _ = fab.bundle_shape(pairs)
                        pos = np.searchsorted(used, links)
                        ok = pos < len(used)
                        ok[ok] = used[pos[ok]] == links[ok]
                        col = np.zeros(len(used))
                        col[pos[ok]] = w[ok]
                        cols.append(col)
        step._checked_dp = {(s, op, nbytes) for s in range(p.pp) for op, nbytes in dp_collectives(step, s)}
    features = np.column_stack(cols)
    speed = step.gpu_speed
    classes: dict = {}
    out: dict = {}
    for r in reps:
        if len(sets[r]) and np.isin(sets[r], shared_links, assume_unique=True).any():
            out[r] = [r]                # not isolated: simulated on its own
            continue
        shape, links = _numbered(private[r])
        sig = [shape, features[np.searchsorted(used, links)].tobytes(), tp_sig.get(r, b"")]
        if speed is not None:
            d, c = r
            sig.append(np.array([np.min(speed[[p.rank_of(tp=t, cp=c, dp=d, pp=s) for t in range(p.tp)]])
                                 for s in range(p.pp)]).tobytes())
        key = tuple(sig)
        rep = classes.get(key)
        if rep is None:
            classes[key] = r
            out[r] = [r]
        else:
            out[rep].append(r)
    return dict(sorted(out.items()))
