"""The config that continues an interrupted run in the same MLflow run (``medae resume``, SLURM requeues).

The run's logged config is trained again from its last checkpoint: the local ``last.ckpt`` when the
run's output folder still has it, else the copy in the run's artifacts (so a run can resume on
another machine). Metric histories go on at the right steps, the best score and early-stopping
state come back from the checkpoint, and each epoch is seeded from the run's seed and its number
(:class:`medae.callbacks.epoch_seed.EpochSeed`), so the result equals an uninterrupted run.
"""

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from mlflow import MlflowClient
from mlflow.entities import Run
from omegaconf import DictConfig, OmegaConf, open_dict

from medae.config.compute_environment import recorded_threads
from medae.errors import DataError
from medae.security.safe_checkpoint import UnreadableCheckpoint, load_checkpoint
from medae.security.trusted_targets import Trust, check_trusted
from medae.tracking.liveness import release_lease, take_lease
from medae.tracking.logged_run import download_artifact, logged_config
from medae.tracking.schema import (
    BEST_ARTIFACT,
    HOST_TAG,
    LAST_ARTIFACT,
    PID_TAG,
    RESOLVED_CONFIG_ARTIFACT,
    RESUMES_TAG,
    root_dir,
)
from medae.tracking.store_outage import send_saved
from medae.tracking.tracked_run import TrackedRun

CHECKPOINT_PATH_KEYS = ("dirpath", "best_model_path", "kth_best_model_path", "last_model_path")


def check_resumable(run: Run) -> None:
    """Raise a DataError unless the run ended without finishing (KILLED or FAILED)."""
    run_id, status, tags = run.info.run_id, run.info.status, run.data.tags
    if status == "RUNNING":
        raise DataError(
            f"run {run_id}",
            f"is RUNNING in process {tags.get(PID_TAG, '?')} on {tags.get(HOST_TAG, '?')}; stop it first "
            "(a run whose process is gone on this host is marked KILLED by any medae command)",
        )
    if status == "FINISHED":
        raise DataError(
            f"run {run_id}", "is FINISHED; nothing to resume (medae reproduce RUN_ID trains it again)"
        )


def writable_output_dir(original: Path) -> Path:
    """The run's output folder when it can be used here, else a new one under ``<root>/outputs/resume``."""
    try:
        original.mkdir(parents=True, exist_ok=True)
        probe = original / ".medae-write-probe"
        probe.touch()
        probe.unlink()
        return original
    except OSError as error:
        new = Path(root_dir()) / "outputs" / "resume" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
        print(f"medae: {original} cannot be used here ({error.strerror}); writing to {new}", file=sys.stderr)
        return new


def relocate(checkpoint: dict[str, Any], old_dir: str, new_dir: str) -> None:
    """Point ModelCheckpoint's saved paths from ``old_dir`` to ``new_dir``, so its best score is restored."""

    def moved(path: Any) -> Any:
        return new_dir + path[len(old_dir) :] if isinstance(path, str) and path.startswith(old_dir) else path

    for state in checkpoint_states(checkpoint):
        for name in CHECKPOINT_PATH_KEYS:
            state[name] = moved(state.get(name))
        state["best_k_models"] = {
            moved(path): score for path, score in state.get("best_k_models", {}).items()
        }


def checkpoint_states(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The ModelCheckpoint states saved in a Lightning checkpoint."""
    callbacks = checkpoint.get("callbacks", {})
    return [state for key, state in callbacks.items() if key.startswith("ModelCheckpoint")]


def newest_readable(
    client: MlflowClient, run_id: str, folder: Path, trust: bool
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of the run that loads whole, and its content; None when there is none.

    Tried in order: ``last.ckpt`` (from the run's artifacts when the folder lacks it), the folder's other
    checkpoints from newest to oldest, the run's best-checkpoint artifact. A truncated file (a full disk,
    a machine that died while writing) is skipped with one line.
    """
    last = folder / "last.ckpt"
    if not last.is_file():
        download_artifact(client, run_id, LAST_ARTIFACT, last)
    local = sorted(folder.glob("*.ckpt"), key=lambda path: (path != last, -path.stat().st_mtime))
    best = folder / Path(BEST_ARTIFACT).name
    for path in [*local, best]:
        if path == best and (best in local or not download_artifact(client, run_id, BEST_ARTIFACT, best)):
            break
        try:
            return path, load_checkpoint(path, trust)
        except UnreadableCheckpoint as error:
            print(f"medae: skipping {error}; trying an earlier checkpoint", file=sys.stderr)
    return None


def restore_checkpoints(
    client: MlflowClient, run_id: str, old_dir: str, new_dir: Path, trust: bool
) -> Path | None:
    """The newest readable checkpoint in ``new_dir`` (:func:`newest_readable`), with its best checkpoint."""
    found = newest_readable(client, run_id, new_dir, trust)
    if found is None:
        return None
    path, checkpoint = found
    if old_dir != str(new_dir):
        relocate(checkpoint, old_dir, str(new_dir))
        staged = path.with_name(f".{path.name}.relocated")
        torch.save(checkpoint, staged)
        os.replace(staged, path)  # a new file: an artifact hard-linked to the old one keeps its content
    best = next((state.get("best_model_path") for state in checkpoint_states(checkpoint)), None)
    if best and not Path(best).is_file():
        download_artifact(client, run_id, BEST_ARTIFACT, Path(best))
    print(f"medae: resuming run {run_id} after epoch {checkpoint['epoch']} from {path}", file=sys.stderr)
    return path


def resume_config(client: MlflowClient, run: Run, tracking_uri: str, trust: Trust) -> DictConfig:
    """The run's logged config, set to continue the run from its last checkpoint."""
    run_id = run.info.run_id
    cfg = logged_config(client, run_id)
    if cfg.get("task_name") != "train":
        raise DataError(
            f"run {run_id}", f"is a '{cfg.get('task_name')}' run; only training runs can be resumed"
        )
    if not trust.config:
        check_trusted(cfg, f"run {run_id}")
    return continuation_config(cfg, client, run, tracking_uri, trust.checkpoint)


def continuation_config(
    cfg: DictConfig, client: MlflowClient, run: Run, tracking_uri: str, trust_checkpoint: bool
) -> DictConfig:
    """``cfg`` (the run's own config) set to go on in ``run`` from its last checkpoint and output folder."""
    run_id = run.info.run_id
    resolved = logged_config(client, run_id, RESOLVED_CONFIG_ARTIFACT)
    output_dir = writable_output_dir(Path(resolved.paths.output_dir))
    sent = send_saved(Path(resolved.paths.output_dir), TrackedRun(client, run_id, None).metrics)
    if sent:
        print(f"medae: sent {sent} metric batches that waited while the store was away", file=sys.stderr)
    with open_dict(cfg):
        cfg.paths.root_dir = resolved.paths.root_dir
        cfg.paths.output_dir = str(output_dir)
        cfg.logger.mlflow.run_id = run_id
        cfg.logger.mlflow.tracking_uri = tracking_uri
        cfg.ckpt_path = None
        cfg.trust_checkpoint = trust_checkpoint
        old_dir = OmegaConf.select(resolved, "callbacks.model_checkpoint.dirpath")
        if old_dir:
            new_dir = Path(OmegaConf.select(cfg, "callbacks.model_checkpoint.dirpath"))
            last = restore_checkpoints(client, run_id, old_dir, new_dir, trust_checkpoint)
            cfg.ckpt_path = str(last) if last else None
    if cfg.ckpt_path is None:
        print(f"medae: run {run_id} has no checkpoint; training again from the start in it", file=sys.stderr)
    recorded_threads(cfg, run)
    return cfg


def count_resume(client: MlflowClient, run: Run) -> None:
    """One more in the run's ``medae.resumes`` tag."""
    resumes = int(run.data.tags.get(RESUMES_TAG, "0")) + 1
    TrackedRun(client, run.info.run_id, None).tags({RESUMES_TAG: resumes})


def continue_run(client: MlflowClient, run: Run, tracking_uri: str, trust: Trust) -> DictConfig:
    """The config that continues ``run`` (KILLED or FAILED), counted in its ``medae.resumes`` tag.

    This process takes the run's lease first, so a second ``resume`` of the same run is refused; a
    resume that is refused (an untrusted config, a missing checkpoint) gives the lease back.
    """
    check_resumable(run)
    take_lease(client, run.info.run_id)
    try:
        cfg = resume_config(client, run, tracking_uri, trust)
    except Exception:
        release_lease(client, run.info.run_id)
        raise
    count_resume(client, run)
    return cfg
