"""Training logic of the KL autoencoder: reconstruction, weighted KL divergence, a patch discriminator."""

from medae.models.adversarial_module import AdversarialModule
from medae.models.autoencoder_kl.torch_model import AutoencoderKLConfig, KLAutoencoder
from medae.models.registry import MODELS


@MODELS.register("autoencoder_kl")
class AutoencoderKLModule(AdversarialModule):
    """MONAI's AutoencoderKL: reconstruction plus ``kl_weight`` times the KL, against a patch discriminator.

    The discriminator is MONAI's ``PatchDiscriminator`` (adversarial training, see
    :class:`AdversarialModule`).

    Its authors train on L1 (``loss.l1=1 loss.mse=0``) with a perceptual term from a pretrained network,
    which needs a download; ``loss.ssim`` is the structural term that needs none. It evaluates on the
    latent mean.
    """

    config_class = AutoencoderKLConfig
    config: AutoencoderKLConfig
    network_class = KLAutoencoder

    def regularizer_weights(self) -> dict[str, float]:
        """The KL weight."""
        return {"kl": self.config.kl_weight}
