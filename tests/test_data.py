import numpy as np
import pytest
import torch

from medae.data.mni152 import MNI152DataModule, mni152_template
from medae.data.noise import NOISE_MODELS
from medae.data.noisy_pairs import NoisyPairs
from medae.data.slab_split import DROPPED, slab_assignment
from medae.errors import ConfigError


@pytest.fixture(scope="module")
def mni_2d() -> MNI152DataModule:
    data = MNI152DataModule(image_size=32)
    data.setup()
    return data


@pytest.mark.parametrize("kind", ["t1", "gm", "wm"])
def test_template_ships_with_nilearn(kind):
    volume = mni152_template(kind)
    assert volume.shape == (197, 233, 189)
    assert volume.min() == 0 and volume.max() == 1
    assert 0.05 < (volume > 0.5).mean() < 0.5  # a head, a brain's grey or white matter: not empty, not full


@pytest.mark.parametrize("seed", range(5))
def test_slab_assignment_keeps_splits_apart(seed):
    gap = 2
    labels = slab_assignment(150, 8, 0.15, 0.15, gap, seed)
    assert set(labels.tolist()) == {DROPPED, 0, 1, 2}
    kept = np.flatnonzero(labels != DROPPED)
    for a, b in zip(kept[:-1], kept[1:], strict=True):
        if labels[a] != labels[b]:
            assert b - a > 2 * gap - 1, f"positions {a} and {b} of different splits are neighbours"
    assert (labels == 0).sum() > (labels == 1).sum() + (labels == 2).sum()


def test_slab_assignment_refuses_too_few_slabs():
    with pytest.raises(ConfigError, match=r"data.num_slabs: must be >= 3"):
        slab_assignment(100, 2, 0.1, 0.1, 1, 0)


def test_2d_slices_no_neighbour_crosses_splits(mni_2d):
    positions = {name: {item["position"] for item in mni_2d.datasets[name].data} for name in mni_2d.datasets}
    index = {name: {(p.split(":")[0], int(p.split(":")[1])) for p in ps} for name, ps in positions.items()}
    for a in index:
        for b in index:
            if a < b:
                for axis, i in index[a]:
                    for offset in range(-mni_2d.slab_gap, mni_2d.slab_gap + 1):
                        assert (axis, i + offset) not in index[b], f"{axis}:{i} in {a} neighbours {b}"
    sizes = mni_2d.split_sizes()
    assert sizes["train"] > 60 and sizes["val"] > 15 and sizes["test"] > 15


def test_no_test_slice_has_a_copy_in_training(mni_2d):
    # the symmetric template's right hemisphere mirrors the left: sagittal slices x and 196 - x are equal
    train = torch.stack([item["image"] for item in mni_2d.datasets["train"]]).flatten(1)
    for split in ("val", "test"):
        held_out = torch.stack([item["image"] for item in mni_2d.datasets[split]]).flatten(1)
        nearest = torch.cdist(held_out, train).min(dim=1).values / train.shape[1] ** 0.5
        assert nearest.min() > 0.01, f"a {split} slice has a copy in training (RMSE {nearest.min():.2e})"


def test_tissue_labels_follow_the_probability_maps():
    data = MNI152DataModule(image_size=32, axes=(2,), tissue_labels=True)
    data.setup()
    item = data.datasets["train"][len(data.datasets["train"]) // 2]
    labels = item["segmentation"]
    assert labels.shape == (1, 32, 32) and labels.dtype == torch.int64
    assert set(torch.unique(labels).tolist()) == {0, 1, 2}
    # white matter is brighter than grey matter in T1
    assert item["image"][labels == 2].mean() > item["image"][labels == 1].mean() + 0.1


def test_2d_samples_are_scaled_square_slices(mni_2d):
    images = torch.stack([item["image"] for item in mni_2d.datasets["train"]])
    assert images.shape[1:] == (1, 32, 32)
    assert images.dtype == torch.float32
    assert images.min() >= -0.05 and images.max() <= 1.05
    assert (images > 0.1).float().mean() > 0.1  # near-empty slices were dropped


def test_3d_blocks_are_disjoint_and_resized():
    data = MNI152DataModule(spatial_dims=3, image_size=16, block_size=48)
    data.setup()
    corners = {name: [item["position"] for item in data.datasets[name].data] for name in data.datasets}
    all_corners = sum(corners.values(), [])
    assert len(all_corners) == len(set(all_corners))
    assert data.datasets["train"][0]["image"].shape == (1, 16, 16, 16)
    assert min(len(c) for c in corners.values()) >= 1


def test_fingerprint_changes_with_preprocessing(mni_2d):
    other = MNI152DataModule(image_size=32, noise_std=0.1)
    same = MNI152DataModule(image_size=32)
    assert same.fingerprint() == mni_2d.fingerprint()
    assert other.fingerprint() != mni_2d.fingerprint()


def test_validation_noise_is_fixed_and_training_noise_is_fresh(mni_2d):
    val = NoisyPairs(mni_2d.datasets["val"], "gaussian", 0.1, seed=7)
    assert torch.equal(val[3]["input"], val[3]["input"])
    assert not torch.equal(val[3]["input"], val[4]["input"] - val[4]["image"] + val[3]["image"])
    train = NoisyPairs(mni_2d.datasets["train"], "gaussian", 0.1, seed=None)
    assert not torch.equal(train[0]["input"], train[0]["input"])


def test_a_blind_denoiser_trains_on_every_level_of_its_range_and_is_validated_at_one():
    data = MNI152DataModule(image_size=32, noise_std=0.1, noise_std_range=[0.02, 0.3])
    data.setup()
    torch.manual_seed(0)
    train = data.train_dataloader().dataset
    levels = [float((item["input"] - item["image"]).std()) for item in (train[0] for _ in range(200))]
    assert min(levels) < 0.05 and max(levels) > 0.25  # drawn anew for every sample from [0.02, 0.3]
    val = data.val_dataloader().dataset
    assert all(abs(float((val[i]["input"] - val[i]["image"]).std()) - 0.1) < 0.01 for i in range(5))


@pytest.mark.parametrize("name", sorted(NOISE_MODELS))
def test_noise_models_have_the_configured_strength(name):
    image = torch.full((1, 128, 128), 0.5)
    noisy = NOISE_MODELS[name](image, 0.1, torch.Generator().manual_seed(0))
    assert noisy.shape == image.shape
    residual = noisy - image
    if name == "salt_pepper":
        assert (residual != 0).float().mean() == pytest.approx(0.1, abs=0.02)
    elif name == "speckle":
        assert residual.std() == pytest.approx(0.05, rel=0.1)  # multiplicative: 0.1 * 0.5
    elif name == "poisson":
        assert residual.std() == pytest.approx(0.1 * 0.5**0.5, rel=0.1)  # std grows with sqrt(intensity)
    elif name == "rician":
        assert residual.mean() > 0  # magnitude noise is biased upwards
    elif name == "coarse":  # 0.1 on the coarse grid; bilinear upsampling averages neighbours
        assert 0.05 < residual.std() < 0.1
    else:
        assert residual.std() == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"image_size": 4}, "data.image_size"),
        ({"noise_std": -0.1}, "data.noise_std"),
        ({"val_fraction": 0.6}, "data.val_fraction"),
        ({"axes": (3,)}, "data.axes"),
        ({"slab_gap": 0}, "data.slab_gap"),
        ({"spatial_dims": 4}, "data.spatial_dims"),
        ({"noise_std": 0.1, "noise_std_range": [0.3, 0.1]}, "data.noise_std_range"),
        ({"noise_std_range": [0.0, 0.1]}, "data.noise_std_range"),
    ],
)
def test_invalid_data_options_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        MNI152DataModule(**kwargs)
