"""A private PostgreSQL cluster for the team tracking server (``python -m medae.server --postgres``).

The cluster lives in ``<folder>/postgres``, listens on 127.0.0.1 only, and asks for a password (SCRAM),
which is generated once and kept in a 0600 password file that clients read through ``PGPASSFILE``. It runs
Debian's ``postgresql`` binaries; as root, they run as the ``postgres`` user, since PostgreSQL refuses root.
"""

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from medae.errors import ConfigError

DATABASE = "mlflow"
# Optuna's study tables in a database of their own: both Optuna and MLflow keep an alembic_version table
OPTUNA_DATABASE = "optuna"
USER = "medae"
SERVER_BINARIES = Path("/usr/lib/postgresql")


def binary(name: str) -> str:
    """Path of a PostgreSQL server program: on PATH, or the newest under /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(
        iter(sorted(SERVER_BINARIES.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]), reverse=True)),
        None,
    )
    if found is None:
        raise ConfigError(
            "--postgres",
            f"needs PostgreSQL's {name}; install Debian's postgresql (apt-get install postgresql)",
        )
    return str(found)


def as_cluster_owner(command: list[str]) -> list[str]:
    """``command``, run as ``postgres`` when this process is root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def check_reachable_by_owner(folder: Path) -> None:
    """As root, refuse a folder that the ``postgres`` user cannot enter (a parent closed to others)."""
    if os.geteuid() != 0:
        return
    closed = [
        str(parent) for parent in folder.parents if parent.exists() and not parent.stat().st_mode & 0o001
    ]
    if closed:
        raise ConfigError(
            "--folder",
            f"{folder} is inside {closed[0]}, which the postgres user cannot enter (PostgreSQL refuses "
            "to run as root); choose a folder whose parents others may enter, e.g. under /srv",
        )


def run_checked(command: list[str], what: str) -> None:
    """Run a PostgreSQL program; its last error line as a ConfigError when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise ConfigError("--postgres", f"{what} failed: {lines[-1]}")


def owned_folder(path: Path) -> Path:
    """``path`` created and, as root, handed to ``postgres``."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


def query(port: int, passfile: Path, sql: str, database: str = "postgres") -> str:
    """Run one SQL statement as the cluster's user through ``psql``; its unaligned output."""
    command = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", USER, "-d", database, "-tAc", sql]
    environment = {**os.environ, "PGPASSFILE": str(passfile)}
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout.strip()


def start_cluster(folder: Path, port: int) -> tuple[str, Path]:
    """Initialise (once) and start the cluster with MLflow's and Optuna's databases.

    Returns:
        MLflow's backend store URI and the password file.

    Example:
        ``uri, passfile = start_cluster(Path("server"), 5432)``, then run ``mlflow server`` with
        ``--backend-store-uri uri`` and ``PGPASSFILE=passfile`` in its environment.
    """
    check_reachable_by_owner(folder / "postgres")
    base = owned_folder(folder / "postgres")
    data, sockets = base / "data", owned_folder(base / "sockets")
    passfile = folder / "pgpass"
    if not (data / "PG_VERSION").exists():
        password = secrets.token_urlsafe(24)
        secret = owned_folder(base / "init") / "password"
        secret.write_text(password)
        if os.geteuid() == 0:
            shutil.chown(secret, "postgres", "postgres")
        initdb = [binary("initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256", f"--pwfile={secret}"]
        run_checked(as_cluster_owner(initdb), "initdb")
        secret.unlink()
        passfile.write_text(f"127.0.0.1:{port}:*:{USER}:{password}\n")
        passfile.chmod(0o600)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets}"
    start = [binary("pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-o", options, "-w", "start"]
    run_checked(as_cluster_owner(start), f"starting PostgreSQL (log: {base / 'server.log'})")
    for database in (DATABASE, OPTUNA_DATABASE):
        if not query(port, passfile, f"SELECT 1 FROM pg_database WHERE datname = '{database}'"):
            query(port, passfile, f"CREATE DATABASE {database}")
    return database_uri(port, DATABASE), passfile


def database_uri(port: int, database: str) -> str:
    """SQLAlchemy URI of one of the cluster's databases; the password comes from ``PGPASSFILE``."""
    return f"postgresql+psycopg2://{USER}@127.0.0.1:{port}/{database}"


def stop_cluster(folder: Path) -> None:
    """Stop the cluster started by :func:`start_cluster` (fast shutdown)."""
    stop = [binary("pg_ctl"), "-D", str(folder / "postgres" / "data"), "-m", "fast", "-w", "stop"]
    subprocess.run(as_cluster_owner(stop), check=False, capture_output=True)
