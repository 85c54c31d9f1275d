"""Training logic of the convolutional autoencoder: the shared reconstruction objective."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.conv.torch_model import ConvAutoencoder, ConvAutoencoderConfig
from medae.models.registry import MODELS


@MODELS.register("conv")
class ConvAutoencoderModule(AutoencoderModule):
    """Convolutional autoencoder (MONAI AutoEncoder) with a ``latent_channels`` bottleneck; 2D or 3D."""

    config_class = ConvAutoencoderConfig
    network_class = ConvAutoencoder
