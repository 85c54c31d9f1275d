from types import SimpleNamespace

import pytest
import torch

from medae.callbacks.image_grid import ReconstructionGridLogger, grid_rows
from medae.data.batch import ReconstructionBatch


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


def test_each_contrast_gets_its_rows_with_its_own_error_scale():
    image = torch.zeros(3, 2, 8, 8)
    image[:, 1] = 0.5
    output = image.clone()
    output[:, 0] += 0.25  # t1 off by 0.25, flair exact
    batch = ReconstructionBatch(image=image, input=image)
    rows = {}
    for channel, name in enumerate(("t1", "flair")):
        rows |= grid_rows(batch, output, 2, (0.0, 1.0), channel, name)
    assert list(rows) == [
        "clean t1", "reconstruction t1", "|error| t1 (max 0.25)",
        "clean flair", "reconstruction flair", "|error| flair (max 0.00)",
    ]  # fmt: skip
    assert rows["clean flair"].shape == (2, 8, 8) and float(rows["clean flair"].max()) == 0.5
    assert float(rows["|error| t1 (max 0.25)"].max()) == 1.0
    # one unnamed channel keeps the plain labels
    assert list(grid_rows(batch, output, 2, (0.0, 1.0))) == ["clean", "reconstruction", "|error| (max 0.25)"]
