"""Read DICOM: single files, multi-frame files and series folders, in modality units (HU for CT)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    """One file: ``(H, W)`` for a single frame, ``(frames, H, W)`` for multi-frame; RGB keeps a last axis.

    The frames of a multi-frame file with frame positions come in position order on the plane's normal
    (the order :func:`multiframe_affine` describes); the others in stored order.
    """
    dataset = _read(path)
    check_declared_size(path, max_bytes, dicom_bytes(dataset))
    pixels = _pixels(dataset, path)
    geometry = frame_geometry(dataset)
    return pixels[geometry[0]] if geometry is not None and pixels.ndim >= 3 else pixels


def slice_position(dataset: pydicom.Dataset) -> float:
    """Position of a slice along the normal of its image plane."""
    orientation = np.asarray(dataset.ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    return float(np.dot(normal, np.asarray(dataset.ImagePositionPatient, dtype=float)))


def read_dicom_series(
    files: Sequence[Path], source: str, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> np.ndarray:
    """The single-frame ``files`` of one series as ``(slices, H, W)``, ordered by position on the normal.

    Hand-written, not MONAI's ``PydicomReader``: it refuses a series by the pixel bytes its headers declare
    before any slice is decoded, and orders oblique series by ImagePositionPatient on the plane's normal.
    ``source`` names the series in errors.
    """
    if not files:
        raise DataError(source, "holds no file; a DICOM series needs at least one slice file")
    datasets = [_read(path) for path in files]
    declared = sum(dicom_bytes(dataset) for dataset in datasets)
    check_declared_size(Path(source), max_bytes, declared)
    missing = [str(p) for p, d in zip(files, datasets, strict=True) if "ImagePositionPatient" not in d]
    if missing and len(datasets) > 1:
        raise DataError(
            missing[0], "has no ImagePositionPatient, so the slices of the series cannot be ordered"
        )
    order = sorted(range(len(datasets)), key=lambda i: slice_position(datasets[i])) if not missing else [0]
    slices = [_pixels(datasets[i], files[i]) for i in order]
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise DataError(source, f"mixes slice shapes {sorted(shapes)}; a series needs one shape")
    return np.stack(slices)


def stack_affine(
    first: np.ndarray, step: np.ndarray, orientation: np.ndarray, pixel_spacing: Sequence[float]
) -> np.ndarray:
    """The RAS affine of a ``(slices, rows, columns)`` stack from DICOM's LPS geometry.

    Rows and columns follow ImageOrientationPatient scaled by PixelSpacing (row spacing, column spacing),
    slices step by ``step`` from ``first`` (the first slice's ImagePositionPatient); DICOM's LPS patient
    axes become NIfTI's RAS (x and y negated).

    Example:
        >>> axial = np.array([1.0, 0, 0, 0, 1, 0])  # rows along x (left), columns along y (posterior)
        >>> affine = stack_affine(np.zeros(3), np.array([0, 0, 2.0]), axial, [0.5, 0.7])
        >>> float(affine[2, 0]), float(affine[1, 1]), float(affine[0, 2])  # slices z, rows -y, columns -x
        (2.0, -0.5, -0.7)
    """
    rows, columns = np.asarray(orientation, dtype=float).reshape(2, 3)
    row_spacing, column_spacing = (float(v) for v in pixel_spacing)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = step, columns * row_spacing, rows * column_spacing, first
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def series_affine(files: Sequence[Path]) -> np.ndarray:
    """The RAS voxel-to-world affine of the ``(slices, H, W)`` array :func:`read_dicom_series` returns.

    From the headers alone (no pixels), by :func:`stack_affine`; slices step from the first
    ImagePositionPatient to the last. A series without that geometry is taken as an axial stack of 1 mm
    voxels (:data:`AXIAL_STACK`).
    """
    datasets = [pydicom.dcmread(path, stop_before_pixels=True) for path in files]
    try:
        datasets.sort(key=slice_position)
        orientation = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
        first = np.asarray(datasets[0].ImagePositionPatient, dtype=float)
        last = np.asarray(datasets[-1].ImagePositionPatient, dtype=float)
        spacing = datasets[0].PixelSpacing
    except (AttributeError, ValueError):
        return AXIAL_STACK.copy()
    normal = np.cross(orientation[:3], orientation[3:])
    step = (
        (last - first) / (len(datasets) - 1)
        if len(datasets) > 1
        else normal * float(getattr(datasets[0], "SliceThickness", 1.0) or 1.0)
    )
    return stack_affine(first, step, orientation, spacing)


def _frame_item(dataset: pydicom.Dataset, frame: pydicom.Dataset | None, sequence: str) -> Any:
    """A functional group's item for one frame: the frame's own, else the shared one."""
    shared = dataset.get("SharedFunctionalGroupsSequence")
    for group in (frame, shared[0] if shared else None):
        if group is not None and sequence in group and len(group[sequence].value):
            return group[sequence][0]
    return None


def frame_geometry(dataset: pydicom.Dataset) -> tuple[list[int], np.ndarray] | None:
    """The frame order (by position on the normal) and RAS affine of a multi-frame file, if it has geometry.

    An enhanced file (CT, MR, PET) gives each frame's PlanePositionSequence and the PlaneOrientation and
    PixelMeasures groups; a legacy file (NM, RT dose) ImagePositionPatient, ImageOrientationPatient and
    GridFrameOffsetVector or SpacingBetweenSlices. None for a file without (ultrasound cine, secondary
    capture), whose frames stay in stored order.
    """
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames < 2:
        return None
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    try:
        if per_frame:
            planes = [_frame_item(dataset, group, "PlanePositionSequence") for group in per_frame]
            plane_orientation = _frame_item(dataset, per_frame[0], "PlaneOrientationSequence")
            measures = _frame_item(dataset, per_frame[0], "PixelMeasuresSequence")
            if any(plane is None for plane in planes) or plane_orientation is None or measures is None:
                return None
            positions = [np.asarray(plane.ImagePositionPatient, dtype=float) for plane in planes]
            orientation = np.asarray(plane_orientation.ImageOrientationPatient, dtype=float)
            spacing = measures.PixelSpacing
        elif "ImagePositionPatient" in dataset and "ImageOrientationPatient" in dataset:
            orientation = np.asarray(dataset.ImageOrientationPatient, dtype=float)
            if "GridFrameOffsetVector" in dataset:
                offsets = np.asarray(dataset.GridFrameOffsetVector, dtype=float)
                offsets = offsets - offsets[0]
            elif "SpacingBetweenSlices" in dataset:
                offsets = np.arange(frames) * float(dataset.SpacingBetweenSlices)
            else:
                return None
            normal = np.cross(orientation[:3], orientation[3:])
            first = np.asarray(dataset.ImagePositionPatient, dtype=float)
            positions = [first + normal * offset for offset in offsets]
            spacing = dataset.PixelSpacing
        else:
            return None
    except (AttributeError, ValueError, TypeError):
        return None
    if len(positions) != frames:
        return None
    normal = np.cross(orientation[:3], orientation[3:])
    order = sorted(range(frames), key=lambda i: float(np.dot(normal, positions[i])))
    first, last = positions[order[0]], positions[order[-1]]
    step = (last - first) / (frames - 1)
    return order, stack_affine(first, step, orientation, spacing)


def multiframe_affine(path: Path) -> np.ndarray:
    """The RAS affine of the frames :func:`read_dicom_file` returns.

    From :func:`frame_geometry`; frames without positions are taken as axial 1 mm slices
    (:data:`AXIAL_STACK`).
    """
    geometry = frame_geometry(pydicom.dcmread(path, stop_before_pixels=True))
    return geometry[1] if geometry is not None else AXIAL_STACK.copy()
