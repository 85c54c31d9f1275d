"""A trained run's network with what applying it needs: its preprocessing, application and run.

Built from the same ``ckpt_path`` references ``medae eval`` takes (a checkpoint file, a run id,
``runs:/<id>/model``, ``models:/<name>/<version>``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import mlflow
import torch
from mlflow.exceptions import MlflowException
from torch import nn

from medae.applications.parts.scan_prediction import ScanPrediction, prediction_for
from medae.data.domain_profile import DomainProfile
from medae.errors import DataError
from medae.inference.preprocessing import ScanPreprocessing
from medae.models.capabilities import Encodes, has
from medae.models.registry import load_module
from medae.models.sliding_window import window_reconstruction
from medae.tracking.logged_model import is_reference, resolve_checkpoint, source_run


@dataclass
class TrainedModel:
    """A network in eval mode on the CPU, and how to apply it.

    Attributes:
        network: the trained network.
        preprocessing: the run's preprocessing (:class:`ScanPreprocessing`).
        variant: the model's registry name.
        application: the run's application (``denoising``, ``anomaly``, ...), or None.
        run_id: the run it comes from, when the reference names one.
        data: the run's data config.
        prediction: how its application applies it to a scan (its registered ``ScanPrediction``).
        chosen: the run's params that the application needs (e.g. the anomaly score it chose on validation
            data), or their values for a run without them.
        prepared: what the application prepared from the trained module (e.g. an anomaly score's extra term).
        domain: what its training volumes looked like (:class:`DomainProfile`), where the run recorded it.
    """

    network: nn.Module
    preprocessing: ScanPreprocessing
    variant: str
    application: str | None = None
    run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    prediction: ScanPrediction = field(default_factory=ScanPrediction)
    chosen: dict[str, str] = field(default_factory=dict)
    prepared: Any = None
    domain: DomainProfile | None = None

    @classmethod
    def load(cls, ckpt_path: str, tracking_uri: str, cache_dir: str, trust: bool = False) -> "TrainedModel":
        """The model a ``ckpt_path`` reference names; its run's config comes from the checkpoint."""
        module = load_module(resolve_checkpoint(ckpt_path, tracking_uri, cache_dir), trust=trust)
        config = module.run_config or {}
        if "data" not in config:
            raise DataError(ckpt_path, "stores no data config, so its preprocessing is unknown")
        application = (config.get("application") or {}).get("name")
        prediction = prediction_for(application)
        run_id, chosen = None, dict(prediction.run_params)
        if is_reference(ckpt_path):
            client = mlflow.MlflowClient(tracking_uri)
            run_id = source_run(ckpt_path, client)
            try:
                params = client.get_run(run_id).data.params
            except MlflowException:
                params = {}
            chosen |= {key: params[key] for key in prediction.run_params if key in params}
        module.eval()
        data = dict(config["data"])
        return cls(
            module.network,
            ScanPreprocessing.from_data_config(data, module.training_spacing),
            module.registry_name,
            application,
            run_id,
            data,
            prediction,
            chosen,
            prediction.prepare(module, chosen) if prediction.prepare else None,
            module.training_profile,
        )

    @property
    def encodes(self) -> bool:
        """Whether the network has latent codes to write."""
        return has(self.network, Encodes)

    @torch.no_grad()
    def reconstruct(
        self, inputs: torch.Tensor | Sequence[torch.Tensor], batch_size: int = 32
    ) -> torch.Tensor | list[torch.Tensor]:
        """Reconstructions of model-sized inputs ``(N, C, S, ...)``, or of whole samples (sliding windows)."""
        if isinstance(inputs, torch.Tensor):
            return torch.cat([self.network(chunk).reconstruction for chunk in inputs.split(batch_size)])
        window = self.preprocessing.image_size
        return [window_reconstruction(self.network, sample[None], window, batch_size)[0] for sample in inputs]

    @torch.no_grad()
    def codes(self, inputs: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Latent codes of model-sized inputs."""
        network = cast(Encodes, self.network)
        return torch.cat([network.encode(chunk) for chunk in inputs.split(batch_size)])
