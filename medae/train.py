"""Train an autoencoder: ``medae train [overrides]`` or ``python -m medae.train [overrides]``."""

import logging
import sys
from dataclasses import dataclass, field

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

import medae.models  # noqa: F401  (registers the variants)
from medae.applications.context import ApplicationContext
from medae.errors import exit_on_user_error
from medae.models.registry import build_module
from medae.run_helpers import (
    CONFIG_DIR,
    build_application,
    build_callbacks,
    build_datamodule,
    build_loggers,
    hydra_output_dir,
    hydra_overrides_name,
    name_mlflow_run,
    to_plain,
)
from medae.tracking import find_mlflow_logger, record_run_setup

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        metric: value of ``optimized_metric`` (what a sweeper optimises), if it was logged.
        run_id: the MLflow run id, when MLflow logging is on.
        metrics: every metric the trainer holds at the end, train/val/test.
        best_checkpoint: path of the best checkpoint, if one was saved.
    """

    metric: float | None
    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: str | None = None


def default_run_name(cfg: DictConfig) -> str:
    """The model's name, followed by the command-line overrides that distinguish this job."""
    overrides = hydra_overrides_name()
    return f"{cfg.model.name}:{overrides}" if overrides else str(cfg.model.name)


def train(cfg: DictConfig) -> TrainResult:
    """Fit the configured model, test its best checkpoint, run the configured application, return the metric.

    Example:
        ``medae train model.latent_channels=16`` composes ``conf/train.yaml`` and calls this; from
        Python, ``train(cfg).metrics["test/psnr"]`` (see ``tests/conftest.py`` for composing ``cfg``).
    """
    L.seed_everything(cfg.seed, workers=True)
    application = build_application(cfg.get("application"))
    datamodule = build_datamodule(cfg.data)
    datamodule.setup()  # bad data stops the job before an MLflow run exists
    module = build_module(
        to_plain(cfg.model),
        to_plain(cfg.loss),
        to_plain(cfg.optim),
        to_plain(cfg.get("scheduler")),
        datamodule.value_range,
        cfg.train_quality_interval,
    )
    module.run_config = to_plain(cfg)
    if cfg.channels_last:
        module.use_channels_last()
    if cfg.compile:
        module.network = torch.compile(module.network)
    name_mlflow_run(cfg, default_run_name(cfg))
    loggers = build_loggers(cfg)
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=build_callbacks(cfg, bool(loggers)), logger=loggers or False
    )
    mlflow_logger = find_mlflow_logger(trainer.loggers)
    if mlflow_logger is not None:
        record_run_setup(mlflow_logger, cfg, datamodule, module, hydra_output_dir())
        log.info("MLflow run %s in experiment '%s'", mlflow_logger.run_id, cfg.logger.mlflow.experiment_name)

    if cfg.train:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.test:
        if not best:
            log.warning("No best checkpoint was saved; testing the current weights.")
        trainer.test(module, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
        metrics |= {key: float(value) for key, value in trainer.callback_metrics.items()}
    if application is not None:
        metrics |= application(ApplicationContext.of_run(module, datamodule, mlflow_logger, cfg))
    return TrainResult(
        metric=metrics.get(cfg.optimized_metric),
        run_id=mlflow_logger.run_id if mlflow_logger else None,
        metrics=metrics,
        best_checkpoint=best or None,
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the optimised metric to sweepers."""
    result = exit_on_user_error(train, cfg)
    for key in sorted(k for k in result.metrics if not k.startswith(("train/", "val/"))):
        log.info("%s = %.4f", key, result.metrics[key])
    return result.metric


if __name__ == "__main__":
    from medae.cli import main as cli_main

    cli_main(["train", *sys.argv[1:]])
