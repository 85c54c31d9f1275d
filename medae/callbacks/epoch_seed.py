"""Seed every training epoch from the run's seed and the epoch number, so a resumed run repeats it exactly."""

from typing import Any

import numpy as np
from lightning import Callback, LightningModule, Trainer
from lightning.fabric.utilities.seed import seed_everything


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded with ``seed``, independent across both.

    Example:
        >>> epoch_seed(42, 3) == epoch_seed(42, 3), epoch_seed(42, 3) == epoch_seed(42, 4)
        (True, False)
    """
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class EpochSeed(Callback):
    """Seed Python, NumPy and torch for each training epoch after the first from ``(seed, epoch)``.

    The shuffling order, the training noise and any sampling inside the network then depend on the
    run's seed and the epoch alone, not on what consumed random numbers before. Lightning draws an
    epoch's shuffling order when it creates the epoch's loader iterator, which happens before
    ``on_train_epoch_start``, so the seed for epoch ``e + 1`` is set when epoch ``e`` ends, and when a
    checkpoint saved at the end of epoch ``e`` is loaded. A run resumed from an epoch-end checkpoint
    (``medae resume``) therefore draws exactly what the uninterrupted run drew (with
    ``data.num_workers=0``; worker processes keep random streams of their own).

    Args:
        seed: the run's seed (``seed`` in the config).
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Seed the epoch that comes next."""
        self._seed_epoch(trainer.current_epoch + 1)

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Seed the epoch that follows the checkpoint's."""
        self._seed_epoch(checkpoint["epoch"] + 1)

    def _seed_epoch(self, epoch: int) -> None:
        seed_everything(epoch_seed(self.seed, epoch), workers=True, verbose=False)
