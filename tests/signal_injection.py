"""A callback for the reliability tests: the training process sends itself a signal at a chosen point.

``MEDAE_TEST_SIGNAL=9@3`` sends SIGKILL once epoch 3 has logged its validation metrics, before its
checkpoint is saved (ModelCheckpoint runs after other callbacks), so a resumed run must not log
those metrics twice. Other signals are sent after the second training batch of the epoch. Without
the variable the callback does nothing, so a resumed run's config may keep it.

``MEDAE_TEST_EPOCH_SLEEP=4`` makes every training epoch last 4 s longer, so that a test has time to act
while the run trains.
"""

import os
import signal
import time

from lightning import Callback, LightningModule, Trainer


def planned_signal() -> tuple[int, int] | None:
    """(signal number, epoch) from ``MEDAE_TEST_SIGNAL``, if set."""
    value = os.environ.get("MEDAE_TEST_SIGNAL")
    if not value:
        return None
    signum, epoch = value.split("@")
    return int(signum), int(epoch)


class SendSignal(Callback):
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        plan = planned_signal()
        if (
            plan
            and plan[0] == signal.SIGKILL
            and trainer.current_epoch == plan[1]
            and not trainer.sanity_checking
        ):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        time.sleep(float(os.environ.get("MEDAE_TEST_EPOCH_SLEEP", "0")))

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx
    ) -> None:
        plan = planned_signal()
        if plan and plan[0] != signal.SIGKILL and trainer.current_epoch == plan[1] and batch_idx == 1:
            os.kill(os.getpid(), plan[0])
