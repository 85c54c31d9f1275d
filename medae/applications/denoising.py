"""Denoising: the autoencoder against Gaussian filtering, NLM, TV and BM3D on the same noisy test images.

Every method is scored on the test split and on each held-out set (another subject), whole image and
foreground; each classical method's parameter is tuned on validation foreground PSNR.
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.network_calls import reconstruct
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.run_log import by_method, on_set
from medae.applications.parts.split_tensors import SplitTensors
from medae.baselines.denoisers import DENOISERS, Denoiser, denoise, get_denoiser
from medae.data.intensity import from_unit, to_unit
from medae.errors import ConfigError
from medae.metrics import quality
from medae.tracking.tracked_run import TrackedRun

APPLICATION = "denoising"
log = logging.getLogger(__name__)


def input_quality(split: SplitTensors, value_range: tuple[float, float]) -> dict[str, float]:
    """PSNR/SSIM of the noisy inputs, as ``test/input_psnr``, ``test/input_ssim_fg`` and so on."""
    return {
        key.replace("test/", "test/input_"): value
        for key, value in quality(split.input, split.image, value_range, split.mask).items()
    }


def denoising_metrics(
    output: torch.Tensor, split: SplitTensors, value_range: tuple[float, float]
) -> dict[str, float]:
    """PSNR/SSIM (whole and foreground) of output and noisy input, and the PSNR gains, as ``test/*``."""
    metrics = quality(output, split.image, value_range, split.mask) | input_quality(split, value_range)
    for key in ("psnr", "psnr_fg"):
        metrics[f"test/{key}_gain"] = metrics[f"test/{key}"] - metrics[f"test/input_{key}"]
    return metrics


@dataclass
class DenoiserResult:
    """Test metrics of a tuned classical denoiser, the factor the validation images chose, and its run."""

    metrics: dict[str, float]
    factor: float
    run_id: str | None = None


def tune_and_measure(
    denoiser: Denoiser,
    val: SplitTensors,
    sets: dict[str, SplitTensors],
    noise_model: str,
    noise_std: float,
    sigma: str,
    value_range: tuple[float, float],
    run: TrackedRun | None = None,
) -> DenoiserResult:
    """Pick the grid factor with the best validation foreground PSNR; measure every set and ms per image.

    Each candidate's validation score (``tune/psnr_fg`` at its step in the grid) and each set's metrics go
    to ``run`` as soon as they are known, and one line per candidate to the log.
    """
    run = run or TrackedRun(None, None, None)
    val_noisy = to_unit(val.input, value_range)
    scores = {}
    for step, factor in enumerate(denoiser.grid):
        output = from_unit(denoise(denoiser, val_noisy, noise_std, sigma, factor, noise_model), value_range)
        scores[factor] = quality(output, val.image, value_range, val.mask)["test/psnr_fg"]
        run.metrics({"tune/psnr_fg": scores[factor], f"tune/{denoiser.parameter}": factor}, step=step)
        log.info(
            "%s: %s = %g gives validation PSNR_fg %.2f dB (%d of %d)",
            denoiser.name,
            denoiser.parameter,
            factor,
            scores[factor],
            step + 1,
            len(denoiser.grid),
        )
    factor = max(denoiser.grid, key=lambda candidate: scores[candidate])
    run.params({denoiser.parameter: factor})
    metrics = {}
    for name, split in sets.items():
        start = time.perf_counter()
        output = denoise(denoiser, to_unit(split.input, value_range), noise_std, sigma, factor, noise_model)
        measured = on_set(denoising_metrics(from_unit(output, value_range), split, value_range), name)
        if name == "test":
            measured["test/ms_per_image"] = 1000 * (time.perf_counter() - start) / len(split.input)
        run.metrics(measured)
        metrics |= measured
    return DenoiserResult(metrics, factor)


def measure_denoiser(
    parent: TrackedRun,
    denoiser: Denoiser,
    val: SplitTensors,
    sets: dict[str, SplitTensors],
    data: Any,
    sigma: str,
    params: dict[str, str],
) -> DenoiserResult:
    """Tune and measure a classical denoiser in its own MLflow run beside ``parent``, logging as it goes.

    Args:
        parent: the run it is compared with (a no-op run for ``medae baseline`` without a parent).
        denoiser: the method.
        val: validation images for tuning.
        sets: the sets to measure.
        data: the datamodule (noise model, noise level, value range).
        sigma: ``oracle`` or ``estimate``.
        params: the data's params, logged with the method's.
    """
    with parent.baseline_run(APPLICATION, denoiser.name, params | {"sigma": sigma}) as run:
        result = tune_and_measure(
            denoiser, val, sets, data.noise_model, data.noise_std, sigma, data.value_range, run
        )
        return replace(result, run_id=run.run_id)


@APPLICATIONS.register("denoising")
def evaluate(
    context: ApplicationContext,
    baselines: Sequence[str] = tuple(DENOISERS),
    sigma: str = "oracle",
    tune_images: int = 16,
) -> dict[str, float]:
    """Time the autoencoder on the test images; tune, run and log each classical baseline beside it.

    Args:
        context: the trained run.
        baselines: keys of :data:`medae.baselines.denoisers.DENOISERS`.
        sigma: ``oracle`` gives the baselines the configured noise level, ``estimate`` estimates it.
        tune_images: validation images used to tune each baseline's parameter.

    Returns:
        ``denoising/<method>/<metric>`` for the autoencoder and every baseline.
    """
    data = context.datamodule
    if not data.noisy:
        raise ConfigError("data.noise_std", "is 0; denoising needs noisy inputs, e.g. data.noise_std=0.1")
    if tune_images < 1:
        raise ConfigError("application.tune_images", f"must be >= 1, got {tune_images}")
    denoisers = [get_denoiser(name, data.spatial_dims) for name in baselines]
    sets = {name: context.split(name) for name in context.evaluation_sets}
    val = context.split("val").head(tune_images)
    value_range = context.module.value_range
    autoencoder = {}
    for name, split in sets.items():
        output, ms_per_image = reconstruct(context.network, split.input)
        if name == "test":
            autoencoder["test/ms_per_image"] = ms_per_image
        autoencoder |= on_set(denoising_metrics(output, split, value_range), name)
    context.run.metrics(
        {"test/ms_per_image": autoencoder["test/ms_per_image"]}
    )  # the test loop logged the rest
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    results = {"autoencoder": autoencoder}
    for denoiser in denoisers:
        result = measure_denoiser(context.run, denoiser, val, sets, data, sigma, context.baseline_params)
        results[denoiser.name] = result.metrics
    return by_method(APPLICATION, results)
