"""User-facing errors: each carries one line that names the key or file, the problem and what is allowed."""

import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Result = TypeVar("Result")


class MedaeError(Exception):
    """Base class of errors that the command line reports as one line, without a traceback."""


class ConfigError(MedaeError, ValueError):
    """A config key has a value that medae cannot use.

    Example:
        >>> raise ConfigError("optim.lr", "must be > 0, got -0.1")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: optim.lr: must be > 0, got -0.1
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def check_choices(key: str, chosen: Iterable[str], allowed: Iterable[str], what: str = "value") -> None:
    """Raise a ConfigError naming the first of ``chosen`` that is not in ``allowed``, and listing those.

    Example:
        >>> check_choices("data.augmentation", ["flip", "rotate"], ["flip", "gamma"])
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.augmentation: unknown value 'rotate'; allowed: flip, gamma
    """
    allowed = list(allowed)
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise ConfigError(key, f"unknown {what} '{unknown[0]}'; allowed: {', '.join(allowed)}")


class DataError(MedaeError, ValueError):
    """An input file or folder cannot give valid images."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source


class CapabilityError(MedaeError, ValueError):
    """A model cannot do what an application needs.

    Example:
        >>> raise CapabilityError("dense", "generation", "Samples", ["vae"])
        Traceback (most recent call last):
        ...
        medae.errors.CapabilityError: model=dense cannot run application=generation: it needs Samples (...)
    """

    def __init__(self, model: str, application: str, capability: str, able: list[str]) -> None:
        super().__init__(
            f"model={model} cannot run application={application}: it needs {capability} "
            f"(variants that can: {', '.join(able) or 'none'})"
        )


class Interrupted(Exception):
    """The run was stopped by a signal (see :mod:`medae.recovery.signals`).

    Attributes:
        signum: the signal's number.
        exit_code: the shell's convention for a process ended by that signal, 128 + ``signum``.
        run_id: the MLflow run that was ended as KILLED, once it is known.
        task: that run's command (``train``, ``eval``, ``baseline``), which decides how to go on.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum
        self.run_id: str | None = None
        self.task: str | None = None


def how_to_continue(run_id: str, task: str | None) -> str:
    """How to go on after a KILLED run: resume a training run, run any other command again.

    Example:
        >>> how_to_continue("abc", "train")
        'continue it: medae resume abc'
        >>> how_to_continue("abc", "eval")
        'what it logged is kept; run the eval command again to redo it'
    """
    if task == "train":
        return f"continue it: medae resume {run_id}"
    return f"what it logged is kept; run the {task or 'same'} command again to redo it"


def user_error_message(error: BaseException | None) -> str | None:
    """The one-line message of a medae error, also when Hydra's instantiate wrapped it; else None."""
    while error is not None:
        if isinstance(error, MedaeError):
            return str(error)
        error = error.__cause__
    return None


def exit_on_user_error(task: Callable[..., Result], *args: Any) -> Result:
    """Run ``task``; a medae error prints one line to stderr and exits with status 2.

    A stop by SIGINT or SIGTERM prints how to continue the run and exits with 130 or 143.
    """
    try:
        return task(*args)
    except Interrupted as stop:
        advice = (
            f"; its MLflow run is KILLED, {how_to_continue(stop.run_id, stop.task)}" if stop.run_id else ""
        )
        print(f"medae: {stop}{advice}", file=sys.stderr)
        sys.exit(stop.exit_code)
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        print(f"medae: error: {message}", file=sys.stderr)
        sys.exit(2)
