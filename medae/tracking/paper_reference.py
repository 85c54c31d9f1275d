"""A paper preset's reference: the publication, its setup, the figures it reports, set beside a run's own.

A preset under ``conf/experiment/paper/`` carries a ``paper`` block: the citation, the dataset and split the
paper used, its setup as the paper states it, what medae does where the paper is silent or where medae
departs from it, and the figures the paper reports, each with the table it comes from and the medae
metrics measured the same way. A run of the preset logs, beside its own metrics,
``paper/<figure>/reported`` and, for every medae metric that measures the figure,
``paper/<figure>/<label>`` and ``paper/<figure>/<label>_gap`` (measured − reported), and the whole
block as ``paper.json``. A figure the developers could not check against the paper has ``value: null``:
its source is kept and no number is logged.
"""

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from medae.errors import ConfigError
from medae.tracking.tracked_run import TrackedRun

TEXT_FIELDS = ("citation", "doi", "dataset", "split")
ARTIFACT = "paper.json"
PREFIX = "paper"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportedFigure:
    """One figure a paper reports.

    Attributes:
        value: the number as printed in the paper; ``None`` when it could not be checked.
        source: where it is printed (table, row, column).
        measured_by: label -> the medae metric measured the same way (e.g. ``scratch`` ->
            ``classification/scratch/100%/auroc``).
    """

    value: float | None
    source: str
    measured_by: dict[str, str]


@dataclass(frozen=True)
class PaperReference:
    """The ``paper`` block of a preset.

    Attributes:
        citation: authors, title, venue, year.
        doi: the paper's DOI (or its address).
        dataset: the dataset the paper used, with its release.
        split: the paper's split of it.
        setup: the setup as the paper states it (architecture, image or patch size, loss, optimiser,
            epochs), key -> text.
        medae: what medae does where the paper is silent or where the preset departs from it.
        reported: figure name -> :class:`ReportedFigure`.

    Example:
        >>> paper = PaperReference.from_config({
        ...     "citation": "A. Author, Some benchmark, 2023", "doi": "10.0/x", "dataset": "D",
        ...     "split": "official", "setup": {"epochs": "100"}, "medae": {},
        ...     "reported": {"auroc": {"value": 0.944, "source": "Table 3",
        ...                            "measured_by": {"scratch": "classification/scratch/100%/auroc"}}}})
        >>> paper.comparison({"classification/scratch/100%/auroc": 0.925})
        {'paper/auroc/reported': 0.944, 'paper/auroc/scratch': 0.925, 'paper/auroc/scratch_gap': -0.019}
    """

    citation: str
    doi: str
    dataset: str
    split: str
    setup: dict[str, str]
    medae: dict[str, str]
    reported: dict[str, ReportedFigure]

    @classmethod
    def from_config(cls, block: DictConfig | Mapping[str, Any]) -> "PaperReference":
        """Read and check a ``paper`` block; a missing or mistyped field is a one-line ConfigError."""
        plain: dict[str, Any] = (
            cast(dict[str, Any], OmegaConf.to_container(block, resolve=True))
            if isinstance(block, DictConfig)
            else dict(block)
        )
        expected = {*TEXT_FIELDS, "setup", "medae", "reported"}
        unknown = sorted(set(plain) - expected)
        if unknown:
            raise ConfigError(f"paper.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(expected))}")
        for name in TEXT_FIELDS:
            if not isinstance(plain.get(name), str) or not plain[name].strip():
                raise ConfigError(f"paper.{name}", "is missing; a paper preset names it (text)")
        for name in ("setup", "medae"):
            if not isinstance(plain.get(name), dict):
                raise ConfigError(f"paper.{name}", "is missing; give a mapping of setting -> text")
        reported = plain.get("reported")
        if not isinstance(reported, dict) or not reported:
            raise ConfigError("paper.reported", "is missing; give figure -> {value, source, measured_by}")
        figures = {name: reported_figure(name, entry) for name, entry in reported.items()}
        return cls(
            **{name: plain[name] for name in TEXT_FIELDS},
            setup={key: str(text) for key, text in plain["setup"].items()},
            medae={key: str(text) for key, text in plain["medae"].items()},
            reported=figures,
        )

    def comparison(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """The reported figures, the run's measurements of them and each gap (measured − reported).

        Figures without a checked value and metrics the run did not measure are left out.
        """
        found: dict[str, float] = {}
        for name, figure in self.reported.items():
            if figure.value is None:
                continue
            found[f"{PREFIX}/{name}/reported"] = figure.value
            for label, key in figure.measured_by.items():
                measured = metrics.get(key)
                if measured is None or not math.isfinite(measured):
                    continue
                found[f"{PREFIX}/{name}/{label}"] = float(measured)
                found[f"{PREFIX}/{name}/{label}_gap"] = round(float(measured) - figure.value, 10)
        return found

    def log(self, run: TrackedRun, metrics: Mapping[str, float]) -> dict[str, float]:
        """Log :meth:`comparison`, the citation as a tag and the whole block with the comparison."""
        compared = self.comparison(metrics)
        for name, figure in self.reported.items():
            for label, key in figure.measured_by.items():
                if key not in metrics:
                    log.warning(
                        "paper.reported.%s.measured_by.%s: the run has no metric %s", name, label, key
                    )
        run.metrics(compared)
        run.tags({"medae.paper": self.citation})
        run.text(json.dumps({**asdict(self), "comparison": compared}, indent=2), ARTIFACT)
        return compared


def reported_figure(name: str, entry: Any) -> ReportedFigure:
    """One ``paper.reported.<name>`` entry, checked."""
    key = f"paper.reported.{name}"
    if not isinstance(entry, dict):
        raise ConfigError(key, "must be a mapping {value, source, measured_by}")
    unknown = sorted(set(entry) - {"value", "source", "measured_by"})
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key; allowed: measured_by, source, value")
    value = entry.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{key}.value", f"is {value!r}; give the number the paper prints, or null")
    if not isinstance(entry.get("source"), str) or not entry["source"].strip():
        raise ConfigError(f"{key}.source", "is missing; name the table (and row, column) it comes from")
    measured_by = entry.get("measured_by")
    if not isinstance(measured_by, dict) or not measured_by:
        raise ConfigError(
            f"{key}.measured_by", "is missing; give label -> the medae metric measured the same way"
        )
    return ReportedFigure(
        None if value is None else float(value),
        entry["source"],
        {str(label): str(metric) for label, metric in measured_by.items()},
    )
