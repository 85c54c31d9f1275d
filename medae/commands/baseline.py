"""Run a classical denoiser as its own MLflow run: ``medae baseline method=bm3d [data overrides]``."""

import logging

import hydra
from mlflow import MlflowClient
from omegaconf import DictConfig

from medae.applications.denoising import conditions, measure_denoiser
from medae.baselines.denoisers import get_denoiser
from medae.bootstrap import bootstrap
from medae.commands.summary import RunResult, print_summary
from medae.config.run_parts import CONFIG_DIR, plain_dict
from medae.data.registry import build_datamodule
from medae.errors import ConfigError, exit_on_user_error
from medae.evaluation.split_tensors import stack_batches
from medae.recovery.signals import StopSignals
from medae.tracking.run_record import data_params
from medae.tracking.store import open_store
from medae.tracking.tracked_run import TrackedRun

bootstrap()  # the launcher entry: job processes of parallel launchers and DDP ranks start here

log = logging.getLogger(__name__)


def run_baseline(cfg: DictConfig) -> RunResult:
    """Tune ``cfg.method`` on validation images, measure it on the test images, log one MLflow run.

    With ``data.evaluate_all`` (a scan or folder given for evaluation) every image is scored and the method
    runs at its textbook setting: no image of the data tunes it.

    Example:
        ``medae baseline method=nlm data.noise_model=rician data.noise_std=0.05``
    """
    datamodule = build_datamodule(cfg.data)
    if not datamodule.noisy:
        raise ConfigError(
            "data.noise_std", "is 0; a denoising baseline needs noisy inputs, e.g. data.noise_std=0.1"
        )
    denoiser = get_denoiser(cfg.method, datamodule.spatial_dims)
    datamodule.setup()
    # data.evaluate_all: every image is a test image, none tunes the method (it runs at its textbook setting)
    val = (
        None if datamodule.evaluate_all else stack_batches(datamodule.val_dataloader()).head(cfg.tune_images)
    )
    sets = {
        name: stack_batches(datamodule.evaluation_dataloader(name)) for name in datamodule.evaluation_sets
    }
    mlflow = cfg.get("logger", {}).get("mlflow") if cfg.get("logger") else None
    parent = (
        TrackedRun(
            MlflowClient(mlflow.tracking_uri),
            None,
            open_store(mlflow.tracking_uri, mlflow.experiment_name, mlflow.artifact_location),
        )
        if mlflow
        else TrackedRun(None, None, None)
    )
    with StopSignals():  # a stop ends the method's run KILLED, with what it logged so far
        grid = conditions(val, sets, datamodule, cfg.noise_levels)
        measured = measure_denoiser(
            parent, denoiser, grid, datamodule, cfg.sigma, data_params(plain_dict(cfg.data))
        )
    scored = {name: str(scored) for name, scored in datamodule.scored_sets().items()}
    return RunResult(measured.run_id, measured.metrics, run_name=f"baseline:{cfg.method}", scored=scored)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="baseline")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the test PSNR to sweepers."""
    result = exit_on_user_error(run_baseline, cfg)
    print_summary(cfg, result)
    return result.metrics["test/psnr"]
