"""Training logic of the (beta-)VAE: reconstruction plus the KL term with warm-up; sampling."""

import torch

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import register
from medae.models.vae.torch_model import VaeConfig, VariationalAutoencoder


@register("vae")
class VaeModule(AutoencoderModule):
    """Beta-VAE (MONAI VarAutoEncoder) with KL warm-up; evaluates on the posterior mean; samples."""

    config_class = VaeConfig
    network_class = VariationalAutoencoder

    def kl_weight(self) -> float:
        """``beta``, ramped linearly over the first ``kl_warmup_epochs`` epochs."""
        warmup = self.config.kl_warmup_epochs
        ramp = 1.0 if warmup == 0 else min(1.0, (self.current_epoch + 1) / warmup)
        return self.config.beta * ramp

    def regularizer_weights(self) -> dict[str, float]:
        """The current KL weight."""
        return {"kl": self.kl_weight()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` latent vectors drawn from the prior N(0, I)."""
        latent = torch.randn(n, self.config.latent_size, generator=generator).to(self.device)
        return self.network.decode(latent)

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
        """Decode ``steps`` points on the line between the posterior means of images ``a`` and ``b``.

        Args:
            a: one image, shape ``(C, *spatial)``.
            b: another image of the same shape.
            steps: number of images returned, ``a``'s reconstruction first and ``b``'s last.
        """
        mu = self.network.encode(torch.stack([a, b]).to(self.device))
        weights = torch.linspace(0, 1, steps, device=self.device)[:, None]
        return self.network.decode((1 - weights) * mu[0] + weights * mu[1])
