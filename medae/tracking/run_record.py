"""What every MLflow run records besides metrics: parameters, tags, the config, the data's fingerprint."""

import importlib.metadata
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning import LightningModule
from lightning.pytorch.loggers import Logger, MLFlowLogger
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.utils.git_utils import get_git_branch, get_git_commit
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from omegaconf import DictConfig, OmegaConf

from medae.config.compute_environment import environment_tags
from medae.config.run_parts import as_typed
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.security.redaction import redact, redacted_config
from medae.tracking.schema import (
    FINGERPRINT_TAG,
    MODEL_TAG,
    OUTPUT_DIR_TAG,
    OVERRIDES_ARTIFACT,
    RESOLVED_CONFIG_ARTIFACT,
    TASK_TAG,
    UNRESOLVED_CONFIG_ARTIFACT,
)
from medae.tracking.store import store_lock
from medae.tracking.tracked_run import TrackedRun

TRACKED_PACKAGES = ("medae", "torch", "lightning", "monai", "torchmetrics", "hydra-core", "mlflow", "numpy")
MAX_PARAM_LENGTH = 6000
DIGEST_LENGTH = 36  # MLflow's limit on a dataset digest
# config groups logged whole as params; of the others only what the command line chose (and RUN_SETTINGS)
PARAM_GROUPS = ("model", "data", "optim", "scheduler", "loss", "application")
RUN_SETTINGS = ("trainer.max_epochs", "trainer.precision", "trainer.devices", "trainer.accelerator")


def find_mlflow_logger(loggers: Sequence[Logger]) -> MLFlowLogger | None:
    """The MLflow logger among ``loggers``, if any."""
    return next((logger for logger in loggers if isinstance(logger, MLFlowLogger)), None)


def flatten_config(cfg: DictConfig) -> dict[str, str]:
    """Resolved config as ``{"model.latent_channels": "8", ...}``, the form MLflow params take.

    Hand-written, not ``MLFlowLogger.log_hyperparams``' flattening: that joins keys with ``/`` and cuts
    values at 250 characters, where MLflow keeps 6000.

    Example:
        >>> flatten_config(OmegaConf.create({"a": {"b": 1, "c": [1, 2]}}))
        {'a.b': '1', 'a.c': '[1, 2]'}
    """
    flat: dict[str, str] = {}

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                visit(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat[prefix] = str(node)[:MAX_PARAM_LENGTH]

    visit(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def job_overrides() -> list[str] | None:
    """The command-line overrides of this Hydra job as typed (``${...}`` unresolved); None outside one."""
    if not HydraConfig.initialized():
        return None
    return as_typed(HydraConfig.get().overrides.task)


def chosen_keys() -> set[str]:
    """The keys this job's command line set (``optim.lr=...``, ``+logger.x=...``); none outside Hydra."""
    overrides = OverridesParser.create().parse_overrides(job_overrides() or [])
    return {override.get_key_element().lstrip("+~") for override in overrides}


def run_params(cfg: DictConfig, chosen: set[str]) -> dict[str, str]:
    """The params a run shows: what was trained on what, and what the command line chose.

    Every key of :data:`PARAM_GROUPS` and every top-level value, :data:`RUN_SETTINGS`, and the ``chosen``
    keys of the other groups (trainer, callbacks, logger, paths): about 60 of 140, so the UI's compare
    view and charts stay readable. The whole resolved config is the ``config/config.yaml`` artifact.

    Example:
        >>> cfg = OmegaConf.create({"seed": 1, "optim": {"lr": 0.1}, "callbacks": {"a": 1, "b": 2}})
        >>> run_params(cfg, {"callbacks.b"})
        {'seed': '1', 'optim.lr': '0.1', 'callbacks.b': '2'}
    """
    return {
        key: value
        for key, value in flatten_config(cfg).items()
        if "." not in key or key.split(".")[0] in PARAM_GROUPS or key in RUN_SETTINGS or key in chosen
    }


def data_params(cfg: DictConfig) -> dict[str, str]:
    """The ``data.*`` entries of :func:`flatten_config`: what makes runs on the same images comparable."""
    return {key: value for key, value in flatten_config(cfg).items() if key.startswith("data.")}


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


def dataset_inputs(data: DictConfig, datamodule: ReconstructionDataModule) -> list[DatasetInput]:
    """One MLflow dataset per split: ``<source>-<split>``, the data's fingerprint as digest, its size.

    The source is the data's ``root`` where it has one, else the registered source's name (the
    MNI152 template ships with nilearn).
    """
    root = data.get("root")
    source: DatasetSource = CodeDatasetSource({"medae.data": str(data.name)})
    if root:
        with warnings.catch_warnings():  # MLflow registers its local source class twice and says so
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(root))
    digest = datamodule.fingerprint()[:DIGEST_LENGTH]
    return [
        DatasetInput(
            # MLflow's stubs mark `profile` abstract; MetaDataset itself defines it
            MetaDataset(source, name=f"{data.name}-{split}", digest=digest)._to_mlflow_entity(),  # type: ignore[abstract]
            tags=[InputTag(MLFLOW_DATASET_CONTEXT, split), InputTag("medae.samples", str(size))],
        )
        for split, size in datamodule.split_sizes().items()
    ]


def record_run_setup(
    logger: MLFlowLogger,
    cfg: DictConfig,
    datamodule: ReconstructionDataModule,
    module: LightningModule,
    hydra_dir: Path | None,
) -> None:
    """Log :func:`run_params` as params (once), tags, and the whole config and overrides as artifacts.

    Values inside the job's own output folder (``paths.output_dir``, the checkpoint ``dirpath``,
    ``trainer.default_root_dir``) differ between every two jobs, so they are ``medae.path.<key>`` tags.

    Everything logged passes through :func:`medae.security.redaction.redact`, and values that came from
    the environment are masked (:func:`medae.security.redaction.redacted_config`). A resumed run
    (``logger.resumed``) keeps the params and config it has and gets fresh environment tags only,
    since its process and machine may have changed.
    """
    client, run_id = logger.experiment, logger.run_id
    run = TrackedRun(client, run_id, logger.experiment_id)
    if getattr(logger, "resumed", False):
        run.tags(environment_tags())
        return
    logged = OmegaConf.create(redacted_config(cfg))  # environment values and secrets masked
    params = run_params(logged, chosen_keys())
    job_paths = {
        key: value
        for key, value in flatten_config(logged).items()
        if value.startswith(str(cfg.paths.output_dir))
    }
    # per-job folders are tags, so the UI's "diff only" shows only what was chosen differently
    logger.log_hyperparams({key: value for key, value in params.items() if key not in job_paths})
    tags = {
        **git_state(Path.cwd()),  # the user's repository, when medae runs inside one
        **medae_source_commit(),
        **package_versions(),
        **environment_tags(),
        OUTPUT_DIR_TAG: str(cfg.paths.output_dir),
        FINGERPRINT_TAG: datamodule.fingerprint(),
        "medae.split_sizes": str(datamodule.split_sizes()),
        MODEL_TAG: cfg.model.name,
        TASK_TAG: str(cfg.get("task_name", "")),
        "medae.num_parameters": str(sum(p.numel() for p in module.parameters())),
        "medae.skipped_files": str(len(datamodule.skipped_files)),
        **{f"medae.scored.{name}": str(scored) for name, scored in datamodule.scored_sets().items()},
        **{f"medae.path.{key}": value for key, value in job_paths.items()},
    }
    run.tags({key: redact(value) for key, value in tags.items()})
    datasets = dataset_inputs(cfg.data, datamodule)
    with store_lock(cfg.logger.mlflow.tracking_uri):  # parallel jobs would insert the same dataset twice
        try:
            client.log_inputs(run_id, datasets=datasets)
        except MlflowException:  # a job on another machine inserted it in between: now it is reused
            client.log_inputs(run_id, datasets=datasets)
    run.text(OmegaConf.to_yaml(logged), RESOLVED_CONFIG_ARTIFACT)
    run.text(redact(OmegaConf.to_yaml(cfg)), UNRESOLVED_CONFIG_ARTIFACT)
    overrides = job_overrides()
    if overrides is not None:  # what medae reproduce and medae resume rebuild the job from
        run.text(json.dumps([redact(override) for override in overrides]), OVERRIDES_ARTIFACT)
    if datamodule.skipped_files:
        run.text("\n".join(datamodule.skipped_files) + "\n", "data/skipped_files.txt")
    if hydra_dir is not None and hydra_dir.is_dir():
        for path in sorted(hydra_dir.glob("*.yaml")):
            run.text(redact(path.read_text()), f"config/hydra/{path.name}")
