"""Training logic of the KL autoencoder: the reconstruction loss plus the weighted KL divergence."""

from medae.models.autoencoder_kl.torch_model import AutoencoderKLConfig, KLAutoencoder
from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import MODELS


@MODELS.register("autoencoder_kl")
class AutoencoderKLModule(AutoencoderModule):
    """MONAI's AutoencoderKL: the reconstruction loss plus ``kl_weight`` times the KL divergence.

    Its authors train on L1 (``loss.l1=1 loss.mse=0``) with a patch discriminator and a perceptual term;
    this variant has the reconstruction and KL terms. It evaluates on the latent mean.
    """

    config_class = AutoencoderKLConfig
    network_class = KLAutoencoder

    def regularizer_weights(self) -> dict[str, float]:
        """The KL weight."""
        return {"kl": self.config.kl_weight}
