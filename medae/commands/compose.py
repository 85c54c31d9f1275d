"""Composing a run's config from Python (notebooks, benchmarks, scripts, reproductions), outside Hydra."""

from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from medae.bootstrap import bootstrap
from medae.config.checks import CONFIG_DIR
from medae.tracking.schema import root_dir


def compose_job(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """``conf/<config_name>.yaml`` with ``overrides``, as a Hydra job sees it, writing to ``output_dir``.

    Hydra's job info is set as ``medae train`` would set it, so a run records these overrides
    (``medae reproduce`` rebuilds the job from them) and is named after them.

    Example:
        >>> cfg = compose_job("train", ["model=vae"], Path("/tmp/job"))
        >>> cfg.model.name, cfg.paths.output_dir, list(HydraConfig.get().overrides.task)
        ('vae', '/tmp/job', ['model=vae'])
    """
    bootstrap()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
        cfg.paths.output_dir = str(output_dir)
    return cfg


def compose_train(overrides: list[str], root: Path | None = None, config_name: str = "train") -> DictConfig:
    """``conf/train.yaml`` with ``overrides``; outputs and the MLflow store under ``root`` when given.

    Without ``root``, outputs go to ``<root_dir>/outputs/python/<time>`` and the store is the default one.
    ``config_name`` composes another command's config instead (``eval``, ``predict``, ``export``).

    Example:
        >>> cfg = compose_train(["model=vae", "data.image_size=32"])
        >>> cfg.model.name, cfg.model.image_size
        ('vae', 32)
    """
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    output_dir = root / "outputs" if root is not None else Path(root_dir()) / "outputs" / "python" / stamp
    cfg = compose_job(config_name, overrides, output_dir)
    if root is not None:
        with open_dict(cfg):
            cfg.paths.root_dir = str(root)
            cfg.paths.log_dir = str(root / "outputs")
    return cfg
