"""Training logic of the (beta-)VAE: reconstruction plus the KL term with warm-up."""

from typing import ClassVar

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.network_config import NetworkConfig
from medae.models.registry import MODELS
from medae.models.vae.torch_model import VaeConfig, VariationalAutoencoder


@MODELS.register("vae")
class VaeModule(AutoencoderModule):
    """Beta-VAE (MONAI VarAutoEncoder) with KL warm-up; evaluates on the posterior mean."""

    config_class: ClassVar[type[NetworkConfig]] = VaeConfig
    config: VaeConfig
    network_class = VariationalAutoencoder

    def kl_weight(self) -> float:
        """``beta``, ramped linearly over the first ``kl_warmup_epochs`` epochs."""
        warmup = self.config.kl_warmup_epochs
        ramp = 1.0 if warmup == 0 else min(1.0, (self.current_epoch + 1) / warmup)
        return self.config.beta * ramp

    def regularizer_weights(self) -> dict[str, float]:
        """The current KL weight."""
        return {"kl": self.kl_weight()}
