"""A callback that records when each training step starts and ends, for throughput and data-wait figures."""

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lightning import Callback, LightningModule, Trainer

from medae.benchmarks.subprocess_run import peak_rss_mb


@dataclass
class StepTimes:
    """Wall-clock times (``time.time()``) of each training step, and the epoch each step belongs to."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    peak_rss_mb: float = 0.0

    def add_start(self, epoch: int, batch_size: int) -> None:
        """Record a step's start."""
        self.starts.append(time.time())
        self.epochs.append(epoch)
        self.batch_sizes.append(batch_size)

    def measured_steps(self, warmup: int) -> list[int]:
        """The steps after ``warmup`` whose interval from the step before lies inside one epoch.

        Epoch boundaries (reshuffling, validation, checkpoints) are left out of every figure.

        Raises:
            ValueError: no such step.
        """
        steps = [
            step
            for step in range(max(1, warmup), len(self.starts))
            if self.epochs[step] == self.epochs[step - 1]
        ]
        if not steps:
            raise ValueError(
                f"no two steps of one epoch after step {warmup} in {len(self.starts)} steps; "
                "each epoch needs at least 2 steps (a smaller data.batch_size, or more steps)"
            )
        return steps

    def steady_state(self, warmup: int) -> tuple[float, float]:
        """Images per second and the fraction of time spent waiting for data, after ``warmup`` steps.

        Only intervals between consecutive steps of the same epoch count (:meth:`measured_steps`).

        Example:
            >>> times = StepTimes([0.0, 1.0, 2.0], [0.9, 1.9, 2.9], [0, 0, 0], [4, 4, 4])
            >>> tuple(round(x, 3) for x in times.steady_state(warmup=0))
            (4.0, 0.1)
        """
        steps = self.measured_steps(warmup)
        images = sum(self.batch_sizes[step - 1] for step in steps)
        elapsed = sum(self.starts[step] - self.starts[step - 1] for step in steps)
        waiting = sum(self.starts[step] - self.ends[step - 1] for step in steps)
        return images / elapsed, waiting / elapsed

    def median_images_per_s(self, warmup: int) -> float:
        """Images per second of the median step interval after ``warmup`` steps (same-epoch intervals only).

        Robust to the stalls of a shared machine (a step that waits 1.4 s for a CPU), which move the total
        of :meth:`steady_state` but are no cost of the loop.

        Example:
            >>> times = StepTimes([0.0, 1.0, 2.0, 5.0], [0.9, 1.9, 2.9, 5.9], [0, 0, 0, 0], [4, 4, 4, 4])
            >>> times.median_images_per_s(warmup=0)  # the 3 s stall leaves the median at 1 s
            4.0
        """
        rates = [
            self.batch_sizes[step - 1] / (self.starts[step] - self.starts[step - 1])
            for step in self.measured_steps(warmup)
        ]
        return statistics.median(rates)

    def save(self, path: Path) -> None:
        """Write the times as JSON."""
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> "StepTimes":
        """Read times written by :meth:`save`."""
        return cls(**json.loads(path.read_text()))


class StepTimer(Callback):
    """Record step times during training and write them to ``path`` when training ends.

    Args:
        path: the JSON file to write.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.times = StepTimes()

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Record the start."""
        self.times.add_start(trainer.current_epoch, self.batch_size(batch))

    @staticmethod
    def batch_size(batch: Any) -> int:
        """Images in a medae batch."""
        return len(batch)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Record the end."""
        self.times.ends.append(time.time())

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write the times and the peak memory so far."""
        self.times.peak_rss_mb = peak_rss_mb()
        self.times.save(self.path)
