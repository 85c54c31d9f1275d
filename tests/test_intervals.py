"""Intervals over subjects, slices and seeds; selection metrics that stay on validation data."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from medae.config.selection import check_selection
from medae.errors import ConfigError
from medae.evaluation.hierarchical_bootstrap import hierarchical_bootstrap
from tests.conftest import compose_config


def test_the_hierarchical_interval_widens_with_subject_spread_that_slices_alone_hide():
    rng = np.random.default_rng(0)
    subjects = [f"s{s}" for s in range(6) for _ in range(20)]
    # a method ahead by 0.3 dB on average: subjects differ by +-1 dB, slices within a subject by 0.1
    offsets = np.repeat(rng.normal(0.3, 1.0, 6), 20)
    values = offsets + rng.normal(0, 0.1, (3, 120))
    nested = hierarchical_bootstrap(values, subjects, resamples=1000)
    flat = hierarchical_bootstrap(values, [str(i) for i in range(120)], resamples=1000)
    assert nested.mean == pytest.approx(values.mean())
    assert (nested.subjects, nested.images, nested.seeds) == (6, 120, 3)
    # taking the 120 slices as independent gives an interval about sqrt(20) times too narrow
    assert (nested.high - nested.low) > 3 * (flat.high - flat.low)
    # the interval covers the mean over subjects' offsets, which the flat one does not need to
    assert nested.low < offsets[::20].mean() < nested.high


def test_one_subject_gives_an_interval_over_slices_and_seeds_and_counts_wins():
    values = np.array([[1.0, -1.0, 2.0, 0.5], [1.2, -0.8, 2.2, 0.7]])
    interval = hierarchical_bootstrap(values, ["mni152"] * 4, resamples=2000, seed=1)
    assert interval.subjects == 1 and interval.wins == 3
    assert interval.low < interval.mean < interval.high
    assert interval.low >= values.mean(axis=0).min() and interval.high <= values.mean(axis=0).max()
    assert str(interval).endswith("(wins 3/4; 1 subj., 2 seeds)")
    with pytest.raises(ValueError, match="values has 4 images per seed but subjects names 3"):
        hierarchical_bootstrap(values, ["a", "b", "c"])


@pytest.mark.parametrize(
    ("override", "key", "metric"),
    [
        ("optimized_metric=colin27_brain/psnr_fg", "optimized_metric", "colin27_brain/psnr_fg"),
        ("callbacks.early_stopping.monitor=test/psnr_fg", "callbacks.early_stopping.monitor", "test/psnr_fg"),
        ("scheduler=plateau scheduler.monitor=test/ssim", "scheduler.monitor", "test/ssim"),
    ],
)
def test_training_refuses_to_select_on_test_or_held_out_metrics(override, key, metric, tmp_path):
    cfg = compose_config("train", override.split(), tmp_path)
    with pytest.raises(ConfigError) as refused:
        check_selection(cfg)
    assert str(refused.value) == (
        f"{key}: is '{metric}'; choosing on it would tune on data the results report; "
        "select on a validation metric (val/..., e.g. val/psnr_fg) or a training one (train/...)"
    )


def test_the_default_config_and_every_search_select_on_validation(tmp_path):
    for overrides in ([], ["hparams_search=optuna"], ["hparams_search=lr_latent"], ["scheduler=plateau"]):
        check_selection(compose_config("train", overrides, tmp_path))
    check_selection(OmegaConf.create({"optimized_metric": "train/loss"}))
