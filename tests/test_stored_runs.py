"""A stored run is data: reproduce and resume rebuild the job from medae's configs and the recorded overrides.

Every attack a store's writer has tried runs no code, writes nothing outside the run's folder and reads no
environment value; each is refused in one line that names the key.
"""

import json
import time
from pathlib import Path

import mlflow
import pytest
import torch
from omegaconf import OmegaConf

from medae.commands.compose import compose_job
from medae.commands.resume import continuation_folder
from medae.commands.stored_job import rebuild_job, taken_overrides
from medae.errors import ConfigError, DataError
from medae.recovery.continuation import restore_checkpoints
from medae.security.stored_data import check_plain, load_yaml
from medae.tracking.logged_run import download_artifact
from medae.tracking.schema import (
    HYDRA_OVERRIDES_ARTIFACT,
    LAST_ARTIFACT,
    OUTPUT_DIR_TAG,
    OVERRIDES_ARTIFACT,
    RESOLVED_CONFIG_ARTIFACT,
    TASK_TAG,
)

JOB = ["debug=limit", "data.image_size=32"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[mlflow.MlflowClient, str, Path]:
    root = tmp_path_factory.mktemp("store")
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client, client.create_experiment("stored", artifact_location=str(root / "artifacts")), root


def stored_run(store, overrides: list[str], resolved: str | None = None, artifact=OVERRIDES_ARTIFACT):
    """A training run in the store as medae logs one, with ``overrides`` and a stored resolved config."""
    client, experiment, root = store
    run_id = client.create_run(experiment, tags={TASK_TAG: "train"}).info.run_id
    text = json.dumps(overrides) if artifact == OVERRIDES_ARTIFACT else "\n".join(f"- {o}" for o in overrides)
    client.log_text(run_id, text, artifact)
    if resolved is None:
        resolved = OmegaConf.to_yaml(compose_job("train", JOB, root / "outputs" / "original"), resolve=True)
    client.log_text(run_id, resolved, RESOLVED_CONFIG_ARTIFACT)
    return client.get_run(run_id)


def rebuild(store, run, tmp_path, **options):
    client, _, _ = store
    return rebuild_job(client, run, tmp_path, tmp_path / "outputs" / "job", "sqlite:///unused.db", **options)


def hostile_overrides(marker: Path) -> dict[str, tuple[list[str], str]]:
    """Overrides an attacker writes into a stored run, each with the key its refusal must name."""
    run_cmd = f"{{_target_: monai.utils.run_cmd, cmd_list: [touch, {marker}]}}"
    return {
        "a resolver name built by interpolation": (
            ["+callbacks.kk=create", f"+callbacks.evil='${{oc.${{callbacks.kk}}:{run_cmd}}}'"],
            "callbacks.evil",
        ),
        "a target": (["+callbacks.evil._target_=monai.utils.run_cmd"], "callbacks.evil._target_"),
        "a node that is a target": ([f"+callbacks.evil={run_cmd}"], "callbacks.evil._target_"),
        "positional arguments": ([f"+callbacks.lr_monitor._args_=[{marker}]"], "callbacks.lr_monitor._args_"),
        "a looked-up function": (
            ["callbacks.throughput.batch_size_fn.path=shutil.copyfile"],
            "callbacks.throughput.batch_size_fn.path",
        ),
        "a second logger": (
            ["+logger.csv={_target_: lightning.pytorch.loggers.CSVLogger}"],
            "logger.csv._target_",
        ),
        "an environment value": (
            ["+logger.mlflow.tags.key=${oc.env:MEDAE_TEST_SECRET}"],
            "logger.mlflow.tags.key",
        ),
    }


@pytest.mark.parametrize("route", list(hostile_overrides(Path("x"))))
def test_a_stored_override_that_names_code_or_resolves_anything_is_refused(
    store, tmp_path, route, monkeypatch
):
    monkeypatch.setenv("MEDAE_TEST_SECRET", "s3cret-value")
    marker = tmp_path / "code-ran"
    overrides, key = hostile_overrides(marker)[route]
    run = stored_run(store, [*JOB, *overrides])
    with pytest.raises(ConfigError) as refused:
        rebuild(store, run, tmp_path)
    assert refused.value.key == key, str(refused.value)
    assert "\n" not in str(refused.value)
    assert not marker.exists()


def test_a_stored_run_may_not_point_writes_outside_the_local_root(store, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    writes = {
        f"callbacks.model_checkpoint.dirpath={outside}": "callbacks.model_checkpoint.dirpath",
        "callbacks.model_checkpoint.filename=../../../../evil": "callbacks.model_checkpoint.dirpath",
        f"data.cache_dir={outside}": "data.cache_dir",
        f"trainer.default_root_dir={outside}": "trainer.default_root_dir",
    }
    for override, key in writes.items():
        with pytest.raises(ConfigError, match="lies outside") as refused:
            rebuild(store, stored_run(store, [*JOB, override]), tmp_path)
        assert refused.value.key == key
    # where a job writes and reports is the local root's and the run id's, whatever the run recorded
    located = [
        f"paths.output_dir={outside}",
        f"paths.log_dir={outside}",
        "logger.mlflow.tracking_uri=http://x",
    ]
    located += [f"hydra.run.dir={outside}", f"logger.mlflow.artifact_location={outside}"]
    cfg = rebuild(store, stored_run(store, [*JOB, *located]), tmp_path)
    assert cfg.paths.output_dir == str(tmp_path / "outputs" / "job")
    assert cfg.paths.log_dir == str(tmp_path / "outputs")
    assert cfg.logger.mlflow.tracking_uri == "sqlite:///unused.db"
    assert cfg.logger.mlflow.artifact_location == f"{tmp_path}/mlartifacts"
    assert Path(cfg.callbacks.model_checkpoint.dirpath).is_relative_to(tmp_path)


def test_values_are_taken_and_the_targets_are_medaes_own(store, tmp_path):
    cfg = rebuild(store, stored_run(store, [*JOB, "optim.lr=0.002", "model=vae"]), tmp_path, allow_drift=True)
    assert (cfg.optim.lr, cfg.model.name) == (0.002, "vae")
    # a group choice is medae's own preset: its folders (here the default cache) are not the store's
    chosen = rebuild(
        store, stored_run(store, [*JOB, "data=folder", "data.root=images"]), tmp_path, allow_drift=True
    )
    assert chosen.data.name == "folder" and not Path(chosen.data.cache_dir).is_relative_to(tmp_path)
    packaged = compose_job("train", ["model=vae"], tmp_path)
    assert cfg.callbacks.model_checkpoint._target_ == packaged.callbacks.model_checkpoint._target_
    assert taken_overrides(["a=1", "hydra/launcher=joblib", "~callbacks.image_grid"], "r") == (
        ["a=1", "~callbacks.image_grid"],
        ["hydra/launcher=joblib"],
    )


def test_drift_from_the_stored_config_is_listed_and_stops_unless_allowed(store, tmp_path, capsys):
    resolved = OmegaConf.to_container(compose_job("train", JOB, tmp_path / "original"), resolve=True)
    resolved["optim"]["lr"] = 0.5  # the default the run had
    del resolved["model"]["act"]  # a key added since
    run = stored_run(store, JOB, OmegaConf.to_yaml(OmegaConf.create(resolved)))
    with pytest.raises(ConfigError) as refused:
        rebuild(store, run, tmp_path)
    message = str(refused.value)
    assert message.startswith(
        f"run {run.info.run_id}: medae's configs have changed since it ran: 2 value(s) differ"
    )
    assert "optim.lr: the run had 0.5, the job now has 0.001" in message and message.endswith(
        "pass --allow-drift to run the job as it is now"
    )
    assert "medae: drift: model.act: the run had no value, the job now has PRELU" in capsys.readouterr().err
    cfg = rebuild(store, run, tmp_path, allow_drift=True)
    assert cfg.optim.lr == 0.001
    assert "medae: warning: drift: optim.lr" in capsys.readouterr().err
    # the same job as the run is no drift, wherever each was written
    rebuild(store, stored_run(store, JOB), tmp_path)


HOSTILE_YAML = {
    "a python tag": ("x: !!python/object/apply:os.system [touch marker]", "has the tag"),
    "a local tag": ("x: !evil {}", "has the tag !evil"),
    "20,000 levels": ("a: " + "[" * 20_000 + "]" * 20_000, "nests deeper than 32 levels"),
    "300,000 keys": ("".join(f"k{i}: {i}\n" for i in range(300_000)), "a stored config may have"),
    "30,000 keys": ("".join(f"k{i}: {i}\n" for i in range(30_000)), "has more than 20000 values"),
    "aliases": ("a: &x [1, 2]\nb: [*x, *x]", "anchors or aliases"),
    "an interpolation": ("data:\n  root: ${oc.env:HOME}", "data.root: holds an interpolation"),
}


@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_hostile_yaml_in_a_stored_config_is_one_line_within_a_second(store, tmp_path, case):
    text, problem = HOSTILE_YAML[case]
    run = stored_run(store, JOB, text)
    started = time.monotonic()
    with pytest.raises((DataError, ConfigError)) as refused:
        rebuild(store, run, tmp_path)
    assert time.monotonic() - started < 5  # composing the job takes most of it
    assert problem in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "marker").exists()


def test_overrides_are_a_json_list_of_strings_and_hydras_record_serves_older_runs(store, tmp_path):
    client, _, _ = store
    older = stored_run(store, [*JOB, "optim.lr=0.002"], artifact=HYDRA_OVERRIDES_ARTIFACT)
    assert rebuild(store, older, tmp_path, allow_drift=True).optim.lr == 0.002
    run = stored_run(store, JOB)
    client.log_text(run.info.run_id, '{"model": "vae"}', OVERRIDES_ARTIFACT)
    with pytest.raises(
        DataError, match=f"run {run.info.run_id} config/overrides.json: must be a list of strings"
    ):
        rebuild(store, run, tmp_path)
    client.set_tag(run.info.run_id, TASK_TAG, "eval")
    with pytest.raises(DataError, match="is a 'eval' run; only training runs can be rebuilt"):
        rebuild(store, client.get_run(run.info.run_id), tmp_path)


def test_a_checkpoints_stored_paths_and_the_runs_folder_stay_in_the_local_root(store, tmp_path, capsys):
    client, experiment, _ = store
    run_id = client.create_run(experiment).info.run_id
    escape = tmp_path.parent / f"{tmp_path.name}-site-packages" / "evil.pth"
    state = {"dirpath": "/elsewhere", "best_model_path": str(escape), "last_model_path": "/x/last.ckpt"}
    state["best_k_models"] = {str(escape): 1.0, "/old/best-epoch001.ckpt": 2.0}
    upload = tmp_path / "upload"
    upload.mkdir()
    torch.save({"epoch": 1, "callbacks": {"ModelCheckpoint{'monitor': 'val'}": state}}, upload / "last.ckpt")
    client.log_artifact(run_id, str(upload / "last.ckpt"), "checkpoints")  # the store's last checkpoint
    folder = tmp_path / "outputs" / "run" / "checkpoints"
    assert restore_checkpoints(client, run_id, folder, trust=False) == folder / "last.ckpt"
    assert not escape.parent.exists()
    saved = torch.load(folder / "last.ckpt", weights_only=True)["callbacks"][
        "ModelCheckpoint{'monitor': 'val'}"
    ]
    assert saved["dirpath"] == str(folder) and saved["best_model_path"] == ""
    assert saved["last_model_path"] == str(folder / "last.ckpt")
    assert saved["best_k_models"] == {str(folder / "best-epoch001.ckpt"): 2.0}
    with pytest.raises(ConfigError, match="lies outside"):
        download_artifact(client, run_id, LAST_ARTIFACT, escape, folder)
    assert not escape.exists()
    # the run's own folder only where it lies in <root>/outputs
    client.set_tag(run_id, OUTPUT_DIR_TAG, str(escape.parent))
    assert continuation_folder(client.get_run(run_id), tmp_path) == tmp_path / "outputs" / "resume" / run_id
    assert "is not under" in capsys.readouterr().err
    client.set_tag(run_id, OUTPUT_DIR_TAG, str(folder.parent))
    assert continuation_folder(client.get_run(run_id), tmp_path) == folder.parent


def test_a_checkpoints_stored_data_config_is_plain_data():
    check_plain({"name": "nifti", "root": "/scans", "sizes": [1, 2]}, "checkpoint x")
    with pytest.raises(ConfigError, match=r"^root: holds an interpolation"):
        check_plain({"root": "${oc.env:HOME}"}, "checkpoint x")
    with pytest.raises(ConfigError, match=r"^transform\._target_: names code"):
        check_plain({"transform": {"_target_": "os.system"}}, "checkpoint x")
    assert load_yaml("a: [1, 2.5, true, null, text]", "x") == {"a": [1, 2.5, True, None, "text"]}
