"""The simulated training step: bubbles, overlap, fidelity, outputs (through the real runner)."""

import pytest

from sim.config import load_config
from sim.errors import InfeasibleError
from sim.app.runner import run
from tests.workloads.training.training_helpers import small_model

SUMMARY_COLUMNS = ["step_time_s", "tokens_per_s", "model_tflops_per_gpu", "hardware_tflops_per_gpu", "mfu",
                   "hfu", "compute_s", "comm_s", "exposed_comm_s", "bubble_s", "compute_comm_ratio",
                   "overlap_fraction", "peak_memory_GB", "fits_memory", "gpus", "sim_events", "wall_s"]


def simulate(topology, train, model=None):
    topo = {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nics_per_node": 8, "nic_Gbps": 200}
    topo.update(topology)
    cfg = load_config(data={"run": {"kind": "train"}, "topology": topo, "model": model or small_model(),
                            "train": train})
    return run(cfg)


@pytest.mark.parametrize("schedule,pp,m,v", [("1f1b", 4, 8, 1), ("gpipe", 4, 4, 1), ("interleaved", 4, 8, 2)])
def test_bubble_is_closed_form_when_communication_is_free(schedule, pp, m, v):
    # p2p sends of a tiny model over a very fast fabric: communication ~ free; no optimizer
    r = simulate({"gpus": pp, "gpus_per_node": pp, "fabric": "none", "scaleup_GBps": 1e6, "scaleup_latency_us": 0.0},
                 {"pp": pp, "global_batch": m, "micro_batch": 1, "schedule": schedule, "virtual_stages": v,
                  "optimizer_step": False}, small_model(layers=16, vocab=16)).summary
    ideal = r["compute_s"]
    # stages differ only by the (tiny) embedding and loss kernels
    assert r["bubble_s"] / ideal == pytest.approx((pp - 1) / (v * m), rel=0.06)
    assert r["step_time_s"] == pytest.approx(ideal + r["bubble_s"] + r["exposed_comm_s"], rel=1e-6)


def dp_case(nic_Gbps, overlap=True):
    res = simulate({"gpus": 16, "fabric": "fat-tree", "nic_Gbps": nic_Gbps},
                    {"tp": 8, "dp": 2, "global_batch": 16, "micro_batch": 2, "overlap_grad_reduce": overlap,
                     "optimizer_step": False},
                    small_model(layers=8, hidden=4096, ffn_hidden=16384, heads=32, kv_heads=32))
    return {**res.summary, "dp_comm_s": res.tables["steps"].to_pydict()["dp_comm_s"][0]}


def test_dp_reduction_hidden_behind_long_backward():
    r = dp_case(400)
    # only the last bucket, reduced after the last layer's backward, can stay exposed
    assert r["dp_comm_s"] > 0
    assert r["exposed_dp_s"] < 0.25 * r["dp_comm_s"]
    assert r["exposed_dp_s"] < 0.05 * r["step_time_s"]


def test_dp_reduction_exposed_on_slow_network_or_without_overlap():
    slow = dp_case(10)
    assert slow["exposed_dp_s"] > 0.5 * slow["step_time_s"]
    fast_no_overlap = dp_case(400, overlap=False)
    fast = dp_case(400)
    assert fast_no_overlap["exposed_dp_s"] > 3 * fast["exposed_dp_s"]
    assert fast_no_overlap["step_time_s"] > fast["step_time_s"]


@pytest.mark.parametrize("train", [
    {"tp": 2, "pp": 2, "global_batch": 16, "micro_batch": 2},
    {"tp": 2, "pp": 2, "global_batch": 16, "micro_batch": 1, "schedule": "interleaved", "virtual_stages": 2,
     "zero": 1, "sequence_parallel": True},
])
def test_symmetric_and_full_fidelity_agree(train):
    topo = {"gpus": 32, "fabric": "fat-tree"}
    sym = simulate(topo, {**train, "fidelity": "symmetric"}).summary
    full = simulate(topo, {**train, "fidelity": "full"}).summary
    assert sym["step_time_s"] == pytest.approx(full["step_time_s"], rel=0.01)
    assert full["sim_events"] > sym["sim_events"]


def test_summary_has_contract_columns_and_consistent_ratios():
    res = simulate({"gpus": 16, "fabric": "fat-tree"}, {"tp": 4, "pp": 2, "global_batch": 8})
    s = res.summary
    for col in SUMMARY_COLUMNS:
        assert col in s
    assert s["compute_comm_ratio"] == pytest.approx(s["compute_s"] / s["comm_s"])
    assert s["overlap_fraction"] == pytest.approx(1 - s["exposed_comm_s"] / s["comm_s"])
    assert s["hfu"] >= s["mfu"] > 0
    steps = res.tables["steps"]
    assert steps.num_rows == 2
    for k in ("tp", "pp", "dp", "ep", "cp"):
        assert f"exposed_{k}_s" in steps.column_names


def test_recompute_raises_hardware_flops_not_model_flops():
    base = {"tp": 2, "pp": 1, "global_batch": 8}
    none = simulate({"gpus": 8, "fabric": "none"}, {**base, "recompute": "none"}).summary
    full = simulate({"gpus": 8, "fabric": "none"}, {**base, "recompute": "full"}).summary
    assert full["step_time_s"] > none["step_time_s"]
    assert none["hfu"] == pytest.approx(none["mfu"])
    assert full["hardware_tflops_per_gpu"] / full["model_tflops_per_gpu"] == pytest.approx(4 / 3, rel=0.02)


def test_moe_and_context_parallel_issue_their_collectives():
    moe = small_model(experts=8, top_k=2, expert_ffn_hidden=2048, gated_mlp=True)
    r = simulate({"gpus": 16, "fabric": "fat-tree"}, {"tp": 1, "ep": 8, "global_batch": 16, "cp": 1}, moe)
    steps = r.tables["steps"].to_pydict()
    assert steps["ep_comm_s"][0] > 0
    r = simulate({"gpus": 16, "fabric": "fat-tree"}, {"tp": 2, "cp": 2, "global_batch": 4})
    assert r.tables["steps"].to_pydict()["cp_comm_s"][0] > 0


def test_model_too_big_is_infeasible():
    with pytest.raises(InfeasibleError) as err:
        simulate({"gpus": 8, "fabric": "none"}, {"tp": 8, "global_batch": 8},
                 {"preset": "llama3-70b"})
    assert "memory" in str(err.value)
    r = simulate({"gpus": 8, "fabric": "none"}, {"tp": 8, "global_batch": 8, "check_memory": False},
                 {"preset": "llama3-70b", "layers": 4})
    assert r.summary["fits_memory"] in (True, False)


@pytest.mark.parametrize("train", [
    {"tp": 8, "pp": 2, "dp": 2, "global_batch": 16, "micro_batch": 2, "zero": 1},
    {"tp": 8, "pp": 2, "dp": 2, "global_batch": 16, "micro_batch": 1, "schedule": "interleaved",
     "virtual_stages": 2, "sequence_parallel": True, "recompute": "full"},
])
def test_private_tp_links_fast_path_matches_the_fabric(monkeypatch, train):
    # TP8 fills each 8-GPU NVLink domain and PP/DP cross domains: TP collectives timed off the
    # fabric must give the fabric's step time, per-link bytes and busy time, and TP exposure
    from workloads.training import engine
    topo = {"gpus": 32, "fabric": "fat-tree"}
    model = small_model(layers=8, hidden=4096, ffn_hidden=16384, heads=32, kv_heads=32)
    fast = simulate(topo, train, model)
    monkeypatch.setattr(engine, "FAST_TP", False)
    slow = simulate(topo, train, model)
    assert fast.summary["sim_events"] < slow.summary["sim_events"]
    for key in ("step_time_s", "exposed_tp_s", "exposed_comm_s", "comm_s"):
        assert fast.summary[key] == pytest.approx(slow.summary[key], rel=1e-6, abs=1e-12)
    fl, sl = fast.tables["links"].to_pydict(), slow.tables["links"].to_pydict()
    assert sum(b > 0 and d == "scaleup" for b, d in zip(fl["bytes"], fl["domain"])) == 32 * 2
    assert fl["bytes"] == pytest.approx(sl["bytes"], rel=1e-9, abs=1e-3)
    assert fl["busy_s"] == pytest.approx(sl["busy_s"], rel=1e-6, abs=1e-12)


def test_fast_path_off_when_tp_shares_a_domain():
    # TP4 leaves two TP groups (and a DP pair) in each 8-GPU domain: NVLink links are shared
    from sim.fabric import Fabric
    from sim.simulation import Simulation
    from topologies import build
    from workloads.model import ModelSpec
    from workloads.training.costs import step_costs
    from workloads.training.engine import TrainingStep
    from workloads.training.plan import make_plan
    from sim.compute import ComputeModel
    from sim.hardware import gpu
    cfg = load_config(data={"run": {"kind": "train"},
                            "topology": {"gpu": "A100-SXM-80GB", "gpus": 16, "gpus_per_node": 8, "fabric": "fat-tree"},
                            "model": small_model(), "train": {"tp": 4, "dp": 4, "global_batch": 16}})
    sim, topo = Simulation(0), build(cfg.topology)
    model = ModelSpec.from_section(cfg.model)
    plan = make_plan(cfg.train, model, 16)
    costs = step_costs(model, plan, ComputeModel(gpu("A100-SXM-80GB"), "bf16"))
    assert not TrainingStep(sim, Fabric(sim, topo), topo, plan, costs).fast_tp
    plan8 = make_plan(cfg.train.model_copy(update={"tp": 8, "dp": 2}), model, 16)
    assert TrainingStep(sim, Fabric(sim, topo), topo, plan8, step_costs(model, plan8, ComputeModel(gpu("A100-SXM-80GB"), "bf16"))).fast_tp


def test_exposed_time_by_kind_adds_up_to_the_exposed_total():
    """Where two kinds are exposed at once, the time is shared, never counted twice."""
    import random
    from sim.gpu import uncovered
    from workloads.training.engine import exposed_by_kind
    comm = {"TP": [(0.0, 2.0)], "DP": [(1.0, 3.0)], "PP": []}
    by = exposed_by_kind(comm, [(2.5, 4.0)])
    assert by == pytest.approx({"TP": 1.5, "DP": 1.0, "PP": 0.0})     # [1, 2) shared by TP and DP
    rng = random.Random(7)
    for _ in range(200):
        comm = {k: [(a, a + rng.uniform(0, 2)) for a in (rng.uniform(0, 10) for _ in range(rng.randint(0, 6)))]
                for k in ("TP", "PP", "DP", "EP", "CP")}
        cover = [(a, a + rng.uniform(0, 2)) for a in (rng.uniform(0, 10) for _ in range(rng.randint(0, 6)))]
        by = exposed_by_kind(comm, cover)
        assert sum(by.values()) == pytest.approx(uncovered([iv for v in comm.values() for iv in v], cover), abs=1e-9)
        for k, v in comm.items():
            assert -1e-12 <= by[k] <= uncovered(v, cover) + 1e-9


def test_ep_overlap_hides_the_all_to_all_behind_the_other_micro_batch():
    # Megatron-Core's overlap_moe_expert_parallel_comm: a forward and a backward of different
    # micro-batches run merged, each one's all-to-all behind the other's compute
    moe = small_model(experts=8, top_k=2, expert_ffn_hidden=2048, gated_mlp=True)
    train = {"tp": 1, "ep": 8, "global_batch": 64, "interference": 0.0}
    base = simulate({"gpus": 16, "fabric": "fat-tree"}, train, moe).summary
    over = simulate({"gpus": 16, "fabric": "fat-tree"}, {**train, "overlap_moe_expert_parallel_comm": True}, moe).summary
    assert over["exposed_ep_s"] < base["exposed_ep_s"]
    assert over["step_time_s"] < base["step_time_s"]
    # no more than the all-to-all time can be hidden
    assert base["step_time_s"] - over["step_time_s"] <= base["exposed_ep_s"] + 1e-9


# -- train.tp_comm_overlap (issue 11 item 7): TP collectives pipelined with the GEMMs ----------

def _tp_overlap_cfg(overlap: bool, **train):
    t = {"tp": 4, "dp": 2, "sequence_parallel": True, "global_batch": 4, "micro_batch": 1,
         "tp_comm_overlap": overlap}
    t.update(train)
    topo = {"gpu": "H100-SXM-80GB", "gpus": 8, "gpus_per_node": 4, "nics_per_node": 4, "nic_Gbps": 400}
    return load_config(data={"run": {"kind": "train"}, "topology": topo,
                             "model": small_model(hidden=4096, ffn_hidden=16384, heads=32, kv_heads=32, seq_len=2048),
                             "train": t})


@pytest.mark.parametrize("fast_tp", [True, False])
def test_tp_comm_overlap_never_slower_and_exposes_less(monkeypatch, fast_tp):
    import workloads.training.engine as engine
    monkeypatch.setattr(engine, "FAST_TP", fast_tp)
    off = run(_tp_overlap_cfg(False)).summary
    on = run(_tp_overlap_cfg(True)).summary
    assert on["step_time_s"] < off["step_time_s"]
    assert on["exposed_comm_s"] < off["exposed_comm_s"]
    # the GEMMs lose SMs to the communication kernels: more compute, never less
    assert on["compute_s"] >= off["compute_s"]


@pytest.mark.parametrize("overlap", [False, True])
def test_tp_comm_overlap_closed_form_agrees_with_the_simulation(overlap):
    from workloads.training.calibration import predict, prepare
    from workloads.training.costs import training_efficiency
    cfg = _tp_overlap_cfg(overlap)
    sim = run(cfg).summary["step_time_s"]
    case = {"case": "t", "metric": "step_time_s", "measured": 1.0, "config": cfg.model_dump()}
    closed = predict(prepare([case]), training_efficiency("H100-SXM-80GB"))[0]
    assert sim == pytest.approx(closed, rel=0.03)


@pytest.mark.parametrize("train", [{"sequence_parallel": False}, {"tp": 1, "dp": 8, "global_batch": 8}])
def test_tp_comm_overlap_needs_sequence_parallel_and_tp(train):
    from sim.errors import ConfigError
    with pytest.raises(ConfigError, match="train.tp_comm_overlap"):
        run(_tp_overlap_cfg(True, **train))


# -- full fidelity without per-replica rework (issue 14) -------------------------------------------

def _exposed_by_kind_loop(comm, cover):
    """The sweep as a plain loop (the reference the array version must equal to the last bit)."""
    from sim.gpu import merged
    spans = {k: merged(v) for k, v in comm.items()}
    C = merged(cover)
    points = sorted({t for v in spans.values() for iv in v for t in iv})
    out = {k: 0.0 for k in comm}
    for t0, t1 in zip(points, points[1:]):
        active = [k for k, v in spans.items() if any(a <= t0 < b for a, b in v)]
        if not active:
            continue
        length = t1 - t0
        for c0, c1 in C:
            if c1 > t0 and c0 < t1:
                length -= max(0.0, min(t1, c1) - max(t0, c0))
        if length > 0:
            for k in active:
                out[k] += length / len(active)
    return out


def test_exposed_time_by_kind_equals_the_loop_to_the_last_bit():
    import random
    from workloads.training.engine import exposed_by_kind
    rng = random.Random(3)
    for _ in range(500):
        def spans(n):
            out = []
            for _ in range(n):
                a = rng.choice([rng.uniform(0, 10), round(rng.uniform(0, 10), 1)])   # shared ends too
                out.append((a, a + rng.choice([rng.uniform(0, 2), 0.1, 0.0])))
            return out
        comm = {k: spans(rng.randint(0, 8)) for k in ("TP", "PP", "DP", "EP", "CP")}
        cover = spans(rng.randint(0, 10))
        assert exposed_by_kind(comm, cover) == _exposed_by_kind_loop(comm, cover)


def _llama_like(gpus, **topology):
    return load_config(data={
        "run": {"kind": "train"}, "topology": {"preset": "llama3-h100-roce", "gpus": gpus, **topology},
        "model": small_model(layers=8, hidden=4096, ffn_hidden=16384, heads=32, kv_heads=32),
        "train": {"tp": 8, "pp": 2, "dp": gpus // 16, "global_batch": 2 * gpus // 16, "micro_batch": 1,
                  "schedule": "interleaved", "virtual_stages": 2, "sequence_parallel": True, "zero": 1,
                  "fidelity": "full"}})


def test_full_fidelity_matches_symmetric_on_a_uniform_cluster_and_splits_replicas_when_speeds_differ():
    cfg = _llama_like(64)
    full = run(cfg)
    sym = run(load_config(data={**cfg.model_dump(), "train": {**cfg.train.model_dump(), "fidelity": "symmetric"}}))
    assert full.summary["step_time_s"] == pytest.approx(sym.summary["step_time_s"], rel=1e-9)
    steps = full.tables["steps"].to_pydict()
    assert sorted(set(steps["dp_replica"])) == [0, 1, 2, 3]
    # identical replicas: every replica of a stage computes and finishes alike
    for s in (0, 1):
        rows = [i for i, st in enumerate(steps["stage"]) if st == s]
        assert len({steps["compute_s"][i] for i in rows}) == 1
    cv = run(_llama_like(64, speed_cv=0.05)).tables["steps"].to_pydict()
    for s in (0, 1):
        rows = [i for i, st in enumerate(cv["stage"]) if st == s]
        assert len({cv["compute_s"][i] for i in rows}) == len(rows)       # each replica its own GPUs


def test_tp_collective_measured_on_its_own_links_equals_reading_every_link(monkeypatch):
    # the private-link TP cost reads the scratch fabric's counters on the links its flows cross;
    # reading every link (as before) must give the same cost to the last bit, in either fidelity
    import numpy as np
    from workloads.training import engine

    def every_link(self, groups, op, nbytes):
        if self._scratch is None:
            f = self.fabric
            self._scratch = engine.Fabric(engine.Simulation(0), self.topo, f.model, f.efficiency["scaleup"],
                                          f.efficiency["scaleout"], f.efficiency.get("host", 1.0))
        scratch = self._scratch
        bytes0, busy0 = scratch.link_bytes.copy(), scratch.link_busy.copy()
        sent, t0 = scratch.bytes_sent, scratch.sim.now
        scratch.sim.run(engine.collective(scratch, op, groups, nbytes, tag="TP"))
        moved = scratch.link_bytes - bytes0
        links = np.flatnonzero(moved)
        return (scratch.sim.now - t0, links, moved[links], (scratch.link_busy - busy0)[links],
                scratch.bytes_sent - sent, scratch.peak_utilization)

    for fidelity in ("full", "symmetric"):
        cfg = _llama_like(64)
        cfg = load_config(data={**cfg.model_dump(), "train": {**cfg.train.model_dump(), "fidelity": fidelity}})
        seen = {}
        real = engine.TrainingStep._measure_tp

        def spy(self, groups, op, nbytes, measure=real):
            c = measure(self, groups, op, nbytes)
            seen.setdefault(measure is real, []).append(c)
            return c
        monkeypatch.setattr(engine.TrainingStep, "_measure_tp", spy)
        a = run(cfg)
        monkeypatch.setattr(engine.TrainingStep, "_measure_tp", lambda self, g, o, n: spy(self, g, o, n, every_link))
        b = run(cfg)
        monkeypatch.setattr(engine.TrainingStep, "_measure_tp", real)
        assert a.summary["step_time_s"] == b.summary["step_time_s"]
        assert len(seen[True]) == len(seen[False]) > 0
        for x, y in zip(seen[True], seen[False]):
            assert x[0] == y[0] and x[4:] == y[4:]
            for u, v in zip(x[1:4], y[1:4]):
                assert np.array_equal(u, v)



def comm_calls(monkeypatch, train, model=None) -> list[tuple[str, str, float]]:
    """(op, dim, bytes) of every collective the engine issues in a step of ``train`` on 16 H100s."""
    from workloads.training.engine import TrainingStep
    orig, seen = TrainingStep._comm, []

    def rec(self, log, kind, op, dim, stage, r, nbytes, n=1):
        seen.append((op, dim, nbytes))
        return orig(self, log, kind, op, dim, stage, r, nbytes, n)

    monkeypatch.setattr(TrainingStep, "_comm", rec)
    simulate({"gpu": "H100-SXM-80GB", "gpus": 16, "fabric": "fat-tree"}, {"global_batch": 16, **train},
             model or small_model())
    monkeypatch.undo()
    return sorted(set(seen))


MOE_MODEL = small_model(experts=8, top_k=2, expert_ffn_hidden=1024, gated_mlp=True)


@pytest.mark.parametrize("train", [
    {"tp": 2, "zero": 1},                                   # the distributed optimizer's gather after the step
    {"tp": 2, "zero": 3},                                   # ZeRO-3: every pass gathers its chunk
    {"tp": 1, "ep": 8, "zero": 1},                          # experts over their expert data-parallel groups
])
def test_fp8_param_gather_halves_the_parameter_gathers(monkeypatch, train):
    # Megatron --fp8-param-gather: FP8 primary weights, gathered in FP8 (1 byte a parameter, not 2);
    # the gradient reductions keep their bytes
    model = MOE_MODEL if train.get("ep") else None
    bf16, fp8 = (comm_calls(monkeypatch, {**train, "precision": "fp8", "fp8_param_gather": f}, model)
                 for f in (False, True))
    gathers = [(c[1], c[2]) for c in bf16 if c[0] == "all_gather"]
    assert gathers and [(c[1], c[2]) for c in fp8 if c[0] == "all_gather"] == [(d, b / 2) for d, b in gathers]
    assert [c for c in fp8 if c[0] != "all_gather"] == [c for c in bf16 if c[0] != "all_gather"]


@pytest.mark.parametrize("train", [{"tp": 2, "zero": 1}, {"tp": 1, "ep": 8, "zero": 2}])
def test_gradient_reductions_move_the_main_grad_dtype(monkeypatch, train):
    # Megatron reduces its main-grad buffer as it is: fp32 (4 bytes a parameter) or bf16 (2, as dcsim's unset
    # default); whole-chunk reductions (no overlap: no bucket split) make the ratio exact
    model = MOE_MODEL if train.get("ep") else None
    base = {**train, "overlap_grad_reduce": False, "use_precision_aware_optimizer": True}
    unset, bf16, fp32 = (comm_calls(monkeypatch, {**base, **extra}, model)
                         for extra in ({}, {"main_grads_dtype": "bf16"}, {"main_grads_dtype": "fp32"}))
    assert unset == bf16
    red = [(c[1], c[2]) for c in bf16 if c[0] == "reduce_scatter"]
    assert red and [(c[1], c[2]) for c in fp32 if c[0] == "reduce_scatter"] == [(d, 2 * b) for d, b in red]
    assert [c for c in fp32 if c[0] != "reduce_scatter"] == [c for c in bf16 if c[0] != "reduce_scatter"]


def test_a_bucket_below_the_layer_gradient_floor_reduces_one_bucket_per_layer():
    # layer_gradient_floor: below it every chunk's backward reduces one bucket per layer (the
    # engine never cuts finer), so a smaller train.dp_bucket_MB changes nothing; above it, fewer
    from sim.compute import ComputeModel, efficiency_for
    from sim.hardware import gpu
    from workloads.model import ModelSpec
    from workloads.training.costs import step_costs
    from workloads.training.engine import TrainingStep, layer_gradient_floor
    from workloads.training.memory import state_bytes
    from workloads.training.plan import make_plan
    cfg = load_config(data={"topology": {"gpu": "A100-SXM-80GB", "gpus": 16}, "model": small_model(),
                            "train": {"tp": 2, "pp": 2, "global_batch": 16}})
    model = ModelSpec.from_section(cfg.model)
    plan = make_plan(cfg.train, model, 16)
    costs = step_costs(model, plan, ComputeModel(gpu("A100-SXM-80GB"), "bf16", efficiency_for("A100-SXM-80GB")),
                       cfg.train.attention, cfg.train.optimizer_step)
    floor = layer_gradient_floor(plan, costs)
    step = object.__new__(TrainingStep)
    step.grad_bytes = state_bytes(plan)[1]

    def buckets(size):
        step.bucket_bytes = size
        return [len(step._buckets(c)) for c in costs.chunks]
    layers = [c.layers for c in costs.chunks]
    assert floor > 0 and buckets(floor * (1 - 1e-9)) == buckets(1e-3) == layers
    assert buckets(floor * 1.5) != layers
