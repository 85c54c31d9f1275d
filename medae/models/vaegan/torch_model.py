"""Options of the VAE-GAN: the VAE's and the adversarial term's (the network is the VAE's)."""

from dataclasses import dataclass

from medae.models.adversarial_config import AdversarialConfig
from medae.models.vae.torch_model import VaeConfig


@dataclass
class VaeGanConfig(VaeConfig, AdversarialConfig):
    """Options of the VAE-GAN: those of :class:`VaeConfig` and of :class:`AdversarialConfig`.

    Example:
        >>> config = VaeGanConfig(image_size=32, adversarial_weight=0.05)
        >>> config.latent_size, config.beta, config.adversarial_weight, config.discriminator_layers
        (64, 1.0, 0.05, 3)
    """
