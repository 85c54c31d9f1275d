"""Anomaly detection and localisation: train on normal images, score by reconstruction error.

The test set is either labelled (e.g. PneumoniaMNIST: normal vs pneumonia, image metrics only) or
made from the clean images of the test split and of each held-out set: each appears once as it is
and once with a synthetic lesion (:mod:`medae.applications.parts.lesions`), which gives pixel masks too.
Intensity thresholding and PCA reconstruction error are scored on the same images as MLflow runs
beside the autoencoder's. Every method is tuned the same way, on a validation anomaly set (the
labelled validation split, or lesioned copies of the validation images): the autoencoder's score
(``score=auto``) and PCA's component count (``pca_components=auto``) by image AUROC, then each method's
residual post-processing (median filter, eroded brain mask, positive residuals; then the smallest connected
component of its segmentation, :mod:`medae.applications.parts.residual_postprocessing`) by pixel AP and
Dice. Maps are kept to the data's foreground (the brain), and pixel metrics count foreground pixels only.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.figures import image_rows_figure
from medae.applications.parts.lesions import LESION_KINDS, add_visible_lesion
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.requirements import requires
from medae.applications.parts.residual_postprocessing import RESIDUALS, PostProcessing, settings_grid
from medae.applications.parts.run_log import by_method, on_set
from medae.applications.parts.scan_prediction import ScanMaps, ScanPrediction, register_prediction
from medae.baselines.pca import PcaCodec
from medae.errors import ConfigError
from medae.evaluation.anomaly_metrics import (
    detection_metrics,
    dice,
    healthy_threshold,
    localization_metrics,
)
from medae.evaluation.image_scores import artifact_path, image_scores_csv
from medae.evaluation.pixel_counts import artifact_path as pixel_counts_path
from medae.evaluation.pixel_counts import counts_json, pixel_counts
from medae.evaluation.split_tensors import SplitTensors
from medae.models.adversarial_module import AdversarialModule
from medae.models.autoencoder_module import AutoencoderModule
from medae.models.capabilities import HasPosterior, capable, has
from medae.models.vae.torch_model import gaussian_kl

APPLICATION = "anomaly"
AUTO = "auto"
SCORES = ("l1", "l2", "ssim", "elbo", "fanogan")
# what score=auto chooses from: these three, elbo for a variant with a posterior, fanogan for one trained
# against an image discriminator
CHOSEN_SCORES = ("l1", "l2", "ssim")
PCA_COMPONENTS = (4, 8, 16, 32, 64, 128)  # what pca_components=auto chooses from
# what median, erosion, residual and min_component=auto choose from (pixels; voxels for min_component)
MEDIANS = (0, 3, 5)
EROSIONS = (0, 2)
MIN_COMPONENTS = (0, 4, 16)
REDUCTIONS = ("mean", "max")
BASELINES = ("intensity", "pca")
VALIDATION_SEED_OFFSET = 500_000

# images -> (raw maps, image minus reconstruction averaged over channels, or None without a reconstruction)
MapFunction = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class AnomalySet:
    """Images with image labels (1 = anomalous), lesion masks for synthetic lesions, and the foreground.

    ``kinds`` names each synthetic lesion's kind (empty for a normal image), so results split by kind;
    ``positions`` and ``subjects`` say where each image comes from (a lesioned copy shares the position of
    its healthy slice), for the image scores a run keeps (:mod:`medae.evaluation.image_scores`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None
    foreground: torch.Tensor | None = None
    kinds: list[str] | None = None
    positions: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)

    def select(self, which: torch.Tensor) -> "AnomalySet":
        """The images a boolean ``which`` keeps."""

        def kept(values: list[str]) -> list[str]:
            if not values:  # positions and subjects are empty when unknown
                return values
            return [value for value, keep in zip(values, which, strict=True) if keep]

        return AnomalySet(
            self.images[which],
            self.labels[which],
            _select(self.masks, which),
            _select(self.foreground, which),
            None if self.kinds is None else kept(self.kinds),
            kept(self.positions),
            kept(self.subjects),
        )

    def scores_csv(self, scores: torch.Tensor) -> str:
        """Each image's position, subject, label, lesion kind and ``scores`` as a CSV."""
        positions = self.positions or [str(index) for index in range(len(self.images))]
        return image_scores_csv(
            positions,
            self.subjects or positions,
            self.labels.tolist(),
            self.kinds or [""] * len(self.images),
            scores.tolist(),
        )


def lesion_set(
    split: SplitTensors, kinds: list[str], seed: int, value_range: tuple[float, float]
) -> AnomalySet:
    """Every clean image of ``split`` once as it is and once with a lesion; kinds cycle over the images.

    Lesions are seeded; the foreground is the split's mask; a lesioned copy keeps its slice's position
    and subject.
    """
    low, high = value_range
    clean, foreground = split.image, split.mask
    lesioned, masks, drawn = [], [], []
    for index, image in enumerate(clean):
        rng = np.random.default_rng(seed + index)
        unit = ((image[0] - low) / (high - low)).numpy()
        drawn.append(kinds[index % len(kinds)])
        array, mask = add_visible_lesion(unit, drawn[-1], rng)
        lesioned.append(torch.from_numpy(array)[None] * (high - low) + low)
        masks.append(torch.from_numpy(mask)[None])
    images = torch.cat([clean, torch.stack(lesioned)])
    labels = torch.cat([torch.zeros(len(clean)), torch.ones(len(clean))]).long()
    masks_all = torch.cat([torch.zeros_like(torch.stack(masks)), torch.stack(masks)])
    doubled = torch.cat([foreground, foreground]) if foreground is not None else None
    kinds_all = [""] * len(clean) + drawn
    return AnomalySet(images, labels, masks_all, doubled, kinds_all, split.ids * 2, split.subjects * 2)


def anomalous_labels(split: SplitTensors, normal_labels: list[int]) -> torch.Tensor | None:
    """1 where the split's label is not a normal one; ``None`` unless the split has both kinds."""
    if split.label is None:
        return None
    anomalous = ~torch.isin(split.label, torch.tensor(normal_labels))
    return anomalous.long() if anomalous.any() and not anomalous.all() else None


def own_masks(split: SplitTensors, marked: bool) -> torch.Tensor | None:
    """The data's own anomaly masks where its segmentation ``marked`` pathology (any non-zero class)."""
    return split.segmentation > 0 if marked and split.segmentation is not None else None


def labelled_set(test: SplitTensors, normal_labels: list[int], marked: bool = False) -> AnomalySet:
    """The test images with label 1 where the data's label is not a normal one.

    With ``marked``, the data's segmentation marks the anomalous pixels (e.g. BraTS tumours).
    """
    labels = anomalous_labels(test, normal_labels)
    if labels is None:
        raise ConfigError(
            "application.normal_labels",
            f"{normal_labels} leaves the test split with one kind of image only; "
            "set data.labels_in=[train] so the test split keeps every class",
        )
    return AnomalySet(test.image, labels, own_masks(test, marked), test.mask, None, test.ids, test.subjects)


def validation_set(
    val: SplitTensors,
    normal_labels: list[int],
    kinds: list[str],
    seed: int,
    value_range: tuple[float, float],
    marked: bool = False,
) -> AnomalySet:
    """The set every method is tuned on.

    The labelled validation split when it holds both kinds of image (with its own anomaly masks when
    ``marked``), else lesioned copies of the validation images (lesions drawn apart from the test lesions).
    """
    labels = anomalous_labels(val, normal_labels)
    if labels is not None:
        return labelled_set(val, normal_labels, marked)
    return lesion_set(val, kinds, seed + VALIDATION_SEED_OFFSET, value_range)


@torch.no_grad()
def reconstruction_maps(
    network: torch.nn.Module, images: torch.Tensor, score: str, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel anomaly maps ``(N, 1, *spatial)`` and the reconstructions of ``images``."""
    network.eval()
    reconstructions = torch.cat([network(chunk).reconstruction for chunk in images.split(64)])
    if score == "l1":
        maps = (images - reconstructions).abs()
    elif score in ("l2", "elbo", "fanogan"):
        maps = (images - reconstructions) ** 2
    else:
        _, similarity = structural_similarity_index_measure(
            reconstructions, images, data_range=data_range, reduction="none", return_full_image=True
        )
        maps = 1 - similarity
    return maps.mean(dim=1, keepdim=True), reconstructions


def extra_scores(module: AutoencoderModule, score: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What ``score`` adds to the image scores of the map's reduction, or ``None``.

    The VAE's KL per voxel (``elbo``), or f-AnoGAN's discriminator-feature residual (``fanogan``, at
    weight 1 as its authors use).
    """
    network = module.network
    if score == "elbo":
        return lambda images: kl_per_voxel(network, images)
    if score == "fanogan":
        if not isinstance(module, AdversarialModule):
            raise ConfigError(
                "application.score", f"fanogan needs a discriminator; {module.registry_name} has none"
            )
        adversarial = module

        def feature_residual(images: torch.Tensor) -> torch.Tensor:
            _, reconstructions = reconstruction_maps(network, images, "l2", 1.0)
            return adversarial.feature_residual(images, reconstructions)

        return feature_residual
    return None


def candidate_scores(module: AutoencoderModule, score: str) -> tuple[str, ...]:
    """The scores ``score`` stands for: itself, or with ``auto`` every one the trained module allows."""
    if score != AUTO:
        if score == "fanogan" and not getattr(module, "judges_images", False):
            raise ConfigError(
                "application.score",
                f"fanogan needs a variant trained against an image discriminator (vaegan, autoencoder_kl), "
                f"not {module.registry_name}",
            )
        return (score,)
    extra = ("elbo",) if has(module.network, HasPosterior) else ()
    return CHOSEN_SCORES + extra + (("fanogan",) if getattr(module, "judges_images", False) else ())


@torch.no_grad()
def kl_per_voxel(network: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The VAE's KL divergence per image divided by its voxels, the ELBO's second term."""
    mu, logvar = capable(network, HasPosterior).posterior(images)
    return gaussian_kl(mu, logvar) / prod(images.shape[1:])


def reduce_maps(maps: torch.Tensor, reduction: str, foreground: torch.Tensor | None = None) -> torch.Tensor:
    """Image scores from maps: mean (over the foreground when given) or max over pixels."""
    flat = maps.flatten(1)
    if reduction == "max":
        return flat.max(dim=1).values
    if foreground is None:
        return flat.mean(dim=1)
    weights = foreground.expand_as(maps).flatten(1).to(maps.dtype)
    return (flat * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


@dataclass
class Scorer:
    """How one method turns images into anomaly maps and image scores, with its post-processing."""

    maps: MapFunction
    reduction: str
    post: PostProcessing = field(default_factory=PostProcessing)
    extra_score: Callable[[torch.Tensor], torch.Tensor] | None = None  # added to image scores (extra_scores)

    def __call__(
        self, data: AnomalySet, raw: tuple[torch.Tensor, torch.Tensor | None] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps and image scores of the set (from its ``raw`` maps when they were computed already)."""
        maps, inside = self.post.apply(*(raw or self.maps(data.images)), data.foreground)
        scores = reduce_maps(maps, self.reduction, inside)
        if self.extra_score is not None:
            scores = scores + self.extra_score(data.images)
        return maps, scores

    def metrics(
        self,
        data: AnomalySet,
        threshold: float | None = None,
        scored: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """Image metrics, and pixel metrics (foreground pixels) when the set has lesion masks.

        With ``threshold`` (from healthy validation images, :meth:`threshold`), also the Dice of the
        segmentation at it. ``scored`` are the set's maps and image scores when computed already.
        """
        maps, scores = scored or self(data)
        metrics = scored_metrics(maps, scores, data, self.post, threshold)
        kinds = data.kinds or []
        for kind in sorted({kind for kind in kinds if kind}):  # each kind against the normal images
            which = torch.tensor([own in ("", kind) for own in kinds])
            found = scored_metrics(maps[which], scores[which], data.select(which), self.post, threshold)
            metrics |= {
                f"{kind}/{key}": value for key, value in found.items() if key != "best_dice_threshold"
            }
        return {f"{APPLICATION}/{key}": value for key, value in metrics.items()}

    def threshold(self, data: AnomalySet, percentile: float) -> float:
        """The map value above which a pixel is anomalous: ``percentile`` of ``data``'s healthy images."""
        healthy = data.select(data.labels == 0)
        maps, _ = self(healthy)
        return healthy_threshold(maps, healthy.foreground, percentile)


def tune_postprocessing(
    scorer: Scorer,
    val: AnomalySet,
    grid: list[PostProcessing],
    min_components: Sequence[int],
    percentile: float,
) -> tuple[Scorer, dict[str, float]]:
    """The scorer with the post-processing that does best on the validation anomaly set; each one's figure.

    Map settings are chosen by pixel AP (image AUROC without lesion masks), then ``min_component`` by
    the Dice at the threshold from the healthy validation images.
    """
    raw = scorer.maps(val.images)
    key = "pixel_ap" if val.masks is not None else "image_auroc"
    figures = {}
    for post in grid:
        maps, scores = replace(scorer, post=post)(val, raw)
        figures[post] = scored_metrics(maps, scores, val, post, None)[key]
    chosen = replace(scorer, post=max(grid, key=figures.__getitem__))
    if val.masks is None or len(min_components) < 2:
        return chosen, {str(post.params()): value for post, value in figures.items()}
    threshold = chosen.threshold(val, percentile)
    maps, _ = chosen(val, raw)
    dices = {
        size: dice(
            replace(chosen.post, min_component=size).segmentation(maps, threshold), val.masks, val.foreground
        )
        for size in min_components
    }
    best = replace(chosen.post, min_component=max(min_components, key=dices.__getitem__))
    return replace(chosen, post=best), {str(post.params()): value for post, value in figures.items()}


def scored_metrics(
    maps: torch.Tensor,
    scores: torch.Tensor,
    data: AnomalySet,
    post: PostProcessing,
    threshold: float | None,
) -> dict[str, float]:
    """Image metrics of ``scores``; with masks, pixel metrics of ``maps`` and the Dice at ``threshold``.

    The Dice scores ``post``'s segmentation at the threshold (small components dropped as it says).
    """
    metrics = detection_metrics(scores, data.labels)
    if data.masks is not None:
        metrics |= localization_metrics(maps, data.masks, data.foreground)
        if threshold is not None:
            metrics["dice"] = dice(post.segmentation(maps, threshold), data.masks, data.foreground)
    return metrics


def _select(values: torch.Tensor | None, which: torch.Tensor) -> torch.Tensor | None:
    return None if values is None else values[which]


def choose(candidates: dict[str, Scorer], val: AnomalySet) -> tuple[str, dict[str, float]]:
    """The candidate with the best validation image AUROC, and every candidate's AUROC."""
    aurocs = {name: scorer.metrics(val)[f"{APPLICATION}/image_auroc"] for name, scorer in candidates.items()}
    return max(aurocs, key=aurocs.__getitem__), aurocs


def autoencoder_maps(network: torch.nn.Module, score: str, data_range: float) -> MapFunction:
    """The network's reconstruction-error maps under ``score`` (see :func:`reconstruction_maps`)."""

    def maps(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        error, reconstructions = reconstruction_maps(network, images, score, data_range)
        return error, (images - reconstructions).mean(dim=1, keepdim=True)

    return maps


def pca_maps(train: torch.Tensor, components: int, seed: int) -> MapFunction:
    """The absolute reconstruction error of PCA with ``components`` fitted on the training images."""
    codec = PcaCodec(components, seed).fit(train)

    def maps(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        residual = images - codec.reconstruct(images)
        return residual.abs().mean(dim=1, keepdim=True), residual.mean(dim=1, keepdim=True)

    return maps


def intensity_maps(images: torch.Tensor) -> tuple[torch.Tensor, None]:
    """Intensity itself: thresholding, bright is anomalous (no reconstruction, so no residual sign)."""
    return images.mean(dim=1, keepdim=True), None


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


def choices(key: str, value: int | str, grid: Sequence) -> tuple:
    """What a setting may be: ``grid`` for ``auto``, else the value itself (checked).

    Example:
        >>> choices("application.median", "auto", (0, 3)), choices("application.median", 5, (0, 3))
        ((0, 3), (5,))
    """
    if value == AUTO:
        return tuple(grid)
    if isinstance(grid[0], str) and value not in grid:
        raise ConfigError(key, f"unknown '{value}'; allowed: {', '.join(grid)}, {AUTO}")
    if not isinstance(grid[0], str) and (not isinstance(value, int) or value < 0):
        raise ConfigError(key, f"must be {AUTO} or an int >= 0, got {value!r}")
    return (value,)


@APPLICATIONS.register("anomaly")
@requires(by_option={"score": {"elbo": (HasPosterior,)}})
def evaluate(
    context: ApplicationContext,
    score: str = AUTO,
    reduction: str = "mean",
    median: int | str = AUTO,
    erosion: int | str = AUTO,
    residual: str = AUTO,
    min_component: int | str = AUTO,
    synthetic_lesions: bool = True,
    lesion_kinds: Sequence[str] = tuple(LESION_KINDS),
    normal_labels: Sequence[int] = (0,),
    baselines: Sequence[str] = BASELINES,
    pca_components: int | str = AUTO,
    healthy_percentile: float = 99.0,
    overlays: int = 6,
) -> dict[str, float]:
    """Score the test set(s) with the autoencoder and each baseline; log metrics, runs and overlays.

    Args:
        context: the trained run (trained on normal images only).
        score: pixel map: ``l1``, ``l2``, ``ssim`` (1 - local SSIM), ``elbo`` (l2 map; image score
            adds the VAE's KL term), ``fanogan`` (l2 map; image score adds f-AnoGAN's
            discriminator-feature residual), or ``auto``: the best on the validation set of l1, l2, ssim,
            elbo where the variant has a posterior and fanogan where it has an image discriminator.
        reduction: image score from the map: ``mean`` (over the foreground) or ``max``.
        median: median-filter the maps over this many pixels (0: off; Kascenas et al.: 5), or ``auto``:
            each method's best of ``MEDIANS`` on the validation anomaly set (pixel AP).
        erosion: erode the brain mask by this many pixels before scoring, or ``auto`` (``EROSIONS``).
        residual: ``abs`` or ``positive`` (only pixels brighter than their reconstruction: hyperintense
            pathology), or ``auto``.
        min_component: drop connected components under this many pixels (voxels) from the segmentation
            that Dice scores, or ``auto``: each method's best of ``MIN_COMPONENTS`` by validation Dice.
        synthetic_lesions: true: lesioned copies of the clean test images (and of each held-out set),
            with masks; false: the data's labels, with ``normal_labels`` as normal.
        lesion_kinds: keys of :data:`medae.applications.parts.lesions.LESION_KINDS`.
        normal_labels: labels counted as normal when ``synthetic_lesions`` is false.
        baselines: ``intensity`` and/or ``pca``.
        pca_components: components of the PCA baseline, or ``auto``: the best of ``PCA_COMPONENTS``
            on the validation set.
        healthy_percentile: each method's pixel threshold is this percentile of its map values on the
            healthy validation images (brain pixels); ``anomaly/dice`` is the Dice at it. ``best_dice``,
            the best over thresholds on the test set itself, is an upper bound, not a result.
        overlays: images in the overlay artifact.

    Returns:
        ``anomaly/<method>/<metric>`` (and ``anomaly/<method>/<set>/<metric>`` for held-out sets).
    """
    kinds, baselines = list(lesion_kinds), list(baselines)
    for key, values, allowed in (
        ("application.score", [score], (*SCORES, AUTO)),
        ("application.reduction", [reduction], REDUCTIONS),
        ("application.lesion_kinds", kinds, tuple(LESION_KINDS)),
        ("application.baselines", baselines, BASELINES),
    ):
        unknown = [value for value in values if value not in allowed]
        if unknown:
            raise ConfigError(key, f"unknown '{unknown[0]}'; allowed: {', '.join(allowed)}")
    if pca_components != AUTO and (not isinstance(pca_components, int) or pca_components < 1):
        raise ConfigError(
            "application.pca_components", f"must be auto or an int >= 1, got {pca_components!r}"
        )
    grids = {
        "median": choices("application.median", median, MEDIANS),
        "erosion": choices("application.erosion", erosion, EROSIONS),
        "residual": choices("application.residual", residual, RESIDUALS),
        "min_component": choices("application.min_component", min_component, MIN_COMPONENTS),
    }
    if not 0 < healthy_percentile < 100:
        raise ConfigError("application.healthy_percentile", f"must be in (0, 100), got {healthy_percentile}")
    value_range = context.module.value_range
    data_range = value_range[1] - value_range[0]
    normal = list(normal_labels)
    marked = context.datamodule.segmentation_marks_anomalies
    val = validation_set(context.split("val"), normal, kinds, context.seed, value_range, marked)
    if synthetic_lesions:
        sets = {}
        for name in context.evaluation_sets:
            split = context.split(name)
            sets[name] = lesion_set(split, kinds, context.seed, value_range)
    else:
        test = context.split("test")
        if test.label is None:
            raise ConfigError("application.synthetic_lesions", "is false but the test data has no labels")
        sets = {"test": labelled_set(test, normal, marked)}

    network = context.network
    # the score and PCA's components are chosen under the first post-processing of the grid
    base = settings_grid(grids["median"][:1], grids["erosion"][:1], grids["residual"][:1])[0]
    autoencoder_scorers = {
        name: Scorer(
            autoencoder_maps(network, name, data_range), reduction, base, extra_scores(context.module, name)
        )
        for name in candidate_scores(context.module, score)
    }
    chosen_score, score_aurocs = choose(autoencoder_scorers, val)
    scorers = {"autoencoder": autoencoder_scorers[chosen_score]}
    params: dict[str, dict[str, Any]] = {"autoencoder": {"anomaly_score": chosen_score}}
    train = context.split("train").image
    if "intensity" in baselines:
        scorers["intensity"] = Scorer(intensity_maps, reduction, base)
        params["intensity"] = {}
    if "pca" in baselines:
        component_counts = PCA_COMPONENTS if pca_components == AUTO else (int(pca_components),)
        grid = sorted({min(components, len(train) - 1) for components in component_counts})
        pca_scorers = {str(c): Scorer(pca_maps(train, c, context.seed), reduction, base) for c in grid}
        components, _ = choose(pca_scorers, val)
        scorers["pca"] = pca_scorers[components]
        params["pca"] = {"components": components}
    post_grid = settings_grid(grids["median"], grids["erosion"], grids["residual"])
    for method, scorer in scorers.items():
        scorers[method], _ = tune_postprocessing(
            scorer, val, post_grid, grids["min_component"], healthy_percentile
        )

    localised = any(data.masks is not None for data in sets.values())
    results = {}
    for method, scorer in scorers.items():
        threshold = scorer.threshold(val, healthy_percentile) if localised else None
        metrics: dict[str, float] = {}
        tables: dict[str, str] = {}
        for name, data in sets.items():
            scored = scorer(data)
            metrics |= on_set(scorer.metrics(data, threshold, scored), name)
            tables[artifact_path(name)] = data.scores_csv(scored[1])
            if data.masks is not None:
                counts = pixel_counts(scored[0], data.masks, data.foreground)
                tables[pixel_counts_path(name)] = counts_json(*counts)
        results[method] = metrics
        options = params[method] | {"reduction": reduction} | scorer.post.params()
        if threshold is not None:
            options |= {"dice_threshold": threshold, "healthy_percentile": healthy_percentile}
        if method == "autoencoder":
            context.run.metrics(
                metrics | {f"{APPLICATION}/val_auroc_{k}": v for k, v in score_aurocs.items()}
            )
            context.run.params({f"{APPLICATION}.{key}": value for key, value in options.items()})
            context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
            for path, text in tables.items():
                context.run.text(text, path)
        else:
            context.run.baseline(APPLICATION, method, context.baseline_params | options, metrics, tables)
    test_set = sets["test"]
    maps = {method: scorer(test_set)[0] for method, scorer in scorers.items()}
    reconstructions = reconstruction_maps(network, test_set.images, "l1", data_range)[1]
    post = scorers["autoencoder"].post
    title = (
        f"anomaly maps ({chosen_score}, {reduction}; autoencoder: median {post.median}, "
        f"erosion {post.erosion}, {post.residual} residuals)"
    )
    context.run.figure(
        overlay_figure(test_set, reconstructions, maps, overlays, title), f"{APPLICATION}/overlays.png"
    )
    return by_method(APPLICATION, results)


# the choices an anomaly run logs as params (``anomaly.*``), with the values of a run without them
CHOSEN_PARAMS = {
    "anomaly.anomaly_score": "l1",
    "anomaly.reduction": "mean",
    "anomaly.median": "0",
    "anomaly.erosion": "0",
    "anomaly.residual": "abs",
}


def scan_maps(
    network: torch.nn.Module,
    inputs: torch.Tensor,
    foreground: torch.Tensor,
    value_range: tuple[float, float],
    chosen: Mapping[str, str],
    extra_score: Callable[[torch.Tensor], torch.Tensor] | None,
) -> ScanMaps:
    """Anomaly maps and image scores of a new scan's model-sized inputs, post-processed as the run chose.

    ``foreground`` is where maps are scored, on the inputs' grid; ``extra_score`` is the term the chosen
    score adds to the image scores (:func:`extra_scores`). The columns are each scan's mean and largest
    image score.
    """
    low, high = value_range
    maps, reconstructions = reconstruction_maps(network, inputs, chosen["anomaly.anomaly_score"], high - low)
    post = PostProcessing(
        int(chosen["anomaly.median"]), int(chosen["anomaly.erosion"]), chosen["anomaly.residual"]
    )
    difference = (inputs - reconstructions).mean(dim=1, keepdim=True)
    maps, inside = post.apply(maps, difference, foreground)
    scores = reduce_maps(maps, chosen["anomaly.reduction"], inside)
    if extra_score is not None:  # elbo and fanogan add a term of their own, as the run scored
        scores = scores + extra_score(inputs)
    columns = {"anomaly_score": float(scores.mean()), "anomaly_score_max": float(scores.max())}
    return ScanMaps(reconstructions, maps, columns)


register_prediction(
    "anomaly",
    ScanPrediction(
        map_name="anomaly_map",
        mask_column="anomaly_mask",
        run_params=CHOSEN_PARAMS,
        prepare=lambda module, chosen: extra_scores(module, chosen["anomaly.anomaly_score"]),
        maps=scan_maps,
    ),
)
