"""Base of data modules that read image files: reading, checks, intensity presets, samples, splits."""

import logging
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import Compose, EnsureTyped, Lambda, Lambdad, ResizeD, SpatialPadD

from medae.data.contrast_channels import on_reference_grid
from medae.data.declared_size import DEFAULT_MAX_IMAGE_BYTES
from medae.data.dicom_series import DicomSeries
from medae.data.domain_profile import DomainProfile
from medae.data.foreground_mask import (
    HEAD_MASK_METHOD,
    MASK_FILE_METHOD,
    find_mask_file,
    head_mask,
    read_mask_file,
)
from medae.data.image_checks import check_finite, check_not_constant, check_spatial_dims
from medae.data.image_reading import ImageSource, read_affine, read_image, volume_spacing
from medae.data.intensity import DEFAULT_ZSCORE_CLIP, intensity_transform, value_range
from medae.data.orientation import AXIS_NAMES, CanonicalVolume, axis_index, canonical_volume
from medae.data.reconstruction_datamodule import PIXELS, ReconstructionDataModule
from medae.data.slab_split import DROPPED, SPLITS, slab_assignment
from medae.data.subject_split import split_subjects
from medae.errors import ConfigError, DataError

log = logging.getLogger(__name__)
BAD_FILE_POLICIES = ("error", "skip")
# what a sample holds before preprocessing: its pixels and mask (data.cache=memory), or for disk and none
# caches which part of its file to read later: ``None`` the whole file, an int that slice along ``axis``
Sample = dict[str, np.ndarray] | int | None


def file_stamp(path: ImageSource) -> str:
    """Size and modification time of a file: part of a disk-cached sample's key, so edits invalidate it.

    A DICOM series' stamp covers each of its files.
    """
    if isinstance(path, DicomSeries):
        return sha256(";".join(file_stamp(file) for file in path.files).encode()).hexdigest()[:16]
    status = path.stat()
    return f"{status.st_size}:{status.st_mtime_ns}"


@dataclass(frozen=True)
class ImageRecord:
    """One image file (or DICOM series) with the subject it belongs to and its label, if any."""

    path: ImageSource
    subject: str
    label: int | None = None


class FileDataModule(ReconstructionDataModule):
    """Turn image files into training samples.

    Every file is read (MONAI readers; pydicom for DICOM), checked (NaN/inf, constant, dimensions),
    a volume brought to the RAS orientation and, with ``spacing``, resampled to that voxel size
    (:mod:`medae.data.orientation`), scaled with the intensity preset, and cut into samples: 2D images as
    they are, 3D volumes into slices along ``axis`` (near-empty ones dropped) when ``spatial_dims`` is 2,
    or whole volumes when it is 3. Each sample's ``mask`` (what foreground metrics score) comes from a
    mask file beside the image, or else is the head mask (:mod:`medae.data.foreground_mask`).
    Splits go by subject, stratified by label; with fewer than 3 subjects each volume is split by slabs
    instead (the summary then says the test is not subject-independent).

    With ``cache: memory`` every file is read at setup and its samples stay in memory. With ``disk`` or
    ``none`` a sample holds only its file and slice, and is read when it is preprocessed, so memory
    holds one file at a time: 3D training (``spatial_dims: 3``, one sample per file) reads nothing
    until then, 2D training reads each file once at setup to find its slices.

    Args:
        root: the file or folder the source reads.
        normalization: ``unit`` [0, 1], ``symmetric`` [-1, 1] or ``zscore`` (clipped to +-``zscore_clip``).
        window: CT window name (brain, subdural, lung, mediastinum, abdomen, bone) on Hounsfield units.
        window_level_width: explicit CT window ``[level, width]``.
        percentiles: ``[low, high]`` intensity percentiles to clip to (MRI).
        zscore_clip: bound of z-scored intensities.
        axis: the slices of volumes for 2D training: ``axial``, ``coronal`` or ``sagittal`` (volumes are in
            RAS, so these are array axes 2, 1 and 0, which an int may also name).
        spacing: voxel size in millimetres ``[x, y, z]`` that volumes are resampled to (MONAI ``Spacing``,
            linear; masks nearest); ``None`` keeps each file's voxels.
        min_foreground: slices with a smaller fraction of mask voxels are dropped.
        volume_index: which volume of a 4D file to use (``None`` refuses 4D files).
        on_bad_file: ``error`` stops at the first unreadable or invalid file; ``skip`` leaves it out and
            counts it (logged to MLflow).
        num_slabs: slabs per axis when volumes are split by slabs.
        slab_gap: slices dropped between slabs of different splits.
        max_image_bytes: a file whose header declares more pixel bytes is refused before it is
            decompressed (a guard against decompression bombs).
        **kwargs: see :class:`ReconstructionDataModule`.
    """

    supports_full_resolution = True

    def __init__(
        self,
        root: str = "",
        normalization: str = "unit",
        window: str | None = None,
        window_level_width: Sequence[float] | None = None,
        percentiles: Sequence[float] | None = None,
        zscore_clip: float = DEFAULT_ZSCORE_CLIP,
        axis: str | int = "axial",
        spacing: list[float] | None = None,
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
        if spacing is not None and (len(spacing) != 3 or min(spacing) <= 0):
            raise ConfigError("data.spacing", f"must be 3 positive sizes in mm [x, y, z], got {spacing}")
        if not 0 <= min_foreground < 1:
            raise ConfigError("data.min_foreground", f"must be in [0, 1), got {min_foreground}")
        self.root = Path(root).expanduser()
        self.reading_settings: dict[str, Any] = {
            "normalization": normalization,
            "window": window,
            "window_level_width": window_level_width and list(window_level_width),
            "percentiles": percentiles and list(percentiles),
            "zscore_clip": zscore_clip,
            "axis": axis,
            "spacing": spacing and list(spacing),
            "volume_index": volume_index,
        }
        self.scale = intensity_transform(normalization, window, window_level_width, percentiles, zscore_clip)
        self.value_range = value_range(normalization, zscore_clip)
        self.axis = axis_index(axis)
        self.spacing = spacing and list(spacing)
        self.min_foreground = min_foreground
        self.volume_index = volume_index
        self.on_bad_file = on_bad_file
        self.num_slabs = num_slabs
        self.slab_gap = slab_gap
        self.max_image_bytes = max_image_bytes
        self.last_read: tuple[str, dict[str, np.ndarray]] = ("", {})
        self.mask_description = HEAD_MASK_METHOD
        # a record's contrast files by contrast, where a sample stacks several (the record's path: the first)
        self.contrast_files: dict[str, dict[str, Path]] = {}
        # the sources that samples name by string (disk and none caches), for those that are no path
        self.sources: dict[str, ImageSource] = {}

    @abstractmethod
    def records(self) -> list[ImageRecord]:
        """The files of the source, each with its subject and label."""

    @cached_property
    def listed_records(self) -> list[ImageRecord]:
        """:meth:`records`, listed once for set-up, the training spacing and the training profile."""
        return self.records()

    def training_spacing(self) -> list[float] | None:
        """``data.spacing`` when set; else the median voxel size of the source's volumes, per RAS axis.

        Read from headers (:func:`volume_spacing`); ``None`` when the source holds no volume.
        """
        if self.spacing:
            return list(self.spacing)
        sizes = []
        for record in self.listed_records:
            try:
                size = volume_spacing(record.path)
            except (DataError, OSError):
                continue  # a bad file is reported where it is read
            if size is not None:
                sizes.append(size)
        return [float(v) for v in np.median(sizes, axis=0)] if sizes else None

    def training_profile(self, volumes: int = 5) -> DomainProfile | None:
        """The median :class:`DomainProfile` of the first ``volumes`` volumes, read as training reads them."""
        profiles: list[DomainProfile] = []
        for record in self.listed_records:
            if len(profiles) == volumes:
                break
            try:
                if volume_spacing(record.path) is None:
                    continue
                canonical = self.read_volume(record.path)
            except (DataError, OSError):
                continue  # a bad file is reported where it is read
            profiles.append(DomainProfile.of_volume(canonical.pixels, canonical.spacing))
        return DomainProfile.median(profiles) if profiles else None

    def preprocessing_settings(self) -> dict[str, Any]:
        """The base settings and how files are read and scaled."""
        return {**super().preprocessing_settings(), **self.reading_settings}

    def load(self, path: ImageSource) -> dict[str, np.ndarray]:
        """Read, check, orient and scale one file: ``image`` ``(C, *spatial)`` and its boolean ``mask``.

        A record whose sample stacks several contrasts (:attr:`contrast_files`) reads them all.
        """
        if len(self.contrast_files.get(str(path), {})) > 1:
            return self.load_contrasts(self.contrast_files[str(path)])
        source = str(path)
        image = read_image(path, self.channels, self.volume_index, self.max_image_bytes)
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
        if image.ndim == 4:
            image = canonical_volume(image, read_affine(path), self.spacing).pixels
        scaled = np.asarray(self.scale(image), dtype=np.float32)
        mask_path = find_mask_file(path)
        mask = (
            head_mask(scaled)
            if mask_path is None
            else read_mask_file(mask_path, image.shape[1:], path, self.spacing, self.max_image_bytes)
        )
        return {"image": scaled, "mask": mask}

    def read_volume(self, path: ImageSource) -> CanonicalVolume:
        """One file's 3D volume, checked, in RAS (resampled to ``spacing``)."""
        volume = read_image(path, 1, self.volume_index, self.max_image_bytes)
        check_finite(volume, str(path))
        check_not_constant(volume, str(path))
        check_spatial_dims(volume, str(path), 3, "each contrast of a subject must be a 3D volume")
        return canonical_volume(volume, read_affine(path), self.spacing)

    def use_contrasts(self, contrasts: tuple[str, ...]) -> None:
        """Read ``contrasts`` (checked by :func:`check_contrasts`) as the channels, named in the grids."""
        self.contrasts = contrasts
        self.channel_names = contrasts
        self.reading_settings |= {"contrasts": list(contrasts)}

    def load_contrasts(self, files: dict[str, Path]) -> dict[str, np.ndarray]:
        """A subject's contrasts as channels on the first one's grid, each scaled on its own.

        The mask is the head mask of the first contrast (:mod:`medae.data.contrast_channels`).
        """
        reference, *others = (self.read_volume(path) for path in files.values())
        channels = [reference.pixels] + [
            on_reference_grid(reference, other, str(path))
            for other, path in zip(others, list(files.values())[1:], strict=True)
        ]
        scaled = [np.asarray(self.scale(channel), dtype=np.float32) for channel in channels]
        return {"image": np.concatenate(scaled), "mask": head_mask(scaled[0])}

    def stamp(self, record: ImageRecord) -> str:
        """:func:`file_stamp` of the record's file, or of each of its contrast files."""
        files: dict[str, ImageSource] = {**self.contrast_files.get(str(record.path), {})} or {"": record.path}
        return ";".join(file_stamp(path) for path in files.values())

    def sample_slices(self, loaded: dict[str, np.ndarray]) -> list[int] | None:
        """The slices of a volume cut for 2D training with enough mask, or ``None`` when it is one sample."""
        if loaded["image"].ndim - 1 == self.spatial_dims:
            return None
        stack = np.moveaxis(loaded["mask"], self.axis + 1, 1)
        return [index for index in range(stack.shape[1]) if stack[:, index].mean() >= self.min_foreground]

    def cut(self, loaded: dict[str, np.ndarray], index: int | None) -> dict[str, np.ndarray]:
        """Slice ``index`` along ``axis`` of a volume and its mask, or the image itself for ``None``."""
        if index is None:
            return loaded
        return {
            key: np.ascontiguousarray(np.moveaxis(value, self.axis + 1, 1)[:, index])
            for key, value in loaded.items()
        }

    def samples(self, loaded: dict[str, np.ndarray]) -> list[tuple[int | None, dict[str, np.ndarray]]]:
        """``(slice index, sample)`` pairs: the image itself (index ``None``), or the non-empty slices."""
        slices = self.sample_slices(loaded)
        return [(None, loaded)] if slices is None else [(index, self.cut(loaded, index)) for index in slices]

    def describe_masks(self, records: list[ImageRecord]) -> str:
        """Which mask scores the samples of ``records``: mask files, the head mask, or both with counts."""
        found = sum(find_mask_file(record.path) is not None for record in records)
        if found == len(records):
            return MASK_FILE_METHOD
        if not found:
            return HEAD_MASK_METHOD
        return f"{MASK_FILE_METHOD} for {found} of {len(records)} files; {HEAD_MASK_METHOD} for the rest"

    def load_samples(self, record: ImageRecord) -> Sequence[tuple[int | None, Sample]] | DataError:
        """The record's ``(slice index, sample)`` pairs, or the DataError that its file raised.

        With ``cache: memory`` samples are arrays. Otherwise they say what to read later: 3D training
        reads nothing now (the file is one sample), 2D training reads the file to find its slices.
        """
        if self.cache != "memory" and self.spatial_dims == 3:
            return [(None, None)]
        try:
            loaded = self.load(record.path)
        except DataError as error:
            return error
        if self.cache == "memory":
            return self.samples(loaded)
        slices = self.sample_slices(loaded)
        return [(None, None)] if slices is None else [(index, index) for index in slices]

    def read_reference(self, item: dict[str, Any]) -> dict[str, Any]:
        """A sample that names its file (disk and none caches) with its pixels read; the last file is kept."""
        item = dict(item)
        path, index = item.pop("image"), item.pop("slice")
        del item["stamp"]
        if self.last_read[0] != path:
            self.last_read = (path, self.load(self.sources.get(path) or Path(path)))
        return {**item, **self.cut(self.last_read[1], index)}

    def cached_transform(self) -> Compose:
        """The base transform, after :meth:`read_reference` for samples that name their file."""
        transform = super().cached_transform()
        if self.cache == "memory":
            return transform
        return Compose([Lambda(self.read_reference), *transform.transforms])

    def setup(self, stage: str | None = None) -> None:
        """The base setup; then the last file read is let go."""
        try:
            super().setup(stage)
        finally:
            self.last_read = ("", {})

    def reject(self, error: DataError) -> None:
        """Stop at a bad file (``on_bad_file: error``), or leave it out and count it (``skip``)."""
        if self.on_bad_file == "error":
            raise error
        self.skipped_files.append(str(error))
        log.warning("skipped %s", error)

    def load_records(self) -> list[tuple[ImageRecord, Sequence[tuple[int | None, Sample]]]]:
        """Every usable record with its samples; bad files stop the run or are skipped (``on_bad_file``).

        With ``data.num_workers`` above 1, that many threads read the files: decompression and NumPy
        release the GIL, so the threads overlap.
        """
        records = self.listed_records
        if self.num_workers > 1:
            with ThreadPoolExecutor(max_workers=self.num_workers) as pool:
                outcomes = list(pool.map(self.load_samples, records))
        else:
            outcomes = [self.load_samples(record) for record in records]
        loaded = []
        for record, outcome in zip(records, outcomes, strict=True):
            if isinstance(outcome, DataError):
                self.reject(outcome)
            else:
                loaded.append((record, outcome))
        if not loaded:
            raise DataError(str(self.root), f"no usable image: all {len(records)} files were skipped")
        if self.skipped_files:
            log.warning(
                "skipped %d of %d files (data.on_bad_file=skip)", len(self.skipped_files), len(records)
            )
        self.mask_description = self.describe_masks([record for record, _ in loaded])
        return loaded

    def mask_method(self, name: str) -> str:
        """Mask files or the head mask (:meth:`describe_masks`), for every set."""
        return self.mask_description

    def load_all(self) -> list[dict[str, Any]]:
        """Every sample of every usable file (``evaluate_all``), whatever the number of subjects."""
        return [
            self._item(record, index, sample)
            for record, samples in self.load_records()
            for index, sample in samples
        ]

    def load_splits(self) -> dict[str, list[dict[str, Any]]]:
        """Load every record, cut samples and split by subject (by slab with fewer than 3 subjects)."""
        loaded = self.load_records()
        subjects = {record.subject for record, _ in loaded}
        if len(subjects) >= 3:
            return self._split_by_subject(loaded)
        if all(len(samples) > 1 for _, samples in loaded):  # each volume cut into slabs, split alike
            splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
            for record, samples in loaded:
                for name, items in self._split_by_slab(record, samples).items():
                    splits[name] += items
            return splits
        raise DataError(
            str(self.root),
            f"{len(subjects)} subject(s) cannot be split into train, val and test; give at least 3 subjects, "
            "or volumes with data.spatial_dims=2 (each split by slabs)",
        )

    def _item(self, record: ImageRecord, index: int | None, sample: Sample) -> dict[str, Any]:
        name = record.path.name
        position = name if index is None else f"{name}:{AXIS_NAMES[self.axis]}:{index}"
        item: dict[str, Any] = {"subject": record.subject, "position": position}
        if isinstance(sample, dict):
            item |= sample
        else:
            self.sources[str(record.path)] = record.path
            item |= {"image": str(record.path), "slice": sample, "stamp": self.stamp(record)}
        return item if record.label is None else {**item, "label": record.label}

    def assign_subjects(self, records: list[ImageRecord]) -> dict[str, str]:
        """Each subject's split: ``val_fraction`` and ``test_fraction`` of them, seeded, by label."""
        labels = {record.subject: record.label for record in records}
        return split_subjects(labels, self.val_fraction, self.test_fraction, self.split_seed)

    def _split_by_subject(
        self, loaded: list[tuple[ImageRecord, Sequence[tuple[int | None, Sample]]]]
    ) -> dict[str, list[dict[str, Any]]]:
        assignment = self.assign_subjects([record for record, _ in loaded])
        splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
        for record, samples in loaded:
            splits[assignment[record.subject]] += [
                self._item(record, index, sample) for index, sample in samples
            ]
        return splits

    def _split_by_slab(
        self, record: ImageRecord, samples: Sequence[tuple[int | None, Sample]]
    ) -> dict[str, list[dict[str, Any]]]:
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
        """Resize the longest side to ``image_size`` (anti-aliased), pad the rest with the range's minimum.

        A paired source's ``input`` is resized and padded as its ``image`` is. The mask is resized by
        area (a pixel is in the mask when most of what it covers is) and padded with background. At full
        resolution, samples keep their own grid.
        """
        size = [self.image_size] * self.spatial_dims
        pixels: dict[str, Any] = {
            "keys": PIXELS,
            "allow_missing_keys": True,
        }  # the input too, for a paired source
        if self.full_resolution:
            return Compose(
                [
                    EnsureTyped(**pixels, dtype=np.float32, track_meta=False),
                    Lambdad("mask", lambda mask: np.asarray(mask) > 0.5),
                    EnsureTyped("mask", track_meta=False),
                ]
            )
        return Compose(
            [
                ResizeD(**pixels, spatial_size=self.image_size, size_mode="longest", anti_aliasing=True),
                SpatialPadD(**pixels, spatial_size=size, value=self.value_range[0]),
                EnsureTyped(**pixels, dtype=np.float32, track_meta=False),
                Lambdad("mask", lambda mask: np.asarray(mask, dtype=np.float32)),
                ResizeD("mask", spatial_size=self.image_size, size_mode="longest", mode="area"),
                SpatialPadD("mask", spatial_size=size, value=0.0),
                Lambdad("mask", lambda mask: np.asarray(mask) > 0.5),
                EnsureTyped("mask", track_meta=False),
            ]
        )
