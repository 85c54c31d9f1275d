"""PCA as a linear autoencoder: the baseline for compression and for reconstruction-error anomaly maps."""

import numpy as np
import torch
from sklearn.decomposition import PCA


class PcaCodec:
    """Fit principal components on flattened training images; encode to and decode from their scores.

    Args:
        components: code size in numbers per image; capped at what the training set supports.
        seed: seed of the randomised SVD.

    Example:
        >>> codec = PcaCodec(components=2).fit(torch.rand(10, 1, 4, 4))
        >>> codec.encode(torch.rand(3, 1, 4, 4)).shape, codec.components_used
        ((3, 2), 2)
    """

    def __init__(self, components: int, seed: int = 0) -> None:
        self.components = components
        self.seed = seed
        self.pca: PCA | None = None
        self.shape: tuple[int, ...] = ()

    @property
    def components_used(self) -> int:
        """Components actually fitted: at most one fewer than the training images, at most the pixels."""
        return self.pca.n_components_ if self.pca is not None else 0

    def fit(self, images: torch.Tensor) -> "PcaCodec":
        """Fit on images ``(N, C, *spatial)``."""
        flat = images.reshape(len(images), -1).double().numpy()
        self.shape = tuple(images.shape[1:])
        components = min(self.components, len(flat) - 1, flat.shape[1])
        solver = "randomized" if components < min(flat.shape) // 2 else "full"
        self.pca = PCA(n_components=components, svd_solver=solver, random_state=self.seed).fit(flat)
        return self

    def fitted(self) -> PCA:
        """The fitted PCA; a ``RuntimeError`` before :meth:`fit`."""
        if self.pca is None:
            raise RuntimeError("the PCA codec is used before fit()")
        return self.pca

    def encode(self, images: torch.Tensor) -> np.ndarray:
        """Scores ``(N, components_used)``."""
        return self.fitted().transform(images.reshape(len(images), -1).double().numpy())

    def decode(self, codes: np.ndarray) -> torch.Tensor:
        """Images from scores."""
        flat = self.fitted().inverse_transform(codes)
        return torch.from_numpy(flat).float().reshape(len(codes), *self.shape)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Project onto the components and back."""
        return self.decode(self.encode(images))
