"""Which process owns a RUNNING MLflow run, whether it still lives, and marking orphaned runs KILLED.

A run records ``medae.host``, ``medae.pid`` and ``medae.process_start`` when it starts or resumes,
and ``medae.heartbeat`` every minute while it runs. A run left RUNNING by a process that is gone
(``kill -9``, the OOM killer) is provably dead when it was started on this host and its pid no
longer runs, or now belongs to a process that started later. Runs from other hosts are never
marked: only their heartbeat's age is shown.
"""

import os
import socket
import sys
import threading
import time
from collections.abc import Iterable

import psutil
from mlflow import MlflowClient
from mlflow.entities import Run

from medae.tracking.schema import (
    HEARTBEAT_TAG,
    HOST_TAG,
    KILLED,
    PID_TAG,
    PROCESS_START_TAG,
    SLURM_JOB_TAG,
)
from medae.tracking.tracked_run import TrackedRun

HEARTBEAT_INTERVAL_S = 60.0
# two processes with one pid started less than this apart are taken to be the same process
START_TOLERANCE_S = 1.0


def slurm_job() -> str | None:
    """The SLURM job of this process (``<array job>_<task>`` for an array task); None outside SLURM.

    SLURM keeps the id when it requeues a job, so a requeued job can find the run it started.
    """
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array_job}_{task}" if array_job and task else os.environ.get("SLURM_JOB_ID")


def owner_tags() -> dict[str, str]:
    """Tags naming this process (and its SLURM job, if any) as the owner of a run."""
    job = slurm_job()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_START_TAG: f"{psutil.Process().create_time():.3f}",
        HEARTBEAT_TAG: f"{time.time():.0f}",
        **({SLURM_JOB_TAG: job} if job else {}),
    }


def owner_is_dead(run: Run) -> bool:
    """Whether the process that owns a RUNNING run is provably gone (same host, pid gone or reused)."""
    tags = run.data.tags
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        started = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False
    recorded = float(tags.get(PROCESS_START_TAG, started))
    return abs(started - recorded) > START_TOLERANCE_S


def heartbeat_age(run: Run) -> float | None:
    """Seconds since the run's last heartbeat, if it has one."""
    beat = run.data.tags.get(HEARTBEAT_TAG)
    return time.time() - float(beat) if beat else None


class Heartbeat:
    """A daemon thread that sets the run's heartbeat tag every ``interval_s`` seconds until stopped.

    Args:
        tracking_uri: the store.
        run_id: the run to keep alive.
        interval_s: seconds between beats.
    """

    def __init__(self, tracking_uri: str, run_id: str, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.run = TrackedRun(MlflowClient(tracking_uri), run_id, None)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="medae-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run.tags({HEARTBEAT_TAG: f"{time.time():.0f}"})
            except Exception as error:  # a store that is briefly away must not end training
                print(f"medae: warning: heartbeat of run {self.run.run_id} failed: {error}", file=sys.stderr)


def running_runs(client: MlflowClient) -> Iterable[tuple[Run, str]]:
    """Every RUNNING run of the store with its experiment's name."""
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if not experiments:
        return []
    runs = client.search_runs(
        list(experiments), filter_string="attributes.status = 'RUNNING'", max_results=5000
    )
    return [(run, experiments[run.info.experiment_id]) for run in runs]


def mark_dead_runs_killed(client: MlflowClient) -> list[Run]:
    """Mark each RUNNING run whose process is provably gone as KILLED; print how to resume each."""
    killed = []
    for run, _ in running_runs(client):
        if not owner_is_dead(run):
            continue
        TrackedRun(client, run.info.run_id, None).end(KILLED, "its process ended without closing the run")
        killed.append(run)
        print(
            f"medae: run {run.info.run_id} ({run.info.run_name}) was left RUNNING by process "
            f"{run.data.tags[PID_TAG]}, which is gone; marked KILLED. "
            f"Continue it: medae resume {run.info.run_id}",
            file=sys.stderr,
        )
    return killed
