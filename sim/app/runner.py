"""The composition root: one validated config in, one simulated run's tables out.

Vocabulary:
- ``run(cfg) -> RunResult``: builds the ``Simulation``, the ``Topology`` (``topologies.build``),
  the ``Fabric`` (collective efficiencies from the config, else the calibrated defaults of
  ``sim.collectives.default_efficiencies``), and dispatches on ``run.kind`` to the training or
  serving workload. Only this module (and the CLI above it) imports sim, topologies and
  workloads together.
- ``RunResult``: ``tables`` (name -> ``pyarrow.Table``; ``summary`` has exactly one row),
  ``summary`` (that row as a dict) and ``manifest`` (resolved config, dcsim version, seed,
  wall time, event count).
- wall-clock columns: ``wall_s`` is the only column that differs between two runs of the same
  config and seed (``WALL_CLOCK_COLUMNS``); everything else is deterministic.
- ``run_to_dir(cfg, out_dir)``: ``run`` then write the tables, manifest and (``run.trace``)
  the Perfetto trace atomically (``sim.outputs``).
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

import sim
from sim.config import Config, config_to_dict
from sim.errors import ConfigError

WALL_CLOCK_COLUMNS = ("wall_s",)


@dataclass
class RunResult:
    tables: dict[str, pa.Table]
    summary: dict
    manifest: dict
    trace: dict | None = None


def build_fabric(cfg: Config, simulation, topo, record_flows: bool = False):
    """The fabric of a run: the config's efficiencies where given, calibrated defaults elsewhere."""
    from sim import collectives, hardware
    from sim.fabric import Fabric
    t = cfg.topology
    defaults = collectives.default_efficiencies(hardware.gpu(t.gpu))
    up = t.scaleup_efficiency if t.scaleup_efficiency is not None else defaults.get("scaleup", 1.0)
    out = t.scaleout_efficiency if t.scaleout_efficiency is not None else defaults.get("scaleout", 1.0)
    return Fabric(simulation, topo, model=t.network_model, scaleup_efficiency=up, scaleout_efficiency=out,
                  record_flows=record_flows)


def _workload(kind: str):
    if kind == "train":
        from workloads.training import run_training
        return run_training
    if kind == "serve":
        from workloads.serving import run_serving
        return run_serving
    raise ConfigError("run.kind", f"unknown kind {kind!r}; use train or serve")


def _accounting(cfg: Config, topo, tables: dict) -> dict:
    """Energy, cost and long-horizon goodput columns (sim.app.accounting)."""
    from sim.app import accounting
    return accounting.extend(cfg, topo, tables)


def _set_column(table: pa.Table, name: str, value) -> pa.Table:
    if name in table.column_names:
        return table
    return table.append_column(name, pa.array([value] * table.num_rows))


def run(cfg: Config) -> RunResult:
    """Simulate one run of a validated config."""
    import topologies
    from sim.simulation import Simulation

    t0 = time.perf_counter()
    simulation = Simulation(cfg.run.seed)
    topo = topologies.build(cfg.topology)
    fabric = build_fabric(cfg, simulation, topo, record_flows=cfg.run.trace)
    tables = dict(_workload(cfg.run.kind)(cfg, simulation, topo, fabric))
    tables = _accounting(cfg, topo, tables)
    # tables recorded on the simulation (flows, GPU streams) that the workload did not return
    for name, table in simulation.recorder.to_arrow().items():
        tables.setdefault(name, table)
    if "summary" not in tables or tables["summary"].num_rows != 1:
        rows = tables["summary"].num_rows if "summary" in tables else 0
        raise RuntimeError(f"workload {cfg.run.kind!r} returned a summary with {rows} rows, expected 1")
    if "links" not in tables:
        links = fabric.link_table()
        if links is not None:
            tables["links"] = links
    wall = time.perf_counter() - t0
    summary_t = tables["summary"]
    summary_t = _set_column(summary_t, "gpus", len(topo.gpus))
    summary_t = _set_column(summary_t, "sim_events", int(simulation.events_processed))
    if "wall_s" in summary_t.column_names:
        summary_t = summary_t.drop_columns(["wall_s"])
    summary_t = summary_t.append_column("wall_s", pa.array([wall], pa.float64()))
    tables["summary"] = summary_t
    summary = {k: v[0] for k, v in summary_t.to_pydict().items()}
    manifest = {
        "dcsim_version": sim.__version__,
        "kind": cfg.run.kind,
        "name": cfg.run.name,
        "seed": cfg.run.seed,
        "wall_s": wall,
        "sim_events": summary["sim_events"],
        "sim_time_s": simulation.now,
        "gpus": summary["gpus"],
        "python": platform.python_version(),
        "created_unix": time.time(),
        "config": config_to_dict(cfg),
    }
    trace = None
    if cfg.run.trace:
        from sim.outputs import trace_events
        trace = trace_events(tables)
    return RunResult(tables, summary, manifest, trace)


def default_out_dir(cfg: Config) -> Path:
    return Path("runs") / "out" / cfg.run.name


def run_to_dir(cfg: Config, out_dir: str | Path | None = None, staging_root: str | Path | None = None,
               extra_manifest: dict | None = None, trace: bool | None = None,
               force: bool = False) -> RunResult:
    """Run ``cfg`` and write its directory atomically; returns the result. ``out_dir`` may
    replace only an earlier run's directory (or an empty one) unless ``force``: anything else
    is a ``ConfigError`` raised before the run starts (``sim.outputs.check_replaceable``)."""
    from sim.outputs import check_replaceable, trace_events, write_run_dir
    final = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
    check_replaceable(final, "run", force, key="--out" if out_dir is not None else "run.name")
    result = run(cfg)
    if trace and result.trace is None:
        result.trace = trace_events(result.tables)
    manifest = dict(result.manifest)
    if extra_manifest:
        manifest.update(extra_manifest)
    write_run_dir(final, result.tables, manifest, trace=result.trace,
                  staging_root=Path(staging_root) if staging_root else None, force=force)
    return result
