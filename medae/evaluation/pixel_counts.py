"""Each image's pixel counts per score threshold, so that tables can bootstrap the pooled pixel AP.

The pixel AP pools the foreground pixels of every image of a set, and reads precision and recall at
``PIXEL_THRESHOLDS`` thresholds of the maps scaled to [0, 1] over the set
(:func:`medae.evaluation.anomaly_metrics.localization_metrics`). Counting, for every image, its
anomalous and normal pixels between consecutive thresholds keeps exactly what that AP needs: summing
the counts of any selection of images and reading the AP off the sums gives the pooled AP of that
selection. A bootstrap over subjects and slices then costs a sum per replicate, not a pass over pixels.
A run keeps the counts as ``anomaly_pixels/<set>.json`` (images in the order of its image scores).
"""

import json

import numpy as np
import torch

from medae.evaluation.anomaly_metrics import PIXEL_THRESHOLDS, to_unit_interval
from medae.evaluation.hierarchical_bootstrap import Interval, recomputed_interval
from medae.evaluation.image_scores import unit_rows

FOLDER = "anomaly_pixels"


def artifact_path(evaluation_set: str) -> str:
    """Where a run keeps the pixel counts of ``evaluation_set``."""
    return f"{FOLDER}/{evaluation_set}.json"


def pixel_counts(
    maps: torch.Tensor, masks: torch.Tensor, foreground: torch.Tensor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each image's anomalous and normal foreground pixels per threshold bin, ``(N, thresholds)`` each.

    Bin ``j`` holds the pixels whose score, scaled to [0, 1] over the set's foreground, is at least the
    ``j``-th threshold and below the next.
    """
    every = torch.ones_like(maps, dtype=torch.bool)
    inside = (every if foreground is None else foreground.expand_as(maps)).flatten(1)
    values, anomalous = maps.flatten(1).double(), masks.expand_as(maps).flatten(1).bool()
    scaled = torch.zeros_like(values)
    scaled[inside] = to_unit_interval(values[inside])
    bins = (scaled * (PIXEL_THRESHOLDS - 1) + 1e-9).floor().clamp(0, PIXEL_THRESHOLDS - 1).long()

    def counted(which: torch.Tensor) -> np.ndarray:
        return np.stack(
            [torch.bincount(bins[i][which[i]], minlength=PIXEL_THRESHOLDS).numpy() for i in range(len(maps))]
        )

    return counted(inside & anomalous), counted(inside & ~anomalous)


def binned_ap(positive: np.ndarray, negative: np.ndarray) -> float:
    """The average precision of pooled counts per threshold bin (torchmetrics' binned definition).

    Example:
        >>> binned_ap(np.array([0, 0, 2]), np.array([3, 1, 0]))
        1.0
        >>> binned_ap(np.array([1, 0]), np.array([0, 1]))  # the anomalous pixel scores below the normal one
        0.5
    """
    positive, negative = np.atleast_2d(positive).sum(axis=0), np.atleast_2d(negative).sum(axis=0)
    total = positive.sum()
    if not total:
        return float("nan")
    true = np.cumsum(positive[::-1])[::-1]  # anomalous pixels at or above each threshold
    false = np.cumsum(negative[::-1])[::-1]
    called = true + false
    precision = np.append(np.where(called > 0, true / np.maximum(called, 1), 1.0), 1.0)
    recall = np.append(true / total, 0.0)
    return float(-np.sum((recall[1:] - recall[:-1]) * precision[:-1]))


def counts_json(positive: np.ndarray, negative: np.ndarray) -> str:
    """The counts as the JSON a run keeps."""
    return json.dumps({"positive": positive.tolist(), "negative": negative.tolist()})


def read_counts(text: str) -> dict[str, np.ndarray]:
    """A kept JSON of counts as ``positive`` and ``negative`` arrays ``(N, PIXEL_THRESHOLDS)``."""
    return {key: np.asarray(value, dtype=np.int64) for key, value in json.loads(text).items()}


def pixel_ap_difference(
    ours: list[dict[str, np.ndarray]],
    theirs: list[dict[str, np.ndarray]],
    positions: list[str],
    subjects: list[str],
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Our pooled pixel AP minus theirs, averaged over seeds, with its hierarchical bootstrap interval.

    Args:
        ours: each seed's counts (:func:`read_counts`), images in the order of ``positions``.
        theirs: the same of the method compared.
        positions: each image's position; a slice and its lesioned copy share one and are drawn together.
        subjects: each image's subject.
        resamples: bootstrap replicates (seeds, subjects, positions within subjects).
        level: coverage of the interval.
        seed: seed of the resampling.

    Returns:
        The interval; ``images`` counts positions and ``wins`` those whose own AP is higher for us.
    """
    seeds = min(len(ours), len(theirs))
    names, rows = unit_rows(np.asarray(positions))
    subject_of = dict(zip(positions, subjects, strict=True))

    def difference(index: int, picked: np.ndarray) -> float:
        mine, other = ours[index], theirs[index]
        return binned_ap(mine["positive"][picked], mine["negative"][picked]) - binned_ap(
            other["positive"][picked], other["negative"][picked]
        )

    unit_subjects = [subject_of[name] for name in names]
    mean, low, high = recomputed_interval(difference, seeds, rows, unit_subjects, resamples, level, seed)
    own = np.array([[difference(index, unit) for unit in rows] for index in range(seeds)])
    wins = int((np.nanmean(own, axis=0) > 0).sum())
    return Interval(mean, low, high, seeds, len(set(subjects)), len(names), wins)
