"""Reading back what medae logged for a run: the run itself, its text artifacts (bounded) and checkpoints."""

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from medae.errors import DataError
from medae.security.stored_data import MAX_BYTES, inside


def fetch_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; a DataError names the store when it has no such run."""
    try:
        return client.get_run(run_id)
    except MlflowException as error:
        raise DataError(f"run {run_id}", f"not found in the MLflow store {client.tracking_uri}") from error


def artifact_text(client: MlflowClient, run_id: str, artifact: str, max_bytes: int = MAX_BYTES) -> str | None:
    """The text of a run's artifact, read only when it is at most ``max_bytes``; None when the run has none.

    Raises:
        DataError: the artifact is larger than ``max_bytes`` or is not UTF-8 text.
    """
    folder, _, name = artifact.rpartition("/")
    try:
        listed = {Path(a.path).name: a.file_size for a in client.list_artifacts(run_id, folder)}
    except (MlflowException, OSError) as error:
        raise DataError(f"run {run_id}", f"its artifacts cannot be listed ({error})") from error
    if name not in listed:
        return None
    source = f"run {run_id} {artifact}"
    if (listed[name] or 0) > max_bytes:
        raise DataError(source, f"holds {listed[name]} bytes, over the {max_bytes} a stored config may have")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = Path(client.download_artifacts(run_id, artifact, tmp))
            size = path.stat().st_size
            if size > max_bytes:
                raise DataError(source, f"holds {size} bytes, over the {max_bytes} allowed")
            return path.read_text(encoding="utf-8")
        except (MlflowException, OSError) as error:
            raise DataError(source, f"cannot be read ({error})") from error
        except UnicodeDecodeError as error:
            raise DataError(source, "is not UTF-8 text") from error


def download_artifact(
    client: MlflowClient, run_id: str, artifact: str, destination: Path, folder: Path
) -> bool:
    """Download ``artifact`` of the run to the file ``destination``; False when the run has none.

    Raises:
        ConfigError: ``destination`` lies outside ``folder`` (a path read from a checkpoint, say).
    """
    destination = inside(destination, folder, artifact)
    name = artifact.rpartition("/")[2]
    if name not in {Path(a.path).name for a in client.list_artifacts(run_id, artifact.rpartition("/")[0])}:
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        Path(client.download_artifacts(run_id, artifact, tmp)).replace(destination)
    return True
