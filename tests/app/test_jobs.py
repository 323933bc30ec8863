"""Several jobs on one fabric ([[jobs]]): placement, slowdowns, per-job link bytes, determinism."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.app.runner import _simulate_jobs, place_jobs, run
from sim.config import load_config
from sim.errors import ConfigError


def two_jobs(oversubscription: float = 1.0, placement="packed", baseline: bool = True) -> dict:
    """A 16-GPU training job (TP8 x DP2) beside a 16-GPU disaggregated chat deployment whose
    8,000-token prompts' KV crosses the fabric, on 4 servers, two per leaf (leaf radix 32: 16 GPU ports, 16 uplinks before
    oversubscription tapers them)."""
    return {
        "run": {"name": "t", "baseline": baseline},
        "topology": {"gpus": 32, "fabric": "fat-tree", "leaf_radix": 32, "oversubscription": oversubscription},
        "jobs": [
            {"name": "pre", "kind": "train", "gpus": 16, "placement": placement,
             "model": {"preset": "llama3-8b", "seq_len": 2048, "layers": 8},
             "train": {"tp": 8, "global_batch": 8}},
            {"name": "chat", "kind": "serve", "gpus": 16, "placement": placement,
             "model": {"preset": "llama3-8b", "layers": 8},
             "serve": {"tp": 1, "prefill_replicas": 8, "decode_replicas": 8, "kv_transfer": "whole",
                       "kv_precision": "bf16"},
             "workload": {"rate": 200, "requests": 200, "input_tokens": 8000, "output_tokens": 20}},
        ]}


def rows(result) -> dict:
    return {r["job"]: r for r in result.summary}


def test_disjoint_leaves_of_a_non_blocking_fabric_do_not_slow_each_other():
    out = rows(run(load_config(data=two_jobs(1.0, "packed"))))
    assert out["pre"]["slowdown"] == pytest.approx(1.0, abs=0.01)
    assert out["chat"]["slowdown"] == pytest.approx(1.0, abs=0.01)
    assert out["chat"]["tpot_slowdown"] == pytest.approx(1.0, abs=0.01)
    assert out["pre"]["kind"] == "train" and out["chat"]["kind"] == "serve"
    assert out["pre"]["steps"] >= 2     # training ran steps back to back while chat served


def test_spread_over_oversubscribed_shared_leaves_slows_both():
    out = rows(run(load_config(data=two_jobs(4.0, "spread"))))
    assert out["pre"]["slowdown"] > 1.02
    assert out["chat"]["slowdown"] >= 1.0


def test_per_job_link_bytes_sum_to_the_link_totals():
    cfg = load_config(data=two_jobs(4.0, "spread", baseline=False))
    _, fabrics, _, fabric = _simulate_jobs(cfg, [0, 1], False)
    per_job = sum(f.link_bytes for f in fabrics.values())
    assert fabric.link_bytes.sum() > 0
    np.testing.assert_allclose(per_job, fabric.link_bytes, rtol=1e-9, atol=1e-3)
    # links.parquet: a job column; per link the jobs' rows add up to the fabric's bytes
    links = run(cfg).tables["links"].to_pydict()
    assert set(links["job"]) == {"pre", "chat"}
    total = np.zeros_like(fabric.link_bytes)
    np.add.at(total, links["link"], links["bytes"])
    np.testing.assert_allclose(total, fabric.link_bytes, rtol=1e-9, atol=1e-3)


def test_same_seed_gives_identical_tables():
    cfg = load_config(data=two_jobs(4.0, "spread", baseline=False))
    a, b = run(cfg), run(cfg)
    for name in a.tables:
        ta, tb = a.tables[name], b.tables[name]
        if "wall_s" in ta.column_names:
            ta, tb = ta.drop_columns(["wall_s"]), tb.drop_columns(["wall_s"])
        assert ta.equals(tb), name


def test_placements():
    import topologies
    data = two_jobs()
    data["topology"]["gpus"] = 64
    data["topology"]["leaf_radix"] = 32         # two servers under each leaf
    data["jobs"][0]["gpus"] = 16
    data["jobs"][0]["placement"] = "spread"
    data["jobs"][1]["placement"] = [[40, 48], [56, 64]]
    cfg = load_config(data=data)
    topo = topologies.build(cfg.topology)
    pre, chat = place_jobs(cfg, topo)
    assert chat == list(range(40, 48)) + list(range(56, 64))
    # spread: whole servers, each under another leaf
    servers = {topo.gpu_server(r) for r in pre}
    assert len(servers) == 2 and len({topo.attr(topo.gpu(r), "leaf") for r in pre}) == 2
    assert pre == list(range(0, 8)) + list(range(16, 24))
    data["jobs"][0]["placement"] = "packed"
    assert place_jobs(load_config(data=data), topo)[0] == list(range(16))


def test_overlapping_jobs_are_a_config_error_naming_both():
    data = two_jobs()
    data["jobs"][0]["placement"] = [[0, 16]]
    data["jobs"][1]["placement"] = [[8, 24]]
    with pytest.raises(ConfigError) as err:
        run(load_config(data=data))
    assert "'pre'" in str(err.value) and "'chat'" in str(err.value) and err.value.exit_code == 2
    data = two_jobs()                    # one job's own ranges overlapping: named once, plainly
    data["jobs"][1]["placement"] = [[16, 24], [20, 28]]
    with pytest.raises(ConfigError, match=r"job 'chat': its ranges \[16, 24\) and \[20, 28\) overlap on GPUs 20-23"):
        run(load_config(data=data))
    data = two_jobs()
    data["jobs"][1]["gpus"] = 24
    with pytest.raises(ConfigError, match=r"need 40 GPUs in all \(jobs.0 'pre' 16, jobs.1 'chat' 24\)"):
        run(load_config(data=data))


def test_job_errors_carry_the_job_key_path():
    data = two_jobs()
    data["jobs"][0]["train"]["tp"] = 3
    with pytest.raises(Exception) as err:
        run(load_config(data=data))
    assert getattr(err.value, "key", "").startswith("jobs.0.")


def test_set_reaches_into_jobs_and_trace_has_one_process_per_job():
    data = copy.deepcopy(two_jobs(baseline=False))
    cfg = load_config(data=data, overrides=["jobs.1.workload.requests=20", "run.trace=true"])
    assert cfg.jobs[1].workload.requests == 20
    result = run(cfg)
    procs = [e["args"]["name"] for e in result.trace["traceEvents"] if e.get("name") == "process_name"]
    assert procs == ["job pre", "job chat"]
    pids = {e["pid"] for e in result.trace["traceEvents"]}
    assert pids == {1, 2}
    # both jobs' GPU streams come from sim.gpu and are drawn the same way (training's stages,
    # serving's replicas: compute and communication threads)
    threads = {(e["pid"], e["args"]["name"]) for e in result.trace["traceEvents"] if e.get("name") == "thread_name"}
    assert any(p == 1 and n.startswith("streams: lane=stage 0") and n.endswith("stream=compute") for p, n in threads)
    assert any(p == 2 and n.startswith("streams: lane=replica 0") and n.endswith("stream=compute") for p, n in threads)


def test_every_job_row_says_whether_its_gpu_is_calibrated():
    # H100: kernel constants fitted (serving: calibrated), and since issue 11 item 1 its training
    # host constants too (fitted to llm-foundry's end-to-end steps); the row of each job says so
    out = rows(run(load_config(data=two_jobs(baseline=False))))
    assert out["chat"]["calibrated"] is True
    assert out["pre"]["calibrated"] is True
    from sim.compute import calibration
    assert calibration("H200-SXM-141GB", "train")[0] is False      # no end-to-end fit: the row would say so


@pytest.mark.slow
def test_readme_cotenant_table_comes_from_the_documented_commands():
    """README.md's co-tenant table is what `dcsim run runs/cotenant.toml` (packed) and its
    `--set 'jobs.1.placement="spread"'` variant produce (about 40 s of CPU)."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    text = (root / "README.md").read_text()
    for placement, sets in (("packed", []), ("spread", ['jobs.1.placement="spread"'])):
        out = rows(run(load_config(root / "runs" / "cotenant.toml", sets)))
        pre, chat = out["pretrain"], out["chat"]
        row = (f"| {placement} | {pre['mean_step_time_s']:.3f} s ({pre['steps']} steps) | {pre['slowdown']:.4f} | "
               f"{chat['ttft_p50_s'] * 1e3:.1f} ms | {chat['slowdown']:.4f} | {chat['tpot_p50_s'] * 1e3:.2f} ms | "
               f"{chat['tpot_slowdown']:.4f} |")
        quoted = re.search(rf"^\| {placement} \|.*$", text, re.M)
        assert quoted is not None and quoted.group(0) == row, f"README says {quoted and quoted.group(0)}, run gives {row}"


@pytest.mark.parametrize("swap", [False, True])
def test_summary_holds_the_union_of_both_kinds_columns(swap):
    data = two_jobs(baseline=True)
    data["jobs"][0]["train"]["global_batch"] = 2
    data["jobs"][1]["workload"]["requests"] = 20
    if swap:
        data["jobs"].reverse()
    result = run(load_config(data=data))
    cols = result.tables["summary"].column_names
    for name in ("step_time_s", "ttft_p50_s", "tpot_slowdown", "requests", "slowdown", "job", "kind"):
        assert name in cols, name
    summ = result.tables["summary"].to_pydict()
    i_train = summ["kind"].index("train")
    assert summ["ttft_p50_s"][i_train] is None and summ["step_time_s"][i_train] > 0
    assert summ["step_time_s"][1 - i_train] is None and summ["ttft_p50_s"][1 - i_train] > 0
    # a dense chat job's expert_precision is null, typed as text as a lone serving run's is
    assert str(result.tables["summary"].schema.field("expert_precision").type) == "string"
    assert summ["expert_precision"] == [None, None]


def test_shared_fabric_settles_changes_without_moving_results(monkeypatch):
    # two tenants: arrivals and departures that move no other flow's rate skip the re-solve
    # (sim.linkclasses "settled change"); every job's results equal the always-re-solve
    # run's to rounding, and a job alone (one tenant) never settles (bit-for-bit re-solves)
    import sim.fabric as fabric_mod
    import sim.linkclasses as lc_mod
    monkeypatch.setattr(fabric_mod, "CLASS_LINKS", 1)        # class mode from the first flow
    cfg = load_config(data=two_jobs(4.0, "spread", baseline=False))
    w, _, _, fabric = _simulate_jobs(cfg, [0, 1], False)
    assert fabric.tenants == 2 and fabric.settled_changes > 0
    _, _, _, alone = _simulate_jobs(cfg, [1], False)
    assert alone.tenants == 1 and alone.settled_changes == 0
    monkeypatch.setattr(lc_mod.LinkClasses, "settle_arrival", lambda self, flow: None)
    monkeypatch.setattr(lc_mod.LinkClasses, "settle_removal", lambda self, flow: self.remove(flow))
    ref, _, _, ref_fabric = _simulate_jobs(cfg, [0, 1], False)
    assert ref_fabric.settled_changes == 0
    assert w[0].step_times == pytest.approx(ref[0].step_times, rel=1e-12)
    a, b = w[1].tables()["requests"].to_pydict(), ref[1].tables()["requests"].to_pydict()
    for k in ("ttft_s", "e2e_s"):
        assert a[k] == pytest.approx(b[k], rel=1e-12)
    np.testing.assert_allclose(fabric.link_bytes, ref_fabric.link_bytes, rtol=1e-12, atol=1e-3)

def test_placement_ranges_that_disagree_with_gpus_are_that_error_first():
    data = two_jobs()
    data["jobs"][1]["gpus"] = 6
    data["jobs"][1]["placement"] = [[16, 20], [20, 24]]        # 8 GPUs
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert err.value.key == "jobs.1.placement" and "hold 8 GPUs; its gpus is 6" in str(err.value)


@pytest.mark.parametrize("ranges, shown", [([[True, 16]], "[true, 16]"), ([[0, 8.0], [8, 16]], "[0, 8.0]"),
                                            ([["0", 16]], '["0", 16]')])
def test_placement_range_ends_must_be_integers_not_coerced(ranges, shown):
    data = two_jobs()
    data["jobs"][0]["placement"] = ranges      # true was read as GPU 1 (then: 'hold 15 GPUs')
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert f"jobs.0.placement: placement range {shown} is not [first, last) with integer" in str(err.value)


@pytest.mark.parametrize("job, words", [
    ({"name": "s", "kind": "serve", "gpus": 16, "serve": {"tp": 8, "replicas": 4}}, "the job has 16 (jobs.0.gpus)"),
    ({"name": "t", "kind": "train", "gpus": 16, "train": {"tp": 8, "dp": 4}}, "the job's 16 GPUs (jobs.0.gpus)")])
def test_a_jobs_gpu_shortfall_names_the_jobs_gpus_not_the_topology(job, words):
    from sim.errors import InfeasibleError
    with pytest.raises(InfeasibleError) as err:
        run(load_config(data={"run": {"baseline": False}, "topology": {"gpus": 64}, "jobs": [job]}))
    assert words in str(err.value) and "topology" not in str(err.value)


def test_a_serve_job_on_fewer_gpus_than_it_holds_warns_naming_its_keys(capsys):
    # 1 replica of tp 1 in a job of 2 GPUs: the row said gpus = 2 without a word about the idle GPU
    job = {"name": "chat", "kind": "serve", "gpus": 2, "serve": {"tp": 1, "replicas": 1},
           "workload": {"requests": 5, "input_tokens": 50, "output_tokens": 5}}
    out = rows(run(load_config(data={"run": {"baseline": False}, "topology": {"gpus": 2, "fabric": "none"},
                                     "jobs": [job]})))
    err = capsys.readouterr().err
    assert "warning: jobs.0.serve.replicas = 1 x jobs.0.serve.tp = 1 occupy 1 of the jobs.0.gpus = 2" in err
    assert "1 idle" in err and "gpus = 2 (the job's)" in err
    # what the warning says the row counts: gpus the job's 2, mfu over the 1 used GPU
    assert out["chat"]["gpus"] == 2


def test_a_serve_jobs_idle_gpus_draw_idle_power_not_the_replicas():
    # 1 replica of tp 1 in a job of 2 GPUs: energy counted both GPUs at the replica's utilization (exactly twice
    # the 1-GPU job's); the idle GPU now runs at utilization 0, so the job's utilization halves and its energy
    # lies strictly between the 1-GPU job's and twice it (the idle GPU draws its idle power)
    def job(gpus):
        return {"name": "chat", "kind": "serve", "gpus": gpus, "serve": {"tp": 1, "replicas": 1},
                "workload": {"requests": 20, "input_tokens": 200, "output_tokens": 50}}
    one, two = (rows(run(load_config(data={"run": {"baseline": False}, "topology": {"gpus": 2, "fabric": "none"},
                                            "jobs": [job(g)]})))["chat"] for g in (1, 2))
    assert two["duration_s"] == one["duration_s"]
    assert two["gpu_utilization"] == pytest.approx(one["gpu_utilization"] / 2, rel=1e-12)
    assert one["energy_J"] < two["energy_J"] < 2 * one["energy_J"] * (1 - 1e-6)


def _traced(tmp_path, data) -> tuple:
    import json

    import pyarrow.parquet as pq
    from sim.app.runner import run_to_dir
    out = tmp_path / "o"
    run_to_dir(load_config(data=data, overrides=["jobs.1.workload.requests=20", "run.trace=true"]), out)
    return pq.read_table(out / "flows.parquet"), json.loads((out / "trace.json").read_text())["traceEvents"]


def test_a_traced_multi_job_run_draws_every_flow_and_names_its_job(tmp_path):
    """``--trace`` on ``[[jobs]]``: trace.json drew no network flow (a single run draws one span per
    row of flows.parquet), and flows.parquet had no ``job`` column, unlike the run's other per-job
    tables. Now each job's flows are drawn in its own process and each row names its job."""
    from sim.fabric import FLOW_SCHEMA
    flows, events = _traced(tmp_path, copy.deepcopy(two_jobs(baseline=False)))
    assert flows.column_names == ["job"] + FLOW_SCHEMA.names and flows.schema.field("job").type == "string"
    jobs = flows.column("job").to_pylist()
    assert set(jobs) == {"pre", "chat"}               # training's all-reduces, chat's KV transfers
    pid = {e["args"]["name"]: e["pid"] for e in events if e.get("name") == "process_name"}
    drawn = [e for e in events if e.get("cat") == "flows" and e["ph"] in ("X", "b")]
    assert len(drawn) == flows.num_rows                 # as in a single run: one span per flow
    for job in ("pre", "chat"):
        assert sum(e["pid"] == pid[f"job {job}"] for e in drawn) == jobs.count(job)
    assert all(n.startswith("flows: src=") for n in
               (e["args"]["name"] for e in events if e.get("name") == "thread_name" and "flows" in e["args"]["name"]))


def test_a_traced_job_without_flows_has_none_and_the_column_stays_text(tmp_path):
    from sim.fabric import FLOW_SCHEMA
    data = copy.deepcopy(two_jobs(baseline=False))
    data["jobs"][1]["serve"] = {"tp": 1, "replicas": 16}      # co-located chat: nothing crosses the fabric
    flows, events = _traced(tmp_path, data)
    assert flows.column_names == ["job"] + FLOW_SCHEMA.names and flows.schema.field("job").type == "string"
    assert set(flows.column("job").to_pylist()) == {"pre"} and flows.num_rows > 0
    assert sum(e.get("cat") == "flows" and e["ph"] in ("X", "b") for e in events) == flows.num_rows
    data["jobs"][0] = {**data["jobs"][0], "gpus": 1, "train": {"tp": 1, "global_batch": 1}, "placement": [[0, 1]]}
    data["jobs"][1]["placement"] = [[16, 32]]
    flows, events = _traced(tmp_path, data)             # neither job crosses the fabric: typed, empty
    assert flows.num_rows == 0 and flows.column_names == ["job"] + FLOW_SCHEMA.names
    assert flows.schema.field("job").type == "string"
    assert not any(e.get("cat") == "flows" for e in events)


def test_the_manifest_records_the_gpus_each_job_got(tmp_path):
    """Which GPUs "packed" / "spread" gave each job was in no output (the user inferred it from links.parquet):
    manifest.json's placement names each job's [first, last) GPU ranges, the form jobs.N.placement takes, and
    the directory is still a run's (sim.outputs' strict manifest check)."""
    import json
    from sim.app.runner import rank_ranges, run_to_dir
    from sim.outputs import is_run_output
    data = two_jobs(placement="spread", baseline=False)
    data["jobs"][1]["workload"]["requests"] = 20
    cfg = load_config(data=data)
    run_to_dir(cfg, tmp_path / "out")
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert is_run_output(tmp_path / "out") and man["jobs"] == ["pre", "chat"]
    ranks = place_jobs(cfg, _topology(cfg))
    assert man["placement"] == [{"job": "pre", "kind": "train", "gpus": 16, "ranges": rank_ranges(ranks[0])},
                                {"job": "chat", "kind": "serve", "gpus": 16, "ranges": rank_ranges(ranks[1])}]
    assert len(man["placement"][0]["ranges"]) > 1          # spread: servers over both leaves, not one range
    # pasted back as explicit ranges, they place each job on the same GPUs
    pinned = copy.deepcopy(data)
    for job, entry in zip(pinned["jobs"], man["placement"]):
        job["placement"] = entry["ranges"]
    assert place_jobs(load_config(data=pinned), _topology(cfg)) == ranks


def _topology(cfg):
    import topologies
    return topologies.build(cfg.topology)


def test_rank_ranges_join_consecutive_gpus():
    from sim.app.runner import rank_ranges
    assert rank_ranges([9, 0, 1, 2, 8]) == [[0, 3], [8, 10]] and rank_ranges([]) == [] and rank_ranges([5]) == [[5, 6]]
