"""Lightning's MLflow logger, made to continue a run and to upload checkpoints as they are saved."""

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from mlflow.entities import RunStatus
from mlflow.models import ModelSignature
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

from medae.compat import process_rank
from medae.errors import ConfigError, DataError, Interrupted
from medae.security.redaction import redact, redact_values
from medae.tracking.checkpoint_artifacts import store_checkpoint
from medae.tracking.liveness import HEARTBEAT_INTERVAL_S, Heartbeat, owner_tags, release_lease
from medae.tracking.logged_model import ModelRecord, log_network
from medae.tracking.schema import (
    BEST_ARTIFACT,
    BEST_CHECKPOINT_TAG,
    FINISHED,
    LAST_ARTIFACT,
    TASK_TAG,
    store_uri,
)
from medae.tracking.store import experiment_artifact_location, open_store
from medae.tracking.store_outage import LIMIT_S, StoreOutage, StoreUnavailable
from medae.tracking.tracked_run import TrackedRun, ending

EPOCH_KEY = "epoch"  # the key Lightning adds to metrics logged at the end of an epoch


class ResumableMLFlowLogger(MLFlowLogger):
    """An ``MLFlowLogger`` that resumes runs, syncs checkpoints and leaves no run RUNNING by mistake.

    Beyond Lightning's logger:

    - ``run_id`` of an existing run continues it: the run is RUNNING again, and a metric is not logged
      at a step at or before the last step it already has. The steps a killed process logged after
      its last checkpoint are computed again, with the same values, and land once.
    - Whenever ModelCheckpoint saves, ``last.ckpt`` (every ``sync_every_n_saves`` saves) and the best
      checkpoint (when it changes) go to the artifacts ``checkpoints/last.ckpt`` and
      ``checkpoints/best.ckpt``, so a run can resume on another machine from the store alone. A local
      store gets hard links, so each checkpoint is stored once (:mod:`medae.tracking.checkpoint_artifacts`).
    - The run records its host, pid and a heartbeat (see :mod:`medae.tracking.liveness`); its name and
      tags pass through :func:`medae.security.redaction.redact`.
    - Lightning's ``finalize`` does not end the run, because testing and applications log into it
      afterwards: :meth:`end_run` (or :func:`run_status`) does.
    - The store is opened with :func:`medae.tracking.store.open_store` (schema and experiment created
      once under a lock; an unreachable server stops in seconds).

    Args:
        experiment_name: the MLflow experiment.
        run_name: name of a new run.
        tracking_uri: the store.
        tags: tags of a new run.
        artifact_location: artifact root of a new experiment in a local store (a server keeps its own).
        run_id: an existing run to continue; ``None`` starts a new one.
        sync_every_n_saves: upload ``last.ckpt`` every this many checkpoint saves (0: only when the run
            ends). Uploads of the best checkpoint happen whenever it changes.
        heartbeat_interval_s: seconds between heartbeat tags.
        system_metrics_interval_s: seconds between MLflow's system metrics (``system/*``: CPU, memory,
            disk, network, and GPU where pynvml finds one); 0 turns them off.
        log_model: log the best network as the run's MLflow model (:mod:`medae.tracking.logged_model`).
        register_as: also register it as a new version of this registered model.
        outage_limit_s: seconds a tracking store may go without answering before training stops
            (:mod:`medae.tracking.store_outage`); the metrics not sent wait for ``medae resume``.
    """

    def __init__(
        self,
        experiment_name: str = "medae",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, Any] | None = None,
        artifact_location: str | None = None,
        run_id: str | None = None,
        sync_every_n_saves: int = 1,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
        system_metrics_interval_s: float = 10.0,
        log_model: bool = True,
        register_as: str | None = None,
        outage_limit_s: float = LIMIT_S,
    ) -> None:
        if sync_every_n_saves < 0:
            raise ConfigError("logger.mlflow.sync_every_n_saves", f"must be >= 0, got {sync_every_n_saves}")
        if outage_limit_s <= 0:
            raise ConfigError("logger.mlflow.outage_limit_s", f"must be > 0 seconds, got {outage_limit_s}")
        tracking_uri = tracking_uri or store_uri()
        self.log_model = log_model
        self.register_as = register_as
        if process_rank() == 0:
            open_store(tracking_uri, experiment_name, artifact_location)
        super().__init__(
            experiment_name=experiment_name,
            run_name=redact(run_name) if run_name else None,
            tracking_uri=tracking_uri,
            tags=redact_values(dict(tags or {})),
            artifact_location=experiment_artifact_location(tracking_uri, artifact_location),
            run_id=run_id,
        )
        self.resumed = run_id is not None
        self.store = tracking_uri
        self._started = False
        self.sync_every_n_saves = sync_every_n_saves
        self.heartbeat_interval_s = heartbeat_interval_s
        self._heartbeat: Heartbeat | None = None
        self.system_metrics_interval_s = system_metrics_interval_s
        self._system_metrics: SystemMetricsMonitor | None = None
        self._last_steps: dict[str, int] = {}
        self._saves = 0
        self._synced_best: str | None = None
        self.outage = StoreOutage(tracking_uri, run_id, limit_s=outage_limit_s)
        self._unsynced_last: str | None = None
        self._artifact_uri: str | None = None
        self._ended = False

    @property
    def started(self) -> bool:
        """Whether the run exists (it is created on first use, by rank 0)."""
        return self._started

    @property
    def open_run(self) -> tuple[str, str]:
        """The run's id and its experiment's, once the run exists (:attr:`experiment` creates it)."""
        if self.run_id is None or self.experiment_id is None:
            raise RuntimeError("the MLflow run is not open yet: use the logger's experiment first")
        return self.run_id, self.experiment_id

    @property
    def experiment(self) -> Any:
        """The MLflow client; on first use the run is created or re-opened and starts its heartbeat."""
        client = super().experiment
        if not self._started and process_rank() == 0:  # other ranks get Lightning's dummy
            self._started = True
            run_id = self.outage.run_id = self.open_run[0]
            if self.resumed:
                client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            TrackedRun(client, run_id, None).tags(owner_tags(self.heartbeat_interval_s))
            self._heartbeat = Heartbeat(self.store, run_id, self.heartbeat_interval_s)
            self._heartbeat.start()
            if self.system_metrics_interval_s > 0:  # CPU, memory, disk, network; GPU with pynvml
                self._system_metrics = SystemMetricsMonitor(
                    run_id,
                    sampling_interval=self.system_metrics_interval_s,
                    resume_logging=self.resumed,
                    tracking_uri=self.store,
                )
                self._system_metrics.start()
        return client

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log ``metrics`` at ``step``, leaving out those a resumed run already has at this step or later.

        Lightning adds ``epoch`` to what the module logs at the end of an epoch (every medae metric):
        those are stepped by the epoch, so the UI's charts and the image grids share one axis.

        While the store does not answer, metrics wait in order and go out when it does (:attr:`outage`).

        Raises:
            DataError: another process took the run over (:attr:`Heartbeat.lost`); this one stops.
        """
        if self._heartbeat is not None and self._heartbeat.lost:
            raise DataError(
                f"run {self.run_id}",
                f"was taken over by {self._heartbeat.lost} after this process missed its lease; "
                "this process stops so that one process owns the run",
            )
        if EPOCH_KEY in metrics:  # before any wait: metrics sent later by resume keep the same steps
            step = int(metrics[EPOCH_KEY])
        self.outage.send_metrics(metrics, step, self._send_metrics)

    def _send_metrics(self, metrics: Mapping[str, float], step: int | None) -> None:
        if self.resumed:
            metrics = {key: value for key, value in metrics.items() if (step or 0) > self._last_step(key)}
            if not metrics:
                return
        super().log_metrics(metrics, step)

    def _last_step(self, key: str) -> int:
        if key not in self._last_steps:
            history = self.experiment.get_metric_history(self.run_id, key)
            self._last_steps[key] = max((metric.step for metric in history), default=-1)
        return self._last_steps[key]

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Upload the last checkpoint (every ``sync_every_n_saves`` saves) and a new best checkpoint."""
        self._saves += 1
        self._unsynced_last = checkpoint_callback.last_model_path or None
        self.outage.checkpoint = self._unsynced_last or checkpoint_callback.best_model_path or None
        if self.sync_every_n_saves and self._saves % self.sync_every_n_saves == 0:
            self.outage.attempt(self._sync_last)
        best = checkpoint_callback.best_model_path
        if best and best != self._synced_best and Path(best).is_file():
            self.outage.attempt(lambda: self._sync_best(best))

    def _sync_best(self, best: str) -> None:
        self._upload(best, BEST_ARTIFACT)
        TrackedRun(self.experiment, self.run_id, None).tags({BEST_CHECKPOINT_TAG: Path(best).name})
        self._synced_best = best

    def _sync_last(self) -> None:
        if self._unsynced_last and Path(self._unsynced_last).is_file():
            self._upload(self._unsynced_last, LAST_ARTIFACT)
        self._unsynced_last = None

    @rank_zero_only
    def _upload(self, path: str, artifact: str) -> None:
        if self._artifact_uri is None:  # fixed for the run: looked up once, not on every save
            self._artifact_uri = self.experiment.get_run(self.run_id).info.artifact_uri
        store_checkpoint(self.experiment, self.open_run[0], self._artifact_uri, path, artifact)

    def finalize(self, status: str = "success") -> None:
        """Leave the run open: Lightning calls this after each stage, and the run ends in :meth:`end_run`."""

    @rank_zero_only
    def log_network(
        self,
        package: Path,
        loader_module: str,
        signature: ModelSignature,
        example: np.ndarray,
        record: ModelRecord,
    ) -> str | None:
        """Log a model package as the run's MLflow model (when ``log_model``); the model's URI.

        See :func:`medae.tracking.logged_model.log_network` for the arguments.
        """
        if not self.log_model:
            return None
        logged: list[str] = []

        def log() -> None:
            logged.append(
                log_network(
                    self.store,
                    *self.open_run,
                    package,
                    loader_module,
                    signature,
                    example,
                    record,
                    self.register_as,
                )
            )

        # the end of a run goes through the same bounded outage as training: one line, the run resumable
        while not self.outage.attempt(log):
            time.sleep(1.0)
        return logged[-1]

    def end_run(self, status: str) -> None:
        """Send what waits, upload a last checkpoint not yet uploaded, and end the run with ``status``.

        While the store does not answer this waits for it, up to the outage limit; then the metrics not
        sent go to a file beside the checkpoints and, for a run that finished, :class:`StoreUnavailable`
        says so in one line (a run that failed or was killed keeps its own error).

        Args:
            status: ``FINISHED``, ``FAILED`` or ``KILLED``.
        """
        if not self._started or self._ended:
            return
        self._ended = True
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._system_metrics is not None:
            self._system_metrics.finish()
        if self._heartbeat is not None and self._heartbeat.lost:
            return  # the run is another process's now
        try:
            while not self.outage.attempt(lambda: self._finish(status)):
                time.sleep(1.0)
        except StoreUnavailable:
            self.outage.save_unsent()
            if status == FINISHED:
                raise
            # one last try at the state alone (what waits is in the file resume sends); if the store is
            # still away, the run's lease expires and the next medae command marks it KILLED
            with contextlib.suppress(Exception):
                TrackedRun(self.experiment, self.run_id, self.experiment_id).end(status)

    def _finish(self, status: str) -> None:
        self.outage.drain(self._send_metrics)
        self._sync_last()
        release_lease(self.experiment, self.open_run[0])
        TrackedRun(self.experiment, self.run_id, self.experiment_id).end(status)


@contextlib.contextmanager
def run_status(logger: MLFlowLogger | None) -> Iterator[None]:
    """End the logger's run as the block ends (:func:`medae.tracking.tracked_run.ending`).

    An :class:`~medae.errors.Interrupted` learns the run's id, so the message can say how to resume it.
    """
    if not isinstance(logger, ResumableMLFlowLogger):
        yield
        return
    try:
        with ending(logger.end_run):
            yield
    except Interrupted as stop:
        if logger.started:
            stop.run_id = logger.run_id
            stop.task = logger.experiment.get_run(logger.run_id).data.tags.get(TASK_TAG)
        raise
