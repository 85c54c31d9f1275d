"""Intensity presets: CT windows, MRI percentile scaling, and the target range of the data."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import (
    NormalizeIntensity,
    ScaleIntensity,
    ScaleIntensityRange,
    ScaleIntensityRangePercentiles,
)

from medae.errors import ConfigError

# a voxel is foreground (tissue, not air) above this fraction of its image's intensity range
FOREGROUND_LEVEL = 0.1

# (level, width) in Hounsfield units
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40, 80),
    "subdural": (75, 215),
    "lung": (-600, 1500),
    "mediastinum": (50, 350),
    "abdomen": (40, 400),
    "bone": (400, 1800),
}
TARGET_RANGES: dict[str, tuple[float, float]] = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
NORMALIZATIONS = (*TARGET_RANGES, "zscore")
DEFAULT_ZSCORE_CLIP = 5.0


def value_range(normalization: str, zscore_clip: float) -> tuple[float, float]:
    """The intensity range the data has after ``normalization``; z-scores are clipped to +-``zscore_clip``."""
    return TARGET_RANGES.get(normalization, (-zscore_clip, zscore_clip))


def intensity_transform(
    normalization: str,
    window: str | None = None,
    window_level_width: Sequence[float] | None = None,
    percentiles: Sequence[float] | None = None,
    zscore_clip: float = DEFAULT_ZSCORE_CLIP,
    per_image: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    """Build the per-image intensity mapping.

    Args:
        normalization: ``unit`` ([0, 1]), ``symmetric`` ([-1, 1]) or ``zscore`` (mean 0, std 1, clipped).
        window: a CT window name of ``CT_WINDOWS``, applied to Hounsfield units.
        window_level_width: an explicit CT window ``[level, width]``; overrides ``window``.
        percentiles: ``[low, high]`` percentiles clipped to before scaling (MRI), e.g. ``[0.5, 99.5]``.
        zscore_clip: z-scores beyond this are clipped.
        per_image: without a window or percentiles, min-max scale each image to [0, 1]; false keeps
            the intensities of data already in [0, 1] (fixed grey levels: contrast between images stays).

    Example:
        >>> scale = intensity_transform("unit", window="brain")
        >>> scale(np.array([[-1000.0, 40.0, 1000.0]])).tolist()
        [[0.0, 0.5, 1.0]]
    """
    if normalization not in NORMALIZATIONS:
        raise ConfigError(
            "data.normalization", f"unknown '{normalization}'; allowed: {', '.join(NORMALIZATIONS)}"
        )
    if window is not None and window not in CT_WINDOWS:
        raise ConfigError("data.window", f"unknown CT window '{window}'; allowed: {', '.join(CT_WINDOWS)}")
    if window_level_width is not None and (len(window_level_width) != 2 or window_level_width[1] <= 0):
        raise ConfigError(
            "data.window_level_width", f"must be [level, width > 0], got {list(window_level_width)}"
        )
    if percentiles is not None and not (
        len(percentiles) == 2 and 0 <= percentiles[0] < percentiles[1] <= 100
    ):
        raise ConfigError(
            "data.percentiles", f"must be [low, high] with 0 <= low < high <= 100, got {percentiles}"
        )
    if zscore_clip <= 0:
        raise ConfigError("data.zscore_clip", f"must be > 0, got {zscore_clip}")
    low, high = TARGET_RANGES.get(normalization, (0.0, 1.0))
    level_width = window_level_width or (CT_WINDOWS[window] if window else None)
    clip: Callable[[np.ndarray], Any]
    if level_width is not None:
        level, width = level_width
        clip = ScaleIntensityRange(level - width / 2, level + width / 2, 0.0, 1.0, clip=True)
    elif percentiles is not None:
        clip = ScaleIntensityRangePercentiles(percentiles[0], percentiles[1], 0.0, 1.0, clip=True)
    elif per_image:
        clip = ScaleIntensity(minv=0.0, maxv=1.0)
    else:
        clip = np.asarray
    if normalization == "zscore":
        standardize = NormalizeIntensity()
        return lambda image: np.clip(np.asarray(standardize(clip(image))), -zscore_clip, zscore_clip)
    return lambda image: np.asarray(clip(image)) * (high - low) + low


@dataclass(frozen=True)
class FittedIntensity:
    """:func:`intensity_transform` with its per-image values fixed on one image, to apply to others or invert.

    Attributes:
        lowest, highest: the image intensities that map to the bottom and top of the unit range (window,
            percentiles or the image's own minimum and maximum; values beyond are clipped).
        target: the range after mapping (:data:`TARGET_RANGES`), or the z-score clip as ``(-c, c)``.
        zscore: ``(mean, std)`` of the unit-range image for ``zscore``, else None.
    """

    lowest: float
    highest: float
    target: tuple[float, float]
    zscore: tuple[float, float] | None = None

    def forward(self, image: np.ndarray) -> np.ndarray:
        """``image`` mapped as the fitted image was (float32)."""
        span = np.float32(self.highest - self.lowest)
        unit = np.clip((np.asarray(image, dtype=np.float32) - np.float32(self.lowest)) / span, 0, 1)
        if self.zscore is not None:
            mean, std = (np.float32(value) for value in self.zscore)
            return np.clip((unit - mean) / std, *self.target).astype(np.float32, copy=False)
        low, high = (np.float32(value) for value in self.target)
        return unit * (high - low) + low

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Mapped ``values`` back to the fitted image's units; clipped values come back at the bounds."""
        values = np.asarray(values, dtype=np.float32)
        if self.zscore is not None:
            unit = values * np.float32(self.zscore[1]) + np.float32(self.zscore[0])
        else:
            low, high = (np.float32(value) for value in self.target)
            unit = (values - low) / (high - low)
        return unit * np.float32(self.highest - self.lowest) + np.float32(self.lowest)


def fit_intensity(
    image: np.ndarray,
    normalization: str,
    window: str | None = None,
    window_level_width: Sequence[float] | None = None,
    percentiles: Sequence[float] | None = None,
    zscore_clip: float = DEFAULT_ZSCORE_CLIP,
    per_image: bool = True,
) -> FittedIntensity:
    """The mapping :func:`intensity_transform` (same arguments) gives ``image``, with its values fixed.

    Example:
        >>> image = np.array([[-1000.0, 40.0, 1000.0]])
        >>> fitted = fit_intensity(image, "unit", window="brain")
        >>> fitted.forward(image).tolist(), fitted.inverse(fitted.forward(image)).tolist()
        ([[0.0, 0.5, 1.0]], [[0.0, 40.0, 80.0]])
    """
    level_width = window_level_width or (CT_WINDOWS[window] if window else None)
    if level_width is not None:
        level, width = level_width
        lowest, highest = level - width / 2, level + width / 2
    elif percentiles is not None:
        lowest, highest = (float(v) for v in np.percentile(image, list(percentiles)))
    elif per_image:
        lowest, highest = float(np.min(image)), float(np.max(image))
    else:
        lowest, highest = 0.0, 1.0
    highest = highest if highest > lowest else lowest + 1.0
    target = value_range(normalization, zscore_clip)
    if normalization != "zscore":
        return FittedIntensity(lowest, highest, target)
    unit = np.clip((np.asarray(image, dtype=np.float64) - lowest) / (highest - lowest), 0.0, 1.0)
    return FittedIntensity(lowest, highest, target, (float(unit.mean()), float(unit.std()) or 1.0))


def to_unit(images: torch.Tensor, value_range: tuple[float, float]) -> np.ndarray:
    """Images rescaled from ``value_range`` to [0, 1], as the classical denoisers expect."""
    low, high = value_range
    return ((images - low) / (high - low)).numpy()


def from_unit(images: np.ndarray, value_range: tuple[float, float]) -> torch.Tensor:
    """The inverse of :func:`to_unit`."""
    low, high = value_range
    return torch.from_numpy(images) * (high - low) + low
