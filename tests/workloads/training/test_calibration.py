"""Calibration from kernels to training (issue 11, item 1): the sustained clock fitted to measured
layers, H100's host constants fitted to end-to-end steps, each checked on rows kept out of its fit."""

import numpy as np
import pytest

from sim.compute import efficiency_for
from workloads.training.calibration import (LAYER_FIT_TP, errors, fit_h100, fit_sustained_clock, layer_cases,
                                            layer_errors, prepare)
from workloads.training.cases import llmfoundry_cases
from workloads.training.costs import training_efficiency


def test_sustained_clock_is_what_the_layer_fit_gives_and_predicts_held_out_layers():
    # the kernel curves alone (boost clock) put every layer 4-21% too fast; at the fitted
    # sustained clock the held-out rows (TP 2 and 8) land within 4% median, 15% worst
    eff, _ = fit_sustained_clock("H100-SXM-80GB")
    stored = efficiency_for("H100-SXM-80GB")
    assert eff.sustained_clock == pytest.approx(stored.sustained_clock, rel=0.01)
    held = layer_cases("H100-SXM-80GB", tp=tuple(t for t in (1, 2, 4, 8) if t not in LAYER_FIT_TP))
    assert len(held) >= 20
    err = layer_errors("H100-SXM-80GB", stored, held)
    assert np.median(np.abs(err)) <= 0.05, np.median(np.abs(err))
    assert np.max(np.abs(err)) <= 0.15, np.max(np.abs(err))
    import dataclasses
    boost = layer_errors("H100-SXM-80GB", dataclasses.replace(stored, sustained_clock=1.0), held)
    assert np.median(boost) < -0.08          # the fault: kernels' clock on a sustained load


def test_h100_host_constants_are_what_the_fit_gives():
    eff, loss = fit_h100()
    stored = training_efficiency("H100-SXM-80GB")
    # the fit rows (every one FSDP, >= 16k tokens per micro-batch) barely tell per-block from
    # per-micro-batch work: the stored constants must be as good as the fit's, the per-block
    # FSDP cost within 10% of it
    fit = prepare(llmfoundry_cases("h100_80gb", "fit"))
    stored_loss = float(np.mean(np.log1p(errors(fit, stored)) ** 2))
    assert stored_loss <= loss * 1.01 + 1e-6
    assert eff.fsdp_layer_overhead_us == pytest.approx(stored.fsdp_layer_overhead_us, rel=0.10)
    assert eff.layer_overhead_us == stored.layer_overhead_us      # A100's Megatron value, not fitted here


def test_llmfoundry_h100_held_out_rows():
    """33 held-out H100 rows of llm-foundry's MPT table (760M-30B, 8 and 16 GPUs). Before item 1:
    median |err| 49%, every row optimistic (H100 at boost-clock kernel curves, cuDNN attention
    rates for FA2 kernels, default host constants). Now: median within 10%, every row up to
    seq 4,096 within 15%. Remaining gap, explained: at seq >= 8k the rows stay optimistic
    (10-35%, growing with seq): attention dominates there and MPT's benchmark yamls run its own
    Triton flash-attention kernel (attn_impl: triton), slower at long sequences than the
    FlashAttention-2 curves measured through PyTorch SDPA."""
    fit = llmfoundry_cases("h100_80gb", "fit")
    held = llmfoundry_cases("h100_80gb", "holdout")
    assert len(fit) == 9 and len(held) == 33
    assert {c["case"] for c in fit}.isdisjoint({c["case"] for c in held})
    eff = training_efficiency("H100-SXM-80GB")
    err = errors(prepare(held), eff)
    seq = np.array([c["config"]["model"]["seq_len"] for c in held])
    assert np.median(np.abs(err)) <= 0.10, np.median(np.abs(err))
    assert np.max(np.abs(err[seq <= 4096])) <= 0.15, err[seq <= 4096].round(3)
    long = err[seq >= 8192]
    assert np.all(long > -0.05) and np.all(long < 0.40), long.round(3)
