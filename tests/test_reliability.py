"""Runs survive kill -9, signals and parallel starts; bad input ends in one line."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import psutil
import pytest
import torch
from mlflow.exceptions import MlflowException

from medae.commands.resume import resume
from medae.commands.train import train
from medae.errors import DataError
from medae.recovery.continuation import newest_readable
from medae.tracking.liveness import (
    Heartbeat,
    lease_tags,
    lease_token,
    machine,
    mark_dead_runs_killed,
    take_lease,
)
from medae.tracking.schema import (
    HOST_TAG,
    LAST_ARTIFACT,
    LEASE_EXPIRES_TAG,
    LEASE_TAG,
    PID_TAG,
    PROCESS_START_TAG,
)
from medae.tracking.store import open_client
from medae.tracking.store_outage import StoreUnavailable
from tests.conftest import last_error_line, medae, medae_env, runs_in_store, tracking_uri
from tests.data_files import write_grey_images
from tests.tracking_server import free_port, wait_until_up

# six short epochs
PLAIN_RUN = [
    "train",
    "debug=limit",
    "trainer.max_epochs=6",
    "data.image_size=32",
    "data.batch_size=8",
    "trainer.enable_progress_bar=false",
]
# the test's own preset adds a callback that can send a signal (tests/signal_injection.py): a stored run
# never names code, so resume rebuilds the job with the same --config-dir
TEST_CONFIGS = ["--config-dir", str(Path(__file__).parent / "conf")]
RUN = [*PLAIN_RUN, *TEST_CONFIGS, "callbacks=with_signal"]
# timing, system metrics (sampled on a clock) and Lightning's own "epoch" counter are not results
NOT_RESULTS = ("epoch", "throughput/", "time", "system/")


def client_of(root: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri(root))


def only_run(root: Path) -> mlflow.entities.Run:
    (run,) = client_of(root).search_runs([client_of(root).get_experiment_by_name("medae").experiment_id])
    return run


def histories(root: Path, run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = client_of(root)
    keys = [key for key in client.get_run(run_id).data.metrics if not key.startswith(NOT_RESULTS)]
    return {key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)] for key in keys}


def last_weights(run: mlflow.entities.Run) -> dict[str, torch.Tensor]:
    path = Path(run.data.tags["medae.output_dir"]) / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def assert_same_run(root: Path, run_id: str, reference_root: Path) -> None:
    """The continued run equals the uninterrupted one: bitwise weights, identical metric histories."""
    run, reference = client_of(root).get_run(run_id), only_run(reference_root)
    assert run.info.status == "FINISHED"
    assert histories(root, run_id) == histories(reference_root, reference.info.run_id)
    weights, expected = last_weights(run), last_weights(reference)
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[key], expected[key]) for key in expected)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    done = medae(RUN, root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


@pytest.mark.slow
def test_kill_9_then_resume_continues_the_same_run_bitwise(tmp_path, uninterrupted):
    killed = medae(RUN, tmp_path, MEDAE_TEST_SIGNAL=f"{signal.SIGKILL}@3")
    assert killed.returncode == -signal.SIGKILL
    run_id = only_run(tmp_path).info.run_id
    assert only_run(tmp_path).info.status == "RUNNING"  # nobody closed it

    listing = medae(["runs"], tmp_path)  # a reader: the store is left as it is
    assert listing.returncode == 0, listing.stderr
    assert "marked KILLED" not in listing.stderr and only_run(tmp_path).info.status == "RUNNING"
    listing = medae(["runs", "--repair"], tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"{run_id} (" in listing.stderr and "marked KILLED" in listing.stderr
    assert f"medae resume {run_id}" in listing.stdout
    assert only_run(tmp_path).info.status == "KILLED"
    # epoch 3 logged its validation metrics before the kill; they must not land twice
    assert [step for step, _ in histories(tmp_path, run_id)["val/psnr"]] == [0, 1, 2, 3]  # stepped by epoch

    # two resumes at once: one takes the run's lease, the other is refused in one line
    command = [sys.executable, "-m", "medae", "resume", run_id, *TEST_CONFIGS]
    both = [
        subprocess.Popen(command, cwd=tmp_path, env=medae_env(tmp_path), stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    ended = sorted(((p.wait(timeout=600), p.stderr.read(), p.pid) for p in both), key=lambda done: done[0])
    (resumed_code, resumed, resumed_pid), (refused_code, refused, _) = ended
    assert (resumed_code, refused_code) == (0, 2), refused[-3000:]
    assert "after epoch 2" in resumed
    line = refused.strip().splitlines()[-1]
    assert "Traceback" not in refused and line.startswith(f"medae: error: run {run_id}: ")
    assert f"process {resumed_pid} on " in line, line  # the process that holds the run, not an earlier one
    assert client_of(tmp_path).get_run(run_id).data.tags["medae.resumes"] == "1"
    assert_same_run(tmp_path, run_id, uninterrupted)


@pytest.mark.slow
def test_a_requeued_slurm_job_continues_its_own_run_bitwise(tmp_path, uninterrupted):
    # SLURM keeps the job id and counts restarts; Hydra gives the requeued job the same output folder
    job = [*RUN, f"hydra.run.dir={tmp_path / 'job'}"]
    killed = medae(job, tmp_path, MEDAE_TEST_SIGNAL=f"{signal.SIGKILL}@3", SLURM_JOB_ID="4242")
    assert killed.returncode == -signal.SIGKILL
    run_id = only_run(tmp_path).info.run_id
    assert only_run(tmp_path).data.tags["medae.slurm.job"] == "4242"

    requeued = medae(job, tmp_path, SLURM_JOB_ID="4242", SLURM_RESTART_COUNT="1")
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    assert f"SLURM job 4242 restart 1: continuing run {run_id}" in requeued.stdout
    assert "after epoch 2" in requeued.stderr
    run = only_run(tmp_path)  # one run: the requeued job opened none
    assert (run.info.run_id, run.data.tags["medae.resumes"]) == (run_id, "1")
    assert_same_run(tmp_path, run_id, uninterrupted)


@pytest.mark.slow
def test_sigterm_exits_143_as_killed_and_resumes_from_the_store_alone(tmp_path, uninterrupted):
    stopped = medae(RUN, tmp_path, MEDAE_TEST_SIGNAL=f"{signal.SIGTERM}@2")
    run = only_run(tmp_path)
    assert stopped.returncode == 128 + signal.SIGTERM
    assert run.info.status == "KILLED"
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"medae: stopped by SIGTERM; its MLflow run is KILLED, continue it: medae resume {run.info.run_id}"
    )
    assert LAST_ARTIFACT in {
        a.path for a in client_of(tmp_path).list_artifacts(run.info.run_id, "checkpoints")
    }
    # another machine: the output folder is gone, the checkpoints come from the run's artifacts
    output_dir = Path(run.data.tags["medae.output_dir"])
    for path in sorted(output_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    resumed = medae(["resume", run.info.run_id, *TEST_CONFIGS], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(tmp_path, run.info.run_id, uninterrupted)


@pytest.mark.slow
def test_sigint_exits_130_as_killed(tmp_path):
    stopped = medae(RUN, tmp_path, MEDAE_TEST_SIGNAL=f"{signal.SIGINT}@1")
    assert stopped.returncode == 128 + signal.SIGINT
    assert "Traceback" not in stopped.stderr
    assert only_run(tmp_path).info.status == "KILLED"


@pytest.mark.slow
def test_three_processes_on_a_new_store_all_land(tmp_path):
    command = [
        sys.executable,
        "-m",
        "medae",
        "train",
        "debug=limit",
        "data.image_size=32",
        "trainer.max_epochs=1",
    ]
    jobs = [
        subprocess.Popen(
            [*command, f"seed={seed}"], cwd=tmp_path, env=medae_env(tmp_path), stderr=subprocess.PIPE
        )
        for seed in range(3)
    ]
    errors = [job.communicate(timeout=600)[1].decode() for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0, 0], "\n".join(e[-2000:] for e in errors)
    runs = client_of(tmp_path).search_runs(
        [client_of(tmp_path).get_experiment_by_name("medae").experiment_id]
    )
    assert sorted(run.data.params["seed"] for run in runs) == ["0", "1", "2"]
    assert {run.info.status for run in runs} == {"FINISHED"}


@pytest.mark.slow
def test_joblib_sweep_on_a_new_store_lands_and_reproduces_in_another_environment(tmp_path):
    sweep = medae(
        ["train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "debug=limit"]
        + ["data.image_size=32", "trainer.max_epochs=1", "seed=1,2"],
        tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    runs = runs_in_store(tmp_path)
    assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
    assert {run.info.status for run in runs} == {"FINISHED"}
    # joblib's workers run torch on fewer threads; reproduce uses the recorded count again
    run = runs[0]
    assert int(run.data.tags["medae.torch_threads"]) >= 1
    assert run.data.tags["medae.cpu"]
    again = medae(["reproduce", run.info.run_id, "--tolerance", "0"], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert "largest difference 0.00e+00" in again.stdout


@pytest.mark.slow
def test_reproduce_stops_when_the_data_changed(tmp_path):
    images = tmp_path / "images"
    write_grey_images(images, 40, size=32)
    common = ["debug=limit", "data=folder", "data.image_size=32", "trainer.max_epochs=1"]
    done = medae(["train", *common, "data.root=images"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = only_run(tmp_path)
    assert run.data.params["data.root"] == str(images)  # relative paths are logged absolute
    write_grey_images(images, 40, size=32, seed=1)
    refused = medae(["reproduce", run.info.run_id], tmp_path)
    assert refused.returncode == 2
    line = refused.stderr.strip().splitlines()[-1]
    assert "Traceback" not in refused.stderr
    assert line.startswith(f"medae: error: data ({images}): fingerprint ")
    assert "differs from the original run's" in line
    allowed = medae(["reproduce", run.info.run_id, "--allow-data-change"], tmp_path)
    assert allowed.returncode in (0, 1), allowed.stderr[-3000:]  # 1: metrics outside the tolerance
    assert "reproduced run" in allowed.stdout


@pytest.mark.slow
def test_unreachable_tracking_server_stops_within_15_s_and_writes_nothing(tmp_path, tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    # the same command stopped at the same check by a store that cannot exist: its time is start-up alone
    # (imports, config), which a loaded machine stretches; the server's check itself takes under 15 s
    started = time.monotonic()
    baseline = medae(
        ["train", "debug=limit"], tmp_path_factory.mktemp("baseline"),
        MLFLOW_TRACKING_URI="sqlite:////nonexistent/f/m.db",
    )  # fmt: skip
    start_up = time.monotonic() - started
    assert baseline.returncode == 2
    started = time.monotonic()
    done = medae(["train", "debug=limit"], tmp_path, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}")
    assert time.monotonic() - started - start_up < 15
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        f"medae: error: logger.mlflow.tracking_uri: no MLflow tracking server answers at http://127.0.0.1:{port}"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["modle=conv"], {}, "modle: unknown key or config group; did you mean model?"),
        (["data=folder"], {}, "data.root: is required and has no default"),
        (["trainer.max_epochs=-5"], {}, "trainer.max_epochs: `max_epochs` must be a non-negative integer"),
        (["trainer.precision=bogus"], {}, "trainer.precision: expected 64 | 32 | 16 | "),
        (["ckpt_path=/nonexistent.ckpt"], {}, "/nonexistent.ckpt: checkpoint file not found"),
        ([], {"MEDAE_ROOT": "/dev/null/medae"}, "paths.log_dir: /dev/null/medae/outputs cannot be written"),
        (
            [],
            {"MLFLOW_TRACKING_URI": "sqlite:////nonexistent/folder/mlflow.db"},
            "logger.mlflow.tracking_uri: ",
        ),
    ],
)
@pytest.mark.slow
def test_bad_input_ends_in_one_line_with_exit_2_and_no_run(tmp_path, args, env, line):
    done = medae(["train", "debug=limit", "data.image_size=32", *args], tmp_path, **env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"medae: error: {line}"), last
    assert runs_in_store(tmp_path) == []


def test_any_trainer_argument_is_a_typed_key(make_config):
    from medae.config.trainer_options import build_trainer

    cfg = make_config(
        "trainer.gradient_clip_val=0.5", "trainer.limit_train_batches=2", "trainer.num_sanity_val_steps=0"
    )
    trainer = build_trainer(cfg.trainer, logger=False, callbacks=[])
    assert (trainer.gradient_clip_val, trainer.limit_train_batches, trainer.num_sanity_val_steps) == (
        0.5,
        2,
        0,
    )


@pytest.mark.slow
def test_dead_runs_are_marked_killed_and_live_ones_are_not(tmp_path, capsys):
    uri = tracking_uri(tmp_path)
    client = open_client(uri, write=True)
    experiment = client.create_experiment("e")
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = finished.stdout.strip()
    owners = {
        "dead": {
            HOST_TAG: socket.gethostname(),
            PID_TAG: dead_pid,
            PROCESS_START_TAG: "0",
            "medae.task": "train",
        },
        "alive": {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
        "elsewhere": {HOST_TAG: "another-host", PID_TAG: dead_pid},
    }
    ids = {
        name: client.create_run(experiment, tags=tags, run_name=name).info.run_id
        for name, tags in owners.items()
    }
    client.set_tag(ids["alive"], PROCESS_START_TAG, f"{psutil.Process().create_time():.3f}")
    killed = mark_dead_runs_killed(client)
    assert [run.info.run_id for run in killed] == [ids["dead"]]
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING"}
    assert f"medae resume {ids['dead']}" in capsys.readouterr().err


def test_heartbeat_renews_the_lease_until_another_process_takes_it(tmp_path):
    client = open_client(tracking_uri(tmp_path), write=True)
    run_id = client.create_run(
        client.create_experiment("e"), tags={HOST_TAG: "elsewhere", PID_TAG: "7"}
    ).info.run_id
    for key, value in {**lease_tags(0.05), LEASE_EXPIRES_TAG: "1"}.items():  # as the logger starts a run
        client.set_tag(run_id, key, value)
    heartbeat = Heartbeat(tracking_uri(tmp_path), run_id, interval_s=0.05)
    heartbeat.start()
    deadline = time.monotonic() + 10
    while client.get_run(run_id).data.tags[LEASE_EXPIRES_TAG] == "1" and time.monotonic() < deadline:
        time.sleep(0.05)
    tags = client.get_run(run_id).data.tags
    assert tags[LEASE_TAG] == lease_token() and abs(float(tags[LEASE_EXPIRES_TAG]) - time.time()) < 30
    client.set_tag(run_id, LEASE_TAG, "another-boot/1/7/1.000")  # resumed elsewhere while this one stalled
    while heartbeat.lost is None and time.monotonic() < deadline:
        time.sleep(0.05)
    heartbeat.stop()
    assert heartbeat.lost.startswith("process 7 on elsewhere")
    assert client.get_run(run_id).data.tags[LEASE_TAG] == "another-boot/1/7/1.000"


def test_the_lease_decides_who_owns_a_run_not_the_host_name(tmp_path, capsys):
    client = open_client(tracking_uri(tmp_path), write=True)
    experiment = client.create_experiment("e")
    parent = psutil.Process(os.getppid())  # a process that outlives the test
    now = time.time()
    here = f"{machine()}/{parent.pid}/{parent.create_time():.3f}"
    other_namespace = f"{machine().split('/')[0]}/1/{os.getpid()}/1.000"  # same kernel, another pid namespace
    leases = {
        "alive here": (here, now + 180),
        "dead here": (f"{machine()}/{parent.pid}/1.000", now + 180),  # the pid was reused by a later process
        "live in another namespace": (other_namespace, now + 180),
        "expired elsewhere": ("another-boot/7/12/1.000", now - 1),
        "released": (here, 0),
        "dead eval": (f"{machine()}/{parent.pid}/1.000", now + 180),
    }
    ids = {
        name: client.create_run(
            experiment,
            run_name=name,
            tags={
                HOST_TAG: socket.gethostname(),
                PID_TAG: "1",
                LEASE_TAG: lease,
                LEASE_EXPIRES_TAG: f"{expires:.0f}",
                "medae.task": "eval" if name == "dead eval" else "train",
            },
        ).info.run_id
        for name, (lease, expires) in leases.items()
    }
    killed = {run.info.run_name for run in mark_dead_runs_killed(client)}
    assert killed == {"dead here", "expired elsewhere", "released", "dead eval"}
    said = capsys.readouterr().err
    assert f"continue it: medae resume {ids['dead here']}" in said
    assert f"run {ids['dead eval']} (dead eval) was left RUNNING by process 1 on " in said
    assert "marked KILLED: what it logged is kept; run the eval command again to redo it" in said
    for name in ("alive here", "live in another namespace"):
        with pytest.raises(DataError, match=rf"run {ids[name]}: is owned by process 1 on "):
            take_lease(client, ids[name], settle_s=0)
    take_lease(client, ids["released"], settle_s=0)
    assert client.get_run(ids["released"]).data.tags[LEASE_TAG] == lease_token()


def test_resume_starts_from_the_newest_checkpoint_that_loads(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"epoch": 0}, folder / "best-epoch000.ckpt")
    torch.save({"epoch": 4}, folder / "last.ckpt")
    whole = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(whole[: len(whole) // 3])  # cut short by a full disk
    path, checkpoint = newest_readable(None, "run", folder, trust=False)
    assert (path.name, checkpoint["epoch"]) == ("best-epoch000.ckpt", 0)
    assert f"medae: skipping {folder / 'last.ckpt'}: is not a readable checkpoint" in capsys.readouterr().err


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``folder`` for the block; the test skips where mounting is not allowed."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.decode().strip()}"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_a_full_disk_ends_the_run_in_one_line_keeps_whole_checkpoints_and_resumes(tmp_path):
    with small_disk(tmp_path / "disk", "1300k") as disk:
        job = [*PLAIN_RUN, f"hydra.run.dir={disk / 'run'}"]
        full = medae(job, tmp_path)
        assert full.returncode == 2, full.stderr[-3000:]
        line = last_error_line(full)
        assert line.startswith(f"medae: error: {disk / 'run' / 'checkpoints'}/") and (
            "cannot be written (No space left on device); the earlier checkpoints are kept" in line
        ), line
        run = only_run(tmp_path)
        assert run.info.status == "FAILED"
        checkpoints = sorted((disk / "run" / "checkpoints").iterdir())
        assert checkpoints and all(not path.name.startswith(".") for path in checkpoints)
        for path in checkpoints:  # every file left is a whole checkpoint
            assert "epoch" in torch.load(path, map_location="cpu", weights_only=True)
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = medae(["resume", run.info.run_id], tmp_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert client_of(tmp_path).get_run(run.info.run_id).info.status == "FINISHED"
        steps = [step for step, _ in histories(tmp_path, run.info.run_id)["val/psnr"]]
        assert steps == sorted(set(steps)) and len(steps) == 6


@contextlib.contextmanager
def plain_server(folder: Path, port: int) -> Iterator[subprocess.Popen]:
    """An ``mlflow server`` without authentication on loopback ``port``, its stores in ``folder``."""
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--workers", "1"]
    command += ["--artifacts-destination", str(folder / "artifacts")]
    with open(folder / "server.log", "a") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until_up(server, f"http://127.0.0.1:{port}/health", folder / "server.log", 90)
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def wait_for_metric(uri: str, key: str, process: subprocess.Popen) -> str:
    """The id of the run that first logs ``key``, waiting while ``process`` runs."""
    client = mlflow.MlflowClient(uri)
    while process.poll() is None:
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        for run in runs:
            if key in run.data.metrics:
                return run.info.run_id
        time.sleep(0.5)
    raise AssertionError(f"the run ended before logging {key}: {process.stderr.read()[-3000:]}")


@pytest.mark.slow
def test_a_tracking_server_that_goes_away_loses_nothing(tmp_path):
    folder, port = tmp_path / "server", free_port()
    folder.mkdir()
    uri = f"http://127.0.0.1:{port}"
    start = [sys.executable, "-m", "medae", *RUN, "trainer.max_epochs=20", "logger.mlflow.outage_limit_s=12"]
    env = medae_env(tmp_path, MLFLOW_TRACKING_URI=uri, MEDAE_TEST_EPOCH_SLEEP="4")
    with plain_server(folder, port) as server:
        training = subprocess.Popen(start, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        run_id = wait_for_metric(uri, "val/psnr", training)
        os.killpg(server.pid, signal.SIGKILL)  # the server is gone for good
        gone = time.monotonic()
        stderr = training.communicate(timeout=300)[1]
    assert time.monotonic() - gone < 35, stderr[-3000:]
    assert training.returncode == 2, stderr[-3000:]
    line = last_error_line(subprocess.CompletedProcess(start, 2, "", stderr))
    assert line.startswith(
        f"medae: error: {uri}: did not answer for 12 s, so training stopped; the last checkpoint is "
    )
    assert line.endswith(f"When it answers again: medae resume {run_id}")
    unsent = [path for path in (tmp_path / "outputs").rglob("unsent-metrics.jsonl")]
    assert len(unsent) == 1 and unsent[0].read_text().count("\n") >= 1
    # the server returns: resume sends what waited and goes on in the same run, each epoch once
    with plain_server(folder, port):
        resume = ["resume", run_id, "--tracking-uri", uri, *TEST_CONFIGS]
        resumed = medae(resume, tmp_path, MLFLOW_TRACKING_URI=uri)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "metric batches that waited while the store was away" in resumed.stderr
        client = mlflow.MlflowClient(uri)
        assert client.get_run(run_id).info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run_id, "val/psnr")]
    assert steps == sorted(set(steps)) and len(steps) == 20
    assert not unsent[0].exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, str]:
    """A finished one-epoch run: its root (store and outputs), its last checkpoint and its run id."""
    root = tmp_path_factory.mktemp("trained")
    done = medae(["train", "debug=limit", "data.image_size=32", "trainer.max_epochs=1"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    (checkpoint,) = (root / "outputs").rglob("last.ckpt")
    return root, checkpoint, only_run(root).info.run_id


@pytest.fixture(scope="module")
def read_only(tmp_path_factory) -> Iterator[Path]:
    """A read-only folder (a tmpfs mounted read-only); the test skips where mounting is not allowed."""
    folder = tmp_path_factory.mktemp("read-only")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a read-only tmpfs (needs root or CAP_SYS_ADMIN): {mounted.stderr.decode().strip()}"
        )
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


FAST = ["debug=limit", "data.image_size=32"]
# (command line, environment, the one line's start); {ckpt}, {png}, {ro}, {bad_db}, {run} are filled in
MORE_BAD_INPUTS = {
    "seed": (["train", "seed=abc"], {}, "seed: must be an integer like 42, got 'abc'"),
    "channels": (
        ["train", *FAST, "data.channels=7"],
        {},
        "data.channels: is 7, but the images of MNI152DataModule have 1; set data.channels=1",
    ),
    "new top-level key": (
        ["train", "+foo=1"],
        {},
        "+foo: is not a key of medae's train config; allowed: callbacks, ",
    ),
    "no gpu": (
        ["train", *FAST, "trainer.accelerator=gpu"],
        {},
        "trainer.accelerator: No supported gpu backend found! (available here: cpu, auto)",
    ),
    "another variant": (
        ["train", *FAST, "model=vae", "ckpt_path={ckpt}"],
        {},
        "ckpt_path: {ckpt} holds a 'conv' model, not 'vae'; choose model=conv",
    ),
    "another size": (
        ["train", *FAST, "model.latent_channels=16", "ckpt_path={ckpt}"],
        {},
        "ckpt_path: {ckpt} does not fit model 'conv' as configured: ",
    ),
    "image as checkpoint": (
        ["eval", "ckpt_path={png}"],
        {},
        "{png}: is not a PyTorch checkpoint (it starts with b'\\x89PNG'); give a .ckpt that medae saved",
    ),
    "misspelt key of the stored data": (
        ["eval", "ckpt_path={ckpt}", "data.imag_size=32"],
        {},
        "data.imag_size: is not an option of data 'mni152'; allowed: ",
    ),
    "unimportable target": (
        ["train", *FAST, "+callbacks.x._target_=a.b"],
        {},
        "callbacks.x._target_: cannot import 'a.b'",
    ),
    "read-only output_dir": (
        ["train", "paths.output_dir={ro}/out"],
        {},
        "paths.output_dir: {ro}/out cannot be written (Read-only file system)",
    ),
    "read-only encode output": (
        ["encode", "ckpt_path={ckpt}", "output={ro}/codes.npz"],
        {},
        "output: {ro} cannot be written (Read-only file system)",
    ),
    "read-only store": (
        ["train"],
        {"MLFLOW_TRACKING_URI": "sqlite:///{ro}/mlflow.db"},
        "logger.mlflow.tracking_uri: {ro} cannot be written (Read-only file system)",
    ),
    "corrupt store": (
        ["train"],
        {"MLFLOW_TRACKING_URI": "sqlite:///{bad_db}"},
        "logger.mlflow.tracking_uri: {bad_db} is not a readable MLflow sqlite store (file is not a database)",
    ),
    "bad thread tag": (
        ["reproduce", "{run}"],
        {},
        "run {run}: its tag medae.torch_threads is 'abc', not a number of threads",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", MORE_BAD_INPUTS)
def test_more_bad_input_ends_in_one_line(case, trained, read_only, tmp_path):
    if case == "no gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    root, checkpoint, run_id = trained
    png, bad_db = tmp_path / "scan.png", tmp_path / "broken" / "mlflow.db"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    bad_db.parent.mkdir()
    bad_db.write_bytes(bytes(range(256)) * 20)
    names = {"ckpt": checkpoint, "png": png, "ro": read_only, "bad_db": bad_db, "run": run_id}
    args, env, line = MORE_BAD_INPUTS[case]
    fill = lambda text: text.format(**names)  # noqa: E731
    client = client_of(root)
    threads = client.get_run(run_id).data.tags["medae.torch_threads"]
    if case == "bad thread tag":
        client.set_tag(run_id, "medae.torch_threads", "abc")
    try:
        done = medae(
            [fill(arg) for arg in args],
            root if case == "bad thread tag" else tmp_path,
            **{k: fill(v) for k, v in env.items()},
        )
    finally:
        client.set_tag(run_id, "medae.torch_threads", threads)
    assert done.returncode == 2, done.stderr[-3000:]
    assert last_error_line(done).startswith(f"medae: error: {fill(line)}"), last_error_line(done)


@pytest.mark.slow
def test_eval_changes_the_checkpoints_own_data_config(trained, tmp_path):
    root, checkpoint, _ = trained
    done = medae(["eval", f"ckpt_path={checkpoint}", "data.held_out=[]", "data.batch_size=4"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    client = client_of(root)
    experiment = client.get_experiment_by_name("medae").experiment_id
    (run,) = client.search_runs([experiment], "tags.`medae.task` = 'eval'")
    assert run.data.params["data.held_out"] == "[]" and run.data.params["data.image_size"] == "32"
    assert "test/psnr_fg" in run.data.metrics and not [key for key in run.data.metrics if "colin27" in key]


@pytest.mark.slow
def test_a_store_that_goes_away_while_the_model_is_logged_ends_in_one_line_and_resumes(
    make_config, tmp_path, monkeypatch
):
    def away(*args, **kwargs):
        raise MlflowException("API request to http://127.0.0.1:1/api failed with exception refused")

    monkeypatch.chdir(tmp_path)
    cfg = make_config("trainer.max_epochs=1", "logger.mlflow.outage_limit_s=2")
    with monkeypatch.context() as patched:
        patched.setattr("medae.tracking.logger.log_network", away)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as stopped:
            train(cfg)
    assert time.monotonic() - started < 60
    message = str(stopped.value)
    assert "\n" not in message and "did not answer for 2 s" in message
    (run,) = runs_in_store(tmp_path)
    assert message.endswith(f"When it answers again: medae resume {run.info.run_id}")
    # nothing is lost: trained and tested, the run is KILLED and resumable, and ends with its model
    assert run.info.status == "KILLED" and "test/psnr" in run.data.metrics
    resumed = resume(run.info.run_id, tracking_uri(tmp_path))
    finished = client_of(tmp_path).get_run(run.info.run_id)
    assert finished.info.status == "FINISHED" and resumed.run_id == run.info.run_id
    assert [output.model_id for output in finished.outputs.model_outputs]
