"""Interpolation between two images in a network's latent space, for networks that encode and decode."""

from abc import ABC, abstractmethod
from collections.abc import Iterator

import torch
from torch import nn


class InterpolatesLatents(ABC):
    """Adds ``interpolate(a, b, steps)`` to a network with ``encode``, ``decode`` and parameters."""

    @abstractmethod
    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The network's parameters (``nn.Module`` provides them)."""

    @abstractmethod
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes of images."""

    @abstractmethod
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images of codes."""

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
        """Decode ``steps`` points on the line between the codes of images ``a`` and ``b``.

        Args:
            a: one image, shape ``(C, *spatial)``.
            b: another image of the same shape.
            steps: number of images returned, ``a``'s reconstruction first and ``b``'s last.
        """
        device = next(self.parameters()).device
        codes = self.encode(torch.stack([a, b]).to(device))
        weights = torch.linspace(0, 1, steps, device=device).view(-1, *[1] * (codes.ndim - 1))
        return self.decode((1 - weights) * codes[0] + weights * codes[1])
