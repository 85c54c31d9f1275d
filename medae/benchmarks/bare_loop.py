"""The bare PyTorch loop the pipeline-overhead benchmark compares ``medae train`` with.

Same network, optimiser, images and batch size as the composed config, but a plain loop over an
in-memory tensor: no Lightning, no logging, no metrics.
``python -m medae.benchmarks.bare_loop --steps 200 --times times.json [overrides]``
"""

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset

from medae.benchmarks.step_timer import StepTimes
from medae.benchmarks.subprocess_run import peak_rss_mb
from medae.commands.compose import compose_train
from medae.config.run_parts import to_plain
from medae.data.registry import build_datamodule
from medae.models.registry import build_module


@dataclass
class BareSetup:
    """What ``medae train`` would train with: its network, optimiser, training images and batch size."""

    network: torch.nn.Module
    make_optimizer: Callable[..., torch.optim.Optimizer]  # the ``_partial_`` optimiser, called with params=
    images: torch.Tensor
    batch_size: int
    deterministic: bool

    @classmethod
    def compose(cls, overrides: list[str]) -> "BareSetup":
        """Compose the train config with ``overrides``, seed torch, and build its parts."""
        cfg = compose_train(overrides)
        torch.manual_seed(cfg.seed)
        data = build_datamodule(cfg.data)
        data.setup()
        images = data.clean_images("train")
        module = build_module(
            to_plain(cfg.model), to_plain(cfg.loss), to_plain(cfg.optim), None, data.value_range
        )
        return cls(
            module.network,
            instantiate(cfg.optim),
            images,
            cfg.data.batch_size,
            bool(cfg.trainer.deterministic),
        )


def run(steps: int, times_path: str, overrides: list[str]) -> None:
    """Train for ``steps`` steps and save the step times."""
    setup = BareSetup.compose(overrides)
    torch.use_deterministic_algorithms(setup.deterministic)  # as the Lightning trainer sets it
    network = setup.network
    optimizer = setup.make_optimizer(params=network.parameters())
    images = cast(Dataset[torch.Tensor], setup.images)  # a tensor indexes as a dataset of images
    loader = DataLoader(images, batch_size=setup.batch_size, shuffle=True)
    times = StepTimes()
    network.train()
    epoch = 0
    while len(times.starts) < steps:
        for batch in loader:
            if len(times.starts) == steps:
                break
            times.add_start(epoch, len(batch))
            loss = torch.nn.functional.mse_loss(network(batch).reconstruction, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.ends.append(time.time())
        epoch += 1
    times.peak_rss_mb = peak_rss_mb()
    times.save(Path(times_path))


def command_line(run_loop: Callable[[int, str, list[str]], None], doc: str | None) -> None:
    """Parse ``--steps N --times PATH [overrides]`` and call ``run_loop`` with them."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--times", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    run_loop(args.steps, args.times, args.overrides)


if __name__ == "__main__":
    command_line(run, __doc__)
