"""Train an autoencoder: ``medae train [overrides]`` or ``python -m medae train [overrides]``."""

import logging
from dataclasses import dataclass
from typing import Any, cast

import hydra
import lightning as L
import torch
from omegaconf import DictConfig
from torch import nn

import medae
from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.registry import build_application
from medae.applications.parts.requirements import application_name, needed_capabilities
from medae.bootstrap import bootstrap
from medae.commands.run_setup import run_setup
from medae.commands.session import session
from medae.commands.summary import RunResult, print_summary
from medae.compat import process_rank
from medae.config.compute_environment import apply_num_threads
from medae.config.run_parts import (
    CONFIG_DIR,
    absolute_data_paths,
    build_callbacks,
    hydra_output_dir,
    hydra_overrides_name,
    name_mlflow_run,
    to_plain,
)
from medae.config.selection import check_selection
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.data.registry import build_datamodule
from medae.errors import ConfigError, DataError, exit_on_user_error
from medae.inference.model_package import log_package
from medae.inference.preprocessing import ScanPreprocessing
from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import build_module, check_fits, require
from medae.recovery.slurm_requeue import continue_requeued_run
from medae.security.redaction import mask_logged_tags, redacted_config
from medae.security.safe_checkpoint import load_checkpoint
from medae.tracking.logged_model import ModelRecord, model_name
from medae.tracking.model_card import CardFacts, model_card
from medae.tracking.paper_reference import PaperReference
from medae.tracking.run_record import DIGEST_LENGTH, flatten_config, record_run_setup
from medae.tracking.sweep_parent import record_sweep_job
from medae.tracking.tracked_run import TrackedRun

bootstrap()  # the launcher entry: job processes of parallel launchers and DDP ranks start here

log = logging.getLogger(__name__)


@dataclass
class TrainResult(RunResult):
    """Outcome of :func:`train`: its run, every metric the trainer holds at the end, the best checkpoint.

    Attributes:
        metric: value of ``optimized_metric``, if it was logged.
    """

    metric: float | None = None


def default_run_name(cfg: DictConfig) -> str:
    """The model's name, followed by the command-line overrides that distinguish this job."""
    overrides = hydra_overrides_name()
    return f"{cfg.model.name} {overrides}" if overrides else str(cfg.model.name)


def model_record(
    cfg: DictConfig,
    application: Any,
    datamodule: ReconstructionDataModule,
    module: AutoencoderModule,
    metrics: dict[str, float],
    run_id: str,
) -> ModelRecord:
    """The logged model's name, params (the network's settings), test metrics, test split and card."""
    params = flatten_config({"model": to_plain(cfg.model)})
    sets = datamodule.evaluation_sets
    name = model_name(cfg.model.name, application_name(application) if application else None)
    tested = {key: value for key, value in metrics.items() if key.split("/")[0] in sets}
    fingerprint = datamodule.fingerprint()[:DIGEST_LENGTH]
    profile = module.training_profile
    facts = CardFacts(
        name=name,
        application=application_name(application) if application else None,
        run_id=run_id,
        medae_version=medae.__version__,
        data={
            "source": cfg.data.name,
            "root": cfg.data.get("root", "(packaged)"),
            "fingerprint": fingerprint,
            "samples per split": datamodule.split_sizes(),
        },
        preprocessing=ScanPreprocessing.from_data_config(
            to_plain(cfg.data), module.training_spacing
        ).to_dict(),
        scored={set_name: str(scored) for set_name, scored in datamodule.scored_sets().items()},
        metrics=tested,
        training_profile=profile.to_dict() if profile else None,
    )
    return ModelRecord(
        name=name,
        params=params | {"data.name": str(cfg.data.name), "seed": str(cfg.seed)},
        metrics=tested,
        dataset_name=f"{cfg.data.name}-test",
        dataset_digest=fingerprint,
        card=model_card(facts),
    )


def train(cfg: DictConfig, expected_fingerprint: str | None = None) -> TrainResult:
    """Fit the configured model, test its best checkpoint, run the configured application, return the metric.

    The MLflow run ends FINISHED, FAILED, or KILLED when SIGINT or SIGTERM stopped it
    (:class:`medae.errors.Interrupted`). With ``logger.mlflow.run_id`` and ``ckpt_path`` set
    (``medae resume``), training goes on in that run from the checkpoint.

    Args:
        cfg: the composed ``train`` config.
        expected_fingerprint: stop before training, with a DataError, unless the data's fingerprint
            is this (``medae reproduce`` passes the original run's).

    Example:
        ``medae train model.latent_channels=16`` composes ``conf/train.yaml`` and calls this; from
        Python, ``train(cfg).metrics["test/psnr"]`` (see ``tests/conftest.py`` for composing ``cfg``).
    """
    apply_num_threads(cfg.get("num_threads"))
    L.seed_everything(cfg.seed, workers=True)
    trust_checkpoint = bool(cfg.get("trust_checkpoint"))
    ckpt_path = cfg.get("ckpt_path")
    checkpoint = load_checkpoint(ckpt_path, trust_checkpoint) if ckpt_path else None
    check_selection(cfg)  # nothing is chosen on the test split or a held-out subject
    absolute_data_paths(cfg.data)
    application = build_application(cfg.get("application"))
    paper = PaperReference.from_config(cfg.paper) if cfg.get("paper") else None
    if application is not None:  # a model that cannot run the application stops before training
        require(cfg.model.name, needed_capabilities(application), application_name(application))
    datamodule = build_datamodule(cfg.data)
    if application is not None and datamodule.full_resolution:
        raise ConfigError(
            "application",
            f"{application_name(application)} scores samples of data.image_size; with "
            "data.full_resolution=true the test loop scores whole samples (sliding windows): "
            "set application=null",
        )
    datamodule.setup()  # bad data stops the job before an MLflow run exists
    if expected_fingerprint is not None and datamodule.fingerprint() != expected_fingerprint:
        raise DataError(
            f"data ({cfg.data.get('root', cfg.data.name)})",
            f"fingerprint {datamodule.fingerprint()[:12]} differs from the original run's "
            f"{expected_fingerprint[:12]}: the images or their preprocessing changed",
        )
    module = build_module(
        to_plain(cfg.model),
        to_plain(cfg.loss),
        to_plain(cfg.optim),
        to_plain(cfg.get("scheduler")),
        datamodule.value_range,
        cfg.train_quality_interval,
    )
    if checkpoint is not None:
        check_fits(checkpoint, module, ckpt_path)
        del checkpoint
    if cfg.trainer.get("strategy") == "ddp":  # e.g. two optimisers, each backward reaching one network
        cfg.trainer.strategy = module.ddp_strategy
    module.run_config = redacted_config(cfg)  # checkpoints are uploaded to the store
    module.training_spacing = datamodule.training_spacing()  # new scans are resampled to it
    module.training_profile = datamodule.training_profile()  # new scans unlike it are warned about
    mask_logged_tags(cfg)
    if cfg.channels_last:
        module.use_channels_last()
    if cfg.compile:
        module.network = cast(nn.Module, torch.compile(module.network))
    name_mlflow_run(cfg, default_run_name(cfg))
    with session(cfg, build_callbacks(cfg, with_loggers=bool(cfg.get("logger")))) as run:
        trainer, mlflow_logger, stop = run.trainer, run.mlflow_logger, run.stop
        if mlflow_logger is not None:
            record_run_setup(mlflow_logger, run_setup(cfg, datamodule, module, hydra_output_dir()))
            record_sweep_job(mlflow_logger, cfg.logger.mlflow.tracking_uri)
            if process_rank() == 0:  # other DDP ranks have no run of their own
                log.info(
                    "MLflow run %s in experiment '%s'",
                    mlflow_logger.run_id,
                    cfg.logger.mlflow.experiment_name,
                )
        if cfg.train:
            trainer.fit(
                module,
                datamodule=datamodule,
                ckpt_path=cfg.get("ckpt_path"),
                weights_only=not trust_checkpoint,
            )
            stop.check()
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        if cfg.test:
            if not best:
                log.warning("No best checkpoint was saved; testing the current weights.")
            # verbose=False: the summary prints the headline figures (Lightning's table repeats
            # epoch-end metrics in every test set's column)
            trainer.test(
                module, datamodule=datamodule, ckpt_path=best or None, weights_only=True, verbose=False
            )
            stop.check()
            metrics |= {key: float(value) for key, value in trainer.callback_metrics.items()}
            if mlflow_logger is not None and cfg.train:  # the module holds the best weights after testing
                example = datamodule.example_input()
                run_id = str(mlflow_logger.run_id)
                record = model_record(cfg, application, datamodule, module, metrics, run_id)
                log.info("MLflow model %s", log_package(mlflow_logger, module, example, record))
        if application is not None:
            metrics |= application(
                ApplicationContext.of_run(module, datamodule, mlflow_logger, cfg.seed, to_plain(cfg.data))
            )
        if paper is not None:  # a paper preset: its reported figures beside this run's
            logger = mlflow_logger
            tracked = TrackedRun(logger.experiment, logger.run_id, logger.experiment_id) if logger else None
            metrics |= paper.log(tracked or TrackedRun(None, None, None), metrics)
    return TrainResult(
        metric=metrics.get(cfg.optimized_metric),
        run_id=mlflow_logger.run_id if mlflow_logger else None,
        metrics=metrics,
        best_checkpoint=best or None,
        scored={name: str(scored) for name, scored in datamodule.scored_sets().items()},
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the optimised metric to sweepers. A requeued SLURM job continues its run."""
    cfg = exit_on_user_error(continue_requeued_run, cfg)
    result = exit_on_user_error(train, cfg)
    print_summary(cfg, result)
    return result.metric


if __name__ == "__main__":  # the other DDP ranks start here (see medae.cli)
    main()
