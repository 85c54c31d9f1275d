import numpy as np
import pytest
import torch
from skimage import data as skimage_data
from skimage.transform import resize

from medae.baselines.denoisers import DENOISERS, denoise, get_denoiser, noise_sigma
from medae.baselines.pca import PcaCodec
from medae.baselines.variance_stabilization import (
    anscombe_forward,
    anscombe_inverse,
    rician_forward,
    rician_inverse,
)
from medae.errors import ConfigError

MIN_GAIN_DB = {"gaussian": 1.0, "tv": 3.0, "nlm": 6.0, "bm3d": 6.0, "bm4d": 10.0}


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return resize(skimage_data.shepp_logan_phantom(), (64, 64), anti_aliasing=True).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def phantom_volume(phantom) -> np.ndarray:
    """32 slices of the 32-pixel phantom whose contrast changes smoothly along the third axis."""
    small = resize(phantom, (32, 32), anti_aliasing=True)
    return np.stack([small * (0.6 + 0.4 * np.cos(k / 8)) for k in range(32)], axis=2).astype(np.float32)


@pytest.mark.parametrize("name", list(DENOISERS))
def test_every_denoiser_removes_noise_from_the_phantom(phantom, phantom_volume, name):
    denoiser = DENOISERS[name]
    phantom = phantom if 2 in denoiser.dims else phantom_volume  # BM4D is for volumes
    noisy = phantom + 0.1 * np.random.default_rng(0).standard_normal(phantom.shape).astype(np.float32)
    output = denoise(denoiser, noisy[None, None], np.full((1, 1), 0.1), denoiser.grid[0])[0, 0]
    assert output.shape == phantom.shape
    # 20.0 dB noisy; the edge-blind Gaussian filter gains least, BM3D most in 2D; BM4D has a third axis
    assert psnr(noisy, phantom) == pytest.approx(20.0, abs=0.2)
    assert psnr(output, phantom) > psnr(noisy, phantom) + MIN_GAIN_DB[name]


def test_estimated_sigma_is_close_to_the_true_one(phantom):
    noisy = phantom + 0.1 * np.random.default_rng(1).standard_normal(phantom.shape)
    assert noise_sigma(noisy, 0.0, "estimate") == pytest.approx(0.1, rel=0.2)
    with pytest.raises(ConfigError, match="allowed: oracle, estimate"):
        noise_sigma(noisy, 0.1, "guess")


def test_denoiser_lookup_names_what_is_allowed():
    with pytest.raises(ConfigError, match="allowed: gaussian, nlm, tv, bm3d"):
        get_denoiser("wiener", 2)
    with pytest.raises(ConfigError, match=r"'bm3d' supports \[2\]D images, not 3D"):
        get_denoiser("bm3d", 3)
    assert get_denoiser("nlm", 3).name == "nlm"


def test_pca_is_exact_on_the_training_span_and_caps_components():
    generator = torch.Generator().manual_seed(0)
    basis = torch.randn(3, 1, 8, 8, generator=generator)
    weights = torch.randn(20, 3, generator=generator)
    images = torch.einsum("nk,kcij->ncij", weights, basis)
    codec = PcaCodec(components=3).fit(images)
    assert torch.allclose(codec.reconstruct(images), images, atol=1e-4)
    assert PcaCodec(components=50).fit(images).components_used == 19


def rician_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.abs(
        image + sigma * rng.standard_normal(image.shape) + 1j * sigma * rng.standard_normal(image.shape)
    )


def test_the_rician_vst_restores_the_dark_background(phantom):
    noisy = rician_noise(phantom, 0.1, 2)
    nlm = DENOISERS["nlm"]
    plain = denoise(nlm, noisy[None, None], np.full((1, 1), 0.1), 0.8, noise_model="gaussian")[0, 0]
    stabilised = denoise(nlm, noisy[None, None], np.full((1, 1), 0.1), 0.8, noise_model="rician")[0, 0]
    background = phantom < 0.01
    assert plain[background].mean() > 0.08  # the Rician floor, sigma * sqrt(pi / 2) = 0.125 before denoising
    assert stabilised[background].mean() < 0.04
    assert psnr(stabilised, phantom) > psnr(plain, phantom) + 3


def test_the_noise_level_is_estimated_through_the_vst_at_every_level():
    # 256 pixels a side: on 64, the phantom's edges are a large share of the finest-scale differences
    phantom = resize(skimage_data.shepp_logan_phantom(), (256, 256), anti_aliasing=True)
    for sigma in (0.05, 0.1, 0.2):
        noisy = rician_noise(phantom, sigma, 3)
        # the level at which the stabilised image's noise is 1; the magnitude's own wavelet estimate is low
        assert noise_sigma(noisy, 0.0, "estimate", "rician") == pytest.approx(sigma, rel=0.1), sigma
        assert noise_sigma(noisy, 0.0, "estimate") < 0.85 * sigma
        counts = np.random.default_rng(4).poisson(phantom / sigma**2) * sigma**2
        assert noise_sigma(counts, 0.0, "estimate", "poisson") == pytest.approx(sigma, rel=0.12), sigma


def test_bm3d_on_poisson_counts_gains_from_the_anscombe_transform(phantom):
    counts_at_one = 100.0  # strength 0.1: the standard deviation at intensity 1
    noisy = np.random.default_rng(4).poisson(phantom * counts_at_one) / counts_at_one
    bm3d = DENOISERS["bm3d"]
    plain = denoise(bm3d, noisy[None, None], np.full((1, 1), 0.1), 1.0, noise_model="gaussian")[0, 0]
    stabilised = denoise(bm3d, noisy[None, None], np.full((1, 1), 0.1), 1.0, noise_model="poisson")[0, 0]
    assert psnr(stabilised, phantom) > psnr(plain, phantom) + 0.5
    assert psnr(stabilised, phantom) > psnr(noisy, phantom) + 6


@pytest.mark.parametrize("signal", [0.0, 0.5, 2.0, 10.0, 39.0, 120.0])
def test_the_rician_vst_has_unit_spread_and_its_inverse_undoes_the_mean_at_every_snr(signal):
    rng = np.random.default_rng(5)
    sigma = 0.1
    magnitude = np.abs(signal * sigma + sigma * (rng.normal(size=100_000) + 1j * rng.normal(size=100_000)))
    stabilised = rician_forward(magnitude, sigma)
    assert 0.85 < stabilised.std() < 1.1
    # near 0 the expected transform is flat, so the sampling error of the mean shows more
    tolerance = (0.15 if signal < 1 else 0.02) * sigma
    assert rician_inverse(stabilised.mean(), sigma) == pytest.approx(signal * sigma, abs=tolerance)


@pytest.mark.parametrize("photons", [1.0, 4.0, 30.0, 1000.0])
def test_the_anscombe_transform_has_unit_spread_and_its_inverse_undoes_the_mean(photons):
    strength = photons**-0.5  # the standard deviation at intensity 1 for this many photons there
    counts = np.random.default_rng(6).poisson(photons, 200_000)
    stabilised = anscombe_forward(counts / photons, strength)
    assert 0.85 < stabilised.std() < 1.1 if photons >= 4 else stabilised.std() < 1.1
    assert anscombe_inverse(stabilised.mean(), strength) == pytest.approx(1.0, rel=0.02)
