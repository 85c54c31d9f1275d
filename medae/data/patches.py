"""Random training patches of full-resolution samples, drawn more often where the foreground is."""

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from monai.transforms import RandCropByPosNegLabeld

# keys of the voxel indices that FgBgToIndicesd("mask") stores with a cached training sample
FOREGROUND_INDICES = "mask_fg_indices"
BACKGROUND_INDICES = "mask_bg_indices"


class ForegroundPatchd(RandCropByPosNegLabeld):
    """One random patch of every key, centred on a foreground (``mask``) voxel with chance ``foreground``.

    MONAI's ``RandCropByPosNegLabeld`` with one sample, returning the patch itself rather than a list of
    one, so that the transforms after it see a sample. The sample must hold the mask's voxel indices
    (``FgBgToIndicesd("mask")``), so that no patch searches the mask.

    Args:
        keys: the keys to cut (missing ones are skipped).
        size: the patch's side in voxels, per spatial axis.
        foreground: the probability that a patch is centred on a foreground voxel, in [0, 1].

    Example:
        >>> import torch
        >>> from monai.transforms import FgBgToIndicesd
        >>> sample = {"image": torch.rand(1, 40, 40), "mask": torch.zeros(1, 40, 40)}
        >>> sample["mask"][0, 30:, 30:] = 1
        >>> patch = ForegroundPatchd(["image", "mask"], [8, 8], 1.0)(FgBgToIndicesd("mask")(sample))
        >>> patch["image"].shape, bool(patch["mask"].any())
        (torch.Size([1, 8, 8]), True)
    """

    def __init__(self, keys: Sequence[str], size: Sequence[int], foreground: float) -> None:
        super().__init__(
            keys,
            label_key="mask",
            spatial_size=list(size),
            pos=foreground,
            neg=1 - foreground,
            fg_indices_key=FOREGROUND_INDICES,
            bg_indices_key=BACKGROUND_INDICES,
            allow_missing_keys=True,
        )

    def __call__(  # type: ignore[override]  # one patch, not MONAI's list of samples
        self, data: Mapping[Hashable, Any], lazy: bool | None = None
    ) -> dict[Hashable, Any]:
        """The patch of ``data``."""
        return super().__call__(data, lazy)[0]
