"""Evaluate a checkpoint on a test split: ``medae eval ckpt_path=PATH [data=<name>] [overrides]``."""

import logging
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, open_dict

from medae.bootstrap import bootstrap
from medae.commands.session import session
from medae.commands.summary import RunResult, print_summary
from medae.config.run_parts import (
    CONFIG_DIR,
    checkpoint_data_config,
    hydra_output_dir,
    name_mlflow_run,
)
from medae.data.registry import build_datamodule
from medae.errors import exit_on_user_error
from medae.models.registry import load_module
from medae.tracking.logged_model import resolve_checkpoint
from medae.tracking.run_record import record_run_setup

bootstrap()  # the launcher entry: job processes of parallel launchers and DDP ranks start here

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> RunResult:
    """Test the checkpoint ``cfg.ckpt_path``; its eval run and test metrics.

    The data config is the one stored in the checkpoint unless ``cfg.data`` chooses another.
    """
    L.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_checkpoint(cfg.ckpt_path, cfg.paths.tracking_uri, cfg.paths.cache_dir)
    module = load_module(ckpt_path, trust=cfg.trust_checkpoint)
    data_cfg = checkpoint_data_config(cfg, module)
    datamodule = build_datamodule(data_cfg)
    datamodule.setup()
    name_mlflow_run(cfg, f"eval:{module.registry_name}:{Path(ckpt_path).name}")
    with session(cfg, callbacks=[]) as run:
        if run.mlflow_logger is not None:
            run_cfg = cfg.copy()
            with open_dict(run_cfg):
                run_cfg.data = data_cfg
                run_cfg.model = module.hparams.model
            record_run_setup(run.mlflow_logger, run_cfg, datamodule, module, hydra_output_dir())
        # one dict per evaluation set; the summary prints the headline figures, not Lightning's table
        per_loader = run.trainer.test(module, datamodule=datamodule, verbose=False)
    metrics = {key: float(value) for metrics in per_loader for key, value in metrics.items()}
    return RunResult(run.mlflow_logger.run_id if run.mlflow_logger else None, metrics)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    print_summary(cfg, exit_on_user_error(evaluate, cfg))
