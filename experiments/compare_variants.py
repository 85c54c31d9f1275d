"""Train every registered variant for the same wall-clock budget and tabulate the results.

Each variant runs through ``medae train`` on the default data into the MLflow experiment
``medae-variants``; the table (parameters, training images/s, epochs, test PSNR/SSIM) is written to
``docs/variants.md`` and ``docs/variants.json`` from what those runs logged.

Usage: ``python experiments/compare_variants.py [--minutes 2] [--variants conv vae] [-- overrides]``
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import torch

from medae.bootstrap import bootstrap
from medae.commands.catalog import description
from medae.models.registry import MODELS

EXPERIMENT = "medae-variants"
ROOT = Path(__file__).resolve().parent.parent


def train_variant(name: str, minutes: float, batch: str, overrides: list[str]) -> None:
    """Run ``medae train model=<name>`` under a time budget, early stopping off."""
    seconds = int(minutes * 60)
    command = [
        sys.executable, "-m", "medae", "train", f"model={name}",
        "trainer.max_epochs=100000", f"trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}",
        "~callbacks.early_stopping", "trainer.enable_progress_bar=false",
        f"logger.mlflow.experiment_name={EXPERIMENT}", f"+logger.mlflow.tags.comparison={batch}",
        *overrides,
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def collect(batch: str, tracking_uri: str) -> list[dict[str, object]]:
    """One row per run of this comparison, read back from MLflow."""
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.comparison = '{batch}'")
    rows = []
    for run in sorted(runs, key=lambda r: r.data.tags["medae.model"]):
        # cumulative training samples and seconds, as Lightning's ThroughputMonitor counts them
        samples, seconds = (
            client.get_metric_history(run.info.run_id, key) for key in ("train/samples", "train/time")
        )
        epochs = client.get_metric_history(run.info.run_id, "epoch")
        rows.append(
            {
                "variant": run.data.tags["medae.model"],
                "parameters": int(run.data.tags["medae.num_parameters"]),
                "images_per_sec": samples[-1].value / seconds[-1].value
                if samples and seconds
                else float("nan"),
                "epochs": int(max(m.value for m in epochs)) + 1 if epochs else 0,
                "test_psnr": run.data.metrics["test/psnr"],
                "test_ssim": run.data.metrics["test/ssim"],
                "run_id": run.info.run_id,
            }
        )
    return rows


def markdown(rows: list[dict[str, object]], minutes: float, overrides: list[str]) -> str:
    """The table with the conditions it was measured under."""
    lines = [
        "# Autoencoder variants side by side",
        "",
        f"Each variant trained for {minutes:g} minutes of wall-clock time on the default data",
        "(MNI152 T1 slices, 64 x 64, no noise), with the same seed and optimiser, then tested with its best",
        "checkpoint.",
        f"Machine: {os.cpu_count()} CPU cores, {platform.machine()}, torch {torch.__version__}, no GPU."
        if not torch.cuda.is_available()
        else f"Machine: {torch.cuda.get_device_name()}, torch {torch.__version__}.",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make variants`"
        + (f" with overrides `{' '.join(overrides)}`." if overrides else "."),
        "Images/s is training samples over training time (validation excluded), as Lightning's",
        "ThroughputMonitor counts them.",
        "",
        "| variant | what | parameters | train images/s | epochs | test PSNR (dB) | test SSIM |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        summary = description(MODELS[str(row["variant"])]).replace("``", "`")
        lines.append(
            f"| `{row['variant']}` | {summary} | {row['parameters']:,} "
            f"| {row['images_per_sec']:.0f} | {row['epochs']} "
            f"| {row['test_psnr']:.2f} | {row['test_ssim']:.3f} |"
        )
    lines += [
        "",
        "RED-CNN's shortcut carries the input to the output, so on clean inputs it can learn the identity:",
        "its figures here measure that, not compression. It is meant for denoising (`data.noise_std > 0`).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the comparison and write the table."""
    bootstrap()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per variant")
    parser.add_argument("--variants", nargs="*", default=sorted(MODELS))
    parser.add_argument("overrides", nargs="*", help="extra `medae train` overrides for every variant")
    args = parser.parse_args()
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT}/mlflow.db")
    batch = uuid.uuid4().hex[:12]
    for name in args.variants:
        print(f"training {name} for {args.minutes:g} min", flush=True)
        train_variant(name, args.minutes, batch, args.overrides)
    rows = collect(batch, tracking_uri)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "variants.json").write_text(json.dumps(rows, indent=2) + "\n")
    (ROOT / "docs" / "variants.md").write_text(markdown(rows, args.minutes, args.overrides))
    print((ROOT / "docs" / "variants.md").read_text())


if __name__ == "__main__":
    main()
