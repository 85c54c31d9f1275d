"""Continue an interrupted run in the same MLflow run: ``medae resume RUN_ID [--tracking-uri URI]``.

The job is rebuilt from medae's configs and the overrides the run recorded (:mod:`medae.commands.stored_job`);
see :mod:`medae.recovery.continuation` for how its checkpoints and metric steps carry on.
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mlflow.entities import Run

from medae.commands.stored_job import add_rebuild_arguments, rebuild_job
from medae.errors import ConfigError, exit_on_user_error
from medae.recovery.continuation import continue_run
from medae.security.stored_data import inside
from medae.tracking.logged_run import fetch_run
from medae.tracking.schema import OUTPUT_DIR_TAG, root_dir
from medae.tracking.store import open_client


def continuation_folder(run: Run, root: Path) -> Path:
    """Where ``run`` continues: its own folder, or ``<root>/outputs/resume/<run id>``.

    Its own folder (the ``medae.output_dir`` tag) is used only when it lies in ``<root>/outputs`` and can
    be written here; otherwise its checkpoints come from the store into the new folder.

    Example:
        >>> from types import SimpleNamespace as Namespace
        >>> run = Namespace(info=Namespace(run_id="abc"), data=Namespace(tags={OUTPUT_DIR_TAG: "/etc"}))
        >>> continuation_folder(run, Path("/lab"))
        PosixPath('/lab/outputs/resume/abc')
    """
    outputs = root / "outputs"
    fresh = outputs / "resume" / str(run.info.run_id)
    stored = run.data.tags.get(OUTPUT_DIR_TAG)
    if not stored:
        return fresh
    try:
        folder = inside(stored, outputs, OUTPUT_DIR_TAG)
    except ConfigError:
        print(
            f"medae: run {run.info.run_id}'s folder {stored} is not under {outputs}; continuing in {fresh}",
            file=sys.stderr,
        )
        return fresh
    return folder if folder.is_dir() and os.access(folder, os.W_OK) else fresh


def resume(
    run_id: str,
    tracking_uri: str,
    trust_checkpoint: bool = False,
    allow_drift: bool = False,
    config_dirs: list[str] | None = None,
) -> Any:
    """Continue ``run_id`` in the same MLflow run; returns :class:`medae.commands.train.TrainResult`.

    Args:
        run_id: a KILLED or FAILED training run.
        tracking_uri: its store.
        trust_checkpoint: unpickle any object of the run's checkpoints.
        allow_drift: go on when medae's configs now give other values than the run had.
        config_dirs: your own config folders that the run chose presets from (``--config-dir``).
    """
    from medae.commands.train import train

    client = open_client(tracking_uri, write=True)
    run = fetch_run(client, run_id)
    root = Path(root_dir())

    def job() -> Any:
        folder = continuation_folder(run, root)
        return rebuild_job(client, run, root, folder, tracking_uri, allow_drift, config_dirs)

    return train(continue_run(client, run, tracking_uri, job, trust_checkpoint))


def main(argv: list[str]) -> None:
    """Command-line entry: continue the run and print its test metrics."""
    parser = argparse.ArgumentParser(prog="medae resume", description=__doc__.splitlines()[0])
    add_rebuild_arguments(parser, "continue")
    parser.add_argument(
        "--trust-checkpoint", action="store_true", help="unpickle any object of the run's checkpoints"
    )
    args = parser.parse_args(argv)
    result = exit_on_user_error(
        resume, args.run_id, args.tracking_uri, args.trust_checkpoint, args.allow_drift, args.config_dir
    )
    print(f"resumed run {result.run_id}")
    for key in sorted(k for k in result.metrics if k.startswith("test/")):
        print(f"{key} = {result.metrics[key]:.6f}")
