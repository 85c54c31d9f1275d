"""The foundations: one bootstrap, a CLI that answers without torch, one store location, the typed batch,
the tracked-run object and the library internals medae relies on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
import torch
from lightning import Trainer
from lightning.pytorch.trainer.connectors.signal_connector import _SignalConnector

from medae.compat import hand_over_to_hydra, mlflow_tracking_uri, optuna_trial_handle, request_trainer_stop
from medae.data.batch import ReconstructionBatch
from medae.errors import Interrupted
from medae.tracking.schema import store_uri
from medae.tracking.store import open_client
from medae.tracking.tracked_run import TrackedRun, ending
from tests.conftest import FAST_RUN, medae, medae_env

HEAVY = ("torch", "lightning", "monai")


def modules_after(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[list[str], str]:
    """The heavy modules loaded after ``medae ARGS`` ran in a fresh process, and what it printed."""
    script = (
        "import json, sys\nfrom medae.cli import main\nmain(json.loads(sys.argv[1]))\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *printed, loaded = done.stdout.strip().splitlines()
    return json.loads(loaded), "\n".join(printed)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["--help", "runs", "models", "data", "applications"])
def test_light_commands_import_neither_torch_nor_lightning(command, tmp_path):
    store = tmp_path / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{store}").create_experiment("lab")
    env = medae_env(tmp_path)
    env.pop("MEDAE_EXTENSIONS", None)
    loaded, printed = modules_after([command], tmp_path, env)
    assert loaded == []
    expected = {"--help": "usage: medae", "runs": "run id", "models": "vae", "data": "mni152"}
    assert expected.get(command, "anomaly") in printed


def test_store_uri_has_one_definition_for_every_command(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MEDAE_ROOT", str(tmp_path))
    assert store_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store_uri("/elsewhere") == "http://127.0.0.1:5000"
    monkeypatch.delenv("MEDAE_ROOT")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    assert store_uri() == f"sqlite:///{tmp_path}/mlflow.db"


@pytest.mark.slow
def test_with_medae_root_every_command_uses_its_store_and_writes_nothing_here(tmp_path):
    root, here = tmp_path / "root", tmp_path / "here"
    root.mkdir(), here.mkdir()
    env = {"MLFLOW_TRACKING_URI": ""}  # unset: the store comes from MEDAE_ROOT alone

    def run(*args: str):
        return medae(list(args), root, cwd=here, **env)

    trained = run("train", *FAST_RUN, "trainer.max_epochs=1")
    assert trained.returncode == 0, trained.stderr[-2000:]
    client = mlflow.MlflowClient(f"sqlite:///{root}/mlflow.db")
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    (run_id,) = [run.info.run_id for run in client.search_runs(experiments)]
    listing = run("runs")
    assert listing.returncode == 0 and run_id in listing.stdout, listing.stderr
    resumed = run("resume", run_id)  # found in root's store: FINISHED, so nothing to resume
    assert resumed.returncode == 2 and "is FINISHED; nothing to resume" in resumed.stderr, resumed.stderr
    reproduced = run("reproduce", run_id)
    assert reproduced.returncode == 0, reproduced.stderr[-2000:]
    assert len(client.search_runs(experiments)) == 2
    assert sorted(p.name for p in here.iterdir()) == []


def test_a_reader_does_not_create_or_repair_a_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.raises(Exception, match="no MLflow store at"):
        open_client(uri)
    assert not (tmp_path / "mlflow.db").exists()
    open_client(uri, write=True)
    assert (tmp_path / "mlflow.db").is_file()


def test_the_batch_collates_samples_and_keeps_what_a_source_gives():
    samples = [
        {"image": torch.full((1, 2, 2), float(i)), "mask": torch.ones(1, 2, 2, dtype=torch.bool), "label": i}
        for i in range(3)
    ]
    batch = ReconstructionBatch.collate([{**s, "stamp": "x"} for s in samples])
    assert len(batch) == 3 and batch.image.shape == (3, 1, 2, 2)
    assert torch.equal(batch.input, batch.image) and batch.label.tolist() == [0, 1, 2]
    assert batch.mask.all() and batch.segmentation is None and batch.position is None
    head = batch[:2]
    assert head.image[:, 0, 0, 0].tolist() == [0.0, 1.0] and head.label.tolist() == [0, 1]
    noisy = ReconstructionBatch.collate([{**s, "input": s["image"] + 0.5} for s in samples])
    assert (noisy.input - noisy.image).unique().tolist() == [0.5]


def test_ending_gives_finished_killed_and_failed():
    states = []
    with ending(states.append):
        pass
    with pytest.raises(Interrupted), ending(states.append):
        raise Interrupted(15)
    with pytest.raises(ValueError), ending(states.append):
        raise ValueError
    assert states == ["FINISHED", "KILLED", "FAILED"]


def test_a_compared_run_is_nested_and_ended_by_the_tracked_run(tmp_path):
    client = open_client(f"sqlite:///{tmp_path}/mlflow.db", write=True)
    experiment = client.create_experiment("e")
    parent = TrackedRun(client, client.create_run(experiment).info.run_id, experiment)
    parent.baseline("denoising", "bm3d", {"sigma": "estimated"}, {"test/psnr": 31.5})
    with pytest.raises(RuntimeError), parent.compared_run("broken", {}):
        raise RuntimeError
    runs = {
        r.info.run_name: r
        for r in client.search_runs([experiment], filter_string="tags.`medae.compared_with` != ''")
    }
    assert runs["baseline:bm3d"].info.status == "FINISHED" and runs["broken"].info.status == "FAILED"
    assert runs["baseline:bm3d"].data.metrics == {"test/psnr": 31.5}
    assert runs["baseline:bm3d"].data.tags["mlflow.parentRunId"] == parent.run_id


# the library internals of medae.compat: each test fails when a library changes what medae relies on


def test_compat_trainer_stop_flag_is_lightnings_own():
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert isinstance(trainer._signal_connector, _SignalConnector)
    assert trainer._signal_connector.received_sigterm is False
    request_trainer_stop(trainer)
    assert trainer._signal_connector.received_sigterm is True


def test_compat_optuna_frozen_trials_keep_their_storage_id(tmp_path):
    # the Optuna sweeper asks for a trial and launches its job, which links the running trial to its run
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/optuna.db", study_name="s")
    study.ask(), study.ask()
    frozen = study.trials[1]
    optuna_trial_handle(study, frozen).set_user_attr("mlflow_run", "abc")
    assert [trial.user_attrs for trial in study.trials] == [{}, {"mlflow_run": "abc"}]


def test_compat_hand_over_to_hydra_points_argv_and_main_spec_at_the_command(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["medae"])
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__spec__", getattr(main, "__spec__", None))
    hand_over_to_hydra("medae train", ["seed=1"], "medae.commands.train")
    assert sys.argv == ["medae train", "seed=1"]
    assert main.__spec__.name == "medae.commands.train"


def test_compat_mlflow_tracking_uri_is_restored(tmp_path):
    before = mlflow.get_tracking_uri()
    with mlflow_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db"):
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    assert mlflow.get_tracking_uri() == before


@pytest.mark.slow
def test_importing_medae_packages_registers_nothing_and_leaves_sys_path_alone():
    script = (
        "import sys\npath = list(sys.path)\n"
        "import medae.cli, medae.models, medae.data, medae.applications, medae.models.registry\n"
        "from medae.models.registry import MODELS\n"
        "assert len(MODELS) == 0 and sys.path == path, (len(MODELS), sys.path)\n"
        "from medae.bootstrap import bootstrap\nbootstrap()\n"
        "assert 'conv' in MODELS and sys.path == path\nprint('ok')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ})
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
