"""Read DICOM: single files, multi-frame files and series folders, in modality units (HU for CT)."""

from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES, check_declared_size, dicom_bytes
from medae.errors import DataError

# the RAS affine of a (slices, rows, columns) stack without geometry, taken as axial slices in the standard
# display (ImageOrientationPatient 1/0/0/0/1/0: columns run to the patient's left, rows to posterior), 1 mm
AXIAL_STACK = np.array(
    [[0.0, 0.0, -1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


def _pixels(dataset: pydicom.Dataset, source: Path) -> np.ndarray:
    """Decoded pixels with RescaleSlope/Intercept (or a modality LUT) applied."""
    try:
        return np.asarray(apply_modality_lut(dataset.pixel_array, dataset), dtype=np.float32)
    except Exception as error:
        syntax = (
            dataset.file_meta.TransferSyntaxUID.name
            if "TransferSyntaxUID" in dataset.file_meta
            else "unknown"
        )
        raise DataError(
            str(source), f"pixel data cannot be decoded (transfer syntax {syntax}): {error}"
        ) from error


def _read(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path)
    except Exception as error:
        raise DataError(
            str(path), f"is not a readable DICOM file ({type(error).__name__}: {error})"
        ) from error


def read_dicom_file(path: Path, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> np.ndarray:
    """One file: ``(H, W)`` for a single frame, ``(frames, H, W)`` for multi-frame; RGB keeps a last axis."""
    dataset = _read(path)
    check_declared_size(path, max_bytes, dicom_bytes(dataset))
    return _pixels(dataset, path)


def slice_position(dataset: pydicom.Dataset) -> float:
    """Position of a slice along the normal of its image plane."""
    orientation = np.asarray(dataset.ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    return float(np.dot(normal, np.asarray(dataset.ImagePositionPatient, dtype=float)))


def read_dicom_series(folder: Path, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> np.ndarray:
    """Every DICOM file of ``folder`` stacked into ``(slices, H, W)``, ordered by position on the normal.

    Hand-written, not MONAI's ``PydicomReader``: it refuses a series by the pixel bytes its headers declare
    before any slice is decoded, and orders oblique series by ImagePositionPatient on the plane's normal.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise DataError(str(folder), "is an empty folder; a DICOM series needs at least one slice file")
    datasets = [_read(path) for path in files]
    declared = sum(dicom_bytes(dataset) for dataset in datasets)
    check_declared_size(folder, max_bytes, declared)
    missing = [str(p) for p, d in zip(files, datasets, strict=True) if "ImagePositionPatient" not in d]
    if missing and len(datasets) > 1:
        raise DataError(
            missing[0], "has no ImagePositionPatient, so the slices of the series cannot be ordered"
        )
    order = sorted(range(len(datasets)), key=lambda i: slice_position(datasets[i])) if not missing else [0]
    slices = [_pixels(datasets[i], files[i]) for i in order]
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise DataError(str(folder), f"mixes slice shapes {sorted(shapes)}; a series needs one shape")
    return np.stack(slices)


def series_affine(folder: Path) -> np.ndarray:
    """The RAS voxel-to-world affine of the ``(slices, H, W)`` array :func:`read_dicom_series` returns.

    From the headers alone (no pixels): rows and columns follow ImageOrientationPatient scaled by
    PixelSpacing, slices step from the first ImagePositionPatient to the last, and DICOM's LPS patient
    axes become NIfTI's RAS (x and y negated). A series without that geometry is taken as an axial stack of
    1 mm voxels (:data:`AXIAL_STACK`).
    """
    datasets = [
        pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(folder.iterdir()) if path.is_file()
    ]
    try:
        datasets.sort(key=slice_position)
        rows, columns = np.asarray(datasets[0].ImageOrientationPatient, dtype=float).reshape(2, 3)
        row_spacing, column_spacing = (float(v) for v in datasets[0].PixelSpacing)
        first = np.asarray(datasets[0].ImagePositionPatient, dtype=float)
        last = np.asarray(datasets[-1].ImagePositionPatient, dtype=float)
    except (AttributeError, ValueError):
        return AXIAL_STACK.copy()
    normal = np.cross(rows, columns)
    step = (
        (last - first) / (len(datasets) - 1)
        if len(datasets) > 1
        else normal * float(getattr(datasets[0], "SliceThickness", 1.0) or 1.0)
    )
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = step, columns * row_spacing, rows * column_spacing, first
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
