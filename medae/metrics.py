"""Image-quality metrics: per-image PSNR and SSIM with an explicit data range."""

import torch
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure


def image_quality_metrics(spatial_dims: int, data_range: float, prefix: str) -> MetricCollection:
    """PSNR (dB, averaged over images) and SSIM for batches of shape ``(N, C, *spatial)``.

    Example:
        >>> metrics = image_quality_metrics(2, 1.0, "val/")
        >>> sorted(metrics.keys())
        ['val/psnr', 'val/ssim']
    """
    per_image = tuple(range(1, spatial_dims + 2))
    return MetricCollection(
        {
            "psnr": PeakSignalNoiseRatio(data_range=data_range, dim=per_image),
            "ssim": StructuralSimilarityIndexMeasure(data_range=data_range),
        },
        prefix=prefix,
    )


def quality(output: torch.Tensor, clean: torch.Tensor, value_range: tuple[float, float]) -> dict[str, float]:
    """``test/psnr`` (mean over images) and ``test/ssim`` of a whole set of outputs against the clean images.

    Example:
        >>> clean = torch.zeros(2, 1, 16, 16)
        >>> round(quality(clean + 0.1, clean, (0.0, 1.0))["test/psnr"], 2)
        20.0
    """
    metrics = image_quality_metrics(clean.ndim - 2, value_range[1] - value_range[0], "test/")
    return {key: float(value) for key, value in metrics(output.float(), clean.float()).items()}
