"""Log PNG grids of clean images, noisy inputs and reconstructions to MLflow."""

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from skimage.util import montage

from medae.tracking import find_mlflow_logger


def to_display(images: torch.Tensor, value_range: tuple[float, float]) -> np.ndarray:
    """``(N, C, *spatial)`` tensor to ``(N, H, W)`` in [0, 1]: first channel, middle slice of volumes."""
    images = images.detach().float().cpu()[:, 0]
    while images.ndim > 3:
        images = images[..., images.shape[-1] // 2]
    low, high = value_range
    return ((images - low) / (high - low)).clamp(0, 1).numpy()


class ReconstructionGridLogger(Callback):
    """Log a grid per validation epoch (every ``every_n_epochs``) and one for the test set.

    Rows: clean images, noisy inputs (when the input is corrupted), reconstructions.

    Args:
        every_n_epochs: validation epochs between grids; the last epoch always gets one.
        max_images: columns of the grid.
    """

    def __init__(self, every_n_epochs: int = 20, max_images: int = 8) -> None:
        self.every_n_epochs = every_n_epochs
        self.max_images = max_images

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Mapping[str, torch.Tensor],
        batch: Mapping[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Log the first validation batch of selected epochs."""
        epoch = trainer.current_epoch
        last = epoch + 1 >= (trainer.max_epochs or 0)
        if batch_idx == 0 and not trainer.sanity_checking and (epoch % self.every_n_epochs == 0 or last):
            self._log(trainer, pl_module, batch, outputs, f"images/val_epoch{epoch:03d}.png")

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Mapping[str, torch.Tensor],
        batch: Mapping[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Log the first batch of the test set and of each held-out set (``images/colin27_brain.png``)."""
        if batch_idx == 0:
            name = getattr(pl_module, "test_sets", ["test"])[dataloader_idx]
            self._log(trainer, pl_module, batch, outputs, f"images/{name}.png")

    def _log(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: Mapping[str, Any],
        outputs: Mapping[str, torch.Tensor],
        artifact_file: str,
    ) -> None:
        logger = find_mlflow_logger(trainer.loggers)
        if logger is None:
            return
        count = min(self.max_images, batch["image"].shape[0])
        rows = [batch["image"]]
        if not torch.equal(batch["input"], batch["image"]):
            rows.append(batch["input"])
        rows.append(outputs["reconstruction"])
        tiles = np.concatenate([to_display(row[:count], pl_module.value_range) for row in rows])
        grid = montage(tiles, grid_shape=(len(rows), count), padding_width=2, fill=1.0)
        logger.experiment.log_image(logger.run_id, (grid * 255).astype(np.uint8), artifact_file=artifact_file)
