"""The residual post-processing of the anomaly literature, applied to every method's map the same way.

A raw reconstruction-error map is noisy and bright along the brain's edge. The comparisons of
reconstruction-based methods (Baur et al., MedIA 2021; Kascenas et al., MIDL 2022) post-process it before
scoring:

- a median filter over a few pixels;
- a brain mask eroded by a few pixels, so that the edge, which no model reconstructs well, does not count;
- positive residuals only, where the pathology is hyperintense (the image brighter than its reconstruction);
- for the thresholded segmentation, removal of connected components below a size (in 3D for volumes).

Each is a setting, and :func:`settings_grid` spans the values that ``auto`` chooses from on validation data.

Example:
    >>> maps = torch.zeros(1, 1, 8, 8)
    >>> maps[0, 0, :2, :2] = 1.0
    >>> brain = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    >>> processed, inside = PostProcessing(erosion=2).apply(maps, None, brain)
    >>> float(processed.sum()), int(inside.sum())
    (0.0, 16)
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.layers import median_filter
from scipy import ndimage

RESIDUALS = ("abs", "positive")


@dataclass(frozen=True)
class PostProcessing:
    """What is done to a raw anomaly map before it is scored.

    Attributes:
        median: median filter over this many pixels (0: none).
        erosion: the foreground eroded by this many pixels: maps are zeroed outside it, and image scores
            average inside it.
        residual: ``abs`` counts every difference; ``positive`` only pixels brighter than their
            reconstruction (methods without a reconstruction, such as intensity, are unaffected).
        min_component: connected components of the thresholded map smaller than this many pixels (voxels
            for volumes) are dropped from the segmentation that Dice scores (0: none).
    """

    median: int = 0
    erosion: int = 0
    residual: str = "abs"
    min_component: int = 0

    def __post_init__(self) -> None:
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual must be one of {', '.join(RESIDUALS)}, got '{self.residual}'")
        if min(self.median, self.erosion, self.min_component) < 0:
            raise ValueError(f"median, erosion and min_component must be >= 0, got {self}")

    def apply(
        self, maps: torch.Tensor, difference: torch.Tensor | None, foreground: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Post-processed maps, and the (eroded) foreground they are kept to.

        Args:
            maps: raw maps ``(N, 1, *spatial)``.
            difference: image minus reconstruction, averaged over channels, the same shape; ``None`` for a
                method without a reconstruction.
            foreground: where maps are scored, or ``None`` for everywhere.
        """
        if self.residual == "positive" and difference is not None:
            maps = maps * (difference > 0)
        if self.median:
            maps = median_filter(maps, kernel_size=self.median)
        inside = erode(foreground, self.erosion) if foreground is not None else None
        return (maps * inside if inside is not None else maps), inside

    def segmentation(self, maps: torch.Tensor, threshold: float) -> torch.Tensor:
        """The pixels above ``threshold``, without the connected components under ``min_component``."""
        called = maps > threshold
        if not self.min_component:
            return called
        return torch.from_numpy(
            np.stack([_large_components(image, self.min_component) for image in called.numpy()])
        )

    def params(self) -> dict[str, int | str]:
        """The settings as run params."""
        return {
            "median": self.median,
            "erosion": self.erosion,
            "residual": self.residual,
            "min_component": self.min_component,
        }


def _large_components(called: np.ndarray, min_size: int) -> np.ndarray:
    """``called`` ``(C, *spatial)`` without its components smaller than ``min_size`` (full connectivity)."""
    structure = ndimage.generate_binary_structure(called.ndim - 1, called.ndim - 1)
    kept = np.zeros_like(called)
    for channel, plane in enumerate(called):
        labels, count = ndimage.label(plane, structure)
        if count:
            sizes = np.bincount(labels.ravel())
            large = sizes >= min_size
            large[0] = False
            kept[channel] = large[labels]
    return kept


def erode(foreground: torch.Tensor, pixels: int) -> torch.Tensor:
    """The foreground ``(N, 1, *spatial)`` eroded by ``pixels`` (a cube of side ``2 * pixels + 1``).

    Beyond the image counts as outside, so a foreground that reaches the image's edge is eroded there too.

    Example:
        >>> brain = torch.zeros(1, 1, 7, 7, dtype=torch.bool)
        >>> brain[..., 1:6, 1:6] = True
        >>> int(erode(brain, 1).sum()), int(erode(brain, 2).sum())
        (9, 1)
    """
    if not pixels:
        return foreground
    pool = F.max_pool2d if foreground.ndim == 4 else F.max_pool3d
    outside = F.pad((~foreground.bool()).float(), [pixels] * 2 * (foreground.ndim - 2), value=1.0)
    return pool(outside, 2 * pixels + 1, stride=1) == 0


def settings_grid(
    medians: Sequence[int], erosions: Sequence[int], residuals: Sequence[str]
) -> list[PostProcessing]:
    """Every combination of the map settings (``min_component`` is chosen after them, at a threshold).

    Example:
        >>> len(settings_grid([0, 3, 5], [0, 2], ["abs", "positive"]))
        12
    """
    return [
        PostProcessing(median, erosion, residual)
        for median, erosion, residual in itertools.product(medians, erosions, residuals)
    ]
