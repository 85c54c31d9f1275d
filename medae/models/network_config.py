"""Base of every network's config: the fields all variants share and strict construction from Hydra."""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from medae.config.registry import NAME_KEY, plain
from medae.config.type_check import PositiveInt, check_types
from medae.errors import ConfigError

# shared fields that follow the data instead of having a default of their own in a run's config
FOLLOWS_DATA = {
    "spatial_dims": "${data.spatial_dims}",
    "in_channels": "${data.channels}",
    "image_size": "${data.image_size}",
}


@dataclass
class NetworkConfig:
    """Fields every network takes; variants subclass it and add their own.

    Attributes:
        spatial_dims: 2 for images, 3 for volumes (follows ``data.spatial_dims``).
        in_channels: image channels (follows ``data.channels``).
        image_size: side length of the input (follows ``data.image_size``).
        output_activation: ``smooth`` (sigmoid, tanh) or ``hard`` (hard sigmoid, hard tanh: they reach
            the ends of the data range, e.g. an exactly zero background); networks that clamp ignore it.
    """

    spatial_dims: int = 2
    in_channels: PositiveInt = 1
    image_size: PositiveInt = 64
    output_activation: str = "smooth"

    def __post_init__(self) -> None:
        """Check every field against its type and range (its annotation), then the dimensions.

        Subclasses call this first, then check what relates fields to each other.
        """
        check_types(
            "model", {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}, type(self)
        )
        if self.spatial_dims not in (2, 3):
            raise ConfigError("model.spatial_dims", f"must be 2 or 3, got {self.spatial_dims}")

    @classmethod
    def config_node(cls) -> dict[str, Any]:
        """The ``model`` config of a variant: its defaults, the shared fields following the data.

        Example:
            >>> NetworkConfig.config_node()["image_size"]
            '${data.image_size}'
        """
        defaults = {field.name: plain(getattr(cls(), field.name)) for field in dataclasses.fields(cls)}
        return defaults | FOLLOWS_DATA

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> Self:
        """Build the config from a model node, refusing keys the variant does not have.

        Example:
            >>> NetworkConfig.from_mapping({"name": "x", "spatial_dims": 2}).spatial_dims
            2
        """
        allowed = [f.name for f in dataclasses.fields(cls)]
        values = {key: value for key, value in options.items() if key != NAME_KEY}
        for key in values:
            if key not in allowed:
                model = options.get(NAME_KEY, cls.__name__)
                raise ConfigError(
                    f"model.{key}", f"is not an option of model '{model}'; allowed: {', '.join(allowed)}"
                )
        arguments: dict[str, Any] = {key: tuple(v) if isinstance(v, list) else v for key, v in values.items()}
        return cls(**arguments)
