"""Compression: the autoencoder's code against PCA at the same numbers and JPEG at the same bytes.

Every method is scored on the test split and on each held-out set, whole image and foreground.
"""

import logging
from dataclasses import dataclass

import numpy as np
import torch

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.figures import PROJECTIONS, latent_projection_figure
from medae.applications.parts.network_calls import decode, encode
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.requirements import requires
from medae.applications.parts.run_log import by_method, on_set
from medae.applications.parts.split_tensors import SplitTensors
from medae.baselines.jpeg import jpeg_at_budget
from medae.baselines.pca import PcaCodec
from medae.data.intensity import to_unit
from medae.errors import ConfigError
from medae.metrics import quality
from medae.models.capabilities import Encodes, HasDiscreteCode, has

APPLICATION = "compression"
FLOAT_BITS = 32
log = logging.getLogger(__name__)


@dataclass
class CodeSize:
    """Size of one image's code."""

    numbers: int
    bits_per_number: int

    @property
    def bytes(self) -> float:
        """Bytes per image."""
        return self.numbers * self.bits_per_number / 8


def compression_metrics(
    output: torch.Tensor, split: SplitTensors, value_range: tuple[float, float], size: CodeSize
) -> dict[str, float]:
    """PSNR and SSIM (whole, ``_fg``), ``/code_numbers``, ``/code_bytes`` and ``/bits_per_pixel``."""
    metrics = {
        f"{APPLICATION}/{key.split('/')[-1]}": value
        for key, value in quality(output, split.image, value_range, split.mask).items()
    }
    pixels = split.image[0].numel()
    return metrics | {
        f"{APPLICATION}/code_numbers": float(size.numbers),
        f"{APPLICATION}/code_bytes": size.bytes,
        f"{APPLICATION}/bits_per_pixel": 8 * size.bytes / pixels,
    }


def quantize(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform scalar quantisation of float codes to ``bits`` bits over their range (two floats of overhead).

    Example:
        >>> quantize(torch.tensor([0.0, 0.3, 1.0]), 2)
        tensor([0.0000, 0.3333, 1.0000])
    """
    low, high = codes.min(), codes.max()
    levels = 2**bits - 1
    return torch.round((codes - low) / (high - low) * levels) / levels * (high - low) + low


def autoencoder_compression(
    network: torch.nn.Module, test: SplitTensors, value_range: tuple[float, float], code_bits: int | None
) -> tuple[dict[str, float], torch.Tensor]:
    """Metrics of encoding (optionally quantising float codes to ``code_bits``) and decoding; the codes."""
    codes = encode(network, test.input)
    if has(network, HasDiscreteCode):
        bits = network.code_bits
    else:
        bits = code_bits or FLOAT_BITS
        codes = quantize(codes, code_bits) if code_bits else codes
    size = CodeSize(codes[0].numel(), bits)
    return compression_metrics(decode(network, codes), test, value_range, size), codes


def pca_compression(
    codec: PcaCodec, test: SplitTensors, value_range: tuple[float, float], code_bits: int | None = None
) -> dict[str, float]:
    """Metrics of a fitted PCA codec, its scores quantised to ``code_bits`` like the autoencoder's codes."""
    scores = torch.from_numpy(codec.encode(test.input))
    if code_bits:
        scores = quantize(scores, code_bits)
    output = codec.decode(scores.numpy())
    size = CodeSize(codec.components_used, code_bits or FLOAT_BITS)
    return compression_metrics(output, test, value_range, size)


def jpeg_compression(
    test: SplitTensors, max_bytes: float, value_range: tuple[float, float]
) -> tuple[dict[str, float], float]:
    """Metrics of JPEG, each image at the highest quality that fits ``max_bytes``; the mean quality."""
    if test.image.ndim != 4 or test.image.shape[1] != 1:
        raise ConfigError("application.jpeg", "JPEG compares only on 2D single-channel images; set it false")
    low, high = value_range
    results = [jpeg_at_budget(image[0], max_bytes) for image in to_unit(test.input, value_range)]
    output = torch.from_numpy(np.stack([r.image for r in results]))[:, None] * (high - low) + low
    size = CodeSize(1, 8)
    metrics = compression_metrics(output, test, value_range, size)
    mean_bytes = float(np.mean([r.num_bytes for r in results]))
    metrics[f"{APPLICATION}/code_bytes"] = mean_bytes
    metrics[f"{APPLICATION}/code_numbers"] = mean_bytes
    metrics[f"{APPLICATION}/bits_per_pixel"] = 8 * mean_bytes / test.image[0].numel()
    return metrics, float(np.mean([r.quality for r in results]))


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
    code_bits: int | None = 8,
    pca: bool = True,
    jpeg: bool = True,
    projection: str = "pca",
) -> dict[str, float]:
    """Measure the code size and reconstruction quality of the test images; PCA and JPEG beside it.

    Args:
        context: the trained run.
        code_bits: quantise float codes to this many bits per number (``None``: 32-bit floats);
            VQ-VAE codes are codebook indices and keep their own size.
        pca: run PCA with as many components as the code has numbers, quantised to ``code_bits`` too.
        jpeg: run JPEG at the code's bytes per image (2D single-channel data).
        projection: ``pca`` or ``tsne`` plot of the test codes, coloured by label (or source), as an artifact.

    Returns:
        ``compression/<method>/<metric>`` for the autoencoder and each baseline.
    """
    if projection not in PROJECTIONS:
        raise ConfigError(
            "application.projection", f"unknown '{projection}'; allowed: {', '.join(PROJECTIONS)}"
        )
    if code_bits is not None and not 1 <= code_bits <= 16:
        raise ConfigError("application.code_bits", f"must be null or in [1, 16], got {code_bits}")
    value_range = context.module.value_range
    sets = {name: context.split(name) for name in context.evaluation_sets}
    results: dict[str, dict[str, float]] = {"autoencoder": {}, "pca": {}, "jpeg": {}}
    qualities = []
    codec = None
    for name, split in sets.items():
        autoencoder, codes = autoencoder_compression(context.network, split, value_range, code_bits)
        results["autoencoder"] |= on_set(autoencoder, name)
        if name == "test":
            context.run.figure(
                latent_projection_figure(codes.float(), projection_groups(split), projection, context.seed),
                f"{APPLICATION}/latent_{projection}.png",
            )
        numbers = int(autoencoder[f"{APPLICATION}/code_numbers"])
        if pca:
            codec = codec or PcaCodec(numbers, context.seed).fit(context.split("train").image)
            results["pca"] |= on_set(pca_compression(codec, split, value_range, code_bits), name)
        if jpeg:
            metrics, mean_quality = jpeg_compression(
                split, autoencoder[f"{APPLICATION}/code_bytes"], value_range
            )
            results["jpeg"] |= on_set(metrics, name)
            qualities.append(mean_quality)
    context.run.metrics(results["autoencoder"])
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    if codec is not None:
        if codec.components_used < numbers:
            log.warning(
                "PCA capped at %d components (the training set's limit), the code has %d",
                codec.components_used,
                numbers,
            )
        params = context.baseline_params | {"components": codec.components_used}
        context.run.baseline(APPLICATION, "pca", params, results["pca"])
    if jpeg:
        params = context.baseline_params | {"mean_quality": f"{np.mean(qualities):.1f}"}
        context.run.baseline(APPLICATION, "jpeg", params, results["jpeg"])
    return by_method(APPLICATION, {method: metrics for method, metrics in results.items() if metrics})
