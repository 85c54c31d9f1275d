"""Re-train an MLflow run's job and compare its test metrics.

``medae reproduce RUN_ID [--tracking-uri URI] [--tolerance 1e-4] [--allow-data-change] [--allow-drift]``

The job is rebuilt from medae's configs and the overrides the run recorded (:mod:`medae.commands.stored_job`).

The data must have the fingerprint the run recorded (checked before training), and torch uses the
thread count the run recorded, since results on a CPU depend on it.
"""

import argparse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from omegaconf import open_dict

from medae.commands.stored_job import add_rebuild_arguments, rebuild_job
from medae.config.compute_environment import recorded_threads
from medae.errors import exit_on_user_error
from medae.tracking.logged_run import fetch_run
from medae.tracking.schema import FINGERPRINT_TAG, root_dir
from medae.tracking.store import open_client


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


def reproduce(
    run_id: str,
    tracking_uri: str,
    allow_data_change: bool = False,
    allow_drift: bool = False,
    config_dirs: list[str] | None = None,
) -> Reproduction:
    """Train the job of ``run_id`` again, rebuilt from medae's configs and its overrides, into a new run.

    The job is rebuilt as :func:`medae.commands.stored_job.rebuild_job` says: nothing of the stored config
    is built, resolved or used as a path. It writes to ``<root>/outputs/reproduce/<time>``.

    Args:
        run_id: the run to reproduce.
        tracking_uri: its store; the new run goes there too.
        allow_data_change: train even when the data's fingerprint differs from the run's.
        allow_drift: train even when medae's configs now give other values than the run had.
        config_dirs: your own config folders that the run chose presets from (``--config-dir``).
    """
    from medae.commands.train import train

    client = open_client(tracking_uri)
    run = fetch_run(client, run_id)
    original = {key: value for key, value in run.data.metrics.items() if key.startswith("test/")}
    root = Path(root_dir())
    output_dir = root / "outputs" / "reproduce" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    cfg = rebuild_job(client, run, root, output_dir, tracking_uri, allow_drift, config_dirs)
    recorded_threads(cfg, run)
    with open_dict(cfg):
        if cfg.get("logger") and cfg.logger.get("mlflow"):
            cfg.logger.mlflow.run_name = f"reproduce:{run.info.run_name}"
            cfg.logger.mlflow.tags = {**cfg.logger.mlflow.get("tags", {}), "medae.reproduced_from": run_id}
    fingerprint = None if allow_data_change else run.data.tags.get(FINGERPRINT_TAG)
    result = train(cfg, expected_fingerprint=fingerprint)
    reproduced = {key: value for key, value in result.metrics.items() if key in original}
    return Reproduction(run_id, result.run_id, original, reproduced)


def main(argv: list[str]) -> None:
    """Command-line entry: print both sets of metrics; exit 1 when they differ by more than the tolerance."""
    parser = argparse.ArgumentParser(prog="medae reproduce", description=__doc__.splitlines()[0])
    add_rebuild_arguments(parser, "train")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument(
        "--allow-data-change", action="store_true", help="train even when the data's fingerprint differs"
    )
    args = parser.parse_args(argv)
    result = exit_on_user_error(
        reproduce, args.run_id, args.tracking_uri, args.allow_data_change, args.allow_drift, args.config_dir
    )
    print(f"reproduced run {result.original_run_id} as {result.new_run_id}")
    print(result.table())
    difference = result.max_difference()
    verdict = "within" if difference <= args.tolerance else "OUTSIDE"
    print(f"largest difference {difference:.2e}: {verdict} tolerance {args.tolerance:g}")
    if difference > args.tolerance:
        raise SystemExit(1)
