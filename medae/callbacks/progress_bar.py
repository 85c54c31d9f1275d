"""Lightning's progress bar without the logger's version, which for MLflow is a run id cut to 4 characters."""

from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import TQDMProgressBar


class ProgressBar(TQDMProgressBar):
    """The TQDM progress bar with the metrics shown in the bar (``prog_bar=True``), and no ``v_num``.

    The run id is in the summary a run ends with; ``v_num=4b68`` in every line told a reader nothing.

    Example:
        ``callbacks.progress_bar.refresh_rate=10`` redraws every 10 batches.
    """

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        """Lightning's bar metrics less ``v_num``."""
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items
