"""The layout is the architecture: rules on imports that keep the parts apart (see
docs/extending.md). Each rule is also shown to catch a violation, so it cannot pass vacuously."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "retrain"

# Bottom layers: what they may import from the project (the rest is third-party or stdlib).
LOWER_LAYERS = {
    "retrain.errors": set(),
    "retrain.fileio": {"retrain.errors"},
    "retrain.metrics": set(),
    "retrain.statnames": set(),
    "retrain.artifacts": {"retrain.errors", "retrain.fileio", "retrain.monitor.payload"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks (imports there never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imports(name: str, tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import that runs."""
    skip = _type_checking_only(tree)
    found = []
    package = name if name.count(".") == 0 else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
    return [f for f in found if f[0] == "retrain" or f[0].startswith("retrain.")]


def private_imports(tree_by_name: dict[str, ast.Module]) -> list[str]:
    bad = []
    for name, tree in tree_by_name.items():
        for target, names, line in imports(name, tree):
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__") and target != name:
                    bad.append(f"{name}:{line} imports {target}.{imported}")
    return bad


def stage_imports(tree_by_name: dict[str, ast.Module]) -> list[str]:
    """Stages are entry points, not libraries: only the CLI dispatcher imports them."""
    bad = []
    for name, tree in tree_by_name.items():
        for target, names, line in imports(name, tree):
            targets = [target] + [f"{target}.{n}" for n in names]
            hits = [t for t in targets if t.startswith("retrain.stages.") and t != name]
            if hits and name != "retrain.cli":
                bad.append(f"{name}:{line} imports {hits[0]}")
    return bad


def cycles(tree_by_name: dict[str, ast.Module]) -> list[list[str]]:
    graph: dict[str, set[str]] = {n: set() for n in tree_by_name}
    for name, tree in tree_by_name.items():
        for target, names, _ in imports(name, tree):
            for dep in [f"{target}.{n}" for n in names] + [target]:
                if dep in graph and dep != name:
                    graph[name].add(dep)
                    break
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def layer_violations(tree_by_name: dict[str, ast.Module]) -> list[str]:
    bad = []
    for name, allowed in LOWER_LAYERS.items():
        for target, names, line in imports(name, tree_by_name[name]):
            deps = {target} if not names else {target, *(f"{target}.{n}" for n in names)}
            known = {d for d in deps if d in tree_by_name or d == target}
            if not (known & (allowed | {name})) and target != name:
                bad.append(f"{name}:{line} imports {target}")
    # config (params loading) never imports the parts that read it
    for name, tree in tree_by_name.items():
        if name.startswith("retrain.config"):
            for target, _, line in imports(name, tree):
                allowed = (
                    "retrain.config",
                    "retrain.errors",
                    "retrain.metrics",
                    "retrain.statnames",
                )
                if not target.startswith(allowed):
                    bad.append(f"{name}:{line} imports {target} (config is the bottom layer)")
    return bad


def test_no_module_imports_another_modules_private_name() -> None:
    assert private_imports(modules()) == []


def test_stages_are_imported_only_by_the_cli() -> None:
    assert stage_imports(modules()) == []


def test_no_import_cycle() -> None:
    assert cycles(modules()) == []


def test_lower_layers_do_not_import_their_callers() -> None:
    assert layer_violations(modules()) == []


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("from retrain.registry import _skip_feast_header_plugin\n", private_imports),
        ("from retrain.stages.train import cli\n", stage_imports),
        ("import retrain.y\n", cycles),
        ("from retrain.report import build_report\n", layer_violations),
    ],
)
def test_each_rule_catches_a_violation(source: str, rule) -> None:
    trees = modules()
    if rule is cycles:
        trees["retrain.x"] = ast.parse("import retrain.y\n")
        trees["retrain.y"] = ast.parse("import retrain.x\n")
    elif rule is layer_violations:
        trees["retrain.metrics"] = ast.parse(source)
    else:
        trees["retrain.somewhere"] = ast.parse(source)
    assert rule(trees) != []
