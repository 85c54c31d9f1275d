"""Human-readable list of the registered variants (``medae models``)."""

import dataclasses

import medae.models  # noqa: F401  (registers the variants)
from medae.models.network_config import NetworkConfig
from medae.models.registry import MODELS

SHARED_FIELDS = {field.name for field in dataclasses.fields(NetworkConfig)}


def variant_options(name: str) -> dict[str, object]:
    """Options of variant ``name`` beyond the shared ones, with their defaults."""
    config_class = MODELS[name].config_class
    return {
        field.name: field.default
        for field in dataclasses.fields(config_class)
        if field.name not in SHARED_FIELDS
    }


def variant_description(name: str) -> str:
    """The first line of the variant's docstring."""
    return (MODELS[name].__doc__ or "").strip().splitlines()[0]


def format_catalog() -> str:
    """One block per variant: name, one-line description, options with defaults."""
    blocks = []
    for name in sorted(MODELS):
        description = variant_description(name)
        options = ", ".join(f"{key}={value}" for key, value in variant_options(name).items())
        blocks.append(f"{name}\n    {description}\n    options: {options}")
    return "\n".join(blocks)
