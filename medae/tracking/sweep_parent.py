"""A ``-m`` job's place in its launch: its number and folder as tags, and one parent run per launch.

The parent run lets the UI group a sweep's jobs under it.
"""

from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from medae.config.run_parts import as_typed, short_keys, sweep_job, swept_keys
from medae.tracking.schema import FINISHED, PARENT_TAG, SWEEP_DIR_TAG, SWEEP_JOB_TAG
from medae.tracking.store import store_lock
from medae.tracking.tracked_run import TrackedRun


def sweep_parent(logger: MLFlowLogger, tracking_uri: str, sweep_dir: str, name: str) -> str:
    """The id of the sweep's parent run in the logger's experiment, created by the first job to ask.

    The parent holds no metrics; it is FINISHED at once and exists to group its children.
    Jobs on one machine agree through :func:`medae.tracking.store.store_lock`.
    """
    client = logger.experiment
    query = f"tags.`{SWEEP_DIR_TAG}` = '{sweep_dir}' and tags.`{PARENT_TAG}` = 'true'"
    with store_lock(tracking_uri):
        found = client.search_runs([logger.experiment_id], filter_string=query, max_results=1)
        if found:
            return str(found[0].info.run_id)
        run = client.create_run(
            logger.experiment_id, run_name=name, tags={SWEEP_DIR_TAG: sweep_dir, PARENT_TAG: "true"}
        )
        TrackedRun(client, run.info.run_id, logger.experiment_id).end(FINISHED)
        return str(run.info.run_id)


def record_sweep_job(logger: MLFlowLogger | None, tracking_uri: str) -> None:
    """Tag the run with its job number, sweep folder and Optuna trial, and nest it in the launch's parent.

    A no-op outside a ``-m`` launch.
    """
    hydra = sweep_job()
    if logger is None or hydra is None:
        return
    sweep_dir = str(hydra.sweep.dir)
    tags = {SWEEP_JOB_TAG: str(hydra.job.num), SWEEP_DIR_TAG: sweep_dir}
    if "optuna" in str(hydra.sweeper.get("_target_", "")):
        from medae.tracking.optuna_trial import link_trial  # optuna comes with medae[sweep]

        tags |= link_trial(hydra.sweeper, as_typed(hydra.overrides.task), hydra.job.num, str(logger.run_id))
    name = f"sweep: {' '.join(short_keys(sorted(swept_keys(hydra)))) or 'jobs'} ({Path(sweep_dir).name})"
    tags[MLFLOW_PARENT_RUN_ID] = sweep_parent(logger, tracking_uri, sweep_dir, name)
    TrackedRun(logger.experiment, logger.run_id, logger.experiment_id).tags(tags)
