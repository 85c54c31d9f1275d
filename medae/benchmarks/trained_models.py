"""Train a model with ``train()`` for a benchmark and give back its best weights and its data."""

import time
from dataclasses import dataclass
from pathlib import Path

from medae.commands.compose import compose_train
from medae.commands.train import train
from medae.data.reconstruction_datamodule import ReconstructionDataModule
from medae.data.registry import build_datamodule
from medae.evaluation.split_tensors import SplitTensors, stack_batches
from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import load_module


@dataclass
class TrainedModel:
    """A trained module (best checkpoint), its set-up data module, its val and test splits, training time."""

    module: AutoencoderModule
    datamodule: ReconstructionDataModule
    val: SplitTensors
    test: SplitTensors
    train_s: float


def train_for_benchmark(overrides: list[str], root: Path) -> TrainedModel:
    """Train without MLflow under ``root`` and reload the best checkpoint."""
    cfg = compose_train(
        [*overrides, "logger=none", "~callbacks.image_grid", "trainer.enable_progress_bar=false"], root
    )
    start = time.perf_counter()
    result = train(cfg)
    elapsed = time.perf_counter() - start
    if result.best_checkpoint is None:
        raise RuntimeError(f"the benchmark's training under {root} saved no checkpoint")
    module = load_module(result.best_checkpoint)
    datamodule = build_datamodule(cfg.data)
    datamodule.setup()
    return TrainedModel(
        module,
        datamodule,
        stack_batches(datamodule.val_dataloader()),
        stack_batches(datamodule.evaluation_dataloader("test")),
        elapsed,
    )
