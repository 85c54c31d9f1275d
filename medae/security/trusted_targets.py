"""Which ``_target_`` a config that came from a tracking store may instantiate.

``medae reproduce``, ``medae resume`` and ``medae eval`` of a checkpoint build objects from configs
that someone else may have written to a shared store. Hydra instantiates any importable callable,
so such a config could copy or overwrite files (``shutil.copyfile``, ``builtins.open``,
``torch.save``). These configs may only name callables from the modules medae itself configures.
"""

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from medae.errors import ConfigError

TRUSTED_MODULES = ("medae", "torch.optim", "lightning", "monai", "hydra_plugins")
# Hydra's helpers that return the callable named by their `path`, which is checked in turn
LOOKUP_TARGETS = ("hydra.utils.get_method", "hydra.utils.get_class", "hydra.utils.get_object")


@dataclass(frozen=True)
class Trust:
    """What a command may take on trust from a store.

    Attributes:
        config: instantiate any ``_target_`` of a logged config (``--trust-config``).
        checkpoint: unpickle any object of a checkpoint (``--trust-checkpoint``).
    """

    config: bool = False
    checkpoint: bool = False


def add_trust_flags(parser: argparse.ArgumentParser, checkpoint: bool) -> None:
    """Add ``--trust-config`` (and ``--trust-checkpoint``) to a command that reads a store."""
    parser.add_argument(
        "--trust-config", action="store_true", help="instantiate any _target_ of the logged config"
    )
    if checkpoint:
        parser.add_argument(
            "--trust-checkpoint", action="store_true", help="unpickle any object of the run's checkpoints"
        )


def is_trusted(target: str) -> bool:
    """Whether ``target`` lies in one of :data:`TRUSTED_MODULES`.

    Example:
        >>> is_trusted("torch.optim.Adam"), is_trusted("shutil.copyfile"), is_trusted("medaevil.run")
        (True, False, False)
    """
    return any(target == module or target.startswith(f"{module}.") for module in TRUSTED_MODULES)


def targets(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(full key, callable name)`` a config would instantiate or look up, depth first.

    Example:
        >>> lookup = {"_target_": "hydra.utils.get_method", "path": "medae.data.noise.gaussian"}
        >>> list(targets(OmegaConf.create({"fn": lookup, "opt": {"_target_": "torch.optim.Adam"}})))
        [('fn.path', 'medae.data.noise.gaussian'), ('opt._target_', 'torch.optim.Adam')]
    """
    if isinstance(node, DictConfig):
        for child in node:
            full = f"{key}.{child}" if key else str(child)
            if child == "_target_" and node[child] in LOOKUP_TARGETS:
                yield f"{key}.path" if key else "path", str(node.get("path"))
            elif child == "_target_":
                yield full, str(node[child])
            elif not OmegaConf.is_interpolation(node, child):  # what it points to is visited on its own
                yield from targets(node[child], full)
    elif isinstance(node, ListConfig):
        for index, item in enumerate(node):
            yield from targets(item, f"{key}[{index}]")


def check_trusted(cfg: DictConfig, source: str) -> None:
    """Raise a ConfigError naming the first untrusted target of ``cfg``.

    Args:
        cfg: a config read from a store or a checkpoint.
        source: where it came from, for the message (``run <id>``, a checkpoint path).

    Example:
        >>> check_trusted(OmegaConf.create({"cb": {"_target_": "shutil.copyfile"}}), "run 1")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: cb._target_: shutil.copyfile is not allowed in a config from run 1 ...
    """
    for key, target in targets(cfg):
        if not is_trusted(target):
            raise ConfigError(
                key,
                f"{target} is not allowed in a config from {source} (allowed: {', '.join(TRUSTED_MODULES)}); "
                "pass --trust-config (trust_config=true for medae eval) only if you trust its author",
            )
