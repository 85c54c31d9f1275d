"""What an application evaluation gets from training: the best model, the data, the MLflow run."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from lightning.pytorch.loggers import MLFlowLogger
from torch.utils.data import DataLoader

from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.evaluation.split_tensors import SplitTensors, stack_batches
from medae.models.autoencoder_module import AutoencoderModule
from medae.tracking.run_record import data_params
from medae.tracking.schema import APPLICATION_TAG, METHOD_TAG
from medae.tracking.tracked_run import TrackedRun


@dataclass
class ApplicationContext:
    """Everything an application needs after training.

    Attributes:
        module: the trained module with its best weights.
        datamodule: the set-up data module of the run.
        run: the autoencoder's MLflow run; baseline runs nest under it.
        seed: the run's seed, for everything an application draws at random.
        baseline_params: params copied into every baseline run (the data config), so runs compare.
    """

    module: AutoencoderModule
    datamodule: ReconstructionDataModule
    run: TrackedRun
    seed: int
    baseline_params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_run(
        cls,
        module: AutoencoderModule,
        datamodule: ReconstructionDataModule,
        mlflow_logger: MLFlowLogger | None,
        seed: int,
        data: Mapping[str, Any],
    ) -> "ApplicationContext":
        """The context of a training run, logging into its MLflow run when there is one.

        Args:
            module: the trained module.
            datamodule: the run's set-up data module.
            mlflow_logger: the run's logger, or None for a run without tracking.
            seed: the run's seed.
            data: the resolved ``data`` section, copied into every baseline run as params.
        """
        run = (
            TrackedRun(mlflow_logger.experiment, mlflow_logger.run_id, mlflow_logger.experiment_id)
            if mlflow_logger
            else TrackedRun(None, None, None)
        )
        return cls(module, datamodule, run, seed, data_params(data))

    def split(self, name: str) -> SplitTensors:
        """All batches of split or evaluation set ``name`` (with its seeded noise) stacked into tensors."""
        if name == "train":
            return stack_batches(self.unshuffled_train())
        if name == "val":
            return stack_batches(self.datamodule.val_dataloader())
        return stack_batches(self.datamodule.evaluation_dataloader(name))

    @property
    def evaluation_sets(self) -> list[str]:
        """``test`` and the data's held-out sets (e.g. ``colin27_brain``), which applications score alike."""
        return self.datamodule.evaluation_sets

    def unshuffled_train(self) -> DataLoader:
        """Clean training images in their stored order."""
        return self.datamodule.clean_dataloader("train")

    @property
    def network(self) -> torch.nn.Module:
        """The torch network, in eval mode."""
        return self.module.network.eval()

    def method_tags(self, application: str, method: str) -> dict[str, str]:
        """Tags that let the MLflow UI filter one application's runs by method."""
        return {APPLICATION_TAG: application, METHOD_TAG: method}
