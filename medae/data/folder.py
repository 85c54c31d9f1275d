"""Images found in a folder by glob patterns, with labels and subjects from an optional CSV."""

import csv
from pathlib import Path
from typing import Any

from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.foreground_mask import is_mask_file
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

DEFAULT_PATTERNS = (
    "**/*.png", "**/*.jpg", "**/*.jpeg", "**/*.tif", "**/*.tiff",
    "**/*.nii", "**/*.nii.gz", "**/*.dcm", "**/*.npy",
)  # fmt: skip


def read_label_table(csv_path: Path, root: Path) -> list[ImageRecord]:
    """Records from a CSV with a ``path`` column (relative to ``root``) and optional ``label``, ``subject``.

    Labels may be names or numbers; names are numbered in sorted order.
    """
    if not csv_path.is_file():
        raise DataError(str(csv_path), "label table not found")
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "path" not in rows[0]:
        raise DataError(
            str(csv_path), "needs a header with a 'path' column (and optional 'label', 'subject')"
        )
    labelled = [row.get("label") not in (None, "") for row in rows]
    if any(labelled) and not all(labelled):
        row = labelled.index(False) + 2  # the header is line 1
        raise DataError(
            str(csv_path), f"line {row} has no label while other lines do; label every file or none"
        )
    names = sorted({row["label"] for row in rows if row.get("label") not in (None, "")})
    numeric = all(name.lstrip("-").isdigit() for name in names)
    index = {name: int(name) if numeric else i for i, name in enumerate(names)}
    return [
        ImageRecord(
            path=root / row["path"],
            subject=row.get("subject") or row["path"],
            label=index[row["label"]] if row.get("label") not in (None, "") else None,
        )
        for row in rows
    ]


@DATA_SOURCES.register("folder", root="???")
class FolderDataModule(FileDataModule):
    """Every file under ``root`` that matches ``patterns``; each file is its own subject unless a CSV says.

    Files named as masks (``*_mask``, ``*_brainmask``, ``*_desc-brain_mask``) are not images: they give the
    foreground of the image they sit beside (:mod:`medae.data.foreground_mask`).

    Args:
        patterns: glob patterns relative to ``root`` (PNG, JPEG, TIFF, NIfTI, DICOM and NumPy by default).
        labels_csv: optional CSV (path, label, subject) that lists the files to use instead of the patterns.
        **kwargs: see :class:`FileDataModule`.
    """

    def __init__(
        self, patterns: tuple[str, ...] = DEFAULT_PATTERNS, labels_csv: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not patterns:
            raise ConfigError("data.patterns", "is empty; give glob patterns such as '**/*.png'")
        self.patterns = tuple(patterns)
        self.labels_csv = Path(labels_csv).expanduser() if labels_csv else None

    def records(self) -> list[ImageRecord]:
        """Files matching the patterns (sorted), or the rows of the label table."""
        if not self.root.exists():
            raise DataError(str(self.root), "does not exist")
        if self.labels_csv is not None:
            return read_label_table(self.labels_csv, self.root)
        if self.root.is_file():
            return [ImageRecord(self.root, self.root.name)]
        if not any(self.root.iterdir()):
            raise DataError(str(self.root), "is an empty folder")
        paths = sorted(
            {
                path
                for pattern in self.patterns
                for path in self.root.glob(pattern)
                if path.is_file() and not is_mask_file(path)
            }
        )
        if not paths:
            raise DataError(str(self.root), f"has no file matching {list(self.patterns)}")
        return [ImageRecord(path, str(path.relative_to(self.root))) for path in paths]
