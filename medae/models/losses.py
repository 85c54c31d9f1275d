"""Reconstruction losses and their weighted sum."""

from collections.abc import Callable, Mapping
from typing import cast

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from medae.errors import ConfigError

LossTerm = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def _ssim_loss(reconstruction: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    """1 - torchmetrics' SSIM, not ``monai.losses.SSIMLoss``: the loss optimises what val/ssim reports."""
    score = structural_similarity_index_measure(reconstruction, target, data_range=data_range)
    return 1 - cast(torch.Tensor, score)  # a tensor: neither full image nor contrast sensitivity asked


LOSS_TERMS: dict[str, LossTerm] = {
    "mse": lambda reconstruction, target, _: F.mse_loss(reconstruction, target),
    "l1": lambda reconstruction, target, _: F.l1_loss(reconstruction, target),
    "bce": lambda reconstruction, target, _: F.binary_cross_entropy(
        reconstruction.clamp(0, 1), target.clamp(0, 1)
    ),
    "ssim": _ssim_loss,
}
UNIT_RANGE_ONLY = ("bce",)


class ReconstructionLoss(torch.nn.Module):
    """Weighted sum of ``mse``, ``l1``, ``bce`` (data in [0, 1]) and ``ssim`` (1 - SSIM).

    Args:
        weights: weight of each term; terms with weight 0 are not computed.
        value_range: the (min, max) intensity of the data; ``bce`` needs (0, 1).

    Example:
        >>> loss = ReconstructionLoss({"mse": 1.0, "l1": 0.0, "bce": 0.0, "ssim": 0.0}, (0.0, 1.0))
        >>> float(loss(torch.ones(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))["total"])
        1.0
    """

    def __init__(self, weights: Mapping[str, float], value_range: tuple[float, float]) -> None:
        super().__init__()
        unknown = sorted(set(weights) - set(LOSS_TERMS))
        if unknown:
            raise ConfigError(f"loss.{unknown[0]}", f"unknown loss term; allowed: {', '.join(LOSS_TERMS)}")
        for name, weight in weights.items():
            if weight < 0:
                raise ConfigError(f"loss.{name}", f"weight must be >= 0, got {weight}")
        self.weights = {name: float(weight) for name, weight in weights.items() if weight > 0}
        if not self.weights:
            raise ConfigError(
                "loss", f"all weights are 0; give at least one of {', '.join(LOSS_TERMS)} a weight > 0"
            )
        for name in UNIT_RANGE_ONLY:
            if name in self.weights and tuple(value_range) != (0.0, 1.0):
                raise ConfigError(
                    f"loss.{name}",
                    f"needs data in [0, 1], but the data range is {list(value_range)}; use mse or l1",
                )
        self.data_range = float(value_range[1] - value_range[0])

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return each weighted-in term and their weighted ``total``."""
        terms = {name: LOSS_TERMS[name](reconstruction, target, self.data_range) for name in self.weights}
        terms["total"] = torch.stack([self.weights[name] * value for name, value in terms.items()]).sum()
        return terms
