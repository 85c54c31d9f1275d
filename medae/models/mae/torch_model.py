"""Masked autoencoder network: MONAI's MaskedAutoEncoderViT, with its encoder and decoder callable apart."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.nets import MaskedAutoEncoderViT
from torch import nn

from medae.config.type_check import PositiveInt
from medae.errors import ConfigError
from medae.models.capabilities import Encodes
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation


@dataclass
class MaeConfig(NetworkConfig):
    """Options of the masked autoencoder (He et al., CVPR 2022; MONAI ``MaskedAutoEncoderViT``).

    Attributes:
        patch_size: side of the square (cubic) patches; it must divide ``image_size``.
        masking_ratio: share of the patches hidden from the encoder in training (evaluation hides none).
        hidden_size: width of the encoder's tokens.
        num_layers: encoder transformer blocks.
        num_heads: attention heads of every block; they must divide both widths, which must also be
            multiples of twice the spatial dimensions (the sine-cosine position code).
        mlp_dim: hidden units of the encoder blocks' MLPs.
        decoder_hidden_size: width of the decoder's tokens.
        decoder_num_layers: decoder transformer blocks.
        decoder_mlp_dim: hidden units of the decoder blocks' MLPs.
    """

    patch_size: PositiveInt = 8
    masking_ratio: float = 0.75
    hidden_size: PositiveInt = 96
    num_layers: PositiveInt = 4
    num_heads: PositiveInt = 4
    mlp_dim: PositiveInt = 192
    decoder_hidden_size: PositiveInt = 48
    decoder_num_layers: PositiveInt = 2
    decoder_mlp_dim: PositiveInt = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size % self.patch_size:
            raise ConfigError(
                "model.patch_size",
                f"{self.patch_size} does not divide data.image_size={self.image_size}; choose a divisor",
            )
        if not 0 <= self.masking_ratio < 1:
            raise ConfigError("model.masking_ratio", f"must be in [0, 1), got {self.masking_ratio}")
        for name in ("hidden_size", "decoder_hidden_size"):
            width = getattr(self, name)
            if width % self.num_heads:
                raise ConfigError("model.num_heads", f"{self.num_heads} does not divide model.{name}={width}")
            # the fixed sine-cosine position code spends a sine and a cosine per axis on each frequency
            if width % (2 * self.spatial_dims):
                raise ConfigError(
                    f"model.{name}",
                    f"must be a multiple of {2 * self.spatial_dims} in {self.spatial_dims}D, got {width}",
                )


class MaskedAutoencoder(nn.Module):
    """Patches to tokens, a random ``masking_ratio`` of them dropped in training, encoder, decoder, patches.

    The loss covers every patch, so that evaluation, which hides none, reconstructs visible patches it was
    trained on (its authors score the hidden patches only). The code is the encoder's tokens of all
    patches and the class token, ``(N, 1 + patches, hidden_size)``: what pre-training fine-tunes.

    Example:
        >>> net = MaskedAutoencoder(MaeConfig(image_size=32, hidden_size=36), (0.0, 1.0)).eval()
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape)
        ((2, 1, 32, 32), (2, 17, 36))
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes,)

    def __init__(self, config: MaeConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.masking_ratio = config.masking_ratio
        self.grid = [config.image_size // config.patch_size] * config.spatial_dims
        self.patch_size = config.patch_size
        self.backbone = MaskedAutoEncoderViT(
            in_channels=config.in_channels,
            img_size=config.image_size,
            patch_size=config.patch_size,
            hidden_size=config.hidden_size,
            mlp_dim=config.mlp_dim,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            masking_ratio=config.masking_ratio,
            decoder_hidden_size=config.decoder_hidden_size,
            decoder_mlp_dim=config.decoder_mlp_dim,
            decoder_num_layers=config.decoder_num_layers,
            decoder_num_heads=config.num_heads,
            spatial_dims=config.spatial_dims,
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    def _encoded(self, images: torch.Tensor, masking_ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's tokens (class token first) of the kept patches, and the kept patches' indices."""
        tokens = self.backbone.patch_embedding(images)
        if masking_ratio > 0:
            tokens, kept, _ = self.backbone._masking(tokens, masking_ratio=masking_ratio)
        else:
            kept = torch.arange(tokens.shape[1], device=tokens.device).expand(len(images), -1)
        classes = self.backbone.cls_token.expand(len(images), -1, -1)
        return self.backbone.blocks(torch.cat([classes, tokens], dim=1)), kept

    def _decoded(self, encoded: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        """Images from encoder tokens: mask tokens where patches were dropped, decoder, patches back."""
        tokens = self.backbone.decoder_embed(encoded)
        grid = self.backbone.mask_tokens.repeat(len(tokens), self.backbone.decoder_pos_embedding.shape[1], 1)
        grid[torch.arange(len(tokens), device=tokens.device).unsqueeze(-1), kept] = tokens[:, 1:]
        grid = grid + self.backbone.decoder_pos_embedding
        decoded = self.backbone.decoder_blocks(torch.cat([tokens[:, :1], grid], dim=1))
        return self.output_activation(self.unpatchify(self.backbone.decoder_pred(decoded)[:, 1:]))

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, patches, C * patch_size ** dims)`` in the patch embedding's raster order to images."""
        dims, size = len(self.grid), self.patch_size
        channels = patches.shape[-1] // size**dims
        blocks = patches.reshape(len(patches), *self.grid, channels, *[size] * dims)
        order = [0, dims + 1, *[axis for d in range(dims) for axis in (1 + d, dims + 2 + d)]]
        return blocks.permute(order).reshape(len(patches), channels, *[g * size for g in self.grid])

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's tokens of every patch (none hidden)."""
        return self._encoded(images, 0.0)[0]

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Images from the tokens of every patch."""
        every = torch.arange(code.shape[1] - 1, device=code.device).expand(len(code), -1)
        return self._decoded(code, every)

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode (hiding ``masking_ratio`` of the patches in training) and decode every patch."""
        encoded, kept = self._encoded(images, self.masking_ratio if self.training else 0.0)
        return AutoencoderOutput(reconstruction=self._decoded(encoded, kept), latent=encoded)
