"""Which ``_target_`` a config that came from a tracking store may instantiate: an explicit set of objects.

``medae reproduce``, ``medae resume`` and ``medae eval`` of a checkpoint build objects from configs
that someone else may have written to a shared store. Hydra instantiates any importable callable, so
such a config could run commands (``monai.utils.run_cmd``), copy or overwrite files
(``shutil.copyfile``, ``torch.save``, also reached through re-exports such as
``torch.optim.optimizer.torch.save``). A target from a store is therefore resolved to the object it
names, without importing anything, and accepted only when that object is one medae builds
(:data:`TRUSTED_NAMES`, every optimiser and scheduler of ``torch.optim``, and what an extension
declared with :func:`trusted_target`). Interpolations may only call medae's and OmegaConf's read-only
resolvers, so ``${oc.create:...}`` cannot smuggle a target in. Hydra's own blocklist is not relied on.
"""

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from medae.errors import ConfigError

# every callable medae's configs name; an extension adds its own with @trusted_target
TRUSTED_NAMES = (
    "lightning.Trainer",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.callbacks.DeviceStatsMonitor",
    "lightning.pytorch.callbacks.EarlyStopping",
    "lightning.pytorch.callbacks.GradientAccumulationScheduler",
    "lightning.pytorch.callbacks.LearningRateMonitor",
    "lightning.pytorch.callbacks.ModelCheckpoint",
    "lightning.pytorch.callbacks.ModelSummary",
    "lightning.pytorch.callbacks.RichModelSummary",
    "lightning.pytorch.callbacks.RichProgressBar",
    "lightning.pytorch.callbacks.StochasticWeightAveraging",
    "lightning.pytorch.callbacks.TQDMProgressBar",
    "lightning.pytorch.callbacks.ThroughputMonitor",
    "lightning.pytorch.callbacks.Timer",
    "medae.callbacks.checkpoint.LastEveryEpochCheckpoint",
    "medae.callbacks.epoch_seed.EpochSeed",
    "medae.callbacks.image_grid.ReconstructionGridLogger",
    "medae.callbacks.progress_bar.ProgressBar",
    "medae.data.reconstruction_datamodule.batch_size",
    "medae.tracking.logger.ResumableMLFlowLogger",
)
# optimisers and schedulers that take a user's function are left out: the function would be a target too
UNTRUSTED_OPTIM = ("LambdaLR", "MultiplicativeLR")
# Hydra's helpers that return the callable named by their `path`, which is checked in turn
LOOKUP_TARGETS = ("hydra.utils.get_method", "hydra.utils.get_class", "hydra.utils.get_object")
# resolvers a stored config may call: they read values, they build no objects
TRUSTED_RESOLVERS = (
    "root_dir",
    "shared_data",
    "store_uri",
    "direction",
    "cwd",
    "hydra",
    "now",
    "oc.env",
    "oc.select",
)
RESOLVER_CALL = re.compile(r"\$\{\s*([\w.]+)\s*:")
_declared: list[Callable[..., Any]] = []


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


def trusted_target(target: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for an extension's callback or other class that stored configs may name as ``_target_``.

    Example:
        >>> @trusted_target
        ... class MyCallback: ...
        >>> any(trusted is MyCallback for trusted in trusted_objects())
        True
    """
    _declared.append(target)
    return target


def optimisers_and_schedulers() -> Iterator[type]:
    """The optimiser and learning-rate scheduler classes ``torch.optim`` exports."""
    import torch.optim
    from torch.optim import lr_scheduler

    for module, base in ((torch.optim, torch.optim.Optimizer), (lr_scheduler, object)):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, base) and not name.startswith("_"):
                is_scheduler = name.endswith(("LR", "Scheduler", "Plateau", "Restarts"))
                if name not in UNTRUSTED_OPTIM and (base is not object or is_scheduler):
                    yield value


def trusted_objects() -> list[Any]:
    """Every object a stored config may instantiate, imported from medae's own list of names."""
    objects: list[Any] = [*optimisers_and_schedulers(), *_declared]
    for name in TRUSTED_NAMES:
        module, _, attribute = name.rpartition(".")
        objects.append(getattr(importlib.import_module(module), attribute))
    return objects


def resolve_imported(target: str) -> Any:
    """The object ``target`` names, found among modules already imported (nothing is imported); or None.

    Example:
        >>> resolve_imported("argparse.ArgumentParser") is argparse.ArgumentParser
        True
        >>> resolve_imported("not_a_module.thing") is None
        True
    """
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is not None:
            value: Any = module
            for attribute in parts[split:]:
                value = getattr(value, attribute, None)
                if value is None:
                    return None
            return value
    return None


def is_trusted(target: str, objects: list[Any] | None = None) -> bool:
    """Whether ``target`` names, by identity, one of ``objects`` (by default :func:`trusted_objects`).

    Example:
        >>> is_trusted("torch.optim.Adam"), is_trusted("torch.optim.optimizer.torch.save")
        (True, False)
    """
    objects = trusted_objects() if objects is None else objects
    value = resolve_imported(target)
    return value is not None and any(value is trusted for trusted in objects)


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


def resolver_calls(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(full key, resolver name)`` an interpolation of the config calls, unresolved.

    Example:
        >>> config = OmegaConf.create({"a": {"b": "${oc.env:HOME}/x"}, "c": [1, "${oc.create:{}}"]})
        >>> list(resolver_calls(config))
        [('a.b', 'oc.env'), ('c[1]', 'oc.create')]
    """
    container = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
    if isinstance(container, dict):
        for child, value in container.items():
            yield from resolver_calls(value, f"{key}.{child}" if key else str(child))
    elif isinstance(container, list):
        for index, value in enumerate(container):
            yield from resolver_calls(value, f"{key}[{index}]")
    elif isinstance(container, str):
        for name in RESOLVER_CALL.findall(container):
            yield key, name


def check_trusted(cfg: DictConfig, source: str) -> None:
    """Raise a ConfigError naming the first target or resolver of ``cfg`` that medae does not trust.

    Args:
        cfg: a config read from a store or a checkpoint.
        source: where it came from, for the message (``run <id>``, a checkpoint path).

    Example:
        >>> check_trusted(OmegaConf.create({"cb": {"_target_": "shutil.copyfile"}}), "run 1")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: cb._target_: shutil.copyfile is not one of the objects medae builds, ...
    """
    advice = "pass --trust-config (trust_config=true for medae eval) only if you trust its author"
    for key, name in resolver_calls(cfg):
        if name not in TRUSTED_RESOLVERS:
            raise ConfigError(
                key,
                f"the resolver '{name}' is not allowed in a config from {source} "
                f"(allowed: {', '.join(TRUSTED_RESOLVERS)}); {advice}",
            )
    objects = trusted_objects()
    for key, target in targets(cfg):
        if not is_trusted(target, objects):
            raise ConfigError(
                key,
                f"{target} is not one of the objects medae builds, so a config from {source} may not "
                f"name it (see medae.security.trusted_targets); {advice}",
            )
