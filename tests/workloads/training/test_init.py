"""workloads/training/__init__.py: the summary's critical stage."""

import pytest

from workloads.training import CRITICAL_TIE, critical_row


def _row(stage, compute, dp=0, cp=0):
    return {"stage": stage, "dp_replica": dp, "cp_replica": cp, "compute_s": compute}


def test_critical_stage_is_the_lowest_among_stages_tied_to_the_last_bits():
    busy = 7.25
    rows = [_row(0, 6.0), _row(1, busy * (1 - 1e-15)), _row(2, busy), _row(3, busy * (1 - 1e-15))]
    assert critical_row(rows)["stage"] == 1          # a strict max would pick stage 2
    # the same rows with the last-bit rounding moved elsewhere: the same critical stage
    rows2 = [_row(0, 6.0), _row(1, busy), _row(2, busy * (1 - 1e-15)), _row(3, busy)]
    assert critical_row(rows2)["stage"] == 1
    # in any order
    assert critical_row(rows[::-1])["stage"] == 1


def test_a_real_difference_beyond_the_tolerance_still_decides():
    busy = 7.25
    rows = [_row(0, busy * (1 - 10 * CRITICAL_TIE)), _row(1, busy), _row(2, busy * (1 - 10 * CRITICAL_TIE))]
    assert critical_row(rows)["stage"] == 1


def test_replicas_of_the_critical_stage_pick_the_lowest_replica():
    rows = [_row(1, 5.0, dp=3), _row(1, 5.0, dp=1, cp=1), _row(1, 5.0, dp=1, cp=0), _row(0, 4.0)]
    r = critical_row(rows)
    assert (r["stage"], r["dp_replica"], r["cp_replica"]) == (1, 1, 0)


def test_time_columns_are_double_even_where_nothing_is_communicated():
    # one GPU (no communication) and tp = 1 (no TP stream): comm_s and tp_comm_s were the int 0,
    # typed BIGINT, so a raw read_parquet glob over a sweep of such points cast the others' to 0
    import pyarrow as pa

    from sim.app.runner import run
    from sim.config import load_config
    cfg = load_config(data={"topology": {"gpus": 1, "fabric": "none"},
                            "model": {"preset": "llama3-8b", "layers": 2, "seq_len": 1024},
                            "train": {"tp": 1, "global_batch": 2}})
    tables = run(cfg).tables
    for name in ("summary", "steps"):
        for field in tables[name].schema:
            if field.name.endswith("_s"):
                assert pa.types.is_floating(field.type), (name, field.name, field.type)
    assert tables["summary"]["comm_s"][0].as_py() == 0.0


def test_one_and_three_step_summaries_share_one_schema():
    # steps and mean_step_time_s were written only when more than one step ran, so a raw
    # read_parquet glob over a run.steps sweep dropped them (or refused the files) by which came first
    from sim.app.runner import run
    from sim.config import load_config

    def summary(steps):
        return run(load_config(data={"run": {"steps": steps}, "topology": {"gpus": 2, "fabric": "none"},
                                     "model": {"preset": "llama3-8b", "layers": 2, "seq_len": 1024},
                                     "train": {"tp": 2, "global_batch": 2}})).tables["summary"]
    one, three = summary(1), summary(3)
    assert one.schema.names == three.schema.names
    assert [f.type for f in one.schema] == [f.type for f in three.schema]
    assert one["steps"][0].as_py() == 1 and three["steps"][0].as_py() == 3
    assert one["mean_step_time_s"][0].as_py() == one["step_time_s"][0].as_py()


def test_mean_is_exact_for_equal_values():
    from workloads.training import mean
    x = 0.1 + 0.2
    for n in (1, 3, 7, 10):
        assert mean([x] * n) == x               # sum / n is not always x to the last bit
    assert mean([1.0, 2.0, 4.0]) == pytest.approx(7.0 / 3.0, rel=1e-15)


def test_a_cotenant_training_jobs_summary_is_over_all_its_steps():
    # a [[jobs]] training job's summary took step_time_s, tokens_per_s and mfu from its last step
    # only (run after the chat job was done, 28 % faster than the mean step beside it); they are
    # over every step, as a run alone defines them (identical steps: the mean is the one step)
    import math

    from sim.app.runner import run
    from sim.config import load_config
    cfg = load_config(data={
        "run": {"name": "t", "baseline": False},
        "topology": {"gpus": 32, "fabric": "fat-tree", "leaf_radix": 32, "oversubscription": 4.0},
        "jobs": [
            {"name": "pre", "kind": "train", "gpus": 16, "placement": "spread",
             "model": {"preset": "llama3-8b", "seq_len": 2048, "layers": 8}, "train": {"tp": 8, "global_batch": 8}},
            {"name": "chat", "kind": "serve", "gpus": 16, "placement": "spread", "model": {"preset": "llama3-8b", "layers": 8},
             "serve": {"tp": 1, "prefill_replicas": 8, "decode_replicas": 8, "kv_transfer": "whole", "kv_precision": "bf16"},
             "workload": {"rate": 200, "requests": 200, "input_tokens": 8000, "output_tokens": 20}}]})
    result = run(cfg)
    pre = next(r for r in result.summary if r["job"] == "pre")
    rows = [r for r in result.tables["steps"].to_pylist() if r["job"] == "pre"]
    n = pre["steps"]
    times = [max(r["finish_s"] for r in rows if r["step"] == s) + pre["overhead_s"] for s in range(n)]
    assert n >= 3 and max(times) > 1.1 * min(times)           # co-tenants vary the steps
    total = math.fsum(times)
    assert pre["step_time_s"] == pytest.approx(total / n, rel=1e-12)
    assert pre["step_time_s"] == pytest.approx(pre["mean_step_time_s"], rel=1e-15)
    assert pre["step_time_s"] != pytest.approx(times[-1], rel=0.05)  # not the last step
    assert pre["tokens_per_s"] == pytest.approx(n * 8 * 2048 / total, rel=1e-12)   # tokens over total time
    # mfu and the FLOP rates over the same time as tokens_per_s: per token as the job alone has them
    alone = run(load_config(data={"topology": {"gpus": 16, "fabric": "fat-tree"}, "model": cfg.jobs[0].model,
                                  "train": cfg.jobs[0].train})).summary
    for k in ("mfu", "hfu", "model_tflops_per_gpu"):
        assert pre[k] / pre["tokens_per_s"] == pytest.approx(alone[k] / alone["tokens_per_s"], rel=1e-12), k
    # the critical GPU's time columns are the steps' means: they add up to the mean step
    crit = [r for r in rows if r["stage"] == 0 and r["dp_replica"] == 0 and r["cp_replica"] == 0]
    assert pre["comm_s"] == pytest.approx(math.fsum(r["comm_s"] for r in crit) / n, rel=1e-12)
    assert pre["exposed_comm_s"] == pytest.approx(math.fsum(r["exposed_comm_s"] for r in crit) / n, rel=1e-12)
    assert pre["compute_s"] + pre["exposed_comm_s"] + pre["bubble_s"] + pre["overhead_s"] == pytest.approx(
        pre["step_time_s"], rel=1e-9)


def test_a_bucket_below_one_layers_gradients_warns_once_that_it_acts_per_layer(capsys, monkeypatch):
    # train.dp_bucket_MB = 1e-9 ran silently, as one bucket per layer
    import workloads.training as training
    from sim.app.runner import run
    from sim.config import load_config
    from tests.workloads.training.training_helpers import small_model
    monkeypatch.setattr(training, "_WARNED", set())

    def step(**train):
        cfg = load_config(data={"topology": {"gpu": "A100-SXM-80GB", "gpus": 16}, "model": small_model(),
                                "train": {"tp": 2, "global_batch": 16, **train}})
        out = run(cfg).summary["step_time_s"]
        return out, [line for line in capsys.readouterr().err.splitlines() if "dp_bucket_MB" in line]
    tiny, warned = step(dp_bucket_MB=1e-9)
    assert len(warned) == 1 and "train.dp_bucket_MB = 1e-09 is below one layer's gradients" in warned[0]
    assert "acts as one bucket per layer" in warned[0]
    assert step(dp_bucket_MB=1e-9)[1] == []                    # once
    assert step(dp_bucket_MB=1e-6) == (tiny, [line.replace("1e-09", "1e-06") for line in warned])
    assert step()[1] == []                                     # the default is no choice of the user's
    assert step(dp_bucket_MB=1e4)[1] == []                     # one bucket for everything: no warning
    assert step(dp_bucket_MB=1e-9, overlap_grad_reduce=False)[1] == []    # no buckets: one reduction after


def test_layers_that_do_not_divide_over_the_pipeline_warn_once_naming_the_split(capsys, monkeypatch):
    # 10 layers on pp = 4 ran silently as [2, 3, 3, 2]: Megatron needs the layers to divide unless
    # told how to split them; the warning names the split and the keys that give it
    import workloads.training as training
    from sim.app.runner import run
    from sim.config import load_config
    from tests.workloads.training.training_helpers import small_model
    monkeypatch.setattr(training, "_WARNED", set())

    def step(layers, **train):
        cfg = load_config(data={"topology": {"gpu": "A100-SXM-80GB", "gpus": 8}, "model": small_model(layers=layers),
                                "train": {"pp": 4, "global_batch": 8, **train}})
        out = run(cfg).summary["step_time_s"]
        return out, [line for line in capsys.readouterr().err.splitlines() if "do not divide evenly" in line]
    uneven, warned = step(10)
    assert len(warned) == 1 and "model.layers = 10 do not divide evenly over train.pp = 4 pipeline stages: 3 layers " \
                                "each, the first stage 1 fewer and the last stage 1 fewer" in warned[0]
    assert "train.first_stage_layers = 2 and last_stage_layers = 2 give this split" in warned[0]
    assert step(10)[1] == []                                                  # once
    assert step(10, first_stage_layers=2, last_stage_layers=2) == (uneven, [])  # the same split, said explicitly
    assert step(12)[1] == []                                                  # divides
    _, warned = step(30, schedule="interleaved", virtual_stages=2)          # 8 chunks of 4, two short
    assert len(warned) == 1 and "train.pp x train.virtual_stages = 4 x 2 = 8 model chunks" in warned[0]
    assert "--account-for-embedding-in-pipeline-split and --account-for-loss-in-pipeline-split" in warned[0]
