"""A logged model's card: what it was trained on and how, what it is for, its limits, what it reached.

The card is Markdown built from plain values the training run knows. It is logged as the run's
``model_card.md``, shown as the logged model's description in the MLflow UI (and as the registered
version's, when the run registers one), and printed by ``medae models show``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CARD_ARTIFACT = "model_card.md"
NOTE_TAG = "mlflow.note.content"  # what the MLflow UI shows as a description
# what each application's model is for; a run without an application reconstructs its input
INTENDED_USE = {
    None: "reconstructing images like its training data: a learned representation, compression or "
    "pre-training for other tasks",
    "denoising": "denoising images like its training data, at the noise it was trained on",
    "anomaly": "marking what is unlike its training data (anomaly maps and image scores), as a research "
    "signal to review",
    "compression": "compressing images like its training data into latent codes",
    "classification": "pre-training a classifier on images like its training data",
    "segmentation": "pre-training a segmenter on images like its training data",
    "generation": "generating images like its training data",
}
LIMITS = (
    "Research use only; not a medical device, and not for clinical decisions.",
    "Scans unlike the training data (another modality, contrast, field of view, skull on where training "
    "was skull-stripped) are reconstructed worse; `medae predict` warns about some of them.",
)


@dataclass(frozen=True)
class CardFacts:
    """What a card says, as plain values.

    Attributes:
        name: the logged model's name (``conv-reconstruction``).
        application: the run's application, or ``None``.
        run_id: the training run.
        medae_version: the medae that trained it.
        data: the data source's name, root, fingerprint and split sizes.
        preprocessing: the scan preprocessing the model applies (``ScanPreprocessing.to_dict()``).
        scored: what each evaluation set's figures rest on (``ScoredSet`` strings).
        metrics: the test and held-out metrics.
        training_profile: the training volumes' profile (``DomainProfile.to_dict()``), if any.
    """

    name: str
    application: str | None
    run_id: str
    medae_version: str
    data: Mapping[str, Any]
    preprocessing: Mapping[str, Any]
    scored: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    training_profile: Mapping[str, Any] | None = None


def model_card(facts: CardFacts) -> str:
    """The card of a logged model, in Markdown.

    Example:
        >>> facts = CardFacts("conv-reconstruction", None, "abc", "0.1", {"source": "mni152"},
        ...                   {"image_size": 64}, {"test": "1 subject(s), 21 images"}, {"test/psnr_fg": 22.1})
        >>> card = model_card(facts)
        >>> card.splitlines()[0], "| test/psnr_fg | 22.1 |" in card
        ('# conv-reconstruction', True)
    """
    lines = [
        f"# {facts.name}",
        "",
        f"Trained by medae {facts.medae_version} in MLflow run `{facts.run_id}`.",
        "",
        "## Intended use",
        "",
        f"{INTENDED_USE.get(facts.application, INTENDED_USE[None]).capitalize()}.",
        "",
        "## Training data",
        "",
        *[f"- {key}: {value}" for key, value in facts.data.items()],
        "",
        "## Preprocessing",
        "",
        *[f"- {key}: {value}" for key, value in facts.preprocessing.items()],
    ]
    if facts.training_profile:
        lines += ["", "Training volumes' profile (predict compares scans with it):", ""]
        lines += [f"- {key}: {value}" for key, value in facts.training_profile.items()]
    lines += ["", "## Limits", "", *[f"- {limit}" for limit in LIMITS]]
    lines += [f"- The {name} figures rest on: {scored}." for name, scored in facts.scored.items()]
    lines += ["", "## Metrics", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {key} | {value:.4g} |" for key, value in sorted(facts.metrics.items())]
    return "\n".join(lines) + "\n"
