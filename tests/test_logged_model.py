"""A training run logs its best network as an MLflow model; eval, encode and decode take MLflow references."""

import mlflow
import numpy as np
import pytest
import torch

from medae.commands.evaluate import evaluate
from medae.commands.train import train
from medae.errors import ConfigError
from medae.tracking.logged_model import resolve_checkpoint
from tests.conftest import FAST_RUN, compose_config, medae, tracking_uri


@pytest.fixture(scope="module")
def registered_run(tmp_path_factory):
    """One fast run that logs its model and registers version 1 of ``brain-ae``."""
    root = tmp_path_factory.mktemp("logged")
    cfg = compose_config("train", [*FAST_RUN, "logger.mlflow.register_as=brain-ae"], root)
    return root, train(cfg)


@pytest.mark.slow
def test_run_logs_its_best_network_as_an_mlflow_model(registered_run):
    root, result = registered_run
    client = mlflow.MlflowClient(tracking_uri(root))
    outputs = client.get_run(result.run_id).outputs.model_outputs
    assert len(outputs) == 1
    logged = client.get_logged_model(outputs[0].model_id)
    assert logged.name == "model" and logged.source_run_id == result.run_id
    assert logged.status.to_proto() == 2  # READY
    mlflow.set_tracking_uri(tracking_uri(root))
    model = mlflow.pytorch.load_model(f"runs:/{result.run_id}/model")
    images = torch.rand(2, 1, 32, 32)
    assert model(images).shape == images.shape
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/model")
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 1, 32, 32]
    version = client.get_model_version("brain-ae", "1")
    assert version.run_id == result.run_id


@pytest.mark.slow
def test_references_resolve_to_the_runs_best_checkpoint_fetched_once(registered_run, tmp_path):
    root, result = registered_run
    uri = tracking_uri(root)
    paths = {
        resolve_checkpoint(reference, uri, tmp_path)
        for reference in (result.run_id, f"runs:/{result.run_id}/model", "models:/brain-ae/1")
    }
    fetched = tmp_path / result.run_id / "best.ckpt"
    assert paths == {str(fetched)}
    assert fetched.read_bytes()[:2] == b"PK"  # a torch zip checkpoint
    with pytest.raises(ConfigError, match="models:/brain-ae/7"):
        resolve_checkpoint("models:/brain-ae/7", uri, tmp_path)


@pytest.mark.slow
def test_eval_and_encode_take_a_registered_model(registered_run, make_config, tmp_path):
    root, result = registered_run
    store = tracking_uri(root)
    cfg = make_config(
        "ckpt_path=models:/brain-ae/1", f"paths.tracking_uri={store}", "debug=limit", config_name="eval"
    )
    evaluated = evaluate(cfg)
    assert evaluated["test/psnr"] == pytest.approx(result.metrics["test/psnr"], abs=1e-3)
    codes = tmp_path / "codes.npz"
    done = medae(
        ["encode", f"ckpt_path={result.run_id}", f"paths.tracking_uri={store}", f"output={codes}"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.load(codes)["codes"].shape[1:] == (8, 4, 4)
