"""Base LightningDataModule for reconstruction: cached MONAI datasets, seeded noise, fingerprint."""

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from annotated_types import Ge, Gt, Lt
from lightning import LightningDataModule
from monai.data import CacheDataset, DataLoader, Dataset, PersistentDataset
from monai.transforms import (
    Compose,
    EnsureTyped,
    FgBgToIndicesd,
    Lambda,
    RandAdjustContrastd,
    RandAxisFlipd,
    RandScaleIntensityd,
    ResizeWithPadOrCrop,
    ScaleIntensityRanged,
    SpatialPadd,
    Transform,
)
from torch.utils.data import RandomSampler, Sampler, WeightedRandomSampler

import medae
from medae.config.type_check import Fraction, NonNegativeFloat, NonNegativeInt, PositiveInt, check_types
from medae.data.batch import ReconstructionBatch
from medae.data.domain_profile import DomainProfile
from medae.data.intensity import FOREGROUND_LEVEL
from medae.data.noise import NOISE_MODELS
from medae.data.noisy_pairs import NoisyPairs
from medae.data.patches import ForegroundPatchd
from medae.data.slab_split import SPLITS
from medae.errors import ConfigError, DataError, check_choices

TEST_NOISE_OFFSET = 1_000_000
TEST_SET = "test"
AUGMENTATIONS = ("flip", "gamma", "scale")
# a sample's pixel arrays: the target, and the network input where the source pairs one with it
PIXELS = ["image", "input"]
# a sample's label maps, cut and padded with the pixels (padding is background, 0)
MAPS = ["mask", "segmentation"]
CACHE_MODES = ("memory", "disk", "none")
THRESHOLD_MASK = "pixels above 10% of the intensity range"
DISK_CACHE_SETTINGS = "settings.json"

# the share of subjects (or slabs) a validation or test split takes
SplitFraction = Annotated[float, Gt(0), Lt(0.5)]


def data_error(error: BaseException) -> DataError | None:
    """The DataError an exception is, or that it wraps (MONAI re-raises a transform's error as its cause)."""
    current: BaseException | None = error
    while current is not None and not isinstance(current, DataError):
        current = current.__cause__
    return current


@dataclass(frozen=True)
class ScoredSet:
    """What an evaluation set's figures rest on.

    Attributes:
        subjects: distinct subjects (``None`` where the source does not record them).
        images: samples scored (slices, images or volumes).
        mask: the foreground mask the foreground metrics use.
        in_training: how many of its subjects also gave training samples (other slabs of them): the
            figures are then not subject-independent, and the summary says so.

    Example:
        >>> str(ScoredSet(1, 21, "brain", in_training=1)).split("; ")[2]
        'NOT subject-independent: 1 subject(s) also in training (other slabs)'
    """

    subjects: int | None
    images: int
    mask: str
    in_training: int = 0

    def __str__(self) -> str:
        subjects = "subjects not recorded" if self.subjects is None else f"{self.subjects} subject(s)"
        shared = (
            f"; NOT subject-independent: {self.in_training} subject(s) also in training (other slabs)"
            if self.in_training
            else ""
        )
        return f"{subjects}, {self.images} images; mask: {self.mask}{shared}"


def batch_size(batch: ReconstructionBatch) -> int:
    """Number of samples in a batch (for Lightning's ThroughputMonitor)."""
    return len(batch)


class ReconstructionDataModule(LightningDataModule, ABC):
    """Serve typed batches (:class:`~medae.data.batch.ReconstructionBatch`) for train, val and test.

    A batch holds the clean images, the network's input and the foreground mask.

    Subclasses implement :meth:`load_splits` (the raw samples of each split) and
    :meth:`preprocessing` (the deterministic MONAI transforms, cached once by ``CacheDataset``).
    A sample's ``mask`` marks the pixels that foreground metrics score: subclasses that know the anatomy
    give it (a brain mask); otherwise it is every pixel above ``FOREGROUND_LEVEL`` of the value range.
    Subclasses may add held-out evaluation sets (:meth:`load_held_out`, e.g. a subject never trained
    on); the test loop then runs on ``test`` and on each of them (:attr:`evaluation_sets`).

    ``setup()`` runs every sample through the preprocessing once: that fills the cache, checks every
    sample and computes the :meth:`fingerprint`.

    Args:
        spatial_dims: 2 for images, 3 for volumes.
        channels: image channels.
        image_size: side length of every sample after preprocessing.
        batch_size: samples per batch.
        num_workers: data loader worker processes.
        pin_memory: pin batches in page-locked memory (GPU training).
        noise_model: a key of :data:`medae.data.noise.NOISE_MODELS`.
        noise_std: noise strength; 0 trains a plain autoencoder, > 0 a denoising one.
        noise_std_range: ``[low, high]``: each training sample's strength is drawn uniformly from it, so
            the model learns every level in between (a blind denoiser); validation and test keep
            ``noise_std``. ``None``: training at ``noise_std`` only.
        noise_seed: seed of the fixed validation and test noise.
        val_fraction: fraction of the data for validation.
        test_fraction: fraction of the data for testing.
        split_seed: seed of the train/val/test split, kept apart from the training seed.
        balance_classes: draw training samples with weights inverse to their label's frequency.
        augmentation: random changes of the clean training images, before the noise (MONAI
            transforms, each with probability 0.5): ``flip`` (a random axis, mask too), ``gamma``
            (contrast, gamma in [0.7, 1.5]), ``scale`` (intensity times 0.8 to 1.2, clipped to the range).
        cache: where preprocessed samples are kept: ``memory`` (MONAI CacheDataset, the fastest),
            ``disk`` (MONAI PersistentDataset under ``cache_dir``, for data larger than memory; later
            runs with the same preprocessing reuse it) or ``none`` (preprocessed at every access).
        cache_dir: root of the disk cache; each preprocessing setting gets its own folder, named by
            a hash of :meth:`preprocessing_settings`.
        evaluate_all: every sample is a test sample (no training or validation split, no slab gaps):
            ``medae eval`` sets it for a source the model never trained on, so every slice of every
            subject is scored.
        full_resolution: keep every sample at the data's own resolution instead of resizing it to
            ``image_size`` (sources with ``supports_full_resolution``). Training then draws one random
            patch of ``image_size`` per sample visit, and validation and test reconstruct each whole
            sample (batches of one) by sliding windows of ``image_size``.
        patch_foreground: with ``full_resolution``, the fraction of training patches centred on a
            foreground (mask) voxel; the rest are centred on background.
        patches_per_sample: with ``full_resolution``, patches drawn from each training sample per epoch.
    """

    value_range: tuple[float, float] = (0.0, 1.0)
    # whether the samples' ``segmentation`` marks pathology (BraTS tumours), so that the anomaly application
    # scores pixels against it; a segmentation of normal anatomy (tissue classes) does not
    segmentation_marks_anomalies: bool = False
    # names of the image channels where they are contrasts (t1, flair); the image grids show each
    channel_names: tuple[str, ...] | None = None
    # whether each sample comes with its own network ``input`` (a real low-dose scan of the same slice)
    # instead of synthetic noise
    paired: bool = False
    # whether the source can keep its samples at their own resolution (``full_resolution``)
    supports_full_resolution: bool = False

    def __init__(
        self,
        spatial_dims: Literal[2, 3] = 2,
        channels: PositiveInt = 1,
        image_size: Annotated[int, Ge(8)] = 64,
        batch_size: PositiveInt = 32,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = False,
        noise_model: str = "gaussian",
        noise_std: NonNegativeFloat = 0.0,
        noise_std_range: list[float] | None = None,
        noise_seed: int = 12345,
        val_fraction: SplitFraction = 0.1,
        test_fraction: SplitFraction = 0.1,
        split_seed: int = 0,
        balance_classes: bool = False,
        augmentation: tuple[str, ...] = (),
        cache: str = "memory",
        cache_dir: str | None = None,
        evaluate_all: bool = False,
        full_resolution: bool = False,
        patch_foreground: Fraction = 0.9,
        patches_per_sample: PositiveInt = 1,
    ) -> None:
        # each argument against its annotation (type and range), as the config schema checks it
        arguments = {key: value for key, value in locals().items() if key != "self"}
        check_types("data", arguments, ReconstructionDataModule)
        super().__init__()
        if noise_model not in NOISE_MODELS:
            raise ConfigError(
                "data.noise_model", f"unknown '{noise_model}'; allowed: {', '.join(NOISE_MODELS)}"
            )
        if noise_std_range is not None and (
            len(noise_std_range) != 2 or not 0 <= noise_std_range[0] < noise_std_range[1] or not noise_std
        ):
            raise ConfigError(
                "data.noise_std_range",
                f"must be [low, high] with 0 <= low < high and data.noise_std > 0, got {noise_std_range}",
            )
        self.spatial_dims = spatial_dims
        self.channels = channels
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.noise_model = noise_model
        self.noise_std = noise_std
        self.noise_std_range = (
            None if noise_std_range is None else (float(noise_std_range[0]), float(noise_std_range[1]))
        )
        self.noise_seed = noise_seed
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.balance_classes = balance_classes
        check_choices("data.augmentation", augmentation, AUGMENTATIONS)
        self.augmentation = tuple(augmentation)
        if cache not in CACHE_MODES:
            raise ConfigError("data.cache", f"unknown '{cache}'; allowed: {', '.join(CACHE_MODES)}")
        if cache == "disk" and not cache_dir:
            raise ConfigError("data.cache_dir", "is empty; data.cache=disk needs a folder to write to")
        self.cache = cache
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.evaluate_all = evaluate_all
        if full_resolution and not self.supports_full_resolution:
            raise ConfigError(
                "data.full_resolution",
                f"{type(self).__name__} resizes every sample to data.image_size; full resolution is "
                "available for mni152 and the file sources (folder, nifti, dicom, bids, ixi, brats, ldct)",
            )
        self.full_resolution = full_resolution
        self.patch_foreground = patch_foreground
        self.patches_per_sample = patches_per_sample
        self.datasets: dict[str, Dataset] = {}
        self.held_out: dict[str, Dataset] = {}
        self.skipped_files: list[str] = []
        self._fingerprint: str | None = None

    @abstractmethod
    def load_splits(self) -> dict[str, list[dict[str, Any]]]:
        """Return the raw samples of each split in ``SPLITS``: items ``{"image": array (C, *spatial)}``."""

    def load_all(self) -> list[dict[str, Any]]:
        """Every raw sample of the source, for ``evaluate_all``: by default the splits together.

        Sources whose splits leave samples out (slab gaps) or need several subjects give all of them.
        """
        return [item for items in self.load_splits().values() for item in items]

    @abstractmethod
    def preprocessing(self) -> Compose:
        """Return the deterministic transforms that bring a raw sample to its training shape and range."""

    def load_held_out(self) -> dict[str, list[dict[str, Any]]]:
        """Raw samples of extra evaluation sets, never trained on, by name (none by default)."""
        return {}

    def threshold_mask(self, item: dict[str, Any]) -> dict[str, Any]:
        """Give a preprocessed item without a ``mask`` the pixels above ``FOREGROUND_LEVEL`` of the range."""
        if "mask" not in item:
            low, high = self.value_range
            image = np.asarray(item["image"])
            item = {
                **item,
                "mask": (image > low + FOREGROUND_LEVEL * (high - low)).any(axis=0, keepdims=True),
            }
        return item

    def cached_transform(self) -> Compose:
        """:meth:`preprocessing`, then :meth:`threshold_mask`: what ``CacheDataset`` caches per sample.

        Flat and all MONAI transforms: CacheDataset caches up to the first Randomizable or plain callable,
        and a nested Compose counts as Randomizable, which would leave nothing cached.
        """
        return Compose([self.preprocessing(), Lambda(self.threshold_mask)]).flatten()

    @property
    def evaluation_sets(self) -> list[str]:
        """``test`` and the held-out sets, in the order of :meth:`test_dataloader`."""
        self.setup()
        return [TEST_SET, *self.held_out]

    def training_spacing(self) -> list[float] | None:
        """The voxel size (mm, RAS x, y, z) of the volumes this source trains on; ``None`` for 2D images.

        A trained model records it, and new scans are resampled to it (unless the run set ``data.spacing``),
        so a scan stored at other voxel sizes reaches the network with the proportions training had.
        """
        return None

    def training_profile(self) -> DomainProfile | None:
        """What this source's volumes look like (:class:`DomainProfile`); ``None`` for 2D images.

        A trained model keeps it, and predict warns about a scan unlike it.
        """
        return None

    def preprocessing_settings(self) -> dict[str, Any]:
        """What decides a preprocessed sample besides the raw sample itself (keys the disk cache)."""
        return {
            "source": f"{type(self).__module__}.{type(self).__qualname__}",
            "medae": medae.__version__,
            "spatial_dims": self.spatial_dims,
            "channels": self.channels,
            "image_size": self.image_size,
            "full_resolution": self.full_resolution,
            "value_range": list(self.value_range),
        }

    @cached_property
    def disk_cache_folder(self) -> Path:
        """``cache_dir/<hash of the preprocessing settings>``, the settings written beside the samples."""
        settings = json.dumps(self.preprocessing_settings(), sort_keys=True, default=str)
        if self.cache_dir is None:
            raise ConfigError("data.cache_dir", "is empty; data.cache=disk needs a folder to write to")
        folder = self.cache_dir / hashlib.sha256(settings.encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DISK_CACHE_SETTINGS).write_text(settings + "\n")
        return folder

    def setup(self, stage: str | None = None) -> None:
        """Load every split, preprocess every sample once (filling the cache) and fingerprint them."""
        if self.datasets:
            return
        transform = self.cached_transform()
        digest = hashlib.sha256(f"{self.noise_model}:{self.noise_std}:{self.noise_seed}".encode())
        splits = (
            {"train": [], "val": [], TEST_SET: self.load_all()} if self.evaluate_all else self.load_splits()
        )
        datasets = {
            name: self.prepared(name, splits[name], self.split_transform(transform, name), digest)
            for name in SPLITS
        }
        sizes = {name: len(datasets[name]) for name in SPLITS}
        empty = [name for name in SPLITS if not sizes[name] and not (self.evaluate_all and name != TEST_SET)]
        if empty:
            raise DataError(
                f"data ({type(self).__name__})",
                f"the {empty[0]} split is empty (samples per split: {sizes}); give more subjects or files, "
                "or for a single volume fewer data.num_slabs or a smaller data.slab_gap",
            )
        found = torch.as_tensor(datasets["test"][0]["image"]).shape[0]
        if found != self.channels:
            raise ConfigError(
                "data.channels",
                f"is {self.channels}, but the images of {type(self).__name__} have {found}; "
                f"set data.channels={found}",
            )
        held_out = {
            name: self.prepared(name, samples, transform, digest)
            for name, samples in self.load_held_out().items()
        }
        self._fingerprint = digest.hexdigest()
        self.datasets, self.held_out = datasets, held_out

    def split_transform(self, transform: Compose, split: str) -> Compose:
        """The cached transform of a split.

        At full resolution, training samples are also padded to at least one patch and keep the indices
        of their foreground and background voxels, so that drawing a patch does not search the mask.
        """
        if not (self.full_resolution and split == "train"):
            return transform
        size = [self.image_size] * self.spatial_dims
        return Compose(
            [
                *transform.transforms,
                SpatialPadd(PIXELS, size, value=self.value_range[0], allow_missing_keys=True),
                SpatialPadd(MAPS, size, allow_missing_keys=True),
                FgBgToIndicesd("mask"),
            ]
        )

    def prepared(self, name: str, samples: list[dict[str, Any]], transform: Compose, digest: Any) -> Dataset:
        """The dataset of ``samples`` in the ``cache`` mode, after preprocessing each sample once.

        Each sample is preprocessed in this thread: MONAI fills a CacheDataset in a new pool thread,
        where torch ops ran 20-40% slower on 2 cores (an OpenMP team per thread); its runtime cache fills
        on first access instead, so the cache is full before any loader worker starts. A sample whose
        reading raises a :class:`DataError` goes to :meth:`reject`, and the dataset is built without it.
        Memory-cached samples keep their labels and positions but not their raw pixels.
        """
        dataset = self.dataset(samples, transform)
        digest.update(name.encode())
        kept = []
        for index in range(len(dataset)):
            try:
                item = dataset[index]
            except Exception as error:  # MONAI wraps a transform's error; only DataErrors are the data's
                cause = data_error(error)
                if cause is None:
                    raise
                self.reject(cause)
                continue
            digest.update(torch.as_tensor(item["image"]).float().numpy().tobytes())
            kept.append(samples[index])
        if len(kept) < len(samples):
            return self.prepared(name, kept, transform, hashlib.sha256())
        if self.cache == "memory":  # the cache holds the preprocessed images: let the raw pixels go
            data = dataset.data
            assert isinstance(data, list)  # the samples list, emptied in place so its raw pixels go too
            data[:] = [{k: v for k, v in sample.items() if k not in PIXELS} for sample in data]
        return dataset

    def dataset(self, samples: list[dict[str, Any]], transform: Compose) -> Dataset:
        """A MONAI dataset of ``samples`` that keeps their preprocessed form as ``cache`` says."""
        if self.cache == "memory":
            return CacheDataset(samples, transform=transform, progress=False, runtime_cache=True)
        if self.cache == "disk":
            return PersistentDataset(samples, transform=transform, cache_dir=self.disk_cache_folder)
        return Dataset(samples, transform=transform)

    def reject(self, error: DataError) -> None:
        """Handle a sample that cannot be read or preprocessed: stop (file sources may skip it instead)."""
        raise error

    @property
    def noisy(self) -> bool:
        """Whether network inputs are corrupted copies of the targets (synthetic noise or real pairs)."""
        return self.noise_std > 0 or self.paired

    def class_balanced_sampler(self) -> WeightedRandomSampler:
        """Sample training items with weights inverse to the frequency of their label."""
        labels = [item.get("label") for item in self.datasets["train"].data]
        if None in labels or len(set(labels)) < 2:
            raise ConfigError("data.balance_classes", "needs labelled data with at least two classes")
        counts = Counter(labels)
        weights = [1.0 / counts[label] for label in labels]
        return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True)

    def patch_sampling(self) -> list[Any]:
        """At full resolution, the random patch of a training sample (foreground-weighted); else nothing."""
        if not self.full_resolution:
            return []
        return [
            ForegroundPatchd([*PIXELS, *MAPS], [self.image_size] * self.spatial_dims, self.patch_foreground)
        ]

    def augment(self) -> Compose | None:
        """The random transforms of training samples: a patch at full resolution, then ``augmentation``."""
        patches = self.patch_sampling()
        if not self.augmentation and not patches:
            return None
        low, high = self.value_range
        choices: dict[str, list[Transform]] = {
            "flip": [RandAxisFlipd(["image", "input", "mask"], prob=0.5, allow_missing_keys=True)],
            "gamma": [RandAdjustContrastd(PIXELS, prob=0.5, gamma=(0.7, 1.5), allow_missing_keys=True)],
            "scale": [
                RandScaleIntensityd(PIXELS, factors=0.2, prob=0.5, allow_missing_keys=True),
                ScaleIntensityRanged(
                    PIXELS, a_min=low, a_max=high, b_min=low, b_max=high, clip=True, allow_missing_keys=True
                ),
            ],
        }
        transforms = [transform for name in self.augmentation for transform in choices[name]]
        keys = [*PIXELS, *MAPS]
        return Compose([*patches, *transforms, EnsureTyped(keys, track_meta=False, allow_missing_keys=True)])

    def _loader(self, split: str, noise_seed: int | None, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split] if split in self.datasets else self.held_out[split]
        augment = self.augment() if split == "train" and shuffle else None
        blind = split == "train" and shuffle
        strength = self.noise_std_range if blind and self.noise_std_range else self.noise_std
        pairs = NoisyPairs(dataset, self.noise_model, strength, noise_seed, augment)
        sampler: Sampler[int] | None = (
            self.class_balanced_sampler() if shuffle and self.balance_classes else None
        )
        if shuffle and sampler is None and self.patches_per_sample > 1:
            sampler = RandomSampler(pairs, num_samples=len(pairs) * self.patches_per_sample)
        return DataLoader(
            pairs,
            batch_size=self.batch_size if shuffle or not self.full_resolution else 1,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=ReconstructionBatch.collate,
        )

    def example_input(self) -> torch.Tensor:
        """The first test sample as a network input ``(1, C, *spatial)``, cut or padded to ``image_size``."""
        image = torch.as_tensor(self.datasets[TEST_SET][0]["image"])
        size = [self.image_size] * self.spatial_dims
        return torch.as_tensor(ResizeWithPadOrCrop(size, value=self.value_range[0])(image))[None]

    def clean_dataloader(self, split: str, batch_size: int | None = None) -> DataLoader:
        """The clean samples of ``split`` in their stored order, without noise or augmentation."""
        dataset = self.datasets[split] if split in self.datasets else self.held_out[split]
        return DataLoader(
            dataset, batch_size=batch_size or self.batch_size, collate_fn=ReconstructionBatch.collate
        )

    def train_dataloader(self) -> DataLoader:
        """Training batches with fresh noise every epoch."""
        return self._loader("train", None, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches with noise fixed per sample."""
        return self._loader("val", self.noise_seed, shuffle=False)

    def evaluation_dataloader(self, name: str) -> DataLoader:
        """Batches of one evaluation set (``test`` or a held-out set), noise fixed per sample and per set."""
        offset = (self.evaluation_sets.index(name) + 1) * TEST_NOISE_OFFSET
        return self._loader(name, self.noise_seed + offset, shuffle=False)

    def test_dataloader(self) -> DataLoader | dict[str, DataLoader]:
        """Test batches; with held-out sets, a loader per evaluation set (Lightning runs them in turn)."""
        loaders = {name: self.evaluation_dataloader(name) for name in self.evaluation_sets}
        return loaders if self.held_out else loaders[TEST_SET]

    def mask_method(self, name: str) -> str:
        """The mask that scores evaluation set ``name`` (sources that know the anatomy say which)."""
        return THRESHOLD_MASK

    def scored_sets(self) -> dict[str, ScoredSet]:
        """Subjects, images and mask of each evaluation set, as the tables and the run record report them."""
        self.setup()
        trained = {item.get("subject") for item in self.datasets["train"].data} - {None}
        scored = {}
        for name in self.evaluation_sets:
            items = (self.datasets | self.held_out)[name].data
            subjects = {item.get("subject") for item in items}
            count = None if None in subjects else len(subjects)
            scored[name] = ScoredSet(count, len(items), self.mask_method(name), len(subjects & trained))
        return scored

    def split_sizes(self) -> dict[str, int]:
        """Number of samples in each split and each held-out set."""
        self.setup()
        return {name: len(dataset) for name, dataset in (self.datasets | self.held_out).items()}

    def clean_images(self, split: str) -> torch.Tensor:
        """The preprocessed clean images of a set-up split, stacked ``(N, C, *spatial)``."""
        dataset = self.datasets[split]
        return torch.stack([torch.as_tensor(dataset[index]["image"]) for index in range(len(dataset))])

    def fingerprint(self) -> str:
        """SHA-256 of the noise settings and every preprocessed sample of every split, in order."""
        self.setup()
        if self._fingerprint is None:
            raise RuntimeError("setup() left no fingerprint")
        return self._fingerprint
