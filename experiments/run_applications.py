"""Run every application preset over several seeds and write the results table to ``experiments/README.md``.

Each preset runs as ``medae train -m experiment=<name> seed=0,...,N-1`` into its MLflow experiment; the
tables hold what those runs and the baseline runs beside them logged, read back from MLflow: the mean
and SD over seeds on the MNI152 test split and on the held-out Colin27 subject, and the paired
difference of each method against its reference (the autoencoder against each baseline; fine-tuning
and linear probing against scratch at the same labels) with a 95% t-interval over seeds.

Usage: ``python experiments/run_applications.py [--seeds 5] [--quick] [--only denoise_mri] [-- overrides]``
(``make experiments``). ``--quick`` runs two short epochs per preset as a smoke check; give it an
``--output`` folder so that the measured table stays.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
from scipy import stats

from medae.applications.parts.run_log import compared_runs, on_set
from medae.benchmarks.compression import CODE_SIZES

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
BRAIN_SETS = {"test": "MNI152 test", "colin27_brain": "Colin27 brain", "colin27_head": "Colin27 head"}
TEST_ONLY = {"test": "test split"}
AUTOENCODER = "autoencoder"


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


DENOISING = ("test/psnr_fg", "test/ssim_fg", "test/psnr", "test/ssim")
ANOMALY = ("anomaly/image_auroc", "anomaly/pixel_ap", "anomaly/best_dice", "anomaly/image_ap")
COMPRESSION = ("compression/psnr_fg", "compression/ssim_fg", "compression/psnr", "compression/ssim")
PRESETS: dict[str, Preset] = {
    "denoise_mri": Preset("denoise_mri", "denoising", DENOISING, ("test/psnr_fg", "test/ssim_fg")),
    "anomaly_brain": Preset("anomaly_brain", "anomaly", ANOMALY, ("anomaly/image_auroc", "anomaly/pixel_ap")),
    "anomaly_brain_dae": Preset(
        "anomaly_brain_dae", "anomaly", ANOMALY, ("anomaly/image_auroc", "anomaly/pixel_ap")
    ),
    "anomaly_pneumonia": Preset(
        "anomaly_pneumonia", "anomaly", ANOMALY[::3], ("anomaly/image_auroc",), TEST_ONLY
    ),
    **{
        f"compress_brain_{numbers}": Preset(
            "compress_brain", "compression", COMPRESSION, COMPRESSION[:2], overrides=tuple(options)
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
    "pretrain_tissue": Preset(
        "pretrain_tissue", "segmentation", ("segmentation/dice",), ("segmentation/dice",), TEST_ONLY
    ),
    "generate_brain": Preset(
        "generate_brain",
        "generation",
        ("generation/sample_nearest_rmse_mean", "generation/test_nearest_rmse_mean"),
        ("generation/sample_nearest_rmse_mean",),
        TEST_ONLY,
    ),
}
NEEDS_MEDMNIST = ("anomaly_pneumonia", "pretrain_pneumonia")
QUICK = ["debug=limit", "data.image_size=32"]
QUICK_APPLICATION = {
    "denoising": ["application.tune_images=2"],
    "classification": ["application.steps=10"],
    "segmentation": ["application.steps=10"],
}


def data_overrides() -> list[str]:
    """Where PneumoniaMNIST and Colin27 are: ``MEDAE_SHARED_DATA``, else ../shared/data."""
    folder = Path(os.environ.get("MEDAE_SHARED_DATA", SHARED_DATA))
    return [f"paths.medmnist_dir={folder}", f"paths.colin27_dir={folder / 'colin27'}"]


def run_preset(preset: Preset, batch: str, seeds: int, overrides: list[str]) -> float:
    """``medae train -m experiment=<name> seed=0..seeds-1`` tagged with ``batch``; its wall time (s)."""
    start = time.perf_counter()
    command = [
        sys.executable, "-m", "medae", "train", "-m", f"experiment={preset.experiment}",
        f"seed={','.join(str(seed) for seed in range(seeds))}", "trainer.enable_progress_bar=false",
        f"+logger.mlflow.tags.batch={batch}", *preset.overrides, *overrides,
    ]  # fmt: skip
    subprocess.run(command, cwd=os.environ.get("MEDAE_ROOT", ROOT), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def method_name(run: mlflow.entities.Run, own: bool) -> str:
    """``autoencoder (<model>)`` for the preset's own run, else the compared run's name."""
    return f"{AUTOENCODER} ({run.data.tags.get('medae.model')})" if own else run.info.run_name


def collect(batch: str, preset: Preset, tracking_uri: str) -> dict[str, dict[str, list[float]]]:
    """``{method: {metric key: [value per seed]}}`` from every seed's run and the runs compared with it."""
    client = mlflow.MlflowClient(tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"tags.batch = '{batch}'")
    keys = [next(iter(on_set({metric: 0.0}, name))) for metric in preset.metrics for name in preset.sets]
    values: dict[str, dict[str, list[float]]] = {}
    for run in sorted(runs, key=lambda entry: int(entry.data.params.get("seed", 0))):
        for entry in [run, *compared_runs(client, run.info.run_id)]:
            logged = entry.data.metrics
            if not any(key in logged for key in keys):
                continue
            method = values.setdefault(method_name(entry, entry is run), {})
            for key in keys:
                method.setdefault(key, []).append(logged.get(key, float("nan")))
    return values


def mean_sd(values: list[float]) -> str:
    """``mean ± SD`` over seeds (the mean alone for one seed)."""
    array = np.asarray(values, dtype=float)
    if len(array) < 2:
        return f"{array.mean():.4g}"
    return f"{array.mean():.4g} ± {array.std(ddof=1):.2g}"


def paired(difference: np.ndarray) -> tuple[float, float, float]:
    """Mean of paired differences over seeds and its 95% t-interval."""
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


def interval(mean: float, low: float, high: float) -> str:
    """``+d [lo, hi]``, bold when the interval excludes zero."""
    text = f"{mean:+.3g} [{low:+.3g}, {high:+.3g}]"
    return f"**{text}**" if low > 0 or high < 0 else text


def winner(preset: Preset, values: dict[str, dict[str, list[float]]], metric: str, set_name: str) -> str:
    """The method with the best mean of ``metric`` on ``set_name``, and whether it leads the next clearly."""
    key = next(iter(on_set({metric: 0.0}, set_name)))
    means = {method: float(np.nanmean(v[key])) for method, v in values.items() if key in v}
    ranked = sorted(means, key=means.__getitem__, reverse=not preset.lower_is_better)
    if len(ranked) < 2:
        return f"**{ranked[0]}** (alone)"
    _, low, high = paired(np.asarray(values[ranked[0]][key]) - np.asarray(values[ranked[1]][key]))
    clear = low > 0 or high < 0
    return f"**{ranked[0]}**" + ("" if clear else f" (tied with {ranked[1]} within the 95% CI)")


def verdicts(preset: Preset, values: dict[str, dict[str, list[float]]]) -> list[str]:
    """One line per headline metric and set: the best method, and its paired lead over the next best."""
    lines = []
    for metric in preset.headline:
        for name, label in preset.sets.items():
            key = next(iter(on_set({metric: 0.0}, name)))
            means = {method: float(np.nanmean(v[key])) for method, v in values.items() if key in v}
            ranked = sorted(means, key=means.__getitem__, reverse=not preset.lower_is_better)
            if len(ranked) < 2:
                continue
            best, second = ranked[:2]
            mean, low, high = paired(np.asarray(values[best][key]) - np.asarray(values[second][key]))
            clear = "clearly" if low > 0 or high < 0 else "not clearly (the interval includes 0)"
            lines.append(
                f"- {label}, `{metric}`: **{best}** is best ({means[best]:.4g}), {clear} ahead of "
                f"{second} ({means[second]:.4g}; paired difference {mean:+.3g}, 95% CI "
                f"[{low:+.3g}, {high:+.3g}])."
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
        *verdicts(preset, values),
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
            "Paired differences over seeds (method − reference), mean [95% CI]; bold: CI excludes 0",
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
                key = next(iter(on_set({metric: 0.0}, set_name)))
                difference = np.asarray(values[method][key]) - np.asarray(values[reference][key])
                cells.append(interval(*paired(difference)))
            lines.append(f"| {method} − {reference} | " + " | ".join(cells) + " |")
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
        "  Colin27 is another person, never trained on, resampled to the template grid and scaled so",
        "  its brain median matches the template's (`medae/data/colin27.py`); `Colin27 head` keeps skull",
        "  and scalp. Every third axial slice is scored.",
        "- Each method's setting is chosen on validation data (denoiser strength, PCA components, the",
        "  autoencoder's anomaly score), the same way for all.",
        "- Paired differences pair each seed's method with its reference on the same seed; the 95% CI is",
        "  a t-interval over seeds.",
        "- PCA fits at most one component fewer than the training images: 62 on the 63 training slices. At",
        "  256 numbers per image PCA therefore codes with 62 numbers, a quarter of the autoencoder's budget.",
        "- Baselines that draw nothing at random (the denoisers on fixed noise, JPEG) give the same figure",
        "  on every seed (SD 0); the paired differences still pair each seed's autoencoder with them.",
    ]
    lines += ["", "## Who wins", ""]
    for name, result in results.items():
        if "values" not in result:
            continue
        preset = PRESETS[name]
        metric = preset.headline[0]
        won = "; ".join(
            f"{label}: {winner(preset, result['values'], metric, set_name)}"
            for set_name, label in preset.sets.items()
        )
        lines.append(f"- `{name}` by `{metric}`: {won}.")
    for name, result in results.items():
        lines += preset_markdown(name, result)
    return "\n".join(lines) + "\n"


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
        results[name] = {"started": started, "wall_s": wall, "values": collect(batch, preset, tracking_uri)}
        print(f"{name}: {wall:.0f} s, {len(results[name]['values'])} methods", flush=True)
    results = {name: results[name] for name in PRESETS if name in results}
    folder.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps(results, indent=2))
    command = "python experiments/run_applications.py" + (" --quick" if args.quick else "")
    (folder / "README.md").write_text(markdown(results, command + f" --seeds {args.seeds}"))
    print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main()
