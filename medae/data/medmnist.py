"""MedMNIST v2 from its official npz files (``{flag}.npz`` or ``{flag}_{size}.npz``), official splits."""

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import Compose, EnsureTyped, Lambdad, ResizeD

from medae.data.image_checks import check_finite
from medae.data.image_reading import LUMA
from medae.data.intensity import DEFAULT_ZSCORE_CLIP, intensity_transform, value_range
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.data.registry import DATA_SOURCES
from medae.data.slab_split import SPLITS
from medae.errors import ConfigError, DataError, check_choices

SIZES = (28, 64, 128, 224)
SIZES_3D = (28, 64)  # the 3D subsets (``*mnist3d``) are released at these sizes only
MAX_GREY = 255.0


def npz_path(root: Path, flag: str, size: int) -> Path:
    """Where the official file of ``flag`` at ``size`` lives."""
    return root / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")


def download_npz(flag: str, size: int, root: Path) -> None:
    """Fetch the file with the ``medmnist`` package; a clear error when it or the network is missing."""
    if importlib.util.find_spec("medmnist") is None:
        raise DataError(
            f"data.download for '{flag}'",
            f"needs the medmnist package (pip install medmnist) and network access; or place "
            f"{npz_path(root, flag, size).name} in data.root={root}",
        )
    import medmnist

    info = medmnist.INFO.get(flag)
    if info is None:
        raise ConfigError("data.flag", f"unknown MedMNIST flag '{flag}'; allowed: {', '.join(medmnist.INFO)}")
    try:
        getattr(medmnist, info["python_class"])(split="train", root=str(root), size=size, download=True)
    except Exception as error:
        raise DataError(f"MedMNIST '{flag}'", f"download failed ({type(error).__name__}: {error})") from error


@DATA_SOURCES.register("medmnist", root="${paths.medmnist_dir}", image_size=32)
class MedMNISTDataModule(ReconstructionDataModule):
    """Any 2D or 3D MedMNIST subset, read from the official npz, with its labels and official splits.

    Example (the PneumoniaMNIST file of this project's shared data):
        ``medae train data=medmnist data.flag=pneumoniamnist data.root=../shared/data``

    Args:
        root: folder holding the npz file.
        flag: the subset, e.g. ``pneumoniamnist``, ``chestmnist``, ``organmnist3d``.
        size: the file's image size (28, 64, 128 or 224; 28 or 64 for the 3D subsets).
        download: fetch the file through the ``medmnist`` package when it is missing.
        labels: keep only samples with these labels (e.g. ``[0]`` to train on normal images only).
        labels_in: the splits that ``labels`` filters; ``[train, val]`` keeps every class in test, as
            anomaly detection needs.
        normalization: ``unit``, ``symmetric`` or ``zscore`` (see :mod:`medae.data.intensity`).
        per_image_scaling: min-max scale every image on its own. Off by default: grey levels are
            divided by 255, so brightness differences between images stay. Per-image scaling hands
            intensity a shortcut (PneumoniaMNIST: the intensity baseline's AUROC comes from it).
        **kwargs: see :class:`ReconstructionDataModule`; ``image_size`` resizes the images.
    """

    def __init__(
        self,
        root: str = "",
        flag: str = "pneumoniamnist",
        size: int = 28,
        download: bool = False,
        labels: tuple[int, ...] | None = None,
        labels_in: tuple[str, ...] = SPLITS,
        normalization: str = "unit",
        per_image_scaling: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if size not in SIZES:
            raise ConfigError("data.size", f"must be one of {list(SIZES)}, got {size}")
        if flag.endswith("3d") and size not in SIZES_3D:
            raise ConfigError(
                "data.size", f"{flag} is released at {list(SIZES_3D)} only (MedMNIST+ 3D), got {size}"
            )
        self.root = Path(root).expanduser()
        self.flag = flag
        self.size = size
        self.download = download
        self.labels = tuple(labels) if labels is not None else None
        check_choices("data.labels_in", labels_in, SPLITS, what="split")
        self.labels_in = tuple(labels_in)
        self.scale = intensity_transform(normalization, per_image=per_image_scaling)
        self.value_range = value_range(normalization, DEFAULT_ZSCORE_CLIP)

    def load_splits(self) -> dict[str, list[dict[str, Any]]]:
        """Read the npz; images scaled from 0..255, labels from ``{split}_labels``."""
        path = npz_path(self.root, self.flag, self.size)
        if not path.is_file():
            if not self.download:
                raise DataError(str(path), "not found; set data.root to its folder, or data.download=true")
            download_npz(self.flag, self.size, self.root)
        try:
            archive = np.load(path)
            arrays = {split: (archive[f"{split}_images"], archive[f"{split}_labels"]) for split in SPLITS}
        except Exception as error:
            raise DataError(
                str(path), f"is not an official MedMNIST npz ({type(error).__name__}: {error})"
            ) from error
        return {split: self._items(path, split, *arrays[split]) for split in SPLITS}

    def _items(self, path: Path, split: str, images: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
        spatial = images.ndim - 1 - (images.shape[-1] == 3 and images.ndim in (4, 5))
        if spatial != self.spatial_dims:
            raise DataError(str(path), f"holds {spatial}D images but data.spatial_dims={self.spatial_dims}")
        check_finite(images, str(path))
        items = []
        for index, (image, label) in enumerate(
            zip(images.astype(np.float32) / MAX_GREY, labels, strict=True)
        ):
            label_value = int(label.reshape(-1)[0])
            if self.labels is not None and split in self.labels_in and label_value not in self.labels:
                continue
            if image.shape[-1] == 3 and image.ndim == self.spatial_dims + 1:
                image = np.moveaxis(image, -1, 0) if self.channels == 3 else (image @ LUMA)[None]
            else:
                image = image[None]
            items.append({"image": image, "label": label_value, "position": f"{split}:{index}"})
        if not items:
            raise DataError(str(path), f"has no {split} sample with labels {list(self.labels or [])}")
        return items

    def preprocessing(self) -> Compose:
        """Resize to ``image_size`` (MedMNIST images are square) and apply the intensity preset."""
        return Compose(
            [
                ResizeD("image", spatial_size=[self.image_size] * self.spatial_dims, anti_aliasing=True),
                Lambdad("image", lambda image: self.scale(np.asarray(image))),
                EnsureTyped("image", dtype=np.float32, track_meta=False),
            ]
        )
