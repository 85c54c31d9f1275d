"""The one definition of where the MLflow store is and of every tag and artifact name medae writes.

Every command finds its root folder through :func:`root_dir` and the store through :func:`store_uri`
(``conf/paths`` calls them as ``${root_dir:}`` and ``${store_uri:${paths.root_dir}}``), and every
reader and writer of a run names its tags and artifacts with these constants. This module imports
nothing heavy, so commands that only read the store start quickly.
"""

import os
from collections.abc import Mapping

STORE_FILE = "mlflow.db"

# who owns a run, and whether it still lives (medae.tracking.liveness)
HOST_TAG = "medae.host"
PID_TAG = "medae.pid"
PROCESS_START_TAG = "medae.process_start"
HEARTBEAT_TAG = "medae.heartbeat"
LEASE_TAG = "medae.lease"
LEASE_EXPIRES_TAG = "medae.lease_expires"
SLURM_JOB_TAG = "medae.slurm.job"
END_REASON_TAG = "medae.end_reason"
# what a run is
TASK_TAG = "medae.task"
MODEL_TAG = "medae.model"
APPLICATION_TAG = "medae.application"
METHOD_TAG = "medae.method"
OUTPUT_DIR_TAG = "medae.output_dir"
FINGERPRINT_TAG = "medae.data_fingerprint"
THREADS_TAG = "medae.torch_threads"
BEST_CHECKPOINT_TAG = "medae.best_checkpoint"
RESUMES_TAG = "medae.resumes"
# how runs relate: sweeps, and baselines or fine-tuning modes logged beside an autoencoder's run
SWEEP_DIR_TAG = "medae.sweep.dir"
SWEEP_JOB_TAG = "medae.sweep.job"
PARENT_TAG = "medae.sweep.parent"
COMPARED_WITH_TAG = "medae.compared_with"

# artifacts
RESOLVED_CONFIG_ARTIFACT = "config/config.yaml"
UNRESOLVED_CONFIG_ARTIFACT = "config/config_unresolved.yaml"
# the command-line overrides of the job (a JSON list): reproduce and resume rebuild the job from them
OVERRIDES_ARTIFACT = "config/overrides.json"
# what Hydra recorded of a job launched by `medae train` (runs logged before OVERRIDES_ARTIFACT)
HYDRA_OVERRIDES_ARTIFACT = "config/hydra/overrides.yaml"
CHECKPOINT_ARTIFACTS = "checkpoints"
LAST_ARTIFACT = f"{CHECKPOINT_ARTIFACTS}/last.ckpt"
BEST_ARTIFACT = f"{CHECKPOINT_ARTIFACTS}/best.ckpt"

# the run states a command may end a run with
FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"


def root_dir(environ: Mapping[str, str] = os.environ) -> str:
    """Where runs' outputs and the default store go: ``MEDAE_ROOT``, else the folder medae started in.

    Example:
        >>> root_dir({"MEDAE_ROOT": "/data/lab"})
        '/data/lab'
    """
    return os.path.abspath(environ.get("MEDAE_ROOT") or os.getcwd())


def shared_data_dir() -> str:
    """The lab's shared data folder beside the project that holds medae: ``<project>/../shared/data``.

    Resolved from the package, not from ``MEDAE_ROOT`` or the working folder, so that a run whose
    store lives elsewhere still finds the held-out subject.
    """
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))


def store_uri(root: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The MLflow store every command uses: ``MLFLOW_TRACKING_URI``, else ``<root>/mlflow.db``.

    The root is ``root`` when given (``paths.root_dir`` in a config), else :func:`root_dir`.

    Example:
        >>> store_uri("/data/lab", environ={})
        'sqlite:////data/lab/mlflow.db'
        >>> store_uri(environ={"MEDAE_ROOT": "/data/lab"})
        'sqlite:////data/lab/mlflow.db'
    """
    configured = environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    root = os.path.abspath(root) if root else root_dir(environ)
    return f"sqlite:///{os.path.join(root, STORE_FILE)}"
