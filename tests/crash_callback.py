"""A callback that fails mid-training, to check that a failed run keeps what it logged."""

from lightning import Callback, LightningModule, Trainer


class CrashAfterFirstEpoch(Callback):
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash in epoch 1")
