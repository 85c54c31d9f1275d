"""A run's network as an MLflow model that loads without unpickling: safetensors weights and a JSON config.

The package is a ``python_function`` model whose loader is this module: ``network.json`` names the
variant and holds its config and value range, ``weights.safetensors`` its weights (a format that stores
tensors and nothing else). Loading rebuilds the network from the installed registry, so
``mlflow.pyfunc.load_model("runs:/<id>/conv-reconstruction")`` and ``mlflow models serve`` run no code
from the store. :func:`load_model` (and :func:`load_network`, the torch network) checks a downloaded model's
``MLmodel`` and files against what medae writes before anything of it loads.

Example:
    >>> import mlflow  # doctest: +SKIP
    >>> model = mlflow.pyfunc.load_model("runs:/<RUN_ID>/conv-reconstruction")  # doctest: +SKIP
    >>> model.predict(scans)  # (N, C, H, W) float32 scans in their own units  # doctest: +SKIP
"""

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.types import ParamSchema, ParamSpec, Schema, TensorSpec
from omegaconf import OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from medae.bootstrap import bootstrap
from medae.errors import DataError
from medae.inference.preprocessing import ScanPreprocessing
from medae.models.registry import MODELS
from medae.security.stored_data import inside, load_yaml
from medae.tracking.logged_model import ModelRecord

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
    preprocessing = ScanPreprocessing.from_data_config(
        (module.run_config or {}).get("data", {}), module.training_spacing
    )
    config = {
        "format": FORMAT_VERSION,
        "model": model,
        "value_range": list(module.value_range),
        "preprocessing": preprocessing.to_dict(),
    }
    (package / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    state = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    save_file(state, str(package / WEIGHTS_FILE))
    return package


def read_package(package: str | Path) -> tuple[nn.Module, ScanPreprocessing]:
    """The network of a package folder (rebuilt from the installed registry) and its preprocessing.

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
        preprocessing = ScanPreprocessing.from_dict(config["preprocessing"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise DataError(
            str(package), f"is not a medae model package ({type(error).__name__}: {error})"
        ) from error
    return network.eval(), preprocessing


class PackagedModel:
    """What ``mlflow.pyfunc`` (and ``mlflow models serve``) calls: scans in, reconstructions out.

    ``predict`` takes float32 scans ``(N, C, *spatial)`` in their own units and any size (HU for CT),
    applies the run's preprocessing to each, runs the network and returns each reconstruction in the
    scan's size and units. With ``params={"preprocessed": True}`` it takes and returns the network's own
    inputs ``(N, C, S, S)``.
    """

    def __init__(self, network: nn.Module, preprocessing: ScanPreprocessing) -> None:
        self.network = network
        self.preprocessing = preprocessing

    @torch.no_grad()
    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """Reconstructions of ``model_input``."""
        images = np.asarray(model_input, dtype=np.float32)
        if (params or {}).get("preprocessed"):
            return self.network(torch.from_numpy(images)).reconstruction.numpy()
        restored = []
        for index, image in enumerate(images):
            inputs, restore = self.preprocessing.prepare(image, f"input {index}")
            restored.append(restore(self.network(inputs).reconstruction))
        return np.stack(restored)

    def signature(self, spatial_dims: int) -> ModelSignature:
        """Scans of any size in, reconstructions of the same size out; the ``preprocessed`` switch."""
        shape = (-1, self.preprocessing.channels, *[-1] * spatial_dims)
        images = Schema([TensorSpec(np.dtype(np.float32), shape)])
        return ModelSignature(images, images, ParamSchema([ParamSpec("preprocessed", "boolean", False)]))


def _load_pyfunc(data_path: str) -> PackagedModel:
    """MLflow's entry point for a ``python_function`` model whose ``loader_module`` is this module."""
    return PackagedModel(*read_package(data_path))


def log_package(logger: Any, module: Any, example: torch.Tensor, record: ModelRecord) -> str | None:
    """Log ``module``'s network as the run's MLflow model through the run's logger; its URI, or None.

    Args:
        logger: the run's :class:`~medae.tracking.logger.ResumableMLFlowLogger`.
        module: the trained module.
        example: one input batch ``(1, C, *spatial)``: the input example and the signature's shape.
        record: the model's name, params, metrics and dataset.
    """
    example_array = example.detach().float().cpu().numpy()
    with tempfile.TemporaryDirectory() as folder:
        package = write_package(Path(folder), module)
        model = PackagedModel(*read_package(package))
        model.predict(example_array)  # the package loads and runs before it is logged
        signature = model.signature(example.ndim - 2)
        return logger.log_network(package, LOADER_MODULE, signature, example_array, record)


def check_model_folder(local: Path, source: str) -> Path:
    """The package folder of a downloaded MLflow model, once its ``MLmodel`` and files are what medae writes.

    ``mlflow.pyfunc.load_model`` imports the ``loader_module`` an ``MLmodel`` names and puts its ``code``
    folder on ``sys.path``, so a model from a store one does not control runs that store's code. This check
    reads ``MLmodel`` as bounded plain YAML and accepts only medae's flavour: ``python_function`` with this
    module as loader, no code folder, and a package of exactly ``network.json`` and ``weights.safetensors``.

    Raises:
        DataError: anything else, in one line that says what.
    """
    mlmodel = local / "MLmodel"
    if not mlmodel.is_file():
        raise DataError(source, "has no MLmodel file; is it a medae model?")
    meta = load_yaml(mlmodel.read_text(), f"{source} MLmodel")
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    if not isinstance(flavors, dict) or set(flavors) != {"python_function"}:
        found = sorted(flavors) if isinstance(flavors, dict) else flavors
        raise DataError(source, f"has the flavours {found}; a medae model has python_function alone")
    flavor = flavors["python_function"]
    problem = None
    if flavor.get("loader_module") != LOADER_MODULE:
        problem = f"its loader is {flavor.get('loader_module')!r}, not {LOADER_MODULE}"
    elif flavor.get("code"):
        problem = f"it ships code ({flavor['code']!r}) that loading would import"
    if problem:
        raise DataError(
            source, f"is not a medae model package ({problem}); refused, since loading it could run code"
        )
    package = inside(local / str(flavor.get("data", "data")), local, f"{source} MLmodel data")
    files = sorted(path.name for path in package.iterdir()) if package.is_dir() else []
    if files != sorted((CONFIG_FILE, WEIGHTS_FILE)):
        raise DataError(
            source, f"holds {files} in its package; medae writes {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    return package


def load_model(model_uri: str, tracking_uri: str | None = None) -> PackagedModel:
    """A logged medae model (``runs:/<id>/<name>``, ``models:/<name>/<version>``), checked before it loads.

    The checked counterpart of ``mlflow.pyfunc.load_model``: see :func:`check_model_folder`. The model is
    looked up in ``tracking_uri``, by default MLflow's current store.

    Example:
        >>> model = load_model("runs:/<RUN_ID>/conv-reconstruction")  # doctest: +SKIP
        >>> model.predict(scans)  # (N, C, H, W) float32 scans in their own units  # doctest: +SKIP
    """
    local = Path(mlflow.artifacts.download_artifacts(model_uri, tracking_uri=tracking_uri))
    return PackagedModel(*read_package(check_model_folder(local, model_uri)))


def load_network(model_uri: str, tracking_uri: str | None = None) -> nn.Module:
    """The torch network of a logged medae model, checked as :func:`load_model` checks it."""
    return load_model(model_uri, tracking_uri).network
