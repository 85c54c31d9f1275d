"""RED-CNN: residual encoder-decoder CNN for low-dose CT denoising (Chen et al., IEEE TMI 2017)."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.layers import Conv
from torch import nn
from torch.nn import functional as F

from medae.config.type_check import PositiveInt
from medae.errors import ConfigError
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput

NUM_LAYERS = 5


@dataclass
class RedCnnConfig(NetworkConfig):
    """Options of RED-CNN.

    Attributes:
        channels: filters of every layer (96 in the paper).
        kernel_size: kernel of every (unpadded) layer (5 in the paper); each layer shrinks the image by
            ``kernel_size - 1`` and the decoder grows it back.
    """

    channels: PositiveInt = 96
    kernel_size: PositiveInt = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        shrink = NUM_LAYERS * (self.kernel_size - 1)
        if self.image_size <= shrink:
            raise ConfigError(
                "data.image_size",
                f"{self.image_size} is too small for RED-CNN: {NUM_LAYERS} unpadded "
                f"{self.kernel_size}-kernels "
                f"remove {shrink} pixels; use an image size > {shrink} or a smaller model.kernel_size",
            )


class RedCnn(nn.Module):
    """Five convolutions, five transposed convolutions, shortcuts from input, layer 2 and layer 4.

    The shortcuts carry the input to the output, so RED-CNN learns the residual (the noise) and is a
    denoiser rather than a compressor: without input noise it can learn the identity.

    Example:
        >>> net = RedCnn(RedCnnConfig(image_size=32, channels=8), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape)
        ((2, 1, 32, 32), (2, 8, 12, 12))
    """

    capabilities: ClassVar[tuple[type, ...]] = ()

    def __init__(self, config: RedCnnConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        conv, transposed = Conv[Conv.CONV, config.spatial_dims], Conv[Conv.CONVTRANS, config.spatial_dims]
        widths = [config.in_channels] + [config.channels] * NUM_LAYERS
        kernel = config.kernel_size
        self.encoder = nn.ModuleList(conv(widths[i], widths[i + 1], kernel) for i in range(NUM_LAYERS))
        self.decoder = nn.ModuleList(
            transposed(widths[i + 1], widths[i], kernel) for i in reversed(range(NUM_LAYERS))
        )
        self.value_range = value_range

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode with shortcuts saved after layers 0 (input), 2 and 4; add them back while decoding."""
        shortcuts, x = [images], images
        for index, layer in enumerate(self.encoder, start=1):
            x = F.relu(layer(x))
            if index in (2, 4):
                shortcuts.append(x)
        latent = x
        for index, layer in enumerate(self.decoder, start=1):
            x = layer(x)
            if index in (1, 3, 5):
                x = x + shortcuts.pop()
            if index < NUM_LAYERS:
                x = F.relu(x)
        reconstruction = x.clamp(*self.value_range)
        return AutoencoderOutput(reconstruction=reconstruction, latent=latent)
