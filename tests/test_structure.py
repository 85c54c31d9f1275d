"""The package's shape: layers that import one way, no cycle, a short top level, applications apart.

And the documentation's: a short README whose links lead somewhere, every docs page in the site.
"""

import ast
import re
from pathlib import Path

import yaml

from medae.applications.parts.registry import APPLICATIONS
from medae.bootstrap import bootstrap

PACKAGE = Path(__file__).resolve().parents[1] / "medae"
ROOT = PACKAGE.parent


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
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # "medae.x:main"
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
    assert "medae.commands.train" in graph["medae.cli"]  # commands named as strings count
    assert find_cycle(graph) is None


# the declared order, lowest first: a module may import modules of its own layer and of the layers below;
# each package's __init__ docstring says the same in words
LAYERS = (
    ("medae", "medae.errors", "medae.compat", "medae.tracking.schema"),
    ("medae.security",),
    ("medae.config",),
    ("medae.metrics", "medae.data", "medae.models", "medae.baselines", "medae.evaluation"),
    ("medae.tracking", "medae.callbacks"),
    ("medae.recovery",),
    ("medae.applications",),
    ("medae.bootstrap",),
    ("medae.commands", "medae.inference"),
    ("medae.cli", "medae.__main__", "medae.api", "medae.server", "medae.benchmarks"),
)


def layer(module: str) -> int:
    """The layer of ``module``: the one whose most specific prefix names it."""
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found is not None, f"{module} is in no layer of LAYERS"
    return found


def test_layer_finds_the_most_specific_prefix():
    assert layer("medae.tracking.schema") == 0 and layer("medae.tracking.store") == 4
    assert layer("medae.applications.parts.registry") == 6 and layer("medae") == 0
    assert layer("medae.commands.train") == 8


def test_imports_point_down_the_declared_layers():
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


def test_the_top_level_holds_at_most_8_modules():
    assert len(list(PACKAGE.glob("*.py"))) <= 8


def test_applications_import_no_sibling_application():
    bootstrap()
    applications = {evaluate.__module__ for evaluate in APPLICATIONS.values()}
    graph = import_graph()
    for application in applications:
        assert not graph[application] & applications, (
            f"{application} imports {graph[application] & applications}"
        )


def test_the_readme_is_short_and_its_links_lead_somewhere():
    readme = ROOT / "README.md"
    lines = readme.read_text().splitlines()
    assert len(lines) < 300, "longer material goes to docs/ (the site `make docs` builds)"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme.read_text())
    assert "docs/security.md" in links
    assert [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []


def test_every_docs_page_is_in_the_site_navigation():
    site = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)
        elif isinstance(node, list):
            for value in node:
                yield from pages(value)

    assert set(pages(site["nav"])) == {path.name for path in (ROOT / "docs").glob("*.md")}
