"""Run every application preset over several seeds and write the results table to ``experiments/README.md``.

Each preset runs as ``medae train -m experiment=<name> seed=0,...,N-1`` into its MLflow experiment; the
tables hold what those runs and the baseline runs beside them logged, read back from MLflow: the mean
and SD over seeds on the MNI152 test split and on Colin27 (a subject used in development), and the paired
difference of each method against its reference (the autoencoder against each baseline; fine-tuning
and linear probing against scratch at the same labels). Where the runs kept each image's scores
(``per_image/<set>.csv``), the difference is paired image by image with a hierarchical bootstrap interval
over subjects, slices and seeds, and the per-image wins; otherwise with a 95% t-interval over seeds.

Usage: ``python experiments/run_applications.py [--seeds 5] [--quick] [--only denoise_mri] [-- overrides]``
(``make experiments``). ``--quick`` runs two short epochs per preset as a smoke check; give it an
``--output`` folder so that the measured table stays.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import mlflow
import numpy as np
from scipy import stats

from medae.applications.compression import ANCHOR, BD_SCORES
from medae.applications.parts.run_log import compared_runs, on_set
from medae.benchmarks.compression import CODE_SIZES
from medae.evaluation.hierarchical_bootstrap import METHOD, hierarchical_bootstrap
from medae.evaluation.image_scores import FOLDER as IMAGE_SCORES
from medae.evaluation.image_scores import auroc_difference, read_image_scores
from medae.evaluation.per_image_table import FOLDER, SCORES, read_per_image
from medae.evaluation.pixel_counts import FOLDER as PIXEL_COUNTS
from medae.evaluation.pixel_counts import pixel_ap_difference, read_counts
from medae.evaluation.rate_distortion import DELTAS, Curve, delta_interval, read_curves
from medae.evaluation.rate_distortion import artifact_path as curves_path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
BRAIN_SETS = {
    "test": "MNI152 test",
    "colin27_brain": "Colin27 brain (used in development)",
    "colin27_head": "Colin27 head (used in development)",
}
TEST_ONLY = {"test": "test split"}
AUTOENCODER = "autoencoder"
PAPER = "paper"  # the metrics a paper preset's run logs beside the paper's figures


@dataclass
class Preset:
    """One table: a preset with its overrides, the metrics shown, and the headline metrics compared."""

    experiment: str
    application: str
    metrics: tuple[str, ...]
    headline: tuple[str, ...]
    sets: dict[str, str] = field(default_factory=lambda: BRAIN_SETS)
    overrides: tuple[str, ...] = ()
    lower_is_better: bool = False


NOISE_LEVELS = ("0.05", "0.1", "0.2")
# denoising over a grid of Rician noise levels: foreground PSNR and SSIM at each
DENOISING = tuple(f"test/at_{level}/{metric}" for metric in ("psnr_fg", "ssim_fg") for level in NOISE_LEVELS)
LESION_KINDS = ("hyperintense", "hypointense", "noise", "texture", "deformation")
# image and pixel metrics, then the pixel AP by lesion kind
ANOMALY = (
    "anomaly/image_auroc",
    "anomaly/pixel_ap",
    "anomaly/dice",
    "anomaly/best_dice",
    "anomaly/image_ap",
    *(f"anomaly/{kind}/pixel_ap" for kind in LESION_KINDS),
)
# quality at equal rate against JPEG 2000 (0 for JPEG 2000 itself): BD-PSNR (dB) and BD-SSIM on the brain;
# the rate-distortion section below each preset adds BD-rate and the bootstrap intervals
COMPRESSION = ("compression/bd_psnr_fg", "compression/bd_ssim_fg")
GENERATION = (
    "generation/sample_nearest_rmse_mean",
    "generation/test_nearest_rmse_mean",
    "generation/fd",
    "generation/fd_test_to_train",
    "generation/precision",
    "generation/recall",
)
# variants trained against a discriminator (autoencoder_kl: a patch discriminator beside its KL term)
ADVERSARIAL_VARIANTS = ("vaegan", "aae", "autoencoder_kl")


def generation_model(variant: str) -> tuple[str, ...]:
    """The overrides that put ``variant`` in generate_brain; its VAE's ``beta`` stays only with one."""
    return (f"model={variant}",) if variant == "vaegan" else (f"model={variant}", "~model.beta")


PRESETS: dict[str, Preset] = {
    "denoise_mri": Preset("denoise_mri", "denoising", DENOISING, DENOISING[:3]),
    "denoise_mri_fixed": Preset(
        "denoise_mri", "denoising", DENOISING, DENOISING[:3], overrides=("data.noise_std_range=null",)
    ),
    "denoise_poisson": Preset("denoise_poisson", "denoising", DENOISING, DENOISING[:3]),
    "anomaly_brain": Preset("anomaly_brain", "anomaly", ANOMALY, ("anomaly/image_auroc", "anomaly/pixel_ap")),
    "anomaly_brain_dae": Preset(
        "anomaly_brain_dae", "anomaly", ANOMALY, ("anomaly/image_auroc", "anomaly/pixel_ap")
    ),
    # the adversarial and KL variants on the same protocol (f-AnoGAN and ELBO scores on offer)
    **{
        f"anomaly_brain_{variant}": Preset(
            "anomaly_brain",
            "anomaly",
            ANOMALY,
            ("anomaly/image_auroc", "anomaly/pixel_ap"),
            overrides=(f"model={variant}",),
        )
        for variant in ADVERSARIAL_VARIANTS
    },
    "anomaly_pneumonia": Preset(
        "anomaly_pneumonia",
        "anomaly",
        ("anomaly/image_auroc", "anomaly/image_ap"),
        ("anomaly/image_auroc",),
        TEST_ONLY,
    ),
    **{
        f"compress_brain_{numbers}": Preset(
            "compress_brain", "compression", COMPRESSION, COMPRESSION, overrides=tuple(options)
        )
        for numbers, options in CODE_SIZES.items()
    },
    "pretrain_pneumonia": Preset(
        "pretrain_pneumonia",
        "classification",
        ("classification/auroc", "classification/accuracy"),
        ("classification/auroc",),
        TEST_ONLY,
    ),
    # the masked autoencoder's encoder (a vision transformer on 4 x 4 patches) as the pre-trained network
    "pretrain_pneumonia_mae": Preset(
        "pretrain_pneumonia",
        "classification",
        ("classification/auroc", "classification/accuracy"),
        ("classification/auroc",),
        TEST_ONLY,
        overrides=("model=mae", "model.patch_size=4"),
    ),
    # the MedMNIST v2 reference (Yang et al. 2023): its printed figures beside the runs' and the gap
    "paper_medmnist_v2_pneumonia": Preset(
        "paper/medmnist_v2_pneumonia",
        "classification",
        ("classification/auroc", "classification/accuracy"),
        ("classification/auroc",),
        TEST_ONLY,
    ),
    "pretrain_tissue": Preset(
        "pretrain_tissue", "segmentation", ("segmentation/dice",), ("segmentation/dice",), TEST_ONLY
    ),
    **{
        f"generate_brain{suffix}": Preset(
            "generate_brain", "generation", GENERATION, GENERATION[:1], TEST_ONLY, overrides=options
        )
        for suffix, options in (("", ()), *((f"_{v}", generation_model(v)) for v in ADVERSARIAL_VARIANTS))
    },
}
NEEDS_MEDMNIST = (
    "anomaly_pneumonia", "pretrain_pneumonia", "pretrain_pneumonia_mae", "paper_medmnist_v2_pneumonia"
)  # fmt: skip
QUICK = ["debug=limit", "data.image_size=32"]
QUICK_APPLICATION = {
    "denoising": [
        "application.tune_images=2",
        "application.baselines=[gaussian,bm3d]",
        "application.oracle=[]",
    ],
    "compression": ["application.resamples=200"],
    "classification": ["application.steps=10"],
    "segmentation": ["application.steps=10"],
}


def data_overrides() -> list[str]:
    """Where PneumoniaMNIST and Colin27 are: ``MEDAE_SHARED_DATA``, else ../shared/data."""
    folder = Path(os.environ.get("MEDAE_SHARED_DATA", SHARED_DATA))
    return [f"paths.medmnist_dir={folder}", f"paths.colin27_dir={folder / 'colin27'}"]


def run_preset(preset: Preset, batch: str, seeds: int, overrides: list[str]) -> float:
    """``medae train -m experiment=<name> seed=0..seeds-1`` tagged with ``batch``; its wall time (s).

    The batch is quoted: Hydra reads an unquoted hex id such as ``12e456`` as a number.
    """
    start = time.perf_counter()
    command = [
        sys.executable, "-m", "medae", "train", "-m", f"experiment={preset.experiment}",
        f"seed={','.join(str(seed) for seed in range(seeds))}", "trainer.enable_progress_bar=false",
        f"+logger.mlflow.tags.batch='{batch}'", *preset.overrides, *overrides,
    ]  # fmt: skip
    subprocess.run(command, cwd=os.environ.get("MEDAE_ROOT", ROOT), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def method_name(run: mlflow.entities.Run, own: bool) -> str:
    """``autoencoder (<model>)`` for the preset's own run, else the compared run's name."""
    return f"{AUTOENCODER} ({run.data.tags.get('medae.model')})" if own else run.info.run_name


def per_image_tables(client: mlflow.MlflowClient, run_id: str, folder: str = FOLDER) -> dict[str, str]:
    """The CSVs of per-image scores a run kept in ``folder``, by table name (``test``, ``test_at_0.05``)."""
    kept = [artifact.path for artifact in client.list_artifacts(run_id, folder)]
    with tempfile.TemporaryDirectory() as scratch:
        return {
            Path(path).stem: Path(client.download_artifacts(run_id, path, scratch)).read_text()
            for path in kept
        }


def pixel_ap_intervals(images: dict[str, dict[str, object]]) -> dict[str, list[float]]:
    """The pooled pixel AP difference of every pair of methods on every set where both kept pixel counts.

    Computed when the runs are collected, from each seed's counts (:mod:`medae.applications.parts.
    pixel_counts`), which are then dropped from ``images``: ``{"<a> − <b> on <set>": [mean, low, high,
    wins, positions, subjects]}``.
    """
    counts = {
        method: {
            key.split("/", 1)[1]: tables.pop(key) for key in list(tables) if key.startswith(PIXEL_COUNTS)
        }
        for method, tables in images.items()
    }
    found = {}
    for first, second in combinations(sorted(counts), 2):
        for set_name in sorted(set(counts[first]) & set(counts[second])):
            scores = images[first].get(f"{IMAGE_SCORES}/{set_name}")
            if not scores:
                continue
            ours, theirs = ([read_counts(text) for text in counts[m][set_name]] for m in (first, second))
            interval = pixel_ap_difference(ours, theirs, scores["position"], scores["subject"])
            found[f"{first} − {second} on {set_name}"] = [
                interval.mean, interval.low, interval.high, interval.wins, interval.images, interval.subjects
            ]  # fmt: skip
    return found


def table_name(metric: str, set_name: str) -> str:
    """The per-image table that holds ``metric`` on ``set_name``: the set, with the noise level if any.

    Example:
        >>> table_name("test/at_0.05/psnr_fg", "colin27_brain"), table_name("test/psnr_fg", "test")
        ('colin27_brain_at_0.05', 'test')
    """
    level = next((part for part in metric.split("/") if part.startswith("at_")), None)
    return f"{set_name}_{level}" if level else set_name


def collect(batch: str, preset: Preset, tracking_uri: str) -> tuple[dict, dict, dict, dict]:
    """What every seed's run and the runs compared with it logged.

    Returns:
        ``{method: {metric key: [value per seed]}}``, the per-image scores
        ``{method: {set: {"position": [...], "subject": [...], <score>: [[value per image] per seed]}}}``,
        the rate-distortion CSV of each set, one per seed (compression), and a paper preset's figures
        and gaps ``{paper/<figure>/...: [value per seed]}``.
    """
    client = mlflow.MlflowClient(tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"tags.batch = '{batch}'")
    keys = [next(iter(on_set({metric: 0.0}, name))) for metric in preset.metrics for name in preset.sets]
    values: dict[str, dict[str, list[float]]] = {}
    images: dict[str, dict[str, dict[str, list]]] = {}
    curves: dict[str, list[str]] = {}
    paper: dict[str, list[float]] = {}
    for run in sorted(runs, key=lambda entry: int(entry.data.params.get("seed", 0))):
        for key, value in run.data.metrics.items():  # a paper preset's figures and gaps, on its own run
            if key.startswith(f"{PAPER}/"):
                paper.setdefault(key, []).append(value)
        for set_name in preset.sets if preset.application == "compression" else []:
            with tempfile.TemporaryDirectory() as folder:
                path = client.download_artifacts(run.info.run_id, curves_path(set_name), folder)
                curves.setdefault(set_name, []).append(Path(path).read_text())
        for entry in [run, *compared_runs(client, run.info.run_id)]:
            logged = entry.data.metrics
            if not any(key in logged for key in keys):
                continue
            name = method_name(entry, entry is run)
            method = values.setdefault(name, {})
            for key in keys:
                method.setdefault(key, []).append(logged.get(key, float("nan")))
            for table_key, text in per_image_tables(client, entry.info.run_id).items():
                table = read_per_image(text)
                kept = images.setdefault(name, {}).setdefault(
                    table_key, {"position": table["position"].tolist(), "subject": table["subject"].tolist()}
                )
                for score in SCORES:
                    kept.setdefault(score, []).append(table[score].tolist())
            for table_key, text in per_image_tables(client, entry.info.run_id, PIXEL_COUNTS).items():
                images.setdefault(name, {}).setdefault(f"{PIXEL_COUNTS}/{table_key}", []).append(text)
            for table_key, text in per_image_tables(client, entry.info.run_id, IMAGE_SCORES).items():
                table = read_image_scores(text)
                kept = images.setdefault(name, {}).setdefault(
                    f"{IMAGE_SCORES}/{table_key}",
                    {key: table[key].tolist() for key in ("position", "subject", "label")},
                )
                kept.setdefault("score", []).append(table["score"].tolist())
    return values, images, curves, paper


def mean_sd(values: list[float]) -> str:
    """``mean ± SD`` over the seeds that have a value (the mean alone for one; how many when some lack it).

    Example:
        >>> mean_sd([1.0, 3.0]), mean_sd([1.0, float("nan"), 3.0]), mean_sd([float("nan")])
        ('2 ± 1.4', '2 ± 1.4 (2 of 3 seeds)', 'nan')
    """
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if not finite.size:
        return "nan"
    text = f"{finite.mean():.4g}" if len(finite) < 2 else f"{finite.mean():.4g} ± {finite.std(ddof=1):.2g}"
    return text if len(finite) == len(array) else f"{text} ({len(finite)} of {len(array)} seeds)"


def paired(difference: np.ndarray) -> tuple[float, float, float]:
    """Mean of paired differences over the seeds where both have a value, and its 95% t-interval."""
    difference = difference[np.isfinite(difference)]
    if not len(difference):
        return float("nan"), float("nan"), float("nan")
    mean = float(difference.mean())
    if len(difference) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(difference) - 1) * difference.std(ddof=1) / np.sqrt(len(difference))
    return mean, mean - half, mean + half


def comparisons(methods: list[str]) -> list[tuple[str, str]]:
    """``(method, reference)`` pairs, positive when the method wins.

    The autoencoder against each baseline; fine-tuning and linear probing against scratch at the same labels.
    """
    autoencoder = next((name for name in methods if name.startswith(AUTOENCODER)), None)
    pairs = []
    for method in methods:
        if method.startswith("baseline:") and autoencoder:
            pairs.append((autoencoder, method))
        elif ":" in method and not method.startswith(("baseline:", "scratch:")):
            scratch = f"scratch:{method.split(':', 1)[1]}"
            if scratch in methods:
                pairs.append((method, scratch))
    return pairs


@dataclass(frozen=True)
class Paired:
    """A paired difference (method − reference), its 95% interval, and what the interval is over."""

    mean: float
    low: float
    high: float
    note: str = "t over seeds"

    @property
    def clear(self) -> bool:
        """Whether the interval excludes 0."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        text = f"{self.mean:+.3g} [{self.low:+.3g}, {self.high:+.3g}]"
        return f"{f'**{text}**' if self.clear else text} ({self.note})"


def paired_difference(result: dict, method: str, reference: str, metric: str, set_name: str) -> Paired:
    """``method`` − ``reference`` on ``metric`` and ``set_name``, with its 95% interval.

    Per image with the hierarchical bootstrap where both runs kept per-image scores of the same images
    (for the image AUROC, their image scores: the AUROC is recomputed on each replicate), else per seed
    with a t-interval.
    """
    images = result.get("images", {})
    score = metric.rsplit("/", 1)[-1]
    stored = result.get("pixel_ap", {}) if score == "pixel_ap" else {}
    for pair, sign in (((method, reference), 1), ((reference, method), -1)):
        if f"{' − '.join(pair)} on {set_name}" in stored:
            mean, low, high, wins, count, subjects = stored[f"{' − '.join(pair)} on {set_name}"]
            won = wins if sign > 0 else count - wins
            bounds = (low, high) if sign > 0 else (-high, -low)
            return Paired(sign * mean, *bounds, f"wins {won}/{count}, {subjects} subj.")
    if score == "image_auroc":
        table = f"{IMAGE_SCORES}/{set_name}"
        ours, theirs = images.get(method, {}).get(table), images.get(reference, {}).get(table)
        if ours and theirs and ours["position"] == theirs["position"]:
            found = auroc_difference(ours, theirs)
            note = f"wins {found.wins}/{found.images}, {found.subjects} subj."
            return Paired(found.mean, found.low, found.high, note)
    table = table_name(metric, set_name)
    ours, theirs = images.get(method, {}).get(table), images.get(reference, {}).get(table)
    if ours and theirs and score in SCORES and ours["position"] == theirs["position"]:
        difference = np.asarray(ours[score]) - np.asarray(theirs[score])
        found = hierarchical_bootstrap(difference, ours["subject"])
        note = f"wins {found.wins}/{found.images}, {found.subjects} subj."
        return Paired(found.mean, found.low, found.high, note)
    key = next(iter(on_set({metric: 0.0}, set_name)))
    values = result["values"]
    return Paired(*paired(np.asarray(values[method][key]) - np.asarray(values[reference][key])))


def ranking(preset: Preset, result: dict, metric: str, set_name: str) -> tuple[list[str], dict[str, float]]:
    """The methods by their mean of ``metric`` on ``set_name``, best first, and the means."""
    key = next(iter(on_set({metric: 0.0}, set_name)))
    means = {
        method: float(np.nanmean(v[key]))
        for method, v in result["values"].items()
        if key in v and np.isfinite(v[key]).any()  # a method without the figure on any seed is not ranked
    }
    return sorted(means, key=means.__getitem__, reverse=not preset.lower_is_better), means


def winner(preset: Preset, result: dict, metric: str, set_name: str) -> str:
    """The method with the best mean of ``metric`` on ``set_name``, and whether it leads the next clearly."""
    ranked, _ = ranking(preset, result, metric, set_name)
    if len(ranked) < 2:
        return f"**{ranked[0]}** (alone)"
    lead = paired_difference(result, ranked[0], ranked[1], metric, set_name)
    return f"**{ranked[0]}**" + ("" if lead.clear else f" (tied with {ranked[1]} within the 95% interval)")


def verdicts(preset: Preset, result: dict) -> list[str]:
    """One line per headline metric and set: the best method, and its paired lead over the next best."""
    lines = []
    for metric in preset.headline:
        for name, label in preset.sets.items():
            ranked, means = ranking(preset, result, metric, name)
            if len(ranked) < 2:
                continue
            best, second = ranked[:2]
            lead = paired_difference(result, best, second, metric, name)
            clear = "clearly" if lead.clear else "not clearly (the interval includes 0)"
            lines.append(
                f"- {label}, `{metric}`: **{best}** is best ({means[best]:.4g}), {clear} ahead of "
                f"{second} ({means[second]:.4g}; paired difference {lead.mean:+.3g}, 95% interval "
                f"[{lead.low:+.3g}, {lead.high:+.3g}], {lead.note})."
            )
    return lines


def preset_markdown(name: str, result: dict[str, object]) -> list[str]:
    """The section of one preset: verdicts, mean ± SD per set, paired differences of the headline metrics."""
    preset = PRESETS[name]
    lines = ["", f"## `{name}` (`experiment={preset.experiment}`, {preset.application})", ""]
    if "skipped" in result:
        return [*lines, f"Skipped: {result['skipped']}."]
    if preset.overrides:
        lines += [f"Overrides: `{' '.join(preset.overrides)}`.", ""]
    values: dict[str, dict[str, list[float]]] = result["values"]
    seeds = max(len(v) for method in values.values() for v in method.values())
    lines += [
        f"Run {result['started']}; {seeds} seeds; whole preset (training, evaluation, every baseline, "
        f"all seeds): {result['wall_s']:.0f} s.",
        "",
        *verdicts(preset, result),
    ]
    for set_name, label in preset.sets.items():
        keys = [next(iter(on_set({metric: 0.0}, set_name))) for metric in preset.metrics]
        lines += ["", f"**{label}**: mean ± SD over seeds", ""]
        header = " | ".join(metric.removeprefix("test/") for metric in preset.metrics)
        lines += [f"| method | {header} |", "|---|" + "---:|" * len(keys)]
        for method, method_values in values.items():
            cells = [mean_sd(method_values[key]) if key in method_values else "" for key in keys]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    pairs = comparisons(list(values))
    if pairs:
        columns = [(metric, set_name) for metric in preset.headline for set_name in preset.sets]
        lines += [
            "",
            "Paired differences (method − reference), mean [95% interval]; bold: the interval excludes 0. "
            f"Per image: {METHOD}, with the images the method wins; else a t-interval over seeds.",
            *(
                [
                    "Image AUROC: recomputed on each replicate, which draws slices with their lesioned "
                    "copies (images for labelled data); won: its share of the AUROC is larger. Pixel AP: "
                    "pooled again on each replicate from each image's pixel counts per threshold; won: the "
                    "slice's own pixel AP is higher.",
                ]
                if preset.application == "anomaly"
                else []
            ),
            "",
        ]
        lines += [
            "| method − reference | "
            + " | ".join(f"{m.removeprefix('test/')} ({preset.sets[s]})" for m, s in columns)
            + " |",
            "|---|" + "---:|" * len(columns),
        ]
        for method, reference in pairs:
            cells = []
            for metric, set_name in columns:
                cells.append(str(paired_difference(result, method, reference, metric, set_name)))
            lines.append(f"| {method} − {reference} | " + " | ".join(cells) + " |")
    return lines + rate_distortion_markdown(result, preset.sets) + paper_markdown(result)


def paper_markdown(result: dict) -> list[str]:
    """A paper preset's figures: reported, measured (mean ± SD over seeds) and the gap with its interval.

    Example:
        >>> found = {"paper/auroc/reported": [0.944] * 2, "paper/auroc/scratch": [0.92, 0.93],
        ...          "paper/auroc/scratch_gap": [-0.024, -0.014]}
        >>> paper_markdown({"paper": found})[-1]
        '| auroc | 0.944 | scratch | 0.925 ± 0.0071 | -0.019 [-0.0825, +0.0445] (t over seeds) |'
    """
    found = result.get(PAPER, {})
    reported = {key.split("/")[1]: values[0] for key, values in found.items() if key.endswith("/reported")}
    if not reported:
        return []
    lines = [
        "",
        "**Reported against measured**: the paper's figure, this preset's (mean ± SD over seeds) and the "
        "gap (measured − reported), mean [95% t-interval over seeds]; bold: the interval excludes 0. The "
        "preset's `paper.medae` block says where its setup departs from the paper's.",
        "",
        "| figure | reported | medae | measured | gap |",
        "|---|---:|---|---:|---:|",
    ]
    for figure, value in reported.items():
        measured = [key for key in found if key.startswith(f"{PAPER}/{figure}/") and key.endswith("_gap")]
        for gap_key in measured:
            label = gap_key.split("/")[-1].removesuffix("_gap")
            gap = Paired(*paired(np.asarray(found[gap_key], dtype=float)))
            own = mean_sd(found[f"{PAPER}/{figure}/{label}"])
            lines.append(f"| {figure} | {value:.4g} | {label} | {own} | {gap} |")
    return lines


def stacked(curves: list[dict[str, Curve]], method: str, key: str) -> np.ndarray:
    """``bpp`` or a score of ``method`` over seeds: ``(seeds, rates, images)``."""
    return np.stack([found[method].bpp if key == "bpp" else found[method].scores[key] for found in curves])


def rate_distortion_markdown(result: dict, sets: dict[str, str]) -> list[str]:
    """Each set's mean rate-distortion points and the BD-rates with hierarchical bootstrap intervals."""
    lines = []
    for set_name, label in sets.items():
        per_seed = [read_curves(text) for text in result.get("curves", {}).get(set_name, [])]
        if not per_seed:
            continue
        curves, subjects = [found[0] for found in per_seed], per_seed[0][2]
        lines += ["", f"**{label}**: rate-distortion points, mean over seeds and images", ""]
        lines += [
            "| method | setting | payload bpp | header bpp | psnr_fg | ssim_fg |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for method, measured in curves[0].items():
            for rate, setting in enumerate(measured.settings):
                bpp, psnr, ssim = (
                    np.nanmean(stacked(curves, method, k)[:, rate]) for k in ("bpp", *BD_SCORES)
                )
                header = np.mean([found[method].header_bpp[rate].mean() for found in curves])
                lines.append(f"| {method} | {setting} | {bpp:.3f} | {header:.3f} | {psnr:.2f} | {ssim:.3f} |")
        pairs = [(m, ANCHOR) for m in curves[0] if m not in (ANCHOR, "jpegls")] + [("autoencoder", "pca")]
        lines += [
            "",
            f"Bjøntegaard deltas against the anchor, {label}: mean [95% interval] by {METHOD}. BD-rate (%): "
            "bits at equal quality, negative is better; BD-quality (dB of PSNR, or SSIM): quality at equal "
            "rate, positive is better. Bold: the interval excludes 0; nan: the curves share no range.",
            "",
            "| method vs anchor | "
            + " | ".join(name.format(score) for score in BD_SCORES for name in DELTAS)
            + " |",
            "|---|" + "---:|" * (len(BD_SCORES) * len(DELTAS)),
        ]
        for method, anchor in pairs:
            if anchor not in curves[0] or method not in curves[0]:
                continue
            cells = [
                str(
                    delta_interval(
                        delta,
                        (stacked(curves, anchor, "bpp"), stacked(curves, anchor, score)),
                        (stacked(curves, method, "bpp"), stacked(curves, method, score)),
                        subjects,
                    )
                )
                for score in BD_SCORES
                for delta in DELTAS.values()
            ]
            lines.append(f"| {method} vs {anchor} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, dict[str, object]], command: str) -> str:
    """experiments/README.md."""
    lines = [
        "# Applications: results",
        "",
        "One preset per application, each run over several seeds: `medae train -m experiment=<name>",
        "seed=0,1,2,3,4` trains the autoencoder, evaluates the application and logs every classical baseline",
        "as its own MLflow run beside it. Presets: `conf/experiment/`; evaluations: `medae/applications/`.",
        "",
        f"Regenerated by `make experiments` (`{command}`; `--only <preset>` re-runs one preset and keeps",
        f"the others) on {os.cpu_count()} CPU cores. Every figure was read back from the MLflow runs of",
        "that command (browse: `make ui`).",
        "",
        "How to read it:",
        "- `*_fg` metrics score the foreground only: the brain (the template's non-zero voxels; Colin27's",
        "  `ch2bet` mask, also for the whole head) or, for chest X-rays, pixels above 10% of the range.",
        "  Every method's output is clamped to the data range first. Tables lead with them.",
        "- MNI152 test is a held-out slab of axial slices: no test voxel is in any training slice.",
        "  Colin27 is another person, never trained on (but looked at in development), resampled to the",
        "  template grid and scaled so its brain median matches the template's (`medae/data/colin27.py`);",
        "  `Colin27 head` keeps skull and scalp. Every third axial slice is scored.",
        "- Each method's setting is chosen on validation data (denoiser strength, PCA components, the",
        "  autoencoder's anomaly score, each method's residual post-processing), the same way for all.",
        "- Paired differences pair each seed's method with its reference on the same seed. Where both",
        "  runs kept each image's scores (denoising; the image AUROC and pixel AP of anomaly runs, which",
        "  are recomputed on every replicate), they pair image by image, and the 95% interval is a",
        "  hierarchical bootstrap: seeds, subjects, then slices within each subject, resampled with",
        "  replacement; the cell gives the images the method wins and the subjects the figure rests on",
        "  (MNI152 test is 1 subject: that interval covers slices and seeds, not subjects). Elsewhere it is",
        "  a t-interval over seeds (marked so).",
        "- Anomaly `dice` is the Dice at each method's threshold from healthy validation images (the 99th",
        "  percentile of its map on their brain pixels); `best_dice`, the best over thresholds on the test",
        "  set itself, is an upper bound, not a result.",
        "- Colin27 was looked at when the presets' epochs and augmentation were chosen, so it is labelled",
        "  a subject used in development (`docs/held-out-data.md`).",
        "- Compression is measured from real bitstreams at several rates per method: the autoencoder's code",
        "  and PCA's scores (every component the training slices allow: 62) quantised at 6 steps and",
        "  range-coded under a factorised prior fitted on the training codes; JPEG and JPEG 2000 by the",
        "  payload of the 8-bit rendition (header bits apart); lossless JPEG-LS as the bits that rendition",
        "  needs. Curves are compared with JPEG 2000 by Bjøntegaard deltas (pchip) on brain PSNR and SSIM:",
        "  BD-rate over the quality range both reach, BD-quality over the rate range both reach, each with",
        "  a hierarchical bootstrap interval of the mean curves over seeds, subjects and slices.",
        "- Checkpoints are chosen on the validation brain PSNR. On the MNI152 split the validation slabs",
        "  are inferior axial slices, where an untrained network's uniform output scores a higher brain PSNR",
        "  than a trained one; a run whose validation brain PSNR never climbs back keeps its epoch-0",
        "  checkpoint. An autoencoder curve that is flat at a low PSNR is that checkpoint, not the",
        "  architecture's capacity (each run's chosen epoch is in its checkpoint's name in MLflow).",
        "- Baselines that draw nothing at random (the denoisers on fixed noise, JPEG) give the same figure",
        "  on every seed (SD 0); the paired differences still pair each seed's autoencoder with them.",
    ]
    lines += ["", "## Who wins", ""]
    for name, result in results.items():
        if "values" not in result or not current(name, result):
            continue
        preset = PRESETS[name]
        metric = preset.headline[0]
        won = "; ".join(
            f"{label}: {winner(preset, result, metric, set_name)}" for set_name, label in preset.sets.items()
        )
        lines.append(f"- `{name}` by `{metric}`: {won}.")
    for name, result in results.items():
        lines += preset_markdown(name, result) if current(name, result) else earlier_section(name, result)
    return "\n".join(lines) + "\n"


def current(name: str, result: dict) -> bool:
    """Whether a preset's stored runs logged every metric its table shows now (else they predate some)."""
    if "values" not in result:
        return True  # a skipped preset: its section says why
    logged = {key for method in result["values"].values() for key in method}
    return all(next(iter(on_set({metric: 0.0}, "test"))) in logged for metric in PRESETS[name].metrics)


def earlier_section(name: str, result: dict) -> list[str]:
    """The section as it was written when the preset was last measured, marked as such."""
    kept = result.get("section", [])
    note = (
        f"Measured before the preset's current metrics existed: the section below is as it was written then "
        f"(its definitions may differ from today's). `--only {name}` re-measures it."
    )
    if not kept:
        return ["", f"## `{name}`", "", note]
    return [*kept[:3], f"*{note}*", *kept[2:]]  # after the blank line under the heading


def main() -> None:
    """Run the presets and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per preset (seed=0..N-1)")
    parser.add_argument("--quick", action="store_true", help="two short epochs per preset (smoke check)")
    parser.add_argument("--only", nargs="*", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--output", type=Path, help="folder for README.md, results.json")
    parser.add_argument("--tables-only", action="store_true", help="rewrite README.md from results.json")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every preset (after --)")
    args = parser.parse_args()
    tracking_uri = os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{os.environ.get('MEDAE_ROOT', ROOT)}/mlflow.db"
    )
    folder = args.output or ROOT / "experiments"
    previous = folder / "results.json"
    results: dict[str, dict[str, object]] = json.loads(previous.read_text()) if previous.is_file() else {}
    results = {name: result for name, result in results.items() if name in PRESETS and "values" in result}
    shared = Path(os.environ.get("MEDAE_SHARED_DATA", SHARED_DATA))
    for name in [] if args.tables_only else args.only:
        preset = PRESETS[name]
        quick = [*QUICK, *QUICK_APPLICATION.get(preset.application, [])] if args.quick else []
        if name in NEEDS_MEDMNIST and not (shared / "pneumoniamnist.npz").is_file():
            results[name] = {"skipped": f"pneumoniamnist.npz not found in {shared}"}
            continue
        batch = uuid.uuid4().hex[:12]
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        wall = run_preset(preset, batch, args.seeds, [*data_overrides(), *quick, *args.overrides])
        values, images, curves, paper = collect(batch, preset, tracking_uri)
        results[name] = {
            "started": started, "wall_s": wall, "values": values, "images": images, "curves": curves,
            "pixel_ap": pixel_ap_intervals(images), PAPER: paper,
        }  # fmt: skip
        results[name]["section"] = preset_markdown(name, results[name])
        print(f"{name}: {wall:.0f} s, {len(results[name]['values'])} methods", flush=True)
    results = {name: results[name] for name in PRESETS if name in results}
    folder.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps(results, indent=2))
    command = "python experiments/run_applications.py" + (" --quick" if args.quick else "")
    (folder / "README.md").write_text(markdown(results, command + f" --seeds {args.seeds}"))
    print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main()
