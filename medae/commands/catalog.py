"""What can be chosen on the command line: ``medae models``, ``medae data``, ``medae applications``.

Listing medae's own entries must not import torch (a 5 s import on a busy machine), so they are read from
the shipped schema (:mod:`medae.config.schema`). When an installed package or ``MEDAE_EXTENSIONS`` adds
entries, the registries themselves are read (after the bootstrap). ``python -m medae.commands.catalog``
writes the shipped schema from the code.
"""

import json
import sys

from medae.bootstrap import bootstrap
from medae.config.extensions import has_user_extensions
from medae.config.schema import SCHEMA_FILE, live_schema, shipped_schema

NAME_KEY = "name"


def format_catalog(group: str) -> str:
    """One block per entry: name, one-line description, own options with defaults; then the shared keys.

    Args:
        group: ``model``, ``data`` or ``application``.

    Example:
        >>> print(format_catalog("model").splitlines()[0])
        aae
    """
    if has_user_extensions():
        bootstrap()
        entries = live_schema()["groups"][group]
    else:
        entries = shipped_schema()["groups"][group]
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


if __name__ == "__main__":  # python -m medae.commands.catalog: write schema.json from the code
    bootstrap()
    SCHEMA_FILE.write_text(json.dumps(live_schema(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
