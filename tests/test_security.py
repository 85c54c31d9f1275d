"""A shared store runs no one's code: hostile configs and checkpoints, bombs, authentication, secrets."""

import dataclasses
import gzip
import json
import os
import shutil
import time
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client

from medae.commands.run_setup import run_setup
from medae.commands.train import train
from medae.data.declared_size import check_declared_size, declared_bytes, dicom_bytes
from medae.data.registry import build_datamodule
from medae.errors import ConfigError, DataError
from medae.tracking.schema import LAST_ARTIFACT, OVERRIDES_ARTIFACT
from medae.tracking.store import check_credentials
from tests.conftest import last_error_line, medae, module_for, tracking_uri
from tests.data_files import pydicom_file
from tests.tracking_server import ADMIN_PASSWORD, running_server

PASSWORD = "not-a-real-secret-4321"


class RunsCode:
    """Pickles as a call of os.system: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def trained_run(make_config, tmp_path) -> str:
    return train(make_config("trainer.max_epochs=1")).run_id


@pytest.mark.slow
def test_reproduce_and_resume_of_an_edited_run_run_no_code_and_write_only_in_the_root(trained_run, tmp_path):
    uri = tracking_uri(tmp_path)
    client = mlflow.MlflowClient(uri)
    marker, escape = tmp_path / "code-ran", tmp_path.parent / f"{tmp_path.name}-site" / "evil.pth"
    client.set_terminated(trained_run, "KILLED")
    recorded = json.loads(
        Path(client.download_artifacts(trained_run, OVERRIDES_ARTIFACT, str(tmp_path))).read_text()
    )
    run_cmd = f"{{_target_: monai.utils.run_cmd, cmd_list: [touch, {marker}]}}"
    # the attack that got past the allow-list: a resolver whose name is built by interpolation
    hostile = [*recorded, "+callbacks.kk=create", f"+callbacks.evil='${{oc.${{callbacks.kk}}:{run_cmd}}}'"]
    client.log_text(trained_run, json.dumps(hostile), OVERRIDES_ARTIFACT)
    for command in (["reproduce", trained_run], ["resume", trained_run]):
        refused = medae(command, tmp_path)
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert last_error_line(refused).startswith("medae: error: callbacks.evil: holds an interpolation (")
        assert not marker.exists()
    # a checkpoint whose stored best path points at a file Python runs at start: resume downloads only
    # into the run's folder, and continues
    client.log_text(trained_run, json.dumps(recorded), OVERRIDES_ARTIFACT)
    last = Path(client.download_artifacts(trained_run, LAST_ARTIFACT, str(tmp_path / "store-copy")))
    checkpoint = torch.load(last, weights_only=True)
    for key, state in checkpoint["callbacks"].items():
        if key.startswith("ModelCheckpoint"):
            state["best_model_path"] = str(escape)
            state["best_k_models"] = {str(escape): 1.0}
    torch.save(checkpoint, last)
    client.log_artifact(trained_run, str(last), "checkpoints")
    for path in (tmp_path / "outputs").rglob("*.ckpt"):
        path.unlink()  # another machine: the checkpoints come from the store
    resumed = medae(["resume", trained_run], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not escape.parent.exists() and not marker.exists()
    assert client.get_run(trained_run).info.status == "FINISHED"


@pytest.mark.slow
def test_a_checkpoint_whose_pickle_runs_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    checkpoint = tmp_path / "hostile.ckpt"
    torch.save({"hyper_parameters": RunsCode(marker), "state_dict": {}}, checkpoint)
    for command in (["eval", f"ckpt_path={checkpoint}"], ["train", "debug=limit", f"ckpt_path={checkpoint}"]):
        refused = medae(command, tmp_path)
        assert refused.returncode == 2
        assert last_error_line(refused) == (
            f"medae: error: {checkpoint}: refused: it would import posix.system, which is not a type medae "
            "saves; load it only if you trust its author (trust_checkpoint=true, or --trust-checkpoint)"
        )
    assert not marker.exists()
    torch.load(checkpoint, weights_only=False)  # what medae refuses to do
    assert marker.exists()


@pytest.mark.slow
def test_medae_checkpoints_load_with_the_safe_unpickler(trained_run, tmp_path):
    (checkpoint,) = (tmp_path / "outputs").rglob("last.ckpt")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["medae_run_config"]["model"]["name"] == "conv"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(checkpoint) == []


def write_nifti_bomb(path: Path, shape: tuple[int, ...]) -> None:
    """A .nii.gz whose header claims ``shape`` float32 voxels but which holds only a few bytes."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header.set_data_offset(352)
    with gzip.open(path, "wb") as stream:
        stream.write(header.binaryblock + b"\0" * 4 + b"\0" * 64)


@pytest.mark.slow
def test_a_nifti_bomb_is_refused_before_decompression(tmp_path):
    folder = tmp_path / "volumes"
    folder.mkdir()
    bomb = folder / "bomb.nii.gz"
    write_nifti_bomb(bomb, (5000, 5000, 1000))
    assert bomb.stat().st_size < 1000
    assert declared_bytes(bomb) == 100_000_000_000
    refused = medae(["train", "data=nifti", f"data.root={folder}", "debug=limit"], tmp_path)
    assert refused.returncode == 2
    assert last_error_line(refused) == (
        f"medae: error: {bomb}: declares 93.1 GiB of pixels, over data.max_image_bytes=4294967296 (4.0 GiB); "
        "refused before decompressing (raise it if the file is real)"
    )


def test_dicom_and_numpy_headers_are_bounded(tmp_path):
    dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    assert dicom_bytes(dataset) == 128 * 128 * 2
    dataset.Rows, dataset.Columns, dataset.NumberOfFrames = 60000, 60000, 100
    path = tmp_path / "huge.dcm"
    dataset.save_as(path)
    with pytest.raises(DataError, match=r"declares 670\.6 GiB of pixels"):
        check_declared_size(path, 4 * 1024**3)
    array = tmp_path / "small.npy"
    np.save(array, np.zeros((3, 4), dtype=np.int16))
    check_declared_size(array, 24)
    with pytest.raises(DataError, match="over data.max_image_bytes=23"):
        check_declared_size(array, 23)


def scanned_text(client: mlflow.MlflowClient, run_id: str, folder: Path) -> str:
    """Params, tags, text artifacts and the checkpoints' stored run config of a run, as one text."""
    run = client.get_run(run_id)
    parts = [str(run.data.params), str(run.data.tags)]
    local = Path(client.download_artifacts(run_id, "", str(folder)))
    for path in local.rglob("*"):
        if path.suffix in (".yaml", ".txt", ".json", ".csv"):
            parts.append(path.read_text())
        elif path.suffix == ".ckpt":
            parts.append(str(torch.load(path, map_location="cpu", weights_only=True)["medae_run_config"]))
    return "\n".join(parts)


@pytest.mark.slow
def test_no_secret_reaches_params_tags_artifacts_or_checkpoints(make_config, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MEDAE_TEST_LAB_TOKEN", "lab-token-9876")
    cfg = make_config(
        "trainer.max_epochs=1",
        "+logger.mlflow.tags.copied=${oc.env:MLFLOW_TRACKING_PASSWORD}",
        f"+logger.mlflow.tags.server=http://alice:{PASSWORD}@127.0.0.1:5000",
        "+logger.mlflow.tags.token=${oc.env:MEDAE_TEST_LAB_TOKEN}",  # any variable, not only MLflow's
        "+logger.mlflow.tags.derived=from-${logger.mlflow.tags.token}",
    )
    run_id = train(cfg).run_id
    text = scanned_text(mlflow.MlflowClient(tracking_uri(tmp_path)), run_id, tmp_path / "download")
    assert "'name': 'conv'" in text  # the checkpoints' stored run config was scanned
    assert "http://alice:***@127.0.0.1:5000" in text
    assert PASSWORD not in text and "lab-token-9876" not in text


def test_the_run_record_is_flat_plain_data_with_no_secret(make_config, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDAE_TEST_LAB_TOKEN", "lab-token-9876")
    for reader in ("git_state", "medae_source_commit"):  # git runs as a process (the slow tier covers it)
        monkeypatch.setattr(f"medae.commands.run_setup.{reader}", lambda *_: {"git": "abc"})
    cfg = make_config(
        "+logger.mlflow.tags.token=${oc.env:MEDAE_TEST_LAB_TOKEN}",
        f"+logger.mlflow.tags.server=http://alice:{PASSWORD}@127.0.0.1:5000",
    )
    datamodule = build_datamodule(cfg.data)
    datamodule.setup()
    setup = run_setup(cfg, datamodule, module_for("conv", 2, 32), None)
    record = json.dumps(dataclasses.asdict(setup))  # only strings and numbers: no config object travels
    assert PASSWORD not in record and "lab-token-9876" not in record
    assert setup.params["logger.mlflow.tags.token"] == "***"
    assert setup.params["model.name"] == "conv" and setup.params["data.image_size"] == "32"
    # the job's own folders are tags, not params, so runs compare on what was chosen
    assert "paths.output_dir" not in setup.params
    assert setup.tags["medae.path.paths.output_dir"] == str(cfg.paths.output_dir)
    assert setup.data.fingerprint == datamodule.fingerprint()
    assert setup.data.split_sizes == datamodule.split_sizes()
    assert "lab-token-9876" not in setup.texts["config/config.yaml"]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    with running_server(folder) as uri:
        yield uri, ADMIN_PASSWORD, folder


def as_user(monkeypatch, uri: str, user: str | None, password: str | None) -> mlflow.MlflowClient:
    for name, value in (("MLFLOW_TRACKING_USERNAME", user), ("MLFLOW_TRACKING_PASSWORD", password)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return mlflow.MlflowClient(uri)


@pytest.mark.slow
def test_the_team_server_refuses_strangers_and_readers_and_admits_writers(auth_server, monkeypatch, tmp_path):
    uri, admin_password, folder = auth_server
    admin = as_user(monkeypatch, uri, "admin", admin_password)
    experiment = admin.create_experiment(f"team-{time.monotonic_ns()}")
    users = get_app_client("basic-auth", tracking_uri=uri)
    for name, permission in (("reader", "READ"), ("writer", "EDIT")):
        users.create_user(name, f"{name}-password-12")
        users.grant_user_permission(name, "experiment", experiment, permission)

    stranger = as_user(monkeypatch, uri, None, None)
    with pytest.raises(MlflowException, match="401|credentials|Unauthorized"):
        stranger.search_experiments()
    advice = "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user the server's admin created"
    with pytest.raises(ConfigError) as refused:
        check_credentials(stranger, uri)
    assert str(refused.value) == (
        f"MLFLOW_TRACKING_USERNAME: the tracking server {uri} asks for credentials and none were given; "
        + advice
    )
    wrong = {"MLFLOW_TRACKING_USERNAME": "writer", "MLFLOW_TRACKING_PASSWORD": "wrong-password-12"}
    done = medae(["train", "debug=limit"], tmp_path, MLFLOW_TRACKING_URI=uri, **wrong)
    assert done.returncode == 2
    assert last_error_line(done) == (
        f"medae: error: MLFLOW_TRACKING_USERNAME: the tracking server {uri} refused the credentials given; "
        + advice
    )
    reader = as_user(monkeypatch, uri, "reader", "reader-password-12")
    assert reader.get_experiment(experiment).experiment_id == experiment
    with pytest.raises(MlflowException, match="403|Permission denied"):
        reader.create_run(experiment)

    # a writer's run, in an experiment medae creates, from a working folder that is deleted afterwards
    as_user(monkeypatch, uri, "writer", "writer-password-12")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    experiment_name = f"team-medae-{time.monotonic_ns()}"
    done = medae(
        ["train", "debug=limit", "data.image_size=32", f"logger.mlflow.experiment_name={experiment_name}"],
        first,
        MLFLOW_TRACKING_URI=uri.replace("://", "://writer:writer-password-12@"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "View run" in done.stdout and "writer-password-12" not in done.stdout + done.stderr
    # the password hashes and the server's stores are readable by the server's user only
    assert {
        path.name: path.stat().st_mode & 0o777 for path in (folder / "auth.db", folder / "mlflow.db")
    } == {
        "auth.db": 0o600,
        "mlflow.db": 0o600,
    }
    writer = mlflow.MlflowClient(uri)
    created = writer.get_experiment_by_name(experiment_name)
    assert created.artifact_location.startswith("mlflow-artifacts:")  # the server's, not the client's
    (run,) = writer.search_runs([created.experiment_id])
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert {a.path for a in writer.list_artifacts(run_id, "checkpoints")} == {
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    }
    assert len(list((folder / "artifacts").rglob("best.ckpt"))) == 1
    assert not (first / "mlartifacts").exists()
    text = scanned_text(writer, run_id, tmp_path / "download")
    assert "writer-password-12" not in text and admin_password not in text
    shutil.rmtree(first)

    # a colleague on another machine evaluates the checkpoint and loads the model through the server
    as_user(monkeypatch, uri, "admin", admin_password)
    users.create_user("colleague", "colleague-password-12")
    users.grant_user_permission("colleague", "experiment", created.experiment_id, "EDIT")
    colleague = as_user(monkeypatch, uri, "colleague", "colleague-password-12")
    done = medae(
        ["eval", f"ckpt_path={run_id}", f"logger.mlflow.experiment_name={experiment_name}"],
        second,
        MLFLOW_TRACKING_URI=uri,
        MEDAE_CACHE_DIR=str(second / "cache"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = colleague.search_runs([created.experiment_id], order_by=["attributes.start_time DESC"])
    assert runs[0].info.run_name.startswith("eval:")
    assert f"medae: run {runs[0].info.run_id} ({runs[0].info.run_name}) in {uri}" in done.stdout
    assert runs[0].data.metrics["test/psnr"] == pytest.approx(run.data.metrics["test/psnr"], abs=1e-6)
    (logged,) = colleague.get_run(run_id).outputs.model_outputs
    location = colleague.get_logged_model(logged.model_id).artifact_location
    assert location.startswith("mlflow-artifacts:")
    local = mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=uri, dst_path=str(second))
    model = mlflow.pyfunc.load_model(local)
    assert model.metadata.model_id == logged.model_id
    assert model.loader_module == "medae.inference.model_package"
