"""Anomaly detection and localisation metrics (torchmetrics): image AUROC/AP, pixel AP, Dice."""

import contextlib
from collections.abc import Iterator

import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_precision_recall_curve,
)

PIXEL_THRESHOLDS = 200


@contextlib.contextmanager
def bincount_allowed() -> Iterator[None]:
    """Let torchmetrics use ``torch.bincount`` on CPU while a run is in deterministic mode.

    Under ``torch.use_deterministic_algorithms`` torchmetrics replaces bincount by a dense mesh of
    pixels x thresholds (tens of GB for a few hundred slices); bincount on a CPU is deterministic.
    """
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def detection_metrics(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Image-level AUROC and average precision of anomaly scores (label 1 = anomalous).

    Example:
        >>> detection_metrics(torch.tensor([0.1, 0.2, 0.8, 0.9]), torch.tensor([0, 0, 1, 1]))
        {'image_auroc': 1.0, 'image_ap': 1.0}
    """
    scores = to_unit_interval(scores.double())
    return {
        "image_auroc": float(binary_auroc(scores, labels.long())),
        "image_ap": float(binary_average_precision(scores, labels.long())),
    }


def to_unit_interval(values: torch.Tensor) -> torch.Tensor:
    """Min-max scale to [0, 1] (order kept), as torchmetrics reads values outside it as logits."""
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else torch.zeros_like(values)


def localization_metrics(
    maps: torch.Tensor, masks: torch.Tensor, foreground: torch.Tensor | None = None
) -> dict[str, float]:
    """Pixel average precision and the best Dice over thresholds, pooled over the pixels of every image.

    With ``foreground``, only its pixels count (the brain: background pixels are trivially normal).

    Both use ``PIXEL_THRESHOLDS`` evenly spaced thresholds on the maps scaled to [0, 1], as the MOOD
    challenge and the brain-MRI comparisons of reconstruction-based methods report them. Dice is F1, read
    off torchmetrics' precision-recall curve: neither torchmetrics nor MONAI has a best-F1-over-thresholds.

    Example:
        >>> masks = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
        >>> masks[0, 0, 2:4, 2:4] = True
        >>> m = localization_metrics(masks.float() * 0.9 + 0.05, masks)
        >>> round(m["pixel_ap"], 3), round(m["best_dice"], 3)
        (1.0, 1.0)
    """
    if foreground is not None:
        inside = foreground.expand_as(maps).flatten()
        maps, masks = maps.flatten()[inside], masks.flatten()[inside]
    preds = to_unit_interval(maps.double().flatten()).float()
    target = masks.flatten().long()
    on_cpu = preds.device.type == "cpu"
    with bincount_allowed() if on_cpu else contextlib.nullcontext():
        precision, recall, thresholds = binary_precision_recall_curve(preds, target, PIXEL_THRESHOLDS)
        pixel_ap = binary_average_precision(preds, target, thresholds=PIXEL_THRESHOLDS)
    dice = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    best = int(dice.argmax())
    return {
        "pixel_ap": float(pixel_ap),
        "best_dice": float(dice[best]),
        "best_dice_threshold": float(thresholds[min(best, len(thresholds) - 1)]),
    }


def healthy_threshold(maps: torch.Tensor, foreground: torch.Tensor | None, percentile: float) -> float:
    """The ``percentile`` of anomaly-map values over the foreground pixels of healthy images.

    A pixel above it is called anomalous: on healthy data ``100 - percentile`` % of the foreground would be,
    whatever a method's map scale. Chosen on healthy validation images, it is the threshold a user would
    have, unlike the best Dice over thresholds on the test set (an upper bound).

    Example:
        >>> round(healthy_threshold(torch.arange(100.0).reshape(1, 1, 10, 10), None, 95), 2)
        94.05
    """
    values = maps if foreground is None else maps[foreground.expand_as(maps)]
    return float(torch.quantile(values.double().flatten(), percentile / 100))


def dice(called: torch.Tensor, masks: torch.Tensor, foreground: torch.Tensor | None = None) -> float:
    """Dice of a segmentation against the lesion masks, pooled over every image's (foreground) pixels.

    Example:
        >>> masks = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
        >>> masks[..., :2, :2] = True
        >>> dice(masks, masks), dice(torch.ones(1, 1, 4, 4), masks)
        (1.0, 0.4)
    """
    called, truth = called.bool(), masks.bool()
    if foreground is not None:
        inside = foreground.expand_as(called)
        called, truth = called[inside], truth[inside]
    overlap = (called & truth).sum().item()
    total = called.sum().item() + truth.sum().item()
    return 2 * overlap / total if total else 1.0
