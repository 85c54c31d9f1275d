"""Each image's scores as a run artifact, so that tables can pair methods image by image.

A run that measures a set writes ``per_image/<set>.csv``: one row per image with its position, its subject
and its PSNR and SSIM (whole and foreground, :func:`medae.metrics.per_image_quality`). Two methods scored
on the same images pair by position; the subjects give the levels of the hierarchical bootstrap
(:mod:`medae.evaluation.hierarchical_bootstrap`).
"""

import csv
import io

import numpy as np
import torch

from medae.evaluation.split_tensors import SplitTensors
from medae.metrics import per_image_quality

FOLDER = "per_image"
SCORES = ("psnr", "psnr_fg", "ssim", "ssim_fg")


def artifact_path(evaluation_set: str) -> str:
    """Where a run keeps the per-image scores of ``evaluation_set``."""
    return f"{FOLDER}/{evaluation_set}.csv"


def per_image_csv(output: torch.Tensor, split: SplitTensors, value_range: tuple[float, float]) -> str:
    """The CSV of each image's position, subject and scores of ``output`` against ``split``'s clean images.

    Example:
        >>> clean = torch.zeros(2, 1, 16, 16)
        >>> split = SplitTensors(clean, clean, None, ["axial:3", "axial:4"], subjects=["s1", "s1"])
        >>> print(per_image_csv(clean + 0.1, split, (0.0, 1.0)).splitlines()[1])
        axial:3,s1,20,20,0.00990097,0.00990097
    """
    scores = per_image_quality(output, split.image, value_range, split.mask)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["position", "subject", *SCORES])
    for index, (position, subject) in enumerate(zip(split.ids, split.subjects, strict=True)):
        writer.writerow([position, subject, *(f"{float(scores[key][index]):.6g}" for key in SCORES)])
    return buffer.getvalue()


def read_per_image(text: str) -> dict[str, np.ndarray]:
    """A per-image CSV as columns: ``position`` and ``subject`` (strings) and each score (floats)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    columns = {key: np.asarray([row[key] for row in rows]) for key in ("position", "subject")}
    return columns | {key: np.asarray([float(row[key]) for row in rows]) for key in SCORES}
