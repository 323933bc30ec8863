"""Training and serving price one transformer layer with one model (workloads.layer_cost): the
serving iteration cost of a prefill chunk equals the training forward pass of the same tokens;
what differs (KV from the cache, the LM head on sampled rows) is the workload's and is listed."""

import pytest

from sim.config import load_config
from sim.hardware import gpu
from workloads.layer_cost import ATTENTION_CORE, backward_cast_ops, forward_ops
from workloads.model import ModelSpec, Shard
from workloads.serving.cost import IterationCost


def _spec(preset):
    return ModelSpec.from_section(load_config(data={"model": {"preset": preset}}).model)


SHAPES = [("llama3-8b", "H100-SXM-80GB", 1, 2048), ("llama3-8b", "A100-SXM-80GB", 1, 2048),
          ("llama3-70b", "H100-SXM-80GB", 8, 4096), ("gpt3-175b", "A100-SXM-80GB", 8, 2048)]


@pytest.mark.parametrize("preset,g,tp,s", SHAPES)
def test_today_prefill_forward_terms(preset, g, tp, s):
    """The terms both workloads share on one prefill sequence of s tokens (bf16, no cache
    hits): GEMM FLOPs, attention FLOPs and exponentials, weight bytes (held equal before the
    two cost models became one)."""
    spec = _spec(preset)
    c = IterationCost(spec, gpu(g), "bf16", "bf16", tp=tp, schedule_overhead_s=1e-9)
    ops = spec.layer_ops(0, 1, Shard(tp=tp, weight_bytes=2.0), "flash", seq=s)
    gemm = [o for o in ops if o.kind == "gemm"]
    attn = [o for o in ops if o.kind == "attention"]
    T, a = float(s), 2.0
    # GEMM FLOPs: 2 x tokens x matmul parameters / tp on both sides
    assert sum(o.flops for o in gemm) == pytest.approx(2 * T * (c.attn_params + c.dense_mlp) / tp, rel=1e-12)
    # attention: causal pairs s^2/2 x 2 x (q + out width) / tp; one exponential per score
    assert attn[0].flops == pytest.approx(2 * (T * T / 2) * c.attn_width, rel=1e-12)
    assert attn[0].exps == pytest.approx(T * T / 2 * c.local_heads, rel=1e-12)
    # weight bytes read by the GEMMs
    weights = sum(o.bytes - a * o.dims[0] * o.count * (o.dims[1] + o.dims[2]) for o in gemm)
    assert weights == pytest.approx(2.0 * (c.attn_params + c.dense_mlp) / tp, rel=1e-9)


@pytest.mark.parametrize("preset,g,tp,s", SHAPES)
def test_serving_prefill_is_the_training_forward_pass(preset, g, tp, s):
    """One model: serving prices a prefill chunk's layers with the same forward ops as a
    training micro-batch (workloads.layer_cost.forward_ops, one ComputeModel), to rounding.
    What still differs is the workload's, not the layer's: serving's attention reads K and V
    from the KV cache (training from the QKV GEMM) and its LM head runs on sampled rows only."""
    spec = _spec(preset)
    c = IterationCost(spec, gpu(g), "bf16", "bf16", tp=tp, schedule_overhead_s=1e-9)
    ops = forward_ops(spec, 0, 1, Shard(tp=tp, weight_bytes=2.0), "bf16", seq=s)
    layers = [o for o in ops if o.name not in ATTENTION_CORE]
    train = float(c.compute.op_times(layers).sum()) * spec.layers
    assert c.layers.seconds(float(s)) == pytest.approx(train, rel=1e-9)
    # the whole stage, attention included, within 2% of the training forward pass
    whole = float(c.compute.op_times(ops).sum()) * spec.layers
    serve = float(c.stage_compute([float(s)], [0.0], [s * s / 2.0], [float(s)])[0])
    assert abs(serve / whole - 1) < 0.02


def test_low_precision_ops_and_casts():
    """fp8 training: GEMMs at fp8, attention at bf16, memory ops untagged; every GEMM adds a
    cast over its input and weight (4 B per element: read 2, write the copy and its
    transpose); serving (casts=False) adds none."""
    spec = _spec("llama3-8b")
    ops = forward_ops(spec, 0, 2, Shard(), "fp8", seq=1024)
    gemms = [o for o in ops if o.kind == "gemm"]
    assert {o.precision for o in gemms} == {"fp8"}
    assert [o.precision for o in ops if o.kind == "attention"] == ["bf16"]
    casts = [o for o in ops if o.name.startswith("fp8_cast_")]
    assert len(casts) == len(gemms)
    qkv = next(o for o in gemms if o.name == "qkv")
    m, k, n = qkv.dims
    assert next(o for o in casts if o.name == "fp8_cast_qkv").bytes == pytest.approx(4 * (m * k + k * n))
    bwd = backward_cast_ops(ops, "fp8")
    assert next(o for o in bwd if o.name == "fp8_cast_qkv_bwd").bytes == pytest.approx(4 * m * n)
    assert not [o for o in forward_ops(spec, 0, 2, Shard(), "fp8", seq=1024, casts=False) if "cast" in o.name]
    assert not [o for o in forward_ops(spec, 0, 2, Shard(), "bf16", seq=1024) if "cast" in o.name]


def test_a_blackwell_fp8_cast_writes_no_transpose_an_fp4_one_does():
    """Blackwell's FP8 GEMMs read one tensor-scaled copy in every layout (transpose=False):
    3 B per element (read 2, write 1); NVFP4's block scales run along one dimension, so its
    columnwise copy is written whatever the GPU."""
    spec = _spec("llama3-8b")
    for p, with_t, without_t in (("fp8", 4.0, 3.0), ("fp4", None, None)):
        ops = {o.name: o for o in forward_ops(spec, 0, 2, Shard(), p, seq=1024, transpose=False)}
        ref = {o.name: o for o in forward_ops(spec, 0, 2, Shard(), p, seq=1024)}
        m, k, n = ops["qkv"].dims
        if p == "fp8":
            assert ref["fp8_cast_qkv"].bytes == pytest.approx(with_t * (m * k + k * n))
            assert ops["fp8_cast_qkv"].bytes == pytest.approx(without_t * (m * k + k * n))
            bwd = {o.name: o for o in backward_cast_ops(list(ops.values()), "fp8", transpose=False)}
            assert bwd["fp8_cast_qkv_bwd"].bytes == pytest.approx(without_t * m * n)
        else:
            assert ops["fp4_cast_qkv"].bytes == ref["fp4_cast_qkv"].bytes


def test_expert_load_scales_the_routed_ops_only():
    """LayerCost.seconds(expert_load=f): the most loaded EP rank's expert GEMMs, activation and
    permutes run on f x the routed rows (weights read once); 1 is the default; a dense model has
    no routed ops to scale."""
    from sim.compute import ComputeModel, efficiency_for
    from workloads.layer_cost import LayerCost
    g = gpu("H200-SXM-141GB")
    cm = ComputeModel(g, "fp8", efficiency_for(g.name))
    spec = _spec("qwen3-235b-a22b")
    lc = LayerCost(spec, cm, Shard(tp=1, ep=4), {0: 1.0}, "fp8")
    T = 4096.0
    assert lc.seconds(T, 1.0, 0.0, 1.0) == lc.seconds(T)
    one, two = lc.seconds(T), lc.seconds(T, 1.0, 0.0, 2.0)
    routed = [o for o, _ in lc.ops if o.expert or o.name in ("permute", "unpermute")]
    assert routed and one < two < 2.0 * one
    dense = LayerCost(_spec("llama3-8b"), cm, Shard(tp=1), {0: 1.0}, "fp8")
    assert dense.seconds(T, 1.0, 0.0, 2.0) == dense.seconds(T)


def test_op_seconds_is_one_layer_of_the_named_ops():
    """LayerCost.op_seconds(names, ...): the named ops once each (one layer), so over every op it is
    seconds() over the layer count when all ops stand for the same layers; an unknown name adds nothing."""
    from sim.compute import ComputeModel, efficiency_for
    from workloads.layer_cost import LayerCost
    g = gpu("H200-SXM-141GB")
    cm = ComputeModel(g, "fp8", efficiency_for(g.name))
    lc = LayerCost(_spec("qwen3-235b-a22b"), cm, Shard(tp=1, ep=4), {0: 1.0}, "fp8")
    T = 2048.0
    layers = {n for _, n in lc.ops}
    assert len(layers) == 1
    names = {o.name for o, _ in lc.ops}
    assert lc.op_seconds(names, T) * layers.pop() == pytest.approx(lc.seconds(T))
    experts = {o.name for o, _ in lc.ops if o.expert}
    assert 0.0 < lc.op_seconds(experts, T) < lc.op_seconds(names, T)
    assert lc.op_seconds({"no_such_op"}, T) == 0.0
