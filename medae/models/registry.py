"""The registry of autoencoder variants: tests, the CLI and the trainer look models up here."""

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hydra.core.config_store import ConfigStore

from medae.errors import CapabilityError, ConfigError, DataError
from medae.models.capabilities import declared
from medae.safe_checkpoint import load_checkpoint

if TYPE_CHECKING:
    from medae.models.autoencoder_module import AutoencoderModule

ModuleClass = TypeVar("ModuleClass", bound=type["AutoencoderModule"])
MODELS: dict[str, type["AutoencoderModule"]] = {}


def register(name: str) -> Callable[[ModuleClass], ModuleClass]:
    """Class decorator that lists a LightningModule under ``model=<name>``.

    The variant's config dataclass becomes the Hydra config ``model/<name>`` (its defaults, written
    once), so ``conf/model/`` needs no yaml for it.
    """

    def add(module_class: ModuleClass) -> ModuleClass:
        module_class.registry_name = name
        MODELS[name] = module_class
        ConfigStore.instance().store(
            group="model", name=name, node=module_class.config_class.config_node(name)
        )
        return module_class

    return add


def model_class(name: str) -> type["AutoencoderModule"]:
    """The LightningModule class registered as ``name``."""
    if name not in MODELS:
        raise ConfigError("model.name", f"unknown model '{name}'; allowed: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def variants_with(capability: type) -> list[str]:
    """The registered variants whose network declares ``capability``, sorted by name."""
    return sorted(name for name, module in MODELS.items() if capability in declared(module.network_class))


def require(model: str, capabilities: Iterable[type], application: str) -> None:
    """Raise a CapabilityError unless variant ``model``'s network declares every one of ``capabilities``."""
    have = declared(model_class(model).network_class)
    for capability in capabilities:
        if capability not in have:
            raise CapabilityError(model, application, capability.__name__, variants_with(capability))


def build_module(
    model: Mapping[str, Any],
    loss: Mapping[str, float],
    optim: Mapping[str, Any],
    scheduler: Mapping[str, Any] | None,
    value_range: tuple[float, float],
    train_quality_interval: int = 10,
) -> "AutoencoderModule":
    """Build the LightningModule that ``model.name`` selects."""
    if "name" not in model:
        raise ConfigError("model.name", f"is missing; allowed: {', '.join(sorted(MODELS))}")
    return model_class(model["name"])(model, loss, optim, scheduler, value_range, train_quality_interval)


def load_module(ckpt_path: str | Path, trust: bool = False) -> "AutoencoderModule":
    """Rebuild a trained LightningModule from a medae checkpoint alone.

    Args:
        ckpt_path: the checkpoint.
        trust: unpickle any object it holds; otherwise only the types medae saves
            (:func:`medae.safe_checkpoint.load_checkpoint`).
    """
    checkpoint = load_checkpoint(ckpt_path, trust)
    try:
        name = checkpoint["hyper_parameters"]["model"]["name"]
    except (KeyError, TypeError) as error:
        raise DataError(
            str(ckpt_path), f"is not a medae checkpoint (no {error} in its hyper_parameters)"
        ) from error
    return model_class(name).load_from_checkpoint(ckpt_path, map_location="cpu", weights_only=not trust)
