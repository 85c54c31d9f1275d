"""A run's network as an MLflow model that loads without unpickling: safetensors weights and a JSON config.

The package is a ``python_function`` model whose loader is this module: ``network.json`` names the
variant and holds its config and value range, ``weights.safetensors`` its weights (a format that stores
tensors and nothing else). Loading rebuilds the network from the installed registry, so
``mlflow.pyfunc.load_model("runs:/<id>/model")`` and ``mlflow models serve`` run no code from the
store. :func:`load_network` gives the torch network and refuses a package whose loader was changed.

Example:
    >>> import mlflow  # doctest: +SKIP
    >>> model = mlflow.pyfunc.load_model("runs:/<RUN_ID>/model")  # doctest: +SKIP
    >>> model.predict(images)  # (N, C, H, W) float32 in, reconstructions out  # doctest: +SKIP
"""

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
import yaml
from mlflow.models import infer_signature
from omegaconf import OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from medae.bootstrap import bootstrap
from medae.errors import DataError
from medae.models.registry import MODELS

LOADER_MODULE = __name__
CONFIG_FILE = "network.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1


def write_package(folder: Path, module: Any) -> Path:
    """Write ``module``'s network (weights and config) into ``folder/package``; that folder.

    Args:
        folder: where to write.
        module: a trained :class:`~medae.models.autoencoder_module.AutoencoderModule`.
    """
    package = folder / "package"
    package.mkdir(parents=True)
    network = getattr(module.network, "_orig_mod", module.network)  # the module under torch.compile
    model = (
        OmegaConf.to_container(module.hparams.model)
        if OmegaConf.is_config(module.hparams.model)
        else dict(module.hparams.model)
    )
    config = {"format": FORMAT_VERSION, "model": model, "value_range": list(module.value_range)}
    (package / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    state = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    save_file(state, str(package / WEIGHTS_FILE))
    return package


def read_package(package: str | Path) -> nn.Module:
    """The network a package folder holds, rebuilt from the installed registry, on CPU in eval mode.

    Raises:
        DataError: a file is missing or is not what the package format allows.
    """
    package = Path(package)
    bootstrap()
    try:
        config = json.loads((package / CONFIG_FILE).read_text())
        module_class, _ = MODELS.build(config["model"])
        network = module_class.build_network(
            module_class.config_class.from_mapping(config["model"]), tuple(config["value_range"])
        )
        network.load_state_dict(load_file(str(package / WEIGHTS_FILE)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise DataError(
            str(package), f"is not a medae model package ({type(error).__name__}: {error})"
        ) from error
    return network.eval()


class PackagedModel:
    """What ``mlflow.pyfunc`` calls: float32 images ``(N, C, *spatial)`` in, reconstructions out."""

    def __init__(self, network: nn.Module) -> None:
        self.network = network

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """The network's reconstruction of ``model_input``."""
        images = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            return self.network(images).reconstruction.numpy()


def _load_pyfunc(data_path: str) -> PackagedModel:
    """MLflow's entry point for a ``python_function`` model whose ``loader_module`` is this module."""
    return PackagedModel(read_package(data_path))


def log_package(logger: Any, module: Any, example: torch.Tensor) -> str | None:
    """Log ``module``'s network as the run's MLflow model through the run's logger; its URI, or None.

    Args:
        logger: the run's :class:`~medae.tracking.logger.ResumableMLFlowLogger`.
        module: the trained module.
        example: one input batch ``(1, C, *spatial)``: the input example and the signature's shape.
    """
    example_array = example.detach().float().cpu().numpy()
    with tempfile.TemporaryDirectory() as folder:
        package = write_package(Path(folder), module)
        output = PackagedModel(read_package(package)).predict(example_array)
        return logger.log_network(
            package, LOADER_MODULE, infer_signature(example_array, output), example_array
        )


def load_network(model_uri: str) -> nn.Module:
    """The torch network of a logged medae model (``runs:/<id>/model``, ``models:/<name>/<version>``).

    Raises:
        DataError: the model's loader is not medae's, so loading it could run code.
    """
    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    flavor = yaml.safe_load((local / "MLmodel").read_text()).get("flavors", {}).get("python_function", {})
    if flavor.get("loader_module") != LOADER_MODULE:
        raise DataError(
            model_uri,
            f"is not a medae model package (its loader is {flavor.get('loader_module')!r}, "
            f"not {LOADER_MODULE}); "
            "refused, since loading it could run code",
        )
    return read_package(local / flavor.get("data", "data"))
