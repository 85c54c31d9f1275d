"""The AAPM-Mayo Low Dose CT Grand Challenge, read as distributed: quarter-dose slices paired with full-dose.

The 2016 challenge data (https://www.aapm.org/GrandChallenge/LowDoseCT/; the full set is on TCIA as
"LDCT-and-Projection-data") has one folder per patient (``L067``, ``L096``, ...) holding a DICOM series per
dose and slice thickness: ``full_1mm`` and ``quarter_1mm``, ``full_3mm`` and ``quarter_3mm``, with files
such as ``L067_FD_1_1.CT.0001.0001.<date>.<time>.IMA``. The two doses of a patient come from one scan
(the quarter dose by noise insertion into its projections), so their slices pair by position
(ImagePositionPatient). Every sample's ``image`` is the full-dose slice and its ``input`` the quarter-dose
slice at the same position, both in Hounsfield units through the same window: a real pair for the
denoising application, with no synthetic noise.
"""

from pathlib import Path
from typing import Any, cast

import numpy as np
import pydicom

from medae.data.dicom_reading import slice_position
from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.foreground_mask import head_mask
from medae.data.image_checks import check_finite, check_not_constant
from medae.data.image_reading import ImageSource, read_affine, read_image
from medae.data.orientation import canonical_volume
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

THICKNESSES = (1, 3)
DOSES = ("full", "quarter")
POSITION_DECIMALS = 2  # slices pair when their positions agree to 0.01 mm
# Hounsfield units [-1024, 3072] to [0, 1], as RED-CNN's authors scale this data
FULL_RANGE = [1024.0, 4096.0]


def series_folder(patient: Path, dose: str, thickness: int) -> Path:
    """A patient's series of one dose and slice thickness (``L067/quarter_1mm``)."""
    return patient / f"{dose}_{thickness}mm"


def slice_files(folder: Path) -> dict[float, Path]:
    """Each slice file of a series by its position on the normal of its plane (mm, 2 decimals)."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            header = pydicom.dcmread(path, stop_before_pixels=True)
            found[round(slice_position(header), POSITION_DECIMALS)] = path
    return found


def check_pairs(full: Path, quarter: Path) -> None:
    """Raise a DataError naming the first slice of either dose without a partner at its position."""
    full_slices, quarter_slices = slice_files(full), slice_files(quarter)
    for own, other, name in ((quarter_slices, full_slices, "full"), (full_slices, quarter_slices, "quarter")):
        alone = sorted(set(own) - set(other))
        if alone:
            raise DataError(
                str(own[alone[0]]),
                f"has no {name}-dose slice at position {alone[0]:g} mm; the two doses pair slice by slice "
                "(ImagePositionPatient)",
            )


@DATA_SOURCES.register("ldct", root="???", min_foreground=0.02)
class LowDoseCTDataModule(FileDataModule):
    """Patients of the Low Dose CT Grand Challenge: each quarter-dose slice as input, full-dose as target.

    Args:
        thickness: the slice thickness of the series read, 1 or 3 mm.
        **kwargs: see :class:`FileDataModule` (``root`` is the folder of patient folders). Both doses go
            through one fixed HU window: [-1024, 3072] HU unless ``window`` (``abdomen``) or
            ``window_level_width`` says otherwise.

    Example:
        >>> LowDoseCTDataModule(root="/data/Mayo", thickness=2)
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.thickness: 2 mm is not in the release; allowed: 1, 3
    """

    paired = True

    def __init__(self, thickness: int = 1, **kwargs: Any) -> None:
        if thickness not in THICKNESSES:
            raise ConfigError(
                "data.thickness",
                f"{thickness} mm is not in the release; allowed: {', '.join(map(str, THICKNESSES))}",
            )
        if kwargs.get("noise_std", 0.0) or kwargs.get("noise_std_range"):
            raise ConfigError(
                "data.noise_std", "must be 0 for data=ldct: its inputs are the real quarter-dose slices"
            )
        if kwargs.get("percentiles"):
            raise ConfigError(
                "data.percentiles",
                "would scale each dose on its own; data=ldct scales both through a HU window",
            )
        if kwargs.get("window") is None and kwargs.get("window_level_width") is None:
            kwargs["window_level_width"] = FULL_RANGE
        super().__init__(**kwargs)
        self.thickness = thickness
        self.reading_settings |= {"thickness": thickness}

    def records(self) -> list[ImageRecord]:
        """Every patient folder with a full-dose series of the thickness; a patient is a subject."""
        if not self.root.is_dir():
            raise DataError(str(self.root), "is not a folder; give the folder of the patient folders")
        patients = sorted(
            folder.parent for folder in self.root.glob(f"*/full_{self.thickness}mm") if folder.is_dir()
        )
        if not patients:
            raise DataError(
                str(self.root),
                f"has no patient folder with a full_{self.thickness}mm series "
                f"(e.g. L067/full_{self.thickness}mm)",
            )
        return [ImageRecord(patient, patient.name) for patient in patients]

    def series(self, patient: Path, dose: str) -> Path:
        """A patient's series folder of one dose at the thickness; a DataError naming it when missing."""
        folder = series_folder(patient, dose, self.thickness)
        if not folder.is_dir():
            raise DataError(str(folder), f"is missing; every patient needs its {dose}-dose series")
        return folder

    def read_dose(self, folder: Path) -> tuple[np.ndarray, np.ndarray]:
        """One dose's series in RAS (resampled to ``spacing``), in Hounsfield units, and its affine."""
        volume = read_image(folder, 1, None, self.max_image_bytes)
        check_finite(volume, str(folder))
        check_not_constant(volume, str(folder))
        oriented = canonical_volume(volume, read_affine(folder), self.spacing)
        return oriented.pixels, oriented.affine

    def load(self, path: ImageSource) -> dict[str, np.ndarray]:
        """A patient's full-dose volume as ``image``, its quarter-dose one as ``input``, its body as ``mask``.

        Raises:
            DataError: a missing series, a slice without its partner, or doses on different grids.
        """
        path = cast(Path, path)  # its records are patient folders, never DICOM series
        full_folder, quarter_folder = (self.series(path, dose) for dose in DOSES)
        check_pairs(full_folder, quarter_folder)
        (full, full_affine), (quarter, quarter_affine) = (
            self.read_dose(f) for f in (full_folder, quarter_folder)
        )
        if full.shape != quarter.shape or not np.allclose(full_affine, quarter_affine, atol=1e-3):
            raise DataError(
                str(quarter_folder),
                f"is {list(quarter.shape[1:])} voxels on another grid than the full dose's "
                f"{list(full.shape[1:])}; the doses of a patient must share their geometry",
            )
        image = np.asarray(self.scale(full), dtype=np.float32)
        noisy = np.asarray(self.scale(quarter), dtype=np.float32)
        return {"image": image, "input": noisy, "mask": head_mask(image)}
