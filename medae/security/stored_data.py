"""What a store, a checkpoint or a user's file holds, read as plain data: bounded, never resolved.

A stored config is read with YAML's safe loader after a streaming pass that bounds its size, depth and
node count and refuses language tags (``!!python/object``) and aliases, so a hostile file gives one line
instead of a ``ConstructorError``, a ``RecursionError`` or a parse that never ends. Values that hold an
interpolation (``${...}``) are refused: nothing read from a store is resolved, so no resolver runs and no
environment value is read. Paths read from a store are used only once :func:`inside` has checked them
against the folder they must stay in.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from medae.errors import ConfigError, DataError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 20_000
# the tags of plain values; any other (``!!python/object``, ``!!binary``, a local ``!tag``) is refused
PLAIN_TAGS = tuple(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
INTERPOLATION = "${"
# keys that make a config node code rather than data (Hydra builds or calls it): never taken from a store
CODE_KEYS = ("_target_", "_args_", "_partial_", "_recursive_", "_convert_")


def check_size(text: str, source: str, max_bytes: int = MAX_BYTES) -> None:
    """Raise a DataError when ``text`` is longer than ``max_bytes`` bytes.

    Example:
        >>> check_size("a: 1", "run 1/config.yaml", max_bytes=3)
        Traceback (most recent call last):
        ...
        medae.errors.DataError: run 1/config.yaml: holds 4 bytes, over the 3 a stored config may have
    """
    size = len(text.encode())
    if size > max_bytes:
        raise DataError(source, f"holds {size} bytes, over the {max_bytes} a stored config may have")


def _bounded_events(text: str, source: str, max_depth: int, max_nodes: int) -> Iterator[yaml.Event]:
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise DataError(source, "uses YAML anchors or aliases, which a stored config may not")
        tag = getattr(event, "tag", None)
        if tag and tag not in PLAIN_TAGS:
            raise DataError(source, f"has the tag {tag}; a stored config holds plain values only")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > max_depth:
                raise DataError(source, f"nests deeper than {max_depth} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            nodes += 1
            if nodes > max_nodes:
                raise DataError(source, f"has more than {max_nodes} values")
        yield event


def load_yaml(
    text: str,
    source: str,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Any:
    """The plain data (dicts, lists, strings, numbers) of a stored YAML text, within bounds.

    Args:
        text: the YAML text.
        source: where it came from, for the message (``run <id> config/config.yaml``).
        max_bytes: the longest text read.
        max_depth: the deepest nesting of mappings and lists.
        max_nodes: the most values (scalars, mappings and lists together).

    Raises:
        DataError: the text is too large or deep, has too many values, a language tag or an alias, or
            is not YAML.

    Example:
        >>> load_yaml("model: {name: conv}", "run 1")
        {'model': {'name': 'conv'}}
        >>> load_yaml("x: !!python/object/apply:os.system [ls]", "run 1")
        Traceback (most recent call last):
        ...
        medae.errors.DataError: run 1: has the tag tag:yaml.org,2002:python/object/apply:os.system; ...
        >>> load_yaml("[" * 100 + "]" * 100, "run 1")
        Traceback (most recent call last):
        ...
        medae.errors.DataError: run 1: nests deeper than 32 levels
    """
    check_size(text, source, max_bytes)
    try:
        for _ in _bounded_events(text, source, max_depth, max_nodes):
            pass
        return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 (the safe loader, after the bounds)
    except yaml.YAMLError as error:
        problem = str(error).strip().splitlines()[0]
        raise DataError(source, f"is not plain YAML ({problem})") from error


def load_string_list(text: str, source: str, max_bytes: int = MAX_BYTES) -> list[str]:
    """A stored JSON list of strings (a run's recorded overrides).

    Example:
        >>> load_string_list('["model=vae", "optim.lr=0.001"]', "run 1")
        ['model=vae', 'optim.lr=0.001']
        >>> load_string_list('{"a": 1}', "run 1")
        Traceback (most recent call last):
        ...
        medae.errors.DataError: run 1: must be a list of strings
    """
    check_size(text, source, max_bytes)
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise DataError(source, f"is not JSON ({str(error).splitlines()[0]})") from error
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataError(source, "must be a list of strings")
    return value


def nodes(data: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(full key, value)`` of plain nested data, containers and leaves, depth first.

    Example:
        >>> list(nodes({"a": {"b": 1}, "c": [2]}))
        [('a', {'b': 1}), ('a.b', 1), ('c', [2]), ('c[0]', 2)]
    """
    children: Iterator[tuple[str, Any]] = iter(())
    if isinstance(data, dict):
        children = ((f"{key}.{child}" if key else str(child), value) for child, value in data.items())
    elif isinstance(data, list):
        children = ((f"{key}[{index}]", value) for index, value in enumerate(data))
    for full, value in children:
        yield full, value
        yield from nodes(value, full)


def interpolated_values(data: Any) -> Iterator[tuple[str, str]]:
    """Every ``(full key, value)`` of plain data whose string holds an interpolation (``${``).

    Example:
        >>> list(interpolated_values({"a": {"b": "${oc.env:HOME}"}, "c": ["x", "y${z}"]}))
        [('a.b', '${oc.env:HOME}'), ('c[1]', 'y${z}')]
    """
    return ((key, value) for key, value in nodes(data) if isinstance(value, str) and INTERPOLATION in value)


def check_plain(data: Any, source: str) -> None:
    """Raise a ConfigError unless ``data`` is plain values: no interpolation, nothing Hydra would build.

    Example:
        >>> check_plain({"root": "/scans", "fn": {"_target_": "os.system"}}, "checkpoint x.ckpt")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: fn._target_: names code, and a value from checkpoint x.ckpt is data only
    """
    refuse_interpolations(data, source)
    for key in code_keys(data, ""):
        raise ConfigError(key, f"names code, and a value from {source} is data only")


def code_keys(value: Any, key: str) -> Iterator[str]:
    """Full keys of ``value`` (stored under ``key``) that would make it code: :data:`CODE_KEYS`.

    Example:
        >>> list(code_keys({"a": {"_target_": "os.system"}}, "callbacks.x"))
        ['callbacks.x.a._target_']
    """
    found = [key, *(full for full, _ in nodes(value, key))]
    return (full for full in found if full.rpartition(".")[2] in CODE_KEYS)


def refuse_interpolations(data: Any, source: str) -> None:
    """Raise a ConfigError naming the first value of ``data`` that holds an interpolation.

    Example:
        >>> refuse_interpolations({"cb": "${oc.create:{}}"}, "run 1")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: cb: holds an interpolation ('${oc.create:{}}'); a value from run 1 ...
    """
    for key, value in interpolated_values(data):
        raise ConfigError(
            key,
            f"holds an interpolation ({value[:80]!r}); a value from {source} is data and is never "
            "resolved, so it may not hold ${...}",
        )


def inside(path: str | Path, folder: str | Path, key: str) -> Path:
    """``path`` resolved (links followed), when it lies in ``folder``; else a ConfigError naming ``key``.

    Example:
        >>> inside("/runs/a/../b/best.ckpt", "/runs", "best_model_path")
        PosixPath('/runs/b/best.ckpt')
        >>> inside("/runs/../etc/x.pth", "/runs", "best_model_path")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: best_model_path: /runs/../etc/x.pth lies outside /runs; a path ...
    """
    resolved = Path(path).expanduser().resolve()
    root = Path(folder).expanduser().resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(key, f"{path} lies outside {root}; a path a stored run names must stay there")
    return resolved
