"""Training logic of the adversarial autoencoder: reconstruction, and a discriminator on the code."""

import torch
from torch import nn

from medae.data.batch import ReconstructionBatch
from medae.models.aae.torch_model import AaeConfig, AdversarialAutoencoder
from medae.models.adversarial_module import AdversarialModule
from medae.models.output import AutoencoderOutput
from medae.models.registry import MODELS


@MODELS.register("aae")
class AaeModule(AdversarialModule):
    """Adversarial autoencoder: a discriminator tells codes of images from draws of the prior N(0, I).

    The encoder learns to fool it, so that decoding prior draws gives images (``sample``); 2D or 3D.
    """

    config_class = AaeConfig
    config: AaeConfig
    network_class = AdversarialAutoencoder
    judges_images = False

    def build_discriminator(self) -> nn.Module:
        """An MLP on codes: ``discriminator_layers`` hidden layers of ``discriminator_channels`` units."""
        config = self.config
        widths = [config.latent_size, *[config.discriminator_channels] * config.discriminator_layers]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(width_in, width_out), nn.LeakyReLU(0.2)]
        return nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def real_and_fake(
        self, batch: ReconstructionBatch, output: AutoencoderOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draws of the prior against the codes of the batch."""
        return torch.randn_like(output.latent), output.latent
