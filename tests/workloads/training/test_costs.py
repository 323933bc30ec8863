"""Per-pass costs of a training step: the collectives a pass issues (through the real runner)."""

import pytest

from sim.config import load_config
from sim.app.runner import run


def llama8b_tp8(sp: bool, recompute: str = "none"):
    cfg = load_config(data={"run": {"kind": "train"},
                            "topology": {"gpu": "A100-SXM-80GB", "gpus": 8, "gpus_per_node": 8},
                            "model": {"preset": "llama3-8b"},
                            "train": {"tp": 8, "global_batch": 2, "micro_batch": 1, "sequence_parallel": sp,
                                      "recompute": recompute, "check_memory": False}})
    return run(cfg)


def scaleup_bytes(result) -> float:
    links = result.tables["links"].to_pydict()
    return sum(b for b, d in zip(links["bytes"], links["domain"]) if d == "scaleup")


@pytest.mark.parametrize("recompute", ["none", "full"])
def test_sequence_parallelism_moves_the_same_tp_bytes(recompute):
    # Megatron with SP: per layer and micro-batch 2 all-gathers + 2 reduce-scatters in the
    # forward (mirrored in the backward), the bytes of the 2 all-reduces without SP
    # (issue 9 item 3: dcsim issued one of each, half the bytes). On A100 (no NVLS) both run
    # as rings, so the scale-up links carry the same bytes; NVLS all-reduce on H100 would
    # legitimately carry fewer (the switch reduces).
    with_sp, without = llama8b_tp8(True, recompute), llama8b_tp8(False, recompute)
    assert scaleup_bytes(with_sp) == pytest.approx(scaleup_bytes(without), rel=0.01)
    assert scaleup_bytes(with_sp) > 0
