"""Colin27, a second human subject that models trained on the MNI152 template are evaluated on.

Colin27 (Holmes et al. 1998) is one person's T1 MRI in MNI space at 1 mm, but on a different grid
(181 x 217 x 181) and intensity scale (0..254) from the template. To score it like the template's
test slices it is resampled onto the template's grid (nibabel, linear; the brain mask by nearest), so
a pixel covers the same millimetres, and scaled so that the median of its brain voxels equals the
template's (one factor, so the background stays exactly zero). ``brain`` is the skull-stripped
``ch2bet`` (like-for-like with the skull-stripped template); ``head`` is the whole head ``ch2``, with
skull and scalp clipped to 1 where they are brighter than the brightest brain. Both use ``ch2bet``'s
non-zero voxels as the brain mask that the foreground metrics score.
"""

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to

from medae.data.nifti_reading import load_nifti
from medae.errors import ConfigError, DataError

FILES = {"brain": "ch2bet.nii.gz", "head": "ch2.nii.gz"}
BRAIN_MASK_FILE = FILES["brain"]


@dataclass
class SubjectVolume:
    """A volume on the template's grid in [0, 1] and its boolean brain mask."""

    image: np.ndarray
    brain: np.ndarray


def read_nifti(path: Path) -> nib.Nifti1Image:
    """Load a NIfTI file, naming it when it is missing or unreadable."""
    if not path.is_file():
        raise DataError(str(path), "not found; the Colin27 held-out subject is ch2.nii.gz and ch2bet.nii.gz")
    try:
        image = load_nifti(path)
        image.get_fdata(dtype=np.float32)
    except Exception as error:
        raise DataError(
            str(path), f"is not a readable NIfTI file ({type(error).__name__}: {error})"
        ) from error
    return image


def colin27_on_template(
    folder: Path, kind: str, template: nib.Nifti1Image, template_brain_median: float
) -> SubjectVolume:
    """Colin27 ``kind`` (``brain`` or ``head``) resampled onto ``template`` and intensity-matched to it.

    Args:
        folder: the folder with ``ch2.nii.gz`` and ``ch2bet.nii.gz``.
        kind: ``brain`` (skull-stripped) or ``head`` (whole head).
        template: the template image whose grid (shape and affine) the result takes.
        template_brain_median: the median of the template's brain voxels, in [0, 1].
    """
    if kind not in FILES:
        raise ConfigError("data.held_out", f"unknown Colin27 set '{kind}'; allowed: {', '.join(FILES)}")
    target = (template.shape[:3], template.affine)
    brain = resample_from_to(read_nifti(folder / BRAIN_MASK_FILE), target, order=0).get_fdata() > 0
    image = resample_from_to(read_nifti(folder / FILES[kind]), target, order=1).get_fdata(dtype=np.float32)
    if not brain.any():
        raise DataError(str(folder / BRAIN_MASK_FILE), "has no non-zero voxel on the template's grid")
    scale = template_brain_median / float(np.median(image[brain]))
    return SubjectVolume(np.clip(image * scale, 0.0, 1.0).astype(np.float32), brain)
