"""Default data: real T1 brain MRI from the MNI152 template that ships inside the nilearn wheel."""

from functools import cached_property
from typing import Any

import numpy as np
from monai.transforms import Compose, EnsureTyped, ResizeD, ResizeWithPadOrCropD

from medae.data.intensity import FOREGROUND_LEVEL
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.data.registry import DATA_SOURCES
from medae.data.slab_split import DROPPED, SPLITS, slab_assignment
from medae.errors import ConfigError, DataError

# tissue classes of `tissue_labels`: 0 background and CSF, 1 grey matter, 2 white matter
TISSUE_CLASSES = ("other", "grey_matter", "white_matter")
TISSUE_PROBABILITY = 0.5
# the symmetric template equals its left-right mirror: voxel x matches voxel (size - 1 - x) exactly
MIRROR_AXIS = 0


def mni152_template(kind: str = "t1") -> np.ndarray:
    """The MNI152 2009a symmetric template (1 mm, 197 x 233 x 189) that nilearn ships, scaled to [0, 1].

    Args:
        kind: ``t1`` (the T1 image), ``gm`` or ``wm`` (grey- and white-matter probability maps).
    """
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
    return np.asarray(loaders[kind](resolution=1).get_fdata(dtype=np.float32))


def one_hemisphere(volume: np.ndarray) -> np.ndarray:
    """The left half of the template and the midline: the right half repeats it mirrored.

    Without this, sagittal test slices would have exact copies in the training split.
    """
    return volume[: (volume.shape[MIRROR_AXIS] + 1) // 2]


def axis_slice(axis: int, index: int) -> tuple[Any, ...]:
    """The index expression of slice ``index`` along ``axis`` of a 3D array."""
    return tuple(index if dim == axis else slice(None) for dim in range(3))


def foreground_fraction(array: np.ndarray) -> float:
    """Fraction of voxels above ``FOREGROUND_LEVEL`` of an image scaled to [0, 1]."""
    return float((array > FOREGROUND_LEVEL).mean())


@DATA_SOURCES.register("mni152")
class MNI152DataModule(ReconstructionDataModule):
    """Slices (2D) or blocks (3D) of the MNI152 T1 template, split without leakage.

    The 2009a template is symmetric, so sagittal slices and 3D blocks come from one hemisphere only
    (see :func:`one_hemisphere`); axial and coronal slices span both.
    2D: slices along each axis in ``axes``, near-empty ones dropped; every axis is cut into
    ``num_slabs`` slabs that go whole to train, val or test, with ``slab_gap`` slices dropped where
    two splits meet. Slices are padded to a square and resized to ``image_size``.
    3D: cubic blocks of ``block_size`` voxels on a grid with ``slab_gap`` voxels between blocks, so no
    two blocks touch; near-empty blocks are dropped, the rest are assigned to splits and resized to
    ``image_size`` on each side.
    With ``tissue_labels``, every item also has a ``segmentation`` map of ``TISSUE_CLASSES`` from the
    grey- and white-matter probability maps that ship with the template.

    Example:
        >>> data = MNI152DataModule(image_size=32)
        >>> data.setup()
        >>> data.datasets["train"][0]["image"].shape
        torch.Size([1, 32, 32])
    """

    def __init__(
        self,
        axes: tuple[int, ...] = (0, 1, 2),
        min_foreground: float = 0.1,
        num_slabs: int = 8,
        slab_gap: int = 2,
        block_size: int = 48,
        tissue_labels: bool = False,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        **kwargs: Any,
    ) -> None:
        # 0.15, not the sources' 0.1: the split that the presets and the README figures use
        super().__init__(val_fraction=val_fraction, test_fraction=test_fraction, **kwargs)
        if not axes or any(axis not in (0, 1, 2) for axis in axes):
            raise ConfigError("data.axes", f"must be a non-empty subset of [0, 1, 2], got {list(axes)}")
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
        self.axes = tuple(axes)
        self.min_foreground = min_foreground
        self.num_slabs = num_slabs
        self.slab_gap = slab_gap
        self.block_size = block_size
        self.tissue_labels = tissue_labels

    @cached_property
    def volume(self) -> np.ndarray:
        """The template as float32 in [0, 1]."""
        return mni152_template("t1")

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
        samples = self._slices(self.volume) if self.spatial_dims == 2 else self._blocks(self.volume)
        splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
        for split, where, position in samples:
            item = {"image": self.volume[where][None], "position": position}
            if self.tissue_labels:
                item["segmentation"] = self.tissue[where][None]
            splits[SPLITS[split]].append(item)
        return splits

    def _slices(self, volume: np.ndarray) -> list[tuple[int, tuple[Any, ...], str]]:
        samples = []
        for axis in self.axes:
            stack = one_hemisphere(volume) if axis == MIRROR_AXIS else np.moveaxis(volume, axis, 0)
            kept = [i for i in range(stack.shape[0]) if foreground_fraction(stack[i]) >= self.min_foreground]
            labels = slab_assignment(
                len(kept),
                self.num_slabs,
                self.val_fraction,
                self.test_fraction,
                self.slab_gap,
                self.split_seed + axis,
            )
            samples += [
                (int(split), axis_slice(axis, i), f"axis{axis}:{i}")
                for i, split in zip(kept, labels, strict=True)
                if split != DROPPED
            ]
        return samples

    def _blocks(self, volume: np.ndarray) -> list[tuple[int, tuple[Any, ...], str]]:
        volume = one_hemisphere(volume)
        step = self.block_size + self.slab_gap
        corners = [
            (x, y, z)
            for x in range(0, volume.shape[0] - self.block_size + 1, step)
            for y in range(0, volume.shape[1] - self.block_size + 1, step)
            for z in range(0, volume.shape[2] - self.block_size + 1, step)
        ]
        blocks = [(c, tuple(slice(o, o + self.block_size) for o in c)) for c in corners]
        blocks = [(c, b) for c, b in blocks if foreground_fraction(volume[b]) >= self.min_foreground]
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
        """Pad to a square (2D) and resize with anti-aliasing to ``image_size``; tissue labels by nearest."""
        side = int(max(self.volume.shape)) if self.spatial_dims == 2 else self.block_size
        size = [self.image_size] * self.spatial_dims
        transforms = [
            ResizeWithPadOrCropD("image", spatial_size=[side] * self.spatial_dims),
            ResizeD("image", spatial_size=size, anti_aliasing=True),
            EnsureTyped("image", dtype=np.float32, track_meta=False),
        ]
        if self.tissue_labels:
            transforms += [
                ResizeWithPadOrCropD("segmentation", spatial_size=[side] * self.spatial_dims),
                ResizeD("segmentation", spatial_size=size, mode="nearest"),
                EnsureTyped("segmentation", dtype=np.int64, track_meta=False),
            ]
        return Compose(transforms)
