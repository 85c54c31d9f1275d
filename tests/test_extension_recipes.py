"""The README's three extension recipes, followed in a folder outside medae: each is a few files, and trains.

Each test writes only the files its recipe lists, names the module in ``MEDAE_EXTENSIONS`` and runs the
``medae`` command from that folder; a preset yaml comes in with ``--config-dir``.
"""

import textwrap
from pathlib import Path

import mlflow
import pytest

from tests.conftest import medae, runs_in_store

FAST = ["debug=limit", "trainer=cpu", "data.batch_size=8"]
RUN_OUTPUTS = ("outputs", "mlartifacts")

TOY_NETWORK = '''
"""A two-layer convolutional autoencoder: the smallest network medae accepts."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from monai.networks.layers import Conv
from torch import nn

from medae.config.type_check import PositiveInt
from medae.models.network_config import NetworkConfig
from medae.models.output import AutoencoderOutput
from medae.models.output_activation import output_activation


@dataclass
class TinyConfig(NetworkConfig):
    hidden_channels: PositiveInt = 4  # its range: the schema refuses model.hidden_channels=0


class TinyAutoencoder(nn.Module):
    capabilities: ClassVar[tuple[type, ...]] = ()

    def __init__(self, config: TinyConfig, value_range: tuple[float, float]) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, config.spatial_dims]
        self.encoder = conv(config.in_channels, config.hidden_channels, 3, padding=1)
        self.decoder = conv(config.hidden_channels, config.in_channels, 3, padding=1)
        self.output_activation = output_activation(value_range)

    def forward(self, images: torch.Tensor) -> AutoencoderOutput:
        latent = torch.relu(self.encoder(images))
        return AutoencoderOutput(self.output_activation(self.decoder(latent)), latent)
'''

TOY_MODULE = '''
"""Training logic of the tiny autoencoder: the shared reconstruction objective."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import MODELS
from tiny.torch_model import TinyAutoencoder, TinyConfig


@MODELS.register("tiny")
class TinyModule(AutoencoderModule):
    """Two convolutions, no bottleneck."""

    config_class = TinyConfig
    network_class = TinyAutoencoder
'''

TOY_SOURCE = '''
"""Shepp-Logan phantoms at evenly spaced rotations, split by angle."""

import numpy as np
from monai.transforms import Compose, EnsureTyped, Resized
from skimage.data import shepp_logan_phantom
from skimage.transform import rotate

from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.data.registry import DATA_SOURCES


@DATA_SOURCES.register("phantoms")
class PhantomDataModule(ReconstructionDataModule):
    """Rotated Shepp-Logan phantoms; the last angles are validation, then test."""

    def __init__(self, count: int = 40, **kwargs) -> None:
        super().__init__(**kwargs)
        self.count = count

    def load_splits(self):
        phantom = shepp_logan_phantom()
        items = [
            {"image": rotate(phantom, 90 * i / self.count)[None].astype(np.float32), "position": str(i)}
            for i in range(self.count)
        ]
        val = int(self.count * (1 - self.val_fraction - self.test_fraction))
        test = int(self.count * (1 - self.test_fraction))
        return {"train": items[:val], "val": items[val:test], "test": items[test:]}

    def preprocessing(self):
        size = [self.image_size] * self.spatial_dims
        return Compose([Resized("image", spatial_size=size), EnsureTyped("image", track_meta=False)])
'''

TOY_APPLICATION = '''
"""The error quantile of the test reconstructions, beside the same figure for the identity map."""

import torch

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.network_calls import reconstruct
from medae.applications.parts.registry import APPLICATIONS


@APPLICATIONS.register("error_quantile")
def evaluate(context: ApplicationContext, quantile: float = 0.5) -> dict[str, float]:
    """Log the ``quantile`` of per-image mean absolute error on the test split."""
    test = context.split("test")
    reconstructions, _ = reconstruct(context.network, test.input)
    errors = (reconstructions - test.image).abs().flatten(1).mean(dim=1)
    metrics = {"error_quantile/autoencoder": float(torch.quantile(errors, quantile))}
    context.run.metrics(metrics)
    return metrics
'''


def train_with(folder: Path, files: dict[str, str], extension: str, *overrides: str) -> mlflow.entities.Run:
    """Write only ``files`` into ``folder``, train there with ``extension``, return the finished run."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    result = medae(["train", *overrides, *FAST], folder, MEDAE_EXTENSIONS=extension)
    assert result.returncode == 0, result.stderr[-2000:]
    written = [p.relative_to(folder) for p in folder.rglob("*") if p.suffix in (".py", ".yaml")]
    assert sorted(str(p) for p in written if p.parts[0] not in RUN_OUTPUTS) == sorted(files)
    (run,) = runs_in_store(folder)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/psnr"] > 0
    return run


@pytest.mark.slow
def test_a_new_variant_is_two_files(tmp_path):
    files = {"tiny/torch_model.py": TOY_NETWORK, "tiny/lightning_model.py": TOY_MODULE}
    run = train_with(
        tmp_path, files, "tiny.lightning_model", "model=tiny", "model.hidden_channels=6", "data.image_size=32"
    )
    assert run.data.params["model.name"] == "tiny"
    assert run.data.params["model.hidden_channels"] == "6"
    # the plug-in's range comes from its annotation, checked as medae's own options are
    refused = medae(
        ["train", "model=tiny", "model.hidden_channels=0"], tmp_path, MEDAE_EXTENSIONS="tiny.lightning_model"
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == "medae: error: model.hidden_channels: expected int > 0, got 0 (int)"


@pytest.mark.slow
def test_a_new_data_source_is_one_module_and_one_yaml(tmp_path):
    files = {
        "phantom_source.py": TOY_SOURCE,
        "myconf/data/phantoms_small.yaml": "defaults: [phantoms, _self_]\ncount: 30\nimage_size: 32\n",
    }
    run = train_with(tmp_path, files, "phantom_source", "--config-dir", "myconf", "data=phantoms_small")
    assert run.data.params["data.name"] == "phantoms"
    assert run.data.params["data.count"] == "30"
    misspelt = medae(
        ["train", "--config-dir", "myconf", "data=phantoms_small", "data.cont=3"],
        tmp_path,
        MEDAE_EXTENSIONS="phantom_source",
    )
    assert misspelt.returncode == 2
    assert "data.cont: unknown key; did you mean count?" in misspelt.stderr


@pytest.mark.slow
def test_a_new_application_is_one_module_and_one_yaml(tmp_path):
    files = {
        "quantile_application.py": TOY_APPLICATION,
        "myconf/application/upper_quartile.yaml": "defaults: [error_quantile, _self_]\nquantile: 0.75\n",
    }
    overrides = ("--config-dir", "myconf", "application=upper_quartile", "data.image_size=32")
    run = train_with(tmp_path, files, "quantile_application", *overrides)
    assert run.data.params["application.name"] == "error_quantile"
    assert run.data.params["application.quantile"] == "0.75"
    assert 0 < run.data.metrics["error_quantile/autoencoder"] < 1


@pytest.mark.slow
def test_an_extension_that_cannot_be_imported_is_named(tmp_path):
    result = medae(["train", "model=tiny"], tmp_path, MEDAE_EXTENSIONS="tiny.no_such_module")
    assert result.returncode == 2
    assert result.stderr.startswith("medae: error: MEDAE_EXTENSIONS: cannot import 'tiny.no_such_module'")
    assert "Traceback" not in result.stderr
