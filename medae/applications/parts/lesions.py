"""Synthetic lesions with ground-truth masks for anomaly localisation, after the MOOD challenge's recipe.

Each lesion sits in an ellipsoid centred on a foreground voxel, in 2D or 3D: a hyper- or hypo-intense
blob, a noise patch, a texture patch, or a local deformation (a sink or source that pulls or pushes
the tissue around the centre). Everything is drawn from a ``numpy.random.Generator``, so a seed
fixes the lesion set.
"""

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from medae.data.intensity import FOREGROUND_LEVEL

LesionFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
RADIUS_RANGE = (0.06, 0.14)
VISIBLE_CHANGE = 0.02
MIN_VOXELS = 10


def _hyperintense(
    image: np.ndarray, soft: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    return image + rng.uniform(0.5, 0.9) * (1 - image) * soft


def _hypointense(
    image: np.ndarray, soft: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    return image * (1 - rng.uniform(0.6, 0.95) * soft)


def _noise(image: np.ndarray, soft: np.ndarray, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image + soft * rng.normal(0, rng.uniform(0.15, 0.3), image.shape)


def _texture(
    image: np.ndarray, soft: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    direction = rng.normal(size=len(offsets))
    phase = np.tensordot(direction / np.linalg.norm(direction), offsets, axes=1)
    pattern = 0.5 + 0.5 * np.sin(rng.uniform(0.8, 1.6) * phase)
    return image * (1 - soft) + soft * pattern


def _deformation(
    image: np.ndarray, soft: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    strength = rng.uniform(0.5, 0.8) * rng.choice([-1, 1])
    grid = np.indices(image.shape, dtype=np.float64)
    coordinates = grid - strength * soft * offsets
    return ndimage.map_coordinates(image, coordinates, order=1, mode="nearest")


LESION_KINDS: dict[str, LesionFn] = {
    "hyperintense": _hyperintense,
    "hypointense": _hypointense,
    "noise": _noise,
    "texture": _texture,
    "deformation": _deformation,
}


def add_lesion(image: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add one lesion of ``kind`` to a 2D or 3D image in [0, 1]; return the image and its boolean mask.

    Example:
        >>> image = np.full((32, 32), 0.5)
        >>> lesioned, mask = add_lesion(image, "hyperintense", np.random.default_rng(0))
        >>> outside = np.allclose(lesioned[~mask], 0.5, atol=0.05)
        >>> bool(mask.any()), bool(lesioned[mask].mean() > 0.6), bool(outside)
        (True, True, True)
    """
    if kind not in LESION_KINDS:
        raise ValueError(f"unknown lesion kind '{kind}'; allowed: {', '.join(LESION_KINDS)}")
    foreground = np.argwhere(image > FOREGROUND_LEVEL)
    candidates = foreground if len(foreground) else np.argwhere(np.ones_like(image, dtype=bool))
    centre = candidates[rng.integers(len(candidates))]
    radii = rng.uniform(*RADIUS_RANGE, size=image.ndim) * np.array(image.shape)
    offsets = np.indices(image.shape, dtype=np.float64) - centre.reshape(-1, *[1] * image.ndim)
    distance = np.sqrt(sum((offsets[axis] / radii[axis]) ** 2 for axis in range(image.ndim)))
    soft = np.clip(1.5 - distance, 0, 1) ** 2  # 1 inside, smooth edge out to 1.5 radii
    lesioned = np.clip(LESION_KINDS[kind](image, soft, offsets, rng), 0, 1)
    inside = distance <= 1
    changed = inside & (np.abs(lesioned - image) > VISIBLE_CHANGE)
    # noise and texture change most but not all pixels: close the gaps so the mask is the lesion's region
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(changed, iterations=2)) & inside
    return lesioned.astype(np.float32), mask


def add_visible_lesion(
    image: np.ndarray, kind: str, rng: np.random.Generator, attempts: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`add_lesion`, drawn again until the lesion changes at least ``MIN_VOXELS`` voxels visibly."""
    for _ in range(attempts):
        lesioned, mask = add_lesion(image, kind, rng)
        if mask.sum() >= MIN_VOXELS:
            break
    return lesioned, mask
