"""What a model's training volumes looked like, and whether a new scan looks like them.

A model trained on skull-stripped brains reconstructs a head with skull and scalp poorly (a brain PSNR
near 13 dB where its test slices reach 22), and says nothing. A profile of the training volumes, kept with
the model, lets predict name such a scan in one warning line with the fix. Two measures, both
independent of intensity units and field of view:

- ``edge_brightness``: the fraction of the brightest 1% of foreground voxels that lie within 5 mm of the
  foreground's edge, measured on a grid of at least 2 mm (every n-th voxel; 0.3 s for the MNI152 template).
  Skull-stripped T1 brains keep their brightest voxels (white matter) inside: 0% for the MNI152 template;
  with skull and scalp the bright fat is the edge: 75% for nibabel's ``anatomical.nii``. The threshold
  (3 times training's and 15 points above it) was set from those two; on Colin27, held out, the head
  ``ch2`` gives 37% and its brain ``ch2bet`` 1.8%.
- ``spacing``: the voxel size; a scan far coarser than training is resampled up and lacks the detail the
  model learned from.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from medae.data.foreground_mask import head_mask

EDGE_MM = 5.0
BRIGHTEST = 99.0  # percentile of foreground intensities above which a voxel counts as brightest
# a scan is unlike training when its edge brightness exceeds both of these relative to training's
EDGE_FACTOR, EDGE_MARGIN = 3.0, 0.15
COARSER = 2.0  # a voxel this many times the training one along an axis
MEASURE_MM = 2.0  # edge brightness is measured on every n-th voxel, n the step that reaches this size


def edge_brightness(volume: np.ndarray, spacing: Sequence[float]) -> float:
    """The fraction of the brightest foreground voxels of ``volume`` ``(C, x, y, z)`` within 5 mm of its edge.

    The foreground is the head mask (:func:`medae.data.foreground_mask.head_mask`); distances are in mm, on
    every n-th voxel along each axis (n reaching :data:`MEASURE_MM`).

    Example:
        >>> ball = np.zeros((1, 40, 40, 40), dtype=np.float32)
        >>> grid = np.indices((40, 40, 40)) - 20
        >>> ball[0][(grid**2).sum(0) < 15**2] = 1.0
        >>> ball[0][(grid**2).sum(0) < 8**2] = 2.0  # brightest inside: a brain
        >>> round(edge_brightness(ball, (1.0, 1.0, 1.0)), 3)
        0.0
        >>> ball[0][(grid**2).sum(0) >= 13**2] *= 3.0  # a bright rim: scalp
        >>> edge_brightness(ball, (1.0, 1.0, 1.0)) > 0.9
        True
    """
    steps = [max(1, int(round(MEASURE_MM / float(size)))) for size in spacing]
    volume = np.asarray(volume, dtype=np.float32)[(slice(None), *(slice(None, None, k) for k in steps))]
    mask = head_mask(volume)[0]
    grey = volume.mean(axis=0)
    depth = ndimage.distance_transform_edt(
        mask, sampling=[float(s) * k for s, k in zip(spacing, steps, strict=True)]
    )
    brightest = mask & (grey >= np.percentile(grey[mask], BRIGHTEST))
    return float((depth[brightest] <= EDGE_MM).mean())


@dataclass(frozen=True)
class DomainProfile:
    """What training volumes (or one scan) looked like: see the module docstring.

    Attributes:
        edge_brightness: :func:`edge_brightness`, the median over the training volumes.
        spacing: voxel size in mm along RAS x, y, z (for a scan: as stored, in RAS order).
    """

    edge_brightness: float
    spacing: tuple[float, float, float]

    @classmethod
    def of_volume(cls, volume: np.ndarray, spacing: Sequence[float]) -> "DomainProfile":
        """The profile of one volume ``(C, x, y, z)`` with voxels of ``spacing`` mm."""
        x, y, z = (float(size) for size in spacing)
        return cls(edge_brightness(volume, (x, y, z)), (x, y, z))

    @classmethod
    def median(cls, profiles: Sequence["DomainProfile"]) -> "DomainProfile":
        """The median of each measure over ``profiles`` (at least one)."""
        x, y, z = (float(v) for v in np.median([p.spacing for p in profiles], axis=0))
        return cls(float(np.median([p.edge_brightness for p in profiles])), (x, y, z))

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for a checkpoint."""
        return {**asdict(self), "spacing": list(self.spacing)}

    @classmethod
    def from_stored(cls, values: Any) -> "DomainProfile | None":
        """A profile read back from a checkpoint; ``None`` unless it holds what :meth:`to_dict` writes.

        Example:
            >>> DomainProfile.from_stored({"edge_brightness": 0.01, "spacing": [1, 1, 1]}).spacing
            (1.0, 1.0, 1.0)
            >>> DomainProfile.from_stored({"edge_brightness": "x", "spacing": [1, 1, 1]}) is None
            True
        """
        if not isinstance(values, Mapping) or set(values) != {"edge_brightness", "spacing"}:
            return None
        edge, spacing = values["edge_brightness"], values["spacing"]
        numbers = [edge, *spacing] if isinstance(spacing, list) and len(spacing) == 3 else []
        if not numbers or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            return None
        if not 0 <= edge <= 1 or not all(np.isfinite(v) and v > 0 for v in spacing):
            return None
        return cls(float(edge), (float(spacing[0]), float(spacing[1]), float(spacing[2])))

    def mismatches(self, scan: "DomainProfile") -> list[str]:
        """One line per way ``scan`` is unlike this (training) profile, each with what to do."""
        found = []
        threshold = max(EDGE_FACTOR * self.edge_brightness, self.edge_brightness + EDGE_MARGIN)
        if scan.edge_brightness > threshold:
            found.append(
                f"its brightest voxels lie at the edge of the head ({scan.edge_brightness:.0%} within "
                f"{EDGE_MM:g} mm; training {self.edge_brightness:.0%}): it looks like a head with skull and "
                "scalp where the model trained on skull-stripped brains; skull-strip it first (e.g. HD-BET "
                "or FSL BET), or put its brain mask beside it (<scan>_mask.nii.gz) and pass mask_input=true"
            )
        coarse = [
            f"{axis} {size:g} mm (training {trained:g})"
            for axis, size, trained in zip("xyz", scan.spacing, self.spacing, strict=True)
            if size > COARSER * trained
        ]
        if coarse:
            found.append(
                f"its voxels are far coarser than training's ({', '.join(coarse)}): resampled up, it lacks "
                "the detail the model learned from"
            )
        return found
