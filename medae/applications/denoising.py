"""Denoising: the autoencoder against Gaussian filtering, NLM, TV and BM3D on the same noisy test images.

Every method is scored on the test split and on each held-out set (another subject), whole image and
foreground; each classical method's parameter is tuned on validation foreground PSNR. Every method's run
also keeps each image's scores (``per_image/<set>.csv``), so tables pair methods image by image.
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
from medae.applications.parts.scan_prediction import ScanPrediction, register_prediction
from medae.baselines.denoisers import DENOISERS, Denoiser, denoise, get_denoiser, noise_sigmas
from medae.data.intensity import from_unit, to_unit
from medae.data.noise import NOISE_MODELS
from medae.errors import ConfigError, check_choices
from medae.evaluation.per_image_table import artifact_path, per_image_csv
from medae.evaluation.split_tensors import SplitTensors
from medae.metrics import quality
from medae.tracking.tracked_run import TrackedRun

APPLICATION = "denoising"
# the fixed noise of each extra noise level, and of each set at that level, is seeded apart from the data's
LEVEL_SEED_OFFSET = 7_919_000
SET_SEED_OFFSET = 100_003
# the strongest classical denoisers, which also run with the true noise level as labelled rows
BLOCK_MATCHING = ("bm3d", "bm4d")
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


@dataclass
class Condition:
    """One noise level the methods are compared at: its validation images and the sets to measure.

    Attributes:
        level: the noise strength (the standard deviation on [0, 1] data).
        label: the suffix of its metric keys (``at_0.05``), empty for the data's own noise.
        val: validation images at this level, for tuning; ``None`` where the data is all for evaluation
            (``data.evaluate_all``): the methods then run at their textbook setting.
        sets: the evaluation sets at this level.
    """

    level: float
    label: str
    val: SplitTensors | None
    sets: dict[str, SplitTensors]

    def key(self, metric: str) -> str:
        """``metric`` at this level: ``test/psnr_fg`` becomes ``test/at_0.05/psnr_fg``."""
        evaluation_set, _, name = metric.partition("/")
        return metric if not self.label else f"{evaluation_set}/{self.label}/{name}"

    def artifact(self, evaluation_set: str) -> str:
        """Where the per-image scores of ``evaluation_set`` at this level go."""
        return artifact_path(f"{evaluation_set}_{self.label}" if self.label else evaluation_set)


def at_level(split: SplitTensors, noise_model: str, level: float, seed: int) -> SplitTensors:
    """``split`` with its clean images corrupted anew at ``level``, image ``i`` with seed ``seed + i``."""
    noise = NOISE_MODELS[noise_model]
    inputs = [
        noise(image, level, torch.Generator().manual_seed(seed + i)) for i, image in enumerate(split.image)
    ]
    return replace(split, input=torch.stack(inputs) if inputs else split.input)


def conditions(
    val: SplitTensors | None, sets: dict[str, SplitTensors], data: Any, levels: Sequence[float] | None
) -> list[Condition]:
    """The data's own noise, or every level of ``levels`` (the data's own images where a level is its own).

    Each other level gets its own fixed noise per image and set, seeded from ``data.noise_seed``.
    """
    if not levels:
        return [Condition(data.noise_std, "", val, sets)]
    found = []
    for index, level in enumerate(levels):
        if level <= 0:
            raise ConfigError("application.noise_levels", f"must all be > 0, got {list(levels)}")
        if level == data.noise_std:
            found.append(Condition(level, f"at_{level:g}", val, sets))
            continue
        seed = data.noise_seed + LEVEL_SEED_OFFSET * (index + 1)
        renoised = {
            name: at_level(split, data.noise_model, level, seed + SET_SEED_OFFSET * (number + 1))
            for number, (name, split) in enumerate(sets.items())
        }
        tuning = at_level(val, data.noise_model, level, seed) if val is not None else None
        found.append(Condition(level, f"at_{level:g}", tuning, renoised))
    return found


def tuned_factor(
    denoiser: Denoiser,
    condition: Condition,
    val: SplitTensors,
    noise_model: str,
    sigma: str,
    value_range: tuple[float, float],
    run: TrackedRun,
) -> float:
    """The grid factor with the best foreground PSNR on ``val``, the condition's validation images."""
    level = condition.level
    val_noisy = to_unit(val.input, value_range)
    val_sigmas = noise_sigmas(val_noisy, level, sigma, noise_model)
    scores = {}
    for step, factor in enumerate(denoiser.grid):
        output = from_unit(denoise(denoiser, val_noisy, val_sigmas, factor, noise_model), value_range)
        scores[factor] = quality(output, val.image, value_range, val.mask)["test/psnr_fg"]
        tuned = {"tune/psnr_fg": scores[factor], f"tune/{denoiser.parameter}": factor}
        run.metrics({condition.key(key): value for key, value in tuned.items()}, step=step)
        log.info(
            "%s at noise %g: %s = %g gives validation PSNR_fg %.2f dB (%d of %d)",
            denoiser.name,
            level,
            denoiser.parameter,
            factor,
            scores[factor],
            step + 1,
            len(denoiser.grid),
        )
    return max(denoiser.grid, key=lambda candidate: scores[candidate])


def tune_and_measure(
    denoiser: Denoiser,
    condition: Condition,
    noise_model: str,
    sigma: str,
    value_range: tuple[float, float],
    run: TrackedRun | None = None,
) -> DenoiserResult:
    """Pick the grid factor with the best validation foreground PSNR; measure every set and ms per image.

    Each candidate's validation score (``tune/psnr_fg`` at its step in the grid) and each set's metrics go
    to ``run`` as soon as they are known, and one line per candidate to the log. Without validation images
    (``data.evaluate_all``: every image is a test image) nothing is tuned on the data: the method runs at
    its textbook setting, the first of its grid, and the run's ``tune.source`` param says so.
    """
    run = run or TrackedRun(None, None, None)
    level = condition.level
    if condition.val is None:
        factor = denoiser.grid[0]
        log.info(
            "%s at noise %g: no validation images (data.evaluate_all), so its textbook %s = %g",
            denoiser.name,
            level,
            denoiser.parameter,
            factor,
        )
        run.params({"tune.source": "textbook setting (data.evaluate_all: no validation images)"})
    else:
        factor = tuned_factor(denoiser, condition, condition.val, noise_model, sigma, value_range, run)
    run.params({condition.key(f"tune/{denoiser.parameter}").replace("/", "."): factor})
    metrics: dict[str, float] = {}
    for name, split in condition.sets.items():
        start = time.perf_counter()
        noisy = to_unit(split.input, value_range)
        denoised = denoise(
            denoiser, noisy, noise_sigmas(noisy, level, sigma, noise_model), factor, noise_model
        )
        output = from_unit(denoised, value_range)
        measured = on_set(denoising_metrics(output, split, value_range), name)
        if name == "test":
            measured["test/ms_per_image"] = 1000 * (time.perf_counter() - start) / len(split.input)
        measured = {condition.key(key): value for key, value in measured.items()}
        run.metrics(measured)
        run.text(per_image_csv(output, split, value_range), condition.artifact(name))
        metrics |= measured
    return DenoiserResult(metrics, factor)


def measure_denoiser(
    parent: TrackedRun,
    denoiser: Denoiser,
    grid: list[Condition],
    data: Any,
    sigma: str,
    params: dict[str, str],
    method: str | None = None,
) -> DenoiserResult:
    """Tune and measure a classical denoiser at every condition in its own MLflow run beside ``parent``.

    Args:
        parent: the run it is compared with (a no-op run for ``medae baseline`` without a parent).
        denoiser: the method.
        grid: the noise levels, each with its validation images for tuning and its sets to measure.
        data: the datamodule (noise model, value range).
        sigma: ``oracle`` or ``estimate``.
        params: the data's params, logged with the method's.
        method: the run's method name (default the denoiser's; ``bm3d_oracle`` for an oracle row).
    """
    with parent.baseline_run(APPLICATION, method or denoiser.name, params | {"sigma": sigma}) as run:
        metrics: dict[str, float] = {}
        factor = 0.0
        for condition in grid:
            result = tune_and_measure(denoiser, condition, data.noise_model, sigma, data.value_range, run)
            metrics |= result.metrics
            factor = result.factor
        return DenoiserResult(metrics, factor, run.run_id)


def check_paired(sigma: str, oracle: Sequence[str] | None, noise_levels: Sequence[float] | None) -> None:
    """Refuse what a real pair cannot give: a true noise level, or synthetic noise on top of it.

    Example:
        >>> check_paired("oracle", None, None)
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: application.sigma: is oracle, but a real low-dose scan has no true ...
    """
    no_truth = "a real low-dose scan has no true noise level"
    for key, wrong, problem in (
        ("application.sigma", sigma == "oracle", f"is oracle, but {no_truth}; use estimate"),
        ("application.oracle", bool(oracle), f"is {list(oracle or [])}, but {no_truth}; set it to []"),
        (
            "application.noise_levels",
            bool(noise_levels),
            "adds synthetic noise, but the data pairs each image with a real low-dose scan; leave it unset",
        ),
    ):
        if wrong:
            raise ConfigError(key, problem)


@APPLICATIONS.register("denoising")
def evaluate(
    context: ApplicationContext,
    baselines: Sequence[str] | None = None,
    sigma: str = "estimate",
    oracle: Sequence[str] | None = None,
    noise_levels: Sequence[float] | None = None,
    tune_images: int = 16,
) -> dict[str, float]:
    """Time the autoencoder on the test images; tune, run and log each classical baseline beside it.

    Every method runs at each of ``noise_levels`` (``at_<level>`` in its metric keys), or at the data's
    own noise level; on a paired source (real low-dose inputs, ``data=ldct``) at the data's own inputs,
    the baselines given a noise level estimated from each one. Rician and Poisson noise reach the
    baselines through their variance-stabilising transform (:func:`medae.baselines.denoisers.denoise`).

    Args:
        context: the trained run.
        baselines: keys of :data:`medae.baselines.denoisers.DENOISERS`; ``None``: every one that works in
            the data's dimensions (BM3D in 2D, BM4D in 3D).
        sigma: ``estimate`` (the default) gives the baselines a noise level estimated from each noisy
            image, as on real data; ``oracle`` gives them the true one.
        oracle: baselines also run with the true noise level, as labelled extra rows (``bm3d_oracle``),
            when ``sigma`` is ``estimate``; ``None``: the block-matching one (BM3D or BM4D).
        noise_levels: the noise strengths to compare at (at least 3 for a table over levels); ``None``: the
            data's own.
        tune_images: validation images used to tune each baseline's parameter.

    Returns:
        ``denoising/<method>/<metric>`` for the autoencoder and every baseline.
    """
    data = context.datamodule
    if not data.noisy:
        raise ConfigError("data.noise_std", "is 0; denoising needs noisy inputs, e.g. data.noise_std=0.1")
    if tune_images < 1:
        raise ConfigError("application.tune_images", f"must be >= 1, got {tune_images}")
    if data.paired:
        check_paired(sigma, oracle, noise_levels)
    dims = data.spatial_dims
    if baselines is None:
        baselines = [name for name, denoiser in DENOISERS.items() if dims in denoiser.dims]
    if oracle is None:
        oracle = (
            [] if data.paired else [n for n in BLOCK_MATCHING if n in baselines and dims in DENOISERS[n].dims]
        )
    check_choices("application.oracle", oracle, baselines, what="baseline")
    denoisers = [get_denoiser(name, dims) for name in baselines]
    sets = {name: context.split(name) for name in context.evaluation_sets}
    grid = conditions(context.split("val").head(tune_images), sets, data, noise_levels)
    value_range = context.module.value_range
    autoencoder: dict[str, float] = {}
    for condition in grid:
        for name, split in condition.sets.items():
            output, ms_per_image = reconstruct(context.network, split.input)
            measured = on_set(denoising_metrics(output, split, value_range), name)
            if name == "test":
                measured["test/ms_per_image"] = ms_per_image
            autoencoder |= {condition.key(key): value for key, value in measured.items()}
            context.run.text(per_image_csv(output, split, value_range), condition.artifact(name))
    context.run.metrics({key: value for key, value in autoencoder.items() if key.endswith("ms_per_image")})
    if noise_levels:  # the test loop logged the data's own level; the others are new
        context.run.metrics(autoencoder)
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    results = {"autoencoder": autoencoder}
    rows = [(denoiser, sigma, denoiser.name) for denoiser in denoisers]
    if sigma == "estimate":
        rows += [(get_denoiser(name, dims), "oracle", f"{name}_oracle") for name in oracle]
    for denoiser, mode, method in rows:
        result = measure_denoiser(context.run, denoiser, grid, data, mode, context.baseline_params, method)
        results[method] = result.metrics
    return by_method(APPLICATION, results)


register_prediction("denoising", ScanPrediction(result_name="denoised"))
