"""Convolutional autoencoder network: MONAI's AutoEncoder with an explicit bottleneck."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.nets import AutoEncoder
from torch import nn

from medae.config.type_check import PositiveInt
from medae.models.capabilities import Encodes, HasBackbone
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation
from medae.models.strided_encoder_config import StridedEncoderConfig


@dataclass
class ConvAutoencoderConfig(StridedEncoderConfig):
    """Options of the convolutional autoencoder: the strided encoder's and the bottleneck width.

    Attributes:
        latent_channels: channels of the bottleneck code.
    """

    latent_channels: PositiveInt = 8


class ConvAutoencoder(nn.Module):
    """Strided-convolution encoder, ``latent_channels`` bottleneck, transposed-convolution decoder.

    Example:
        >>> net = ConvAutoencoder(ConvAutoencoderConfig(image_size=32), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape)
        ((2, 1, 32, 32), (2, 8, 4, 4))
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes, HasBackbone)

    def __init__(self, config: ConvAutoencoderConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.backbone = AutoEncoder(
            **config.monai_layers(),
            in_channels=config.in_channels,
            out_channels=config.in_channels,
            inter_channels=[config.latent_channels],
            num_inter_units=0,
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Map images to their bottleneck code."""
        return self.backbone.intermediate(self.backbone.encode(images))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Map a code back to an image."""
        return self.output_activation(self.backbone.decode(latent))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode and decode."""
        latent = self.encode(images)
        return AutoencoderOutput(reconstruction=self.decode(latent), latent=latent)
