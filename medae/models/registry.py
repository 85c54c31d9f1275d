"""The registry of autoencoder variants: tests, the CLI and the trainer look models up here."""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medae.config.registry import Registry
from medae.config.type_check import specs_of
from medae.errors import CapabilityError, ConfigError, DataError
from medae.models.capabilities import declared
from medae.security.safe_checkpoint import load_checkpoint

if TYPE_CHECKING:
    from medae.models.autoencoder_module import AutoencoderModule

MODELS: Registry[type["AutoencoderModule"]] = Registry(
    "model",
    lambda module: module.config_class.config_node(),
    lambda module: specs_of(module.config_class),
)
"""``model=<name>``: the variant's config dataclass is its config, so its defaults are written once and
``conf/model/`` needs no yaml for it. Register a variant with ``@MODELS.register("<name>")``."""


def variants_with(capability: type) -> list[str]:
    """The registered variants whose network declares ``capability``, sorted by name."""
    return sorted(name for name, module in MODELS.items() if capability in declared(module.network_class))


def require(model: str, capabilities: Iterable[type], application: str) -> None:
    """Raise a CapabilityError unless variant ``model``'s network declares every one of ``capabilities``."""
    have = declared(MODELS.lookup(model).network_class)
    for capability in capabilities:
        if capability not in have:
            raise CapabilityError(model, application, capability.__name__, variants_with(capability))


def build_module(model: Mapping[str, Any], *args: Any, **kwargs: Any) -> "AutoencoderModule":
    """Build the LightningModule that ``model.name`` selects; the other arguments are its constructor's.

    Example:
        ``build_module({"name": "vae"}, {"mse": 1.0}, optim, None, (0.0, 1.0))`` builds a
        :class:`~medae.models.vae.lightning_model.VaeModule` (see :class:`AutoencoderModule` for the rest).
    """
    module_class, _ = MODELS.build(model)
    return module_class(model, *args, **kwargs)


def check_fits(checkpoint: Mapping[str, Any], module: "AutoencoderModule", path: str) -> None:
    """Raise a ConfigError unless the checkpoint at ``path`` holds weights of ``module``'s variant and sizes.

    Example:
        ``train model=vae ckpt_path=<a conv checkpoint>`` stops here, before any training, with
        ``ckpt_path: ... holds a 'conv' model, not 'vae'; choose model=conv``.
    """
    stored = (checkpoint.get("hyper_parameters") or {}).get("model", {}).get("name")
    if stored and stored != module.registry_name:
        raise ConfigError(
            "ckpt_path",
            f"{path} holds a '{stored}' model, not '{module.registry_name}'; choose model={stored}",
        )
    expected = module.state_dict()
    for key, tensor in (checkpoint.get("state_dict") or {}).items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise ConfigError(
                "ckpt_path",
                f"{path} does not fit model '{stored}' as configured: {key} has shape {list(tensor.shape)} "
                f"there and {list(expected[key].shape)} here; use the model settings it was trained with",
            )


def load_module(ckpt_path: str | Path, trust: bool = False) -> "AutoencoderModule":
    """Rebuild a trained LightningModule from a medae checkpoint alone.

    Args:
        ckpt_path: the checkpoint.
        trust: unpickle any object it holds; otherwise only the types medae saves
            (:func:`medae.security.safe_checkpoint.load_checkpoint`).
    """
    checkpoint = load_checkpoint(ckpt_path, trust)
    try:
        name = checkpoint["hyper_parameters"]["model"]["name"]
    except (KeyError, TypeError) as error:
        raise DataError(
            str(ckpt_path), f"is not a medae checkpoint (no {error} in its hyper_parameters)"
        ) from error
    return MODELS.lookup(name).load_from_checkpoint(ckpt_path, map_location="cpu", weights_only=not trust)
