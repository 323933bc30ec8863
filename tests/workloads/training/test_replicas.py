"""Replica classes of full fidelity (workloads/training/replicas.py): one process per class of
interchangeable replicas must give what one process per replica gives (every summary figure,
step row and link counter within 1e-9 relative), on uniform and on asymmetric clusters."""

import math

import pytest

from sim.app.runner import run
from sim.config import load_config
from workloads.training import engine


def _model(**over):
    m = {"name": "small", "layers": 8, "hidden": 4096, "ffn_hidden": 16384, "heads": 32, "kv_heads": 32,
         "vocab": 128, "seq_len": 1024, "gated_mlp": False}
    m.update(over)
    return m


def _rail(gpus, train=None, **topology):
    t = {"tp": 8, "pp": 2, "dp": gpus // 16, "global_batch": 2 * gpus // 16, "micro_batch": 1,
         "schedule": "interleaved", "virtual_stages": 2, "sequence_parallel": True, "zero": 1, "fidelity": "full"}
    t.update(train or {})
    return {"run": {"kind": "train"}, "topology": {"preset": "llama3-h100-roce", "gpus": gpus, **topology},
            "model": _model(), "train": t}


def _leaf(gpus, radix, over, train=None, **topology):
    """A plain fat-tree whose leaves hold ``radix // 2`` GPUs: with 16 consecutive GPUs per
    replica (TP8 PP2, rank order tp-cp-pp-dp) and 12-GPU leaves, some replicas' pipeline sends
    cross the (oversubscribed) spine and others' do not."""
    t = {"tp": 8, "pp": 2, "dp": gpus // 16, "global_batch": 4 * gpus // 16, "micro_batch": 1,
         "sequence_parallel": True, "fidelity": "full"}
    t.update(train or {})
    topo = {"gpu": "H100-SXM-80GB", "gpus": gpus, "gpus_per_node": 8, "nics_per_node": 8, "nic_Gbps": 400,
            "fabric": "fat-tree", "leaf_radix": radix, "oversubscription": over, **topology}
    return {"run": {"kind": "train"}, "topology": topo, "model": _model(), "train": t}


CASES = {
    "uniform rail-optimized": _rail(64),
    "uniform, ZeRO-3, 1f1b": _rail(128, {"zero": 3, "schedule": "1f1b", "virtual_stages": 1}),
    "rail-optimized 4:1 oversubscribed": _rail(256, oversubscription=4.0),
    "fat-tree 7:1, replicas straddling leaves": _leaf(96, 24, 7.0, {"rank_order": "tp-cp-pp-dp"}),
    "fat-tree 7:1, ZeRO-3": _leaf(128, 64, 7.0, {"zero": 3}),
    "one slow GPU": _leaf(128, 64, 1.0, gpu_speed={"17": 0.8}),
    "speed_cv": _rail(64, speed_cv=0.05),
}


def _classes(monkeypatch):
    seen = []
    real = engine.replica_classes

    def spy(step):
        out = real(step)
        seen.append(out)
        return out
    monkeypatch.setattr(engine, "replica_classes", spy)
    return seen


def _close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or abs(a - b) <= 1e-15
    return a == b


def _same(merged, alone):
    for k, v in alone.summary.items():
        if k not in ("sim_events", "wall_s"):
            assert _close(merged.summary[k], v), (k, merged.summary[k], v)
    for t in ("steps", "links"):
        a, b = merged.tables[t].to_pydict(), alone.tables[t].to_pydict()
        assert a.keys() == b.keys()
        for col in b:
            assert len(a[col]) == len(b[col])
            bad = [(i, x, y) for i, (x, y) in enumerate(zip(a[col], b[col])) if not _close(x, y)]
            assert not bad, (t, col, bad[:3])


@pytest.mark.parametrize("name", list(CASES))
def test_one_process_per_class_gives_what_one_per_replica_gives(name, monkeypatch):
    cfg = load_config(data=CASES[name])
    seen = _classes(monkeypatch)
    merged = run(cfg)
    monkeypatch.setattr(engine, "MERGE_REPLICAS", False)
    alone = run(cfg)
    _same(merged, alone)
    sizes = sorted(len(m) for m in seen[0].values())
    assert sum(sizes) == cfg.train.dp
    if max(sizes) > 1:
        assert merged.summary["sim_events"] < alone.summary["sim_events"]


def _per_replica(result, stage):
    st = result.tables["steps"].to_pydict()
    return {d: (f, e) for s, d, f, e in zip(st["stage"], st["dp_replica"], st["finish_s"], st["exposed_comm_s"])
            if s == stage}


def test_replicas_that_see_different_contention_still_differ(monkeypatch):
    # 4:1 oversubscribed rail-optimized fabric: replicas whose gradient ring crosses the thin
    # spine differ from the others; they fall into different classes and keep their own times
    cfg = load_config(data=CASES["rail-optimized 4:1 oversubscribed"])
    seen = _classes(monkeypatch)
    merged = run(cfg)
    assert len(seen[0]) > 1
    per = _per_replica(merged, 0)
    assert len(set(per.values())) > 1
    monkeypatch.setattr(engine, "MERGE_REPLICAS", False)
    alone = _per_replica(run(cfg), 0)
    for d, (f, e) in per.items():
        assert math.isclose(f, alone[d][0], rel_tol=1e-9) and math.isclose(e, alone[d][1], rel_tol=1e-9, abs_tol=1e-15)


def test_uniform_replicas_share_classes_and_a_slow_gpu_splits_its_replica_off(monkeypatch):
    seen = _classes(monkeypatch)
    run(load_config(data=_rail(128)))
    assert len(seen[-1]) < 8 and any((2, 0) in m and len(m) > 1 for m in seen[-1].values())
    run(load_config(data=_rail(128, gpu_speed={"21": 0.7})))       # rank 21: TP rank 5 of dp replica 2, stage 0
    assert seen[-1][(2, 0)] == [(2, 0)]
    assert sum(len(m) for m in seen[-1].values()) == 8 and len(seen[-1]) < 8


def test_replicas_whose_sends_share_spine_links_are_simulated_each_on_its_own(monkeypatch):
    # 12-GPU leaves: replica 0 (GPUs 0-15) keeps four TP ranks' sends under leaf 0 and sends the
    # other four over the spine; replica 1 (GPUs 16-31) sends all over the spine, from leaf 1
    # to leaf 2, and shares leaf 1's uplink to spine 4 with replica 0's backward sends
    seen = _classes(monkeypatch)
    run(load_config(data=CASES["fat-tree 7:1, replicas straddling leaves"]))
    classes = seen[0]
    assert sum(len(m) for m in classes.values()) == 6
    assert any(len(m) == 1 for m in classes.values())


def test_no_classes_beside_co_tenants_or_with_recorded_flows(monkeypatch):
    seen = _classes(monkeypatch)
    job = {"kind": "train", "gpus": 32, "model": _model(layers=4),
           "train": {"tp": 8, "pp": 2, "dp": 2, "global_batch": 4, "micro_batch": 1, "fidelity": "full"}}
    run(load_config(data={"run": {"baseline": False}, "topology": {"preset": "llama3-h100-roce", "gpus": 64},
                          "jobs": [{**job, "name": "a"}, {**job, "name": "b"}]}))
    assert seen and all(all(len(m) == 1 for m in c.values()) for c in seen)
    seen.clear()
    data = _rail(64)
    data["run"]["trace"] = True                  # the flows table lists every replica's own
    run(load_config(data=data))
    assert all(len(m) == 1 for m in seen[0].values())


def test_a_collective_the_classes_were_not_proven_for_is_refused(monkeypatch):
    from workloads.training import replicas
    monkeypatch.setattr(replicas, "dp_collectives", lambda step, stage: {("reduce_scatter", -1.0)})
    with pytest.raises(RuntimeError, match="not proven"):
        run(load_config(data=_rail(64)))
