"""The typed batch that flows from every data module through the model, metrics, callbacks and applications.

Samples stay MONAI dictionaries (its transforms, caches and readers work on them); the loader's collate
turns a list of them into one :class:`ReconstructionBatch`, as :class:`medae.models.output.AutoencoderOutput`
types what a network returns.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from monai.data import list_data_collate

# the sample keys a batch keeps; anything else a sample carries (file references, cache stamps) stays behind
SAMPLE_KEYS = ("image", "input", "mask", "label", "segmentation", "position", "subject")


@dataclasses.dataclass
class ReconstructionBatch:
    """Images to reconstruct, what the network sees, and what scores them.

    Attributes:
        image: the clean target, ``(N, C, *spatial)``.
        input: the network's input: ``image`` itself, or a noisy or low-dose version of it.
        mask: the foreground that ``*_fg`` metrics score, ``(N, 1, *spatial)``; ``None`` scores every pixel.
        label: a class label per image (``(N,)``), where the source has one.
        segmentation: a label map per image (tissue or tumour classes, ``(N, 1, *spatial)``), where the
            source has one.
        position: where each image comes from (``"<file>:<axis>:<slice>"``), where the source says.
        subject: the subject each image belongs to, where the source says.

    Example:
        >>> batch = ReconstructionBatch.collate([{"image": torch.zeros(1, 4, 4), "label": 1}] * 2)
        >>> batch.image.shape, batch.input is batch.image, batch.mask, batch.label.tolist()
        (torch.Size([2, 1, 4, 4]), True, None, [1, 1])
    """

    image: torch.Tensor
    input: torch.Tensor
    mask: torch.Tensor | None = None
    label: torch.Tensor | None = None
    segmentation: torch.Tensor | None = None
    position: list[str] | None = None
    subject: list[str] | None = None

    @classmethod
    def collate(cls, samples: Sequence[Mapping[str, Any]]) -> "ReconstructionBatch":
        """One batch from a list of sample dictionaries (MONAI's collate for each key); the loaders' collate.

        A sample without ``input``, or whose ``input`` is its ``image`` (no noise), is its own input: the
        batch then holds one stacked tensor for both.
        """
        own_input = all(sample.get("input", sample["image"]) is sample["image"] for sample in samples)
        keys = [key for key in SAMPLE_KEYS if key in samples[0] and not (own_input and key == "input")]
        return cls.from_mapping(list_data_collate([{key: sample[key] for key in keys} for sample in samples]))

    @classmethod
    def from_mapping(cls, batch: Mapping[str, Any]) -> "ReconstructionBatch":
        """A batch from a mapping with the same keys; every key but ``image`` may be missing or ``None``."""

        def tensor(key: str) -> torch.Tensor | None:
            return None if batch.get(key) is None else torch.as_tensor(batch[key])

        image, given, label = torch.as_tensor(batch["image"]), tensor("input"), tensor("label")
        return cls(
            image=image,
            input=image if given is None else given,
            mask=tensor("mask"),
            label=None if label is None else label.reshape(-1),
            segmentation=tensor("segmentation"),
            position=None if batch.get("position") is None else list(batch["position"]),
            subject=None if batch.get("subject") is None else list(batch["subject"]),
        )

    def __len__(self) -> int:
        """The number of images."""
        return self.image.shape[0]

    def map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> "ReconstructionBatch":
        """The batch with ``function`` applied to every tensor it holds (``input`` stays ``image`` if it was).

        Example:
            >>> batch = ReconstructionBatch.collate([{"image": torch.ones(1, 2, 2)}])
            >>> batch.map(lambda t: t * 2).input.sum().item()
            8.0
        """
        image = function(self.image)
        return dataclasses.replace(
            self,
            image=image,
            input=image if self.input is self.image else function(self.input),
            mask=None if self.mask is None else function(self.mask),
            label=None if self.label is None else function(self.label),
            segmentation=None if self.segmentation is None else function(self.segmentation),
        )

    def __getitem__(self, index: slice) -> "ReconstructionBatch":
        """The images ``index`` selects, e.g. ``batch[:4]``."""
        return ReconstructionBatch(
            image=self.image[index],
            input=self.image[index] if self.input is self.image else self.input[index],
            mask=None if self.mask is None else self.mask[index],
            label=None if self.label is None else self.label[index],
            segmentation=None if self.segmentation is None else self.segmentation[index],
            position=None if self.position is None else self.position[index],
            subject=None if self.subject is None else self.subject[index],
        )
