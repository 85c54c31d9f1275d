"""DICOM: single files, multi-frame files, or the series an archive holds; subjects from PatientID."""

import logging
from typing import Any

import pydicom

from medae.data.dicom_series import DICOMDIR, DicomSeries, find_series
from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.image_reading import DICOM_SUFFIXES, ImageSource
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

log = logging.getLogger(__name__)
LAYOUTS = ("files", "series")


def patient_id(path: ImageSource) -> str | None:
    """The PatientID of a DICOM file (or of the first file of a series), read without pixels."""
    first = path.files[0] if isinstance(path, DicomSeries) else path
    if first is None:
        return None
    try:
        return str(pydicom.dcmread(first, stop_before_pixels=True).get("PatientID", "")) or None
    except Exception:
        return None  # an unreadable file is reported when it is loaded


@DATA_SOURCES.register("dicom", root="???")
class DicomDataModule(FileDataModule):
    """DICOM images in HU (CT) or modality units: every file, or every series folder, under ``root``.

    ``layout: files``: each ``*.dcm`` file under ``root`` is one image (2D, or a multi-frame volume).
    ``layout: series``: the DICOM files under ``root`` (whatever their names; DICOMDIRs followed) split into
    series as an archive holds them (:func:`medae.data.dicom_series.find_series`): a volume per series of
    slices and per multi-frame file, a 2D image per file without position. Files that give no image are
    logged, one line each. Samples of one PatientID always land in the same split.

    Args:
        layout: ``files`` or ``series``.
        axis: the slices volumes are cut into. A series is brought to RAS from its slice geometry, so
            ``axial`` gives axial slices whatever the acquisition plane; a multi-frame file has no geometry
            and its frames are taken as axial slices.
        **kwargs: see :class:`FileDataModule`.
    """

    def __init__(self, layout: str = "files", axis: str | int = "axial", **kwargs: Any) -> None:
        super().__init__(axis=axis, **kwargs)
        if layout not in LAYOUTS:
            raise ConfigError("data.layout", f"unknown '{layout}'; allowed: {', '.join(LAYOUTS)}")
        self.layout = layout

    def records(self) -> list[ImageRecord]:
        """The files or series folders, with PatientID (or the path) as subject."""
        if not self.root.exists():
            raise DataError(str(self.root), "does not exist")
        paths: list[ImageSource]
        if self.root.is_file() and self.root.name != DICOMDIR:
            paths = [self.root]
        elif self.layout == "files":
            paths = [
                *sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in DICOM_SUFFIXES)
            ]
        else:
            series, skipped = find_series(self.root)
            for skip in skipped:
                log.warning("%s: skipped: %s", skip.source, skip.reason)
            paths = list(series)
        if not paths:
            what = "no *.dcm file" if self.layout == "files" else "no DICOM image"
            raise DataError(str(self.root), f"has {what}")
        return [ImageRecord(path, patient_id(path) or str(path)) for path in paths]
