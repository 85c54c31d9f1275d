"""A run's network as an MLflow model; MLflow references (``runs:/``, ``models:/``, run ids) to checkpoints.

At the end of a run the best network is logged as an MLflow model named after the variant and the
application (``conv-reconstruction``, ``redcnn-denoising``: MLmodel, signature, input example, pip
requirements), linked to the run, its params, its test metrics and the test split, and optionally
registered. It is a ``python_function`` model of weights and config that
:mod:`medae.inference.model_package` writes and loads, so
``mlflow.pyfunc.load_model("runs:/<id>/conv-reconstruction")`` or ``models:/<name>/<version>`` unpickles
nothing. The full training state stays in the run's ``checkpoints/best.ckpt``; ``medae eval|encode|decode``
take any of those references and fetch that checkpoint once into a local cache.
"""

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.entities import LoggedModelOutput, Metric
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature

import medae
from medae.compat import mlflow_tracking_uri
from medae.errors import ConfigError, DataError
from medae.tracking.model_card import CARD_ARTIFACT, NOTE_TAG
from medae.tracking.schema import BEST_ARTIFACT

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ModelRecord:
    """What the MLflow UI shows of a logged model: its name, and the params, metrics and data it links to.

    Attributes:
        name: the model's name (:func:`model_name`), also its ``runs:/<run id>/<name>`` path.
        params: the network's settings.
        metrics: its test metrics, linked to the model (the run keeps its own copies).
        dataset_name: the split the metrics were measured on (``mni152-test``).
        dataset_digest: that split's fingerprint, as the run's dataset inputs give it.
        card: the model card (:mod:`medae.tracking.model_card`), empty for none.
    """

    name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    dataset_name: str | None = None
    dataset_digest: str | None = None
    card: str = ""


def model_name(variant: str, application: str | None) -> str:
    """A logged model's name: the variant and what it was trained for.

    Example:
        >>> model_name("redcnn", "denoising"), model_name("conv", None)
        ('redcnn-denoising', 'conv-reconstruction')
    """
    return f"{variant}-{application or 'reconstruction'}"


def log_network(
    tracking_uri: str,
    run_id: str,
    experiment_id: str,
    package: Path,
    loader_module: str,
    signature: ModelSignature,
    example: np.ndarray,
    record: ModelRecord,
    register_as: str | None = None,
) -> str:
    """Log a model package folder as the run's MLflow model ``record.name``; register it when ``register_as``.

    Args:
        tracking_uri: the store.
        run_id: the run the model comes from (MLflow lists it under the run's logged models).
        experiment_id: the run's experiment.
        package: the folder of weights and config that ``loader_module`` reads (no pickle).
        loader_module: the module whose ``_load_pyfunc`` rebuilds the model from ``package``.
        signature: the model's input and output shapes.
        example: one input batch, stored as the input example.
        record: the model's name, params, metrics and dataset.
        register_as: a registered model name, or ``None``.

    Returns:
        The model's URI.
    """
    with mlflow_tracking_uri(tracking_uri):
        logged = mlflow.initialize_logged_model(
            name=record.name, source_run_id=run_id, experiment_id=experiment_id, params=record.params
        )
        info = mlflow.pyfunc.log_model(
            name=record.name,
            model_id=logged.model_id,
            loader_module=loader_module,
            data_path=str(package),
            signature=signature,
            input_example=example,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"medae=={medae.__version__}"],
            registered_model_name=register_as,
        )
        client = mlflow.MlflowClient(tracking_uri)
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
        now = int(time.time() * 1000)
        linked = [
            Metric(key, value, now, 0, logged.model_id, record.dataset_name, record.dataset_digest, run_id)
            for key, value in record.metrics.items()
        ]
        if linked:
            client.log_batch(run_id, metrics=linked)
        if record.card:  # the run's artifact, and the description the UI shows for the model (and version)
            client.log_text(run_id, record.card, CARD_ARTIFACT)
            client.set_logged_model_tags(logged.model_id, {NOTE_TAG: record.card})
            if register_as and info.registered_model_version is not None:
                version = str(info.registered_model_version)
                client.update_model_version(register_as, version, description=record.card)
    return str(info.model_uri)


def source_run(reference: str, client: mlflow.MlflowClient) -> str:
    """The run behind ``runs:/<id>/...``, ``models:/<name>/<version>``, ``models:/<model id>`` or a run id."""
    try:
        if RUN_ID.match(reference):
            return reference
        if reference.startswith("runs:/"):
            return reference.removeprefix("runs:/").split("/")[0]
        parts = reference.removeprefix("models:/").split("/")
        found = (
            client.get_model_version(parts[0], parts[1]).run_id
            if len(parts) == 2
            else client.get_logged_model(parts[0]).source_run_id
        )
    except MlflowException as error:
        raise ConfigError(
            "ckpt_path", f"'{reference}' is not in the tracking store: {error.message}"
        ) from error
    if found is None:
        raise ConfigError("ckpt_path", f"'{reference}' was logged outside any run; give a run's model")
    return found


def is_reference(ckpt_path: str) -> bool:
    """Whether ``ckpt_path`` names an MLflow run or model rather than a file."""
    return ckpt_path.startswith(("runs:/", "models:/")) or bool(RUN_ID.match(ckpt_path))


def resolve_checkpoint(ckpt_path: str, tracking_uri: str, cache_dir: str | Path) -> str:
    """A local checkpoint for ``ckpt_path``: a file as it is, or an MLflow reference's run's best checkpoint.

    The checkpoint is cached as ``cache_dir/<run id>/<end time>-<size>/best.ckpt``: a run that was resumed
    (or is still running) has another end time or size, so its new best checkpoint is fetched again and
    the older copies are removed.

    Example:
        >>> resolve_checkpoint("outputs/best.ckpt", "sqlite:///mlflow.db", "/tmp/cache")
        'outputs/best.ckpt'
    """
    if not is_reference(ckpt_path):
        return ckpt_path
    client = mlflow.MlflowClient(tracking_uri)
    run_id = source_run(ckpt_path, client)
    folder, name = BEST_ARTIFACT.rsplit("/", 1)
    try:
        run = client.get_run(run_id)
        size = next(
            (item.file_size for item in client.list_artifacts(run_id, folder) if item.path == BEST_ARTIFACT),
            None,
        )
    except MlflowException as error:
        raise ConfigError(
            "ckpt_path", f"'{ckpt_path}' is not in the tracking store: {error.message}"
        ) from error
    if size is None:
        raise DataError(ckpt_path, f"run {run_id} has no {BEST_ARTIFACT} artifact")
    version = Path(cache_dir) / run_id / f"{run.info.end_time or 'running'}-{size}"
    cached = version / name
    if run.info.end_time is None or not cached.is_file():
        staged = version.with_name(f".{version.name}.{os.getpid()}.partial")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            fetched = client.download_artifacts(run_id, BEST_ARTIFACT, str(staged))
        except (MlflowException, OSError) as error:
            raise DataError(ckpt_path, f"cannot fetch {BEST_ARTIFACT} of run {run_id} ({error})") from error
        version.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, cached)
        shutil.rmtree(staged, ignore_errors=True)
    for older in version.parent.iterdir():
        if older != version and not older.name.startswith("."):
            shutil.rmtree(older, ignore_errors=True)
    return str(cached)
