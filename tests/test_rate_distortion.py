"""Real bit rates: the entropy coder, the image codecs' payload and header, BD-rate and its interval."""

import imagecodecs
import numpy as np
import pytest
import torch
from skimage import data as skimage_data
from skimage.metrics import peak_signal_noise_ratio
from skimage.transform import resize

from medae.baselines.entropy_coding import FactorizedPrior
from medae.baselines.image_codecs import START_OF_DATA, START_OF_SCAN, code_image, header_length
from medae.evaluation.rate_distortion import (
    bd_quality,
    bd_rate,
    curve,
    curves_csv,
    delta_interval,
    rate_point,
    read_curves,
)
from medae.evaluation.split_tensors import SplitTensors


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return resize(skimage_data.shepp_logan_phantom(), (64, 64), anti_aliasing=True)


def test_the_range_coder_decodes_what_it_encoded_at_close_to_the_entropy():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(4000, 32)), rng.normal(size=(200, 32))
    prior = FactorizedPrior(step=0.5).fit(train)
    encoded = prior.encode(test)
    # the decoder returns the quantised code, so the error is at most half a step
    np.testing.assert_allclose(encoded.decoded, np.round((test - prior.mean) / 0.5) * 0.5 + prior.mean)
    assert np.abs(encoded.decoded - test).max() <= 0.25 + 1e-9
    # a unit Gaussian quantised with step 0.5 carries 3.10 bits per number; the streams are whole 32-bit words
    bits_per_number = encoded.bits.sum() / test.size
    assert 3.10 < bits_per_number < 3.10 + 1.05  # at most one padding word per 32-number image
    assert encoded.clipped == 0


def test_codes_outside_the_prior_are_clipped_and_counted():
    prior = FactorizedPrior(step=1.0, margin=0).fit(np.array([[0.0], [1.0], [2.0], [3.0]]))
    encoded = prior.encode(np.array([[100.0], [1.5]]))
    # support: the training integers -1.5..1.5 around the mean 1.5, one more each side
    assert encoded.decoded[0, 0] == pytest.approx(1.5 + 3)
    assert encoded.clipped == 0.5


def test_codebook_indices_pass_through_uncentred():
    indices = np.array([[0.0, 3.0], [2.0, 1.0], [3.0, 3.0]])
    encoded = FactorizedPrior(step=1.0, centre=False).fit(indices).encode(indices)
    np.testing.assert_array_equal(encoded.decoded, indices)


def test_the_header_ends_where_the_payload_starts():
    # SOI, an APP0 segment of 16 bytes, an SOS segment of 8 bytes, then entropy-coded data and EOI
    stream = (
        b"\xff\xd8" + b"\xff\xe0" + (16).to_bytes(2, "big") + bytes(14) + b"\xff\xda" + (8).to_bytes(2, "big")
    )
    stream += bytes(6) + b"\x12\x34\x56" + b"\xff\xd9"
    assert header_length(stream, START_OF_SCAN) == 2 + 18 + 10
    # JPEG 2000: SOC, SIZ of 41 bytes, SOT (Lsot 10), SOD, data, EOC
    j2k = (
        b"\xff\x4f"
        + b"\xff\x51"
        + (41).to_bytes(2, "big")
        + bytes(39)
        + b"\xff\x90"
        + (10).to_bytes(2, "big")
    )
    j2k += bytes(8) + b"\xff\x93" + b"\x01\x02" + b"\xff\xd9"
    assert header_length(j2k, START_OF_DATA) == 2 + 43 + 12 + 2
    with pytest.raises(ValueError, match="no start of its payload"):
        header_length(b"\xff\xd8\xff\xe0\x00\x04\x00\x00", START_OF_SCAN)


@pytest.mark.parametrize("codec", ["jpeg", "jpeg2000"])
def test_payload_and_header_add_up_to_the_codestream(phantom, codec):
    grey = np.round(phantom * 255).astype(np.uint8)
    setting = 50 if codec == "jpeg" else 30.0
    coded = code_image(codec, phantom, setting)
    stream = (
        imagecodecs.jpeg8_encode(grey, level=50, optimize=True)
        if codec == "jpeg"
        else imagecodecs.jpeg2k_encode(grey, level=30.0, codecformat="J2K")
    )
    assert coded.payload_bytes + coded.header_bytes == len(stream)
    assert coded.payload_bytes > coded.header_bytes > 0


def test_jpeg2000_meets_its_target_psnr_and_jpegls_is_lossless(phantom):
    grey = np.round(phantom * 255) / 255
    for target in (25.0, 35.0):
        coded = code_image("jpeg2000", phantom, target)
        assert abs(peak_signal_noise_ratio(grey, coded.image, data_range=1) - target) < 1.5
    lossless = code_image("jpegls", phantom)
    np.testing.assert_array_equal(np.round(lossless.image * 255), np.round(phantom * 255))


def test_bd_quality_exists_where_the_qualities_never_meet():
    rates, psnr = np.array([0.1, 0.2, 0.4, 0.8, 1.6]), np.array([24.0, 27.0, 30.0, 33.0, 36.0])
    flat = np.array([18.0, 18.2, 18.3, 18.3, 18.2])  # saturates below the anchor's lowest quality
    assert np.isnan(bd_rate(rates, psnr, rates, flat))
    # the anchor's mean PSNR over log rate is 30 dB; the flat curve's is about 18.2
    assert bd_quality(rates, psnr, rates, flat) == pytest.approx(18.2 - 30, abs=0.1)


def test_bd_rate_of_a_curve_at_half_and_at_double_the_rate():
    rates, psnr = np.array([0.1, 0.2, 0.4, 0.8, 1.6]), np.array([24.0, 27.0, 30.0, 33.0, 36.0])
    assert bd_rate(rates, psnr, rates / 2, psnr) == pytest.approx(-50)
    assert bd_rate(rates, psnr, rates * 2, psnr) == pytest.approx(100)
    # a curve 20 dB above the anchor shares no quality range with it
    assert np.isnan(bd_rate(rates, psnr, rates, psnr + 20))
    # a flat curve has a single point that raises quality: no BD-rate
    assert np.isnan(bd_rate(rates, psnr, rates, np.full(5, 30.0)))


def test_bd_rate_interval_covers_the_images_and_the_rate_point_counts_bits_per_pixel():
    rng = np.random.default_rng(0)
    images = 40
    settings = ["a", "b", "c", "d", "e"]
    anchor_bpp = np.array([0.1, 0.2, 0.4, 0.8, 1.6])[:, None] * rng.uniform(0.8, 1.2, images)
    quality = np.array([24.0, 27.0, 30.0, 33.0, 36.0])[:, None] + rng.normal(0, 1, (5, images))
    subjects = [f"s{index // 4}" for index in range(images)]
    found = delta_interval(
        bd_rate, (anchor_bpp[None], quality[None]), (0.7 * anchor_bpp[None], quality[None]), subjects
    )
    assert found.mean == pytest.approx(-30, abs=0.5)
    assert found.low <= found.mean <= found.high and found.high - found.low < 5
    assert (found.subjects, found.images) == (10, 40)
    assert str(found).startswith("**-30") and str(found).endswith("(40 images, 10 subj.)")
    apart = delta_interval(
        bd_rate, (anchor_bpp[None], quality[None]), (anchor_bpp[None], quality[None] + 30), subjects
    )
    assert str(apart) == "nan: no shared range (40 images, 10 subj.)"
    # the rate point divides each image's bits by its pixels, and the CSV keeps every image's point
    clean = torch.zeros(2, 1, 8, 8)
    split = SplitTensors(clean, clean, None, ["x:1", "x:2"], subjects=["s1", "s2"])
    point = rate_point(clean + 0.1, split, (0.0, 1.0), np.array([64.0, 128.0]), 32.0)
    np.testing.assert_allclose(point[0], [1.0, 2.0])
    np.testing.assert_allclose(point[1], [0.5, 0.5])
    measured = curve(settings[:1], [point])
    curves, positions, read_subjects = read_curves(curves_csv({"m": measured}, split))
    assert positions == ["x:1", "x:2"] and read_subjects == ["s1", "s2"]
    np.testing.assert_allclose(curves["m"].bpp, measured.bpp)
    np.testing.assert_allclose(curves["m"].scores["psnr"], [[20.0, 20.0]], rtol=1e-5)
