"""medae.api: the Python front door checks as the command line does, and its functions chain end to end."""

import nibabel as nib
import numpy as np
import pytest
import torch
from hydra.core.config_store import ConfigStore

from medae import api
from medae.applications.parts.registry import APPLICATIONS
from medae.config.schema import prepare_schema
from medae.errors import ConfigError
from tests.conftest import FAST_RUN


@pytest.fixture
def toy_application():
    """An application registered through ``api.register``, removed again afterwards."""

    @api.register("application", "toy_count", threshold=0.5)
    def evaluate(context, samples: int = 4, threshold: float = 0.1) -> dict[str, float]:
        """Count samples above a threshold."""
        return {"toy/count": float(samples)}

    yield evaluate
    del APPLICATIONS.entries["toy_count"], APPLICATIONS.nodes["toy_count"]
    ConfigStore.instance().repo["application"].pop("toy_count.yaml")


def test_every_public_name_is_documented():
    for name in api.__all__:
        assert getattr(api, name).__doc__ or name == "PLUGIN_KINDS", name


def test_compose_refuses_what_the_command_line_refuses_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as error:
        api.compose(["model.latent_channels=1.5"], root=tmp_path)
    assert str(error.value) == "model.latent_channels: expected int > 0, got 1.5 (float)"
    with pytest.raises(ConfigError, match=r"^command: unknown 'fit'; allowed: train, eval, predict, export$"):
        api.compose([], command="fit")


def test_compose_puts_outputs_and_store_under_the_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # which would name the store instead
    cfg = api.compose(["ckpt_path=x.ckpt", "input=a.nii.gz", "output=out"], command="predict", root=tmp_path)
    assert cfg.task_name == "predict" and cfg.paths.root_dir == str(tmp_path)
    assert cfg.paths.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"


def test_a_registered_plugin_is_configured_and_checked_like_a_built_in(toy_application, tmp_path):
    assert APPLICATIONS.node("toy_count") == {"name": "toy_count", "samples": 4, "threshold": 0.5}
    schema = prepare_schema()
    assert schema["groups"]["application"]["toy_count"]["types"]["samples"] == {"type": "int"}
    cfg = api.compose(["application=toy_count", "application.samples=9"], root=tmp_path)
    assert cfg.application.samples == 9
    with pytest.raises(ConfigError, match=r"^application.samples: expected int, got 'many' \(str\)$"):
        api.compose(["application=toy_count", "application.samples=many"], root=tmp_path)
    with pytest.raises(ConfigError, match=r"^kind: unknown 'loss'; allowed: model, data, application$"):
        api.register("loss", "mine")


@pytest.mark.slow
def test_train_load_predict_and_export_chain_through_the_api(tmp_path):
    cfg = api.compose([*FAST_RUN, "trainer.max_epochs=1"], root=tmp_path)
    result = api.train(cfg)
    network = api.load_network(f"runs:/{result.run_id}/conv-reconstruction", cfg.paths.tracking_uri)
    images = torch.rand(2, 1, 32, 32)
    assert network(images).reconstruction.shape == images.shape
    scans = tmp_path / "scans"
    scans.mkdir()
    volume = np.random.default_rng(0).random((32, 32, 4), dtype=np.float32)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), scans / "slab.nii.gz")
    out = tmp_path / "predicted"
    overrides = [f"ckpt_path={result.run_id}", f"input={scans}", f"output={out}"]
    predictions = api.predict(api.compose(overrides, command="predict", root=tmp_path))
    assert predictions.failed == [] and len(predictions.rows) == 1
    assert (out / predictions.rows[0]["reconstruction"]).exists()
    exported = api.export(
        api.compose(
            [f"ckpt_path={result.run_id}", f"output={tmp_path / 'model.pt'}", "format=torchscript"],
            command="export",
            root=tmp_path,
        )
    )
    assert exported["format"] == "torchscript" and exported["max_abs_difference"] <= 1e-4
