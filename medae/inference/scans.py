"""New scans in, results out in the same grid: which scans a folder holds, reading them, writing beside them.

A folder is searched recursively: NIfTI, PNG and JPEG files, and DICOM files (whatever their names, and
those a DICOMDIR references) split into series as an archive holds them
(:func:`medae.data.dicom_series.find_series`). A scan is read with the readers that training uses
(:func:`medae.data.image_reading.read_image`), a volume brought to RAS (and resampled where the run's data
set a spacing) as training brings it, and keeps what is needed to write a result over it: the way back to
its stored grid, a NIfTI's affine and header, a DICOM series' geometry (the result is a NIfTI), a PNG's or
JPEG's size (the result is a PNG).
"""

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES
from medae.data.dicom_series import DicomSeries, Skipped, find_series
from medae.data.image_reading import DICOM_SUFFIXES, NIFTI_SUFFIXES, ImageSource, read_affine, read_image
from medae.data.nifti_reading import load_nifti
from medae.data.orientation import CanonicalVolume, canonical_volume, voxel_spacing
from medae.errors import DataError

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Scan:
    """One input: its pixels ``(C, *spatial)`` in the scan's units (HU for CT), and how to write over it.

    Attributes:
        path: the file, the folder of a DICOM series, or a series found in a folder.
        pixels: float32 ``(C, *spatial)``, a volume on the canonical grid (RAS, the run's spacing).
        affine: voxel-to-world (RAS) of the volume as stored; None for a picture.
        header: the NIfTI header to keep, if the scan is a NIfTI.
        canonical: how a volume's canonical grid maps back to the stored one; None for a 2D image.
        stored_shape: the spatial shape in the file's own axis order (as the results are written).
        stored_spacing: the voxel size in millimetres along those axes; None for a 2D image.
    """

    path: ImageSource
    pixels: np.ndarray
    affine: np.ndarray | None = None
    header: nib.Nifti1Header | None = None
    canonical: CanonicalVolume | None = None
    stored_shape: tuple[int, ...] = ()
    stored_spacing: tuple[float, ...] | None = None

    @property
    def name(self) -> str:
        """The scan's name without its suffixes (``sub-01_T1w`` for ``sub-01_T1w.nii.gz``); a series' name."""
        name = self.path.name
        for suffix in (*NIFTI_SUFFIXES, *PICTURE_SUFFIXES, *DICOM_SUFFIXES):
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return name

    @property
    def is_picture(self) -> bool:
        """Whether results are written as PNG (the scan is a PNG or JPEG)."""
        return isinstance(self.path, Path) and self.path.suffix.lower() in PICTURE_SUFFIXES

    def result_path(self, folder: Path, what: str) -> Path:
        """Where result ``what`` (``reconstruction``, ``anomaly_map``) of this scan goes in ``folder``."""
        return folder / f"{self.name}_{what}{'.png' if self.is_picture else '.nii.gz'}"

    def write(self, values: np.ndarray, path: Path, value_range: tuple[float, float] | None = None) -> None:
        """Write ``values`` (``(C, *spatial)`` on the grid of :attr:`pixels`) at ``path``.

        A volume is mapped back to its stored grid and becomes a NIfTI with this scan's affine (and header,
        for a NIfTI); a picture becomes an 8-bit PNG of the same size, scaled from ``value_range``
        (default: the scan's own range).
        """
        if self.is_picture:
            low, high = value_range or (float(self.pixels.min()), float(self.pixels.max()))
            scaled = np.clip((values - low) / ((high - low) or 1.0), 0.0, 1.0) * 255
            # MONAI's reader gives pictures as (width, height): transposed back here
            picture = np.moveaxis(scaled, 0, -1).transpose(1, 0, 2) if scaled.shape[0] == 3 else scaled[0].T
            Image.fromarray(np.round(picture).astype(np.uint8)).save(path)
            return
        if self.canonical is not None:
            values = self.canonical.to_stored(values)
        volume = values[0] if values.shape[0] == 1 else np.moveaxis(values, 0, -1)
        header = self.header.copy() if self.header is not None else None
        if header is not None:
            header.set_data_dtype(np.float32)
        nib.save(nib.Nifti1Image(volume.astype(np.float32), self.affine, header), path)


def scan_sources(source: Path) -> tuple[list[ImageSource], list[Skipped]]:
    """The scans ``source`` holds, and the files that give none (each with why).

    ``source`` is a NIfTI or picture file, a DICOM file or DICOMDIR, or a folder searched recursively:
    its NIfTI and picture files, and its DICOM files split into series (:func:`find_series`).

    Raises:
        DataError: ``source`` does not exist or holds no scan.
    """
    if not source.exists():
        raise DataError(
            str(source), "does not exist; give a scan file, a DICOM folder or DICOMDIR, or a folder of scans"
        )
    images = (*NIFTI_SUFFIXES, *PICTURE_SUFFIXES)
    if source.is_file() and source.name.lower().endswith(images):
        return [source], []
    files = (
        [source]
        if source.is_file()
        else sorted(path for path in source.rglob("*") if path.is_file() and not path.name.startswith("."))
    )
    found: list[ImageSource] = [path for path in files if path.name.lower().endswith(images)]
    series, skipped = find_series(source, [path for path in files if not path.name.lower().endswith(images)])
    if not found and not series:
        why = f"; {skipped[0].source} {skipped[0].reason}" if skipped else ""
        raise DataError(str(source), f"holds no scans ({', '.join(images)} files or DICOM images){why}")
    return [*found, *series], skipped


def read_scan(
    path: ImageSource,
    channels: int,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    spacing: list[float] | None = None,
) -> Scan:
    """Read ``path`` as training reads files, with the geometry its results need.

    Args:
        path: a scan file, a DICOM series folder, or a series :func:`scan_sources` found.
        channels: the channels the model takes.
        max_bytes: the most pixel bytes the file may declare.
        spacing: the voxel size in millimetres the run's volumes were resampled to, or ``None``.
    """
    pixels = read_image(path, channels, None, max_bytes)
    stored = tuple(pixels.shape[1:])
    if path.name.lower().endswith(PICTURE_SUFFIXES) and not isinstance(path, DicomSeries):
        return Scan(path, pixels, stored_shape=stored)
    affine = read_affine(path)
    nifti = isinstance(path, Path) and path.name.lower().endswith(NIFTI_SUFFIXES)
    header = load_nifti(path).header if nifti and isinstance(path, Path) else None
    if pixels.ndim != 4:
        return Scan(path, pixels, affine, header, stored_shape=stored)
    canonical = canonical_volume(pixels, affine, spacing)
    return Scan(path, canonical.pixels, affine, header, canonical, stored, voxel_spacing(affine))
