"""Per-pass costs of a training step: the collectives a pass issues (through the real runner), and
low precision: GEMMs at fp8 x the measured factor, attention and the output layer at bf16,
Transformer Engine's casts in both passes; 16-bit runs unchanged."""


import pytest

from sim.compute import ComputeModel
from sim.config import load_config
from sim.app.runner import run
from sim.hardware import gpu
from workloads.model import ModelSpec
from workloads.training.costs import step_costs
from workloads.training.plan import make_plan

MPT3B = {"name": "mpt-3b", "layers": 4, "hidden": 2560, "ffn_hidden": 10240, "heads": 20, "vocab": 50368,
         "seq_len": 2048, "gated_mlp": False, "tied_embeddings": True}


def _fwd_bwd(precision, g="H100-SXM-80GB"):
    cfg = load_config(data={"run": {"kind": "train"}, "topology": {"gpu": g, "gpus": 8, "fabric": "none"},
                            "model": MPT3B, "train": {"zero": 3, "micro_batch": 4, "global_batch": 32,
                                                      "recompute": "none", "precision": precision}})
    model = ModelSpec.from_section(cfg.model)
    plan = make_plan(cfg.train, model, 8)
    c = step_costs(model, plan, ComputeModel(gpu(g), precision)).chunks[0]
    return c.fwd.compute_s, c.bwd.compute_s


def test_fp8_speedup_is_bounded_by_its_16_bit_parts():
    f8, b8 = _fwd_bwd("fp8")
    f16, b16 = _fwd_bwd("bf16")
    speedup = (f16 + b16) / (f8 + b8)
    # GEMMs at most 2 x 0.891 faster; attention, norms and the casts do not speed up
    assert 1.1 < speedup < 2 * 0.891
    assert f8 < f16 and b8 < b16


def test_fp4_on_blackwell_faster_than_fp8():
    f8, b8 = _fwd_bwd("fp8", "B200-180GB")
    f4, b4 = _fwd_bwd("fp4", "B200-180GB")
    assert f4 + b4 < f8 + b8
    assert (f8 + b8) / (f4 + b4) < 2.0               # only the GEMMs run at the fp4 rate


def test_bf16_pass_equals_the_layer_ops_pricing():
    """A 16-bit run prices exactly ModelSpec.layer_ops (no casts, one precision)."""
    from workloads.model import Shard
    cfg = load_config(data={"model": MPT3B})
    model = ModelSpec.from_section(cfg.model)
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    from workloads.layer_cost import forward_ops
    a = cm.op_times(model.layer_ops(0, 4, Shard(weight_bytes=2.0))).sum()
    b = cm.op_times(forward_ops(model, 0, 4, Shard(weight_bytes=2.0), "bf16", attention_precision="")).sum()
    assert a == pytest.approx(b, rel=1e-15)



def llama8b_tp8(sp: bool, recompute: str = "none"):
    cfg = load_config(data={"run": {"kind": "train"},
                            "topology": {"gpu": "A100-SXM-80GB", "gpus": 8, "gpus_per_node": 8},
                            "model": {"preset": "llama3-8b"},
                            "train": {"tp": 8, "global_batch": 2, "micro_batch": 1, "sequence_parallel": sp,
                                      "recompute": recompute, "check_memory": False}})
    return run(cfg)


def scaleup_bytes(result) -> float:
    links = result.tables["links"].to_pydict()
    return sum(b for b, d in zip(links["bytes"], links["domain"]) if d == "scaleup")


@pytest.mark.parametrize("recompute", ["none", "full"])
def test_sequence_parallelism_moves_the_same_tp_bytes(recompute):
    # Megatron with SP: per layer and micro-batch 2 all-gathers + 2 reduce-scatters in the
    # forward (mirrored in the backward), the bytes of the 2 all-reduces without SP
    # (issue 9 item 3: dcsim issued one of each, half the bytes). On A100 (no NVLS) both run
    # as rings, so the scale-up links carry the same bytes; NVLS all-reduce on H100 would
    # legitimately carry fewer (the switch reduces).
    with_sp, without = llama8b_tp8(True, recompute), llama8b_tp8(False, recompute)
    assert scaleup_bytes(with_sp) == pytest.approx(scaleup_bytes(without), rel=0.01)
    assert scaleup_bytes(with_sp) > 0


# -- MoE layer costs (issue 11 item 3): the routed-expert ops under parallel folding, load
# imbalance, the dispatcher's bytes and its host sync; the interference default ------------------

import math  # noqa: E402

from sim.compute import constants_row  # noqa: E402
from sim.errors import ConfigError  # noqa: E402
from workloads.training.costs import _distinct, chunk_cost, moe_dispatch_bytes, moe_layer_ops  # noqa: E402


def moe_setup(gpus=16, **train):
    cfg = load_config(data={"model": {"preset": "mixtral-8x7b", "seq_len": 2048, "layers": 2},
                            "train": {"tp": 2, "ep": 8, "sequence_parallel": True, **train}})
    m = ModelSpec.from_section(cfg.model)
    return m, make_plan(cfg.train, m, gpus)


def _expert_flops(m, p):
    ops = moe_layer_ops(m.layer_ops(0, p.micro_batch, p.shard(), "flash"), m, p, p.micro_batch, p.shard())
    return sum(o.flops for o in ops if o.name.startswith("expert_")), ops


def test_expert_work_per_gpu_is_conserved_by_folding():
    # per GPU: 2 x tokens x top_k x hidden x (3 x expert width) / tp, whatever etp is
    m, p2 = moe_setup()
    _, p1 = moe_setup(etp=1)
    f2, _ = _expert_flops(m, p2)
    f1, ops1 = _expert_flops(m, p1)
    closed = 2 * 2048 * 2 * 4096 * 3 * 14336 / 2
    assert f2 == pytest.approx(closed) and f1 == pytest.approx(closed)
    up = next(o for o in ops1 if o.name == "expert_up")
    assert up.dims[2] == 2 * 14336          # etp 1: full-width experts, fewer rows each
    assert [o.name for o in ops1].count("router") == 1


def test_imbalance_scales_the_busiest_ranks_experts_and_bytes():
    m, p = moe_setup()
    _, pi = moe_setup(moe_imbalance=1.5)
    assert _expert_flops(m, pi)[0] == pytest.approx(1.5 * _expert_flops(m, p)[0])
    assert moe_dispatch_bytes(m, pi, 1024) == pytest.approx(1.5 * moe_dispatch_bytes(m, p, 1024))
    assert moe_dispatch_bytes(m, p, 1024) == 2 * 4096 * 1024 * 2          # top_k rows of hidden


def test_imbalance_loads_a_rank_by_the_experts_it_holds():
    # moe_imbalance is the busiest expert's rows over the mean: with every expert on every GPU
    # (ep 1) the rank's grouped GEMM rows add up to the mean whatever their spread (it ran 1.5x);
    # with 4 of 8 experts per rank the busiest one's rank carries it and 3 at the mean of the rest
    from workloads.training.costs import moe_load
    m, p1 = moe_setup(ep=1, etp=2)
    _, p1i = moe_setup(ep=1, etp=2, moe_imbalance=1.5)
    assert moe_load(p1i, m.experts) == 1.0
    assert _expert_flops(m, p1i)[0] == pytest.approx(_expert_flops(m, p1)[0])
    _, p2 = moe_setup(ep=2)
    _, p2i = moe_setup(ep=2, moe_imbalance=1.5)
    want = (1.5 + 3 * (8 - 1.5) / 7) / 4
    assert moe_load(p2i, m.experts) == pytest.approx(want)
    assert _expert_flops(m, p2i)[0] == pytest.approx(want * _expert_flops(m, p2)[0])
    _, p8i = moe_setup(moe_imbalance=1.5)                 # ep 8: one expert per rank, the whole 1.5
    assert moe_load(p8i, m.experts) == 1.5


def test_deepep_sends_a_token_once_per_destination_node():
    m, p = moe_setup(moe_dispatcher="deepep")        # EP group at stride 2 over 16 GPUs: 2 nodes
    # top-2 of 8 experts over 2 nodes of 4: expected distinct nodes 2 x (1 - C(4,2)/C(8,2))
    copies = 2 * (1 - math.comb(4, 2) / math.comb(8, 2))
    assert _distinct(2, 8, 2) == pytest.approx(copies)
    assert moe_dispatch_bytes(m, p, 1024) == pytest.approx(2 * 4096 * 1024 * copies)
    _, pa = moe_setup()
    assert moe_dispatch_bytes(m, p, 1024) < moe_dispatch_bytes(m, pa, 1024)


def test_the_dispatchers_host_sync_costs_each_moe_forward(monkeypatch):
    import sim.compute as compute
    m, p = moe_setup()
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    assert constants_row("H100-SXM-80GB")["moe_sync_us"] > 0            # a default exists
    section = compute._table()["H100"]
    monkeypatch.setitem(section, "moe_sync_us", 0.0)
    c0 = chunk_cost(m, p, cm, 0, "flash")
    monkeypatch.setitem(section, "moe_sync_us", 1000.0)
    c1 = chunk_cost(m, p, cm, 0, "flash")
    # one sync per MoE layer (2 here) in the forward, none in the backward (splits reused)
    assert c1.fwd.compute_s - c0.fwd.compute_s == pytest.approx(2e-3)
    assert c1.bwd.compute_s == c0.bwd.compute_s


@pytest.mark.parametrize("key,value", [("moe_imbalance", 0.9), ("moe_dispatcher", "nccl"), ("etp", 0)])
def test_bad_moe_keys_are_config_errors(key, value):
    with pytest.raises(ConfigError) as err:
        load_config(data={"train": {key: value}})
    assert key in err.value.key or key in str(err.value)


def test_moe_imbalance_is_at_most_experts_over_top_k():
    """The busiest expert takes at most every token: max / mean <= experts / top_k (4 for
    Mixtral's 8 experts, top-2). 1e300 hung the run (inf bytes in the expert GEMMs)."""
    moe_setup(moe_imbalance=4.0)
    for value in (4.01, 1e300):
        with pytest.raises(ConfigError) as err:
            moe_setup(moe_imbalance=value)
        assert err.value.key == "train.moe_imbalance" and "experts / top_k = 8 / 2 = 4" in err.value.reason


def test_interference_default_is_the_measured_slowdown_on_the_overlapped_share():
    from workloads.training.costs import overlap_interference, step_costs
    from workloads.training.estimate import Network

    def interference(gpus, **train):
        cfg = load_config(data={"model": {"preset": "llama3-8b", "seq_len": 4096}, "train": train})
        m = ModelSpec.from_section(cfg.model)
        p = make_plan(cfg.train, m, gpus)
        g = gpu("H100-SXM-80GB")
        costs = step_costs(m, p, ComputeModel(g, "bf16"), "flash")
        return overlap_interference(costs, p, Network.of(g, 400, 8, 8, 8), 0.189, cfg.train.overlap_grad_reduce)

    # no overlapped collectives (gradient reduction after the backward, as Megatron-2021 ran): 0
    assert interference(8, tp=8, overlap_grad_reduce=False) == 0.0
    assert interference(1) == 0.0
    # FSDP gathers beside compute: a share of the 18.9% measured, never more
    x = interference(8, zero=3, micro_batch=1, global_batch=8)
    assert 0.0 < x <= 1 - 1 / 1.189
    # more compute per gather (a bigger micro-batch) overlaps a smaller share
    assert interference(8, zero=3, micro_batch=4, global_batch=32) < x


def test_explicit_interference_is_kept():
    cfg = load_config(data={"train": {"interference": 0.1}})
    assert cfg.train.interference == 0.1
    assert load_config(data={}).train.interference is None


# -- issue 11: expert-TP exchange, MoE TP calls under SP, fp8 casts of the MoE block, host syncs ---

def test_expert_tp_gathers_the_dispatched_rows():
    # Mixtral, TP 2 = etp 2, SP, micro-batch 1, seq 2048: each rank's 1,024 tokens x top-2 rows,
    # all-gathered over the expert-TP pair -> 4,096 rows of 4,096 x 2 B; AG + RS per MoE layer
    m, p = moe_setup()
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    c = chunk_cost(m, p, cm, 0, "flash")
    assert c.fwd.etp_bytes == pytest.approx(4096 * 4096 * 2)
    assert c.fwd.etp_calls == 2 * 2 and c.bwd.etp_calls == 2 * 2
    # the MoE block has no dense-MLP all-gather/reduce-scatter pair: 2 TP calls per layer + embedding
    assert c.fwd.tp_calls == 2 * 2 + 1
    # experts not TP-sharded (etp 1): no expert-TP exchange
    _, p1 = moe_setup(etp=1)
    assert chunk_cost(m, p1, cm, 0, "flash").fwd.etp_calls == 0


def test_expert_tp_groups_are_tp_groups_unless_folded():
    m, p = moe_setup()
    assert p.groups("etp", pp=0) == p.groups("tp", pp=0)
    cfg = load_config(data={"model": {"preset": "mixtral-8x7b", "seq_len": 2048, "layers": 2},
                            "train": {"tp": 4, "ep": 8, "etp": 2, "sequence_parallel": True}})
    pf = make_plan(cfg.train, m, 16)
    groups = pf.groups("etp", pp=0)
    assert len(groups) == 8 and all(len(g) == 2 for g in groups)
    assert sorted(r for g in groups for r in g) == list(range(16))


def _moe_fwd_ops(precision, zero=1):
    from workloads.layer_cost import forward_ops
    cfg = load_config(data={"model": {"preset": "mixtral-8x7b", "seq_len": 2048, "layers": 2},
                            "train": {"tp": 2, "ep": 8, "sequence_parallel": True, "precision": precision,
                                      "zero": zero, "global_batch": 64}})
    m = ModelSpec.from_section(cfg.model)
    p = make_plan(cfg.train, m, 16)
    wf = 1.0 if zero >= 3 else 1.0 / p.microbatches
    sh = p.shard(1.0)
    ops = forward_ops(m, 0, 1, sh, precision, attention_precision="bf16", weight_fraction=wf)
    return moe_layer_ops(ops, m, p, 1, sh, wf), p


def test_fp8_moe_block_casts_its_expert_rows_not_the_router():
    ops, p = _moe_fwd_ops("fp8")
    names = [o.name for o in ops]
    assert next(o for o in ops if o.name == "router").precision == "bf16"
    assert "fp8_cast_router" not in names
    assert names.count("fp8_cast_expert_up") == 1 and names.count("fp8_cast_expert_down") == 1
    up = next(o for o in ops if o.name == "fp8_cast_expert_up")
    rows = 2 * 1024 * 2                                   # etp x tokens per rank x top-k
    act = rows * 4096                                     # the rows' elements
    weight = 4096 * 2 * 14336 / 2                         # one local expert's up-projection shard
    assert up.bytes == pytest.approx(4 * (act + weight / p.microbatches))


def test_fp8_weight_casts_once_per_step_unless_fsdp():
    # Megatron passes is_first_microbatch: TE caches the fp8 weights over a step's micro-batches;
    # under ZeRO-3/FSDP the 16-bit weights are re-gathered and cast for every pass
    cached, _ = _moe_fwd_ops("fp8", zero=1)
    every, _ = _moe_fwd_ops("fp8", zero=3)
    qkv_c = next(o for o in cached if o.name == "fp8_cast_qkv").bytes
    qkv_e = next(o for o in every if o.name == "fp8_cast_qkv").bytes
    assert qkv_c < qkv_e


def test_a_host_sync_cuts_the_pass_into_host_or_gpu_bound_segments():
    from sim.compute import Op
    from workloads.training.costs import synced_pass_s
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    # a long GPU op then many tiny kernels, cut before the permute: without the cut the host
    # runs ahead during the long op; with it the tiny kernels wait for the host
    big = Op("big", 1e13, 0.0, 0.0, "gemm")
    tiny = [Op("permute", 0.0, 1e3, 0.0, "memory", 50), Op("small", 0.0, 1e3, 0.0, "memory", 50)]
    ops = [big] + tiny
    gpu_s = float(cm.op_times(ops).sum())
    d = 20e-6
    free = max(gpu_s, 101 * d)
    cut = synced_pass_s(cm, ops, 0.0, d)
    assert free == pytest.approx(gpu_s)                     # one segment: GPU-bound
    assert cut == pytest.approx(float(cm.op_times([big]).sum()) + 100 * d)
    assert synced_pass_s(cm, ops, 0.0, d, cut_before="none") == pytest.approx(free)


def test_grouped_expert_ops_launch_their_per_expert_kernels_from_cpp():
    # Transformer Engine's GroupedLinear: one framework call per grouped op, the per-expert
    # kernels launched from C++ at grouped_launch_us (not one Python-level cpu_dispatch_us each).
    # Issue 11: DeepSeek-V3 EP 8 (32 local experts) on 256 B200 ran host-bound at 0.34 x its
    # measured rate when every per-expert kernel cost a full 54.8 us dispatch
    from sim.compute import Op, constants_row
    from workloads.training.costs import grouped_launch_s, grouped_op, host_kernels
    up = Op("expert_up", 1e9, 0.0, 0.0, "gemm", 32)
    cast = Op("mxfp8_quant_input_expert_up", 0.0, 1e6, 0.0, "memory", 64)
    dense = Op("qkv", 1e9, 0.0, 0.0, "gemm", 1)
    assert grouped_op(up) and grouped_op(cast) and grouped_op(Op("expert_down_bwd", count=64)) and not grouped_op(dense)
    r = 0.2
    assert host_kernels([up, cast, dense], 32, r) == pytest.approx([1 + 31 * r, 2 + 62 * r, 1.0])
    assert host_kernels([up], 1, r) == [32.0]        # one local expert: nothing grouped
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    row = constants_row("H100-SXM-80GB")
    assert 0 < grouped_launch_s(cm) < row["cpu_dispatch_us"] * 1e-6


def test_moe_layer_host_time_grows_by_a_cpp_launch_per_local_expert(monkeypatch):
    # a small host-bound MoE layer (64 local experts of width 256, 128 tokens): its backward's
    # host time moves by the per-expert kernels x the change of grouped_launch_us (the backward
    # issues 2x the forward's kernels), not by a full dispatch per expert kernel
    import sim.compute as compute
    from workloads.training.costs import chunk_cost, host_constants
    c = load_config(data={"model": {"preset": "mixtral-8x7b", "seq_len": 128, "layers": 1, "hidden": 512,
                                    "heads": 8, "kv_heads": 8, "experts": 64, "top_k": 2, "expert_ffn_hidden": 256},
                          "train": {"tp": 1, "pp": 1, "ep": 1, "micro_batch": 1, "global_batch": 8}})
    m = ModelSpec.from_section(c.model)
    p = make_plan(c.train, m, 8)
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    table = compute._table()
    bwd = {}
    for us in (10.0, 30.0):
        monkeypatch.setitem(table["default"], "grouped_launch_us", us)
        bwd[us] = chunk_cost(m, p, cm, 0, "flash").bwd.compute_s
    per_expert_kernels = 2 * 2 * (64 - 1)        # backward: 2x (expert_up + expert_down), 63 beyond the call
    assert bwd[30.0] - bwd[10.0] == pytest.approx(per_expert_kernels * 20e-6, rel=1e-6)
    assert bwd[10.0] < per_expert_kernels * host_constants(cm)[0]   # well under a dispatch each


# -- token drop and CUDA graphs (issue 11, item 3) ----------------------------------------------

def test_drop_and_pad_computes_and_sends_capacity_rows_without_a_host_sync(monkeypatch):
    import sim.compute as compute
    m, p = moe_setup()
    _, pd = moe_setup(moe_capacity_factor=1.25, moe_pad_expert_input_to_capacity=True, moe_imbalance=1.5)
    _, pc = moe_setup(moe_capacity_factor=1.25, moe_imbalance=1.5)
    # padded: every expert runs exactly capacity = 1.25 x the mean rows, whatever the imbalance
    assert _expert_flops(m, pd)[0] == pytest.approx(1.25 * _expert_flops(m, p)[0])
    assert moe_dispatch_bytes(m, pd, 1024) == pytest.approx(1.25 * moe_dispatch_bytes(m, p, 1024))
    # unpadded: the busiest expert is capped at capacity (the rest dropped)
    assert _expert_flops(m, pc)[0] == pytest.approx(1.25 * _expert_flops(m, p)[0])
    assert p.moe_host_sync and pc.moe_host_sync and not pd.moe_host_sync
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    section = compute._table()["H100"]
    monkeypatch.setitem(section, "moe_sync_us", 1000.0)
    _, pd1 = moe_setup(moe_capacity_factor=1.0, moe_pad_expert_input_to_capacity=True)
    # static shapes: no sync per MoE layer (2 here), so the 2 ms of syncs of the dropless pass go
    assert chunk_cost(m, p, cm, 0, "flash").fwd.compute_s - chunk_cost(m, pd1, cm, 0, "flash").fwd.compute_s > 2e-3


def test_cuda_graphs_hide_the_host_dispatch_of_kernels():
    from workloads.training.costs import host_constants
    m, p = moe_setup(moe_capacity_factor=1.0, moe_pad_expert_input_to_capacity=True)
    _, pg = moe_setup(moe_capacity_factor=1.0, moe_pad_expert_input_to_capacity=True, cuda_graph_impl="local")
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    eager, graphed = chunk_cost(m, p, cm, 0, "flash"), chunk_cost(m, pg, cm, 0, "flash")
    assert host_constants(cm)[0] > 0
    assert graphed.fwd.compute_s <= eager.fwd.compute_s and graphed.bwd.compute_s <= eager.bwd.compute_s
    # a one-token micro-batch is host-bound eager: the graph removes the launches
    cfg = {"moe_capacity_factor": 1.0, "moe_pad_expert_input_to_capacity": True}
    m1 = ModelSpec.from_section(load_config(data={"model": {"preset": "mixtral-8x7b", "seq_len": 8, "layers": 2}}).model)
    p1 = make_plan(load_config(data={"train": {"tp": 2, "ep": 8, **cfg}}).train, m1, 16)
    g1 = make_plan(load_config(data={"train": {"tp": 2, "ep": 8, "cuda_graph_impl": "local", **cfg}}).train, m1, 16)
    assert chunk_cost(m1, g1, cm, 0, "flash").fwd.compute_s < 0.5 * chunk_cost(m1, p1, cm, 0, "flash").fwd.compute_s


@pytest.mark.parametrize("train,key", [
    ({"moe_pad_expert_input_to_capacity": True}, "train.moe_pad_expert_input_to_capacity"),
    ({"cuda_graph_impl": "local"}, "train.cuda_graph_impl"),           # dropless: a host sync per layer
    ({"moe_capacity_factor": 1.0, "cuda_graph_impl": "local"}, "train.cuda_graph_impl"),
    ({"overlap_moe_expert_parallel_comm": True, "pp": 2}, "train.overlap_moe_expert_parallel_comm"),
])
def test_token_drop_graph_and_overlap_keys_check_what_megatron_checks(train, key):
    with pytest.raises(ConfigError) as err:
        moe_setup(**train)
    assert err.value.key == key


def test_bad_capacity_factor_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_config(data={"train": {"moe_capacity_factor": 0}})
    assert "moe_capacity_factor" in str(err.value)


def test_tp_overlap_exposed_closed_form():
    from workloads.training.costs import tp_overlap_exposed
    # GEMMs longer than the transfer: only the first/last chunk (1/tp) shows
    assert tp_overlap_exposed(1.0, 5.0, 4) == pytest.approx(0.25)
    # transfer longer: what the GEMMs cannot cover plus the chunk
    assert tp_overlap_exposed(1.0, 0.5, 4) == pytest.approx(0.75)
    # never more than the blocking transfer, never negative
    for comm, gemm in ((1.0, 0.0), (2.0, 0.1), (0.0, 1.0)):
        e = tp_overlap_exposed(comm, gemm, 8)
        assert 0.0 <= e <= comm


def test_tp_overlap_gemms_slow_by_the_communication_sms():
    from sim.compute import ComputeModel
    from sim.hardware import gpu
    from workloads.layer_cost import forward_ops
    from workloads.model import ModelSpec
    from workloads.training.costs import TP_OVERLAP_SMS, tp_overlap_gemms
    from workloads.training.plan import Shard
    from sim.config import load_config
    m = ModelSpec.from_section(load_config(data={"run": {"kind": "train"}, "model": {"preset": "llama3-70b"},
                                                 "topology": {"gpus": 8}}).model)
    cm = ComputeModel(gpu("H100-SXM-80GB"), "fp8")
    ops = forward_ops(m, 0, 1, Shard(tp=4, cp=1, sp=True, ep=1, weight_bytes=1), "fp8")
    gemm, extra = tp_overlap_gemms(cm, ops)
    t = {o.name: float(cm.op_times([o])[0]) for o in ops if o.name in TP_OVERLAP_SMS}
    assert gemm == pytest.approx(sum(t.values()))
    # proj loses 24 of 132 SMs, mlp_down 16; qkv and mlp_up (ring exchange, copy engines) none
    assert extra == pytest.approx(t["proj"] * 24 / 108 + t["mlp_down"] * 16 / 116)


# -- fused attention kernel generations on A100 (issue 11) -------------------------------------

def _attn_eff(gpu: str, kernel: str, seq: int, backward: bool) -> float:
    """Efficiency of one causal attention pass of Dao 2023's benchmark (hidden 2048, head dim 128,
    16 heads, 16k tokens per batch) on ``gpu`` with ``kernel``'s curves."""
    from sim.compute import ComputeModel, Op, efficiency_for
    from sim.hardware import gpu as gpu_spec
    g = gpu_spec(gpu)
    cm = ComputeModel(g, "bf16", efficiency_for(gpu, kernel))
    b = 16384 // seq
    fwd = 4.0 * b * seq * seq * 2048 / 2           # causal: half the scores
    flops = 2.5 * fwd if backward else fwd
    op = Op("attention_bwd" if backward else "attention", flops, 0.0, 0.0,
            "attention_bwd" if backward else "attention", 1, (seq,))
    return flops / cm.time(op) / g.peak_flops("bf16")


def test_a100_fa2_reaches_dao_2023_maxima_at_16k():
    # Dao 2023 (arXiv:2307.08691) Sec. 4.1, A100 80GB: FlashAttention-2 forward up to 73% of the
    # 312 TFLOP/s peak, backward up to 63%
    assert _attn_eff("A100-SXM-80GB", "fa2", 16384, False) == pytest.approx(0.73, abs=0.01)
    assert _attn_eff("A100-SXM-80GB", "fa2", 16384, True) == pytest.approx(0.63, abs=0.01)
    # and lower at short sequences (fixed per-CTA work over fewer keys)
    assert _attn_eff("A100-SXM-80GB", "fa2", 512, False) < 0.9 * _attn_eff("A100-SXM-80GB", "fa2", 16384, False)


def test_a100_triton_kernel_is_fa2_over_1p4_forward_and_2_backward():
    # Dao 2023: FlashAttention-2 is 1.3-1.5x faster than FlashAttention in Triton forward, ~2x
    # backward; MPT's attn_impl: triton is that kernel generation
    for seq in (512, 2048, 16384):
        for bwd, ratio in ((False, 1.4), (True, 2.0)):
            fa2, tri = (_attn_eff("A100-SXM-80GB", k, seq, bwd) for k in ("fa2", "triton"))
            assert fa2 / tri == pytest.approx(ratio, rel=0.01)


def test_attention_kernel_triton_is_a_config_value_and_unknown_is_exit_2():
    from sim.compute import efficiency_for
    from sim.config import load_config
    from sim.errors import ConfigError
    cfg = load_config(data={"run": {"kind": "train"}, "topology": {"gpu": "A100-SXM-80GB", "gpus": 8},
                            "model": {"preset": "llama3-8b"}, "train": {"attention_kernel": "triton"}})
    assert cfg.train.attention_kernel == "triton"
    # the unfused-GEMM attention of A100's Megatron fit stays the default kernel's
    assert efficiency_for("A100-SXM-80GB").attn_eff_max == 0.95
    with pytest.raises(ConfigError):
        efficiency_for("A100-SXM-80GB", "fa9")
# -- FP8 / FP4 recipes (train.fp8_recipe, issue 11 item 2) --------------------------------------

def test_recipe_quantization_bytes_closed_form():
    # bytes per element of one operand into both layouts its GEMMs read (bf16 source, 2 B)
    from workloads.training.costs import recipe_operand
    # delayed: one fused cast + a transpose on Hopper (TN-only FP8 GEMMs); none on Blackwell
    assert recipe_operand("delayed", "input", non_tn=False) == (2 + 1 + 1, 1)
    assert recipe_operand("delayed", "input", non_tn=True) == (2 + 1, 1)
    # current scaling: an amax pass over the tensor before the cast
    assert recipe_operand("tensorwise", "grad", non_tn=True) == (2 + 2 + 1, 2)
    # MXFP8: rowwise and columnwise copies, each with an E8M0 scale per 32
    assert recipe_operand("mxfp8", "input", non_tn=True)[0] == pytest.approx(2 + 2 * (1 + 1 / 32))
    # NVFP4: amax pass, rowwise cast, then the RHT'd columnwise copy with its own amax pass
    assert recipe_operand("nvfp4", "input", non_tn=True) == (pytest.approx(4 * 2 + 2 * (0.5 + 1 / 16)), 4)
    # NVFP4 weights: 16x16 blocks (one scale per 256), one pass writes both copies, no RHT
    assert recipe_operand("nvfp4", "weight", non_tn=True)[0] == pytest.approx(2 + 2 + 2 * (0.5 + 1 / 256))


def _recipe_pass(recipe, precision="fp8", g="B200-180GB", zero=1):
    cfg = load_config(data={"run": {"kind": "train"}, "topology": {"gpu": g, "gpus": 8, "fabric": "none"},
                            "model": MPT3B, "train": {"zero": zero, "micro_batch": 4, "global_batch": 32,
                                                      "recompute": "none", "precision": precision,
                                                      "fp8_recipe": recipe, "cuda_graph_impl": "local"}})
    model = ModelSpec.from_section(cfg.model)
    plan = make_plan(cfg.train, model, 8)
    return step_costs(model, plan, ComputeModel(gpu(g), precision)).chunks[0]


def test_delayed_scaling_on_hopper_moves_the_generic_casts_bytes():
    # the generic casts (recipe unset, every existing run) are delayed scaling on a TN-only GPU:
    # the same bytes (the recipe casts input and weight in two kernels where the generic op has one)
    from workloads.layer_cost import forward_ops
    from workloads.model import Shard
    from workloads.training.costs import requantize
    model = ModelSpec.from_section(load_config(data={"run": {"kind": "train"}, "model": MPT3B,
                                                     "topology": {"gpus": 8}}).model)
    ops = forward_ops(model, 0, 4, Shard(tp=1, cp=1, sp=False, ep=1, weight_bytes=1), "fp8",
                      attention_precision="bf16", weight_fraction=0.25)
    generic = sum(o.bytes for o in ops if o.name.startswith("fp8_"))
    delayed = sum(o.bytes for o in requantize(ops, "fp8", "delayed", False, 0.25) if o.name.startswith("delayed_"))
    assert delayed == pytest.approx(generic, rel=1e-12)


def test_recipes_cost_what_their_passes_move():
    # the fault (issue 11, item 2): FP8 was one switch whose casts, transposes and amax
    # reductions cost the same whatever the recipe; per recipe on B200 the quantization moves
    # delayed < mxfp8 < tensorwise (an extra read per tensor) and NVFP4 the most of all
    t = {r: (lambda c: c.fwd.compute_s + c.bwd.compute_s)(_recipe_pass(r)) for r in ("delayed", "mxfp8", "tensorwise")}
    assert t["delayed"] < t["mxfp8"] < t["tensorwise"]
    # Blackwell needs no transposed fp8 copy, in the generic cast model too (it wrote Hopper's
    # transposes there, so delayed scaling came out cheaper than it): the same bytes, as on Hopper
    from workloads.layer_cost import forward_ops
    from workloads.model import Shard
    from workloads.training.costs import requantize
    model = ModelSpec.from_section(load_config(data={"run": {"kind": "train"}, "model": MPT3B,
                                                     "topology": {"gpus": 8}}).model)
    ops = forward_ops(model, 0, 4, Shard(tp=1, cp=1, sp=False, ep=1, weight_bytes=1), "fp8",
                      attention_precision="bf16", weight_fraction=0.25, transpose=False)
    generic = sum(o.bytes for o in ops if o.name.startswith("fp8_"))
    delayed = sum(o.bytes for o in requantize(ops, "fp8", "delayed", True, 0.25) if o.name.startswith("delayed_"))
    assert delayed == pytest.approx(generic, rel=1e-12)


def test_nvfp4_quantization_moves_more_than_the_generic_fp4_casts():
    from workloads.layer_cost import forward_ops
    from workloads.model import Shard
    from workloads.training.costs import requantize
    model = ModelSpec.from_section(load_config(data={"run": {"kind": "train"}, "model": MPT3B,
                                                     "topology": {"gpus": 8}}).model)
    ops = forward_ops(model, 0, 4, Shard(tp=1, cp=1, sp=False, ep=1, weight_bytes=0.5625), "fp4",
                      attention_precision="bf16")
    generic = sum(o.bytes for o in ops if o.name.startswith("fp4_"))
    new = requantize(ops, "fp4", "nvfp4", True, 1.0)
    assert not any(o.name.startswith("fp4_") for o in new)
    nv = sum(o.bytes for o in new if o.name.startswith("nvfp4_"))
    gemms = [o for o in ops if o.kind == "gemm"]
    x = sum(o.dims[0] * o.dims[1] * o.count for o in gemms)
    w = sum(o.dims[1] * o.dims[2] * o.count for o in gemms)
    assert nv == pytest.approx(x * (8 + 2 * 0.5625) + w * (4 + 2 * (0.5 + 1 / 256)))
    assert nv > generic


@pytest.mark.parametrize("precision,recipe", [("fp8", "nvfp4"), ("fp4", "mxfp8"), ("bf16", "tensorwise")])
def test_a_recipe_for_another_precision_is_a_config_error(precision, recipe):
    from sim.errors import ConfigError
    cfg = load_config(data={"run": {"kind": "train"}, "topology": {"gpu": "B200-180GB", "gpus": 8},
                            "model": MPT3B, "train": {"precision": precision, "fp8_recipe": recipe,
                                                      "global_batch": 32}})
    with pytest.raises(ConfigError) as e:
        make_plan(cfg.train, ModelSpec.from_section(cfg.model), 8)
    assert "train.fp8_recipe" in str(e.value)


def test_blackwell_tp_overlap_takes_the_blackwell_recipes_sms():
    # NeMo / Megatron-Bridge's B200 fp8 userbuffers configs: forward overlaps are ring exchanges
    # (1 SM), the backward's bulk overlaps take 8 + 32 SMs (QKV dgrad/wgrad), 2 + 8 (FC1)
    from workloads.training.costs import TP_OVERLAP_SMS, TP_OVERLAP_SMS_BLACKWELL, tp_overlap_sms
    assert tp_overlap_sms("GB200") is TP_OVERLAP_SMS_BLACKWELL
    assert tp_overlap_sms("H100-SXM-80GB") is TP_OVERLAP_SMS
    assert TP_OVERLAP_SMS_BLACKWELL["proj"] == 1 and TP_OVERLAP_SMS_BLACKWELL["qkv_bwd"] == 20


def test_gpu_sms_are_the_enabled_counts_cuda_reports():
    """Blackwell boards enable different SM counts of the same dies (multiProcessorCount as
    measured on each board, FlashInfer flashinfer-ai/flashinfer#5716): B200 and B300 148, GB200
    and GB300 152; GB300's 160 is the full die, not an enabled count. The longest catalogue
    prefix wins (GB200 is not B200)."""
    from workloads.training.costs import DEFAULT_SMS, gpu_sms
    assert gpu_sms("B200-180GB") == 148 and gpu_sms("GB200") == 152
    assert gpu_sms("B300-288GB") == 148 and gpu_sms("GB300") == 152
    assert gpu_sms("A100-SXM-80GB") == 108 and gpu_sms("MI300X") == 304       # CUs, as HIP reports them
    assert gpu_sms("TPU-v4") == DEFAULT_SMS                                    # no SMs: the default stands in


def _dsv3_chunk(**train):
    """Chunk 1 (layers 2-5: one dense, three MoE) of DeepSeek-V3 on 2,048 GPUs, PP16 EP64, under ``train``."""
    cfg = load_config(data={"model": {"preset": "deepseek-v3"},
                            "train": {"pp": 16, "ep": 64, "zero": 1, "global_batch": 15360, "precision": "fp8",
                                      "check_memory": False, **train}})
    model = ModelSpec.from_section(cfg.model)
    plan = make_plan(cfg.train, model, 2048)
    return model, step_costs(model, plan, ComputeModel(gpu("H800-SXM-80GB"), "fp8")).chunks[1]


def test_recompute_modules_add_their_forward_flops_and_time():
    model, base = _dsv3_chunk(recompute="selective")           # core_attn (Megatron's default)
    t = model.seq_len                                          # tokens of the micro-batch (tp = cp = 1)
    H, dn, dr, dv = model.heads, model.head_dim, model.rope_head_dim, model.v_head_dim
    up = 2.0 * t * (model.q_lora_rank * H * (dn + dr) + model.kv_lora_rank * H * (dn + dv))
    _, mla = _dsv3_chunk(recompute="selective", recompute_modules=["core_attn", "mla_up_proj"])
    assert mla.bwd.hw_flops - base.bwd.hw_flops == pytest.approx(4 * up)       # 4 layers in the chunk
    assert mla.bwd.model_flops == base.bwd.model_flops and mla.bwd.compute_s > base.bwd.compute_s
    # norms and activation functions are memory ops: time, no FLOPs
    _, ln = _dsv3_chunk(recompute="selective", recompute_modules=["core_attn", "layernorm", "moe_act"])
    assert ln.bwd.hw_flops == pytest.approx(base.bwd.hw_flops) and ln.bwd.compute_s > base.bwd.compute_s
    # moe: the routed top_k + shared experts and the router again, and the dispatch all-to-all again
    _, moe = _dsv3_chunk(recompute="selective", recompute_modules=["core_attn", "moe"])
    per_layer = 2.0 * t * ((model.top_k + model.shared_experts) * model.expert_params() + model.hidden * model.experts)
    assert moe.bwd.hw_flops - base.bwd.hw_flops == pytest.approx(3 * per_layer)     # the 3 MoE layers
    # mlp: the dense layer's MLP
    _, mlp = _dsv3_chunk(recompute="selective", recompute_modules=["core_attn", "mlp"])
    assert mlp.bwd.hw_flops - base.bwd.hw_flops == pytest.approx(2.0 * t * model.dense_mlp_params())
    assert moe.bwd.ep_calls == 2 * base.bwd.ep_calls
    # without recompute_modules, selective is unchanged (core_attn)
    _, core = _dsv3_chunk(recompute="selective", recompute_modules=["core_attn"])
    assert (core.bwd.hw_flops, core.bwd.compute_s) == (base.bwd.hw_flops, base.bwd.compute_s)


# -- hardware FLOPs count the routed-expert rows executed (token drop, drop-and-pad) -------------

@pytest.mark.parametrize("recompute", ["none", "full"])
def test_hw_flops_count_executed_expert_rows_model_flops_keep_megatrons_count(recompute):
    from workloads.training.costs import executed_expert_rows
    cm = ComputeModel(gpu("H100-SXM-80GB"), "bf16")
    m, p = moe_setup(recompute=recompute)
    _, drop = moe_setup(recompute=recompute, moe_capacity_factor=0.5)
    _, pad = moe_setup(recompute=recompute, moe_capacity_factor=1.25, moe_pad_expert_input_to_capacity=True)
    _, drop125 = moe_setup(recompute=recompute, moe_capacity_factor=1.25)
    assert [executed_expert_rows(x) for x in (p, drop, pad, drop125)] == [1.0, 0.5, 1.25, 1.0]
    s, sd, sp_ = (step_costs(m, x, cm) for x in (p, drop, pad))
    # mfu: Megatron's model count, whatever is dropped or padded
    assert sd.model_flops_per_step == pytest.approx(s.model_flops_per_step)
    assert sp_.model_flops_per_step == pytest.approx(s.model_flops_per_step)
    # hfu: the routed experts' executed rows; forward x1, backward x2, full recompute +1 forward
    routed_fwd = 2 * 2 * m.expert_params() * 2048 * 2 * p.micro_batch * p.microbatches * p.dp   # 2 MoE layers
    passes = 4 if recompute == "full" else 3
    assert sd.hw_flops_per_step == pytest.approx(s.hw_flops_per_step - 0.5 * passes * routed_fwd)
    assert sp_.hw_flops_per_step == pytest.approx(s.hw_flops_per_step + 0.25 * passes * routed_fwd)
    assert sd.hw_flops_per_step < s.hw_flops_per_step
    if recompute == "none":
        assert s.hw_flops_per_step == pytest.approx(s.model_flops_per_step)
        assert sp_.hw_flops_per_step > sp_.model_flops_per_step


# -- Blackwell low precision: launch-bound passes -------------------------------------------------

def _llama8b_tp4(g, precision, seq=8192, layers=4, **train):
    """runs/quickstart.toml's plan (Llama 3 8B, TP 4, micro-batch 1) with ``layers`` layers."""
    cfg = load_config(data={"run": {"kind": "train"}, "topology": {"gpu": g, "gpus": 16},
                            "model": {"preset": "llama3-8b", "layers": layers, "seq_len": seq},
                            "train": {"tp": 4, "zero": 1, "global_batch": 32, "precision": precision, **train}})
    model = ModelSpec.from_section(cfg.model)
    plan = make_plan(cfg.train, model, 16)
    return step_costs(model, plan, ComputeModel(gpu(g), precision)).chunks[0]


def test_eager_fp8_on_blackwell_is_launch_bound_and_graphed_low_precision_is_faster():
    # runs/quickstart.toml on B200: fp8 ran 1.23 s per step against bf16's 1.00 s, fp4 equal to fp8,
    # without a word. Eager, Transformer Engine's per-GEMM casts and scale updates add host work
    # (TE PR #1016, issues #445 / #836: FP8 slower than 16 bit for small layers), so at 8B / TP 4
    # the host issues the fp8 pass slower than Blackwell runs it: the GPU waits (launch_wait_s),
    # while bf16 is GPU-bound. With CUDA graphs the passes are GPU-bound: fp4 < fp8 < bf16.
    # The eager check takes the first of 2 pipeline stages (its layers, no LM head): the last
    # stage's bf16 LM head (vocab 128,256; 16-bit under FP8 recipes) at B200's fitted bf16 rate
    # (bwbf16, gemm_eff_max 0.6276) makes a 4-layer chunk's fp8 backward GPU-bound on B200
    for g in ("B200-180GB", "GB300"):
        eager = {p: _llama8b_tp4(g, p, pp=2) for p in ("bf16", "fp8", "fp4")}
        assert eager["bf16"].fwd.launch_wait_s == 0 and eager["bf16"].bwd.launch_wait_s == 0
        for p in ("fp8", "fp4"):
            assert eager[p].fwd.launch_wait_s > 0 and eager[p].bwd.launch_wait_s > 0, (g, p)
        graphed = {p: _llama8b_tp4(g, p, cuda_graph_impl="local") for p in ("bf16", "fp8", "fp4")}
        t = {p: c.fwd.compute_s + c.bwd.compute_s for p, c in graphed.items()}
        assert t["fp4"] < t["fp8"] < t["bf16"], (g, t)
        assert all(c.fwd.launch_wait_s == 0 and c.bwd.launch_wait_s == 0 for c in graphed.values())


def test_a_launch_bound_pass_says_so_and_a_gpu_bound_one_does_not():
    # seq 4096 at fp4 on Blackwell: the host issues the kernels slower than the GPU runs them
    # (the same host time on every Blackwell board); H100 bf16 at seq 8192 is GPU-bound
    b200, gb300 = (_llama8b_tp4(g, "fp4", seq=4096) for g in ("B200-180GB", "GB300"))
    for c in (b200, gb300):
        assert c.fwd.launch_wait_s > 0 and c.bwd.launch_wait_s > 0
    assert b200.fwd.compute_s == pytest.approx(gb300.fwd.compute_s)      # the host's floor
    h100 = _llama8b_tp4("H100-SXM-80GB", "bf16")
    assert h100.fwd.launch_wait_s == 0 and h100.bwd.launch_wait_s == 0
    # GPU-bound: doubling the sequence moves the GPU-bound pass
    assert _llama8b_tp4("H100-SXM-80GB", "bf16", seq=4096).fwd.compute_s < 0.6 * h100.fwd.compute_s


# -- generation-specific behaviour follows the GPU's architecture, not its name -----------------

def _repro_step(gpu_name: str, like: str | None = None, **train) -> float:
    """The fresh user's run: llama3-8b on 16 GPUs of dgx-h100-superpod at TP 4, ZeRO-1, global
    batch 32, on ``gpu_name`` (a [hardware."NAME"] GPU ``like`` a catalogued one when given)."""
    data = {"run": {"kind": "train"}, "topology": {"preset": "dgx-h100-superpod", "gpus": 16, "gpu": gpu_name},
            "model": {"preset": "llama3-8b"}, "train": {"tp": 4, "zero": 1, "global_batch": 32, **train}}
    if like:
        data["hardware"] = {gpu_name: {"like": like}}
    return run(load_config(data=data)).summary["step_time_s"]


@pytest.mark.parametrize("train", [{"precision": "fp8", "cuda_graph_impl": "transformer_engine"},
                                   {"precision": "bf16", "sequence_parallel": True, "tp_comm_overlap": True}],
                         ids=["fp8-casts", "tp-overlap-sms"])
@pytest.mark.parametrize("name, like", [("MyChip", "B200-180GB"), ("B200-foo", "H100-SXM-80GB")])
def test_a_like_gpu_of_any_name_steps_as_its_like(name, like, train):
    # Blackwell's fp8 casts (no transposed copy) and its TP-overlap SMs were keyed on the name
    # starting with B200 / GB200 / B300 / GB300: "MyChip" like B200 ran 0.9419 s where B200 runs
    # 0.9322, "B200-foo" like H100 took Blackwell's behaviour. Now both read the GPU's arch (and SM
    # count), the like's: nothing else about the GPU changed, so neither does the step.
    assert _repro_step(name, like, **train) == _repro_step(like, **train)


def test_architecture_behaviour_reads_the_spec_not_the_name():
    from sim import hardware
    from workloads.training.costs import (DEFAULT_SMS, TP_OVERLAP_SMS, TP_OVERLAP_SMS_BLACKWELL, gpu_sms,
                                          non_tn_fp8, tp_overlap_sms)
    mine = hardware.define("T-arch-mychip", {"like": "GB200"})
    assert non_tn_fp8(mine) and tp_overlap_sms(mine) is TP_OVERLAP_SMS_BLACKWELL and gpu_sms(mine) == 152
    foo = hardware.define("GB200-T-arch-foo", {"like": "H100-SXM-80GB"})
    assert not non_tn_fp8(foo) and tp_overlap_sms(foo) is TP_OVERLAP_SMS and gpu_sms(foo) == 132
    # a table's own arch and sms win over the like's; a GPU without like is a generic chip
    told = hardware.define("B300-T-arch-told", {"like": "B200-180GB", "arch": "hopper", "sms": 140})
    assert not non_tn_fp8(told) and tp_overlap_sms("B300-T-arch-told") is TP_OVERLAP_SMS and gpu_sms(told) == 140
    bare = hardware.define("B200-T-arch-bare", {"dense_tflops": {"bf16": 2250, "fp8": 4500}, "hbm_GB": 180,
                                                "hbm_GBps": 8000})
    assert not non_tn_fp8(bare) and tp_overlap_sms(bare) is TP_OVERLAP_SMS and gpu_sms(bare) == DEFAULT_SMS
