"""Any BIDS dataset: images of one or more suffixes, by the ``sub-`` entity, labels from participants.tsv.

The Brain Imaging Data Structure (https://bids.neuroimaging.io) names every file by its entities
(``sub-01/ses-1/anat/sub-01_ses-1_run-2_T1w.nii.gz``); pybids, the BIDS community's own library, indexes
them, so sessions, runs, acquisitions and the other entities filter as the specification defines them.
Derivatives are not indexed. Several suffixes (``data.contrasts=[T1w,T2w]``) become the channels of one
sample: each image of the first suffix is paired with the image of every other suffix that has the same
entities, or else the one image of that suffix in the same subject and session.
"""

import csv
import logging
from pathlib import Path
from typing import Any

from medae.data.contrast_channels import check_contrasts
from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

log = logging.getLogger(__name__)
EXTENSIONS = (".nii", ".nii.gz")
PARTICIPANTS = "participants.tsv"
# entities that name what a file is, not where it belongs: left out when files of a subject are paired
KIND_ENTITIES = ("suffix", "extension", "datatype")


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
    """The NIfTI images of one or more suffixes in a BIDS dataset, each subject's sessions and runs together.

    Args:
        contrasts: image suffixes, in channel order (``data.channels`` counts them), e.g. ``[T1w]`` or
            ``[T1w, T2w, FLAIR]``; an image of the first without a partner of every other is left out,
            in one logged line. Partners on another grid are resampled onto the first's through the
            scanner coordinates (:mod:`medae.data.contrast_channels`).
        datatype: the data type folder (``anat``).
        filters: further BIDS entities the files must have, e.g. ``{session: "1", run: 1}``.
        label_column: a column of ``participants.tsv`` whose values become labels (names numbered in
            sorted order); ``None``: unlabelled.
        **kwargs: see :class:`FileDataModule` (``root`` is the dataset's folder).

    Example:
        >>> BIDSDataModule(root="/data/ds000001", contrasts=[])
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.contrasts: is empty; name at least one contrast
    """

    def __init__(
        self,
        contrasts: tuple[str, ...] = ("T1w",),
        datatype: str = "anat",
        filters: dict[str, Any] | None = None,
        label_column: str | None = None,
        **kwargs: Any,
    ) -> None:
        contrasts = check_contrasts(contrasts, None, kwargs)
        super().__init__(**kwargs)
        self.use_contrasts(contrasts)
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
        query = {"suffix": list(self.contrasts), "datatype": self.datatype, "extension": list(EXTENSIONS)}
        entities = sorted(layout.get_entities())
        unknown = [key for key in self.filters if key not in entities]
        if unknown:
            raise ConfigError(
                "data.filters", f"'{unknown[0]}' is not a BIDS entity; allowed: {', '.join(entities)}"
            )
        files = layout.get(**query, **self.filters, return_type="object")
        first = sorted((found for found in files if found.entities["suffix"] == self.contrasts[0]), key=str)
        if not first:
            wanted = {**query, "suffix": self.contrasts[0], **self.filters}
            listed = ", ".join(f"{key}={value}" for key, value in wanted.items())
            raise DataError(str(self.root), f"has no image with {listed}")
        labels = (
            participant_labels(self.root / PARTICIPANTS, self.label_column) if self.label_column else None
        )
        records, unpaired = [], []
        for file in first:
            subject = f"sub-{file.get_entities()['subject']}"
            if labels is not None and subject not in labels:
                raise DataError(
                    str(self.root / PARTICIPANTS),
                    f"has no {self.label_column} for {subject}, whose image is {file.path}",
                )
            found = {suffix: partner(file, files, suffix) for suffix in self.contrasts[1:]}
            partners = {suffix: path for suffix, path in found.items() if path is not None}
            if len(partners) < len(found):
                unpaired.append(Path(file.path).name)
                continue
            path = Path(file.path)
            if partners:
                self.contrast_files[str(path)] = {self.contrasts[0]: path, **partners}
            records.append(ImageRecord(path, subject, None if labels is None else labels[subject]))
        if unpaired:
            log.warning(
                "BIDS: %d image(s) lack a partner of %s and are left out: %s",
                len(unpaired), ", ".join(self.contrasts[1:]), ", ".join(unpaired),
            )  # fmt: skip
        if not records:
            others = " and ".join(self.contrasts[1:])
            raise DataError(str(self.root), f"has no {self.contrasts[0]} image with a {others} beside it")
        return records


def partner(file: Any, files: list[Any], suffix: str) -> Path | None:
    """The image of ``suffix`` going with ``file``: same entities, else the one of its subject and session.

    Raises:
        DataError: when the subject and session hold several images of ``suffix`` and none has
            ``file``'s entities (say which with ``data.filters``).
    """
    place = entities_of(file)
    candidates = [found for found in files if found.entities["suffix"] == suffix]
    same = [found for found in candidates if entities_of(found) == place]
    if same:
        return Path(same[0].path)
    session = {key: place.get(key) for key in ("subject", "session")}
    nearby = [found for found in candidates if {key: found.entities.get(key) for key in session} == session]
    if len(nearby) > 1:
        names = ", ".join(sorted(Path(found.path).name for found in nearby))
        raise DataError(
            str(file.path), f"could go with any of {names}; narrow them with data.filters (run, acquisition)"
        )
    return Path(nearby[0].path) if nearby else None


def entities_of(file: Any) -> dict[str, Any]:
    """A file's entities less those that name what it is."""
    return {key: value for key, value in file.entities.items() if key not in KIND_ENTITIES}
