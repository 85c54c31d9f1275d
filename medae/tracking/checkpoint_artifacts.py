"""Checkpoints into a run's artifacts, stored once: a hard link when the artifact store is a local folder.

A local store (``mlartifacts/`` beside ``mlflow.db``, or any ``file://`` root) usually sits on the same
disk as the run's output folder, where a copy would store every checkpoint twice. Lightning saves a
checkpoint to a temporary file and renames it into place, so the linked artifact keeps the content it
had when it was linked while the output folder moves on. Remote or proxied stores get an upload.
"""

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The folder of a local artifact URI (a path or ``file://``); None for a remote store.

    Example:
        >>> local_artifact_dir("file:///srv/mlartifacts/1/abc/artifacts")
        PosixPath('/srv/mlartifacts/1/abc/artifacts')
        >>> local_artifact_dir("mlflow-artifacts:/1/abc/artifacts") is None
        True
    """
    scheme = urlparse(artifact_uri).scheme
    if scheme == "file":
        return Path(local_file_uri_to_path(artifact_uri))
    return Path(artifact_uri) if scheme == "" else None


def link_or_copy(source: Path, destination: Path) -> None:
    """Put ``source`` at ``destination`` atomically: hard-linked, or copied across file systems."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staged = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    staged.unlink(missing_ok=True)
    try:
        os.link(source, staged)
    except OSError:
        shutil.copy2(source, staged)
    os.replace(staged, destination)


def store_checkpoint(client: MlflowClient, run_id: str, artifact_uri: str, path: str, artifact: str) -> None:
    """Log the checkpoint file ``path`` as the run's ``artifact`` (``folder/name``) under ``artifact_uri``."""
    folder, name = artifact.rsplit("/", 1)
    local = local_artifact_dir(artifact_uri)
    if local is not None:
        link_or_copy(Path(path), local / folder / name)
        return
    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".sync-") as tmp:
        staged = Path(tmp) / name  # uploaded under the artifact's name
        link_or_copy(Path(path), staged)
        client.log_artifact(run_id, str(staged), folder)
