"""Base of data modules that read image files: reading, checks, intensity presets, samples, splits."""

import logging
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import Compose, EnsureTyped, ResizeD, SpatialPadD

from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES
from medae.data.image_checks import check_finite, check_not_constant, check_spatial_dims
from medae.data.image_reading import read_image
from medae.data.intensity import DEFAULT_ZSCORE_CLIP, FOREGROUND_LEVEL, intensity_transform, value_range
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.data.slab_split import DROPPED, SPLITS, slab_assignment
from medae.data.subject_split import split_subjects
from medae.errors import ConfigError, DataError

log = logging.getLogger(__name__)
BAD_FILE_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class ImageRecord:
    """One image file (or DICOM series folder) with the subject it belongs to and its label, if any."""

    path: Path
    subject: str
    label: int | None = None


class FileDataModule(ReconstructionDataModule):
    """Turn image files into training samples.

    Every file is read (MONAI readers; pydicom for DICOM), checked (NaN/inf, constant, dimensions),
    scaled with the intensity preset, and cut into samples: 2D images as they are, 3D volumes into
    slices along ``axis`` (near-empty ones dropped) when ``spatial_dims`` is 2, or whole volumes when
    it is 3. Splits go by subject, stratified by label; a single volume is split by slabs instead.

    Args:
        root: the file or folder the source reads.
        normalization: ``unit`` [0, 1], ``symmetric`` [-1, 1] or ``zscore`` (clipped to +-``zscore_clip``).
        window: CT window name (brain, subdural, lung, mediastinum, abdomen, bone) on Hounsfield units.
        window_level_width: explicit CT window ``[level, width]``.
        percentiles: ``[low, high]`` intensity percentiles to clip to (MRI).
        zscore_clip: bound of z-scored intensities.
        axis: slicing axis of volumes for 2D training.
        min_foreground: slices with a smaller fraction of voxels above 10% of the volume's range are dropped.
        volume_index: which volume of a 4D file to use (``None`` refuses 4D files).
        on_bad_file: ``error`` stops at the first unreadable or invalid file; ``skip`` leaves it out and
            counts it (logged to MLflow).
        num_slabs: slabs per axis when a single volume is split.
        slab_gap: slices dropped between slabs of different splits.
        max_image_bytes: a file whose header declares more pixel bytes is refused before it is
            decompressed (a guard against decompression bombs).
        **kwargs: see :class:`ReconstructionDataModule`.
    """

    def __init__(
        self,
        root: str = "",
        normalization: str = "unit",
        window: str | None = None,
        window_level_width: Sequence[float] | None = None,
        percentiles: Sequence[float] | None = None,
        zscore_clip: float = DEFAULT_ZSCORE_CLIP,
        axis: int = 2,
        min_foreground: float = 0.05,
        volume_index: int | None = None,
        on_bad_file: str = "error",
        num_slabs: int = 8,
        slab_gap: int = 2,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not root:
            raise ConfigError("data.root", "is empty; give the file or folder to read")
        if on_bad_file not in BAD_FILE_POLICIES:
            raise ConfigError(
                "data.on_bad_file", f"unknown '{on_bad_file}'; allowed: {', '.join(BAD_FILE_POLICIES)}"
            )
        if max_image_bytes < 1:
            raise ConfigError("data.max_image_bytes", f"must be >= 1, got {max_image_bytes}")
        if axis not in (0, 1, 2):
            raise ConfigError("data.axis", f"must be 0, 1 or 2, got {axis}")
        if not 0 <= min_foreground < 1:
            raise ConfigError("data.min_foreground", f"must be in [0, 1), got {min_foreground}")
        self.root = Path(root).expanduser()
        self.scale = intensity_transform(normalization, window, window_level_width, percentiles, zscore_clip)
        self.value_range = value_range(normalization, zscore_clip)
        self.axis = axis
        self.min_foreground = min_foreground
        self.volume_index = volume_index
        self.on_bad_file = on_bad_file
        self.num_slabs = num_slabs
        self.slab_gap = slab_gap
        self.max_image_bytes = max_image_bytes

    @abstractmethod
    def records(self) -> list[ImageRecord]:
        """The files of the source, each with its subject and label."""

    def load(self, record: ImageRecord) -> np.ndarray:
        """Read, check and scale one file into ``(C, *spatial)``."""
        source = str(record.path)
        image = read_image(record.path, self.channels, self.volume_index, self.max_image_bytes)
        check_finite(image, source)
        check_not_constant(image, source)
        if image.ndim - 1 not in (2, 3):
            hint = (
                "set data.volume_index to pick one volume"
                if image.ndim == 5
                else "expected a 2D image or 3D volume"
            )
            check_spatial_dims(image, source, 3, hint)
        if self.spatial_dims == 3:
            check_spatial_dims(image, source, 3, "3D training (data.spatial_dims=3) needs volumes")
        return np.asarray(self.scale(image), dtype=np.float32)

    def samples(self, image: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``(slice index, sample)`` pairs: the image itself, or the non-empty slices of a volume."""
        if image.ndim - 1 == self.spatial_dims:
            return [(0, image)]
        low, high = image.min(), image.max()
        threshold = low + FOREGROUND_LEVEL * (high - low)
        stack = np.moveaxis(image, self.axis + 1, 1)
        return [
            (index, stack[:, index])
            for index in range(stack.shape[1])
            if (stack[:, index] > threshold).mean() >= self.min_foreground
        ]

    def load_samples(self, record: ImageRecord) -> list[tuple[int, np.ndarray]] | DataError:
        """The record's samples, or the DataError that its file raised."""
        try:
            return self.samples(self.load(record))
        except DataError as error:
            return error

    def load_splits(self) -> dict[str, list[dict[str, Any]]]:
        """Load every record, cut samples and split by subject (or by slab for a single volume).

        With ``data.num_workers`` above 1, that many threads read the files: decompression and NumPy
        release the GIL, so the threads overlap.
        """
        records = self.records()
        if self.num_workers > 1:
            with ThreadPoolExecutor(max_workers=self.num_workers) as pool:
                outcomes = list(pool.map(self.load_samples, records))
        else:
            outcomes = [self.load_samples(record) for record in records]
        loaded = []
        for record, outcome in zip(records, outcomes, strict=True):
            if not isinstance(outcome, DataError):
                loaded.append((record, outcome))
                continue
            if self.on_bad_file == "error":
                raise outcome
            self.skipped_files.append(str(outcome))
            log.warning("skipped %s", outcome)
        if not loaded:
            raise DataError(str(self.root), f"no usable image: all {len(records)} files were skipped")
        if self.skipped_files:
            log.warning(
                "skipped %d of %d files (data.on_bad_file=skip)", len(self.skipped_files), len(records)
            )
        subjects = {record.subject for record, _ in loaded}
        if len(subjects) >= 3:
            return self._split_by_subject(loaded)
        if len(loaded) == 1 and len(loaded[0][1]) > 1:
            return self._split_by_slab(*loaded[0])
        raise DataError(
            str(self.root),
            f"{len(subjects)} subject(s) cannot be split into train, val and test; give at least 3 subjects, "
            "or one volume with data.spatial_dims=2 (split by slabs)",
        )

    @staticmethod
    def _item(record: ImageRecord, index: int, sample: np.ndarray) -> dict[str, Any]:
        item = {"image": sample, "subject": record.subject, "position": f"{record.path.name}:{index}"}
        return item if record.label is None else {**item, "label": record.label}

    def _split_by_subject(self, loaded: list[tuple[ImageRecord, list]]) -> dict[str, list[dict[str, Any]]]:
        labels = {record.subject: record.label for record, _ in loaded}
        assignment = split_subjects(labels, self.val_fraction, self.test_fraction, self.split_seed)
        splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
        for record, samples in loaded:
            splits[assignment[record.subject]] += [
                self._item(record, index, sample) for index, sample in samples
            ]
        return splits

    def _split_by_slab(self, record: ImageRecord, samples: list) -> dict[str, list[dict[str, Any]]]:
        labels = slab_assignment(
            len(samples),
            self.num_slabs,
            self.val_fraction,
            self.test_fraction,
            self.slab_gap,
            self.split_seed,
        )
        splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
        for (index, sample), split in zip(samples, labels, strict=True):
            if split != DROPPED:
                splits[SPLITS[split]].append(self._item(record, index, sample))
        return splits

    def preprocessing(self) -> Compose:
        """Resize the longest side to ``image_size`` (anti-aliased), pad the rest with the range's minimum."""
        return Compose(
            [
                ResizeD("image", spatial_size=self.image_size, size_mode="longest", anti_aliasing=True),
                SpatialPadD(
                    "image", spatial_size=[self.image_size] * self.spatial_dims, value=self.value_range[0]
                ),
                EnsureTyped("image", dtype=np.float32, track_meta=False),
            ]
        )
