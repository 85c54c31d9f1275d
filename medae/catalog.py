"""What can be chosen on the command line: ``medae models``, ``medae data``, ``medae applications``."""

from typing import Any

from medae.extensions import load_extensions
from medae.registry import NAME_KEY, Registry


def description(entry: Any) -> str:
    """The first line of an entry's docstring."""
    return (entry.__doc__ or "").strip().splitlines()[0]


def options(registry: Registry[Any], name: str) -> dict[str, Any]:
    """The config keys of entry ``name`` that not every entry of ``registry`` has, with their defaults."""
    shared = set.intersection(*(set(registry.node(other)) for other in registry))
    return {key: value for key, value in registry.node(name).items() if key not in shared | {NAME_KEY}}


def format_catalog(registry: Registry[Any]) -> str:
    """One block per entry: name, one-line description, own options with defaults; then the shared keys.

    Example:
        >>> from medae.models.registry import MODELS
        >>> print(format_catalog(MODELS).splitlines()[0])
        conv
    """
    load_extensions()
    blocks = []
    for name in registry:
        own = ", ".join(f"{key}={value}" for key, value in options(registry, name).items())
        blocks.append(f"{name}\n    {description(registry.lookup(name))}\n    options: {own}")
    shared = sorted(set.intersection(*(set(registry.node(name)) for name in registry)) - {NAME_KEY})
    return "\n".join(blocks) + f"\nevery {registry.group} also takes: {', '.join(shared)}"
