"""Classical denoisers (scikit-image, BM3D) with one free parameter each, tuned on validation images.

Every denoiser works on one channel of one image as a numpy array in [0, 1] and takes the noise's
standard deviation ``sigma`` and a factor from its ``grid``: the factor scales ``sigma`` for the
methods whose strength is set by the noise level (NLM's ``h``, TV's weight, BM3D's ``sigma_psd``)
and is the kernel width in pixels for the Gaussian filter.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma

from medae.baselines.variance_stabilization import (
    anscombe_forward,
    anscombe_inverse,
    rician_forward,
    rician_inverse,
)
from medae.errors import ConfigError


def _bm3d(image: np.ndarray, sigma: float, factor: float) -> np.ndarray:
    import bm3d

    return np.asarray(bm3d.bm3d(image, sigma_psd=factor * sigma), dtype=np.float32)


def _bm4d(volume: np.ndarray, sigma: float, factor: float) -> np.ndarray:
    import bm4d

    return np.asarray(bm4d.bm4d(volume, sigma_psd=factor * sigma), dtype=np.float32)


def _nlm(image: np.ndarray, sigma: float, factor: float) -> np.ndarray:
    return denoise_nl_means(
        image, h=factor * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6
    ).astype(np.float32)


def _tv(image: np.ndarray, sigma: float, factor: float) -> np.ndarray:
    return denoise_tv_chambolle(image, weight=factor * sigma).astype(np.float32)


def _gaussian(image: np.ndarray, sigma: float, factor: float) -> np.ndarray:
    return ndimage.gaussian_filter(image, sigma=factor).astype(np.float32)


@dataclass(frozen=True)
class Denoiser:
    """A classical denoiser and the grid its free parameter is tuned over.

    Attributes:
        name: the key users choose with ``method=<name>``.
        description: one line for tables.
        apply: ``apply(image, sigma, factor)`` on one channel in [0, 1].
        parameter: what the factor means, for the MLflow params.
        grid: candidate factors; the first is the textbook default.
        dims: the spatial dimensions the method supports.
    """

    name: str
    description: str
    apply: Callable[[np.ndarray, float, float], np.ndarray]
    parameter: str
    grid: tuple[float, ...]
    dims: tuple[int, ...] = (2, 3)


DENOISERS: dict[str, Denoiser] = {
    denoiser.name: denoiser
    for denoiser in (
        Denoiser(
            "gaussian", "Gaussian filter (scipy.ndimage)", _gaussian, "kernel_sigma_px", (1.0, 0.5, 0.75, 1.5)
        ),
        Denoiser(
            "nlm", "Non-local means (scikit-image, fast mode)", _nlm, "h_over_sigma", (0.8, 0.6, 1.0, 1.2)
        ),
        Denoiser(
            "tv", "Total variation, Chambolle (scikit-image)", _tv, "weight_over_sigma", (1.0, 0.5, 2.0, 3.0)
        ),
        Denoiser("bm3d", "BM3D (bm3d package)", _bm3d, "sigma_psd_over_sigma", (1.0, 0.8, 1.2), dims=(2,)),
        Denoiser(
            "bm4d",
            "BM4D for volumes (bm4d package)",
            _bm4d,
            "sigma_psd_over_sigma",
            (1.0, 0.8, 1.2),
            dims=(3,),
        ),
    )
}


def get_denoiser(name: str, spatial_dims: int) -> Denoiser:
    """The denoiser ``name``; a :class:`ConfigError` naming the allowed ones otherwise.

    Example:
        >>> get_denoiser("tv", 3).parameter
        'weight_over_sigma'
    """
    if name not in DENOISERS:
        raise ConfigError("method", f"unknown denoiser '{name}'; allowed: {', '.join(DENOISERS)}")
    denoiser = DENOISERS[name]
    if spatial_dims not in denoiser.dims:
        raise ConfigError("method", f"'{name}' supports {list(denoiser.dims)}D images, not {spatial_dims}D")
    return denoiser


# the variance-stabilising transform each signal-dependent noise model is denoised through
STABILISERS = {
    "rician": (rician_forward, rician_inverse),
    "poisson": (anscombe_forward, anscombe_inverse),
}
SIGMA_MODES = ("oracle", "estimate")
# pixels above this fraction of the maximum count as signal when Poisson noise is estimated
FOREGROUND_FRACTION = 0.05
# median absolute deviation to standard deviation, for Gaussian noise
MAD_TO_STD = 1.4826


def foreground_noise(image: np.ndarray, inside: np.ndarray) -> float:
    """Noise standard deviation from the median absolute 2 x 2 diagonal difference over ``inside``.

    The difference ``(a - b - c + d) / 2`` of a pixel's 2 x 2 neighbourhood (last two axes) cancels smooth
    signal and keeps independent noise at its standard deviation.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(foreground_noise(rng.normal(0, 2.0, (256, 256)), np.ones((256, 256), bool)), 1)
        2.0
    """
    a = np.asarray(image, dtype=float)
    difference = (a[..., 1:, 1:] - a[..., :-1, 1:] - a[..., 1:, :-1] + a[..., :-1, :-1]) / 2
    return float(MAD_TO_STD * np.median(np.abs(difference[inside[..., 1:, 1:]])))


def estimate_noise(noisy: np.ndarray, noise_model: str = "gaussian") -> float:
    """The noise level of one channel, from the image alone.

    Gaussian-like noise: the wavelet median absolute deviation (scikit-image's ``estimate_sigma``). Rician
    and Poisson: the level at which the variance-stabilised image's noise estimate is 1, found by
    bisection on a log scale (the stabilised noise has unit standard deviation at the true level). Zero
    photon counts carry no noise, so for Poisson the estimate is :func:`foreground_noise` of the
    stabilised image, which leaves them out.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> clean = np.tile(np.linspace(0.2, 1.0, 128), (128, 1))
        >>> noisy = np.abs(clean + 0.05 * rng.normal(size=clean.shape) + 0.05j * rng.normal(size=clean.shape))
        >>> round(estimate_noise(noisy, "rician"), 2)
        0.05
    """
    if noise_model not in STABILISERS:
        return float(estimate_sigma(noisy))
    forward = STABILISERS[noise_model][0]
    inside = noisy > FOREGROUND_FRACTION * noisy.max()
    spread = (lambda image: foreground_noise(image, inside)) if noise_model == "poisson" else estimate_sigma
    low, high = np.log(1e-4), np.log(10.0)
    for _ in range(24):
        middle = (low + high) / 2
        if spread(forward(noisy, float(np.exp(middle)))) > 1:
            low = middle
        else:
            high = middle
    return float(np.exp((low + high) / 2))


def noise_sigma(noisy: np.ndarray, known: float, mode: str, noise_model: str = "gaussian") -> float:
    """The noise level a denoiser is given: ``oracle`` (the configured one) or ``estimate`` (from the image).

    Example:
        >>> noise_sigma(np.zeros((8, 8)), 0.1, "oracle")
        0.1
    """
    if mode == "oracle":
        return known
    if mode == "estimate":
        return estimate_noise(noisy, noise_model)
    raise ConfigError("sigma", f"unknown '{mode}'; allowed: {', '.join(SIGMA_MODES)}")


def noise_sigmas(images: np.ndarray, known: float, mode: str, noise_model: str = "gaussian") -> np.ndarray:
    """:func:`noise_sigma` of every channel of a batch ``(N, C, *spatial)``: ``(N, C)``.

    Computed once per batch, since estimating is slow next to denoising with each candidate factor.
    """
    sigmas = np.empty(images.shape[:2])
    for index in np.ndindex(images.shape[:2]):
        sigmas[index] = noise_sigma(images[index].astype(np.float64), known, mode, noise_model)
    return sigmas


def denoise(
    denoiser: Denoiser,
    images: np.ndarray,
    sigmas: np.ndarray,
    factor: float,
    noise_model: str = "gaussian",
) -> np.ndarray:
    """Denoise a batch ``(N, C, *spatial)`` channel by channel, as the methods' authors run them.

    Rician and Poisson noise go through their variance-stabilising transform: the image is stabilised to
    unit noise, denoised with ``sigma = 1`` and mapped back by the exact unbiased inverse
    (:mod:`medae.baselines.variance_stabilization`); other noise is denoised as it is.

    Args:
        denoiser: the method.
        images: the noisy batch, in [0, 1].
        sigmas: the noise level of each channel, ``(N, C)`` (:func:`noise_sigmas`).
        factor: the method's parameter, from its grid.
        noise_model: the noise the images carry.
    """
    output = np.empty_like(images, dtype=np.float32)
    for index in np.ndindex(images.shape[:2]):
        channel = images[index].astype(np.float64)
        sigma = float(sigmas[index])
        if noise_model in STABILISERS:
            forward, inverse = STABILISERS[noise_model]
            output[index] = inverse(denoiser.apply(forward(channel, sigma), 1.0, factor), sigma)
        else:
            output[index] = denoiser.apply(channel, sigma, factor)
    return output
