"""Import direction: the building blocks in sim/ never import the application, topologies/ or
workloads/; topologies/ and workloads/ never import the application."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def offenders(folder: str, forbidden: tuple[str, ...], skip: str | None = None) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if skip and skip in path.relative_to(ROOT).parts:
            continue
        for name in imported_modules(path):
            if name == "sim.app" or name.startswith(forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_building_blocks_import_no_application_topologies_or_workloads():
    assert offenders("sim", ("sim.app.", "topologies", "workloads"), skip="app") == []


def test_topologies_and_workloads_do_not_import_the_application():
    assert offenders("topologies", ("sim.app.",)) == []
    assert offenders("workloads", ("sim.app.",)) == []
