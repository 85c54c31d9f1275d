from pathlib import Path

import pytest

from medae.config_check import CONFIG_DIR, check_overrides, first_job_overrides
from medae.errors import ConfigError
from tests.conftest import compose_config

GROUPS = sorted(p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir() and p.name != "hydra")


def group_options() -> list[tuple[str, str]]:
    """Every selectable option; trainer/default is the base the trainer options extend."""
    options = [(group, f.stem) for group in GROUPS for f in sorted((Path(CONFIG_DIR) / group).glob("*.yaml"))]
    return [option for option in options if option != ("trainer", "default")]


def test_every_group_has_options():
    assert set(GROUPS) >= {
        "model",
        "data",
        "trainer",
        "logger",
        "callbacks",
        "paths",
        "experiment",
        "hparams_search",
        "debug",
    }
    assert {o for g, o in group_options() if g == "trainer"} >= {"cpu", "gpu", "ddp", "auto"}
    assert {o for g, o in group_options() if g == "debug"} >= {"fast_dev_run", "overfit", "limit"}


@pytest.mark.parametrize(("group", "option"), group_options())
def test_every_option_composes(group, option, tmp_path):
    cfg = compose_config("train", [f"{group}={option}"], tmp_path)
    assert cfg.model.name
    assert cfg.optim._partial_ is True
    assert cfg.model.image_size == cfg.data.image_size
    assert cfg.data._target_.startswith("medae.data.")


def test_default_config_values(tmp_path):
    cfg = compose_config("train", [], tmp_path)
    assert cfg.model.name == "conv"
    assert cfg.data._target_ == "medae.data.mni152.MNI152DataModule"
    assert cfg.model.image_size == cfg.data.image_size == 64
    assert cfg.logger.mlflow.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert cfg.optimized_metric == "val/psnr_best"
    assert cfg.trainer.deterministic is True


def test_eval_config_composes_without_data(tmp_path):
    cfg = compose_config("eval", ["ckpt_path=x.ckpt"], tmp_path)
    assert cfg.get("data") is None
    assert cfg.ckpt_path == "x.ckpt"


def test_sweep_overrides_reduce_to_first_job():
    assert first_job_overrides(["optim.lr=1e-3,3e-4", "data.noise_std=0,0.1", "model=conv"]) == [
        "optim.lr=0.001",
        "data.noise_std=0",
        "model=conv",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer=tpu"], "trainer=tpu: no such option; allowed: auto, cpu, ddp, default, gpu"),
        (
            ["model.latnt_channels=8"],
            "model.latnt_channels: unknown key; did you mean latent_channels? allowed: act,",
        ),
        (
            ["optim.lrr=0.1,0.2"],
            "optim.lrr: unknown key; did you mean lr? allowed: _partial_, _target_, lr, weight_decay",
        ),
        (["data.image_sise=32"], "data.image_sise: unknown key; did you mean image_size?"),
    ],
)
def test_bad_overrides_name_the_key_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as error:
        check_overrides(CONFIG_DIR, "train", overrides)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_unknown_group_option_lists_every_option():
    with pytest.raises(ConfigError) as error:
        check_overrides(CONFIG_DIR, "train", ["model=fooo"])
    message, _, allowed = str(error.value).partition("; allowed: ")
    assert message == "model=fooo: no such option"
    assert set(allowed.split(", ")) == {path.stem for path in (Path(CONFIG_DIR) / "model").glob("*.yaml")}


def test_good_overrides_pass():
    check_overrides(CONFIG_DIR, "train", ["model.latent_channels=16", "optim.lr=1e-3,3e-4", "debug=limit"])
