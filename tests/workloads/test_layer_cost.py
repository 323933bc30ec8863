"""Training and serving price one transformer layer the same way: the serving iteration cost of
a prefill chunk equals the training forward pass of the same tokens, term by term, and every
place where they differ is listed here with its reason."""

import pytest

from sim.config import load_config
from sim.hardware import gpu
from workloads.model import ACT_BYTES, ModelSpec, Shard
from workloads.serving.cost import IterationCost


def _spec(preset):
    return ModelSpec.from_section(load_config(data={"model": {"preset": preset}}).model)


SHAPES = [("llama3-8b", "H100-SXM-80GB", 1, 2048), ("llama3-8b", "A100-SXM-80GB", 1, 2048),
          ("llama3-70b", "H100-SXM-80GB", 8, 4096), ("gpt3-175b", "A100-SXM-80GB", 8, 2048)]


@pytest.mark.parametrize("preset,g,tp,s", SHAPES)
def test_today_prefill_forward_terms(preset, g, tp, s):
    """Today's two models on one prefill sequence of s tokens (bf16, no cache hits): FLOPs,
    exponentials and weight bytes agree exactly; activation bytes differ as documented."""
    spec = _spec(preset)
    c = IterationCost(spec, gpu(g), "bf16", "bf16", tp=tp, schedule_overhead_s=1e-9)
    ops = spec.layer_ops(0, 1, Shard(tp=tp, weight_bytes=2.0), "flash", seq=s)
    gemm = [o for o in ops if o.kind == "gemm"]
    attn = [o for o in ops if o.kind == "attention"]
    T, h, a, f = float(s), spec.hidden, ACT_BYTES, spec.ffn_hidden
    # GEMM FLOPs: 2 x tokens x matmul parameters / tp on both sides
    assert sum(o.flops for o in gemm) == pytest.approx(2 * T * (c.attn_params + c.dense_mlp) / tp, rel=1e-12)
    # attention: causal pairs s^2/2 x 2 x (q + out width) / tp; one exponential per score
    assert attn[0].flops == pytest.approx(2 * (T * T / 2) * c.attn_width, rel=1e-12)
    assert attn[0].exps == pytest.approx(T * T / 2 * c.local_heads, rel=1e-12)
    # weight bytes read by the GEMMs
    weights = sum(o.bytes - a * o.dims[0] * o.count * (o.dims[1] + o.dims[2]) for o in gemm)
    assert weights == pytest.approx(2.0 * (c.attn_params + c.dense_mlp) / tp, rel=1e-9)


@pytest.mark.parametrize("preset,g,tp,s", SHAPES)
def test_today_prefill_forward_differences(preset, g, tp, s):
    """Where today's two models differ (before they share one model), with the reason:
    1. GEMM activation bytes: serving counts a x T x (4h + 3 ffn / tp) per layer; training counts
       each GEMM's input and output, a x T x (4h + (q + 2 kv + out) / tp + m ffn / tp).
    2. elementwise: serving one 10 a T h op of 3 kernels; training five kernels (two norms, two
       residual adds, 12 a T h) plus the MLP activation (m a T ffn / tp).
    3. serving prices the whole GEMM stack as one op (mean launch size, no GEMM shape term) and
       attention without its key-length term; training prices every GEMM by its own shape.
    The forward time therefore differs by a few percent (training slower); within 15% here."""
    spec = _spec(preset)
    c = IterationCost(spec, gpu(g), "bf16", "bf16", tp=tp, schedule_overhead_s=1e-9)
    ops = spec.layer_ops(0, 1, Shard(tp=tp, weight_bytes=2.0), "flash", seq=s)
    T, h, a, f, m = float(s), spec.hidden, ACT_BYTES, spec.ffn_hidden, spec.mlp_matrices
    gemm_act = sum(a * o.dims[0] * o.count * (o.dims[1] + o.dims[2]) for o in ops if o.kind == "gemm")
    assert gemm_act == pytest.approx(a * T * (4 * h + (spec.q_dim + 2 * spec.kv_dim + spec.attn_out_dim) / tp
                                              + m * f / tp), rel=1e-9)
    elementwise = sum(o.bytes for o in ops if o.kind == "memory")
    assert elementwise == pytest.approx(12 * a * T * h + m * a * T * f / tp, rel=1e-9)
    train = float(c.compute.op_times(ops).sum()) * spec.layers
    serve = float(c.stage_compute([T], [0.0], [T * T / 2], [T])[0])
    assert 1.0 < train / serve < 1.15
