"""Training logic of the dense autoencoder: the shared reconstruction objective."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.dense.torch_model import DenseAutoencoder, DenseAutoencoderConfig
from medae.models.registry import MODELS


@MODELS.register("dense")
class DenseAutoencoderModule(AutoencoderModule):
    """Textbook fully-connected autoencoder on flattened images, ``latent_size`` code."""

    config_class = DenseAutoencoderConfig
    network_class = DenseAutoencoder
