"""The textbook fully-connected autoencoder on flattened images."""

from dataclasses import dataclass
from math import prod
from typing import ClassVar

import torch
from monai.networks.nets import FullyConnectedNet
from torch import nn

from medae.config.type_check import NonNegativeInt, PositiveInt
from medae.errors import ConfigError
from medae.models.capabilities import Encodes
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation

# names of the hidden-layer activations, as MONAI's Act factory knows them
ACTIVATIONS = {
    "relu": "RELU",
    "sigmoid": "SIGMOID",
    "tanh": "TANH",
    "leaky_relu": "LEAKYRELU",
    "gelu": "GELU",
    "elu": "ELU",
}


@dataclass
class DenseAutoencoderConfig(NetworkConfig):
    """Options of the fully-connected autoencoder.

    Attributes:
        num_layers_encoder: hidden layers between the input and the code.
        num_layers_decoder: hidden layers between the code and the output.
        hidden_units: width of every hidden layer (128 as in the classic Keras example).
        latent_size: size of the code.
        activation: hidden activation, one of ``ACTIVATIONS``.
        dropout: dropout probability after each hidden layer.
    """

    num_layers_encoder: NonNegativeInt = 2
    num_layers_decoder: NonNegativeInt = 2
    hidden_units: PositiveInt = 128
    latent_size: PositiveInt = 32
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                "model.activation", f"unknown '{self.activation}'; allowed: {', '.join(ACTIVATIONS)}"
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError("model.dropout", f"must be in [0, 1), got {self.dropout}")


class DenseAutoencoder(nn.Module):
    """Flatten, fully-connected encoder to ``latent_size``, fully-connected decoder, reshape.

    Example:
        >>> net = DenseAutoencoder(DenseAutoencoderConfig(image_size=16, latent_size=8), (0.0, 1.0))
        >>> out = net(torch.rand(3, 1, 16, 16))
        >>> tuple(out.reconstruction.shape), tuple(out.latent.shape)
        ((3, 1, 16, 16), (3, 8))
    """

    capabilities: ClassVar[tuple[type, ...]] = (Encodes,)

    def __init__(self, config: DenseAutoencoderConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.shape = (config.in_channels, *[config.image_size] * config.spatial_dims)
        size, act = prod(self.shape), ACTIVATIONS[config.activation]
        dropout = config.dropout or None
        self.encoder = FullyConnectedNet(
            size, config.latent_size, [config.hidden_units] * config.num_layers_encoder, dropout, act
        )
        self.decoder = FullyConnectedNet(
            config.latent_size, size, [config.hidden_units] * config.num_layers_decoder, dropout, act
        )
        self.output_activation = output_activation(value_range, config.output_activation)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Map images to their code."""
        return self.encoder(images.flatten(1))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Map a code back to an image."""
        return self.output_activation(self.decoder(latent)).view(-1, *self.shape)

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode and decode."""
        latent = self.encode(images)
        return AutoencoderOutput(reconstruction=self.decode(latent), latent=latent)
