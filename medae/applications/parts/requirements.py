"""What an application needs from the model, declared on its ``evaluate`` and checked before training."""

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from medae.models.registry import require

Evaluate = TypeVar("Evaluate", bound=Callable[..., Any])


def requires(
    *capabilities: type, by_option: Mapping[str, Mapping[Any, tuple[type, ...]]] | None = None
) -> Callable[[Evaluate], Evaluate]:
    """Declare the capabilities (:mod:`medae.models.capabilities`) an application's ``evaluate`` needs.

    ``medae train`` checks them before training (:func:`needed_capabilities`), and the decorated
    ``evaluate`` checks them again when it is called on a context, so a misfit is one line either way.

    Args:
        *capabilities: needed whatever the options.
        by_option: ``{option: {value: capabilities}}``, needed only for those option values.

    Example:
        >>> from medae.models.capabilities import HasPosterior
        >>> @requires(by_option={"score": {"elbo": (HasPosterior,)}})
        ... def evaluate(context, score="l1"): ...
        >>> needed_capabilities(functools.partial(evaluate, score="elbo"))
        (<class 'medae.models.capabilities.HasPosterior'>,)
    """

    def declare(evaluate: Evaluate) -> Evaluate:
        @functools.wraps(evaluate)
        def checked(context: Any, **options: Any) -> Any:
            evaluation = functools.partial(checked, **options)
            require(
                context.module.registry_name, needed_capabilities(evaluation), application_name(evaluation)
            )
            return evaluate(context, **options)

        declared: Any = checked  # a function carries its requirements as an attribute
        declared.required_capabilities = (capabilities, dict(by_option or {}))
        return cast(Evaluate, checked)

    return declare


def needed_capabilities(evaluation: functools.partial) -> tuple[type, ...]:
    """The capabilities a configured evaluation (a partial of ``evaluate`` with its options) needs."""
    always, by_option = getattr(evaluation.func, "required_capabilities", ((), {}))
    options = inspect.signature(evaluation.func).bind_partial(None, **evaluation.keywords)
    options.apply_defaults()
    chosen = [by_option[key].get(options.arguments.get(key), ()) for key in by_option]
    return tuple(always) + tuple(capability for group in chosen for capability in group)


def application_name(evaluation: functools.partial) -> str:
    """The name the application is registered as (``application=<name>``)."""
    registered: Any = evaluation.func  # the registry names what it registers
    return str(registered.registry_name)
