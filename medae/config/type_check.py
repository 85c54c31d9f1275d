"""Check config values against the type hints of the class they configure, before it is built."""

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from medae.errors import ConfigError


def init_type_hints(cls: type) -> dict[str, Any]:
    """Type hints of the constructor arguments of ``cls``, its bases' and its dataclass fields."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            hints |= typing.get_type_hints(init)
    if dataclasses.is_dataclass(cls):
        hints |= typing.get_type_hints(cls)
    hints.pop("return", None)
    return hints


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint``; other than numbers, strings, literals, unions, sequences, all fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        numbers = (int,) if hint is int else (int, float)
        return isinstance(value, numbers) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list, Sequence) and args:
        return isinstance(value, (list, tuple)) and all(matches(item, args[0]) for item in value)
    return True


def describe(hint: Any) -> str:
    """A readable name of a type hint: ``int``, ``tuple[int, ...]``, ``float | None``, ``'a' | 'b'``.

    Example:
        >>> describe(typing.Optional[typing.Literal["32-true", "bf16-mixed"]])
        "'32-true' | 'bf16-mixed' | None"
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe(arg) for arg in args)
    if hint is type(None):
        return "None"
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def check_types(prefix: str, values: Mapping[str, Any], cls: type) -> None:
    """Raise a ConfigError for the first value that does not fit the annotation of ``cls``.

    Example:
        >>> class Data:
        ...     def __init__(self, image_size: int = 64) -> None: ...
        >>> check_types("data", {"image_size": "abc"}, Data)
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.image_size: expected int, got 'abc' (str)
    """
    hints = init_type_hints(cls)
    for key, value in values.items():
        if key in hints and not matches(value, hints[key]):
            raise ConfigError(
                f"{prefix}.{key}", f"expected {describe(hints[key])}, got {value!r} ({type(value).__name__})"
            )
