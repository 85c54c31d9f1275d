"""Training logic of the VAE-GAN: the VAE's loss and KL warm-up, against a patch discriminator."""

from medae.models.adversarial_module import AdversarialModule
from medae.models.registry import MODELS
from medae.models.vae.lightning_model import VaeModule
from medae.models.vae.torch_model import VariationalAutoencoder
from medae.models.vaegan.torch_model import VaeGanConfig


@MODELS.register("vaegan")
class VaeGanModule(AdversarialModule, VaeModule):
    """VAE with an image discriminator (MONAI PatchDiscriminator) on its reconstructions; 2D or 3D.

    The adversarial term of Larsen et al. (ICML 2016) on a beta-VAE, which sharpens what a per-voxel loss
    blurs (Baur et al. compare it for brain anomalies); their loss in the discriminator's features is
    not used. Evaluates, encodes and samples like ``vae``.
    """

    config_class = VaeGanConfig
    config: VaeGanConfig
    network_class = VariationalAutoencoder
