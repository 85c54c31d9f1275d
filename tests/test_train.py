import math
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks.progress.progress_bar import get_standard_metrics
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf, open_dict

from medae.callbacks.progress_bar import ProgressBar
from medae.commands.evaluate import evaluate
from medae.commands.reproduce import reproduce
from medae.commands.train import train
from medae.config.run_parts import build_callbacks
from medae.errors import ConfigError
from medae.tracking.checkpoint_artifacts import local_artifact_dir
from medae.tracking.logger import ResumableMLFlowLogger
from tests.conftest import FAST_RUN, medae, runs_in_store, tracking_uri


def runs_of(root: Path, experiment: str = "medae") -> list:
    """The experiment's runs, without a sweep's parent run."""
    client = mlflow.MlflowClient(tracking_uri(root))
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return [run for run in runs if run.data.tags.get("medae.sweep.parent") != "true"]


@pytest.mark.slow
def test_fast_dev_run_trains_and_tests_one_batch_reproducibly(make_config):
    cfg = make_config("debug=fast_dev_run", "logger=none")
    result = train(cfg)
    assert result.run_id is None and result.best_checkpoint is None  # fast_dev_run saves nothing
    assert {key for key in result.metrics if key.startswith("test/")} >= {
        "test/psnr",
        "test/ssim",
        "test/loss",
    }
    again = train(make_config("debug=fast_dev_run", "logger=none"))
    other_seed = train(make_config("debug=fast_dev_run", "logger=none", "seed=43"))
    assert again.metrics["test/psnr"] == result.metrics["test/psnr"]  # bitwise, on a CPU
    assert other_seed.metrics["test/psnr"] != result.metrics["test/psnr"]


@pytest.mark.slow
def test_max_steps_may_end_a_run_before_its_first_validation(make_config):
    result = train(make_config("trainer.max_steps=2", "trainer.max_epochs=-1", "test=false"))
    assert result.best_checkpoint is None and math.isfinite(result.metrics["train/loss"])


@pytest.mark.slow
def test_run_is_tracked_in_mlflow(make_config, tmp_path):
    result = train(make_config())
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for stage in ("train", "val", "test"):
        for name in ("loss", "psnr", "ssim"):
            assert math.isfinite(metrics[f"{stage}/{name}"]), f"{stage}/{name}"
    assert (
        metrics["val/psnr_fg_best"]
        >= max(m.value for m in client.get_metric_history(run.info.run_id, "val/psnr_fg")) - 1e-6
    )
    assert result.metric == pytest.approx(metrics["val/psnr_fg_best"])
    for key in ("val/psnr", "train/loss"):  # stepped by epoch, as the image grids are
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [0, 1], key
    assert len(run.data.params) < 70 and "callbacks.model_checkpoint.monitor" not in run.data.params
    description = client.get_experiment(run.info.experiment_id).tags["mlflow.note.content"]
    assert description.startswith("Runs of medae") and "stepped by epoch" in description
    params = run.data.params
    assert params["model.latent_channels"] == "8"
    assert params["data.image_size"] == "32"
    assert params["optim._target_"] == "torch.optim.Adam"
    tags = run.data.tags
    assert len(tags["medae.data_fingerprint"]) == 64
    assert tags["medae.version.torch"] == torch.__version__
    assert tags["medae.model"] == "conv"
    assert int(tags["medae.num_parameters"]) > 10_000
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "config")}
    assert artifacts >= {"config/config.yaml", "config/config_unresolved.yaml"}
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    grids = [path.split("/")[-1] for path in images if path.endswith(".png") and "compressed" not in path]
    assert any(name.startswith("test_reconstruction+step+") for name in grids), images
    steps = {int(name.split("+")[2]) for name in grids if name.startswith("val_reconstruction+step+")}
    assert steps == {0, 1}  # every logged epoch has its own step (debug=limit runs two epochs)
    checkpoints = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert checkpoints == {"checkpoints/best.ckpt", "checkpoints/last.ckpt"}
    assert tags["medae.best_checkpoint"].startswith("best-epoch")
    # the local store holds each checkpoint once: the artifacts are hard links to the output folder's files
    artifact_dir = local_artifact_dir(run.info.artifact_uri) / "checkpoints"
    local_dir = Path(tags["medae.output_dir"]) / "checkpoints"
    for artifact, local in (("best.ckpt", tags["medae.best_checkpoint"]), ("last.ckpt", "last.ckpt")):
        assert (artifact_dir / artifact).stat().st_ino == (local_dir / local).stat().st_ino
        assert (local_dir / local).stat().st_nlink == 2


@pytest.mark.slow
def test_denoising_logs_input_metrics_and_gain(make_config, tmp_path):
    result = train(make_config("data.noise_std=0.2"))
    metrics = result.metrics
    assert metrics["test/input_psnr"] < 20  # sigma 0.2 on [0, 1] data: about 14 dB
    assert metrics["test/psnr_gain"] == pytest.approx(
        metrics["test/psnr"] - metrics["test/input_psnr"], abs=1e-4
    )


@pytest.mark.slow
def test_failed_run_keeps_metrics_and_checkpoints(make_config, tmp_path):
    cfg = make_config()
    with open_dict(cfg):
        cfg.callbacks.crash = {"_target_": "tests.crash_callback.CrashAfterFirstEpoch"}
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg)
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    (run,) = runs_of(tmp_path)
    assert run.info.status == "FAILED"
    assert math.isfinite(run.data.metrics["val/psnr"])
    checkpoints = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert checkpoints == {"checkpoints/best.ckpt", "checkpoints/last.ckpt"}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lr=-0.1", "optim.lr"),
        ("data.image_size=36", "model.strides"),
        ("data.image_size=abc", "data.image_size"),
        ("model.dropout=1.5", "model.dropout"),
        ("loss.bce=-1", "loss.bce"),
        ("data.noise_model=pink", "data.noise_model"),
    ],
)
def test_invalid_values_raise_config_errors(make_config, override, key):
    with pytest.raises(ConfigError) as error:
        train(make_config(override, "logger=none"))
    assert str(error.value).startswith(f"{key}: ")


@pytest.mark.slow
def test_eval_of_best_checkpoint_matches_train_time_test(make_config):
    trained = train(make_config())
    cfg = make_config(f"ckpt_path={trained.best_checkpoint}", "debug=limit", config_name="eval")
    evaluated = evaluate(cfg).metrics
    for key in ("test/psnr", "test/ssim", "test/loss"):
        assert evaluated[key] == pytest.approx(trained.metrics[key], abs=1e-3)


@pytest.mark.slow
def test_reproduce_matches_original_within_tolerance(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = train(make_config())
    reproduction = reproduce(original.run_id, tracking_uri(tmp_path))
    assert reproduction.new_run_id != original.run_id
    assert set(reproduction.original) >= {"test/psnr", "test/ssim", "test/loss"}
    assert reproduction.max_difference() <= 1e-4
    new_run = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(reproduction.new_run_id)
    assert new_run.data.tags["medae.reproduced_from"] == original.run_id


@pytest.mark.slow
def test_sweep_lands_one_run_per_job(tmp_path):
    done = medae(["train", "-m", "optim.lr=1e-3,3e-4", *FAST_RUN], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = runs_of(tmp_path)
    assert len(runs) == 2
    assert {r.data.params["optim.lr"] for r in runs} == {"0.001", "0.0003"}
    assert {r.info.run_name for r in runs} == {
        "conv lr=0.001",
        "conv lr=0.0003",
    }  # swept keys only
    assert len({r.data.tags["medae.path.paths.output_dir"] for r in runs}) == 2
    jobs = {run.info.run_id for run in runs}
    (parent,) = [run for run in runs_in_store(tmp_path, sweep_parents=True) if run.info.run_id not in jobs]
    assert parent.info.run_name.startswith("sweep: lr (")
    assert {run.data.tags["mlflow.parentRunId"] for run in runs} == {parent.info.run_id}
    for run in runs:
        job_folder = run.data.tags["medae.path.paths.output_dir"]
        assert not [key for key, value in run.data.params.items() if value.startswith(job_folder)]
        assert run.info.status == "FINISHED"
        assert {"test/loss", "test/psnr", "test/ssim"} <= set(run.data.metrics)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "model=fooo"], "medae: error: model=fooo: no such option; allowed: "),
        (
            ["train", "model.latnt_channels=4"],
            "medae: error: model.latnt_channels: unknown key; did you mean",
        ),
        (["frobnicate"], "medae: error: unknown command 'frobnicate'"),
    ],
)
@pytest.mark.slow
def test_cli_reports_bad_input_in_one_line(tmp_path, args, expected):
    done = medae(args, tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(expected)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_cli_reports_bad_value_in_one_line(tmp_path):
    done = medae(["train", "optim.lr=-1", *FAST_RUN], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "medae: error: optim.lr: must be a number > 0, got -1"
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_runs_record_system_metrics(tmp_path):
    logger = ResumableMLFlowLogger(tracking_uri=tracking_uri(tmp_path), system_metrics_interval_s=0.2)
    run_id = logger.run_id  # creating the run starts the monitor
    time.sleep(1.5)
    logger.end_run("FINISHED")
    metrics = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(run_id).data.metrics
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100
    assert metrics["system/system_memory_usage_megabytes"] > 100


@pytest.mark.slow
def test_runs_log_one_dataset_per_split_with_the_fingerprint(make_config, tmp_path):
    result = train(make_config("trainer.max_epochs=1"))
    run = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(result.run_id)
    inputs = {
        tags["mlflow.data.context"]: (entry.dataset, tags)
        for entry in run.inputs.dataset_inputs
        for tags in [{tag.key: tag.value for tag in entry.tags}]
    }
    assert set(inputs) == {"train", "val", "test"}
    for split, (dataset, tags) in inputs.items():
        assert dataset.name == f"mni152-{split}"
        assert run.data.tags["medae.data_fingerprint"].startswith(dataset.digest)
        assert int(tags["medae.samples"]) > 0


def head_commit(folder: Path) -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.mark.slow
def test_runs_record_the_medae_commit_and_the_working_folders_repository(tmp_path):
    repository = tmp_path / "study"
    repository.mkdir()
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], [*identity, "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *command], cwd=repository, check=True)
    done = medae(["train", *FAST_RUN, "trainer.max_epochs=1"], tmp_path, cwd=repository)
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = runs_of(tmp_path)
    assert run.data.tags["mlflow.source.git.commit"] == head_commit(repository)
    medae_commit = head_commit(Path(__file__).parent)
    if medae_commit:  # a checkout of medae, as in CI
        assert run.data.tags["medae.source.git.commit"] == medae_commit


@pytest.mark.slow
def test_a_run_ends_with_one_summary_and_none_of_the_known_library_notices(tmp_path):
    done = medae(["train", *FAST_RUN, "trainer.enable_progress_bar=false"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = runs_in_store(tmp_path)
    assert run.info.run_name == "conv image_size=32 batch_size=8"  # run settings (trainer, debug) left out
    block = done.stdout[done.stdout.index("medae: run ") :].splitlines()
    assert block[0] == f"medae: run {run.info.run_id} ({run.info.run_name}) in {tracking_uri(tmp_path)}"
    assert [line.split()[0] for line in block[1:]] == [
        "output",
        "best",
        "test/psnr_fg",
        "test/ssim_fg",
        "test/psnr",
        "test/ssim",
        "scored",
        "look",
    ][: len(block) - 1] and len(block) >= 8
    assert f"{run.data.metrics['test/psnr_fg']:.4f}" in block[3]
    # what the figures rest on: the template's test slab, one subject, scored on the brain
    scored = run.data.tags["medae.scored.test"]
    assert block[7].split(None, 2)[2] == scored and scored.startswith("1 subject(s), ")
    assert scored.endswith(
        "images; mask: brain: the skull-stripped template's non-zero voxels; "
        "NOT subject-independent: 1 subject(s) also in training (other slabs)"
    )
    printed = done.stdout + done.stderr
    assert "Test metric" not in printed  # Lightning's table, which repeats epoch-end metrics per test set
    for notice in (
        "💡 Tip:",
        "nvImageCodec",
        "LeafSpec",
        "flops_per_batch",
        "smaller than the logging interval",
    ):
        assert notice not in printed, notice
    assert "test/loss = " not in printed  # no log line per metric: they are in the run


def test_the_progress_bar_shows_the_bar_metrics_without_the_run_id(tmp_path):
    bar = ProgressBar()
    logger = CSVLogger(tmp_path, version="4b68")  # MLflow's version is the run id; any logger's shows
    trainer = Trainer(logger=logger, callbacks=[bar], enable_checkpointing=False, accelerator="cpu")
    assert get_standard_metrics(trainer) == {"v_num": "4b68"}
    assert "v_num" not in bar.get_metrics(trainer, LightningModule())
    cfg = OmegaConf.create({"callbacks": {"bar": {"_target_": "medae.callbacks.progress_bar.ProgressBar"}}})
    assert [type(c) for c in build_callbacks(cfg, with_loggers=True)] == [ProgressBar]
    cfg.trainer = {"enable_progress_bar": False}  # Lightning refuses a bar then
    assert build_callbacks(cfg, with_loggers=True) == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"sync_every_n_saves": -1}, "logger.mlflow.sync_every_n_saves: must be >= 0, got -1"),
        ({"outage_limit_s": 0}, "logger.mlflow.outage_limit_s: must be > 0 seconds, got 0"),
    ],
)
def test_logger_settings_out_of_range_are_refused_before_a_store_is_opened(tmp_path, setting, message):
    with pytest.raises(ConfigError) as refused:
        ResumableMLFlowLogger(tracking_uri=tracking_uri(tmp_path), **setting)
    assert str(refused.value) == message
    assert not list(tmp_path.iterdir())  # nothing was created
