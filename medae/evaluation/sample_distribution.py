"""How close a generator's samples are to real images as a distribution, in a feature space fitted here.

Nearest-neighbour distances say whether samples copy the training set, not whether they cover the
variety of real images. Two measures of the distribution, both in the principal components of the
training images (a feature extractor fitted on the run's own data, so nothing is downloaded and the
measure means the same for every variant of a run):

- the Fréchet distance between Gaussians fitted to the samples' and the real images' features (FID's
  formula, Heusel et al., NeurIPS 2017, in this feature space instead of Inception's);
- improved precision and recall (Kynkäänniemi et al., NeurIPS 2019): precision is the share of samples
  inside the real images' manifold (each real feature's ball out to its k-th nearest real neighbour),
  recall the share of real images inside the samples' manifold.

The same measures between held-out real images and the training images give the reference a
generator is judged against.
"""

import numpy as np
import torch
from scipy import linalg

from medae.baselines.pca import PcaCodec


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of feature vectors ``(N, D)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> same = frechet_distance(rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)))
        >>> shifted = frechet_distance(rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)) + 3)
        >>> round(same, 1), round(shifted, 1)
        (0.0, 18.0)
    """
    mean_a, mean_b = first.mean(axis=0), second.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(first, rowvar=False)), np.atleast_2d(np.cov(second, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def manifold_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Each feature vector's distance to its ``k``-th nearest other vector of the same set."""
    distances = torch.cdist(torch.from_numpy(features), torch.from_numpy(features))
    return distances.kthvalue(k + 1, dim=1).values.numpy()  # the first is the vector itself


def coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """The share of ``points`` inside at least one ball (``centres``, ``radii``)."""
    distances = torch.cdist(torch.from_numpy(points), torch.from_numpy(centres)).numpy()
    return float((distances <= radii[None]).any(axis=1).mean())


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of ``generated`` features against ``real`` ones.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> real = rng.normal(size=(500, 2))
        >>> precision_recall(real, real[:250] * 0.2)  # samples in a small part of the real manifold
        (0.96, 0.29)
    """
    precision = coverage(generated, real, manifold_radii(real, k))
    recall = coverage(real, generated, manifold_radii(generated, k))
    return precision, recall


def distribution_metrics(
    generated: torch.Tensor, real: torch.Tensor, train: torch.Tensor, components: int, k: int, seed: int
) -> dict[str, float]:
    """Fréchet distance, precision and recall of samples against real images, and the real reference.

    Args:
        generated: the samples, ``(N, C, *spatial)``.
        real: held-out real images (the test split).
        train: the training images; the feature space is their ``components`` principal components.
        components: dimensions of the feature space.
        k: neighbours that set each manifold ball.
        seed: seed of the randomised PCA.

    Returns:
        ``fd``, ``precision``, ``recall`` of the samples against ``real``; ``fd_test_to_train``,
        ``precision_test_to_train`` and ``recall_test_to_train`` of ``real`` against ``train``.
    """
    codec = PcaCodec(min(components, len(train) - 1), seed).fit(train)
    generated_f, real_f, train_f = (
        np.asarray(codec.encode(images), dtype=np.float64) for images in (generated, real, train)
    )
    precision, recall = precision_recall(real_f, generated_f, k)
    reference_precision, reference_recall = precision_recall(train_f, real_f, k)
    return {
        "fd": frechet_distance(generated_f, real_f),
        "precision": precision,
        "recall": recall,
        "fd_test_to_train": frechet_distance(real_f, train_f),
        "precision_test_to_train": reference_precision,
        "recall_test_to_train": reference_recall,
    }
