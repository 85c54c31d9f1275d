"""Evaluate a checkpoint on a test split: ``medae eval ckpt_path=PATH [data=<name>] [overrides]``."""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, open_dict

from medae.bootstrap import bootstrap
from medae.commands.run_setup import run_setup
from medae.commands.session import session
from medae.commands.summary import RunResult, print_summary
from medae.config.run_parts import (
    CONFIG_DIR,
    checkpoint_data_config,
    hydra_output_dir,
    name_mlflow_run,
    plain_dict,
)
from medae.data.registry import build_datamodule
from medae.errors import exit_on_user_error
from medae.models.registry import load_module
from medae.tracking.logged_model import resolve_checkpoint
from medae.tracking.run_record import record_run_setup

bootstrap()  # the launcher entry: job processes of parallel launchers and DDP ranks start here

log = logging.getLogger(__name__)


def trained_on(run_config: Mapping[str, Any] | None, data: DictConfig) -> bool:
    """Whether the run that wrote a checkpoint trained on ``data``'s source: the same source and root.

    Example:
        >>> from omegaconf import OmegaConf
        >>> trained_on({"data": {"name": "mni152"}}, OmegaConf.create({"name": "mni152", "image_size": 32}))
        True
        >>> trained_on({"data": {"name": "mni152"}}, OmegaConf.create({"name": "nifti", "root": "scan.nii"}))
        False
    """
    trained = (run_config or {}).get("data") or {}
    chosen = plain_dict(data)
    return all(trained.get(key) == chosen.get(key) for key in ("name", "root"))


def evaluate(cfg: DictConfig) -> RunResult:
    """Test the checkpoint ``cfg.ckpt_path``; its eval run and test metrics.

    The data config is the one stored in the checkpoint unless ``cfg.data`` chooses another. On a source
    the model never trained on (another source or root), every sample is scored (``data.evaluate_all``),
    not a test split cut from it, and volumes are resampled to the voxel size the model trained at unless
    ``data.spacing`` sets one.
    """
    L.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_checkpoint(cfg.ckpt_path, cfg.paths.tracking_uri, cfg.paths.cache_dir)
    module = load_module(ckpt_path, trust=cfg.trust_checkpoint)
    data_cfg = checkpoint_data_config(cfg, module)
    if not trained_on(module.run_config, data_cfg):
        with open_dict(data_cfg):
            data_cfg.evaluate_all = True
            if "spacing" in data_cfg and data_cfg.spacing is None and module.training_spacing:
                data_cfg.spacing = module.training_spacing  # new volumes at the training voxel size
    datamodule = build_datamodule(data_cfg)
    datamodule.setup()
    name_mlflow_run(cfg, f"eval:{module.registry_name}:{Path(ckpt_path).name}")
    with session(cfg, callbacks=[]) as run:
        if run.mlflow_logger is not None:
            run_cfg = cfg.copy()
            with open_dict(run_cfg):
                run_cfg.data = data_cfg
                run_cfg["model"] = module.hparams["model"]
            record_run_setup(run.mlflow_logger, run_setup(run_cfg, datamodule, module, hydra_output_dir()))
        # one dict per evaluation set; the summary prints the headline figures, not Lightning's table
        per_loader = run.trainer.test(module, datamodule=datamodule, verbose=False)
    metrics = {key: float(value) for metrics in per_loader for key, value in metrics.items()}
    scored = {name: str(scored) for name, scored in datamodule.scored_sets().items()}
    return RunResult(run.mlflow_logger.run_id if run.mlflow_logger else None, metrics, scored=scored)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    print_summary(cfg, exit_on_user_error(evaluate, cfg))
