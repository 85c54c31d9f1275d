"""Storage per run: the bytes one short training run of each variant leaves on disk.

Files are counted once per inode, as the disk stores them: with a local artifact store, the
checkpoints under ``mlartifacts/`` are hard links to those in ``outputs/`` (see
:mod:`medae.tracking.checkpoint_artifacts`). ``if_copied_mb`` counts every path, as a copy would store them.
"""

import os
from pathlib import Path

from medae.benchmarks.subprocess_run import run_child, scratch_env
from medae.bootstrap import bootstrap
from medae.models.registry import MODELS

MB = 1024 * 1024


def disk_usage(folders: list[Path], suffix: str = "") -> tuple[float, float]:
    """MB stored (each inode once) and MB as separate copies, of the files under ``folders``."""
    seen: set[tuple[int, int]] = set()
    stored = copied = 0
    for folder in folders:
        for path in folder.rglob(f"*{suffix}"):
            if not path.is_file() or path.is_symlink():
                continue
            status = path.stat()
            copied += status.st_size
            if (status.st_dev, status.st_ino) not in seen:
                seen.add((status.st_dev, status.st_ino))
                stored += status.st_size
    return stored / MB, copied / MB


def measure(workdir: Path, quick: bool) -> dict[str, dict[str, float]]:
    """For each variant: MB per run stored, checkpoints alone, and what copies would take."""
    bootstrap()
    variants = ["conv"] if quick else sorted(MODELS)
    figures = {}
    for variant in variants:
        root = workdir / f"storage_{variant}"
        root.mkdir(parents=True, exist_ok=True)
        args = [
            "-m",
            "medae",
            "train",
            f"model={variant}",
            "debug=limit",
            "trainer.enable_progress_bar=false",
        ]
        run_child(args, env=scratch_env(root), cwd=root)
        folders = [root / "outputs", root / "mlartifacts"]
        stored, copied = disk_usage(folders)
        checkpoints, checkpoint_copies = disk_usage(folders, ".ckpt")
        figures[variant] = {
            "run_mb": stored,
            "checkpoints_mb": checkpoints,
            "checkpoint_files": sum(1 for folder in folders for _ in folder.rglob("*.ckpt")),
            "if_copied_mb": copied,
            "checkpoints_if_copied_mb": checkpoint_copies,
            "store_mb": os.path.getsize(root / "mlflow.db") / MB,
        }
    return figures
