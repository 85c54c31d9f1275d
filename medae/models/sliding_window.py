"""Reconstructing samples larger than a network's input by MONAI's sliding-window inference."""

from typing import cast

import torch
from monai.inferers import sliding_window_inference
from torch import nn

# windows overlap by a quarter and are blended with a Gaussian weight, so tile borders do not show
OVERLAP = 0.25
BLEND_MODE = "gaussian"


def needs_windows(inputs: torch.Tensor, window: int) -> bool:
    """Whether ``inputs`` ``(N, C, *spatial)`` differ from the network's ``window``-sided input.

    Example:
        >>> needs_windows(torch.zeros(1, 1, 64, 64), 64), needs_windows(torch.zeros(1, 1, 197, 233), 64)
        (False, True)
    """
    return any(side != window for side in inputs.shape[2:])


@torch.no_grad()
def window_reconstruction(
    network: nn.Module, inputs: torch.Tensor, window: int, batch_size: int
) -> torch.Tensor:
    """The reconstruction of whole samples ``(N, C, *spatial)`` of any size from ``window``-sided tiles.

    The network runs on ``batch_size`` tiles at a time; MONAI pads a sample smaller than the window and
    crops the result back.

    Args:
        network: returns an :class:`~medae.models.output.AutoencoderOutput` for a batch of tiles.
        inputs: the network inputs at their own resolution.
        window: the side of the network's input (``data.image_size``).
        batch_size: tiles per network call.

    Example:
        >>> net = lambda tiles: type("Out", (), {"reconstruction": tiles * 2})()
        >>> window_reconstruction(net, torch.ones(1, 1, 40, 50), 16, 4).unique().tolist()
        [2.0]
    """
    windowed = sliding_window_inference(
        inputs,
        [window] * (inputs.ndim - 2),
        batch_size,
        lambda tiles: network(tiles).reconstruction,
        overlap=OVERLAP,
        mode=BLEND_MODE,
    )
    return cast(torch.Tensor, windowed)  # one tensor: the predictor returns one
