"""Logging into an autoencoder's MLflow run, and into baseline runs beside it in the same experiment."""

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from medae.tracking_store import open_store

log = logging.getLogger(__name__)
COMPARED_WITH_TAG = "medae.compared_with"


class RunLog:
    """Metrics, params, tags and figures of one MLflow run; every call is a no-op without a client.

    Args:
        client: the tracking client, or ``None`` when MLflow logging is off (``logger=none``).
        run_id: the run to log into.
        experiment_id: the run's experiment, where :meth:`compared_run` creates baseline runs.
    """

    def __init__(self, client: MlflowClient | None, run_id: str | None, experiment_id: str | None) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @property
    def logging(self) -> bool:
        """Whether calls reach MLflow."""
        return self.client is not None and self.run_id is not None

    def metrics(self, values: Mapping[str, float]) -> None:
        """Log each metric once (step 0)."""
        for key, value in values.items():
            log.debug("%s%s = %.4f", f"[{self.run_id[:8]}] " if self.run_id else "", key, value)
            if self.logging:
                self.client.log_metric(self.run_id, key, float(value))

    def params(self, values: Mapping[str, Any]) -> None:
        """Log params (values as strings)."""
        if self.logging:
            for key, value in values.items():
                self.client.log_param(self.run_id, key, str(value))

    def tags(self, values: Mapping[str, str]) -> None:
        """Set tags."""
        if self.logging:
            for key, value in values.items():
                self.client.set_tag(self.run_id, key, str(value))

    def figure(self, figure: Figure, artifact_file: str) -> None:
        """Store a matplotlib figure as an artifact of the run, then close it."""
        import matplotlib.pyplot as plt

        if self.logging:
            self.client.log_figure(self.run_id, figure, artifact_file)
        plt.close(figure)

    def text(self, text: str, artifact_file: str) -> None:
        """Store text (a CSV table, a report) as an artifact of the run."""
        if self.logging:
            self.client.log_text(self.run_id, text, artifact_file)

    @contextlib.contextmanager
    def compared_run(self, run_name: str, tags: Mapping[str, str]) -> Iterator["RunLog"]:
        """A new run in the same experiment, compared with this one; FAILED if the body raises.

        It is tagged ``medae.compared_with`` and nested under this run (MLflow's parent tag), so the UI
        groups an autoencoder run with its baselines.
        """
        if not self.client:
            yield RunLog(None, None, None)
            return
        linked = {COMPARED_WITH_TAG: self.run_id, MLFLOW_PARENT_RUN_ID: self.run_id} if self.run_id else {}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags={**linked, **tags})
        compared = RunLog(self.client, run.info.run_id, self.experiment_id)
        try:
            yield compared
        except BaseException:
            self.client.set_terminated(run.info.run_id, "FAILED")
            raise
        self.client.set_terminated(run.info.run_id, "FINISHED")

    def baseline(
        self, application: str, method: str, params: Mapping[str, Any], metrics: Mapping[str, float]
    ) -> None:
        """Log a classical method's params and metrics as a run beside this one, tagged for filtering."""
        tags = {"medae.application": application, "medae.method": method, "medae.model": f"baseline:{method}"}
        with self.compared_run(f"baseline:{method}", tags) as run:
            run.params({**params, "method": method})
            run.metrics(metrics)


def open_experiment(tracking_uri: str, experiment_name: str, artifact_location: str | None) -> RunLog:
    """A :class:`RunLog` with no run yet; :meth:`RunLog.compared_run` creates runs in ``experiment_name``."""
    experiment_id = open_store(tracking_uri, experiment_name, artifact_location)
    return RunLog(MlflowClient(tracking_uri), None, experiment_id)


def on_set(metrics: dict[str, float], evaluation_set: str) -> dict[str, float]:
    """Metric keys of the ``test`` split, renamed for another evaluation set.

    Example:
        >>> on_set({"test/psnr": 30.0, "anomaly/image_auroc": 0.9}, "colin27_brain")
        {'colin27_brain/psnr': 30.0, 'colin27_brain/anomaly/image_auroc': 0.9}
    """
    if evaluation_set == "test":
        return dict(metrics)
    return {f"{evaluation_set}/{key.removeprefix('test/')}": value for key, value in metrics.items()}


def by_method(application: str, results: dict[str, dict[str, float]]) -> dict[str, float]:
    """Flatten ``{method: {"set/metric": value}}`` to ``{"<application>/<method>/<metric>": value}``.

    The ``test/`` and ``<application>/`` parts of a key go; a held-out set's name stays.

    Example:
        >>> by_method("denoising", {"bm3d": {"test/psnr": 30.0, "colin27_brain/psnr": 28.0}})
        {'denoising/bm3d/psnr': 30.0, 'denoising/bm3d/colin27_brain/psnr': 28.0}
    """
    return {
        f"{application}/{method}/"
        + "/".join(p for p in key.split("/") if p not in ("test", application)): value
        for method, metrics in results.items()
        for key, value in metrics.items()
    }


def compared_runs(client: MlflowClient, run_id: str) -> list[Run]:
    """The runs logged beside ``run_id`` to compare with it (baselines, fine-tuning modes), by name."""
    experiment_id = client.get_run(run_id).info.experiment_id
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{COMPARED_WITH_TAG}` = '{run_id}'")
    return sorted(runs, key=lambda run: run.info.run_name)


def comparison_table(tracking_uri: str, run_id: str) -> pd.DataFrame:
    """``run_id`` and its compared runs as one DataFrame (``metrics.*``, ``params.*``, ``tags.*`` columns).

    The index is the method: ``autoencoder`` for the run itself, else the compared run's name.
    """
    experiment_id = [MlflowClient(tracking_uri).get_run(run_id).info.experiment_id]
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        own = mlflow.search_runs(experiment_id, filter_string=f"attributes.run_id = '{run_id}'")
        others = mlflow.search_runs(experiment_id, filter_string=f"tags.`{COMPARED_WITH_TAG}` = '{run_id}'")
    finally:
        mlflow.set_tracking_uri(previous)
    runs = pd.concat([own, others], ignore_index=True)
    runs["method"] = runs["tags.mlflow.runName"].where(runs["run_id"] != run_id, "autoencoder")
    return runs.set_index("method")
