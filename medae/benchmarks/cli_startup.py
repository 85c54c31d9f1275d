"""Start-up of the commands that need no model: ``medae --help``, the catalogs and ``medae runs``.

Each command runs as a fresh ``python -m medae`` process (as a user types it) against a store that holds
one experiment, alternating commands; the figure is the median wall time, and the child reports whether
torch or Lightning got imported.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from medae.benchmarks.subprocess_run import scratch_env

COMMANDS = ("--help", "models", "data", "applications", "runs")
HEAVY = ("torch", "lightning")
# a fresh process that runs one command and says which heavy modules it imported
CHILD = (
    "import json, sys\nfrom medae.cli import main\nmain(json.loads(sys.argv[1]))\n"
    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)"
)


def measure(workdir: Path, quick: bool) -> dict[str, dict[str, float | list[str]]]:
    """``{command: {"median_s": ..., "heavy_imports": [...]}}`` over 1 (quick) or 5 alternating runs."""
    import mlflow

    store = workdir / "cli"
    store.mkdir(exist_ok=True)
    mlflow.MlflowClient(f"sqlite:///{store}/mlflow.db").create_experiment("bench")
    env = {**scratch_env(store), "MEDAE_EXTENSIONS": ""}
    times: dict[str, list[float]] = {command: [] for command in COMMANDS}
    heavy: dict[str, list[str]] = {}
    for _ in range(1 if quick else 5):
        for command in COMMANDS:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps([command])],
                cwd=store,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
            times[command].append(time.perf_counter() - start)
            heavy[command] = json.loads(done.stderr.strip().splitlines()[-1])
    return {
        command: {"median_s": statistics.median(times[command]), "heavy_imports": heavy[command]}
        for command in COMMANDS
    }
