"""The LightningModule base of adversarial variants: a discriminator with its own optimiser and scheduler."""

from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from monai.networks.nets import PatchDiscriminator
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from medae.data.batch import ReconstructionBatch
from medae.models.adversarial_config import AdversarialConfig
from medae.models.autoencoder_module import AutoencoderModule
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits against "real" (1) or "fake" (0) everywhere.

    Example:
        >>> round(gan_loss(torch.zeros(2, 1, 4, 4), real=True).item(), 4)  # log 2: undecided
        0.6931
    """
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class AdversarialModule(AutoencoderModule):
    """Train an autoencoder against a discriminator with two optimisers (Lightning manual optimisation).

    Each training step, from ``adversarial_start_epoch`` on: (1) the autoencoder steps on its loss plus
    ``adversarial_weight`` times the non-saturating GAN loss of its fakes (the discriminator frozen);
    (2) the discriminator steps on the cross-entropy of real against the detached fakes. Before that
    epoch only step (1) runs, without the adversarial term. ``train/loss`` is the autoencoder's loss
    without the adversarial term; ``train/loss_adversarial`` and ``train/loss_discriminator`` are logged
    beside it.

    Both optimisers come from ``optim`` (the discriminator's at ``discriminator_lr_scale`` times the rate)
    and, with a ``scheduler``, each gets its own, stepped here by its ``interval`` (plateau schedulers on
    ``monitor``). Checkpoints hold both optimisers, both schedulers and the discriminator's weights, so a
    resumed run goes on exactly; the exported network is the autoencoder alone. Under DDP the trainer
    finds unused parameters (each backward reaches only one of the two networks).

    Subclasses say what is real and what is fake (:meth:`real_and_fake`; by default the clean images
    against the reconstructions) and may build another discriminator (:meth:`build_discriminator`).
    """

    config_class: ClassVar[type[NetworkConfig]] = AdversarialConfig
    config: AdversarialConfig
    ddp_strategy: ClassVar[str] = "ddp_find_unused_parameters_true"
    # whether the discriminator sees images, so that its features compare an image with its reconstruction
    judges_images: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False
        self.discriminator = self.build_discriminator()

    def build_discriminator(self) -> nn.Module:
        """MONAI's ``PatchDiscriminator`` on images: a real-or-fake logit per patch."""
        config = self.config
        return PatchDiscriminator(
            spatial_dims=config.spatial_dims,
            channels=config.discriminator_channels,
            in_channels=config.in_channels,
            num_layers_d=config.discriminator_layers,
        )

    def discriminate(self, samples: torch.Tensor) -> torch.Tensor:
        """The discriminator's logits (a ``PatchDiscriminator`` returns its features, the logits last)."""
        output = self.discriminator(samples)
        return output[-1] if isinstance(output, list | tuple) else output

    @torch.no_grad()
    def feature_residual(self, images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
        """f-AnoGAN's discriminator-feature residual of each image (the discriminator in eval mode).

        The mean squared difference of the discriminator's intermediate features of the image and of its
        reconstruction, averaged over layers: the second term of the izi_f score of Schlegl et al.
        (MedIA 2019).
        """
        self.discriminator.eval()
        ours, theirs = self.discriminator(images)[:-1], self.discriminator(reconstructions)[:-1]
        layers = [(a - b).pow(2).flatten(1).mean(dim=1) for a, b in zip(ours, theirs, strict=True)]
        return torch.stack(layers).mean(dim=0)

    def real_and_fake(
        self, batch: ReconstructionBatch, output: AutoencoderOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What the discriminator learns to tell apart: the clean images and the reconstructions."""
        return batch.image, output.reconstruction

    def adversarial(self) -> bool:
        """Whether this epoch trains against the discriminator."""
        return (
            self.config.adversarial_weight > 0 and self.current_epoch >= self.config.adversarial_start_epoch
        )

    def training_step(self, batch: ReconstructionBatch, batch_idx: int) -> torch.Tensor:
        """The autoencoder's step, then the discriminator's."""
        autoencoder_optimizer, discriminator_optimizer = cast(list[LightningOptimizer], self.optimizers())
        adversarial = self.adversarial()
        self.toggle_optimizer(autoencoder_optimizer)
        total, output = self._shared_step(batch, "train")
        logged = {}
        if adversarial:
            real, fake = self.real_and_fake(batch, output)
            fooling = gan_loss(self.discriminate(fake), real=True)
            total = total + self.config.adversarial_weight * fooling
            logged["train/loss_adversarial"] = fooling.detach()
        autoencoder_optimizer.zero_grad()
        self.manual_backward(total)
        autoencoder_optimizer.step()
        self.untoggle_optimizer(autoencoder_optimizer)
        if adversarial:
            self.toggle_optimizer(discriminator_optimizer)
            judged = gan_loss(self.discriminate(real), real=True) + gan_loss(
                self.discriminate(fake.detach()), real=False
            )
            discriminator_optimizer.zero_grad()
            self.manual_backward(judged / 2)
            discriminator_optimizer.step()
            self.untoggle_optimizer(discriminator_optimizer)
            logged["train/loss_discriminator"] = judged.detach() / 2
        self._update_train_means(logged, len(batch))
        self._step_schedulers("step")
        return total.detach()

    def on_train_epoch_end(self) -> None:
        """Log the epoch's means, then step epoch-interval schedulers (after validation, on its metrics)."""
        super().on_train_epoch_end()
        self._step_schedulers("epoch")

    def _step_schedulers(self, interval: str) -> None:
        scheduler_config = self.scheduler
        schedulers = self.lr_schedulers()
        if (
            schedulers is None
            or not scheduler_config
            or scheduler_config.get("interval", "epoch") != interval
        ):
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if isinstance(scheduler, ReduceLROnPlateau):
                value = self.trainer.callback_metrics.get(scheduler_config.get("monitor", ""))
                if value is not None:  # no validation this epoch
                    scheduler.step(value)
            else:
                scheduler.step()

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """The autoencoder's and the discriminator's optimisers, and a scheduler for each when configured."""
        build = instantiate(self.optim)
        lr = float(self.optim["lr"]) * self.config.discriminator_lr_scale
        optimizers = [
            build(params=self.network.parameters()),
            build(params=self.discriminator.parameters(), lr=lr),
        ]
        if not self.scheduler:
            return optimizers, []
        schedule = instantiate(self.scheduler["scheduler"])
        return optimizers, [schedule(optimizer=optimizer) for optimizer in optimizers]
