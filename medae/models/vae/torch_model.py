"""Variational autoencoder: MONAI's VarAutoEncoder with a KL term per voxel."""

from dataclasses import dataclass
from math import prod
from typing import ClassVar

import torch
from monai.networks.nets import VarAutoEncoder
from torch import nn

from medae.config.type_check import NonNegativeFloat, NonNegativeInt, PositiveInt
from medae.models.capabilities import Encodes, HasPosterior, Samples
from medae.models.latent_interpolation import InterpolatesLatents
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation
from medae.models.strided_encoder_config import StridedEncoderConfig


@dataclass
class VaeConfig(StridedEncoderConfig):
    """Options of the (beta-)VAE.

    Attributes:
        latent_size: dimension of the Gaussian latent.
        beta: weight of the KL term (1 = the ELBO against a per-voxel squared error; > 1 = beta-VAE).
        kl_warmup_epochs: epochs over which the KL weight ramps linearly from 0 to ``beta`` (0 = none).
    """

    latent_size: PositiveInt = 64
    beta: NonNegativeFloat = 1.0
    kl_warmup_epochs: NonNegativeInt = 10


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent dimensions."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


class VariationalAutoencoder(nn.Module, InterpolatesLatents):
    """Encoder to a diagonal Gaussian, reparameterised sample, decoder; the posterior mean in eval mode.

    ``regularizers["kl"]`` is the KL divergence per image divided by the number of voxels, so that it is
    on the scale of the per-voxel reconstruction losses.

    Example:
        >>> net = VariationalAutoencoder(VaeConfig(image_size=32, latent_size=16), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape), bool(out.regularizers["kl"] >= 0)
        ((2, 1, 32, 32), (2, 16), True)
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes, HasPosterior, Samples)

    def __init__(self, config: VaeConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.latent_size = config.latent_size
        self.backbone = VarAutoEncoder(
            **config.monai_layers(),
            in_shape=(config.in_channels, *[config.image_size] * config.spatial_dims),
            out_channels=config.in_channels,
            latent_size=config.latent_size,
            use_sigmoid=False,
            use_mean_at_inference=True,
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance."""
        return self.backbone.encode_forward(images)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code of ``images``: the posterior mean."""
        return self.posterior(images)[0]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Map latent vectors to images."""
        return self.output_activation(self.backbone.decode_forward(latent, use_sigmoid=False))

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``count`` latent vectors drawn from the prior N(0, I)."""
        device = next(self.parameters()).device
        return self.decode(torch.randn(count, self.latent_size, generator=generator).to(device))

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode, sample (the mean in eval mode), decode; the latent returned is the posterior mean."""
        mu, logvar = self.posterior(images)
        reconstruction = self.decode(self.backbone.reparameterize(mu, logvar))
        kl = gaussian_kl(mu, logvar).mean() / prod(images.shape[1:])
        return AutoencoderOutput(reconstruction=reconstruction, latent=mu, regularizers={"kl": kl})
