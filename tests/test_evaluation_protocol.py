"""The evaluation protocol of issue 14: foreground metrics, clamping, a leak-free split, the held-out
subject, coarse noise, validation-tuned anomaly methods and paired statistics over seeds."""

import importlib.util
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from omegaconf import open_dict
from skimage.data import shepp_logan_phantom
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import roc_auc_score

from medae import metrics
from medae.applications.anomaly import (
    AnomalySet,
    Scorer,
    choose,
    intensity_maps,
    lesion_set,
    validation_set,
)
from medae.commands.evaluate import evaluate
from medae.commands.train import train
from medae.config.checks import CONFIG_DIR
from medae.data.colin27 import colin27_on_template
from medae.data.medmnist import MedMNISTDataModule
from medae.data.mni152 import MNI152DataModule, mni152_image
from medae.data.noise import coarse, gaussian
from medae.errors import ConfigError, DataError
from medae.evaluation.anomaly_metrics import localization_metrics
from medae.evaluation.image_scores import auroc_difference
from medae.evaluation.pixel_counts import (
    binned_ap,
    counts_json,
    pixel_ap_difference,
    pixel_counts,
    read_counts,
)
from medae.evaluation.split_tensors import SplitTensors
from medae.metrics import ForegroundPSNR, image_quality_metrics, quality
from medae.models.conv.torch_model import ConvAutoencoder, ConvAutoencoderConfig
from medae.models.output_activation import output_activation
from tests.conftest import FAST_RUN, SHARED_DATA, compose_config, tracking_uri
from tests.data_files import PNEUMONIAMNIST, write_brats, write_ldct

COLIN27 = SHARED_DATA / "colin27"
SETS = ("test", "colin27_brain", "colin27_head")
needs_colin27 = pytest.mark.skipif(
    not (COLIN27 / "ch2bet.nii.gz").is_file(), reason=f"Colin27 held-out subject not found in {COLIN27}"
)


def test_foreground_psnr_ignores_background_error_and_whole_image_psnr_does_not():
    clean = torch.zeros(2, 1, 32, 32)
    clean[:, :, 8:24, 8:24] = 0.5
    mask = clean > 0
    output = clean.clone()
    output[~mask] = 0.1  # a constant error in the background only
    scores = quality(output, clean, (0.0, 1.0), mask)
    assert scores["test/psnr"] == pytest.approx(10 * np.log10(1 / (0.01 * 0.75)), abs=1e-3)
    assert scores["test/psnr_fg"] > 100  # no error on the foreground
    assert scores["test/ssim_fg"] > scores["test/ssim"]


def test_outputs_are_clamped_to_the_data_range_before_scoring():
    clean = torch.full((1, 1, 16, 16), 1.0)
    overshoot = quality(clean + 0.5, clean, (0.0, 1.0))
    assert overshoot["test/psnr"] > 100  # 1.5 clamps to 1.0: a perfect reconstruction


def test_foreground_psnr_skips_images_without_foreground():
    metric = ForegroundPSNR(data_range=1.0)
    clean = torch.zeros(2, 1, 4, 4)
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[0] = True
    metric.update(clean + 0.1, clean, mask)
    assert float(metric.compute()) == pytest.approx(20.0, abs=1e-4)


def test_default_mni152_split_is_leak_free_and_three_axes_leak():
    leak_free = MNI152DataModule()
    assert leak_free.axes == (2,)
    assert leak_free.voxel_overlap() == 0.0
    assert leak_free.voxel_overlap(mirror=True) == 0.0
    three_axes = MNI152DataModule(axes=(0, 1, 2), num_slabs=8, val_fraction=0.15, test_fraction=0.15)
    assert three_axes.voxel_overlap() > 0.8
    assert three_axes.voxel_overlap(mirror=True) > three_axes.voxel_overlap()


def test_mni152_masks_are_the_brain():
    data = MNI152DataModule(image_size=32)
    data.setup()
    item = data.datasets["test"][0]
    mask, image = np.asarray(item["mask"]), np.asarray(item["image"])
    assert mask.dtype == bool and 0.1 < mask.mean() < 0.9
    assert image[~mask].mean() < 0.05 < image[mask].mean()


@needs_colin27
def test_colin27_lands_on_the_template_grid_with_the_template_brain_median():
    template = mni152_image()
    volume = np.asarray(template.get_fdata(dtype=np.float32))
    median = float(np.median(volume[volume > 0]))
    brain = colin27_on_template(COLIN27, "brain", template, median)
    head = colin27_on_template(COLIN27, "head", template, median)
    assert brain.image.shape == volume.shape == head.image.shape
    assert np.median(brain.image[brain.brain]) == pytest.approx(median, abs=1e-3)
    assert np.median(head.image[head.brain]) == pytest.approx(median, abs=1e-3)
    assert brain.image[~brain.brain].max() == 0.0  # skull-stripped: background stays exactly zero
    assert (head.image[~head.brain] > 0.1).mean() > 0.1  # skull and scalp are there
    overlap = (brain.brain & (volume > 0)).sum() / brain.brain.sum()
    assert overlap > 0.85  # registered: Colin27's brain sits inside the template's


def test_a_missing_or_corrupt_colin27_file_is_named(tmp_path):
    with pytest.raises(DataError, match="ch2bet.nii.gz"):
        colin27_on_template(tmp_path, "brain", mni152_image(), 0.7)
    (tmp_path / "ch2bet.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match="not a readable NIfTI"):
        colin27_on_template(tmp_path, "brain", mni152_image(), 0.7)
    with pytest.raises(ConfigError, match="data.held_out"):
        MNI152DataModule(held_out=("skull",))


@needs_colin27
def test_held_out_subject_is_an_evaluation_set_with_its_own_noise():
    data = MNI152DataModule(image_size=32, noise_std=0.1, held_out_dir=str(COLIN27))
    assert data.evaluation_sets == ["test", "colin27_brain", "colin27_head"]
    loaders = data.test_dataloader()
    assert list(loaders) == data.evaluation_sets
    brain = next(iter(loaders["colin27_brain"]))
    head = next(iter(loaders["colin27_head"]))
    assert torch.equal(brain.mask, head.mask)  # the same brain mask scores both
    assert head.image[~head.mask].mean() > brain.image[~brain.mask].mean()
    again = next(iter(data.evaluation_dataloader("colin27_brain")))
    assert torch.equal(brain.input, again.input)  # noise fixed per sample


@pytest.mark.slow
@needs_colin27
def test_training_run_logs_foreground_metrics_on_test_and_on_colin27(tmp_path):
    cfg = compose_config("train", [*FAST_RUN, f"paths.colin27_dir={COLIN27}"], tmp_path)
    result = train(cfg)
    for name in SETS:
        for metric in ("psnr", "psnr_fg", "ssim", "ssim_fg"):
            assert f"{name}/{metric}" in result.metrics
    run = mlflow.MlflowClient(tracking_uri(tmp_path)).search_runs(["1"])[0]
    assert {"colin27_brain/psnr_fg", "test/ssim_fg"} <= set(run.data.metrics)
    assert "test/psnr/dataloader_idx_0" not in run.data.metrics
    # medae eval on the run's best checkpoint, Colin27 present: the training run's test metrics again
    evaluated = evaluate(
        compose_config("eval", [f"ckpt_path={result.run_id}", "debug=limit"], tmp_path)
    ).metrics
    tested = {key: value for key, value in run.data.metrics.items() if key.split("/")[0] in SETS}
    assert len(tested) >= 12 and set(tested) <= set(evaluated)
    for key, value in tested.items():
        assert evaluated[key] == pytest.approx(value, abs=1e-6), key


def test_coarse_noise_is_smooth_and_stays_on_the_foreground():
    image = torch.zeros(1, 64, 64)
    image[:, 16:48, 16:48] = 0.5
    generator = torch.Generator().manual_seed(0)
    noise = coarse(image, 0.2, generator) - image
    assert noise[:, :16].abs().max() == 0
    inside = noise[:, 16:48, 16:48]
    white = gaussian(image, 0.2, torch.Generator().manual_seed(0))[:, 16:48, 16:48] - 0.5
    neighbour_step = (inside[:, 1:] - inside[:, :-1]).abs().mean()
    white_step = (white[:, 1:] - white[:, :-1]).abs().mean()
    assert neighbour_step < white_step / 5  # low-frequency: neighbours move together
    assert 0.05 < float(inside.std()) < 0.3


def test_validation_anomaly_set_uses_labels_when_the_split_has_both_kinds():
    images = torch.rand(6, 1, 16, 16)
    labelled = SplitTensors(images, images, torch.tensor([0, 0, 0, 1, 1, 1]))
    assert validation_set(labelled, [0], ["noise"], 0, (0.0, 1.0)).labels.tolist() == [0, 0, 0, 1, 1, 1]
    normal_only = SplitTensors(images, images, torch.zeros(6, dtype=torch.long))
    lesioned = validation_set(normal_only, [0], ["noise"], 0, (0.0, 1.0))
    assert len(lesioned.images) == 12 and lesioned.masks is not None


def test_choose_picks_the_candidate_with_the_best_validation_auroc():
    clean = torch.full((8, 1, 16, 16), 0.3)
    data = lesion_set(SplitTensors(clean, clean, None), ["hyperintense"], 0, (0.0, 1.0))
    candidates = {
        "intensity": Scorer(intensity_maps, "max"),
        "inverted": Scorer(lambda images: (1 - images, None), "mean"),
    }
    best, aurocs = choose(candidates, data)
    assert best == "intensity" and aurocs["intensity"] == 1.0 and aurocs["inverted"] < 0.5


def test_pixel_metrics_count_foreground_pixels_only():
    maps = torch.zeros(1, 1, 8, 8)
    masks = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    masks[..., 2:4, 2:4] = True
    maps[..., 2:4, 2:4] = 1.0
    maps[..., 6:, 6:] = 2.0  # strong map values, but outside the foreground
    foreground = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    foreground[..., :5, :5] = True
    assert localization_metrics(maps, masks)["pixel_ap"] < 0.9
    assert localization_metrics(maps, masks, foreground)["pixel_ap"] == pytest.approx(1.0)
    scorer = Scorer(intensity_maps, "mean")
    _, scores = scorer(AnomalySet(maps, torch.tensor([1]), masks, foreground))
    assert float(scores[0]) == pytest.approx(4 / 25)


def test_medmnist_keeps_grey_levels_unless_per_image_scaling(tmp_path):
    images = np.full((4, 28, 28), 100, dtype=np.uint8)
    images[:, :14] = 50
    labels = np.zeros((4, 1), dtype=np.uint8)
    arrays = {f"{split}_images": images for split in ("train", "val", "test")}
    arrays |= {f"{split}_labels": labels for split in ("train", "val", "test")}
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays)
    fixed = MedMNISTDataModule(root=str(tmp_path), image_size=28)
    fixed.setup()
    brightest = float(np.asarray(fixed.datasets["train"][0]["image"]).max())
    assert brightest == pytest.approx(100 / 255, abs=1e-3)
    scaled = MedMNISTDataModule(root=str(tmp_path), image_size=28, per_image_scaling=True)
    scaled.setup()
    assert float(np.asarray(scaled.datasets["train"][0]["image"]).max()) == pytest.approx(1.0)


def test_augmentation_is_reproducible_from_the_torch_seed_and_checked():
    data = MNI152DataModule(image_size=32, augmentation=("flip", "gamma", "scale"))
    data.setup()
    torch.manual_seed(3)
    first = next(iter(data.train_dataloader()))
    torch.manual_seed(3)
    second = next(iter(data.train_dataloader()))
    assert torch.equal(first.image, second.image)
    assert float(first.image.min()) >= 0.0 and float(first.image.max()) <= 1.0
    with pytest.raises(ConfigError, match="data.augmentation"):
        MNI152DataModule(augmentation=("rotate",))


def load_experiments_script():
    path = Path(__file__).resolve().parents[1] / "experiments" / "run_applications.py"
    spec = importlib.util.spec_from_file_location("run_applications", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_applications"] = module
    spec.loader.exec_module(module)
    return module


def test_paired_interval_and_references_of_the_results_table():
    script = load_experiments_script()
    mean, low, high = script.paired(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert mean == 3.0 and low == pytest.approx(3 - 2.776 * np.sqrt(2.5) / np.sqrt(5), abs=1e-3)
    assert high == pytest.approx(2 * mean - low)
    methods = ["autoencoder (redcnn)", "baseline:bm3d", "finetune:1%", "scratch:1%", "finetune:10%"]
    assert script.comparisons(methods) == [
        ("autoencoder (redcnn)", "baseline:bm3d"),
        ("finetune:1%", "scratch:1%"),
    ]


def test_hard_output_activation_reaches_an_exactly_zero_background():
    logits = torch.tensor([-10.0, 0.0, 10.0])
    assert output_activation((0.0, 1.0), "hard")(logits).tolist() == [0.0, 0.5, 1.0]
    assert float(output_activation((0.0, 1.0))(logits)[0]) > 0
    net = ConvAutoencoder(ConvAutoencoderConfig(image_size=32, output_activation="hard"), (0.0, 1.0))
    assert isinstance(net.output_activation, torch.nn.Hardsigmoid)
    with pytest.raises(ConfigError, match="model.output_activation"):
        ConvAutoencoder(ConvAutoencoderConfig(image_size=32, output_activation="relu"), (0.0, 1.0))


def test_every_definition_matches_scikit_image_on_the_phantom_from_one_ssim_map_per_batch(monkeypatch):
    calls = []
    ssim = metrics.structural_similarity_index_measure

    def counted(*args, **options):
        calls.append(options)
        return ssim(*args, **options)

    monkeypatch.setattr(metrics, "structural_similarity_index_measure", counted)
    phantom = shepp_logan_phantom()[::4, ::4].astype(np.float32)  # 100 x 100
    rng = np.random.default_rng(0)
    noisy = [
        np.clip(phantom + rng.normal(0, sd, phantom.shape), 0, 1).astype(np.float32) for sd in (0.03, 0.1)
    ]
    mask = phantom > 0.1
    collection = image_quality_metrics(2, 1.0, "val/")
    to_batch = lambda images: torch.from_numpy(np.stack(images))[:, None]  # noqa: E731
    collection.update(to_batch(noisy), to_batch([phantom] * 2), mask=torch.from_numpy(mask)[None, None])
    assert len(calls) == 1  # whole-image and foreground SSIM share the map
    scores = {key: float(value) for key, value in collection.compute().items()}
    # scikit-image's definitions: Gaussian window (sigma 1.5), population covariances, 5-pixel border out
    options = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    whole, maps = zip(
        *(structural_similarity(phantom, image, full=True, **options) for image in noisy), strict=True
    )
    inside = np.zeros_like(mask)
    inside[5:-5, 5:-5] = True
    expected = {
        "val/psnr": np.mean([peak_signal_noise_ratio(phantom, image, data_range=1.0) for image in noisy]),
        "val/psnr_fg": np.mean(
            [peak_signal_noise_ratio(phantom[mask], image[mask], data_range=1.0) for image in noisy]
        ),
        "val/ssim": np.mean(whole),
        "val/ssim_fg": np.mean([full[mask & inside].mean() for full in maps]),
    }
    assert scores == pytest.approx(expected, abs=1e-4)
    assert 0.2 < scores["val/ssim"] < 0.9 and scores["val/ssim_fg"] != scores["val/ssim"]
    # each image's scores (what tables pair image by image) are the same definitions, image by image
    per_image = metrics.per_image_quality(
        to_batch(noisy), to_batch([phantom] * 2), (0.0, 1.0), torch.from_numpy(mask)[None, None]
    )
    assert per_image["psnr_fg"].tolist() == pytest.approx(
        [peak_signal_noise_ratio(phantom[mask], image[mask], data_range=1.0) for image in noisy], abs=1e-4
    )
    assert per_image["ssim"].tolist() == pytest.approx(list(whole), abs=1e-4)
    assert per_image["ssim_fg"].tolist() == pytest.approx(
        [full[mask & inside].mean() for full in maps], abs=1e-4
    )
    empty = metrics.per_image_quality(
        to_batch(noisy), to_batch([phantom] * 2), (0.0, 1.0), torch.zeros(2, 1, 100, 100) > 0
    )
    assert torch.isnan(empty["psnr_fg"]).all() and not torch.isnan(empty["psnr"]).any()


# presets of public datasets that need the user's copy: the writer of each one's replica
REPLICAS = {"anomaly_brats": write_brats, "denoise_ldct": write_ldct}


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset", sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))
)
def test_eval_runs_on_the_checkpoint_of_every_preset_with_and_without_held_out_sets(preset, tmp_path):
    limit = ["debug=limit", "trainer.max_epochs=1", "trainer.limit_test_batches=1"]
    overrides = [f"experiment={preset}", *limit, "data.image_size=32", "data.batch_size=8"]
    overrides.append(f"paths.colin27_dir={COLIN27}")
    if "pneumonia" in preset:
        if not PNEUMONIAMNIST.is_file():
            pytest.skip(f"{PNEUMONIAMNIST} absent")
        overrides.append(f"data.root={PNEUMONIAMNIST.parent}")
    if preset in REPLICAS:  # a public dataset's preset runs on the replica of its layout
        REPLICAS[preset](tmp_path / "data")
        overrides.append(f"data.root={tmp_path / 'data'}")
    cfg = compose_config("train", overrides, tmp_path)
    with open_dict(cfg):
        cfg.application = None  # the preset's model and data; its application has tests of its own
    result = train(cfg)
    evaluated = evaluate(compose_config("eval", [f"ckpt_path={result.run_id}", *limit], tmp_path))
    sets = {key.split("/")[0] for key in evaluated.metrics if "/" in key}
    brain = cfg.data.name == "mni152"
    assert sets == {"test", *(("colin27_brain", "colin27_head") if brain and COLIN27.is_dir() else ())}
    assert evaluated.metrics["test/psnr"] == pytest.approx(result.metrics["test/psnr"], abs=1e-5)
    if brain:
        alone = evaluate(
            compose_config("eval", [f"ckpt_path={result.run_id}", *limit, "+data.held_out=[]"], tmp_path)
        )
        assert {key.split("/")[0] for key in alone.metrics if "/" in key} == {"test"}


def paired_scores(rng: np.random.Generator, separation: float, seeds: int, positions: int) -> dict:
    """Image scores of slices (2 subjects) and their lesioned copies, lesioned ones ``separation`` higher."""
    names = [f"axial:{index}" for index in range(positions)]
    subjects = ["a" if index < positions // 2 else "b" for index in range(positions)]
    scores = [
        np.concatenate([rng.normal(0, 1, positions), rng.normal(separation, 1, positions)]).tolist()
        for _ in range(seeds)
    ]
    return {"position": names * 2, "subject": subjects * 2, "label": [0] * positions + [1] * positions} | {
        "score": scores
    }


def test_the_image_auroc_difference_is_bootstrapped_over_slices_with_their_lesioned_copies():
    rng = np.random.default_rng(0)
    strong, weak = paired_scores(rng, 3.0, 3, 40), paired_scores(rng, 0.5, 3, 40)
    weak["position"], weak["subject"] = strong["position"], strong["subject"]
    found = auroc_difference(strong, weak, resamples=500)
    expected = np.mean(
        [
            roc_auc_score(strong["label"], s) - roc_auc_score(weak["label"], w)
            for s, w in zip(strong["score"], weak["score"], strict=True)
        ]
    )
    assert found.mean == pytest.approx(expected, abs=1e-12)
    assert 0 < found.low < found.mean < found.high
    assert (found.images, found.subjects, found.seeds) == (40, 2, 3)
    assert found.wins > 30  # most slices give the strong method the larger share of its AUROC
    # two methods that differ by chance only: the interval covers 0
    same = paired_scores(rng, 1.0, 3, 40) | {"position": strong["position"], "subject": strong["subject"]}
    other = paired_scores(rng, 1.0, 3, 40) | {"position": strong["position"], "subject": strong["subject"]}
    tie = auroc_difference(same, other, resamples=500)
    assert tie.low < 0 < tie.high
    with pytest.raises(ValueError, match="not of the same images"):
        auroc_difference(strong, weak | {"position": list(reversed(weak["position"]))})
    # the results table uses it for the image AUROC wherever both runs kept their image scores
    script = load_experiments_script()
    result = {"images": {"ae": {"anomaly_scores/test": strong}, "pca": {"anomaly_scores/test": weak}}}
    paired = script.paired_difference(result, "ae", "pca", "anomaly/image_auroc", "test")
    default = auroc_difference(strong, weak)
    assert (paired.mean, paired.low, paired.high) == (default.mean, default.low, default.high)
    assert paired.note == f"wins {found.wins}/40, 2 subj." and paired.clear


def lesioned_maps(rng: np.random.Generator, separation: float, count: int = 12) -> tuple:
    """Maps of ``count`` slices and their lesioned copies: lesion pixels score ``separation`` higher."""
    masks = torch.zeros(2 * count, 1, 16, 16, dtype=torch.bool)
    masks[count:, :, 4:8, 4:8] = True
    maps = torch.from_numpy(rng.normal(size=(2 * count, 1, 16, 16))) + separation * masks
    foreground = torch.zeros_like(masks)
    foreground[..., 2:14, 2:14] = True
    return maps, masks, foreground


def test_pixel_counts_give_the_pooled_pixel_ap_of_any_selection_and_its_interval_over_slices():
    rng = np.random.default_rng(0)
    maps, masks, foreground = lesioned_maps(rng, 2.0)
    positive, negative = pixel_counts(maps, masks, foreground)
    assert positive.sum() == 12 * 16 and positive.sum() + negative.sum() == 24 * 144
    logged = localization_metrics(maps, masks, foreground)["pixel_ap"]
    assert binned_ap(positive, negative) == pytest.approx(logged, abs=1e-6)
    assert read_counts(counts_json(positive, negative))["negative"].tolist() == negative.tolist()
    # a strong map against a weak one, over 3 seeds: the pooled AP difference excludes 0
    positions = [f"axial:{index}" for index in range(12)] * 2
    subjects = [("a" if index % 12 < 6 else "b") for index in range(24)]
    strong = [dict(zip(("positive", "negative"), pixel_counts(*lesioned_maps(rng, 2.0)), strict=True))] * 3
    weak = [dict(zip(("positive", "negative"), pixel_counts(*lesioned_maps(rng, 0.5)), strict=True))] * 3
    found = pixel_ap_difference(strong, weak, positions, subjects, resamples=300)
    assert 0 < found.low < found.mean < found.high and found.images == 12 and found.wins >= 10
    same = pixel_ap_difference(strong, strong, positions, subjects, resamples=300)
    assert same.mean == same.low == same.high == 0
    # the results table reads the stored interval either way round
    script = load_experiments_script()
    result = {"pixel_ap": {"ae − pca on test": [found.mean, found.low, found.high, found.wins, 12, 2]}}
    ahead = script.paired_difference(result, "ae", "pca", "anomaly/pixel_ap", "test")
    behind = script.paired_difference(result, "pca", "ae", "anomaly/pixel_ap", "test")
    assert (ahead.mean, ahead.low, ahead.high) == (found.mean, found.low, found.high)
    assert (behind.mean, behind.low, behind.high) == (-found.mean, -found.high, -found.low)
    assert behind.note == f"wins {12 - found.wins}/12, 2 subj."
