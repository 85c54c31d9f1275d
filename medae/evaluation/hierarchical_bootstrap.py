"""Intervals over what varies: a hierarchical bootstrap over seeds, subjects and the slices of each subject.

Slices of one subject are not independent samples, and training seeds are not the only source of spread:
a t-interval over 5 seeds of a mean over 21 slices of one template says nothing about another subject.
Each bootstrap replicate draws seeds with replacement, subjects with replacement, and then the slices of
each drawn subject with replacement, and takes the mean of the per-image values over what it drew; the
interval is the percentile interval of those means. With one subject the subject level cannot vary, and
the interval covers slices and seeds only: the result says how many subjects it rests on.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

METHOD = "hierarchical bootstrap (seeds, subjects, slices within subjects; percentile interval)"


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and images with its bootstrap interval and what it rests on.

    Attributes:
        mean: the mean of the values over every seed and image.
        low: the lower end of the interval.
        high: the upper end.
        seeds: training seeds.
        subjects: distinct subjects.
        images: images per seed.
        wins: images whose value, averaged over seeds, is above 0 (for differences: the method wins).
    """

    mean: float
    low: float
    high: float
    seeds: int
    subjects: int
    images: int
    wins: int

    def __str__(self) -> str:
        return (
            f"{self.mean:+.3g} [{self.low:+.3g}, {self.high:+.3g}] "
            f"(wins {self.wins}/{self.images}; {self.subjects} subj., {self.seeds} seeds)"
        )


def hierarchical_bootstrap(
    values: np.ndarray,
    subjects: Sequence[str],
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The mean of ``values`` and its hierarchical bootstrap interval.

    Args:
        values: ``(seeds, images)``: one value per training seed and image (a paired difference, or a
            metric), the images in the same order for every seed.
        subjects: the subject of each image.
        resamples: bootstrap replicates.
        level: coverage of the interval.
        seed: seed of the resampling.

    Example:
        >>> values = np.array([[1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5]])
        >>> interval = hierarchical_bootstrap(values, ["a", "a", "b", "b"], resamples=500)
        >>> interval.mean, interval.subjects, interval.images, interval.wins
        (2.75, 2, 4, 4)
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if values.shape[1] != len(subjects):
        raise ValueError(f"values has {values.shape[1]} images per seed but subjects names {len(subjects)}")
    means = [
        values[np.ix_(seeds, images)].mean()
        for seeds, images in draws(len(values), subjects, resamples, seed)
    ]
    low, high = percentile_interval(np.array(means), level)
    return Interval(
        float(values.mean()),
        low,
        high,
        values.shape[0],
        len(set(subjects)),
        values.shape[1],
        int((values.mean(axis=0) > 0).sum()),
    )


def recomputed_interval(
    statistic: Callable[[int, np.ndarray], float],
    seeds: int,
    units: Sequence[np.ndarray],
    unit_subjects: Sequence[str],
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The mean over seeds of a statistic of every row, and its hierarchical bootstrap interval.

    For a statistic that does not average over images (an AUROC, a pooled AP), each replicate draws
    seeds, subjects and the units of each drawn subject, and recomputes ``statistic(seed, rows)`` on
    the rows of the drawn units.

    Args:
        statistic: the figure of one seed (its index) on some rows.
        seeds: training seeds.
        units: the rows of each unit (a slice and its lesioned copy), drawn together.
        unit_subjects: each unit's subject.
        resamples: bootstrap replicates.
        level: coverage of the interval.
        seed: seed of the resampling.

    Example:
        >>> rows = [np.array([0]), np.array([1]), np.array([2])]
        >>> mean, low, high = recomputed_interval(lambda s, r: float(r.mean()), 1, rows, ["a", "b", "c"])
        >>> mean, low <= mean <= high
        (1.0, True)
    """
    every = np.concatenate(list(units))
    mean = float(np.nanmean([statistic(index, every) for index in range(seeds)]))
    replicates = [
        np.nanmean(
            [statistic(index, np.concatenate([units[unit] for unit in drawn_units])) for index in drawn]
        )
        for drawn, drawn_units in draws(seeds, unit_subjects, resamples, seed)
    ]
    low, high = percentile_interval(np.asarray(replicates), level)
    return mean, low, high


def draws(
    seeds: int, subjects: Sequence[str], resamples: int = 2000, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Bootstrap replicates: the drawn seeds and the drawn images, subjects first and then their slices.

    Example:
        >>> [images.size for _, images in draws(2, ["a", "a", "b", "b"], resamples=3)]
        [4, 4, 4]
    """
    names, subject_of = np.unique(np.asarray(subjects), return_inverse=True)
    members = [np.flatnonzero(subject_of == index) for index in range(len(names))]
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        drawn_seeds = rng.integers(0, seeds, seeds)
        drawn_subjects = rng.integers(0, len(members), len(members))
        images = np.concatenate(
            [members[s][rng.integers(0, len(members[s]), len(members[s]))] for s in drawn_subjects]
        )
        yield drawn_seeds, images


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (NaN replicates left out).

    Example:
        >>> percentile_interval(np.array([1.0, 2.0, 3.0, np.nan]), 0.5)
        (1.5, 2.5)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = (1 - level) / 2 * 100
    finite = replicates[np.isfinite(replicates)]
    if not finite.size:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)
