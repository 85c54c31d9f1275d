"""Options shared by networks built on MONAI's strided convolutional encoder and decoder."""

from dataclasses import dataclass
from math import prod
from typing import Any

from medae.config.type_check import PositiveInt, PositiveInts
from medae.errors import ConfigError
from medae.models.network_config import NetworkConfig


@dataclass
class StridedEncoderConfig(NetworkConfig):
    """Options of a strided-convolution encoder and its mirrored decoder.

    Attributes:
        channels: output channels of each encoder stage.
        strides: downsampling stride of each encoder stage; their product must divide ``image_size``.
        num_res_units: residual units per stage (0 for plain convolutions).
        kernel_size: convolution kernel size.
        act: activation name for MONAI's ``Act`` factory (``PRELU``, ``RELU``, ``LEAKYRELU``, ``GELU``, ...).
        norm: normalisation name for MONAI's ``Norm`` factory (``BATCH``, ``INSTANCE``, ...).
        dropout: dropout probability.
    """

    channels: PositiveInts = (16, 32, 64)
    strides: PositiveInts = (2, 2, 2)
    num_res_units: int = 0
    kernel_size: PositiveInt = 3
    act: str = "PRELU"
    norm: str = "BATCH"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.channels) != len(self.strides):
            raise ConfigError(
                "model.strides",
                f"needs one stride per entry of model.channels ({len(self.channels)}), "
                f"got {len(self.strides)}",
            )
        factor = prod(self.strides)
        if self.image_size % factor:
            raise ConfigError(
                "model.strides",
                f"downsample by {factor}, which does not divide data.image_size={self.image_size}; "
                f"use an image size that is a multiple of {factor}",
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError("model.dropout", f"must be in [0, 1), got {self.dropout}")

    def monai_layers(self) -> dict[str, Any]:
        """The arguments MONAI's strided networks (AutoEncoder, VarAutoEncoder, UNet) share, from this config.

        Example:
            >>> StridedEncoderConfig().monai_layers()["up_kernel_size"]
            3
        """
        return {
            "spatial_dims": self.spatial_dims,
            "channels": self.channels,
            "strides": self.strides,
            "kernel_size": self.kernel_size,
            "up_kernel_size": self.kernel_size,
            "num_res_units": self.num_res_units,
            "act": self.act,
            "norm": self.norm,
            "dropout": self.dropout,
        }
