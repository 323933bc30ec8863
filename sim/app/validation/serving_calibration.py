"""Refitting the serving constants that were fitted end to end to TensorRT-LLM's published rows.

Vocabulary:
- fit sets: the rows each fitted serving constant was fitted to, and only those:
  - ``8b``: the 20 Llama 3.1 8B FP8 rows of ``data/inference.csv`` (H100 / H200 TP1; trtllm-bench,
    burst arrivals): calibration.toml [attention] ``kv_read_efficiency`` and engines.toml [trtllm]
    ``step_us`` / ``overlap_us_per_seq`` (the shared ``serve_fp8_gemm_factor`` of compute.toml [H100] /
    [H200] was fitted with them once, and left alone since: vLLM's rows use it too);
  - ``b200``: the 10 Llama 3.3 70B B200 TP1 NVFP4 rows of ``data/inference_large.csv`` (column ``fit``):
    compute.toml [GB200] ``serve_fp4_gemm_factor`` and ``serve_hbm_eff_max``;
  - ``mi355x``: the 2 rows of ``data/amd_inferencex.csv`` marked ``fit`` (DeepSeek-R1-0528 MXFP4 under SGLang
    on MI355X at 4 sequences: TP8 1k/8k, TP4 1k/1k): compute.toml [MI355X] ``serve_launch_us``, fitted to
    their mean TPOT (the decode step at a known batch; ``tpot_errors``).
  Every other row (the rest of inference_large.csv, inference_heldout.csv, the InferenceX tables, the
  published vLLM / SGLang / Dynamo runs) is held out.
- overrides: ``{"compute": {section: {key: value}}, "calibration": {table: {key: value}}, "engines":
  {engine: {key: value}}}``: values put into the parsed data files (sim/data/compute.toml,
  workloads/serving/data/calibration.toml, engines.toml) for the duration of a ``with overridden(...)``
  block, in this process only; the files are not written.
- errors: signed relative errors (predicted / measured - 1) of the rows' output tokens/s, as the
  validation suites compute them (``sim.app.validation.serving.run_case``); for ``mi355x`` of the rows' mean
  TPOT as ``serving_inferencex.run_row`` computes it (``tpot_errors``).
- loss: mean squared log error (``msle``; a 10 % miss costs the same on every row), or the worst |error|
  (``worst``), over a fit set; the search is ``sim.fitting.coordinate_descent``.

Run ``python -m sim.app.validation.serving_calibration {8b,b200,mi355x}`` to print the refitted constants and the fit
rows' errors (minutes: every evaluation runs the fit set's rows).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys

FIT_SETS = ("8b", "b200", "mi355x")


def fit_rows(which: str) -> list[dict]:
    """The rows of fit set ``which`` (``FIT_SETS``)."""
    from sim.app.validation.serving import cases, large_cases
    if which == "8b":
        return cases()
    if which == "b200":
        return [r for r in large_cases() if r["fit"] == "fit"]
    if which == "mi355x":
        from sim.app.validation.serving_amd import amd_rows
        return [r for r in amd_rows() if r["fit"] == "fit"]
    raise ValueError(f"fit set {which!r} is not one of {FIT_SETS}")


@contextlib.contextmanager
def overridden(overrides: dict | None):
    """Run the block with ``overrides`` (see the module doc) in the parsed data files; restored after."""
    from sim.compute import _table
    from workloads.serving.cost import calibration
    from workloads.serving.engines import _data
    tables = {"compute": _table(), "calibration": calibration(), "engines": _data()}
    saved = []
    try:
        for kind, sections in (overrides or {}).items():
            if kind not in tables:
                raise KeyError(f"override kind {kind!r} is not one of {tuple(tables)}")
            for section, values in sections.items():
                sec = tables[kind][section]
                for key, value in values.items():
                    saved.append((sec, key, key in sec, sec.get(key)))
                    sec[key] = value
        yield
    finally:
        for sec, key, had, old in reversed(saved):
            if had:
                sec[key] = old
            else:
                sec.pop(key, None)


def errors(rows: list[dict], overrides: dict | None = None, max_requests: int | None = None) -> list[float]:
    """Signed errors of ``rows`` run with ``overrides`` (``max_requests`` as ``serving.run_case``)."""
    from sim.app.validation.serving import run_case
    with overridden(overrides):
        return [run_case(r, max_requests, where="fit")["error"] for r in rows]


def tpot_errors(rows: list[dict], overrides: dict | None = None) -> list[float]:
    """Signed errors of the mean TPOT of InferenceX ``rows`` (``serving_inferencex`` columns) run closed-loop
    with ``overrides``, as ``serving_inferencex.run_row`` computes them."""
    from sim.app.runner import run
    from sim.app.validation.serving_inferencex import case_config
    with overridden(overrides):
        return [float(run(case_config(r)).summary["tpot_mean_s"]) / (float(r["tpot_or_itl_ms"]) / 1e3) - 1.0
                for r in rows]


def msle(errs: list[float]) -> float:
    return sum(math.log1p(e) ** 2 for e in errs) / len(errs)


def worst(errs: list[float]) -> float:
    return max(abs(e) for e in errs)


def median_abs(errs: list[float]) -> float:
    a = sorted(abs(e) for e in errs)
    n = len(a)
    return a[n // 2] if n % 2 else 0.5 * (a[n // 2 - 1] + a[n // 2])


@dataclasses.dataclass(frozen=True)
class B200Constants:
    """compute.toml [GB200] serving constants (B200 and GB200 share the section)."""
    serve_fp4_gemm_factor: float
    serve_hbm_eff_max: float

    @classmethod
    def shipped(cls) -> "B200Constants":
        from sim.compute import constants_row
        row = constants_row("B200-180GB")
        return cls(row["serve_fp4_gemm_factor"], row["serve_hbm_eff_max"])

    def overrides(self) -> dict:
        return {"compute": {"GB200": dataclasses.asdict(self)}}


@dataclasses.dataclass(frozen=True)
class Llama8BConstants:
    """The constants fitted to the 8B rows (``overlap_us_per_seq`` in us; ``step_us`` stays 0, its fit's
    lower bound, where the overlap scheduler hides the step's CPU work)."""
    kv_read_efficiency: float
    overlap_us_per_seq: float

    @classmethod
    def shipped(cls) -> "Llama8BConstants":
        from workloads.serving.cost import calibration
        from workloads.serving.engines import profile
        return cls(calibration()["attention"]["kv_read_efficiency"], profile("trtllm").overlap_us_per_seq)

    def overrides(self) -> dict:
        return {"calibration": {"attention": {"kv_read_efficiency": self.kv_read_efficiency}},
                "engines": {"trtllm": {"overlap_us_per_seq": self.overlap_us_per_seq}}}


@dataclasses.dataclass(frozen=True)
class MI355XConstants:
    """compute.toml [MI355X] serving constant: the GPU-side gap per kernel of serving's kernels (us)."""
    serve_launch_us: float

    @classmethod
    def shipped(cls) -> "MI355XConstants":
        from sim.compute import constants_row
        return cls(constants_row("MI355X")["serve_launch_us"])

    def overrides(self) -> dict:
        return {"compute": {"MI355X": dataclasses.asdict(self)}}


BOUNDS = {"serve_fp4_gemm_factor": (0.3, 1.0), "serve_hbm_eff_max": (0.3, 0.95),
          "kv_read_efficiency": (0.7, 1.2), "overlap_us_per_seq": (0.0, 60.0),
          "serve_launch_us": (0.0, 50.0)}


def fit(which: str, start=None, loss=msle, rounds: int = 3, step: float = 0.08, log=None):
    """Coordinate descent (``sim.fitting``) of fit set ``which``'s constants from ``start`` (default:
    the shipped values); returns (constants, loss)."""
    from sim.fitting import coordinate_descent
    rows = fit_rows(which)
    start = start or {"8b": Llama8BConstants, "b200": B200Constants, "mi355x": MI355XConstants}[which].shipped()
    names = tuple(f.name for f in dataclasses.fields(start))
    errs_of = tpot_errors if which == "mi355x" else errors

    def objective(c):
        errs = errs_of(rows, c.overrides())
        value = loss(errs)
        if log:
            log(c, value, errs)
        return value
    return coordinate_descent(start, names, objective, BOUNDS, rounds=rounds, step=step, tol=1e-7)


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "b200"
    errs_of = tpot_errors if which == "mi355x" else errors

    def log(c, value, errs):
        print(f"{c}  loss {value:.5f}  median {median_abs(errs):.1%}  worst {worst(errs):.1%}", flush=True)
    best, value = fit(which, log=log, **({"rounds": 6} if which == "mi355x" else {}))
    rows = fit_rows(which)
    errs = errs_of(rows, best.overrides())
    print(f"fitted {best}: loss {value:.5f}, median |err| {median_abs(errs):.1%}, worst {worst(errs):.1%}")
    for r, e in zip(rows, errs):
        print(f"  {r['id']:45s} {e:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
