"""Re-train an MLflow run from the config it logged and compare its test metrics.

``medae reproduce RUN_ID [--tracking-uri URI] [--tolerance 1e-4] [--allow-data-change]``

The data must have the fingerprint the run recorded (checked before training), and torch uses the
thread count the run recorded, since results on a CPU depend on it.
"""

import argparse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlflow.entities import Run
from omegaconf import DictConfig, open_dict

from medae.config.compute_environment import recorded_threads
from medae.errors import exit_on_user_error
from medae.security.trusted_targets import Trust, add_trust_flags, check_trusted
from medae.tracking.logged_run import fetch_run, logged_config
from medae.tracking.schema import FINGERPRINT_TAG, root_dir, store_uri
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


def logged_config_and_metrics(run_id: str, tracking_uri: str) -> tuple[DictConfig, dict[str, float], Run]:
    """The unresolved config, test metrics and MLflow run of ``run_id``."""
    client = open_client(tracking_uri)
    run = fetch_run(client, run_id)
    cfg = logged_config(client, run_id)
    metrics = {key: value for key, value in run.data.metrics.items() if key.startswith("test/")}
    return cfg, metrics, run


def reproduce(
    run_id: str, tracking_uri: str, allow_data_change: bool = False, trust: Trust | None = None
) -> Reproduction:
    """Train again from the logged config of ``run_id`` into a new run of the same store.

    Args:
        run_id: the run to reproduce.
        tracking_uri: its store; the new run goes there too.
        allow_data_change: train even when the data's fingerprint differs from the run's.
        trust: what of the logged config to trust (by default its targets must be on the allow-list).
    """
    from medae.commands.train import train

    trust = trust or Trust()
    cfg, original, run = logged_config_and_metrics(run_id, tracking_uri)
    if not trust.config:
        check_trusted(cfg, f"run {run_id}")
    with open_dict(cfg):
        cfg.trust_checkpoint = False
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    cfg.paths.root_dir = root_dir()
    cfg.paths.output_dir = str(Path(cfg.paths.log_dir) / "reproduce" / stamp)
    recorded_threads(cfg, run)
    if cfg.get("logger") and cfg.logger.get("mlflow"):
        cfg.logger.mlflow.tracking_uri = tracking_uri
        cfg.logger.mlflow.run_name = f"reproduce:{run.info.run_name}"
        cfg.logger.mlflow.tags = {**cfg.logger.mlflow.get("tags", {}), "medae.reproduced_from": run_id}
    fingerprint = None if allow_data_change else run.data.tags.get(FINGERPRINT_TAG)
    result = train(cfg, expected_fingerprint=fingerprint)
    reproduced = {key: value for key, value in result.metrics.items() if key in original}
    return Reproduction(run_id, result.run_id, original, reproduced)


def main(argv: list[str]) -> None:
    """Command-line entry: print both sets of metrics; exit 1 when they differ by more than the tolerance."""
    parser = argparse.ArgumentParser(prog="medae reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--tracking-uri", default=store_uri(), help="default: %(default)s")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument(
        "--allow-data-change", action="store_true", help="train even when the data's fingerprint differs"
    )
    add_trust_flags(parser, checkpoint=False)
    args = parser.parse_args(argv)
    trust = Trust(config=args.trust_config)
    result = exit_on_user_error(reproduce, args.run_id, args.tracking_uri, args.allow_data_change, trust)
    print(f"reproduced run {result.original_run_id} as {result.new_run_id}")
    print(result.table())
    difference = result.max_difference()
    verdict = "within" if difference <= args.tolerance else "OUTSIDE"
    print(f"largest difference {difference:.2e}: {verdict} tolerance {args.tolerance:g}")
    if difference > args.tolerance:
        raise SystemExit(1)
