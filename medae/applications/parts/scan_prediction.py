"""What ``medae predict`` does with a run of each application: its output's name, codes, maps and columns.

An application registers a :class:`ScanPrediction` under its name, as a user's application does; a run
without one (or without an application) is reconstructed, nothing more.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from medae.models.autoencoder_module import AutoencoderModule


@dataclass(frozen=True)
class ScanMaps:
    """An application's maps of model-sized inputs, the reconstructions they came from, and its columns.

    Attributes:
        reconstructions: the network's outputs ``(N, C, *spatial)``.
        maps: one map per input ``(N, 1, *spatial)``, written over the scan.
        columns: the application's columns of the scan's row in ``predictions.csv``.
    """

    reconstructions: torch.Tensor
    maps: torch.Tensor
    columns: dict[str, float]


# (network, inputs, foreground, value range, the run's params, what prepare gave) -> ScanMaps
MapsFunction = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, tuple[float, float], Mapping[str, str], Any], ScanMaps
]


@dataclass(frozen=True)
class ScanPrediction:
    """How ``medae predict`` applies a run of one application to a scan; by default it reconstructs it.

    Attributes:
        result_name: the name of the network's output file and column (``<scan>_<result_name>``).
        writes_codes: also write each scan's latent codes (from a network that encodes).
        map_name: the name of the map file that ``maps`` gives (``<scan>_<map_name>``), if any.
        mask_column: the column that names the foreground the maps were scored in.
        run_params: the run's params that applying it needs, each with its value for a run without it.
        prepare: from the trained LightningModule and those params, what ``maps`` needs besides them.
        maps: the maps, reconstructions and columns of model-sized inputs within their foreground.

    Example:
        >>> prediction_for("generation").result_name, prediction_for(None).maps is None
        ('reconstruction', True)
    """

    result_name: str = "reconstruction"
    writes_codes: bool = False
    map_name: str | None = None
    mask_column: str | None = None
    run_params: Mapping[str, str] = field(default_factory=dict)
    prepare: Callable[["AutoencoderModule", Mapping[str, str]], Any] | None = None
    maps: MapsFunction | None = None


PREDICTIONS: dict[str, ScanPrediction] = {}


def register_prediction(application: str, prediction: ScanPrediction) -> None:
    """Say how ``medae predict`` applies runs of ``application`` (its registry name)."""
    PREDICTIONS[application] = prediction


def prediction_for(application: str | None) -> ScanPrediction:
    """How runs of ``application`` are applied to a scan: as registered, else reconstructed."""
    return PREDICTIONS.get(application or "", ScanPrediction())
