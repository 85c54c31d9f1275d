"""Start ``python -m medae.server`` on a free loopback port for a test, and stop it after."""

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


@contextlib.contextmanager
def running_server(folder: Path, *options: str) -> Iterator[str]:
    """The server's URI while it runs; the admin's password is :data:`ADMIN_PASSWORD`."""
    pytest.importorskip(
        "flask_wtf", reason="MLflow's basic-auth app needs Flask-WTF (pip install medae[server])"
    )
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    command = [sys.executable, "-m", "medae.server", "--port", str(port), "--folder", str(folder), *options]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            break
        except OSError:
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("the tracking server did not start within 90 s")
    try:
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)
