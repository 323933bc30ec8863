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
- ``amd_training_cases()``: AMD's MI300X and MI325X FSDP runs of the rocm/pytorch-training v25.2
  image (``data/amd_instinct_training.csv``), compared on tokens/s per GPU; the rows marked ``fit``
  calibrate MI300X (workloads/training/calibration.fit_amd), the rest are held out.
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


# -- Published runs beyond the calibration set (issue 11), copied from ../shared/cases/training/
# with their citation; each is a dcsim config dict, the metric, the measured value and the source.

V100S_SOURCE = ("aliyun/SimAI#166 (https://github.com/aliyun/SimAI/issues/166): Megatron-LM GPT 126M on one "
                "NVIDIA V100S, --num-layers 12 --hidden-size 768 --num-attention-heads 8 --seq-length 2048 "
                "--micro-batch-size 8 --fp16 --recompute-activations, iteration time 680-740 ms")
MI300X_SOURCE = ("ROCm/TransformerEngine#79 (https://github.com/ROCm/TransformerEngine/issues/79): 8xMI300X FSDP "
                 "torch.compile BF16 Llama 3 8B, batch size 4: 410.42 TFLOP/s/GPU with flops_per_token = "
                 "6N + 12 L H hd T (T = 4096 assumed) -> 7,514 tokens/s/GPU")
MIXTRAL_SOURCE = ("NVIDIA/Megatron-LM#756 (https://github.com/NVIDIA/Megatron-LM/issues/756): Mixtral 8x7B on "
                  "16 H100, EP 8 TP 2 DP 8, alltoall dispatcher, grouped GEMM, global batch 128: "
                  "5,523.5 / 5,540.0 ms per iteration (236 TFLOP/s/GPU); seq 2048 inferred from the FLOP count")

TORCHTITAN_SOURCE = ("pytorch/torchtitan benchmarks/llama3_h100_202412_torchtitan.md (Dec 2024), Table 1: Llama 3.1 8B, "
                     "8 H100 (Grand Teton: 96 GB HBM2e, 2.4 TB/s, 500 W power limit), FSDP, local batch 2, global "
                     "batch 16, selective activation checkpointing: FSDP + torch.compile 6,667 tokens/s/GPU "
                     "(eager 5,762)")


def issue11_cases() -> list[dict]:
    """The training cases of ../shared/cases/training/ that are runs (not collectives).

    ``metric`` is a summary column or ``tokens_per_s / gpus``; assumptions where the sources are
    silent are the case files' (micro-batch 1 and zero=1 for Mixtral, seq 4096 and 8 micro-batches
    for the MI300X run)."""
    v100s = {
        "run": {"kind": "train", "name": "simai166_gpt126m_v100s_x1"},
        "topology": {"gpu": "V100S-PCIE-32GB", "gpus": 1, "gpus_per_node": 1, "nics_per_node": 0,
                     "fabric": "none"},
        "model": {"name": "gpt-126m", "layers": 12, "hidden": 768, "ffn_hidden": 3072, "heads": 8,
                  "vocab": 50257, "seq_len": 2048, "gated_mlp": False},
        # --recompute-activations = selective; Megatron of 2023 without --use-flash-attn: unfused
        "train": {"tp": 1, "pp": 1, "micro_batch": 8, "global_batch": 8, "recompute": "selective",
                  "attention": "unfused", "precision": "fp16"},
    }
    mi300x = {
        "run": {"kind": "train", "name": "rocmte79_llama3_8b_mi300x8_fsdp"},
        "topology": {"preset": "mi300x-node"},
        "model": {"preset": "llama3-8b", "seq_len": 4096},
        "train": {"tp": 1, "pp": 1, "zero": 3, "micro_batch": 4, "global_batch": 256, "recompute": "none",
                  "precision": "bf16"},
    }
    mixtral = {
        "run": {"kind": "train", "name": "megatron756_mixtral8x7b_h100x16_ep8tp2"},
        "topology": {"preset": "dgx-h100-superpod", "gpus": 16},
        "model": {"preset": "mixtral-8x7b", "seq_len": 2048},
        "train": {"tp": 2, "pp": 1, "ep": 8, "sequence_parallel": True, "zero": 1, "micro_batch": 1,
                  "global_batch": 128, "recompute": "none", "precision": "bf16"},
    }
    # torchtitan on Grand Teton: H100 with 96 GB HBM2e at 2.4 TB/s, capped at 500 W (a GPU the
    # config defines, like the catalogue's H100, whose clock the power cap lowers)
    titan = {
        "run": {"kind": "train", "name": "torchtitan_llama31_8b_h100x8_fsdp_compile"},
        "hardware": {"H100-GT-96GB-500W": {"like": "H100-SXM-80GB", "hbm_GB": 96, "hbm_GBps": 2400,
                                           "power_W": 500}},
        "topology": {"preset": "dgx-h100-superpod", "gpus": 8, "gpu": "H100-GT-96GB-500W"},
        "model": {"preset": "llama3-8b", "seq_len": 8192},
        # torchtitan's op-level selective checkpointing recomputes more than Megatron's
        # 'selective' (attention core) and less than 'full'; memory is checked by the run (82 GiB)
        # attention through PyTorch SDPA, whose H100 backend in the torch 2.6 nightlies of Dec 2024
        # was FlashAttention-2 (cuDNN's had been moved behind it in 2.5.1)
        "train": {"tp": 1, "pp": 1, "zero": 3, "micro_batch": 2, "global_batch": 16, "recompute": "selective",
                  "precision": "bf16", "check_memory": False, "attention_kernel": "fa2"},
    }
    return [
        {"case": "torchtitan_llama31_8b_h100x8_fsdp_compile", "metric": "tokens_per_s / gpus", "config": titan,
         "measured": 6667.0, "source": TORCHTITAN_SOURCE},
        {"case": "simai166_gpt126m_v100s_x1", "metric": "step_time_s", "config": v100s, "measured": 0.71,
         "source": V100S_SOURCE},
        {"case": "rocmte79_llama3_8b_mi300x8_fsdp", "metric": "tokens_per_s / gpus", "config": mi300x,
         "measured": 7514.0, "source": MI300X_SOURCE},
        {"case": "megatron756_mixtral8x7b_h100x16_ep8tp2", "metric": "step_time_s", "config": mixtral,
         "measured": 5.532, "source": MIXTRAL_SOURCE},
    ]


MI300X_PROXY_SOURCE = ("ROCm/TransformerEngine#78 (https://github.com/ROCm/TransformerEngine/issues/78), the same "
                       "reproducer family as #79: Llama 3 70B 4-layer proxy, FSDP on 8 MI300X, FP8 at batch size 2 "
                       "gives 491.22 TFLOP/s/GPU, '6% slower than bf16 at batch size 12' -> bf16 ~522.6 TFLOP/s/GPU "
                       "with flops_per_token = 6N + 12 L H hd T (N = 5.52e9 with embeddings, T = 4096 assumed as in "
                       "#79) = 3.475e10 -> 15,022 tokens/s/GPU")


def mi300x_calibration_cases() -> list[dict]:
    """The Llama 3 70B 4-layer proxy on 8 MI300X (ROCm 6.2, Oct 2024), held out: MI300X is now
    fitted to AMD's ROCm 6.3 runs (``amd_training_cases``); this run and #79 (``issue11_cases``)
    measure the older software stack (tests/app/validation/test_training.py).

    Assumptions where the source is silent (as for #79): sequence 4096, no activation
    checkpointing, 8 gradient-accumulation micro-batches per step."""
    proxy = {
        "run": {"kind": "train", "name": "rocmte78_llama3_70b_4layer_mi300x8_fsdp"},
        "topology": {"preset": "mi300x-node"},
        "model": {"preset": "llama3-70b", "layers": 4, "seq_len": 4096},
        "train": {"tp": 1, "pp": 1, "zero": 3, "micro_batch": 12, "global_batch": 768, "recompute": "none",
                  "precision": "bf16"},
    }
    return [{"case": "rocmte78_llama3_70b_4layer_mi300x8_fsdp", "metric": "tokens_per_s / gpus", "config": proxy,
             "measured": 15022.0, "source": MI300X_PROXY_SOURCE}]


# -- llm-foundry's MPT training benchmarks (issue 11, item 1): end-to-end FSDP steps on H100 and A100

LLMFOUNDRY_SOURCE = ("mosaicml/llm-foundry scripts/train/benchmarking/README.md (tables 'H100 80GB BF16' and "
                     "'A100 80GB with 1600 Gbps node-node interconnect (RoCE)'; "
                     "https://github.com/mosaicml/llm-foundry/blob/main/scripts/train/benchmarking/README.md): "
                     "Composer + PyTorch FSDP FULL_SHARD, amp_bf16, MPT models (scripts/train/yamls/pretrain/"
                     "mpt-*.yaml), throughput per GPU")
# MPT shapes (d_model, n_heads, n_layers) of scripts/train/yamls/pretrain/mpt-<size>.yaml: expansion
# ratio 4 (GELU), vocab 50368, tied embeddings, no biases, learned position embeddings (the tables'
# NumParams = 12 L d^2 + 50368 d + seq d within 0.1%), d_head 128 except 125m/350m (64)
MPT_SHAPES = {"125m": (768, 12, 12), "350m": (1024, 16, 24), "760m": (1536, 12, 24), "1b": (2048, 16, 24),
              "3b": (2560, 20, 32), "7b": (4096, 32, 32), "13b": (5120, 40, 40), "30b": (7168, 56, 48)}


def _mpt_config(r: dict, name: str, shape: tuple[int, int, int]) -> dict:
    """The dcsim config of one llm-foundry benchmark row (``r``: a CSV row with gpu, gpus, seq,
    model, micro_batch, global_batch, activation_checkpointing; ``shape``: hidden, heads, layers):
    Composer + FSDP FULL_SHARD (zero 3), bf16, MPT's flash attention; H100 rows on a DGX H100
    SuperPOD, A100 rows on 8 x 200 Gb/s per node (the tables' 1600 Gbps RoCE)."""
    h, heads, layers = shape
    seq, gpus = int(r["seq"]), int(r["gpus"])
    if r["gpu"] == "h100_80gb":
        topo = {"preset": "dgx-h100-superpod", "gpus": gpus}
    else:
        topo = {"gpu": "A100-SXM-40GB" if r["gpu"] == "a100_40gb" else "A100-SXM-80GB", "gpus": gpus,
                "gpus_per_node": 8, "scaleup_domain": 8, "nics_per_node": 8, "nic_Gbps": 200,
                "fabric": "fat-tree" if gpus > 8 else "none"}
    return {
        "run": {"kind": "train", "name": name},
        "topology": topo,
        "model": {"name": f'mpt-{r["model"]}', "layers": layers, "hidden": h, "ffn_hidden": 4 * h,
                  "heads": heads, "vocab": 50368, "seq_len": seq, "gated_mlp": False, "tied_embeddings": True},
        "train": {"tp": 1, "pp": 1, "zero": 3, "micro_batch": int(r["micro_batch"]),
                  "global_batch": int(r["global_batch"]),
                  "recompute": "full" if r["activation_checkpointing"] == "True" else "none",
                  "precision": "bf16", "attention": "flash", "attention_kernel": mpt_attention_kernel(r["gpu"]),
                  "check_memory": False},
    }


def llmfoundry_cases(gpu: str | None = None, use: str | None = None) -> list[dict]:
    """The 8- and 16-GPU bf16 rows of llm-foundry's MPT benchmark tables as cases compared on
    tokens/s per GPU (``data/llmfoundry_benchmarks.csv``, copied from the README with MFU
    re-derived from the throughput to check the copy). ``use`` is the row's role in the H100
    calibration: ``fit`` (the end-to-end rows H100's host and framework constants are fitted to,
    workloads/training/calibration.fit_h100) or ``holdout`` (never fitted; every A100 row is held
    out: A100's constants come from Megatron runs). ``gpu``: "h100_80gb" or "a100_80gb" (None: both).
    Activation checkpointing True = full recompute (Composer checkpoints every MPT block).
    Attention: MPT's Triton/FlashAttention-2 kernels (``attention_kernel = "fa2"``)."""
    out = []
    for r in _rows("llmfoundry_benchmarks.csv"):
        if (gpu and r["gpu"] != gpu) or (use and r["use"] != use):
            continue
        h, heads, layers = MPT_SHAPES[r["model"]]
        seq, gpus = int(r["seq"]), int(r["gpus"])
        name = f'llmfoundry_mpt{r["model"]}_s{seq}_{r["gpu"].split("_")[0]}x{gpus}_mb{r["micro_batch"]}'
        cfg = _mpt_config(r, name, (h, heads, layers))
        out.append({"case": name, "metric": "tokens_per_s / gpus", "config": cfg,
                    "measured": float(r["tokens_per_s_per_gpu"]), "source": LLMFOUNDRY_SOURCE, "use": r["use"],
                    "gpu": r["gpu"]})
    return out


# -- V100 (issue 11, items 1 and 6): Megatron-LM's own single-V100 baseline -------------------

MEGATRON_V100_SOURCE = ("NVIDIA ADLR, 'MegatronLM's Supercharged V1.0' (https://nv-adlr.github.io/MegatronLMV1), "
                        "Table 1: the 1.2B-parameter baseline on 1 GPU of a DGX-2H (V100 SXM3 32 GB, 450 W, 130 "
                        "TFLOP/s fp16 peak): iteration time 1,288 ms at batch size 8 (62.4 TFLOP/s, 48% of peak); "
                        "model per Shoeybi et al. 2019 (arXiv:1909.08053) Table 1: hidden 1536, 16 heads, 40 layers, "
                        "seq 1024, vocab 51,200 (GPT-2's padded), fp16, activation checkpointing")


def v100_calibration_cases() -> list[dict]:
    """The end-to-end V100 step V100's GEMM efficiency is fitted to (``[V100]`` in compute.toml);
    SimAI#166's V100S run (``issue11_cases``) is held out. Megatron-LM v1.0 (2020): fused
    softmax/GELU/dropout-add kernels, unfused attention GEMMs, full activation checkpointing."""
    cfg = {
        "run": {"kind": "train", "name": "megatronv1_gpt1p2b_v100x1"},
        # the DGX-2H's V100: the SXM2 part's die at 450 W and 130 TFLOP/s (not in the catalogue)
        "hardware": {"V100-SXM3-32GB-450W": {"like": "V100-SXM2-32GB", "power_W": 450,
                                             "dense_tflops": {"fp16": 130, "bf16": 0, "fp32": 16.4}}},
        "topology": {"gpu": "V100-SXM3-32GB-450W", "gpus": 1, "gpus_per_node": 1, "nics_per_node": 0,
                     "fabric": "none"},
        "model": {"name": "gpt2-1.2b", "layers": 40, "hidden": 1536, "ffn_hidden": 6144, "heads": 16,
                  "vocab": 51200, "seq_len": 1024, "gated_mlp": False},
        "train": {"tp": 1, "pp": 1, "micro_batch": 8, "global_batch": 8, "recompute": "full",
                  "attention": "unfused", "precision": "fp16"},
    }
    return [{"case": "megatronv1_gpt1p2b_v100x1", "metric": "step_time_s", "config": cfg, "measured": 1.288,
             "source": MEGATRON_V100_SOURCE}]


# -- Published MoE runs on H100 (issue 11 item 3), held out: nothing is fitted to them --------

NEMO_MOE_SOURCE = ("NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md "
                   "(https://github.com/NVIDIA-NeMo/Megatron-Bridge/blob/main/docs/performance-summary-archive.md, "
                   "also docs.nvidia.com/nemo/megatron-bridge/latest/performance-summary-archive.html), DGX-H100 "
                   "pre-training tables, seq 4096, MoE tokens force-balanced")
# Qwen3 (HF config.json): 30B-A3B: 48 layers, d 2048, 32 query heads / 4 KV heads of 128, 128 experts
# top-8 of width 768, vocab 151,936, untied; 235B-A22B: 94 layers, d 4096, 64 / 4 heads of 128,
# 128 experts top-8 of width 1536.
QWEN3_30B_A3B = {"name": "qwen3-30b-a3b", "layers": 48, "hidden": 2048, "ffn_hidden": 6144, "heads": 32,
                 "kv_heads": 4, "head_dim": 128, "vocab": 151936, "seq_len": 4096, "gated_mlp": True,
                 "experts": 128, "top_k": 8, "expert_ffn_hidden": 768, "tied_embeddings": False}
QWEN3_235B_A22B = dict(QWEN3_30B_A3B, name="qwen3-235b-a22b", layers=94, hidden=4096, ffn_hidden=12288, heads=64,
                       expert_ffn_hidden=1536)


def _nemo_moe(name: str, model: dict, gpus: int, precision: str, gbs: int, mbs: int, tp: int, pp: int, vp: int,
              ep: int, measured: float, row: str, **train) -> dict:
    cfg = {"run": {"kind": "train", "name": name},
           "topology": {"preset": "dgx-h100-superpod", "gpus": gpus},
           "model": dict(model),
           # Megatron-Core: distributed optimizer, no activation recompute in the tables, expert
           # TP 1 (the recipes' expert_tensor_parallel_size), sequence parallel with TP
           "train": {"tp": tp, "pp": pp, "ep": ep, "etp": 1, "sequence_parallel": tp > 1, "zero": 1,
                     "micro_batch": mbs, "global_batch": gbs, "virtual_stages": vp,
                     "schedule": "interleaved" if vp > 1 else "1f1b", "recompute": "none",
                     "precision": precision, "check_memory": False, **train}}
    return {"case": name, "metric": "tokens_per_s / gpus", "config": cfg, "measured": measured,
            "source": f"{NEMO_MOE_SOURCE}; row: {row}"}


def moe_cases() -> list[dict]:
    """Published MoE pre-training runs on DGX H100 (Megatron-Bridge / NeMo performance tables),
    held out. FP8 there is Transformer Engine's current scaling (dcsim prices delayed scaling's
    casts). ``check_memory`` is off: the tables do not say which activations the recipes offload."""
    return [
        _nemo_moe("nemo2511_qwen3_235b_a22b_h100x256_fp8", QWEN3_235B_A22B, 256, "fp8", 2048, 1, 2, 8, 4, 32, 1575.0,
                  "25.11 DGX-H100 Qwen3_235B_a22B | 256 | FP8-CS | GBS 2048 | MBS 1 | TP 2 | PP 8 | VP 4 | EP 32 | "
                  "1575 tokens/s/GPU | 233 TFLOP/s/GPU",
                  # the recipe's moe_a2a_overlap (Megatron-Bridge scripts/performance/configs/qwen/
                  # workload_base_configs.py, QWEN3_235B_A22B_PRETRAIN_CONFIG_H100_FP8_CS_V1:
                  # moe_a2a_overlap=True, alltoall dispatcher; utils/overrides.py turns it into
                  # overlap_moe_expert_parallel_comm)
                  overlap_moe_expert_parallel_comm=True),
        _nemo_moe("nemo2509_qwen3_30b_a3b_h100x16_tokendrop", QWEN3_30B_A3B, 16, "fp8", 512, 2, 1, 2, 24, 8, 10494.0,
                  "25.09 DGX-H100 Qwen3_30B_a3B (tokendrop) | 16 | GBS 512 | MBS 2 | TP 1 | PP 2 | VP 24 | EP 8 | "
                  "10494 tokens/s/GPU | 241 TFLOP/s/GPU",
                  # token drop as NeMo's performance script applies it (NVIDIA/NeMo
                  # scripts/performance/llm/pretrain_qwen3_30b_a3b.py: MegatronTokenDropCallback,
                  # Megatron-Bridge apply_moe_token_drop: capacity factor 1.0, padded to capacity),
                  # which makes the step's shapes static, so CUDA graphs can capture it. The
                  # script takes enable_cuda_graphs from recommended_model_configs/
                  # model_configs_h100.csv; the 25.09 Qwen3 row is not in the sources we hold (the
                  # H100 MoE rows we hold, Llama 4 e16/e128, set cuda_graphs = 1): assumed on
                  moe_capacity_factor=1.0, moe_pad_expert_input_to_capacity=True, cuda_graph_impl="local"),
        _nemo_moe("nemo2511_qwen3_30b_a3b_h100x16_fp8", QWEN3_30B_A3B, 16, "fp8", 512, 2, 1, 2, 24, 8, 5275.0,
                  "25.11 DGX-H100 Qwen3_30B_a3B | 16 | FP8-CS | GBS 512 | MBS 2 | TP 1 | PP 2 | VP 24 | EP 8 | "
                  "5275 tokens/s/GPU | 121 TFLOP/s/GPU (token-dropless)"),
    ]


MEGATRON_BRIDGE_2602 = ("NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md, 26.02 NeMo container, "
                        "pre-training LLAMA3_70B table (https://github.com/NVIDIA-NeMo/Megatron-Bridge/blob/main/docs/"
                        "performance-summary-archive.md)")


def blackwell_fp4_pairs() -> list[tuple[dict, dict]]:
    """(MXFP8 case, NVFP4 case) on the same Blackwell system and layout (Megatron-Bridge 26.02,
    Llama 3 70B, 64 GPUs, seq 8192, GBS 256, MBS 1, PP 4, VP 5): what FP4 training buys over
    FP8. Held out (nothing fitted). GB300: TP 1, MXFP8 4,596 / NVFP4 6,798 tokens/s/GPU;
    GB200: TP 2, 3,613 / 4,458."""
    out = []
    for g, tp, fp8, fp4 in (("GB300", 1, 4596.0, 6798.0), ("GB200", 2, 3613.0, 4458.0)):
        pair = []
        for prec, meas in (("fp8", fp8), ("fp4", fp4)):
            name = f"megatronbridge2602_llama3_70b_{g.lower()}x64_{prec}"
            cfg = {"run": {"kind": "train", "name": name},
                   "topology": {"preset": "gb200-nvl72", "gpus": 64, "gpu": g},
                   "model": {"preset": "llama3-70b", "seq_len": 8192},
                   "train": {"tp": tp, "pp": 4, "virtual_stages": 5, "schedule": "interleaved", "micro_batch": 1,
                             "global_batch": 256, "precision": prec, "zero": 1, "sequence_parallel": tp > 1,
                             "recompute": "none", "check_memory": False,
                             # as blackwell_cases: each recipe's quantization, TP overlap off for NVFP4
                             "fp8_recipe": "nvfp4" if prec == "fp4" else "mxfp8",
                             "tp_comm_overlap": tp > 1 and prec == "fp8"}}
            row = f"DGX-{g} | 64 | {'NVFP4' if prec == 'fp4' else 'MXFP8'} | 256 | 1 | 8192 | TP {tp} | PP 4 | VP 5 | {meas:.0f}"
            pair.append({"case": name, "metric": "tokens_per_s / gpus", "config": cfg, "measured": meas,
                         "source": f"{MEGATRON_BRIDGE_2602}; row: {row}"})
        out.append(tuple(pair))
    return out


# -- Multi-node runs (issue 11, "optimism at scale"): held out of every fit --------------------

def narayanan_t2_cases() -> list[dict]:
    """Narayanan et al. 2021 Table 2 on Selene (as Table 1: DGX A100 80GB, 8 x 200 Gb/s HDR),
    compared on hardware TFLOP/s per GPU, global batch fixed while GPUs double (strong scaling).

    - PTD-P rows: Megatron-LM as in Table 1 (fp16, full recompute, unfused attention, gradient
      all-reduce after the backward). The table gives only the model-parallel size (96 for 175B,
      280 for 530B); assumed TP 8 inside the node and PP 12 / 35, with the interleaved schedule
      of Table 1's neighbours (530B: one layer per virtual stage, v = 3, as Table 1's 530B row;
      175B: four layers per virtual stage, v = 2).
    - ZeRO-3 rows: DeepSpeed ZeRO-3 without model parallelism (dp = GPUs), same model, full
      recompute, fp16, parameter gathers and gradient reduce-scatters overlapped with compute."""
    out = []
    for r in _rows("narayanan2021_table2.csv"):
        layers, gpus = int(r["num_layers"]), int(r["gpu_count"])
        h = int(r["hidden_size"])
        zero3 = r["zero_or_fsdp"].startswith("ZeRO-3")
        pp = 1 if zero3 else (12 if layers == 96 else 35)
        tp = 1 if zero3 else 8
        v = 1 if zero3 else (2 if layers == 96 else 3)
        cfg = {
            "run": {"kind": "train", "name": r["id"]},
            "topology": {"gpu": "A100-SXM-80GB", "gpus": gpus, "gpus_per_node": 8, "scaleup_domain": 8,
                         "nics_per_node": 8, "nic_Gbps": 200, "fabric": "fat-tree", "tiers": 3,
                         "switch_radix": 40, "oversubscription": 1.0},
            "model": {"name": r["model"], "layers": layers, "hidden": h, "ffn_hidden": 4 * h,
                      "heads": int(r["num_attention_heads"]), "kv_heads": int(r["num_attention_heads"]),
                      "vocab": int(r["vocab_size"]), "seq_len": int(r["seq_len_tokens"]), "gated_mlp": False,
                      "tied_embeddings": True},
            "train": {"tp": tp, "pp": pp, "dp": gpus // (tp * pp), "micro_batch": int(r["micro_batch_size_sequences"]),
                      "global_batch": int(r["global_batch_size_sequences"]),
                      "schedule": "interleaved" if v > 1 else "1f1b", "virtual_stages": v,
                      "recompute": "full", "precision": "fp16", "attention": "unfused",
                      "overlap_grad_reduce": zero3, "zero": 3 if zero3 else 0,
                      # the runs ran; the 530B ZeRO-3 row at 640 GPUs estimates 89 of 85 GB
                      # (DeepSpeed's buffers are not modelled): simulate it anyway
                      "check_memory": not zero3},
        }
        out.append({"case": r["id"], "metric": "hardware_tflops_per_gpu", "config": cfg,
                    "measured": float(r["throughput_tflops_per_gpu"]),
                    "source": f'{r["source"]}, {r["source_location"]}'})
    return out


LLAMA3_SOURCE = ("Llama Team, 'The Llama 3 Herd of Models' (arXiv:2407.21783), Table 4: Llama 3 405B pre-training "
                 "on H100 (700 W, RoCE 400 Gb/s per GPU), seq 8,192, 16M tokens per batch, BF16: 8,192 GPUs "
                 "(TP 8, CP 1, PP 16, DP 64) 430 TFLOP/s/GPU (43% MFU); 16,384 GPUs (DP 128) 400 (41%)")
TORCHTITAN128_SOURCE = ("pytorch/torchtitan benchmarks/llama3_h100_202412_torchtitan.md (Dec 2024), Table 3: Llama "
                        "3.1 8B, 128 H100 (Grand Teton, 96 GB HBM2e, 500 W, 400 Gb/s RDMA per GPU), FSDP, local "
                        "batch 2, global batch 256, selective activation checkpointing: FSDP + torch.compile "
                        "6,514 tokens/s/GPU (Table 1, same recipe on 8 GPUs: 6,667)")


def multinode_cases() -> list[dict]:
    """Published multi-node H100 runs (issue 11): Llama 3 405B at 8K and 16K GPUs and the
    torchtitan 8B FSDP run on 128 GPUs. Assumptions where the sources are silent: Llama 3's
    interleaved schedule with 4 virtual stages per rank (126 layers: the first and last chunk
    one layer short, as the paper describes), micro-batch 1, sequence parallelism, no
    activation recompute; torchtitan as its 8-GPU case (``issue11_cases``)."""
    def llama3(gpus: int, dp: int) -> dict:
        return {"run": {"kind": "train", "name": f"llama3_405b_h100x{gpus}"},
                "topology": {"preset": "llama3-h100-roce", "gpus": gpus},
                "model": {"preset": "llama3-405b", "seq_len": 8192},
                "train": {"tp": 8, "pp": 16, "cp": 1, "dp": dp, "micro_batch": 1, "global_batch": 2048,
                          "schedule": "interleaved", "virtual_stages": 4, "sequence_parallel": True,
                          "recompute": "none", "precision": "bf16", "check_memory": False}}
    titan = next(c for c in issue11_cases() if c["case"].startswith("torchtitan"))["config"]
    titan = {k: (dict(v) if isinstance(v, dict) else v) for k, v in titan.items()}
    titan["run"] = {"kind": "train", "name": "torchtitan_llama31_8b_h100x128_fsdp_compile"}
    titan["topology"] = dict(titan["topology"], gpus=128)
    titan["train"] = dict(titan["train"], global_batch=256)
    return [
        {"case": "llama3_405b_h100x8192", "metric": "model_tflops_per_gpu", "config": llama3(8192, 64),
         "measured": 430.0, "source": LLAMA3_SOURCE},
        {"case": "llama3_405b_h100x16384", "metric": "model_tflops_per_gpu", "config": llama3(16384, 128),
         "measured": 400.0, "source": LLAMA3_SOURCE},
        {"case": "torchtitan_llama31_8b_h100x128_fsdp_compile", "metric": "tokens_per_s / gpus", "config": titan,
         "measured": 6514.0, "source": TORCHTITAN128_SOURCE},
    ]


# -- Optimism at scale, round 2 (issue 11 item 7): more multi-node runs, held out of every fit ----

LLMFOUNDRY_MULTINODE_SOURCE = (
    "mosaicml/llm-foundry scripts/train/benchmarking/README.md (https://github.com/mosaicml/llm-foundry/blob/main/"
    "scripts/train/benchmarking/README.md), tables 'H100 80GB BF16', 'A100 80GB with 1600 Gbps node-node "
    "interconnect (RoCE)' and 'A100 40GB with 1600 Gbps node-node interconnect (RoCE)': Composer + PyTorch FSDP "
    "FULL_SHARD, MPT models, throughput per GPU")
MPT_70B = (8192, 64, 80)        # mpt-70b.yaml: d_model 8192, 64 heads, 80 layers (NumParams 64.86e9 checks)
# Megatron-Turing NLG 530B (Smith et al. 2022, Sec. 2.1): 105 layers, hidden 20480, 128 heads, seq 2048,
# GPT-2 BPE vocabulary (50,257, padded to 50,272 as llm-analysis's config quotes it)
MT_NLG_530B = {"name": "mt-nlg-530b", "layers": 105, "hidden": 20480, "ffn_hidden": 81920, "heads": 128,
               "kv_heads": 128, "vocab": 50272, "seq_len": 2048, "gated_mlp": False, "tied_embeddings": True}
LLAMA2_70B = {"name": "llama2-70b", "layers": 80, "hidden": 8192, "ffn_hidden": 28672, "heads": 64, "kv_heads": 8,
              "vocab": 32000, "seq_len": 4096, "gated_mlp": True, "tied_embeddings": False}
_SCALE_MODELS = {"mt-nlg-530b": MT_NLG_530B, "llama2-70b": LLAMA2_70B, "gpt3-175b": {"preset": "gpt3-175b"},
                 "llama3-70b": {"preset": "llama3-70b"}, "llama3-405b": {"preset": "llama3-405b"}}


def llmfoundry_multinode_cases() -> list[dict]:
    """llm-foundry's MPT FSDP rows on more than one node (H100 at 32/64 GPUs; A100 80GB 70B at 32/64;
    A100 40GB at 16-128 GPUs with the same table's 8-GPU rows beside them), seq 2048, compared on
    tokens/s per GPU (``data/llmfoundry_multinode.csv``, MFU re-derived from the throughput to check
    the copy). In the A100 40GB table the per-GPU micro-batch is fixed and the gradient
    accumulation is 1 from 16 GPUs on: weak scaling, where the per-GPU rate shows what more nodes
    cost. The configs are ``llmfoundry_cases``'s (FSDP FULL_SHARD = zero 3, 8 x 200 Gb/s per
    node: the tables' 1600 Gbps RoCE). Held out of every fit. Composer's PURE bf16 (the A100 70B
    rows) keeps no fp32 master weights; priced as amp bf16."""
    out = []
    for r in _rows("llmfoundry_multinode.csv"):
        h, heads, layers = MPT_70B if r["model"] == "70b" else MPT_SHAPES[r["model"]]
        seq, gpus = int(r["seq"]), int(r["gpus"])
        tag = {"h100_80gb": "h100", "a100_80gb": "a100", "a100_40gb": "a100x40g"}[r["gpu"]]
        name = f'llmfoundry_mpt{r["model"]}_s{seq}_{tag}x{gpus}_mb{r["micro_batch"]}'
        cfg = _mpt_config(r, name, (h, heads, layers))
        out.append({"case": name, "metric": "tokens_per_s / gpus", "config": cfg,
                    "measured": float(r["tokens_per_s_per_gpu"]), "gpu": r["gpu"],
                    "source": f'{LLMFOUNDRY_MULTINODE_SOURCE}; table: {r["table"]}'})
    return out


def multinode_published_cases() -> list[dict]:
    """Multi-node runs of ``data/multinode_published.csv``, each with its citation: Megatron-Turing
    NLG 530B on 2,240-3,360 A100 of Selene (DeepSpeed's pipeline engine + Megatron TP, 2021:
    1F1B, full recompute; micro-batch 1 and ZeRO-1 assumed, the paper is silent), NeMo 24.07 and
    Megatron-Bridge 25.09 FP8 pre-training on 64-1,024 DGX H100 (Megatron-Core + Transformer
    Engine: sequence parallel with TP, distributed optimizer, no recompute). Held out of every fit."""
    out = []
    for r in _rows("multinode_published.csv"):
        gpus, tp, pp, cp, vp = (int(r[k]) for k in ("gpus", "tp", "pp", "cp", "vp"))
        model = dict(_SCALE_MODELS[r["model"]], seq_len=int(r["seq"]))
        if r["gpu"] == "A100-SXM-80GB":         # Selene, as narayanan_t2_cases
            topo = {"gpu": "A100-SXM-80GB", "gpus": gpus, "gpus_per_node": 8, "scaleup_domain": 8,
                    "nics_per_node": 8, "nic_Gbps": 200, "fabric": "fat-tree", "tiers": 3, "switch_radix": 40,
                    "oversubscription": 1.0}
            train = {"recompute": "full", "attention": "unfused", "overlap_grad_reduce": False, "zero": 1}
        else:
            topo = {"preset": "dgx-h100-superpod", "gpus": gpus}
            # the NeMo / Megatron-Bridge H100 perf recipes run TP communication overlap
            # (tp_comm_overlap=True with Transformer Engine userbuffers configs per model shape:
            # nemo/collections/llm/recipes/tp_overlap_configs/userbuffers.py
            # userbuffers_fp8_h100_h8192_tp4_mbs1_seqlen8192 for the 70Bs, ..._h12288_tp4_... for
            # GPT-3 175B, ..._h16384_tp8_cp2_... for Llama 3.1 405B; NeMo 1.0 launcher:
            # ub_tp_comm_overlap: True)
            train = {"recompute": "none", "sequence_parallel": tp > 1, "zero": 1, "tp_comm_overlap": tp > 1}
        train.update(tp=tp, pp=pp, cp=cp, dp=gpus // (tp * pp * cp), micro_batch=int(r["micro_batch"]),
                     global_batch=int(r["global_batch"]), virtual_stages=vp,
                     schedule="interleaved" if vp > 1 else "1f1b", precision=r["precision"], check_memory=False)
        cfg = {"run": {"kind": "train", "name": r["id"]}, "topology": topo, "model": model, "train": train}
        metric = "step_time_s" if r["metric"] == "step_time_s" else "tokens_per_s / gpus"
        out.append({"case": r["id"], "metric": metric, "config": cfg, "measured": float(r["measured"]),
                    "framework": r["framework"], "source": r["source"]})
    return out


# -- AMD Instinct end-to-end training steps (issue 11, item 1): MI300X and MI325X ---------------

# The reproducer's Mistral 7B (AMD-AIG-AIMA/pytorch-training-benchmark configs/mistral-7b-v0.1.json):
# Llama 3 8B's shapes with a 1,024-token sliding window on every layer
MISTRAL_SWA1024 = {"name": "mistral-7b-swa1024", "layers": 32, "hidden": 4096, "ffn_hidden": 14336, "heads": 32,
                   "kv_heads": 8, "vocab": 128256, "gated_mlp": True, "sliding_window": 1024}
_AMD_MODELS = {"llama3.1-8b": {"preset": "llama3-8b"}, "llama3.1-70b": {"preset": "llama3-70b"},
               "mistral-7b-swa1024": MISTRAL_SWA1024}


def amd_training_cases(gpu: str | None = None, use: str | None = None) -> list[dict]:
    """AMD's published single-node training rows (``data/amd_instinct_training.csv``: the
    rocm/pytorch-training v25.2 image's MI300X and MI325X tables, ROCm 6.3) as cases compared on
    tokens/s per GPU: the published TFLOP/s divided by the reproducer's own FLOPs per token
    (``flops_per_token``; a test re-derives it from the shapes). ``use``: ``fit`` (the rows the
    MI300X constants are fitted to, workloads/training/calibration.fit_amd) or ``holdout``.
    ``gpu``: "MI300X" or "MI325X" (None: both).

    The runs: FSDP FULL_SHARD over one node of 8 (``zero = 3``), 8 micro-batches per optimizer
    step for the 8B-class rows (train_fsdp.py), one for the torchtitan 70B rows (full activation
    checkpointing assumed, torchtitan's 70B default); flash attention. The FP8 rows run
    Transformer Engine's ``TransformerLayer`` with ``num_gqa_groups = heads / kv_heads`` = 4 KV
    heads (the count it was given is 8): modelled as run, 4 KV heads."""
    out = []
    for r in _rows("amd_instinct_training.csv"):
        if (gpu and r["gpu"] != gpu) or (use and r["use"] != use):
            continue
        model = dict(_AMD_MODELS[r["model"]], seq_len=int(r["seq"]))
        if r["precision"] == "fp8":
            model["kv_heads"] = 4
        gpus, mbs = int(r["gpus"]), int(r["micro_batch"])
        cfg = {
            "run": {"kind": "train", "name": r["id"]},
            "topology": {"preset": "mi300x-node", "gpu": r["gpu"], "gpus": gpus},
            "model": model,
            "train": {"tp": int(r["tp"]), "pp": int(r["pp"]), "zero": 3, "micro_batch": mbs,
                      "global_batch": mbs * int(r["grad_accum"]) * gpus, "recompute": r["recompute"],
                      "precision": r["precision"], "attention": "flash", "check_memory": False},
        }
        measured = float(r["measured_tflops_per_gpu"]) * 1e12 / float(r["flops_per_token"])
        out.append({"case": r["id"], "metric": "tokens_per_s / gpus", "config": cfg, "measured": measured,
                    "source": f'{r["source"]}; row: {r["source_location"]}', "use": r["use"], "gpu": r["gpu"]})
    return out


# -- Blackwell pre-training (issue 11, item 1): NeMo / Megatron-Bridge dense rows -------------

# Nemotron-4 (arXiv:2402.16819 and 2406.11704; NeMo's Nemotron4Config15B / 340B): squared-ReLU MLP
# (not gated), GQA with 8 KV heads, vocab 256,000, untied embeddings, seq 4096
NEMOTRON4_15B = {"name": "nemotron4-15b", "layers": 32, "hidden": 6144, "ffn_hidden": 24576, "heads": 48,
                 "kv_heads": 8, "vocab": 256000, "seq_len": 4096, "gated_mlp": False, "tied_embeddings": False}
NEMOTRON4_340B = dict(NEMOTRON4_15B, name="nemotron4-340b", layers=96, hidden=18432, ffn_hidden=73728, heads=96)
_BLACKWELL_MODELS = {"llama3_8b": {"preset": "llama3-8b"}, "llama3_70b": {"preset": "llama3-70b"},
                     "llama31_405b": {"preset": "llama3-405b"}, "gpt3_175b": {"preset": "gpt3-175b"},
                     "nemotron4_15b": NEMOTRON4_15B, "nemotron4_340b": NEMOTRON4_340B}
# DGX B200: 8 GPUs per node on NVLink 5 (900 GB/s per direction), 8 x 400 Gb/s ConnectX-7 per node
DGX_B200 = {"gpu": "B200-180GB", "gpus_per_node": 8, "scaleup_domain": 8, "nics_per_node": 8, "nic_Gbps": 400,
            "fabric": "rail-optimized", "tiers": 3, "switch_radix": 64, "oversubscription": 1.0}
_LAYERS = {"llama31_405b": 126}
_BLACKWELL_GPU = {"B200": "B200-180GB", "GB200": "GB200", "GB300": "GB300"}
BLACKWELL_RECIPES = {"fp8_cs": "tensorwise", "fp8_ds": "delayed", "mxfp8": "mxfp8", "nvfp4": "nvfp4"}


def _feasible_vp(layers: int | None, pp: int, vp: int) -> int:
    from sim.errors import InfeasibleError
    from workloads.training.plan import split_layers
    if layers is None:
        return vp
    for v in range(vp, 0, -1):
        try:
            split_layers(layers, pp * v)
            return v
        except InfeasibleError:
            continue
    return 1


def blackwell_cases(gpu: str | None = None, use: str | None = None, recipe: str | None = None) -> list[dict]:
    """Dense pre-training rows of NVIDIA's NeMo 25.02-25.07 and Megatron-Bridge 25.09-26.02
    performance tables on DGX B200, GB200 NVL72 and GB300 NVL72 (``data/nemo_blackwell_pretrain.csv``,
    one citation per row), compared on tokens/s per GPU.

    ``use``: ``fit`` (the Llama 3 8B FP8 current-scaling rows of Megatron-Bridge 25.09 and 25.11,
    which each Blackwell GPU's training constants are fitted to: calibration.fit_blackwell) or
    ``holdout`` (every other row: 70B, 405B, GPT-3 175B, Nemotron-4, MXFP8, NVFP4, NeMo 25.02's
    delayed scaling). ``gpu``: the table's system (B200, GB200, GB300). ``recipe``: fp8_cs, fp8_ds,
    mxfp8, nvfp4. Every FP8 recipe runs as ``precision = "fp8"``, NVFP4 as ``"fp4"``, each with
    its quantization recipe (``train.fp8_recipe``: FP8-CS ``tensorwise``, FP8-DS ``delayed``,
    ``mxfp8``, ``nvfp4``) and TP communication overlap as the recipes set it (TP > 1, not NVFP4). Layout as the row: FSDP > 0 is Megatron-FSDP (``zero = 3``), else the
    distributed optimizer (``zero = 1``); sequence parallelism with TP; no activation recompute
    (the recipes' defaults for these rows); the Llama 3 8B recipes capture layers in CUDA graphs
    (Megatron-Bridge perf recipes, "CUDA graph local"). Memory is not checked: the tables do not
    say which activations the recipes offload."""
    out = []
    for r in _rows("nemo_blackwell_pretrain.csv"):
        if (gpu and r["system"] != gpu) or (use and r["use"] != use) or (recipe and r["recipe"] != recipe):
            continue
        gpus, tp, pp, cp, vp = (int(r[k]) for k in ("gpus", "tp", "pp", "cp", "vp"))
        model = dict(_BLACKWELL_MODELS[r["model"]], seq_len=int(r["seq"]))
        # Llama 3.1 405B at PP 16 VP 8: 128 pipeline chunks for 126 layers, the recipes giving the
        # embedding and the loss chunks of their own (Megatron's account_for_embedding/loss_in_
        # pipeline_split); dcsim splits only layers: the most virtual stages that split them
        vp = _feasible_vp(_LAYERS.get(r["model"]), pp, vp)
        fsdp = int(r["fsdp"]) > 0
        name = (f'nemo{r["release"].replace(".", "")}_{r["model"]}_{r["system"].lower()}x{gpus}_{r["recipe"]}'
                f'{"_fsdp" if fsdp else ""}')
        topo = (dict(DGX_B200, gpus=gpus) if r["system"] == "B200"
                else {"preset": "gb200-nvl72", "gpus": gpus, "gpu": _BLACKWELL_GPU[r["system"]]})
        train = {"tp": tp, "pp": pp, "cp": cp, "dp": gpus // (tp * pp * cp), "micro_batch": int(r["micro_batch"]),
                 "global_batch": int(r["global_batch"]), "virtual_stages": vp,
                 "schedule": "interleaved" if vp > 1 else "1f1b", "sequence_parallel": tp > 1,
                 "zero": 3 if fsdp else 1, "recompute": "none",
                 "precision": "fp4" if r["recipe"] == "nvfp4" else "fp8", "check_memory": False}
        if r["model"] == "llama3_8b":
            train["cuda_graph_impl"] = "local"
        # TP communication overlap (Transformer Engine userbuffers) as the recipes run it: on for
        # TP > 1 (the 70B / 405B library recipes: CommOverlapConfig(tp_comm_overlap=True); NeMo
        # 2.0's perf scripts require MegatronCommOverlapCallback, with B200 userbuffers configs
        # per shape), off for NVFP4 (Megatron-Bridge scripts/performance/configs/llama/
        # llama3_llm_pretrain.py and llama31_llm_pretrain.py: tp_comm_overlap = False if
        # precision == "nvfp4")
        train["tp_comm_overlap"] = tp > 1 and r["recipe"] != "nvfp4"
        # the row's quantization recipe (train.fp8_recipe): FP8 current scaling is Transformer
        # Engine's Float8CurrentScaling ("tensorwise"), delayed scaling "delayed", MXFP8, NVFP4
        train["fp8_recipe"] = BLACKWELL_RECIPES[r["recipe"]]
        cfg = {"run": {"kind": "train", "name": name}, "topology": topo, "model": model, "train": train}
        out.append({"case": name, "metric": "tokens_per_s / gpus", "config": cfg,
                    "measured": float(r["tokens_per_s_per_gpu"]), "use": r["use"], "gpu": r["system"],
                    "recipe": r["recipe"], "model": r["model"],
                    "source": f'NVIDIA {"Megatron-Bridge" if r["release"] >= "25.09" else "NeMo"} {r["release"]} '
                              f'performance summary, {r["table"]} ({r["source_url"]}); row: {r["model"]} '
                              f'{gpus} GPUs {r["recipe"]} GBS {r["global_batch"]} MBS {r["micro_batch"]} '
                              f'TP {tp} PP {pp} CP {cp} VP {vp} FSDP {r["fsdp"]}: {r["tokens_per_s_per_gpu"]} '
                              f'tokens/s/GPU{"; " + r["note"] if r["note"] else ""}'})
    return out


# -- llm-foundry's attention kernel (issue 11): which fused attention the MPT benchmark rows ran ---

def mpt_attention_kernel(gpu: str) -> str:
    """``train.attention_kernel`` of an llm-foundry benchmark row on ``gpu`` (the tables' tag:
    a100_40gb, a100_80gb, h100_80gb). The sweeps ran MPT's ``attn_impl: triton``
    (scripts/train/benchmarking/submit_benchmarks.py, ``--attn_impl`` default 'triton'): the
    FlashAttention-1-era Triton kernel, ``"triton"`` (compute.toml ``[A100.triton]``, from
    FlashAttention-2's A100 kernel measurements), on H100 too (``[H100.triton]``: the measured
    FlashAttention-2 curve over a kernel-generation ratio fitted with H100's host constants,
    ``calibration.fit_h100``; before, the H100 rows ran ``"fa2"`` and their error grew from -6%
    at seq 512 to +29% at seq 65k)."""
    return "triton"


LLMFOUNDRY_A100_40GB_SOURCE = (
    "mosaicml/llm-foundry scripts/train/benchmarking/README.md (https://github.com/mosaicml/llm-foundry/blob/main/"
    "scripts/train/benchmarking/README.md), table 'A100 40GB with 1600 Gbps node-node interconnect (RoCE)', the "
    "8-GPU rows at seq 512-32k other than 2048 (those are in llmfoundry_multinode.csv): Composer + PyTorch FSDP "
    "FULL_SHARD, PURE bf16, MPT models, throughput per GPU")


def llmfoundry_a100_40gb_cases() -> list[dict]:
    """llm-foundry's A100 40GB 8-GPU MPT rows at sequence lengths other than 2048
    (``data/llmfoundry_a100_40gb.csv``, 39 rows, 125M-13B, seq 512-32k; MFU re-derived from the
    throughput to check the copy), compared on tokens/s per GPU. Configs as ``_mpt_config``
    (FSDP FULL_SHARD, MPT's Triton attention); Composer's PURE bf16 priced as amp bf16 (as
    ``llmfoundry_multinode_cases``). Held out of every fit."""
    out = []
    for r in _rows("llmfoundry_a100_40gb.csv"):
        seq, gpus = int(r["seq"]), int(r["gpus"])
        name = f'llmfoundry_mpt{r["model"]}_s{seq}_a100x40gx{gpus}_mb{r["micro_batch"]}'
        cfg = _mpt_config(r, name, MPT_SHAPES[r["model"]])
        out.append({"case": name, "metric": "tokens_per_s / gpus", "config": cfg,
                    "measured": float(r["tokens_per_s_per_gpu"]), "gpu": r["gpu"], "use": "holdout",
                    "source": LLMFOUNDRY_A100_40GB_SOURCE})
    return out


# -- Held-out round 3 (issue 11, "held-out training suites"): 24 public runs new to the project ----

# NeMo's GPT-3 5B / 20B (NeMo launcher conf/training/gpt3/5b.yaml, 20b.yaml): GELU MLP of 4 d, vocab
# 50,257 padded to 51,200 as the 175B preset; Llama 2 7B / 13B (HF config.json); Nemotron-3 8B (NeMo
# conf/training/nemotron/nemotron_8b.yaml: squared-ReLU MLP of 4 d, vocab 256,000, untied)
_GPT3_SMALL = {"vocab": 51200, "gated_mlp": False, "tied_embeddings": True}
HELDOUT3_MODELS = {
    "llama3-8b": {"preset": "llama3-8b"}, "llama3-70b": {"preset": "llama3-70b"},
    "llama3-405b": {"preset": "llama3-405b"}, "deepseek-v3": {"preset": "deepseek-v3"},
    "gpt3-5b": dict(_GPT3_SMALL, name="gpt3-5b", layers=24, hidden=4096, ffn_hidden=16384, heads=32, kv_heads=32),
    "gpt3-20b": dict(_GPT3_SMALL, name="gpt3-20b", layers=44, hidden=6144, ffn_hidden=24576, heads=48, kv_heads=48),
    "llama2-7b": dict(LLAMA2_70B, name="llama2-7b", layers=32, hidden=4096, ffn_hidden=11008, heads=32, kv_heads=32),
    "llama2-13b": dict(LLAMA2_70B, name="llama2-13b", layers=40, hidden=5120, ffn_hidden=13824, heads=40, kv_heads=40),
    "nemotron-8b": dict(NEMOTRON4_15B, name="nemotron-8b", layers=32, hidden=4096, ffn_hidden=16384, heads=32,
                        kv_heads=32),
    "nemotron4-340b": NEMOTRON4_340B, "qwen3-30b-a3b": QWEN3_30B_A3B, "qwen3-235b-a22b": QWEN3_235B_A22B,
}
# torchtitan's Grand Teton H100 (96 GB HBM2e, 2.4 TB/s, 500 W power limit), as issue11_cases
GRAND_TETON_H100 = {"H100-GT-96GB-500W": {"like": "H100-SXM-80GB", "hbm_GB": 96, "hbm_GBps": 2400, "power_W": 500}}


def _experts(model: dict) -> int:
    from sim.config import load_config
    from workloads.model import ModelSpec
    return ModelSpec.from_section(load_config(data={"model": model}).model).experts


def heldout_round3_cases() -> list[dict]:
    """27 published training runs new to the project (``data/heldout_round3.csv``; each row its URL,
    the exact table row quoted and its assumptions), held out of every fit, compared on tokens/s
    per GPU: torchtitan's Dec 2024 Llama 3.1 benchmarks on 8-512 Grand Teton H100 (FSDP, CP to
    262k tokens, 2D FSDP+TP with and without async TP, 3D with 1F1B / interleaved 1F1B, 4D),
    NeMo 24.07's DGX H100 FP8 table (GPT-3 5B / 20B, Llama 2 7B / 13B, Nemotron 8B / 340B, Llama 3
    8B with CP 2), Megatron-Bridge's H100 rows (Llama 3 8B FSDP, DeepSeek-V3 on 1,024, Qwen3 MoE),
    its DeepSeek-V3 MXFP8 rows on 256 B200 / GB200 / GB300 and its BF16 MoE rows on 256 GB200 /
    GB300 (25.11: DeepSeek-V3, Qwen3-235B-A22B; no FP8 recipe: ``recipe`` empty).

    Frameworks as configs: torchtitan = FSDP2 (``zero = 3``) over the DP ranks, TP with sequence
    parallelism, torch.compile'd Float8 linears (``fp8_recipe = "tensorwise"``), SDPA's
    FlashAttention-2, async TP as ``tp_comm_overlap``; NeMo 24.07 = Megatron-Core with the
    distributed optimizer, sequence parallelism and TP overlap with TP > 1, FP8 delayed scaling,
    no recompute (as ``multinode_published_cases``); Megatron-Bridge = as ``moe_cases`` /
    ``blackwell_cases`` (expert TP 1, no recompute; DeepSeek-V3 with the recipes' HybridEP
    dispatcher, ``moe_dispatcher = "deepep"``). Where a row's PP x VP does not split the
    layers (DeepSeek-V3's 61), the most virtual stages that do (``_feasible_vp``). Memory is not
    checked (the tables do not say what the recipes offload)."""
    out = []
    for r in _rows("heldout_round3.csv"):
        gpus, tp, pp, cp, vp, ep, fsdp = (int(r[k]) for k in ("gpus", "tp", "pp", "cp", "vp", "ep", "fsdp"))
        opts = dict(kv.split("=") for kv in r["options"].split(";") if kv)
        model = dict(HELDOUT3_MODELS[r["model"]], seq_len=int(r["seq"]))
        layers = model.get("layers") or {"llama3-405b": 126, "deepseek-v3": 61}.get(r["model"])
        vp = _feasible_vp(layers, pp, vp)
        dp = gpus // (tp * pp * cp)
        train = {"tp": tp, "pp": pp, "cp": cp, "dp": dp, "ep": ep, "micro_batch": int(r["micro_batch"]),
                 "global_batch": int(r["global_batch"]), "virtual_stages": vp,
                 "schedule": "interleaved" if vp > 1 else "1f1b", "sequence_parallel": tp > 1,
                 "zero": 3 if fsdp else 1, "recompute": r["recompute"], "precision": r["precision"],
                 "check_memory": False}
        if r["recipe"]:                  # a BF16 row has none
            train["fp8_recipe"] = r["recipe"]
        cfg = {"run": {"kind": "train", "name": r["id"]}, "model": model, "train": train}
        if r["framework"] == "torchtitan-2412":
            cfg["hardware"] = {k: dict(v) for k, v in GRAND_TETON_H100.items()}
            cfg["topology"] = {"preset": "dgx-h100-superpod", "gpus": gpus, "gpu": "H100-GT-96GB-500W"}
            train.update(attention_kernel="fa2", tp_comm_overlap=tp > 1 and opts.get("tp_overlap") == "1")
        else:
            cfg["topology"] = ({"preset": "dgx-h100-superpod", "gpus": gpus} if r["system"] == "H100"
                               else dict(DGX_B200, gpus=gpus) if r["system"] == "B200"
                               # 64 GPUs of each NVL72 rack (16 of its 18 compute trays), as
                               # 256-GPU jobs run on them: 4 domains of 64
                               else {"preset": "gb200-nvl72", "gpus": gpus, "gpu": _BLACKWELL_GPU[r["system"]],
                                     "scaleup_domain": 64})
            train["tp_comm_overlap"] = tp > 1
            if ep > 1:
                train["etp"] = 1
            if opts.get("dispatcher"):
                train["moe_dispatcher"] = opts["dispatcher"]
            if opts.get("a2a_overlap") == "1":
                train["overlap_moe_expert_parallel_comm"] = True
        out.append({"case": r["id"], "metric": "tokens_per_s / gpus", "config": cfg, "measured": float(r["measured"]),
                    "framework": r["framework"], "system": r["system"], "gpus": gpus, "moe": ep > 1,
                    "local_experts": _experts(model) // ep if ep > 1 else 0,
                    "source": f'{r["source_url"]}: {r["quote"]}' + (f' (assumed: {r["assumptions"]})'
                                                                    if r["assumptions"] else "")})
    return out
