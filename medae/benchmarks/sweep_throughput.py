"""Sweep throughput: jobs per hour of one 4-job sweep with Hydra's basic launcher and with joblib.

The basic launcher runs the jobs one after another in one process with torch's default threads; the
joblib launcher runs 2 jobs at a time with 1 torch thread each. A small model cannot keep two cores busy
in one job, so the second job fills the idle core.
"""

import time
from pathlib import Path

from medae.benchmarks.subprocess_run import run_child, scratch_env

JOBS = 4
LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "num_threads=1"],
}


def sweep_args(launcher: str, quick: bool) -> list[str]:
    """``python -m medae train -m seed=0,1,2,3`` on the default data and model, with ``launcher``."""
    job = (
        ["debug=limit", "data.image_size=32", "trainer.max_epochs=1"] if quick else ["trainer.max_epochs=40"]
    )
    seeds = ",".join(str(seed) for seed in range(JOBS))
    return [
        "-m",
        "medae",
        "train",
        "-m",
        f"seed={seeds}",
        "trainer.enable_progress_bar=false",
        *job,
        *LAUNCHERS[launcher],
    ]


def measure(workdir: Path, quick: bool) -> dict[str, float]:
    """Wall time and jobs per hour of each launcher (start-up included), and joblib's ratio to basic."""
    figures: dict[str, float] = {"jobs": JOBS}
    for launcher in LAUNCHERS:
        root = workdir / f"sweep_{launcher}"
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        run_child(sweep_args(launcher, quick), env=scratch_env(root), cwd=root)
        figures[f"{launcher}_wall_s"] = time.perf_counter() - start
        figures[f"{launcher}_jobs_per_hour"] = JOBS * 3600 / figures[f"{launcher}_wall_s"]
    figures["ratio"] = figures["joblib_jobs_per_hour"] / figures["basic_jobs_per_hour"]
    return figures
