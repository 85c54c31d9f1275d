"""DICOM: single files, multi-frame files, or folders of series; subjects from PatientID."""

from pathlib import Path
from typing import Any

import pydicom

from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.image_reading import DICOM_SUFFIXES
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

LAYOUTS = ("files", "series")


def patient_id(path: Path) -> str | None:
    """The PatientID of a DICOM file (or of the first file of a series folder), read without pixels."""
    first = path if path.is_file() else next((p for p in sorted(path.iterdir()) if p.is_file()), None)
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
    ``layout: series``: each folder under ``root`` that holds files is one volume, its slices ordered by
    position. Samples of one PatientID always land in the same split.

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
        if self.root.is_file():
            paths = [self.root]
        elif self.layout == "files":
            paths = sorted(
                p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in DICOM_SUFFIXES
            )
        else:
            paths = sorted({p.parent for p in self.root.rglob("*") if p.is_file()})
        if not paths:
            what = "no *.dcm file" if self.layout == "files" else "no folder with DICOM files"
            raise DataError(str(self.root), f"has {what}")
        return [ImageRecord(path, patient_id(path) or str(path)) for path in paths]
