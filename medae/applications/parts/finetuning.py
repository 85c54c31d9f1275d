"""Supervised training on top of a pretrained encoder: label fractions, a small trainer, test metrics."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MetricCollection

from medae.config.trainer_options import step_bounded_cpu_trainer
from medae.errors import ConfigError

if TYPE_CHECKING:
    from medae.applications.parts.context import ApplicationContext

MODES = ("linear_probe", "finetune", "scratch")
DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)


def label_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded subset with ``fraction`` of each class (at least one sample per class).

    Example:
        >>> labels = np.array([0] * 90 + [1] * 10)
        >>> subset = label_subset(labels, 0.1, seed=0)
        >>> len(subset), int((labels[subset] == 1).sum())
        (10, 1)
    """
    if not 0 < fraction <= 1:
        raise ConfigError("application.label_fractions", f"each must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    chosen = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        chosen.append(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    return np.sort(np.concatenate(chosen))


class SupervisedModule(L.LightningModule):
    """Cross-entropy training of ``network`` (logits out); ``frozen`` parameters stay fixed and in eval mode.

    Args:
        network: maps images to class logits ``(N, K)`` or per-pixel logits ``(N, K, *spatial)``.
        metrics: test metrics, updated with (``predict(logits)``, targets).
        lr: Adam learning rate.
        frozen: a sub-module whose weights are not trained (the encoder of a linear probe).
        predict: what the metrics take from the logits (e.g. the argmax for Dice); default the logits.
    """

    def __init__(
        self,
        network: nn.Module,
        metrics: MetricCollection,
        lr: float,
        frozen: nn.Module | None,
        predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.test_metrics = metrics
        self.predict = predict or (lambda logits: logits)
        self.lr = lr
        self.frozen = frozen
        if frozen is not None:
            frozen.requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        """Keep the frozen part's normalisation statistics fixed."""
        if self.frozen is not None:
            self.frozen.eval()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Cross-entropy on a labelled batch."""
        images, targets = batch
        return nn.functional.cross_entropy(self.network(images), targets)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Update the test metrics."""
        images, targets = batch
        self.test_metrics.update(self.predict(self.network(images)), targets)

    def on_test_epoch_end(self) -> None:
        """Log the test metrics."""
        self.log_dict(self.test_metrics.compute())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam over the trainable parameters."""
        return torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.lr)


def fit_and_test(
    network: nn.Module,
    frozen: nn.Module | None,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    metrics: MetricCollection,
    predict: Callable[[torch.Tensor], torch.Tensor] | None,
    steps: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
) -> dict[str, float]:
    """Train for ``steps`` optimiser steps on ``train`` (the same for every label fraction); test."""
    L.seed_everything(seed, workers=True, verbose=False)
    module = SupervisedModule(network, metrics, lr, frozen, predict)
    trainer = step_bounded_cpu_trainer(steps, deterministic=True)
    trainer.fit(module, DataLoader(TensorDataset(*train), batch_size=batch_size, shuffle=True))
    (results,) = trainer.test(module, DataLoader(TensorDataset(*test), batch_size=256), verbose=False)
    return {key: float(value) for key, value in results.items()}


def reset_parameters(module: nn.Module) -> nn.Module:
    """Re-initialise every layer that can (a network trained from scratch starts like this)."""
    for layer in module.modules():
        reset = getattr(layer, "reset_parameters", None)
        if layer is not module and callable(reset):
            reset()
    return module


@dataclass
class SupervisedTask:
    """A supervised task on the autoencoder's data, trained per (mode, label fraction).

    Attributes:
        application: the metric prefix and MLflow tag, e.g. ``classification``.
        build: ``build(mode)`` gives the network and its frozen part (``None`` unless a linear probe).
        train: training images and targets.
        strata: a class per training image for stratified label fractions.
        test: test images and targets.
        metrics: a fresh test metric collection.
        predict: what the metrics take from the logits; ``None`` for the logits themselves.
    """

    application: str
    build: Callable[[str], tuple[nn.Module, nn.Module | None]]
    train: tuple[torch.Tensor, torch.Tensor]
    strata: np.ndarray
    test: tuple[torch.Tensor, torch.Tensor]
    metrics: Callable[[], MetricCollection]
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None


def run_modes(
    context: "ApplicationContext",
    task: SupervisedTask,
    modes: Sequence[str] | None,
    label_fractions: Sequence[float] | None,
    steps: int,
    lr: float,
) -> dict[str, float]:
    """Train and test every (mode, label fraction), each logged as an MLflow run; flat metrics back.

    Args:
        context: the trained autoencoder run.
        task: what to train and how to score it.
        modes: of ``MODES`` (default all): ``linear_probe``, ``finetune``, ``scratch`` (the baseline).
        label_fractions: fractions of the training labels (default 1%, 10%, 100%).
        steps: optimiser steps for every run, whatever its label fraction.
        lr: Adam learning rate.
    """
    modes = list(modes or MODES)
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise ConfigError("application.modes", f"unknown '{unknown[0]}'; allowed: {', '.join(MODES)}")
    results = {}
    for fraction in label_fractions or DEFAULT_FRACTIONS:
        subset = torch.from_numpy(label_subset(task.strata, fraction, context.seed))
        labelled = (task.train[0][subset], task.train[1][subset])
        for mode in modes:
            network, frozen = task.build(mode)
            results[mode, fraction] = fit_and_test(
                network, frozen, labelled, task.test, task.metrics(), task.predict, steps, lr, context.seed
            )
    return log_mode_runs(context, task.application, results)


def log_mode_runs(
    context: "ApplicationContext", application: str, results: dict[tuple[str, float], dict[str, float]]
) -> dict[str, float]:
    """One MLflow run per (mode, label fraction), scratch being the baseline; flat metrics for the caller."""
    flat: dict[str, float] = {}
    for (mode, fraction), metrics in results.items():
        percent = f"{100 * fraction:g}%"
        tags = context.method_tags(application, mode) | {"medae.label_fraction": str(fraction)}
        named = {f"{application}/{key.split('/')[-1]}": value for key, value in metrics.items()}
        with context.run.compared_run(f"{mode}:{percent}", tags) as run:
            run.params(context.baseline_params | {"mode": mode, "label_fraction": fraction})
            run.metrics(named)
        flat |= {
            f"{application}/{mode}/{percent}/{key.split('/')[-1]}": value for key, value in named.items()
        }
    return flat
