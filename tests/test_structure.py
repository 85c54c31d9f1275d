"""The package's shape: no import cycle, and no application borrowing from a sibling application."""

import ast
from pathlib import Path

from medae.applications.registry import APPLICATIONS
from medae.extensions import load_extensions

PACKAGE = Path(__file__).resolve().parents[1] / "medae"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every medae module and the medae modules it imports: at the top, in functions, or by name."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # "medae.train:main"
                imported.add(node.value.partition(":")[0])
        graph[name] = {module for module in imported if module in modules and module != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_medae_has_no_import_cycle():
    graph = import_graph()
    assert "medae.train" in graph["medae.cli"]  # commands named as strings count
    assert find_cycle(graph) is None


def test_applications_import_no_sibling_application():
    load_extensions()
    applications = {evaluate.__module__ for evaluate in APPLICATIONS.values()}
    graph = import_graph()
    for application in applications:
        assert not graph[application] & applications, (
            f"{application} imports {graph[application] & applications}"
        )
