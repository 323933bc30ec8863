"""Engine profiles: KV pool sizes against the sizes vLLM and SGLang log, the GiB fix, the
kv_capacity_tokens override, per-chunk KV allocation, host time and speculative decoding."""

import pytest

from sim.config import load_config
from sim.errors import ConfigError
from sim.hardware import GiB, gpu
from workloads.model import ModelSpec
from workloads.serving import engines
from workloads.serving.cost import IterationCost

from .serving_helpers import serve

QWEN3_235B = {"name": "qwen3-235b", "layers": 94, "hidden": 4096, "ffn_hidden": 12288, "heads": 64,
              "kv_heads": 4, "head_dim": 128, "vocab": 151936, "experts": 128, "top_k": 8,
              "expert_ffn_hidden": 1536}
QWEN3_32B = {"name": "qwen3-32b", "layers": 64, "hidden": 5120, "ffn_hidden": 25600, "heads": 64,
             "kv_heads": 8, "head_dim": 128, "vocab": 151936}


def cost(model, gpu_name="H100-SXM-80GB", precision="bf16", kv="bf16", tp=1):
    spec = ModelSpec.from_section(load_config(data={"model": model}).model)
    return IterationCost(spec, gpu(gpu_name), precision, kv, tp)


def test_hbm_capacity_is_binary_and_runtime_visible():
    # an "80 GB" H100 is 80 GiB; the CUDA runtime reports 79.11 GiB of it (vLLM logs)
    assert gpu("H100-SXM-80GB").hbm_bytes == pytest.approx(79.11 * GiB)
    assert gpu("H100-SXM-80GB").hbm_bytes > 80e9
    assert gpu("H200-SXM-141GB").hbm_bytes == pytest.approx(139.81 * GiB)
    # Blackwell CUDA totals from public logs (hardware.toml: pytorch/ao#4002, Megatron-Bridge#2221)
    assert gpu("B200-180GB").hbm_bytes == pytest.approx(178.35 * GiB)
    assert gpu("GB300").hbm_bytes == pytest.approx(276.50 * GiB)
    # without a logged total: marketed GiB x the H100 ratio
    assert gpu("B300-288GB").hbm_bytes == pytest.approx(288 * GiB * 0.989)


def test_vllm_kv_pool_matches_logged_size():
    # vLLM V1 0.8.x on H100, Llama-3.1-8B bf16, utilization 0.9, max_num_batched_tokens 8192 and
    # 0.8's default max_num_seqs 256: "GPU KV cache size: 447,088 tokens". Held out since issue 12
    # (the reserve is fitted to v0.11.0 logs, kv_logs.csv): the sampler term at 256 rows gives it
    c = cost({"preset": "llama3-8b"})
    assert engines.profile("vllm").kv_capacity_tokens(c, 0.9, 8192, 256) == pytest.approx(447088, rel=0.01)


def test_vllm_v0_kv_pool_held_out():
    # vLLM 0.6.5 (V0) on H100, Meta-Llama-3-8B bf16 at 0.9: "available_kv_cache_memory 53.29GiB"
    # (vllm-project/vllm#10511); V0 kept more outside PyTorch (1.79 GiB), so V1's profile
    # over-counts that run's pool by ~2.5 %; not used in any fit
    c = cost({"preset": "llama3-8b"})
    assert engines.profile("vllm").kv_pool_bytes(c, 0.9, 8192, 256) == pytest.approx(53.29 * GiB, rel=0.05)


def test_sglang_kv_pool_matches_logged_size_held_out():
    # SGLang, Qwen3-235B-A22B-FP8 on 4 x H100, --mem-fraction-static 0.93:
    # "KV Cache is allocated. #tokens: 367404" (vllm-project/vllm#21348); not used in any fit
    c = cost(QWEN3_235B, precision="fp8", tp=4)
    assert engines.profile("sglang").kv_capacity_tokens(c, 0.93, 8192, 256) == pytest.approx(367404, rel=0.15)


def test_qwen3_32b_kv_pool_on_one_h100_matches_v0_11_log():
    # issue 12 item 1: vLLM v0.11.0, Qwen3-32B bf16 on one H100 at 0.9 logs "Available KV cache
    # memory: 4.45 GiB" (18,227 tokens) and cannot start with max-model-len 32000 (llm-d/llm-d-benchmark
    # config_explorer/empirical-vllm-memory-results.md; held out of the fit). dcsim gave 32,485
    # tokens (7.93 GiB) before: it left out the sampler's peak over 1,024 rows of logits.
    c = cost(QWEN3_32B)
    tokens = engines.profile("vllm").kv_capacity_tokens(c, 0.9, 8192, 1024)
    assert tokens == pytest.approx(18227, rel=0.05)
    assert tokens < 32100


def test_vllm_profile_peak_is_the_sampler_over_the_vocabulary_on_every_rank():
    # v0.11.0 logs "torch peak memory increase" 5.64 GiB for Qwen3-32B at TP1 and at TP2, 5.56 for
    # Qwen3-0.6B (same vocabulary), 4.76 for Llama-3.1-8B (vocab 128,256): the dummy sampler's
    # logits over max_num_seqs rows set the peak, and every TP rank holds the whole vocabulary
    v = engines.profile("vllm")
    act = {tp: v.activation_bytes(cost(QWEN3_32B, tp=tp), 8192, 1024) / GiB for tp in (1, 2)}
    assert act[1] == pytest.approx(act[2]) == pytest.approx(5.64, rel=0.05)
    assert v.activation_bytes(cost({"preset": "llama3-8b"}), 8192, 1024) / GiB == pytest.approx(4.76, rel=0.02)
    # fewer sequences, a smaller sampler peak
    assert v.activation_bytes(cost(QWEN3_32B), 8192, 256) < 0.4 * act[1] * GiB


def test_engine_memory_models_differ_as_documented():
    c = cost({"preset": "llama3-8b"})
    w, total = c.weight_bytes_per_gpu(), c.gpu.hbm_bytes
    sg = engines.profile("sglang").kv_pool_bytes(c, 0.9, 8192, 256)
    assert sg == pytest.approx(0.9 * (total - 0.61 * GiB) - w)      # the fraction excludes the CUDA context
    trt = engines.profile("trtllm")
    reserve = trt.non_torch_bytes(1) + trt.activation_bytes(c, 8192, 256) + trt.rope_table_bytes(c)
    assert trt.kv_pool_bytes(c, 0.9, 8192, 256) == pytest.approx(0.9 * (total - w - reserve))


def test_unknown_engine_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        load_config(data={"serve": {"engine": "tgi"}})
    assert "serve.engine" in str(e.value) or "engine" in str(e.value)
    with pytest.raises(ConfigError):
        engines.profile("tgi")


def test_kv_capacity_override():
    res = serve(serve={"kv_capacity_tokens": 20000}, workload={"requests": 20})
    assert res.summary["kv_capacity_tokens"] == 20000 // 16 * 16
    with pytest.raises(ConfigError):
        load_config(data={"serve": {"kv_capacity_tokens": 0}})


def test_explicit_engine_brings_its_defaults_for_unset_keys():
    res = serve(serve={"engine": "vllm", "scheduler": None, "max_batch_size": None, "max_batch_tokens": None},
                workload={"requests": 10})
    assert res.manifest is not None
    s = engines.apply_defaults(load_config(data={"serve": {"engine": "vllm"}}).serve, gpu("H100-SXM-80GB").hbm_bytes)
    assert (s.scheduler, s.max_batch_tokens, s.chunk_size, s.max_batch_size) == ("sarathi", 8192, 8192, 1024)
    s = engines.apply_defaults(load_config(data={"serve": {"engine": "vllm", "chunk_size": 512}}).serve,
                               gpu("A100-SXM-40GB").hbm_bytes)
    assert (s.max_batch_tokens, s.chunk_size, s.max_batch_size) == (2048, 512, 256)
    # no engine named: vLLM is the engine (CONTRACT round 2), with its V1 scheduler and limits
    plain = engines.apply_defaults(load_config(data={"serve": {}}).serve, gpu("H100-SXM-80GB").hbm_bytes)
    assert (plain.engine, plain.scheduler, plain.max_batch_tokens, plain.chunk_size) == (None, "sarathi", 8192, 8192)
    # the chunk is the token budget, the user's when set
    s = engines.apply_defaults(load_config(data={"serve": {"max_batch_tokens": 4096}}).serve, gpu("H100-SXM-80GB").hbm_bytes)
    assert (s.max_batch_tokens, s.chunk_size) == (4096, 4096)
    # a scheduler set explicitly is kept (prefill-first "vllm" is vLLM V0's scheduler)
    v0 = load_config(data={"serve": {"scheduler": "vllm", "max_batch_size": 64}}).serve
    s = engines.apply_defaults(v0, gpu("H100-SXM-80GB").hbm_bytes)
    assert (s.scheduler, s.max_batch_size) == ("vllm", 64)


def test_chunk_allocation_preempts_newest_under_pressure_and_completes():
    # vLLM V1: KV per scheduled chunk, greedy admission; a pool far smaller than the offered
    # load forces preemption with recompute, yet every request completes with its tokens
    res = serve(serve={"engine": "vllm", "scheduler": "sarathi", "chunk_size": 512, "kv_capacity_tokens": 4096,
                       "max_batch_size": 64},
                workload={"arrival": "burst", "requests": 40, "input_tokens": 900, "output_tokens": 200})
    r = res.tables["requests"].to_pydict()
    assert res.summary["preemptions"] > 0
    assert r["generated_tokens"] == r["output_tokens"]
    assert res.summary["kv_peak_utilization"] <= 1.0


def test_chunk_allocation_admits_more_than_whole_prompt_reservation():
    # with per-chunk allocation the first chunk (256 tokens) is enough to admit a prompt: all 12
    # fit a 6,000-token pool at once; reserving whole 2,000-token prompts (SGLang-like) admits 2
    over = dict(serve={"engine": "vllm", "scheduler": "sarathi", "chunk_size": 256, "kv_capacity_tokens": 6000,
                       "max_batch_size": 64},
                workload={"arrival": "burst", "requests": 12, "input_tokens": 2000, "output_tokens": 4})
    first = lambda res: sum(t == min(res.tables["requests"]["scheduled_s"].to_pylist())  # noqa: E731
                            for t in res.tables["requests"]["scheduled_s"].to_pylist())
    assert first(serve(**over)) == 12
    over["serve"] = dict(over["serve"], engine="sglang")
    assert first(serve(**over)) == 2


MOONCAKE = {"arrival": "trace", "trace": "mooncake_fast25_conversation_trace.jsonl", "requests": 300,
            "time_scale": 1.0, "input_tokens": None, "output_tokens": None}


def test_default_engine_is_vllm_v1_and_long_prompts_do_not_thrash():
    # CONTRACT round 2: without serve.engine the vLLM profile (V1 per-chunk KV) runs. Repro: an
    # 87k-token Mooncake prompt used to shrink its chunk into the last free blocks, then lose all
    # its KV to the next decode's preemption, again and again (5,797 preemptions, 548 s for 300
    # requests). Now a chunk that does not fit preempts its own request, whose computed blocks
    # stay cached (V1 prefix caching) until it is re-admitted.
    s = serve(serve={"replicas": 1, "max_batch_size": 32, "gpu_memory_utilization": 0.3, "scheduler": "sarathi",
                     "chunk_size": 4096}, workload=MOONCAKE).summary
    assert engines.profile(None).kv_alloc == "chunk"
    assert 0 < s["preemptions"] < 4 * s["requests"]
    assert s["duration_s"] < 250.0


def test_preempted_request_reuses_its_cached_blocks(monkeypatch):
    # cache_preempted: re-admission hits the victim's own blocks, so less prefill is recomputed
    over = dict(serve={"scheduler": "sarathi", "chunk_size": 512, "kv_capacity_tokens": 4096, "max_batch_size": 64},
                workload={"arrival": "burst", "requests": 40, "input_tokens": 900, "output_tokens": 200})
    cached = serve(**over).summary
    from workloads.serving.replica import Replica
    monkeypatch.setattr(Replica, "_retain", lambda self, victim, tokens: None)
    dropped = serve(**over).summary
    assert cached["preemptions"] > 0 and dropped["preemptions"] > 0
    assert cached["duration_s"] < dropped["duration_s"]


def test_prefill_first_scheduler_keeps_v0_whole_prompt_rules():
    from workloads.serving.replica import Replica
    prof = engines.profile("vllm")
    assert (prof.prefill_first_kv_alloc, prof.prefill_first_watermark) == ("prompt", 0.01)
    seen = {}
    orig = Replica.__init__

    def spy(self, *a, **k):
        orig(self, *a, **k)
        seen[self.dep.serve.scheduler] = self.kv_alloc
    import workloads.serving.replica as rep
    try:
        rep.Replica.__init__ = spy
        serve(serve={"scheduler": "vllm"}, workload={"requests": 5})
        serve(serve={"scheduler": "sarathi"}, workload={"requests": 5})
    finally:
        rep.Replica.__init__ = orig
    assert seen == {"vllm": "prompt", "sarathi": "chunk"}


def test_eager_steps_are_bounded_by_kernel_launches():
    c = cost({"preset": "llama3-8b"}, precision="fp8", kv="fp8")
    c.eager_step_s, c.graph_max_batch = 0.05, 512
    # a decode batch inside the CUDA graph is not slowed; a prefill chunk cannot beat the launches
    dec = c.times([8.0], [8.0], [8000.0], [8000.0])[0]
    assert dec < 0.05
    pre = c.times([16.0], [1.0], [128.0], [16.0])[0]
    assert pre == pytest.approx(0.05 + c.overhead_s + c.host_per_seq_s)


def test_speculative_decoding_divides_step_by_accepted_tokens():
    c = cost({"preset": "llama3-8b"}, precision="fp8", kv="fp8")
    base = c.times([4.0], [4.0], [4000.0], [4000.0])[0]
    c.set_speculative(4, 0.0, verify_tokens=5, draft_layers=0.0)
    # nothing accepted, free draft: one token per (larger) verify step -> slower than plain decode
    none = c.times([4.0], [4.0], [4000.0], [4000.0])[0]
    assert none > base
    c.set_speculative(4, 1.0, verify_tokens=5, draft_layers=0.0)
    assert c.times([4.0], [4.0], [4000.0], [4000.0])[0] == pytest.approx(none / 5.0)
    c.set_speculative(3, [0.9, 0.6, 0.3])
    assert c.spec_gain == pytest.approx(2.8)


def test_speculative_config_checks():
    for bad in ({"tokens": 4, "acceptance": 1.5}, {"tokens": 2, "acceptance": [0.5]}, {"tokens": 0, "acceptance": 0.5}):
        with pytest.raises(ConfigError):
            load_config(data={"serve": {"speculative": bad}})
    fast = serve(serve={"speculative": {"method": "eagle", "tokens": 3, "acceptance": 0.8}},
                 workload={"arrival": "closed", "concurrency": 4, "requests": 12, "output_tokens": 64})
    slow = serve(workload={"arrival": "closed", "concurrency": 4, "requests": 12, "output_tokens": 64})
    assert fast.summary["tpot_mean_s"] < slow.summary["tpot_mean_s"]


def test_expert_precision_halves_expert_weight_reads_and_memory():
    from sim.errors import ConfigError as CE
    c8 = cost({"preset": "deepseek-v3"}, "H200-SXM-141GB", precision="fp8", tp=8)
    c4 = cost({"preset": "deepseek-v3"}, "H200-SXM-141GB", precision="fp8", tp=8)
    c4.set_expert_precision("fp4")
    s = c8.spec
    moe_layers = round(c8.moe_fraction * s.layers)
    expert_bytes = s.experts * c8.expert_params * moe_layers / 8
    assert c8.weight_bytes_per_gpu() - c4.weight_bytes_per_gpu() == pytest.approx(0.5 * expert_bytes)
    # decode at 64 sequences is bound by expert weight reads: FP4 experts make it faster
    assert c4.batch(64, 64, 64e3, 64e3).time_s < 0.8 * c8.batch(64, 64, 64e3, 64e3).time_s
    with pytest.raises(CE):
        cost({"preset": "llama3-8b"}).set_expert_precision("fp4")


def test_eager_kernels_follow_the_layer_model():
    # a DeepSeek MoE/MLA layer in FP8 with TP launches far more kernels than a dense bf16 layer:
    # its ops, a quantization kernel per FP8 GEMM and two all-reduces per layer
    ds = cost({"preset": "deepseek-v3"}, precision="fp8", kv="bf16", tp=8)
    qw = cost({"preset": "llama3-8b"})
    n_ds, n_qw = engines.eager_ops(ds, -1), engines.eager_ops(qw, -1)
    assert n_qw == pytest.approx(qw.stage_layers * 10)          # 9 ops + attention per dense layer
    assert n_ds / ds.stage_layers > 3 * n_qw / qw.stage_layers
    assert engines.eager_ops(qw, 2) == 2 * qw.stage_layers


def test_sglang_eager_prefill_floor_gives_qwen3_8b_ttft():
    # held out of the SGLang launch_us fit (DeepSeek-V3, sglang#12160): Qwen3-8B bf16 on one H100,
    # SGLang v0.5.3, ShareGPT at concurrency 4, TTFT 27.7 ms (gpustack performance-lab qwen3-8b/h100-latency.md)
    from sim.app.runner import run
    from sim.app.validation.serving import PUBLISHED_DIR
    cfg = load_config(PUBLISHED_DIR / "gs_qwen3_8b_h100_c4.toml",
                      overrides=["serve.engine=sglang"])
    ttft = float(run(cfg).summary["ttft_mean_s"])
    assert ttft == pytest.approx(0.0277, rel=0.25)
    # without the eager floor the prefill would take ~8 ms of GPU time and TTFT ~20 ms
    assert ttft > 0.025


def _closed_c1(model, gpus, tp, precision, endpoint, input_tokens=128, engine="vllm", gpu_name="H100-SXM-80GB"):
    """A closed loop of one request at a time (8 requests, 128 output tokens): its run summary."""
    from sim.app.runner import run
    cfg = load_config(data={
        "run": {"kind": "serve", "name": "endpoint"},
        "topology": {"gpu": gpu_name, "gpus": gpus, "gpus_per_node": gpus, "fabric": "none"},
        "model": model,
        "serve": {"engine": engine, "tp": tp, "precision": precision, "kv_precision": precision,
                  "gpu_memory_utilization": 0.95, "endpoint": endpoint},
        "workload": {"arrival": "closed", "concurrency": 1, "requests": 8, "input_tokens": input_tokens,
                     "output_tokens": 128}})
    return run(cfg).summary


def test_completions_endpoint_skips_the_chat_path():
    vllm = engines.profile("vllm")
    # vllm-project/vllm#54628: client TTFT openai-chat minus openai (completions) +15.5 / +15.0 ms
    assert vllm.chat_request_us == 15250.0
    # the chat total stays the gpustack chat-endpoint fit (38,600 us): the shipped chat cases do not move
    assert vllm.request_us + vllm.chat_request_us == 38600.0
    assert vllm.frontend_s(100, "chat") - vllm.frontend_s(100, "completions") == pytest.approx(0.01525, abs=1e-12)
    assert vllm.frontend_s(100) == vllm.frontend_s(100, "chat")
    # a host time: on Grace (host_speed 0.85) the chat path costs 1 / 0.85 as much
    grace = vllm.on_host(0.85)
    assert grace.frontend_s(0, "chat") - grace.frontend_s(0, "completions") == pytest.approx(0.01525 / 0.85)
    # engines without data for both endpoints cost the same on both
    for name in ("sglang", "trtllm-serve"):
        p = engines.profile(name)
        assert p.frontend_s(100, "chat") == p.frontend_s(100, "completions")
    with pytest.raises(ValueError):
        vllm.frontend_s(100, "responses")


def test_completions_ttft_is_the_chat_ttft_less_the_chat_path_at_concurrency_1():
    # one request at a time: nothing queues, so TTFT = host time + the prompt's prefill step, and the two
    # endpoints differ by exactly chat_request_us (closed form)
    chat = _closed_c1({"preset": "llama3-8b"}, 1, 1, "bf16", "chat")
    comp = _closed_c1({"preset": "llama3-8b"}, 1, 1, "bf16", "completions")
    diff = engines.profile("vllm").chat_request_us * 1e-6
    assert float(chat["ttft_mean_s"]) - float(comp["ttft_mean_s"]) == pytest.approx(diff, abs=1e-9)
    assert float(chat["tpot_mean_s"]) == pytest.approx(float(comp["tpot_mean_s"]), rel=1e-12)


QWEN25_72B = {"name": "qwen2.5-72b", "layers": 80, "hidden": 8192, "ffn_hidden": 29568, "heads": 64,
              "kv_heads": 8, "head_dim": 128, "vocab": 152064}


def test_held_out_completions_ttft_tt_inference_server_qwen25_72b():
    # Held out of request_us / chat_request_us: tenstorrent/tt-inference-server#143 (GPU reference run,
    # Qwen2.5-72B-Instruct on 2 x H100, vLLM's benchmark_serving on /v1/completions, concurrency 1):
    # ISL/OSL 128/128 TTFT 41.1 ms, TPOT 30.9 ms; 1024/128 TTFT 129.2 ms. The step is priced right
    # (TPOT within 1 %), so the TTFT excess is host time: the run's completions path (an early-2025
    # vLLM) took ~7 ms in all where dcsim's takes 33.5 (frontend 10 + request 23.35 ms): stated error
    # +64 % at 128 tokens, +23 % at 1024 (engines.toml [vllm] request_us; the same direction as the
    # InferenceX vLLM 0.13 rows, inferencex_heldout_gaps.toml VLLM_TTFT_GAP)
    s128 = _closed_c1(QWEN25_72B, 2, 2, "bf16", "completions")
    assert float(s128["tpot_mean_s"]) == pytest.approx(0.0309, rel=0.01)
    assert float(s128["ttft_mean_s"]) / 0.0411 - 1 == pytest.approx(0.645, abs=0.05)
    s1k = _closed_c1(QWEN25_72B, 2, 2, "bf16", "completions", input_tokens=1024)
    assert float(s1k["ttft_mean_s"]) / 0.1292 - 1 == pytest.approx(0.226, abs=0.05)


def test_trtllm_serve_is_trtllm_with_its_server_frontend():
    bench, srv = engines.profile("trtllm"), engines.profile("trtllm-serve")
    assert srv.kv_alloc == bench.kv_alloc and srv.defaults == bench.defaults
    # trtllm-bench's step time is hidden by the overlap scheduler (refit to 0 on the 8B table);
    # trtllm-serve keeps the 500 us its request_us was fitted with
    assert bench.step_us == 0.0 and srv.step_us == 500.0
    assert srv.frontend_s(100) > bench.frontend_s(100) + 0.02
    assert load_config(data={"serve": {"engine": "trtllm-serve"}}).serve.engine == "trtllm-serve"


def test_dynamo_vllm_is_vllm_with_one_unchunked_request_per_prefill_worker():
    # ai-dynamo/dynamo examples/llm/components/prefill_worker.py: one remote prefill at a time,
    # chunked prefill off; everything else is vLLM's
    vllm, dyn = engines.profile("vllm"), engines.profile("dynamo-vllm")
    assert dyn.kv_alloc == vllm.kv_alloc and dyn.step_us == vllm.step_us and dyn.defaults == vllm.defaults
    assert vllm.prefill_worker_limits(256, 2048, 3000) == (256, 2048)
    assert dyn.prefill_worker_limits(256, 2048, 3000) == (1, 3000)
    assert dyn.prefill_worker_limits(256, 4096, 3000) == (1, 4096)
    # token ids cross the request plane: 0.36 us per prompt token more than vLLM's own server
    assert dyn.frontend_s(55000) - vllm.frontend_s(55000) == pytest.approx(0.0198, rel=0.01)
    assert load_config(data={"serve": {"engine": "dynamo-vllm"}}).serve.engine == "dynamo-vllm"


def test_dynamo_prefill_worker_serves_requests_one_after_another():
    # two 2,000-token prompts reach one prefill worker together: vLLM prefills them in one
    # 4,000-token step (the same first-token time for both); Dynamo's worker takes the second
    # only after the first, so the second's TTFT is about twice the first's
    from sim.app.runner import run
    from .serving_helpers import BASE, merge
    ttft = {}
    for eng in ("vllm", "dynamo-vllm"):
        data = merge(BASE, dict(
            topology={"gpus": 2},
            serve={"engine": eng, "scheduler": "sarathi", "prefill_replicas": 1, "decode_replicas": 1, "tp": 1,
                   "chunk_size": 8192, "max_batch_tokens": 8192},
            workload={"arrival": "burst", "requests": 2, "input_tokens": 2000, "output_tokens": 4}))
        req = run(load_config(data=data)).tables["requests"]
        ttft[eng] = sorted(req.column("ttft_s").to_pylist())
    first, second = ttft["vllm"]
    assert second == pytest.approx(first, rel=0.02)
    first, second = ttft["dynamo-vllm"]
    front = engines.profile("dynamo-vllm").frontend_s(2000)
    assert (second - front) == pytest.approx(2 * (first - front), rel=0.1)


def test_sglang_04_eager_floor_gives_deepseek_tp16_ttft_flat_to_4k():
    # held out of [sglang-0.4] launch_us (fitted to a 0.4.3 H200 eager prefill, datacrunch blog):
    # tenstorrent/tt-inference-server#356, SGLang of July 2025, DeepSeek-R1 TP16 on 2 x 8 H100,
    # TTFT 179.7 ms at ISL 128 and 199.7 ms at ISL 4096: the prefill is host-bound up to ~4k tokens
    from sim.app.runner import run
    from sim.app.validation.serving import PUBLISHED_DIR
    ttft = {}
    for isl in (128, 4096):
        cfg = load_config(PUBLISHED_DIR / "tt_dsr1_16xh100_tp16.toml",
                          overrides=[f"workload.input_tokens={isl}", "workload.requests=2", "workload.output_tokens=4"])
        assert cfg.serve.engine == "sglang-0.4"
        ttft[isl] = float(run(cfg).summary["ttft_mean_s"])
    assert ttft[128] == pytest.approx(0.1797, rel=0.25)
    assert ttft[4096] == pytest.approx(0.1997, rel=0.25)
    assert ttft[4096] < 1.1 * ttft[128]            # the launch floor hides 4k tokens of GPU prefill
    old, new = engines.profile("sglang-0.4"), engines.profile("sglang")
    assert old.launch_us == pytest.approx(0.2118e6 / 1922, rel=0.01) and new.launch_us < 0.5 * old.launch_us
    assert old.kv_alloc == new.kv_alloc and old.defaults == new.defaults and old.memory == new.memory


def test_nccl_nvls_buffers_count_for_tp_over_two():
    """NCCL binds nHeads x 288 MiB of NVLS buffers on each GPU of an NVSwitch TP group of more than
    two (vllm-project/vllm#9699: nvlsPerRankSize 301989888, nvlsTotalSize 2415919104 at 8); SGLang
    and the fitted TensorRT-LLM reserve leave them out; a GPU without NVLink SHARP has none."""
    h100, a100 = gpu("H100-SXM-80GB"), gpu("A100-SXM-80GB")
    v, s, t = engines.profile("vllm"), engines.profile("sglang"), engines.profile("trtllm")
    mib = 2**20
    assert v.non_torch_bytes(4, h100) - v.non_torch_bytes(4) == pytest.approx(4 * 288 * mib)
    assert v.non_torch_bytes(8, h100) - v.non_torch_bytes(8) == pytest.approx(8 * 288 * mib)
    assert v.non_torch_bytes(16, h100) - v.non_torch_bytes(16) == pytest.approx(8 * 288 * mib)   # per NVLink domain
    assert v.non_torch_bytes(2, h100) == v.non_torch_bytes(2) and v.non_torch_bytes(8, a100) == v.non_torch_bytes(8)
    assert s.non_torch_bytes(8, h100) == s.non_torch_bytes(8) and t.non_torch_bytes(8, h100) == t.non_torch_bytes(8)


def test_sglang_fraction_is_of_memory_after_the_cuda_context():
    """SGLang's KV pool: mem_fraction_static x (total - context) - weights (the base is measured after
    init_torch_distributed); vLLM's 0.61 GiB start-up context on H100 (llm-d logs)."""
    c = cost({"preset": "llama3-8b"})
    pool = engines.profile("sglang").kv_pool_bytes(c, 0.9, 8192, 1024)
    assert pool == pytest.approx(0.9 * (c.gpu.hbm_bytes - 0.61 * GiB) - c.weight_bytes_per_gpu())


def test_moe_activation_peak_is_the_sampler_s():
    """Held out: vLLM 0.11 logs "torch peak memory increase" 7.38 GiB for gpt-oss-20b and gpt-oss-120b
    on one H100 at max_num_batched_tokens 8192 / max_num_seqs 1024 (llm-d/llm-d-benchmark
    config_explorer/empirical-vllm-memory-results.md): MoE models peak at the dummy sampler's
    logits over their 201,088-token vocabulary, as the profile models it, with no fused-MoE
    workspace on top (within 5 %)."""
    from tests.workloads.serving.test_cost import GPT_OSS_20B
    spec = ModelSpec.from_section(load_config(data={"model": GPT_OSS_20B}).model)
    c = IterationCost(spec, gpu("H100-SXM-80GB"), "bf16", "bf16")
    peak = engines.profile("vllm").activation_bytes(c, 8192, 1024) / GiB
    assert peak == pytest.approx(7.38, rel=0.05)


# -- trtllm-bench's limits and CUDA graph padding (issue 12: the 405B rows) ---------------------
PERF_OVERVIEW_GRAPHS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192]


def test_trtllm_bench_limits_follow_its_heuristic():
    # Llama 3.1 405B FP8 on 8 x H100, by hand (tensorrt_llm/bench/build/tuning.py): engine
    # 405.85e9 B = 377.98 GiB; KV memory (8 x 79.11 - 377.98) x 0.95 = 242.2 GiB; a token's KV
    # 2 x 126 layers x 8 heads x 128 x 1 B = 2.403e-4 GiB; at 128/4096, 242.2 / (2.403e-4 x 4224)
    # = 238.5 requests -> 32 x ceil(238.5 / 32) = 256 sequences, 246 tokens -> the 2048 floor
    c = cost({"preset": "llama3-405b"}, "H100-SXM-80GB", "fp8", "fp8", tp=8)
    assert engines.trtllm_bench_limits(c, 128, 4096) == (256, 2048)
    # 339 requests at 1000/2000 round to 128s; without chunked prefill the token budget holds
    # the longest prompt plus a full batch (20000 + 64)
    assert engines.trtllm_bench_limits(c, 1000, 2000) == (384, 2048)
    assert engines.trtllm_bench_limits(c, 20000, 2000) == (64, 20064)
    assert engines.trtllm_bench_limits(c, 20000, 2000, chunked_prefill=True) == (64, 2048)
    # 128/128: 3,969 requests -> 4096 sequences (256s), 7,938 tokens -> 8192 (1024s)
    assert engines.trtllm_bench_limits(c, 128, 128) == (4096, 8192)
    # Llama 3.1 8B FP8 on one H100 at 128/2048: 515 requests -> 640
    assert engines.trtllm_bench_limits(cost({"preset": "llama3-8b"}, "H100-SXM-80GB", "fp8", "fp8"), 128, 2048) == (640, 2048)


def test_nvfp4_checkpoint_counts_packed_elements():
    # ModelOpt NVFP4: two weights per uint8 element plus one FP8 scale per 16; embeddings bf16.
    # trtllm-bench prices those 230e9 elements at 0.5 B: its "engine" is 107 GiB, not 189
    c = cost({"preset": "llama3-405b"}, "B200-180GB", "fp4", "fp8", tp=4)
    emb = c.spec.embedding_params()
    assert engines.checkpoint_param_count(c) == pytest.approx((c.params - emb) * 9 / 16 + emb)
    assert engines.checkpoint_param_count(cost({"preset": "llama3-8b"}, precision="fp8")) == \
        cost({"preset": "llama3-8b"}).params
    assert engines.trtllm_bench_limits(c, 500, 2000) == (1024, 2048)


def test_graph_batch_sizes_as_the_engines_filter_them():
    trt, vllm = engines.profile("trtllm"), engines.profile("vllm")
    # TensorRT-LLM _filter_cuda_graph_batch_sizes: listed sizes up to min(max_batch_size,
    # max_num_tokens), then that limit itself (a batch above 512 pads to 896, not to 1024)
    assert trt.graph_batch_sizes(PERF_OVERVIEW_GRAPHS, 896, 2048)[-3:] == [384, 512, 896]
    assert trt.graph_batch_sizes(PERF_OVERVIEW_GRAPHS, 4096, 2048)[-2:] == [1024, 2048]
    assert trt.graph_batch_sizes(PERF_OVERVIEW_GRAPHS, 512, 8192)[-2:] == [384, 512]
    # engines without the rule drop the sizes above the limit: larger batches run eagerly
    assert vllm.graph_batch_sizes(PERF_OVERVIEW_GRAPHS, 896, 8192)[-1] == 512
    assert trt.graph_batch_sizes(None, 896, 2048) == []


def test_cuda_graph_batch_sizes_must_be_positive():
    for bad in ([], [0, 8]):
        with pytest.raises(ConfigError, match="cuda_graph_batch_sizes"):
            load_config(data={"run": {"kind": "serve"}, "model": {"preset": "llama3-8b"},
                              "serve": {"cuda_graph_batch_sizes": bad}})


def test_overlap_scheduler_hides_host_work_up_to_the_gpu_step():
    """TensorRT-LLM's overlap scheduler: a step takes max(GPU, overlap_us_per_seq x sequences), the
    host work is not added to it. Qwen3-30B-A3B NVFP4 on one B200 (a light MoE: ~3B active, 16 GB of
    FP4 weights): a 4,096-sequence decode step at 256 tokens of context is host-bound on the GPU's
    side alone it would run ~2x faster (v1.0 perf overview, 128/128 B200 TP1: 39,827 output tokens/s,
    that is 25.1 us per sequence and step); a 64-sequence step is the GPU's."""
    c = cost({"preset": "qwen3-30b-a3b"}, "B200-180GB", precision="fp4", kv="fp8")
    eng = engines.profile("trtllm")
    assert eng.overlap_us_per_seq == pytest.approx(25.0)
    B, ctx = 4096.0, 256.0
    gpu_only = c.times([B], [B], [B * ctx], [B * ctx])[0]
    assert B / gpu_only > 60_000                         # the GPU alone: over 1.5x the measured rate
    c.overlap_per_seq_s = eng.overlap_us_per_seq * 1e-6
    step = c.times([B], [B], [B * ctx], [B * ctx])[0]
    assert step == pytest.approx(B * 25e-6 + c.overhead_s + c.host_per_seq_s * B)
    assert B / step == pytest.approx(39_827, rel=0.03)
    # hidden, not added: a small batch runs at the GPU's time
    small = c.times([64.0], [64.0], [64 * ctx], [64 * ctx])[0]
    c.overlap_per_seq_s = 0.0
    assert small == pytest.approx(c.times([64.0], [64.0], [64 * ctx], [64 * ctx])[0])
    # the decode macro-step prices each iteration the same way
    c.overlap_per_seq_s = 25e-6
    run = c.decode_run(int(B), B * ctx, 3)
    assert run.cum_s[0] == pytest.approx(step)


def test_deployment_sets_the_engine_overlap_host_time():
    from sim.app.validation import serving, serving_heldout
    from workloads.serving.deployment import Deployment
    import topologies
    from sim.app.runner import build_fabric
    from sim.simulation import Simulation
    from workloads.serving.requests import build_stream
    row = next(r for r in serving_heldout.heldout_cases() if r["id"] == "trtllm12_Qwen3_30B_A3B_B200_tp1_1000_1000")
    cfg = serving.case_config(row, max_requests=10)
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    dep = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))
    assert dep.cost.overlap_per_seq_s == pytest.approx(25e-6)
    assert engines.profile("vllm").overlap_us_per_seq == 0.0


def test_trtllm_bench_limits_of_an_mxfp4_checkpoint():
    """openai/gpt-oss: config.json quantization_config quant_method mxfp4 -> TensorRT-LLM's
    ModelConfig.load_hf_quant_config -> get_mxfp4_quant_algo: W4A8_MXFP4_MXFP8 on SM100 (CUTLASS / TRTLLM
    MoE backend), W4A16_MXFP4 below. Neither is in trtllm-bench's TUNED_QUANTS (tensorrt_llm/bench/build/
    build.py get_benchmark_engine_settings), so the heuristic never runs: "Using default settings because
    quant_algo not supported", BuildConfig's max_batch_size 2048 / max_num_tokens 8192, then get_settings'
    no-chunking floor max(8192, longest prompt + 2048). (dcsim read the heuristic with the packed checkpoint at
    2 bytes per element until this: GB200 TP1 64 sequences at 1024/32768, H200 TP1 160 at 1000/1000.)"""
    c = cost({"preset": "gpt-oss-120b"}, "H200-SXM-141GB", "bf16", "bf16")
    c.set_expert_precision("mxfp4")
    # the safetensors count itself (114.66e9 expert weights as uint8 blocks + e8m0 scales, 2.127e9 bf16)
    assert engines.checkpoint_param_count(c) == pytest.approx(63.041e9, rel=1e-4)
    assert engines.bench_quant_algo(c) == "mxfp4" and "mxfp4" not in engines.BENCH_TUNED_QUANTS
    assert engines.trtllm_bench_limits(c, 1000, 1000) == (2048, 8192)
    assert engines.trtllm_bench_limits(c, 1024, 32768) == (2048, 8192)
    assert engines.trtllm_bench_limits(c, 8192, 1024) == (2048, 10240)
    assert engines.trtllm_bench_limits(c, 32768, 1024) == (2048, 34816)
    b = cost({"preset": "gpt-oss-120b"}, "GB200", "bf16", "fp8")
    b.set_expert_precision("mxfp4")
    assert engines.trtllm_bench_limits(b, 1024, 32768) == (2048, 8192)


def test_trtllm_bench_limits_of_an_mla_checkpoint():
    """DeepSeek-R1-0528 as trtllm-bench sizes it (tensorrt_llm/bench/build/dataclasses.py ModelConfig.from_hf,
    tuning.py calc_engine_setting), by hand. The remote-code DeepseekV3Config (configuration_deepseek.py) has
    no head_dim and num_key_value_heads 128, so head_size = 7168 // 128 = 56 and a token's KV is 2 x 61 x 128 x
    56 x 1 B (FP8 KV) = 874,496 B, not MLA's cached latent nor 128-wide heads. The checkpoint's safetensors
    hold the MTP module (model.layers.61: one MoE layer, eh_proj, its own embedding and head): 671.03e9 +
    13.46e9 = 684.49e9 elements, the DeepSeek-V3 README's "685B". H200 DEP8 FP8 (FP8_BLOCK_SCALES, 1 B) at
    1000/1000: engine 637.5 GiB; (8 x 139.81 - 637.5) x 0.95 = 457.0 GiB; / (8.144e-4 GiB x 2000) = 280.5
    requests -> 384 (128s), 561 tokens -> the 2048 floor. With 128-wide heads it was 122.7 -> 128."""
    c = cost({"preset": "deepseek-v3"}, "H200-SXM-141GB", "fp8", "fp8", tp=8)
    assert engines.bench_quant_algo(c) == "fp8_block_scales"
    assert engines.checkpoint_param_count(c, nextn_layers=1) == pytest.approx(685e9, rel=0.002)
    assert engines.trtllm_bench_limits(c, 1000, 1000, nextn_layers=1) == (384, 2048)
    # nvidia/DeepSeek-R1-0528-NVFP4-v2: only the routed experts packed (59 MoE layers with the MTP one:
    # 665.2e9 weights x 9/16), the rest one element each: 393.5e9 elements at NVFP4's 0.5 B = 183.2 GiB;
    # B200 DEP4 at 1000/1000: (4 x 178.35 - 183.2) x 0.95 / 1.629 = 309.2 requests -> 384
    f = cost({"preset": "deepseek-v3"}, "B200-180GB", "fp8", "fp8", tp=4)
    f.set_expert_precision("fp4")
    assert engines.bench_quant_algo(f) == "nvfp4"
    assert engines.checkpoint_param_count(f, nextn_layers=1) == pytest.approx(393.5e9, rel=0.002)
    assert engines.trtllm_bench_limits(f, 1000, 1000, nextn_layers=1) == (384, 2048)


def test_trtllm_bench_limits_of_the_gqa_moe_checkpoints():
    """Qwen3-235B-A22B NVFP4 on 4 B200 at 1000/1000 by hand: (235.09e9 - 1.24e9) x 9/16 + 1.24e9 = 132.8e9
    elements x 0.5 B = 61.8 GiB; (4 x 178.35 - 61.8) x 0.95 = 619.0 GiB; a token 2 x 94 x max(4, 4) x 128 x
    1 B = 8.96e-5 GiB -> 3,454 requests -> 3584 (256s), 6,908 tokens -> 7168 (512s); each DEP4 rank runs
    these (serving.case_config x 4). Llama 4 Maverick (text_config: 48 layers, 8 KV heads of 128) NVFP4 on 4
    B200 at 1024/8192: 768 -> the replica's 3072."""
    q = cost({"preset": "qwen3-235b-a22b"}, "B200-180GB", "fp4", "fp8", tp=4)
    assert engines.trtllm_bench_limits(q, 1000, 1000) == (3584, 7168)
    m = cost({"preset": "llama4-maverick"}, "B200-180GB", "fp4", "fp8", tp=4)
    assert engines.trtllm_bench_limits(m, 1024, 8192) == (768, 2048)


def test_bench_quant_algo_reads_the_checkpoint_scaling_key_not_mla():
    """FP8_BLOCK_SCALES is the checkpoint's ``weight_block_size`` (model.checkpoint_fp8_scaling = 'block'),
    whatever the attention: a block-scaled dense checkpoint (Qwen3-8B-FP8, 128 x 128 blocks) is one, DeepSeek-V3
    with the key set to 'tensor' (a ModelOpt per-tensor FP8 export) is plain FP8. Both 1 byte per element."""
    blk = cost({"preset": "llama3-8b", "checkpoint_fp8_scaling": "block"}, "H100-SXM-80GB", "fp8", "fp8")
    assert engines.bench_quant_algo(blk) == "fp8_block_scales"
    per_tensor = cost({"preset": "deepseek-v3", "checkpoint_fp8_scaling": "tensor"}, "H200-SXM-141GB", "fp8", "fp8", tp=8)
    assert engines.bench_quant_algo(per_tensor) == "fp8"
    assert engines.bench_quant_algo(cost({"preset": "llama3-8b"}, "H100-SXM-80GB", "fp8", "fp8")) == "fp8"


def _heldout_deployment(row_id: str):
    from sim.app.validation import serving, serving_heldout
    from workloads.serving.deployment import Deployment
    import topologies
    from sim.app.runner import build_fabric
    from sim.simulation import Simulation
    from workloads.serving.requests import build_stream
    row = next(r for r in serving_heldout.heldout_cases() if r["id"] == row_id)
    cfg = serving.case_config(row, max_requests=10)
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    return Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))


def test_a_grace_hosted_replica_runs_the_engine_host_work_at_the_catalogues_host_speed():
    """The engine host times are fitted on x86 DGX hosts; GB200's Grace runs the same loop at
    hardware.toml's host_speed (0.85: TensorRT-LLM PR #10273's GB200 log, 29.4 us per sequence
    against the x86 fit's 25). A host-bound decode step (4,096 Qwen3-30B-A3B sequences: the GPU
    alone would run it well under 25 us each on either board) takes 1 / 0.85 as long on GB200
    as on B200, though GB200's GPU is the faster one."""
    from sim.hardware import gpu
    b200, gb200 = gpu("B200-180GB"), gpu("GB200")
    assert b200.host_speed == 1.0 and gb200.host_speed == pytest.approx(0.85) and "Grace" in gb200.host_cpu
    dep_b = _heldout_deployment("trtllm12_Qwen3_30B_A3B_B200_tp1_1000_1000")
    dep_g = _heldout_deployment("trtllm12_Qwen3_30B_A3B_GB200_tp1_1000_1000")
    assert dep_b.cost.overlap_per_seq_s == pytest.approx(25e-6)
    assert dep_g.cost.overlap_per_seq_s == pytest.approx(25e-6 / 0.85)
    # 4,096 sequences: above the rows' largest CUDA graph (1,792), so the step is eager and its kernel
    # dispatch (912 kernels at launch_us, Grace at its own dispatch_speed 0.364) joins the per-sequence work
    B, ctx = 4096.0, 256.0
    n = engines.eager_ops(dep_b.cost, -1)
    assert n == 912.0 and dep_b.cost.graph_max_batch == dep_b.cost.graph_sizes[-1] < B
    step_b = dep_b.cost.times([B], [B], [B * ctx], [B * ctx])[0]
    step_g = dep_g.cost.times([B], [B], [B * ctx], [B * ctx])[0]
    assert step_b == pytest.approx(B * 25e-6 + n * 13.48e-6, rel=1e-6)
    assert step_g == pytest.approx(B * 25e-6 / 0.85 + n * 13.48e-6 / gb200.launch_speed, rel=1e-6)
    # the request front end runs on the same host
    assert dep_g.engine.frontend_s(100) / gb200.host_speed > dep_b.engine.frontend_s(100)


def test_a_serving_run_records_the_host_it_assumed():
    from sim.config import load_config
    from workloads.serving import resolved_limits
    for name, cpu, speed in (("GB200", "Grace", 0.85), ("H100-SXM-80GB", "x86", 1.0)):
        res = resolved_limits(load_config(data={"topology": {"gpu": name}, "serve": {"engine": "trtllm"}}))
        assert cpu in res["host_cpu"] and res["host_speed"] == pytest.approx(speed)
@pytest.mark.parametrize("tokens,seqs,key", [(8192, 10**9, "serve.max_batch_size"),
                                             (10**12, 256, "serve.max_batch_tokens")])
def test_a_batch_limit_whose_profile_run_fills_the_hbm_is_named(tokens, seqs, key):
    # max_batch_size = 1e9 reported "no HBM left ... HBM 79.1 GiB x 0.9" on serve.gpu_memory_utilization
    from sim.errors import InfeasibleError
    with pytest.raises(InfeasibleError) as err:
        engines.profile("vllm").kv_capacity_tokens(cost({"preset": "llama3-8b"}), 0.9, tokens, seqs)
    assert err.value.key == key and "GiB of activations" in str(err.value) and f"lower {key}" in str(err.value)


def test_on_host_divides_every_host_time_and_nothing_else():
    """EngineProfile.on_host (GpuSpec.host_speed, a Grace host 0.85): each host time in microseconds
    (every field named *_us or *_us_per_*) is divided by the speed, every other field is kept, and
    speed 1 is the profile itself. Fails when a new host-time field is not listed in HOST_TIME_FIELDS."""
    from dataclasses import fields
    from workloads.serving import engines
    us_fields = {f.name for f in fields(engines.EngineProfile) if f.name.endswith("_us") or "_us_per_" in f.name}
    assert us_fields == set(engines.HOST_TIME_FIELDS)
    for name in ("trtllm", "trtllm-serve", "vllm", "sglang"):
        p = engines.profile(name)
        assert p.on_host(1.0) is p
        q = p.on_host(0.85)
        for f in fields(p):
            a, b = getattr(p, f.name), getattr(q, f.name)
            assert b == (a / 0.85 if f.name in us_fields else a), (name, f.name)


# -- the checkpoint's vision encoder (issue 12, llama4hop) ---------------------------------------
LLAMA4_VISION_PARAMS = 871_932_416     # the Llama-4-Scout parameter table's vision_model + multi_modal_projector


def test_llama4_presets_carry_their_vision_encoder():
    """34 ViT layers of 23,807,872 (q/k/v/o 1408 x 1408 with biases, fc1 / fc2 1408 x 5632 with biases, two
    LayerNorms), 1,647,360 of embeddings and pre/post norms, the pixel-shuffle adapter 5632 x 4096 + 4096 x
    4096 and the projector 4096 x 5120: the same tower on Scout and Maverick; no other preset has one."""
    per_layer = 4 * (1408 * 1408 + 1408) + (1408 * 5632 + 5632) + (5632 * 1408 + 1408) + 4 * 1408
    assert per_layer == 23_807_872
    assert 34 * per_layer + 1_647_360 + 5632 * 4096 + 4096 * 4096 + 4096 * 5120 == LLAMA4_VISION_PARAMS
    for preset in ("llama4-scout", "llama4-maverick"):
        assert cost({"preset": preset}).spec.encoder_params == LLAMA4_VISION_PARAMS
    assert cost({"preset": "llama3-70b"}).spec.encoder_params == 0.0


def test_trtllm_holds_the_llama4_vision_encoder_in_fp32_on_every_gpu():
    """TensorRT-LLM loads Llama 4's vision encoder on each rank in fp32 before it sizes the KV pool (PR #6844):
    3.49 GB per GPU less of it, whatever the parallelism (vLLM / SGLang: the per-engine test below), and
    a model without an encoder loses nothing. trtllm-bench's heuristic counts its elements in the checkpoint."""
    t = engines.profile("trtllm")
    m = cost({"preset": "llama4-maverick"}, "H100-SXM-80GB", "fp8", "fp8", tp=8)
    bare = cost({"preset": "llama4-maverick", "encoder_params": 0}, "H100-SXM-80GB", "fp8", "fp8", tp=8)
    assert t.encoder_bytes(m) == pytest.approx(4.0 * LLAMA4_VISION_PARAMS)
    drop = t.kv_pool_bytes(bare, 0.95, 8192, 1024) - t.kv_pool_bytes(m, 0.95, 8192, 1024)
    assert drop == pytest.approx(0.95 * 4.0 * LLAMA4_VISION_PARAMS)
    l70 = cost({"preset": "llama3-70b"}, "H100-SXM-80GB", "fp8", "fp8", tp=4)
    assert t.encoder_bytes(l70) == 0.0
    assert engines.checkpoint_param_count(m) - engines.checkpoint_param_count(bare) == LLAMA4_VISION_PARAMS
    nv = cost({"preset": "llama4-maverick"}, "B200-180GB", "fp4", "fp8", tp=4)
    nv0 = cost({"preset": "llama4-maverick", "encoder_params": 0}, "B200-180GB", "fp4", "fp8", tp=4)
    assert engines.checkpoint_param_count(nv) - engines.checkpoint_param_count(nv0) == LLAMA4_VISION_PARAMS


def test_encoder_params_must_not_be_negative():
    with pytest.raises(ConfigError) as e:
        load_config(data={"model": {"preset": "llama4-scout", "encoder_params": -1}})
    assert "encoder_params" in str(e.value)


def test_an_encoder_that_does_not_fit_is_named_and_not_blamed_on_tp():
    """An encoder held whole on every GPU (engines.toml encoder_bytes_per_param) that alone exceeds the HBM
    names model.encoder_params (no tp / pp shrinks it); one that overflows only beside the weights names
    serve.tp, and the message gives the encoder's share either way."""
    from sim.errors import InfeasibleError
    t = engines.profile("trtllm")
    huge = cost({"preset": "llama4-scout", "encoder_params": 1e12}, "H100-SXM-80GB", "fp8", "fp8", tp=4)
    with pytest.raises(InfeasibleError) as e:
        t.kv_pool_bytes(huge, 0.95, 8192, 1024)
    assert e.value.key == "model.encoder_params" and "encoder" in str(e.value)
    big = cost({"preset": "llama4-scout", "encoder_params": 1.8e10}, "H100-SXM-80GB", "fp8", "fp8", tp=4)
    with pytest.raises(InfeasibleError) as e:
        t.kv_pool_bytes(big, 0.95, 8192, 1024)
    assert e.value.key == "serve.tp" and "model.encoder_params" in str(e.value)
    # SGLang 0.5 does not load it at its defaults (encoder_bytes_per_param 0): the same model fits
    assert engines.profile("sglang").kv_pool_bytes(huge, 0.9, 8192, 256) > 0
    # vLLM splits it over tp: an overflow names serve.tp, never model.encoder_params
    with pytest.raises(InfeasibleError) as e:
        engines.profile("vllm").kv_pool_bytes(huge, 0.9, 8192, 256)
    assert e.value.key == "serve.tp"


# engine -> (bytes per parameter, divided by tp?) read from each engine's Llama 4 source (engines.toml comments)
LLAMA4_ENCODER_BY_ENGINE = {
    "trtllm": (4.0, False),        # fp32 on every rank (TensorRT-LLM PR #6844)
    "trtllm-serve": (4.0, False),
    "vllm": (2.0, True),           # bf16, QKV/Column/RowParallelLinear vision layers (vllm mllama4.py)
    "dynamo-vllm": (2.0, True),    # vLLM 0.8.3-0.9: the same tensor-parallel tower
    "sglang": (0.0, False),        # not built unless --enable-multimodal (sglang PR #8272)
    "sglang-0.4": (2.0, False),    # transformers' Llama4VisionModel, nn.Linear, bf16, on every rank
}


@pytest.mark.parametrize("name", sorted(LLAMA4_ENCODER_BY_ENGINE))
@pytest.mark.parametrize("tp", [1, 4, 8])
def test_llama4_vision_encoder_pool_drop_per_engine(name, tp):
    """The KV pool one GPU loses to Llama 4's vision encoder, engine by engine: bytes per parameter x
    871.9M, over tp where the engine splits the tower by tensor parallelism, times the share of it the
    engine's memory rule takes from the pool (utilization for vLLM's, 1 for SGLang's static fraction,
    the free fraction for TensorRT-LLM's)."""
    per_param, split = LLAMA4_ENCODER_BY_ENGINE[name]
    p = engines.profile(name)
    m = cost({"preset": "llama4-scout"}, "H200-SXM-141GB", "fp8", "fp8", tp=tp)
    bare = cost({"preset": "llama4-scout", "encoder_params": 0}, "H200-SXM-141GB", "fp8", "fp8", tp=tp)
    expected = per_param * LLAMA4_VISION_PARAMS / (tp if split else 1)
    assert p.encoder_bytes(m) == pytest.approx(expected)
    share = {"utilization": 1.0, "static_fraction": 1.0, "free_fraction": 0.9}[p.memory]
    drop = p.kv_pool_bytes(bare, 0.9, 8192, 256) - p.kv_pool_bytes(m, 0.9, 8192, 256)
    assert drop == pytest.approx(share * expected)


def test_vllm_encoder_is_whole_per_rank_under_attention_dp():
    """Under attention DP every vLLM rank is its own TP-1 engine (DpAttentionCost.tp = 1): the tower is
    not split, 2 bytes x 871.9M on each GPU."""
    from workloads.serving.dp_attention import DpAttentionCost
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "llama4-maverick"}}).model)
    dep = DpAttentionCost(spec, gpu("H200-SXM-141GB"), "fp8", "fp8", 8)
    assert dep.tp == 1
    assert engines.profile("vllm").encoder_bytes(dep) == pytest.approx(2.0 * LLAMA4_VISION_PARAMS)


def _refused_when_edited(monkeypatch, engine: str, field: str, bad) -> ConfigError:
    """The ConfigError engines.profile(engine) raises with engines.toml [engine] field = bad (monkeypatched
    copy, not the real file); fails unless its message names the field."""
    data = {k: dict(v) for k, v in engines._data().items()}
    data[engine][field] = bad
    monkeypatch.setattr(engines, "_data", lambda: data)
    with pytest.raises(ConfigError) as e:
        engines.profile(engine)
    assert field in str(e.value)
    return e.value


def test_engines_toml_encoder_sharding_is_checked(monkeypatch):
    _refused_when_edited(monkeypatch, "vllm", "encoder_sharding", "ep")


@pytest.mark.parametrize("field", ["encoder_bytes_per_param", "rope_table_bytes_per_entry"])
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "4", True, 100.0])
def test_engines_toml_bytes_per_element_fields_are_checked(monkeypatch, field, bad):
    """A data edit to encoder_bytes_per_param or rope_table_bytes_per_entry (negative, NaN, a string, above
    8 bytes) is refused naming the field, instead of freeing HBM for the KV pool or reaching the step as NaN."""
    data = {k: dict(v) for k, v in engines._data().items()}
    data["trtllm"][field] = bad
    monkeypatch.setattr(engines, "_data", lambda: data)
    with pytest.raises(ConfigError) as e:
        engines.profile("trtllm")
    assert field in str(e.value)
    with pytest.raises(ConfigError):
        engines.profile("trtllm-serve")        # like = "trtllm": inherits it


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_engines_toml_async_scheduling_must_be_a_bool(monkeypatch, bad):
    """engines.toml async_scheduling = "yes" / 1 was taken as truthy (and "false"-like strings too) by
    bool() in Deployment; now refused naming the field."""
    assert all(isinstance(engines.profile(n).async_scheduling, bool) for n in engines._data())
    _refused_when_edited(monkeypatch, "vllm", "async_scheduling", bad)


# -- the RoPE table over the model's declared context (issue 12, scouthop) -----------------------
@pytest.mark.parametrize("preset, positions", [("llama4-scout", 10_485_760), ("llama4-maverick", 1_048_576)])
@pytest.mark.parametrize("tp", [1, 4, 8])
def test_trtllm_holds_a_rope_table_over_the_declared_context(preset, positions, tp):
    """TensorRT-LLM 1.0 builds one fp32 cos / sin table of max_position_embeddings x head_dim on every rank
    (RopeParams.from_config, create_rope_const_params, shared by the layers since PR #3378) before it sizes
    the KV pool: Scout (10,485,760 positions) 5.37 GB per GPU, Maverick (1,048,576) 0.54 GB, whatever the
    parallelism; the pool loses the free fraction of it. vLLM / SGLang carry none here (field 0)."""
    t = engines.profile("trtllm")
    m = cost({"preset": preset}, "H200-SXM-141GB", "fp8", "fp8", tp=tp)
    assert m.spec.max_context == positions
    assert t.rope_table_bytes(m) == pytest.approx(4.0 * positions * 128)
    assert engines.profile("trtllm-serve").rope_table_bytes(m) == t.rope_table_bytes(m)
    for other in ("vllm", "sglang"):
        assert engines.profile(other).rope_table_bytes(m) == 0.0


def test_rope_table_takes_the_free_fraction_off_the_pool_and_only_where_a_context_is_declared():
    """The pool of Scout on H100 TP4 shrinks by 0.95 x 5.37 GB with the table, Llama 3.3 70B's by its 0.067 GB
    table; the Deployment's HBM ledger lists it."""
    t = engines.profile("trtllm")
    scout = cost({"preset": "llama4-scout"}, "H100-SXM-80GB", "fp8", "fp8", tp=4)
    data = {k: dict(v) for k, v in engines._data().items()}
    assert data["trtllm"]["rope_table_bytes_per_entry"] == 4.0
    from dataclasses import replace
    t0 = replace(t, rope_table_bytes_per_entry=0.0)
    drop = t0.kv_pool_bytes(scout, 0.95, 8192, 1024) - t.kv_pool_bytes(scout, 0.95, 8192, 1024)
    assert drop == pytest.approx(0.95 * 4.0 * 10_485_760 * 128)
    l70 = cost({"preset": "llama3-70b"}, "H100-SXM-80GB", "fp8", "fp8", tp=4)
    assert l70.spec.max_context == 131_072 and t.rope_table_bytes(l70) == pytest.approx(4.0 * 131_072 * 128)


@pytest.mark.parametrize("preset, positions, dim", [("llama3-8b", 131_072, 128), ("llama3-405b", 131_072, 128),
                                                    ("deepseek-v3", 163_840, 64), ("gpt-oss-120b", 131_072, 64),
                                                    ("qwen3-235b-a22b", 40_960, 128), ("mixtral-8x7b", 32_768, 128)])
def test_every_declared_context_carries_its_rope_table(preset, positions, dim):
    """Every preset declaring max_context carries TensorRT-LLM's fp32 RoPE table over it, whole on each GPU
    whatever the parallelism (4 B x positions x rotary dim; MLA: rope_head_dim): small tables as Llama 4's."""
    t = engines.profile("trtllm")
    m = cost({"preset": preset}, "H200-SXM-141GB", "fp8", "fp8", tp=8)
    assert m.spec.max_context == positions
    assert t.rope_table_bytes(m) == pytest.approx(4.0 * positions * dim)
    m1 = cost({"preset": preset}, "H200-SXM-141GB", "fp8", "fp8", tp=1)
    assert t.rope_table_bytes(m1) == t.rope_table_bytes(m)
    maverick = cost({"preset": "llama4-maverick"}, "H200-SXM-141GB", "fp8", "fp8", tp=8)
    assert t.rope_table_bytes(maverick) == pytest.approx(4.0 * 1_048_576 * 128)


def test_deployment_ledger_lists_the_rope_table():
    from sim.app.validation.serving import case_config
    from sim.app.validation.serving_heldout import heldout_cases
    import topologies
    from sim.app.runner import build_fabric
    from sim.simulation import Simulation
    from workloads.serving.deployment import Deployment
    from workloads.serving.requests import build_stream
    row = next(r for r in heldout_cases() if r["id"] == "trtllm10_Llama_4_Scout_H100_tp4_1000_1000")
    cfg = case_config(row, 50)
    sim = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    dep = Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))
    assert dep.hbm.table()["rope_table"] == pytest.approx(5.368709120)
    assert dep.hbm.used <= dep.hbm.capacity


def test_a_rope_table_that_does_not_fit_names_max_context():
    """A declared context whose table alone overflows the HBM beside the weights names model.max_context."""
    from sim.errors import InfeasibleError
    t = engines.profile("trtllm")
    huge = cost({"preset": "llama4-scout", "max_context": 2**31 - 1}, "H100-SXM-80GB", "fp8", "fp8", tp=4)
    with pytest.raises(InfeasibleError) as e:
        t.kv_pool_bytes(huge, 0.95, 8192, 1024)
    assert e.value.key == "model.max_context"



def test_step_with_host_closed_form():
    """Host time exposed per step: synchronous scheduling adds the host work to the GPU step
    (beyond the always-overlapped part); asynchronous scheduling exposes max(0, host - GPU)."""
    from workloads.serving.cost import step_with_host
    gpu_s, host_s = 6e-3, 0.5e-3
    assert step_with_host(gpu_s, host_s) == pytest.approx(6.5e-3)
    assert step_with_host(gpu_s, host_s, overlapped=True) == pytest.approx(6e-3)
    for gpu_s in (0.1e-3, 0.4e-3, 0.5e-3, 0.7e-3, 30e-3):
        for hidden in (0.0, 0.2e-3):
            host = hidden + host_s
            exposed = step_with_host(gpu_s, host_s, hidden, overlapped=True) - gpu_s
            assert exposed == pytest.approx(max(0.0, host - gpu_s))
            assert step_with_host(gpu_s, host_s, hidden) == pytest.approx(max(gpu_s, hidden) + host_s)


def test_async_scheduling_hides_the_step_host_time_up_to_the_gpu_step():
    """vLLM --async-scheduling / SGLang's overlap scheduler: a step takes max(GPU, step_us +
    step_us_per_seq x S), not their sum. Llama-3.1-8B bf16 on one H100: a 4-sequence decode step
    (~6 ms of weight reads) hides vLLM's 0.5 ms + 2 us per sequence; a host 20 ms long shows
    only its excess; the decode macro-step prices its iterations alike."""
    c = cost({"preset": "llama3-8b"})
    c.host_per_seq_s = 2e-6
    B, ctx = 4.0, 1024.0
    gpu_s = c.times([B], [B], [B * ctx], [B * ctx])[0] - c.overhead_s - c.host_per_seq_s * B
    assert gpu_s > c.overhead_s + c.host_per_seq_s * B      # the calibrated 500 us step overhead
    c.async_host = True
    assert c.times([B], [B], [B * ctx], [B * ctx])[0] == pytest.approx(gpu_s)
    assert c.decode_run(int(B), B * ctx, 2).cum_s[0] == pytest.approx(gpu_s)
    c.overhead_s = 20e-3
    host = 20e-3 + 2e-6 * B
    assert c.times([B], [B], [B * ctx], [B * ctx])[0] == pytest.approx(host)
    assert c.decode_run(int(B), B * ctx, 2).cum_s[0] == pytest.approx(host)
    c.async_host = False
    assert c.times([B], [B], [B * ctx], [B * ctx])[0] == pytest.approx(gpu_s + host)
    assert c.decode_run(int(B), B * ctx, 2).cum_s[0] == pytest.approx(gpu_s + host)


def _dep(**serve_keys):
    from workloads.serving.deployment import Deployment
    import topologies
    from sim.app.runner import build_fabric
    from sim.simulation import Simulation
    from workloads.serving.requests import build_stream
    data = {"run": {"kind": "serve", "name": "a"}, "topology": {"gpu": "H100-SXM-80GB", "gpus": 2, "fabric": "none"},
            "model": {"preset": "llama3-8b"}, "serve": serve_keys,
            "workload": {"arrival": "closed", "concurrency": 2, "requests": 4, "input_tokens": 64, "output_tokens": 8}}
    cfg = load_config(data=data)
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    return Deployment(cfg, sim, topo, build_fabric(cfg, sim, topo), build_stream(cfg.workload, sim))


def test_async_scheduling_defaults_per_engine_and_serve_key():
    """Defaults per engine version: vLLM 0.8-0.13 off (on by default from vllm-project/vllm PR #27614),
    SGLang 0.4 / 0.5 on (overlap scheduler); serve.async_scheduling overrides; off under speculative
    decoding and pp > 1 (SGLang turns its overlap off; vLLM 0.11 refuses an explicit true: a clear
    error naming the key)."""
    assert engines.profile("vllm").async_scheduling is False
    assert engines.profile("dynamo-vllm").async_scheduling is False
    assert engines.profile("sglang").async_scheduling is True
    assert engines.profile("sglang-0.4").async_scheduling is True
    assert engines.profile("trtllm").async_scheduling is False     # its overlap is overlap_us_per_seq
    assert _dep(engine="vllm").cost.async_host is False
    assert _dep(engine="vllm", async_scheduling=True).cost.async_host is True
    assert _dep(engine="sglang").cost.async_host is True
    assert _dep(engine="sglang", async_scheduling=False).cost.async_host is False
    eagle = {"method": "eagle", "tokens": 3, "acceptance": 0.6}
    assert _dep(engine="sglang", speculative=eagle).cost.async_host is False
    assert _dep(engine="sglang", pp=2).cost.async_host is False
    for bad in ({"pp": 2}, {"speculative": eagle}):
        with pytest.raises(ConfigError, match="serve.async_scheduling"):
            load_config(data={"run": {"kind": "serve"}, "model": {"preset": "llama3-8b"},
                              "serve": {"engine": "vllm", "async_scheduling": True, **bad}})
    with pytest.raises(ConfigError, match="async_scheduling"):
        load_config(data={"run": {"kind": "serve"}, "model": {"preset": "llama3-8b"},
                          "serve": {"async_scheduling": "sometimes"}})


def test_async_scheduling_shortens_sglang_decode_end_to_end():
    """The same SGLang run with the overlap scheduler off (--disable-overlap-schedule) is slower per
    output token by about the exposed host time (0.5 ms + 2 us per sequence at ~2 sequences)."""
    from sim.app.runner import run
    base = {"run": {"kind": "serve", "name": "o"}, "topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "fabric": "none"},
            "model": {"preset": "llama3-8b"},
            "workload": {"arrival": "closed", "concurrency": 2, "requests": 6, "input_tokens": 128, "output_tokens": 64}}
    on = run(load_config(data={**base, "serve": {"engine": "sglang", "precision": "bf16"}})).summary
    off = run(load_config(data={**base, "serve": {"engine": "sglang", "precision": "bf16",
                                                  "async_scheduling": False}})).summary
    assert float(off["tpot_mean_s"]) - float(on["tpot_mean_s"]) == pytest.approx(0.504e-3, rel=0.05)


def test_trtllm_pads_mxfp4_experts_to_128_elements():
    """TensorRT-LLM's CUTLASS MXFP4 fused MoE allocates its expert weights with hidden and intermediate
    rounded up to 128 (fused_moe/quantization.py weight_alignment = 128): GPT-OSS's 2880 x 2880 experts
    hold (2944 / 2880)^2 - 1 = 4.49 % more bytes; nothing for other precisions, dense models or engines
    without the alignment; under attention DP each rank pads its share of the experts."""
    from workloads.serving.dp_attention import DpAttentionCost
    t = engines.profile("trtllm")
    assert t.mxfp4_expert_alignment == 128
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "gpt-oss-120b"}}).model)
    c = IterationCost(spec, gpu("B200-180GB"), "bf16", "fp8", 1)
    assert t.expert_padding_bytes(c) == 0.0           # bf16 experts: held as stored
    c.set_expert_precision("mxfp4")
    expert = spec.experts * c.expert_params * spec.layers * (0.5 + 1 / 32)
    assert t.expert_padding_bytes(c) == pytest.approx(expert * ((2944 / 2880) ** 2 - 1))
    assert t.expert_padding_bytes(c) / GiB == pytest.approx(2.55, abs=0.01)
    assert engines.profile("vllm").expert_padding_bytes(c) == 0.0
    assert t.expert_padding_bytes(cost({"preset": "llama3-8b"})) == 0.0
    d = DpAttentionCost(spec, gpu("B200-180GB"), "bf16", "fp8", 4)
    d.set_expert_precision("mxfp4")
    assert t.expert_padding_bytes(d) == pytest.approx(t.expert_padding_bytes(c) / 4)
    # the pool pays for it: less KV than the same replica without the padding
    from dataclasses import replace
    unpadded = replace(t, mxfp4_expert_alignment=0)
    diff = unpadded.kv_pool_bytes(c, 0.9, 8192, 64) - t.kv_pool_bytes(c, 0.9, 8192, 64)
    assert diff == pytest.approx(0.9 * t.expert_padding_bytes(c))


@pytest.mark.parametrize("bad", [-128, 1.5, "128", True, 4096])
@pytest.mark.parametrize("field", ["mxfp4_expert_alignment", "mxfp4_expert_alignment_trtllm_gen"])
def test_engines_toml_mxfp4_expert_alignment_is_checked(monkeypatch, bad, field):
    _refused_when_edited(monkeypatch, "trtllm", field, bad)


def test_trtllm_gen_moe_pads_mxfp4_experts_to_256_elements():
    """TensorRT-LLM's TRTLLM-gen MXFP4 fused MoE (serve.moe_backend = "trtllm_gen": moe_config backend TRTLLM)
    allocates its experts with hidden and intermediate rounded up to 256 (quantization.py
    MXFP4WeightTRTLLMGenFusedMoEMethod.weight_alignment = 256), not the CUTLASS methods' 128: GPT-OSS's
    2880 x 2880 experts hold (3072 / 2880)^2 - 1 = 13.8 % more bytes (7.8 GiB for the 120B on one GPU). The
    backend is the run's: the same replica on CUTLASS pads to 128; vLLM (no alignment given) pads nothing; the
    HBM ledger of a trtllm-serve run with moe_backend trtllm_gen carries it."""
    from sim.app.validation.serving import deployment
    t = engines.profile("trtllm")
    assert (t.mxfp4_expert_alignment, t.mxfp4_expert_alignment_trtllm_gen) == (128, 256)
    assert engines.profile("trtllm-serve").mxfp4_expert_alignment_trtllm_gen == 256
    spec = ModelSpec.from_section(load_config(data={"model": {"preset": "gpt-oss-120b"}}).model)
    c = IterationCost(spec, gpu("B200-180GB"), "bf16", "fp8", 1)
    c.set_expert_precision("mxfp4")
    expert = spec.experts * c.expert_params * spec.layers * (0.5 + 1 / 32)
    cutlass = t.expert_padding_bytes(c)
    assert cutlass == pytest.approx(expert * ((2944 / 2880) ** 2 - 1))
    c.set_fused_moe_backend("trtllm_gen")
    assert t.expert_padding_bytes(c) == pytest.approx(expert * ((3072 / 2880) ** 2 - 1))
    assert t.expert_padding_bytes(c) / GiB == pytest.approx(7.82, abs=0.01)
    assert engines.profile("vllm").expert_padding_bytes(c) == 0.0
    base = {"run": {"kind": "serve"}, "topology": {"gpu": "B200-180GB", "gpus": 1, "gpus_per_node": 1, "fabric": "none"},
            "model": {"preset": "gpt-oss-120b"},
            "workload": {"arrival": "burst", "requests": 1, "input_tokens": 128, "output_tokens": 128}}
    serve = {"engine": "trtllm-serve", "precision": "bf16", "kv_precision": "fp8", "expert_precision": "mxfp4",
             "expert_compute_precision": "mxfp8"}
    pads = {}
    for backend in ("cutlass", "trtllm_gen"):
        dep = deployment(load_config(data={**base, "serve": {**serve, "moe_backend": backend}}))
        pads[backend] = dict(dep.hbm.items)["expert_padding"]
    assert pads["cutlass"] == pytest.approx(cutlass)
    assert pads["trtllm_gen"] == pytest.approx(expert * ((3072 / 2880) ** 2 - 1))


# -- the TRITON MoE backend's expert padding (issue 12, tritonhop) ----------------------------------
def test_only_tensorrt_llm_pads_the_triton_moe_experts():
    """TensorRT-LLM's TritonMXFP4FusedMoEMethod pads each expert's K to 128 and N to 256 elements
    (k_alignment 128, n_alignment 2 x k_alignment); vLLM's and SGLang's Hopper Triton paths round GPT-OSS's
    intermediate 2880 to 64 / 32 (unchanged) and leave the hidden size alone."""
    for name in ("trtllm", "trtllm-serve"):
        p = engines.profile(name)
        assert (p.triton_moe_k_align, p.triton_moe_n_align) == (128, 256)
    for name in ("vllm", "sglang"):
        p = engines.profile(name)
        assert (p.triton_moe_k_align, p.triton_moe_n_align) == (0, 0)


@pytest.mark.parametrize("field", ["triton_moe_k_align", "triton_moe_n_align"])
@pytest.mark.parametrize("bad", [-128, 12.5, "128", True, 10_000])
def test_engines_toml_triton_moe_alignment_is_checked(monkeypatch, field, bad):
    _refused_when_edited(monkeypatch, "trtllm", field, bad)


def test_on_host_divides_launch_us_by_the_dispatch_speed_alone():
    """EngineProfile.on_host(host_speed, dispatch_speed): launch_us (eager kernel dispatch) over the
    dispatch speed, every other host time over the host speed; without a dispatch speed, the host's."""
    p = engines.profile("trtllm")
    assert p.launch_us == pytest.approx(13.48) and p.eager_serial and p.eager_kernels_per_layer == -1
    q = p.on_host(0.85, 0.364)
    assert q.launch_us == pytest.approx(13.48 / 0.364)
    assert q.overlap_us_per_seq == pytest.approx(p.overlap_us_per_seq / 0.85)
    assert p.on_host(0.85).launch_us == pytest.approx(13.48 / 0.85)
    assert p.on_host(1.0, 1.0) is p


def test_trtllm_mixed_step_launches_on_the_overlap_schedulers_thread():
    """TensorRT-LLM runs a step with a context request eagerly (ScheduledRequests.can_run_cuda_graph: no
    context requests), launching every kernel from the PyExecutor's loop thread, the thread that also does the
    overlap scheduler's per-sequence work: such a step's host time is 25 us x sequences + kernels x launch_us,
    and the step takes the larger of that and its GPU time. A decode-only step within the CUDA graphs pays no
    dispatch. On GB200's Grace the dispatch runs at hardware.toml dispatch_speed (0.364), the rest at 0.85."""
    for row, launch_s, per_seq_s in (("trtllm10_Llama_4_Scout_GB200_tp1_128_128", 13.48e-6 / 0.364, 25e-6 / 0.85),
                                     ("trtllm10_Llama_4_Scout_B200_tp1_128_128", 13.48e-6, 25e-6)):
        c = _heldout_deployment(row).cost
        n = engines.eager_ops(c, -1)
        assert n == 1152.0          # Llama 4 Scout, 48 layers
        assert c.eager_serial and c.eager_step_s == pytest.approx(n * launch_s)
        assert c.overlap_per_seq_s == pytest.approx(per_seq_s)
        assert c.graph_max_batch == c.graph_sizes[-1] > 0
        S, T = 3600.0, 3600.0 + 4096.0
        b = c.batch(T, S, S * 192 + 32 * 128 * 64, S * 192)
        host = per_seq_s * S + n * launch_s
        assert b.time_s == pytest.approx(max(b.compute_s + b.comm_s, host), rel=1e-9)
        d = c.batch(S, S, S * 192, S * 192)            # decode only, graphed: no dispatch
        assert d.time_s == pytest.approx(max(d.compute_s + d.comm_s, per_seq_s * S), rel=1e-9)
    # on Grace the mixed step is host-bound: 3,600 x 29.4 us + 1,152 x 37.1 us = 148.6 ms over its GPU time
    c = _heldout_deployment("trtllm10_Llama_4_Scout_GB200_tp1_128_128").cost
    b = c.batch(7696.0, 3600.0, 3600 * 192 + 32 * 128 * 64, 3600 * 192)
    host = 3600 * 25e-6 / 0.85 + 1152 * 13.48e-6 / c.gpu.launch_speed
    assert b.time_s == pytest.approx(host, rel=1e-9) and host > b.compute_s + b.comm_s


def test_eager_serial_must_be_a_boolean(monkeypatch):
    from sim.errors import ConfigError
    data = dict(engines._data())
    data["trtllm"] = {**data["trtllm"], "eager_serial": "yes"}
    monkeypatch.setattr(engines, "_data", lambda: data)
    with pytest.raises(ConfigError) as err:
        engines.profile("trtllm")
    assert err.value.key == "serve.engine" and "eager_serial" in str(err.value)
