"""Sparse convolutional autoencoder: the conv network with an activity penalty on its code."""

from dataclasses import dataclass

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import Act
from torch import nn

from medae.errors import ConfigError
from medae.models.conv.torch_model import ConvAutoencoder, ConvAutoencoderConfig
from medae.models.output import AutoencoderOutput

# the code's units: non-negative ReLU codes for the L1 penalty, sigmoid units for the KL target
CODE_ACTIVATIONS = {"l1": "RELU", "kl": "SIGMOID"}


@dataclass
class SparseAutoencoderConfig(ConvAutoencoderConfig):
    """Options of the sparse autoencoder: the conv options plus the sparsity penalty.

    Attributes:
        penalty: ``l1`` (mean absolute value of ReLU codes) or ``kl`` (KL divergence between a target
            activation and each code channel's mean activation, with sigmoid codes).
        sparsity_weight: weight of the penalty in the loss.
        sparsity_target: target mean activation for ``kl``, in (0, 1).
    """

    penalty: str = "l1"
    sparsity_weight: float = 1e-3
    sparsity_target: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.penalty not in CODE_ACTIVATIONS:
            raise ConfigError(
                "model.penalty", f"unknown '{self.penalty}'; allowed: {', '.join(CODE_ACTIVATIONS)}"
            )
        if self.sparsity_weight < 0:
            raise ConfigError("model.sparsity_weight", f"must be >= 0, got {self.sparsity_weight}")
        if not 0 < self.sparsity_target < 1:
            raise ConfigError("model.sparsity_target", f"must be in (0, 1), got {self.sparsity_target}")


def kl_sparsity(code: torch.Tensor, target: float) -> torch.Tensor:
    """Mean over channels of KL(target || mean activation of the channel), activations in (0, 1)."""
    mean_activation = code.transpose(0, 1).flatten(1).mean(1).clamp(1e-6, 1 - 1e-6)
    kl = target * torch.log(target / mean_activation) + (1 - target) * torch.log(
        (1 - target) / (1 - mean_activation)
    )
    return kl.mean()


class SparseAutoencoder(ConvAutoencoder):
    """Conv autoencoder with a linear code layer, ReLU or sigmoid code units, and a ``sparsity`` term.

    Example:
        >>> net = SparseAutoencoder(SparseAutoencoderConfig(image_size=32, penalty="kl"), (0.0, 1.0))
        >>> out = net(torch.rand(2, 1, 32, 32))
        >>> bool(out.regularizers["sparsity"] > 0), bool(out.latent.min() >= 0)
        (True, True)
    """

    def __init__(self, config: SparseAutoencoderConfig, value_range: tuple[float, float]) -> None:
        super().__init__(config, value_range)
        self.penalty = config.penalty
        self.sparsity_target = config.sparsity_target
        code_layer = Convolution(
            config.spatial_dims,
            config.channels[-1],
            config.latent_channels,
            kernel_size=config.kernel_size,
            conv_only=True,
        )
        self.backbone.intermediate = nn.Sequential(code_layer, Act[CODE_ACTIVATIONS[config.penalty]]())

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        """Encode, decode, and measure the code's sparsity."""
        code = self.encode(images)
        sparsity = code.abs().mean() if self.penalty == "l1" else kl_sparsity(code, self.sparsity_target)
        return AutoencoderOutput(
            reconstruction=self.decode(code), latent=code, regularizers={"sparsity": sparsity}
        )
