"""The registry of applications: ``application=<name>`` runs the ``evaluate`` registered as ``name``."""

import functools
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from medae.config.registry import Registry, signature_defaults

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
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    evaluate, options = APPLICATIONS.build(node)
    return functools.partial(evaluate, **options)
