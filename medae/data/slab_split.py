"""Leak-free splits of one volume: contiguous slabs go to one split, with a gap where splits meet.

Neighbouring slices of a volume are nearly identical, so a random split of slices leaks the test set
into training. Here each axis is cut into slabs, whole slabs are assigned to train/val/test, and
``gap`` slices are dropped on both sides of every boundary between slabs of different splits.
"""

import numpy as np

from medae.errors import ConfigError

SPLITS = ("train", "val", "test")
DROPPED = -1


def slab_assignment(
    length: int, num_slabs: int, val_fraction: float, test_fraction: float, gap: int, seed: int
) -> np.ndarray:
    """Assign each of ``length`` consecutive positions to a split index (0 train, 1 val, 2 test) or -1.

    Args:
        length: number of positions (slices) along the axis.
        num_slabs: number of contiguous slabs to cut the axis into; at least 3.
        val_fraction: fraction of slabs for validation (at least one slab).
        test_fraction: fraction of slabs for testing (at least one slab).
        gap: positions dropped on each side of a boundary between slabs of different splits.
        seed: seed of the slab shuffle.

    Example:
        >>> labels = slab_assignment(30, 3, 0.3, 0.3, gap=1, seed=0)
        >>> sorted(set(labels.tolist()))
        [-1, 0, 1, 2]
    """
    if num_slabs < 3:
        raise ConfigError("data.num_slabs", f"must be >= 3 (train, val and test slabs), got {num_slabs}")
    if length < num_slabs:
        raise ConfigError("data.num_slabs", f"cannot cut {length} positions into {num_slabs} slabs")
    num_val = max(1, round(val_fraction * num_slabs))
    num_test = max(1, round(test_fraction * num_slabs))
    if num_val + num_test >= num_slabs:
        raise ConfigError(
            "data.num_slabs",
            f"{num_slabs} slabs leave no training slab after {num_val} val and {num_test} test slabs; "
            "use more slabs or smaller data.val_fraction and data.test_fraction",
        )
    slab_splits = np.zeros(num_slabs, dtype=int)
    order = np.random.default_rng(seed).permutation(num_slabs)
    slab_splits[order[:num_val]] = 1
    slab_splits[order[num_val : num_val + num_test]] = 2

    slab_of_position = np.minimum(np.arange(length) * num_slabs // length, num_slabs - 1)
    labels = slab_splits[slab_of_position]
    changes = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    for boundary in changes:
        labels[max(0, boundary - gap) : boundary + gap] = DROPPED
    return labels
