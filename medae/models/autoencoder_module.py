"""The LightningModule that trains any medae network: loss, regularizers, metrics, optimiser."""

import math
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import torch
from hydra.utils import instantiate
from lightning import LightningModule
from lightning.pytorch.utilities.types import OptimizerLRScheduler, OptimizerLRSchedulerConfig
from torch import nn
from torchmetrics import MaxMetric, Metric, MetricCollection

from medae.data.batch import ReconstructionBatch
from medae.data.domain_profile import DomainProfile
from medae.errors import ConfigError
from medae.metrics import image_quality_metrics
from medae.models.losses import ReconstructionLoss
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput
from medae.models.sliding_window import needs_windows, window_reconstruction
from medae.models.training_means import TrainingMeans

STAGES = ("train", "val", "test")
RUN_CONFIG_KEY = "medae_run_config"
TRAINING_SPACING_KEY = "medae_training_spacing"
TRAINING_PROFILE_KEY = "medae_training_profile"
TRAIN_QUALITY_IMAGES = 4
# tiles per network call when an evaluation sample is larger than the network's input
WINDOW_BATCH = 16


def spacing_or_none(value: Any) -> list[float] | None:
    """``value`` as 3 positive finite sizes in millimetres, else ``None``.

    Example:
        >>> spacing_or_none([1, 1.5, 2]), spacing_or_none("1,1,1"), spacing_or_none([1, -1, 1])
        ([1.0, 1.5, 2.0], None, None)
    """
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    sizes = [float(v) for v in value]
    return sizes if all(math.isfinite(v) and v > 0 for v in sizes) else None


class AutoencoderModule(LightningModule):
    """Train a network that maps ``batch.input`` to a reconstruction of ``batch.image``.

    With noise on, ``input`` is a corrupted copy of ``image`` (denoising); without, they are equal.
    Logs ``{stage}/loss``, each loss and regularizer term, ``{stage}/psnr`` and ``{stage}/ssim`` and their
    foreground versions ``*_fg`` (on ``batch.mask``), of the reconstruction clamped to the data range;
    the PSNR/SSIM of the noisy input and the gain when inputs are corrupted, and ``val/psnr_fg_best``.
    When the data has held-out sets, the test loop logs each under its own name (``colin27_brain/psnr``).
    Validation and test samples larger than the network's input (``data.full_resolution``) are
    reconstructed whole by MONAI's sliding-window inference over tiles of ``image_size``; their loss is
    the reconstruction loss alone (a tiled output has no regularizer terms).

    Subclasses set ``config_class`` and ``network_class`` (built as ``network_class(config, value_range)``),
    and override :meth:`regularizer_weights` when the network returns extra loss terms.

    Args:
        model: the ``model`` config node: ``name`` plus the fields of ``config_class``.
        loss: weight of each reconstruction loss term (see :class:`medae.models.losses.ReconstructionLoss`).
        optim: a ``_partial_`` optimiser config, called with the parameters.
        scheduler: ``None`` or ``{"scheduler": <_partial_ config>, "monitor": str, "interval": str}``.
        value_range: the data's (min, max) intensity; sets the output activation and metric range.
        train_quality_interval: update the training PSNR/SSIM every this many steps, on the first
            ``TRAIN_QUALITY_IMAGES`` images of the batch (SSIM of a whole batch costs about three steps of
            a small network on a CPU); 0 turns them off. Validation and test metrics cover every image.
    """

    config_class: ClassVar[type[NetworkConfig]] = NetworkConfig
    network_class: ClassVar[type[nn.Module]]
    registry_name: ClassVar[str] = ""
    # the trainer strategy that trainer=ddp becomes for this module (see AdversarialModule)
    ddp_strategy: ClassVar[str] = "ddp"

    def __init__(
        self,
        model: Mapping[str, Any],
        loss: Mapping[str, float],
        optim: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None,
        value_range: tuple[float, float],
        train_quality_interval: int = 10,
    ) -> None:
        super().__init__()
        if train_quality_interval < 0:
            raise ConfigError("train_quality_interval", f"must be >= 0, got {train_quality_interval}")
        self.train_quality_interval = train_quality_interval
        self.channels_last = False
        self.save_hyperparameters(logger=False)
        lr = optim.get("lr")
        if not isinstance(lr, (int, float)) or lr <= 0:
            raise ConfigError("optim.lr", f"must be a number > 0, got {lr!r}")
        self.optim = dict(optim)
        self.scheduler = dict(scheduler) if scheduler else None
        self.config = self.config_class.from_mapping(model)
        low, high = value_range
        self.value_range = (float(low), float(high))
        self.network = self.build_network(self.config, self.value_range)
        self.loss = ReconstructionLoss(loss, self.value_range)
        data_range = self.value_range[1] - self.value_range[0]
        dims = self.config.spatial_dims
        self.quality = nn.ModuleDict(
            {prefix: image_quality_metrics(dims, data_range, prefix) for prefix in self._prefixes(STAGES)}
        )
        self.test_sets: list[str] = ["test"]
        self.train_means = TrainingMeans()
        self.val_psnr_best = MaxMetric()
        self.val_psnr_best.persistent(True)  # a resumed run goes on from the best it had
        self.run_config: dict[str, Any] | None = None
        # the voxel size (mm, RAS) of the volumes it trained on: new scans are resampled to it
        self.training_spacing: list[float] | None = None
        # what its training volumes looked like: predict warns about a scan unlike them
        self.training_profile: DomainProfile | None = None

    @classmethod
    def build_network(cls, config: NetworkConfig, value_range: tuple[float, float]) -> nn.Module:
        """Build the torch network, whose ``forward`` returns an :class:`AutoencoderOutput`."""
        return cls.network_class(config, value_range)

    def regularizer_weights(self) -> dict[str, float]:
        """Weight of each regularizer the network returns, at the current step."""
        return {}

    @staticmethod
    def _prefixes(stages: list[str] | tuple[str, ...]) -> list[str]:
        return [f"{stage}/{target}" for stage in stages for target in ("", "input_")]

    def quality_metrics(self, stage: str, of_input: bool = False) -> MetricCollection:
        """PSNR/SSIM of the reconstructions, or of the network inputs, for a stage or an evaluation set."""
        return cast(MetricCollection, self.quality[f"{stage}/input_" if of_input else f"{stage}/"])

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move a :class:`ReconstructionBatch` tensor by tensor (Lightning's generic walk deep-copies it)."""
        if isinstance(batch, ReconstructionBatch):
            return batch.map(lambda tensor: tensor.to(device, non_blocking=True))
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_test_start(self) -> None:
        """Name the test loaders after the data's evaluation sets; give each held-out set its metrics."""
        datamodule = getattr(self.trainer, "datamodule", None)
        self.test_sets = list(getattr(datamodule, "evaluation_sets", ["test"]))
        data_range = self.value_range[1] - self.value_range[0]
        for prefix in self._prefixes(self.test_sets):
            if prefix not in self.quality:
                metrics = image_quality_metrics(self.config.spatial_dims, data_range, prefix)
                self.quality[prefix] = metrics.to(self.device)

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode and decode ``images``."""
        return self.network(images)

    def evaluation_output(self, inputs: torch.Tensor) -> AutoencoderOutput:
        """The network's output for evaluation inputs; samples larger than its input go by sliding windows.

        A windowed output holds only the reconstruction: no latent, no regularizer terms.
        """
        if not needs_windows(inputs, self.config.image_size):
            return self(inputs)
        reconstruction = window_reconstruction(self.network, inputs, self.config.image_size, WINDOW_BATCH)
        return AutoencoderOutput(reconstruction, latent=inputs.new_empty(0))

    def _shared_step(self, batch: ReconstructionBatch, stage: str) -> tuple[torch.Tensor, AutoencoderOutput]:
        """Loss and network output of a batch, its metrics logged; ``stage`` is train, val, test or a set."""
        batch = self._in_memory_format(batch)
        output = self.evaluation_output(batch.input) if stage != "train" else self(batch.input)
        terms = self.loss(output.reconstruction, batch.image)
        total = terms.pop("total")
        for name, weight in self.regularizer_weights().items():
            if name in output.regularizers:  # a windowed evaluation output has none
                total = total + weight * output.regularizers[name]
        logged = {f"{stage}/loss": total}
        logged |= {f"{stage}/loss_{name}": value for name, value in terms.items()}
        logged |= {f"{stage}/{name}": value for name, value in output.regularizers.items()}
        logged |= {f"{stage}/{name}": value for name, value in output.diagnostics.items()}
        batch_size = len(batch)
        reconstruction = output.reconstruction  # in eval mode deterministic: a VAE decodes its posterior mean
        if stage == "train":
            self._update_train_means(logged, batch_size)
            if self._train_quality_step():
                sample = slice(0, TRAIN_QUALITY_IMAGES)  # batches are shuffled: the first images are a sample
                scored = reconstruction[sample].detach().float().clamp(*self.value_range)
                mask = batch.mask[sample] if batch.mask is not None else None
                self.quality_metrics(stage).update(scored, batch.image[sample].float(), mask=mask)
            return total, output
        # sync_dist: under DDP, epoch means cover every rank's batches (torchmetrics objects sync themselves)
        # held-out sets run as extra test loaders: their own names, no "/dataloader_idx_N" suffix
        self.log_dict(
            logged,
            on_step=False,
            on_epoch=True,
            prog_bar=False,
            batch_size=batch_size,
            sync_dist=True,
            add_dataloader_idx=False,
        )
        scored = reconstruction.detach().float().clamp(*self.value_range)
        self.quality_metrics(stage).update(scored, batch.image.float(), mask=batch.mask)
        self.log_dict(
            self.quality_metrics(stage),
            on_step=False,
            on_epoch=True,
            prog_bar=stage == "val",
            add_dataloader_idx=False,
        )
        if batch.input is not batch.image and not torch.equal(batch.input, batch.image):
            input_quality = self.quality_metrics(stage, of_input=True)
            noisy = batch.input.float().clamp(*self.value_range)
            input_quality.update(noisy, batch.image.float(), mask=batch.mask)
            self.log_dict(input_quality, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return total, output

    def use_channels_last(self) -> None:
        """Keep weights and 2D batches in the channels-last memory format (faster convolutions on GPUs)."""
        self.channels_last = True
        self.to(memory_format=torch.channels_last)

    def _in_memory_format(self, batch: ReconstructionBatch) -> ReconstructionBatch:
        """2D image batches in channels-last when :meth:`use_channels_last` was called."""
        if not self.channels_last:
            return batch
        return batch.map(
            lambda tensor: (
                tensor.contiguous(memory_format=torch.channels_last) if tensor.ndim == 4 else tensor
            )
        )

    def _update_train_means(self, logged: Mapping[str, torch.Tensor], batch_size: int) -> None:
        """Add a training step's losses to their epoch means (:class:`TrainingMeans`)."""
        self.train_means.add(logged, batch_size)

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training means, and its PSNR/SSIM when they were updated; then reset them."""
        strategy = self.trainer.strategy
        logged = self.train_means.compute(lambda totals: strategy.reduce(totals, reduce_op="sum"))
        quality = self.quality_metrics("train")
        if any(cast(Metric, metric).update_called for metric in quality.values()):
            logged |= quality.compute()
        # compute() already synced the ranks; sync_dist averages equal values (and Lightning expects it)
        self.log_dict(logged, sync_dist=True)
        quality.reset()
        self.train_means.reset()

    def _train_quality_step(self) -> bool:
        interval = self.train_quality_interval
        return interval > 0 and self.global_step % interval == 0

    def training_step(self, batch: ReconstructionBatch, batch_idx: int) -> torch.Tensor:
        """One optimisation step."""
        loss, _ = self._shared_step(batch, "train")
        return loss

    def validation_step(self, batch: ReconstructionBatch, batch_idx: int) -> dict[str, torch.Tensor]:
        """Update validation metrics; return the reconstruction for image-grid callbacks."""
        _, output = self._shared_step(batch, "val")
        return {"reconstruction": output.reconstruction}

    def test_step(
        self, batch: ReconstructionBatch, batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, torch.Tensor]:
        """Update the metrics of the loader's evaluation set; return the reconstruction for image grids."""
        _, output = self._shared_step(batch, self.test_sets[dataloader_idx])
        return {"reconstruction": output.reconstruction}

    def on_validation_epoch_end(self) -> None:
        """Track and log the best foreground validation PSNR so far (what sweeps select on)."""
        self._log_gain("val")
        if not self.trainer.sanity_checking:
            self.val_psnr_best(self.quality_metrics("val")["psnr_fg"].compute())
            self.log("val/psnr_fg_best", self.val_psnr_best.compute(), prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        """Log the denoising gain on the test set and each held-out set."""
        for name in self.test_sets:
            self._log_gain(name)

    def _log_gain(self, stage: str) -> None:
        if not self.quality_metrics(stage, of_input=True)["psnr"].update_called:
            return
        for metric in ("psnr", "psnr_fg"):
            gain = (
                self.quality_metrics(stage)[metric].compute()
                - self.quality_metrics(stage, True)[metric].compute()
            )
            self.log(f"{stage}/{metric}_gain", gain, sync_dist=True)

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Instantiate the ``_partial_`` optimiser, and the scheduler when one is configured."""
        optimizer = instantiate(self.optim)(params=self.parameters())
        if not self.scheduler:
            return {"optimizer": optimizer}
        scheduler = dict(self.scheduler)
        lr_scheduler = instantiate(scheduler.pop("scheduler"))(optimizer=optimizer)
        # the scheduler node's other keys (interval, monitor) are Lightning's scheduler-config keys
        return cast(
            OptimizerLRSchedulerConfig,
            {"optimizer": optimizer, "lr_scheduler": {"scheduler": lr_scheduler, **scheduler}},
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the run config (a checkpoint alone can be evaluated), the training voxel size and profile."""
        if self.run_config is not None:
            checkpoint[RUN_CONFIG_KEY] = self.run_config
        if self.training_spacing is not None:
            checkpoint[TRAINING_SPACING_KEY] = list(self.training_spacing)
        if self.training_profile is not None:
            checkpoint[TRAINING_PROFILE_KEY] = self.training_profile.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` stored; a malformed voxel size or profile is dropped."""
        self.run_config = checkpoint.get(RUN_CONFIG_KEY)
        self.training_spacing = spacing_or_none(checkpoint.get(TRAINING_SPACING_KEY))
        self.training_profile = DomainProfile.from_stored(checkpoint.get(TRAINING_PROFILE_KEY))
