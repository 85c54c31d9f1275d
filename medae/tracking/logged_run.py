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


# what configs stored by earlier medae versions name that has since moved: text -> its name now
RENAMED = {
    "medae.resumable_logger.ResumableMLFlowLogger": "medae.tracking.logger.ResumableMLFlowLogger",
    "${cwd:}": "${root_dir:}",
}


def upgrade(text: str) -> str:
    """A stored config's text with the names that moved since it was logged replaced by their names now.

    Example:
        >>> upgrade("root_dir: ${oc.env:MEDAE_ROOT,${cwd:}}")
        'root_dir: ${oc.env:MEDAE_ROOT,${root_dir:}}'
    """
    for old, new in RENAMED.items():
        text = text.replace(old, new)
    return text


def logged_config(
    client: MlflowClient, run_id: str, artifact: str = UNRESOLVED_CONFIG_ARTIFACT
) -> DictConfig:
    """A config medae logged with the run (unresolved by default, as the user wrote it), upgraded."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, artifact, tmp)
        except (MlflowException, OSError) as error:
            raise DataError(f"run {run_id}", f"has no {artifact}; was it logged by medae?") from error
        return OmegaConf.create(upgrade(Path(path).read_text()))


def download_artifact(client: MlflowClient, run_id: str, artifact: str, destination: Path) -> bool:
    """Download ``artifact`` of the run to the file ``destination``; False when the run has none."""
    folder, _, name = artifact.rpartition("/")
    if name not in {Path(a.path).name for a in client.list_artifacts(run_id, folder)}:
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        Path(client.download_artifacts(run_id, artifact, tmp)).replace(destination)
    return True
