"""The one way to extend medae: a registry per config group (``model``, ``data``, ``application``).

Registering an entry lists it under a name and stores its defaults, read from the code, as the Hydra
config ``<group>/<name>``. So ``data=<name>`` works without a yaml, and a yaml in ``conf/<group>/`` is a
preset that holds only what differs from the entry it extends.
"""

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from hydra.core.config_store import ConfigStore

from medae.config.type_check import Spec, check_values, specs_of
from medae.errors import ConfigError

Entry = TypeVar("Entry")
NAME_KEY = "name"
SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
# every registry by its config group, as each is made
REGISTRIES: dict[str, "Registry[Any]"] = {}


def plain(value: Any) -> Any:
    """A default as a config value: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


def signature_defaults(entry: Callable[..., Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword defaults of a function, or of a class's ``__init__`` and those of its bases.

    A parameter without a default is ``???`` (Hydra's required value).

    Example:
        >>> def evaluate(context, samples: int = 16, sizes: tuple[int, ...] = (1, 2)): ...
        >>> signature_defaults(evaluate, skip=("context",))
        {'samples': 16, 'sizes': [1, 2]}
    """
    functions = (
        [vars(c)["__init__"] for c in inspect.getmro(entry) if "__init__" in vars(c)]
        if isinstance(entry, type)
        else [entry]
    )
    defaults: dict[str, Any] = {}
    for function in functions:
        for name, parameter in inspect.signature(function).parameters.items():
            if name in ("self", *skip) or parameter.kind in SKIPPED_KINDS or name in defaults:
                continue
            empty = parameter.default is inspect.Parameter.empty
            defaults[name] = "???" if empty else plain(parameter.default)
    return defaults


class Registry(Mapping[str, Entry], Generic[Entry]):
    """Named entries of one config group, each also a Hydra config ``<group>/<name>``.

    Args:
        group: the config group, also the key of error messages (``model.name``).
        defaults: the config of an entry, without its name.
        specs: the type of each of an entry's options (:mod:`medae.config.type_check`).

    Example:
        >>> SOURCES = Registry("doctest_data", signature_defaults)
        >>> @SOURCES.register("toy", size=8)
        ... class Toy:
        ...     def __init__(self, size: int = 4, noise: float = 0.0): ...
        >>> SOURCES.node("toy")
        {'name': 'toy', 'size': 8, 'noise': 0.0}
        >>> SOURCES.lookup("toi")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: doctest_data.name: unknown doctest_data 'toi'; allowed: toy
    """

    def __init__(
        self,
        group: str,
        defaults: Callable[[Entry], dict[str, Any]],
        specs: Callable[[Entry], dict[str, Spec]] = specs_of,
    ) -> None:
        self.group = group
        self.defaults = defaults
        self.specs = specs
        REGISTRIES[group] = self
        self.entries: dict[str, Entry] = {}
        self.nodes: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **config: Any) -> Callable[[Entry], Entry]:
        """Decorator that lists an entry as ``<group>=<name>``.

        Args:
            name: the entry's name in configs and on the command line.
            **config: config values that differ from the code's defaults, e.g. interpolations
                such as ``root="${paths.root_dir}/data"``.
        """

        def add(entry: Entry) -> Entry:
            entry.registry_name = name  # type: ignore[attr-defined]  # not declared by the Entry type
            self.entries[name] = entry
            self.nodes[name] = {NAME_KEY: name, **self.defaults(entry), **config}
            ConfigStore.instance().store(group=self.group, name=name, node=self.nodes[name])
            return entry

        return add

    def node(self, name: str) -> dict[str, Any]:
        """The config ``<group>=<name>`` stands for."""
        self.lookup(name)
        return dict(self.nodes[name])

    def lookup(self, name: str) -> Entry:
        """The entry registered as ``name``; a ConfigError that lists the names otherwise."""
        if name not in self.entries:
            raise ConfigError(
                f"{self.group}.{NAME_KEY}", f"unknown {self.group} '{name}'; allowed: {', '.join(self)}"
            )
        return self.entries[name]

    def build(self, node: Mapping[str, Any]) -> tuple[Entry, dict[str, Any]]:
        """The entry a config node names, and the node's other keys (its options), each one it takes."""
        if NAME_KEY not in node:
            raise ConfigError(
                f"{self.group}.{NAME_KEY}",
                f"is missing; choose one with {self.group}=<name>, allowed: {', '.join(self)}",
            )
        entry = self.lookup(node[NAME_KEY])
        check_options(self.group, node, self.nodes[node[NAME_KEY]], self.specs(entry))
        return entry, {key: value for key, value in node.items() if key != NAME_KEY}

    def __getitem__(self, name: str) -> Entry:
        return self.entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.entries))

    def __len__(self) -> int:
        return len(self.entries)


def check_options(
    group: str, node: Mapping[str, Any], defaults: Mapping[str, Any], specs: Mapping[str, Spec]
) -> None:
    """Raise a ConfigError for an option the entry ``node`` names does not have, lacks, or gets wrong.

    Args:
        group: the config group (``data``).
        node: the config node, its ``name`` and options, interpolations resolved.
        defaults: the entry's registered config node (its keys are the options).
        specs: the type of each option.

    Example:
        >>> node, defaults = {"name": "toy", "size": "8"}, {"name": "toy", "size": 4}
        >>> check_options("data", node, defaults, {"size": {"type": "int"}})
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.size: expected int, got '8' (str)
    """
    allowed = [key for key in defaults if key != NAME_KEY]
    for key in node:
        if key not in (NAME_KEY, *allowed):
            raise ConfigError(
                f"{group}.{key}",
                f"is not an option of {group} '{node[NAME_KEY]}'; allowed: {', '.join(allowed)}",
            )
    missing = [key for key in allowed if node.get(key) == "???"]
    if missing:
        raise ConfigError(f"{group}.{missing[0]}", f"is required by {group} '{node[NAME_KEY]}'")
    check_values(group, {key: value for key, value in node.items() if key != NAME_KEY}, specs)
