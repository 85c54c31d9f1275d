"""Denoising: the autoencoder against Gaussian filtering, NLM, TV and BM3D on the same noisy test images."""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from medae.applications.context import ApplicationContext
from medae.applications.network_calls import reconstruct
from medae.applications.registry import APPLICATIONS
from medae.applications.run_log import RunLog, by_method
from medae.applications.split_tensors import SplitTensors
from medae.baselines.denoisers import DENOISERS, Denoiser, denoise, get_denoiser
from medae.data.intensity import from_unit, to_unit
from medae.errors import ConfigError
from medae.metrics import quality

APPLICATION = "denoising"


def input_quality(split: SplitTensors, value_range: tuple[float, float]) -> dict[str, float]:
    """PSNR/SSIM of the noisy inputs, as ``test/input_psnr`` and ``test/input_ssim``."""
    return {
        key.replace("test/", "test/input_"): value
        for key, value in quality(split.input, split.image, value_range).items()
    }


def denoising_metrics(
    output: torch.Tensor, split: SplitTensors, value_range: tuple[float, float], ms_per_image: float
) -> dict[str, float]:
    """What every denoising run logs: test PSNR/SSIM of output and noisy input, the gain, ms per image."""
    metrics = quality(output, split.image, value_range) | input_quality(split, value_range)
    metrics["test/psnr_gain"] = metrics["test/psnr"] - metrics["test/input_psnr"]
    metrics["test/ms_per_image"] = ms_per_image
    return metrics


@dataclass
class DenoiserResult:
    """Test metrics of a tuned classical denoiser and the factor the validation images chose."""

    metrics: dict[str, float]
    factor: float


def tune_and_measure(
    denoiser: Denoiser,
    val: SplitTensors,
    test: SplitTensors,
    noise_model: str,
    noise_std: float,
    sigma: str,
    value_range: tuple[float, float],
) -> DenoiserResult:
    """Pick the grid factor with the best validation PSNR, then measure test PSNR/SSIM and ms per image."""
    val_noisy = to_unit(val.input, value_range)
    scores = {}
    for factor in denoiser.grid:
        output = from_unit(denoise(denoiser, val_noisy, noise_std, sigma, factor, noise_model), value_range)
        scores[factor] = quality(output, val.image, value_range)["test/psnr"]
    factor = max(denoiser.grid, key=lambda candidate: scores[candidate])
    start = time.perf_counter()
    output = denoise(denoiser, to_unit(test.input, value_range), noise_std, sigma, factor, noise_model)
    ms_per_image = 1000 * (time.perf_counter() - start) / len(test.input)
    return DenoiserResult(
        denoising_metrics(from_unit(output, value_range), test, value_range, ms_per_image), factor
    )


def log_denoiser_run(
    parent: RunLog, denoiser: Denoiser, result: DenoiserResult, sigma: str, params: dict[str, str]
) -> None:
    """One MLflow run for a tuned classical denoiser, beside the runs it is compared with."""
    parent.baseline(
        APPLICATION,
        denoiser.name,
        params | {"sigma": sigma, denoiser.parameter: result.factor},
        result.metrics,
    )


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
    test = context.split("test")
    val = context.split("val")
    val = val.head(tune_images)
    value_range = context.module.value_range
    output, ms_per_image = reconstruct(context.network, test.input)
    autoencoder = denoising_metrics(output, test, value_range, ms_per_image)
    context.run.metrics({"test/ms_per_image": ms_per_image})
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    results = {"autoencoder": autoencoder}
    for denoiser in denoisers:
        result = tune_and_measure(denoiser, val, test, data.noise_model, data.noise_std, sigma, value_range)
        log_denoiser_run(context.run, denoiser, result, sigma, context.baseline_params)
        results[denoiser.name] = result.metrics
    return by_method(APPLICATION, results)
