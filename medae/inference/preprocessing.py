"""A run's preprocessing applied to a new scan and undone on the results, so they land in the scan's grid.

Training reads a file (a volume in RAS, resampled to ``spacing`` if one is set; :func:`read_scan` does the
same), maps its intensities with the data's preset (CT window, percentiles, min-max, z-score),
cuts a volume into slices along ``axis`` for a 2D model, and resizes each sample so its longest side is
``image_size``, padding the rest. :class:`ScanPreprocessing` does the same to a scan, and its inverse to
what the network returns: the padding is cropped, the sample resized back to the scan's own size, the
slices stacked in the scan's order and the intensities mapped back to the scan's units (HU for CT).
With ``sliding_window`` the scan is not resized: MONAI's ``sliding_window_inference`` runs the network
over windows of ``image_size`` at the scan's own resolution.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from monai.transforms import Resize, SpatialPad

from medae.data.intensity import DEFAULT_ZSCORE_CLIP, fit_intensity, intensity_transform, value_range
from medae.data.orientation import axis_index
from medae.errors import DataError

# the intensity preset of a data config, with the defaults of the file-based sources
INTENSITY_DEFAULTS: dict[str, Any] = {
    "normalization": "unit",
    "window": None,
    "window_level_width": None,
    "percentiles": None,
    "zscore_clip": DEFAULT_ZSCORE_CLIP,
}


@dataclass(frozen=True)
class ScanPreprocessing:
    """What a run's network expects and how a scan is brought to it.

    Attributes:
        channels: image channels.
        spatial_dims: 2 (slices or pictures) or 3 (volumes).
        image_size: the side of a sample (or of a sliding window).
        axis: the array axis of the RAS volume that a 2D model's slices are cut along (2: axial).
        intensity: the intensity preset (:data:`INTENSITY_DEFAULTS` keys).
        spacing: the voxel size in millimetres the run resampled volumes to (``data.spacing``), or ``None``.
        full_resolution: the run trained on patches of samples at their own resolution, so its scans are
            predicted by sliding windows.
        training_spacing: the voxel size (mm, RAS x, y, z) of the volumes the run trained on, as its data
            source measured it; ``None`` for a run on 2D images (or one recorded before medae kept it).

    Example:
        >>> prep = ScanPreprocessing.from_data_config({"image_size": 32, "spatial_dims": 2, "channels": 1})
        >>> volume = np.random.default_rng(0).random((1, 40, 50, 6), dtype=np.float32) * 100
        >>> samples, restore = prep.prepare(volume, "scan.nii.gz")
        >>> samples.shape, restore(samples).shape
        (torch.Size([6, 1, 32, 32]), (1, 40, 50, 6))
    """

    channels: int = 1
    spatial_dims: int = 2
    image_size: int = 64
    axis: int = 2
    intensity: dict[str, Any] = field(default_factory=lambda: dict(INTENSITY_DEFAULTS))
    spacing: list[float] | None = None
    full_resolution: bool = False
    training_spacing: list[float] | None = None

    @classmethod
    def from_data_config(
        cls, data: Mapping[str, Any], training_spacing: Sequence[float] | None = None
    ) -> "ScanPreprocessing":
        """The preprocessing of a run's ``data`` config (any source; keys it lacks take the defaults).

        ``training_spacing``: what the run's data source measured (:attr:`training_spacing`).
        """
        axes = data.get("axes")
        axis = axis_index(data.get("axis", axes[0] if axes else "axial"))
        intensity = {key: data.get(key, default) for key, default in INTENSITY_DEFAULTS.items()}
        intensity = {
            key: list(value) if isinstance(value, (list, tuple)) else value
            for key, value in intensity.items()
        }
        return cls(
            int(data.get("channels", 1)),
            int(data.get("spatial_dims", 2)),
            int(data.get("image_size", 64)),
            axis,
            intensity,
            list(data["spacing"]) if data.get("spacing") else None,
            bool(data.get("full_resolution", False)),
            [float(size) for size in training_spacing] if training_spacing else None,
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ScanPreprocessing":
        """The inverse of :meth:`to_dict`."""
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for a JSON sidecar or a model package."""
        return asdict(self)

    @property
    def resample_spacing(self) -> list[float] | None:
        """The voxel size new volumes are resampled to: the run's ``data.spacing``, else its training data's.

        Example:
            >>> ScanPreprocessing(training_spacing=[1.0, 1.0, 1.0]).resample_spacing
            [1.0, 1.0, 1.0]
            >>> ScanPreprocessing(spacing=[2.0, 2.0, 2.0], training_spacing=[1.0, 1.0, 1.0]).resample_spacing
            [2.0, 2.0, 2.0]
        """
        return self.spacing or self.training_spacing

    @property
    def value_range(self) -> tuple[float, float]:
        """The range of the intensities the network sees."""
        return value_range(self.intensity["normalization"], self.intensity["zscore_clip"])

    def check(self, pixels: np.ndarray, source: str, sliding_window: bool) -> None:
        """Raise a DataError unless a scan ``(C, *spatial)`` fits the network."""
        if pixels.shape[0] != self.channels:
            raise DataError(source, f"has {pixels.shape[0]} channels; the model takes {self.channels}")
        dims = pixels.ndim - 1
        if dims not in (2, 3) or dims < self.spatial_dims:
            needed = "a volume" if self.spatial_dims == 3 else "a 2D image or a volume"
            raise DataError(
                source, f"has {dims} spatial dimensions {list(pixels.shape[1:])}; the model takes {needed}"
            )
        if sliding_window:
            spatial = (
                pixels.shape[1:] if dims == self.spatial_dims else np.delete(pixels.shape[1:], self.axis)
            )
            if min(spatial) < self.image_size:
                raise DataError(
                    source,
                    f"is {list(pixels.shape[1:])} voxels, smaller than the {self.image_size}-voxel window "
                    "on some axis; predict it without sliding_window",
                )

    def prepare(
        self, pixels: np.ndarray, source: str, sliding_window: bool = False
    ) -> tuple[torch.Tensor | list[torch.Tensor], Callable[..., np.ndarray]]:
        """The network's inputs for a scan, and the function that puts its outputs back in the scan's grid.

        Args:
            pixels: the scan ``(C, *spatial)`` as read.
            source: its path, for messages.
            sliding_window: keep the scan's resolution (the inputs are then a list of whole samples).

        Returns:
            The inputs, ``(N, C, S, ...)`` or a list of ``(C, *spatial)`` samples with ``sliding_window``, and
            ``restore``: the outputs, one per sample (a tensor ``(N, C, S, ...)`` or a list), in the network's
            intensity range, to ``(C, *spatial)`` in the scan's units (``in_scan_units=False`` keeps the
            network's intensities, for anomaly maps).
        """
        self.check(pixels, source, sliding_window)
        unit = np.asarray(intensity_transform(**self.intensity)(pixels), dtype=np.float32)
        fitted = fit_intensity(pixels, **self.intensity)
        sliced = pixels.ndim - 1 > self.spatial_dims
        samples = np.moveaxis(unit, self.axis + 1, 0) if sliced else unit[None]  # (N, C, *spatial)
        shape = samples.shape[2:]
        if sliding_window:
            inputs: torch.Tensor | list[torch.Tensor] = list(torch.from_numpy(np.ascontiguousarray(samples)))
        else:
            inputs = self.to_model(samples)

        def restore(outputs: Sequence[torch.Tensor], in_scan_units: bool = True) -> np.ndarray:
            stack = (
                torch.stack(list(outputs))
                if sliding_window
                else self.from_model(torch.as_tensor(outputs), shape)
            )
            restored = np.moveaxis(np.asarray(stack), 0, self.axis + 1) if sliced else np.asarray(stack[0])
            low, high = self.value_range
            return fitted.inverse(np.clip(restored, low, high)) if in_scan_units else restored

        return inputs, restore

    def mask_to_model(self, mask: np.ndarray) -> torch.Tensor:
        """A scan's boolean mask ``(1, *spatial)`` on the inputs' grid ``(N, 1, S, ...)``.

        It is laid out and resized as :meth:`prepare` does the scan; a resized pixel is in the mask when at
        least half of it was.
        """
        sliced = mask.ndim - 1 > self.spatial_dims
        samples = np.moveaxis(mask, self.axis + 1, 0) if sliced else mask[None]
        return self.to_model(np.ascontiguousarray(samples, dtype=np.float32)) >= 0.5

    def to_model(self, samples: np.ndarray) -> torch.Tensor:
        """Samples ``(N, C, *spatial)`` resized so the longest side is ``image_size``, then padded square.

        The samples go through MONAI's ``Resize`` and ``SpatialPad`` as the channels of one image: one call.
        """
        flat = samples.reshape(-1, *samples.shape[2:])
        resized = Resize(self.image_size, size_mode="longest", anti_aliasing=True)(torch.from_numpy(flat))
        padded = SpatialPad([self.image_size] * self.spatial_dims, value=self.value_range[0])(resized)
        return torch.as_tensor(np.asarray(padded), dtype=torch.float32).reshape(
            *samples.shape[:2], *padded.shape[1:]
        )

    def from_model(self, outputs: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The inverse of :meth:`to_model`: the padding cropped, the samples resized back to ``shape``."""
        scale = self.image_size / max(shape)
        resized = [int(round(side * scale)) for side in shape]  # as MONAI's Resize(size_mode="longest")
        start = [(self.image_size - side) // 2 for side in resized]
        crop = tuple(slice(begin, begin + side) for begin, side in zip(start, resized, strict=True))
        cropped = outputs[(slice(None), slice(None), *crop)]
        if tuple(cropped.shape[2:]) == tuple(shape):
            return cropped
        flat = cropped.reshape(-1, *cropped.shape[2:])
        back = torch.as_tensor(np.asarray(Resize(list(shape), anti_aliasing=True)(flat)))
        return back.reshape(*outputs.shape[:2], *shape)
