"""What can be chosen on the command line: ``medae models``, ``medae data``, ``medae applications``."""

from typing import Any

from medae.extensions import load_extensions
from medae.registry import NAME_KEY, Registry


def description(entry: Any) -> str:
    """The first line of an entry's docstring."""
    return (entry.__doc__ or "").strip().splitlines()[0]


def shared_keys(registry: Registry[Any]) -> set[str]:
    """The config keys every entry of ``registry`` has, its name included."""
    return set.intersection(*(set(registry.node(name)) for name in registry))


def format_catalog(registry: Registry[Any]) -> str:
    """One block per entry: name, one-line description, own options with defaults; then the shared keys.

    Example:
        >>> from medae.models.registry import MODELS
        >>> print(format_catalog(MODELS).splitlines()[0])
        conv
    """
    load_extensions()
    shared = shared_keys(registry)
    blocks = []
    for name in registry:
        own = ", ".join(f"{key}={value}" for key, value in registry.node(name).items() if key not in shared)
        blocks.append(f"{name}\n    {description(registry.lookup(name))}\n    options: {own}")
    common = ", ".join(sorted(shared - {NAME_KEY}))
    return "\n".join(blocks) + f"\nevery {registry.group} also takes: {common}"
