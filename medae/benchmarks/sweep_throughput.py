"""Sweep throughput: jobs per hour of one 4-job sweep with Hydra's basic launcher and with joblib.

The basic launcher runs the jobs one after another in one process with torch's default threads; the
joblib launcher runs 2 jobs at a time with 1 torch thread each. A small model cannot keep two cores busy
in one job, so the second job fills the idle core; the default model keeps both busy, so there the
launchers are measured for the record. Each launch's CPU seconds over its wall time says how many
cores it kept busy.
"""

import resource
import time
from pathlib import Path

from medae.benchmarks.subprocess_run import run_child, scratch_env

JOBS = 4
LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "num_threads=1"],
}
# the model the throughput target is for (32 x 32 images: a step is mostly Python, one core's work),
# and the default one (128 x 128)
WORKLOADS = {
    "small": ["data.image_size=32", "trainer.max_epochs=150"],
    "default": ["trainer.max_epochs=40"],
}
QUICK_JOB = ["debug=limit", "data.image_size=32", "trainer.max_epochs=1"]


def sweep_args(launcher: str, job: list[str]) -> list[str]:
    """``python -m medae train -m seed=0,1,2,3`` on the default data and model, with ``launcher``."""
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


def children_cpu_seconds() -> float:
    """User plus system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_workload(workdir: Path, job: list[str]) -> dict[str, float]:
    """Wall time, jobs per hour and busy cores of each launcher (start-up included); joblib over basic."""
    figures: dict[str, float] = {"jobs": JOBS}
    for launcher in LAUNCHERS:
        root = workdir / launcher
        root.mkdir(parents=True, exist_ok=True)
        cpu_before, start = children_cpu_seconds(), time.perf_counter()
        run_child(sweep_args(launcher, job), env=scratch_env(root), cwd=root)
        wall = time.perf_counter() - start
        figures[f"{launcher}_wall_s"] = wall
        figures[f"{launcher}_jobs_per_hour"] = JOBS * 3600 / wall
        figures[f"{launcher}_busy_cores"] = (children_cpu_seconds() - cpu_before) / wall
    figures["ratio"] = figures["joblib_jobs_per_hour"] / figures["basic_jobs_per_hour"]
    return figures


def measure(workdir: Path, quick: bool) -> dict[str, dict[str, float]]:
    """:func:`measure_workload` of each workload; ``quick``: one 1-epoch small workload."""
    workloads = {"small": QUICK_JOB} if quick else WORKLOADS
    return {name: measure_workload(workdir / f"sweep_{name}", job) for name, job in workloads.items()}
