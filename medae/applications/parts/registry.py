"""The registry of applications: ``application=<name>`` runs the ``evaluate`` registered as ``name``."""

import functools
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig

from medae.config.registry import Registry, signature_defaults
from medae.config.run_parts import plain_dict

Evaluate = Callable[..., dict[str, float]]
APPLICATIONS: Registry[Evaluate] = Registry(
    "application", functools.partial(signature_defaults, skip=("context",))
)
"""``application=<name>``: the keyword defaults of ``evaluate(context, **options)`` are its config.
Register one with ``@APPLICATIONS.register("<name>")`` above its ``@requires(...)``."""


def build_application(node: Mapping[str, Any] | DictConfig | None) -> functools.partial | None:
    """The configured evaluation: ``evaluate`` with the node's options, which are checked now.

    Example:
        >>> build_application({"name": "generation", "samples": 4}).keywords
        {'samples': 4}
    """
    if not node:
        return None
    evaluate, options = APPLICATIONS.build(plain_dict(node) if isinstance(node, DictConfig) else node)
    return functools.partial(evaluate, **options)
