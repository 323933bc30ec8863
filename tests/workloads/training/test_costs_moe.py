"""MoE layer costs (workloads/training/costs.py, issue 11 item 3): the routed-expert ops under
parallel folding, load imbalance, the dispatcher's bytes and its host sync."""

from __future__ import annotations

import math

import pytest

from sim.compute import ComputeModel, constants_row
from sim.config import load_config
from sim.errors import ConfigError
from sim.hardware import gpu
from workloads.model import ModelSpec
from workloads.training.costs import _distinct, chunk_cost, moe_dispatch_bytes, moe_layer_ops
from workloads.training.plan import make_plan


def setup(gpus=16, **train):
    cfg = load_config(data={"model": {"preset": "mixtral-8x7b", "seq_len": 2048, "layers": 2},
                            "train": {"tp": 2, "ep": 8, "sequence_parallel": True, **train}})
    m = ModelSpec.from_section(cfg.model)
    return m, make_plan(cfg.train, m, gpus)


def _expert_flops(m, p):
    ops = moe_layer_ops(m.layer_ops(0, p.micro_batch, p.shard(), "flash"), m, p, p.micro_batch, p.shard())
    return sum(o.flops for o in ops if o.name.startswith("expert_")), ops


def test_expert_work_per_gpu_is_conserved_by_folding():
    # per GPU: 2 x tokens x top_k x hidden x (3 x expert width) / tp, whatever etp is
    m, p2 = setup()
    _, p1 = setup(etp=1)
    f2, _ = _expert_flops(m, p2)
    f1, ops1 = _expert_flops(m, p1)
    closed = 2 * 2048 * 2 * 4096 * 3 * 14336 / 2
    assert f2 == pytest.approx(closed) and f1 == pytest.approx(closed)
    up = next(o for o in ops1 if o.name == "expert_up")
    assert up.dims[2] == 2 * 14336          # etp 1: full-width experts, fewer rows each
    assert [o.name for o in ops1].count("router") == 1


def test_imbalance_scales_the_busiest_ranks_experts_and_bytes():
    m, p = setup()
    _, pi = setup(moe_imbalance=1.5)
    assert _expert_flops(m, pi)[0] == pytest.approx(1.5 * _expert_flops(m, p)[0])
    assert moe_dispatch_bytes(m, pi, 1024) == pytest.approx(1.5 * moe_dispatch_bytes(m, p, 1024))
    assert moe_dispatch_bytes(m, p, 1024) == 2 * 4096 * 1024 * 2          # top_k rows of hidden


def test_deepep_sends_a_token_once_per_destination_node():
    m, p = setup(moe_dispatcher="deepep")        # EP group at stride 2 over 16 GPUs: 2 nodes
    # top-2 of 8 experts over 2 nodes of 4: expected distinct nodes 2 x (1 - C(4,2)/C(8,2))
    copies = 2 * (1 - math.comb(4, 2) / math.comb(8, 2))
    assert _distinct(2, 8, 2) == pytest.approx(copies)
    assert moe_dispatch_bytes(m, p, 1024) == pytest.approx(2 * 4096 * 1024 * copies)
    _, pa = setup()
    assert moe_dispatch_bytes(m, p, 1024) < moe_dispatch_bytes(m, pa, 1024)


def test_the_dispatchers_host_sync_costs_each_moe_forward(monkeypatch):
    import sim.compute as compute
    m, p = setup()
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
