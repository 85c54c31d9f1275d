"""Image-quality metrics: PSNR and SSIM over whole images and over their foreground, outputs clamped.

Whole-image scores of brain slices are dominated by the background, which is exactly zero in
skull-stripped data: a method that leaves 0.01 there loses SSIM that says nothing about the brain.
The ``*_fg`` metrics score only the pixels of a foreground mask (the brain, the body), as the data
module defines it (``batch.mask``); without a mask every pixel is foreground.
"""

from abc import ABC, abstractmethod

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio


def per_image_mean(values: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` ``(N, C, *spatial)`` over each image's mask; and which images have mask pixels."""
    if mask is None:
        mask = torch.ones_like(values, dtype=torch.bool)
    mask = mask.expand_as(values).to(values.dtype)
    counts = mask.flatten(1).sum(dim=1)
    means = (values * mask).flatten(1).sum(dim=1) / counts.clamp(min=1)
    return means, counts > 0


class _ForegroundMean(Metric, ABC):
    """Mean over images of a per-image score computed on the mask's pixels; empty masks are skipped."""

    full_state_update = False
    higher_is_better = True
    total: torch.Tensor
    images: torch.Tensor

    def __init__(self, data_range: float) -> None:
        super().__init__()
        self.data_range = data_range
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @abstractmethod
    def per_image(self, preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> tuple:
        """Each image's score over its mask, and which images have mask pixels."""

    def update(self, preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add a batch ``(N, C, *spatial)``; ``mask`` broadcasts to it (``None``: every pixel)."""
        scores, valid = self.per_image(preds.float(), target.float(), mask)
        self.total += scores[valid].double().sum()
        self.images += valid.sum()

    def compute(self) -> torch.Tensor:
        """The mean over images."""
        return (self.total / self.images.clamp(min=1)).float()


class ForegroundPSNR(_ForegroundMean):
    """PSNR (dB) of each image over its foreground pixels, averaged over images.

    Example:
        >>> clean = torch.zeros(1, 1, 4, 4)
        >>> mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
        >>> mask[..., :2, :] = True
        >>> output = clean.clone()
        >>> output[..., :2, :] = 0.1  # error only inside the mask
        >>> metric = ForegroundPSNR(data_range=1.0)
        >>> metric.update(output, clean, mask)
        >>> round(float(metric.compute()), 2)
        20.0
    """

    def per_image(self, preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> tuple:
        """PSNR of the mean squared error over the mask."""
        mse, valid = per_image_mean((preds - target) ** 2, mask)
        return 10 * torch.log10(self.data_range**2 / mse.clamp(min=1e-12)), valid


# torchmetrics' Gaussian window (11 pixels, sigma 1.5) reaches this far past an image's edge, where it sees
# reflected pixels; scikit-image's structural_similarity leaves that border out of its mean, and so does medae
SSIM_BORDER = 5
# slab depth of the SSIM map of a volume (see ssim_map)
SSIM_SLAB = 32


def without_border(values: torch.Tensor, border: int = SSIM_BORDER) -> torch.Tensor:
    """``(N, C, *spatial)`` less ``border`` pixels at each side of every spatial axis.

    Example:
        >>> without_border(torch.zeros(2, 1, 32, 32, 32)).shape
        torch.Size([2, 1, 22, 22, 22])
    """
    inside = tuple(slice(border, size - border) for size in values.shape[2:])
    return values[(slice(None), slice(None), *inside)]


def ssim_map(preds: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    """Torchmetrics' SSIM map of ``(N, C, *spatial)``; volumes in slabs along the last axis.

    A volume deeper than two :data:`SSIM_SLAB` runs slab by slab, each with the window's reach
    (:data:`SSIM_BORDER` voxels) of its neighbours on both sides, so every voxel's value is the one of the
    whole volume, at a fraction of the memory (a 197 x 233 x 189 volume in one call takes about 3 GB).

    Example:
        >>> a, b = torch.rand(1, 1, 24, 24, 80), torch.rand(1, 1, 24, 24, 80)
        >>> whole = structural_similarity_index_measure(a, b, data_range=1.0, return_full_image=True)[1]
        >>> bool(torch.allclose(ssim_map(a, b, 1.0), whole, atol=1e-6))
        True
    """
    depth = preds.shape[-1]
    if preds.ndim < 5 or depth <= 2 * SSIM_SLAB:
        slabs = [(0, depth)]
    else:
        slabs = [(start, min(start + SSIM_SLAB, depth)) for start in range(0, depth, SSIM_SLAB)]
    pieces = []
    for start, stop in slabs:
        low, high = max(0, start - SSIM_BORDER), min(depth, stop + SSIM_BORDER)
        _, similarity = structural_similarity_index_measure(
            preds[..., low:high],
            target[..., low:high],
            data_range=data_range,
            reduction="none",
            return_full_image=True,
        )
        pieces.append(similarity[..., start - low : stop - low])
    return torch.cat(pieces, dim=-1)


class SSIMOfLastBatch:
    """SSIM of a batch, each image's score and its map without the border, kept for the next caller.

    The map is torchmetrics' (``return_full_image``); the :data:`SSIM_BORDER` pixels at each edge, where
    the window sees reflected pixels, are left out of both, as scikit-image's ``structural_similarity``
    does (its value with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``). The
    whole-image and the foreground SSIM of one batch share it, so the map is computed once.
    """

    def __init__(self, data_range: float) -> None:
        self.data_range = data_range
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None
        self.scores: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image SSIM and the SSIM map, both without the border."""
        if self.batch is None or self.batch[0] is not preds or self.batch[1] is not target:
            inside = without_border(ssim_map(preds, target, self.data_range))
            self.scores = (inside.flatten(1).mean(dim=1), inside)
            self.batch = (preds, target)
        assert self.scores is not None  # set with self.batch
        return self.scores


class WholeImageSSIM(_ForegroundMean):
    """SSIM of each image without its border (:class:`SSIMOfLastBatch`), averaged over images.

    Example:
        >>> clean = torch.rand(2, 1, 32, 32)
        >>> metric = WholeImageSSIM(SSIMOfLastBatch(data_range=1.0))
        >>> metric.update(clean, clean)
        >>> round(float(metric.compute()), 4)
        1.0
    """

    def __init__(self, ssim: SSIMOfLastBatch) -> None:
        super().__init__(ssim.data_range)
        self.ssim = ssim

    def per_image(self, preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> tuple:
        """Each image's SSIM; the mask is ignored."""
        scores, _ = self.ssim(preds, target)
        return scores, torch.ones_like(scores, dtype=torch.bool)


class ForegroundSSIM(WholeImageSSIM):
    """SSIM averaged over each image's foreground pixels inside the border, then over images.

    Example:
        >>> clean = torch.rand(2, 1, 32, 32)
        >>> metric = ForegroundSSIM(SSIMOfLastBatch(data_range=1.0))
        >>> metric.update(clean, clean, clean > 0.5)
        >>> round(float(metric.compute()), 4)
        1.0
    """

    def per_image(self, preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> tuple:
        """The SSIM map's mean over the mask (the border left out of both)."""
        _, similarity = self.ssim(preds, target)
        inside = None if mask is None else without_border(mask.expand_as(preds))
        return per_image_mean(similarity, inside)


def image_quality_metrics(spatial_dims: int, data_range: float, prefix: str) -> MetricCollection:
    """PSNR (dB, averaged over images) and SSIM, whole-image and foreground, for ``(N, C, *spatial)``.

    ``update(preds, target, mask=mask)``: the whole-image metrics ignore the mask.

    Example:
        >>> metrics = image_quality_metrics(2, 1.0, "val/")
        >>> sorted(metrics.keys())
        ['val/psnr', 'val/psnr_fg', 'val/ssim', 'val/ssim_fg']
    """
    per_image = tuple(range(1, spatial_dims + 2))
    ssim = SSIMOfLastBatch(data_range)
    return MetricCollection(
        {
            "psnr": PeakSignalNoiseRatio(data_range=data_range, dim=per_image),
            "ssim": WholeImageSSIM(ssim),
            "psnr_fg": ForegroundPSNR(data_range),
            "ssim_fg": ForegroundSSIM(ssim),
        },
        prefix=prefix,
        compute_groups=False,
    )


def quality(
    output: torch.Tensor,
    clean: torch.Tensor,
    value_range: tuple[float, float],
    mask: torch.Tensor | None = None,
    prefix: str = "test/",
) -> dict[str, float]:
    """PSNR and SSIM (whole image and foreground) of a set of outputs, clamped to ``value_range`` first.

    Example:
        >>> clean = torch.zeros(2, 1, 16, 16)
        >>> scores = quality(clean + 0.1, clean, (0.0, 1.0))
        >>> round(scores["test/psnr"], 2), round(scores["test/psnr_fg"], 2)
        (20.0, 20.0)
    """
    metrics = image_quality_metrics(clean.ndim - 2, value_range[1] - value_range[0], prefix)
    scored = metrics(output.float().clamp(*value_range), clean.float(), mask=mask)
    return {key: float(value) for key, value in scored.items()}


def per_image_quality(
    output: torch.Tensor,
    clean: torch.Tensor,
    value_range: tuple[float, float],
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Each image's PSNR and SSIM, whole and foreground, as :func:`quality` averages them.

    The output is clamped to ``value_range`` first. An image whose mask is empty gets NaN foreground
    scores (:func:`quality` leaves it out of the mean).

    Example:
        >>> clean = torch.zeros(2, 1, 16, 16)
        >>> scores = per_image_quality(clean + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1), clean, (0.0, 1.0))
        >>> [round(value, 2) for value in scores["psnr"].tolist()]
        [20.0, 40.0]
    """
    data_range = value_range[1] - value_range[0]
    preds, target = output.float().clamp(*value_range), clean.float()
    ssim = SSIMOfLastBatch(data_range)
    psnr = ForegroundPSNR(data_range)
    scored = {
        "psnr": psnr.per_image(preds, target, None),
        "psnr_fg": psnr.per_image(preds, target, mask),
        "ssim": WholeImageSSIM(ssim).per_image(preds, target, None),
        "ssim_fg": ForegroundSSIM(ssim).per_image(preds, target, mask),
    }
    return {key: torch.where(valid, values, torch.nan) for key, (values, valid) in scored.items()}
