"""Beyond one process: DDP from the medae command, and hyperparameter search with Optuna."""

import shutil
import tempfile
from pathlib import Path

import mlflow
import pytest
from omegaconf import OmegaConf

from medae.config_check import CONFIG_DIR, check_overrides
from medae.errors import ConfigError
from medae.postgres_store import DATABASE, binary, query, stop_cluster
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
    (run,) = runs_in_store(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.devices"] == "2"
    artifacts = mlflow.MlflowClient(tracking_uri(tmp_path)).list_artifacts(run.info.run_id, "checkpoints")
    assert sorted(a.path for a in artifacts) == ["checkpoints/best.ckpt", "checkpoints/last.ckpt"]
    checkpoints = sorted(p.name for p in (tmp_path / "outputs").rglob("*.ckpt"))
    assert checkpoints == ["best-epoch001.ckpt", "last.ckpt"], "each checkpoint is written once, by rank 0"
    history = mlflow.MlflowClient(tracking_uri(tmp_path)).get_metric_history(run.info.run_id, "val/loss")
    assert [m.step for m in history] == sorted({m.step for m in history}), "one value per step, not per rank"
    # the test metrics cover both ranks' halves of the test set: one process on the same weights agrees
    best = next(tmp_path.rglob("best-epoch001.ckpt"))
    single = medae(["eval", f"ckpt_path={best}", "trainer.devices=1"], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    evaluated = next(r for r in runs_in_store(tmp_path) if r.info.run_id != run.info.run_id)
    assert abs(evaluated.data.metrics["test/psnr"] - run.data.metrics["test/psnr"]) < 0.3


@pytest.mark.slow
def test_optuna_preset_maximises_psnr_over_three_trials(tmp_path):
    search = ["hparams_search=optuna", "hydra.sweeper.n_trials=3", "trainer.max_epochs=1"]
    result = medae(["train", *search, *FAST], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_in_store(tmp_path)
    assert sorted(run.data.tags["medae.optuna.trial"] for run in runs) == ["0", "1", "2"]
    assert all(run.info.status == "FINISHED" for run in runs)
    for run in runs:  # named by what the search varies, not by the constant overrides
        assert sorted(part.split("=")[0] for part in run.info.run_name.removeprefix("conv:").split(",")) == [
            "model.latent_channels",
            "optim.lr",
        ]
    scores = [run.data.metrics["val/psnr_best"] for run in runs]
    assert len(set(scores)) == 3, "three different trials"
    (results,) = (tmp_path / "outputs").rglob("optimization_results.yaml")
    best = OmegaConf.load(results)
    assert best.best_value == pytest.approx(max(scores))  # maximised: the minimum would be a different run
    best_run = max(runs, key=lambda run: run.data.metrics["val/psnr_best"])
    assert float(best_run.data.params["optim.lr"]) == pytest.approx(best.best_params["optim.lr"])


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


def test_slurm_preset_asks_for_gpus_time_and_requeue():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs medae[cluster]")
    launcher = check_overrides(CONFIG_DIR, "train", ["hydra/launcher=slurm", "seed=1,2"]).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.timeout_min, launcher.max_num_timeout) == (1, 240, 3)


@pytest.mark.slow
def test_team_server_on_postgresql_lands_a_parallel_sweep(tmp_path, monkeypatch):
    if not has_postgresql():
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    pytest.importorskip("psycopg2", reason="needs medae[server]")
    # a folder the postgres user can enter when the tests run as root (PostgreSQL refuses root)
    folder, port = Path(tempfile.mkdtemp(dir="/tmp")) / "server", free_port()
    folder.parent.chmod(0o755)
    sweep = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2", "trainer.max_epochs=1"]
    credentials = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
    try:
        with running_server(folder, "--postgres", "--postgres-port", str(port)) as uri:
            sweep = [
                "-m",
                "hydra/launcher=joblib",
                "hydra.launcher.n_jobs=2",
                "seed=1,2",
                "trainer.max_epochs=1",
            ]
            result = medae(["train", *sweep, *FAST], tmp_path, MLFLOW_TRACKING_URI=uri, **credentials)
            assert result.returncode == 0, result.stderr[-3000:]
            for name, value in credentials.items():
                monkeypatch.setenv(name, value)
            client = mlflow.MlflowClient(uri)
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
            runs = [run for run in runs if run.data.tags.get("medae.sweep.parent") != "true"]
            assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
            for run in runs:
                assert run.info.status == "FINISHED"
                checkpoints = client.list_artifacts(run.info.run_id, "checkpoints")
                assert "checkpoints/best.ckpt" in [a.path for a in checkpoints]
            jobs = "SELECT count(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE "
            jobs += "t.run_uuid = r.run_uuid AND t.key = 'medae.sweep.parent')"
            assert query(port, folder / "pgpass", jobs, DATABASE) == "2", "the runs live in PostgreSQL"
    finally:
        stop_cluster(folder)
        shutil.rmtree(folder.parent)
