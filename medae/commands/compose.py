"""Composing a run's config from Python (notebooks, benchmarks, scripts), outside a Hydra job."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from medae.bootstrap import bootstrap
from medae.config.checks import CONFIG_DIR


def compose_train(overrides: list[str], root: Path | None = None) -> DictConfig:
    """``conf/train.yaml`` with ``overrides``; outputs and the MLflow store under ``root`` when given.

    Example:
        >>> cfg = compose_train(["model=vae", "data.image_size=32"])
        >>> cfg.model.name, cfg.model.image_size
        ('vae', 32)
    """
    bootstrap()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    if root is not None:
        with open_dict(cfg):
            cfg.paths.root_dir = str(root)
            cfg.paths.output_dir = str(root / "outputs")
            cfg.paths.log_dir = str(root / "outputs")
    return cfg
