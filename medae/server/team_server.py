"""A team tracking server that lets no one in unasked: ``python -m medae.server`` (``make server``).

It runs ``mlflow server`` on a loopback address with MLflow's basic-auth app, artifacts kept and
served by the server (``--artifacts-destination``: a folder or a bucket) and no default permission:
every request needs a user and password, and a user sees or writes an experiment only when the admin
grants it (READ, EDIT or MANAGE). The admin's password comes from MLflow's own
``MLFLOW_AUTH_ADMIN_PASSWORD`` variable and is written nowhere. Clients pass credentials through
``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``.

Example:
    ``MLFLOW_AUTH_ADMIN_PASSWORD=... python -m medae.server --port 5000``, then on each client
    ``export MLFLOW_TRACKING_URI=http://127.0.0.1:5000``, ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``.
"""

import argparse
import os
import secrets
import sys
from pathlib import Path

from medae.errors import exit_on_user_error
from medae.server.postgres import OPTUNA_DATABASE, database_uri, start_cluster, stop_cluster

ADMIN_PASSWORD_VAR = "MLFLOW_AUTH_ADMIN_PASSWORD"
MIN_PASSWORD_LENGTH = 12  # MLflow's own rule for the admin password
# signs the auth app's CSRF tokens; set it yourself when several servers share one store
CSRF_KEY_VAR = "MLFLOW_FLASK_SERVER_SECRET_KEY"


def auth_config(auth_database_uri: str, admin_username: str) -> str:
    """The basic-auth app's ini: a user store, an admin, and no permission by default."""
    return "\n".join(
        [
            "[mlflow]",
            "default_permission = NO_PERMISSIONS",
            f"database_uri = {auth_database_uri}",
            f"admin_username = {admin_username}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            "",
        ]
    )


def server_command(args: argparse.Namespace) -> list[str]:
    """The ``mlflow server`` command line."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--backend-store-uri",
        args.backend_store_uri,
        "--artifacts-destination",
        args.artifacts_destination,
        "--serve-artifacts",
        "--workers",
        "1",
    ]


def parse(argv: list[str]) -> argparse.Namespace:
    """The command-line options, with defaults under ``./server``."""
    parser = argparse.ArgumentParser(prog="python -m medae.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (put TLS in front of it)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--folder", default="server", help="where the stores live")
    parser.add_argument("--backend-store-uri", default=None, help="default: sqlite in --folder")
    parser.add_argument(
        "--postgres", action="store_true", help="start a private PostgreSQL in --folder as the backend store"
    )
    parser.add_argument("--postgres-port", type=int, default=5433)
    parser.add_argument(
        "--stop-postgres", action="store_true", help="stop the PostgreSQL of --folder, then exit"
    )
    parser.add_argument(
        "--artifacts-destination",
        default=None,
        help="where the server keeps every run's artifacts: a folder or a bucket URI such as "
        "s3://lab-mlflow (S3-compatible stores read MLFLOW_S3_ENDPOINT_URL); default: --folder/artifacts",
    )
    parser.add_argument("--admin-username", default="admin")
    args = parser.parse_args(argv)
    folder = Path(args.folder).resolve()
    args.backend_store_uri = args.backend_store_uri or f"sqlite:///{folder / 'mlflow.db'}"
    destination = args.artifacts_destination or str(folder / "artifacts")
    args.artifacts_destination = destination if "://" in destination else str(Path(destination).resolve())
    return args


def main(argv: list[str] | None = None) -> None:
    """Write the auth config and replace this process with ``mlflow server``."""
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.stop_postgres:
        stop_cluster(Path(args.folder).resolve())
        return
    if len(os.environ.get(ADMIN_PASSWORD_VAR, "")) < MIN_PASSWORD_LENGTH:
        print(
            f"medae: error: {ADMIN_PASSWORD_VAR}: set the admin password in the environment "
            f"(at least {MIN_PASSWORD_LENGTH} characters)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    folder = Path(args.folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)  # PostgreSQL's own user must be able to enter it
    environment = dict(os.environ)
    if args.postgres:
        args.backend_store_uri, passfile = exit_on_user_error(start_cluster, folder, args.postgres_port)
        environment["PGPASSFILE"] = str(passfile)
        stop = f"python -m medae.server --stop-postgres --folder {folder}"
        print(f"PostgreSQL on 127.0.0.1:{args.postgres_port} (stop: {stop})")
        print(f"export MEDAE_OPTUNA_STORAGE={database_uri(args.postgres_port, OPTUNA_DATABASE)}")
        print(f"export PGPASSFILE={passfile}")
    # every file the server writes from here on (auth.db holds password hashes) is its owner's alone
    os.umask(0o077)
    for secret in (folder / "auth.db", folder / "basic_auth.ini", folder / "mlflow.db"):
        if secret.exists():  # written by an earlier version with the default umask
            secret.chmod(0o600)
    ini = folder / "basic_auth.ini"
    ini.write_text(auth_config(f"sqlite:///{folder / 'auth.db'}", args.admin_username))
    print(f"artifacts: {args.artifacts_destination} (clients reach them through the server)")
    print(f"export MLFLOW_TRACKING_URI=http://{args.host}:{args.port}", flush=True)
    environment["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
    environment.setdefault(CSRF_KEY_VAR, secrets.token_hex(32))
    os.execve(sys.executable, server_command(args), environment)


if __name__ == "__main__":
    main()
