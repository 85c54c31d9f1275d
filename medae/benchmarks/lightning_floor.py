"""The least a Lightning loop costs: the bare loop's network, images and optimiser under a bare ``Trainer``.

No logger, checkpoints, callbacks (bar the step timer), metrics or validation, so the gap between this
loop and the bare loop is Lightning's own per-step cost, and the gap to ``medae train`` is medae's.
``python -m medae.benchmarks.lightning_floor --steps 200 --times times.json [overrides]``
"""

from pathlib import Path
from typing import cast

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from medae.benchmarks.bare_loop import BareSetup, command_line
from medae.benchmarks.step_timer import StepTimer
from medae.config.trainer_options import step_bounded_cpu_trainer


class FloorModule(L.LightningModule):
    """The bare loop's step as a LightningModule."""

    def __init__(self, setup: BareSetup) -> None:
        super().__init__()
        self.network = setup.network
        self.make_optimizer = setup.make_optimizer

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """MSE between the images and their reconstruction."""
        return torch.nn.functional.mse_loss(self.network(batch).reconstruction, batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """The configured optimiser."""
        return self.make_optimizer(params=self.network.parameters())


class ImageBatchTimer(StepTimer):
    """The step timer for batches that are plain image tensors."""

    @staticmethod
    def batch_size(batch: torch.Tensor) -> int:
        """Images in the batch."""
        return len(batch)


def run(steps: int, times_path: str, overrides: list[str]) -> None:
    """Train for ``steps`` steps under a bare Trainer and save the step times."""
    setup = BareSetup.compose(overrides)
    trainer = step_bounded_cpu_trainer(
        steps, setup.deterministic, callbacks=[ImageBatchTimer(str(Path(times_path)))]
    )
    images = cast(Dataset[torch.Tensor], setup.images)  # a tensor indexes as a dataset of images
    loader = DataLoader(images, batch_size=setup.batch_size, shuffle=True)
    trainer.fit(FloorModule(setup), train_dataloaders=loader)


if __name__ == "__main__":
    command_line(run, __doc__)
