"""Log labelled image grids (clean, input, reconstruction, error) to MLflow, with a step per epoch."""

from collections.abc import Mapping
from math import ceil
from typing import cast

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.types import STEP_OUTPUT
from PIL import Image, ImageDraw, ImageFont
from skimage.util import montage

from medae.data.batch import ReconstructionBatch
from medae.tracking.logger import ResumableMLFlowLogger
from medae.tracking.run_record import find_mlflow_logger

MIN_TILE = 192  # pixels per tile side: a grid stays readable when the UI fits it into a chart card
LABEL_WIDTH = 230
LABEL_FONT_SIZE = 22
PADDING = 2
CAPTION_HEIGHT = 32


def to_display(images: torch.Tensor, value_range: tuple[float, float], channel: int = 0) -> np.ndarray:
    """``(N, C, *spatial)`` tensor to ``(N, H, W)`` in [0, 1]: one channel, middle slice of volumes."""
    images = images.detach().float().cpu()[:, channel]
    while images.ndim > 3:
        images = images[..., images.shape[-1] // 2]
    low, high = value_range
    return ((images - low) / (high - low)).clamp(0, 1).numpy()


def caption(position: str) -> str:
    """A column's caption from a sample's position: its slice axis and index where it has them.

    Example:
        >>> caption("sub-01_T1w.nii.gz:axial:45"), caption("colin27:coronal:90"), caption("camera.png")
        ('axial 45', 'coronal 90', 'camera.png')
    """
    return " ".join(position.split(":")[-2:])


def labelled_grid(rows: dict[str, np.ndarray], captions: list[str] | None = None) -> np.ndarray:
    """An RGB ``uint8`` grid: one row per ``(N, H, W)`` array in [0, 1], its name on the left.

    Tiles are enlarged by an integer factor (nearest neighbour) to at least ``MIN_TILE`` pixels. With
    ``captions``, a line above each column says what it shows (``axial 45``).

    Example:
        >>> grid = labelled_grid({"clean": np.zeros((2, 32, 32)), "output": np.ones((2, 32, 32))})
        >>> grid.shape, grid.dtype
        ((390, 620, 3), dtype('uint8'))
        >>> labelled_grid({"clean": np.zeros((2, 32, 32))}, ["axial 3", "axial 9"]).shape
        (228, 620, 3)
    """
    first = next(iter(rows.values()))
    factor = ceil(MIN_TILE / min(first.shape[1:]))
    tiles = np.concatenate([row.repeat(factor, axis=1).repeat(factor, axis=2) for row in rows.values()])
    grid = montage(tiles, grid_shape=(len(rows), len(first)), padding_width=PADDING, fill=1.0)
    top = CAPTION_HEIGHT if captions else 0
    canvas = Image.new("L", (LABEL_WIDTH + grid.shape[1], top + grid.shape[0]), color=255)
    canvas.paste(Image.fromarray((grid * 255).astype(np.uint8)), (LABEL_WIDTH, top))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=LABEL_FONT_SIZE)
    tile_height = grid.shape[0] / len(rows)
    tile_width = grid.shape[1] / len(first)
    for index, text in enumerate(captions or []):
        draw.text((LABEL_WIDTH + int(index * tile_width) + 6, 4), text, fill=0, font=font)
    for index, name in enumerate(rows):
        draw.text((6, top + int((index + 0.4) * tile_height)), name, fill=0, font=font)
    return np.asarray(canvas.convert("RGB"))


def grid_rows(
    batch: ReconstructionBatch,
    reconstruction: torch.Tensor,
    count: int,
    value_range: tuple[float, float],
    channel: int = 0,
    name: str = "",
) -> dict[str, np.ndarray]:
    """Rows of one channel: clean, input (when corrupted), reconstruction, and the scaled error.

    The error is scaled to its largest value, which its row's label gives; ``name`` (a contrast)
    follows each row's label.
    """
    suffix = f" {name}" if name else ""
    clean = to_display(batch.image[:count], value_range, channel)
    rows = {f"clean{suffix}": clean}
    if not torch.equal(batch.input, batch.image):
        rows[f"input{suffix}"] = to_display(batch.input[:count], value_range, channel)
    output = to_display(reconstruction[:count], value_range, channel)
    rows[f"reconstruction{suffix}"] = output
    error = np.abs(output - clean)
    largest = float(error.max())
    rows[f"|error|{suffix} (max {largest:.2f})"] = error / largest if largest > 0 else error
    return rows


class ReconstructionGridLogger(Callback):
    """Log a grid of the first validation batch every ``every_n_epochs`` epochs, and one per test set.

    Rows: clean images, noisy inputs (when the input is corrupted), reconstructions, and the absolute
    error scaled to the grid's largest error (the row's label gives that maximum). Columns are captioned
    with where each image comes from (``axial 45``) when the source says. Grids go through
    ``log_image`` with a key and the epoch as step (``val_reconstruction``; ``test_reconstruction`` and
    one per held-out set), so the MLflow UI's step slider walks through training.

    Args:
        every_n_epochs: validation epochs between grids (1: every epoch); the last epoch always gets one.
        max_images: columns of the grid.
    """

    def __init__(self, every_n_epochs: int = 5, max_images: int = 4) -> None:
        self.every_n_epochs = every_n_epochs
        self.max_images = max_images

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: ReconstructionBatch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Log the first validation batch of selected epochs."""
        epoch = trainer.current_epoch
        max_epochs = trainer.max_epochs or -1  # -1: no epoch limit (max_steps ends the run)
        last = max_epochs > 0 and epoch + 1 >= max_epochs
        if batch_idx == 0 and not trainer.sanity_checking and (epoch % self.every_n_epochs == 0 or last):
            self._log(trainer, pl_module, batch, outputs, "val_reconstruction", epoch)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: ReconstructionBatch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Log the first batch of the test set and of each held-out set (``colin27_brain_reconstruction``)."""
        if batch_idx == 0:
            name = getattr(pl_module, "test_sets", ["test"])[dataloader_idx]
            self._log(trainer, pl_module, batch, outputs, f"{name}_reconstruction", trainer.current_epoch)

    def _log(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: ReconstructionBatch,
        outputs: STEP_OUTPUT,
        key: str,
        step: int,
    ) -> None:
        logger = find_mlflow_logger(trainer.loggers)
        if logger is None:
            return
        if not isinstance(outputs, Mapping):
            return
        count = min(self.max_images, len(batch))
        rows: dict[str, np.ndarray] = {}
        # a source with several contrasts (BraTS) names them: each gets its rows
        names = getattr(getattr(trainer, "datamodule", None), "channel_names", None) or ("",)
        value_range = cast(tuple[float, float], pl_module.value_range)
        for channel, name in enumerate(names):
            rows |= grid_rows(batch, outputs["reconstruction"], count, value_range, channel, name)
        captions = [caption(position) for position in batch.position[:count]] if batch.position else None
        grid = labelled_grid(rows, captions)

        def log() -> None:
            logger.experiment.log_image(logger.run_id, grid, key=key, step=step)

        if isinstance(logger, ResumableMLFlowLogger):  # a store that is away does not stop training
            logger.outage.attempt(log)
        else:
            log()
