"""The layout's one rule, checked: data flows forward through the stages, the library never
imports the jobs, no import cycle (function-level imports included), and no module grows past
a page or two (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "echoroom"
MAX_LINES = 300
# Each stage may import only itself and the stages before it. Shared foundations come first.
ORDER = ["labels", "settings", "store", "ingest", "lenses", "scoring", "report", "mail", "run", "catalog", "lake",
         "demo", "cli"]
# The exceptions, each with its reason: none of them is a later stage feeding an earlier one.
ALLOWED_BACKWARD: set[tuple[str, str]] = {
    ("report", "mail"),   # the report composes its email with mail's MIME builder (mail knows no report)
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth in the file (function-level imports too):
    ``from a.b import c`` is a.b.c when c is a module, else a.b."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES or (ROOT / (sub.replace(".", "/") + ".py")).is_file()
                          else node.module)
    return found


GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def stage(module: str) -> str:
    return module.split(".")[1] if "." in module else "echoroom"


def test_the_library_never_imports_the_jobs():
    offenders = {name: sorted(m for m in imports(path) if m == "jobs" or m.startswith("jobs."))
                 for name, path in MODULES.items()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_data_flows_forward():
    backward = sorted((name, target) for name, targets in GRAPH.items() for target in targets
                      if stage(name) in ORDER and stage(target) in ORDER
                      and ORDER.index(stage(target)) > ORDER.index(stage(name))
                      and (stage(name), stage(target)) not in ALLOWED_BACKWARD)
    assert backward == [], "a stage imports a later one; see docs/architecture.md"


def test_every_package_module_has_a_stage():
    assert sorted({stage(m) for m in MODULES} - set(ORDER) - {"echoroom"}) == []


def test_no_import_cycle():
    deps = GRAPH
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(deps[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(deps):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "jobs").glob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES, f"{path.name}: split it by noun"


def test_no_test_module_imports_another():
    tests = {p.stem for p in (ROOT / "tests").glob("test_*.py")}
    offenders = sorted((p.name, m) for p in (ROOT / "tests").glob("*.py") for m in imports(p) if m in tests)
    assert offenders == []
