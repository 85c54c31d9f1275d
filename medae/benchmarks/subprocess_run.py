"""Run a benchmark child process; read a process's own peak resident memory."""

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of the calling process since it started its program, in MB.

    Linux's ``VmHWM`` belongs to the current program only; ``ru_maxrss`` would also count the pages a
    child inherited from its parent before ``exec``.

    Example:
        >>> peak_rss_mb() > 10
        True
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class ChildRun:
    """When a child process started and what it printed."""

    launched_at: float
    output: str


def scratch_env(root: Path) -> dict[str, str]:
    """Environment that keeps a child ``medae`` run's outputs and MLflow store inside ``root``."""
    return {"MEDAE_ROOT": str(root), "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}


def run_child(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> ChildRun:
    """Run ``python args...``; raise with its output tail if it fails."""
    launched_at = time.time()
    process = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        text=True,
    )
    output = process.communicate()[0]
    if process.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(args[:3])} failed:\n{output[-3000:]}")
    return ChildRun(launched_at, output)
