"""Data-parallel attention with wide expert parallelism (workloads/serving/dp_attention.py):
closed forms of the per-GPU work, memory and all-to-all bytes, the flows on the fabric, errors,
and SGLang's 72-GPU DeepSeek-V3 decode (LMSYS) as a published measurement."""

import pyarrow.compute as pc
import pytest

import topologies
from sim.app.runner import build_fabric
from sim.config import load_config
from sim.errors import ConfigError, InfeasibleError
from sim.simulation import Simulation
from workloads.serving.deployment import Deployment
from workloads.serving.dp_attention import COMBINE_BYTES, DISPATCH_BYTES
from workloads.serving.fused_moe import rank_load_factor
from workloads.serving.requests import build_stream

from .serving_helpers import serve


def dsv3(n=16, **serve_keys):
    s = {"engine": "sglang", "tp": n, "dp_attention": True, "precision": "fp8", "kv_precision": "bf16",
         "scheduler": "sarathi", "max_batch_size": 64 * n, "max_batch_tokens": 4096, "chunk_size": 4096}
    s.update(serve_keys)
    return {"run": {"kind": "serve", "name": "dp"}, "topology": {"preset": "dgx-h100-superpod", "gpus": n},
            "model": {"preset": "deepseek-v3"}, "serve": s,
            "workload": {"arrival": "burst", "requests": 32, "input_tokens": 512, "output_tokens": 16}}


def deployment(data):
    cfg = load_config(data=data)
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    return Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))


def test_all_to_all_bytes_closed_form():
    dep = deployment(dsv3(16))
    c, s = dep.cost, dep.spec
    moe_layers = s.layers - s.dense_layers
    T = 1024.0
    a2a, _, t = c._comm(T)
    per_layer = T / 16 * s.top_k * s.hidden * (DISPATCH_BYTES + COMBINE_BYTES)
    assert a2a == pytest.approx(per_layer * 15 / 16 * moe_layers)
    # the step waits for the most loaded GPU's copies (routing skew, model.expert_load_cv)
    load = rank_load_factor(s.expert_load_cv, s.experts, 16)
    assert c.expert_load == load > 1.0
    assert t == pytest.approx(per_layer * load * moe_layers / c.link.Bps + 2 * moe_layers * c.link.latency_s)


def test_routing_skew_waits_for_the_most_loaded_rank_unless_eplb_balances_it():
    """model.expert_load_cv (the deepseek-v3 preset's, TensorRT-LLM's EP32 statistic): the most
    loaded EP rank computes rank_load_factor x the mean rank's routed rows; redundant experts (EPLB)
    place them from the load statistics (factor 1); cv 0 is balanced routing (today's model)."""
    skewed, eplb = deployment(dsv3(16)), deployment(dsv3(16, redundant_experts=32))
    flat = dsv3(16)
    flat["model"] = {"preset": "deepseek-v3", "expert_load_cv": 0.0}
    balanced = deployment(flat)
    assert skewed.cost.expert_load == pytest.approx(rank_load_factor(1.51, 256, 16))
    assert eplb.cost.expert_load == balanced.cost.expert_load == 1.0
    # a prefill-sized step (compute-bound expert GEMMs) slows by less than the factor: the
    # attention, dense layers and weight reads do not move
    T = 16 * 4096.0
    ts, tb = (d.cost.batch(T, 16.0, T * 2048.0, T * 2048.0).time_s for d in (skewed, balanced))
    assert 1.0 < ts / tb < skewed.cost.expert_load


def test_each_gpu_holds_all_but_the_experts_and_its_share_of_them():
    d16, d32 = deployment(dsv3(16)), deployment(dsv3(32))
    s = d16.spec
    expert_bytes = s.experts * d16.cost.expert_params * (s.layers - s.dense_layers) * 1.0   # fp8
    # doubling the GPUs halves only the per-GPU expert share
    assert d16.cost.weight_bytes_per_gpu() - d32.cost.weight_bytes_per_gpu() == pytest.approx(
        expert_bytes / 16 - expert_bytes / 32, rel=1e-9)
    # redundant experts (EPLB) add their weights: 256 + 32 over 16 GPUs = 18 each, not 16
    d = deployment(dsv3(16, redundant_experts=32))
    assert d.cost.weight_bytes_per_gpu() - d16.cost.weight_bytes_per_gpu() == pytest.approx(
        expert_bytes / s.experts * 2, rel=1e-9)


def test_kv_pool_is_every_gpu_s_own():
    # attention is not split: a GPU holds the full MLA latent of its own sequences; the replica's
    # pool is the GPUs' pools side by side
    dep = deployment(dsv3(16))
    full = dep.spec.kv_cache_bytes_per_token(2.0)
    assert dep.cost.kv_token_gpu * 16 == pytest.approx(full)


def test_dispatch_and_combine_go_on_the_fabric():
    data = {k: v for k, v in dsv3(16).items() if k != "run"}
    data["topology"] = dict(data["topology"], fabric=None)        # the preset's fabric, not the helper's
    res = serve(**data)
    links = res.tables["links"]
    nic = pc.sum(pc.filter(links["bytes"], pc.equal(links["link_class"], "nic"))).as_py() or 0.0
    assert nic > 0          # 16 GPUs on two servers: the all-to-alls cross the scale-out fabric
    assert res.summary["tpot_mean_s"] > 0


def test_bad_plans_are_errors():
    with pytest.raises(ConfigError) as e:
        deployment(dsv3(16, ep=8))
    assert "serve.ep" in str(e.value)
    for extra, key in (({"pp": 2}, "serve.pp"), ({"speculative": {"tokens": 1, "acceptance": 0.8}}, "serve.speculative")):
        data = dsv3(16, **extra)
        data["topology"]["gpus"] = 32
        with pytest.raises(ConfigError) as e:
            deployment(data)
        assert key in str(e.value)
    bad = dsv3(24)
    bad["serve"]["tp"] = 12                        # 256 experts over 12 GPUs
    with pytest.raises(InfeasibleError) as e:
        deployment(bad)
    assert "redundant_experts" in str(e.value)
    dense = dsv3(8)
    dense["model"] = {"preset": "llama3-70b"}
    with pytest.raises(ConfigError) as e:     # the model has no experts: a config error (exit 2)
        deployment(dense)
    assert e.value.key == "serve.dp_attention" and "no routed experts" in str(e.value)


def test_lmsys_ep72_decode_within_15_percent():
    # SGLang, DeepSeek-V3 on 9 x 8 H100, DP attention + EP72, 256 sequences per GPU at KV length
    # 2,000: 22,282 output tokens/s per node (LMSYS blog 2025-05-05; sim/app/validation/serving.py)
    from sim.app.validation.serving import run_step_cases
    row = next(r for r in run_step_cases() if r["case"] == "dsv3_ep72_decode_tok_per_node")
    assert abs(row["error"]) <= 0.15, row


def test_prefill_batches_send_a_token_once_per_server():
    # DeepEP normal mode (batches with prefill tokens): one copy per other server holding one of
    # the token's experts; low-latency mode (decode): one per expert; inside one server: top_k
    dep = deployment(dsv3(16))
    c, k = dep.cost, dep.spec.top_k
    assert c.nodes == 2
    remote = 2 * (1 - 0.5 ** k) * 0.5                     # other server touched, expected
    assert c.copies(True) == pytest.approx(remote * 16 / 8)
    assert c.copies(False) == k
    one = deployment(dict(dsv3(8), topology={"gpu": "H200-SXM-141GB", "gpus": 8, "fabric": "none"}))
    assert one.cost.copies(True) == k
    T = 4096.0
    assert c.batch(T, 8.0, T * 512, T).comm_s < c.batch(T, T, T * 512, T).comm_s


def test_lmsys_ep32_prefill_within_15_percent():
    from sim.app.validation.serving import run_step_cases
    rows = [r for r in run_step_cases() if "prefill" in r["case"]]
    assert len(rows) == 3
    for row in rows:
        assert abs(row["error"]) <= 0.15, row


TINY_MOE = {"name": "tiny-moe", "layers": 2, "hidden": 256, "ffn_hidden": 512, "heads": 4, "kv_heads": 4,
            "head_dim": 64, "vocab": 1024, "experts": 8, "top_k": 2, "expert_ffn_hidden": 256}


def test_dp_ranks_sync_every_step():
    """SGLang's DP attention all-gathers every rank's batch metadata each scheduler step (454.6 us
    per step at 4 DP ranks, sgl-project/sglang#34338); the overlap scheduler runs it beside the
    GPU's current batch with the engine's other host time (SGLang's overlap scheduler is on: serve
    .async_scheduling), so a step takes max(GPU, sync + host). A tiny MoE whose GPU step is shorter
    than the sync is held to it; a long step hides it."""
    data = dsv3(8)
    data["model"] = TINY_MOE
    dep = deployment(data)
    c = dep.cost
    assert c.dp_sync_s == pytest.approx(454.6e-6)
    small = c.batch(8.0, 8.0, 800.0, 800.0)
    assert small.compute_s + small.comm_s < c.dp_sync_s
    assert c.async_host
    host = c.dp_sync_s + c.overhead_s + c.host_per_seq_s
    assert small.time_s == pytest.approx(max(small.compute_s + small.comm_s, host))
    assert small.time_s == pytest.approx(c._host_s(1.0, 1.0, small.compute_s + small.comm_s, c.dp_sync_s))
    big = c.batch(8.0 * 65536, 8.0, 8.0 * 65536 ** 2 / 2, 8.0 * 65536)
    assert big.compute_s + big.comm_s > c.dp_sync_s
    assert big.time_s == pytest.approx(c._host_s(65536.0, 1.0, big.compute_s + big.comm_s, c.dp_sync_s))
    # with the overlap scheduler off the engine's host time follows max(GPU, sync)
    c.async_host = False
    small = c.batch(8.0, 8.0, 800.0, 800.0)
    assert small.time_s == pytest.approx(c.dp_sync_s + c.overhead_s + c.host_per_seq_s)
    c.async_host = True
    # end to end: every decode step pays at least the sync and the engine's step time
    res = serve(**{k: v for k, v in data.items() if k != "run"})
    assert res.summary["tpot_p50_s"] >= c.dp_sync_s + dep.engine.step_us * 1e-6
    # without DP (one GPU, dp = 1) there is no one to agree with
    one = deployment(dict(data, serve={**data["serve"], "tp": 1, "max_batch_size": 64}, topology={"preset": "dgx-h100-superpod", "gpus": 8}))
    assert one.cost.dp_sync_s == 0.0


def test_decode_steps_pad_each_rank_to_its_cuda_graph():
    """A decode-only step of a DP-attention replica replays every rank's CUDA graph at the next
    captured size (TensorRT-LLM / SGLang pad to their capture sizes; every rank the same graph):
    750 sequences per rank run the 1024-row graph's GEMMs, MoE and all-to-alls, attention over
    the real 750 sequences' keys. Until the held-out TensorRT-LLM MoE rows (issue 12) the DP cost
    ran the unpadded batch while a TP replica padded (IterationCost.padded)."""
    dep = deployment(dsv3(16))
    c = dep.cost
    c.set_graph_batch_sizes([])
    B, ctx = 16 * 750.0, 16 * 750.0 * 1000
    plain = c.batch(B, B, ctx, ctx)
    c.set_graph_batch_sizes([256, 512, 1024])
    padded = c.batch(B, B, ctx, ctx)
    n = 16.0
    assert padded.compute_s - plain.compute_s == pytest.approx(
        c.pp * (c._fixed_stage_s(1024.0, 1024.0) - c._fixed_stage_s(750.0, 750.0)), rel=1e-9)
    assert padded.tp_bytes == pytest.approx(plain.tp_bytes * 1024 / 750)
    # a step with prefill tokens in it runs eagerly: no padding
    mixed_plain = c.batch(B + n * 100, B, ctx, ctx)
    c.set_graph_batch_sizes([])
    assert c.batch(B + n * 100, B, ctx, ctx).time_s == pytest.approx(mixed_plain.time_s)


def test_each_rank_captures_cuda_graphs_up_to_its_own_batch_limit():
    """Issue 12 (bwattn): with attention DP every rank's executor runs 1/N of the replica's
    max_batch_size and captures its CUDA graphs up to that (TensorRT-LLM: one PyExecutor per rank,
    model_engine _filter_cuda_graph_batch_sizes; trtllm-bench's DeepSeek-R1 DEP4 1024/8192 run: 96 per
    rank). The listed sizes used to be filtered at the replica's 384, so a rank's 96 sequences ran the
    128-row graph; now the rank's own limit is its largest graph, and 96 run unpadded."""
    sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024]
    dep = deployment(trtllm_dep("deepseek-v3", "B200-180GB", 4, max_batch_size=384, max_batch_tokens=8192,
                                cuda_graph_batch_sizes=sizes))
    c = dep.cost
    assert c.graph_sizes == [1, 2, 4, 8, 16, 32, 64, 96]
    assert c.padded(96.0, 96.0) == 96.0 and c.padded(70.0, 70.0) == 96.0 and c.padded(40.0, 40.0) == 64.0


def test_weights_that_do_not_fit_describe_the_dp_attention_layout():
    """Llama 4 Maverick on 2 H200 with dp_attention: the message used to read 'tp=1' (the per-GPU
    attention shard) for a serve.tp = 2 replica; it now names the replicated attention."""
    from .serving_helpers import serve
    with pytest.raises(InfeasibleError) as e:
        serve(topology={"gpu": "H200-SXM-141GB"}, model={"preset": "llama4-maverick"},
              serve={"tp": 2, "dp_attention": True}, workload={"requests": 2})
    assert e.value.key == "serve.tp" and "dp_attention over serve.tp = 2 GPUs" in str(e.value)
    assert "tp=1" not in str(e.value)


# -- TensorRT-LLM's MoE traffic under attention DP (issue 12, the DEP held-out rows) -------------

def trtllm_dep(model, gpu, n, precision="fp8", **serve_keys):
    s = {"engine": "trtllm", "tp": n, "ep": n, "dp_attention": True, "precision": precision,
         "kv_precision": "fp8", "scheduler": "orca", "max_batch_size": 256 * n, "max_batch_tokens": 4096 * n}
    s.update(serve_keys)
    return {"run": {"kind": "serve", "name": "dep"},
            "topology": {"gpu": gpu, "gpus": n, "gpus_per_node": n, "fabric": "none"},
            "model": {"preset": model}, "serve": s,
            "workload": {"arrival": "burst", "requests": 8, "input_tokens": 128, "output_tokens": 8}}


def test_trtllm_all_gathers_hidden_states_on_an_nvlink_server():
    """On an 8-GPU NVLink server TensorRT-LLM 1.x runs no all-to-all (fused_moe_wide_ep.py
    select_alltoall_method_type: MNNVL or TRTLLM_CAN_USE_DEEP_EP=1 only): each MoE layer
    all-gathers the replica's T tokens' hidden states (FP8 per-tensor here: 1 byte) and
    reduce-scatters the bf16 output, T x hidden x (1 + 2) bytes of gathered buffer per layer,
    whatever top_k."""
    dep = deployment(trtllm_dep("llama4-maverick", "H200-SXM-141GB", 8))
    c, s = dep.cost, dep.spec
    assert c.moe_all_gather() and c.gather_bytes == 1.0
    moe_layers = sum(s.is_moe_layer(i) for i in range(s.layers))
    T = 2048.0
    sent, _, t = c._comm(T)
    buf = T * s.hidden * (1.0 + COMBINE_BYTES)
    assert t == pytest.approx(buf * moe_layers / c.link.Bps + 2 * moe_layers * c.link.latency_s)
    assert sent == pytest.approx(buf * 7 / 8 * moe_layers)
    # top-1 routing over 8 ranks: 8x the bytes DeepEP's all-to-all would move per token
    sg = deployment(dict(trtllm_dep("llama4-maverick", "H200-SXM-141GB", 8), serve={
        **trtllm_dep("llama4-maverick", "H200-SXM-141GB", 8)["serve"], "engine": "sglang"}))
    assert not sg.cost.moe_all_gather()
    assert sent / sg.cost._comm(T)[0] == pytest.approx(8 * 3.0 / (DISPATCH_BYTES + COMBINE_BYTES))


def test_trtllm_all_to_all_only_over_mnnvl_with_more_ranks_than_top_k():
    """GB200 NVL72 (a multi-node NVLink domain): Maverick (top_k 1) over 4 ranks runs the MNNVL
    all-to-all; Qwen3-235B (top_k 8 >= 4 ranks) still all-gathers; on B200 servers both gather."""
    assert not deployment(trtllm_dep("llama4-maverick", "GB200", 4, "fp4")).cost.moe_all_gather()
    assert deployment(trtllm_dep("qwen3-235b-a22b", "GB200", 4, "fp4")).cost.moe_all_gather()
    assert deployment(trtllm_dep("llama4-maverick", "B200-180GB", 4, "fp4")).cost.moe_all_gather()


def test_gathered_bytes_follow_the_experts_activation_precision():
    """Hidden states are quantized to the experts' activations before the all-gather: NVFP4 0.5
    + one FP8 scale per 16, FP8 1, MXFP8 1 + 1/32; unquantized (weight-only MXFP4 on Hopper) 2."""
    fp4 = deployment(trtllm_dep("qwen3-235b-a22b", "B200-180GB", 4, "fp4")).cost
    assert fp4.gather_bytes == pytest.approx(0.5 + 1 / 16)
    mx = deployment(trtllm_dep("gpt-oss-120b", "B200-180GB", 2, "fp8", expert_precision="mxfp4",
                               expert_compute_precision="mxfp8")).cost
    assert mx.gather_bytes == pytest.approx(1 + 1 / 32)
    bf = deployment(trtllm_dep("gpt-oss-120b", "H100-SXM-80GB", 4, "bf16", kv_precision="bf16",
                               expert_precision="mxfp4")).cost
    assert bf.gather_bytes == 2.0


def test_block_scaled_fp8_checkpoint_gathers_bf16():
    """DeepSeek-R1's FP8 release is block-scaled (model.checkpoint_fp8_scaling = "block"): TensorRT-LLM's
    CutlassFusedMoE.forward_chunk quantizes before the all-gather only for per-tensor FP8 and NVFP4; with
    DeepSeek FP8 block scales it gathers the bf16 hidden states and the fused MoE op quantizes 1 x 128
    groups inside (use_deepseek_fp8_block_scale): 2 bytes per element, where a per-tensor checkpoint
    of the same model gathers 1. The NVFP4-v2 checkpoint's experts (W4A4) still gather NVFP4."""
    blk = deployment(trtllm_dep("deepseek-v3", "H200-SXM-141GB", 8)).cost
    assert blk.moe_all_gather() and blk.gather_bytes == 2.0
    per = trtllm_dep("deepseek-v3", "H200-SXM-141GB", 8)
    per["model"] = {"preset": "deepseek-v3", "checkpoint_fp8_scaling": "tensor"}
    assert deployment(per).cost.gather_bytes == 1.0
    fp4 = deployment(trtllm_dep("deepseek-v3", "B200-180GB", 4, "fp8", expert_precision="fp4",
                                expert_compute_precision="fp4")).cost
    assert fp4.gather_bytes == pytest.approx(0.5 + 1 / 16)


# NVIDIA/TensorRT-LLM docs/source/blogs/Best_perf_practice_on_DeepSeek-R1_in_TensorRT-LLM.md (commit
# 01c4ece911eb569e72cf4177f83238a0520641c2), "H200 max-throughput": deepseek-ai/DeepSeek-R1 FP8 on 8 H200,
# trtllm-bench --tp 8 --ep 8 with enable_attention_dp, --max_batch_size 128 --max_num_tokens 1151
# --concurrency 1024 --kv_cache_free_gpu_mem_fraction 0.8, CUDA graph batch 128, ISL 1024 / OSL 2048,
# 5120 requests: 11,489.2671 output tokens/s, 11.3476 tokens/s per user.
BLOG_TOKENS_S, BLOG_PER_USER = 11489.2671, 11.3476


def _dsr1_blog_cfg():
    s = {"engine": "trtllm", "tp": 8, "ep": 8, "dp_attention": True, "precision": "fp8", "kv_precision": "fp8",
         "scheduler": "orca", "max_batch_size": 8 * 128, "max_batch_tokens": 8 * 1151, "chunk_size": 8 * 1151,
         "gpu_memory_utilization": 0.8, "cuda_graph_batch_sizes": [128]}
    return load_config(data={"run": {"kind": "serve", "name": "dsr1-blog"},
                             "topology": {"gpu": "H200-SXM-141GB", "gpus": 8, "gpus_per_node": 8, "fabric": "none"},
                             "model": {"preset": "deepseek-v3"}, "serve": s,
                             "workload": {"arrival": "burst", "requests": 2048, "input_tokens": 1024,
                                          "output_tokens": 2048}})


def test_dsr1_h200_dep8_blog_localizes_the_dep_gap_to_the_step():
    """A DEP run at a known batch (issue 12): output / per-user speed = 1,012 requests generating
    at once = 8 ranks x max_batch_size 128, so trtllm-bench's max_batch_size is each attention-DP
    rank's (as serving.case_config reads the heuristic's) and a step takes 1 / 11.35 = 88 ms at 128
    sequences per rank. dcsim at that batch runs 1.58x the measured throughput (1.85x before issue 12's
    deepseek pass: bf16 all-gather of the block-scaled checkpoint, MLA decode at the bf16 MMA rate,
    block-scaled GEMMs' serial store; step 41.6 -> 45.7 ms; 1.64x -> 1.58x and 45.7 -> 46.4 ms with the
    most loaded EP rank's routed rows, routeskew: 32 rows per expert, weight-bound): its step is too fast,
    not its batch too large.
    Pinned (a gap, not a fit: fails when the model moves it)."""
    assert BLOG_TOKENS_S / BLOG_PER_USER == pytest.approx(8 * 128, rel=0.02)
    cfg = _dsr1_blog_cfg()
    from sim.app.runner import run
    out = float(run(cfg).summary["output_tokens_per_s"])
    assert 1.5 < out / BLOG_TOKENS_S < 1.75
    dep = deployment(cfg.model_dump())
    step = dep.cost.batch(1024.0, 1024.0, 1024.0 * 2048, 1024.0 * 2048).time_s
    assert 1.8 < (1.0 / BLOG_PER_USER) / step < 2.05


def _public_op_us(rows, op: str, hbm_GBps: float, local_experts: int) -> float:
    """Microseconds per layer of ``op`` on a GPU of ``hbm_GBps`` from the usable public rows of
    data/hopper_dsr1_step_ops.csv: ``hbm`` rows (memory-bound GEMMs at small M) scaled by the HBM
    bandwidth ratio; ``hbm_per_weight_byte`` rows (grouped GEMMs) as weight bytes per second, scaled so,
    applied to ``local_experts`` experts of the row's N x K."""
    t = 0.0
    for r in rows:
        if r["op"] != op:
            continue
        us, gbps = float(r["time_us"]), float(r["gpu_hbm_GBps"])
        if r["use"] == "hbm":
            t += us * gbps / hbm_GBps
        elif r["use"] == "hbm_per_weight_byte":
            n, k = float(r["n"]), float(r["k"])
            rate = int(r["groups"]) * n * k / us * hbm_GBps / gbps     # weight bytes per us
            t += local_experts * n * k / rate
    return t


def test_dsr1_h200_dep8_blog_step_by_op_against_public_kernels():
    """dcsim's DeepSeek-R1 H200 DEP8 decode step at the blog's batch (128 sequences per rank, 2,048-token
    average context, 1,024 gathered tokens on 32 local experts, 32 rows per expert x the EP8 rank's 1.42
    routing skew = 45; issue 12, hopdsr1) by op (``DpAttentionCost.op_breakdown``), against the public
    Hopper kernel figures of workloads/serving/data/hopper_dsr1_step_ops.csv (H800 rows scaled to H200 by
    HBM bandwidth, 3.35 -> 4.8 TB/s; FlashMLA's FLOP rate unscaled, same SMs and clocks; H20 rows are
    compute-bound at these shapes and not used). Per layer: the attention linears (fused_a, q_b, o_proj)
    67 us in dcsim vs 53 from DeepGEMM's M = 128 rows; the shared expert 23 vs 15; MLA 127 vs 111 at
    FlashMLA's 660 TFLOPS; the routed experts 376 us (1.41 GB of FP8 weights at 3.75 TB/s, 0.78 of HBM,
    where DeepGEMM's large-weight M = 64 / 128 rows reach 0.78 / 0.75 of H800's) vs 566 us at the
    weight-byte rate of DeepGEMM's masked 4 x 256-row rows, the nearest grouped shape (more MMA per weight
    byte: an upper bound on the time). With every op at its public figure the step is ~55 ms, still
    below the ~69-81 ms the blog's pure decode steps need (88 ms per token minus the 128 of every 2,048
    steps that prefill one request per rank, at 1-2x dcsim's mixed step): the sourced kernel rates
    explain at most ~9 of the missing 23-35 ms. A gap, pinned: fails when the model moves it."""
    import csv
    from pathlib import Path
    from workloads.serving import fused_moe as fm
    dep = deployment(_dsr1_blog_cfg().model_dump())
    c = dep.cost
    args = (1024.0, 1024.0, 1024.0 * 2048, 1024.0 * 2048)
    ops = c.op_breakdown(*args)
    b = c.batch(*args)
    assert sum(ops.values()) == pytest.approx(b.compute_s + b.comm_s, rel=1e-9)
    step = sum(ops.values())
    assert 0.044 < step < 0.049
    L, Lm = c.spec.layers, c._moe_layers
    experts = ops["expert_up"] + ops["expert_down"]
    attn_lin = ops["q_down"] + ops["kv_down"] + ops["q_up"] + ops["proj"]
    shared = ops["shared_up"] + ops["shared_down"]
    # shares of the step: routed experts ~47 %, MLA ~17 %, all-gather + reduce-scatter ~12 %
    assert 0.44 < experts / step < 0.50 and 0.15 < ops["attention"] / step < 0.19
    assert 0.10 < ops["moe_comm"] / step < 0.13 and 0.07 < attn_lin / step < 0.11
    # the routed experts stream the rank's 32 experts' FP8 weights at ~0.78 of H200's HBM
    wbytes = 32 * c.spec.expert_params() * c.wbytes
    assert 0.74 < wbytes / (experts / Lm) / c.gpu.hbm_Bps < 0.82
    with (Path(fm.__file__).parent / "data" / "hopper_dsr1_step_ops.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert all(r["source_url"].startswith("https://github.com/") for r in rows)
    hbm = c.gpu.hbm_Bps / 1e9
    pub = {"attn_linears": _public_op_us(rows, "attn_linears", hbm, 32),
           "shared_expert": _public_op_us(rows, "shared_expert", hbm, 32),
           "routed_experts": _public_op_us(rows, "routed_experts", hbm, 32),
           # FlashMLA's README: 660 TFLOPS compute-bound (bf16 absorbed decode, 128 heads, 576 + 512 per key)
           "mla_decode": 128 * 2048 * 128 * 2 * (512 + 64 + 512) / 660e12 * 1e6}
    mine = {"attn_linears": attn_lin / L * 1e6, "shared_expert": shared / Lm * 1e6,
            "routed_experts": experts / Lm * 1e6, "mla_decode": ops["attention"] / L * 1e6}
    ratio = {k: mine[k] / pub[k] for k in pub}
    # dcsim is slower than the public kernels everywhere but the grouped experts' loose bound
    assert 1.15 < ratio["attn_linears"] < 1.45 and 1.35 < ratio["shared_expert"] < 1.75
    assert 1.05 < ratio["mla_decode"] < 1.25 and 0.6 < ratio["routed_experts"] < 0.75
    public_step = step + sum((pub[k] - mine[k]) * (Lm if k in ("shared_expert", "routed_experts") else L)
                             for k in pub) * 1e-6
    assert 0.052 < public_step < 0.058
    # the measured pure-decode step: 88 ms per token with 128 of every 2,048 steps carrying a prefill
    # on every rank (trtllm-bench's burst admits one 1,024-token request per rank and step at
    # max_num_tokens 1151) at 1-2x dcsim's mixed step
    mixed = c.batch(8 * 1151.0, 1024.0, 8 * (1024.0 * 1025 / 2 + 127 * 2048.0),
                    8 * (1024.0 + 127 * 2048.0)).time_s
    per_token = 1.0 / BLOG_PER_USER
    f = 128 / 2048
    lo, hi = ((per_token - f * m * mixed) / (1 - f) for m in (2.0, 1.0))
    assert 0.065 < lo < hi < 0.085 and public_step < 0.85 * lo


def _dsr1_h200_dep8_cost():
    """The blog's DeepSeek-R1 H200 DEP8 deployment with graphs and batch limits out of the way (the step
    priced at any per-rank batch)."""
    data = _dsr1_blog_cfg().model_dump()
    data["serve"]["cuda_graph_batch_sizes"] = None
    data["serve"]["max_batch_size"] = 8 * 512
    return deployment(data).cost


def _dep8_decode_ops(c, per_rank: float, context: float) -> dict[str, float]:
    t = 8.0 * per_rank
    return c.op_breakdown(t, t, t * context, t * context)


def test_dsr1_h200_dep8_step_slope_with_per_rank_batch():
    """dcsim's DeepSeek-R1 FP8 H200 DEP8 decode step against the per-rank batch (issue 12, hopdep17), at
    the measured pure-decode points there are. (1) The two InferenceX Dynamo disaggregated decode runs
    (inferencex_trtllm.csv, TensorRT-LLM under Dynamo 0.8.1, FP8 KV, 8192 / 1024 at random_range_ratio
    0.8: mean context during decode 0.9 x 8,192 + 0.9 x 1,024 / 2 = 7,834): each request spends TTFT
    in prefill / transfer and 0.9 x 1,024 x TPOT decoding, so by Little's law a decode rank holds
    conc / (8 x workers) x decode / (decode + TTFT) = 13.0 (c128, one worker) and 26.3 (c768, three)
    sequences; their TPOT, a pure decode step, is 36.3 and 44.0 ms where dcsim's step is 35.0 and 38.7:
    right at 13 per rank, -12 % at 26, and the measured step grows 2.1x as fast as dcsim's (7.7 vs 3.7 ms
    over 13.3 sequences). (2) From 32 to 128 per rank at the blog's 2,048-token contexts dcsim's step
    grows 35.0 -> 46.4 ms (0.119 ms per sequence; half of it MLA, a quarter the all-gather /
    reduce-scatter, the expert GEMMs' token-dependent part 0.65 ms: they stream the same weights), while
    the blog's pure decode step at 128 is 69-81 ms (test_dsr1_h200_dep8_blog_step_by_op_against_public_
    kernels) and its 32-per-rank step lies between dcsim's 35.0 and 35.0 + the 26-per-rank excess scaled
    to 32 (41.5): the real step grows 2.3-3.9x dcsim's rate (the blog is a 0.19-era build, the Dynamo
    runs post-1.0). (3) No single op of dcsim's closes the 2,048-context growth: the least missing growth
    (69 - 41.5 = 27.5 ms against dcsim's 11.4) asks MLA x 3.9, the all-gather / reduce-scatter x 6.2,
    permute / unpermute / activation x 15, the expert GEMMs' growth x 26, where the public Hopper
    kernels at these shapes put each within 0.8-1.25x of dcsim's time (hopdsr1, infxprof). (4) The routed
    experts' kernel (DeepGEMM's grouped FP8 kernel, which TensorRT-LLM runs at >= 32 rows per expert on H100 /
    H200) grows < 7 % from 32 to 96 rows per group at DeepSeek-R1's expert shapes on H100 (DeepGEMM PR #192,
    hopper_dsr1_step_ops.csv rows_per_expert_growth), and dcsim's 32 experts at 32 rows are within 10 % of
    those rows scaled to H200's HBM: the experts do not carry the growth (serving_heldout.DEP_BATCH_SLOPE).
    A gap, pinned: fails when the model moves the slope."""
    import csv
    from pathlib import Path
    from workloads.serving import fused_moe as fm
    c = _dsr1_h200_dep8_cost()
    path = Path(fm.__file__).parent / "data" / "inferencex_trtllm.csv"
    with path.open() as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    pts = []
    for rid in ("infx_dsr1_fp8_h200_dynamo_dep8x1_8192_1024_c128", "infx_dsr1_fp8_h200_dynamo_dep8x3_8192_1024_c768"):
        r = rows[rid]
        assert r["pd_disaggregated"] == "yes" and r["dp_attention"] == "yes" and r["kv_cache_dtype"] == "fp8"
        ratio = float(r["random_range_ratio"])
        isl = (1 + ratio) / 2 * float(r["input_len_tokens"])
        osl = (1 + ratio) / 2 * float(r["output_len_tokens"])
        tpot, ttft = float(r["tpot_or_itl_ms"]) * 1e-3, float(r["ttft_ms"]) * 1e-3
        per_rank = float(r["concurrency"]) / (8 * int(r["decode_workers"])) * osl * tpot / (osl * tpot + ttft)
        ctx = isl + osl / 2
        pts.append((per_rank, tpot, sum(_dep8_decode_ops(c, per_rank, ctx).values())))
    (b1, m1, s1), (b2, m2, s2) = pts
    assert 12.5 < b1 < 13.5 and 25.5 < b2 < 27.0
    assert 0.93 < s1 / m1 < 1.0 and 0.84 < s2 / m2 < 0.92
    assert 1.7 < (m2 - m1) / (s2 - s1) < 2.5
    # 32 -> 128 per rank at the blog's 2,048-token contexts
    lo32, hi128 = _dep8_decode_ops(c, 32, 2048.0), _dep8_decode_ops(c, 128, 2048.0)
    step32, step128 = sum(lo32.values()), sum(hi128.values())
    assert 0.034 < step32 < 0.036 and 0.045 < step128 < 0.048
    growth = {k: hi128[k] - lo32[k] for k in lo32}
    dg = step128 - step32
    assert 0.10e-3 < dg / 96 < 0.14e-3
    assert 0.45 < growth["attention"] / dg < 0.55 and 0.24 < growth["moe_comm"] / dg < 0.30
    experts_growth = growth["expert_up"] + growth["expert_down"]
    assert experts_growth < 0.001
    meas32_hi = step32 + (m2 - s2) * 32 / b2
    blog_lo, blog_hi = 0.069, 0.081
    slope_ratio_lo, slope_ratio_hi = (blog_lo - meas32_hi) / dg, (blog_hi - step32) / dg
    assert 2.2 < slope_ratio_lo < 2.6 and 3.7 < slope_ratio_hi < 4.1
    missing = blog_lo - meas32_hi - dg
    need = {"attention": growth["attention"], "moe_comm": growth["moe_comm"],
            "permute_act": growth["permute"] + growth["unpermute"] + growth["expert_act"],
            "experts": experts_growth}
    mult = {k: 1 + missing / v for k, v in need.items()}
    assert 3.5 < mult["attention"] < 4.3 and 5.5 < mult["moe_comm"] < 7.0
    assert mult["permute_act"] > 12 and mult["experts"] > 20
    # the kernel TensorRT-LLM runs for the routed experts at >= 32 rows per expert on H100 / H200
    # (DeepGEMM's grouped FP8 kernel, not swapAB) is as flat in the rows as dcsim's: H100, DeepSeek-R1's
    # expert_up / expert_down shapes, 16 groups (hopper_dsr1_step_ops.csv, DeepGEMM PR #192)
    with (Path(fm.__file__).parent / "data" / "hopper_dsr1_step_ops.csv").open() as f:
        ops_rows = {r["id"]: r for r in csv.DictReader(f) if r["use"] == "rows_per_expert_growth"}
    t = {(k, m): float(ops_rows[f"dg_h100_masked_{k}_g16_m{m}"]["time_us"]) for k in ("up", "down") for m in (32, 96)}
    assert t["up", 96] / t["up", 32] < 1.07 and t["down", 96] / t["down", 32] < 1.07
    # dcsim's 32 local experts at 32 rows each (128 per rank; weight-bound) against those m = 32 rows
    # scaled to H200's HBM (same SMs and clocks): within 10 %
    per_layer = (hi128["expert_up"] + hi128["expert_down"]) / c._moe_layers
    pub = (t["up", 32] + t["down", 32]) * 1e-6 * 32 / 16 * 3.35e12 / c.gpu.hbm_Bps
    assert 0.9 < per_layer / pub < 1.1


def test_op_breakdown_sums_to_the_step():
    """``DpAttentionCost.op_breakdown`` splits a step into the layer model's ops, the LM head, attention
    and the MoE's communication; they add up to the step's GPU time (decode and mixed batches, all-to-all
    and all-gather engines) and every part is >= 0."""
    for data in (dsv3(), dsv3(engine="trtllm")):
        c = deployment(data).cost
        for args in ((512.0, 512.0, 512.0 * 900, 512.0 * 900), (4096.0, 64.0, 4096.0 * 2048, 4096.0 + 64 * 900)):
            ops = c.op_breakdown(*args)
            b = c.batch(*args)
            assert sum(ops.values()) == pytest.approx(b.compute_s + b.comm_s, rel=1e-9)
            assert min(ops.values()) >= 0.0 and {"attention", "moe_comm", "lm_head", "expert_up"} <= set(ops)


# -- the memory-profiling pass's all-gathered MoE buffers (TensorRT-LLM, issue 12, dpws) ------------------

def _trtllm_dsv3(n=8, per_rank_tokens=2048, dp_attention=True, engine="trtllm", gpu="H200-SXM-141GB"):
    s = {"engine": engine, "tp": n, "precision": "fp8", "kv_precision": "fp8", "scheduler": "orca",
         "max_batch_size": 64 * n, "max_batch_tokens": per_rank_tokens * n, "chunk_size": per_rank_tokens * n,
         "gpu_memory_utilization": 0.95}
    if dp_attention:
        s.update(dp_attention=True, ep=n)
    return {"run": {"kind": "serve", "name": "dpws"},
            "topology": {"gpu": gpu, "gpus": n, "gpus_per_node": n, "fabric": "none"},
            "model": {"preset": "deepseek-v3"}, "serve": s,
            "workload": {"arrival": "burst", "requests": 16, "input_tokens": 1024, "output_tokens": 64}}


def test_gathered_moe_bytes_closed_form_deepseek_fp8_block_scaled():
    """DeepSeek-V3 / R1 FP8 (1 x 128 block scales) on H200 DEP8 at max_num_tokens 2,048 per rank: the
    CUTLASS runner's workspace per gathered row (CutlassMoeFCRunner::getWorkspaceDeviceBufferSizes),
    k = 8 routed copies of max(bf16 permuted input, bf16 block-scale fc2 output) = 2 x 7,168 B and the
    block-scale fc1 output 2 x 2,048 x 2 B, 24 B of maps / scales, plus the gathered bf16 input (the
    block-scaled checkpoint gathers unquantized), 8 B of top-k ids / scales per copy and the op's bf16
    output: 8 x (14,336 + 8,192 + 24) + 14,336 + 64 + 14,336 = 209,152 B; the other 7 ranks' 2,048
    tokens each: 7 x 2,048 x 209,152 B = 3.00 GB per GPU."""
    dep = deployment(_trtllm_dsv3())
    c = dep.cost
    assert c.moe_all_gather() and c.moe_block_scaled and c.gather_bytes == 2.0
    assert c.gathered_moe_row_bytes() == 8 * (14336 + 8192 + 24) + 14336 + 64 + 14336
    assert c.gathered_moe_bytes(8 * 2048) == pytest.approx(7 * 2048 * 209152)
    s = dep.serve
    own = dep.engine._own_activation_bytes(c, s.max_batch_tokens, s.max_batch_size)
    assert dep.engine.activation_bytes(c, s.max_batch_tokens, s.max_batch_size) == pytest.approx(own + 7 * 2048 * 209152)


def test_gathered_moe_bytes_shrink_the_kv_pool_and_grow_with_dp():
    """The term takes (fraction x bytes) / (bytes per token) tokens off each rank's pool, and at the same
    per-rank max_num_tokens it grows as dp - 1 (B200 DEP4 -> DEP8: 3 -> 7 other ranks' tokens)."""
    from dataclasses import replace
    from workloads.serving import engines
    dep = deployment(_trtllm_dsv3())
    c, s, e = dep.cost, dep.serve, dep.engine
    off = replace(e, dp_gathered_moe=False)
    on_tok = e.kv_capacity_tokens(c, 0.95, s.max_batch_tokens, s.max_batch_size)
    off_tok = off.kv_capacity_tokens(c, 0.95, s.max_batch_tokens, s.max_batch_size)
    lost = 0.95 * c.gathered_moe_bytes(s.max_batch_tokens) / c.kv_token_gpu
    assert off_tok - on_tok == pytest.approx(lost, abs=2)
    assert 0.05 < (off_tok - on_tok) / off_tok < 0.08          # ~6.4 % of the H200 DEP8 pool
    g4 = deployment(_trtllm_dsv3(4, gpu="B200-180GB")).cost.gathered_moe_bytes(4 * 2048)
    g8 = deployment(_trtllm_dsv3(8, gpu="B200-180GB")).cost.gathered_moe_bytes(8 * 2048)
    assert g8 / g4 == pytest.approx(7 / 3) and g4 > 0
    assert engines.profile("sglang").dp_gathered_moe is False   # DeepEP all-to-all engines: no gathered copy


def test_gathered_moe_bytes_absent_without_attention_dp():
    """Without dp_attention (TP8 EP8, one scheduler) nothing is gathered: the activation peak is the
    engine's own workspace model, as before; with one DP rank or on the MNNVL all-to-all path too."""
    dep = deployment(_trtllm_dsv3(dp_attention=False))
    c, s, e = dep.cost, dep.serve, dep.engine
    assert not hasattr(c, "gathered_moe_bytes")
    assert e.activation_bytes(c, s.max_batch_tokens, s.max_batch_size) == \
        e._own_activation_bytes(c, s.max_batch_tokens, s.max_batch_size)
    c8 = deployment(_trtllm_dsv3()).cost
    c8.moe_comm = "all_to_all"
    assert c8.gathered_moe_bytes(8 * 2048) == 0.0


def test_gathered_moe_bytes_closed_form_gpt_oss_triton_hopper():
    """GPT-OSS-120B on H100 DEP4 (TRITON MoE, W4A16_MXFP4: bf16 activations) at max_num_tokens 4,096
    per rank: the peak of TritonMXFP4FusedMoEMethod.apply per gathered row (fused_moe_triton.py;
    triton_kernels matmul_ogs.py init_allocation), h = I = 2,880, E = 128, k = 4: gathered bf16 hidden
    5,760 + bf16 router logits 256 + the input padded to 2,944 columns 5,888 + int32 gather / scatter
    indices 64 + the SwiGLU-fused first GEMM's bf16 output, k x 5,888 / 2 x 2 = 23,552 + the second
    GEMM's k per-pair rows and the combined row at 3,072 bf16 columns, 5 x 6,144 = 30,720:
    66,240 B; the other 3 ranks' 4,096 tokens: 3 x 4,096 x 66,240 B = 0.81 GB per GPU. The CUTLASS
    runner's row is not used on this path."""
    dep = deployment(trtllm_dep("gpt-oss-120b", "H100-SXM-80GB", 4, "bf16", kv_precision="bf16",
                                expert_precision="mxfp4"))
    c = dep.cost
    assert c._mixed_input and c.moe_all_gather()
    row = 5760 + 256 + 5888 + 64 + 23552 + 30720
    assert c.triton_gathered_moe_row_bytes() == row == 66240
    assert c.gathered_moe_bytes(4 * 4096) == pytest.approx(3 * 4096 * row)
    assert c.gathered_moe_row_bytes() != row


def test_hopper_grouped_block_fp8_gemm_overlaps_its_mma_with_the_weight_stream():
    """Issue 12 (hopops): could the DEP rank's routed experts cost their MMA *plus* their weight reads (a
    serial block-scaled kernel) rather than the larger of the two, as dcsim prices every op
    (``Compute.time_of``)? At the DSR1 H200 DEP8 blog rank (45 rows per local expert in 64- or 128-row tiles)
    the sum would add ~0.1-0.3 ms per MoE layer, 6-18 ms per step. The public H20 rows of
    data/hopper_dsr1_step_ops.csv answer it: DeepGEMM's masked grouped GEMM at the rank's exact expert_up
    shape (32 experts x 64 rows, N 4,096, K 7,168: 485 us; DeepGEMM #114) and its swapAB form at 16 x 32
    (154 us; PR #192) take 1.19 / 1.31x the larger of H20's FP8 MMA (296 TFLOP/s) and its weight read
    (4.0 TB/s at peak), i.e. they expose about a third of the smaller term (34 / 36 %), not all of it. On
    the H200 rank the smaller term is the padded tiles' MMA: a third of it is ~2-6 ms per step of the
    23-35 missing. Not the DEP gap."""
    import csv
    from pathlib import Path
    from sim.hardware import gpu
    from workloads.serving import fused_moe as fm
    h20 = gpu("H20-96GB")
    fp8 = 296e12                                    # hardware.toml [gpu."H20-96GB"] dense_tflops fp8
    with (Path(fm.__file__).parent / "data" / "hopper_dsr1_step_ops.csv").open() as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    for rid, m_mma in (("dg_h20_masked_up_g32_m64", 64), ("dg_h20_masked_up_g16_m32_swapab", 32)):
        r = rows[rid]
        g, n, k, us = int(r["groups"]), float(r["n"]), float(r["k"]), float(r["time_us"])
        assert r["gpu"] == "H20" and float(r["gpu_hbm_GBps"]) * 1e9 == h20.hbm_Bps
        mma = 2.0 * g * m_mma * n * k / fp8 * 1e6
        weights = g * n * k / h20.hbm_Bps * 1e6     # FP8: one byte per weight
        assert 1.0 <= us / max(mma, weights) <= 1.35, (rid, us, mma, weights)
        exposed = (us - max(mma, weights)) / min(mma, weights)      # 0: full overlap, 1: serial (the sum)
        assert 0.25 < exposed < 0.40, (rid, us, mma, weights)


# -- attention DP without ADP balance (issue 12, adpbal) -----------------------------------------

def _adp_cfg(balance=None, requests=8, per_rank=1, **serve_keys):
    s = {"engine": "trtllm", "tp": 4, "ep": 4, "dp_attention": True, "precision": "fp8", "kv_precision": "fp8",
         "scheduler": "orca", "max_batch_size": 4 * per_rank, "max_batch_tokens": 4 * 600, "chunk_size": 4 * 600}
    if balance is not None:
        s["dp_balance"] = balance
    s.update(serve_keys)
    return {"run": {"kind": "serve", "name": "adp"},
            "topology": {"gpu": "H200-SXM-141GB", "gpus": 4, "gpus_per_node": 4, "fabric": "none"},
            "model": {"preset": "qwen3-235b-a22b"}, "serve": s,
            "workload": {"arrival": "burst", "requests": requests, "input_tokens": 512, "output_tokens": 8}}


def _adp_run(balance, outputs, per_rank=1):
    """Run ``outputs`` (one request each, 512-token prompts, all at t = 0) on a 4-rank
    replica (Qwen3-235B-A22B FP8 on 4 H200); the mixed steps' costs as (per-rank loads or None, seconds) and the deployment."""
    import numpy as np
    from workloads.serving.requests import RequestStream
    cfg = load_config(data=_adp_cfg(balance, len(outputs), per_rank))
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    n = len(outputs)
    stream = RequestStream(np.zeros(n), np.full(n, 512), np.asarray(outputs))
    dep = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), stream)
    cost, steps = dep.cost, []
    plain, ranked = cost.batch, cost.batch_ranks

    def rec_ranks(ranks):
        bc = ranked(ranks)
        steps.append((ranks, bc.time_s))
        return bc
    cost.batch_ranks = rec_ranks
    rep = dep.replicas[0]
    orig_mixed = rep._mixed_iteration

    def mixed(chunks, decodes):
        if rep.dp_ranks == 1:
            n_tok = sum(c for _, c in chunks) + len(decodes)
            steps.append((None, n_tok))
        return (yield from orig_mixed(chunks, decodes))
    rep._mixed_iteration = mixed
    dep.start()
    sim.run(until=dep.done)
    cost.batch, cost.batch_ranks = plain, ranked
    return steps, dep


def test_profile_and_key_choose_per_rank_admission():
    """TensorRT-LLM's default is per-rank admission (engines.toml dp_context_balance = false, its
    attention_dp_config.enable_balance off); serve.dp_balance = true restores the balanced steps;
    vLLM / SGLang keep one scheduler for the ranks; a decode-only or prefill-only replica never
    splits its ranks."""
    from workloads.serving import engines
    assert engines.profile("trtllm").dp_context_balance is False
    assert engines.profile("trtllm-serve").dp_context_balance is False
    assert engines.profile("vllm").dp_context_balance is engines.profile("sglang").dp_context_balance is True
    assert deployment(_adp_cfg()).replicas[0].dp_ranks == 4
    assert deployment(_adp_cfg(True)).replicas[0].dp_ranks == 1
    assert deployment(_adp_cfg(False, engine="sglang", scheduler="sarathi")).replicas[0].dp_ranks == 4
    dis = _adp_cfg(tp=4)
    dis["topology"]["gpus"] = 8
    dis["serve"].update(prefill_replicas=1, decode_replicas=1)
    assert {r.role: r.dp_ranks for r in deployment(dis).replicas} == {"prefill": 1, "decode": 1}


def test_batch_ranks_closed_form():
    """Equal ranks price as ``batch`` of the sums exactly; one rank carrying a prompt: the routed
    experts at the mean rank's rows (the replica's tokens / N) plus the loaded rank's own ops and
    attention, plus the collectives of all T tokens; it costs more than the same tokens split evenly."""
    c = deployment(_adp_cfg()).cost
    ctx = (600.0, 1.0, 512.0 * 513 / 2 + 2048.0, 512.0 + 2048.0)      # 512-token prompt + 88 decodes' worth
    dec = (88.0, 88.0, 88.0 * 2048, 88.0 * 2048)
    assert c.batch_ranks([ctx] * 4).time_s == c.batch(*[4 * x for x in ctx]).time_s
    assert c.batch_ranks([dec] * 4).time_s == c.batch(*[4 * x for x in dec]).time_s
    ranks = [ctx] + [dec] * 3
    T, S = sum(r[0] for r in ranks), sum(r[1] for r in ranks)
    bc = c.batch_ranks(ranks)
    routed, _ = c._split_fixed(T / 4, S / 4)
    own = c._split_fixed(ctx[0], ctx[1])[1] + c._attn_s(*[ctx[0], ctx[2], ctx[3], ctx[1]])
    assert bc.compute_s == pytest.approx(routed + own, rel=1e-12)
    assert bc.comm_s == pytest.approx(c._comm(T, True)[2], rel=1e-12)
    # the split is the whole: routed + own at the mean rank is _fixed_stage_s
    assert sum(c._split_fixed(T / 4, S / 4)) == pytest.approx(c._fixed_stage_s(T / 4, S / 4), rel=1e-12)
    even = c.batch(T, S, sum(r[2] for r in ranks), sum(r[3] for r in ranks))
    assert bc.time_s > even.time_s * 1.05


def test_contexts_admitted_as_ranks_free_run_one_rank_at_a_time():
    """Blog10's baseline in closed form: 4 ranks of one sequence each; the first four requests end
    after 10, 11, 12, 13 tokens, so the next four are admitted on four different steps, each on the
    rank that freed: 1 + 4 mixed steps, the first with every rank prefilling, the others with one
    rank prefilling and three idle. Balanced (serve.dp_balance, today's one scheduler): the same
    steps, priced with 1/N of each on every rank. The runs differ by exactly those four steps' costs,
    and both generate every token."""
    outputs = [10, 11, 12, 13, 5, 5, 5, 5]
    base, dep_b = _adp_run(None, outputs)
    bal, dep_s = _adp_run(True, outputs)
    assert len(base) == len(bal) == 5
    prompt_ranks = [sum(1 for r in ranks if r[0] > r[1]) for ranks, _ in base]
    assert prompt_ranks == [4, 1, 1, 1, 1]
    # tokens conserved: each step's rank loads sum to the replica's step
    assert [sum(r[0] for r in ranks) for ranks, _ in base] == [n for _, n in bal]
    c = dep_s.cost
    extra = 0.0
    for (ranks, t), _ in zip(base[1:], bal[1:]):
        sums = [sum(r[i] for r in ranks) for i in range(4)]
        dec = tuple(sum(r[4][i] for r in ranks) for i in range(3))
        even = c.batch(*sums, decode=dec if dec[0] > 0 else None).time_s
        assert t > even
        extra += t - even
    end_b = max(r.finish for r in dep_b.requests)
    end_s = max(r.finish for r in dep_s.requests)
    assert end_b - end_s == pytest.approx(extra, rel=1e-9)
    for dep in (dep_b, dep_s):
        assert all(r.generated == r.output for r in dep.requests)
        assert dep.replicas[0].rank_active == [0] * dep.replicas[0].dp_ranks


def test_per_rank_batch_and_token_budget():
    """Each rank holds at most max_batch_size / N sequences and prefills within max_batch_tokens / N
    less its own decodes: 8 requests of 512 tokens on 4 ranks of 2 sequences and 600 tokens each run
    as two waves of one prompt per rank per step (two mixed steps of four prompts), never two prompts
    on one rank in a step."""
    steps, dep = _adp_run(None, [4] * 8, per_rank=2)
    for ranks, _ in steps:
        assert all(r[0] <= 600 for r in ranks)
    firsts = [ranks for ranks, _ in steps if all(r[0] > r[1] for r in ranks)]
    assert len(firsts) >= 2


def test_uniform_burst_keeps_the_ranks_in_lockstep():
    """Burst arrivals of uniform requests: the ranks admit, prefill and finish together, so per-rank
    admission changes nothing (the held-out tables' uniform ISL / OSL rows): equal throughput."""
    from sim.app.runner import run
    base = run(load_config(data=_adp_cfg(None, 16, per_rank=2))).summary["output_tokens_per_s"]
    bal = run(load_config(data=_adp_cfg(True, 16, per_rank=2))).summary["output_tokens_per_s"]
    assert base == pytest.approx(bal, rel=1e-9)


BLOG10_BASELINE_TPS = 25664.0      # TensorRT-LLM blog10 "ADP Balance Strategy", Performance Summary: baseline
BLOG10_BALANCE_TPS = 34140.0       # ADP Balance (Full Strategy); Context Wait alone 33,499


def blog10_config(requests=16000, balance=None, sigma_out=1.0, sigma_in=0.5):
    """TensorRT-LLM blog10's experiment as a dcsim run: DeepSeek V3 (the deepseek-v3 preset as NVIDIA's
    NVFP4 DeepSeek-R1 checkpoint: the held-out GB200 rows' FP4) on 8 GB200, attention DP 8 + EP 8,
    trtllm-bench's limits for the mean lengths (serving.case_config: 384 sequences and 2,048 tokens per
    rank), 16,000 requests at once with lognormal lengths of the published means, input 803 (sigma 0.5)
    and output 3,653 (sigma 1.0: median 2,216, 95th percentile ~11,400; the blog shows a pronounced long
    tail, its figure is not digitized; chosen before the run, not fitted), capped at 32,768."""
    import csv
    from pathlib import Path
    from sim.app.validation.serving import case_config
    path = Path(__file__).resolve().parents[3] / "workloads/serving/data/inference_heldout.csv"
    row = next(r for r in csv.DictReader(path.open()) if r["id"] == "trtllm12_DeepSeek_R1_0528_GB200_dep4_1024_1024")
    row = dict(row, tp="8", ep="8", gpu_count="8", input_len_tokens="803", output_len_tokens="3653",
               batch_or_concurrency=f"infinite request rate; {requests} requests")
    d = case_config(row).model_dump()
    d["workload"]["input_tokens"] = {"dist": "lognormal", "mean": 803, "sigma": sigma_in, "min": 1, "max": 32768}
    d["workload"]["output_tokens"] = {"dist": "lognormal", "mean": 3653, "sigma": sigma_out, "min": 1, "max": 32768}
    if balance is not None:
        d["serve"]["dp_balance"] = balance
    return load_config(data=d)


@pytest.mark.slow
def test_blog10_adp_balance_speedup():
    """TensorRT-LLM blog10 (8 GB200, DeepSeek V3, ADP8 + EP8, 16,000 long-tailed requests): balance
    1.33x the baseline's throughput (34,140 / 25,664; Context Wait alone 1.31x). dcsim (issue 12, adpbal):
    baseline 35,311, balanced 37,995 tok/s: 1.076x, a quarter of the published gain; the balanced run
    11 % over the measured 34,140, the baseline 38 % over 25,664: dcsim's one-rank context step
    (61.7 ms against 45.4 ms decode-only at 384 per rank) is too cheap, or too rare (serving_heldout.ADP_BALANCE_GAP;
    output sigma 0.5 / 1.5 give 1.096x / 1.060x, 1,024 sequences per rank 1.051x: no choice of the unpublished
    spread or limits reaches 1.3x).
    Issue 12 (scout17): a step with a prompt on any rank runs eagerly, its 1,800 kernels dispatched from each
    rank's executor thread at Grace's dispatch_speed (66.7 ms, + 384 x 29.4 us: 78 ms against a 53 ms GPU step;
    engines.toml [trtllm] launch_us / eager_serial): baseline 35,311 -> 32,840, balanced 37,995 -> 33,167 tok/s,
    1.076x -> 1.010x; both nearer the measurement (1.38x -> 1.28x and 1.11x -> 0.97x of it), the ratio further
    from it: with prompts arriving in nearly every step both runs are eager in nearly every step, and dcsim's
    balance (every rank prefills in the same steps) does not hold prompts back over iterations as the blog's
    batching_wait_iters / timeout_iters do, so it saves few eager steps.
    Pinned (a gap, not a fit: fails when the model moves it)."""
    from sim.app.runner import run
    base = float(run(blog10_config(balance=False)).summary["output_tokens_per_s"])
    bal = float(run(blog10_config(balance=True)).summary["output_tokens_per_s"])
    assert 1.0 < bal / base < 1.05                      # published 1.31-1.33
    assert 1.2 < base / BLOG10_BASELINE_TPS < 1.35
    assert 0.92 < bal / BLOG10_BALANCE_TPS < 1.05


def test_dep_step_slope_on_the_heldout_dep_rows():
    """dcsim's decode step from 32 sequences per rank to the pool's batch on the held-out Hopper DEP rows'
    own configs (serving.case_config: trtllm-bench's limits, graphs padded; 1,500-token contexts; issue 12,
    hopdep17, serving_heldout.DEP_BATCH_SLOPE): Qwen3-235B H200 DEP4 26.5 -> 60.1 ms at 343 per rank,
    GPT-OSS-120B H100 DEP4 12.5 -> 44.3 at 395, Llama 4 Maverick H200 DEP8 20.1 -> 40.4 at 321, DeepSeek-R1
    H200 DEP8 34.5 -> 90.4 at 384: 0.07-0.16 ms per added sequence, where the rows' measured time per output
    token at those batches (prefill included) is 104 / 84 / 77 / 236 ms. The tabulation the gap text quotes,
    pinned: fails when the model moves it."""
    from sim.app.validation import serving_heldout as held
    from sim.app.validation.serving import case_config
    rows = {r["id"]: r for r in held.heldout_cases()}
    want = {"trtllm12_Qwen3_235B_A22B_H200_dep4_1000_1000": (4, 343, 0.0265, 0.0601),
            "trtllm12_GPT_OSS_120B_H100_dep4_1000_1000": (4, 395, 0.0125, 0.0443),
            "trtllm12_Llama_4_Maverick_H200_dep8_1000_1000": (8, 321, 0.0201, 0.0404),
            "trtllm12_DeepSeek_R1_0528_H200_dep8_1000_1000": (8, 384, 0.0345, 0.0904)}
    for rid, (n, pool, at32, at_pool) in want.items():
        c = deployment(case_config(rows[rid], max_requests=16, where="inference_heldout").model_dump()).cost
        step = {}
        for b in (32, pool):
            t = float(n * b)
            step[b] = sum(c.op_breakdown(t, t, t * 1500, t * 1500).values())
        assert step[32] == pytest.approx(at32, rel=0.03), rid
        assert step[pool] == pytest.approx(at_pool, rel=0.03), rid
        slope = (step[pool] - step[32]) / (pool - 32)
        assert 0.06e-3 < slope < 0.17e-3, rid


def _sglang_dp_rows():
    import csv
    from pathlib import Path
    from workloads.serving import fused_moe as fm
    with (Path(fm.__file__).parent / "data" / "sglang_dp_decode_steps.csv").open() as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def _sglang_h20_cost(ep: int, kv: str = "fp8"):
    """SGLang's DeepSeek-R1 decode instance of the H20 rows (sglang_dp_decode_steps.csv): DP attention and
    EP over ``ep`` H20s (8 per server, DeepEP), FP8 weights and KV, EPLB (redundant experts: the balanced
    step; the source reports > 70 % balance), graphs out of the way."""
    data = {"run": {"kind": "serve", "name": "h20"},
            "topology": {"gpu": "H20-96GB", "gpus": ep, "gpus_per_node": 8},
            "model": {"preset": "deepseek-v3"},
            "serve": {"engine": "sglang", "tp": ep, "dp_attention": True, "precision": "fp8", "kv_precision": kv,
                      "redundant_experts": 32, "scheduler": "sarathi", "max_batch_size": 512 * ep,
                      "max_batch_tokens": 16384, "chunk_size": 16384},
            "workload": {"arrival": "burst", "requests": 32, "input_tokens": 512, "output_tokens": 16}}
    c = deployment(data).cost
    c.set_graph_batch_sizes([])
    return c


def _mtp_step(c, per_rank: float, context: float) -> float:
    """One decode iteration of SGLang's NEXTN 1/1/2 (one draft token): the target verifies 2 tokens per
    sequence (MLA over 2 query tokens, DeepEP low-latency mode as in decode), then the one-layer NextN
    drafter runs over them with the shared LM head over each sequence (priced as one layer of the
    target's stack plus the head). dcsim does not run speculative decoding with dp_attention; this prices
    the step the logs time."""
    B = c.dp * per_rank
    ops = c.op_breakdown(2 * B, B, 2 * B * context, B * context)
    ops["moe_comm"] = c._comm(2 * B, False)[2]
    verify = sum(ops.values())
    head = ops.get("lm_head", 0.0)
    return verify + (verify - head) / c.spec.layers + head / 2


def test_sglang_hopper_dp_decode_steps_against_batch():
    """A second engine's Hopper DP-attention decode steps against the per-rank batch (issue 12, sglogs18;
    workloads/serving/data/sglang_dp_decode_steps.csv). SGLang 0.5.2 serving DeepSeek-R1 on H20 (Hopper
    SM90, 4.0 TB/s, 148 / 296 TFLOPS bf16 / FP8) with DP attention, DeepEP EP16 / EP32, MTP (one draft
    token): Ant Group's LMSYS blog gives per-GPU decode tokens/s at per-rank batches 1 / 8 / 32 (the median
    of 100 'Decode batch' log samples at each), and SGLang PR #11854 four ranks' log lines at 32; step =
    batch x accept length / tokens/s. dcsim's step (``_mtp_step``: FP8 KV, EPLB-balanced experts):
    EP16 36 / 50 / 95 ms at 1 / 8 / 32 per rank against 43 / 53 / 88 measured (0.84 / 0.94 / 1.08x),
    the four logged ranks (contexts 4,936-5,274) 1.03-1.10x; EP32 41 / 99 against 51 / 101 (0.81 / 0.97x).
    The step's growth with the rank's batch is dcsim's or less: from 8 to 32 per rank it grows 34.5 ms
    (EP16) and 50.7 (EP32) where dcsim's grows 44.8 and 57.4 (measured / dcsim 0.77 / 0.88; 1 -> 8: 0.74),
    where TensorRT-LLM's H200 DEP8 step grows 2.1-4x dcsim's (test_dsr1_h200_dep8_step_slope_with_per_rank_
    batch): no Hopper DP-attention step of SGLang's grows faster than dcsim's. With the BF16 KV / MLA rate
    the EP16 32-per-rank step reads 119 ms (1.35x). LMSYS's H100 EP72 decode (256 per rank, 2,000 tokens,
    22,282 tok/s per node = 91.9 ms a step, two-batch overlap) is 1.04x. The H20 48-per-rank log line is
    not used: its #token counts pre-allocated KV of queued requests, so its context is unknown. Kimi K2 on
    96 H200 decode GPUs at 480 per rank (LMSYS, a `reference` row: 120 or 160 ms by how its cluster
    throughput is read) brackets dcsim: 159 ms with DeepEP exposed, 60 ms without the all-to-alls.
    A measurement within stated error (each step 0.75-1.15x; growth ratios as pinned)."""
    rows = _sglang_dp_rows()
    for r in rows.values():
        assert r["source_url"].startswith("https://github.com/") and r["quote"]
        b, acc, thr = float(r["per_rank_batch"]), float(r["accept_len"]), float(r["measured"])
        if r["measured_unit"].startswith("output tok/s per node"):
            assert float(r["step_ms"]) == pytest.approx(8 * b / thr * 1e3, abs=0.06)
        elif r["measured_unit"].startswith("decode tok/s of the"):
            assert float(r["step_ms"]) == pytest.approx(b * int(r["gpus"]) / thr * 1e3, abs=0.06)
        else:
            assert float(r["step_ms"]) == pytest.approx(b * acc / thr * 1e3, abs=0.06)
    used = [r for r in rows.values() if r["use"] == "test"]
    assert len(used) == 10
    costs = {16: _sglang_h20_cost(16), 32: _sglang_h20_cost(32)}
    sim, meas = {}, {}
    for r in used:
        if r["gpu"] != "H20-96GB":
            continue
        ep, b, ctx = int(r["ep"]), float(r["per_rank_batch"]), float(r["mean_context"])
        sim[r["id"]] = _mtp_step(costs[ep], b, ctx)
        meas[r["id"]] = float(r["step_ms"]) * 1e-3
    ratio = {k: sim[k] / meas[k] for k in sim}
    assert all(0.75 < v < 1.15 for v in ratio.values()), ratio
    assert 0.80 < ratio["sgl_h20_dsr1_ep16_b1"] < 0.90 and 0.89 < ratio["sgl_h20_dsr1_ep16_b8"] < 0.99
    assert 1.03 < ratio["sgl_h20_dsr1_ep16_b32"] < 1.13 and 0.92 < ratio["sgl_h20_dsr1_ep32_b32"] < 1.02
    logs = [v for k, v in ratio.items() if "_log_" in k]
    assert len(logs) == 4 and all(1.0 < v < 1.13 for v in logs)
    # growth with the per-rank batch: measured / dcsim
    g16 = (meas["sgl_h20_dsr1_ep16_b32"] - meas["sgl_h20_dsr1_ep16_b8"]) / (sim["sgl_h20_dsr1_ep16_b32"] - sim["sgl_h20_dsr1_ep16_b8"])
    g32 = (meas["sgl_h20_dsr1_ep32_b32"] - meas["sgl_h20_dsr1_ep32_b8"]) / (sim["sgl_h20_dsr1_ep32_b32"] - sim["sgl_h20_dsr1_ep32_b8"])
    g1 = (meas["sgl_h20_dsr1_ep16_b8"] - meas["sgl_h20_dsr1_ep16_b1"]) / (sim["sgl_h20_dsr1_ep16_b8"] - sim["sgl_h20_dsr1_ep16_b1"])
    assert 0.70 < g16 < 0.85 and 0.80 < g32 < 0.95 and 0.65 < g1 < 0.85
    # (TensorRT-LLM's H200 DEP8 step grows 2.1-4x dcsim's: serving_heldout.DEP_BATCH_SLOPE)
    # with a BF16 KV cache (dcsim's BF16 MLA) the EP16 32-per-rank step reads 1.35x the measured
    bf16 = _sglang_h20_cost(16, "bf16")
    assert 1.28 < _mtp_step(bf16, 32, 4864.0) / meas["sgl_h20_dsr1_ep16_b32"] < 1.42
    # LMSYS H100 EP72 at 256 per rank (the serving validation's case, as a step)
    r = rows["lmsys_h100_dsv3_ep72_b256"]
    from sim.app.validation.serving import PUBLISHED_DIR
    dep = deployment(load_config(PUBLISHED_DIR / "lmsys_dsv3_ep72_decode.toml").model_dump())
    seqs = 256.0 * dep.gpus_used
    step = dep.cost.batch(seqs, seqs, seqs * 2000, seqs * 2000).time_s
    assert 1.0 < step / (float(r["step_ms"]) * 1e-3) < 1.08
    # Kimi K2 on 96 H200 decode GPUs (EP96, 480 per rank, two-batch overlap; `reference`: 120 or 160 ms by how
    # the blog's cluster throughput is read). dcsim prices DeepEP exposed (two-batch overlap is not modelled):
    # 159 ms, 98 of it the all-to-alls; the rest (60 ms) is under both readings. TensorRT-LLM H200 DEP8's excess
    # (2.9-6.2 us per rank token and MoE layer, DEP_BATCH_SLOPE) would add >= 84 ms at 480 per rank over 60 MoE
    # layers: over the 120 ms reading even if the all-to-alls were hidden, not over the 160 ms one.
    r = rows["lmsys_h200_kimik2_ep96_b480"]
    assert r["use"] == "reference" and float(r["step_ms"]) == pytest.approx(480 / (384000.0 / 96) * 1e3)
    k2 = {"name": "kimi-k2", "layers": 61, "hidden": 7168, "ffn_hidden": 18432, "heads": 64, "kv_heads": 64,
          "head_dim": 128, "vocab": 163840, "experts": 384, "top_k": 8, "expert_ffn_hidden": 2048,
          "shared_experts": 1, "dense_layers": 1, "mla": True, "q_lora_rank": 1536, "kv_lora_rank": 512,
          "rope_head_dim": 64, "v_head_dim": 128, "checkpoint_fp8_scaling": "block", "gated_mlp": True}
    data = {"run": {"kind": "serve", "name": "k2"}, "topology": {"gpu": "H200-SXM-141GB", "gpus": 96, "gpus_per_node": 8},
            "model": k2, "serve": {"engine": "sglang", "tp": 96, "dp_attention": True, "precision": "fp8",
                                   "kv_precision": "bf16", "redundant_experts": 96, "scheduler": "sarathi",
                                   "max_batch_size": 480 * 96, "max_batch_tokens": 480 * 96, "chunk_size": 480 * 96},
            "workload": {"arrival": "burst", "requests": 32, "input_tokens": 512, "output_tokens": 16}}
    c = deployment(data).cost
    c.set_graph_batch_sizes([])
    B = 96 * 480.0
    ops = c.op_breakdown(B, B, B * 2050, B * 2050)
    exposed, comm = sum(ops.values()), ops["moe_comm"]
    assert 0.150 < exposed < 0.166 and 0.58 < comm / exposed < 0.66
    assert exposed - comm + 480 * 60 * 2.9e-6 > 0.120 > exposed - comm
    assert exposed < 0.160 * 1.05
