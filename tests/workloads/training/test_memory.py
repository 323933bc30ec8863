"""Memory model: Korthikanti et al. 2022 activation formulas and ZeRO sharding."""

import pytest

from sim.config import load_config
from workloads.model import ModelSpec
from workloads.training.memory import layer_activation_bytes, stage_memory, stage_params
from workloads.training.plan import make_plan


def setup(preset="gpt3-175b", gpus=64, **train):
    cfg = load_config(data={"model": {"preset": preset}, "train": train})
    m = ModelSpec.from_section(cfg.model)
    return m, make_plan(cfg.train, m, gpus)


@pytest.mark.parametrize("sp", [False, True])
def test_activations_match_korthikanti_eq(sp):
    m, p = setup(tp=8, pp=8, sequence_parallel=sp, micro_batch=1, global_batch=64)
    s, b, h, a, t = m.seq_len, 1, m.hidden, m.heads, 8
    parts = layer_activation_bytes(m, p, 0, "unfused")
    per_layer = parts["replicated"] / (t if sp else 1) + parts["split"] / t + parts["scores"] / t
    expected = s * b * h * ((34 / t if sp else 10 + 24 / t) + 5 * a * s / (h * t))
    assert per_layer == pytest.approx(expected, rel=1e-9)


def test_recompute_and_zero_reduce_memory():
    base = dict(tp=8, pp=8, micro_batch=1, global_batch=64)
    m, none = setup(recompute="none", **base)
    _, sel = setup(recompute="selective", **base)
    _, full = setup(recompute="full", **base)
    acts = [max(x.activations for x in stage_memory(m, p, "unfused")) for p in (none, sel, full)]
    assert acts[0] > acts[1] > acts[2]
    totals = []
    for z in range(4):
        _, p = setup(zero=z, **base)
        totals.append(stage_memory(m, p)[1])
    assert totals[0].optimizer == pytest.approx(totals[1].optimizer * 1)  # dp = 1 here
    _, p0 = setup(tp=8, pp=2, micro_batch=1, global_batch=64, zero=0)
    _, p3 = setup(tp=8, pp=2, micro_batch=1, global_batch=64, zero=3)
    s0, s3 = stage_memory(m, p0)[1], stage_memory(m, p3)[1]
    assert s3.optimizer == pytest.approx(s0.optimizer / 4) and s3.weights == pytest.approx(s0.weights / 4)


def test_stage_params_sum_to_model():
    m, p = setup("llama3-70b", gpus=64, tp=4, pp=4, global_batch=16)
    total = sum(sum(stage_params(m, p, s)) for s in range(4)) * p.tp
    assert total == pytest.approx(m.params(), rel=1e-3)


def test_first_stage_of_1f1b_holds_pp_microbatches():
    m, p = setup(tp=8, pp=8, micro_batch=1, global_batch=64, recompute="full")
    mem = stage_memory(m, p)
    # stage 0 keeps 8 micro-batches of layer inputs, the last stage 1 (plus the logits)
    sbh = m.seq_len * m.hidden
    layers = m.layers // 8
    assert mem[0].activations >= 8 * layers * 2 * sbh
    assert mem[0].activations > mem[4].activations
