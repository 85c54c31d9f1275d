"""Volumes in the canonical RAS orientation, optionally resampled to a voxel spacing, and back again.

A volume is brought to RAS (array axis 0 runs towards the patient's right, 1 towards anterior, 2 towards
superior) with MONAI's ``Orientation``, which only flips and transposes, so no value
changes. With a ``spacing`` in millimetres MONAI's ``Spacing`` then resamples it (linear for images,
nearest for masks). After that, slices along array axis 0 are sagittal, along 1 coronal, along 2 axial,
whatever orientation the file was stored in. :meth:`CanonicalVolume.to_stored` undoes both steps, so a
result computed on the canonical grid lands on the file's own grid.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Orientation, Spacing, Transform

from medae.errors import ConfigError

CANONICAL = "RAS"
# the array axis of a RAS volume that each kind of slice is cut along
ANATOMICAL_AXES = {"sagittal": 0, "coronal": 1, "axial": 2}
AXIS_NAMES = {index: name for name, index in ANATOMICAL_AXES.items()}


def axis_index(axis: str | int, key: str = "data.axis") -> int:
    """The RAS array axis of an anatomical axis name; an int is taken as the array axis itself.

    Example:
        >>> axis_index("axial"), axis_index("coronal"), axis_index(0)
        (2, 1, 0)
    """
    if isinstance(axis, str) and axis in ANATOMICAL_AXES:
        return ANATOMICAL_AXES[axis]
    if isinstance(axis, int) and not isinstance(axis, bool) and axis in AXIS_NAMES:
        return axis
    raise ConfigError(key, f"unknown axis {axis!r}; allowed: {', '.join(ANATOMICAL_AXES)} (or 0, 1, 2)")


def voxel_spacing(affine: np.ndarray) -> tuple[float, ...]:
    """The voxel size along each array axis, in millimetres, from a voxel-to-world affine."""
    return tuple(float(size) for size in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def ras_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """The voxel size along the canonical (RAS) axes x, y, z, of a volume stored with ``affine``.

    The array axes are matched to the RAS axes nearest to them, as :func:`canonical_volume` orders them.

    Example:
        >>> stored = np.array([[0, 0, -2.0, 0], [0, -3.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]])  # z, y, x
        >>> ras_spacing(stored)
        (2.0, 3.0, 1.0)
    """
    stored = voxel_spacing(affine)
    ras = [0.0, 0.0, 0.0]
    for axis, (target, _) in enumerate(nib.orientations.io_orientation(np.asarray(affine))):
        ras[int(target)] = stored[axis]
    return ras[0], ras[1], ras[2]


@dataclass
class CanonicalVolume:
    """A volume on the canonical grid and what it takes to go back to the grid it was stored on.

    Attributes:
        pixels: float32 ``(C, x, y, z)`` in RAS (resampled to ``spacing`` when one was asked for).
        affine: its voxel-to-world affine.
        spacing: its voxel size in millimetres.
    """

    pixels: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, ...]
    oriented: MetaTensor
    transform: Compose

    def to_stored(self, values: np.ndarray) -> np.ndarray:
        """``values`` ``(C, *canonical grid)`` on the grid the file was stored on (the inverse transforms)."""
        meta = MetaTensor(
            torch.as_tensor(np.ascontiguousarray(values)),
            affine=self.oriented.affine,
            applied_operations=list(self.oriented.applied_operations),
        )
        return np.asarray(self.transform.inverse(meta), dtype=np.float32)


def canonical_volume(
    pixels: np.ndarray, affine: np.ndarray, spacing: Sequence[float] | None = None, mode: str = "bilinear"
) -> CanonicalVolume:
    """``pixels`` ``(C, x, y, z)`` stored with voxel-to-world ``affine``, reoriented to RAS and resampled.

    Args:
        pixels: the volume as stored, channels first.
        affine: its voxel-to-world (RAS world) affine.
        spacing: voxel size in millimetres to resample to; ``None`` keeps the stored voxels.
        mode: interpolation of the resampling: ``bilinear`` for images, ``nearest`` for masks.

    Example:
        >>> stored = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
        >>> flipped = np.diag([-1.0, 1.0, 1.0, 1.0])  # axis 0 runs to the left
        >>> volume = canonical_volume(stored, flipped)
        >>> bool((volume.pixels == stored[:, ::-1]).all())
        True
        >>> bool((volume.to_stored(volume.pixels) == stored).all())
        True
    """
    transforms: list[Transform] = [Orientation(axcodes=CANONICAL, labels=None)]
    if spacing is not None:
        transforms.append(Spacing(pixdim=tuple(float(size) for size in spacing), mode=mode))
    transform = Compose(transforms)
    oriented = transform(MetaTensor(torch.as_tensor(pixels), affine=torch.as_tensor(np.asarray(affine))))
    return CanonicalVolume(
        np.ascontiguousarray(oriented.numpy(), dtype=np.float32),
        oriented.affine.numpy(),
        voxel_spacing(oriented.affine.numpy()),
        oriented,
        transform,
    )
