"""Epoch means of the training losses, kept as running sums: a few tensor additions a step.

A torchmetrics ``MeanMetric`` per logged term costs its update wrapper (about 25 us on a CPU) on every
step; Lightning's ``self.log`` about 0.6 ms. The sums here cost a tensor addition per term and are
logged once an epoch.
"""

from collections.abc import Callable, Mapping

import torch


class TrainingMeans:
    """Image-weighted means over an epoch of scalar tensors logged each step.

    Terms may appear after the first step (a regularizer that starts later); each is averaged over the
    images of the steps that logged it.

    Example:
        >>> means = TrainingMeans()
        >>> means.add({"train/loss": torch.tensor(1.0)}, batch_size=3)
        >>> means.add({"train/loss": torch.tensor(3.0)}, batch_size=1)
        >>> {name: round(float(value), 2) for name, value in means.compute().items()}
        {'train/loss': 1.5}
    """

    def __init__(self) -> None:
        self.totals: dict[str, torch.Tensor] = {}
        self.images: dict[str, int] = {}

    def add(self, values: Mapping[str, torch.Tensor], batch_size: int) -> None:
        """Add each value, weighted by the ``batch_size`` images it is the mean of."""
        with torch.no_grad():
            for name, value in values.items():
                if name in self.totals:
                    self.totals[name].add_(value.detach(), alpha=batch_size)
                    self.images[name] += batch_size
                else:
                    self.totals[name] = value.detach().double() * batch_size
                    self.images[name] = batch_size

    def compute(
        self, sum_over_processes: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """The mean of each term; ``sum_over_processes`` adds up the sums of every DDP rank first.

        Every rank must have logged the same terms (they run the same network).
        """
        if not self.totals:
            return {}
        names = sorted(self.totals)
        totals = torch.stack([self.totals[name] for name in names])
        images = torch.tensor([float(self.images[name]) for name in names], dtype=torch.float64)
        both = torch.cat([totals, images.to(totals.device)])
        if sum_over_processes is not None:
            both = sum_over_processes(both)
        means = (both[: len(names)] / both[len(names) :]).float()
        return dict(zip(names, means, strict=True))

    def reset(self) -> None:
        """Forget the epoch."""
        self.totals.clear()
        self.images.clear()
