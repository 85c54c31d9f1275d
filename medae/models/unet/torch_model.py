"""U-Net denoiser: MONAI's UNet, whose skip connections make it a denoiser rather than a compressor."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.nets import UNet as MonaiUNet
from torch import nn

from medae.config.type_check import PositiveInt, PositiveInts
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation
from medae.models.strided_encoder_config import StridedEncoderConfig


@dataclass
class UNetConfig(StridedEncoderConfig):
    """Options of the U-Net: the strided encoder's, and the channels of its lowest level.

    ``channels[i]`` is the width of level ``i`` and ``strides[i]`` the downsampling below it, so the
    bottom level (``bottom_channels``) sits under the last stride. Widths are half of Kascenas et al.'s
    (64 to 512 over 4 levels) to train on a CPU.

    Attributes:
        bottom_channels: channels of the lowest-resolution level.
    """

    channels: PositiveInts = (32, 64, 128)
    strides: PositiveInts = (2, 2, 2)
    num_res_units: int = 2
    bottom_channels: PositiveInt = 256


class UNet(nn.Module):
    """MONAI UNet from ``in_channels`` to ``in_channels``, with the data range's output activation.

    With noise on the inputs it is a denoising autoencoder; with coarse noise
    (``data.noise_model=coarse``) it is the anomaly-segmentation DAE of Kascenas et al. (MIDL 2022).
    It has no bottleneck code, so it declares no capability.

    Example:
        >>> config = UNetConfig(image_size=32, channels=(4, 8), strides=(2, 2), bottom_channels=8)
        >>> net = UNet(config, (0.0, 1.0))
        >>> tuple(net(torch.rand(2, 1, 32, 32)).reconstruction.shape)
        (2, 1, 32, 32)
    """

    capabilities: ClassVar[tuple[type, ...]] = ()

    def __init__(self, config: UNetConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.backbone = MonaiUNet(
            **config.monai_layers() | {"channels": (*config.channels, config.bottom_channels)},
            in_channels=config.in_channels,
            out_channels=config.in_channels,
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Denoise: the U-Net's output through the output activation; no latent code."""
        features = self.backbone(images)
        return AutoencoderOutput(reconstruction=self.output_activation(features), latent=features)
