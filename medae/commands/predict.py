"""Apply a trained model to new scans: ``medae predict ckpt_path=REF input=SCANS output=FOLDER``.

``input`` is a scan, a DICOM file or DICOMDIR, or a folder searched recursively, its DICOM files split
into series (:func:`medae.inference.scans.scan_sources`). Each scan is read as training reads files,
preprocessed as the model's run was, and its results are written in its own grid (see
:mod:`medae.inference.prediction`), with one row per scan in ``predictions.csv``. A scan that fails gives
one line naming it and the others go on; the summary lists every scan and every file that gave none, with
its outcome. The exit status is the number of scans that failed (at most 100).
"""

import csv
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig
from tqdm import tqdm

from medae.bootstrap import bootstrap
from medae.config.run_parts import CONFIG_DIR
from medae.data.image_reading import ImageSource
from medae.errors import ConfigError, DataError, exit_on_user_error
from medae.inference.prediction import predict_scan
from medae.inference.scans import scan_sources
from medae.inference.trained_model import TrainedModel
from medae.tracking.schema import TASK_TAG
from medae.tracking.store import open_client, open_store
from medae.tracking.tracked_run import TrackedRun

bootstrap()  # the launcher entry: job processes of parallel launchers start here

log = logging.getLogger(__name__)
TABLE = "predictions.csv"


@dataclass
class Predictions:
    """What ``medae predict`` did: the table's rows, the scans that failed and where the results are.

    ``outcomes`` holds one line per scan found and per file that gave no scan, in the order found.
    """

    rows: list[dict[str, Any]]
    failed: list[str]
    folder: Path
    outcomes: list[str] = field(default_factory=list)


def output_folder(path: Path, overwrite: bool) -> Path:
    """``path`` created, unless it holds other files and ``overwrite`` is false."""
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not overwrite)):
        raise ConfigError(
            "output", f"{path} exists and holds other files; choose a new folder or pass overwrite=true"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def reference_for(scan: ImageSource, reference: str | None, many: bool) -> Path | None:
    """The reference of ``scan``: the file given for a single scan, or the same name in a reference folder."""
    if reference is None:
        return None
    given = Path(reference).expanduser()
    if not given.exists():
        raise ConfigError("reference", f"{given} does not exist")
    if not many or not given.is_dir() or given.name == scan.name:
        return given
    return given / scan.name


def write_table(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as CSV, with every column any row has."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, columns)
        writer.writeheader()
        writer.writerows(rows)


def log_prediction_run(cfg: DictConfig, model: TrainedModel, predictions: Predictions) -> str | None:
    """A run beside the model's (its child, when the model came from a run) holding the table."""
    client = open_client(cfg.paths.tracking_uri, write=True)
    if model.run_id:
        experiment = client.get_run(model.run_id).info.experiment_id
    else:
        experiment = open_store(cfg.paths.tracking_uri, "medae")
    parent = TrackedRun(client, model.run_id, experiment)
    tags = {TASK_TAG: "predict", "medae.model": model.variant}
    with parent.compared_run(f"predict:{Path(cfg.input).name}", tags) as run:
        run.params(
            {
                "ckpt_path": cfg.ckpt_path,
                "input": cfg.input,
                "output": cfg.output,
                "sliding_window": cfg.sliding_window,
                "mask_input": cfg.mask_input,
            }
        )
        numbers = (
            [key for key in predictions.rows[0] if isinstance(predictions.rows[0][key], float)]
            if predictions.rows
            else []
        )
        run.metrics(
            {
                f"predict/{key}": sum(row[key] for row in predictions.rows) / len(predictions.rows)
                for key in numbers
            }
        )
        warned = sum(bool(row.get("domain_warnings")) for row in predictions.rows)  # unlike training
        run.metrics(
            {
                "predict/files": len(predictions.rows),
                "predict/failed": len(predictions.failed),
                "predict/warned": warned,
            }
        )
        run.text((predictions.folder / TABLE).read_text(), TABLE)
        return run.run_id


def predict(cfg: DictConfig) -> Predictions:
    """Predict every scan of ``cfg.input`` into ``cfg.output``; failures are counted, not raised."""
    folder = output_folder(Path(cfg.output).expanduser(), cfg.overwrite)
    model = TrainedModel.load(
        cfg.ckpt_path, cfg.paths.tracking_uri, cfg.paths.cache_dir, cfg.trust_checkpoint
    )
    paths, skipped = scan_sources(Path(cfg.input).expanduser())
    predictions = Predictions([], [], folder)
    outcome: dict[str, str] = {}
    done: list[tuple[ImageSource, dict[str, Any], list[Future]]] = []
    with ThreadPoolExecutor(max_workers=1) as writer:  # a scan's files are written while the next one runs
        for path in tqdm(paths, desc="medae predict", unit="scan", disable=len(paths) < 2):
            try:
                reference = reference_for(path, cfg.reference, len(paths) > 1)
                options = (cfg.sliding_window, cfg.max_image_bytes, cfg.codes, writer, cfg.mask_input)
                done.append((path, *predict_scan(model, path, folder, reference, *options)))
                for warning in filter(None, done[-1][1].get("domain_warnings", "").split(" | ")):
                    tqdm.write(f"medae: warning: {path}: {warning}", file=sys.stderr)  # beside the bar
            except DataError as error:
                tqdm.write(f"medae: error: {error}", file=sys.stderr)
                predictions.failed.append(str(path))
                outcome[str(path)] = f"failed: {error}"
    for path, row, writes in done:
        try:
            [write.result() for write in writes]
            predictions.rows.append(row)
            outcome[str(path)] = f"predicted ({row['shape']})"
        except OSError as error:
            print(f"medae: error: {path}: its results cannot be written ({error})", file=sys.stderr)
            predictions.failed.append(str(path))
            outcome[str(path)] = f"failed: its results cannot be written ({error})"
    predictions.outcomes = [f"{path}: {outcome[str(path)]}" for path in paths]
    predictions.outcomes += [f"{skip.source}: skipped: {skip.reason}" for skip in skipped]
    if predictions.rows:
        write_table(predictions.rows, folder / TABLE)
    if cfg.log_run and predictions.rows:
        log.info("prediction run %s", log_prediction_run(cfg, model, predictions))
    return predictions


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: predict, say where the results are; exit with the number of failed scans."""
    predictions = exit_on_user_error(predict, cfg)
    done = len(predictions.rows)
    total = done + len(predictions.failed)
    for line in predictions.outcomes:
        print(f"  {line}")
    print(f"medae: predicted {done} of {total} scans into {predictions.folder} ({TABLE})")
    if predictions.failed:
        raise SystemExit(min(len(predictions.failed), 100))


if __name__ == "__main__":
    main()
