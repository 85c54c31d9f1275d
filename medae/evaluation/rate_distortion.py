"""Rate-distortion curves measured image by image, their CSV and figure, Bjøntegaard deltas with intervals.

A method's curve is a list of rate points, each the bits per pixel of every image's real bitstream and
that image's PSNR and SSIM (whole and foreground). Two curves are compared by the Bjøntegaard deltas
(VCEG-M33; the ``bjontegaard`` package, piecewise cubic Hermite interpolation as in its current
recommendation): BD-rate, the mean bit-rate change in percent at equal quality over the quality range both
curves reach (negative: fewer bits than the anchor), and BD-quality, the mean quality change at equal rate
over the rate range both reach (positive: better than the anchor), which still exists when a method's
quality never reaches the anchor's. Each interval is the hierarchical bootstrap of the mean curves (seeds,
subjects, slices), so it covers the images as well as the seeds.
"""

import csv
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import bjontegaard
import numpy as np
import torch
from matplotlib.figure import Figure

from medae.evaluation.hierarchical_bootstrap import draws, percentile_interval
from medae.evaluation.per_image_table import SCORES
from medae.evaluation.split_tensors import SplitTensors
from medae.metrics import per_image_quality

FOLDER = "rate_distortion"
RD_COLUMNS = ("method", "rate", "setting", "position", "subject", "bpp", "header_bpp", *SCORES)
# BD-rate needs this many distinct points on each curve for its cubic interpolation
MIN_POINTS = 2


@dataclass
class Curve:
    """One method's rate points on one set, image by image.

    Attributes:
        settings: what set each rate (``step 0.25``, ``quality 40``).
        bpp: payload bits per pixel, ``(rates, images)``.
        header_bpp: header bits per pixel counted apart (0 for the learned codes), ``(rates, images)``.
        scores: PSNR and SSIM, whole and ``_fg``, each ``(rates, images)``.
    """

    settings: list[str]
    bpp: np.ndarray
    header_bpp: np.ndarray
    scores: dict[str, np.ndarray]

    def metrics(self) -> dict[str, float]:
        """The mean of every rate point: ``r<k>/bpp``, ``r<k>/header_bpp``, ``r<k>/psnr_fg`` ...

        Example:
            >>> curve = Curve(["q 1"], np.ones((1, 2)), np.zeros((1, 2)), {"psnr": np.array([[20.0, 30.0]])})
            >>> curve.metrics()
            {'r0/bpp': 1.0, 'r0/header_bpp': 0.0, 'r0/psnr': 25.0}
        """
        metrics = {}
        for rate in range(len(self.settings)):
            metrics[f"r{rate}/bpp"] = float(self.bpp[rate].mean())
            metrics[f"r{rate}/header_bpp"] = float(self.header_bpp[rate].mean())
            metrics |= {
                f"r{rate}/{key}": float(np.nanmean(values[rate])) for key, values in self.scores.items()
            }
        return metrics


def rate_point(
    output: torch.Tensor,
    split: SplitTensors,
    value_range: tuple[float, float],
    bits: np.ndarray,
    header_bits: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One rate point: each image's payload bpp, header bpp and scores of ``output`` against ``split``."""
    pixels = split.image[0].numel()
    scores = per_image_quality(output, split.image, value_range, split.mask)
    header = np.broadcast_to(np.asarray(header_bits, dtype=float), bits.shape)
    return bits / pixels, header / pixels, {key: values.numpy() for key, values in scores.items()}


def curve(settings: list[str], points: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]) -> Curve:
    """A :class:`Curve` from its :func:`rate_point` results, one per setting."""
    return Curve(
        settings,
        np.stack([point[0] for point in points]),
        np.stack([point[1] for point in points]),
        {key: np.stack([point[2][key] for point in points]) for key in points[0][2]},
    )


def bd_rate(
    anchor_bpp: np.ndarray, anchor_quality: np.ndarray, test_bpp: np.ndarray, test_quality: np.ndarray
) -> float:
    """BD-rate (%) of a test curve against an anchor curve; NaN when they share no quality range.

    Points that do not raise the quality over a lower rate are dropped first (the interpolation of rate
    over quality needs a monotone curve).

    Example:
        >>> rates, psnr = np.array([0.1, 0.2, 0.4, 0.8]), np.array([25.0, 28.0, 31.0, 34.0])
        >>> round(bd_rate(rates, psnr, rates / 2, psnr), 1)
        -50.0
    """
    anchor, test = _points(anchor_bpp, anchor_quality, True), _points(test_bpp, test_quality, True)
    return _bjontegaard(bjontegaard.bd_rate, anchor, test)


def bd_quality(
    anchor_bpp: np.ndarray, anchor_quality: np.ndarray, test_bpp: np.ndarray, test_quality: np.ndarray
) -> float:
    """BD-quality of a test curve against an anchor: the mean quality change at equal rate (dB for PSNR).

    NaN when the curves share no rate range.

    Example:
        >>> rates, psnr = np.array([0.1, 0.2, 0.4, 0.8]), np.array([25.0, 28.0, 31.0, 34.0])
        >>> round(bd_quality(rates, psnr, rates, psnr - 2), 2)
        -2.0
    """
    anchor, test = _points(anchor_bpp, anchor_quality, False), _points(test_bpp, test_quality, False)
    return _bjontegaard(bjontegaard.bd_psnr, anchor, test)


def _points(bpp: np.ndarray, quality: np.ndarray, rising: bool) -> tuple[np.ndarray, np.ndarray]:
    """A curve's finite points by rate; with ``rising``, only those that raise the quality."""
    order = np.argsort(bpp)
    kept_bpp: list[float] = []
    kept_quality: list[float] = []
    for rate, value in zip(np.asarray(bpp)[order], np.asarray(quality)[order], strict=True):
        if not (np.isfinite(value) and rate > 0) or (kept_bpp and rate <= kept_bpp[-1]):
            continue
        if not rising or not kept_quality or value > kept_quality[-1]:
            kept_bpp.append(rate)
            kept_quality.append(value)
    return np.array(kept_bpp), np.array(kept_quality)


def _bjontegaard(
    measure: Callable, anchor: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
) -> float:
    if min(len(anchor[0]), len(test[0])) < MIN_POINTS:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "curves do not overlap": the NaN says it
        return float(measure(*anchor, *test, method="pchip", require_matching_points=False, min_overlap=0))


# the Bjøntegaard deltas by the name of their metric: ``bd_rate_<score>`` and ``bd_<score>``
DELTAS: dict[str, Callable[..., float]] = {"bd_rate_{}": bd_rate, "bd_{}": bd_quality}


@dataclass(frozen=True)
class Delta:
    """A Bjøntegaard delta with its bootstrap interval and what it rests on."""

    mean: float
    low: float
    high: float
    subjects: int
    images: int

    def metrics(self, name: str) -> dict[str, float]:
        """``<name>``, ``<name>_low`` and ``<name>_high``."""
        return {name: self.mean, f"{name}_low": self.low, f"{name}_high": self.high}

    def __str__(self) -> str:
        if not np.isfinite(self.mean):
            return f"nan: no shared range ({self.images} images, {self.subjects} subj.)"
        text = f"{self.mean:+.3g} [{self.low:+.3g}, {self.high:+.3g}]"
        clear = self.low > 0 or self.high < 0
        return f"{f'**{text}**' if clear else text} ({self.images} images, {self.subjects} subj.)"


def delta_interval(
    delta: Callable[..., float],
    anchor: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    subjects: list[str],
    resamples: int = 1000,
    level: float = 0.95,
) -> Delta:
    """A delta (:func:`bd_rate`, :func:`bd_quality`) of the mean curves and its hierarchical interval.

    Args:
        delta: the Bjøntegaard delta.
        anchor: the anchor's ``(bpp, quality)``, each ``(seeds, rates, images)``.
        test: the test method's, the same images in the same order.
        subjects: the subject of each image.
        resamples: bootstrap replicates (seeds, subjects, then slices).
        level: coverage of the interval.
    """

    def of(seeds: np.ndarray, images: np.ndarray) -> float:
        def mean(values: np.ndarray) -> np.ndarray:
            return np.nanmean(values[seeds][:, :, images], axis=(0, 2))

        return delta(mean(anchor[0]), mean(anchor[1]), mean(test[0]), mean(test[1]))

    seeds = len(test[0])
    everything = of(np.arange(seeds), np.arange(len(subjects)))
    replicates = np.array([of(*drawn) for drawn in draws(seeds, subjects, resamples)])
    return Delta(everything, *percentile_interval(replicates, level), len(set(subjects)), len(subjects))


def artifact_path(evaluation_set: str) -> str:
    """Where a run keeps the rate-distortion points of ``evaluation_set``, image by image."""
    return f"{FOLDER}/{evaluation_set}.csv"


def curves_csv(curves: dict[str, Curve], split: SplitTensors) -> str:
    """Every method's rate points image by image, as CSV rows (``RD_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RD_COLUMNS)
    for method, measured in curves.items():
        for rate, setting in enumerate(measured.settings):
            for index, (position, subject) in enumerate(zip(split.ids, split.subjects, strict=True)):
                values = [measured.bpp[rate, index], measured.header_bpp[rate, index]]
                values += [measured.scores[key][rate, index] for key in SCORES]
                writer.writerow([method, rate, setting, position, subject, *(f"{v:.6g}" for v in values)])
    return buffer.getvalue()


def read_curves(text: str) -> tuple[dict[str, Curve], list[str], list[str]]:
    """The curves of a :func:`curves_csv`, and the positions and subjects of its images."""
    rows = list(csv.DictReader(io.StringIO(text)))
    positions = list(dict.fromkeys(row["position"] for row in rows))
    subject_of = {row["position"]: row["subject"] for row in rows}
    curves = {}
    for method in dict.fromkeys(row["method"] for row in rows):
        mine = [row for row in rows if row["method"] == method]
        settings = list(dict.fromkeys(row["setting"] for row in mine))
        columns = {key: np.full((len(settings), len(positions)), np.nan) for key in RD_COLUMNS[5:]}
        for row in mine:
            where = settings.index(row["setting"]), positions.index(row["position"])
            for key, values in columns.items():
                values[where] = float(row[key])
        curves[method] = Curve(
            settings, columns["bpp"], columns["header_bpp"], {key: columns[key] for key in SCORES}
        )
    return curves, positions, [subject_of[position] for position in positions]


def curves_figure(curves: dict[str, Curve], title: str, lossless_bpp: float | None = None) -> Figure:
    """Mean foreground PSNR and SSIM against payload bits per pixel, one line per method."""
    figure = Figure(figsize=(10, 4))
    for axis, score in zip(figure.subplots(1, 2), ("psnr_fg", "ssim_fg"), strict=True):
        for method, measured in curves.items():
            bpp = measured.bpp.mean(axis=1)
            order = np.argsort(bpp)
            axis.plot(bpp[order], np.nanmean(measured.scores[score], axis=1)[order], marker="o", label=method)
        if lossless_bpp is not None:
            axis.axvline(lossless_bpp, color="grey", linestyle=":", label="lossless JPEG-LS")
        axis.set_xscale("log")
        axis.set_xlabel("payload bits per pixel")
        axis.set_ylabel(score)
        axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
