"""Start a server (``medae.server``, ``mlflow ui``) on a free loopback port for a test; stop it after."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ADMIN_PASSWORD = "admin-password-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(server: subprocess.Popen, url: str, log: Path, timeout_s: float) -> None:
    """Poll ``url`` until the ``server`` answers; fail the test with its log if it exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"{url} did not answer: {log.read_text()[-2000:]}")
            time.sleep(0.5)


@contextlib.contextmanager
def serving(
    command: list[str], port: int, log: Path, timeout_s: float, env: dict | None = None
) -> Iterator[str]:
    """Run server ``command`` on loopback ``port``, its output in ``log``; yield its URL once healthy."""
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        wait_until_up(server, f"{url}/health", log, timeout_s)
        try:
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextlib.contextmanager
def running_server(folder: Path, *options: str) -> Iterator[str]:
    """The server's URI while it runs; the admin's password is :data:`ADMIN_PASSWORD`."""
    pytest.importorskip(
        "flask_wtf", reason="MLflow's basic-auth app needs Flask-WTF (pip install medae[server])"
    )
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    command = [sys.executable, "-m", "medae.server", "--port", str(port), "--folder", str(folder), *options]
    with serving(command, port, folder.with_suffix(".log"), 90, env) as uri:
        yield uri
