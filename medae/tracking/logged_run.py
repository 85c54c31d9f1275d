"""Reading back what medae logged for a run: the run itself, its configs and its checkpoints."""

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig, OmegaConf

from medae.errors import DataError
from medae.tracking.schema import UNRESOLVED_CONFIG_ARTIFACT


def fetch_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; a DataError names the store when it has no such run."""
    try:
        return client.get_run(run_id)
    except MlflowException as error:
        raise DataError(f"run {run_id}", f"not found in the MLflow store {client.tracking_uri}") from error


def logged_config(
    client: MlflowClient, run_id: str, artifact: str = UNRESOLVED_CONFIG_ARTIFACT
) -> DictConfig:
    """A config medae logged with the run (unresolved by default, as the user wrote it)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, artifact, tmp)
        except (MlflowException, OSError) as error:
            raise DataError(f"run {run_id}", f"has no {artifact}; was it logged by medae?") from error
        return OmegaConf.load(path)


def download_artifact(client: MlflowClient, run_id: str, artifact: str, destination: Path) -> bool:
    """Download ``artifact`` of the run to the file ``destination``; False when the run has none."""
    folder, _, name = artifact.rpartition("/")
    if name not in {Path(a.path).name for a in client.list_artifacts(run_id, folder)}:
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        Path(client.download_artifacts(run_id, artifact, tmp)).replace(destination)
    return True
