"""What can be chosen on the command line: ``medae models``, ``medae data``, ``medae applications``.

Listing medae's own entries must not import torch (a 5 s import on a busy machine), so they ship as
``catalog.json`` beside this module, written from the live registries by
``python -m medae.commands.catalog`` and checked against them by the test suite. When an installed package
or ``MEDAE_EXTENSIONS`` adds entries, the registries themselves are read (after the bootstrap).
"""

import json
import sys
from pathlib import Path
from typing import Any

from medae.config.extensions import has_user_extensions

CATALOG_FILE = Path(__file__).with_name("catalog.json")
NAME_KEY = "name"
# the registry of each config group, by ``module:attribute`` (imported only when they are read)
REGISTRIES = {
    "model": "medae.models.registry:MODELS",
    "data": "medae.data.registry:DATA_SOURCES",
    "application": "medae.applications.parts.registry:APPLICATIONS",
}
Catalog = dict[str, dict[str, dict[str, Any]]]


def description(entry: Any) -> str:
    """The first line of an entry's docstring."""
    return (entry.__doc__ or "").strip().splitlines()[0]


def capabilities(entry: Any) -> list[str]:
    """The capabilities a model variant's network declares (empty for other entries)."""
    network = getattr(entry, "network_class", None)
    return [capability.__name__ for capability in getattr(network, "capabilities", ())]


def live_catalog() -> Catalog:
    """Every registered entry by group: its description, config node and (variants) capabilities."""
    import importlib

    from medae.bootstrap import bootstrap

    bootstrap()
    catalog: Catalog = {}
    for group, target in REGISTRIES.items():
        module, attribute = target.split(":")
        registry = getattr(importlib.import_module(module), attribute)
        catalog[group] = {
            name: {
                "description": description(registry.lookup(name)),
                "node": registry.node(name),
                "capabilities": capabilities(registry.lookup(name)),
            }
            for name in registry
        }
    return catalog


def shipped_catalog() -> Catalog:
    """The catalog of medae's own entries as shipped in ``catalog.json``."""
    return json.loads(CATALOG_FILE.read_text())


def format_catalog(group: str, catalog: Catalog | None = None) -> str:
    """One block per entry: name, one-line description, own options with defaults; then the shared keys.

    Example:
        >>> print(format_catalog("model").splitlines()[0])
        aae
    """
    if catalog is None:
        catalog = live_catalog() if has_user_extensions() else shipped_catalog()
    entries = catalog[group]
    shared = set.intersection(*(set(entry["node"]) for entry in entries.values()))
    blocks = []
    for name, entry in sorted(entries.items()):
        own = ", ".join(f"{key}={value}" for key, value in entry["node"].items() if key not in shared)
        lines = [name, f"    {entry['description']}", f"    options: {own}"]
        if entry["capabilities"]:
            lines.append(f"    capabilities: {', '.join(entry['capabilities'])}")
        blocks.append("\n".join(lines))
    common = ", ".join(sorted(shared - {NAME_KEY}))
    return "\n".join(blocks) + f"\nevery {group} also takes: {common}"


if __name__ == "__main__":  # python -m medae.commands.catalog: write catalog.json from the registries
    CATALOG_FILE.write_text(json.dumps(live_catalog(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG_FILE}", file=sys.stderr)
