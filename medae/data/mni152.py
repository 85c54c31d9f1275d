"""Default data: real T1 brain MRI from the MNI152 template that ships inside the nilearn wheel."""

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from monai.transforms import Compose, EnsureTyped, Lambdad, ResizeD, ResizeWithPadOrCropD

from medae.data.colin27 import FILES as COLIN27_FILES
from medae.data.colin27 import colin27_on_template
from medae.data.domain_profile import DomainProfile
from medae.data.intensity import FOREGROUND_LEVEL
from medae.data.orientation import AXIS_NAMES, axis_index, ras_spacing
from medae.data.reconstruction_datamodule import ReconstructionDataModule, SplitFraction
from medae.data.registry import DATA_SOURCES
from medae.data.slab_split import DROPPED, SPLITS, slab_assignment
from medae.errors import ConfigError, DataError, check_choices

log = logging.getLogger(__name__)
# tissue classes of `tissue_labels`: 0 background and CSF, 1 grey matter, 2 white matter
TISSUE_CLASSES = ("other", "grey_matter", "white_matter")
TISSUE_PROBABILITY = 0.5
# the symmetric template equals its left-right mirror: voxel x matches voxel (size - 1 - x) exactly
MIRROR_AXIS = 0
SUBJECT = "mni152"
COLIN27_SUBJECT = "colin27"
TEMPLATE_MASK = "brain: the skull-stripped template's non-zero voxels"
COLIN27_MASK = "brain: ch2bet's non-zero voxels on the template's grid"
WHOLE_VOLUME = (slice(None), slice(None), slice(None))


def mni152_template(kind: str = "t1") -> np.ndarray:
    """The MNI152 2009a symmetric template (1 mm, 197 x 233 x 189) that nilearn ships, scaled to [0, 1].

    Args:
        kind: ``t1`` (the T1 image), ``gm`` or ``wm`` (grey- and white-matter probability maps).
    """
    return np.asarray(mni152_image(kind).get_fdata(dtype=np.float32))


def mni152_image(kind: str = "t1") -> nib.Nifti1Image:
    """The template of :func:`mni152_template` as a NIfTI image, with its grid (affine)."""
    try:
        from nilearn import datasets
    except ImportError as error:
        raise DataError(
            "nilearn", "is not installed; it ships the MNI152 template used as default data"
        ) from error
    loaders = {
        "t1": datasets.load_mni152_template,
        "gm": datasets.load_mni152_gm_template,
        "wm": datasets.load_mni152_wm_template,
    }
    return loaders[kind](resolution=1)


def one_hemisphere(volume: np.ndarray) -> np.ndarray:
    """The left half of the template and the midline: the right half repeats it mirrored.

    Without this, sagittal test slices would have exact copies in the training split.
    """
    return volume[: (volume.shape[MIRROR_AXIS] + 1) // 2]


def axis_slice(axis: int, index: int) -> tuple[Any, ...]:
    """The index expression of slice ``index`` along ``axis`` of a 3D array."""
    return tuple(index if dim == axis else slice(None) for dim in range(3))


def label_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, label)`` of each run of equal consecutive labels.

    Example:
        >>> label_runs(np.array([0, 0, -1, 2, 2, 2]))
        [(0, 2, 0), (2, 3, -1), (3, 6, 2)]
    """
    edges = [0, *(np.flatnonzero(labels[1:] != labels[:-1]) + 1).tolist(), len(labels)]
    return [(start, stop, int(labels[start])) for start, stop in zip(edges[:-1], edges[1:], strict=True)]


def foreground_fraction(array: np.ndarray) -> float:
    """Fraction of voxels above ``FOREGROUND_LEVEL`` of an image scaled to [0, 1]."""
    return float((array > FOREGROUND_LEVEL).mean())


def voxel_overlap(foreground: np.ndarray, train: list, test: list, mirror: bool = False) -> float:
    """Fraction of the test samples' foreground voxels that some training sample also holds.

    Args:
        foreground: boolean mask of the volume the samples were cut from (the brain).
        train: index expressions of the training samples.
        test: index expressions of the test samples.
        mirror: count a voxel as seen when its left-right mirror image is in a training sample too
            (the symmetric template's mirror voxels are identical).
    """
    seen = np.zeros(foreground.shape, dtype=bool)
    tested = np.zeros(foreground.shape, dtype=bool)
    for where in train:
        seen[where] = True
    for where in test:
        tested[where] = True
    if mirror:
        seen |= np.flip(seen, axis=MIRROR_AXIS)
    tested &= foreground
    return float((seen & tested).sum() / max(tested.sum(), 1))


@DATA_SOURCES.register("mni152", held_out_dir="${paths.colin27_dir}")
class MNI152DataModule(ReconstructionDataModule):
    """Slices (2D) or blocks (3D) of the MNI152 T1 template, split without leakage.

    The 2009a template is symmetric, so sagittal slices and 3D blocks come from one hemisphere only
    (see :func:`one_hemisphere`); axial and coronal slices span both.
    2D: slices along each axis in ``axes``, near-empty ones dropped; every axis is cut into
    ``num_slabs`` slabs that go whole to train, val or test, with ``slab_gap`` slices dropped where
    two splits meet. Slices are padded to a square and resized to ``image_size``.
    One axis (the default, axial) is leak-free: no test voxel is in any training slice
    (:meth:`voxel_overlap`). Slices along several axes cross each other, so most test voxels are also
    in some training slice (86% for all three axes and 8 slabs; 92% counting mirror images).
    3D: cubic blocks of ``block_size`` voxels on a grid with ``slab_gap`` voxels between blocks, so no
    two blocks touch; near-empty blocks are dropped, the rest are assigned to splits and resized to
    ``image_size`` on each side.
    With ``tissue_labels``, every item also has a ``segmentation`` map of ``TISSUE_CLASSES`` from the
    grey- and white-matter probability maps that ship with the template.
    Every item's ``mask`` is the brain: the template is skull-stripped, so its non-zero voxels.
    ``full_resolution``: 2D slices keep the template's 1 mm grid; in 3D the hemisphere is cut into
    ``num_slabs`` slabs along the first of ``axes`` (gaps as for slices), each split's runs of slices
    are its samples, and the held-out Colin27 sets are each one whole volume.
    ``held_out`` adds the Colin27 subject (:mod:`medae.data.colin27`) as evaluation sets
    ``colin27_brain`` and ``colin27_head``, cut the same way (every ``held_out_stride``-th slice); they
    are skipped with a warning when ``held_out_dir`` lacks the files (and silently when it is empty).

    Example:
        >>> data = MNI152DataModule(image_size=32)
        >>> data.setup()
        >>> data.datasets["train"][0]["image"].shape
        torch.Size([1, 32, 32])
    """

    supports_full_resolution = True

    def __init__(
        self,
        axes: tuple[str | int, ...] = ("axial",),
        min_foreground: float = 0.1,
        num_slabs: int = 10,
        slab_gap: int = 2,
        block_size: int = 48,
        tissue_labels: bool = False,
        held_out: tuple[str, ...] = tuple(COLIN27_FILES),
        held_out_dir: str = "",
        held_out_stride: int = 3,
        val_fraction: SplitFraction = 0.2,
        test_fraction: SplitFraction = 0.2,
        **kwargs: Any,
    ) -> None:
        # 2 of 10 slabs each, not the sources' 0.1: one axis leaves fewer slices to split
        super().__init__(val_fraction=val_fraction, test_fraction=test_fraction, **kwargs)
        if not axes:
            raise ConfigError("data.axes", "is empty; name one or more of axial, coronal, sagittal")
        if not 0 <= min_foreground < 1:
            raise ConfigError("data.min_foreground", f"must be in [0, 1), got {min_foreground}")
        if num_slabs < 3:
            raise ConfigError(
                "data.num_slabs", f"must be >= 3 (one slab each for train, val, test), got {num_slabs}"
            )
        if slab_gap < 1:
            raise ConfigError(
                "data.slab_gap", f"must be >= 1 so that no neighbours cross splits, got {slab_gap}"
            )
        if block_size < 8:
            raise ConfigError("data.block_size", f"must be >= 8 voxels, got {block_size}")
        self.axes = tuple(axis_index(axis, "data.axes") for axis in axes)
        self.min_foreground = min_foreground
        self.num_slabs = num_slabs
        self.slab_gap = slab_gap
        self.block_size = block_size
        self.tissue_labels = tissue_labels
        check_choices("data.held_out", held_out, COLIN27_FILES, what="set")
        if held_out_stride < 1:
            raise ConfigError("data.held_out_stride", f"must be >= 1, got {held_out_stride}")
        self.held_out_kinds = tuple(held_out)
        self.held_out_dir = Path(held_out_dir).expanduser()
        self.held_out_stride = held_out_stride

    def training_spacing(self) -> list[float]:
        """The template's voxel size (1 mm, RAS)."""
        return [float(size) for size in ras_spacing(mni152_image().affine)]

    def training_profile(self) -> DomainProfile:
        """The template's :class:`DomainProfile` (a skull-stripped brain)."""
        return DomainProfile.of_volume(self.volume[None], self.training_spacing())

    @cached_property
    def volume(self) -> np.ndarray:
        """The template as float32 in [0, 1]."""
        return mni152_template("t1")

    @cached_property
    def brain(self) -> np.ndarray:
        """The brain mask as float32: the skull-stripped template's non-zero voxels."""
        return (self.volume > 0).astype(np.float32)

    @cached_property
    def tissue(self) -> np.ndarray:
        """Voxel classes (see ``TISSUE_CLASSES``): grey or white matter where its probability is >= 0.5."""
        grey, white = mni152_template("gm"), mni152_template("wm")
        classes = np.zeros(grey.shape, dtype=np.int64)
        classes[(grey >= TISSUE_PROBABILITY) & (grey >= white)] = 1
        classes[(white >= TISSUE_PROBABILITY) & (white > grey)] = 2
        return classes

    def load_splits(self) -> dict[str, list[dict[str, Any]]]:
        """Cut the template into slices or blocks and assign them to splits."""
        splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
        for split, where, position in self._samples():
            splits[SPLITS[split]].append(self._item(where, position))
        return splits

    def load_all(self) -> list[dict[str, Any]]:
        """Every non-empty slice or block of the whole template, both hemispheres (``evaluate_all``)."""
        return [self._item(where, position) for _, where, position in self._samples(split=False)]

    def mask_method(self, name: str) -> str:
        """The template's brain for its own splits, ch2bet's for Colin27."""
        return COLIN27_MASK if name.startswith("colin27") else TEMPLATE_MASK

    def _item(self, where: tuple[Any, ...], position: str) -> dict[str, Any]:
        item = {
            "image": self.volume[where][None],
            "mask": self.brain[where][None],
            "subject": SUBJECT,
            "position": position,
        }
        return item | {"segmentation": self.tissue[where][None]} if self.tissue_labels else item

    def _samples(self, split: bool = True) -> list[tuple[int, tuple[Any, ...], str]]:
        if self.spatial_dims == 2:
            return self._slices(self.volume, split)
        if self.full_resolution:
            return self._slabs(self.volume, split)
        return self._blocks(self.volume, split)

    def voxel_overlap(self, mirror: bool = False) -> float:
        """Fraction of test brain voxels that some training sample holds (see :func:`voxel_overlap`)."""
        samples = self._samples()
        train = [where for split, where, _ in samples if SPLITS[split] == "train"]
        test = [where for split, where, _ in samples if SPLITS[split] == "test"]
        return voxel_overlap(self.brain > 0, train, test, mirror)

    def load_held_out(self) -> dict[str, list[dict[str, Any]]]:
        """Colin27's slices (or blocks) for each set of ``held_out``; none when its files are absent."""
        if not self.held_out_kinds or not str(self.held_out_dir) or self.held_out_dir == Path():
            return {}
        missing = [name for name in COLIN27_FILES.values() if not (self.held_out_dir / name).is_file()]
        if missing:
            log.warning(
                "held-out subject Colin27 not found (%s in data.held_out_dir=%s); "
                "evaluating on the MNI152 test split only",
                ", ".join(missing),
                self.held_out_dir,
            )
            return {}
        template = mni152_image("t1")
        brain_median = float(np.median(self.volume[self.volume > 0]))
        sets = {}
        for kind in self.held_out_kinds:
            subject = colin27_on_template(self.held_out_dir, kind, template, brain_median)
            brain = subject.brain.astype(np.float32)
            sets[f"colin27_{kind}"] = [
                {
                    "image": subject.image[where][None],
                    "mask": brain[where][None],
                    "position": position,
                    "subject": COLIN27_SUBJECT,
                }
                for where, position in self._held_out_samples(brain)
            ]
        return sets

    def _held_out_samples(self, brain: np.ndarray) -> list[tuple[tuple[Any, ...], str]]:
        """Every ``held_out_stride``-th non-empty slice along the training axes, or every non-empty block.

        At full resolution in 3D, the whole volume.
        """
        if self.spatial_dims == 3 and self.full_resolution:
            return [(WHOLE_VOLUME, "colin27:volume")]
        if self.spatial_dims == 3:
            return [(where, f"colin27:{position}") for _, where, position in self._blocks(brain, split=False)]
        samples = []
        for axis in self.axes:
            kept = [
                i
                for i in range(brain.shape[axis])
                if foreground_fraction(brain[axis_slice(axis, i)]) >= self.min_foreground
            ]
            name = AXIS_NAMES[axis]
            samples += [(axis_slice(axis, i), f"colin27:{name}:{i}") for i in kept[:: self.held_out_stride]]
        return samples

    def _slices(self, volume: np.ndarray, split: bool = True) -> list[tuple[int, tuple[Any, ...], str]]:
        samples = []
        for axis in self.axes:
            stack = one_hemisphere(volume) if axis == MIRROR_AXIS and split else np.moveaxis(volume, axis, 0)
            kept = [i for i in range(stack.shape[0]) if foreground_fraction(stack[i]) >= self.min_foreground]
            if not split:
                samples += [(0, axis_slice(axis, i), f"{AXIS_NAMES[axis]}:{i}") for i in kept]
                continue
            labels = slab_assignment(
                len(kept),
                self.num_slabs,
                self.val_fraction,
                self.test_fraction,
                self.slab_gap,
                self.split_seed + axis,
            )
            samples += [
                (int(label), axis_slice(axis, i), f"{AXIS_NAMES[axis]}:{i}")
                for i, label in zip(kept, labels, strict=True)
                if label != DROPPED
            ]
        return samples

    def _slabs(self, volume: np.ndarray, split: bool = True) -> list[tuple[int, tuple[Any, ...], str]]:
        """Full-resolution 3D samples: the hemisphere's slabs along the first of ``axes``.

        The slices between the first and last non-empty one are cut into ``num_slabs``, gaps dropped;
        each run of one split's slices is a sample. Without ``split``, the whole volume.
        """
        if not split:
            return [(0, WHOLE_VOLUME, "volume")]
        axis = self.axes[0]
        stack = np.moveaxis(one_hemisphere(volume), axis, 0)
        kept = [i for i in range(stack.shape[0]) if foreground_fraction(stack[i]) >= self.min_foreground]
        first, last = kept[0], kept[-1] + 1
        labels = slab_assignment(
            last - first,
            self.num_slabs,
            self.val_fraction,
            self.test_fraction,
            self.slab_gap,
            self.split_seed,
        )
        hemisphere = slice(0, (volume.shape[MIRROR_AXIS] + 1) // 2)
        samples = []
        for start, stop, label in label_runs(labels):
            if label == DROPPED:
                continue
            where = [hemisphere if dim == MIRROR_AXIS else slice(None) for dim in range(3)]
            where[axis] = slice(first + start, first + stop)
            samples.append((label, tuple(where), f"slab:{AXIS_NAMES[axis]}:{first + start}-{first + stop}"))
        return samples

    def _blocks(self, volume: np.ndarray, split: bool = True) -> list[tuple[int, tuple[Any, ...], str]]:
        volume = one_hemisphere(volume) if split else volume
        step = self.block_size + self.slab_gap
        corners = [
            (x, y, z)
            for x in range(0, volume.shape[0] - self.block_size + 1, step)
            for y in range(0, volume.shape[1] - self.block_size + 1, step)
            for z in range(0, volume.shape[2] - self.block_size + 1, step)
        ]
        blocks = [(c, tuple(slice(o, o + self.block_size) for o in c)) for c in corners]
        blocks = [(c, b) for c, b in blocks if foreground_fraction(volume[b]) >= self.min_foreground]
        if not split:
            return [(0, block, f"block:{c}") for c, block in blocks]
        if len(blocks) < 3:
            raise ConfigError(
                "data.block_size", f"{self.block_size} leaves {len(blocks)} non-empty blocks; need >= 3"
            )
        num_val = max(1, round(self.val_fraction * len(blocks)))
        num_test = max(1, round(self.test_fraction * len(blocks)))
        order = np.random.default_rng(self.split_seed).permutation(len(blocks))
        split_of = np.zeros(len(blocks), dtype=int)
        split_of[order[:num_val]] = 1
        split_of[order[num_val : num_val + num_test]] = 2
        return [(int(split_of[i]), block, f"block:{c}") for i, (c, block) in enumerate(blocks)]

    def preprocessing(self) -> Compose:
        """Pad to a square (2D) and resize with anti-aliasing to ``image_size``; tissue labels by nearest.

        At full resolution, samples keep the template's 1 mm grid.
        """
        if self.full_resolution:
            return Compose(
                [
                    EnsureTyped("image", dtype=np.float32, track_meta=False),
                    Lambdad("mask", lambda mask: np.asarray(mask) > 0.5),
                    EnsureTyped("mask", track_meta=False),
                    EnsureTyped("segmentation", dtype=np.int64, track_meta=False, allow_missing_keys=True),
                ]
            )
        side = int(max(self.volume.shape)) if self.spatial_dims == 2 else self.block_size
        size = [self.image_size] * self.spatial_dims
        transforms = [
            ResizeWithPadOrCropD("image", spatial_size=[side] * self.spatial_dims),
            ResizeD("image", spatial_size=size, anti_aliasing=True),
            EnsureTyped("image", dtype=np.float32, track_meta=False),
            # the brain mask: a pixel is brain when most of the area it covers is
            ResizeWithPadOrCropD("mask", spatial_size=[side] * self.spatial_dims),
            ResizeD("mask", spatial_size=size, mode="area"),
            Lambdad("mask", lambda mask: np.asarray(mask) > 0.5),
            EnsureTyped("mask", track_meta=False),
        ]
        if self.tissue_labels:  # held-out subjects have no tissue maps
            transforms += [
                ResizeWithPadOrCropD(
                    "segmentation", spatial_size=[side] * self.spatial_dims, allow_missing_keys=True
                ),
                ResizeD("segmentation", spatial_size=size, mode="nearest", allow_missing_keys=True),
                EnsureTyped("segmentation", dtype=np.int64, track_meta=False, allow_missing_keys=True),
            ]
        return Compose(transforms)
