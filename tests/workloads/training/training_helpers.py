"""Helpers for training tests: a small model section (8 layers, hidden 1,024) that the runner
simulates in well under a second, and its MoE variant."""


def small_model(**over) -> dict:
    """A ``[model]`` section of a small dense GPT (``over`` replaces or adds keys)."""
    m = {"name": "small", "layers": 8, "hidden": 1024, "ffn_hidden": 4096, "heads": 16, "kv_heads": 16,
         "vocab": 128, "seq_len": 1024, "gated_mlp": False}
    m.update(over)
    return m


# keys that make ``small_model`` an MoE: 8 experts, top-2, gated
MOE = dict(experts=8, top_k=2, expert_ffn_hidden=1024, gated_mlp=True)
