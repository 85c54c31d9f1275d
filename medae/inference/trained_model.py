"""A trained run's network with what applying it needs: its preprocessing, application and run.

Built from the same ``ckpt_path`` references ``medae eval`` takes (a checkpoint file, a run id,
``runs:/<id>/model``, ``models:/<name>/<version>``).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlflow
import torch
from mlflow.exceptions import MlflowException
from torch import nn

from medae.errors import DataError
from medae.inference.preprocessing import ScanPreprocessing
from medae.models.capabilities import Encodes, has
from medae.models.registry import load_module
from medae.models.sliding_window import window_reconstruction
from medae.tracking.logged_model import is_reference, resolve_checkpoint, source_run

# the anomaly application's choices that its run logs as params, with the defaults of a run without them
ANOMALY_DEFAULTS = {
    "anomaly.anomaly_score": "l1",
    "anomaly.reduction": "mean",
    "anomaly.median": "0",
    "anomaly.erosion": "0",
    "anomaly.residual": "abs",
}


@dataclass
class TrainedModel:
    """A network in eval mode on the CPU, and how to apply it.

    Attributes:
        network: the trained network.
        preprocessing: the run's preprocessing (:class:`ScanPreprocessing`).
        variant: the model's registry name.
        application: the run's application (``denoising``, ``anomaly``, ...), or None.
        run_id: the run it comes from, when the reference names one.
        anomaly: the anomaly score, reduction and post-processing the run chose (``anomaly.*`` params).
        data: the run's data config.
        extra_score: what the chosen anomaly score adds to the image scores of its maps (the VAE's KL
            for ``elbo``, the discriminator-feature residual for ``fanogan``), as the run scored them.
    """

    network: nn.Module
    preprocessing: ScanPreprocessing
    variant: str
    application: str | None = None
    run_id: str | None = None
    anomaly: dict[str, str] = field(default_factory=lambda: dict(ANOMALY_DEFAULTS))
    data: dict[str, Any] = field(default_factory=dict)
    extra_score: Callable[[torch.Tensor], torch.Tensor] | None = None

    @classmethod
    def load(cls, ckpt_path: str, tracking_uri: str, cache_dir: str, trust: bool = False) -> "TrainedModel":
        """The model a ``ckpt_path`` reference names; its run's config comes from the checkpoint."""
        module = load_module(resolve_checkpoint(ckpt_path, tracking_uri, cache_dir), trust=trust)
        config = module.run_config or {}
        if "data" not in config:
            raise DataError(ckpt_path, "stores no data config, so its preprocessing is unknown")
        run_id, anomaly = None, dict(ANOMALY_DEFAULTS)
        if is_reference(ckpt_path):
            client = mlflow.MlflowClient(tracking_uri)
            run_id = source_run(ckpt_path, client)
            try:
                params = client.get_run(run_id).data.params
            except MlflowException:
                params = {}
            anomaly |= {key: params[key] for key in ANOMALY_DEFAULTS if key in params}
        application = (config.get("application") or {}).get("name")
        module.eval()
        data = dict(config["data"])
        extra = None
        if application == "anomaly":  # only an anomaly run needs its application's scores
            from medae.applications.anomaly import extra_scores

            extra = extra_scores(module, anomaly["anomaly.anomaly_score"])
        return cls(
            module.network,
            ScanPreprocessing.from_data_config(data),
            module.registry_name,
            application,
            run_id,
            anomaly,
            data,
            extra,
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
        return torch.cat([self.network.encode(chunk) for chunk in inputs.split(batch_size)])
