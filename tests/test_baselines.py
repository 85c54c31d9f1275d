import numpy as np
import pytest
import torch
from skimage import data as skimage_data
from skimage.transform import resize

from medae.baselines.denoisers import DENOISERS, denoise, get_denoiser, noise_sigma
from medae.baselines.jpeg import jpeg_at_budget
from medae.baselines.pca import PcaCodec
from medae.errors import ConfigError

MIN_GAIN_DB = {"gaussian": 1.0, "tv": 3.0, "nlm": 6.0, "bm3d": 6.0}


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return resize(skimage_data.shepp_logan_phantom(), (64, 64), anti_aliasing=True).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


@pytest.mark.parametrize("name", list(DENOISERS))
def test_every_denoiser_removes_noise_from_the_phantom(phantom, name):
    noisy = phantom + 0.1 * np.random.default_rng(0).standard_normal(phantom.shape).astype(np.float32)
    denoiser = DENOISERS[name]
    output = denoise(denoiser, noisy[None, None], 0.1, "oracle", denoiser.grid[0])[0, 0]
    assert output.shape == phantom.shape
    # 20.0 dB noisy; the edge-blind Gaussian filter gains least, BM3D most
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


def test_jpeg_fits_the_budget_and_improves_with_it(phantom):
    small, large = jpeg_at_budget(phantom, 600), jpeg_at_budget(phantom, 2000)
    assert small.num_bytes <= 600 < large.num_bytes <= 2000
    assert small.quality < large.quality
    assert psnr(large.image, phantom) > psnr(small.image, phantom) + 3


def test_jpeg_reports_its_size_when_the_budget_is_too_small(phantom):
    result = jpeg_at_budget(phantom, 10)
    assert result.quality == 1 and result.num_bytes > 10


def test_pca_is_exact_on_the_training_span_and_caps_components():
    generator = torch.Generator().manual_seed(0)
    basis = torch.randn(3, 1, 8, 8, generator=generator)
    weights = torch.randn(20, 3, generator=generator)
    images = torch.einsum("nk,kcij->ncij", weights, basis)
    codec = PcaCodec(components=3).fit(images)
    assert torch.allclose(codec.reconstruct(images), images, atol=1e-4)
    assert PcaCodec(components=50).fit(images).components_used == 19


def test_rician_bias_correction_restores_the_dark_background(phantom):
    rng = np.random.default_rng(2)
    noisy = np.sqrt(
        (phantom + 0.1 * rng.standard_normal(phantom.shape)) ** 2
        + (0.1 * rng.standard_normal(phantom.shape)) ** 2
    )
    nlm = DENOISERS["nlm"]
    plain = denoise(nlm, noisy[None, None], 0.1, "oracle", 0.8, noise_model="gaussian")[0, 0]
    corrected = denoise(nlm, noisy[None, None], 0.1, "oracle", 0.8, noise_model="rician")[0, 0]
    background = phantom < 0.01
    assert plain[background].mean() > 0.08  # the Rician floor, sigma * sqrt(pi / 2) = 0.125 before denoising
    assert corrected[background].mean() < 0.05
    assert psnr(corrected, phantom) > psnr(plain, phantom) + 3
