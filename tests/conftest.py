import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from medae.bootstrap import bootstrap
from medae.commands.compose import compose_job
from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import build_module

# pytest-xdist runs a test file per core: a worker and every process it starts keep to their share of the
# cores, because torch's default of one thread per core has the workers' threads spin against each other
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share = len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, share)))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# a run finds Colin27 beside the project wherever its store is; tests that evaluate on it say so
# (paths.colin27_dir, MEDAE_COLIN27_DIR), the others keep to the template and their time
os.environ.setdefault("MEDAE_COLIN27_DIR", "")

# 32-pixel slices, a few batches, two epochs: a complete run in seconds on one CPU core.
bootstrap()  # test modules parametrize over the registries when they are collected
FAST_RUN = ["debug=limit", "data.image_size=32", "data.batch_size=8", "trainer=cpu"]
# sizes at which every variant runs through the pipeline: 32-pixel slices, 24-voxel blocks
TEST_SIZES = {2: 32, 3: 24}
# options that shrink a variant whose paper-sized default is too slow for a test on a CPU
SMALL_OPTIONS: dict[str, dict[str, object]] = {"redcnn": {"channels": 8}}


def module_for(name: str, spatial_dims: int, image_size: int, **options: Any) -> AutoencoderModule:
    """The LightningModule of variant ``name`` (one channel, data in [0, 1], MSE, Adam at 1e-3)."""
    model = {
        "name": name,
        "spatial_dims": spatial_dims,
        "in_channels": 1,
        "image_size": image_size,
        **options,
    }
    adam = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
    return build_module(model, {"mse": 1.0}, adam, None, (0.0, 1.0))


def compose_config(config_name: str, overrides: list[str], root: Path) -> DictConfig:
    """Compose a config the way `medae` does, with outputs and the MLflow store under ``root``."""
    cfg = compose_job(config_name, overrides, root / "outputs" / config_name)
    with open_dict(cfg):
        cfg.paths.root_dir = str(root)
        if cfg.get("logger") and cfg.logger.get("mlflow"):
            cfg.logger.mlflow.tracking_uri = tracking_uri(root)
    return cfg


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A test outside the ``slow`` tier fails when it (or a fixture it sets up) starts a process or fits.

    ``make test-fast`` is the tier a contributor runs on every change; this keeps it honest. Module-scoped
    fixtures count for the first test that sets them up, which under ``-m "not slow"`` is a fast one.
    """
    if item.get_closest_marker("slow"):
        yield
        return
    import lightning

    def refuse(what: str) -> Callable[..., None]:
        def fail(*args: object, **kwargs: object) -> None:
            pytest.fail(f"{what} in a test outside the slow tier: mark it @pytest.mark.slow")

        return fail

    patches = [
        (subprocess.Popen, "__init__", "a process started"),
        (lightning.Trainer, "fit", "a model fitted"),
    ]
    originals = [getattr(owner, name) for owner, name, _ in patches]
    for owner, name, what in patches:
        setattr(owner, name, refuse(what))
    try:
        yield
    finally:
        for (owner, name, _), original in zip(patches, originals, strict=True):
            setattr(owner, name, original)


def tracking_uri(root: Path) -> str:
    return f"sqlite:///{root}/mlflow.db"


def runs_in_store(root: Path, sweep_parents: bool = False) -> list:
    """The runs of the MLflow store in ``root`` (none when the store was never created).

    A ``-m`` launch's parent run (it only groups the jobs) is left out unless ``sweep_parents``.
    """
    if not (root / "mlflow.db").exists():
        return []
    client = mlflow.MlflowClient(tracking_uri(root))
    runs = client.search_runs([experiment.experiment_id for experiment in client.search_experiments()])
    return [run for run in runs if sweep_parents or run.data.tags.get("medae.sweep.parent") != "true"]


def medae_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment of a ``medae`` subprocess: outputs and MLflow store in ``root``, ``tests`` importable."""
    repository = str(Path(__file__).resolve().parents[1])
    python_path = os.pathsep.join(filter(None, [repository, os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "MEDAE_ROOT": str(root),
        "MLFLOW_TRACKING_URI": tracking_uri(root),
        "PYTHONPATH": python_path,
        **extra,
    }


def medae(
    args: list[str], root: Path, timeout: int = 600, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run the ``medae`` command in ``root`` (or ``cwd``), with its outputs and MLflow store in ``root``."""
    command = [sys.executable, "-m", "medae", *args]
    return subprocess.run(
        command, cwd=cwd or root, env=medae_env(root, **env), capture_output=True, text=True, timeout=timeout
    )


def last_error_line(done: subprocess.CompletedProcess) -> str:
    """The last line a failed command printed, which must be its only message: no traceback before it."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture
def make_config(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """Compose ``train`` or ``eval`` with FAST_RUN and extra overrides, rooted in tmp_path."""

    def make(*overrides: str, config_name: str = "train", fast: bool = True) -> DictConfig:
        base = FAST_RUN if fast and config_name == "train" else []
        return compose_config(config_name, [*base, *overrides], tmp_path)

    yield make
    GlobalHydra.instance().clear()
