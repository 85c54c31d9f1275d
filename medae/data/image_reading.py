"""Read any supported image file into ``(C, *spatial)`` float32, with errors that name the file."""

import threading
from pathlib import Path

import numpy as np
from monai.transforms import LoadImage

from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES, check_declared_size
from medae.data.dicom_reading import (
    AXIAL_STACK,
    multiframe_affine,
    read_dicom_file,
    read_dicom_series,
    series_affine,
)
from medae.data.dicom_series import DicomSeries, find_series
from medae.data.nifti_reading import load_nifti
from medae.data.orientation import ras_spacing
from medae.errors import DataError

DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# ITU-R BT.601 luma weights for RGB to grey
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# what a reader takes: an image file, a folder holding one DICOM series, or a series found in an archive
ImageSource = Path | DicomSeries


_THREAD_STATE = threading.local()


def image_loader() -> LoadImage:
    """The calling thread's MONAI ``LoadImage``, built once.

    Building one sets up every reader, and MONAI logs a warning for each optional decoder it lacks: built
    per file, it flooded the log with the same lines.
    """
    if not hasattr(_THREAD_STATE, "loader"):
        _THREAD_STATE.loader = LoadImage(image_only=False, ensure_channel_first=False)
    return _THREAD_STATE.loader


def is_dicom(path: ImageSource) -> bool:
    """A DICOM series, a folder (of one series) or a file with a DICOM suffix."""
    return isinstance(path, DicomSeries) or path.is_dir() or path.suffix.lower() in DICOM_SUFFIXES


def folder_series(folder: Path) -> DicomSeries:
    """The one DICOM series the files of ``folder`` hold (its sub-folders are not searched).

    Raises:
        DataError: the folder holds no DICOM image, or several series (each is named).
    """
    files = sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
    series, skipped = find_series(folder, files)
    if len(series) == 1:
        return series[0]
    if not series:
        why = f"; {skipped[0].source} {skipped[0].reason}" if skipped else ""
        raise DataError(str(folder), f"holds no DICOM image{why}")
    raise DataError(
        str(folder),
        f"holds {len(series)} series ({'; '.join(map(str, series))}); give the folder to medae predict, "
        "which splits it, or one folder per series",
    )


def read_dicom(source: DicomSeries, max_bytes: int) -> np.ndarray:
    """The pixels of a DICOM series as :func:`read_raw` gives them."""
    if source.kind == "slices":
        return read_dicom_series(source.files, str(source), max_bytes)
    return read_dicom_file(source.files[0], max_bytes)


def read_raw(path: ImageSource, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> tuple[np.ndarray, bool]:
    """Pixels as stored (modality units for DICOM) and whether the last axis holds RGB channels.

    NIfTI, PNG/JPEG, TIFF and NumPy go through MONAI's ``LoadImage``; DICOM through pydicom, so that
    series are ordered by slice position and RescaleSlope/Intercept are applied. A file whose header
    declares more than ``max_bytes`` of pixels is refused before it is decompressed.
    """
    if isinstance(path, DicomSeries) or (path.is_dir() and path.exists()):
        series = path if isinstance(path, DicomSeries) else folder_series(path)
        array = read_dicom(series, max_bytes)
        return array, array.shape[-1] == 3 and array.ndim >= 3
    if not path.exists():
        raise DataError(str(path), "does not exist")
    if is_dicom(path):
        array = read_dicom_file(path, max_bytes)
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
    path: ImageSource,
    channels: int,
    volume_index: int | None = None,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> np.ndarray:
    """Read ``path`` as ``(channels, *spatial)`` float32.

    Args:
        path: an image file, a folder holding one DICOM series, or a series :func:`find_series` found.
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


def read_affine(path: ImageSource) -> np.ndarray:
    """The voxel-to-world (RAS) affine of the volume :func:`read_image` reads from ``path``, from headers.

    A NIfTI's own affine; a DICOM series' from its slice geometry (:func:`series_affine`); a multi-frame
    DICOM file's from its frame positions (:func:`multiframe_affine`; frames without them are taken as
    axial slices, :data:`AXIAL_STACK`); a NumPy array is taken as already in RAS (the identity).
    """
    if isinstance(path, DicomSeries) or path.is_dir():
        series = path if isinstance(path, DicomSeries) else folder_series(path)
        if series.kind == "slices":
            return series_affine(series.files)
        return multiframe_affine(series.files[0]) if series.kind == "multiframe" else AXIAL_STACK.copy()
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        return np.asarray(load_nifti(path).affine, dtype=np.float64)
    if is_dicom(path):
        return multiframe_affine(path)
    return np.eye(4)


def volume_spacing(path: ImageSource) -> tuple[float, float, float] | None:
    """The voxel size in millimetres along RAS x, y, z of the volume at ``path``, from its headers.

    ``None`` for a 2D image (a picture, a DICOM image without position, a 2D NIfTI) and for formats that
    store no geometry (NumPy).
    """
    if isinstance(path, DicomSeries) or path.is_dir():
        series = path if isinstance(path, DicomSeries) else folder_series(path)
        return ras_spacing(read_affine(series)) if series.kind != "image" else None
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        image = load_nifti(path)
        return ras_spacing(image.affine) if len(image.shape) >= 3 and image.shape[2] > 1 else None
    return None
