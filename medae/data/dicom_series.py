"""Split DICOM files as archives hold them (folders searched recursively, DICOMDIRs) into series to read.

A scanner export mixes series: a CT, an MR, an ultrasound image and a multi-frame file can share one
folder, and one SeriesInstanceUID can hold slices of two orientations or sizes. Files are grouped by
SeriesInstanceUID, then by geometry within a series:

- ``slices``: single-frame files with ImagePositionPatient and ImageOrientationPatient, one orientation and
  one size: a volume, ordered by position on the plane's normal;
- ``multiframe``: one enhanced or legacy multi-frame file: a volume;
- ``image``: a file without a position (ultrasound, CR/DX, secondary capture), or a series of one slice: a
  2D image.

Only headers are read here. A file that cannot be used (no pixel data, an unreadable header, two slices at
one position) is returned as :class:`Skipped`, with why, so that a summary can list every file's outcome.
"""

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileSet
from pydicom.misc import is_dicom

from medae.data.dicom_reading import slice_position
from medae.errors import DataError

DICOMDIR = "DICOMDIR"
SeriesKind = Literal["slices", "multiframe", "image"]
# decimals of ImageOrientationPatient that tell two orientations apart (cosines; 1e-3 is about 0.06 degrees)
ORIENTATION_DECIMALS = 3


@dataclass(frozen=True)
class DicomSeries:
    """The files of one DICOM series (or of one image or multi-frame file of it) and how to read them.

    Attributes:
        files: the files; for ``slices``, in position order on the plane's normal.
        kind: ``slices`` (a volume of single-frame files), ``multiframe`` (a volume in one file) or
            ``image`` (one 2D image).
        uid: the SeriesInstanceUID (the file's path when it has none).
        name: a file-system safe name, unique among the series of one search (results are named after it).
        label: what a person reads: where the files are, the series number, modality and description.

    Example:
        >>> series = DicomSeries((Path("a/1.dcm"),), "image", "1.2.3", "a_S2_US", "a (series 2, US)")
        >>> str(series), series.name
        ('a (series 2, US)', 'a_S2_US')
    """

    files: tuple[Path, ...]
    kind: SeriesKind
    uid: str
    name: str
    label: str

    def __str__(self) -> str:
        return self.label

    @property
    def location(self) -> Path:
        """Where the series lies, its masks beside it: the folder of its slices, or its one file."""
        return self.files[0].parent if self.kind == "slices" else self.files[0]


@dataclass(frozen=True)
class Skipped:
    """A file (or a series) that gives no image, and why."""

    source: str
    reason: str


@dataclass
class _Header:
    path: Path
    dataset: pydicom.Dataset


def read_header(path: Path, sniff: bool) -> pydicom.Dataset | Skipped | None:
    """The header of ``path`` without pixels; None when ``sniff`` and it is not a DICOM file.

    With ``sniff`` (a file found in a folder, whatever its name) only files with DICOM's preamble count;
    otherwise (a file named ``.dcm``, or one a DICOMDIR references) a header without preamble is read too.
    """
    if sniff and not is_dicom(path):
        return None
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=not sniff)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as error:
        return Skipped(str(path), f"is not a readable DICOM file ({type(error).__name__}: {error})")
    meta = getattr(dataset, "file_meta", {})
    if "SOPClassUID" not in dataset and "Rows" not in dataset and "MediaStorageSOPClassUID" not in meta:
        return Skipped(str(path), "is not a readable DICOM file (no DICOM header in it)")
    return dataset


def dicomdir_files(path: Path) -> list[Path]:
    """The image files a DICOMDIR references, each checked to lie in the DICOMDIR's folder.

    Raises:
        DataError: the DICOMDIR cannot be read, or references a file outside its folder.
    """
    try:
        file_set = FileSet(pydicom.dcmread(path))
    except Exception as error:
        raise DataError(str(path), f"is not a readable DICOMDIR ({type(error).__name__}: {error})") from error
    root = path.parent.resolve()
    files = []
    for instance in file_set:
        referenced = Path(instance.path).resolve()
        if not referenced.is_relative_to(root):
            raise DataError(str(path), f"references {referenced}, outside its folder {root}")
        files.append(referenced)
    return files


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def _geometry(dataset: pydicom.Dataset) -> tuple:
    """What must agree within a volume: position present, orientation, rows, columns, frames."""
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        return ("multiframe",)
    if "ImagePositionPatient" not in dataset or "ImageOrientationPatient" not in dataset:
        return ("image",)
    orientation = tuple(round(float(v), ORIENTATION_DECIMALS) for v in dataset.ImageOrientationPatient)
    return ("slices", orientation, int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0)))


class _Namer:
    """Names unique within one search: a second ``x`` becomes ``x-2``."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        count = self.used.get(name, 0) + 1
        self.used[name] = count
        return name if count == 1 else f"{name}-{count}"


def _describe(dataset: pydicom.Dataset) -> tuple[str, str]:
    """Short name part and label part: series number, modality, description."""
    number = str(dataset.get("SeriesNumber", "") or "").strip()
    modality = str(dataset.get("Modality", "") or "").strip() or "OT"
    description = str(dataset.get("SeriesDescription", "") or "").strip()
    name = "_".join(part for part in (f"S{number}" if number else "", modality) if part)
    parts = (f"series {number}" if number else "", modality, repr(description) if description else "")
    label = ", ".join(part for part in parts if part)
    return name, label


def group_series(
    headers: Iterable[tuple[Path, pydicom.Dataset]], root: Path
) -> tuple[list[DicomSeries], list[Skipped]]:
    """Group read headers into series (see the module docstring); names relative to ``root``."""
    by_series: dict[tuple, list[_Header]] = defaultdict(list)
    skipped: list[Skipped] = []
    for path, dataset in headers:
        if "Rows" not in dataset or "Columns" not in dataset:
            sop = dataset.get("SOPClassUID") or dataset.file_meta.get("MediaStorageSOPClassUID")
            what = getattr(sop, "name", None) or "unknown SOP class"
            skipped.append(Skipped(str(path), f"declares no image size (Rows, Columns): {what}"))
            continue
        uid = str(dataset.get("SeriesInstanceUID", "") or "") or str(path)
        by_series[(uid, _geometry(dataset))].append(_Header(path, dataset))
    parts_of_uid: dict[str, int] = defaultdict(int)
    for uid, _ in by_series:
        parts_of_uid[uid] += 1
    # (files, kind, uid, base name, series name part, label); names are settled once all are known
    pending: list[tuple[tuple[Path, ...], SeriesKind, str, str, str, str]] = []
    for (uid, geometry), members in sorted(by_series.items(), key=lambda item: str(item[1][0].path)):
        folder = members[0].path.parent
        where = _safe(str(folder.relative_to(root))) if folder != root and folder.is_relative_to(root) else ""
        short, described = _describe(members[0].dataset)
        split = " (one geometry of several)" if parts_of_uid[uid] > 1 else ""
        if geometry[0] == "slices" and len(members) > 1:
            members.sort(key=lambda header: slice_position(header.dataset))
            positions = {round(slice_position(header.dataset), 4) for header in members}
            if len(positions) < len(members):
                skipped.append(
                    Skipped(
                        f"{folder} ({described})",
                        f"has {len(members)} slices at {len(positions)} positions (echoes, phases or time "
                        "points); put each in a series of its own",
                    )
                )
                continue
            label = f"{folder} ({described}, {len(members)} slices){split}"
            base = where or _safe(root.name)
            pending.append((tuple(h.path for h in members), "slices", uid, base, short, label))
            continue
        for header in members:  # one image or one multi-frame volume per file
            kind: SeriesKind = "multiframe" if geometry[0] == "multiframe" else "image"
            base = "_".join(part for part in (where, _safe(header.path.stem)) if part)
            pending.append(((header.path,), kind, uid, base, short, f"{header.path} ({described})"))
    bases = Counter(base for _, _, _, base, _, _ in pending)
    namer = _Namer()
    found = [
        DicomSeries(files, kind, uid, namer(f"{base}_{short}" if bases[base] > 1 and short else base), label)
        for files, kind, uid, base, short, label in pending
    ]
    return found, skipped


def find_series(source: Path, files: Iterable[Path] | None = None) -> tuple[list[DicomSeries], list[Skipped]]:
    """The DICOM series under ``source``, and the files that give no image.

    Args:
        source: a folder (searched recursively: files with DICOM's preamble, whatever their names, and
            DICOMDIRs, whose referenced files are read), a DICOMDIR, or one DICOM file.
        files: the candidate files, when the caller has listed them (default: every file under
            ``source``, hidden ones left out).

    Raises:
        DataError: ``source`` does not exist, or a DICOMDIR cannot be read or points outside its folder.
    """
    if not source.exists():
        raise DataError(str(source), "does not exist")
    root = source if source.is_dir() else source.parent
    if files is None:
        files = (
            [source]
            if source.is_file()
            else sorted(
                path for path in source.rglob("*") if path.is_file() and not path.name.startswith(".")
            )
        )
    headers: list[tuple[Path, pydicom.Dataset]] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    candidates = list(files)
    referenced = [file for found in candidates if found.name == DICOMDIR for file in dicomdir_files(found)]
    by_reference = set(referenced)
    for path in [*referenced, *candidates]:  # a referenced file may lack the preamble a search looks for
        resolved = path.resolve()
        if resolved in seen or path.name == DICOMDIR:
            continue
        seen.add(resolved)
        named = path.suffix.lower() in (".dcm", ".dicom") or path == source or resolved in by_reference
        header = read_header(path, sniff=not named)
        if isinstance(header, Skipped):
            skipped.append(header)
        elif header is not None:
            headers.append((path, header))
    series, unusable = group_series(headers, root)
    return series, skipped + unusable
