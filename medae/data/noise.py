"""Noise models that corrupt clean images for denoising training and evaluation.

Every model takes a strength that is the noise's standard deviation on an image in [0, 1]
(for ``salt_pepper``, the fraction of pixels hit), and a ``torch.Generator`` so that
validation and test noise can be fixed per sample.

Hand-written, not MONAI's ``RandGaussianNoise``/``RandRicianNoise`` or ``skimage.util.random_noise``:
those draw from NumPy generators, which the per-sample seeds and the per-epoch seeding
(:mod:`medae.callbacks.epoch_seed`) of torch do not reach, and skimage's ``poisson`` scales by the
number of grey levels rather than by a photon count.
"""

from collections.abc import Callable

import torch
from torch.nn import functional as F

NoiseModel = Callable[[torch.Tensor, float, torch.Generator | None], torch.Tensor]


def _normal(image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(image.shape, generator=generator, dtype=image.dtype)


def gaussian(image: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive white Gaussian noise with standard deviation ``strength``."""
    return image + strength * _normal(image, generator)


def rician(image: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Magnitude of a complex signal with Gaussian noise on both channels (MRI magnitude images)."""
    real = image + strength * _normal(image, generator)
    imaginary = strength * _normal(image, generator)
    return torch.sqrt(real**2 + imaginary**2)


def speckle(image: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Multiplicative Gaussian noise (ultrasound speckle)."""
    return image * (1 + strength * _normal(image, generator))


def poisson(image: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Photon-counting noise (low-dose CT): ``strength`` is the standard deviation at intensity 1."""
    counts_at_one = 1.0 / strength**2
    return torch.poisson(image.clamp(min=0) * counts_at_one, generator=generator) / counts_at_one


def salt_pepper(
    image: torch.Tensor, strength: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Set a fraction ``strength`` of pixels to 0 or 1, the ends of the [0, 1] range."""
    hit = torch.rand(image.shape, generator=generator) < strength
    salt = (torch.rand(image.shape, generator=generator) < 0.5).to(image.dtype)
    return torch.where(hit, salt, image)


# coarse noise is drawn on a grid this many times coarser than the image (Kascenas et al.: 16 for 128)
COARSE_FACTOR = 8
# coarse noise stays on the foreground: pixels above this intensity (Kascenas et al.)
COARSE_FOREGROUND = 0.01


def coarse(image: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Low-resolution Gaussian noise, upsampled and shifted at random, added to the foreground only.

    The denoising autoencoder for anomaly segmentation of Kascenas et al. (MIDL 2022) learns to undo
    this: blobs the size of lesions rather than pixel noise. The noise is drawn on a grid
    ``COARSE_FACTOR`` times coarser than the image, upsampled (bi- or trilinear), rolled by a random
    offset so its grid does not line up with the image's, and kept where the image is above
    ``COARSE_FOREGROUND``. Kascenas et al. use ``strength=0.2``.

    Example:
        >>> image = torch.zeros(1, 32, 32)
        >>> image[:, 8:24, 8:24] = 0.5
        >>> noisy = coarse(image, 0.2, torch.Generator().manual_seed(0))
        >>> bool(torch.equal(noisy[:, :8], image[:, :8])), bool((noisy != image).any())
        (True, True)
    """
    spatial = image.shape[1:]
    grid = [max(size // COARSE_FACTOR, 1) for size in spatial]
    noise = torch.randn((1, image.shape[0], *grid), generator=generator, dtype=image.dtype)
    mode = "bilinear" if len(spatial) == 2 else "trilinear"
    noise = F.interpolate(noise, size=spatial, mode=mode, align_corners=False)[0]
    shifts = [int(torch.randint(size, (1,), generator=generator)) for size in spatial]
    noise = torch.roll(noise, shifts=shifts, dims=tuple(range(1, len(spatial) + 1)))
    foreground = (image > COARSE_FOREGROUND).any(dim=0, keepdim=True)
    return image + strength * noise * foreground


NOISE_MODELS: dict[str, NoiseModel] = {
    "gaussian": gaussian,
    "rician": rician,
    "speckle": speckle,
    "poisson": poisson,
    "salt_pepper": salt_pepper,
    "coarse": coarse,
}
