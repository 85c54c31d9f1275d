"""Adversarial autoencoder network: a strided encoder to a code vector and a decoder of prior draws."""

from dataclasses import dataclass
from math import prod
from typing import ClassVar

import torch
from monai.networks.nets import AutoEncoder
from torch import nn

from medae.config.type_check import NonNegativeFloat, NonNegativeInt, PositiveInt
from medae.models.adversarial_config import AdversarialConfig
from medae.models.capabilities import Encodes, Samples
from medae.models.latent_interpolation import InterpolatesLatents
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation
from medae.models.strided_encoder_config import StridedEncoderConfig


@dataclass
class AaeConfig(StridedEncoderConfig, AdversarialConfig):
    """Options of the adversarial autoencoder (Makhzani et al., ICLR workshop 2016).

    Attributes:
        latent_size: dimension of the code, whose distribution the discriminator pushes to N(0, I).

    The adversarial options (:class:`AdversarialConfig`) act on the code: ``discriminator_channels`` is
    the width of the code discriminator's hidden layers and ``discriminator_layers`` their number.
    """

    latent_size: PositiveInt = 32
    adversarial_weight: NonNegativeFloat = 1.0
    adversarial_start_epoch: NonNegativeInt = 0
    discriminator_channels: PositiveInt = 256
    discriminator_layers: PositiveInt = 2


class AdversarialAutoencoder(nn.Module, InterpolatesLatents):
    """Strided-convolution encoder, a linear map to a ``latent_size`` code and back, decoder.

    The code is deterministic; :meth:`sample` decodes draws from the prior N(0, I) that adversarial
    training matched the codes to.

    Example:
        >>> net = AdversarialAutoencoder(AaeConfig(image_size=32, latent_size=8), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape), tuple(net.sample(3).shape)
        ((2, 1, 32, 32), (2, 8), (3, 1, 32, 32))
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes, Samples)

    def __init__(self, config: AaeConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.latent_size = config.latent_size
        self.backbone = AutoEncoder(
            **config.monai_layers(), in_channels=config.in_channels, out_channels=config.in_channels
        )
        side = config.image_size // prod(config.strides)
        self.feature_shape = (config.channels[-1], *[side] * config.spatial_dims)
        self.to_code = nn.Linear(prod(self.feature_shape), config.latent_size)
        self.from_code = nn.Linear(config.latent_size, prod(self.feature_shape))
        self.output_activation = output_activation(value_range, config.output_activation)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The codes of ``images``."""
        return self.to_code(self.backbone.encode(images).flatten(1))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Images from codes."""
        features = torch.relu(self.from_code(code)).view(-1, *self.feature_shape)
        return self.output_activation(self.backbone.decode(features))

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``count`` codes drawn from the prior N(0, I)."""
        device = next(self.parameters()).device
        return self.decode(torch.randn(count, self.latent_size, generator=generator).to(device))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode and decode; the latent returned is the code."""
        code = self.encode(images)
        return AutoencoderOutput(reconstruction=self.decode(code), latent=code)
