"""Runner end to end: determinism, manifests, errors, and sweeps through the real runner on both
engines (local pool and a Dask cluster on loopback) giving the same tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sim.app.cli import main
from sim.config import load_config
from sim.errors import ConfigError
from sim.app.runner import WALL_CLOCK_COLUMNS, run, run_to_dir
from sim.app.sweep import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[2]

SERVE = """
[run]
kind = "serve"
name = "tiny-serve"
seed = 3
[topology]
gpus = 2
gpus_per_node = 2
fabric = "none"
[model]
preset = "llama3-8b"
[serve]
replicas = 2
[workload]
rate = 8.0
requests = 40
input_tokens = {dist = "lognormal", mean = 300, sigma = 0.5}
output_tokens = 40
"""


@pytest.fixture()
def serve_cfg(tmp_path):
    path = tmp_path / "serve.toml"
    path.write_text(SERVE)
    return path


def _strip_wall(table):
    return table.drop_columns([c for c in WALL_CLOCK_COLUMNS if c in table.column_names])


def test_same_config_and_seed_give_identical_tables(serve_cfg):
    a = run(load_config(serve_cfg))
    b = run(load_config(serve_cfg))
    assert set(a.tables) == set(b.tables) >= {"summary", "requests", "links"}
    for name in a.tables:
        assert _strip_wall(a.tables[name]).equals(_strip_wall(b.tables[name])), name
    c = run(load_config(serve_cfg, ["run.seed=4"]))
    assert not c.tables["requests"].equals(a.tables["requests"])   # the seed matters


def test_run_to_dir_writes_tables_and_manifest(serve_cfg, tmp_path):
    out = tmp_path / "out"
    res = run_to_dir(load_config(serve_cfg), out)
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 3 and man["dcsim_version"] and man["wall_s"] > 0
    assert man["sim_events"] == res.summary["sim_events"] > 0
    assert man["config"]["workload"]["requests"] == 40 and man["config"]["model"]["hidden"] == 4096
    summary = pq.read_table(out / "summary.parquet")
    assert summary.num_rows == 1 and {"gpus", "sim_events", "wall_s"} <= set(summary.column_names)
    assert summary.column("gpus")[0].as_py() == 2
    assert pq.read_table(out / "requests.parquet").num_rows == 40


def test_cli_run_json_is_the_summary_row(serve_cfg, tmp_path, capsys):
    assert main(["run", str(serve_cfg), "--out", str(tmp_path / "o"), "--json", "--trace"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    disk = pq.read_table(tmp_path / "o" / "summary.parquet").to_pylist()[0]
    assert row["requests"] == disk["requests"] == 40
    assert row["ttft_p50_s"] == pytest.approx(disk["ttft_p50_s"])
    trace = json.loads((tmp_path / "o" / "trace.json").read_text())
    assert any(e["ph"] in ("X", "b") for e in trace["traceEvents"])


def test_infeasible_plan_exits_3(serve_cfg, tmp_path, capsys):
    # one GPU per replica cannot hold a 405B model
    code = main(["run", str(serve_cfg), "--set", "model.preset=llama3-405b", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err and err.startswith("error:")


def _sweep_file(tmp_path, serve_cfg):
    path = tmp_path / "sweep.toml"
    path.write_text(f'name = "rates"\nbase = "{serve_cfg.name}"\n[grid]\n'
                    '"workload.rate" = [4.0, 12.5]\n"serve.replicas" = [1, 2, 3]\n')
    return path


def _deterministic_rows(out: Path):
    cols = "rate, replicas, requests, ttft_p50_s, tpot_p50_s, output_tokens_per_s, sim_events"
    return sorted(duckdb.sql(
        f"select {cols} from read_parquet('{out}/**/summary.parquet', hive_partitioning=true, "
        "hive_types={'rate': 'DOUBLE', 'replicas': 'BIGINT'})").fetchall())


def test_real_sweep_two_workers_then_dask_give_the_same_tables(serve_cfg, tmp_path):
    pytest.importorskip("dask.distributed")
    path = _sweep_file(tmp_path, serve_cfg)
    local = run_sweep(load_sweep(path), tmp_path / "local", workers=2, progress=False)
    # 3 replicas on 2 GPUs cannot be placed: recorded as a failure, the rest goes on
    assert local.count("done") == 4 and local.count("failed") == 2
    assert all(o["exit_code"] in (2, 3) for o in local.status.values() if o["status"] == "failed")
    rows = _deterministic_rows(tmp_path / "local")
    assert len(rows) == 4 and {r[:2] for r in rows} == {(4.0, 1), (4.0, 2), (12.5, 1), (12.5, 2)}
    # the float axis compares as a number
    n = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/local/**/summary.parquet', "
                   "hive_partitioning=true, hive_types={'rate': 'DOUBLE'}) where rate > 10").fetchall()
    assert n == [(2,)]
    dask = run_sweep(load_sweep(path), tmp_path / "dask", workers=2, engine="dask", progress=False)
    assert dask.count("done") == 4
    assert _deterministic_rows(tmp_path / "dask") == rows


def test_quickstart_training_is_deterministic_and_traced(tmp_path):
    cfg = load_config(ROOT / "runs" / "quickstart.toml", ["run.trace=true"])
    a, b = run(cfg), run(cfg)
    assert {"summary", "steps", "links", "flows", "streams"} <= set(a.tables)
    for name in a.tables:
        assert _strip_wall(a.tables[name]).equals(_strip_wall(b.tables[name])), name
    s = a.summary
    assert 0 < s["mfu"] < 1 and s["gpus"] == 16 and s["sim_events"] > 0
    # the trace draws GPU streams (compute, TP, DP) and network flows, inside the step
    events = a.trace["traceEvents"]
    procs = {e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert {"streams", "flows"} <= procs
    spans = [e for e in events if e["ph"] in ("X", "b")]
    assert spans and max(e["ts"] + e.get("dur", 0) for e in spans) <= s["step_time_s"] * 1e6 * (1 + 1e-9)
    assert {"compute", "TP", "DP"} <= {e["name"] for e in spans if e["cat"] == "streams"}


def test_every_example_in_runs_is_valid():
    """A new user can run the examples as they are: every run config validates and every sweep's
    base and axes load (the points themselves run in the README's commands)."""
    from sim import config
    for path in sorted((ROOT / "runs").glob("*.toml")):
        data = config.read_toml(path)
        if "grid" in data or "zip" in data:
            sweep = load_sweep(path)
            config.validate(sweep.base_data)
            assert sweep.points()
        else:
            load_config(path)


def test_default_output_directory_is_runs_out_name(serve_cfg, tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "sim.app.cli", "run", str(serve_cfg), "--json"], cwd=tmp_path,
                       capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
                       timeout=600)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip().splitlines()[-1])
    out = tmp_path / "runs" / "out" / "tiny-serve"
    assert (out / "manifest.json").is_file()
    assert pq.read_table(out / "summary.parquet").to_pylist()[0]["requests"] == row["requests"]


def test_every_summary_says_whether_its_gpu_is_calibrated(serve_cfg, capsys):
    # H100 serving uses kernel constants fitted to our H100 measurements
    assert run(load_config(serve_cfg)).summary["calibrated"] is True
    assert "not calibrated" not in capsys.readouterr().err
    # a GPU defined in the config borrows its `like`'s curves: not calibrated, and a warning
    from workloads.training.cases import issue11_cases
    v100s = next(c for c in issue11_cases() if "v100s" in c["case"])["config"]
    cfg = load_config(data=v100s, overrides=["topology.gpu=V100S-borrowed", 'hardware.V100S-borrowed.like="A100-SXM-40GB"',
                              "hardware.V100S-borrowed.dense_tflops={fp16=130,bf16=0,fp32=16.4}",
                              "hardware.V100S-borrowed.hbm_GBps=1134", "hardware.V100S-borrowed.hbm_GB=32"])
    summary = run(cfg).summary
    assert summary["calibrated"] is False
    assert "V100S-borrowed is not calibrated for train runs" in capsys.readouterr().err


def test_a_like_gpu_is_not_calibrated_and_its_warning_names_the_likes_curves(serve_cfg, capsys):
    # CONTRACT round 2: calibrated is false when a compute constant comes from a `like`; a
    # relabelled H100 (another NVLink domain, a higher power limit) reported True and no warning
    cfg = load_config(serve_cfg, overrides=["topology.gpu=H100-relabelled", 'hardware.H100-relabelled.like="H100-SXM-80GB"',
                                            "hardware.H100-relabelled.scaleup_domain=16", "hardware.H100-relabelled.power_W=800"])
    assert run(cfg).summary["calibrated"] is False
    err = capsys.readouterr().err
    assert "H100-relabelled is not calibrated for serve runs: it relies on H100-SXM-80GB's compute curves" in err
    assert "differ" not in err
    # a field those curves rest on that differs is named besides
    cfg = load_config(serve_cfg, overrides=["topology.gpu=H100-faster", 'hardware.H100-faster.like="H100-SXM-80GB"',
                                            "hardware.H100-faster.hbm_GBps=4000"])
    assert run(cfg).summary["calibrated"] is False
    err = capsys.readouterr().err
    assert "H100-faster is not calibrated for serve runs" in err and "(hbm_GBps differs from H100-SXM-80GB's)" in err

def test_a_gpu_without_like_names_every_default_it_took(capsys, monkeypatch):
    # fresh27 #5: [hardware."X1"] without like ran TP over 32 GB/s (PCIe-class) scale-up, and the
    # warning named only compute constants; each default taken is named with its value
    from sim import hardware
    from sim.app import runner
    monkeypatch.setattr(runner, "_WARNED", set())
    hardware.define("T-nolike-defaults", {"dense_tflops": {"bf16": 500}, "hbm_GB": 80, "hbm_GBps": 2000,
                                          "power_W": 700})
    assert runner.calibrated("T-nolike-defaults", "train", "bf16") is False
    err = capsys.readouterr().err
    for given in ("vendor = 'custom'", "scaleup_GBps = 32 (per direction, PCIe-class: give it for NVLink parts",
                  "scaleup_domain = 8", "host_GBps = 32", "scaleup_kind = 'switch'", "nvls = false",
                  "special_Tops = 2.5 (0.5% of its fastest tensor rate)"):     # 0.005 x 500 TFLOP/s
        assert given in err, given
    assert "power_W" not in err                  # the table gave it
    assert hardware.define("T-like-no-defaults", {"like": "H100-SXM-80GB"}).defaults_taken == ()


def test_the_uncalibrated_warning_comes_once_per_distinct_reason(serve_cfg, capsys, monkeypatch):
    # a sweep over hardware.NAME.like warned once per process: only the first point's reason
    from sim.app import runner
    monkeypatch.setattr(runner, "_WARNED", set())

    def point(like):
        cfg = load_config(serve_cfg, overrides=["topology.gpu=H100-swept", f'hardware.H100-swept.like="{like}"',
                                                "hardware.H100-swept.hbm_GBps=4000"])
        assert run(cfg).summary["calibrated"] is False
        return [line for line in capsys.readouterr().err.splitlines() if "not calibrated" in line]
    first = point("H100-SXM-80GB")
    assert len(first) == 1 and "from H100-SXM-80GB's" in first[0]
    second = point("H200-SXM-141GB")
    assert len(second) == 1 and "from H200-SXM-141GB's" in second[0]
    assert point("H100-SXM-80GB") == []         # a reason already given is not repeated


def test_the_breakdown_adds_up_to_the_step():
    """exposed_{tp,pp,dp,ep,cp}_s sum to exposed_comm_s (TP and DP both exposed at once here: the
    sum used to exceed it by 2.4%), so the stacked breakdown never exceeds the step."""
    cfg = load_config(ROOT / "runs" / "quickstart.toml", ["train.tp=2", "topology.nic_Gbps=25"])
    s = run(cfg).summary
    kinds = sum(s[f"exposed_{k}_s"] for k in ("tp", "pp", "dp", "ep", "cp"))
    assert kinds == pytest.approx(s["exposed_comm_s"], rel=1e-9)
    assert s["exposed_tp_s"] > 0 and s["exposed_dp_s"] > 0
    stacked = s["compute_s"] + kinds + s["bubble_s"]
    assert stacked <= s["step_time_s"] * (1 + 1e-9)


# -- work that cannot finish is refused before it starts (issue 9, item 6) ---------------------

@pytest.mark.parametrize("overrides,key", [
    (["train.global_batch=1000000000000"], "train.global_batch"),     # grew to 15 GB before a MemoryError
    (["run.steps=100000"], "run.steps"),
    (["run.steps=200", "train.global_batch=32000"], "run.steps"),
])
def test_training_past_the_work_bound_is_refused(overrides, key):
    from sim.app.runner import check_work
    cfg = load_config(ROOT / "runs" / "quickstart.toml", overrides)
    with pytest.raises(ConfigError) as err:
        check_work(cfg, cfg.topology.gpus)
    assert err.value.key == key and "bound" in str(err.value)
    check_work(load_config(ROOT / "runs" / "quickstart.toml", ["run.steps=3"]), 16)   # within bounds


@pytest.mark.parametrize("config,override,key", [
    ("quickstart.toml", "run.steps=100000", "run.steps"),
    ("quickstart-serving.toml", "workload.requests=100000000", "workload.requests"),
])
def test_unfinishable_runs_exit_2_at_once(tmp_path, config, override, key):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "sim.app.cli", "run", str(ROOT / "runs" / config), "--set", override,
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and key in r.stderr and "Traceback" not in r.stderr


def test_no_infinity_reaches_a_summary_and_a_ratio_without_comm_is_null():
    import math
    import pyarrow as pa
    from sim.app.runner import check_finite, run
    from sim.config import load_config
    from sim.errors import SimulationError
    cfg = load_config(data={"run": {"kind": "serve"}, "topology": {"gpus": 1, "gpus_per_node": 1, "fabric": "none"},
                            "model": {"preset": "llama3-8b", "layers": 2},
                            "workload": {"arrival": "burst", "requests": 4, "input_tokens": 32, "output_tokens": 4}})
    result = run(cfg)
    assert result.summary["compute_comm_ratio"] is None
    assert result.tables["summary"].schema.field("compute_comm_ratio").type == pa.float64()
    assert all(not (isinstance(v, float) and math.isinf(v)) for v in result.summary.values())
    with pytest.raises(SimulationError, match="energy_J"):
        check_finite(pa.table({"energy_J": [math.inf]}))


def test_columns_null_where_undefined_are_typed_double():
    # a long-horizon run without failures has no MTBF and never checkpoints: mtbf_s and
    # checkpoint_interval_s were typed null, and a raw read_parquet glob over a failure-rate sweep
    # whose first file was that point refused the others ("failed to cast ... DOUBLE to NULL")
    import pyarrow as pa
    from sim.app.runner import NULL_WHEN_UNDEFINED, check_finite
    assert {"mtbf_s", "checkpoint_interval_s"} <= set(NULL_WHEN_UNDEFINED)
    table = check_finite(pa.table({"mtbf_s": pa.nulls(1), "checkpoint_interval_s": pa.nulls(1), "tp": [1]}))
    assert table.schema.field("mtbf_s").type == pa.float64()
    assert table.schema.field("checkpoint_interval_s").type == pa.float64()
    assert table.column("mtbf_s").to_pylist() == [None]


def test_a_serving_manifest_records_the_engines_resolved_limits(serve_cfg, tmp_path):
    # the manifest's config held the section defaults (max_batch_size 256, chunk_size 512), not
    # what the engine ran: vLLM V1 on an H100 runs max_num_seqs 1024, max_num_batched_tokens 8192
    from workloads.serving import engines
    out = tmp_path / "out"
    res = run_to_dir(load_config(serve_cfg), out)
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["serve"]["max_batch_size"] == 256           # still the config as given
    resolved = man["resolved"]["serve"]
    lim = engines.profile("vllm").limits(80 * 2**30)
    assert resolved["engine"] == "vllm" and resolved["max_batch_size"] == lim["max_batch_size"] != 256
    assert resolved["max_batch_tokens"] == lim["max_batch_tokens"] == resolved["chunk_size"]
    assert resolved["kv_capacity_tokens"] == res.summary["kv_capacity_tokens"] > 0
    # and the host CPU its engine host times were scaled to (sim.hardware host_speed): here the x86 fit host
    assert "x86" in resolved["host_cpu"] and resolved["host_speed"] == 1.0
    res = run_to_dir(load_config(serve_cfg, ["serve.max_batch_size=32", "serve.engine=sglang"]), tmp_path / "o2")
    resolved = json.loads((tmp_path / "o2" / "manifest.json").read_text())["resolved"]["serve"]
    assert resolved["max_batch_size"] == 32 and resolved["engine"] == "sglang"
    # whether the scheduler ran asynchronously: the engine's default (vLLM 0.11 off, SGLang's overlap scheduler on)
    assert resolved["async_scheduling"] is True and man["resolved"]["serve"]["async_scheduling"] is False
    run_to_dir(load_config(serve_cfg, ["serve.engine=sglang", "serve.async_scheduling=false"]), tmp_path / "o4")
    assert json.loads((tmp_path / "o4" / "manifest.json").read_text())["resolved"]["serve"]["async_scheduling"] is False
    train = run_to_dir(load_config(ROOT / "runs" / "quickstart.toml"), tmp_path / "o3")
    assert "resolved" not in train.manifest


@pytest.mark.parametrize("gpu", ["B200-180GB", "H100-SXM-80GB"])
def test_an_engine_version_without_an_fp4_kv_cache_refuses_one(serve_cfg, gpu):
    # serve.engine = "sglang-0.4" with kv_precision = "fp4" ran on Blackwell: SGLang's fp4_e2m1 KV
    # cache came with 0.5 (sglang#10078, #12612)
    from sim.app.runner import check_precision
    sets = [f'topology.gpu="{gpu}"', 'serve.kv_precision="fp4"']
    with pytest.raises(ConfigError) as err:
        check_precision(load_config(serve_cfg, [*sets, 'serve.engine="sglang-0.4"']))
    assert err.value.key == "serve.kv_precision" and "'sglang-0.4' has no FP4 KV cache" in str(err.value)
    check_precision(load_config(serve_cfg, [*sets, 'serve.engine="sglang"']))       # 0.5 has it


def test_training_on_a_defined_gpu_without_the_precision_names_train_precision():
    """A [hardware] GPU with only an fp32 rate failed in the compute model keyed 'precision'."""
    from sim.app.runner import check_precision
    data = {"topology": {"gpu": "FP32ONLY", "gpus": 8, "fabric": "none"},
            "hardware": {"FP32ONLY": {"dense_tflops": {"fp32": 20}, "hbm_GB": 32, "hbm_GBps": 900}},
            "train": {"precision": "fp16"}}
    with pytest.raises(ConfigError) as err:
        check_precision(load_config(data=data))
    assert err.value.key == "train.precision" and "no tensor rate for 'fp16'" in err.value.reason
    data["hardware"]["FP32ONLY"]["dense_tflops"]["bf16"] = 100      # fp16 runs at the bf16 rate
    check_precision(load_config(data=data))


def test_a_serve_run_on_fewer_gpus_than_the_topology_warns_of_the_idle_ones(serve_cfg, capsys):
    # 1 replica of tp 1 on 2 GPUs ran without a word about the idle GPU
    result = run(load_config(serve_cfg, ["serve.replicas=1"]))
    err = capsys.readouterr().err
    assert ("warning: serve.replicas = 1 x serve.tp = 1 occupy 1 of the topology.gpus = 2 GPUs: 1 idle" in err
            and "set serve.replicas = 2" in err)
    # the summary's gpus (and mfu, mbu, energy, cost with it) counts the used GPU only, as the warning says
    assert result.tables["summary"]["gpus"][0].as_py() == 1
    run(load_config(serve_cfg))                     # 2 replicas on 2 GPUs: none idle, no warning
    assert "idle" not in capsys.readouterr().err


def test_a_trace_that_does_not_parse_is_refused_before_the_idle_gpu_warning(tmp_path, capsys):
    # the idle-GPU warning came first, then the trace's error: two messages, the first beside the point
    trace = tmp_path / "back.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.5,100,20\n"
                     "2023-11-16 18:15:40.5,374,44\n")
    cfg = load_config(data={"run": {"kind": "serve"}, "topology": {"gpus": 2, "gpus_per_node": 2, "fabric": "none"},
                            "model": {"preset": "llama3-8b"}, "serve": {"replicas": 1},
                            "workload": {"arrival": "trace", "trace": str(trace)}})
    with pytest.raises(ConfigError) as err:
        run(cfg)
    assert err.value.key == "workload.trace" and "is earlier than" in str(err.value)
    assert "warning" not in capsys.readouterr().err


def test_idle_gpu_warning_names_pp_and_disaggregated_roles(capsys):
    from sim.app.runner import warn_idle_serving_gpus
    cfg = load_config(data={"run": {"kind": "serve"}, "serve": {"tp": 2, "pp": 2, "replicas": 1}})
    msg = warn_idle_serving_gpus(cfg, 8)
    assert msg.startswith("serve.replicas = 1 x serve.tp = 2 x serve.pp = 2 occupy 4 of the topology.gpus = 8")
    cfg = load_config(data={"run": {"kind": "serve"}, "serve": {"tp": 2, "prefill_replicas": 1,
                                                                  "decode_replicas": 1, "decode_tp": 4}})
    msg = warn_idle_serving_gpus(cfg, 8)
    assert ("serve.prefill_replicas = 1 x serve.prefill_tp = 2 + serve.decode_replicas = 1 x serve.decode_tp = 4 "
            "occupy 6 of the topology.gpus = 8 GPUs: 2 idle") in msg
    assert warn_idle_serving_gpus(cfg, 6) is None
    assert capsys.readouterr().err.count("warning: ") == 2


@pytest.mark.parametrize("gpu", ["B200-180GB", "GB300"])
def test_a_blackwell_training_run_is_calibrated_only_at_fp8_and_bf16(gpu, capsys, monkeypatch):
    # the Blackwell training fit: FP8 end to end, bf16 to cuBLAS kernels (compute.toml [GB200] on
    # B200 ones, bwbf16; [GB300] on B300 ones, gb300bf16: a GB300 bf16 run was not calibrated before);
    # fp16 runs the bf16 curve unmeasured and fp4 [default]'s factor: calibrated = false
    from sim.app import runner
    monkeypatch.setattr(runner, "_WARNED", set())
    small = {"run": {"kind": "train"}, "topology": {"gpu": gpu, "gpus": 8, "fabric": "none"},
             "model": {"preset": "llama3-8b", "layers": 2, "seq_len": 1024}, "train": {"tp": 8, "global_batch": 8}}
    for precision, ok in (("bf16", True), ("fp8", True), ("fp16", False), ("fp4", False)):
        cfg = load_config(data=small, overrides=[f'train.precision="{precision}"'])
        assert run(cfg).summary["calibrated"] is ok, precision
        err = capsys.readouterr().err
        assert (f"{gpu} is not calibrated for train runs at {precision}" in err) is (not ok)
        if not ok:
            assert "fitted to fp8, bf16 runs only" in err
        if precision == "fp16":     # the 16-bit curve is the section's bf16 fit, not [default]'s
            assert "gemm_eff_max (the fp16 GEMM rate) is its bf16 fit's, not measured at fp16" in err, err
        if precision == "fp4":
            assert "fp4_gemm_factor (the fp4 GEMM rate) is [default]'s" in err, err


def test_a_launch_bound_training_run_says_so(capsys, monkeypatch):
    # runs/quickstart.toml on B200 at seq 4096: compute_s equal on B200, GB200 and GB300 and at
    # fp8 and fp4 without a word; the summary now says how long the GPU waits on the host
    from sim.app import runner
    monkeypatch.setattr(runner, "_WARNED", set())
    base = ROOT / "runs" / "quickstart.toml"
    cfg = load_config(base, overrides=['topology.gpu="B200-180GB"', 'train.precision="fp8"', "model.seq_len=4096",
                                       "model.layers=4"])
    s = run(cfg).summary
    assert s["launch_wait_s"] > 0.1 * s["compute_s"]
    err = capsys.readouterr().err
    assert "compute is launch-bound" in err and "train.cuda_graph_impl" in err
    # CUDA graphs replay each layer's kernels with one launch: GPU-bound, no warning
    monkeypatch.setattr(runner, "_WARNED", set())
    s = run(load_config(base, overrides=['topology.gpu="B200-180GB"', 'train.precision="fp8"', "model.seq_len=4096",
                                         "model.layers=4", 'train.cuda_graph_impl="local"'])).summary
    assert s["launch_wait_s"] == 0 and "launch-bound" not in capsys.readouterr().err
    # the quickstart as shipped (H100, bf16) is GPU-bound
    s = run(load_config(base, overrides=["model.layers=4"])).summary
    assert s["launch_wait_s"] == 0 and "launch-bound" not in capsys.readouterr().err


def test_an_amd_serving_warning_points_to_the_measured_comparison(capsys, monkeypatch):
    # serving on MI355X warned "treat its times as estimates" without saying that the serving-amd suite
    # measures how far they are
    from sim.app import runner
    monkeypatch.setattr(runner, "_WARNED", set())
    assert runner.calibrated("MI355X", "serve") is False
    err = capsys.readouterr().err
    assert "MI355X is not calibrated for serve runs" in err and "`dcsim validate serving-amd`" in err
    # an NVIDIA GPU's warning does not point to the AMD suite
    assert runner.calibrated("B300-288GB", "train") is False
    err = capsys.readouterr().err
    assert "not calibrated" in err and "serving-amd" not in err


def test_rate_tolerance_on_a_run_is_warned_about(serve_cfg, capsys, monkeypatch):
    # dcsim traffic's key, read by no run: it was taken without a word (the config's warning now, told
    # before the run, so that a sweep refuses it as an axis: tests/test_config.py)
    from sim import config
    monkeypatch.setattr(config, "_WARNED_INEFFECTIVE", set())
    run(load_config(serve_cfg, ["run.rate_tolerance=0.1"]))
    assert "run.rate_tolerance has no effect on a run" in capsys.readouterr().err
    run(load_config(serve_cfg))
    assert "rate_tolerance" not in capsys.readouterr().err


def test_a_traced_run_without_network_flows_writes_an_empty_flows_table(serve_cfg, tmp_path):
    # README lists flows.parquet for --trace; a serving run with no flow on the fabric wrote none
    from sim.fabric import FLOW_SCHEMA
    run_to_dir(load_config(serve_cfg, ["run.trace=true"]), tmp_path / "o")
    t = pq.read_table(tmp_path / "o" / "flows.parquet")
    assert t.num_rows == 0 and t.schema.equals(FLOW_SCHEMA)
