"""Reading an application's results back: metric keys per evaluation set and method, compared runs, tables.

Writing goes through :class:`medae.tracking.tracked_run.TrackedRun`.
"""

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from medae.tracking.schema import COMPARED_WITH_TAG


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
    client = MlflowClient(tracking_uri)
    runs = [client.get_run(run_id), *compared_runs(client, run_id)]
    rows = [
        {
            "run_id": run.info.run_id,
            "status": run.info.status,
            **{f"metrics.{key}": value for key, value in run.data.metrics.items()},
            **{f"params.{key}": value for key, value in run.data.params.items()},
            **{f"tags.{key}": value for key, value in run.data.tags.items()},
        }
        for run in runs
    ]
    methods = ["autoencoder", *(str(run.info.run_name) for run in runs[1:])]
    return pd.DataFrame(rows, index=pd.Index(methods, name="method"))
