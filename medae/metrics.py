"""Image-quality metrics: per-image PSNR and SSIM with an explicit data range."""

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
