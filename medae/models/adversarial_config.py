"""Options of the adversarial term, which an adversarial variant's config adds to its own."""

from dataclasses import dataclass

from medae.config.type_check import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from medae.models.network_config import NetworkConfig


@dataclass
class AdversarialConfig(NetworkConfig):
    """Options of the adversarial term that a variant's config adds to its own.

    Attributes:
        adversarial_weight: weight of the autoencoder's adversarial loss (the non-saturating GAN loss of its
            fakes) against the per-voxel reconstruction loss.
        adversarial_start_epoch: epochs trained on the reconstruction alone before the discriminator joins
            (latent diffusion's "discriminator start"), so that it does not meet noise first.
        discriminator_channels: channels of the discriminator's first layer, doubled at each further one.
        discriminator_layers: strided layers of the discriminator (MONAI ``PatchDiscriminator``).
        discriminator_lr_scale: the discriminator's learning rate as a multiple of ``optim.lr``.
    """

    adversarial_weight: NonNegativeFloat = 0.01
    adversarial_start_epoch: NonNegativeInt = 1
    discriminator_channels: PositiveInt = 32
    discriminator_layers: PositiveInt = 3
    discriminator_lr_scale: PositiveFloat = 1.0
