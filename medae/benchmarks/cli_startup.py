"""Start-up of the commands that need no model, and the cost of the config schema.

``medae --help``, the catalogs, ``medae runs`` and the refusal of an ill-typed override each run as a
fresh ``python -m medae`` process (as a user types it) against a store that holds one experiment,
alternating commands; the figure is the median wall time, and the child reports whether torch or
Lightning got imported. The schema's own share of start-up (reading ``schema.json`` and checking a
composed config against it) is timed inside fresh processes beside Hydra's composition.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from medae.benchmarks.subprocess_run import scratch_env

COMMANDS = ("--help", "models", "data", "applications", "runs", "train trainer.max_epochs=ten")
HEAVY = ("torch", "lightning")
# a fresh process that runs one command and says which heavy modules it imported
CHILD = (
    "import json, sys\nfrom medae.cli import main\ntry:\n    main(json.loads(sys.argv[1]))\nfinally:\n"
    f"    print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)"
)
# a fresh process that times the schema's steps and Hydra's composition of the default train config
SCHEMA_CHILD = """
import json, time
from hydra import compose, initialize_config_dir
from medae.bootstrap import register_resolvers
from medae.config.checks import CONFIG_DIR
from medae.config.schema import check_config, prepare_schema
register_resolvers()
start = time.perf_counter()
schema = prepare_schema()
read = time.perf_counter()
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose(config_name="train", return_hydra_config=True)
composed = time.perf_counter()
check_config(cfg, schema)
checked = time.perf_counter()
print(json.dumps({"schema_s": read - start + checked - composed, "compose_s": composed - read}))
"""


def measure(workdir: Path, quick: bool) -> dict[str, dict[str, float | list[str]]]:
    """``{command: {"median_s": ..., "heavy_imports": [...]}}`` over 1 (quick) or 5 alternating runs."""
    import mlflow

    store = workdir / "cli"
    store.mkdir(exist_ok=True)
    mlflow.MlflowClient(f"sqlite:///{store}/mlflow.db").create_experiment("bench")
    env = {**os.environ, **scratch_env(store), "MEDAE_EXTENSIONS": ""}
    times: dict[str, list[float]] = {command: [] for command in COMMANDS}
    heavy: dict[str, list[str]] = {}
    for _ in range(1 if quick else 5):
        for command in COMMANDS:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps(command.split())],
                cwd=store,
                env=env,
                capture_output=True,
                text=True,
                check=not command.startswith("train"),  # the refusal exits with status 2
            )
            times[command].append(time.perf_counter() - start)
            heavy[command] = json.loads(done.stderr.strip().splitlines()[-1])
    return {
        command: {"median_s": statistics.median(times[command]), "heavy_imports": heavy[command]}
        for command in COMMANDS
    }


def schema_share(workdir: Path, quick: bool) -> dict[str, float]:
    """Medians of the schema's share of start-up and of Hydra's composition, over 1 or 5 fresh processes."""
    env = {**os.environ, **scratch_env(workdir), "MEDAE_EXTENSIONS": ""}
    timed: dict[str, list[float]] = {"schema_s": [], "compose_s": []}
    for _ in range(1 if quick else 5):
        child = [sys.executable, "-c", SCHEMA_CHILD]
        done = subprocess.run(child, cwd=workdir, env=env, capture_output=True, text=True, check=True)
        for key, seconds in json.loads(done.stdout).items():
            timed[key].append(seconds)
    return {key: statistics.median(values) for key, values in timed.items()}
