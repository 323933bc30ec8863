"""The ``dcsim`` command line (see CONTRACT.md for the fixed names).

Vocabulary:
- command: ``run``, ``sweep``, ``analyze``, ``validate``, ``collective``, ``traffic``, ``hardware``,
  ``topologies``, ``docs``. Each is a ``cmd_<name>(args) -> exit status`` function.
- user error: a ``DcsimError`` (bad config: exit 2; infeasible plan: exit 3). It is printed as
  one line on stderr, never as a traceback. Ctrl-C exits 130.
- size list: ``1M,64M,1G``: bytes with optional K/M/G/T suffixes, powers of 1024
  (``parse_sizes``; ``SIZE_SUFFIXES`` says so in --help), a fraction only where it makes whole
  bytes (1.5K = 1536); a range ``LO:HI`` is LO doubled up to HI, both included (nccl-tests'
  ``-b LO -e HI -f 2``), HI being LO times a power of two. ``dcsim collective`` refuses a size
  larger than one GPU's memory (``sim.app.nccl_table.check_sizes_fit``). A negative size
  (``--sizes -1M``, which argparse would take for an option) reaches ``parse_size``, which says
  why it is refused (``DASH_VALUE_OPTIONS``).
"""

from __future__ import annotations

import argparse
import re
from fractions import Fraction
import os
import sys
from pathlib import Path

from sim.app.tables import json_line, print_summary, print_table
from sim.errors import ConfigError, DcsimError, InfeasibleError


class _SpaceWrapFormatter(argparse.HelpFormatter):
    """argparse's help layout, wrapped at spaces only: a hyphenated name (the suite serving-inferencex-heldout)
    is never split across two lines."""

    def _split_lines(self, text, width):
        import textwrap
        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width, break_on_hyphens=False)


_SUFFIX = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2,
           "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4, "TB": 1024**4, "TIB": 1024**4}


# what --help says of the suffixes _SUFFIX takes
SIZE_SUFFIXES = "K, M, G, T = powers of 1024 (KB, KiB the same; B or none = bytes)"
MAX_SIZE = 1024 ** 5         # 1 PiB: the largest size a collective or a flow may have


def parse_size(text: str, key: str = "--sizes") -> int:
    """``64M`` -> 67108864 (K/M/G/T are powers of 1024, as in nccl-tests)."""
    if re.fullmatch(r"\s*-\s*\.?\d.*", text):
        raise ConfigError(key, f"{text!r} is negative: a size is a positive number of bytes, such as 1024, 64K or 1M")
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _SUFFIX:
        raise ConfigError(key, f"{text!r} is not a size such as 1024, 64K, 1M or 2G")
    if m.group(2).endswith("b"):      # 1Mb, 1kb: a lowercase b is bits, sizes are bytes
        raise ConfigError(key, f"{text!r}: a lowercase b means bits; sizes are bytes (write "
                               f"{m.group(1)}{m.group(2)[:-1].upper()}B)")
    # exact arithmetic: 1.5K is 1536 bytes, while 1.0000000000000000001K (1.0 as a float) is not whole
    value = Fraction(m.group(1)) * _SUFFIX[m.group(2).upper()]
    if value <= 0:
        raise ConfigError(key, f"{text!r} is not a positive whole number of bytes")
    if value.denominator != 1:
        raise ConfigError(key, f"{text!r} is not a whole number of bytes (a fraction with "
                               "a suffix is taken only where it makes whole bytes, as 1.5K = 1536)")
    if value > MAX_SIZE:
        raise ConfigError(key, f"{text!r} exceeds {MAX_SIZE // 1024**5} PiB, more than any collective moves")
    return int(value)


def parse_sizes(text: str, key: str = "--sizes") -> list[int]:
    """``1M,64M,1G`` -> byte counts; ``1K:1G`` is 1K, 2K, 4K, ... 1G: LO doubled up to HI, both included
    (nccl-tests' ``-b LO -e HI -f 2``); a range whose HI is not LO times a power of two (``3:7``, which
    nccl-tests would run as 3 and 6, dropping 7) is refused."""
    sizes: list[int] = []
    parts = text.split(",")
    if parts and not parts[-1].strip() and len(parts) > 1:
        parts.pop()                     # one trailing comma: "1M,64M,"
    for part in parts:
        if not part.strip() and len(parts) > 1:     # "1K,,2K": a size left out, not silently skipped
            raise ConfigError(key, f"{text!r} has an empty entry between commas; list sizes such as 1M,64M,1G")
        if not part.strip():
            continue
        if ":" in part:
            lo, hi = (parse_size(x, key) for x in part.split(":", 1))
            if lo > hi:
                raise ConfigError(key, f"range {part!r} runs backwards")
            if hi % lo or (hi // lo) & (hi // lo - 1):
                # nccl-tests -b LO -e HI -f 2 doubles from LO while <= HI and so drops such an HI unsaid
                below = lo << ((hi // lo).bit_length() - 1)
                raise ConfigError(key, f"range {part.strip()!r} doubles from {lo:,} bytes and never reaches "
                                       f"{hi:,}: a range LO:HI takes LO, 2 x LO, 4 x LO, ... up to HI, so HI must "
                                       f"be LO times a power of two (such as {below:,} or {below * 2:,} bytes "
                                       "here); list other sizes with commas")
            s = lo
            while s <= hi:
                sizes.append(s)
                s *= 2
        else:
            sizes.append(parse_size(part, key))
    if not sizes:
        raise ConfigError(key, "no sizes given")
    return sizes


# -- commands --------------------------------------------------------------------------------

def cmd_run(args) -> int:
    """``dcsim run``. Warnings (the config's and the run's) are about a run dcsim carries out: they
    are held until it has run and printed before its summary; a run refused as a bad config or an
    infeasible plan (exit 2 or 3) prints its error alone (an unrelated "train.zero has no effect"
    came before "tp (16) does not divide key/value heads"). A run that fails otherwise, or is
    interrupted, prints what it held first."""
    import io
    from sim.config import load_config
    from sim.app.runner import default_out_dir, run_to_dir
    real, held = sys.stderr, io.StringIO()
    sys.stderr = held
    cfg = None
    try:
        cfg = load_config(args.config, args.set)
        if args.trace:
            cfg.run.trace = True
        out = Path(args.out) if args.out else default_out_dir(cfg)
        result = run_to_dir(cfg, out, force=args.force)
    except BaseException as err:
        sys.stderr = real
        if not (isinstance(err, DcsimError) and err.exit_code in (2, 3)):
            real.write(held.getvalue())
        if isinstance(err, InfeasibleError) and cfg is not None:
            raise _at_training_defaults(cfg, err) from None
        raise
    sys.stderr = real
    real.write(held.getvalue())
    if args.json:
        print(json_line(result.summary))
    elif isinstance(result.summary, list):      # [[jobs]]: one row per job
        for row in result.summary:
            print_summary(row, title=f"{cfg.run.name}: job {row['job']} ({row['kind']})")
    else:
        print_summary(result.summary, title=f"{cfg.run.name} ({cfg.run.kind})")
    print(f"wrote {out}/" + (" (trace.json: open in ui.perfetto.dev)" if result.trace else ""),
          file=sys.stderr)
    return 0


def _at_training_defaults(cfg, err: InfeasibleError) -> InfeasibleError:
    """``err`` with one sentence more when the refused run is a training run whose config gives
    neither [model] nor [train] (``[run] name = "plain"`` alone): it ran dcsim's defaults, which
    are placeholders for a config to replace, not a plan that fits (189 GB a GPU at tp 1)."""
    if cfg.run.kind != "train" or cfg.jobs or {"model", "train"} & cfg.model_fields_set:
        return err
    m, t, topo = cfg.model, cfg.train, cfg.topology
    return InfeasibleError(err.key, f"{err.reason}. The config gives no [model] or [train], so it trains dcsim's "
                                    f"defaults: model {m.preset or m.name!r} ({m.layers} layers, hidden {m.hidden}, "
                                    f"seq_len {m.seq_len}) on {topo.gpus} {topo.gpu} GPUs at tp = {t.tp}, "
                                    f"pp = {t.pp}, zero = {t.zero}; a config should set [model] and [train] "
                                    "(runs/quickstart.toml is one to start from)")


def cmd_sweep(args) -> int:
    from sim import config
    from sim.app.sweep import load_sweep, run_sweep
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers", f"must be >= 1 (parallel points), got {args.workers}")
    if args.workers is not None and args.workers > (os.cpu_count() or 1):
        print(f"warning: --workers {args.workers} is more than the {os.cpu_count()} CPU cores: each worker is a "
              "process holding a simulation (memory), and more of them than cores runs no faster", file=sys.stderr)
    if args.address and args.engine != "dask":   # the sweep ran on the local pool, the scheduler unused
        raise ConfigError("--address", "names a Dask scheduler, which only --engine dask uses; add --engine dask")
    sweep = load_sweep(args.sweep)
    if not sweep.axes:                  # a sweep that varies nothing: say so rather than run one point quietly
        print(f"warning: {args.sweep} has no [grid] or [zip] keys (nor replicates): it runs its base config as "
              "one point; add a [grid] table of dotted keys = [values], or use dcsim run", file=sys.stderr)
    if args.set:
        from sim.app.sweep import check_fixed_keys
        check_fixed_keys(sweep, [item.split("=", 1)[0].strip() for item in args.set if "=" in item], "--set")
        sweep.base_data = config.apply_overrides(sweep.base_data, args.set)
    # a broken base fails once, not once per point; checked key by key only (whole_run=False): whether its
    # [serve] can serve its model depends on what the axes set (a dense base with serve.dp_attention in
    # [set], swept over MoE presets), and validate_points checks each point whole
    try:
        config.validate(sweep.base_data, whole_run=False)
    except ConfigError as err:
        reason = err.reason[len(f"{err.key}: "):] if err.reason.startswith(f"{err.key}: ") else err.reason
        raise ConfigError(err.key, f"sweep base + [set]{' + --set' if args.set else ''}: {reason}") from None
    from sim.app.sweep import validate_points
    validate_points(sweep)              # so does an invalid grid value: exit 2 before any point runs
    out = Path(args.out) if args.out else Path("runs") / "out" / sweep.name
    import signal

    def _stop(signum, frame):           # `timeout`, kill and batch schedulers send SIGTERM: stop as Ctrl-C does
        raise KeyboardInterrupt
    import threading
    main_thread = threading.current_thread() is threading.main_thread()   # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _stop) if main_thread else None
    try:
        res = run_sweep(sweep, out, workers=args.workers, engine=args.engine, address=args.address,
                        force=args.force)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    n = len(res.points)
    msg = (f"{sweep.name}: {res.count('done')} ran, {res.count('skipped')} already done, "
           f"{res.count('failed')} failed of {n} points -> {out}/")
    print(msg, file=sys.stderr)
    failed = [o for o in res.status.values() if o["status"] == "failed"]
    for o in failed[:10]:
        print(f"  failed {res.points[o['index']].rel_dir}: {o['error']}", file=sys.stderr)
    if len(failed) > 10:
        print(f"  ... {len(failed) - 10} more in {out}/sweep.json", file=sys.stderr)
    if res.interrupted:
        print("interrupted: finished points are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
    # infeasible or invalid combinations are expected in a sweep; anything else is a bug
    if any(o.get("exit_code") not in (2, 3) for o in failed):
        return 1
    # a point whose directory holds files dcsim did not write was not run: the sweep is incomplete for a
    # reason of the output, not of the grid (it exited 0 as if the point were an infeasible combination)
    refused = [o for o in failed if o.get("error_key") == "--out"]
    if refused:
        print(f"{len(refused)} point(s) could not be written into their directories (the errors above): fix "
              "those directories and run the same command again", file=sys.stderr)
        return 2
    if failed and len(failed) == n:     # not one point ran: exit 0 told a script the sweep had worked
        print(f"no point of {sweep.name} could run", file=sys.stderr)
        return max(o["exit_code"] for o in failed)
    return 0


def cmd_analyze(args) -> int:
    from sim.app import analyze
    return analyze.main(args)


VALIDATE_WORST = 5      # cases listed per suite unless --details or --worst N


def _warning_summary(lines: list[str], suite: str) -> str:
    """One line counting a suite's config warnings by the key they name: a validation suite runs
    hundreds of configs, and their warnings (one per case: "serve.cuda_graph_batch_sizes [...] exceed
    the largest decode batch") drowned its table."""
    from collections import Counter
    kinds = Counter(m.split(" ", 1)[0].rstrip(":") for m in lines)
    listed = ", ".join(f"{n} x {k}" for k, n in kinds.most_common())
    return (f"{suite}: {len(lines)} config warning{'s' if len(lines) != 1 else ''} from its "
            f"cases ({listed}); --details prints them")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):      # a replaced or closed stream
        return False


def _validate_suites(args, suites: list[str], all_rows: list[dict]) -> None:
    """Run each suite and print its worst cases and error statistics (``cmd_validate``). The
    config warnings its cases print are collected: a one-line count per suite, or each of them
    with ``--details``."""
    from sim.app import validation as validate
    from sim.app.sweep import WarningLines
    for i, name in enumerate(suites):
        # every suite takes minutes: say which one runs (it printed nothing meanwhile); one suite asked for
        # says so on a terminal only (a pipe or a log gets its results alone)
        if len(suites) > 1:
            print(f"validate: suite {i + 1} of {len(suites)}, {name} ...", file=sys.stderr, flush=True)
        elif _isatty(sys.stderr):
            print(f"validate: {name} ... (minutes for the larger suites)", file=sys.stderr, flush=True)
        stderr, sys.stderr = sys.stderr, WarningLines(sys.stderr)
        try:
            rows = validate.run_suite(name)
        finally:
            collected, sys.stderr = sys.stderr, stderr
        collected.flush_rest()
        if collected.lines:
            if args.details:
                for line in collected.lines:
                    print(f"warning: {line}", file=sys.stderr)
            else:
                print(_warning_summary(collected.lines, name), file=sys.stderr)
        all_rows.extend({"suite": name, **r} for r in rows)
        if not args.json:
            # a summary by default: the worst cases of each suite; --details lists every case
            shown = rows
            worst = args.worst or (0 if args.details else VALIDATE_WORST)
            if worst:
                shown = sorted(rows, key=lambda r: -abs(r["error"]) if r.get("error") is not None else 0.0)
                shown = shown[:worst]
            shown = [{**r, "error": f"{r['error']:+.1%}" if r.get("error") is not None else ""} for r in shown]
            title = f"validation: {name}" + ("" if len(shown) == len(rows) else
                                             f" ({len(shown)} worst of {len(rows)} cases; --details lists all)")
            print_table(shown, title=title, columns=["case", "metric", "predicted", "measured", "error", "source"])
            stats = validate.error_stats(rows)
            print(f"{name}: {stats['cases']} cases, median |error| {stats['median_abs_error']:.1%}, "
                  f"worst |error| {stats['worst_abs_error']:.1%}"
                  + (f" ({stats['worst_case']})" if stats['worst_case'] else ""))


def cmd_validate(args) -> int:
    from sim.app import validation as validate
    if args.worst is not None and args.worst < 1:
        raise ConfigError("--worst", f"must be >= 1 (cases listed per suite), got {args.worst}")
    suites = [args.suite] if args.suite is not None else list(validate.SUITES)   # "" is no suite, not all
    all_rows = []
    from sim.app import runner
    # "V100S-PCIE-32GB is not calibrated" for a case's own GPU read as the user's problem
    quiet, runner.WARN_UNCALIBRATED = runner.WARN_UNCALIBRATED, False
    try:
        _validate_suites(args, suites, all_rows)
    finally:
        runner.WARN_UNCALIBRATED = quiet
    if args.json:
        print(json_line(all_rows))
    return 0


# The config sections each command reads: the config's warnings about other sections ("[serve] does not
# apply to run.kind = 'train'") are not printed for them (``sim.config.validate``'s ``reads``), and a
# --set outside them is named as having no effect (``_warn_unread``).
COLLECTIVE_READS = ("topology", "hardware")
TRAFFIC_READS = ("topology", "hardware", "run")


def cmd_collective(args) -> int:
    from sim.app.nccl_table import DTYPES, SPLIT_OPS, nccl_table
    from sim.config import load_config
    if args.gpus < 2:
        raise ConfigError("--gpus", f"a collective needs at least 2 GPUs, got {args.gpus}")
    cfg = load_config(args.config, args.set, reads=COLLECTIVE_READS)
    _warn_unread(cfg, args.set, COLLECTIVE_READS, "collective", f"--op {args.op} on --gpus {args.gpus}")
    sizes = parse_sizes(args.sizes)
    table = nccl_table(cfg, args.op, args.algo, args.gpus, sizes, args.protocol, args.dtype)
    rows = table.to_pylist()
    rounded = [f"{s:,} -> {r['size_bytes']:,}" for s, r in zip(sizes, rows) if r["size_bytes"] != s]
    if rounded:     # nccl-tests prints the rounded size in its size column; said here too, not only in the column
        print(f"warning: --sizes rounded down to whole {DTYPES[args.dtype]}-byte {args.dtype} elements"
              f"{' per rank' if args.op in SPLIT_OPS else ''} as nccl-tests does: {', '.join(rounded)} bytes",
              file=sys.stderr)
    if args.json:
        print(json_line(rows))
    else:
        asked = f" --protocol {args.protocol}" if args.protocol != "auto" else ""
        asked += f" --dtype {args.dtype}" if args.dtype != "float" else ""
        print_table(rows, title=f"{args.op} {args.algo}{asked} on {args.gpus} x {cfg.topology.gpu}")
    return 0


def _warn_unread(cfg, sets: list[str] | None, reads: tuple[str, ...], command: str, what: str) -> None:
    """Warn (stderr) that ``dcsim COMMAND`` ignores a config's [[jobs]] and each ``--set`` outside the
    sections ``reads`` (they were taken without a word: ``dcsim collective --set train.tp=4``)."""
    if cfg.jobs:
        n = len(cfg.jobs)
        print(f"warning: the config's [[jobs]] ({n} job{'s' if n != 1 else ''}) are ignored: dcsim {command} runs "
              f"{what}, not the jobs' traffic or placement; `dcsim run` simulates the jobs", file=sys.stderr)
    for item in sets or ():
        key = item.split("=", 1)[0].strip()
        if key.split(".", 1)[0] not in reads:
            print(f"warning: --set {key} has no effect on dcsim {command}: it reads "
                  f"{', '.join(f'[{r}]' for r in reads)} only", file=sys.stderr)


def cmd_traffic(args) -> int:
    from sim.app.traffic import traffic
    from sim.config import load_config
    cfg = load_config(args.config, args.set, reads=TRAFFIC_READS)
    if ":" in args.sizes:
        lo, hi = (parse_size(x) for x in args.sizes.split(":", 1))
    else:
        lo = hi = parse_size(args.sizes)
    if lo > hi:     # said in the user's words (2M:1M), not as bytes in %g (2.09715e+06)
        raise ConfigError("--sizes", f"need LO <= HI, not {args.sizes.strip()} ({lo:,} > {hi:,} bytes)")
    _warn_unread(cfg, args.set, TRAFFIC_READS, "traffic",
                 f"--pattern {args.pattern} on the config's [topology] alone ({cfg.topology.gpus} GPUs)")
    summary = traffic(cfg, args.pattern, args.flows, lo, hi, args.seed, args.rate_tolerance)
    if args.json:
        print(json_line(summary))
    else:
        print_summary(summary, title=f"{args.pattern} traffic on {summary['gpus']} x {cfg.topology.gpu}")
    return 0


TRAIN_PRECISIONS = ("fp16", "bf16", "fp8", "fp4")      # train.precision's values


def _trains_in(g, precision: str) -> bool:
    """Whether a training run on ``g`` at ``precision`` runs (``runner.check_precision``): fp8 and
    fp4 need tensor cores of their own width; fp16 and bf16 one of the two (they stand in for each
    other), not lacked."""
    if precision in ("fp8", "fp4"):
        return g.has_tensor_rate(precision)
    try:
        g.peak_flops(precision)
    except ConfigError:
        return False
    return True


def cmd_hardware(args) -> int:
    from sim.compute import calibration
    from sim.hardware import catalogue, config_hbm_GB
    rows = []
    for name, g in catalogue().items():
        rows.append({"gpu": name, "vendor": g.vendor,
                     # what generation-specific behaviour reads ([hardware] arch / sms; a like's)
                     "arch": g.arch or None, "sms": g.sms or None,
                     # a precision the GPU has no tensor cores for prints "-" (null in JSON)
                     **{f"{p}_TFLOPs": (round(g.dense_flops[p] / 1e12, 1) if p in g.dense_flops else None)
                        for p in ("fp16", "bf16", "fp8", "fp4")},
                     # vendors' "80 GB" is 80 GiB: both, rounded to what a datasheet prints
                     "hbm_GB": round(g.hbm_bytes / 1e9, 1), "hbm_GiB": round(g.hbm_bytes / 2**30, 1),
                     # what [hardware."X"] hbm_GB = ... takes for the same runtime capacity
                     "config_hbm_GB": config_hbm_GB(g),
                     "hbm_GBps": g.hbm_Bps / 1e9,
                     "scaleup_GBps": g.scaleup_Bps / 1e9, "scaleup_domain": g.scaleup_domain,
                     # calibrated: training's constants (as before); serving has its own fit
                     "power_W": g.power_W,
                     # the serving engine's host CPU: single-thread speed over the x86 fit host
                     "host_speed": g.host_speed,
                     "calibrated": calibration(name, "train")[0],
                     # the train.precision values whose runs report calibrated = true: a fit of
                     # some precisions only (Blackwell's: fp8) leaves the others on [default]'s curves
                     "calibrated_precisions": [p for p in TRAIN_PRECISIONS if _trains_in(g, p)
                                               and calibration(name, "train", p)[0]],
                     "calibrated_serve": calibration(name, "serve")[0]})
    if args.json:
        print(json_line(rows))
    else:
        for r in rows:
            r["calibrated_precisions"] = ", ".join(r["calibrated_precisions"]) or None
        print_table(rows, title="hardware catalogue (dense rates, per GPU; calibrated: training at "
                                "calibrated_precisions, serving)")
    return 0


def cmd_topologies(args) -> int:
    import topologies
    if args.draw and args.json:         # drew the figure and printed no JSON, silently
        raise ConfigError("--json", "lists the presets as JSON; --draw draws one and prints none: drop one of them")
    if args.draw:
        from topologies import draw
        out = Path(args.out or f"{args.draw}.png")
        check_figure_path(out)
        draw.draw_preset(args.draw, out)
        print(f"wrote {out}", file=sys.stderr)
        return 0
    if args.out:                        # listed the presets and drew nothing, silently
        raise ConfigError("--out", "names the figure of --draw PRESET; give --draw too")
    rows = []
    from sim.config import load_preset
    for n in topologies.preset_names():
        data = load_preset("topology", n)
        rows.append({"preset": n, "gpu": data.get("gpu", ""), "gpus": data.get("gpus", ""),
                     "fabric": data.get("fabric", ""), "nic_Gbps": data.get("nic_Gbps", ""),
                     "description": topologies.preset_description(n)})
    if args.json:
        print(json_line(rows))
    else:
        print_table(rows, title="topology presets (topology.preset = NAME)")
    return 0


def cmd_docs(args) -> int:
    from sim.app import docs
    if args.check and args.write:       # --write ran and --check was ignored
        raise ConfigError("--check", "checks the README without changing it; --write rewrites it: give one of them")
    if args.check or args.write:
        readme = Path(args.readme)
        docs.check_readme(readme, write=args.write)
        if args.write:
            docs.update_readme(readme)
            docs.update_headline(readme)
            docs.update_chat_cost(readme)
            print(f"updated the config reference, the headline figures and the chat-cost table in {readme}",
                  file=sys.stderr)
            return 0
        stale = [what for what, current in (("config reference", docs.readme_is_current),
                                            ("headline figures", docs.headline_is_current),
                                            ("chat-cost table", docs.chat_cost_is_current))
                 if not current(readme)]
        if stale:          # exit 1 said nothing: which section, and what to do
            print(f"{readme}: the {', '.join(stale)} {'is' if len(stale) == 1 else 'are'} out of date or "
                  "missing; `dcsim docs --write` regenerates them", file=sys.stderr)
        return 1 if stale else 0
    print(docs.config_reference())
    return 0


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def check_figure_path(out: Path, key: str = "--out") -> None:
    """A figure path must end in a format matplotlib writes and lie in an existing directory."""
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(key, f"{str(out)!r}: a figure is written as {', '.join(FIGURE_SUFFIXES)}; "
                               f"{out.suffix or 'no suffix'} is not one")
    parent = out.parent if str(out.parent) else Path(".")
    from sim.outputs import broken_link, broken_link_reason
    if (link := broken_link(parent)) is not None:
        raise ConfigError(key, f"{str(out)!r}: {broken_link_reason(link)}: create that directory first, or "
                               "choose another path")
    if not parent.is_dir():
        above = next((p for p in parent.parents if p.exists()), None)
        if parent.exists() or (above is not None and not above.is_dir()):
            blocker = parent if parent.exists() else above
            raise ConfigError(key, f"{str(out)!r}: {str(blocker)!r} is a file, not a directory")
        raise ConfigError(key, f"{str(out)!r}: directory {str(parent)!r} does not exist")
    if out.is_dir():
        raise ConfigError(key, f"{str(out)!r} is a directory")
    from sim.outputs import check_writable      # /proc/x.png failed with exit 1 after drawing
    check_writable(out, key)


# -- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    import sim
    p = argparse.ArgumentParser(prog="dcsim", description="Discrete-event simulator of AI datacenters.")
    p.add_argument("--version", action="version", version=f"dcsim {sim.__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_set(sp):
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a dotted key; VALUE is a TOML literal or a bare string (not empty: "
                             "--set cannot remove a key; delete it from the config for its default)")

    r = sub.add_parser("run", help="simulate one config")
    r.add_argument("config", metavar="CONFIG.toml")
    add_set(r)
    r.add_argument("--out", metavar="DIR", help="output directory (default runs/out/<run name>/)")
    r.add_argument("--json", action="store_true", help="print the summary row as one JSON line")
    r.add_argument("--trace", action="store_true", help="also write trace.json (open in ui.perfetto.dev)")
    r.add_argument("--force", action="store_true",
                   help="write into --out even when it holds files dcsim did not write (they are kept, never deleted)")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("sweep", help="run a grid of configs, resumably")
    s.add_argument("sweep", metavar="SWEEP.toml")
    add_set(s)
    s.add_argument("--out", metavar="DIR", help="output directory (default runs/out/<sweep name>/)")
    s.add_argument("--workers", type=int, default=None, help="parallel points (default: cores)")
    s.add_argument("--engine", choices=["local", "dask"], default="local")
    s.add_argument("--address", default=None, help="Dask scheduler address, with --engine dask (default: a local cluster)")
    s.add_argument("--force", action="store_true",
                   help="write into --out even when it holds files dcsim did not write")
    s.set_defaults(fn=cmd_sweep)

    a = sub.add_parser("analyze", help="summarize and plot a run or sweep directory")
    a.add_argument("dirs", metavar="DIR", nargs="+",
                   help="a run or sweep output directory, or a folder of runs and sweeps (its tables read as one, "
                        "with a column run: each row's folder relative to DIR); several DIRs: each in turn")
    a.add_argument("--sql", default=None, help="a query over the tables (views: summary, steps, requests, links, points)")
    a.add_argument("--plots", default=None, metavar="PLOTDIR",
                   help="where plots go (default DIR/plots; several DIRs: PLOTDIR/<each DIR's name>); a file there "
                        "named like a plot that dcsim did not write is kept as NAME.kept-XXXXXXXX, and a plot "
                        "directory that is a file is refused")
    a.add_argument("--no-plots", action="store_true")
    a.add_argument("--x", default=None, help="x axis of the throughput plot (default compute_comm_ratio)")
    a.add_argument("--color", default=None, help="sweep axis that colours the throughput plot (one fitted knee per colour)")
    a.add_argument("--marker", default=None, help="sweep axis that sets marker shapes")
    a.add_argument("--json", action="store_true", help="print result rows as one JSON list")
    a.set_defaults(fn=cmd_analyze)

    v = sub.add_parser("validate", help="compare predictions with published measurements",
                       formatter_class=_SpaceWrapFormatter)
    v.add_argument("suite", nargs="?", default=None, help="suite: collectives | training | serving | serving-large | measured | serving-heldout | serving-inferencex | serving-inferencex-heldout | trtllm-steps | serving-llama4-public | serving-amd (default all)")
    v.add_argument("--worst", type=int, default=None, metavar="N", help="list only the N cases with the largest |error|")
    v.add_argument("--details", action="store_true", help="list every case and print every config warning of the cases (default: the summary, the 5 worst cases and a count of warnings)")
    v.add_argument("--json", action="store_true", help="print every case of the suites run as one JSON list on the last line of stdout (suite, case, metric, predicted, measured, error, bound, fit, gap, source)")
    v.set_defaults(fn=cmd_validate)

    from sim.collective_names import ALGOS, DTYPES, OPS, PROTOCOLS     # the registry's names (sim.collectives runs them)
    c = sub.add_parser("collective", help="an nccl-tests-like table for one collective",
                       formatter_class=_SpaceWrapFormatter)
    c.add_argument("config", nargs="?", default=None, metavar="CONFIG.toml")
    add_set(c)
    c.add_argument("--op", required=True,
                   help=" | ".join(o if o != "send_recv" else "send_recv (--gpus 2)" for o in OPS))
    c.add_argument("--algo", default="auto",
                   help=" | ".join(ALGOS) + " (default auto: NCCL's tuner chooses the algorithm and protocol by "
                        "NCCL's own cost model, as NCCL does, so not always the fastest simulated one; a named "
                        "algorithm is timed the same way: with the same protocol it costs the same as when auto "
                        "picks it)")
    c.add_argument("--protocol", default="auto", metavar="PROTO",
                   help=" | ".join(("auto", "calibrated") + PROTOCOLS) + " (default auto: NCCL's tuner picks "
                        "the protocol for the algorithm, as under NCCL_ALGO (hierarchical, dcsim's own algorithm, "
                        "with the protocol its own steps price cheapest in NCCL's model, by name or by auto); LL, LL128 or Simple: that one, as "
                        "NCCL_PROTO; calibrated: a named algorithm's calibrated run, Simple's bandwidth at LL128's "
                        "per-step latency, as the validation suite prices named algorithms; all_to_all and send_recv "
                        "run as calibrated under auto or calibrated: NCCL moves them as point-to-point sends, which "
                        "its tuner does not price; LL, LL128 or Simple still forces that protocol on them). The table's protocol column says what each row was priced with")
    c.add_argument("--gpus", type=int, required=True, help="the collective runs on the topology's first N GPUs (N >= 2); a group "
                        "that spills k GPUs into a further scale-up domain is bound by those k GPUs' NICs, which "
                        "carry every byte from outside it (72 + 4 GB200: 4 NICs)")
    c.add_argument("--sizes", default="1M,16M,256M,1G", metavar="LIST",
                   help=f"message sizes in bytes (the per-rank buffer, as nccl-tests), suffixes {SIZE_SUFFIXES}: "
                        "1M,64M,1G or a range LO:HI such as 1K:1G (LO, 2 x LO, 4 x LO, ... HI, both ends "
                        "included, as nccl-tests -b LO -e HI -f 2; HI must be LO times a power of two); "
                        "a fraction only where it makes whole bytes (1.5K = 1536); at most one GPU's memory; "
                        "each runs as the whole 4-byte elements it holds (nccl-tests' default float), for "
                        "all_gather, reduce_scatter and all_to_all a whole number of them per rank, rounded "
                        "down as nccl-tests does (the size_bytes column says what ran); less than one is refused "
                        "(default 1M,16M,256M,1G)")
    c.add_argument("--dtype", default="float", metavar="TYPE",
                   help=" | ".join(DTYPES) + " (nccl-tests' -d names; default float, nccl-tests' default): the "
                        "element type, of 1 (int8, uint8, f8e4m3, f8e5m2), 2 (half, bfloat16), 4 (int32, uint32, "
                        "float) or 8 (int64, uint64, double) bytes, whose whole elements each size runs as. dcsim prices "
                        "the bytes moved and no reduction arithmetic (NCCL reduces inside its kernel, hidden behind "
                        "the transfer at bandwidth-bound sizes), so the type changes a time only by that rounding and by "
                        "NCCL's rules: all_reduce and reduce_scatter of int8, uint8 or FP8 run without NVLS (NVLS "
                        "reduces 16-, 32- and 64-bit types only; --algo nvls is refused for them), NCCL's tuner makes the "
                        "ring 1024x dearer for an FP8 reduction on more than 8 GPUs, and an FP8 reduction "
                        "on a GPU before sm90 (A100, L40S, V100) is refused, as NCCL refuses it. The dtype column "
                        "says the type")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=cmd_collective)

    tr = sub.add_parser("traffic", help="a traffic matrix of point-to-point transfers on a topology",
                        formatter_class=_SpaceWrapFormatter)
    tr.add_argument("config", nargs="?", default=None, metavar="CONFIG.toml")
    add_set(tr)
    tr.add_argument("--pattern", choices=["random", "permutation", "incast", "all-to-all"], default="random")
    tr.add_argument("--flows", type=int, default=1000, help="number of transfers (default 1000)")
    tr.add_argument("--sizes", default="64K:64M", metavar="LO:HI",
                    help=f"log-uniform transfer sizes in bytes, suffixes {SIZE_SUFFIXES} (default 64K:64M)")
    tr.add_argument("--seed", type=int, default=None, help="default: run.seed")
    tr.add_argument("--rate-tolerance", type=float, default=None, metavar="EPS",
                    help="completions within EPS x the elapsed time share one max-min re-solve (0 = exact, one "
                         "per completion; default run.rate_tolerance = 0.02: each FCT within ~2.5%% of exact, "
                         "see sim/flowepochs.py)")
    tr.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    tr.set_defaults(fn=cmd_traffic)

    h = sub.add_parser("hardware", help="list the GPU catalogue")
    h.add_argument("--json", action="store_true")
    h.set_defaults(fn=cmd_hardware)

    t = sub.add_parser("topologies", help="list topology presets, or draw one")
    t.add_argument("--draw", metavar="NAME", default=None, help="draw preset NAME (GPUs, switches, links) to a figure")
    t.add_argument("--out", metavar="PNG", default=None, help="the figure --draw writes (default NAME.png; .svg/.pdf by suffix)")
    t.add_argument("--json", action="store_true", help="print the preset list as one JSON list on the last line")
    t.set_defaults(fn=cmd_topologies)

    d = sub.add_parser("docs", help="print the config reference generated from the config models")
    d.add_argument("--check", action="store_true", help="exit 1 if README.md's reference is stale")
    d.add_argument("--write", action="store_true", help="rewrite README.md's reference section")
    d.add_argument("--readme", default="README.md")
    d.set_defaults(fn=cmd_docs)
    return p


# options whose value may begin with '-' (a negative size, which dcsim refuses in its own words):
# argparse takes '-1M' for an option and stops with "expected one argument"
DASH_VALUE_OPTIONS = ("--sizes",)


def _attach_dash_values(argv: list[str]) -> list[str]:
    """``--sizes -1M`` -> ``--sizes=-1M``, so that the value reaches ``parse_sizes`` (which says
    why a negative size is refused) instead of argparse's "expected one argument"."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in DASH_VALUE_OPTIONS and i + 1 < len(argv) and re.match(r"-\s*\.?\d", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_dash_values(list(sys.argv[1:] if argv is None else argv)))
    try:
        for flag in ("out", "plots"):       # an empty path fell back to the default silently (`--out "$DIR"`, DIR unset)
            if getattr(args, flag, None) == "":
                raise ConfigError(f"--{flag}", "is an empty path (an unset shell variable?): give a path, "
                                               f"or leave --{flag} out for the default")
        return int(args.fn(args) or 0)
    except DcsimError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:      # the file system refused (disk full, permissions): its words, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
