"""What every MLflow run records besides metrics, as one flat typed record, and its logging.

The command that composed the run builds a :class:`RunSetup` (:mod:`medae.commands.run_setup`); tracking
receives plain strings and numbers, never the config itself.
"""

import importlib.metadata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.utils.git_utils import get_git_branch, get_git_commit
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from medae.config.compute_environment import environment_tags
from medae.tracking.store import store_lock
from medae.tracking.tracked_run import TrackedRun

TRACKED_PACKAGES = ("medae", "torch", "lightning", "monai", "torchmetrics", "hydra-core", "mlflow", "numpy")
MAX_PARAM_LENGTH = 6000
DIGEST_LENGTH = 36  # MLflow's limit on a dataset digest
# config groups logged whole as params; of the others only what the command line chose (and RUN_SETTINGS)
PARAM_GROUPS = ("model", "data", "optim", "scheduler", "loss", "application")
RUN_SETTINGS = ("trainer.max_epochs", "trainer.precision", "trainer.devices", "trainer.accelerator")


@dataclass(frozen=True)
class DataRecord:
    """The data a run used: its source, its fingerprint and the size of each split.

    Attributes:
        name: the data source's registered name (``data.name``).
        root: the folder or file it was read from; ``None`` for data that ships with a package.
        fingerprint: SHA-256 of every preprocessed sample (``medae.fingerprint``).
        split_sizes: samples in each split and held-out set.
    """

    name: str
    root: str | None
    fingerprint: str
    split_sizes: dict[str, int]


@dataclass(frozen=True)
class RunSetup:
    """Everything a new run records besides metrics: flat, typed and already redacted.

    Attributes:
        params: MLflow params (``"model.latent_channels": "8"``).
        tags: MLflow tags.
        data: what the run trained and scored on; one MLflow dataset per split.
        texts: artifact path -> text (the resolved and the unresolved config, the overrides, Hydra's files).
        tracking_uri: the store, whose lock serialises the dataset records of parallel jobs.

    Example:
        >>> setup = RunSetup({"seed": "1"}, {}, DataRecord("mni152", None, "ab", {"train": 2}), {}, "sqlite://")
        >>> setup.data.split_sizes
        {'train': 2}
    """

    params: dict[str, str]
    tags: dict[str, str]
    data: DataRecord
    texts: dict[str, str] = field(default_factory=dict)
    tracking_uri: str = ""


def find_mlflow_logger(loggers: Sequence[Logger]) -> MLFlowLogger | None:
    """The MLflow logger among ``loggers``, if any."""
    return next((logger for logger in loggers if isinstance(logger, MLFlowLogger)), None)


def flatten_config(config: Mapping[str, Any]) -> dict[str, str]:
    """A resolved config as plain data, flattened: ``{"model.latent_channels": "8", ...}`` (MLflow params).

    Hand-written, not ``MLFlowLogger.log_hyperparams``' flattening: that joins keys with ``/`` and cuts
    values at 250 characters, where MLflow keeps 6000.

    Example:
        >>> flatten_config({"a": {"b": 1, "c": [1, 2]}})
        {'a.b': '1', 'a.c': '[1, 2]'}
    """
    flat: dict[str, str] = {}

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping) and node:
            for key, value in node.items():
                visit(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat[prefix] = str(node)[:MAX_PARAM_LENGTH]

    visit(config, "")
    return flat


def run_params(config: Mapping[str, Any], chosen: set[str]) -> dict[str, str]:
    """The params a run shows: what was trained on what, and what the command line chose.

    Every key of :data:`PARAM_GROUPS` and every top-level value, :data:`RUN_SETTINGS`, and the ``chosen``
    keys of the other groups (trainer, callbacks, logger, paths): about 60 of 140, so the UI's compare
    view and charts stay readable. The whole resolved config is the ``config/config.yaml`` artifact.

    Example:
        >>> run_params({"seed": 1, "optim": {"lr": 0.1}, "callbacks": {"a": 1, "b": 2}}, {"callbacks.b"})
        {'seed': '1', 'optim.lr': '0.1', 'callbacks.b': '2'}
    """
    return {
        key: value
        for key, value in flatten_config(config).items()
        if "." not in key or key.split(".")[0] in PARAM_GROUPS or key in RUN_SETTINGS or key in chosen
    }


def data_params(data: Mapping[str, Any]) -> dict[str, str]:
    """The ``data.*`` params of a resolved ``data`` node: what makes runs on the same images comparable.

    Example:
        >>> data_params({"name": "mni152", "noise_std": 0.1})
        {'data.name': 'mni152', 'data.noise_std': '0.1'}
    """
    return flatten_config({"data": data})


def git_state(directory: Path) -> dict[str, str]:
    """Commit, branch and dirty flag of the repository holding ``directory`` (empty outside one).

    MLflow's own git helpers, and GitPython (an MLflow dependency) for the uncommitted changes.
    """
    commit = get_git_commit(str(directory))
    if commit is None:
        return {}
    from git import Repo

    repository = Repo(directory, search_parent_directories=True)
    return {
        "mlflow.source.git.commit": commit,
        "mlflow.source.git.branch": get_git_branch(str(directory)) or "",
        "medae.git_dirty": str(repository.is_dirty(untracked_files=True)),
    }


def medae_source_commit() -> dict[str, str]:
    """The commit of the medae source that runs, when it is a git checkout (an editable install)."""
    commit = get_git_commit(str(Path(__file__).resolve().parent))
    return {"medae.source.git.commit": commit} if commit else {}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on, as ``medae.version.<name>`` tags.

    Tags, beside MLflow's run-context tags, so that the runs table filters and sorts by version.
    """
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[f"medae.version.{name}"] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[f"medae.version.{name}"] = "not installed"
    return versions


def dataset_inputs(data: DataRecord) -> list[DatasetInput]:
    """One MLflow dataset per split: ``<source>-<split>``, the data's fingerprint as digest, its size.

    The source is the data's ``root`` where it has one, else the registered source's name (the
    MNI152 template ships with nilearn).
    """
    source: DatasetSource = CodeDatasetSource({"medae.data": data.name})
    if data.root:
        with warnings.catch_warnings():  # MLflow registers its local source class twice and says so
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(data.root)
    digest = data.fingerprint[:DIGEST_LENGTH]
    return [
        DatasetInput(
            # MLflow's stubs mark `profile` abstract; MetaDataset itself defines it
            MetaDataset(source, name=f"{data.name}-{split}", digest=digest)._to_mlflow_entity(),  # type: ignore[abstract]
            tags=[InputTag(MLFLOW_DATASET_CONTEXT, split), InputTag("medae.samples", str(size))],
        )
        for split, size in data.split_sizes.items()
    ]


def record_run_setup(logger: MLFlowLogger, setup: RunSetup) -> None:
    """Log a new run's params (once), tags, datasets and texts; a resumed run gets fresh environment tags.

    A resumed run (``logger.resumed``) keeps the params and config it has, since they describe the job it
    continues; its process and machine may have changed.
    """
    client, run_id = logger.experiment, logger.run_id
    run = TrackedRun(client, run_id, logger.experiment_id)
    if getattr(logger, "resumed", False):
        run.tags(environment_tags())
        return
    logger.log_hyperparams(setup.params)
    run.tags(setup.tags)
    datasets = dataset_inputs(setup.data)
    with store_lock(setup.tracking_uri):  # parallel jobs would insert the same dataset twice
        try:
            client.log_inputs(run_id, datasets=datasets)
        except MlflowException:  # a job on another machine inserted it in between: now it is reused
            client.log_inputs(run_id, datasets=datasets)
    for artifact, text in setup.texts.items():
        run.text(text, artifact)
