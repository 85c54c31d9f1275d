from types import SimpleNamespace

import pytest
import torch

from medae.callbacks.image_grid import ReconstructionGridLogger


@pytest.mark.parametrize(
    ("max_epochs", "logged_epochs"),
    [(12, [0, 5, 10, 11]), (-1, [0, 5, 10]), (None, [0, 5, 10])],
)
def test_grids_every_n_epochs_and_the_last_epoch_only_when_there_is_one(max_epochs, logged_epochs):
    logger = ReconstructionGridLogger(every_n_epochs=5)
    logged = []
    logger._log = lambda trainer, module, batch, outputs, key, step: logged.append(step)
    batch = {"image": torch.zeros(2, 1, 8, 8)}
    for epoch in range(12):
        trainer = SimpleNamespace(current_epoch=epoch, max_epochs=max_epochs, sanity_checking=False)
        for batch_idx in (0, 1):
            logger.on_validation_batch_end(trainer, None, {}, batch, batch_idx)
    assert logged == logged_epochs
