"""medae from Python: compose a config, train, evaluate, predict, export, load a model, register a plug-in.

Each function does what the command of the same name does, with the same checks and one-line errors
(:class:`medae.errors.ConfigError`, :class:`medae.errors.DataError`), and imports torch, Lightning and
MLflow only when it is called.

Example:
    >>> from medae import api
    >>> cfg = api.compose(["model=vae", "data.image_size=32"])
    >>> cfg.model.name, cfg.model.image_size
    ('vae', 32)
    >>> api.compose(["trainer.max_epochs=ten"])
    Traceback (most recent call last):
    ...
    medae.errors.ConfigError: trainer.max_epochs: expected int | None, got 'ten' (str)

    Then ``result = api.train(cfg)`` fits, tests and logs the run (``result.run_id``,
    ``result.metrics["test/psnr_fg"]``), and
    ``api.load_network(f"runs:/{result.run_id}/conv-reconstruction")`` gives its network back, checked.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from omegaconf import DictConfig
    from torch import nn

    from medae.commands.predict import Predictions
    from medae.commands.summary import RunResult
    from medae.commands.train import TrainResult
    from medae.inference.model_package import PackagedModel

__all__ = [
    "PLUGIN_KINDS",
    "comparison_table",
    "compose",
    "evaluate",
    "export",
    "load_model",
    "load_network",
    "predict",
    "register",
    "train",
]
# each kind of plug-in, and the module whose registry lists it (imported when one is registered)
PLUGIN_KINDS = {
    "model": "medae.models.registry",
    "data": "medae.data.registry",
    "application": "medae.applications.parts.registry",
}
COMMAND_CONFIGS = ("train", "eval", "predict", "export")


def compose(overrides: Sequence[str] = (), command: str = "train", root: Path | None = None) -> "DictConfig":
    """A command's config with Hydra overrides, checked as the command line checks it.

    Args:
        overrides: Hydra overrides, e.g. ``["model=vae", "optim.lr=3e-4"]``.
        command: whose config: ``train``, ``eval``, ``predict`` or ``export``.
        root: where outputs and the MLflow store go; by default the working folder (or ``MEDAE_ROOT``).

    Raises:
        ConfigError: an unknown command, key or choice, or a value of the wrong type, in one line.
    """
    from medae.bootstrap import bootstrap
    from medae.commands.compose import compose_train
    from medae.config.checks import CONFIG_DIR, check_overrides
    from medae.errors import ConfigError

    if command not in COMMAND_CONFIGS:
        raise ConfigError("command", f"unknown '{command}'; allowed: {', '.join(COMMAND_CONFIGS)}")
    bootstrap()
    check_overrides(CONFIG_DIR, command, list(overrides))
    return compose_train(list(overrides), root, config_name=command)


def train(cfg: "DictConfig") -> "TrainResult":
    """Fit the model ``cfg`` configures, test its best checkpoint, run its application; one MLflow run."""
    from medae.commands.train import train as train_run

    return train_run(cfg)


def evaluate(cfg: "DictConfig") -> "RunResult":
    """Test the checkpoint ``cfg.ckpt_path`` (a file or a run reference) as ``medae eval``; one MLflow run."""
    from medae.commands.evaluate import evaluate as evaluate_run

    return evaluate_run(cfg)


def predict(cfg: "DictConfig") -> "Predictions":
    """Apply ``cfg.ckpt_path`` to the scans of ``cfg.input`` as ``medae predict``, into ``cfg.output``.

    Failures are counted in the result, not raised.
    """
    from medae.commands.predict import predict as predict_scans

    return predict_scans(cfg)


def export(cfg: "DictConfig") -> dict[str, Any]:
    """Write ``cfg.ckpt_path`` as ONNX or TorchScript at ``cfg.output`` as ``medae export``; its sidecar."""
    from medae.commands.export import export_command

    return export_command(cfg)


def load_model(model_uri: str, tracking_uri: str | None = None) -> "PackagedModel":
    """A logged model (``runs:/<id>/<name>``, ``models:/<name>/<version>``), its files checked first.

    Unlike ``mlflow.pyfunc.load_model``, runs no code a store names: see
    :func:`medae.inference.model_package.load_model`. ``tracking_uri``: the store, by default MLflow's
    current one.
    """
    from medae.inference.model_package import load_model as load_packaged

    return load_packaged(model_uri, tracking_uri)


def load_network(model_uri: str, tracking_uri: str | None = None) -> "nn.Module":
    """The torch network of a logged model, checked as :func:`load_model` checks it."""
    from medae.inference.model_package import load_network as load_packaged_network

    return load_packaged_network(model_uri, tracking_uri)


def register(kind: str, name: str, **config: Any) -> Callable[[Any], Any]:
    """Decorator that adds a plug-in: a model variant, a data source or an application, as ``<kind>=<name>``.

    The same door medae's own entries use; the entry's defaults and types, read from its code, become its
    config and schema. ``**config`` holds values that differ from the code's defaults.

    Raises:
        ConfigError: an unknown kind.

    Example:
        ``@api.register("data", "phantoms")`` above a ``ReconstructionDataModule`` subclass makes
        ``medae train data=phantoms`` work once ``MEDAE_EXTENSIONS`` names the module.
    """
    import importlib

    from medae.config.registry import REGISTRIES
    from medae.errors import ConfigError

    if kind not in PLUGIN_KINDS:
        raise ConfigError("kind", f"unknown '{kind}'; allowed: {', '.join(PLUGIN_KINDS)}")
    importlib.import_module(PLUGIN_KINDS[kind])
    return REGISTRIES[kind].register(name, **config)


def comparison_table(tracking_uri: str, run_id: str) -> "pd.DataFrame":
    """A run and the baseline runs compared with it, one row each, as the UI sorts them side by side."""
    from medae.applications.parts.run_log import comparison_table as runs_table

    return runs_table(tracking_uri, run_id)
