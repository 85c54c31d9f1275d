"""Training logic of the masked autoencoder: the reconstruction loss of every patch."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.mae.torch_model import MaeConfig, MaskedAutoencoder
from medae.models.registry import MODELS


@MODELS.register("mae")
class MaeModule(AutoencoderModule):
    """Masked autoencoder (MONAI MaskedAutoEncoderViT): random patches hidden in training; 2D or 3D."""

    config_class = MaeConfig
    network_class = MaskedAutoencoder
