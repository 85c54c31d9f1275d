"""Denoising: medae's denoising autoencoder against BM3D, NLM and TV on the same noisy test images."""

from pathlib import Path

from medae.applications.denoising import Condition, input_quality, tune_and_measure
from medae.applications.parts.network_calls import reconstruct
from medae.baselines.denoisers import DENOISERS
from medae.benchmarks.trained_models import train_for_benchmark
from medae.metrics import quality

SIGMAS = (0.05, 0.1, 0.2)
BASELINES = ("bm3d", "nlm", "tv")
# RED-CNN at 32 channels: the denoiser of experiment=denoise_mri
MODEL = ["model=redcnn", "model.channels=32", "model.kernel_size=3"]
TUNE_IMAGES = 16


def measure(workdir: Path, quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    """PSNR, SSIM and ms per image of every method at every sigma: ``{sigma: {method: figures}}``."""
    epochs = 2 if quick else 15
    results = {}
    for sigma in SIGMAS[1:2] if quick else SIGMAS:
        overrides = [
            *MODEL,
            "data.noise_model=gaussian",
            f"data.noise_std={sigma}",
            f"trainer.max_epochs={epochs}",
        ]
        if quick:
            overrides += ["data.image_size=32"]
        trained = train_for_benchmark(overrides, workdir / f"denoise_{sigma}")
        value_range = trained.module.value_range
        output, ms = reconstruct(trained.module.network, trained.test.input)
        figures = {
            "autoencoder": quality(output, trained.test.image, value_range) | {"test/ms_per_image": ms}
        }
        noisy = input_quality(trained.test, value_range)
        figures["noisy input"] = {
            "test/psnr": noisy["test/input_psnr"],
            "test/ssim": noisy["test/input_ssim"],
        }
        val = trained.val.head(4 if quick else TUNE_IMAGES)
        test = trained.test.head(4) if quick else trained.test
        for name in BASELINES:
            condition = Condition(sigma, "", val, {"test": test})
            figures[name] = tune_and_measure(
                DENOISERS[name], condition, "gaussian", "oracle", value_range
            ).metrics
        results[str(sigma)] = {
            method: {key.split("/")[-1]: value for key, value in values.items()}
            | {"train_s": trained.train_s}
            if method == "autoencoder"
            else {key.split("/")[-1]: value for key, value in values.items()}
            for method, values in figures.items()
        }
    return results
