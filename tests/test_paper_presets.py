"""Paper presets: each names its paper, setup and reported figures, and a run logs its own beside them."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from medae.commands.summary import headline
from medae.commands.train import train
from medae.config.checks import CONFIG_DIR
from medae.errors import ConfigError
from medae.tracking.paper_reference import PaperReference
from tests.conftest import compose_config, tracking_uri
from tests.data_files import write_brats, write_ldct

PAPER_PRESETS = sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment" / "paper").glob("*.yaml"))


def block(**changes: object) -> dict:
    """A complete ``paper`` block with ``changes`` applied."""
    figure = {"value": 0.9, "source": "Table 2, row A", "measured_by": {"ours": "test/auroc"}}
    return {
        "citation": "A. Author. A benchmark. Journal 1 (2020)",
        "doi": "10.0/x",
        "dataset": "D",
        "split": "official",
        "setup": {"epochs": 100},
        "medae": {},
        "reported": {"auroc": figure},
    } | changes


def test_a_paper_block_missing_or_mistyping_a_field_says_which_in_one_line():
    assert PaperReference.from_config(block()).setup == {"epochs": "100"}
    cases = {
        r"^paper.citation: is missing": block(citation=""),
        r"^paper.year: unknown key; allowed: citation, dataset, doi": block(year=2020),
        r"^paper.reported: is missing": block(reported={}),
        r"^paper.reported.auroc.value: is 'high'; give the number": block(
            reported={"auroc": {"value": "high", "source": "T", "measured_by": {"a": "b"}}}
        ),
        r"^paper.reported.auroc.source: is missing; name the table": block(
            reported={"auroc": {"value": 0.9, "measured_by": {"a": "b"}}}
        ),
        r"^paper.reported.auroc.measured_by: is missing": block(
            reported={"auroc": {"value": 0.9, "source": "T"}}
        ),
        r"^paper.reported.auroc.table: unknown key": block(
            reported={"auroc": {"value": 0.9, "source": "T", "measured_by": {"a": "b"}, "table": 3}}
        ),
    }
    for message, wrong in cases.items():
        with pytest.raises(ConfigError, match=message):
            PaperReference.from_config(wrong)


def test_the_comparison_gives_each_measurement_and_its_gap_and_leaves_out_what_is_not_there():
    reported = {
        "auroc": {"value": 0.944, "source": "T", "measured_by": {"scratch": "a", "finetune": "b", "lp": "c"}},
        "dice": {"value": None, "source": "not checked", "measured_by": {"dae": "d"}},
    }
    paper = PaperReference.from_config(block(reported=reported))
    compared = paper.comparison({"a": 0.9, "b": 0.95, "c": float("nan"), "d": 0.5})
    assert compared == pytest.approx(
        {
            "paper/auroc/reported": 0.944,
            "paper/auroc/scratch": 0.9,
            "paper/auroc/scratch_gap": -0.044,
            "paper/auroc/finetune": 0.95,
            "paper/auroc/finetune_gap": 0.006,
        }
    )
    # the end-of-run summary shows every paper figure after the quality metrics
    shown = [key for key, _ in headline({"test/psnr_fg": 30.0, **compared})]
    assert shown[0] == "test/psnr_fg" and set(shown[1:]) == set(compared)


@pytest.mark.parametrize("preset", PAPER_PRESETS)
def test_every_paper_preset_names_its_paper_setup_and_figures_with_their_sources(preset, tmp_path):
    cfg = compose_config("train", [f"experiment=paper/{preset}", "data.root=/data"], tmp_path)
    paper = PaperReference.from_config(cfg.paper)
    assert paper.citation and paper.doi and paper.setup and paper.medae
    for figure in paper.reported.values():
        assert figure.source
        # a figure nobody checked says so and tells the user which key takes it
        assert figure.value is not None or "not checked" in figure.source


def pneumonia_replica(folder: Path, seed: int = 0) -> Path:
    """PneumoniaMNIST's npz layout (uint8 28 x 28, labels (n, 1)); pneumonia images carry a bright patch."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", 96), ("val", 32), ("test", 48)):
        labels = (np.arange(count) % 2).astype(np.uint8)[:, None]
        images = rng.integers(40, 120, size=(count, 28, 28)).astype(np.uint8)
        images[labels[:, 0] == 1, 8:20, 8:20] += 100
        arrays |= {f"{split}_images": images, f"{split}_labels": labels}
    np.savez(folder / "pneumoniamnist.npz", **arrays)
    return folder


def logged(root: Path, run_id: str) -> tuple[dict[str, float], dict[str, str], dict]:
    """A run's metrics, tags and paper.json."""
    client = mlflow.MlflowClient(tracking_uri(root))
    run = client.get_run(run_id)
    path = client.download_artifacts(run_id, "paper.json", str(root / "artifacts"))
    return run.data.metrics, run.data.tags, json.loads(Path(path).read_text())


@pytest.mark.slow
def test_the_medmnist_v2_preset_logs_the_papers_figures_beside_its_own_and_the_gap(tmp_path):
    data = pneumonia_replica(tmp_path)
    cfg = compose_config(
        "train",
        ["experiment=paper/medmnist_v2_pneumonia", f"data.root={data}", "debug=limit", "trainer=cpu",
         "application.steps=20", "data.batch_size=16"],
        tmp_path,
    )  # fmt: skip
    result = train(cfg)
    metrics, tags, artifact = logged(tmp_path, result.run_id)
    for figure, printed in (("auroc", 0.944), ("accuracy", 0.854)):
        assert metrics[f"paper/{figure}/reported"] == printed
        for mode in ("scratch", "finetune"):
            measured = result.metrics[f"classification/{mode}/100%/{figure}"]
            assert metrics[f"paper/{figure}/{mode}"] == pytest.approx(measured)
            assert metrics[f"paper/{figure}/{mode}_gap"] == pytest.approx(measured - printed)
    # the bright patch makes the replica's classes separable: the classifiers learned something
    assert result.metrics["classification/scratch/100%/auroc"] > 0.7
    assert tags["medae.paper"].startswith("Yang J, Shi R")
    assert artifact["doi"] == "10.1038/s41597-022-01721-8"
    assert artifact["comparison"]["paper/auroc/reported"] == 0.944


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "writer", "small", "figure"),
    [
        ("kascenas_dae_brats", write_brats, ["model.channels=[8,16,16]", "model.bottom_channels=16",
                                             "application.pca_components=4"], "pixel_ap"),
        ("red_cnn_ldct", write_ldct, ["model.channels=8", "application.tune_images=2",
                                      "application.baselines=[gaussian]"], "psnr"),
    ],
)  # fmt: skip
def test_the_public_dataset_paper_presets_run_on_their_replicas(preset, writer, small, figure, tmp_path):
    writer(tmp_path / "data")
    base = [f"experiment=paper/{preset}", f"data.root={tmp_path / 'data'}", "debug=limit", "trainer=cpu",
            "data.image_size=32", "data.batch_size=8", "data.val_fraction=0.34", "data.test_fraction=0.34",
            *small]  # fmt: skip
    for root in ("unchecked", "checked"):
        (tmp_path / root).mkdir()
    result = train(compose_config("train", base, tmp_path / "unchecked"))
    # the figures are not checked yet: the run keeps the paper's block and logs no number for them
    metrics, tags, artifact = logged(tmp_path / "unchecked", result.run_id)
    assert not any(key.startswith("paper/") for key in metrics)
    assert artifact["reported"][figure]["value"] is None and artifact["comparison"] == {}
    assert tags["medae.paper"] == artifact["citation"]
    # once a user sets the printed figure, the run logs it with its gap
    checked = compose_config("train", [*base, f"paper.reported.{figure}.value=0.5"], tmp_path / "checked")
    result = train(checked)
    paper = PaperReference.from_config(checked.paper)
    # every figure's medae metrics are ones the preset's run measures
    measured = [key for entry in paper.reported.values() for key in entry.measured_by.values()]
    assert all(key in result.metrics for key in measured)
    label, key = next(iter(paper.reported[figure].measured_by.items()))
    metrics, _, _ = logged(tmp_path / "checked", result.run_id)
    assert metrics[f"paper/{figure}/reported"] == 0.5
    assert metrics[f"paper/{figure}/{label}_gap"] == pytest.approx(result.metrics[key] - 0.5)
