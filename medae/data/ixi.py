"""IXI, read as distributed: ``IXI<id>-<site>-<n>-<contrast>.nii.gz`` files, split by subject or by site.

IXI (https://brain-development.org/ixi-dataset/, CC BY-SA 3.0) has nearly 600 healthy subjects scanned
at three London hospitals: Guy's (``Guys``, Philips 1.5T), Hammersmith (``HH``, Philips 3T) and the
Institute of Psychiatry (``IOP``, GE 1.5T). Each contrast ships as its own archive (``IXI-T1.tar``,
``IXI-T2.tar``, ``IXI-PD.tar``, ``IXI-MRA.tar``) of files such as ``IXI002-Guys-0828-T1.nii.gz``; unpack
them into one folder (or a folder each) under ``data.root``, names unchanged. Several contrasts of a
subject (``data.contrasts=[T2,PD]``, the dual-echo pair on one grid) become the channels of its samples.
"""

import logging
import re
from pathlib import Path
from typing import Any

from medae.data.contrast_channels import check_contrasts
from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.registry import DATA_SOURCES
from medae.data.subject_split import split_subjects
from medae.errors import ConfigError, DataError

CONTRASTS = ("T1", "T2", "PD", "MRA")
SITES = ("Guys", "HH", "IOP")
log = logging.getLogger(__name__)
FILE_NAME = re.compile(
    r"^IXI(?P<id>\d{3})-(?P<site>[A-Za-z]+)-(?P<n>\d{4})-(?P<contrast>[A-Za-z0-9]+)\.nii(\.gz)?$"
)


def parse_name(path: Path) -> dict[str, str] | None:
    """The subject, site and contrast an IXI file name gives, or ``None`` for a file not named that way.

    Example:
        >>> parse_name(Path("IXI-T1/IXI002-Guys-0828-T1.nii.gz"))
        {'subject': 'IXI002', 'site': 'Guys', 'contrast': 'T1'}
        >>> parse_name(Path("IXI.xls")) is None
        True
    """
    found = FILE_NAME.match(path.name)
    if found is None:
        return None
    return {"subject": f"IXI{found['id']}", "site": found["site"], "contrast": found["contrast"]}


@DATA_SOURCES.register("ixi", root="???", percentiles=[0.5, 99.5])
class IXIDataModule(FileDataModule):
    """IXI contrasts as channels, one volume per subject, cut into slices (or whole volumes in 3D).

    Volumes are read in RAS with their spacing like every NIfTI file (:class:`FileDataModule`), so the
    axis a config names is the anatomical one whatever the orientation a file was stored in. With several
    contrasts the first is the reference grid: T2 and PD share one (a dual-echo acquisition); T1 and MRA
    are resampled onto it through the scanner coordinates, not registered
    (:mod:`medae.data.contrast_channels`). Subjects without every contrast are left out, in one logged
    line. IXI has no brain masks; the head mask scores the foreground. Splits go by subject; with
    ``test_sites``, the subjects of those sites form the test split and the rest are split into train and
    val, a cross-site test of a model trained on the other scanners.

    Args:
        contrasts: of ``T1``, ``T2``, ``PD``, ``MRA``, in channel order (``data.channels`` counts them);
            files of the other contrasts are left alone.
        sites: the sites to read (all three by default).
        test_sites: sites whose subjects are only tested on; empty: every site in every split.
        **kwargs: see :class:`FileDataModule` (``root`` is the folder of the unpacked archives).

    Example:
        >>> IXIDataModule(root="/data/IXI", contrasts=["T3"])
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.contrasts: unknown 'T3'; allowed: T1, T2, PD, MRA
    """

    def __init__(
        self,
        contrasts: tuple[str, ...] = ("T1",),
        sites: tuple[str, ...] = SITES,
        test_sites: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        contrasts = check_contrasts(contrasts, CONTRASTS, kwargs)
        for key, chosen in (("data.sites", sites), ("data.test_sites", test_sites)):
            unknown = [site for site in chosen if site not in SITES]
            if unknown:
                raise ConfigError(key, f"unknown site '{unknown[0]}'; allowed: {', '.join(SITES)}")
        if not sites:
            raise ConfigError("data.sites", f"is empty; name at least one of {', '.join(SITES)}")
        if test_sites and set(sites) <= set(test_sites):
            raise ConfigError(
                "data.test_sites",
                f"{list(test_sites)} leaves no site of data.sites {list(sites)} to train on",
            )
        super().__init__(**kwargs)
        self.use_contrasts(contrasts)
        self.sites = tuple(sites)
        self.test_sites = tuple(test_sites)
        self.site_of: dict[str, str] = {}

    def records(self) -> list[ImageRecord]:
        """One record per subject with every contrast at the chosen sites, sorted; its path: the first's."""
        if not self.root.is_dir():
            raise DataError(str(self.root), "is not a folder; give the folder of the unpacked IXI archives")
        found: dict[str, dict[str, Path]] = {}
        for path in sorted(self.root.rglob("IXI*.nii*")):
            parsed = parse_name(path)
            if parsed is None or parsed["contrast"] not in self.contrasts or parsed["site"] not in self.sites:
                continue
            files = found.setdefault(parsed["subject"], {})
            if parsed["contrast"] in files:
                raise DataError(
                    str(path),
                    f"is a second {parsed['contrast']} file of {parsed['subject']} "
                    f"(the first: {files[parsed['contrast']]})",
                )
            files[parsed["contrast"]] = path
            self.site_of[parsed["subject"]] = parsed["site"]
        complete = {subject: files for subject, files in found.items() if len(files) == len(self.contrasts)}
        if not complete:
            raise DataError(
                str(self.root),
                f"has no subject with IXI {' and '.join(self.contrasts)} files at sites "
                f"{', '.join(self.sites)} (named like IXI002-Guys-0828-{self.contrasts[0]}.nii.gz)",
            )
        lacking = sorted(set(found) - set(complete))
        if lacking:
            log.warning(
                "IXI: %d subject(s) lack one of %s and are left out: %s",
                len(lacking), ", ".join(self.contrasts), ", ".join(lacking),
            )  # fmt: skip
        records = []
        for subject, files in sorted(complete.items()):
            ordered = {contrast: files[contrast] for contrast in self.contrasts}
            self.contrast_files[str(ordered[self.contrasts[0]])] = ordered
            records.append(ImageRecord(ordered[self.contrasts[0]], subject))
        return records

    def assign_subjects(self, records: list[ImageRecord]) -> dict[str, str]:
        """Each subject's split; with ``test_sites``, by site.

        The subjects of the test sites are the test split; the other sites' subjects are split into train
        and val (``val_fraction`` of them).
        """
        if not self.test_sites:
            return super().assign_subjects(records)
        tested = [record.subject for record in records if self.site_of[record.subject] in self.test_sites]
        trained = {record.subject: None for record in records if record.subject not in tested}
        if not tested or len(trained) < 3:
            raise DataError(
                str(self.root),
                f"a cross-site split needs subjects of {', '.join(self.test_sites)} and at least 3 of "
                f"the other sites; found {len(tested)} and {len(trained)}",
            )
        assignment = split_subjects(trained, self.val_fraction, 0.0, self.split_seed)
        return assignment | dict.fromkeys(tested, "test")
