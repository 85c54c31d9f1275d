"""Every ``lightning.Trainer`` argument is a ``trainer.*`` key with Lightning's default, type-checked.

The ``trainer`` config group *is* Lightning's Trainer: ``conf/trainer/default.yaml`` starts from the
node registered here, so ``medae train trainer.gradient_clip_val=1`` works without ``+``.
"""

import inspect
import logging
import re
from typing import Any, cast

import lightning
import torch
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf

from medae.config.type_check import check_types
from medae.errors import ConfigError

# arguments medae passes itself
SUPPLIED_BY_MEDAE = ("self", "logger", "callbacks")
LIGHTNING_DEFAULTS_NAME = "lightning"
log = logging.getLogger(__name__)


def lightning_defaults() -> dict[str, Any]:
    """``{argument: default}`` for the Trainer arguments whose default is a plain value.

    Example:
        >>> lightning_defaults()["gradient_clip_val"] is None, lightning_defaults()["max_steps"]
        (True, -1)
    """
    parameters = inspect.signature(lightning.Trainer.__init__).parameters
    return {
        name: parameter.default
        for name, parameter in parameters.items()
        if name not in SUPPLIED_BY_MEDAE
        and isinstance(parameter.default, (type(None), bool, int, float, str))
    }


def register_trainer_defaults() -> None:
    """Register the defaults as ``trainer/lightning``, the base of ``conf/trainer/default.yaml``."""
    ConfigStore.instance().store(group="trainer", name=LIGHTNING_DEFAULTS_NAME, node=lightning_defaults())


def runs_on_gpu(accelerator: str) -> bool:
    """Whether ``trainer.accelerator`` puts the model on CUDA GPUs here.

    Example:
        >>> runs_on_gpu("cpu")
        False
    """
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def build_trainer(node: DictConfig, **objects: Any) -> lightning.Trainer:
    """Instantiate the ``trainer`` node with ``objects`` (callbacks, logger); bad values: ConfigError."""
    resolved = cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))
    options = {key: value for key, value in resolved.items() if key != "_target_"}
    check_types("trainer", options, lightning.Trainer)
    if options.get("sync_batchnorm") and not runs_on_gpu(options.get("accelerator", "auto")):
        log.info("trainer.sync_batchnorm is off: synchronised batch norm needs CUDA GPUs")
        objects["sync_batchnorm"] = False
    try:
        trainer: lightning.Trainer = instantiate(node, **objects)
        return trainer
    except Exception as error:
        cause = error.__cause__ or error
        if not isinstance(cause, (MisconfigurationException, ValueError, TypeError)):
            raise
        message = str(cause).strip().splitlines()[0]
        named = [name for name in re.findall(r"`(\w+)`", message) if name in options]
        named += [
            name for name, value in options.items() if isinstance(value, str) and value and value in message
        ]
        key = f"trainer.{named[0]}" if named else "trainer"
        if key == "trainer.accelerator":
            message += f" (available here: {', '.join(available_accelerators())})"
        raise ConfigError(key, message) from error


def available_accelerators() -> list[str]:
    """The ``trainer.accelerator`` values this machine runs: cpu, auto, and gpu or mps where present."""
    gpu = ["gpu"] if torch.cuda.is_available() else []
    return ["cpu", "auto", *gpu, *(["mps"] if torch.backends.mps.is_available() else [])]


def step_bounded_cpu_trainer(
    max_steps: int, deterministic: bool, callbacks: list[lightning.Callback] | None = None
) -> lightning.Trainer:
    """A CPU Trainer for ``max_steps`` steps with no logger, checkpoints, progress bar or model summary.

    For training inside another run (an application's probes, a benchmark loop), which tracks itself.
    """
    return lightning.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=deterministic,
        callbacks=callbacks,
    )
