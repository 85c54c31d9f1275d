"""Vector-quantised VAE: MONAI's VQVAE with codebook perplexity reported."""

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.nets import VQVAE
from torch import nn

from medae.config.type_check import PositiveInt, PositiveInts
from medae.errors import ConfigError
from medae.models.capabilities import Encodes, HasDiscreteCode
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation

# (stride, kernel, dilation, padding) halves the size; the upsampling adds output padding 0
DOWNSAMPLE = (2, 4, 1, 1)
UPSAMPLE = (2, 4, 1, 1, 0)
EMBEDDING_INITS = ("normal", "kaiming_uniform")


@dataclass
class VqVaeConfig(NetworkConfig):
    """Options of the VQ-VAE.

    Attributes:
        channels: channels of each level; every level halves the image size.
        num_res_layers: residual layers per level.
        num_res_channels: channels inside the residual layers of each level.
        num_embeddings: codebook size.
        embedding_dim: dimension of each code vector.
        commitment_cost: weight of the commitment term inside the quantisation loss.
        decay: EMA decay of the codebook updates.
        embedding_init: codebook initialisation, ``normal`` or ``kaiming_uniform`` (small codes that start
            near the encoder's outputs, which keeps the codebook from collapsing onto one code).
    """

    channels: PositiveInts = (32, 64)
    num_res_layers: int = 1
    num_res_channels: PositiveInts = (32, 64)
    num_embeddings: PositiveInt = 256
    embedding_dim: PositiveInt = 16
    commitment_cost: float = 0.25
    decay: float = 0.9
    embedding_init: str = "kaiming_uniform"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.num_res_channels) != len(self.channels):
            raise ConfigError("model.num_res_channels", f"needs {len(self.channels)} entries, one per level")
        factor = 2 ** len(self.channels)
        if self.image_size % factor:
            raise ConfigError(
                "model.channels",
                f"{len(self.channels)} levels downsample by {factor}, which does not divide "
                f"data.image_size={self.image_size}; use a multiple of {factor}",
            )
        if not 0 < self.decay < 1:
            raise ConfigError("model.decay", f"must be in (0, 1), got {self.decay}")
        if self.embedding_init not in EMBEDDING_INITS:
            raise ConfigError(
                "model.embedding_init",
                f"unknown '{self.embedding_init}'; allowed: {', '.join(EMBEDDING_INITS)}",
            )


class VectorQuantizedAutoencoder(nn.Module):
    """Encoder, EMA vector quantiser, decoder; reports quantisation loss, perplexity and codebook usage.

    Example:
        >>> net = VectorQuantizedAutoencoder(VqVaeConfig(image_size=16), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 16, 16))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape), sorted(out.diagnostics)
        ((2, 1, 16, 16), (2, 16, 4, 4), ['codebook_usage', 'perplexity'])
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes, HasDiscreteCode)

    def __init__(self, config: VqVaeConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        levels = len(config.channels)
        self.num_embeddings = config.num_embeddings
        self.backbone = VQVAE(
            spatial_dims=config.spatial_dims,
            in_channels=config.in_channels,
            out_channels=config.in_channels,
            channels=config.channels,
            num_res_layers=config.num_res_layers,
            num_res_channels=config.num_res_channels,
            downsample_parameters=[DOWNSAMPLE] * levels,
            upsample_parameters=[UPSAMPLE] * levels,
            num_embeddings=config.num_embeddings,
            embedding_dim=config.embedding_dim,
            embedding_init=config.embedding_init,
            commitment_cost=config.commitment_cost,
            decay=config.decay,
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    @property
    def code_bits(self) -> int:
        """Bits per code element: a codebook index."""
        return max(1, math.ceil(math.log2(self.num_embeddings)))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code of ``images``: one codebook index per latent position."""
        return self.backbone.index_quantize(images)

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Images from codebook indices."""
        return self.output_activation(self.backbone.decode_samples(indices))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode, quantise, decode."""
        quantized, quantization_loss = self.backbone.quantize(self.backbone.encode(images))
        reconstruction = self.output_activation(self.backbone.decode(quantized))
        perplexity = self.backbone.quantizer.perplexity.detach()
        return AutoencoderOutput(
            reconstruction=reconstruction,
            latent=quantized,
            regularizers={"quantization": quantization_loss},
            diagnostics={"perplexity": perplexity, "codebook_usage": perplexity / self.num_embeddings},
        )
