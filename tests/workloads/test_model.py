"""Model specs: parameter counts of published models and the standard FLOP count."""

import pytest

from sim.config import load_config
from sim.errors import ConfigError
from workloads.model import ModelSpec, Shard, total_flops


def spec(preset, **over):
    return ModelSpec.from_section(load_config(data={"model": {"preset": preset, **over}}).model)


@pytest.mark.parametrize("preset,total_b,active_b", [
    ("llama3-8b", 8.03, 8.03), ("llama3-70b", 70.55, 70.55), ("llama3-405b", 405.8, 405.8),
    ("mixtral-8x7b", 46.7, 12.9), ("deepseek-v3", 671.0, 37.5), ("gpt3-175b", 174.6, 174.6),
    ("gpt-1t", 1008.0, 1008.0), ("gpt-529.6b", 529.6, 529.6), ("gpt-1.7b", 1.7, 1.7),
])
def test_parameter_counts_match_published(preset, total_b, active_b):
    m = spec(preset)
    assert m.params() / 1e9 == pytest.approx(total_b, rel=0.04)
    assert m.active_params() / 1e9 == pytest.approx(active_b, rel=0.04)


@pytest.mark.parametrize("preset", ["gpt-1.7b", "gpt-76.1b", "gpt-1t", "gpt3-175b"])
def test_gpt_flops_match_narayanan_eq3(preset):
    """Sum of op FLOPs over layers and logits = Narayanan 2021 eq. 3 (model FLOPs: 72 instead of
    96, i.e. without the recompute forward)."""
    m = spec(preset)
    B, s, l, h, V = 2, m.seq_len, m.layers, m.hidden, m.vocab
    fwd = sum(total_flops(m.layer_ops(i, B, attention="unfused")) for i in range(l))
    fwd += total_flops(m.logits_ops(B))
    model = 3 * fwd
    eq3_model = 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h))
    assert model == pytest.approx(eq3_model, rel=1e-9)
    assert m.model_flops_per_token() * B * s == pytest.approx(eq3_model, rel=1e-9)
    # with full recompute the layers run forward twice: eq. 3 exactly (96 and V/16lh)
    eq3_hw = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    assert model + (fwd - total_flops(m.logits_ops(B))) == pytest.approx(eq3_hw, rel=1e-9)


@pytest.mark.parametrize("preset", ["llama3-70b", "mixtral-8x7b", "deepseek-v3"])
def test_flops_are_6n_plus_attention(preset):
    """PaLM appendix B: 6 N_active + 12 L (heads x head_dim) T per token (here with MLA widths)."""
    m = spec(preset)
    s = m.seq_len
    n_matmul = m.active_params() - m.vocab * m.hidden * (0 if m.tied_embeddings else 1)
    attn = 6 * m.layers * s * (m.q_dim + m.attn_out_dim)
    assert m.model_flops_per_token() == pytest.approx(6 * n_matmul + attn, rel=1e-9)
    ops = sum(total_flops(m.layer_ops(i, 1, attention="unfused")) for i in range(m.layers))
    ops += total_flops(m.logits_ops(1))
    assert 3 * ops == pytest.approx(m.model_flops_per_token() * s, rel=1e-9)


def test_tensor_parallel_splits_flops():
    m = spec("llama3-70b")
    one = total_flops(m.layer_ops(0, 1, Shard(tp=1)))
    eight = total_flops(m.layer_ops(0, 1, Shard(tp=8)))
    assert eight == pytest.approx(one / 8, rel=1e-9)
    cp2 = total_flops(m.layer_ops(0, 1, Shard(cp=2)))
    assert cp2 == pytest.approx(one / 2, rel=1e-9)


def test_flash_attention_runs_half_of_causal_scores():
    m = spec("llama3-8b")
    flash = [op for op in m.layer_ops(0, 1, attention="flash") if op.kind == "attention"]
    unfused = [op for op in m.layer_ops(0, 1, attention="unfused") if op.kind == "attention"]
    assert total_flops(flash) == pytest.approx(total_flops(unfused) / 2)
    assert sum(op.bytes for op in flash) < sum(op.bytes for op in unfused) / 10


def test_moe_layers_follow_dense_layers():
    m = spec("deepseek-v3")
    assert not m.is_moe_layer(2) and m.is_moe_layer(3)
    names = {op.name for op in m.layer_ops(5, 1, Shard(ep=8))}
    assert {"router", "expert_up", "shared_up"} <= names


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError):
        spec("llama3-8b", kv_heads=5)
    with pytest.raises(ConfigError):
        spec("llama3-8b", hidden=4000, heads=33)


def test_sliding_window_pattern_pairs_kv_and_flops_closed_form():
    # Gemma-3-style pattern: 5 windowed layers then 1 global; window 1024 + 4 sinks (K = 1028)
    full = spec("llama3-8b")
    sw = spec("llama3-8b", sliding_window=1024, global_every=6, attention_sinks=4)
    assert [sw.is_windowed(i) for i in range(6)] == [True] * 5 + [False]
    K, s = 1028, 8192
    assert sw.causal_pairs(0, s) == K * s - K * K / 2 and sw.causal_pairs(5, s) == s * s / 2
    assert sw.causal_pairs(0, 1000) == 1000 * 1000 / 2          # shorter than the window: causal
    # KV bytes per token of an 8,192-token sequence: global layers every token, windowed K of them
    n_global = sum(not sw.is_windowed(i) for i in range(sw.layers))
    per_layer = full.kv_cache_bytes_per_token() / full.layers
    expect = per_layer * (n_global + (sw.layers - n_global) * K / s)
    assert sw.kv_cache_bytes_per_token(2.0, context=s) == pytest.approx(expect, rel=1e-12)
    assert sw.kv_cache_bytes_per_token() == full.kv_cache_bytes_per_token()   # no context: every token
    # flash attention op of a windowed layer scales with the pairs; a global layer is unchanged
    att = lambda m, i: next(o for o in m.layer_ops(i, 1, seq=s) if o.name == "attention")  # noqa: E731
    assert att(sw, 0).flops == pytest.approx(att(full, 0).flops * (K * s - K * K / 2) / (s * s / 2), rel=1e-12)
    assert att(sw, 5).flops == att(full, 5).flops
    # model FLOPs: attention term per layer over its attended keys
    a_full = full.attention_flops_per_token(s)
    assert sw.attention_flops_per_token(s) == pytest.approx(a_full * (n_global + (sw.layers - n_global) * K / s) / sw.layers)
    assert sw.model_flops_per_token(s) < full.model_flops_per_token(s)


def test_all_layers_windowed_without_global_every():
    m = spec("llama3-8b", sliding_window=4096)          # Mistral 7B v0.1: every layer windowed
    assert all(m.is_windowed(i) for i in range(m.layers))
    with pytest.raises(Exception, match="sliding_window"):
        spec("llama3-8b", sliding_window=0)


@pytest.mark.parametrize("preset,layers,experts,total_b,active_b", [
    ("gpt-oss-120b", 36, 128, 116.83, 5.13), ("gpt-oss-20b", 24, 32, 20.91, 3.61),
])
def test_gpt_oss_counts_and_attention_pattern(preset, layers, experts, total_b, active_b):
    """GPT-OSS (model card arXiv:2508.10925 Table 1): totals and active parameters within 2 %. The
    card's active count takes the unembedding but not the embedding lookup (5.13B = 36 x (4 experts +
    attention + router) + lm_head); dcsim's ``active_params`` counts both tables, so the lookup is
    subtracted. Sliding window 128 on the even (0-based) layers, full attention on the odd ones; the
    learned per-head sink logits keep no KV tokens."""
    m = spec(preset)
    shape = (m.layers, m.experts, m.top_k, m.hidden, m.heads, m.kv_heads, m.head_dim)
    assert shape == (layers, experts, 4, 2880, 64, 8, 64)
    assert m.params() / 1e9 == pytest.approx(total_b, rel=0.02)
    assert (m.active_params() - m.vocab * m.hidden) / 1e9 == pytest.approx(active_b, rel=0.02)
    assert [m.is_windowed(i) for i in range(4)] == [True, False, True, False] and m.attention_sinks == 0
    # KV per token of a 32k context: half the layers keep every token, half their last 128
    full = 2 * 8 * 64 * 2.0 * layers
    assert m.kv_cache_bytes_per_token(2.0, context=32768) == pytest.approx(full / 2 * (1 + 128 / 32768))


@pytest.mark.parametrize("preset,total_b,active_b", [("llama4-scout", 109.0, 17.0), ("llama4-maverick", 400.0, 17.0)])
def test_llama4_parameter_counts_match_meta_within_2_percent(preset, total_b, active_b):
    # Meta's model cards: Scout 17B active / 109B total, Maverick 17B active / 400B total
    m = spec(preset)
    assert m.params() / 1e9 == pytest.approx(total_b, rel=0.02)
    assert m.active_params() / 1e9 == pytest.approx(active_b, rel=0.02)


def test_interleaved_moe_layers_are_hugging_face_moe_layers():
    # Hugging Face Llama4TextConfig: moe_layers = range(step - 1, L, step) (0-based)
    mav = spec("llama4-maverick")
    assert mav.moe_layer_indices == list(range(1, 48, 2))
    assert spec("llama4-scout").moe_layer_indices == list(range(48))
    assert spec("llama4-maverick", moe_every=3).moe_layer_indices == list(range(2, 48, 3))
    # with leading dense layers: the interleave counts from layer 1 and dense_layers stay dense
    assert spec("llama4-maverick", dense_layers=4).moe_layer_indices == list(range(5, 48, 2))
    # a dense layer is the ffn_hidden MLP, an MoE layer routed + shared experts of expert_ffn_hidden
    h = 5120
    assert mav.layer_params(0) == mav.attention_params() + 3 * h * 16384
    assert mav.layer_params(1) == mav.attention_params() + 129 * 3 * h * 8192 + h * 128
    assert mav.layer_active_params(1) == mav.attention_params() + 2 * 3 * h * 8192 + h * 128
    assert {o.name for o in mav.layer_ops(0, 1)} >= {"mlp_up"} and "router" not in {o.name for o in mav.layer_ops(0, 1)}
    assert {"router", "expert_up", "shared_up"} <= {o.name for o in mav.layer_ops(1, 1, Shard(ep=8))}
    # moe_every = 0 is every layer after dense_layers (as before)
    assert spec("deepseek-v3").moe_layer_indices == list(range(3, 61))


def test_chunked_attention_pairs_keys_and_flops_closed_form():
    C = 8192
    m = spec("llama4-maverick")
    full = spec("llama4-maverick", attention_chunk=None, global_every=0)
    # layers 4, 8, ... (1-based) global (NoPE), the others chunked
    assert [m.is_chunked(i) for i in range(8)] == [True, True, True, False] * 2
    assert not any(full.is_local(i) for i in range(full.layers))
    # pairs: n C^2/2 + r^2/2 on a chunked layer (block-diagonal causal), s^2/2 on a global one
    s = 2 * C + 1000
    assert m.causal_pairs(0, s) == 2 * C * C / 2 + 1000 * 1000 / 2
    assert m.causal_pairs(3, s) == s * s / 2
    assert m.causal_pairs(0, 5000) == 5000 * 5000 / 2            # within one chunk: causal
    # keys of a query at position p (1-based): its chunk up to itself, at most C
    assert m.attended_keys(0, C) == C and m.attended_keys(0, C + 1) == 1 and m.attended_keys(0, 2 * C + 7) == 7
    assert m.attended_keys(3, 2 * C + 7) == 2 * C + 7
    # KV: the least an engine keeps is the current chunk on chunked layers
    per_layer = full.kv_cache_bytes_per_token() / full.layers
    ctx = 2 * C + 7
    assert m.kv_cache_bytes_per_token(2.0, context=ctx) == pytest.approx(per_layer * (12 + 36 * 7 / ctx), rel=1e-12)
    # flash op of a chunked layer scales with its pairs; training FLOPs per token over (n C^2 + r^2)/s keys
    att = lambda mm, i: next(o for o in mm.layer_ops(i, 1, seq=s) if o.name == "attention")  # noqa: E731
    assert att(m, 0).flops == pytest.approx(att(full, 0).flops * m.causal_pairs(0, s) / (s * s / 2), rel=1e-12)
    assert att(m, 3).flops == att(full, 3).flops
    keys = (2 * C * C + 1000 ** 2) / s
    assert m.attention_flops_per_token(s) == pytest.approx(full.attention_flops_per_token(s) * (12 + 36 * keys / s) / 48)
    # at or below one chunk nothing changes
    assert m.attention_flops_per_token(C) == pytest.approx(full.attention_flops_per_token(C))


def test_chunked_attention_rejects_a_sliding_window():
    with pytest.raises(ConfigError, match="model.attention_chunk"):
        spec("llama4-scout", sliding_window=4096)


@pytest.mark.parametrize("preset, positions", [
    ("llama3-8b", 131_072), ("llama3-70b", 131_072), ("llama3-405b", 131_072), ("mixtral-8x7b", 32_768),
    ("deepseek-v3", 163_840), ("qwen3-235b-a22b", 40_960), ("qwen3-30b-a3b", 40_960), ("gpt-oss-120b", 131_072),
    ("gpt-oss-20b", 131_072), ("gpt3-175b", 2_048), ("llama4-scout", 10_485_760), ("llama4-maverick", 1_048_576),
    ("gpt-1.7b", 0), ("gpt-1t", 0)])
def test_presets_declare_their_published_max_context(preset, positions):
    """model.max_context (max_position_embeddings of the model's config.json; GPT-3's n_ctx) on every preset
    that has a published figure; Narayanan et al.'s GPT models publish none and leave it unset (0)."""
    assert spec(preset).max_context == positions
