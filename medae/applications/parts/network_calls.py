"""Calling a trained network on whole tensors in chunks: encode, decode, reconstruct."""

import time
from typing import Any

import torch

from medae.models.capabilities import Encodes, capable


@torch.no_grad()
def encode(network: torch.nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The codes of ``images`` from a network that declares :class:`medae.models.capabilities.Encodes`."""
    network.eval()
    coder = capable(network, Encodes)
    return torch.cat([coder.encode(chunk) for chunk in images.split(batch_size)])


@torch.no_grad()
def decode(network: torch.nn.Module, codes: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Images from codes made by :func:`encode`."""
    network.eval()
    coder = capable(network, Encodes)
    return torch.cat([coder.decode(chunk) for chunk in codes.split(batch_size)])


@torch.no_grad()
def reconstruct(network: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 64) -> tuple[Any, float]:
    """Reconstructions of ``inputs`` in eval mode, and the wall time per image in milliseconds."""
    network.eval()
    start = time.perf_counter()
    outputs = [network(chunk).reconstruction for chunk in inputs.split(batch_size)]
    elapsed = time.perf_counter() - start
    return torch.cat(outputs), 1000 * elapsed / len(inputs)
