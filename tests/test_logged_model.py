"""A training run logs its best network as an MLflow model; eval, encode and decode take MLflow references."""

import os
import re
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml

from medae import __version__ as medae_version_string
from medae.commands.evaluate import evaluate
from medae.commands.train import train
from medae.errors import ConfigError, DataError
from medae.inference.model_package import (
    CONFIG_FILE,
    LOADER_MODULE,
    WEIGHTS_FILE,
    check_model_folder,
    load_network,
)
from medae.models.registry import load_module
from medae.tracking.checkpoint_artifacts import local_artifact_dir
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
    assert logged.name == "conv-reconstruction" and logged.source_run_id == result.run_id
    assert logged.status.to_proto() == 2  # READY
    assert logged.params["model.latent_channels"] == "8" and logged.params["data.name"] == "mni152"
    linked = {metric.key: metric for metric in logged.metrics}
    run_metrics = client.get_run(result.run_id).data.metrics
    assert linked["test/psnr_fg"].value == run_metrics["test/psnr_fg"]
    assert linked["test/psnr_fg"].dataset_name == "mni152-test" and "val/psnr" not in linked
    mlflow.set_tracking_uri(tracking_uri(root))
    images = torch.rand(2, 1, 32, 32)
    served = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/conv-reconstruction").predict(
        images.numpy(), params={"preprocessed": True}
    )
    with torch.no_grad():  # the package holds the best checkpoint's weights, rebuilt without pickle
        packaged = load_network(f"runs:/{result.run_id}/conv-reconstruction")(images).reconstruction.numpy()
        best = load_module(result.best_checkpoint).network.eval()(images).reconstruction.numpy()
    assert served.shape == images.shape
    assert np.abs(served - best).max() == 0.0 and np.abs(packaged - best).max() == 0.0
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/conv-reconstruction")
    # scans of any size in their own units; the network's own inputs with params={"preprocessed": True}
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 1, -1, -1]
    assert info.signature.params.to_dict() == [
        {"name": "preprocessed", "type": "boolean", "default": False, "shape": None}
    ]
    version = client.get_model_version("brain-ae", "1")
    assert version.run_id == result.run_id


@pytest.mark.slow
def test_the_model_card_is_logged_shown_in_the_ui_and_printed(registered_run):
    root, result = registered_run
    client = mlflow.MlflowClient(tracking_uri(root))
    printed = medae(["models", "show", result.run_id], root)
    assert printed.returncode == 0, printed.stderr[-2000:]
    card = printed.stdout
    sections = [line for line in card.splitlines() if line.startswith("#")]
    assert sections == [
        "# conv-reconstruction",
        "## Intended use",
        "## Training data",
        "## Preprocessing",
        "## Limits",
        "## Metrics",
    ]
    psnr = client.get_run(result.run_id).data.metrics["test/psnr_fg"]
    assert f"| test/psnr_fg | {psnr:.4g} |" in card
    assert f"Trained by medae {medae_version_string} in MLflow run `{result.run_id}`." in card
    assert "- source: mni152" in card and "- training_spacing: [1.0, 1.0, 1.0]" in card
    assert "- The test figures rest on: 1 subject(s), " in card and "NOT subject-independent" in card
    assert (
        "- edge_brightness: 0.0\n" in card
    )  # the skull-stripped template's profile: nothing bright at its edge
    # the MLflow UI's description of the logged model and of the registered version; the same by reference
    (output,) = client.get_run(result.run_id).outputs.model_outputs
    assert client.get_logged_model(output.model_id).tags["mlflow.note.content"] == card
    assert client.get_model_version("brain-ae", "1").description == card
    assert medae(["models", "show", "models:/brain-ae/1"], root).stdout == card
    unknown = medae(["models", "show", "models:/brain-ae/7"], root)
    assert (
        unknown.returncode == 2 and "models:/brain-ae/7: is no registered model version in" in unknown.stderr
    )


@pytest.mark.slow
def test_references_resolve_to_the_runs_best_checkpoint_fetched_once(registered_run, tmp_path):
    root, result = registered_run
    uri = tracking_uri(root)
    paths = {
        resolve_checkpoint(reference, uri, tmp_path)
        for reference in (result.run_id, f"runs:/{result.run_id}/conv-reconstruction", "models:/brain-ae/1")
    }
    (fetched,) = (tmp_path / result.run_id).glob("*/best.ckpt")
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
    evaluated = evaluate(cfg).metrics
    assert evaluated["test/psnr"] == pytest.approx(result.metrics["test/psnr"], abs=1e-3)
    codes = tmp_path / "codes.npz"
    done = medae(
        ["encode", f"ckpt_path={result.run_id}", f"paths.tracking_uri={store}", f"output={codes}"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.load(codes)["codes"].shape[1:] == (8, 4, 4)


class RunsCode:
    """Pickles as a call of os.system: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.slow
def test_a_tampered_logged_model_runs_no_code(registered_run, tmp_path):
    root, result = registered_run
    mlflow.set_tracking_uri(tracking_uri(root))
    (package,) = (root / "mlartifacts").rglob("weights.safetensors")
    saved = package.read_bytes()
    marker = tmp_path / "code-ran"
    try:
        torch.save({"weights": RunsCode(marker)}, package)  # a payload where the weights were
        for load in (mlflow.pyfunc.load_model, mlflow.pytorch.load_model, load_network):
            with pytest.raises(Exception) as refused:
                load(f"runs:/{result.run_id}/conv-reconstruction")
            assert "not a medae model package" in str(refused.value) or load is not load_network
        assert not marker.exists()
    finally:
        package.write_bytes(saved)
    # a package whose MLmodel names another loader is refused before anything is read
    mlmodel = package.parents[2] / "MLmodel"
    text = mlmodel.read_text()
    try:
        mlmodel.write_text(
            text.replace("loader_module: medae.inference.model_package", "loader_module: mlflow.pytorch")
        )
        with pytest.raises(DataError, match="its loader is 'mlflow.pytorch'"):
            load_network(f"runs:/{result.run_id}/conv-reconstruction")
    finally:
        mlmodel.write_text(text)


@pytest.mark.slow
def test_a_cached_checkpoint_is_fetched_again_when_the_run_changed(registered_run, tmp_path):
    root, result = registered_run
    uri = tracking_uri(root)
    client = mlflow.MlflowClient(uri)
    first = Path(resolve_checkpoint(result.run_id, uri, tmp_path))
    assert resolve_checkpoint(result.run_id, uri, tmp_path) == str(first)
    # the run goes on (a resume) and ends later with another best checkpoint
    replacement = tmp_path / "new" / "best.ckpt"
    replacement.parent.mkdir()
    replacement.write_bytes(first.read_bytes() + b"\0" * 10)
    stored = local_artifact_dir(client.get_run(result.run_id).info.artifact_uri) / "checkpoints" / "best.ckpt"
    original = stored.read_bytes()
    try:
        stored.unlink()  # the store holds a hard link to the run's own file; write a new one
        stored.write_bytes(replacement.read_bytes())
        client.set_terminated(
            result.run_id, "FINISHED", end_time=client.get_run(result.run_id).info.end_time + 1000
        )
        second = Path(resolve_checkpoint(result.run_id, uri, tmp_path))
        assert second != first and second.read_bytes() == replacement.read_bytes()
        assert not first.exists() and [p.name for p in (tmp_path / result.run_id).iterdir()] == [
            second.parent.name
        ]
    finally:
        stored.unlink()
        stored.write_bytes(original)


def write_model_folder(
    folder: Path, flavors: dict, files: tuple[str, ...] = (CONFIG_FILE, WEIGHTS_FILE)
) -> Path:
    """A downloaded MLflow model as medae logs one (MLmodel and a package folder), with ``flavors``."""
    (folder / "data").mkdir(parents=True)
    for name in files:
        (folder / "data" / name).write_text("{}")
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors, "model_uuid": "x"}))
    return folder


MEDAE_FLAVOR = {"loader_module": LOADER_MODULE, "data": "data", "python_version": "3.11"}


def test_only_medaes_own_mlmodel_and_files_pass_the_model_check(tmp_path):
    ours = write_model_folder(tmp_path / "ours", {"python_function": MEDAE_FLAVOR})
    assert check_model_folder(ours, "m") == (ours / "data").resolve()
    tampered = {
        "another loader": (
            {"python_function": {**MEDAE_FLAVOR, "loader_module": "evil"}},
            "its loader is 'evil'",
        ),
        "shipped code": ({"python_function": {**MEDAE_FLAVOR, "code": "code"}}, "it ships code ('code')"),
        "another flavour": (
            {"python_function": MEDAE_FLAVOR, "pytorch": {"pickle_module_name": "pickle"}},
            "has the flavours ['python_function', 'pytorch']",
        ),
        "data outside": ({"python_function": {**MEDAE_FLAVOR, "data": "../../etc"}}, "lies outside"),
    }
    for name, (flavors, problem) in tampered.items():
        folder = write_model_folder(tmp_path / name.replace(" ", "_"), flavors)
        with pytest.raises((DataError, ConfigError), match=re.escape(problem)):
            check_model_folder(folder, "m")
    extra = write_model_folder(
        tmp_path / "extra", {"python_function": MEDAE_FLAVOR}, (CONFIG_FILE, WEIGHTS_FILE, "x.py")
    )
    with pytest.raises(
        DataError, match=r"holds \['network.json', 'weights.safetensors', 'x.py'\] in its package"
    ):
        check_model_folder(extra, "m")
    (tmp_path / "tagged").mkdir()
    (tmp_path / "tagged" / "MLmodel").write_text("flavors: !!python/object/apply:os.system [ls]")
    with pytest.raises(DataError, match="has the tag"):
        check_model_folder(tmp_path / "tagged", "m")
