"""One parent MLflow run per ``-m`` launch, so the UI groups a sweep's jobs under it."""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.entities import RunStatus
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from medae.run_helpers import swept_keys
from medae.tracking_store import store_lock

SWEEP_DIR_TAG = "medae.sweep.dir"
PARENT_TAG = "medae.sweep.parent"


def sweep_parent(logger: MLFlowLogger, tracking_uri: str, sweep_dir: str, name: str) -> str:
    """The id of the sweep's parent run in the logger's experiment, created by the first job to ask.

    The parent holds no metrics; it is FINISHED at once and exists to group its children.
    Jobs on one machine agree through :func:`medae.tracking_store.store_lock`.
    """
    client = logger.experiment
    query = f"tags.`{SWEEP_DIR_TAG}` = '{sweep_dir}' and tags.`{PARENT_TAG}` = 'true'"
    with store_lock(tracking_uri):
        found = client.search_runs([logger.experiment_id], filter_string=query, max_results=1)
        if found:
            return found[0].info.run_id
        run = client.create_run(
            logger.experiment_id, run_name=name, tags={SWEEP_DIR_TAG: sweep_dir, PARENT_TAG: "true"}
        )
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
        return run.info.run_id


def nest_in_sweep(logger: MLFlowLogger | None, tracking_uri: str) -> None:
    """Make the logger's run a child of its ``-m`` launch's parent run (a no-op outside a sweep)."""
    if logger is None or not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    hydra = HydraConfig.get()
    varied = ", ".join(sorted(swept_keys(Path(hydra.sweep.dir), hydra.sweeper.get("params")))) or "jobs"
    name = f"sweep {Path(hydra.sweep.dir).name}: {varied}"
    parent = sweep_parent(logger, tracking_uri, str(hydra.sweep.dir), name)
    logger.experiment.set_tag(logger.run_id, MLFLOW_PARENT_RUN_ID, parent)
