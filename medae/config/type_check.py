"""Config value types as plain data (specs), read from type hints, and the check of a value against one.

A spec is JSON: ``{"type": "int"}`` (also ``float``, ``bool``, ``str``, ``none``), ``{"literal": [...]}``,
``{"union": [...]}``, ``{"list": spec}``, ``{"dict": true}``, or ``{"any": "<name>"}`` for a type a config
value cannot be (a class, a callable). A number's range and a list's least length come from
``typing.Annotated`` with annotated-types' ``Gt``, ``Ge``, ``Lt``, ``Le`` and ``MinLen`` (``{"type": "int",
"gt": 0}``): :data:`PositiveInt` and its kin. Specs are written once from the code
(:mod:`medae.config.schema`) and checked without importing it, so a wrong value is refused before torch
is loaded.
"""

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any

import annotated_types

from medae.errors import ConfigError

Spec = dict[str, Any]
PLAIN_TYPES: dict[Any, str] = {int: "int", float: "float", bool: "bool", str: "str", type(None): "none"}
SEQUENCES = (tuple, list, set, frozenset, Sequence, Iterable, typing.Sequence, typing.Iterable)
MAPPINGS = (dict, Mapping, typing.Mapping)
TARGET_KEY = "_target_"
# the bounds a spec may carry, each with its comparison, from annotated-types' constraint of that name
BOUNDS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", lambda value, bound: value > bound),
    "ge": (">=", lambda value, bound: value >= bound),
    "lt": ("<", lambda value, bound: value < bound),
    "le": ("<=", lambda value, bound: value <= bound),
}
PositiveInt = Annotated[int, annotated_types.Gt(0)]
PositiveFloat = Annotated[float, annotated_types.Gt(0)]
NonNegativeInt = Annotated[int, annotated_types.Ge(0)]
NonNegativeFloat = Annotated[float, annotated_types.Ge(0)]
Fraction = Annotated[float, annotated_types.Ge(0), annotated_types.Le(1)]
# a non-empty tuple of positive ints (channels per level, strides)
PositiveInts = Annotated[tuple[PositiveInt, ...], annotated_types.MinLen(1)]


def init_type_hints(cls: Any) -> dict[str, Any]:
    """Type hints of the arguments of a function, or of a class's ``__init__``, its bases' and its fields."""
    if not isinstance(cls, type):
        hints = dict(typing.get_type_hints(cls, include_extras=True))
    else:
        hints = {}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is not None and klass is not object:
                hints |= typing.get_type_hints(init, include_extras=True)
        if dataclasses.is_dataclass(cls):
            hints |= typing.get_type_hints(cls, include_extras=True)
    hints.pop("return", None)
    return hints


def spec_of(hint: Any) -> Spec:
    """The spec of a type hint.

    Example:
        >>> spec_of(int | None)
        {'union': [{'type': 'int'}, {'type': 'none'}]}
        >>> spec_of(tuple[int, ...])
        {'list': {'type': 'int'}}
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in PLAIN_TYPES:
        return {"type": PLAIN_TYPES[hint]}
    if origin is typing.Literal:
        return {"literal": [arg.value if isinstance(arg, enum.Enum) else arg for arg in args]}
    if origin in (typing.Union, types.UnionType):
        return {"union": [spec_of(arg) for arg in args]}
    if origin is typing.Annotated:
        spec = spec_of(args[0])
        for constraint in hint.__metadata__:
            for name in (*BOUNDS, "min_length"):
                if getattr(constraint, name, None) is not None:
                    spec[name.replace("min_length", "min_len")] = getattr(constraint, name)
        return spec
    if origin in SEQUENCES or hint in SEQUENCES:
        items = [arg for arg in args if arg is not Ellipsis]
        if not items:
            return {"list": {"any": "Any"}}
        return {"list": spec_of(items[0]) if len(set(items)) == 1 else {"union": [spec_of(a) for a in items]}}
    if origin in MAPPINGS or hint in MAPPINGS:
        return {"dict": True}
    name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
    return {"any": name}


def specs_of(entry: Any) -> dict[str, Spec]:
    """The spec of each argument of a function or class (see :func:`init_type_hints`)."""
    return {key: spec_of(hint) for key, hint in init_type_hints(entry).items()}


def matches(value: Any, spec: Spec) -> bool:
    """Whether config value ``value`` fits ``spec``.

    A node with a ``_target_`` becomes an object and fits any spec. In a union, a value must fit one of
    the alternatives a config can hold (``float`` in ``float | Tensor``) unless there is none.

    Example:
        >>> lr = spec_of(float | typing.Callable)
        >>> matches(0.1, lr), matches(1, lr), matches([1, 2], lr), matches(True, lr)
        (True, True, False, False)
    """
    if isinstance(value, Mapping) and TARGET_KEY in value:
        return True
    if "any" in spec:
        return True
    if "union" in spec:
        plain = [alternative for alternative in spec["union"] if "any" not in alternative]
        return not plain or any(matches(value, alternative) for alternative in plain)
    if "literal" in spec:
        return any(value == option and type(value) is type(option) for option in spec["literal"])
    if "list" in spec:
        return (
            isinstance(value, (list, tuple))
            and len(value) >= spec.get("min_len", 0)
            and all(matches(item, spec["list"]) for item in value)
        )
    if "dict" in spec:
        return isinstance(value, Mapping)
    kind = spec["type"]
    if kind == "float":
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        fits = type(value).__name__ == kind if kind != "none" else value is None
    return fits and all(compare(value, spec[name]) for name, (_, compare) in BOUNDS.items() if name in spec)


def describe(spec: Spec) -> str:
    """A readable name of a spec: ``int``, ``list[int]``, ``float | None``, ``'a' | 'b'``.

    Example:
        >>> describe(spec_of(typing.Optional[typing.Literal["32-true", "bf16-mixed"]]))
        "'32-true' | 'bf16-mixed' | None"
        >>> describe(spec_of(PositiveInts)), describe(spec_of(Fraction))
        ('list[int > 0] of at least 1', 'float >= 0 and <= 1')
    """
    if "literal" in spec:
        return " | ".join(repr(option) for option in spec["literal"])
    if "union" in spec:
        return " | ".join(describe(alternative) for alternative in spec["union"])
    if "list" in spec:
        least = f" of at least {spec['min_len']}" if spec.get("min_len") else ""
        return f"list[{describe(spec['list'])}]{least}"
    if "dict" in spec:
        return "mapping"
    if "any" in spec:
        return str(spec["any"])
    bounds = " and".join(f" {symbol} {spec[name]}" for name, (symbol, _) in BOUNDS.items() if name in spec)
    return ("None" if spec["type"] == "none" else str(spec["type"])) + bounds


def check_values(prefix: str, values: Mapping[str, Any], specs: Mapping[str, Spec]) -> None:
    """Raise a ConfigError for the first value that does not fit its spec; keys without one pass.

    Example:
        >>> check_values("data", {"image_size": "abc"}, {"image_size": {"type": "int"}})
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.image_size: expected int, got 'abc' (str)
    """
    for key, value in values.items():
        if key in specs and not matches(value, specs[key]):
            raise ConfigError(
                f"{prefix}.{key}", f"expected {describe(specs[key])}, got {value!r} ({type(value).__name__})"
            )


def check_types(prefix: str, values: Mapping[str, Any], entry: type | Callable[..., Any]) -> None:
    """Raise a ConfigError for the first value that does not fit the annotation of ``entry``.

    Example:
        >>> class Data:
        ...     def __init__(self, image_size: int = 64) -> None: ...
        >>> check_types("data", {"image_size": "abc"}, Data)
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.image_size: expected int, got 'abc' (str)
    """
    check_values(prefix, values, specs_of(entry))
