"""Published training runs as configs: the validation cases shipped in ``data/``.

Vocabulary:
- case: one measured run (a CSV row) turned into a dcsim config dict plus the measured value and
  the metric it is compared on.
- ``narayanan_cases()``: Narayanan et al. 2021 Table 1 on Selene (DGX A100 80GB, 8 x 200 Gb/s
  HDR per node). Megatron-LM of 2021: unfused attention (scores in HBM), full recompute, fp16,
  gradient all-reduce after the last backward (no overlap), and the
  scatter-gather pipeline sends. Compared on ``hardware_tflops_per_gpu``.
- ``vtrain_cases()``: vTrain single-node rows (A100 node of 8 with NVSwitch, GPT shapes with 16
  heads, seq 1024, vocab 50,257, full recompute, 1F1B, fp16, Megatron-DeepSpeed without
  gradient-reduction overlap). Compared on ``step_time_s``.
"""

from __future__ import annotations

import csv
from importlib import resources


def _rows(name: str) -> list[dict]:
    text = resources.files("workloads.training").joinpath(f"data/{name}").read_text()
    return list(csv.DictReader(text.splitlines()))


def _virtual_stages(note: str, layers: int, pp: int) -> int:
    if "virtual-pipeline-stage" not in note:
        return 1
    per = int(note.rsplit(" ", 1)[-1])
    return layers // (pp * per)


def narayanan_cases() -> list[dict]:
    out = []
    for r in _rows("narayanan2021_table1.csv"):
        layers, pp = int(r["num_layers"]), int(r["pp"])
        v = _virtual_stages(r["pipeline_schedule_or_interleave"], layers, pp)
        gpus = int(r["gpu_count"])
        cfg = {
            "run": {"kind": "train", "name": r["id"]},
            # Selene: DGX A100 80GB, NVSwitch node of 8, 8 x 200 Gb/s HDR per node, three-level
            # non-blocking fat tree of 40-port HDR Quantum switches
            "topology": {"gpu": "A100-SXM-80GB", "gpus": gpus, "gpus_per_node": 8, "scaleup_domain": 8,
                         "nics_per_node": 8, "nic_Gbps": 200, "fabric": "fat-tree", "tiers": 3,
                         "switch_radix": 40, "oversubscription": 1.0},
            "model": {"name": r["model"], "layers": layers, "hidden": int(r["hidden_size"]),
                      "ffn_hidden": int(r["ffn_hidden_size"]), "heads": int(r["num_attention_heads"]),
                      "kv_heads": int(r["num_kv_heads"]), "vocab": int(r["vocab_size"]),
                      "seq_len": int(r["seq_len_tokens"]), "gated_mlp": False, "tied_embeddings": True},
            "train": {"tp": int(r["tp"]), "pp": pp, "dp": int(r["dp"]), "micro_batch": int(r["micro_batch_size_sequences"]),
                      "global_batch": int(r["global_batch_size_sequences"]),
                      "schedule": "interleaved" if v > 1 else "1f1b", "virtual_stages": v,
                      "recompute": "full", "precision": "fp16", "attention": "unfused",
                      "overlap_grad_reduce": False, "zero": 0},
        }
        out.append({"case": r["id"], "metric": "hardware_tflops_per_gpu", "config": cfg,
                    "measured": float(r["throughput_tflops_per_gpu"]),
                    "source": f'{r["source"]}, {r["source_location"]}'})
    return out


VTRAIN_SOURCE = ("vTrain (Bang et al., MICRO'24), github VIA-Research/vTrain data/ground_truth_single.csv "
                 "(MIT licence): measured Megatron-DeepSpeed iteration time on one A100 node")


def vtrain_cases() -> list[dict]:
    out = []
    for i, r in enumerate(_rows("vtrain_single_node.csv")):
        h, heads = int(r["hidden size"]), int(r["attention heads"])
        tp, dp, pp = int(r["tensor parallelism"]), int(r["data parallelism"]), int(r["pipeline parallelism"])
        cfg = {
            "run": {"kind": "train", "name": f"vtrain_{i}"},
            "topology": {"gpu": "A100-SXM-80GB", "gpus": 8, "gpus_per_node": 8, "scaleup_domain": 8,
                         "fabric": "none", "nics_per_node": 8, "nic_Gbps": 200},
            "model": {"name": f"gpt-h{h}-l{r['# layers']}", "layers": int(r["# layers"]), "hidden": h,
                      "ffn_hidden": 4 * h, "heads": heads, "kv_heads": heads, "vocab": 50257,
                      "seq_len": int(r["sequence length"]), "gated_mlp": False, "tied_embeddings": True},
            "train": {"tp": tp, "pp": pp, "dp": dp, "micro_batch": int(r["micro batch"]),
                      "global_batch": int(r["global batch"]), "schedule": "1f1b", "recompute": "full",
                      "precision": "fp16", "attention": "unfused", "overlap_grad_reduce": False, "zero": 0},
        }
        out.append({"case": f"vtrain_{i}", "metric": "step_time_s", "config": cfg,
                    "measured": float(r["iteration time (ms)"]) / 1e3, "source": VTRAIN_SOURCE})
    return out
