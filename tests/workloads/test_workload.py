"""The workload protocol: every kind in the registry builds, starts without running the clock,
and leaves the fabric's counters to the fabric."""

from __future__ import annotations

import re
from pathlib import Path

import topologies
from sim.app.runner import build_fabric
from sim.config import load_config
from sim.simulation import Simulation
from workloads.workload import KINDS, make

ROOT = Path(__file__).resolve().parents[2]

CONFIGS = {
    "train": {"topology": {"gpus": 8, "fabric": "none"}, "model": {"preset": "llama3-8b", "layers": 4, "seq_len": 1024},
              "train": {"tp": 8, "global_batch": 4}},
    "serve": {"topology": {"gpus": 8, "fabric": "none"}, "model": {"preset": "llama3-8b", "layers": 4},
              "serve": {"tp": 2, "replicas": 4}, "workload": {"requests": 20, "output_tokens": 8}},
}


def test_every_kind_runs_on_a_clock_it_does_not_own():
    for kind in KINDS:
        data = {"run": {"kind": kind}, **CONFIGS[kind]}
        cfg = load_config(data=data)
        sim = Simulation(0)
        topo = topologies.build(cfg.topology)
        w = make(kind, cfg, sim, topo, build_fabric(cfg, sim, topo), steps=2)
        done = w.start()
        assert sim.now == 0.0 and not done.processed       # start() never runs the clock
        sim.run(done)
        summary = w.tables()["summary"]
        assert summary.num_rows == 1 and sim.now > 0
        assert all(v == 1.0 for v in w.slowdown(w).values())   # against itself: no slowdown


def test_no_workload_writes_the_fabrics_counters():
    """Link bytes, busy time and byte totals belong to the fabric (transfers, Fabric.credit)."""
    counters = r"(link_bytes|link_busy|bytes_sent|bytes_delivered|bytes_by_tag|peak_utilization)"
    write = re.compile(rf"\.{counters}\b(\[[^\]]*\])?\s*[+\-*/]?=(?!=)|np\.add\.at\(\s*[\w.]+\.{counters}")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "workloads").rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if write.search(line)]
    assert not offenders, offenders


def test_a_single_stage_step_has_no_bubble_not_even_rounding_residue():
    """Without pipeline stages the step is compute, exposed communication and overhead: the
    bubble is exactly 0.0 (the interval sums' rounding residue is not reported as idle time)."""
    cfg = load_config(data={"run": {"kind": "train"}, **CONFIGS["train"]})
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    w = make("train", cfg, sim, topo, build_fabric(cfg, sim, topo), steps=3)
    sim.run(w.start())
    tabs = w.tables()
    assert tabs["summary"]["bubble_s"].to_pylist() == [0.0]
    assert set(tabs["steps"]["bubble_s"].to_pylist()) == {0.0}


def test_a_serving_summary_names_its_model_and_tp():
    """Serving rows say which model at which TP (so [[jobs]] rows of two deployments differ)."""
    cfg = load_config(data={"run": {"kind": "serve"}, **CONFIGS["serve"]})
    sim = Simulation(0)
    topo = topologies.build(cfg.topology)
    w = make("serve", cfg, sim, topo, build_fabric(cfg, sim, topo))
    sim.run(w.start())
    summary = w.tables()["summary"]
    assert summary["model"].to_pylist() == ["llama3-8b"] and summary["tp"].to_pylist() == [2]
