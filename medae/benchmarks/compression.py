"""Compression: convolutional autoencoders against PCA at the same numbers per image."""

from pathlib import Path

import torch

from medae.applications.compression import autoencoder_compression, pca_compression
from medae.baselines.pca import PcaCodec
from medae.benchmarks.trained_models import train_for_benchmark

# code sizes (numbers per 64 x 64 image) and the conv settings that give them
CODE_SIZES: dict[int, list[str]] = {
    16: ["model.channels=[16,32,64,64]", "model.strides=[2,2,2,2]", "model.latent_channels=1"],
    64: ["model.latent_channels=1"],
    256: ["model.latent_channels=4"],
}


def measure(workdir: Path, quick: bool, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """PSNR and SSIM of the autoencoder and of PCA at each code size: ``{size: {method: figures}}``."""
    epochs = 2 if quick else 80
    results = {}
    for numbers, options in CODE_SIZES.items():
        if quick and numbers != 64:
            continue
        trained = train_for_benchmark(
            [*options, f"trainer.max_epochs={epochs}"], workdir / f"compress_{numbers}"
        )
        value_range = trained.module.value_range
        autoencoder, _ = autoencoder_compression(trained.module.network, trained.test, value_range, None)
        train = torch.stack([torch.as_tensor(item["image"]) for item in trained.datamodule.datasets["train"]])
        pca = pca_compression(PcaCodec(numbers, seed).fit(train), trained.test, value_range)
        results[str(numbers)] = {
            "autoencoder": {key.split("/")[-1]: value for key, value in autoencoder.items()}
            | {"train_s": trained.train_s},
            "pca": {key.split("/")[-1]: value for key, value in pca.items()},
        }
    return results
