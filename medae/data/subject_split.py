"""Split subjects (patients, volumes) into train/val/test, seeded and stratified by label."""

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from medae.data.slab_split import SPLITS


def split_subjects(
    subject_labels: Mapping[str, int | None], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, str]:
    """Assign every subject to a split; within each label, ``val_fraction`` and ``test_fraction`` of subjects.

    Every label with at least three subjects has at least one in each split whose fraction is above 0.
    Hand-written, not
    scikit-learn's: ``train_test_split(stratify=...)`` refuses labels with one subject, and
    ``GroupShuffleSplit`` does not stratify.

    Example:
        >>> splits = split_subjects({f"s{i}": i % 2 for i in range(20)}, 0.2, 0.2, seed=0)
        >>> sorted(list(splits.values()).count(name) for name in ("train", "val", "test"))
        [4, 4, 12]
    """
    by_label: dict[int | None, list[str]] = defaultdict(list)
    for subject, label in sorted(subject_labels.items()):
        by_label[label].append(subject)
    rng = np.random.default_rng(seed)
    assignment = {}
    for label in sorted(by_label, key=lambda label: -1 if label is None else label):
        subjects = list(rng.permutation(by_label[label]))
        count = len(subjects)
        num_val = max(1, round(val_fraction * count)) if count >= 3 and val_fraction > 0 else 0
        num_test = max(1, round(test_fraction * count)) if count >= 3 and test_fraction > 0 else 0
        for index, subject in enumerate(subjects):
            split = 1 if index < num_val else 2 if index < num_val + num_test else 0
            assignment[str(subject)] = SPLITS[split]
    return assignment
