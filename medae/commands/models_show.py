"""Print a logged model's card: ``medae models show RUN_ID`` (or ``runs:/...``, ``models:/NAME/VERSION``)."""

import argparse
import tempfile
from pathlib import Path

from medae.errors import DataError, exit_on_user_error
from medae.tracking.model_card import CARD_ARTIFACT
from medae.tracking.schema import store_uri


def card_run_id(reference: str, tracking_uri: str) -> str:
    """The training run whose card ``reference`` names: a run id, a ``runs:/`` URI, or a registered version.

    Raises:
        DataError: the reference names no run or version.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if reference.startswith("runs:/"):
        return reference.removeprefix("runs:/").split("/", 1)[0]
    if reference.startswith("models:/"):
        name, _, version = reference.removeprefix("models:/").partition("/")
        try:
            found = MlflowClient(tracking_uri).get_model_version(name, version)
        except MlflowException as error:
            raise DataError(reference, f"is no registered model version in {tracking_uri}") from error
        if not found.run_id:
            raise DataError(reference, "comes from no run, so it has no medae card")
        return str(found.run_id)
    return reference


def show_card(reference: str, tracking_uri: str) -> str:
    """The card text of the model ``reference`` names.

    Raises:
        DataError: no such run, or the run logged no card (trained before medae wrote cards, or without
            a logged model).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    run_id = card_run_id(reference, tracking_uri)
    client = MlflowClient(tracking_uri)
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, CARD_ARTIFACT, folder)
        except (MlflowException, OSError) as error:
            raise DataError(
                reference, f"has no {CARD_ARTIFACT} in {tracking_uri} (a run that logged a model)"
            ) from error
        path = Path(local).resolve()
        if not path.is_relative_to(
            Path(folder).resolve()
        ):  # the store's answer is data, never a path to trust
            raise DataError(reference, f"its {CARD_ARTIFACT} was fetched outside {folder}")
        return path.read_text()


def main(argv: list[str]) -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(prog="medae models show", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a run id, runs:/<RUN_ID>/<name> or models:/<name>/<version>")
    parser.add_argument("--tracking-uri", default=store_uri(), help="default: %(default)s")
    args = parser.parse_args(argv)
    print(exit_on_user_error(show_card, args.model, args.tracking_uri), end="")
