"""The named output every medae network returns."""

from dataclasses import dataclass, field

import torch


@dataclass
class AutoencoderOutput:
    """What a network's ``forward`` returns.

    Attributes:
        reconstruction: the decoded image, same shape as the input.
        latent: the code the decoder starts from.
        regularizers: named extra loss terms of the variant (``kl``, ``sparsity``, ``quantization``),
            unweighted; the LightningModule weights and logs them.
        diagnostics: named quantities that are logged but not optimised (codebook ``perplexity``).
    """

    reconstruction: torch.Tensor
    latent: torch.Tensor
    regularizers: dict[str, torch.Tensor] = field(default_factory=dict)
    diagnostics: dict[str, torch.Tensor] = field(default_factory=dict)
