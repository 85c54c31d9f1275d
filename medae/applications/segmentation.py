"""Pre-training for segmentation: the encoder with a fresh decoder head against the network from scratch.

The encoder is frozen (linear probe) or fine-tuned, at several label fractions; Dice is reported.
"""

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.segmentation import DiceScore

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.finetuning import (
    DEFAULT_FRACTIONS,
    MODES,
    SupervisedTask,
    reset_parameters,
    run_modes,
)
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.requirements import requires
from medae.errors import ConfigError
from medae.models.capabilities import HasBackbone, capable

APPLICATION = "segmentation"


def segmentation_network(
    autoencoder: nn.Module, num_classes: int, mode: str
) -> tuple[nn.Module, nn.Module | None]:
    """The autoencoder's MONAI ``AutoEncoder`` with a fresh decoder whose last layer outputs class logits.

    ``linear_probe`` and ``finetune`` keep the pretrained encoder (frozen for the probe); ``scratch``
    re-initialises it. Returns the network and its frozen part.
    """
    # MONAI's AutoEncoder: its encode, intermediate and decode parts are untyped attributes
    network: Any = copy.deepcopy(capable(autoencoder, HasBackbone).backbone)
    last = network.decode[-1].conv.conv
    network.decode[-1].conv.conv = type(last)(
        last.in_channels,
        num_classes,
        kernel_size=last.kernel_size,
        stride=last.stride,
        padding=last.padding,
        output_padding=last.output_padding,
    )
    reset_parameters(network.decode)
    encoder = nn.Sequential(network.encode, network.intermediate)
    if mode == "scratch":
        reset_parameters(encoder)
    return network, encoder if mode == "linear_probe" else None


@APPLICATIONS.register("segmentation")
@requires(HasBackbone)
def evaluate(
    context: ApplicationContext,
    label_fractions: Sequence[float] = DEFAULT_FRACTIONS,
    modes: Sequence[str] = MODES,
    steps: int = 300,
    lr: float = 1e-3,
) -> dict[str, float]:
    """Train and test a segmentation network per (mode, label fraction), each an MLflow run.

    The data must give ``segmentation`` maps, e.g. ``data=mni152 data.tissue_labels=true`` (grey and
    white matter from the MNI152 probability maps). Label fractions subset the training slices.

    Args:
        context: a run trained on the same images (reconstruction only).
        label_fractions: fractions of the labelled training images, e.g. ``[0.01, 0.1, 1.0]``.
        modes: ``linear_probe`` (encoder frozen, decoder trained), ``finetune`` and ``scratch``.
        steps: optimiser steps for every run, whatever its label fraction.
        lr: Adam learning rate.

    Returns:
        ``segmentation/<mode>/<percent>/dice`` (mean Dice over the non-background classes).
    """
    train, test = context.split("train"), context.split("test")
    train_labels, test_labels = train.segmentation, test.segmentation
    if train_labels is None or test_labels is None:
        raise ConfigError("data", "gives no segmentation maps; use data=mni152 data.tissue_labels=true")
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1

    def metrics() -> MetricCollection:
        dice = DiceScore(num_classes, include_background=False, average="macro", input_format="index")
        return MetricCollection({"dice": dice}, prefix=f"{APPLICATION}/")

    task = SupervisedTask(
        APPLICATION,
        lambda mode: segmentation_network(context.network, num_classes, mode),
        (train.image, train_labels[:, 0]),
        np.zeros(len(train.image), dtype=int),
        (test.image, test_labels[:, 0]),
        metrics,
        lambda logits: logits.argmax(dim=1),
    )
    return run_modes(context, task, modes, label_fractions, steps, lr)
