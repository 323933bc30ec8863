"""workloads/training/__init__.py: the summary's critical stage."""

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
