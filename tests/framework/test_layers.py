"""The architecture holds (README, *Architecture*): no import circle, no import from a floor up to a higher one,
a CLI that imports only the API, and ruff rules that keep banning every internal package from the CLI."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "compile"
#: The floors, bottom up: a module may import its own floor and the ones below. Anything not named is a library.
FOUNDATION = {"compile", "compile.errors", "compile.settings", "compile.fsutil", "compile.profiles", "compile.parity"}
FLOORS = (("compile.passes", 2), ("compile.drivers", 3), ("compile.matrix", 4), ("compile.api", 5), ("compile.cli", 6),
          ("compile.__main__", 7))
#: Imports that run up a floor, each with why. Keep it short: at most two, each explained at the import.
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere (top level, in functions, under TYPE_CHECKING)."""
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        edges[name] = {r for t in targets if t.split(".")[0] == "compile" and (r := resolve(t)) and r != name}
    return edges


def _floor(module: str) -> int:
    if module in FOUNDATION:
        return 0
    return next((floor for prefix, floor in FLOORS if module == prefix or module.startswith(prefix + ".")), 1)


def _circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_and_nothing_imports_upward() -> None:
    edges = _imports(_modules())
    assert _circles(edges) == []
    upward = {(a, b) for a, targets in edges.items() for b in targets if _floor(b) > _floor(a)}
    assert upward <= ALLOWED_UPWARD, sorted(upward - ALLOWED_UPWARD)
    assert len(ALLOWED_UPWARD) <= 2


def test_the_cli_imports_only_the_api_and_the_errors() -> None:
    edges = _imports(_modules())
    allowed = {"compile", "compile.api", "compile.errors"}
    reached = {b for a, targets in edges.items() if a.startswith("compile.cli") for b in targets
               if not b.startswith("compile.cli")}
    assert reached <= allowed, sorted(reached - allowed)
    assert "compile.api" in reached


def test_the_cli_ruff_rules_ban_every_internal_package() -> None:
    """compile/cli/ruff.toml lists what the CLI may not import; a new package under compile/ must join the list."""
    banned = set(tomllib.loads((PACKAGE / "cli" / "ruff.toml").read_text())["lint"]["flake8-tidy-imports"]["banned-api"])
    internal = {f"compile.{p.stem}" for p in PACKAGE.iterdir()
                if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem not in ("__init__", "__main__", "api", "errors", "cli")}
    assert internal <= banned, sorted(internal - banned)
    assert "tensorrt" in banned and not {"compile.api", "compile.errors"} & banned


def test_only_the_tensorrt_backend_imports_tensorrt() -> None:
    for name, path in _modules().items():
        if name.startswith("compile.backends.trt"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            assert not [n for n in names if n.split(".")[0] == "tensorrt"], name
