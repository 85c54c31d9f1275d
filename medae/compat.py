"""Every use of a library's private or process-global API in medae, in one place.

Each was checked against lightning 2.6.6, hydra-core 1.3.8, optuna 5.1.0 and mlflow 3.17.2; the
``test_compat_*`` tests in ``tests/test_foundations.py`` fail loudly when a library changes what is used
here.

Nothing else in medae touches a private attribute of torch, Lightning, Hydra, MLflow or Optuna, or swaps
a process-global setting.
"""

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any


def hand_over_to_hydra(program: str, args: list[str], module: str) -> None:
    """Make this process look as if ``python -m <module> ARGS`` had started it.

    Hydra's ``@hydra.main`` reads its overrides from ``sys.argv``, and Lightning's DDP launcher starts the
    other ranks as ``python -m <__main__'s module> ARGS`` from ``__main__.__spec__``; ``medae train``
    starts in :mod:`medae.cli`, so both are pointed at the command's module.
    """
    sys.argv = [program, *args]
    sys.modules["__main__"].__spec__ = importlib.util.find_spec(module)


def request_trainer_stop(trainer: Any) -> None:
    """Ask a Lightning Trainer to stop at its next safe point, as its own SIGTERM handler does.

    Lightning 2.x has no public call for this: its signal connector's ``received_sigterm`` flag makes the
    fit loop save nothing more and raise ``SIGTERMException`` at the next batch boundary.
    """
    trainer._signal_connector.received_sigterm = True


def optuna_trial_handle(study: Any, trial: Any) -> Any:
    """A writable ``optuna.trial.Trial`` for a finished ``FrozenTrial`` of ``study``.

    Optuna exposes a frozen trial's storage id only as ``_trial_id``; ``Trial(study, id)`` is Optuna's
    own handle on it (e.g. to ``set_user_attr`` after the trial ran).
    """
    import optuna

    return optuna.trial.Trial(study, trial._trial_id)


@contextlib.contextmanager
def mlflow_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-global tracking URI set to ``uri`` for the block, then restored.

    ``mlflow.pytorch.log_model`` and ``mlflow.initialize_logged_model`` have no client form in MLflow 3:
    they write to the global tracking URI. Everything else in medae passes its store's client explicitly.
    """
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def process_rank() -> int:
    """The global rank of this process, as Lightning records it on ``rank_zero_only`` (0 without DDP).

    Example:
        >>> process_rank()
        0
    """
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0))
