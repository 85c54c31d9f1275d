"""The bare PyTorch loop the pipeline-overhead benchmark compares ``medae train`` with.

Same network, optimiser, images and batch size as the composed config, but a plain loop over an
in-memory tensor: no Lightning, no logging, no metrics.
``python -m medae.benchmarks.bare_loop --steps 200 --times times.json [overrides]``
"""

import argparse
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from medae.benchmarks.step_timer import StepTimes
from medae.benchmarks.subprocess_run import peak_rss_mb
from medae.compose import compose_train
from medae.data.registry import build_datamodule
from medae.models.registry import build_module
from medae.run_helpers import to_plain


def run(steps: int, times_path: str, overrides: list[str]) -> None:
    """Train for ``steps`` steps and save the step times."""
    cfg = compose_train(overrides)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(cfg.trainer.deterministic)  # as the Lightning trainer sets it
    data = build_datamodule(cfg.data)
    data.setup()
    images = torch.stack([torch.as_tensor(item["image"]) for item in data.datasets["train"]])
    network = build_module(
        to_plain(cfg.model), to_plain(cfg.loss), to_plain(cfg.optim), None, data.value_range
    ).network
    optimizer = instantiate(cfg.optim)(params=network.parameters())
    loader = DataLoader(images, batch_size=cfg.data.batch_size, shuffle=True)
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


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--times", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    run(args.steps, args.times, args.overrides)


if __name__ == "__main__":
    main()
