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
from scipy.special import i0e, i1e
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma

from medae.errors import ConfigError


def _bm3d(image: np.ndarray, sigma: float, factor: float) -> np.ndarray:
    import bm3d

    return np.asarray(bm3d.bm3d(image, sigma_psd=factor * sigma), dtype=np.float32)


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


def noise_sigma(noisy: np.ndarray, known: float, mode: str) -> float:
    """The sigma a denoiser is given: ``oracle`` (the configured noise level) or ``estimate`` (wavelet MAD).

    Example:
        >>> noise_sigma(np.zeros((8, 8)), 0.1, "oracle")
        0.1
    """
    if mode == "oracle":
        return known
    if mode == "estimate":
        return float(estimate_sigma(noisy))
    raise ConfigError("sigma", f"unknown '{mode}'; allowed: oracle, estimate")


def rician_mean(signal: np.ndarray, sigma: float) -> np.ndarray:
    """Expected magnitude of a Rician variable with true signal ``signal`` and noise ``sigma``.

    Example:
        >>> np.round(rician_mean(np.array([0.0, 1.0]), 0.1), 4)  # sigma * sqrt(pi / 2) at zero signal
        array([0.1253, 1.005 ])
    """
    x = -(signal**2) / (2 * sigma**2)
    laguerre = (1 - x) * i0e(-x / 2) - x * i1e(-x / 2)  # L_1/2(x), with the exponentials folded in
    return sigma * np.sqrt(np.pi / 2) * laguerre


def rician_bias_correction(magnitude: np.ndarray, sigma: float, points: int = 2048) -> np.ndarray:
    """Map a denoised Rician magnitude (its local mean) back to the signal by inverting :func:`rician_mean`.

    Denoising a magnitude image leaves the Rician bias: the background settles near
    ``sigma * sqrt(pi / 2)``, not 0 (Koay and Basser, J Magn Reson 2006).

    Example:
        >>> np.round(rician_bias_correction(np.array([0.1, 0.51]), 0.1), 3)
        array([0. , 0.5])
    """
    signal = np.linspace(0, max(float(magnitude.max()), 1.0) * 1.5, points)
    return np.interp(magnitude, rician_mean(signal, sigma), signal, left=0.0)


def denoise(
    denoiser: Denoiser,
    images: np.ndarray,
    known_sigma: float,
    mode: str,
    factor: float,
    noise_model: str = "gaussian",
) -> np.ndarray:
    """Denoise a batch ``(N, C, *spatial)`` channel by channel; undo the Rician bias for ``rician`` noise."""
    output = np.empty_like(images, dtype=np.float32)
    for index in np.ndindex(images.shape[:2]):
        channel = images[index].astype(np.float64)
        sigma = noise_sigma(channel, known_sigma, mode)
        denoised = denoiser.apply(channel, sigma, factor)
        output[index] = rician_bias_correction(denoised, sigma) if noise_model == "rician" else denoised
    return output
