"""One MLflow run as medae writes it: metrics, params, tags, figures, text, runs beside it, its end state.

Every command and application writes a run through a :class:`TrackedRun`, which takes its store's client
explicitly (no process-global tracking URI), and ends runs through :func:`ending`, so FINISHED, FAILED
and KILLED mean the same everywhere.
"""

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from medae.errors import Interrupted
from medae.security.redaction import without_user_info
from medae.tracking.schema import (
    APPLICATION_TAG,
    COMPARED_WITH_TAG,
    END_REASON_TAG,
    FAILED,
    FINISHED,
    KILLED,
    METHOD_TAG,
    MODEL_TAG,
    TASK_TAG,
)
from medae.tracking.store_outage import StoreUnavailable

log = logging.getLogger(__name__)


@contextlib.contextmanager
def ending(end: Callable[[str], None]) -> Iterator[None]:
    """Call ``end`` with the run's final state when the block leaves.

    FINISHED when it completes, KILLED when a signal stopped it (:class:`medae.errors.Interrupted`) or the
    store stayed away (:class:`~medae.tracking.store_outage.StoreUnavailable`: ``medae resume`` goes on),
    FAILED on any other error (which is raised again).
    """
    try:
        yield
    except (Interrupted, StoreUnavailable):
        end(KILLED)
        raise
    except BaseException:
        end(FAILED)
        raise
    end(FINISHED)


class TrackedRun:
    """Metrics, params, tags, figures and the end state of one MLflow run; a no-op without a client.

    Args:
        client: the store's client, or ``None`` when MLflow logging is off (``logger=none``).
        run_id: the run to log into; ``None`` for an experiment without a run yet.
        experiment_id: the run's experiment, where :meth:`compared_run` creates runs beside it.

    Example:
        >>> TrackedRun(None, None, None).metrics({"test/psnr": 30.0})  # logging off: nothing happens
    """

    def __init__(self, client: MlflowClient | None, run_id: str | None, experiment_id: str | None) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @property
    def target(self) -> tuple[MlflowClient, str] | None:
        """The client and run that calls reach; ``None`` when logging is off."""
        return (self.client, self.run_id) if self.client is not None and self.run_id is not None else None

    def metrics(self, values: Mapping[str, float], step: int | None = 0) -> None:
        """Log each metric at ``step``."""
        for key, value in values.items():
            log.debug("%s%s = %.4f", f"[{self.run_id[:8]}] " if self.run_id else "", key, value)
            if self.target:
                client, run_id = self.target
                client.log_metric(run_id, key, float(value), step=step)

    def params(self, values: Mapping[str, Any]) -> None:
        """Log params (values as strings)."""
        if self.target:
            client, run_id = self.target
            for key, value in values.items():
                client.log_param(run_id, key, str(value))

    def tags(self, values: Mapping[str, Any]) -> None:
        """Set tags (values as strings)."""
        if self.target:
            client, run_id = self.target
            for key, value in values.items():
                client.set_tag(run_id, key, str(value))

    def figure(self, figure: Figure, artifact_file: str) -> None:
        """Store a matplotlib figure as an artifact of the run, then close it."""
        import matplotlib.pyplot as plt

        if self.target:
            client, run_id = self.target
            client.log_figure(run_id, figure, artifact_file)
        plt.close(figure)

    def text(self, text: str, artifact_file: str) -> None:
        """Store text (a config, a CSV table, a report) as an artifact of the run."""
        if self.target:
            client, run_id = self.target
            client.log_text(run_id, text, artifact_file)

    def end(self, status: str, reason: str | None = None) -> None:
        """End the run as ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``), with ``reason`` as a tag."""
        if self.target:
            client, run_id = self.target
            if reason:
                client.set_tag(run_id, END_REASON_TAG, reason)
            client.set_terminated(run_id, status)
            if client.tracking_uri.startswith(("http://", "https://")):
                host = without_user_info(client.tracking_uri).rstrip("/")
                experiment = self.experiment_id or client.get_run(run_id).info.experiment_id
                print(f"View run {run_id} at: {host}/#/experiments/{experiment}/runs/{run_id}")

    @contextlib.contextmanager
    def compared_run(self, run_name: str, tags: Mapping[str, str]) -> Iterator["TrackedRun"]:
        """A new run in the same experiment, compared with this one, ended as the block ends (:func:`ending`).

        It is tagged ``medae.compared_with`` and nested under this run (MLflow's parent tag), so the UI
        groups an autoencoder run with its baselines.
        """
        if not self.client or self.experiment_id is None:
            yield TrackedRun(None, None, None)
            return
        linked = {COMPARED_WITH_TAG: self.run_id, MLFLOW_PARENT_RUN_ID: self.run_id} if self.run_id else {}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags={**linked, **tags})
        compared = TrackedRun(self.client, run.info.run_id, self.experiment_id)
        with ending(compared.end):
            yield compared

    @contextlib.contextmanager
    def baseline_run(
        self, application: str, method: str, params: Mapping[str, Any]
    ) -> Iterator["TrackedRun"]:
        """A run beside this one for a classical method, open while the method works, so it logs as it goes.

        Killed, it ends KILLED with what it logged; its ``medae.task`` tag is ``baseline``.
        """
        tags = {APPLICATION_TAG: application, METHOD_TAG: method, MODEL_TAG: f"baseline:{method}"}
        with self.compared_run(f"baseline:{method}", {**tags, TASK_TAG: "baseline"}) as run:
            run.params({**params, "method": method})
            yield run

    def baseline(
        self,
        application: str,
        method: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        texts: Mapping[str, str] | None = None,
    ) -> None:
        """Log a classical method's params and metrics as a run beside this one, tagged for filtering.

        ``texts`` are text artifacts of the run, ``{artifact path: text}``.
        """
        with self.baseline_run(application, method, params) as run:
            run.metrics(metrics)
            for path, text in (texts or {}).items():
                run.text(text, path)
