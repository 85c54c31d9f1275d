"""The anomaly literature's residual post-processing, each setting chosen on validation data."""

import pytest
import torch

from medae.applications.anomaly import AnomalySet, Scorer, tune_postprocessing
from medae.applications.parts.residual_postprocessing import PostProcessing, erode, settings_grid
from medae.evaluation.anomaly_metrics import localization_metrics

SIZE = 32


@pytest.fixture
def brain_set() -> AnomalySet:
    """16 images with a disk of brain; the first 8 carry a 4 x 4 lesion, the others are healthy."""
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    disk = ((rows - 15.5) ** 2 + (cols - 15.5) ** 2 < 12**2)[None, None].expand(16, 1, SIZE, SIZE)
    masks = torch.zeros(16, 1, SIZE, SIZE, dtype=torch.bool)
    for index in range(8):
        top = 8 + index
        masks[index, 0, top : top + 4, 12:16] = True
    labels = torch.tensor([1] * 8 + [0] * 8)
    # each image holds its own index, so that a scorer's map function can look its maps up
    images = torch.arange(16.0).view(16, 1, 1, 1).expand(16, 1, SIZE, SIZE)
    return AnomalySet(images, labels, masks, disk.clone(), [""] * 16)


def tuned(maps: torch.Tensor, difference: torch.Tensor, data: AnomalySet, **grid) -> PostProcessing:
    def looked_up(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = images[:, 0, 0, 0].long()
        return maps[index], difference[index]

    scorer = Scorer(looked_up, "mean")
    candidates = settings_grid(
        grid.get("medians", [0]), grid.get("erosions", [0]), grid.get("residuals", ["abs"])
    )
    chosen, _ = tune_postprocessing(scorer, data, candidates, grid.get("min_components", [0]), 99.0)
    return chosen.post


def lesion_maps(data: AnomalySet) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps that are 1 on the lesions and faint noise elsewhere, the image brighter on the lesions."""
    generator = torch.Generator().manual_seed(0)
    noise = 0.05 * torch.rand(data.masks.shape, generator=generator)
    return data.masks.float() + noise, data.masks.float() - 0.01


def test_positive_residuals_are_chosen_when_dark_artefacts_outscore_bright_lesions(brain_set):
    maps, difference = lesion_maps(brain_set)
    maps[:, :, 20:24, 18:22] = 2.0  # a region the model reconstructs too bright: image darker
    difference[:, :, 20:24, 18:22] = -1.0
    post = tuned(maps, difference, brain_set, residuals=["abs", "positive"])
    assert post.residual == "positive"
    kept, _ = post.apply(maps, difference, brain_set.foreground)
    assert localization_metrics(kept, brain_set.masks, brain_set.foreground)["pixel_ap"] > 0.95


def test_the_eroded_mask_is_chosen_when_the_brain_edge_lights_up(brain_set):
    maps, difference = lesion_maps(brain_set)
    rim = brain_set.foreground & ~erode(brain_set.foreground, 1)
    maps = torch.where(rim, 1.5, maps)
    difference = torch.where(rim, 1.0, difference)
    assert tuned(maps, difference, brain_set, erosions=[0, 2]).erosion == 2


def test_median_filter_and_small_components_are_chosen_against_isolated_spikes(brain_set):
    maps, difference = lesion_maps(brain_set)
    # single pixels on the images with lesions, apart from each other and from the lesions (columns 12-15)
    rows, cols = torch.zeros(SIZE, dtype=torch.bool), torch.zeros(SIZE, dtype=torch.bool)
    rows[4:28:5], cols[[4, 8, 20, 24]] = True, True
    spikes = torch.zeros_like(brain_set.masks)
    spikes[:8] = rows[:, None] & cols[None, :]
    spikes &= brain_set.foreground & ~brain_set.masks
    maps = torch.where(spikes, 3.0, maps)
    assert tuned(maps, difference, brain_set, medians=[0, 3]).median == 3
    # without the median filter, the segmentation at the healthy threshold keeps the spikes (and the
    # 1% of noise pixels above it) unless components under 4 pixels go; the lesions (16 pixels) stay
    post = tuned(maps, difference, brain_set, min_components=[0, 4, 32])
    assert post.min_component == 4
    healthy_threshold = 0.5
    called = post.segmentation(maps, healthy_threshold)
    assert torch.equal(called & brain_set.foreground, brain_set.masks)


def test_settings_outside_what_is_allowed_are_refused():
    with pytest.raises(ValueError, match="residual must be one of abs, positive, got 'signed'"):
        PostProcessing(residual="signed")
    with pytest.raises(ValueError, match="must be >= 0"):
        PostProcessing(erosion=-1)
