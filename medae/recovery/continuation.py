"""The config that continues an interrupted run in the same MLflow run (``medae resume``, SLURM requeues).

The run's job is trained again from its last checkpoint: the local ``last.ckpt`` when the folder it
continues in still has it, else the copy in the run's artifacts (so a run can resume on another
machine). Metric histories go on at the right steps, the best score and early-stopping
state come back from the checkpoint, and each epoch is seeded from the run's seed and its number
(:class:`medae.callbacks.epoch_seed.EpochSeed`), so the result equals an uninterrupted run.
"""

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from mlflow import MlflowClient
from mlflow.entities import Run
from omegaconf import DictConfig, OmegaConf, open_dict

from medae.config.compute_environment import recorded_threads
from medae.errors import DataError
from medae.security.safe_checkpoint import UnreadableCheckpoint, load_checkpoint
from medae.tracking.liveness import release_lease, take_lease
from medae.tracking.logged_run import download_artifact
from medae.tracking.schema import (
    BEST_ARTIFACT,
    HOST_TAG,
    LAST_ARTIFACT,
    PID_TAG,
    RESUMES_TAG,
)
from medae.tracking.store_outage import send_saved
from medae.tracking.tracked_run import TrackedRun

CHECKPOINT_PATH_KEYS = ("dirpath", "best_model_path", "kth_best_model_path", "last_model_path")
# a checkpoint's own file name, as ModelCheckpoint writes it (``best-epoch003.ckpt``, ``last.ckpt``)
CHECKPOINT_NAME = re.compile(r"[\w=+-][\w.=+-]*\.ckpt")


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


def relocate(checkpoint: dict[str, Any], folder: Path) -> bool:
    """Point ModelCheckpoint's saved paths into ``folder``, so its best score is restored; whether any moved.

    A path stored in a checkpoint is never used as it is: only its file name is kept, and only when it is
    a plain checkpoint name (``best-epoch003.ckpt``); any other is dropped.

    Example:
        >>> state = {"best_model_path": "/old/best.ckpt", "last_model_path": "/x/../../etc/evil.pth"}
        >>> relocate({"callbacks": {"ModelCheckpoint{}": state}}, Path("/new"))
        True
        >>> state["best_model_path"], state["last_model_path"], state["dirpath"]
        ('/new/best.ckpt', '', '/new')
    """

    def moved(path: Any) -> str:
        name = Path(path).name if isinstance(path, str) else ""
        return str(folder / name) if CHECKPOINT_NAME.fullmatch(name) else ""

    changed = False
    for state in checkpoint_states(checkpoint):
        before = dict(state)
        state["dirpath"] = str(folder)
        for name in CHECKPOINT_PATH_KEYS[1:]:
            state[name] = moved(state.get(name))
        best_k = {moved(path): score for path, score in (state.get("best_k_models") or {}).items()}
        state["best_k_models"] = {path: score for path, score in best_k.items() if path}
        changed |= state != before
    return changed


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
        download_artifact(client, run_id, LAST_ARTIFACT, last, folder)
    local = sorted(folder.glob("*.ckpt"), key=lambda path: (path != last, -path.stat().st_mtime))
    best = folder / Path(BEST_ARTIFACT).name
    for path in [*local, best]:
        if path == best and (
            best in local or not download_artifact(client, run_id, BEST_ARTIFACT, best, folder)
        ):
            break
        try:
            return path, load_checkpoint(path, trust)
        except UnreadableCheckpoint as error:
            print(f"medae: skipping {error}; trying an earlier checkpoint", file=sys.stderr)
    return None


def restore_checkpoints(client: MlflowClient, run_id: str, folder: Path, trust: bool) -> Path | None:
    """The newest readable checkpoint in ``folder`` (:func:`newest_readable`), with its best checkpoint."""
    found = newest_readable(client, run_id, folder, trust)
    if found is None:
        return None
    path, checkpoint = found
    if relocate(checkpoint, folder):
        staged = path.with_name(f".{path.name}.relocated")
        torch.save(checkpoint, staged)
        os.replace(staged, path)  # a new file: an artifact hard-linked to the old one keeps its content
    best = next((state.get("best_model_path") for state in checkpoint_states(checkpoint)), None)
    if best and not Path(best).is_file():
        download_artifact(client, run_id, BEST_ARTIFACT, Path(best), folder)
    print(f"medae: resuming run {run_id} after epoch {checkpoint['epoch']} from {path}", file=sys.stderr)
    return path


def continuation_config(
    cfg: DictConfig, client: MlflowClient, run: Run, tracking_uri: str, trust_checkpoint: bool
) -> DictConfig:
    """``cfg``, the run's own job writing to its ``paths.output_dir``, set to go on in ``run``.

    Metrics that waited while the store was away are sent from that folder, and training continues from
    its newest readable checkpoint (fetched from the run's artifacts when the folder lacks it).
    """
    run_id = run.info.run_id
    sent = send_saved(Path(cfg.paths.output_dir), TrackedRun(client, run_id, None).metrics)
    if sent:
        print(f"medae: sent {sent} metric batches that waited while the store was away", file=sys.stderr)
    with open_dict(cfg):
        cfg.logger.mlflow.run_id = run_id
        cfg.logger.mlflow.tracking_uri = tracking_uri
        cfg.ckpt_path = None
        cfg.trust_checkpoint = trust_checkpoint
        dirpath = OmegaConf.select(cfg, "callbacks.model_checkpoint.dirpath")
        if dirpath:
            folder = Path(os.path.realpath(Path(dirpath).expanduser()))  # as ModelCheckpoint holds it
            last = restore_checkpoints(client, run_id, folder, trust_checkpoint)
            cfg.ckpt_path = str(last) if last else None
    if cfg.ckpt_path is None:
        print(f"medae: run {run_id} has no checkpoint; training again from the start in it", file=sys.stderr)
    recorded_threads(cfg, run)
    return cfg


def count_resume(client: MlflowClient, run: Run) -> None:
    """One more in the run's ``medae.resumes`` tag."""
    resumes = int(run.data.tags.get(RESUMES_TAG, "0")) + 1
    TrackedRun(client, run.info.run_id, None).tags({RESUMES_TAG: resumes})


def continue_run(
    client: MlflowClient, run: Run, tracking_uri: str, job: Callable[[], DictConfig], trust_checkpoint: bool
) -> DictConfig:
    """The config that continues ``run`` (KILLED or FAILED), counted in its ``medae.resumes`` tag.

    This process takes the run's lease first, so a second ``resume`` of the same run is refused; a
    resume that is refused (a refused config, a missing checkpoint) gives the lease back.

    Args:
        client: the run's store.
        run: the run.
        tracking_uri: the store's URI.
        job: builds the run's job, writing to the folder it continues in.
        trust_checkpoint: unpickle any object of the run's checkpoints.
    """
    check_resumable(run)
    take_lease(client, run.info.run_id)
    try:
        cfg = continuation_config(job(), client, run, tracking_uri, trust_checkpoint)
    except Exception:
        release_lease(client, run.info.run_id)
        raise
    count_resume(client, run)
    return cfg
