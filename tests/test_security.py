"""A shared store runs no one's code: hostile configs and checkpoints, bombs, authentication, secrets."""

import gzip
import os
import shutil
import sys
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

from medae.commands.reproduce import reproduce
from medae.commands.resume import resume
from medae.commands.train import train
from medae.data.declared_size import check_declared_size, declared_bytes, dicom_bytes
from medae.errors import ConfigError, DataError
from medae.security.trusted_targets import is_trusted
from medae.tracking.store import check_credentials
from tests.conftest import last_error_line, medae, tracking_uri
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


def hostile_callbacks(marker: Path, source: Path) -> dict[str, str]:
    """Callback nodes that would each leave ``marker`` behind, by the routes an attacker has tried."""
    return {
        "run_cmd": f"_target_: monai.utils.run_cmd\n    _args_: [[touch, {marker}]]",
        "re-exported torch.save": f"_target_: torch.optim.optimizer.torch.save\n    obj: 1\n    f: {marker}",
        "re-exported copyfile": (
            "_target_: medae.tracking.checkpoint_artifacts.shutil.copyfile\n"
            f"    src: {source}\n    dst: {marker}"
        ),
        "re-exported os.system": (
            f"_target_: medae.commands.reproduce.os.system\n    _args_: [touch {marker}]"
        ),
        "looked up": f"_target_: hydra.utils.get_method\n    path: shutil.copyfile\n    x: {marker}",
        "smuggled by a resolver": (
            "_target_: lightning.pytorch.callbacks.Timer\n"
            f'    duration: "${{oc.create:{{_target_: os.system, '
            f'_args_: [touch {marker}]}}}}"'
        ),
    }


@pytest.mark.slow
def test_a_logged_config_that_names_code_medae_does_not_build_is_refused(trained_run, tmp_path):
    uri = tracking_uri(tmp_path)
    client = mlflow.MlflowClient(uri)
    config = Path(client.download_artifacts(trained_run, "config/config_unresolved.yaml", str(tmp_path)))
    original = config.read_text()
    marker = tmp_path / "code-ran"
    client.set_terminated(trained_run, "KILLED")

    def log_hostile(node: str) -> None:
        hostile = original.replace("callbacks:\n", f"callbacks:\n  hostile:\n    {node}\n", 1)
        client.log_text(trained_run, hostile, "config/config_unresolved.yaml")

    # every route, through both commands that read a logged config, in this process
    for route, node in hostile_callbacks(marker, config).items():
        log_hostile(node)
        for command in (reproduce, resume):
            with pytest.raises(ConfigError, match=r"^callbacks\.hostile\.") as refused:
                command(trained_run, uri)
            assert "--trust-config" in str(refused.value), (route, command.__name__)
            assert not marker.exists(), (route, command.__name__)
    # the commands say so in one line and exit 2
    log_hostile(hostile_callbacks(marker, config)["run_cmd"])
    for command in (["reproduce", trained_run], ["resume", trained_run]):
        refused = medae(command, tmp_path)
        assert refused.returncode == 2, refused.stderr[-2000:]
        line = last_error_line(refused)
        assert line.startswith("medae: error: callbacks.hostile._target_: monai.utils.run_cmd is not one")
        assert "--trust-config" in line and not marker.exists()
    # the threat is real: trusting the config runs the command
    medae(["reproduce", trained_run, "--trust-config"], tmp_path)
    assert marker.exists()


def test_only_the_objects_medae_builds_pass_by_identity_not_by_name():
    accepted = ["torch.optim.Adam", "torch.optim.lr_scheduler.CosineAnnealingLR", "lightning.Trainer"]
    accepted += ["lightning.pytorch.callbacks.ModelCheckpoint", "medae.tracking.logger.ResumableMLFlowLogger"]
    refused = ["monai.utils.run_cmd", "torch.optim.optimizer.torch.save", "torch.save", "builtins.eval"]
    refused += ["medae.tracking.checkpoint_artifacts.shutil.copyfile", "medae.commands.reproduce.os.system"]
    refused += [
        "lightning.pytorch.callbacks.LambdaCallback",
        "torch.optim.lr_scheduler.LambdaLR",
        "medaevil.x",
    ]
    assert [is_trusted(target) for target in accepted] == [True] * len(accepted)
    assert [is_trusted(target) for target in refused] == [False] * len(refused)
    # a module the config names is never imported to resolve it
    assert not is_trusted("antigravity.fly") and "antigravity" not in sys.modules


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
    cfg = make_config(
        "trainer.max_epochs=1",
        "+logger.mlflow.tags.copied=${oc.env:MLFLOW_TRACKING_PASSWORD}",
        f"+logger.mlflow.tags.server=http://alice:{PASSWORD}@127.0.0.1:5000",
    )
    run_id = train(cfg).run_id
    text = scanned_text(mlflow.MlflowClient(tracking_uri(tmp_path)), run_id, tmp_path / "download")
    assert "'name': 'conv'" in text  # the checkpoints' stored run config was scanned
    assert "http://alice:***@127.0.0.1:5000" in text
    assert PASSWORD not in text


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
