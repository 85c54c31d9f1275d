"""Pre-training for classification: linear probe and fine-tuning of the encoder against scratch.

Each runs at several label fractions and reports accuracy and AUROC.
"""

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.finetuning import (
    DEFAULT_FRACTIONS,
    MODES,
    SupervisedTask,
    reset_parameters,
    run_modes,
)
from medae.applications.parts.network_calls import encode
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.requirements import requires
from medae.errors import ConfigError
from medae.models.capabilities import Encodes, HasDiscreteCode, capable, has

APPLICATION = "classification"


class EncoderClassifier(nn.Module):
    """A linear layer on the flattened code of an autoencoder network's ``encode``."""

    autoencoder: Encodes

    def __init__(self, autoencoder: nn.Module, code_numbers: int, num_classes: int) -> None:
        super().__init__()
        self.autoencoder = capable(autoencoder, Encodes)
        self.head = nn.Linear(code_numbers, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.autoencoder.encode(images).flatten(1))


@APPLICATIONS.register("classification")
@requires(Encodes)
def evaluate(
    context: ApplicationContext,
    label_fractions: Sequence[float] = DEFAULT_FRACTIONS,
    modes: Sequence[str] = MODES,
    steps: int = 300,
    lr: float = 1e-3,
) -> dict[str, float]:
    """Train and test a classifier per (mode, label fraction); each is an MLflow run beside the autoencoder's.

    Args:
        context: a run trained on labelled data (e.g. ``data=medmnist``; labels are used only here).
        label_fractions: fractions of the training labels, e.g. ``[0.01, 0.1, 1.0]``.
        modes: ``linear_probe`` (encoder frozen), ``finetune`` (all trained), ``scratch`` (same network,
            fresh weights: the baseline).
        steps: optimiser steps for every run, whatever its label fraction.
        lr: Adam learning rate.

    Returns:
        ``classification/<mode>/<percent>/{accuracy,auroc}``.
    """
    train, test = context.split("train"), context.split("test")
    if train.label is None or test.label is None:
        raise ConfigError(
            "data", "has no labels; classification pre-training needs labelled data, e.g. data=medmnist"
        )
    if has(context.network, HasDiscreteCode):
        raise ConfigError("model", "its codes are codebook indices; classification needs a float code")
    train_labels, test_labels = train.label, test.label
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    code_numbers = encode(context.network, train.image[:1])[0].numel()

    def build(mode: str) -> tuple[nn.Module, nn.Module | None]:
        autoencoder = copy.deepcopy(context.network)
        if mode == "scratch":
            reset_parameters(autoencoder)
        return EncoderClassifier(
            autoencoder, code_numbers, num_classes
        ), autoencoder if mode == "linear_probe" else None

    def metrics() -> MetricCollection:
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(num_classes, average="micro"),
                "auroc": MulticlassAUROC(num_classes),
            },
            prefix=f"{APPLICATION}/",
        )

    task = SupervisedTask(
        APPLICATION,
        build,
        (train.image, train_labels.long()),
        np.asarray(train_labels),
        (test.image, test_labels.long()),
        metrics,
    )
    return run_modes(context, task, modes, label_fractions, steps, lr)
