import numpy as np
import pytest
import torch

from medae.applications.anomaly import lesion_set
from medae.applications.generation import nearest_training_images
from medae.applications.parts.finetuning import label_subset
from medae.applications.parts.lesions import LESION_KINDS, add_lesion, add_visible_lesion
from medae.errors import ConfigError
from medae.evaluation.anomaly_metrics import (
    detection_metrics,
    dice,
    healthy_threshold,
    localization_metrics,
)
from medae.evaluation.sample_distribution import distribution_metrics
from medae.evaluation.split_tensors import SplitTensors


def brain_like(shape: tuple[int, ...]) -> np.ndarray:
    grid = np.indices(shape) - (np.array(shape) / 2).reshape(-1, *[1] * len(shape))
    radius = np.sqrt((grid**2).sum(axis=0)) / (min(shape) / 2)
    return np.clip(0.7 - 0.3 * radius, 0, 1) * (radius < 0.8)


@pytest.mark.parametrize("kind", list(LESION_KINDS))
@pytest.mark.parametrize("shape", [(48, 48), (24, 24, 24)])
def test_each_lesion_changes_the_image_only_under_and_near_its_mask(kind, shape):
    image = brain_like(shape).astype(np.float32)
    lesioned, mask = add_visible_lesion(image, kind, np.random.default_rng(3))
    change = np.abs(lesioned - image)
    assert mask.sum() >= 10
    assert change[mask].mean() > 0.05
    assert change[mask].mean() > 5 * change[~mask].mean()
    assert lesioned.min() >= 0 and lesioned.max() <= 1


def test_lesions_are_seeded():
    image = brain_like((32, 32)).astype(np.float32)
    a = add_lesion(image, "hyperintense", np.random.default_rng(7))
    b = add_lesion(image, "hyperintense", np.random.default_rng(7))
    c = add_lesion(image, "hyperintense", np.random.default_rng(8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_hyper_and_hypo_intense_lesions_go_the_right_way():
    image = brain_like((48, 48)).astype(np.float32)
    bright, bright_mask = add_visible_lesion(image, "hyperintense", np.random.default_rng(0))
    dark, dark_mask = add_visible_lesion(image, "hypointense", np.random.default_rng(0))
    assert (bright - image)[bright_mask].mean() > 0.1
    assert (image - dark)[dark_mask].mean() > 0.1


def test_lesion_set_pairs_each_clean_image_with_a_lesioned_copy():
    clean = torch.from_numpy(brain_like((32, 32)).astype(np.float32))[None, None].repeat(5, 1, 1, 1)
    ids, subjects = [f"axial:{index}" for index in range(5)], ["s1"] * 3 + ["s2"] * 2
    split = SplitTensors(clean, clean, None, ids, subjects=subjects)
    data = lesion_set(split, ["noise", "texture"], seed=0, value_range=(0.0, 1.0))
    assert data.images.shape == (10, 1, 32, 32)
    assert data.labels.tolist() == [0] * 5 + [1] * 5
    assert not data.masks[:5].any() and all(mask.any() for mask in data.masks[5:])
    assert torch.equal(data.images[:5], clean)
    # a lesioned copy keeps its slice's position and subject; the image scores say so row by row
    assert data.positions == ids * 2 and data.subjects == subjects * 2
    rows = data.scores_csv(torch.arange(10) / 10).splitlines()
    assert rows[0] == "position,subject,label,kind,score"
    assert rows[1] == "axial:0,s1,0,,0" and rows[7] == "axial:1,s1,1,texture,0.6"
    kept = data.select(data.labels == 1)
    assert kept.positions == ids and kept.kinds == ["noise", "texture", "noise", "texture", "noise"]


def test_detection_metrics_of_perfect_reversed_and_tied_scores():
    labels = torch.tensor([0, 0, 0, 1, 1])
    assert detection_metrics(torch.tensor([1.0, 2, 3, 4, 5]), labels) == {"image_auroc": 1.0, "image_ap": 1.0}
    reversed_scores = detection_metrics(torch.tensor([5.0, 4, 3, 2, 1]), labels)
    assert reversed_scores["image_auroc"] == 0.0
    assert detection_metrics(torch.ones(5), labels)["image_auroc"] == 0.5


def test_localization_metrics_on_a_perfect_a_noisy_and_a_useless_map():
    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(4, 1, 16, 16, dtype=torch.bool)
    masks[1, 0, 4:8, 4:8] = masks[3, 0, 8:12, 2:6] = True
    perfect = localization_metrics(masks.float(), masks)
    assert perfect["pixel_ap"] == pytest.approx(1.0) and perfect["best_dice"] == pytest.approx(1.0)
    noisy = localization_metrics(masks.float() + 1.5 * torch.rand(masks.shape, generator=generator), masks)
    assert 0.5 < noisy["best_dice"] < 1.0
    useless = localization_metrics(torch.rand(masks.shape, generator=generator), masks)
    prevalence = masks.float().mean().item()  # 0.031: the AP of a random map
    assert useless["pixel_ap"] == pytest.approx(prevalence, abs=0.03)


def test_a_threshold_from_healthy_images_gives_the_dice_a_user_would_get():
    generator = torch.Generator().manual_seed(1)
    healthy = torch.rand(8, 1, 16, 16, generator=generator)  # maps of healthy images: uniform in [0, 1]
    threshold = healthy_threshold(healthy, None, 99)
    assert threshold == pytest.approx(0.99, abs=0.01)  # 1% of healthy pixels above it
    masks = torch.zeros(4, 1, 16, 16, dtype=torch.bool)
    masks[:, 0, 4:8, 4:8] = True
    # lesions at 1.2, healthy tissue uniform: called lesion pixels are all true, plus ~1% false alarms
    maps = torch.where(masks, 1.2, torch.rand(masks.shape, generator=generator))
    false_alarms = ((maps > threshold) & ~masks).sum().item()
    assert dice(maps > threshold, masks) == pytest.approx(2 * 64 / (2 * 64 + false_alarms))
    assert 0.85 < dice(maps > threshold, masks) < 1.0
    # foreground only: with the false alarms outside the foreground, the Dice is perfect
    assert dice(maps > threshold, masks, foreground=masks) == 1.0


def test_label_subset_is_stratified_seeded_and_keeps_every_class():
    labels = np.array([0] * 300 + [1] * 700)
    subset = label_subset(labels, 0.1, seed=0)
    assert len(subset) == 100 and (labels[subset] == 0).sum() == 30
    assert np.array_equal(subset, label_subset(labels, 0.1, seed=0))
    assert set(labels[label_subset(labels, 0.001, seed=0)]) == {0, 1}
    with pytest.raises(ConfigError, match="must be in \\(0, 1\\]"):
        label_subset(labels, 1.5, seed=0)


def test_nearest_training_image_finds_a_copy():
    train = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    distance, index = nearest_training_images(torch.stack([train[6], train[2] + 0.1]), train)
    assert index.tolist() == [6, 2]
    assert distance[0] == 0 and distance[1] == pytest.approx(0.1, abs=1e-5)


def test_the_sample_distribution_measures_tell_copies_from_noise_and_from_a_narrow_generator():
    rng = np.random.default_rng(0)
    train = torch.from_numpy(rng.normal(size=(400, 1, 8, 8)).astype(np.float32))
    real = torch.from_numpy(rng.normal(size=(200, 1, 8, 8)).astype(np.float32))
    like_real = distribution_metrics(real[:100], real[100:], train, components=4, k=3, seed=0)
    narrow = distribution_metrics(real[:100] * 0.2, real[100:], train, components=4, k=3, seed=0)
    far = distribution_metrics(real[:100] + 3.0, real[100:], train, components=4, k=3, seed=0)
    # samples drawn like the real images score as the real images do against the training images
    assert like_real["fd"] < 0.5 and like_real["precision"] > 0.8 and like_real["recall"] > 0.8
    assert like_real["fd_test_to_train"] < 0.5 and like_real["recall_test_to_train"] > 0.8
    # a generator of near-average images is precise but misses most of the real variety
    assert narrow["precision"] > 0.8 and narrow["recall"] < 0.4 and narrow["fd"] > 5 * like_real["fd"]
    # samples off the real manifold: neither precise nor covering, far in Fréchet distance
    assert far["precision"] < 0.2 and far["recall"] < 0.2 and far["fd"] > 10
