"""Shared test set-up: the repository root is importable without installing the package, and a plain
``python -m pytest`` runs the tests on every core (pytest-xdist) when xdist is installed.

Parallel runs (README, "Set up"): ``-n auto`` and ``--dist loadgroup`` unless the command line says
otherwise; ``-n 0`` or ``-p no:xdist`` runs serially. Tests that share a module-, class- or package-scoped
fixture of this suite run on one worker (an ``xdist_group`` each), so that the fixture is computed once, and
the tests marked ``slow`` are handed out first, so that no minutes-long test starts last. Both only under
xdist: a serial run keeps the collection's order."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.hookimpl(tryfirst=True)     # registered after xdist, so this runs before xdist's own tryfirst hook
def pytest_cmdline_main(config):
    """``-n auto --dist loadgroup`` unless the command line chose: ``-n 0`` (or ``-p no:xdist``) runs
    serially, ``-n N`` on N workers, ``--dist MODE`` schedules as MODE. xdist turns ``auto`` into a serial
    run itself under ``--pdb``. An xdist worker (which parses the command line's own arguments, not these
    defaults) stays a worker and learns the schedule from its controller (``workerinput``)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    opt = config.option
    if hasattr(config, "workerinput"):
        opt.loadgroup = bool(config.workerinput.get("dcsim_loadgroup", getattr(opt, "loadgroup", False)))
    else:
        if opt.numprocesses is None and not opt.distload and opt.dist == "no":
            opt.numprocesses = "auto"
        if opt.numprocesses not in (None, 0) and opt.dist == "no" and not opt.distload:
            opt.dist = "loadgroup"
            opt.loadscopereorder = False    # hand the groups out in the (slow-first) collection order
    if (hasattr(config, "workerinput") or opt.numprocesses not in (None, 0)) and hasattr(opt, "benchmark_disable"):
        # pytest-benchmark warns in each process that it turns itself off under xdist; the suite has no
        # benchmarks
        opt.benchmark_disable = True


class _XdistController:
    """xdist's controller-side hook (a plugin object: a conftest may not name a hook its pytest lacks)."""

    @staticmethod
    def pytest_configure_node(node):
        node.workerinput["dcsim_loadgroup"] = node.config.option.dist == "loadgroup"


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(), "dcsim-xdist-controller")


_SHARED_SCOPES = ("class", "module", "package", "session")


def _shared_fixture_group(item) -> str | None:
    """The widest scope in which ``item`` shares a fixture defined in tests/ (not a plugin's, such as
    tmp_path_factory, whose baseid is ''), named by that scope's node: its class, module, package (the
    fixture's directory) or the session; None if it uses none."""
    info = getattr(item, "_fixtureinfo", None)
    best = None
    for defs in (info.name2fixturedefs.values() if info else ()):
        fdef = defs[-1]
        scope = getattr(fdef.scope, "value", fdef.scope)        # a str since pytest 8
        where = getattr(fdef, "baseid", "") or ""
        if scope not in _SHARED_SCOPES or not where.startswith("tests"):
            continue
        rank = _SHARED_SCOPES.index(scope)
        if best is None or rank > best[0]:
            node = item.getparent(pytest.Class if scope == "class" else pytest.Module)
            name = {"package": where, "session": "session"}.get(scope, node.nodeid if node else where)
            best = (rank, name)
    return best[1] if best else None


@pytest.hookimpl(tryfirst=True)     # before xdist's worker names each item by its group
def pytest_collection_modifyitems(config, items):
    """Under xdist's loadgroup schedule: each shared fixture's tests in one xdist group (one worker runs them
    all, one after another, and computes the fixture once; without it each worker that ran one of them
    computed it again), and slow tests first (a stable sort: otherwise the collection's order, the same on
    every worker), so that no minutes-long test starts last. A serial run keeps the collection's order: there
    the sort would split a module's tests and set its module-scoped fixtures up twice."""
    if not getattr(config.option, "loadgroup", False):
        return          # a serial run, or xdist scheduling by another mode
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        if item.get_closest_marker("xdist_group") is None and (group := _shared_fixture_group(item)):
            item.add_marker(pytest.mark.xdist_group(group))
