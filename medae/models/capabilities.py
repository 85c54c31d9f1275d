"""What a network can do besides reconstructing: typed protocols that variants declare and applications need.

A network class lists its capabilities in ``capabilities``; the test suite checks that each one is
really there (the protocols are runtime-checkable). Applications name the capabilities they need,
and :func:`medae.models.registry.require` turns a misfit into one line that names the variants that fit.
"""

from typing import Protocol, TypeVar, runtime_checkable

import torch
from monai.networks.nets import AutoEncoder


@runtime_checkable
class Encodes(Protocol):
    """A bottleneck code: ``encode(images)`` gives the code that ``decode(code)`` maps back to images."""

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The codes of ``images``."""

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Images from codes."""


@runtime_checkable
class HasPosterior(Protocol):
    """A Gaussian posterior: ``posterior(images)`` gives its mean and log-variance."""

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``images``."""


@runtime_checkable
class Samples(Protocol):
    """A prior to draw from: ``sample(count, generator)`` gives new images."""

    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` images decoded from the prior."""


@runtime_checkable
class HasDiscreteCode(Protocol):
    """Codes that are indices into a codebook of ``2 ** code_bits`` entries or fewer."""

    code_bits: int


@runtime_checkable
class HasBackbone(Protocol):
    """A MONAI ``AutoEncoder`` (encoder, bottleneck, decoder) that segmentation can fine-tune."""

    backbone: AutoEncoder


Capability = TypeVar("Capability")

CAPABILITIES: tuple[type, ...] = (Encodes, HasPosterior, Samples, HasDiscreteCode, HasBackbone)


def declared(network_class: type) -> tuple[type, ...]:
    """The capabilities a network class declares in its ``capabilities`` attribute (none if absent)."""
    return tuple(getattr(network_class, "capabilities", ()))


def has(network: object, capability: type) -> bool:
    """Whether ``network``'s class declares ``capability``."""
    return capability in declared(type(network))


def capable(network: object, capability: type[Capability]) -> Capability:
    """``network`` as its ``capability``, or a ``TypeError`` when its class does not declare it.

    Example:
        >>> class Coder(torch.nn.Module):
        ...     capabilities = (Encodes,)
        ...     def encode(self, images): return images
        ...     def decode(self, code): return code
        >>> capable(Coder(), Encodes).decode(torch.ones(1)).tolist()
        [1.0]
    """
    if not has(network, capability):
        raise TypeError(f"{type(network).__name__} does not declare {capability.__name__}")
    return network  # type: ignore[return-value]  # declared, and the test suite checks each declaration
