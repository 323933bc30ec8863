"""Config loading: presets, dotted overrides, validation errors naming the key."""

from pathlib import Path

import pytest

from sim.config import apply_overrides, load_config, parse_override, read_toml
from sim.errors import ConfigError


def test_override_values_are_toml_literals_or_bare_strings():
    assert parse_override("train.tp=4") == (["train", "tp"], 4)
    assert parse_override('topology.gpu="H100-SXM-80GB"') == (["topology", "gpu"], "H100-SXM-80GB")
    assert parse_override("topology.gpu=H100-SXM-80GB") == (["topology", "gpu"], "H100-SXM-80GB")
    assert parse_override("topology.oversubscription=[1.0, 7.0]")[1] == [1.0, 7.0]
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize("item", ["model.preset=", "workload.trace=", "train.tp=  "])
def test_set_with_an_empty_value_is_refused_with_how_to_unset(item):
    # --set model.preset= became the empty string and ran the default model silently (no way to unset a key)
    with pytest.raises(ConfigError) as err:
        parse_override(item)
    key = item.split("=")[0]
    assert err.value.key == key and "cannot remove a key" in str(err.value) and "delete the key" in str(err.value)
    with pytest.raises(ConfigError):
        load_config(data={"model": {"preset": "llama3-8b"}}, overrides=[item])
    # an empty string stays writable as a TOML literal
    assert parse_override("""workload.trace=''""") == (["workload", "trace"], "")
    assert parse_override('workload.trace=""') == (["workload", "trace"], "")


def test_preset_loads_first_and_explicit_keys_override_it():
    cfg = load_config(data={"topology": {"preset": "dgx-a100-superpod", "gpus": 64}})
    assert cfg.topology.gpu == "A100-SXM-80GB" and cfg.topology.nic_Gbps == 200
    assert cfg.topology.gpus == 64
    cfg = load_config(data={"model": {"preset": "llama3-70b"}}, overrides=["model.layers=2"])
    assert cfg.model.layers == 2 and cfg.model.hidden == 8192


@pytest.mark.parametrize("data,key", [
    ({"train": {"tpp": 4}}, "train.tpp"),
    ({"train": {"tp": "four"}}, "train.tp"),
    ({"topology": {"oversubscription": 0.5}}, "topology.oversubscription"),
    ({"serve": {"scheduler": "fifo"}}, "serve.scheduler"),
    ({"bogus": {}}, "bogus"),
    ({"model": {"preset": "gpt-9"}}, "model.preset"),
])
def test_errors_name_the_key_path(data, key):
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert key in str(err.value)
    assert err.value.exit_code == 2


def test_serve_endpoint_is_chat_or_completions():
    # serve.endpoint picks the engine profile's per-request host time (chat adds chat_request_us);
    # unset it is "chat", the endpoint the shipped gpustack cases (and the vLLM request_us fit) ran
    assert load_config(data={}).serve.endpoint == "chat"
    assert load_config(data={"serve": {"endpoint": "completions"}}).serve.endpoint == "completions"
    for bad in ("responses", "/v1/completions", 1):
        with pytest.raises(ConfigError) as err:
            load_config(data={"serve": {"endpoint": bad}})
        assert "serve.endpoint" in str(err.value) and err.value.exit_code == 2


def test_every_error_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config(data={"train": {"tp": "x", "pp": "y"}})
    assert "train.tp" in str(err.value) and "train.pp" in str(err.value)


def test_hardware_tables_define_gpus_and_report_bad_keys():
    from sim import hardware
    cfg = load_config(data={"topology": {"gpu": "V100S-cfg", "gpus": 1},
                            "hardware": {"V100S-cfg": {"like": "A100-SXM-40GB",
                                                       "dense_tflops": {"fp16": 130, "bf16": 0, "fp32": 16.4},
                                                       "hbm_GB": 32, "hbm_GBps": 1134, "scaleup_GBps": 16}}})
    assert cfg.hardware["V100S-cfg"]["hbm_GB"] == 32
    assert hardware.gpu("V100S-cfg").peak_flops("fp16") == 130e12
    with pytest.raises(ConfigError) as err:
        load_config(data={"hardware": {"X": {"like": "A100-SXM-40GB", "hbm_GB": "lots"}}})
    assert err.value.key == "hardware.X.hbm_GB"
    with pytest.raises(ConfigError) as err:
        load_config(data={"hardware": {"X": 3}})
    assert err.value.key == "hardware"
# -- no NaN, no infinity, no silent coercion (issue 9, item 5) -------------------------------

@pytest.mark.parametrize("override,key", [
    ("topology.oversubscription=inf", "topology.oversubscription"),
    ("topology.oversubscription=[1.0, nan]", "topology.oversubscription"),
    ("workload.cv=inf", "workload.cv"),
    ("serve.host_kv_GB=inf", "serve.host_kv_GB"),
    ("topology.scaleup_latency_us=inf", "topology.scaleup_latency_us"),
    ("workload.rate=nan", "workload.rate"),
    ("train.dp_bucket_MB=-inf", "train.dp_bucket_MB"),
    ('workload.input_tokens={dist="lognormal", mean=nan, sigma=0.5}', "workload.input_tokens.mean"),
])
def test_nan_and_infinity_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    assert key in str(err.value) and "finite" in str(err.value)


@pytest.mark.parametrize("override,key,why", [
    ("workload.input_tokens=true", "workload.input_tokens", "boolean"),
    ("train.tp=true", "train.tp", "boolean"),
    ("topology.nic_Gbps=false", "topology.nic_Gbps", "boolean"),
    ('train.tp="8"', "train.tp", "string"),
    ("run.seed=-1", "run.seed", "greater than or equal to 0"),
    ("serve.kv_block_tokens=1000000", "serve.kv_block_tokens", "4096"),
    ("model.layers=100000000", "model.layers", "10000"),           # hung for minutes
    ("workload.input_tokens=100000000", "workload.input_tokens", "10,000,000"),
    ('workload.input_tokens={dist="lognormal", mean=1e30, sigma=0.5}', "workload.input_tokens.mean", "10000000"),
])
def test_wrong_types_and_out_of_range_values_are_refused(override, key, why):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    assert key in str(err.value) and why in str(err.value)
    assert "Input should be a valid integer" not in str(err.value)    # no noise from the union's other branch


def test_booleans_still_fill_boolean_keys():
    cfg = load_config(overrides=["run.trace=true", "train.sequence_parallel=true"])
    assert cfg.run.trace is True and cfg.train.sequence_parallel is True


def test_serve_replicas_are_not_silently_ignored_when_disaggregated():
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["serve.replicas=3", "serve.prefill_replicas=1", "serve.decode_replicas=1"])
    assert err.value.key == "serve.replicas"
    cfg = load_config(overrides=["serve.prefill_replicas=1", "serve.decode_replicas=1"])
    assert cfg.serve.prefill_replicas == 1


def test_serve_replicas_0_disaggregates_a_config_that_gives_replicas():
    """--set cannot remove a key the file gives: replicas = 0 (no co-located replicas) is how a
    co-located config is run disaggregated; it was refused as 'remove serve.replicas'."""
    cfg = load_config(data={"serve": {"replicas": 8}}, overrides=[
        "serve.replicas=0", "serve.prefill_replicas=2", "serve.decode_replicas=2"])
    assert (cfg.serve.replicas, cfg.serve.prefill_replicas, cfg.serve.decode_replicas) == (0, 2, 2)
    with pytest.raises(ConfigError) as err:             # replicas > 0 beside them is still refused
        load_config(data={"serve": {"replicas": 8}}, overrides=["serve.prefill_replicas=2",
                                                                 "serve.decode_replicas=2"])
    assert err.value.key == "serve.replicas"


def test_a_sweep_file_given_as_a_run_config_is_named_as_one():
    with pytest.raises(ConfigError) as err:
        load_config(data={"name": "s", "base": "quickstart.toml", "grid": {"train.tp": [2, 4]}})
    assert "sweep file" in err.value.reason and "dcsim sweep" in err.value.reason


@pytest.mark.parametrize("data,hint", [({"seed": 3, "run": {}}, "run.seed"),
                                       ({"tp": 2}, "train.tp or serve.tp")])
def test_a_key_above_every_section_names_the_section_it_belongs_to(data, hint):
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert err.value.key == next(iter(data)) and f"did you mean {hint}?" in err.value.reason
    with pytest.raises(ConfigError) as err:             # a plain unknown name gets no guess
        load_config(data={"bogus": 1})
    assert "did you mean" not in err.value.reason and "sweep" not in err.value.reason


def test_trace_arrivals_never_silently_replace_the_trace_lengths():
    trace = ['workload.arrival="trace"', 'workload.trace="AzureLLMInferenceTrace_conv.csv"']
    with pytest.raises(ConfigError) as err:
        load_config(data={"workload": {"input_tokens": 1000}}, overrides=trace)
    assert err.value.key == "workload.input_tokens" and "trace" in str(err.value)
    # a distribution table replaces them on purpose
    cfg = load_config(overrides=trace + ['workload.output_tokens={dist="fixed", value=64}'])
    assert cfg.workload.output_tokens.value == 64


@pytest.mark.parametrize("name", ["", "  ", "..", "a/b", "../../x", ".hidden"])
def test_empty_or_path_like_names_are_refused(name):
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {"name": name}})
    assert err.value.key == "run.name"


def test_an_empty_file_is_not_a_config(tmp_path):
    # it ran every default, and failed later (exit 3: the default training job does not fit in memory)
    for text in ("", "\n  \n", "# a comment\n# another\n"):
        (tmp_path / "e.toml").write_text(text)
        with pytest.raises(ConfigError) as err:
            load_config(tmp_path / "e.toml")
        assert err.value.key == str(tmp_path / "e.toml") and "empty config" in str(err.value)
    # only empty tables set nothing either (it ran the defaults as well)
    for text in ("[run]\n", "[run]\n[serve]\n# tp = 2\n[topology.extra]\n"):
        (tmp_path / "e.toml").write_text(text)
        with pytest.raises(ConfigError) as err:
            read_toml(tmp_path / "e.toml")
        assert "empty config" in str(err.value) and "empty tables such as [run]" in str(err.value)
    (tmp_path / "e.toml").write_text('[run]\nkind = "serve"\n')      # one key: the rest defaults, as asked
    assert read_toml(tmp_path / "e.toml") == {"run": {"kind": "serve"}}
    assert load_config(data={}).run.kind == "train"     # data, not a file: defaults as before


def test_a_binary_file_or_a_directory_is_not_a_config(tmp_path):
    (tmp_path / "bin.toml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "dir.toml").mkdir()
    for p, why in ((tmp_path / "bin.toml", "not a text file"), (tmp_path / "dir.toml", "is a directory")):
        with pytest.raises(ConfigError) as err:
            load_config(p)
        assert str(p) in str(err.value) and why in str(err.value)


@pytest.mark.parametrize("key,value", [("hbm_GB", float("nan")), ("hbm_GBps", float("inf")),
                                       ("dense_tflops", {"bf16": float("nan")}), ("dense_tflops", {"bf16": float("inf")})])
def test_hardware_tables_refuse_nan_and_infinity(key, value):
    row = {"like": "H100-SXM-80GB", key: value}
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": {"gpu": "FUZZ-GPU"}, "hardware": {"FUZZ-GPU": row}})
    assert f"hardware.FUZZ-GPU.{key}" in str(err.value) and "finite" in str(err.value)


def test_job_keys_refuse_booleans():
    job = {"name": "a", "kind": "train", "gpus": True}
    with pytest.raises(ConfigError) as err:
        load_config(data={"jobs": [job]})
    assert "jobs.0.gpus" in str(err.value) and "boolean" in str(err.value)


def test_speed_spread_past_its_bound_names_the_key():
    # hypothesis found speed_cv = 1e300: every GPU at exp(-|z|) = 0 speed, a ZeroDivisionError
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": {"speed_cv": 1e300}})
    assert "topology.speed_cv" in str(err.value)


def test_unknown_section_lists_every_top_level_name():
    with pytest.raises(ConfigError) as e:
        load_config(data={"trian": {}})
    assert e.value.key == "trian"
    assert all(n in str(e.value) for n in ("train", "serve", "hardware", "jobs"))


@pytest.mark.parametrize("key, value, bound", [
    ("topology.nic_Gbps", "1e300", "above"), ("topology.nic_Gbps", "1e-300", "below"),
    ("power.pue", "1e308", "above"), ("topology.scaleup_latency_us", "1e300", "above"),
    ("serve.host_kv_GB", "1e12", "above"), ("serve.ssd_kv_GB", "1e15", "above"),
    ("train.dp_bucket_MB", "25e6", "above"), ("serve.schedule_overhead_us", "1e300", "above"),
    ("serve.schedule_overhead_us", "2e6", "above")])
def test_physical_bounds_name_the_key_and_the_bound(key, value, bound):
    from sim.config import load_config
    with pytest.raises(ConfigError) as e:
        load_config(data={}, overrides=[f"{key}={value}"])
    assert e.value.key == key and bound in str(e.value)


def test_physical_bounds_apply_inside_jobs():
    job = {"name": "s", "kind": "serve", "gpus": 8, "serve": {"host_kv_GB": 1e12}}
    with pytest.raises(ConfigError) as e:
        load_config(data={"jobs": [job]})
    assert e.value.key == "jobs.0.serve.host_kv_GB"


def test_set_of_a_whole_table_warns_about_the_keys_it_drops(capsys):
    # --set train={tp = 8} replaced the file's [train] table, dropping its global_batch without a word
    out = apply_overrides({"train": {"tp": 4, "global_batch": 32}}, ["train={tp = 8}", "serve={tp = 2}"])
    assert out["train"] == {"tp": 8}                       # the literal is the key's new value, as before
    apply_overrides({"jobs": [{"train": {"tp": 2, "zero": 1}}]}, ["jobs.0.train={tp = 4, zero = 1}"])
    err = capsys.readouterr().err
    assert "--set train={...} replaces the config's whole train table and drops its global_batch" in err
    assert "jobs.0.train" not in err and "serve" not in err   # nothing dropped: no warning


TWO_JOBS = {"topology": {"gpus": 16}, "jobs": [{"name": "pre", "kind": "train", "gpus": 8}, {"name": "chat", "kind": "serve", "gpus": 8}]}


@pytest.mark.parametrize("override, key, suggested", [
    ("train.tp=4", "train.tp", "jobs.0.train.tp"),
    ("serve.tp=2", "serve.tp", "jobs.1.serve.tp"),
    ("workload.rate=3", "workload.rate", "jobs.1.workload.rate"),
    ("model.layers=2", "model.layers", "jobs.0.model.layers"),
    ("train={tp = 2}", "train", "jobs.0.train"),
])
def test_set_of_a_section_that_jobs_ignore_is_refused_naming_the_job_key(override, key, suggested):
    """--set train.tp=4 on a [[jobs]] config warned "[train] next to [[jobs]] is ignored" and ran
    unchanged (exit 0): an explicit override that cannot take effect is an error naming the key
    and the job's key that would take effect."""
    with pytest.raises(ConfigError) as e:
        load_config(data=TWO_JOBS, overrides=[override])
    assert e.value.key == key and e.value.exit_code == 2
    assert "[[jobs]]" in e.value.reason and suggested in e.value.reason and "1 = 'chat' (serve)" in e.value.reason
    # the job's own key is taken, and the same section without [[jobs]] is an ordinary override
    assert load_config(data=TWO_JOBS, overrides=[f"{suggested.split('.' + key)[0]}.{override}"])
    assert apply_overrides({}, [override])[key.split(".")[0]]
    # a --set jobs=[...] that makes the config a multi-job one counts too (the check follows every override)
    with pytest.raises(ConfigError):
        load_config(data={}, overrides=[override, 'jobs=[{name = "a", kind = "train", gpus = 8}]'])


def test_a_section_next_to_jobs_in_the_file_is_still_only_warned_about(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    cfg = load_config(data={**TWO_JOBS, "train": {"tp": 2}}, overrides=["jobs.0.train.tp=1"])
    assert cfg.jobs[0].train.tp == 1
    assert "warning: [train] next to [[jobs]] is ignored" in capsys.readouterr().err


@pytest.mark.parametrize("jobs, words", [({"name": "a", "kind": "train", "gpus": 8}, "one [jobs] table"),
                                         (5, "int 5")])
def test_jobs_written_as_one_table_is_refused_with_the_double_bracket_hint(jobs, words):
    # [jobs] for [[jobs]] read as pydantic's "Input should be a valid list"
    with pytest.raises(ConfigError) as e:
        load_config(data={"jobs": jobs})
    assert e.value.key == "jobs" and "[[jobs]]" in str(e.value) and words in str(e.value)


def test_an_unknown_preset_inside_a_job_names_the_jobs_key_path():
    jobs = [{"name": "a", "kind": "train", "gpus": 8, "model": {"preset": "llama3-8b"}},
            {"name": "b", "kind": "serve", "gpus": 8, "model": {"preset": "nope"}}]
    with pytest.raises(ConfigError) as e:
        load_config(data={"topology": {"gpus": 16}, "jobs": jobs})
    assert e.value.key == "jobs.1.model.preset" and "unknown preset 'nope'" in str(e.value)


@pytest.mark.parametrize("raw", ['"yes"', '"off"', "1", "0"])
def test_a_bool_key_takes_only_true_or_false(raw):
    with pytest.raises(ConfigError) as e:
        load_config(data={}, overrides=[f"train.sequence_parallel={raw}"])
    assert e.value.key == "train.sequence_parallel" and "true/false" in str(e.value)
    assert load_config(data={}, overrides=["train.sequence_parallel=true"]).train.sequence_parallel is True


def test_a_section_the_run_kind_ignores_is_warned_about(capsys):
    from sim import config
    config._WARNED_UNUSED.clear()
    load_config(data={"train": {"tp": 2}}, overrides=["run.kind=serve"])
    assert "[train] does not apply to run.kind = 'serve'" in capsys.readouterr().err
    load_config(data={"train": {"tp": 2}})
    assert capsys.readouterr().err == ""


def test_a_caller_that_reads_some_sections_is_warned_about_those_only(capsys):
    """dcsim collective reads [topology] and [hardware]: a [serve] that does not apply to run.kind,
    or a train key without effect, is no warning of its (it printed "[serve] does not apply ...")."""
    from sim import config
    config._WARNED_UNUSED.clear()
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"serve": {"tp": 2}, "train": {"sequence_parallel": True},
                      "topology": {"torus_dims": [2, 2, 2]}}, reads=("topology", "hardware"))
    err = capsys.readouterr().err
    assert "[serve] does not apply" not in err and "train.sequence_parallel" not in err
    assert "warning: topology.torus_dims has no effect" in err        # about a section it reads: kept


@pytest.mark.parametrize("message, section", [("topology.routing = 'ecmp' has no effect", "topology"),
                                              ("[hardware.'X'] has no effect", "hardware"),
                                              ("[model] next to [[jobs]] is ignored", "model"),
                                              ("jobs.0.serve does not apply", "jobs")])
def test_message_section_is_the_section_of_the_key_a_warning_starts_with(message, section):
    from sim.config import message_section
    assert message_section(message) == section


@pytest.mark.parametrize("dist, why", [
    ('{dist="lognormal", mean=1000, sigma=0.5, min=2000, max=100}', "min = 2000 is above max = 100"),
    ('{dist="fixed", value=1000, mean=5}', "mean is not a key of dist = 'fixed'"),
    ('{dist="uniform", min=3, max=9, sigma=1}', "sigma is not a key of dist = 'uniform'"),
    ('{dist="exponential", mean=50, value=3}', "value is not a key of dist = 'exponential'"),
    ('{dist="exponential", mean=0.5}', "mean"),          # every request would round to 1 token
    ('{dist="lognormal", mean=0.2, sigma=1}', "mean")])
def test_a_length_distribution_refuses_keys_it_ignores_and_min_above_max(dist, why):
    with pytest.raises(ConfigError) as e:
        load_config(data={}, overrides=[f"workload.input_tokens={dist}"])
    assert e.value.key == "workload.input_tokens" and why in str(e.value)
    assert "valid integer" not in str(e.value)      # the int branch of the union is not reported


def test_a_trace_that_the_arrival_process_would_ignore_is_refused():
    with pytest.raises(ConfigError) as e:
        load_config(data={"run": {"kind": "serve"}, "workload": {"trace": "x.csv"}})
    assert e.value.key == "workload.trace" and "arrival = 'trace'" in str(e.value)
    for ok in ({"arrival": "trace"}, {"arrival": "closed"}, {"input_tokens": {"dist": "trace"}}):
        load_config(data={"run": {"kind": "serve"}, "workload": {"trace": "x.csv", **ok}})


JOB = {"name": "t", "kind": "train", "gpus": 8}

SERVE = {"run": {"kind": "serve"}}


# more settings without effect (test_a_setting_without_effect_is_warned_about_naming_the_key runs them)
MORE_WITHOUT_EFFECT = [
    ({**SERVE, "workload": {"cv": 3.0}}, "workload.cv has no effect with arrival = 'poisson'"),
    ({**SERVE, "workload": {"arrival": "gamma", "concurrency": 4}}, "workload.concurrency has no effect"),
    ({**SERVE, "workload": {"time_scale": 2.0}}, "workload.time_scale has no effect"),
    ({**SERVE, "workload": {"arrival": "closed", "rate": 5.0}}, "workload.rate has no effect with arrival = 'closed'"),
    ({**SERVE, "serve": {"prefill_tp": 2}}, "serve.prefill_tp has no effect without disaggregation"),
    ({**SERVE, "workload": {"arrival": "closed", "concurrency": 64, "requests": 10}},
     "workload.concurrency = 64 is above workload.requests = 10"),
    ({**SERVE, "serve": {"kv_transfer": "whole"}}, "serve.kv_transfer has no effect without disaggregation"),
    ({**SERVE, "serve": {"redundant_experts": 2}}, "serve.redundant_experts has no effect"),
    ({**SERVE, "serve": {"dp_balance": True}}, "serve.dp_balance has no effect without serve.dp_attention"),
    ({**SERVE, "serve": {"host_kv_GB": 100.0}}, "serve.host_kv_GB has no effect without serve.prefix_cache"),
    ({**SERVE, "serve": {"ssd_kv_GB": 1000.0, "preemption": "swap"}}, "serve.ssd_kv_GB has no effect without"),
    ({**SERVE, "serve": {"scheduler": "sarathi", "chunk_size": 4096, "max_batch_tokens": 2048}},
     "serve.chunk_size = 4096 is above serve.max_batch_tokens = 2048"),
    ({"train": {"moe_dispatcher": "deepep"}}, "train.moe_dispatcher has no effect on a dense model"),
    ({"train": {"schedule": "interleaved", "virtual_stages": 2}}, "train.virtual_stages = 2 has no effect with pp = 1"),
    ({"train": {"last_stage_layers": 2}}, "train.last_stage_layers has no effect with pp = 1"),
    ({"train": {"dp": 4}}, "train.dp = 4 runs the job on 4 of the topology's 8 GPUs"),
    # ZeRO over one data-parallel rank runs as zero = 0 (plan.effective_zero): say so
    ({"train": {"tp": 8, "zero": 3}}, "train.zero = 3 has no effect with a data-parallel group of one rank"),
    ({"jobs": [{**JOB, "train": {"tp": 8, "zero": 1}}]}, "jobs.0.train.zero = 1 has no effect with a data-parallel"),
    # a [[jobs]] training job whose dp leaves GPUs of its own idle was not warned about
    ({"jobs": [{**JOB, "train": {"dp": 2}}]}, "jobs.0.train.dp = 2 runs job 't' on 2 of its jobs.0.gpus = 8 GPUs"),
    # long-horizon keys beside [[jobs]] were ignored without a word
    ({"jobs": [{**JOB, "train": {"checkpoint_interval_s": 100.0}}]},
     "jobs.0.train.checkpoint_interval_s has no effect in a [[jobs]] run"),
    ({"failures": {"gpu": 0.1}, "jobs": [JOB]}, "failures.gpu has no effect with [[jobs]]"),
    ({"run": {"steps": 5}, "jobs": [{**JOB, "kind": "serve"}]}, "run.steps has no effect: no [[jobs]] entry"),
    ({"model": {"global_every": 6}}, "model.global_every has no effect without model.sliding_window"),
    ({"model": {"moe_every": 2}}, "model.moe_every has no effect on a dense model"),
    ({"model": {"checkpoint_expert_precision": "mxfp4"}}, "model.checkpoint_expert_precision has no effect on a dense model"),
    ({**SERVE, "model": {"expert_load_cv": 1.5}}, "model.expert_load_cv has no effect on a dense model"),
    ({**SERVE, "model": {"moe_every": 2}}, "model.moe_every has no effect on a dense model"),   # serve as train
    # serving-only model keys on a training run used to pass silently
    ({"model": {"preset": "mixtral-8x7b", "expert_groups": 4, "expert_group_topk": 2}},
     "model.expert_groups has no effect on a training run"),
    ({"model": {"preset": "mixtral-8x7b", "expert_load_cv": 1.0}}, "model.expert_load_cv has no effect on a training run"),
    ({"model": {"preset": "deepseek-v3", "expert_load_cv": 0.5}}, "model.expert_load_cv has no effect on a training run"),
    ({"model": {"encoder_params": 1e9}}, "model.encoder_params has no effect on a training run"),
    ({"jobs": [{**JOB, "kind": "serve", "model": {"moe_every": 2}}]}, "jobs.0.model.moe_every has no effect"),
    ({**SERVE, "model": {"preset": "qwen3-30b-a3b"}, "serve": {"dp_attention": True}},
     "serve.dp_attention has no effect with tp = 1"),
    ({"jobs": [{**JOB, "kind": "serve", "serve": {"redundant_experts": 2}}]},
     "jobs.0.serve.redundant_experts has no effect without serve.dp_attention"),
    ({"model": {"attention_chunk": 8192, "attention_sinks": 4}}, "model.attention_sinks has no effect with model.attention_chunk"),
    ({"train": {"checkpoint_interval_s": 100.0}}, "train.checkpoint_interval_s has no effect without run.duration_h"),
    ({"failures": {"gpu": 0.1}}, "failures.gpu has no effect without run.duration_h"),
    ({"cost": {"depreciation_years": 2.0}}, "cost.depreciation_years has no effect without cost.capex_usd_per_gpu"),
    ({"run": {"baseline": False}}, "run.baseline has no effect without [[jobs]]"),
    ({"hardware": {"X": {"like": "H100-SXM-80GB"}}}, "[hardware.'X'] has no effect: topology.gpu = "),
    ({"topology": {"torus_dims": [2, 2, 2]}}, "topology.torus_dims has no effect with fabric = 'fat-tree'"),
    ({"topology": {"pod_gpus": 8}}, "topology.pod_gpus has no effect with fabric = 'fat-tree', tiers = 2"),
    ({"topology": {"speed_spread": 0.05, "speed_cv": 0.1}}, "topology.speed_spread has no effect with speed_cv"),
    ({"topology": {"routing": "adaptive", "fabric": "torus3d"}}, "topology.routing = 'adaptive' has no effect with fabric = 'torus3d'"),
    ({"topology": {"routing": "ecmp", "tiers": 1}}, "topology.routing = 'ecmp' has no effect with fabric = 'fat-tree', tiers = 1"),
    ({"topology": {"preset": "dgx-h100-superpod", "fabric": "none", "gpus": 8}}, "topology.routing = 'adaptive' has no effect"),
    ({"run": {"kind": "serve", "steps": 5}}, "run.steps has no effect with run.kind = 'serve'"),
    ({**SERVE, "failures": {"gpu": 0.1}}, "failures.gpu has no effect with run.kind = 'serve'"),
    ({"jobs": [{**JOB, "serve": {"tp": 2}}]}, "jobs.0.serve does not apply to kind = 'train'"),
    ({"jobs": [{**JOB, "kind": "serve", "workload": {"cv": 2.0}}]}, "jobs.0.workload.cv has no effect"),
    # DeepEP without expert parallelism ran silently, the step the same as alltoall's
    ({"model": {"preset": "mixtral-8x7b"}, "train": {"moe_dispatcher": "deepep"}},
     "train.moe_dispatcher = 'deepep' has no effect with train.ep = 1"),
    ({"jobs": [{**JOB, "model": {"preset": "mixtral-8x7b"}, "train": {"moe_dispatcher": "deepep"}}]},
     "jobs.0.train.moe_dispatcher = 'deepep' has no effect with jobs.0.train.ep = 1"),
    # method is a label: a draft model ran silently at the one-layer head's default cost
    ({"run": {"kind": "serve"}, "serve": {"speculative": {"method": "draft", "tokens": 3, "acceptance": 0.7}}},
     "serve.speculative.method = 'draft' is costed as draft_layers = 1"),
]


@pytest.mark.parametrize("data, words", [
    ({"run": {"kind": "serve"}, "serve": {"router_weights": {"queue": 1.0}}},
     "serve.router_weights has no effect with router = 'round-robin'"),
    ({"train": {"sequence_parallel": True}}, "train.sequence_parallel has no effect with tp = 1"),
    ({"train": {"virtual_stages": 4, "pp": 2}}, "train.virtual_stages = 4 has no effect with schedule = '1f1b'"),
    ({"model": {"layers": 4}, "jobs": [JOB]}, "[model] next to [[jobs]] is ignored"),
    ({"jobs": [{**JOB, "train": {"sequence_parallel": True}}]}, "jobs.0.train.sequence_parallel has no effect"),
] + MORE_WITHOUT_EFFECT)
def test_a_setting_without_effect_is_warned_about_naming_the_key(capsys, data, words):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data=data)
    assert f"warning: {words}" in capsys.readouterr().err


def test_zero_over_more_than_one_data_parallel_rank_is_no_warning(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"train": {"tp": 4, "zero": 3}})                 # dp = 2 of the 8 GPUs
    load_config(data={"train": {"tp": 4, "cp": 2, "zero": 1}})        # dp 1, but cp 2 shards
    assert "train.zero" not in capsys.readouterr().err


def test_a_model_preset_s_serving_keys_are_not_warned_about_in_training(capsys):
    """deepseek-v3 / llama4-scout carry serving-only keys (expert_load_cv, expert_groups, encoder_params):
    training them is the user's choice of model, not a setting without effect; nor is a serving run."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"model": {"preset": "deepseek-v3"}})
    load_config(data={"model": {"preset": "llama4-scout"}})
    load_config(data={**SERVE, "model": {"preset": "mixtral-8x7b", "expert_groups": 4, "expert_group_topk": 2}})
    assert "has no effect" not in capsys.readouterr().err


def test_settings_that_take_effect_are_not_warned_about(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"train": {"tp": 2, "sequence_parallel": True, "pp": 2, "schedule": "interleaved",
                                "virtual_stages": 2}})
    load_config(data={"run": {"kind": "serve"}, "serve": {"router": "weighted", "router_weights": {"queue": 1.0}}})
    load_config(data={"run": {"kind": "serve"}, "serve": {"speculative": {"method": "draft", "tokens": 3,
                                                                          "acceptance": 0.7, "draft_layers": 8}}})
    assert capsys.readouterr().err == ""


def test_a_quoted_dotted_key_part_is_read_as_toml_reads_it():
    assert parse_override('hardware."V100S-mine".hbm_GB=32') == (["hardware", "V100S-mine", "hbm_GB"], 32)
    assert parse_override("hardware.'x.y'.power_W=300") == (["hardware", "x.y", "power_W"], 300)
    data = apply_overrides({}, ['hardware."V100S-mine".hbm_GB=32'])
    assert data == {"hardware": {"V100S-mine": {"hbm_GB": 32}}}


def test_the_same_settings_where_they_take_effect_are_not_warned_about(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={**SERVE, "workload": {"arrival": "gamma", "cv": 3.0, "rate": 5.0}})
    load_config(data={**SERVE, "workload": {"arrival": "closed", "concurrency": 4}})
    load_config(data={**SERVE, "serve": {"prefill_replicas": 1, "decode_replicas": 1, "prefill_tp": 2,
                                         "kv_transfer": "whole"}})
    load_config(data={"run": {"duration_h": 10.0}, "train": {"checkpoint_interval_s": 100.0},
                      "failures": {"gpu": 0.1}, "cost": {"capex_usd_per_gpu": 3e4, "depreciation_years": 2.0}})
    load_config(data={"model": {"preset": "mixtral-8x7b"}, "train": {"tp": 2, "ep": 2, "moe_dispatcher": "deepep"}})
    load_config(data={"train": {"pp": 2, "schedule": "interleaved", "virtual_stages": 2}})
    load_config(data={"topology": {"fabric": "torus3d", "torus_dims": [2, 2, 2], "speed_spread": 0.05}})
    load_config(data={"topology": {"preset": "llama3-h100-roce"}})
    load_config(data={"train": {"tp": 2, "dp": 4}})          # dp that uses every GPU
    assert capsys.readouterr().err == ""


def test_a_relative_trace_is_found_beside_its_config_from_any_directory(tmp_path, monkeypatch):
    # `dcsim run /elsewhere/run.toml` with trace = "t.csv" beside it used to fail: "trace file
    # 't.csv' not found" (the path was read from the current directory only)
    cfg_dir, cwd = tmp_path / "study", tmp_path / "cwd"
    cfg_dir.mkdir(), cwd.mkdir()
    (cfg_dir / "t.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n")
    (cfg_dir / "run.toml").write_text('[run]\nkind = "serve"\n[workload]\narrival = "trace"\ntrace = "t.csv"\n'
                                      '[[jobs]]\nname = "c"\nkind = "serve"\ngpus = 1\n'
                                      'workload = { arrival = "trace", trace = "t.csv" }\n')
    monkeypatch.chdir(cwd)
    data = read_toml(cfg_dir / "run.toml")
    assert data["workload"]["trace"] == str((cfg_dir / "t.csv").resolve())
    assert data["jobs"][0]["workload"]["trace"] == str((cfg_dir / "t.csv").resolve())
    (cwd / "t.csv").write_text("")            # found from the current directory: left as written
    assert read_toml(cfg_dir / "run.toml")["workload"]["trace"] == "t.csv"
    (cwd / "t.csv").unlink()
    # a trace given with --set is looked for beside the config too (it was: "trace file 'u.csv' not found")
    (cfg_dir / "u.csv").write_text((cfg_dir / "t.csv").read_text())
    cfg = load_config(cfg_dir / "run.toml", ["jobs.0.workload.trace=u.csv"])
    assert cfg.jobs[0].workload.trace == str((cfg_dir / "u.csv").resolve())
    (cfg_dir / "one.toml").write_text('[run]\nkind = "serve"\n[workload]\narrival = "trace"\ntrace = "t.csv"\n')
    assert load_config(cfg_dir / "one.toml", ["workload.trace=u.csv"]).workload.trace == str((cfg_dir / "u.csv").resolve())


@pytest.mark.parametrize("topology, where", [
    ({"gpu_speed": {"3": "0.5"}}, "topology.gpu_speed"),      # was read as 0.5
    ({"nic_speed": {"3": True}}, "topology.nic_speed"),       # was read as 1.0
    ({"fabric": "torus3d", "torus_dims": [2, "2", 2]}, "topology.torus_dims"),
    ({"oversubscription": [1, "2"], "tiers": 3}, "topology.oversubscription"),
])
def test_a_string_or_boolean_inside_a_list_or_table_of_numbers_is_refused(topology, where):
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": topology})
    assert str(err.value).startswith(where) and "got the" in str(err.value)


@pytest.mark.parametrize("key", ["duration_h", "token_budget"])
def test_a_long_horizon_with_jobs_is_refused_before_simulating(key):
    # it failed only after the whole co-tenant simulation, saying "a serving run lasts its requests"
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {key: 10.0}, "jobs": [JOB]})
    assert err.value.key == f"run.{key}" and "[[jobs]]" in str(err.value)


def test_run_kind_beside_jobs_is_warned_about(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"run": {"kind": "serve"}, "jobs": [JOB]})
    assert "warning: run.kind has no effect with [[jobs]]" in capsys.readouterr().err


@pytest.mark.parametrize("override, reason", [
    ("failures.host=0.1", "a [[jobs]] entry has no failures key"),
    ("failures={gpu = 0.1}", "failures, restarts and checkpoints play out in long-horizon runs"),
    ("run.kind='serve'", "set jobs.N.kind instead, such as jobs.0.kind"),
])
def test_a_set_without_effect_on_jobs_is_refused_naming_the_key(override, reason):
    # --set failures.*=... and --set run.kind=... on a [[jobs]] config only warned, and the run went on
    # as if they had not been given; a --set is explicit, so it is refused as --set train.tp is
    data = {"jobs": [JOB, {**JOB, "name": "s", "kind": "serve"}]}
    with pytest.raises(ConfigError) as err:
        apply_overrides(data, [override])
    assert err.value.key == override.split("=")[0] and "has no effect" in str(err.value)
    assert reason in str(err.value)


def test_run_steps_set_without_a_training_job_is_refused():
    serve_only = {"jobs": [{**JOB, "kind": "serve"}]}
    with pytest.raises(ConfigError) as err:
        apply_overrides(serve_only, ["run.steps=3"])
    assert err.value.key == "run.steps" and "no [[jobs]] entry has kind = 'train'" in str(err.value)
    # with a training job, run.steps counts its steps; other run keys reach every job
    assert apply_overrides({"jobs": [JOB]}, ["run.steps=3", "run.seed=2"])["run"] == {"steps": 3, "seed": 2}


def test_a_long_horizon_on_a_serving_run_is_refused_before_simulating():
    # it was refused only when the summary was written, after every request had been simulated
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {"kind": "serve", "duration_h": 10.0}})
    assert err.value.key == "run.duration_h" and "training runs only" in str(err.value)


@pytest.mark.parametrize("data, key", [({"run": 5}, "run"), ({"run": [{"name": "x"}]}, "run"),
                                       ({"serve": {"speculative": 5}}, "serve.speculative")])
def test_a_value_where_a_table_belongs_says_a_table(data, key):
    # said "Input should be a valid dictionary or instance of RunSection" (pydantic's class name)
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert err.value.key == key and "must be a table" in str(err.value) and "instance" not in str(err.value)


def test_an_moe_top_k_error_names_the_key():
    for top_k, words in ((0, "must be >= 1"), (9, "exceeds experts")):
        with pytest.raises(ConfigError) as err:
            load_config(data={"model": {"experts": 8, "top_k": top_k, "expert_ffn_hidden": 64}})
        assert err.value.key == "model.top_k" and words in str(err.value)       # was key "model"


def test_set_jobs_index_without_jobs_tables_names_the_key():
    # --set jobs.0.KEY on a single-job config: a clear error, not pydantic's "Input should be a
    # valid list" about a {"0": ...} table the override created
    with pytest.raises(ConfigError) as e:
        load_config(data={"run": {"kind": "train"}}, overrides=["jobs.0.placement=spread"])
    assert e.value.key == "jobs.0.placement" and "no [[jobs]]" in str(e.value)


def test_llama4_presets_load_without_warnings(capsys):
    """global_every takes effect with attention_chunk (Llama 4's global NoPE layers), moe_every on an MoE model."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    for preset in ("llama4-scout", "llama4-maverick"):
        load_config(data={"model": {"preset": preset}})
    assert capsys.readouterr().err == ""


def test_moe_every_that_leaves_no_moe_layer_is_an_error():
    """An MoE model whose moe_every exceeds its layers (after dense_layers) would run as a dense model
    with its experts never used: a ConfigError naming model.moe_every, not a silent dense run."""
    with pytest.raises(ConfigError) as e:
        load_config(data={"model": {"preset": "llama4-scout", "moe_every": 100}})
    assert e.value.key == "model.moe_every" and "no MoE layer" in str(e.value)
    with pytest.raises(ConfigError, match="model.moe_every"):
        load_config(data={"model": {"preset": "llama4-scout", "dense_layers": 42, "moe_every": 41}})
    # only layer 41 (1-based) is MoE once dense_layers = 40, the last layer with moe_every = 48: still valid
    assert load_config(data={"model": {"preset": "llama4-scout", "dense_layers": 40, "moe_every": 41}}).model.moe_every == 41
    assert load_config(data={"model": {"preset": "llama4-scout", "moe_every": 48}}).model.moe_every == 48


def test_attention_chunk_longer_than_the_training_sequence_is_warned_about(capsys):
    """A chunk longer than model.seq_len holds every training sequence: chunked layers attend fully."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"model": {"preset": "llama4-scout", "attention_chunk": 100000}})
    assert "warning: model.attention_chunk = 100000 has no effect with model.seq_len = 8192" in capsys.readouterr().err
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"model": {"preset": "llama4-scout", "attention_chunk": 2048}})
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("data, key, words", [
    ({"train": {"tp": 2.5}}, "train.tp", "not a whole number"),
    ({"train": {"tp": 2.0}}, "train.tp", "write 2"),           # TOML's 2.0 was read as 2
    ({"topology": {"gpus": 16.0}}, "topology.gpus", "write 16"),
    ({"model": {"layers": 32.0}}, "model.layers", "write 32"),
    ({"run": {"kind": "serve"}, "workload": {"input_tokens": 1000.0}}, "workload.input_tokens", "write 1000"),
    ({"run": {"kind": "serve"}, "workload": {"input_tokens": {"dist": "uniform", "min": 1.0, "max": 9}}},
     "workload.input_tokens.min", "write 1"),
    ({"run": {"kind": "serve"}, "serve": {"speculative": {"tokens": 3.0, "acceptance": 0.7}}},
     "serve.speculative.tokens", "write 3"),
    ({"topology": {"fabric": "torus3d", "gpus": 8, "torus_dims": [2.0, 2, 2]}}, "topology.torus_dims", "write 2"),
    ({"jobs": [{"name": "a", "kind": "train", "gpus": 8.0}]}, "jobs.0.gpus", "write 8"),
])
def test_an_integer_key_refuses_a_float(data, key, words):
    """Integer keys are strict: pydantic's lax mode read 2.0 as 2 (and a float key's 2.5 gave a
    pydantic message); both are a ConfigError naming the key. Float keys still take integers."""
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert str(err.value).startswith(key + ":") and words in str(err.value) and "float" in str(err.value)
    assert load_config(data={"topology": {"nic_Gbps": 400}}).topology.nic_Gbps == 400.0


def test_a_missing_trace_is_reported_before_a_conflict_with_it():
    # input_tokens next to a trace that does not exist reported the length conflict, not the missing file
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {"kind": "serve"}, "workload": {
            "arrival": "trace", "trace": "/nonexistent/t.csv", "input_tokens": 1000}})
    assert err.value.key == "workload.trace" and "not found" in str(err.value)
    with pytest.raises(ConfigError) as err:       # an existing (shipped) trace: the conflict
        load_config(data={"run": {"kind": "serve"}, "workload": {
            "arrival": "trace", "trace": "AzureLLMInferenceTrace_conv.csv", "input_tokens": 1000}})
    assert err.value.key == "workload.input_tokens"


def test_serving_a_gpt_oss_preset_wider_than_its_mxfp4_checkpoint_warns(capsys):
    # openai/gpt-oss-* ship MXFP4 experts; serving the preset ran them at serve.precision silently
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    for preset in ("gpt-oss-20b", "gpt-oss-120b"):
        cfg = load_config(data={**SERVE, "model": {"preset": preset}, "serve": {"precision": "bf16"}})
        assert cfg.model.checkpoint_expert_precision == "mxfp4"
        err = capsys.readouterr().err
        assert f"warning: serve.expert_precision is unset, so {preset}'s routed experts run at serve.precision = 'bf16'" in err
    for serve in ({"expert_precision": "mxfp4"}, {"precision": "bf16", "expert_precision": "bf16"}):
        load_config(data={**SERVE, "model": {"preset": "gpt-oss-20b"}, "serve": serve})
        assert "expert_precision" not in capsys.readouterr().err
    load_config(data={"model": {"preset": "gpt-oss-20b"}})            # training: the key describes the model
    assert capsys.readouterr().err == ""


def test_an_empty_jobs_list_in_a_file_is_refused(tmp_path):
    # jobs = [] silently ran the default single training job (exit 3: it does not fit in memory)
    (tmp_path / "j.toml").write_text("jobs = []\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "j.toml")
    assert err.value.key == "jobs" and "empty" in str(err.value)
    assert load_config(data={"jobs": []}).jobs == []       # a dumped single-workload config round-trips


def test_set_jobs_to_an_empty_list_is_refused(tmp_path):
    # --set jobs=[] ran the top-level config as a single job: exit 3 on runs/cotenant.toml
    (tmp_path / "j.toml").write_text('[topology]\ngpus = 16\n[[jobs]]\nname = "a"\nkind = "train"\ngpus = 8\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "j.toml", overrides=["jobs=[]"])
    assert err.value.key == "jobs" and "empty list" in str(err.value)


def test_jobs_needing_more_gpus_than_the_topology_name_the_job_before_any_plan_check():
    # jobs.0.gpus = 100000 on 1088 GPUs reported "global_batch (256) is not divisible by ... dp = 3125"
    # jobs.0.gpus = 20 beside jobs.1.gpus = 16 on 32 GPUs was reported under jobs.1.gpus ("jobs 0..1 need 36
    # GPUs", job 'u': 16), the job that was right: neither count alone is wrong, so both are named
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": {"gpus": 32}, "jobs": [{**JOB, "gpus": 20}, {**JOB, "name": "u", "gpus": 16}]})
    assert err.value.key == "jobs" and "jobs.1.gpus" not in str(err.value)
    assert "the jobs need 36 GPUs in all (jobs.0 't' 20, jobs.1 'u' 16); the topology has 32" in str(err.value)
    # a job that alone needs more than the topology has is the one named
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": {"gpus": 16}, "jobs": [{**JOB, "gpus": 8}, {**JOB, "name": "u", "gpus": 100000}]})
    assert err.value.key == "jobs.1.gpus" and "job 'u' needs 100000 GPUs; the topology has 16" in str(err.value)


def test_a_rising_speculative_acceptance_list_is_refused():
    # the docstring said non-increasing; [0.9, 0.95, 0.5] ran (gain 3.35, more than position 1 allows)
    with pytest.raises(ConfigError) as err:
        load_config(data={"serve": {"speculative": {"tokens": 3, "acceptance": [0.9, 0.95, 0.5]}}})
    assert str(err.value).startswith("serve.speculative") and "acceptance[1] = 0.95" in str(err.value)
    load_config(data={"serve": {"speculative": {"tokens": 3, "acceptance": [0.9, 0.9, 0.5]}}})


def test_a_run_name_too_long_for_a_directory_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {"name": "x" * 201}})
    assert err.value.key == "run.name" and "200" in str(err.value)
    assert load_config(data={"run": {"name": "é" * 100}}).run.name == "é" * 100      # 200 bytes


@pytest.mark.parametrize("data,key,hint", [
    ({"train": {"tpp": 4}}, "train.tpp", "'tp'"),
    ({"serve": {"kv_precison": "fp8"}}, "serve.kv_precison", "'kv_precision'"),
    ({"topology": {"nic_gbps": 400}}, "topology.nic_gbps", "'nic_Gbps'"),
    ({"run": {"kind": "train"}, "jobs": [{"name": "a", "kind": "train", "gpu": 8}]}, "jobs.0.gpu", "'gpus'"),
    ({"model": {"hidden_size": 4096}}, "model.hidden_size", "'hidden' (Hugging Face's hidden_size)"),
    ({"model": {"num_key_value_heads": 8}}, "model.num_key_value_heads", "'kv_heads' (Hugging Face's num_key_value_heads)"),
])
def test_a_misspelled_key_names_the_key_it_is_close_to(data, key, hint):
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert f"{key}: unknown key; did you mean {hint}?" in str(err.value)


def test_an_unknown_key_close_to_none_gets_no_guess():
    with pytest.raises(ConfigError) as err:
        load_config(data={"train": {"zzz": 1}})
    assert str(err.value) == "train.zzz: unknown key"


def test_a_config_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    # a BOM (Windows editors) was "not valid TOML: Invalid statement (at line 1, column 1)"
    p = tmp_path / "c.toml"
    p.write_text("\ufeff[train]\ntp = 2\n", encoding="utf-8")
    assert read_toml(p) == {"train": {"tp": 2}}


def test_every_hugging_face_name_points_at_a_model_key():
    from sim.config import HF_MODEL_KEYS, ModelSection
    assert set(HF_MODEL_KEYS.values()) <= set(ModelSection.model_fields)
    assert not set(HF_MODEL_KEYS) & set(ModelSection.model_fields)     # an alias is never a key itself


@pytest.mark.parametrize("vocab", [1, 0, -5])
def test_a_vocabulary_of_fewer_than_two_tokens_is_refused_with_the_reason(vocab):
    # vocab = 1 ran (an LM head over one token samples nothing); 0 or fewer has no LM head at all
    with pytest.raises(ConfigError) as err:
        load_config(data={"model": {"vocab": vocab}})
    assert err.value.key == "model.vocab" and "at least 2" in str(err.value)
    assert load_config(data={"model": {"vocab": 2}}).model.vocab == 2


@pytest.mark.parametrize("draft_vocab", [1, 0, -5])
def test_a_draft_vocabulary_of_fewer_than_two_tokens_is_refused_with_the_reason(draft_vocab):
    # draft_vocab = 1 ran (a draft head over one token proposes the same token every step), as model.vocab = 1 did
    spec = {"tokens": 3, "acceptance": 0.7, "draft_vocab": draft_vocab}
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {"kind": "serve"}, "serve": {"speculative": spec}})
    assert str(err.value).startswith("serve.speculative.draft_vocab: ") and "at least 2" in str(err.value)
    ok = load_config(data={"run": {"kind": "serve"}, "serve": {"speculative": {**spec, "draft_vocab": 2}}})
    assert ok.serve.speculative.draft_vocab == 2


@pytest.mark.parametrize("extra, key, words", [
    ({"draft_layers": float("inf")}, "serve.speculative.draft_layers", "finite"),    # ran into a deadlock (exit 4)
    ({"draft_layers": float("nan")}, "serve.speculative.draft_layers", "finite"),
    ({"draft_layers": 1e9}, "serve.speculative.draft_layers", "less than or equal"),  # ran: a draft step of 1e9 layers
    ({"draft_layers": 0}, "serve.speculative.draft_layers", "more than 0 layers"),   # ran: a drafter with no layers
    ({"draft_layers": -1.0}, "serve.speculative.draft_layers", "more than 0 layers"),
    ({"acceptance": float("nan")}, "serve.speculative.acceptance", "finite"),
    ({"verify_tokens": 3}, "serve.speculative.verify_tokens", "at least tokens + 1 = 4"),  # ran: fewer checked than drafted
])
def test_bad_speculative_numbers_name_the_key(extra, key, words):
    spec = {"tokens": 3, "acceptance": 0.7, **extra}
    with pytest.raises(ConfigError) as err:
        load_config(data={"run": {"kind": "serve"}, "serve": {"speculative": spec}})
    assert str(err.value).startswith(key + ": ") and words in str(err.value)
    # the chain's own verify count and a tree's larger one stay valid
    assert load_config(data={"serve": {"speculative": {"tokens": 3, "acceptance": 0.7, "verify_tokens": 4}}})
    assert load_config(data={"serve": {"speculative": {"tokens": 4, "acceptance": 0.5, "verify_tokens": 16, "topk": 4}}})
    # a small draft model scaled to the target's width may cost a fraction of a target layer
    assert load_config(data={"serve": {"speculative": {"tokens": 3, "acceptance": 0.7, "draft_layers": 0.25}}})


@pytest.mark.parametrize("name", ["  ", "\t"])
def test_a_blank_job_name_is_refused(name):
    # name = "  " ran, labelling the job's rows with blanks (name = "" was already refused)
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": {"gpus": 16}, "jobs": [{**JOB, "name": name, "gpus": 8}]})
    assert err.value.key == "jobs.0" and "jobs.0.name: " in str(err.value) and "blank" in str(err.value)


def test_group_limited_routing_keys_go_together_and_fit_the_experts():
    from workloads.model import ModelSpec
    cfg = load_config(data={"model": {"preset": "deepseek-v3"}})
    spec = ModelSpec.from_section(cfg.model)
    assert (spec.expert_groups, spec.expert_group_topk) == (8, 4)      # DeepSeek-V3 config.json n_group / topk_group
    with pytest.raises(ConfigError, match="model.expert_group_topk"):
        load_config(data={"model": {"preset": "deepseek-v3", "expert_group_topk": None}})
    with pytest.raises(ConfigError, match="model.expert_groups"):
        load_config(data={"model": {"preset": "deepseek-v3", "expert_groups": 7}})
    with pytest.raises(ConfigError, match="model.expert_group_topk"):
        load_config(data={"model": {"preset": "deepseek-v3", "expert_group_topk": 9}})
    with pytest.raises(ConfigError, match="model.expert_group_topk"):   # one group of 4 experts cannot hold top_k 8
        load_config(data={"model": {"preset": "deepseek-v3", "expert_groups": 64, "expert_group_topk": 1}})


@pytest.mark.parametrize("data,key", [
    ({"serve": {"tp": 2 ** 63, "prefill_replicas": 1, "decode_replicas": 1, "prefill_tp": 1, "decode_tp": 1}},
     "serve.tp"),
    ({"run": {"seed": 2 ** 64}}, "run.seed"),
    ({"serve": {"cuda_graph_batch_sizes": [1, 2 ** 63]}}, "serve.cuda_graph_batch_sizes")])
def test_integers_beyond_int64_are_refused_naming_the_key(data, key):
    """serve.tp = 2**63, unused beside prefill_tp/decode_tp, reached the summary's Parquet
    column as an OverflowError traceback."""
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert err.value.key == key and "2**63 - 1" in err.value.reason
    assert load_config(data={"run": {"seed": 2 ** 63 - 1}}).run.seed == 2 ** 63 - 1


def test_a_vanishing_moe_capacity_factor_is_refused():
    """1e-200 underflowed the dispatch bytes and deadlocked the simulation (exit 4)."""
    data = {"model": {"preset": "mixtral-8x7b"}, "train": {"ep": 4, "moe_capacity_factor": 1e-200}}
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert err.value.key == "train.moe_capacity_factor"
    data["train"]["moe_capacity_factor"] = 0.5
    assert load_config(data=data).train.moe_capacity_factor == 0.5


def test_a_repeated_cuda_graph_batch_size_is_refused_naming_the_key():
    # the engine captures one graph per size (a set); [8, 4, 4] was accepted silently
    with pytest.raises(ConfigError) as err:
        load_config(data={"serve": {"cuda_graph_batch_sizes": [8, 4, 4]}})
    assert str(err.value).startswith("serve.cuda_graph_batch_sizes") and "4 more than once" in str(err.value)
    # any order of distinct sizes is accepted, as before
    assert load_config(data={"serve": {"cuda_graph_batch_sizes": [8, 1, 4]}}).serve.cuda_graph_batch_sizes == [8, 1, 4]


def test_the_empty_config_error_names_examples_that_load(tmp_path):
    """The hint named [run] kind = "train" with [model] preset = "llama3-8b", which exits 3 (it does not
    fit an H100); every example it names now exists and loads (a sweep's with load_sweep)."""
    import re
    from sim.app.sweep import load_sweep
    (tmp_path / "e.toml").write_text("# nothing\n")
    with pytest.raises(ConfigError) as err:
        read_toml(tmp_path / "e.toml")
    named = re.findall(r"runs/[\w.-]+\.toml", str(err.value))
    assert len(named) == 3
    root = Path(__file__).resolve().parents[1]
    for rel in named:
        if "sweep" in rel:
            assert load_sweep(root / rel).points()
        else:
            load_config(root / rel)


def test_a_number_where_a_string_is_expected_says_to_quote_it():
    # --set run.name=123 said only "Input should be a valid string"
    with pytest.raises(ConfigError) as err:
        load_config(None, ["run.name=123"])
    assert err.value.key == "run.name"
    assert "must be a string, got the number 123: quote it (name = \"123\"" in str(err.value)
    assert "--set run.name='\"123\"'" in str(err.value)
    assert load_config(None, ['run.name="123"']).run.name == "123"      # what the shell passes for --set run.name='"123"'


def _ranged_jobs(a, b, gpus_a=None, gpus_b=None) -> dict:
    def job(name, ranges, gpus):
        return {"name": name, "kind": "train", "gpus": gpus if gpus is not None else sum(y - x for x, y in ranges),
                "placement": ranges, "model": {"preset": "llama3-8b", "layers": 8}, "train": {"tp": 8}}
    return {"run": {"name": "t"}, "topology": {"gpus": 64, "fabric": "fat-tree", "leaf_radix": 32},
            "jobs": [job("a", a, gpus_a), job("b", b, gpus_b)]}


def test_overlapping_placements_of_two_jobs_name_both_jobs_and_the_gpus():
    with pytest.raises(ConfigError) as err:
        load_config(data=_ranged_jobs([[0, 32]], [[40, 48], [16, 40]]))
    assert err.value.key == "jobs.1.placement" and err.value.exit_code == 2
    assert ("jobs 'a' (jobs.0, range [0, 32)) and 'b' (jobs.1, range [16, 40)) overlap on GPUs 16-31"
            in err.value.reason)
    with pytest.raises(ConfigError, match=r"overlap on GPU 31:"):
        load_config(data=_ranged_jobs([[0, 32]], [[31, 32]]))
    load_config(data=_ranged_jobs([[0, 32]], [[32, 64]]))               # touching ranges share nothing


def test_one_jobs_overlapping_ranges_say_so_not_how_many_gpus_they_hold():
    # [[0, 16], [8, 24]] beside gpus = 16 said "ranges ... hold 32 GPUs; its gpus is 16"
    with pytest.raises(ConfigError) as err:
        load_config(data=_ranged_jobs([[0, 16], [8, 24]], [[32, 48]], gpus_a=16))
    assert err.value.key == "jobs.0.placement"
    assert "its ranges [0, 16) and [8, 24) overlap on GPUs 8-15" in err.value.reason and "hold" not in err.value.reason


@pytest.mark.parametrize("section", ["run", "train", "serve", "workload", "cost", "power", "failures"])
def test_a_preset_key_in_a_section_without_presets_is_refused_naming_it(section):
    # [train] preset = "x" read "unknown preset 'x'; known: (none)", and preset = "" ran silently
    for value in ("x", ""):
        with pytest.raises(ConfigError) as err:
            load_config(data={section: {"preset": value}})
        assert err.value.key == f"{section}.preset" and err.value.exit_code == 2
        assert f"[{section}] has no presets (only [model] and [topology] take a preset key)" in err.value.reason
    jobs = [{"name": "a", "kind": "train", "gpus": 8, "train": {"preset": "x"}}]
    with pytest.raises(ConfigError) as err:
        load_config(data={"topology": {"gpus": 8}, "jobs": jobs})
    assert err.value.key == "jobs.0.train.preset" and "has no presets" in err.value.reason


@pytest.mark.parametrize("section", ["model", "topology"])
def test_an_empty_preset_is_refused_not_read_as_none(section):
    # model.preset = "" ran the default model silently in place of the file's preset
    with pytest.raises(ConfigError) as err:
        load_config(data={section: {"preset": ""}})
    assert err.value.key == f"{section}.preset" and "is empty: name a preset" in err.value.reason


def test_a_dumped_config_with_its_none_presets_loads_again():
    # config_to_dict gives every section's preset (None): a dumped config is no preset key
    from sim.config import config_to_dict
    cfg = load_config(data={"model": {"preset": "llama3-8b"}, "train": {"tp": 2}})
    again = load_config(data=config_to_dict(cfg))
    assert config_to_dict(again) == config_to_dict(cfg)


def test_deepep_with_expert_parallelism_is_no_warning(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={"topology": {"gpus": 16}, "model": {"preset": "mixtral-8x7b"},
                      "train": {"tp": 2, "ep": 2, "moe_dispatcher": "deepep"}})
    assert "moe_dispatcher" not in capsys.readouterr().err


MOONCAKE_TRACE = {"arrival": "trace", "trace": "mooncake_fast25_conversation_trace.jsonl"}


@pytest.mark.parametrize("data, words", [
    ({**SERVE, "serve": {"scheduler": "vllm", "chunk_size": 256}},
     "serve.chunk_size has no effect with scheduler = 'vllm' (serve.scheduler)"),
    ({**SERVE, "serve": {"engine": "trtllm", "chunk_size": 256}},
     "serve.chunk_size has no effect with scheduler = 'orca' (trtllm's default)"),
    ({**SERVE, "serve": {"engine": "sglang", "chunk_size": 256}},
     "serve.chunk_size has no effect with scheduler = 'vllm' (sglang's default)"),
    ({**SERVE, "serve": {"prefix_cache": True}}, "serve.prefix_cache = true has no effect here"),
    ({**SERVE, "serve": {"prefix_cache": True}, "workload": {"arrival": "poisson", "trace": "AzureLLMInferenceTrace_conv.csv",
                                                               "input_tokens": {"dist": "trace"}}},
     "serve.prefix_cache = true has no effect here"),
    ({**SERVE, "serve": {"prefix_cache": True, "router": "prefix-aware"}},
     "serve.router = 'prefix-aware' routes as 'least-loaded' here: the workload's requests carry no prefix blocks"),
    ({**SERVE, "serve": {"router": "prefix-aware"}, "workload": MOONCAKE_TRACE},
     "serve.router = 'prefix-aware' routes as 'least-loaded' here: the replicas hold no prefix cache"),
    ({**SERVE, "serve": {"engine": "trtllm", "async_scheduling": True}},
     "serve.async_scheduling = true has no effect with engine 'trtllm'"),
    ({**SERVE, "run": {"kind": "serve", "rate_tolerance": 0.1}}, "run.rate_tolerance has no effect on a run"),
    ({"jobs": [{"name": "c", "kind": "serve", "gpus": 8, "serve": {"scheduler": "orca", "chunk_size": 64}}]},
     "jobs.0.serve.chunk_size has no effect with scheduler = 'orca'"),
])
def test_a_setting_the_run_would_find_without_effect_is_told_by_the_config(capsys, data, words):
    """These were warned only at run time, once the engine's defaults and the request stream were built,
    so a sweep over them ran identical points: the config decides them before the run (the engine's
    default scheduler and host times from engines.toml, prefix blocks from the workload's trace)."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data=data)
    assert f"warning: {words}" in capsys.readouterr().err


def test_the_same_serving_settings_where_they_take_effect_are_not_told(capsys):
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    load_config(data={**SERVE, "serve": {"chunk_size": 256}})                 # vLLM's default: chunked prefill
    load_config(data={**SERVE, "serve": {"scheduler": "sarathi", "engine": "trtllm", "chunk_size": 256}})
    load_config(data={**SERVE, "serve": {"prefix_cache": True, "router": "prefix-aware"}, "workload": MOONCAKE_TRACE})
    load_config(data={**SERVE, "serve": {"prefix_cache": True}, "workload": {**MOONCAKE_TRACE, "arrival": "closed"}})
    load_config(data={**SERVE, "serve": {"engine": "trtllm", "async_scheduling": True, "schedule_overhead_us": 300.0}})
    load_config(data={**SERVE, "serve": {"engine": "vllm", "async_scheduling": True}})
    assert capsys.readouterr().err == ""
    # dcsim traffic reads run.rate_tolerance (its sections: topology, hardware, run)
    load_config(data={"run": {"rate_tolerance": 0.1}}, reads=("topology", "hardware", "run"))
    assert "rate_tolerance" not in capsys.readouterr().err


@pytest.mark.parametrize("engine", [None, "vllm", "sglang", "trtllm", "trtllm-serve", "dynamo-vllm", "sglang-0.4"])
def test_the_config_s_engine_scheduler_is_the_one_the_engine_runs(engine):
    """sim.config.engine_scheduler (what the config's checks read) is the scheduler the serving engine
    applies (workloads/serving/engines.apply_defaults), for every engine, given or not."""
    from sim.config import ServeSection, engine_scheduler
    from workloads.serving import engines
    for given in ({}, {"scheduler": "orca"}):
        serve = ServeSection.model_validate({"engine": engine, **given} if engine else given)
        assert engine_scheduler(serve) == engines.apply_defaults(serve, 80e9).scheduler


@pytest.mark.parametrize("workload", [
    {"arrival": "burst", "requests": 4},
    {"arrival": "closed", "concurrency": 2, "requests": 4},
    {**MOONCAKE_TRACE, "requests": 4},
    {**MOONCAKE_TRACE, "arrival": "closed", "concurrency": 2, "requests": 4},
    {"arrival": "poisson", "rate": 5.0, "requests": 4, "trace": "mooncake_fast25_conversation_trace.jsonl",
     "input_tokens": {"dist": "trace"}},
    {"arrival": "trace", "trace": "AzureLLMInferenceTrace_conv.csv", "requests": 4},
])
def test_the_config_knows_which_workloads_carry_prefix_blocks(workload):
    """sim.config.carries_prefix_blocks (what the prefix cache's warning reads) agrees with the request
    stream the run builds (workloads/serving/requests.build_stream)."""
    from sim.config import carries_prefix_blocks
    from sim.simulation import Simulation
    from workloads.serving.requests import build_stream
    cfg = load_config(data={**SERVE, "workload": workload})
    stream = build_stream(cfg.workload, Simulation(0))
    assert carries_prefix_blocks(cfg.workload) == (stream.prefix_blocks is not None)


# serve.moe_backend where its kernel is not what the experts run: decided from the config, before the run
MIXTRAL = {**SERVE, "model": {"preset": "mixtral-8x7b"}}
OSS = {**SERVE, "model": {"preset": "gpt-oss-120b"}, "topology": {"gpu": "H200-SXM-141GB"}}


def _moe_backend_messages(data):
    from sim import config
    cfg = load_config(data=data)
    return [m for m in config.ineffective_settings(data, cfg) if m.startswith("serve.moe_backend")]


@pytest.mark.parametrize("data, words", [
    ({**OSS, "serve": {"precision": "fp8", "expert_precision": "fp8", "moe_backend": "marlin"}},
     "serve.moe_backend = 'marlin' (a weight-only MoE kernel) has no effect: gpt-oss-120b's routed experts"),
    ({**MIXTRAL, "serve": {"precision": "fp8", "moe_backend": "triton"}},
     "serve.moe_backend = 'triton' (a weight-only MoE kernel) has no effect"),
    ({**MIXTRAL, "serve": {"precision": "fp8", "moe_backend": "trtllm_gen"}},
     "serve.moe_backend = 'trtllm_gen' has no effect: H100-SXM-80GB has no FP4 tensor cores"),
    ({**OSS, "topology": {"gpu": "B200-180GB"}, "serve": {"precision": "bf16", "expert_precision": "mxfp4",
                                                         "moe_backend": "trtllm_gen"}},
     "serve.moe_backend = 'trtllm_gen' has no effect: its routed experts are weight-only"),
    ({**MIXTRAL, "serve": {"precision": "fp8", "moe_backend": "cutlass"}},
     "serve.moe_backend = 'cutlass' has no effect: its own terms (calibration.toml [fused_moe] cutlass_fp4_*) are "
     "modelled for experts whose MMA runs at FP4 on GPUs with FP4 tensor cores, and H100-SXM-80GB's experts here "
     "run fp8, priced as the dense curve (serve.engine = 'vllm' default)"),
    ({**MIXTRAL, "topology": {"gpu": "B200-180GB"}, "serve": {"precision": "fp8", "moe_backend": "cutlass"}},
     "B200-180GB's experts here run fp8"),
    ({**MIXTRAL, "topology": {"gpu": "B200-180GB"}, "serve": {"precision": "fp8", "expert_precision": "fp4",
                                                             "moe_backend": "cutlass"}},
     "B200-180GB's experts here run fp8, priced"),      # FP4 weights on the FP8 MMA (f8f6f4): not FP4 experts
])
def test_a_moe_backend_without_effect_is_the_config_s_warning(capsys, data, words):
    """The serve.moe_backend kernel warnings were the deployment's, at run time, so a sweep over the key ran
    identical points: they are decided from the config (the model, the GPU's FP4 tensor cores, the experts'
    weight and MMA precisions: sim.config.expert_kernel) and printed once when it is loaded."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    found = _moe_backend_messages(data)
    assert len(found) == 1 and words in found[0], found
    assert capsys.readouterr().err.count("warning: serve.moe_backend") == 1


MOE_BACKEND_IN_EFFECT = [
    {**OSS, "serve": {"precision": "bf16", "expert_precision": "mxfp4", "moe_backend": "marlin"}},   # weight-only
    {**OSS, "serve": {"precision": "bf16", "expert_precision": "mxfp4", "moe_backend": "triton"}},
    {**MIXTRAL, "topology": {"gpu": "B200-180GB"}, "serve": {"precision": "fp8", "moe_backend": "trtllm_gen"}},
    {**MIXTRAL, "topology": {"gpu": "B200-180GB"}, "serve": {"precision": "fp4", "moe_backend": "cutlass"}},
    {**MIXTRAL, "serve": {"precision": "fp8", "moe_backend": "cutlass", "engine": "trtllm"}},     # its default
]


def test_a_moe_backend_that_takes_effect_is_no_warning():
    """The same keys where the kernel is what the experts run give no message; the weight-only kernels'
    GPT-OSS pair differs only in the experts' precision (mxfp4 weight-only, fp8 their own MMA)."""
    for data in MOE_BACKEND_IN_EFFECT:
        assert _moe_backend_messages(data) == [], data
    own_mma = {**OSS, "serve": {"precision": "bf16", "expert_precision": "fp8", "expert_compute_precision": "fp8",
                                "moe_backend": "marlin"}}
    assert "has no effect" in _moe_backend_messages(own_mma)[0]


def test_a_moe_backend_on_a_gpu_a_config_defines_reads_its_fp4_tensor_cores():
    """A GPU of the config's own [hardware] table is defined before the warnings are decided (it was after)."""
    base = {**MIXTRAL, "serve": {"precision": "fp8", "moe_backend": "trtllm_gen"}}
    fp4 = {**base, "topology": {"gpu": "B200-mine"}, "hardware": {"B200-mine": {"like": "B200-180GB"}}}
    assert _moe_backend_messages(fp4) == []
    no_fp4 = {**base, "topology": {"gpu": "H100-mine"}, "hardware": {"H100-mine": {"like": "H100-SXM-80GB"}}}
    assert "H100-mine has no FP4 tensor cores" in _moe_backend_messages(no_fp4)[0]


# serve.moe_backend that cannot run (a dense model; a kernel the engine does not have): a config error
DENSE = {**SERVE, "model": {"preset": "llama3-8b"}}


@pytest.mark.parametrize("backend", ["cutlass", "trtllm_gen", "triton", "marlin"])
def test_a_moe_backend_on_a_dense_model_is_a_config_error(backend):
    """A dense model runs no MoE kernel: refused when the config is loaded (it was refused only when the
    serving deployment was built, after `dcsim run` had started), naming serve.moe_backend and why."""
    with pytest.raises(ConfigError) as e:
        load_config(data={**DENSE, "serve": {"moe_backend": backend}})
    assert e.value.key == "serve.moe_backend"
    assert (f"{backend!r} names an MoE kernel, but llama3-8b has no routed experts (model.experts = 0)"
            in str(e.value))


def test_a_moe_backend_the_engine_does_not_have_is_a_config_error_listing_its_kernels():
    """TensorRT-LLM has no Marlin MoE (engines.toml trtllm moe_backends = cutlass, trtllm_gen, triton): the
    config refuses marlin on trtllm and on trtllm-serve (a mode of it), listing the kernels it has; vLLM
    (a row without moe_backends: every kernel) runs it, and trtllm runs triton."""
    marlin = {"precision": "bf16", "expert_precision": "mxfp4", "moe_backend": "marlin"}
    for engine in ("trtllm", "trtllm-serve"):
        with pytest.raises(ConfigError) as e:
            load_config(data={**OSS, "serve": {**marlin, "engine": engine}})
        assert e.value.key == "serve.moe_backend"
        assert (f"engine {engine!r} has no 'marlin' MoE kernel (its backends: cutlass, trtllm_gen, triton; "
                "engines.toml moe_backends)") in str(e.value)
    assert load_config(data={**OSS, "serve": {**marlin, "engine": "vllm"}}).serve.moe_backend == "marlin"
    assert load_config(data={**OSS, "serve": {**marlin, "engine": "trtllm", "moe_backend": "triton"}})


def test_a_job_s_moe_backend_that_cannot_run_names_the_job_and_a_train_run_s_serve_section_does_not():
    """In [[jobs]] the key is the job's (jobs.N.serve.moe_backend), as other config errors of a job; a
    [serve] that run.kind = 'train' ignores is only warned about (it runs no MoE kernel either way)."""
    jobs = {"topology": {"gpus": 16}, "jobs": [
        {"name": "moe", "kind": "serve", "gpus": 8, "model": {"preset": "mixtral-8x7b"},
         "serve": {"moe_backend": "marlin"}},
        {"name": "dense", "kind": "serve", "gpus": 8, "model": {"preset": "llama3-8b"},
         "serve": {"moe_backend": "triton"}}]}
    with pytest.raises(ConfigError) as e:
        load_config(data=jobs)
    assert e.value.key == "jobs.1.serve.moe_backend" and "llama3-8b has no routed experts" in str(e.value)
    jobs["jobs"][1]["kind"] = "train"
    assert load_config(data=jobs).jobs[1].serve.moe_backend == "triton"
    train = {"run": {"kind": "train"}, "model": {"preset": "llama3-8b"}, "serve": {"moe_backend": "cutlass"}}
    assert load_config(data=train).run.kind == "train"


def test_dcsim_run_refuses_a_moe_backend_on_a_dense_model_before_the_run(tmp_path, capsys):
    """Exit 2 with the config's message, and no output folder (the run used to start, then fail)."""
    from sim.app.cli import main
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nkind = "serve"\nname = "t"\n[topology]\ngpu = "H100-SXM-80GB"\ngpus = 1\n'
                   'fabric = "none"\n[model]\npreset = "llama3-8b"\n[serve]\nmoe_backend = "cutlass"\n'
                   '[workload]\nrequests = 2\n')
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: serve.moe_backend: 'cutlass' names an MoE kernel, but llama3-8b has no routed experts" in err
    assert not out.exists()



# serve.expert_precision / serve.expert_compute_precision on a dense model: a config error, as moe_backend
@pytest.mark.parametrize("key, value, what", [
    ("expert_precision", "fp8", "is the routed experts' weight precision"),
    ("expert_precision", "bf16", "is the routed experts' weight precision"),       # serve.precision's own
    ("expert_compute_precision", "fp8", "is the precision of the routed experts' GEMMs"),
    ("expert_compute_precision", "bf16", "is the precision of the routed experts' GEMMs"),
])
def test_expert_precisions_on_a_dense_model_are_a_config_error(key, value, what):
    """A dense model has no routed experts to store or run at another precision, even at serve.precision's
    value: refused when the config is loaded (it was refused only when the serving deployment was built,
    after `dcsim run` had started and once per sweep point), naming the key and why."""
    with pytest.raises(ConfigError) as e:
        load_config(data={**DENSE, "serve": {"precision": "bf16", key: value}})
    assert e.value.key == f"serve.{key}"
    assert (f"serve.{key}: {value!r} {what}, but llama3-8b has no routed experts (model.experts = 0)"
            in str(e.value)), str(e.value)
    assert f"remove serve.{key} or serve an MoE model" in str(e.value)
    # on an MoE model both run (FP4 experts, their GEMMs at FP8, on Blackwell)
    moe = {**MIXTRAL, "topology": {"gpu": "B200-180GB"}}
    assert getattr(load_config(data={**moe, "serve": {"precision": "bf16", key: value}}).serve, key) == value


def test_a_job_s_expert_precision_on_a_dense_model_names_the_job_and_the_python_api_is_refused_at_run_time():
    """In [[jobs]] the key is the job's (jobs.N.serve.expert_compute_precision); a [serve] a training run
    ignores is not refused. A config changed after it was validated (the Python API) is refused by the
    deployment with the same rule (sim.config.serve_refusal) and message."""
    jobs = {"topology": {"gpus": 16}, "jobs": [
        {"name": "moe", "kind": "serve", "gpus": 8, "model": {"preset": "mixtral-8x7b"},
         "serve": {"expert_precision": "fp8"}},
        {"name": "dense", "kind": "serve", "gpus": 8, "model": {"preset": "llama3-8b"},
         "serve": {"expert_compute_precision": "fp8"}}]}
    with pytest.raises(ConfigError) as e:
        load_config(data=jobs)
    assert e.value.key == "jobs.1.serve.expert_compute_precision"
    assert "'fp8' is the precision of the routed experts' GEMMs, but llama3-8b has no routed experts" in str(e.value)
    jobs["jobs"][1]["kind"] = "train"
    assert load_config(data=jobs).jobs[1].serve.expert_compute_precision == "fp8"
    train = {"run": {"kind": "train"}, "model": {"preset": "llama3-8b"}, "serve": {"expert_precision": "fp8"}}
    assert load_config(data=train).run.kind == "train"
    from sim.app.runner import run
    cfg = load_config(data={**DENSE, "topology": {"gpu": "H100-SXM-80GB", "gpus": 1, "fabric": "none"},
                            "workload": {"requests": 2}})
    cfg.serve.expert_precision = "fp8"
    with pytest.raises(ConfigError) as e:
        run(cfg)
    assert e.value.key == "serve.expert_precision"
    assert "'fp8' is the routed experts' weight precision, but llama3-8b has no routed experts" in str(e.value)


@pytest.mark.parametrize("key", ["expert_precision", "expert_compute_precision"])
def test_dcsim_run_refuses_an_expert_precision_on_a_dense_model_before_the_run(tmp_path, capsys, key):
    """Exit 2 with the config's message, and no output folder (the run used to start, then fail)."""
    from sim.app.cli import main
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nkind = "serve"\nname = "t"\n[topology]\ngpu = "H100-SXM-80GB"\ngpus = 1\n'
                   f'fabric = "none"\n[model]\npreset = "llama3-8b"\n[serve]\n{key} = "fp8"\n'
                   '[workload]\nrequests = 2\n')
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: serve.{key}: 'fp8' " in err and "but llama3-8b has no routed experts (model.experts = 0)" in err
    assert not out.exists()



@pytest.mark.parametrize("serve, key, reason", [
    ({"dp_attention": True, "tp": 2}, "serve.dp_attention",
     "llama3-8b has no routed experts (model.experts = 0) to spread over the replica's GPUs"),
    ({"ep": 2, "tp": 2}, "serve.ep", "ep = 2 spreads routed experts; llama3-8b has none (model.experts = 0)"),
])
def test_dp_attention_and_ep_on_a_dense_model_are_config_errors(serve, key, reason):
    """serve.dp_attention and serve.ep > 1 spread routed experts over a replica's GPUs: on a dense model they
    were refused only when the deployment was built (exit 2 after the run had started, and once per sweep
    point); the config refuses them now, keyed jobs.N. in [[jobs]], and not for a training run's [serve]."""
    with pytest.raises(ConfigError) as e:
        load_config(data={**DENSE, "serve": serve})
    assert e.value.key == key and reason in str(e.value), str(e.value)
    jobs = {"topology": {"gpus": 16}, "jobs": [
        {"name": "a", "kind": "serve", "gpus": 8, "model": {"preset": "llama3-8b"}},
        {"name": "b", "kind": "serve", "gpus": 8, "model": {"preset": "llama3-8b"}, "serve": serve}]}
    with pytest.raises(ConfigError) as e:
        load_config(data=jobs)
    assert e.value.key == f"jobs.1.{key}" and reason in str(e.value)
    assert load_config(data={"run": {"kind": "train"}, "model": {"preset": "llama3-8b"}, "serve": serve})
    assert load_config(data={**MIXTRAL, "serve": serve}).serve.tp == 2        # an MoE model runs them



# other [serve] settings that cannot run, decidable from the config: refused by it (sim.config.serve_refusal)
SPEC = {"tokens": 2, "acceptance": 0.5}
DP4 = {"dp_attention": True, "tp": 4}
SERVE_REFUSALS = [      # config, key, reason, the nearest config that runs
    ({"model": {"preset": "llama3-8b"}, "serve": {"speculative": {**SPEC, "method": "mtp"}}},
     "serve.speculative.method", "llama3-8b has none (model.mtp_layers unset or 0",
     {"model": {"preset": "llama3-8b", "mtp_layers": 1}, "serve": {"speculative": {**SPEC, "method": "mtp"}}}),
    ({"model": {"preset": "llama3-8b"}, "serve": {"speculative": {**SPEC, "draft_vocab": 128_257}}},
     "serve.speculative.draft_vocab", "128,257 rows exceed llama3-8b's vocabulary of 128,256 tokens (model.vocab)",
     {"model": {"preset": "llama3-8b"}, "serve": {"speculative": {**SPEC, "draft_vocab": 128_256}}}),
    ({"serve": {"prefill_replicas": 2}}, "serve.decode_replicas",
     "needs both prefill_replicas and decode_replicas > 0 (got prefill_replicas = 2, decode_replicas = 0)",
     {"serve": {"prefill_replicas": 2, "decode_replicas": 1}}),
    ({"serve": {"decode_replicas": 1, "replicas": 0}}, "serve.prefill_replicas",
     "needs both prefill_replicas and decode_replicas > 0 (got prefill_replicas = 0, decode_replicas = 1)",
     {"serve": {"decode_replicas": 1, "replicas": 0, "prefill_replicas": 1}}),
    ({"serve": {"replicas": 0}}, "serve.replicas", "no replicas to serve on", {"serve": {"replicas": 1}}),
    ({"model": {"preset": "mixtral-8x7b"}, "serve": {**DP4, "ep": 2}}, "serve.ep",
     "with dp_attention the experts spread over the replica's 4 GPUs (ep = tp); got ep = 2",
     {"model": {"preset": "mixtral-8x7b"}, "serve": {**DP4, "ep": 4}}),
    ({"model": {"preset": "mixtral-8x7b"}, "serve": {**DP4, "ep": 4, "prefill_replicas": 1, "decode_replicas": 1,
                                                     "decode_tp": 2}}, "serve.ep",
     "the experts spread over the decode replica's 2 GPUs (ep = tp); got ep = 4",
     {"model": {"preset": "mixtral-8x7b"}, "serve": {**DP4, "ep": 1, "prefill_replicas": 1, "decode_replicas": 1,
                                                     "decode_tp": 2}}),
    ({"model": {"preset": "mixtral-8x7b"}, "serve": {**DP4, "pp": 2}}, "serve.pp",
     "dp_attention is modelled without pipeline parallelism and without speculative decoding",
     {"model": {"preset": "mixtral-8x7b"}, "serve": {"tp": 4, "pp": 2}}),
    ({"model": {"preset": "mixtral-8x7b"}, "serve": {**DP4, "speculative": SPEC}}, "serve.speculative",
     "dp_attention is modelled without pipeline parallelism and without speculative decoding",
     {"model": {"preset": "mixtral-8x7b"}, "serve": {"tp": 4, "speculative": SPEC}}),
]


@pytest.mark.parametrize("data, key, reason, runs", SERVE_REFUSALS)
def test_serve_settings_that_cannot_run_are_config_errors(data, key, reason, runs):
    """An MTP drafter on a model without MTP modules, a draft vocabulary over the model's, one disaggregated
    role without the other, no replicas, and dp_attention with ep other than 1 or every role's tp, with
    pp > 1 or with speculative decoding were refused only when the serving deployment was built (after
    `dcsim run` had started, once per sweep point): the config refuses them now, naming the key and why;
    in [[jobs]] the key is the job's, a training run's [serve] is not refused, and the nearest config that
    runs (the checkpoint's MTP module, the whole vocabulary, both roles, ep = tp or 1) loads."""
    with pytest.raises(ConfigError) as e:
        load_config(data={**SERVE, **data})
    assert e.value.key == key and reason in str(e.value), str(e.value)
    job = {"name": "s", "kind": "serve", "gpus": 8, **data}
    with pytest.raises(ConfigError) as e:
        load_config(data={"topology": {"gpus": 16}, "jobs": [{"name": "t", "kind": "serve", "gpus": 8}, job]})
    assert e.value.key == f"jobs.1.{key}" and reason in str(e.value)
    assert load_config(data={"run": {"kind": "train"}, **data}).run.kind == "train"
    assert load_config(data={**SERVE, **runs}).run.kind == "serve"

# workload.requests past the end of a trace replayed request by request
def _five(tmp_path, blank_lines=True):
    p = tmp_path / "five.jsonl"
    p.write_text("".join(f'{{"timestamp": {i}, "input_length": 10, "output_length": 2}}\n' for i in range(5))
                 + ("\n  \n" if blank_lines else ""))
    return p


@pytest.mark.parametrize("arrival", ["trace", "closed"])
def test_requests_past_a_trace_s_end_is_the_config_s_warning(tmp_path, capsys, arrival):
    """workload.requests above a replayed trace's length was warned of when the run built its requests, so a
    sweep over it ran identical points: the config says so when it is loaded, naming the key (a sweep reads it)."""
    from sim import config
    config._WARNED_INEFFECTIVE.clear()
    p = _five(tmp_path)
    load_config(data={**SERVE, "workload": {"arrival": arrival, "trace": str(p), "requests": 50}})
    err = capsys.readouterr().err
    assert (f"warning: workload.requests = 50 exceeds the 5 requests of {p}; the run replays those 5 (a value "
            "above 5 has no effect: the same run as workload.requests = 5)") in err, err
    for workload in ({"arrival": arrival, "trace": str(p), "requests": 5},     # the whole trace
                     {"arrival": arrival, "trace": str(p)},                    # requests unset: all of it
                     {"arrival": "poisson", "trace": str(p), "requests": 50,   # lengths drawn from it
                      "input_tokens": {"dist": "trace"}}):
        load_config(data={**SERVE, "workload": workload})
    assert "workload.requests" not in capsys.readouterr().err
    job = {"name": "s", "kind": "serve", "gpus": 1, "workload": {"arrival": arrival, "trace": str(p), "requests": 9}}
    data = {"topology": {"gpus": 8}, "jobs": [job]}
    assert any(m.startswith("jobs.0.workload.requests = 9 exceeds the 5 requests")
               for m in config.ineffective_settings(data, load_config(data=data)))


def test_a_trace_s_length_is_counted_once_without_parsing_it(tmp_path, monkeypatch):
    """The pre-run check counts a trace's requests (its non-blank lines, an Azure CSV's header left out) as
    the reader does, opening the file once while it is unchanged; a missing trace gives None (the run
    refuses it)."""
    import pathlib
    from sim import config
    p = _five(tmp_path)
    csv = tmp_path / "t.csv"
    csv.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,10,2\n\n"
                   "2023-11-16 18:15:47.0000000,10,2\n")
    opened = []
    real = pathlib.Path.open
    monkeypatch.setattr(pathlib.Path, "open", lambda self, *a, **k: opened.append(self) or real(self, *a, **k))
    assert [config.trace_length(str(p)) for _ in range(3)] == [5, 5, 5]
    assert config.trace_length(str(csv)) == 2
    assert opened == [p, csv]
    from workloads.serving.traces import read_trace
    assert len(read_trace(str(p))) == 5 and len(read_trace(str(csv))) == 2
    _five(tmp_path, blank_lines=False)
    (tmp_path / "five.jsonl").write_text(p.read_text() + '{"timestamp": 9, "input_length": 1, "output_length": 1}\n')
    assert config.trace_length(str(p)) == 6          # changed: counted again
    assert config.trace_length(str(tmp_path / "none.jsonl")) is None


def test_dcsim_run_prints_requests_past_a_trace_s_end_once(tmp_path, capsys, monkeypatch):
    """The warning is the config's now (it was the request builder's): dcsim run prints it once, not also
    when the run builds its requests, and the run replays the trace's 5 requests."""
    import json
    from sim import config
    from sim.app.cli import main
    monkeypatch.setattr(config, "_WARNED_INEFFECTIVE", set())
    p = _five(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nkind = "serve"\nname = "t"\n[topology]\ngpu = "H100-SXM-80GB"\ngpus = 1\nfabric = "none"\n'
                   f'[model]\npreset = "llama3-8b"\n[workload]\narrival = "trace"\ntrace = "{p}"\nrequests = 50\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.count("workload.requests = 50 exceeds the 5 requests") == 1, err
    assert "(a value above 5 has no effect: the same run as workload.requests = 5)" in err
    assert json.loads(out.strip().splitlines()[-1])["requests"] == 5
