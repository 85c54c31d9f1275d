"""What a command prints when it ends: its run, where its files are, its headline figures, how to look.

One block instead of a log line per metric (every metric is in the MLflow run): the run's id and name,
the store, the output folder and best checkpoint, up to six metrics with the foreground ones first, what
each evaluation set's figures rest on (subjects, images, mask), and the command that opens the MLflow UI.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf

from medae.compat import process_rank
from medae.security.redaction import without_user_info

HEADLINE = ("test/psnr_fg", "test/ssim_fg", "test/psnr", "test/ssim")
MOST = 6


def headline(metrics: Mapping[str, float]) -> list[tuple[str, float]]:
    """The figures a run ends with: up to six quality metrics, then a paper preset's reported figures.

    The quality metrics are the test set's foreground and whole PSNR/SSIM, then other sets' foreground
    PSNR; a paper preset adds each reported figure, the run's measurements of it and the gaps.

    Example:
        >>> headline({"test/psnr": 25.0, "test/psnr_fg": 27.0, "val/psnr": 24.0, "colin27/psnr_fg": 22.0})
        [('test/psnr_fg', 27.0), ('test/psnr', 25.0), ('colin27/psnr_fg', 22.0)]
    """
    first = [key for key in HEADLINE if key in metrics]
    others = sorted(
        key
        for key in metrics
        if key.endswith("psnr_fg") and key not in first and not key.startswith(("train/", "val/"))
    )
    paper = sorted(key for key in metrics if key.startswith("paper/"))  # a paper preset's, all of them
    return [(key, metrics[key]) for key in [*first, *others][:MOST] + paper]


def ui_command(store: str) -> str:
    """How to open the MLflow UI on ``store``.

    Example:
        >>> ui_command("sqlite:////work/mlflow.db")
        'mlflow ui --backend-store-uri sqlite:////work/mlflow.db (or make ui in the project folder)'
        >>> ui_command("http://alice:pw@10.0.0.5:5000")
        'open http://10.0.0.5:5000'
    """
    if store.startswith(("http://", "https://")):
        return f"open {without_user_info(store)}"
    return f"mlflow ui --backend-store-uri {store} (or make ui in the project folder)"


def summary(
    run_id: str | None,
    run_name: str | None,
    store: str | None,
    output_dir: str,
    best_checkpoint: str | None,
    metrics: Mapping[str, float],
    scored: Mapping[str, str] | None = None,
) -> str:
    """The block a command prints at its end.

    Example:
        >>> scored = {"test": "1 subject(s), 21 images; mask: brain"}
        >>> metrics = {"test/psnr_fg": 27.123}
        >>> print(summary("ab12", "conv", "sqlite:///m.db", "outputs/x", None, metrics, scored))
        medae: run ab12 (conv) in sqlite:///m.db
          output folder   outputs/x
          test/psnr_fg    27.1230
          scored test     1 subject(s), 21 images; mask: brain
          look at it      mlflow ui --backend-store-uri sqlite:///m.db (or make ui in the project folder)
    """
    lines = [
        f"medae: run {run_id} ({run_name}) in {without_user_info(store or '')}"
        if run_id
        else "medae: finished (no MLflow run)"
    ]
    figures = headline(metrics)
    sets = [(f"scored {name}", text) for name, text in (scored or {}).items()]
    width = max([15, *(len(key) for key, _ in [*figures, *sets])])
    lines.append(f"  {'output folder':<{width}} {output_dir}")
    if best_checkpoint:
        lines.append(f"  {'best checkpoint':<{width}} {best_checkpoint}")
    lines += [f"  {key:<{width}} {value:.4f}" for key, value in figures]
    lines += [f"  {key:<{width}} {text}" for key, text in sets]
    if run_id and store:
        lines.append(f"  {'look at it':<{width}} {ui_command(store)}")
    return "\n".join(lines)


@dataclass
class RunResult:
    """What a command's run gave.

    Attributes:
        run_id: the MLflow run id, when MLflow logging is on.
        metrics: the run's metrics at its end.
        best_checkpoint: the best checkpoint a training run saved.
        run_name: the run's name where the config does not give it.
        scored: what each evaluation set's figures rest on, by set (subjects, images, mask).
    """

    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: str | None = None
    run_name: str | None = None
    scored: dict[str, str] = field(default_factory=dict)


def print_summary(cfg: DictConfig, result: RunResult) -> None:
    """Print :func:`summary` of ``result`` once: on rank 0 (other DDP ranks have no run)."""
    if process_rank() != 0:
        return
    mlflow = OmegaConf.select(cfg, "logger.mlflow")
    store, name = (mlflow.tracking_uri, mlflow.run_name) if mlflow else (None, None)
    output_dir = OmegaConf.select(cfg, "paths.output_dir") or ""
    name = result.run_name or name
    print(
        summary(result.run_id, name, store, output_dir, result.best_checkpoint, result.metrics, result.scored)
    )
