"""A requeued SLURM job goes on in the MLflow run it started instead of opening a new one.

SLURM requeues a job that was preempted or ran out of time (``hydra/launcher=slurm`` lets submitit do
so ``max_num_timeout`` times). The job keeps its id, SLURM counts the restarts in
``SLURM_RESTART_COUNT``, and Hydra gives it the same output folder. Each run records its job
(``medae.slurm.job``), so the restarted job finds the run that it left unfinished in that folder and
continues it from its last checkpoint, as ``medae resume`` would.
"""

import logging
import os

from mlflow import MlflowClient
from mlflow.entities import Run
from omegaconf import DictConfig

from medae.recovery.continuation import continuation_config, count_resume
from medae.tracking.liveness import slurm_job
from medae.tracking.schema import KILLED, OUTPUT_DIR_TAG, SLURM_JOB_TAG
from medae.tracking.store import open_client
from medae.tracking.tracked_run import TrackedRun

log = logging.getLogger(__name__)


def restart_count() -> int:
    """How often SLURM has requeued this job (0 outside SLURM)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def unfinished_run(client: MlflowClient, job: str, output_dir: str) -> Run | None:
    """The newest run of ``job`` in ``output_dir`` that did not finish."""
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    query = f"tags.`{SLURM_JOB_TAG}` = '{job}' and attributes.status != 'FINISHED'"
    runs = client.search_runs(experiments, filter_string=query, order_by=["attributes.start_time DESC"])
    return next((run for run in runs if run.data.tags.get(OUTPUT_DIR_TAG) == output_dir), None)


def continue_requeued_run(cfg: DictConfig) -> DictConfig:
    """``cfg`` set to continue this job's unfinished run when SLURM requeued the job; else ``cfg``.

    The earlier incarnation is gone once SLURM restarts the job, so a run it left RUNNING is marked
    KILLED first.
    """
    job, restarts = slurm_job(), restart_count()
    if job is None or restarts == 0:
        return cfg
    tracking_uri = str(cfg.logger.mlflow.tracking_uri)
    client = open_client(tracking_uri, write=True)
    run = unfinished_run(client, job, str(cfg.paths.output_dir))
    if run is None:
        log.info("SLURM job %s restart %d: no unfinished run in this folder; starting one", job, restarts)
        return cfg
    if run.info.status == "RUNNING":
        TrackedRun(client, run.info.run_id, None).end(KILLED, f"SLURM requeued job {job}")
    log.info("SLURM job %s restart %d: continuing run %s", job, restarts, run.info.run_id)
    continued = continuation_config(cfg, client, run, tracking_uri, bool(cfg.get("trust_checkpoint")))
    count_resume(client, run)
    return continued
