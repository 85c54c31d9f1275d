"""Beyond one process: DDP from the medae command, and hyperparameter search with Optuna."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import optuna
import pytest
from omegaconf import OmegaConf

from medae.config.checks import CONFIG_DIR, check_overrides
from medae.errors import ConfigError
from medae.server.postgres import DATABASE, OPTUNA_DATABASE, binary, database_uri, query, stop_cluster
from tests.conftest import medae, runs_in_store, tracking_uri
from tests.tracking_server import ADMIN_PASSWORD, free_port, running_server

FAST = ["debug=limit", "data.image_size=32"]


def has_postgresql() -> bool:
    try:
        return bool(binary("initdb"))
    except ConfigError:
        return False


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_is_one_run_with_reduced_metrics(tmp_path):
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2"]
    result = medae(["train", *ddp, *FAST], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stderr
    printed = result.stdout + result.stderr  # one run: rank 1 names none and prints no summary
    assert "MLflow run None" not in printed and printed.count("medae: run ") == 1
    (run,) = runs_in_store(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.devices"] == "2"
    artifacts = mlflow.MlflowClient(tracking_uri(tmp_path)).list_artifacts(run.info.run_id, "checkpoints")
    assert sorted(a.path for a in artifacts) == ["checkpoints/best.ckpt", "checkpoints/last.ckpt"]
    checkpoints = sorted(p.name for p in (tmp_path / "outputs").rglob("*.ckpt"))
    assert len(checkpoints) == 2 and checkpoints[0].startswith("best-epoch"), checkpoints
    assert checkpoints[1] == "last.ckpt", "each checkpoint is written once, by rank 0"
    history = mlflow.MlflowClient(tracking_uri(tmp_path)).get_metric_history(run.info.run_id, "val/loss")
    assert [m.step for m in history] == sorted({m.step for m in history}), "one value per step, not per rank"
    # the test metrics cover both ranks' halves of the test set: one process on the same weights agrees
    best = next(tmp_path.rglob("best-epoch*.ckpt"))
    single = medae(["eval", f"ckpt_path={best}", "trainer.devices=1"], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    evaluated = next(r for r in runs_in_store(tmp_path) if r.info.run_id != run.info.run_id)
    assert abs(evaluated.data.metrics["test/psnr"] - run.data.metrics["test/psnr"]) < 0.3


@pytest.mark.slow
def test_optuna_preset_maximises_psnr_in_a_study_that_a_second_launch_continues(tmp_path):
    search = ["hparams_search=optuna", "trainer.max_epochs=1", *FAST]
    result = medae(["train", *search, "hydra.sweeper.n_trials=3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_in_store(tmp_path)
    assert sorted(run.data.tags["medae.optuna.trial"] for run in runs) == ["0", "1", "2"]
    assert all(run.info.status == "FINISHED" for run in runs)
    for run in runs:  # named by what the search varies, not by the constant overrides
        assert sorted(part.split("=")[0] for part in run.info.run_name.split()) == [
            "conv",
            "latent_channels",
            "lr",
        ]
    scores = [run.data.metrics["val/psnr_fg_best"] for run in runs]
    assert len(set(scores)) == 3, "three different trials"
    (results,) = (tmp_path / "outputs").rglob("optimization_results.yaml")
    best = OmegaConf.load(results)
    assert best.best_value == pytest.approx(max(scores))  # maximised: the minimum would be a different run
    best_run = max(runs, key=lambda run: run.data.metrics["val/psnr_fg_best"])
    assert float(best_run.data.params["optim.lr"]) == pytest.approx(best.best_params["optim.lr"])

    # another process adds 2 trials to the same stored study, numbered after the first 3
    again = medae(["train", *search, "hydra.sweeper.n_trials=2", "seed=7"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    runs = runs_in_store(tmp_path)
    assert sorted(run.data.tags["medae.optuna.trial"] for run in runs) == ["0", "1", "2", "3", "4"]
    study = optuna.load_study(study_name="train-conv-mni152", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert len(study.trials) == 5
    by_trial = {run.data.tags["medae.optuna.trial"]: run for run in runs}
    for trial in study.trials:
        run = by_trial[str(trial.number)]
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        assert trial.value == pytest.approx(run.data.metrics["val/psnr_fg_best"])
    assert study.best_value == pytest.approx(max(run.data.metrics["val/psnr_fg_best"] for run in runs))


def test_sweeper_syntax_passes_the_override_check():
    syntax = ["optim.lr=tag(log,interval(1e-4,1e-2))", "model.latent_channels=choice(4,8)", "seed=range(3)"]
    check_overrides(CONFIG_DIR, "train", ["hparams_search=optuna", *syntax])
    cfg = check_overrides(CONFIG_DIR, "train", ["hparams_search=optuna", "optimized_metric=val/loss"])
    assert cfg.hydra.sweeper.direction == "minimize"


@pytest.mark.slow
def test_submitit_local_launcher_lands_every_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs medae[cluster]")
    result = medae(
        ["train", "-m", "hydra/launcher=submitit_local", "seed=1,2", "trainer.max_epochs=1", *FAST], tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_in_store(tmp_path)
    assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
    assert all(run.info.status == "FINISHED" and "test/psnr" in run.data.metrics for run in runs)


@pytest.mark.slow
def test_ray_launcher_runs_every_job_on_a_local_ray_head(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="needs medae[cluster]")
    ray = str(Path(sys.executable).with_name("ray"))
    port, temp_dir = free_port(), tempfile.mkdtemp(dir="/tmp")  # Ray's socket paths must stay short
    head = [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    head += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    try:
        # the head starts without medae's environment: the preset hands the store and root to the tasks
        started = subprocess.run(head, capture_output=True, text=True, timeout=120, cwd=temp_dir)
        assert started.returncode == 0, started.stderr[-3000:]
        sweep = ["-m", "hydra/launcher=ray_cluster", "seed=1,2", "trainer.max_epochs=1", *FAST]
        held_out = tmp_path / "colin27"  # a held-out subject folder only the launching shell names
        held_out.mkdir()
        result = medae(
            ["train", *sweep], tmp_path, RAY_ADDRESS=f"127.0.0.1:{port}", MEDAE_COLIN27_DIR=str(held_out)
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Ray Launcher is launching 2 jobs" in result.stdout
        runs = runs_in_store(tmp_path)
        assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
        assert all(run.info.status == "FINISHED" and "test/psnr" in run.data.metrics for run in runs)
        assert not list(Path(temp_dir).glob("*.db")), "the tasks logged to the launch's store, not the head's"
        assert {run.data.params["data.held_out_dir"] for run in runs} == {str(held_out)}
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_slurm_preset_asks_for_gpus_time_and_requeue():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs medae[cluster]")
    launcher = check_overrides(CONFIG_DIR, "train", ["hydra/launcher=slurm", "seed=1,2"]).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.timeout_min, launcher.max_num_timeout) == (1, 240, 3)


@pytest.mark.slow
def test_team_server_on_postgresql_lands_a_parallel_optuna_sweep(tmp_path, monkeypatch):
    if not has_postgresql():
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    pytest.importorskip("psycopg2", reason="needs medae[server]")
    # a folder the postgres user can enter when the tests run as root (PostgreSQL refuses root)
    folder, port = Path(tempfile.mkdtemp(dir="/tmp")) / "server", free_port()
    folder.parent.chmod(0o755)
    credentials = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
    study = {
        "MEDAE_OPTUNA_STORAGE": database_uri(port, OPTUNA_DATABASE),
        "PGPASSFILE": str(folder / "pgpass"),
    }
    sweep = ["hparams_search=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2"]
    sweep += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "trainer.max_epochs=1"]
    try:
        with running_server(folder, "--postgres", "--postgres-port", str(port)) as uri:
            result = medae(
                ["train", *sweep, *FAST], tmp_path, MLFLOW_TRACKING_URI=uri, **credentials, **study
            )
            assert result.returncode == 0, result.stderr[-3000:]
            for name, value in credentials.items():
                monkeypatch.setenv(name, value)
            client = mlflow.MlflowClient(uri)
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
            runs = [run for run in runs if run.data.tags.get("medae.sweep.parent") != "true"]
            assert sorted(run.data.tags["medae.optuna.trial"] for run in runs) == ["0", "1"]
            for run in runs:
                assert run.info.status == "FINISHED"
                checkpoints = client.list_artifacts(run.info.run_id, "checkpoints")
                assert "checkpoints/best.ckpt" in [a.path for a in checkpoints]
            jobs = "SELECT count(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE "
            jobs += "t.run_uuid = r.run_uuid AND t.key = 'medae.sweep.parent')"
            assert query(port, folder / "pgpass", jobs, DATABASE) == "2", "the runs live in PostgreSQL"
            linked = "SELECT value_json FROM trial_user_attributes a JOIN trials t USING (trial_id) "
            linked += "WHERE t.state = 'COMPLETE' AND a.key = 'mlflow_run_id' ORDER BY t.number"
            in_study = query(port, folder / "pgpass", linked, OPTUNA_DATABASE).splitlines()
            assert in_study == [f'"{by_trial.info.run_id}"' for by_trial in sorted_by_trial(runs)]
    finally:
        stop_cluster(folder)
        shutil.rmtree(folder.parent)


def sorted_by_trial(runs: list) -> list:
    return sorted(runs, key=lambda run: int(run.data.tags["medae.optuna.trial"]))
