"""Any BIDS dataset: the images of one suffix, grouped by the ``sub-`` entity, labels from participants.tsv.

The Brain Imaging Data Structure (https://bids.neuroimaging.io) names every file by its entities
(``sub-01/ses-1/anat/sub-01_ses-1_run-2_T1w.nii.gz``); pybids, the BIDS community's own library, indexes
them, so sessions, runs, acquisitions and the other entities filter as the specification defines them.
Derivatives are not indexed.
"""

import csv
from pathlib import Path
from typing import Any

from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

EXTENSIONS = (".nii", ".nii.gz")
PARTICIPANTS = "participants.tsv"


def participant_labels(table: Path, column: str) -> dict[str, int]:
    """Each participant's label from ``column`` of participants.tsv.

    Numbers stay as they are, names are numbered in sorted order; participants without a value
    (empty or ``n/a``) are left out: ``group`` with ``control`` and ``patient`` gives 0 and 1.
    """
    if not table.is_file():
        raise DataError(str(table), f"not found; data.label_column={column} needs the participants table")
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or "participant_id" not in rows[0] or column not in rows[0]:
        found = ", ".join(rows[0]) if rows else "nothing"
        raise DataError(str(table), f"needs the columns participant_id and {column}; found {found}")
    given = {row["participant_id"]: row[column] for row in rows if row[column] not in ("", "n/a")}
    names = sorted(set(given.values()))
    numeric = all(name.lstrip("-").isdigit() for name in names)
    index = {name: int(name) if numeric else position for position, name in enumerate(names)}
    return {participant: index[value] for participant, value in given.items()}


@DATA_SOURCES.register("bids", root="???", percentiles=[0.5, 99.5])
class BIDSDataModule(FileDataModule):
    """The NIfTI images of one suffix in a BIDS dataset, each subject's sessions and runs kept together.

    Args:
        suffix: the image suffix, e.g. ``T1w``, ``T2w``, ``FLAIR``, ``PDw``.
        datatype: the data type folder (``anat``).
        filters: further BIDS entities the files must have, e.g. ``{session: "1", run: 1}``.
        label_column: a column of ``participants.tsv`` whose values become labels (names numbered in
            sorted order); ``None``: unlabelled.
        **kwargs: see :class:`FileDataModule` (``root`` is the dataset's folder).

    Example:
        >>> BIDSDataModule(root="/data/ds000001", suffix="")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.suffix: is empty; name the images' BIDS suffix, e.g. T1w
    """

    def __init__(
        self,
        suffix: str = "T1w",
        datatype: str = "anat",
        filters: dict[str, Any] | None = None,
        label_column: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not suffix:
            raise ConfigError("data.suffix", "is empty; name the images' BIDS suffix, e.g. T1w")
        super().__init__(**kwargs)
        self.suffix = suffix
        self.datatype = datatype
        self.filters = dict(filters or {})
        self.label_column = label_column

    def records(self) -> list[ImageRecord]:
        """Every matching image, sorted by path, with its ``sub-`` subject and its participant's label."""
        from bids import BIDSLayout

        if not (self.root / "dataset_description.json").is_file():
            raise DataError(
                str(self.root), "has no dataset_description.json, so it is not the root of a BIDS dataset"
            )
        layout = BIDSLayout(self.root, validate=False)
        query = {"suffix": self.suffix, "datatype": self.datatype, "extension": list(EXTENSIONS)}
        entities = sorted(layout.get_entities())
        unknown = [key for key in self.filters if key not in entities]
        if unknown:
            raise ConfigError(
                "data.filters", f"'{unknown[0]}' is not a BIDS entity; allowed: {', '.join(entities)}"
            )
        files = layout.get(**query, **self.filters, return_type="object")
        if not files:
            wanted = ", ".join(f"{key}={value}" for key, value in {**query, **self.filters}.items())
            raise DataError(str(self.root), f"has no image with {wanted}")
        labels = (
            participant_labels(self.root / PARTICIPANTS, self.label_column) if self.label_column else None
        )
        records = []
        for file in sorted(files, key=lambda found: found.path):
            subject = f"sub-{file.get_entities()['subject']}"
            if labels is not None and subject not in labels:
                raise DataError(
                    str(self.root / PARTICIPANTS),
                    f"has no {self.label_column} for {subject}, whose image is {file.path}",
                )
            records.append(ImageRecord(Path(file.path), subject, None if labels is None else labels[subject]))
        return records
