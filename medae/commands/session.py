"""What ``train`` and ``eval`` share around their work: loggers, a Trainer, signals and the run's end."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from lightning import Callback, Trainer
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig

from medae.config.run_parts import build_loggers
from medae.config.trainer_options import build_trainer
from medae.recovery.atomic_checkpoint import AtomicCheckpointIO
from medae.recovery.signals import StopSignals
from medae.tracking.logger import run_status
from medae.tracking.run_record import find_mlflow_logger


@dataclass
class Session:
    """A command's Trainer, its MLflow logger (``None`` with ``logger=none``) and its signal handler."""

    trainer: Trainer
    mlflow_logger: MLFlowLogger | None
    stop: StopSignals


@contextlib.contextmanager
def session(cfg: DictConfig, callbacks: list[Callback]) -> Iterator[Session]:
    """Build the configured loggers and Trainer for the block.

    Inside it, SIGINT and SIGTERM stop at a safe point, and the MLflow run ends FINISHED, KILLED or FAILED
    as the block does.
    """
    loggers = build_loggers(cfg)
    plugins = {} if cfg.trainer.get("plugins") else {"plugins": [AtomicCheckpointIO()]}
    trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False, **plugins)
    mlflow_logger = find_mlflow_logger(trainer.loggers)
    with run_status(mlflow_logger), StopSignals(trainer) as stop:
        yield Session(trainer, mlflow_logger, stop)
