"""Lightning's ModelCheckpoint, with ``last.ckpt`` written after every validation."""

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class LastEveryEpochCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose ``last.ckpt`` follows every validation epoch.

    Lightning 2.6 writes ``last.ckpt`` only when it also saved a top-k checkpoint, that is when the
    monitored metric improved. A run whose validation score stalled kept an old ``last.ckpt``, and a
    resumed or requeued run went back to that epoch. Here ``last.ckpt`` is written after every
    validation that saved nothing else, so a resume loses at most the epoch in progress.

    Example:
        ``callbacks.model_checkpoint._target_=medae.callbacks.checkpoint.LastEveryEpochCheckpoint``
        (the default).
    """

    @property
    def state_key(self) -> str:
        """ModelCheckpoint's own key, so that a checkpoint written by either class resumes with the other."""
        return ModelCheckpoint.__qualname__ + super().state_key.removeprefix(type(self).__qualname__)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Lightning's saving at the end of a training epoch, then ``last.ckpt`` if nothing was saved.

        Lightning saves here when validation runs once an epoch (``val_check_interval=1.0``).
        """
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_unless_saved(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Lightning's saving after validation (several validations an epoch), then ``last.ckpt``."""
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_unless_saved(trainer)

    def _save_last_unless_saved(self, trainer: Trainer) -> None:
        # a save by Lightning just now set the step saved to the current one, and skipping is then right
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
