"""A data split held in memory as tensors, as the applications and baselines use it."""

from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader


@dataclass
class SplitTensors:
    """One split held in memory: clean images, network inputs (noisy when noise is on), labels if any."""

    image: torch.Tensor
    input: torch.Tensor
    label: torch.Tensor | None
    ids: list[str] = field(default_factory=list)
    segmentation: torch.Tensor | None = None

    def head(self, count: int) -> "SplitTensors":
        """The first ``count`` samples."""
        label = self.label[:count] if self.label is not None else None
        segmentation = self.segmentation[:count] if self.segmentation is not None else None
        return SplitTensors(self.image[:count], self.input[:count], label, self.ids[:count], segmentation)


def stack_batches(loader: DataLoader) -> SplitTensors:
    """Concatenate a loader's ``image``, ``input`` (``image`` when absent) and ``label`` entries."""
    images, inputs, labels, ids, segmentations = [], [], [], [], []
    for batch in loader:
        if "segmentation" in batch:
            segmentations.append(torch.as_tensor(batch["segmentation"]).long())
        ids.extend(str(position) for position in batch.get("position", []))
        images.append(torch.as_tensor(batch["image"]).float())
        inputs.append(torch.as_tensor(batch.get("input", batch["image"])).float())
        if "label" in batch:
            labels.append(torch.as_tensor(batch["label"]).reshape(-1))
    return SplitTensors(
        image=torch.cat(images),
        input=torch.cat(inputs),
        label=torch.cat(labels) if labels else None,
        ids=ids or [str(index) for index in range(sum(len(image) for image in images))],
        segmentation=torch.cat(segmentations) if segmentations else None,
    )
