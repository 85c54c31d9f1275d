"""Opening an MLflow tracking store: it must answer, its schema and experiment are created once.

Several medae processes may start at the same moment on a new sqlite store (a plain command, a
joblib sweep, a job array). MLflow creates the sqlite schema on first use, and two processes that
do so together fail ("table ... already exists"). :func:`open_store` creates the schema and the
experiment under a file lock beside the database, before any logger touches it.
"""

import contextlib
import hashlib
import os
import sqlite3
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from filelock import FileLock
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from medae.config.checks import writable_folder_problem
from medae.errors import ConfigError
from medae.tracking.liveness import mark_dead_runs_killed

TRACKING_URI_KEY = "logger.mlflow.tracking_uri"
CREDENTIALS_KEY = "MLFLOW_TRACKING_USERNAME"
SERVER_TIMEOUT_S = 5.0
LOCK_TIMEOUT_S = 300.0
DESCRIPTION_TAG = "mlflow.note.content"  # what the UI shows as the experiment's description
EXPERIMENT_DESCRIPTION = """Runs of medae, one per `medae train`, `eval` \
or `baseline` job. A sweep's jobs sit under its parent run (`sweep: <swept keys> (<time>)`).

- Metrics are stepped by epoch: `val/*` while training, `test/*` and each held-out set (`colin27_brain/*`) \
at the end; `*_fg` scores the foreground (the brain) only.
- Params are the model, data, optimiser, loss and application settings and what the command line chose; \
`config/config.yaml` holds the whole resolved config.
- Images: `images/` (reconstruction grids by epoch). Model: the run's logged model \
`<variant>-<application>`, with `checkpoints/best.ckpt` beside it.
- Reproduce a run with `medae reproduce <run id>`; apply it with `medae predict ckpt_path=<run id>`.
"""


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None.

    Example:
        >>> sqlite_path("sqlite:////data/mlflow.db")
        PosixPath('/data/mlflow.db')
        >>> sqlite_path("http://127.0.0.1:5000") is None
        True
    """
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri[len("sqlite:///") :]))


def server_address(uri: str) -> str:
    """``uri`` without the ``user:password@`` it may carry, fit to print.

    Example:
        >>> server_address("http://alice:secret@127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    parts = urlparse(uri)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_reachable(uri: str, write: bool = False) -> None:
    """Raise a ConfigError unless the store at ``uri`` can be used, within :data:`SERVER_TIMEOUT_S`.

    An HTTP server must answer ``/health``; a sqlite database must lie in an existing folder and be a
    database, and for a process that ``write``s, its folder must be writable with space to spare.
    """
    if is_server(uri):
        address = server_address(uri)
        try:
            with urllib.request.urlopen(f"{address.rstrip('/')}/health", timeout=SERVER_TIMEOUT_S):
                return
        except urllib.error.HTTPError as error:
            if error.code in (
                401,
                403,
            ):  # an authenticating server answers, and the client authenticates later
                return
            reason = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            reason = str(getattr(error, "reason", error))
        raise ConfigError(
            TRACKING_URI_KEY,
            f"no MLflow tracking server answers at {address} within {SERVER_TIMEOUT_S:g} s ({reason}); "
            "start it, or set MLFLOW_TRACKING_URI to a store that runs",
        )
    database = sqlite_path(uri)
    if database is not None and not database.parent.is_dir():
        raise ConfigError(
            TRACKING_URI_KEY,
            f"the folder {database.parent} of the sqlite store {uri} does not exist; "
            "create it first (medae creates the database file, not its folder)",
        )
    if database is not None:
        check_sqlite_store(database, write)


def check_sqlite_store(database: Path, write: bool) -> None:
    """Raise a ConfigError unless ``database`` is an sqlite file (or absent), and, to ``write``, writable.

    sqlite writes journal files beside the database, so its folder must be writable too.
    """
    if database.is_file():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise ConfigError(
                TRACKING_URI_KEY,
                f"{database} is not a readable MLflow sqlite store ({error}); restore it from a backup, "
                "or point MEDAE_ROOT or MLFLOW_TRACKING_URI at another store",
            ) from error
    if not write:
        return
    problem = writable_folder_problem(database.parent)
    if problem is None and database.is_file() and not os.access(database, os.W_OK):
        problem = f"{database} is read-only"
    if problem:
        raise ConfigError(
            TRACKING_URI_KEY, f"{problem}; the sqlite store cannot take runs. Point MEDAE_ROOT elsewhere"
        )


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise schema and experiment creation for ``uri`` on this machine."""
    database = sqlite_path(uri)
    if database is not None:
        lock_file = database.with_name(database.name + ".lock")
    else:
        lock_file = (
            Path(tempfile.gettempdir()) / f"medae-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.lock"
        )
    with FileLock(lock_file, timeout=LOCK_TIMEOUT_S):
        yield


def is_server(uri: str) -> bool:
    """Whether ``uri`` is a tracking server (``http``/``https``) rather than a store on this machine.

    Example:
        >>> is_server("http://127.0.0.1:5000"), is_server("sqlite:///mlflow.db")
        (True, False)
    """
    return urlparse(uri).scheme in ("http", "https")


def experiment_artifact_location(uri: str, artifact_location: str | None) -> str | None:
    """Where a new experiment of the store at ``uri`` keeps its artifacts.

    A tracking server keeps them itself (``mlflow server --artifacts-destination``, reached through
    ``mlflow-artifacts:`` URIs), so that a colleague on another machine finds checkpoints and models:
    a folder on the machine that happened to create the experiment is never used there.

    Example:
        >>> experiment_artifact_location("http://127.0.0.1:5000", "/home/me/mlartifacts") is None
        True
    """
    return None if is_server(uri) else artifact_location


def check_credentials(client: MlflowClient, uri: str) -> None:
    """Raise a ConfigError naming the server and the variables to set when it refuses this client."""
    try:
        client.search_experiments(max_results=1)
    except MlflowException as error:
        code = getattr(error, "get_http_status_code", lambda: 0)()
        text = str(error)
        if code not in (401, 403) and not any(mark in text for mark in ("401", "403", "Unauthorized")):
            raise
        given = os.environ.get(CREDENTIALS_KEY) or "@" in urlparse(uri).netloc
        refused = "refused the credentials given" if given else "asks for credentials and none were given"
        raise ConfigError(
            CREDENTIALS_KEY,
            f"the tracking server {server_address(uri)} {refused}; set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD to a user the server's admin created",
        ) from None


def open_client(uri: str, write: bool = False) -> MlflowClient:
    """A client of the store at ``uri``, checked first.

    Args:
        uri: the store.
        write: the caller writes runs; the sqlite schema is then created or migrated once, under the
            lock, and runs left RUNNING by processes of this host that are gone are marked KILLED.
            A reader (``write=False``) changes nothing, and a sqlite store that does not exist is an
            error rather than a new empty database.
    """
    check_reachable(uri, write)
    database = sqlite_path(uri)
    if not write and database is not None and not database.is_file():
        raise ConfigError(
            TRACKING_URI_KEY,
            f"no MLflow store at {uri}; train a model first, or point MEDAE_ROOT or MLFLOW_TRACKING_URI "
            "at the store",
        )
    if is_server(uri):
        check_credentials(MlflowClient(uri), uri)
    if not write:
        return MlflowClient(uri)
    with store_lock(uri):
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)  # creates or migrates the schema
    mark_dead_runs_killed(client)
    return client


def open_store(uri: str, experiment_name: str, artifact_location: str | None = None) -> str:
    """Open the store (:func:`open_client`) and create the experiment once; return the experiment id.

    Example:
        ``open_store("sqlite:///mlflow.db", "medae")`` from any number of processes at once.
    """
    client = open_client(uri, write=True)
    with store_lock(uri):
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is not None and experiment.lifecycle_stage == "deleted":
            raise ConfigError(
                "logger.mlflow.experiment_name",
                f"experiment '{experiment_name}' is deleted in {uri}; restore it "
                f"(mlflow experiments restore --experiment-id {experiment.experiment_id}) "
                "or choose another name",
            )
        if experiment is None:
            location = experiment_artifact_location(uri, artifact_location)
            experiment_id = create_experiment(client, experiment_name, location)
        else:
            experiment_id = experiment.experiment_id
    return experiment_id


def create_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """Create experiment ``name`` with its description, or find it when another process just created it."""
    try:
        return client.create_experiment(
            name, artifact_location=artifact_location, tags={DESCRIPTION_TAG: EXPERIMENT_DESCRIPTION}
        )
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
