"""Compression: rate-distortion curves from real bitstreams, the autoencoder against PCA and the image codecs.

Every method is measured at several rates on the test split and on each held-out set, image by image. The
autoencoder's code and PCA's scores are quantised with a step (``steps``, relative to the code's RMS on the
training images) and range-coded under a factorised prior fitted on the training codes
(:mod:`medae.baselines.entropy_coding`); their rate is the bitstream's length. JPEG (``jpeg_qualities``)
and JPEG 2000 (``jpeg2000_psnr``) code the 8-bit rendition of each image; their rate is the payload, and the
header bits are logged apart (:mod:`medae.baselines.image_codecs`). Lossless JPEG-LS gives the bits that
rendition needs. Each curve is compared with JPEG 2000's by BD-rate and BD-quality on foreground PSNR and
SSIM, with a hierarchical bootstrap interval over subjects and slices.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.figures import PROJECTIONS, latent_projection_figure
from medae.applications.parts.network_calls import decode, encode
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.requirements import requires
from medae.applications.parts.run_log import by_method, on_set
from medae.applications.parts.scan_prediction import ScanPrediction, register_prediction
from medae.baselines.entropy_coding import FactorizedPrior
from medae.baselines.image_codecs import code_image
from medae.baselines.pca import PcaCodec
from medae.data.intensity import from_unit, to_unit
from medae.errors import ConfigError
from medae.evaluation.rate_distortion import (
    DELTAS,
    Curve,
    artifact_path,
    curve,
    curves_csv,
    curves_figure,
    delta_interval,
    rate_point,
)
from medae.evaluation.split_tensors import SplitTensors
from medae.models.capabilities import Encodes, HasDiscreteCode, has

APPLICATION = "compression"
ANCHOR = "jpeg2000"
BD_SCORES = ("psnr_fg", "ssim_fg")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateSettings:
    """The rate knob of each method: quantisation steps, JPEG qualities, JPEG 2000 targets; codecs or not."""

    steps: Sequence[float]
    codecs: bool
    jpeg_qualities: Sequence[int]
    jpeg2000_psnr: Sequence[float]


def coded_curve(
    codes: tuple[np.ndarray, np.ndarray],
    steps: Sequence[float],
    decoder: Callable[[np.ndarray], torch.Tensor],
    split: SplitTensors,
    value_range: tuple[float, float],
    discrete: bool = False,
) -> tuple[Curve, float]:
    """The curve of a code entropy-coded at each relative step; the largest fraction of numbers clipped.

    Args:
        codes: the training and the test codes, each ``(N, numbers)``.
        steps: quantisation steps as fractions of the RMS of the centred training codes.
        decoder: images from decoded codes ``(N, numbers)``.
        split: the images the test codes came from.
        value_range: the data's intensity range.
        discrete: the codes are codebook indices, coded once as they are (step 1, no centring).
    """
    train, test = codes
    scale = float(np.sqrt(((train - train.mean(axis=0)) ** 2).mean())) or 1.0
    chosen = [1.0] if discrete else [step * scale for step in steps]
    points, clipped = [], 0.0
    for step in chosen:
        encoded = FactorizedPrior(step, centre=not discrete).fit(train).encode(test)
        clipped = max(clipped, encoded.clipped)
        points.append(rate_point(decoder(encoded.decoded), split, value_range, encoded.bits))
    settings = ["codebook indices"] if discrete else [f"step {step:g} RMS" for step in steps]
    return curve(settings, points), clipped


def codec_curve(
    codec: str, settings: Sequence[float | None], split: SplitTensors, value_range: tuple[float, float]
) -> Curve:
    """The curve of an image codec at each of its settings, on the 8-bit rendition of each image."""
    unit = to_unit(split.input, value_range)[:, 0]
    points = []
    for setting in settings:
        coded = [code_image(codec, image, setting) for image in unit]
        output = from_unit(np.stack([c.image for c in coded])[:, None], value_range)
        payload = np.array([8.0 * c.payload_bytes for c in coded])
        header = np.array([8.0 * c.header_bytes for c in coded])
        points.append(rate_point(output, split, value_range, payload, header))
    return curve(
        [f"{codec} {setting}" if setting is not None else "lossless" for setting in settings], points
    )


def set_curves(
    context: ApplicationContext,
    split: SplitTensors,
    rates: RateSettings,
    train: tuple[torch.Tensor, np.ndarray | None],
    codec: PcaCodec | None,
) -> tuple[dict[str, Curve], torch.Tensor]:
    """Every method's curve on one set, and the autoencoder's codes of it (for the projection plot).

    ``train`` holds the training images' codes and PCA scores, which the priors are fitted on.
    """
    network, value_range = context.network, context.module.value_range
    (train_codes, train_scores), test_codes = train, encode(network, split.input)
    shape, discrete = test_codes.shape[1:], has(network, HasDiscreteCode)

    def network_decoder(flat: np.ndarray) -> torch.Tensor:
        codes = torch.from_numpy(flat).reshape(len(flat), *shape)
        return decode(network, codes.long() if discrete else codes.float())

    flat = [codes.reshape(len(codes), -1).double().numpy() for codes in (train_codes, test_codes)]
    curves, clipped = {}, {}
    curves["autoencoder"], clipped["autoencoder"] = coded_curve(
        (flat[0], flat[1]), rates.steps, network_decoder, split, value_range, discrete
    )
    if codec is not None and train_scores is not None:
        scores = (train_scores, codec.encode(split.input))
        curves["pca"], clipped["pca"] = coded_curve(scores, rates.steps, codec.decode, split, value_range)
    if rates.codecs:
        curves["jpeg"] = codec_curve("jpeg", rates.jpeg_qualities, split, value_range)
        curves[ANCHOR] = codec_curve(ANCHOR, rates.jpeg2000_psnr, split, value_range)
        curves["jpegls"] = codec_curve("jpegls", [None], split, value_range)
    for method, fraction in clipped.items():
        if fraction > 0:
            log.warning(
                "%s: %.2g%% of the code's numbers fell outside the fitted prior", method, 100 * fraction
            )
    return curves, test_codes


def curve_metrics(
    curves: dict[str, Curve], split: SplitTensors, resamples: int
) -> dict[str, dict[str, float]]:
    """``compression/r<k>/<metric>`` of each method, and its Bjøntegaard deltas against JPEG 2000 if run."""
    results = {
        method: {f"{APPLICATION}/{key}": value for key, value in measured.metrics().items()}
        for method, measured in curves.items()
    }
    anchor = curves.get(ANCHOR)
    for method, measured in curves.items():
        if anchor is None or method == "jpegls":
            continue  # the anchor against itself: 0, so that tables rank it beside the others
        for score in BD_SCORES:
            for name, delta in DELTAS.items():
                found = delta_interval(
                    delta,
                    (anchor.bpp[None], anchor.scores[score][None]),
                    (measured.bpp[None], measured.scores[score][None]),
                    split.subjects,
                    resamples,
                )
                results[method] |= {
                    f"{APPLICATION}/{key}": value for key, value in found.metrics(name.format(score)).items()
                }
    return results


def projection_groups(split: SplitTensors) -> list[str]:
    """Colour groups of a projection plot: the labels, else where each sample came from (``axial``, a file).

    Example:
        >>> projection_groups(SplitTensors(torch.zeros(2), torch.zeros(2), None, ["axial:3", "sagittal:9"]))
        ['axial', 'sagittal']
    """
    if split.label is not None:
        return [f"label {int(label)}" for label in split.label]
    return [sample_id.split(":")[0] for sample_id in split.ids]


@APPLICATIONS.register("compression")
@requires(Encodes)
def evaluate(
    context: ApplicationContext,
    steps: Sequence[float] = (8.0, 4.0, 2.0, 1.0, 0.5, 0.25),
    pca: bool = True,
    codecs: bool | None = None,
    jpeg_qualities: Sequence[int] = (2, 5, 10, 20, 40, 60, 80, 95),
    jpeg2000_psnr: Sequence[float] = (16.0, 18.0, 20.0, 23.0, 26.0, 30.0, 34.0, 38.0),
    resamples: int = 1000,
    projection: str = "pca",
) -> dict[str, float]:
    """Measure every method's rate-distortion curve on the test images and each held-out set.

    Args:
        context: the trained run.
        steps: quantisation steps of the autoencoder's code and of PCA's scores, as fractions of the RMS of
            the centred training codes, one rate point each (at least 5 for a curve); codebook indices
            (VQ-VAE) are coded once as they are.
        pca: PCA with every component the training images allow, its scores coded like the code.
        codecs: JPEG, JPEG 2000 and lossless JPEG-LS, which take 2D single-channel images; ``None``: on
            such images.
        jpeg_qualities: JPEG qualities (1-100), one rate point each.
        jpeg2000_psnr: JPEG 2000 target PSNR in dB (OpenJPEG's fixed-quality mode), one rate point each.
        resamples: bootstrap replicates of the intervals of the Bjøntegaard deltas.
        projection: ``pca`` or ``tsne`` plot of the test codes, coloured by label (or source), as an artifact.

    Returns:
        ``compression/<method>/r<k>/<metric>`` (``bpp``, ``header_bpp``, PSNR and SSIM, whole and ``_fg``);
        against JPEG 2000, ``compression/<method>/bd_rate_psnr_fg`` (BD-rate, %) and ``.../bd_psnr_fg``
        (BD-PSNR, dB), the same for ``ssim_fg``, each with ``_low`` and ``_high``.
    """
    if projection not in PROJECTIONS:
        raise ConfigError(
            "application.projection", f"unknown '{projection}'; allowed: {', '.join(PROJECTIONS)}"
        )
    if not steps or min(steps) <= 0:
        raise ConfigError(
            "application.steps", f"must be positive fractions of the code's RMS, got {list(steps)}"
        )
    if any(not 1 <= quality <= 100 for quality in jpeg_qualities):
        raise ConfigError("application.jpeg_qualities", f"must be in [1, 100], got {list(jpeg_qualities)}")
    train = context.split("train")
    flat_grey = train.image.ndim == 4 and train.image.shape[1] == 1
    codecs = flat_grey if codecs is None else codecs
    if codecs and not flat_grey:
        raise ConfigError(
            "application.codecs", "the image codecs take only 2D single-channel images; set it false"
        )
    rates = RateSettings(steps, codecs, jpeg_qualities, jpeg2000_psnr)
    codec = PcaCodec(len(train.image), context.seed).fit(train.image) if pca else None
    fitted_on = encode(context.network, train.input), codec.encode(train.input) if codec else None
    results: dict[str, dict[str, float]] = {}
    for name in context.evaluation_sets:
        split = context.split(name)
        curves, codes = set_curves(context, split, rates, fitted_on, codec)
        context.run.text(curves_csv(curves, split), artifact_path(name))
        lossless = curves.get("jpegls")
        lossy = {method: measured for method, measured in curves.items() if measured is not lossless}
        context.run.figure(
            curves_figure(lossy, f"rate-distortion, {name}", lossless.bpp.mean() if lossless else None),
            f"{APPLICATION}/rate_distortion_{name}.png",
        )
        if name == "test":
            context.run.figure(
                latent_projection_figure(codes.float(), projection_groups(split), projection, context.seed),
                f"{APPLICATION}/latent_{projection}.png",
            )
        for method, metrics in curve_metrics(curves, split, resamples).items():
            results.setdefault(method, {}).update(on_set(metrics, name))
    context.run.metrics(results["autoencoder"])
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    settings: dict[str, dict[str, Any]] = {
        "pca": {"components": codec.components_used if codec else 0, "steps": list(steps)},
        "jpeg": {"qualities": list(jpeg_qualities)},
        ANCHOR: {"target_psnr": list(jpeg2000_psnr)},
    }
    for method, metrics in results.items():
        if method != "autoencoder":
            params = context.baseline_params | settings.get(method, {})
            context.run.baseline(APPLICATION, method, params, metrics)
    return by_method(APPLICATION, results)


register_prediction("compression", ScanPrediction(writes_codes=True))
