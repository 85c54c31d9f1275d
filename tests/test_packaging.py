"""A built wheel is the whole of medae: installed into a new environment, it trains from an empty folder."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import mlflow
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def copy_tracked_files(destination: Path) -> None:
    """The repository's tracked files, links kept as links: what a clean clone holds."""
    listing = subprocess.run(["git", "ls-files"], cwd=REPOSITORY, capture_output=True, text=True, check=True)
    for name in listing.stdout.splitlines():
        source, target = REPOSITORY / name, destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.exists():
            shutil.copy2(source, target)


@pytest.mark.slow
def test_a_built_wheel_trains_from_an_empty_folder(tmp_path):
    copy_tracked_files(tmp_path / "source")
    wheel_args = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")]
    subprocess.run([sys.executable, "-m", "pip", *wheel_args, str(tmp_path / "source")], check=True)
    (wheel,) = (tmp_path / "dist").glob("medae-*.whl")
    environment = tmp_path / "environment"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True)
    install = ["--python", str(environment / "bin" / "python"), "install", "--no-deps", "-q", str(wheel)]
    subprocess.run([sys.executable, "-m", "pip", *install], check=True)
    # the dependencies come from this environment; medae itself only from the wheel
    (site,) = (environment / "lib").glob("python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {  # a new user's shell: no store, root or source path set by earlier tests
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "MEDAE_ROOT") and not key.startswith("MLFLOW_")
    }
    where = subprocess.run(
        [environment / "bin" / "python", "-c", "import medae; print(medae.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))
    result = subprocess.run(
        [environment / "bin" / "medae", "train", "debug=limit", "data.image_size=32", "trainer.max_epochs=1"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{empty}/mlflow.db")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert run.data.params["data.name"] == "mni152"
    assert run.data.metrics["test/psnr"] > 0
    assert not (empty / "conf").exists()  # the configs came from the wheel
