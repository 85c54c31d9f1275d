"""Checks that a loaded image can be trained on, each failing with the file and the problem."""

import numpy as np

from medae.errors import DataError


def check_finite(image: np.ndarray, source: str) -> None:
    """Refuse NaN or infinite voxels."""
    bad = int((~np.isfinite(image)).sum())
    if bad:
        raise DataError(source, f"has {bad} NaN/inf voxels of {image.size}; clean or drop the file")


def check_not_constant(image: np.ndarray, source: str) -> None:
    """Refuse images whose voxels are all equal: min-max and z-score scaling would divide by zero."""
    if image.size and image.min() == image.max():
        raise DataError(
            source, f"is constant (every voxel = {image.flat[0]:g}); intensity scaling would divide by zero"
        )


def check_spatial_dims(image: np.ndarray, source: str, expected: int, hint: str) -> None:
    """Refuse a ``(C, *spatial)`` image whose number of spatial axes is not ``expected``."""
    if image.ndim - 1 != expected:
        raise DataError(
            source,
            f"has {image.ndim - 1} spatial dimensions (shape {image.shape[1:]}) "
            f"where {expected} are expected; {hint}",
        )
