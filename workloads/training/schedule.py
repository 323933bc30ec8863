"""Pipeline schedules: the order in which each pipeline rank runs forward and backward passes.

Vocabulary:
- action: ``(phase, microbatch, vstage)``: phase ``"F"`` or ``"B"``; ``vstage`` is the virtual
  stage (model chunk) index ``chunk * pp + stage``.
- ``actions(schedule, pp, m, v)``: one list of actions per pipeline rank.
  ``gpipe``: all forwards, then all backwards. ``1f1b``: ``pp - s - 1`` warm-up forwards, then one
  forward one backward, then the cool-down backwards (Narayanan et al. 2021, Fig. 4 top).
  ``interleaved``: Megatron-LM's interleaved 1F1B over ``v`` chunks per rank (Fig. 4 bottom;
  warm-up ``2 (pp - s - 1) + (v - 1) pp`` passes; needs m % pp == 0).
- dependencies: F(mb, k) waits for F(mb, k - 1) on the previous virtual stage; B(mb, k) waits for
  B(mb, k + 1); the last virtual stage turns F into B.
- ``timeline(...)``: a list-scheduling replay of the actions with given pass times and a fixed
  point-to-point delay; used by closed-form estimates and tests (the SimPy engine is separate).
"""

from __future__ import annotations

from typing import Callable


def actions(schedule: str, pp: int, m: int, v: int = 1) -> list[list[tuple[str, int, int]]]:
    if schedule == "gpipe":
        return [[("F", i, s) for i in range(m)] + [("B", i, s) for i in range(m)] for s in range(pp)]
    if schedule == "1f1b" or (schedule == "interleaved" and v == 1):
        out = []
        for s in range(pp):
            warm = min(pp - s - 1, m)
            acts = [("F", i, s) for i in range(warm)]
            for i in range(m - warm):
                acts.append(("F", warm + i, s))
                acts.append(("B", i, s))
            acts += [("B", i, s) for i in range(m - warm, m)]
            out.append(acts)
        return out
    if schedule == "interleaved":
        return [_interleaved(s, pp, m, v) for s in range(pp)]
    raise ValueError(f"unknown schedule {schedule!r}")


def _interleaved(s: int, pp: int, m: int, v: int) -> list[tuple[str, int, int]]:
    total = m * v

    def chunk(k: int, forward: bool) -> int:
        c = (k % (pp * v)) // pp
        return c if forward else v - 1 - c

    def micro(k: int) -> int:
        return (k // (pp * v)) * pp + k % pp

    warm = min((pp - s - 1) * 2 + (v - 1) * pp, total)
    acts = [("F", micro(k), chunk(k, True) * pp + s) for k in range(warm)]
    for i in range(total - warm):
        k = warm + i
        acts.append(("F", micro(k), chunk(k, True) * pp + s))
        acts.append(("B", micro(i), chunk(i, False) * pp + s))
    acts += [("B", micro(k), chunk(k, False) * pp + s) for k in range(total - warm, total)]
    return acts


def dependency(action: tuple[str, int, int], n_vstages: int) -> tuple[str, int, int] | None:
    """The action on another (or the same) rank that must finish before this one starts."""
    phase, mb, k = action
    if phase == "F":
        return ("F", mb, k - 1) if k > 0 else None
    return ("B", mb, k + 1) if k < n_vstages - 1 else ("F", mb, k)


def timeline(acts: list[list[tuple[str, int, int]]], pass_time: Callable[[str, int], float],
             p2p: float = 0.0) -> tuple[float, list[float]]:
    """Replay ``acts`` with ``pass_time(phase, vstage)`` seconds per pass and ``p2p`` seconds for
    each hop between different ranks. Returns (makespan, busy time per rank)."""
    pp = len(acts)
    n_v = max(k for a in acts for (_, _, k) in a) + 1
    done: dict[tuple[str, int, int], float] = {}
    ptr = [0] * pp
    free = [0.0] * pp
    busy = [0.0] * pp
    remaining = sum(len(a) for a in acts)
    while remaining:
        progressed = False
        for s in range(pp):
            while ptr[s] < len(acts[s]):
                act = acts[s][ptr[s]]
                dep = dependency(act, n_v)
                ready = 0.0
                if dep is not None:
                    if dep not in done:
                        break
                    ready = done[dep] + (p2p if dep[2] % pp != s else 0.0)
                start = max(free[s], ready)
                dur = pass_time(act[0], act[2])
                free[s] = start + dur
                busy[s] += dur
                done[act] = free[s]
                ptr[s] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            raise RuntimeError("pipeline schedule deadlocks")
    return max(free), busy
