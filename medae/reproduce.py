"""Re-train an MLflow run from the config it logged and compare its test metrics.

``medae reproduce RUN_ID [--tracking-uri URI] [--tolerance 1e-4]``
"""

import argparse
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig, OmegaConf

from medae.errors import DataError, exit_on_user_error
from medae.tracking import UNRESOLVED_CONFIG_ARTIFACT

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass
class Reproduction:
    """Original and reproduced test metrics of a run.

    Attributes:
        original_run_id: the run that was reproduced.
        new_run_id: the run the reproduction logged.
        original: test metrics of the original run.
        reproduced: test metrics of the new run.
    """

    original_run_id: str
    new_run_id: str | None
    original: dict[str, float]
    reproduced: dict[str, float]

    def max_difference(self) -> float:
        """Largest absolute difference over the test metrics both runs have."""
        shared = set(self.original) & set(self.reproduced)
        return (
            max(abs(self.original[key] - self.reproduced[key]) for key in shared) if shared else float("inf")
        )

    def table(self) -> str:
        """The metrics side by side."""
        lines = [f"{'metric':<22}{'original':>14}{'reproduced':>14}{'difference':>14}"]
        for key in sorted(set(self.original) & set(self.reproduced)):
            a, b = self.original[key], self.reproduced[key]
            lines.append(f"{key:<22}{a:>14.6f}{b:>14.6f}{abs(a - b):>14.2e}")
        return "\n".join(lines)


def logged_config(run_id: str, tracking_uri: str) -> tuple[DictConfig, dict[str, float], str]:
    """The unresolved config, test metrics and name of an MLflow run."""
    client = mlflow.MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise DataError(f"run {run_id}", f"not found in the MLflow store {tracking_uri}") from error
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, UNRESOLVED_CONFIG_ARTIFACT, tmp)
        except (MlflowException, OSError) as error:
            raise DataError(
                f"run {run_id}", f"has no {UNRESOLVED_CONFIG_ARTIFACT}; was it logged by medae?"
            ) from error
        cfg = OmegaConf.load(path)
    metrics = {key: value for key, value in run.data.metrics.items() if key.startswith("test/")}
    return cfg, metrics, run.info.run_name


def reproduce(run_id: str, tracking_uri: str) -> Reproduction:
    """Train again from the logged config of ``run_id`` into a new run of the same store."""
    from medae.train import train

    cfg, original, name = logged_config(run_id, tracking_uri)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    cfg.paths.root_dir = os.getcwd()
    cfg.paths.output_dir = str(Path(cfg.paths.log_dir) / "reproduce" / stamp)
    if cfg.get("logger") and cfg.logger.get("mlflow"):
        cfg.logger.mlflow.tracking_uri = tracking_uri
        cfg.logger.mlflow.run_name = f"reproduce:{name}"
        cfg.logger.mlflow.tags = {**cfg.logger.mlflow.get("tags", {}), "medae.reproduced_from": run_id}
    result = train(cfg)
    reproduced = {key: value for key, value in result.metrics.items() if key in original}
    return Reproduction(run_id, result.run_id, original, reproduced)


def main(argv: list[str]) -> None:
    """Command-line entry: print both sets of metrics; exit 1 when they differ by more than the tolerance."""
    parser = argparse.ArgumentParser(prog="medae reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args(argv)
    result = exit_on_user_error(reproduce, args.run_id, args.tracking_uri)
    print(f"reproduced run {result.original_run_id} as {result.new_run_id}")
    print(result.table())
    difference = result.max_difference()
    verdict = "within" if difference <= args.tolerance else "OUTSIDE"
    print(f"largest difference {difference:.2e}: {verdict} tolerance {args.tolerance:g}")
    if difference > args.tolerance:
        raise SystemExit(1)
