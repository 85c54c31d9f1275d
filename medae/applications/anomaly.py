"""Anomaly detection and localisation: train on normal images, score by reconstruction error.

The test set is either labelled (e.g. PneumoniaMNIST: normal vs pneumonia, image metrics only) or
made from the clean test images: each appears once as it is and once with a synthetic lesion
(:mod:`medae.applications.lesions`), which gives pixel masks too. Intensity thresholding and PCA
reconstruction error are scored on the same images as MLflow runs beside the autoencoder's.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from medae.applications.anomaly_metrics import detection_metrics, localization_metrics
from medae.applications.context import ApplicationContext
from medae.applications.figures import image_rows_figure
from medae.applications.lesions import LESION_KINDS, add_visible_lesion
from medae.applications.registry import APPLICATIONS
from medae.applications.requirements import requires
from medae.applications.run_log import by_method
from medae.applications.split_tensors import SplitTensors
from medae.baselines.pca import PcaCodec
from medae.errors import ConfigError
from medae.models.capabilities import HasPosterior
from medae.models.vae.torch_model import gaussian_kl

APPLICATION = "anomaly"
SCORES = ("l1", "l2", "ssim", "elbo")
REDUCTIONS = ("mean", "max")
BASELINES = ("intensity", "pca")


@dataclass
class AnomalySet:
    """Test images with image labels (1 = anomalous) and, for synthetic lesions, pixel masks."""

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None


def lesion_set(
    clean: torch.Tensor, kinds: list[str], seed: int, value_range: tuple[float, float]
) -> AnomalySet:
    """Every clean image once as it is and once with a lesion; kinds cycle over the images, seeded."""
    low, high = value_range
    lesioned, masks = [], []
    for index, image in enumerate(clean):
        rng = np.random.default_rng(seed + index)
        unit = ((image[0] - low) / (high - low)).numpy()
        array, mask = add_visible_lesion(unit, kinds[index % len(kinds)], rng)
        lesioned.append(torch.from_numpy(array)[None] * (high - low) + low)
        masks.append(torch.from_numpy(mask)[None])
    images = torch.cat([clean, torch.stack(lesioned)])
    labels = torch.cat([torch.zeros(len(clean)), torch.ones(len(clean))]).long()
    masks_all = torch.cat([torch.zeros_like(torch.stack(masks)), torch.stack(masks)])
    return AnomalySet(images, labels, masks_all)


def labelled_set(test: SplitTensors, normal_labels: list[int]) -> AnomalySet:
    """The test images with label 1 where the data's label is not a normal one."""
    anomalous = ~torch.isin(test.label, torch.tensor(normal_labels))
    if anomalous.all() or not anomalous.any():
        raise ConfigError(
            "application.normal_labels",
            f"{normal_labels} leaves {'no normal' if anomalous.all() else 'no anomalous'} test images; "
            "set data.labels_in=[train,val] so the test split keeps every class",
        )
    return AnomalySet(test.image, anomalous.long(), None)


@torch.no_grad()
def reconstruction_maps(
    network: torch.nn.Module, images: torch.Tensor, score: str, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel anomaly maps ``(N, 1, *spatial)`` and the reconstructions of ``images``."""
    network.eval()
    reconstructions = torch.cat([network(chunk).reconstruction for chunk in images.split(64)])
    if score == "l1":
        maps = (images - reconstructions).abs()
    elif score in ("l2", "elbo"):
        maps = (images - reconstructions) ** 2
    else:
        _, similarity = structural_similarity_index_measure(
            reconstructions, images, data_range=data_range, reduction="none", return_full_image=True
        )
        maps = 1 - similarity
    return maps.mean(dim=1, keepdim=True), reconstructions


@torch.no_grad()
def kl_per_voxel(network: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The VAE's KL divergence per image divided by its voxels, the ELBO's second term."""
    mu, logvar = network.posterior(images)
    return gaussian_kl(mu, logvar) / prod(images.shape[1:])


def reduce_maps(maps: torch.Tensor, reduction: str) -> torch.Tensor:
    """Image scores from maps: mean or max over pixels."""
    flat = maps.flatten(1)
    return flat.mean(dim=1) if reduction == "mean" else flat.max(dim=1).values


def anomaly_metrics(maps: torch.Tensor, scores: torch.Tensor, data: AnomalySet) -> dict[str, float]:
    """Image metrics, and pixel metrics when the set has masks."""
    metrics = detection_metrics(scores, data.labels)
    if data.masks is not None:
        metrics |= localization_metrics(maps, data.masks)
    return {f"{APPLICATION}/{key}": value for key, value in metrics.items()}


def baseline_maps(
    method: str, data: AnomalySet, train: torch.Tensor, components: int, seed: int
) -> torch.Tensor:
    """Intensity (bright is anomalous: thresholding) or the absolute PCA reconstruction error."""
    if method == "intensity":
        return data.images.mean(dim=1, keepdim=True)
    codec = PcaCodec(components, seed).fit(train)
    return (data.images - codec.reconstruct(data.images)).abs().mean(dim=1, keepdim=True)


def overlay_figure(
    data: AnomalySet, reconstructions: torch.Tensor, maps: dict[str, torch.Tensor], count: int, title: str
):
    """Rows: image, reconstruction, each method's map, ground truth; anomalous images first."""
    order = torch.argsort(data.labels, descending=True, stable=True)[:count]
    rows = {"image": list(data.images[order]), "reconstruction": list(reconstructions[order])}
    rows |= {f"{name} map": list(method_maps[order]) for name, method_maps in maps.items()}
    if data.masks is not None:
        rows["ground truth"] = list(data.masks[order].float())
    return image_rows_figure(rows, title)


@APPLICATIONS.register("anomaly")
@requires(by_option={"score": {"elbo": (HasPosterior,)}})
def evaluate(
    context: ApplicationContext,
    score: str = "l1",
    reduction: str = "mean",
    synthetic_lesions: bool = True,
    lesion_kinds: Sequence[str] = tuple(LESION_KINDS),
    normal_labels: Sequence[int] = (0,),
    baselines: Sequence[str] = BASELINES,
    pca_components: int = 32,
    overlays: int = 6,
) -> dict[str, float]:
    """Score the test set with the autoencoder and each baseline; log metrics, runs and overlays.

    Args:
        context: the trained run (trained on normal images only).
        score: pixel map: ``l1``, ``l2``, ``ssim`` (1 - local SSIM) or ``elbo`` (l2 map; image score
            adds the VAE's KL term).
        reduction: image score from the map: ``mean`` or ``max``.
        synthetic_lesions: true: lesioned copies of the clean test images, with masks; false: the
            data's labels, with ``normal_labels`` as normal.
        lesion_kinds: keys of :data:`medae.applications.lesions.LESION_KINDS`.
        normal_labels: labels counted as normal when ``synthetic_lesions`` is false.
        baselines: ``intensity`` and/or ``pca``.
        pca_components: components of the PCA baseline.
        overlays: images in the overlay artifact.

    Returns:
        ``anomaly/<method>/<metric>`` for the autoencoder and each baseline.
    """
    kinds, baselines = list(lesion_kinds), list(baselines)
    for key, values, allowed in (
        ("application.score", [score], SCORES),
        ("application.reduction", [reduction], REDUCTIONS),
        ("application.lesion_kinds", kinds, tuple(LESION_KINDS)),
        ("application.baselines", baselines, BASELINES),
    ):
        unknown = [value for value in values if value not in allowed]
        if unknown:
            raise ConfigError(key, f"unknown '{unknown[0]}'; allowed: {', '.join(allowed)}")
    value_range = context.module.value_range
    test = context.split("test")
    if synthetic_lesions:
        data = lesion_set(test.image, kinds, context.seed, value_range)
    else:
        if test.label is None:
            raise ConfigError("application.synthetic_lesions", "is false but the test data has no labels")
        data = labelled_set(test, list(normal_labels))
    network = context.network
    maps, reconstructions = reconstruction_maps(network, data.images, score, value_range[1] - value_range[0])
    scores = reduce_maps(maps, reduction)
    if score == "elbo":
        scores = scores + kl_per_voxel(network, data.images)
    results = {"autoencoder": anomaly_metrics(maps, scores, data)}
    context.run.metrics(results["autoencoder"])
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    all_maps = {"autoencoder": maps}
    train = context.split("train").image
    for method in baselines:
        method_maps = baseline_maps(method, data, train, pca_components, context.seed)
        metrics = anomaly_metrics(method_maps, reduce_maps(method_maps, reduction), data)
        context.run.baseline(APPLICATION, method, context.baseline_params | {"reduction": reduction}, metrics)
        results[method] = metrics
        all_maps[method] = method_maps
    figure = overlay_figure(data, reconstructions, all_maps, overlays, f"anomaly maps ({score}, {reduction})")
    context.run.figure(figure, f"{APPLICATION}/overlays.png")
    return by_method(APPLICATION, results)
