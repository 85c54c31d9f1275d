"""Convolutional autoencoder network: MONAI's AutoEncoder with an explicit bottleneck."""

from dataclasses import dataclass

import torch
from monai.networks.nets import AutoEncoder
from torch import nn

from medae.errors import ConfigError
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation


@dataclass
class ConvAutoencoderConfig(NetworkConfig):
    """Options of the convolutional autoencoder.

    Attributes:
        channels: output channels of each encoder stage.
        strides: downsampling stride of each encoder stage; their product must divide ``image_size``.
        latent_channels: channels of the bottleneck code.
        num_res_units: residual units per stage (0 for plain convolutions).
        kernel_size: convolution kernel size.
        act: activation name for MONAI's ``Act`` factory (``PRELU``, ``RELU``, ``LEAKYRELU``, ``GELU``, ...).
        norm: normalisation name for MONAI's ``Norm`` factory (``INSTANCE``, ``BATCH``, ...).
        dropout: dropout probability.
    """

    channels: tuple[int, ...] = (16, 32, 64)
    strides: tuple[int, ...] = (2, 2, 2)
    latent_channels: int = 8
    num_res_units: int = 0
    kernel_size: int = 3
    act: str = "PRELU"
    norm: str = "BATCH"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require_positive("channels", "strides", "latent_channels", "kernel_size")
        if len(self.channels) != len(self.strides):
            raise ConfigError(
                "model.strides",
                f"needs one stride per entry of model.channels ({len(self.channels)}), "
                f"got {len(self.strides)}",
            )
        factor = int(torch.tensor(self.strides).prod())
        if self.image_size % factor:
            raise ConfigError(
                "model.strides",
                f"downsample by {factor}, which does not divide data.image_size={self.image_size}; "
                f"use an image size that is a multiple of {factor}",
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError("model.dropout", f"must be in [0, 1), got {self.dropout}")


class ConvAutoencoder(nn.Module):
    """Strided-convolution encoder, ``latent_channels`` bottleneck, transposed-convolution decoder.

    Example:
        >>> net = ConvAutoencoder(ConvAutoencoderConfig(image_size=32), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape)
        ((2, 1, 32, 32), (2, 8, 4, 4))
    """

    def __init__(self, config: ConvAutoencoderConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.backbone = AutoEncoder(
            spatial_dims=config.spatial_dims,
            in_channels=config.in_channels,
            out_channels=config.in_channels,
            channels=config.channels,
            strides=config.strides,
            kernel_size=config.kernel_size,
            up_kernel_size=config.kernel_size,
            num_res_units=config.num_res_units,
            inter_channels=[config.latent_channels],
            num_inter_units=0,
            act=config.act,
            norm=config.norm,
            dropout=config.dropout,
        )
        self.output_activation = output_activation(value_range)

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
