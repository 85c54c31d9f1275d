"""Training logic of the dense autoencoder: the shared reconstruction objective."""

from torch import nn

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.dense.torch_model import DenseAutoencoder, DenseAutoencoderConfig
from medae.models.registry import register


@register("dense")
class DenseAutoencoderModule(AutoencoderModule):
    """Textbook fully-connected autoencoder on flattened images, ``latent_size`` code."""

    config_class = DenseAutoencoderConfig

    @classmethod
    def build_network(cls, config: DenseAutoencoderConfig, value_range: tuple[float, float]) -> nn.Module:
        """A :class:`DenseAutoencoder`."""
        return DenseAutoencoder(config, value_range)
