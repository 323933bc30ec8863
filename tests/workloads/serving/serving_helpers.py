"""Helpers for serving tests: small configs run through the real runner."""

import copy

from sim.config import load_config


BASE = {
    "run": {"kind": "serve", "name": "t"},
    "topology": {"gpu": "H100-SXM-80GB", "gpus": 8, "fabric": "none"},
    "model": {"preset": "llama3-8b"},
    "serve": {"scheduler": "vllm", "max_batch_size": 64, "max_batch_tokens": 4096},
    "workload": {"arrival": "poisson", "rate": 5.0, "requests": 100, "input_tokens": 256, "output_tokens": 32},
}


def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)                 # None removes a base key
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def serve(**sections):
    from sim.app.runner import run
    return run(load_config(data=merge(BASE, sections)))


