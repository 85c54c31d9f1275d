"""Compression capacity: convolutional autoencoders against PCA at the same numbers per image, unquantised.

The rate-distortion curves from real bitstreams are the compression application's; this section measures
what a code of each size can hold before any quantisation.
"""

from pathlib import Path

from medae.applications.parts.network_calls import decode, encode
from medae.baselines.pca import PcaCodec
from medae.benchmarks.trained_models import train_for_benchmark
from medae.metrics import quality

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
        network, test = trained.module.network, trained.test
        train = trained.datamodule.clean_images("train")
        pca = PcaCodec(numbers, seed).fit(train)
        codes = encode(network, test.input)
        outputs = {"autoencoder": decode(network, codes), "pca": pca.reconstruct(test.input)}
        used = {"autoencoder": codes[0].numel(), "pca": pca.components_used}
        results[str(numbers)] = {
            method: {
                key.split("/")[-1]: value
                for key, value in quality(output, test.image, value_range, test.mask).items()
            }
            | {"code_numbers": float(used[method])}
            for method, output in outputs.items()
        }
        results[str(numbers)]["autoencoder"]["train_s"] = trained.train_s
    return results
