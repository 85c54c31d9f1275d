"""A run's network as an MLflow model; MLflow references (``runs:/``, ``models:/``, run ids) to checkpoints.

At the end of a run the best network is logged as an MLflow PyTorch model named ``model`` (MLmodel,
signature, input example, pip requirements), linked to the run, and optionally registered. The
model maps images to reconstructions, so ``mlflow.pytorch.load_model("runs:/<id>/model")`` or
``models:/<name>/<version>`` works anywhere. The full training state stays in the run's
``checkpoints/best.ckpt``; ``medae eval|encode|decode`` take any of those references and fetch that
checkpoint once into a local cache.
"""

import copy
import re
from pathlib import Path

import mlflow
import torch
from mlflow.entities import LoggedModelOutput
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from torch import nn

from medae.compat import mlflow_tracking_uri
from medae.errors import ConfigError, DataError
from medae.tracking.schema import BEST_ARTIFACT, MODEL_ARTIFACT

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ReconstructionModel(nn.Module):
    """A medae network as MLflow serves it: images ``(N, C, *spatial)`` in, reconstructions out."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``images``."""
        return self.network(images).reconstruction


def log_network(
    tracking_uri: str,
    run_id: str,
    experiment_id: str,
    network: nn.Module,
    example: torch.Tensor,
    register_as: str | None = None,
) -> str:
    """Log ``network`` as the run's MLflow model ``model``; register a version when ``register_as``; its URI.

    Args:
        tracking_uri: the store.
        run_id: the run the model comes from (MLflow lists it under the run's logged models).
        experiment_id: the run's experiment.
        network: the trained network, evaluated in eval mode on CPU.
        example: one input batch ``(1, C, *spatial)``, stored as the input example and used for the signature.
        register_as: a registered model name, or ``None``.
    """
    network = getattr(network, "_orig_mod", network)  # the module under torch.compile
    model = ReconstructionModel(copy.deepcopy(network)).cpu().eval()
    example_array = example.detach().float().cpu().numpy()
    with torch.no_grad():
        signature = infer_signature(example_array, model(torch.from_numpy(example_array)).numpy())
    with mlflow_tracking_uri(tracking_uri):
        logged = mlflow.initialize_logged_model(
            name=MODEL_ARTIFACT, source_run_id=run_id, experiment_id=experiment_id
        )
        info = mlflow.pytorch.log_model(
            model,
            name=MODEL_ARTIFACT,
            model_id=logged.model_id,
            signature=signature,
            input_example=example_array,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "medae"],
            registered_model_name=register_as,
            serialization_format="pickle",  # any network, also those torch.export cannot trace
        )
        mlflow.MlflowClient(tracking_uri).log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
    return info.model_uri


def source_run(reference: str, client: mlflow.MlflowClient) -> str:
    """The run behind ``runs:/<id>/...``, ``models:/<name>/<version>``, ``models:/<model id>`` or a run id."""
    try:
        if RUN_ID.match(reference):
            return reference
        if reference.startswith("runs:/"):
            return reference.removeprefix("runs:/").split("/")[0]
        parts = reference.removeprefix("models:/").split("/")
        if len(parts) == 2:
            return client.get_model_version(parts[0], parts[1]).run_id
        return client.get_logged_model(parts[0]).source_run_id
    except MlflowException as error:
        raise ConfigError(
            "ckpt_path", f"'{reference}' is not in the tracking store: {error.message}"
        ) from error


def is_reference(ckpt_path: str) -> bool:
    """Whether ``ckpt_path`` names an MLflow run or model rather than a file."""
    return ckpt_path.startswith(("runs:/", "models:/")) or bool(RUN_ID.match(ckpt_path))


def resolve_checkpoint(ckpt_path: str, tracking_uri: str, cache_dir: str | Path) -> str:
    """A local checkpoint for ``ckpt_path``: a file as it is, or an MLflow reference's run's best checkpoint.

    The checkpoint is downloaded once, to ``cache_dir/<run id>/best.ckpt``.

    Example:
        >>> resolve_checkpoint("outputs/best.ckpt", "sqlite:///mlflow.db", "/tmp/cache")
        'outputs/best.ckpt'
    """
    if not is_reference(ckpt_path):
        return ckpt_path
    client = mlflow.MlflowClient(tracking_uri)
    run_id = source_run(ckpt_path, client)
    target = Path(cache_dir) / run_id
    cached = target / Path(BEST_ARTIFACT).name
    if not cached.is_file():
        target.mkdir(parents=True, exist_ok=True)
        try:
            return client.download_artifacts(run_id, BEST_ARTIFACT, str(target))
        except (MlflowException, OSError) as error:
            raise DataError(ckpt_path, f"run {run_id} has no {BEST_ARTIFACT} artifact ({error})") from error
    return str(cached)
