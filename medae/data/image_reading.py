"""Read any supported image file into ``(C, *spatial)`` float32, with errors that name the file."""

import threading
from pathlib import Path

import numpy as np
from monai.transforms import LoadImage

from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES, check_declared_size
from medae.data.dicom_reading import AXIAL_STACK, read_dicom_file, read_dicom_series, series_affine
from medae.data.nifti_reading import load_nifti
from medae.errors import DataError

DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# ITU-R BT.601 luma weights for RGB to grey
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


_THREAD_STATE = threading.local()


def image_loader() -> LoadImage:
    """The calling thread's MONAI ``LoadImage``, built once.

    Building one sets up every reader, and MONAI logs a warning for each optional decoder it lacks: built
    per file, it flooded the log with the same lines.
    """
    if not hasattr(_THREAD_STATE, "loader"):
        _THREAD_STATE.loader = LoadImage(image_only=False, ensure_channel_first=False)
    return _THREAD_STATE.loader


def is_dicom(path: Path) -> bool:
    """A folder (series) or a file with a DICOM suffix."""
    return path.is_dir() or path.suffix.lower() in DICOM_SUFFIXES


def read_raw(path: Path, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> tuple[np.ndarray, bool]:
    """Pixels as stored (modality units for DICOM) and whether the last axis holds RGB channels.

    NIfTI, PNG/JPEG, TIFF and NumPy go through MONAI's ``LoadImage``; DICOM through pydicom, so that
    series are ordered by slice position and RescaleSlope/Intercept are applied. A file whose header
    declares more than ``max_bytes`` of pixels is refused before it is decompressed.
    """
    if not path.exists():
        raise DataError(str(path), "does not exist")
    if is_dicom(path):
        array = read_dicom_series(path, max_bytes) if path.is_dir() else read_dicom_file(path, max_bytes)
        return array, array.shape[-1] == 3 and array.ndim >= 3
    check_declared_size(path, max_bytes)
    try:
        image, meta = image_loader()(str(path))
    except Exception as error:
        raise DataError(str(path), f"cannot be read ({type(error).__name__}: {error})") from error
    array = np.asarray(image, dtype=np.float32)
    return array, array.ndim == 3 and array.shape[-1] in (3, 4) and path.suffix.lower() not in (
        ".nii",
        ".gz",
        ".npy",
    )


def read_image(
    path: Path, channels: int, volume_index: int | None = None, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> np.ndarray:
    """Read ``path`` as ``(channels, *spatial)`` float32.

    Args:
        path: an image file, or a folder holding one DICOM series.
        channels: 1 (RGB is converted to grey) or 3 (RGB kept; grey refused).
        volume_index: for 4D volumes (time or channel last), the volume to keep; ``None`` keeps 4D as is.
        max_bytes: the most pixel bytes a file may declare (``data.max_image_bytes``).
    """
    array, rgb = read_raw(path, max_bytes)
    if rgb:
        colour = array[..., :3]
        array = np.moveaxis(colour, -1, 0) if channels == 3 else (colour @ LUMA)[None]
    elif channels == 3:
        raise DataError(
            str(path), "is a grey-level image but data.channels=3 expects RGB; use data.channels=1"
        )
    else:
        if array.ndim == 4 and volume_index is not None:
            if not -array.shape[-1] <= volume_index < array.shape[-1]:
                raise DataError(
                    str(path),
                    f"has {array.shape[-1]} volumes; data.volume_index={volume_index} is out of range",
                )
            array = array[..., volume_index]
        array = array[None]
    return np.ascontiguousarray(array, dtype=np.float32)


def read_affine(path: Path) -> np.ndarray:
    """The voxel-to-world (RAS) affine of the volume :func:`read_image` reads from ``path``, from headers.

    A NIfTI's own affine; a DICOM series' from its slice geometry (:func:`series_affine`); a multi-frame
    DICOM file or a NumPy volume has none stored, so frames are taken as axial slices (:data:`AXIAL_STACK`)
    and a NumPy array as already in RAS (the identity).
    """
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return np.asarray(load_nifti(path).affine, dtype=np.float64)
    if path.is_dir():
        return series_affine(path)
    if is_dicom(path):
        return AXIAL_STACK.copy()
    return np.eye(4)
