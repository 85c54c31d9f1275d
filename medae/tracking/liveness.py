"""Which process owns a RUNNING MLflow run: a lease that one process holds, renewed by its heartbeat.

A run records a lease (``medae.lease``: the machine's boot id, the pid namespace, the pid and the
process's start time) and when it expires (``medae.lease_expires``), renewed with ``medae.heartbeat``
every minute while the process runs. The owner of a run is dead when its lease expired (a machine
that is gone, a process that hangs), or, on this machine and in this pid namespace, when its pid no
longer runs or belongs to a process that started later. Hostnames and pids alone decide nothing:
containers share hostnames and reuse pids. A process that ends its run releases the lease, so
``medae resume`` can take the run over at once; two that try at the same moment are told apart by
writing the lease, waiting, and reading which one the store kept.
"""

import functools
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import psutil
from mlflow import MlflowClient
from mlflow.entities import Run

from medae.errors import DataError, how_to_continue
from medae.tracking.schema import (
    HEARTBEAT_TAG,
    HOST_TAG,
    KILLED,
    LEASE_EXPIRES_TAG,
    LEASE_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    SLURM_JOB_TAG,
    TASK_TAG,
)
from medae.tracking.tracked_run import TrackedRun

HEARTBEAT_INTERVAL_S = 60.0
# a lease lasts this many heartbeats without renewal
LEASE_BEATS = 3
# two processes with one pid started less than this apart are taken to be the same process
START_TOLERANCE_S = 1.0
# how long a process that wrote a lease waits before reading which lease the store kept
SETTLE_S = 1.5


def slurm_job() -> str | None:
    """The SLURM job of this process (``<array job>_<task>`` for an array task); None outside SLURM.

    SLURM keeps the id when it requeues a job, so a requeued job can find the run it started.
    """
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array_job}_{task}" if array_job and task else os.environ.get("SLURM_JOB_ID")


@functools.cache
def machine() -> str:
    """The kernel's boot id and pid namespace: processes that see the same pids share this value."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # not Linux: the host name stands in
        boot, namespace = socket.gethostname(), 0
    return f"{boot}/{namespace}"


def lease_token() -> str:
    """The lease of this process: ``<boot id>/<pid namespace>/<pid>/<start time>``."""
    return f"{machine()}/{os.getpid()}/{psutil.Process().create_time():.3f}"


def renewal_tags(interval_s: float = HEARTBEAT_INTERVAL_S) -> dict[str, str]:
    """A heartbeat now and the lease's new expiry (the lease itself is written once, when it is taken)."""
    now = time.time()
    return {HEARTBEAT_TAG: f"{now:.0f}", LEASE_EXPIRES_TAG: f"{now + LEASE_BEATS * interval_s:.0f}"}


def lease_tags(interval_s: float = HEARTBEAT_INTERVAL_S) -> dict[str, str]:
    """The lease of this process with its expiry."""
    return {LEASE_TAG: lease_token(), **renewal_tags(interval_s)}


def owner_tags(interval_s: float = HEARTBEAT_INTERVAL_S) -> dict[str, str]:
    """Tags naming this process (and its SLURM job, if any) as the owner of a run, with its lease."""
    job = slurm_job()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_START_TAG: f"{psutil.Process().create_time():.3f}",
        **lease_tags(interval_s),
        **({SLURM_JOB_TAG: job} if job else {}),
    }


def process_is_gone(pid: int, started: float) -> bool:
    """Whether process ``pid`` of this machine, started at ``started``, no longer runs."""
    try:
        now_started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False
    return bool(abs(now_started - started) > START_TOLERANCE_S)


def owner_is_dead(run: Run) -> bool:
    """Whether the process that holds the run's lease is gone: lease expired, or its pid ended here.

    A run without a lease (logged by an earlier medae) is judged by its host name and pid.
    """
    tags = run.data.tags
    lease = tags.get(LEASE_TAG)
    if not lease:
        if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
            return False
        return process_is_gone(int(tags[PID_TAG]), float(tags.get(PROCESS_START_TAG, 0)))
    expires = float(tags.get(LEASE_EXPIRES_TAG, 0))
    boot, namespace, pid, started = lease.split("/")
    if expires == 0 or f"{boot}/{namespace}" != machine():  # released, or judged by its expiry
        return time.time() > expires
    return process_is_gone(int(pid), float(started))


def holder(run: Run) -> str:
    """Who holds the run's lease, for a message: host, pid and the heartbeat's age."""
    tags = run.data.tags
    age = heartbeat_age(run)
    beat = f", last heartbeat {age:.0f} s ago" if age is not None else ""
    return f"process {tags.get(PID_TAG, '?')} on {tags.get(HOST_TAG, '?')}{beat}"


def take_lease(client: MlflowClient, run_id: str, settle_s: float = SETTLE_S) -> None:
    """Make this process the run's one owner, or raise a DataError naming the process that is.

    Raises:
        DataError: a live process holds the lease, or another one took it at the same moment.
    """
    run = client.get_run(run_id)
    lease = run.data.tags.get(LEASE_TAG)
    if lease and lease != lease_token() and not owner_is_dead(run):
        expires = float(run.data.tags.get(LEASE_EXPIRES_TAG, 0)) - time.time()
        raise DataError(
            f"run {run_id}",
            f"is owned by {holder(run)}; its lease ends when that process ends or in {max(expires, 0):.0f} s "
            "without a heartbeat",
        )
    mine = owner_tags()  # the process, not only its lease: a refused rival names this pid
    TrackedRun(client, run_id, None).tags(mine)
    time.sleep(settle_s)
    kept = client.get_run(run_id)
    if kept.data.tags.get(LEASE_TAG) != mine[LEASE_TAG]:
        raise DataError(
            f"run {run_id}", f"was taken over just now by {holder(kept)}; only one process may own it"
        )


def release_lease(client: MlflowClient, run_id: str) -> None:
    """Give up this process's lease on the run (it ended), so a resume need not wait for it to expire."""
    run = client.get_run(run_id)
    if run.data.tags.get(LEASE_TAG) == lease_token():
        TrackedRun(client, run_id, None).tags({LEASE_EXPIRES_TAG: "0"})


def heartbeat_age(run: Run) -> float | None:
    """Seconds since the run's last heartbeat, if it has one."""
    beat = run.data.tags.get(HEARTBEAT_TAG)
    return time.time() - float(beat) if beat else None


class Heartbeat:
    """A daemon thread that renews the run's lease every ``interval_s`` seconds until stopped.

    If another process holds the lease when it comes to renew it (this one stalled past the lease's
    expiry and the run was resumed elsewhere), it stops renewing and :attr:`lost` names that process.

    Args:
        tracking_uri: the store.
        run_id: the run to keep alive.
        interval_s: seconds between beats.
    """

    def __init__(self, tracking_uri: str, run_id: str, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.client, self.run_id = MlflowClient(tracking_uri), run_id
        self.run = TrackedRun(self.client, run_id, None)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="medae-heartbeat", daemon=True)
        self.lost: str | None = None

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
                run = self.client.get_run(self.run_id)
                lease = run.data.tags.get(LEASE_TAG)
                if lease and lease != lease_token():
                    self.lost = holder(run)
                    return
                self.run.tags(renewal_tags(self.interval_s))  # never the lease: a new owner's would be lost
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
            f"medae: run {run.info.run_id} ({run.info.run_name}) was left RUNNING by {holder(run)}, "
            f"which is gone; marked KILLED: {how_to_continue(run.info.run_id, run.data.tags.get(TASK_TAG))}",
            file=sys.stderr,
        )
    return killed
