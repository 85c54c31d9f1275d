"""Latent codes as files: ``medae encode`` writes a split's codes, ``medae decode`` restores the images."""

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from medae.applications.parts.network_calls import decode, encode
from medae.bootstrap import bootstrap
from medae.config.run_parts import CONFIG_DIR, checkpoint_data_config
from medae.data.registry import build_datamodule
from medae.data.slab_split import SPLITS
from medae.errors import ConfigError, DataError, exit_on_user_error
from medae.evaluation.split_tensors import stack_batches
from medae.models.capabilities import Encodes
from medae.models.registry import load_module, require
from medae.tracking.logged_model import resolve_checkpoint

bootstrap()  # the launcher entry: job processes of parallel launchers and DDP ranks start here

log = logging.getLogger(__name__)


def encode_split(cfg: DictConfig) -> Path:
    """Encode the clean images of ``cfg.split``; save ``codes``, ``ids``, the model and ``labels`` if any.

    Example:
        ``medae encode ckpt_path=outputs/.../best.ckpt split=test output=codes.npz``
    """
    if cfg.split not in SPLITS:
        raise ConfigError("split", f"unknown '{cfg.split}'; allowed: {', '.join(SPLITS)}")
    module = load_module(
        resolve_checkpoint(cfg.ckpt_path, cfg.paths.tracking_uri, cfg.paths.cache_dir),
        trust=cfg.trust_checkpoint,
    )
    require(module.registry_name, (Encodes,), "encode")
    datamodule = build_datamodule(checkpoint_data_config(cfg, module))
    datamodule.setup()
    split = stack_batches(datamodule.clean_dataloader(cfg.split, batch_size=64))
    codes = encode(module.network, split.image)
    labels: dict[str, Any] = {} if split.label is None else {"labels": split.label.numpy()}
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        output, codes=codes.numpy(), ids=np.array(split.ids), model=module.registry_name, **labels
    )
    log.info("wrote %d codes of shape %s to %s", len(codes), tuple(codes.shape[1:]), output)
    return output


def decode_codes(cfg: DictConfig) -> Path:
    """Decode codes of :func:`encode_split` (same checkpoint); save ``images``, ``ids``, ``labels`` if any."""
    module = load_module(
        resolve_checkpoint(cfg.ckpt_path, cfg.paths.tracking_uri, cfg.paths.cache_dir),
        trust=cfg.trust_checkpoint,
    )
    require(module.registry_name, (Encodes,), "encode")
    path = Path(cfg.codes)
    try:
        archive = np.load(path)
        codes, ids, model = archive["codes"], archive["ids"], str(archive["model"])
        labels = {"labels": archive["labels"]} if "labels" in archive.files else {}
    except Exception as error:
        raise DataError(str(path), f"is not a medae codes file ({type(error).__name__}: {error})") from error
    if model != module.registry_name:
        raise DataError(
            str(path), f"holds codes of a '{model}' model, but the checkpoint is '{module.registry_name}'"
        )
    images = decode(module.network, torch.from_numpy(codes))
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, images=images.numpy(), ids=ids, **labels)
    log.info("wrote %d images of shape %s to %s", len(images), tuple(images.shape[1:]), output)
    return output


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="encode")
def encode_main(cfg: DictConfig) -> None:
    """Hydra entry point of ``medae encode``."""
    exit_on_user_error(encode_split, cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="decode")
def decode_main(cfg: DictConfig) -> None:
    """Hydra entry point of ``medae decode``."""
    exit_on_user_error(decode_codes, cfg)
