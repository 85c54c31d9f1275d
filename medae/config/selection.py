"""What training chooses on must be validation data: sweeps, checkpoints, early stopping and schedulers.

A metric of the test split or of a held-out subject (``test/``, ``colin27_brain/``) as a selection metric
would tune on the data the tables report, so training refuses it before anything runs (see
``docs/held-out-data.md``).
"""

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from medae.errors import ConfigError

SELECTION_PREFIXES = ("val/", "train/")


def selection_metrics(cfg: DictConfig) -> dict[str, str]:
    """Every metric the config selects on, by its key: the sweep's, each callback's and the scheduler's.

    Example:
        >>> from omegaconf import OmegaConf
        >>> cfg = OmegaConf.create({"optimized_metric": "val/psnr_fg_best",
        ...                         "callbacks": {"early_stopping": {"monitor": "val/psnr_fg"}}})
        >>> selection_metrics(cfg)
        {'optimized_metric': 'val/psnr_fg_best', 'callbacks.early_stopping.monitor': 'val/psnr_fg'}
    """
    metrics = {"optimized_metric": cfg.get("optimized_metric")}
    callbacks: Mapping[str, Any] = cfg.get("callbacks") or {}
    for name, callback in callbacks.items():
        if isinstance(callback, Mapping) and callback.get("monitor"):
            metrics[f"callbacks.{name}.monitor"] = callback["monitor"]
    scheduler = cfg.get("scheduler") or {}
    if isinstance(scheduler, Mapping) and scheduler.get("monitor"):
        metrics["scheduler.monitor"] = scheduler["monitor"]
    return {key: str(metric) for key, metric in metrics.items() if metric}


def check_selection(cfg: DictConfig) -> None:
    """Raise a ConfigError naming the first selection metric that is not a validation (or training) metric."""
    for key, metric in selection_metrics(cfg).items():
        if not metric.startswith(SELECTION_PREFIXES):
            raise ConfigError(
                key,
                f"is '{metric}'; choosing on it would tune on data the results report; "
                "select on a validation metric (val/..., e.g. val/psnr_fg) or a training one (train/...)",
            )
