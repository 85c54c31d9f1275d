"""A tracking store that stops answering: training goes on, unsent metrics wait, a store gone ends the run.

MLflow retries a failed HTTP request for minutes by default (7 retries, backoff factor 2, 120 s timeout);
medae's commands bound that to seconds (:func:`medae.cli.main`). :class:`StoreOutage` then decides what a
failed call means: the store is away, the call is retried at most every :data:`RETRY_EVERY_S`, and after
:data:`LIMIT_S` without an answer the run stops with :class:`StoreUnavailable`, naming the local
checkpoint and the file that holds the metrics not sent (``medae resume`` sends them).
"""

import errno
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE, ErrorCode

from medae.errors import DataError
from medae.security.redaction import without_user_info

LIMIT_S = 40.0
RETRY_EVERY_S = 5.0
UNSENT_FILE = "unsent-metrics.jsonl"
STORE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT)


class StoreUnavailable(DataError):
    """The tracking store did not answer for :data:`LIMIT_S` seconds; the run stopped."""


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the store is away (no answer, timeout, full or read-only disk).

    A request the store refused (a bad value) is not an outage.

    Example:
        >>> is_unavailable(MlflowException("API request to http://h/api failed with exception refused"))
        True
        >>> is_unavailable(MlflowException("Invalid value for metric"))
        False
    """
    if isinstance(error, MlflowException):
        message = str(error.message)
        away = message.startswith("API request to") or "disk is full" in message or "disk I/O" in message
        return away or error.error_code == ErrorCode.Name(TEMPORARILY_UNAVAILABLE)
    return isinstance(error, (ConnectionError, TimeoutError)) or (
        isinstance(error, OSError) and error.errno in STORE_ERRNOS
    )


class StoreOutage:
    """Calls to one store that may be away: metrics kept until it answers, every call bounded in time.

    Args:
        store: the tracking URI, for messages.
        run_id: the run the calls write to.
        limit_s: seconds without an answer before the run stops.
        retry_every_s: seconds between attempts while the store is away.
    """

    def __init__(
        self, store: str, run_id: str | None, limit_s: float = LIMIT_S, retry_every_s: float = RETRY_EVERY_S
    ) -> None:
        self.store = without_user_info(store)
        self.run_id = run_id
        self.limit_s = limit_s
        self.retry_every_s = retry_every_s
        self.since: float | None = None
        self.last_try = 0.0
        self.unsent: list[tuple[dict[str, float], int | None]] = []
        self.checkpoint: str | None = None  # the newest local checkpoint, for the final message

    @property
    def away(self) -> bool:
        """Whether the store did not answer the last attempt."""
        return self.since is not None

    def send_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None,
        send: Callable[[dict[str, float], int | None], None],
    ) -> None:
        """Send the metrics not sent yet, then ``metrics``, in order; keep them if the store is away."""
        self.unsent.append((dict(metrics), step))
        self.attempt(lambda: self.drain(send))

    def attempt(self, call: Callable[[], Any]) -> bool:
        """Run ``call`` unless the store is away and was tried less than ``retry_every_s`` ago.

        Returns:
            Whether the call ran and succeeded.

        Raises:
            StoreUnavailable: the store has been away for longer than ``limit_s``.
        """
        if self.away and time.monotonic() - self.last_try < self.retry_every_s:
            self.check_limit()
            return False
        self.last_try = time.monotonic()
        try:
            call()
        except Exception as error:
            if not is_unavailable(error):
                raise
            if not self.away:
                self.since = time.monotonic()
                # urllib3 would add a warning per retry of every call; the line below says it once
                logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
                print(
                    f"medae: warning: the tracking store {self.store} does not answer ({str(error)[:160]}); "
                    f"training goes on and what waits is sent when it answers (within {self.limit_s:.0f} s)",
                    file=sys.stderr,
                )
            self.check_limit()
            return False
        if self.away:
            print(f"medae: the tracking store {self.store} answers again", file=sys.stderr)
        self.since = None
        return True

    def drain(self, send: Callable[[dict[str, float], int | None], None]) -> None:
        """Send the metrics that wait, oldest first; a failure leaves the rest waiting and raises."""
        while self.unsent:
            send(*self.unsent[0])
            self.unsent.pop(0)

    def check_limit(self) -> None:
        """Raise :class:`StoreUnavailable` once the store has been away for ``limit_s``."""
        if self.since is not None and time.monotonic() - self.since > self.limit_s:
            raise StoreUnavailable(self.store, self.stopped_message())

    def stopped_message(self) -> str:
        """What the one line says when the run stops: how long, the local checkpoint, the unsent metrics."""
        kept = (
            f"the last checkpoint is {self.checkpoint}" if self.checkpoint else "no checkpoint was saved yet"
        )
        unsent = f"; {len(self.unsent)} metric batches wait in {self.unsent_file()}" if self.unsent else ""
        return (
            f"did not answer for {self.limit_s:.0f} s, so training stopped; {kept}{unsent}. When it answers "
            f"again: medae resume {self.run_id}"
        )

    def unsent_file(self) -> Path | None:
        """Where :meth:`save_unsent` writes: beside the checkpoints folder."""
        return Path(self.checkpoint).parent.parent / UNSENT_FILE if self.checkpoint else None

    def save_unsent(self) -> None:
        """Write the metrics not sent to :meth:`unsent_file`, one JSON object per line, for resume to send."""
        path = self.unsent_file()
        if path is None or not self.unsent:
            return
        with open(path, "a") as stream:
            for metrics, step in self.unsent:
                stream.write(json.dumps({"metrics": metrics, "step": step}) + "\n")


def send_saved(folder: Path, send: Callable[[dict[str, float], int | None], None]) -> int:
    """Send the metrics a stopped run saved in ``folder`` (:meth:`StoreOutage.save_unsent`); how many batches.

    The file is removed once everything in it was sent.
    """
    path = folder / UNSENT_FILE
    if not path.is_file():
        return 0
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for record in records:
        send(record["metrics"], record["step"])
    path.unlink()
    return len(records)
