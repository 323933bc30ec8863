"""Speculative decoding (workloads/serving/speculative.py): closed forms of the step's parts and
the SGLang EAGLE-3 step times of gpustack's Qwen3-8B-FP8 H100 page, fitted and held out."""

from pathlib import Path

import pytest

import topologies
from sim.app.runner import build_fabric
from sim.config import load_config
from sim.simulation import Simulation
from workloads.serving.deployment import Deployment
from workloads.serving.requests import build_stream
from workloads.serving.speculative import Speculation

EAGLE3 = Path(__file__).resolve().parents[3] / "workloads/serving/data/published/gs_qwen3_8b_h100_eagle3.toml"
SHAREGPT_CONTEXT = 350.0       # mean tokens in context while decoding (233 in + half of 221 out)

# gpustack docs/performance-lab/qwen3-8b/h100-latency.md: (overrides, concurrency, mean ITL ms)
FITTED = [([], 1, 8.74), ([], 8, 13.06), (["serve.speculative.tokens=2"], 4, 9.82),
          (["serve.speculative.tokens=8"], 4, 13.94)]
HELD_OUT = [([], 2, 9.69), ([], 4, 11.05), ([], 4, 10.54), (["serve.speculative.topk=8"], 4, 11.24),
            (["serve.speculative.verify_tokens=32"], 4, 11.90), (["serve.speculative.verify_tokens=8"], 4, 10.71),
            (["serve.speculative.tokens=2", "serve.speculative.topk=1", "serve.speculative.verify_tokens=4"], 4, 8.78)]


def step_ms(overrides, B):
    cfg = load_config(EAGLE3, overrides=overrides)
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    dep = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))
    c = dep.cost
    return 1e3 * sum(c.speculation.step_parts(c, float(B), SHAREGPT_CONTEXT * B).values())


@pytest.mark.parametrize("overrides,B,itl", FITTED)
def test_eagle3_step_time_fitted_points(overrides, B, itl):
    assert step_ms(overrides, B) == pytest.approx(itl, rel=0.05)


@pytest.mark.parametrize("overrides,B,itl", HELD_OUT)
def test_eagle3_step_time_held_out(overrides, B, itl):
    # not used in the fit of engines.toml [sglang] spec_*: concurrency, tree width, verify size
    assert step_ms(overrides, B) == pytest.approx(itl, rel=0.07)


def test_gain_is_one_plus_summed_acceptance():
    assert Speculation.from_config(4, 0.5).gain == pytest.approx(3.0)
    assert Speculation.from_config(3, [0.9, 0.6, 0.3]).gain == pytest.approx(2.8)
    assert Speculation.from_config(4, 0.5).verify == 5           # chain: the drafts + the bonus token
    assert Speculation.from_config(4, 0.5, verify_tokens=16, topk=4).verify == 16


def test_engine_terms_add_linearly():
    # per step, per sequence and per sequence-and-draft-step engine terms add their seconds
    cfg = load_config(EAGLE3)
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    c = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim)).cost
    sp = c.speculation
    bare = Speculation(sp.tokens, sp.gain, sp.verify, sp.draft_layers, sp.topk, sp.draft_vocab)
    B = 4.0
    delta = sum(sp.step_parts(c, B, 1400.0).values()) - sum(bare.step_parts(c, B, 1400.0).values())
    assert delta == pytest.approx(sp.step_s + sp.seq_s * B + sp.draft_seq_s * B * sp.tokens)
    # a reduced draft vocabulary makes the draft head cheaper
    full = Speculation(sp.tokens, sp.gain, sp.verify, sp.draft_layers, sp.topk, 0)
    assert full.step_parts(c, B, 1400.0)["draft"] > bare.step_parts(c, B, 1400.0)["draft"]


def test_mtp_is_refused_on_a_model_without_mtp_modules():
    # method = "mtp" on a dense model with no MTP head (Qwen3-8B here, Llama 3 alike) ran as if it had one
    from sim.errors import ConfigError
    with pytest.raises(ConfigError) as err:
        step_ms(["serve.speculative.method=mtp"], 4)
    assert err.value.key == "serve.speculative.method" and "model.mtp_layers" in str(err.value)
    # with the checkpoint's MTP modules declared it runs, costed by draft_layers like any head (a label)
    assert step_ms(["serve.speculative.method=mtp", "model.mtp_layers=1"], 4) == pytest.approx(step_ms([], 4))
    # the deepseek-v3 preset declares DeepSeek-V3 / R1's one MTP module (num_nextn_predict_layers)
    assert load_config(data={"model": {"preset": "deepseek-v3"}}).model.mtp_layers == 1


def _deployment(overrides=()):
    cfg = load_config(EAGLE3, overrides=list(overrides))
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    return Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))


def test_drafter_weights_come_out_of_the_kv_pool():
    """The EAGLE-3 head's weights (one Qwen3-8B layer at the serving fp8, its 3h x h fc and its own
    32,000 x h LM head at the 16-bit head precision) are held beside the model's: the KV pool is the
    pool without speculation less their bytes (they were left out: the pool as if the head took no HBM)."""
    dep = _deployment()
    c, e, s = dep.cost, dep.engine, dep.serve
    h, ffn, q, kv = 4096, 12288, 32 * 128, 8 * 128
    layer = h * (q + 2 * kv) + q * h + 3 * h * ffn                  # 192,937,984 parameters at 1 byte (fp8)
    drafter = layer * 1.0 + 3 * h * h * 2.0 + 32000 * h * 2.0
    assert c.speculation.weight_bytes(c) == pytest.approx(drafter, rel=1e-12)
    args = (s.gpu_memory_utilization, s.max_batch_tokens, s.max_batch_size)
    with_head = e.kv_pool_bytes(c, *args)
    tokens = e.kv_capacity_tokens(c, *args)
    c.spec_tokens = 0                                              # the same replica without the drafter
    without = e.kv_pool_bytes(c, *args)
    assert with_head == pytest.approx(without - drafter, rel=1e-12)
    assert tokens == int((without - drafter) // c.kv_token_gpu)
    # a memory budget that leaves the pool 0.3 GB without the head fits no KV with it: refused naming the key
    u0 = s.gpu_memory_utilization                                  # the pool is linear in the fraction
    slope = (without - e.kv_pool_bytes(c, u0 - 0.01, s.max_batch_tokens, s.max_batch_size)) / 0.01
    u = u0 - (without - 0.3e9) / slope
    assert e.kv_capacity_tokens(c, u, s.max_batch_tokens, s.max_batch_size) > 0
    c.spec_tokens = c.speculation.tokens
    from sim.errors import InfeasibleError
    with pytest.raises(InfeasibleError) as err:
        e.kv_capacity_tokens(c, u, s.max_batch_tokens, s.max_batch_size)
    assert err.value.key == "serve.speculative" and "drafter" in str(err.value)


def test_mtp_modules_are_held_as_layers_and_their_projection():
    # method = 'mtp': model.mtp_layers modules of one decoder layer, the 2h x h eh_proj and three norms each;
    # the embedding and head are the target's (no head bytes)
    c = _deployment(["serve.speculative.method=mtp", "model.mtp_layers=2"]).cost
    sp, h = c.speculation, 4096
    assert sp.weight_bytes(c) == pytest.approx(2 * (sp.layer_bytes(c) + 2 * h * h * 1.0 + 3 * h * 2.0), rel=1e-12)
    # a separate draft model holds its own embedding and head (untied Qwen3-8B: 2 x 32,000 x h at 2 bytes)
    d = _deployment(["serve.speculative.method=draft", "serve.speculative.draft_layers=4"]).cost
    assert d.speculation.weight_bytes(d) == pytest.approx(4 * sp.layer_bytes(c) + 2 * 32000 * h * 2.0, rel=1e-12)


def test_speculative_step_pads_to_the_cuda_graph_batch():
    """A draft-and-verify step of B sequences replays the smallest captured CUDA graph of >= B
    (serve.cuda_graph_batch_sizes), as a plain decode step does: with attention and per-sequence
    host terms aside, a batch of 5 costs what a batch of 8 costs; without graphs it does not."""
    c = _deployment(["serve.cuda_graph_batch_sizes=[1,2,4,8,16]"]).cost
    assert c.padded(5.0, 5.0) == 8.0
    c._attn_s = lambda *a, **k: 0.0
    sp = Speculation.from_config(4, 0.5, 16, 1.0, topk=4, draft_vocab=32000)   # no per-sequence engine terms
    c.host_per_seq_s = 0.0
    p5, p8 = sp.step_parts(c, 5.0, 0.0), sp.step_parts(c, 8.0, 0.0)
    for part in ("verify", "draft", "extend", "host"):
        assert p5[part] == pytest.approx(p8[part], rel=1e-9), part
    c.set_graph_batch_sizes([])
    assert sp.step_parts(c, 5.0, 0.0)["verify"] < p8["verify"]
