"""The KL-regularised autoencoder of latent diffusion: MONAI AutoencoderKL, a spatial Gaussian latent."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.nets import AutoencoderKL
from torch import nn

from medae.config.type_check import PositiveInt, PositiveInts
from medae.errors import ConfigError
from medae.models.adversarial_config import AdversarialConfig
from medae.models.capabilities import Encodes, HasPosterior, Samples
from medae.models.latent_interpolation import InterpolatesLatents
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation


@dataclass
class AutoencoderKLConfig(AdversarialConfig):
    """Options of the KL autoencoder (Rombach et al., CVPR 2022, first stage; MONAI ``AutoencoderKL``).

    With the adversarial options of :class:`AdversarialConfig`: MONAI's latent-diffusion tutorials train it
    against a ``PatchDiscriminator`` at weight 0.01 after warm-up epochs on the reconstruction alone.

    Attributes:
        channels: feature channels of each resolution level; every level after the first halves the side,
            so the latent is ``2 ** (len(channels) - 1)`` times smaller per side than the image.
        latent_channels: channels of the latent map.
        num_res_blocks: residual blocks per level.
        norm_num_groups: groups of the group normalisation; it must divide every entry of ``channels``.
        attention: self-attention at the deepest level and in the middle blocks (costly on a CPU).
        kl_weight: weight of the KL divergence, summed over the latent of an image, against the per-voxel
            reconstruction loss; latent diffusion and MONAI's tutorials use 1e-6, which keeps the latent
            close to a plain autoencoder's while bounding its scale.
    """

    channels: PositiveInts = (32, 64, 64)
    latent_channels: PositiveInt = 4
    num_res_blocks: PositiveInt = 1
    norm_num_groups: PositiveInt = 16
    attention: bool = False
    kl_weight: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        uneven = [count for count in self.channels if count % self.norm_num_groups]
        if uneven:
            raise ConfigError(
                "model.norm_num_groups",
                f"{self.norm_num_groups} does not divide channels {list(self.channels)} (e.g. {uneven[0]})",
            )
        if self.image_size % self.downsampling:
            raise ConfigError(
                "model.image_size",
                f"{self.image_size} is not divisible by {self.downsampling}, the downsampling of "
                f"{len(self.channels)} levels; choose a multiple of it",
            )
        if self.kl_weight < 0:
            raise ConfigError("model.kl_weight", f"must be >= 0, got {self.kl_weight}")

    @property
    def downsampling(self) -> int:
        """How many times smaller the latent is than the image, per side."""
        return 2 ** (len(self.channels) - 1)


class KLAutoencoder(nn.Module, InterpolatesLatents):
    """Encoder to a Gaussian per latent voxel, a sample (the mean in eval mode), decoder.

    ``regularizers["kl"]`` is the KL divergence from N(0, I), summed over the latent of each image and
    averaged over the batch, as latent diffusion weights it.

    Example:
        >>> net = KLAutoencoder(AutoencoderKLConfig(image_size=32, channels=(16, 16)), (0.0, 1.0)).eval()
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape), bool(out.regularizers["kl"] >= 0)
        ((2, 1, 32, 32), (2, 4, 16, 16), True)
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes, HasPosterior, Samples)

    def __init__(self, config: AutoencoderKLConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        levels = len(config.channels)
        self.latent_shape = (
            config.latent_channels,
            *[config.image_size // config.downsampling] * config.spatial_dims,
        )
        self.backbone = AutoencoderKL(
            spatial_dims=config.spatial_dims,
            in_channels=config.in_channels,
            out_channels=config.in_channels,
            num_res_blocks=[config.num_res_blocks] * levels,
            channels=list(config.channels),
            attention_levels=[config.attention and level == levels - 1 for level in range(levels)],
            latent_channels=config.latent_channels,
            norm_num_groups=config.norm_num_groups,
            with_encoder_nonlocal_attn=config.attention,
            with_decoder_nonlocal_attn=config.attention,
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    def gaussian(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent mean and standard deviation maps."""
        return self.backbone.encode(images)

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, flattened to one vector per image."""
        mu, sigma = self.gaussian(images)
        return mu.flatten(1), (2 * torch.log(sigma)).flatten(1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code of ``images``: the latent mean map."""
        return self.gaussian(images)[0]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Map latent maps to images."""
        return self.output_activation(self.backbone.decode(latent))

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``count`` latent maps drawn from the prior N(0, I)."""
        device = next(self.parameters()).device
        return self.decode(torch.randn(count, *self.latent_shape, generator=generator).to(device))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode, sample (the mean in eval mode), decode; the latent returned is the mean map."""
        mu, sigma = self.gaussian(images)
        latent = self.backbone.sampling(mu, sigma) if self.training else mu
        variance = sigma.pow(2)
        kl = 0.5 * (mu.pow(2) + variance - torch.log(variance) - 1).flatten(1).sum(dim=1).mean()
        return AutoencoderOutput(reconstruction=self.decode(latent), latent=mu, regularizers={"kl": kl})
