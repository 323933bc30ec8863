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
