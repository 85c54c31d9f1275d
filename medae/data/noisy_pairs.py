"""Dataset wrapper that pairs each clean image with its corrupted network input."""

from typing import Any, Protocol

import torch
from monai.transforms import Compose
from torch.utils.data import Dataset

from medae.data.noise import NOISE_MODELS


class ItemsWithLength(Protocol):
    """A dataset NoisyPairs wraps: items by index (mappings holding an ``"image"``) and a length."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


class NoisyPairs(Dataset):
    """Yield ``{"image": clean, "input": corrupted, ...}`` from a dataset of ``{"image": tensor}`` items.

    An item that has its own ``input`` (a paired source) keeps it; augmentations change both alike.

    Args:
        base: dataset whose items are mappings with an ``"image"`` tensor.
        noise_model: a key of :data:`medae.data.noise.NOISE_MODELS`.
        strength: noise strength; ``0`` makes ``input`` the clean image itself. ``(low, high)`` draws each
            item's strength uniformly from that range (from torch's generator, so per-epoch seeding
            covers it): a blind denoiser's training noise.
        seed: ``None`` draws fresh noise each time (training); an int fixes the noise of item ``i``
            to seed ``seed + i``, so every method and every epoch sees the same noisy images.
        augment: random MONAI transforms applied to the clean item before the noise. They are seeded
            per item from torch's generator, so the per-epoch seeding covers them too.

    Example:
        >>> pairs = NoisyPairs([{"image": torch.zeros(1, 4, 4)}], "gaussian", 0.1, seed=0)
        >>> bool(torch.equal(pairs[0]["input"], pairs[0]["input"]))
        True
    """

    def __init__(
        self,
        base: ItemsWithLength,
        noise_model: str,
        strength: float | tuple[float, float],
        seed: int | None,
        augment: Compose | None = None,
    ) -> None:
        self.base = base
        self.augment = augment
        self.noise = NOISE_MODELS[noise_model]
        self.strength = strength
        self.seed = seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.base[index])
        if self.augment is not None:
            self.augment.set_random_state(seed=int(torch.randint(2**31, (1,))))
            item = self.augment(item)
        clean = item["image"]
        if "input" in item:  # a real pair (a low-dose scan of the same slice): no synthetic noise
            return item
        if self.strength == 0:
            item["input"] = clean
            return item
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed + index)
        strength = self.strength
        if isinstance(strength, tuple):
            low, high = strength
            strength = low + (high - low) * float(torch.rand(1, generator=generator))
        item["input"] = self.noise(clean, strength, generator)
        return item
