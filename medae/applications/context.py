"""What an application evaluation gets from training: the best model, the data, the MLflow run."""

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from medae.applications.run_log import RunLog
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.errors import ConfigError
from medae.models.autoencoder_module import AutoencoderModule
from medae.tracking import data_params


@dataclass
class SplitTensors:
    """One split held in memory: clean images, network inputs (noisy when noise is on), labels if any."""

    image: torch.Tensor
    input: torch.Tensor
    label: torch.Tensor | None
    ids: list[str] = field(default_factory=list)
    segmentation: torch.Tensor | None = None

    def head(self, count: int) -> "SplitTensors":
        """The first ``count`` samples."""
        label = self.label[:count] if self.label is not None else None
        segmentation = self.segmentation[:count] if self.segmentation is not None else None
        return SplitTensors(self.image[:count], self.input[:count], label, self.ids[:count], segmentation)


@dataclass
class ApplicationContext:
    """Everything an application needs after training.

    Attributes:
        module: the trained module with its best weights.
        datamodule: the set-up data module of the run.
        run: the autoencoder's MLflow run; baseline runs are its siblings.
        seed: the run's seed, for everything an application draws at random.
        baseline_params: params copied into every baseline run (the data config), so runs compare.
    """

    module: AutoencoderModule
    datamodule: ReconstructionDataModule
    run: RunLog
    seed: int
    baseline_params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_run(
        cls,
        module: AutoencoderModule,
        datamodule: ReconstructionDataModule,
        mlflow_logger: MLFlowLogger | None,
        cfg: DictConfig,
    ) -> "ApplicationContext":
        """The context of a training run, logging into its MLflow run when there is one."""
        run = (
            RunLog(mlflow_logger.experiment, mlflow_logger.run_id, mlflow_logger.experiment_id)
            if mlflow_logger
            else RunLog(None, None, None)
        )
        return cls(module, datamodule, run, cfg.seed, data_params(cfg))

    def split(self, name: str) -> SplitTensors:
        """All batches of split ``name`` (with its seeded noise) stacked into tensors."""
        loaders = {
            "train": self.datamodule.train_dataloader,
            "val": self.datamodule.val_dataloader,
            "test": self.datamodule.test_dataloader,
        }
        return stack_batches(loaders[name]() if name != "train" else self.unshuffled_train())

    def unshuffled_train(self) -> DataLoader:
        """Clean training images in their stored order."""
        return DataLoader(self.datamodule.datasets["train"], batch_size=self.datamodule.batch_size)

    @property
    def network(self) -> torch.nn.Module:
        """The torch network, in eval mode."""
        return self.module.network.eval()

    def method_tags(self, application: str, method: str) -> dict[str, str]:
        """Tags that let the MLflow UI filter one application's runs by method."""
        return {"medae.application": application, "medae.method": method}


def stack_batches(loader: DataLoader) -> SplitTensors:
    """Concatenate a loader's ``image``, ``input`` (``image`` when absent) and ``label`` entries."""
    images, inputs, labels, ids, segmentations = [], [], [], [], []
    for batch in loader:
        if "segmentation" in batch:
            segmentations.append(torch.as_tensor(batch["segmentation"]).long())
        ids.extend(str(position) for position in batch.get("position", []))
        images.append(torch.as_tensor(batch["image"]).float())
        inputs.append(torch.as_tensor(batch.get("input", batch["image"])).float())
        if "label" in batch:
            labels.append(torch.as_tensor(batch["label"]).reshape(-1))
    return SplitTensors(
        image=torch.cat(images),
        input=torch.cat(inputs),
        label=torch.cat(labels) if labels else None,
        ids=ids or [str(index) for index in range(sum(len(image) for image in images))],
        segmentation=torch.cat(segmentations) if segmentations else None,
    )


def by_method(application: str, results: dict[str, dict[str, float]]) -> dict[str, float]:
    """Flatten ``{method: {"prefix/metric": value}}`` to ``{"<application>/<method>/<metric>": value}``.

    Example:
        >>> by_method("denoising", {"bm3d": {"test/psnr": 30.0}})
        {'denoising/bm3d/psnr': 30.0}
    """
    return {
        f"{application}/{method}/{key.split('/')[-1]}": value
        for method, metrics in results.items()
        for key, value in metrics.items()
    }


@torch.no_grad()
def encode(network: torch.nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The network's codes of ``images``; a clear error for networks without a bottleneck code."""
    if not hasattr(network, "encode"):
        raise ConfigError(
            "model",
            f"{type(network).__name__} has no bottleneck code (its shortcuts carry the image); "
            "choose conv, dense, sparse, vae or vqvae",
        )
    network.eval()
    return torch.cat([network.encode(chunk) for chunk in images.split(batch_size)])


@torch.no_grad()
def decode(network: torch.nn.Module, codes: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Images from codes made by :func:`encode`."""
    network.eval()
    return torch.cat([network.decode(chunk) for chunk in codes.split(batch_size)])


@torch.no_grad()
def reconstruct(network: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 64) -> tuple[Any, float]:
    """Reconstructions of ``inputs`` in eval mode, and the wall time per image in milliseconds."""
    network.eval()
    start = time.perf_counter()
    outputs = [network(chunk).reconstruction for chunk in inputs.split(batch_size)]
    elapsed = time.perf_counter() - start
    return torch.cat(outputs), 1000 * elapsed / len(inputs)
