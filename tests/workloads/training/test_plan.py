"""Plan checks (exit-3 constraints) and placement (TP innermost)."""

import pytest

from sim.config import load_config
from sim.errors import ConfigError, InfeasibleError
from workloads.model import ModelSpec
from workloads.training.plan import make_plan, split_layers, split_stage_layers


def plan_for(preset="gpt-1.7b", gpus=64, **train):
    cfg = load_config(data={"model": {"preset": preset}, "train": train})
    return make_plan(cfg.train, ModelSpec.from_section(cfg.model), gpus)


def test_dp_is_derived_and_groups_are_placed_tp_innermost():
    p = plan_for(gpus=64, tp=4, pp=2, global_batch=64)
    assert p.dp == 8 and p.world == 64 and p.microbatches == 8
    tp_groups = p.groups("tp")
    assert tp_groups[0] == [0, 1, 2, 3] and len(tp_groups) == 16
    for g in tp_groups:
        assert g == list(range(g[0], g[0] + 4))
    # default Megatron order tp-cp-dp-pp: DP stride tp, PP outermost
    assert p.groups("dp")[0] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert p.groups("pp")[0] == [0, 32]
    for r in range(64):
        assert p.rank_of(**p.coords(r)) == r


def test_llama3_order_puts_dp_outermost():
    p = plan_for(gpus=64, tp=4, pp=2, global_batch=64, rank_order="tp-cp-pp-dp")
    assert p.groups("pp")[0] == [0, 4]
    assert p.groups("dp", pp=1)[0] == [4, 12, 20, 28, 36, 44, 52, 60]


@pytest.mark.parametrize("train,key", [
    ({"tp": 5}, "train.tp"),                       # 24 heads
    ({"tp": 7, "dp": 1}, "train.tp"),
    ({"pp": 16}, "train.pp"),                    # 24 layers
    ({"pp": 2, "global_batch": 30}, "train.global_batch"),
    ({"tp": 4, "dp": 32}, "train.dp"),            # 128 > 64 GPUs
    ({"tp": 3}, "train.dp"),                      # 64 not divisible by 3
    ({"pp": 4, "schedule": "interleaved", "virtual_stages": 2, "global_batch": 16 * 6}, "train.global_batch"),
    ({"cp": 3, "dp": 1}, "train.cp"),
])
def test_infeasible_plans_name_the_constraint(train, key):
    with pytest.raises(InfeasibleError) as err:
        plan_for(gpus=64, **train)
    assert err.value.key == key


def test_ep_needs_moe_and_divides():
    # a dense model has no experts to spread: a config mistake (exit 2), not an infeasible plan
    with pytest.raises(ConfigError) as err:
        plan_for("llama3-8b", gpus=16, ep=2, global_batch=16)
    assert err.value.key == "train.ep" and "no routed experts" in str(err.value)
    with pytest.raises(ConfigError) as err:
        plan_for("llama3-8b", gpus=16, tp=2, etp=1, global_batch=16)
    assert err.value.key == "train.etp"
    p = plan_for("mixtral-8x7b", gpus=16, ep=8, global_batch=16)
    eg = p.groups("ep")
    assert len(eg) == 2 and all(len(g) == 8 for g in eg)
    with pytest.raises(InfeasibleError):
        plan_for("mixtral-8x7b", gpus=48, ep=3, global_batch=48)


def test_layer_split():
    assert split_layers(24, 4) == [6] * 4
    assert split_layers(126, 32) == [3] + [4] * 30 + [3]   # Llama 3 405B, pp 16 x v 2
    # Megatron's uneven first/last stages: DeepSeek-V3's 61 layers on 16 chunks
    assert split_layers(61, 16) == [2] + [4] * 14 + [3]
    assert split_layers(25, 4) == [5, 7, 7, 6]
    with pytest.raises(InfeasibleError):
        split_layers(61, 32)        # the first chunk would hold no layer
    with pytest.raises(InfeasibleError):
        split_layers(4, 8)


@pytest.mark.parametrize("layers, pp, v, key, words", [
    # read "infeasible (train.pp): layers (30) do not divide into pp x virtual_stages = 12 chunks (...)"
    (30, 4, 3, "train.virtual_stages", "model.layers = 30 do not split over train.pp x train.virtual_stages = 4 x 3 "
                                       "= 12 model chunks"),
    (9, 8, 1, "train.pp", "model.layers = 9 do not split over train.pp = 8 pipeline stages"),
    (10, 4, 3, "train.virtual_stages", "train.pp x train.virtual_stages = 4 x 3 = 12 model chunks exceed "
                                       "model.layers = 10"),
])
def test_layers_that_no_split_fits_name_the_keys_that_make_the_chunks(layers, pp, v, key, words):
    with pytest.raises(InfeasibleError) as err:
        split_stage_layers(layers, pp, v, None, None)
    assert err.value.key == key and words in err.value.reason


def test_uneven_first_and_last_stages_as_megatron_splits_them():
    # DeepSeek-V3's 61 layers on 16 stages: no even split exists (61 is prime); Megatron's
    # --decoder-first-pipeline-num-layers 4 --decoder-last-pipeline-num-layers 1 leaves 4 per stage
    assert split_stage_layers(61, 16, 1, 4, 1) == [4] * 15 + [1]
    assert split_stage_layers(61, 16, 1, None, 1) == [4] * 15 + [1]     # an unset end takes the share
    # virtual stages: stage s holds chunks s, s + pp; each end stage's layers split over its chunks
    assert split_stage_layers(30, 4, 2, 6, 4) == [3, 5, 5, 2, 3, 5, 5, 2]
    assert split_stage_layers(24, 4, 1, None, None) == split_layers(24, 4)
    for first, last, key in ((5, 1, "first_stage_layers"), (4, 62, "first_stage_layers"),
                             (None, 2, "last_stage_layers")):
        with pytest.raises(InfeasibleError) as err:
            split_stage_layers(61, 16, 1, first, last)
        assert err.value.key == f"train.{key}"
    with pytest.raises(InfeasibleError, match="virtual stages") as err:
        split_stage_layers(29, 4, 2, 6, 3)           # 3 layers over 2 chunks of the last stage
    assert err.value.key == "train.last_stage_layers"


def test_an_end_stage_taking_every_layer_says_the_other_stages_get_none():
    # first_stage_layers = 32 of 32 with pp = 2 read "the 0 layers left after the first/last
    # stage's do not split evenly over the 1 other pipeline stages x 1 virtual stages"
    with pytest.raises(InfeasibleError) as err:
        split_stage_layers(32, 2, 1, 32, None)
    assert err.value.key == "train.first_stage_layers"
    assert ("first_stage_layers = 32 takes all 32 layers of the model (model.layers), leaving the other "
            "pipeline stage (pp = 2) no layers") in err.value.reason
    with pytest.raises(InfeasibleError, match="leaving the other 2 pipeline stages .pp = 4. no layers"):
        split_stage_layers(32, 4, 1, 16, 16)
    # more than the model has ("leave -1 layers of 32"), and both ends of a 2-stage pipeline short of it
    with pytest.raises(InfeasibleError, match=r"last_stage_layers = 33 is more than the model's 32 layers"):
        split_stage_layers(32, 2, 1, None, 33)
    with pytest.raises(InfeasibleError, match=r"first_stage_layers = 16 \+ last_stage_layers = 8 \(24\) must be "
                                              r"the model's 32 layers .*every stage"):
        split_stage_layers(32, 2, 1, 16, 8)


def test_the_deepseek_v3_preset_pipelines_over_16_stages_with_an_uneven_split():
    # unset: the first and last chunks give up the shortfall (split_layers); set: Megatron's
    # --decoder-first/last-pipeline-num-layers as given
    auto = plan_for("deepseek-v3", gpus=16 * 64, pp=16, ep=64, global_batch=64)
    assert auto.chunk_layers == [2] + [4] * 14 + [3]
    p = plan_for("deepseek-v3", gpus=16 * 64, pp=16, ep=64, global_batch=64, first_stage_layers=4,
                 last_stage_layers=1)
    assert p.chunk_layers == [4] * 15 + [1] and sum(p.chunk_layers) == 61
    # pp = 1: the keys have no effect (config warns so) and the run is not refused
    one = plan_for("llama3-8b", gpus=8, pp=1, first_stage_layers=4, last_stage_layers=3)
    assert one.chunk_layers == [32]


# -- MoE parallel folding (issue 11, item 3) -------------------------------------------------

def test_parallel_folding_lets_ep_not_divide_dp():
    # Mixtral on 16 GPUs, TP 2 (DP 8): EP 8 with expert-TP 1 folds experts over tp x dp = 16
    # ranks (edp 2); EP 8 does not need to divide dp when etp < tp, and ep 16 is fine too
    p = plan_for("mixtral-8x7b", gpus=16, tp=2, ep=8, etp=1)
    assert (p.etp, p.ep, p.edp) == (1, 8, 2) and p.tp * p.cp * p.dp == p.etp * p.ep * p.edp
    assert p.groups("ep", pp=0) == [list(range(8)), list(range(8, 16))]    # consecutive: NVLink
    p16 = plan_for("mixtral-8x7b", gpus=32, tp=2, ep=8, etp=2, cp=2)         # cp folds in as well
    assert p16.edp == 2 and all(len(g) == 8 for g in p16.groups("ep", pp=0))
    ranks = sorted(r for g in p16.groups("ep", pp=0) for r in g)
    assert ranks == list(range(32))                                          # a partition


def test_without_folding_the_classic_ep_groups_are_kept():
    p = plan_for("mixtral-8x7b", gpus=16, tp=2, ep=8)
    assert p.etp == 2 and not p.folded
    assert p.groups("ep", pp=0) == [list(range(0, 16, 2)), list(range(1, 16, 2))]


@pytest.mark.parametrize("train,key", [
    ({"tp": 2, "ep": 8, "etp": 4}, "train.ep"),          # etp x ep = 32 does not divide 16
    ({"tp": 2, "ep": 3}, "train.ep"),                     # 3 does not divide 8 experts
    ({"tp": 1, "ep": 1, "etp": 3}, "train.etp"),          # 3 does not divide 14336
])
def test_folding_constraints_are_named(train, key):
    with pytest.raises(InfeasibleError) as err:
        plan_for("mixtral-8x7b", gpus=16, **train)
    assert err.value.key == key


def test_full_fidelity_refuses_folded_layouts_clearly():
    with pytest.raises(InfeasibleError, match="symmetric"):
        plan_for("mixtral-8x7b", gpus=16, tp=2, ep=8, etp=1, fidelity="full")


def test_virtual_stages_without_a_pipeline_leave_one_chunk_per_rank():
    # pp = 1: there is no pipeline to interleave; virtual_stages used to split the rank's layers
    # into chunks that "sent" activations to themselves (exposed_pp_s > 0 with pp = 1)
    plan = plan_for(gpus=8, tp=8, schedule="interleaved", virtual_stages=4, global_batch=8)
    assert plan.pp == 1 and plan.v == 1 and len(plan.chunk_layers) == 1
    assert plan_for(gpus=16, tp=8, pp=2, schedule="interleaved", virtual_stages=4, global_batch=8).v == 4


@pytest.mark.parametrize("zero", [1, 2, 3])
def test_zero_over_a_data_parallel_group_of_one_is_zero_0(zero):
    # ZeRO-3 at dp = 1 charged FSDP's per-block hooks, per-pass weight casts and prefetch buffers
    # (quickstart at tp 8, dp 1: 7.81 s a step against 5.73 s at zero 0, +0.13 GB): nothing to shard
    assert plan_for(gpus=8, tp=8, zero=zero, global_batch=8).zero == 0
    assert plan_for(gpus=16, tp=8, zero=zero, global_batch=8).zero == zero          # dp 2 shards
    assert plan_for(gpus=16, tp=8, cp=2, zero=zero, global_batch=8).zero == zero    # so does cp 2
    # a MoE whose experts have expert data-parallel peers (etp 1, ep 4 of tp 8: edp 2) still shards them
    moe = load_config(data={"model": {"preset": "mixtral-8x7b"}, "train": {"tp": 8, "etp": 1, "ep": 4, "zero": zero,
                                                                          "global_batch": 8}})
    assert make_plan(moe.train, ModelSpec.from_section(moe.model), 8).zero == zero
    moe = load_config(data={"model": {"preset": "mixtral-8x7b"}, "train": {"tp": 8, "etp": 1, "ep": 8, "zero": zero,
                                                                          "global_batch": 8}})
    assert make_plan(moe.train, ModelSpec.from_section(moe.model), 8).zero == 0


def test_zero_at_dp_1_runs_and_holds_what_zero_0_does():
    from sim.app.runner import run

    def summary(zero, gpus):
        return run(load_config(data={"topology": {"gpus": gpus, "fabric": "fat-tree" if gpus > 8 else "none"},
                                     "model": {"preset": "llama3-8b", "layers": 4, "seq_len": 1024},
                                     "train": {"tp": 8, "zero": zero, "global_batch": 8}})).summary
    base = summary(0, 8)
    for zero in (1, 2, 3):
        s = summary(zero, 8)
        for k in ("step_time_s", "peak_memory_GB", "comm_s", "exposed_comm_s", "mfu"):
            assert s[k] == base[k], (zero, k)
    # at dp 2 ZeRO-3 shards: less memory, and its gathers and hooks cost time
    z0, z3 = summary(0, 16), summary(3, 16)
    assert z3["peak_memory_GB"] < z0["peak_memory_GB"] and z3["step_time_s"] > z0["step_time_s"]
