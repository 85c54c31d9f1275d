"""Serve a logged model over HTTP with MLflow's scoring server: ``medae serve RUN_ID [--port 5001]``.

``mlflow models serve`` started from a shell without the environment activated exits 127: it starts
``uvicorn`` by name, from ``PATH``. This command first checks the model as medae's loader does (nothing of
the store is imported), then runs MLflow's server from this interpreter's environment, whatever the
shell's ``PATH``. The server answers ``POST /invocations`` with ``{"inputs": scans}``, scans an
``N x C x H x W`` (``N x C x D x H x W`` for a 3D model) float array in the scan's own units, and
``{"predictions": ...}`` of the same shape; ``GET /ping`` says when it is up.
"""

import argparse
import os
import sys
from pathlib import Path

from medae.errors import DataError, exit_on_user_error
from medae.tracking.schema import store_uri

MODEL_URI_SCHEMES = ("runs:/", "models:/")


def model_uri(reference: str, tracking_uri: str) -> str:
    """The model URI of ``reference``: a ``runs:/`` or ``models:/`` URI as given, or a run id's one model.

    Raises:
        DataError: the run does not exist or logged no model.
    """
    if reference.startswith(MODEL_URI_SCHEMES):
        return reference
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(reference)
    except MlflowException as error:
        raise DataError(reference, f"is no run in {tracking_uri} ({error.error_code})") from error
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{reference}'"
    )
    if not models:
        raise DataError(reference, "logged no model (logger.mlflow.log_model=false, or training failed)")
    return f"runs:/{reference}/{models[0].name}"


def serve_command(uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """MLflow's ``models serve`` for ``uri`` run by this interpreter, and its environment.

    ``PATH`` starts with this environment's scripts, so that the server finds ``uvicorn``.
    """
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local"]
    return [*command, "--host", host, "--port", str(port)], env


def checked_serve_command(
    reference: str, tracking_uri: str, host: str, port: int
) -> tuple[list[str], dict[str, str]]:
    """The server's command once the model is checked (:func:`medae.inference.model_package.load_model`)."""
    from medae.inference.model_package import load_model

    uri = model_uri(reference, tracking_uri)
    load_model(uri, tracking_uri)  # refuses, in one line, a model whose loading would run store code
    command, env = serve_command(uri, host, port)
    return command, {**env, "MLFLOW_TRACKING_URI": tracking_uri}


def main(argv: list[str]) -> None:
    """Command-line entry: check the model, say how to call it, and become MLflow's server."""
    parser = argparse.ArgumentParser(prog="medae serve", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a run id, runs:/<RUN_ID>/<name> or models:/<name>/<version>")
    parser.add_argument("--tracking-uri", default=store_uri(), help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=5001, help="default: %(default)s")
    args = parser.parse_args(argv)
    command, env = exit_on_user_error(
        checked_serve_command, args.model, args.tracking_uri, args.host, args.port
    )
    print(
        f"medae: serving {command[6]} at http://{args.host}:{args.port}/invocations; POST "
        '{"inputs": scans} with scans N x C x H x W in the scan\'s units (GET /ping: up)',
        flush=True,
    )
    os.execve(sys.executable, command, env)
