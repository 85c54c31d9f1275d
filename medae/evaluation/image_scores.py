"""Each image's anomaly score as a run artifact, and the image AUROC's interval over subjects and slices.

A method scored by the anomaly application writes ``anomaly_scores/<set>.csv``: one row per image with
its position, subject, label (1 anomalous) and lesion kind, and its image score. A lesioned copy shares
its position with the healthy slice it was made from, so a bootstrap that draws positions keeps each
pair together. Two methods scored on the same images pair by position: the difference of their image
AUROCs gets a hierarchical bootstrap interval (seeds, subjects, positions within subjects;
:mod:`medae.evaluation.hierarchical_bootstrap`), so an AUROC lead is judged against the spread of
the images it rests on, not only of the training seeds.
"""

import csv
import io
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from medae.evaluation.hierarchical_bootstrap import Interval, recomputed_interval

FOLDER = "anomaly_scores"
COLUMNS = ("position", "subject", "label", "kind", "score")


def artifact_path(evaluation_set: str) -> str:
    """Where a run keeps the image scores of ``evaluation_set``."""
    return f"{FOLDER}/{evaluation_set}.csv"


def image_scores_csv(
    positions: Sequence[str],
    subjects: Sequence[str],
    labels: Sequence[int],
    kinds: Sequence[str],
    scores: Sequence[float],
) -> str:
    """The CSV of each image's position, subject, label, lesion kind (empty when none) and score.

    Example:
        >>> print(image_scores_csv(["z:3", "z:3"], ["s1", "s1"], [0, 1], ["", "noise"], [0.1, 0.25]))
        position,subject,label,kind,score
        z:3,s1,0,,0.1
        z:3,s1,1,noise,0.25
        <BLANKLINE>
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in zip(positions, subjects, labels, kinds, scores, strict=True):
        writer.writerow([*row[:2], int(row[2]), row[3], f"{float(row[4]):.7g}"])
    return buffer.getvalue()


def read_image_scores(text: str) -> dict[str, np.ndarray]:
    """An image-score CSV as columns: strings, ``label`` as ints and ``score`` as floats."""
    rows = list(csv.DictReader(io.StringIO(text)))
    columns = {key: np.asarray([row[key] for row in rows]) for key in ("position", "subject", "kind")}
    labels = np.asarray([int(row["label"]) for row in rows])
    return columns | {"label": labels, "score": np.asarray([float(row["score"]) for row in rows])}


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve: the chance that an anomalous image outscores a normal one (ties half).

    Example:
        >>> auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        0.75
    """
    positive = labels == 1
    count, other = int(positive.sum()), int((~positive).sum())
    if not count or not other:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - count * (count + 1) / 2) / (count * other))


def placements(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each image's share of the AUROC (ties count half).

    For an anomalous image, the fraction of normal images it outscores; for a normal one, the fraction
    of anomalous images that outscore it. The mean over the anomalous images, and over the normal ones,
    is the AUROC.

    Example:
        >>> placements(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])).tolist()
        [1.0, 0.5, 0.5, 1.0]
    """
    positive = labels == 1
    above = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    share = np.where(positive, above[:, ~positive].mean(axis=1), 1 - above[:, positive].mean(axis=1))
    return share.astype(float)


def unit_rows(positions: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """The distinct positions in first-seen order, and the rows of each (a slice and its lesioned copy)."""
    names, first, inverse = np.unique(positions, return_index=True, return_inverse=True)
    order = np.argsort(first)
    return [str(names[index]) for index in order], [np.flatnonzero(inverse == index) for index in order]


def auroc_difference(
    ours: dict[str, list], theirs: dict[str, list], resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Our image AUROC minus theirs, averaged over seeds, with its hierarchical bootstrap interval.

    Args:
        ours: ``position``, ``subject``, ``label`` (one per image) and ``score`` (a list per seed).
        theirs: the same for the method compared, on the same images in the same order.
        resamples: bootstrap replicates; each draws seeds, subjects, and positions within subjects.
        level: coverage of the interval.
        seed: seed of the resampling.

    Returns:
        The interval; its ``images`` counts positions, and ``wins`` the positions whose share of the
        AUROC (:func:`placements`, averaged over seeds and the position's images) is larger for us.

    Example:
        >>> base = {"position": ["a", "a", "b", "b"], "subject": ["s"] * 4, "label": [0, 1, 0, 1]}
        >>> ours = base | {"score": [[0.1, 0.9, 0.2, 0.8]]}
        >>> theirs = base | {"score": [[0.5, 0.4, 0.3, 0.6]]}
        >>> found = auroc_difference(ours, theirs, resamples=200)
        >>> found.mean, found.wins, found.images
        (0.25, 1, 2)
    """
    if list(ours["position"]) != list(theirs["position"]):
        raise ValueError("the two methods' image scores are not of the same images in the same order")
    labels = np.asarray(ours["label"])
    names, rows = unit_rows(np.asarray(ours["position"]))
    subject_of = dict(zip(ours["position"], ours["subject"], strict=True))
    ours_scores, theirs_scores = np.asarray(ours["score"], float), np.asarray(theirs["score"], float)
    seeds = min(len(ours_scores), len(theirs_scores))
    ours_scores, theirs_scores = ours_scores[:seeds], theirs_scores[:seeds]

    def difference(seed_index: int, picked: np.ndarray) -> float:
        return auroc(ours_scores[seed_index, picked], labels[picked]) - auroc(
            theirs_scores[seed_index, picked], labels[picked]
        )

    unit_subjects = [subject_of[name] for name in names]
    mean, low, high = recomputed_interval(difference, seeds, rows, unit_subjects, resamples, level, seed)
    share = np.mean([placements(s, labels) for s in ours_scores], axis=0) - np.mean(
        [placements(s, labels) for s in theirs_scores], axis=0
    )
    wins = sum(int(share[unit].mean() > 0) for unit in rows)
    return Interval(mean, low, high, seeds, len(set(subject_of.values())), len(names), wins)
