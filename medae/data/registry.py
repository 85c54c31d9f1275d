"""The registry of data sources: ``data=<name>`` builds the LightningDataModule registered as ``name``."""

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from medae.config.registry import Registry, signature_defaults
from medae.config.run_parts import plain_dict
from medae.data.reconstruction_datamodule import ReconstructionDataModule

# the disk cache of preprocessed samples (data.cache=disk) sits beside the fetched checkpoints
DISK_CACHE_DIR = "${paths.cache_dir}/preprocessed"


def data_source_defaults(source: type[ReconstructionDataModule]) -> dict[str, Any]:
    """A source's constructor defaults, with the disk cache under ``paths.cache_dir``."""
    return {**signature_defaults(source), "cache_dir": DISK_CACHE_DIR}


DATA_SOURCES: Registry[type[ReconstructionDataModule]] = Registry("data", data_source_defaults)
"""``data=<name>``: the source's constructor defaults are its config. Register a source with
``@DATA_SOURCES.register("<name>")`` on a ``ReconstructionDataModule`` subclass."""


def build_datamodule(data: Mapping[str, Any] | DictConfig) -> ReconstructionDataModule:
    """The data module a ``data`` node names, built with the node's other keys (resolved).

    Example:
        >>> build_datamodule({"name": "mni152", "image_size": 32}).image_size
        32
    """
    node = plain_dict(data) if isinstance(data, DictConfig) else data
    data_class, options = DATA_SOURCES.build(node)
    return data_class(**options)
