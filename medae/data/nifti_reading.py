"""Open a NIfTI file as nibabel's typed NIfTI image, naming the file when it is something else."""

from pathlib import Path

import nibabel as nib

from medae.errors import DataError


def load_nifti(path: Path) -> nib.Nifti1Image:
    """Nibabel's image of a NIfTI-1 or NIfTI-2 file (nibabel's NIfTI-2 images are NIfTI-1 ones too).

    Example:
        >>> import tempfile, numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "a.nii.gz"
        >>> nib.save(nib.Nifti1Image(np.zeros((2, 3, 4), dtype=np.float32), np.eye(4)), path)
        >>> load_nifti(path).shape
        (2, 3, 4)
    """
    image = nib.load(path)
    if not isinstance(image, nib.Nifti1Image):
        raise DataError(str(path), f"is read by nibabel as {type(image).__name__}, not as a NIfTI image")
    return image
