"""A data split held in memory as tensors, as the applications and baselines use it."""

from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader


@dataclass
class SplitTensors:
    """One split held in memory: clean images, network inputs (noisy when noise is on), labels if any.

    ``mask`` is the foreground that foreground metrics score (every pixel when the data has none);
    ``ids`` are the images' positions and ``subjects`` their subjects (each image its own when unknown).
    """

    image: torch.Tensor
    input: torch.Tensor
    label: torch.Tensor | None
    ids: list[str] = field(default_factory=list)
    segmentation: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    subjects: list[str] = field(default_factory=list)

    def head(self, count: int) -> "SplitTensors":
        """The first ``count`` samples."""

        def first(values: torch.Tensor | None) -> torch.Tensor | None:
            return values[:count] if values is not None else None

        return SplitTensors(
            self.image[:count],
            self.input[:count],
            first(self.label),
            self.ids[:count],
            first(self.segmentation),
            first(self.mask),
            self.subjects[:count],
        )


def stack_batches(loader: DataLoader) -> SplitTensors:
    """Concatenate a loader's batches: images, inputs, and labels, positions, segmentations and masks."""
    images: list[torch.Tensor] = []
    inputs: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    segmentations: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    ids: list[str] = []
    subjects: list[str] = []
    for batch in loader:
        if batch.segmentation is not None:
            segmentations.append(batch.segmentation.long())
        if batch.mask is not None:
            masks.append(batch.mask.bool())
        ids.extend(str(position) for position in batch.position or [])
        subjects.extend(str(subject) for subject in batch.subject or [])
        images.append(batch.image.float())
        inputs.append(batch.input.float())
        if batch.label is not None:
            labels.append(batch.label)
    ids = ids or [str(index) for index in range(sum(len(image) for image in images))]
    return SplitTensors(
        image=torch.cat(images),
        input=torch.cat(inputs),
        label=torch.cat(labels) if labels else None,
        ids=ids,
        segmentation=torch.cat(segmentations) if segmentations else None,
        mask=torch.cat(masks) if masks else None,
        subjects=subjects or list(ids),
    )
