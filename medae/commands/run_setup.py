"""The flat typed record a run's tracking receives, built from the composed config by the command."""

import json
from pathlib import Path

from lightning import LightningModule
from omegaconf import DictConfig, OmegaConf

from medae.config.compute_environment import environment_tags
from medae.config.run_parts import chosen_keys, job_overrides
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.security.redaction import redact, redacted_config
from medae.tracking.run_record import (
    DataRecord,
    RunSetup,
    flatten_config,
    git_state,
    medae_source_commit,
    package_versions,
    run_params,
)
from medae.tracking.schema import (
    FINGERPRINT_TAG,
    MODEL_TAG,
    OUTPUT_DIR_TAG,
    OVERRIDES_ARTIFACT,
    RESOLVED_CONFIG_ARTIFACT,
    TASK_TAG,
    UNRESOLVED_CONFIG_ARTIFACT,
)


def run_setup(
    cfg: DictConfig, datamodule: ReconstructionDataModule, module: LightningModule, hydra_dir: Path | None
) -> RunSetup:
    """Params, tags, data record and config texts of the run ``cfg`` describes, redacted.

    Params are :func:`medae.tracking.run_record.run_params` of the config with environment values and
    secrets masked (:func:`medae.security.redaction.redacted_config`). Values inside the job's own output
    folder (``paths.output_dir``, the checkpoint ``dirpath``, ``trainer.default_root_dir``) differ between
    every two jobs, so they are ``medae.path.<key>`` tags, and the UI's "diff only" shows only what was
    chosen differently. Every text passes through :func:`medae.security.redaction.redact`.
    """
    logged = redacted_config(cfg)
    fingerprint, split_sizes = datamodule.fingerprint(), datamodule.split_sizes()
    output_dir = str(cfg.paths.output_dir)
    job_paths = {key: value for key, value in flatten_config(logged).items() if value.startswith(output_dir)}
    params = {key: value for key, value in run_params(logged, chosen_keys()).items() if key not in job_paths}
    tags = {
        **git_state(Path.cwd()),  # the user's repository, when medae runs inside one
        **medae_source_commit(),
        **package_versions(),
        **environment_tags(),
        OUTPUT_DIR_TAG: output_dir,
        FINGERPRINT_TAG: fingerprint,
        "medae.split_sizes": str(split_sizes),
        MODEL_TAG: str(cfg.model.name),
        TASK_TAG: str(cfg.get("task_name", "")),
        "medae.num_parameters": str(sum(p.numel() for p in module.parameters())),
        "medae.skipped_files": str(len(datamodule.skipped_files)),
        **{f"medae.scored.{name}": str(scored) for name, scored in datamodule.scored_sets().items()},
        **{f"medae.path.{key}": value for key, value in job_paths.items()},
    }
    root = cfg.data.get("root")
    data = DataRecord(str(cfg.data.name), str(root) if root else None, fingerprint, split_sizes)
    texts = {
        RESOLVED_CONFIG_ARTIFACT: OmegaConf.to_yaml(OmegaConf.create(logged)),
        UNRESOLVED_CONFIG_ARTIFACT: redact(OmegaConf.to_yaml(cfg)),
    }
    overrides = job_overrides()
    if overrides is not None:  # what medae reproduce and medae resume rebuild the job from
        texts[OVERRIDES_ARTIFACT] = json.dumps([redact(override) for override in overrides])
    if datamodule.skipped_files:
        texts["data/skipped_files.txt"] = "\n".join(datamodule.skipped_files) + "\n"
    if hydra_dir is not None and hydra_dir.is_dir():
        for path in sorted(hydra_dir.glob("*.yaml")):
            texts[f"config/hydra/{path.name}"] = redact(path.read_text())
    tags = {key: redact(value) for key, value in tags.items()}
    return RunSetup(params, tags, data, texts, str(cfg.logger.mlflow.tracking_uri))
