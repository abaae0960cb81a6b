"""The package's layers hold: no upward import, no cycle, no private name taken from another
module. Every import counts, including those inside functions and under TYPE_CHECKING: a lazy
import hides a cycle from Python, not from a reader.

ARCHITECTURE.md draws the same layers; `LAYERS` below is the rule and the prose follows it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hookctl"

# What each part of hookctl may import (besides itself). A part is a subpackage or a
# top-level module of hookctl; "schemas" is data (the JSON Schemas), importable by anyone.
BASE = {"errors", "version", "schemas"}
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "version": set(),
    "receiver": set(),
    "system": {"errors"},
    "domain": {"errors"},
    "config": {"domain", "system"} | BASE,
    "keap": {"domain", "system"} | BASE,
    "sandbox": {"domain", "system"} | BASE,
    "formats": {"domain", "system"} | BASE,
    "engine": {"formats", "keap", "config", "domain", "system"} | BASE,
    "tools": {"formats", "keap", "config", "domain", "system"} | BASE,
    "cli": {"engine", "tools", "formats", "keap", "config", "domain", "system", "sandbox"} | BASE,
    "__main__": {"cli"},
    # The public facade: `hookctl.Keap` and `hookctl.Hook`, imported lazily.
    "__init__": {"keap", "domain", "version"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def part_of(module: str) -> str:
    """hookctl.engine.runner -> engine; hookctl.errors -> errors; hookctl -> __init__."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def modules() -> dict[str, Path]:
    found = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    assert len(found) > 40, "the package was not found"
    return found


def imports(path: Path, name: str) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every hookctl import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hookctl":
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] == "hookctl":
                yield base, [alias.name for alias in node.names], node.lineno


def resolve(target: str, names: list[str], known: dict[str, Path]) -> list[tuple[str, str]]:
    """(module, name) pairs: `from hookctl.engine import runner` imports the module
    hookctl.engine.runner, not a name of hookctl.engine."""
    if not names:
        return [(target, "")]
    pairs = []
    for imported in names:
        submodule = f"{target}.{imported}"
        pairs.append((submodule, "") if submodule in known else (target, imported))
    return pairs


def shown(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent)) if path.is_relative_to(PACKAGE) else str(path)


def graph() -> tuple[dict[str, set[str]], list[str], list[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    upward: list[str] = []
    private: list[str] = []
    for name, path in known.items():
        here = part_of(name)
        for target, names, line in imports(path, name):
            for module, imported in resolve(target, names, known):
                there = part_of(module)
                where = f"{shown(path)}:{line}"
                complaint = f"{where}: {here} imports {module} ({there})"
                if (
                    there != here
                    and there not in LAYERS.get(here, set())
                    and complaint not in upward
                ):
                    upward.append(complaint)
                if imported.startswith("_") and not imported.startswith("__") and module != name:
                    private.append(f"{where}: {imported} from {module}")
                if module in known and module != name:
                    edges[name].add(module)
    return edges, upward, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def without_facades(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ that re-exports its own modules (hookctl.cli, hookctl.sandbox,
    # hookctl.config) is how Python spells a package's front door: importing
    # hookctl.cli.commands runs hookctl/cli/__init__ first, which is not an import cycle of
    # the code. Those edges from a package to its own children are left out.
    return {
        source: {t for t in targets if not t.startswith(source + ".")}
        for source, targets in edges.items()
    }


def test_every_part_of_the_package_has_a_layer_rule() -> None:
    parts = {part_of(name) for name in modules()}
    assert parts <= set(LAYERS), f"parts with no rule in LAYERS: {sorted(parts - set(LAYERS))}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    _, upward, _ = graph()
    assert not upward, "\n".join(upward)


def test_no_module_takes_a_private_name_from_another() -> None:
    _, _, private = graph()
    assert not private, "\n".join(private)


def test_the_import_graph_has_no_cycle_even_through_lazy_imports() -> None:
    edges, _, _ = graph()
    found = cycles(without_facades(edges))
    assert not found, "\n".join(" -> ".join(component) for component in found)


@pytest.mark.parametrize(
    ("source", "imported", "complaint"),
    [
        ("from hookctl.cli import output\n", "domain", "imports hookctl.cli.output"),
        ("def late():\n    from hookctl.engine.runner import plan\n", "formats", "engine"),
        ("from hookctl.formats.render import _private\n", "engine", "_private from"),
    ],
)
def test_the_checker_itself_catches_a_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, imported: str, complaint: str
) -> None:
    """A checker that finds nothing must be able to find something: plant one bad import."""
    planted = PACKAGE / imported / "zz_planted_for_test.py"
    original = modules

    def with_planted() -> dict[str, Path]:
        found = original()
        found[module_name(planted)] = tmp_path / "planted.py"
        return found

    (tmp_path / "planted.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.modules", with_planted)
    _, upward, private = graph()
    assert any(complaint in line for line in upward + private), upward + private


def test_cycle_finder_sees_a_cycle_of_three() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
