"""SIGINT and SIGTERM stop a medae run at a safe point and exit with 128 + the signal number.

A scheduler's time limit or preemption sends SIGTERM; Ctrl+C sends SIGINT. While Lightning trains
or tests, the signal asks Lightning to stop after the current batch (its own SIGTERM mechanism, which
alone would exit 0); elsewhere it raises :class:`Interrupted` at once. The caller ends the MLflow run
as KILLED, and the exit status (130 or 143) tells the scheduler that the job did not succeed.
"""

import signal
import threading
from types import FrameType, TracebackType

from lightning import Trainer
from lightning.pytorch.trainer.states import TrainerStatus

from medae.compat import request_trainer_stop
from medae.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager that turns SIGINT and SIGTERM into a clean stop of ``trainer``.

    Args:
        trainer: the Lightning trainer that fits and tests; a signal while it runs stops it after the
            current batch. Without one (a command that trains nothing), a signal stops at once.

    Example:
        >>> with StopSignals(Trainer(logger=False, enable_progress_bar=False)):  # doctest: +SKIP
        ...     trainer.fit(module)  # SIGTERM: raises Interrupted(15) after the current batch
    """

    def __init__(self, trainer: Trainer | None = None) -> None:
        self.trainer = trainer
        self.received: int | None = None
        self._previous: dict[int, signal._HANDLER] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Python handles signals there only
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self.received is not None and not isinstance(error, Interrupted):
            raise Interrupted(self.received) from error

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came while Lightning finished its stage anyway."""
        if self.received is not None:
            raise Interrupted(self.received)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signum
        if self.trainer is not None and self.trainer.state.status == TrainerStatus.RUNNING:
            request_trainer_stop(self.trainer)
        elif first:
            raise Interrupted(signum)
