"""The typed schema of medae's configs, and the check of a composed config against it.

The schema lists every entry of the config groups ``model``, ``data`` and ``application`` (its
description, config node, capabilities and the type of each option), Lightning's Trainer defaults, and
the arguments of every class a packaged config names by ``_target_`` (trainer, optimisers, schedulers,
callbacks, logger) with their types. It is read from the code, so entries are declared once, and ships as
``schema.json`` beside this module: ``python -m medae.config.schema`` writes it and the test suite checks
it against the code. A command checks its composed config against the shipped file before torch,
Lightning or MONAI is imported, so ``trainer.max_epochs=ten`` is refused at once; when an installed package
or ``MEDAE_EXTENSIONS`` adds entries, the schema is read from the registries after the bootstrap instead.
"""

import functools
import importlib
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from medae.config.extensions import has_user_extensions
from medae.config.registry import NAME_KEY, REGISTRIES, check_options
from medae.config.type_check import TARGET_KEY, check_values, specs_of
from medae.errors import ConfigError

SCHEMA_FILE = Path(__file__).with_name("schema.json")
PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "conf"
# the registry of each config group, by ``module:attribute`` (imported only when the code is read)
# the groups whose entries a registry holds (data first: the model's shared keys follow the data's, and a
# bad value is named where it was set)
GROUPS = ("data", "model", "application")
# keys of a ``_target_`` node that Hydra reads itself
HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")
TRAINER_DEFAULTS = ("trainer", "lightning")  # the config trainer/lightning
# every ``paths.*`` value is a folder, a file or a store URI
PATHS_KEY, PATH_SPEC = "paths", {"type": "str"}
Schema = dict[str, Any]


def description(entry: Any) -> str:
    """The first line of an entry's docstring."""
    return (entry.__doc__ or "").strip().splitlines()[0]


def capabilities(entry: Any) -> list[str]:
    """The capabilities a model variant's network declares (empty for other entries)."""
    network = getattr(entry, "network_class", None)
    return [capability.__name__ for capability in getattr(network, "capabilities", ())]


def targets_in(node: Any) -> Iterator[str]:
    """Every ``_target_`` in a loaded yaml document.

    Example:
        >>> list(targets_in({"a": {"_target_": "x.A", "f": {"_target_": "y.f"}}, "b": [1]}))
        ['x.A', 'y.f']
    """
    if isinstance(node, dict):
        if isinstance(node.get(TARGET_KEY), str):
            yield node[TARGET_KEY]
        for value in node.values():
            yield from targets_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from targets_in(value)


def packaged_targets() -> list[str]:
    """The classes and functions medae's packaged configs name by ``_target_`` (Hydra's own left out)."""
    found = set()
    for path in PACKAGED_CONFIGS.rglob("*.yaml"):
        if path.relative_to(PACKAGED_CONFIGS).parts[0] != "hydra":
            found |= set(targets_in(yaml.safe_load(path.read_text())))
    return sorted(found)


def located(target: str) -> Any:
    """The class or function ``target`` (``package.module.Name``) names, imported."""
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def target_schema(target: str) -> dict[str, Any]:
    """The types of a target's arguments, and whether it takes others (``**kwargs``)."""
    entry = located(target)
    function = vars(entry).get("__init__", entry) if isinstance(entry, type) else entry
    kinds = [p.kind for p in inspect.signature(function).parameters.values()]
    return {"types": specs_of(entry), "open": inspect.Parameter.VAR_KEYWORD in kinds}


def live_schema() -> Schema:
    """The schema read from the code: every registered entry and packaged target.

    The registries must be filled (:func:`medae.bootstrap.bootstrap`).
    """
    from medae.config.trainer_options import lightning_defaults

    groups: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        registry = REGISTRIES[group]
        groups[group] = {
            name: {
                "description": description(entry),
                "node": registry.node(name),
                "capabilities": capabilities(entry),
                "types": registry.specs(entry),
            }
            for name, entry in registry.items()
        }
    return {
        "groups": groups,
        "trainer_defaults": lightning_defaults(),
        "targets": {target: target_schema(target) for target in packaged_targets()},
    }


@functools.cache
def shipped_schema() -> Schema:
    """The schema of medae's own entries as shipped in ``schema.json``."""
    schema: Schema = json.loads(SCHEMA_FILE.read_text())
    return schema


def prepare_schema() -> Schema:
    """The schema of this process, its entries' config nodes registered in Hydra's ConfigStore.

    Once the registries are filled, theirs; before, the shipped file, read without importing torch. With
    user extensions, bootstrap first (:mod:`medae.cli` does): the shipped file lacks their entries.
    """
    if all(REGISTRIES.get(group) for group in GROUPS):
        live: Schema = json.loads(json.dumps(live_schema()))  # as plain as the shipped file
        return live
    if has_user_extensions():
        raise ConfigError(
            "MEDAE_EXTENSIONS", "user extensions are not loaded yet; call medae.bootstrap.bootstrap() first"
        )
    schema = shipped_schema()
    store = ConfigStore.instance()
    for group, entries in schema["groups"].items():
        for name, entry in entries.items():
            store.store(group=group, name=name, node=entry["node"])
    store.store(group=TRAINER_DEFAULTS[0], name=TRAINER_DEFAULTS[1], node=schema["trainer_defaults"])
    return schema


def resolved_values(node: DictConfig) -> dict[str, Any]:
    """The values of ``node`` with interpolations resolved; those that resolve only in a job are left out."""
    values = {}
    for key in node:
        if OmegaConf.is_missing(node, key):
            continue
        try:
            value = node[key]
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException:  # e.g. ${hydra:runtime.output_dir} outside a running job
            continue
        values[str(key)] = value
    return values


def check_target(key: str, node: DictConfig, schema: Schema) -> None:
    """Check a ``_target_`` node's arguments, and those of the nodes inside it, against the schema.

    A target the schema does not list (a user's own class) is checked when it is built.
    """
    values = resolved_values(node)
    target = schema["targets"].get(values.get(TARGET_KEY))
    if target is not None:
        allowed = sorted(target["types"])
        for name in values:
            if name not in (*HYDRA_KEYS, *allowed) and not target["open"]:
                raise ConfigError(
                    f"{key}.{name}",
                    f"is not an argument of {values[TARGET_KEY]}; allowed: {', '.join(allowed)}",
                )
        check_values(key, {k: v for k, v in values.items() if k not in HYDRA_KEYS}, target["types"])
    check_sections(key, node, schema)


def check_sections(prefix: str, node: DictConfig, schema: Schema, skip: tuple[str, ...] = ()) -> None:
    """Check every ``_target_`` node below ``node``, but for the keys ``skip``."""
    for name in map(str, node):
        if name in skip or OmegaConf.is_missing(node, name) or OmegaConf.is_interpolation(node, name):
            continue
        child = node[name]
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(child, DictConfig) and TARGET_KEY in child:
            check_target(key, child, schema)
        elif isinstance(child, DictConfig):
            check_sections(key, child, schema)


def check_config(cfg: DictConfig, schema: Schema) -> None:
    """Raise a ConfigError, one line, for the first value of ``cfg`` the schema refuses.

    The entry ``model``, ``data`` and ``application`` name must exist and get only its own options, each
    of its type; a ``_target_`` node only its target's arguments, each of its type; every ``paths`` value
    is a string. Hydra's own node is not checked.

    Example:
        >>> from medae.config.checks import CONFIG_DIR, check_overrides
        >>> check_overrides(CONFIG_DIR, "train", ["trainer.max_epochs=ten"])
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: trainer.max_epochs: expected int | None, got 'ten' (str)
    """
    for group in GROUPS:
        node, entries = cfg.get(group), schema["groups"][group]
        if not isinstance(node, DictConfig) or NAME_KEY not in node:
            continue
        values = resolved_values(node)
        if values.get(NAME_KEY) not in entries:
            raise ConfigError(
                f"{group}.{NAME_KEY}",
                f"unknown {group} {values.get(NAME_KEY)!r}; allowed: {', '.join(entries)}",
            )
        entry = entries[values[NAME_KEY]]
        check_options(group, values, entry["node"], entry["types"])
    paths = cfg.get(PATHS_KEY)
    if isinstance(paths, DictConfig):
        values = resolved_values(paths)
        check_values(PATHS_KEY, values, {key: PATH_SPEC for key in values})
    check_sections("", cfg, schema, skip=(*schema["groups"], "hydra"))
