"""BraTS, read as distributed: each patient's co-registered contrasts as channels, the tumour labels beside.

The Brain Tumor Segmentation challenge ships one folder per patient, skull-stripped, co-registered and
resampled to 1 mm (240 x 240 x 155):

- 2021: ``BraTS2021_<id>/BraTS2021_<id>_{t1,t1ce,t2,flair,seg}.nii.gz``; labels 1 (necrotic core),
  2 (oedema), 4 (enhancing tumour);
- 2023: ``BraTS-GLI-<id>-<n>/BraTS-GLI-<id>-<n>-{t1n,t1c,t2w,t2f,seg}.nii.gz`` (other cohorts with their
  own prefix, e.g. ``BraTS-MEN``); labels 1, 2 and 3 (enhancing tumour).

Contrasts are named the 2021 way (``t1``, ``t1ce``, ``t2``, ``flair``) for both releases. Every sample
has the contrasts as channels (each scaled on its own), the brain (non-zero voxels) as its mask, and a
``segmentation`` of the tumour with the 2023 numbering (0 background, 1 necrotic core, 2 oedema,
3 enhancing); a 2D slice is labelled 1 when it holds tumour, so the whole tumour is the anomaly mask of
the anomaly application (``application.synthetic_lesions=false``).
"""

import re
from pathlib import Path
from typing import Any, cast

import numpy as np
from monai.transforms import Compose, EnsureTyped, ResizeD, SpatialPadD

from medae.data.contrast_channels import check_contrasts
from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.image_checks import check_finite, check_not_constant
from medae.data.image_reading import ImageSource, read_affine, read_image
from medae.data.orientation import canonical_volume
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError, DataError

CONTRASTS = ("t1", "t1ce", "t2", "flair")
# each release's folder name, and its file suffix of each contrast and of the labels
RELEASES = {
    "2021": (re.compile(r"^BraTS2021_\d+$"), "_", dict(zip(CONTRASTS, CONTRASTS, strict=True))),
    "2023": (
        re.compile(r"^BraTS-[A-Z]+-\d+-\d+$"),
        "-",
        {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"},
    ),
}
TRAIN_SLICES = ("healthy", "all")
MASK_METHOD = "brain: the non-zero voxels of the skull-stripped contrasts"


def release_of(folder: Path) -> str | None:
    """The BraTS release a patient folder's name belongs to, or ``None``.

    Example:
        >>> [release_of(Path(name)) for name in ("BraTS2021_00495", "BraTS-GLI-00000-000", "x")]
        ['2021', '2023', None]
    """
    return next((name for name, (pattern, _, _) in RELEASES.items() if pattern.match(folder.name)), None)


def patient_of(folder: Path) -> str:
    """The patient of a folder: its name, less the 2023 release's time point (``-000``, ``-001``).

    The scans of one patient so share a split.

    Example:
        >>> patient_of(Path("BraTS-GLI-00006-001")), patient_of(Path("BraTS2021_00495"))
        ('BraTS-GLI-00006', 'BraTS2021_00495')
    """
    return folder.name.rsplit("-", 1)[0] if release_of(folder) == "2023" else folder.name


def patient_file(folder: Path, part: str) -> Path:
    """The file of ``part`` (a contrast, as the 2021 release names it, or ``seg``) in a patient folder.

    Example:
        >>> patient_file(Path("BraTS-GLI-00000-000"), "flair").name
        'BraTS-GLI-00000-000-t2f.nii.gz'
    """
    release = release_of(folder)
    if release is None:
        raise DataError(
            str(folder), f"is not named as a BraTS patient folder of release {' or '.join(RELEASES)}"
        )
    _, separator, suffixes = RELEASES[release]
    return folder / f"{folder.name}{separator}{suffixes.get(part, part)}.nii.gz"


def tumour_classes(labels: np.ndarray) -> np.ndarray:
    """BraTS labels in the 2023 numbering: the 2021 release's enhancing tumour (4) becomes 3."""
    return np.where(labels == 4, 3, labels).astype(np.int64)


@DATA_SOURCES.register("brats", root="???", channels=4, percentiles=[0.5, 99.5], min_foreground=0.1)
class BraTSDataModule(FileDataModule):
    """BraTS 2021 or 2023 patients: contrasts as channels, tumour labels as ``segmentation``.

    The tumour is the anomaly the anomaly application scores (``segmentation_marks_anomalies``).

    Args:
        contrasts: which contrasts, in channel order (``data.channels`` must count them).
        train_slices: ``healthy``: training (2D) keeps only slices without tumour, as autoencoders for
            anomaly detection train; ``all``: every slice. Validation and test keep every slice.
        **kwargs: see :class:`FileDataModule` (``root`` is the folder of patient folders).

    Example:
        >>> BraTSDataModule(root="/data/BraTS2021", contrasts=("t1", "dwi"))
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.contrasts: unknown 'dwi'; allowed: t1, t1ce, t2, flair
    """

    segmentation_marks_anomalies = True

    def __init__(
        self, contrasts: tuple[str, ...] = CONTRASTS, train_slices: str = "healthy", **kwargs: Any
    ) -> None:
        contrasts = check_contrasts(contrasts, CONTRASTS, kwargs)
        if train_slices not in TRAIN_SLICES:
            raise ConfigError(
                "data.train_slices", f"unknown '{train_slices}'; allowed: {', '.join(TRAIN_SLICES)}"
            )
        if train_slices == "healthy" and kwargs.get("spatial_dims", 2) == 3:
            raise ConfigError(
                "data.train_slices",
                "healthy keeps tumour-free 2D slices; with data.spatial_dims=3 set it to all",
            )
        super().__init__(**kwargs)
        self.use_contrasts(contrasts)
        self.train_slices = train_slices
        self.tumour_slices: dict[str, set[int]] = {}

    def records(self) -> list[ImageRecord]:
        """Every patient folder of either release under ``root``, sorted; a patient is a subject."""
        if not self.root.is_dir():
            raise DataError(str(self.root), "is not a folder; give the folder of the BraTS patient folders")
        folders = sorted(path for path in self.root.rglob("BraTS*") if path.is_dir() and release_of(path))
        if not folders:
            raise DataError(
                str(self.root), "has no BraTS patient folder (BraTS2021_<id> or BraTS-GLI-<id>-<n>)"
            )
        return [ImageRecord(folder, patient_of(folder)) for folder in folders]

    def read_part(self, folder: Path, part: str, mode: str = "bilinear") -> np.ndarray:
        """One file of a patient, checked, in RAS (and resampled to ``spacing``)."""
        path = patient_file(folder, part)
        if not path.is_file():
            raise DataError(str(path), f"is missing; every patient folder needs its {part} file")
        volume = read_image(path, 1, None, self.max_image_bytes)
        check_finite(volume, str(path))
        if volume.ndim != 4:
            raise DataError(str(path), f"is {volume.ndim - 1}D; BraTS files are 3D volumes")
        return canonical_volume(volume, read_affine(path), self.spacing, mode).pixels

    def load(self, path: ImageSource) -> dict[str, np.ndarray]:
        """A patient's contrasts as channels (each scaled on its own), brain mask and tumour labels."""
        path = cast(Path, path)  # its records are patient folders, never DICOM series
        channels = [self.read_part(path, contrast) for contrast in self.contrasts]
        labels = self.read_part(path, "seg", mode="nearest")
        for contrast, channel in zip(self.contrasts, channels, strict=True):
            if channel.shape != labels.shape:
                raise DataError(
                    str(patient_file(path, contrast)),
                    f"is {list(channel.shape[1:])} voxels where the labels are {list(labels.shape[1:])}; "
                    "the contrasts of a patient must be co-registered",
                )
            check_not_constant(channel, str(patient_file(path, contrast)))
        raw = np.concatenate(channels)
        scaled = np.concatenate([np.asarray(self.scale(channel), dtype=np.float32) for channel in channels])
        segmentation = tumour_classes(np.rint(labels))
        if self.spatial_dims == 2:
            stack = np.moveaxis(segmentation[0] > 0, self.axis, 0)
            self.tumour_slices[str(path)] = {int(index) for index in np.flatnonzero(stack.any(axis=(1, 2)))}
        return {"image": scaled, "mask": (raw != 0).any(axis=0, keepdims=True), "segmentation": segmentation}

    def describe_masks(self, records: list[ImageRecord]) -> str:
        """Every BraTS sample is scored on its brain."""
        return MASK_METHOD

    def _item(self, record: ImageRecord, index: int | None, sample: Any) -> dict[str, Any]:
        """The sample with label 1 when its slice holds tumour (2D)."""
        item = super()._item(record, index, sample)
        if index is None:
            return item
        return item | {"label": int(index in self.tumour_slices[str(record.path)])}

    def load_splits(self) -> dict[str, list[dict[str, Any]]]:
        """Split by patient; with ``train_slices: healthy`` the training split keeps tumour-free slices."""
        splits = super().load_splits()
        if self.train_slices == "healthy":
            splits["train"] = [item for item in splits["train"] if item.get("label") == 0]
        return splits

    def preprocessing(self) -> Compose:
        """The base resizing and padding, and the tumour labels resized by nearest neighbour.

        At full resolution, the labels keep their grid as the images do.
        """
        size = [self.image_size] * self.spatial_dims
        resizing = [
            ResizeD("segmentation", spatial_size=self.image_size, size_mode="longest", mode="nearest"),
            SpatialPadD("segmentation", spatial_size=size, value=0),
        ]
        return Compose(
            [
                *super().preprocessing().transforms,
                *([] if self.full_resolution else resizing),
                EnsureTyped("segmentation", dtype=np.int64, track_meta=False),
            ]
        )
