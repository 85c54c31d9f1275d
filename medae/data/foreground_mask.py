"""The pixels of a file's image that foreground metrics score: a mask file beside it, or a head mask.

A mask file sits beside its image and is named after it: ``<name>_mask``, ``<name>_brainmask``, or in a
BIDS dataset ``sub-<label>[_<entity>-<value>...]_desc-brain_mask`` (the image's name without its suffix),
as a NIfTI or with the image's own extension. Without one, the mask is the head (or body) found by
:func:`head_mask`: for skull-stripped images that is the brain, for whole heads it includes skull and
scalp, which is why every table names the mask that scored it.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES
from medae.data.dicom_series import DicomSeries
from medae.data.image_reading import NIFTI_SUFFIXES, ImageSource, read_affine, read_image
from medae.data.orientation import canonical_volume
from medae.errors import DataError

MASK_ENDINGS = ("_mask", "_brainmask")
BIDS_BRAIN_MASK = "_desc-brain_mask"
HEAD_MASK_METHOD = "head mask (Otsu threshold, holes filled, largest connected component)"
MASK_FILE_METHOD = "mask files beside the images (*_mask, *_brainmask, desc-brain_mask)"


def split_name(path: Path) -> tuple[str, str]:
    """A file's name without its extension, and the extension (``.nii.gz`` counts as one).

    Example:
        >>> split_name(Path("sub-01_T1w.nii.gz")), split_name(Path("slice.png"))
        (('sub-01_T1w', '.nii.gz'), ('slice', '.png'))
    """
    name = path.name
    for suffix in (".nii.gz", path.suffix):
        if suffix and name.lower().endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""


def is_mask_file(path: Path) -> bool:
    """Whether ``path`` is named as a mask (so it is not an image of its own)."""
    return split_name(path)[0].endswith(MASK_ENDINGS)


def mask_candidates(path: Path) -> list[Path]:
    """The names a mask of ``path`` may have, in the order they are looked for.

    Example:
        >>> [p.name for p in mask_candidates(Path("sub-01_T1w.nii.gz"))][::2]
        ['sub-01_T1w_mask.nii.gz', 'sub-01_T1w_brainmask.nii.gz', 'sub-01_desc-brain_mask.nii.gz']
    """
    stem, suffix = split_name(path)
    stems = [stem + ending for ending in MASK_ENDINGS]
    if stem.startswith("sub-") and "_" in stem:
        stems.append(stem.rsplit("_", 1)[0] + BIDS_BRAIN_MASK)
    suffixes = list(dict.fromkeys([suffix, *NIFTI_SUFFIXES] if suffix else NIFTI_SUFFIXES))
    return [path.with_name(name + ending) for name in stems for ending in suffixes]


def find_mask_file(path: ImageSource) -> Path | None:
    """The mask file beside ``path`` (beside a DICOM series' folder or file), or ``None``."""
    where = path.location if isinstance(path, DicomSeries) else path
    return next((candidate for candidate in mask_candidates(where) if candidate.is_file()), None)


def head_mask(image: np.ndarray) -> np.ndarray:
    """``(1, *spatial)`` boolean mask of the head or body in ``image`` ``(C, *spatial)``.

    The channel mean above its Otsu threshold, holes filled (in 3D for a volume, so enclosed dark tissue
    such as ventricles counts), and only the largest connected component kept (noise and labels outside
    the body are left out).

    Example:
        >>> image = np.zeros((1, 20, 20), dtype=np.float32)
        >>> image[0, 4:16, 4:16] = 1.0
        >>> image[0, 8:12, 8:12] = 0.0  # a dark hole inside
        >>> image[0, 0, 0] = 1.0  # a stray bright pixel outside
        >>> int(head_mask(image).sum())
        144
    """
    grey = np.asarray(image, dtype=np.float32).mean(axis=0)
    inside = ndimage.binary_fill_holes(grey > threshold_otsu(grey.ravel()))
    labels, count = ndimage.label(inside)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        inside = labels == int(sizes.argmax())
    return inside[None]


def read_mask_file(
    path: Path,
    shape: tuple[int, ...],
    image_path: ImageSource,
    spacing: Sequence[float] | None = None,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> np.ndarray:
    """The mask file ``path`` as ``(1, *shape)`` booleans (its non-zero voxels) on its image's grid.

    A volume is oriented and resampled as its image is (nearest neighbour), so a mask stored in another
    orientation still fits.

    Args:
        path: the mask file.
        shape: the spatial shape of the image it belongs to, as read.
        image_path: that image, for the message when the two grids differ.
        spacing: the voxel size the image was resampled to, or ``None``.
        max_bytes: the most pixel bytes the file may declare.
    """
    mask = read_image(path, 1, None, max_bytes)
    if mask.ndim == 4:
        mask = canonical_volume(mask, read_affine(path), spacing, mode="nearest").pixels
    if mask.shape[1:] != tuple(shape):
        raise DataError(
            str(path),
            f"is {list(mask.shape[1:])} voxels where its image {image_path.name} is {list(shape)}; "
            "a mask must be on its image's grid",
        )
    if not mask.any():
        raise DataError(str(path), "has no non-zero voxel; a mask marks the voxels to score")
    return mask > 0
