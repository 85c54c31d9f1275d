import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from medae.applications.parts.registry import APPLICATIONS
from medae.config.checks import CONFIG_DIR, check_overrides, first_job_overrides
from medae.config.schema import check_config, shipped_schema
from medae.config.trainer_options import lightning_defaults
from medae.data.registry import DATA_SOURCES
from medae.errors import ConfigError
from medae.models.registry import MODELS
from tests.conftest import SHARED_DATA, compose_config

REGISTRIES = {"model": MODELS, "data": DATA_SOURCES, "application": APPLICATIONS}
YAML_GROUPS = sorted(p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir() and p.name != "hydra")
GROUPS = sorted({*YAML_GROUPS, *REGISTRIES})


def group_options() -> list[tuple[str, str]]:
    """Every selectable option: the yamls, and the registered entries (<group>/<name> in the ConfigStore).

    trainer/default is the base the trainer options extend.
    """
    options = [
        (group, f.stem) for group in YAML_GROUPS for f in sorted((Path(CONFIG_DIR) / group).glob("*.yaml"))
    ]
    options += [(group, name) for group, registry in REGISTRIES.items() for name in registry]
    return [option for option in options if option != ("trainer", "default")]


def test_each_registry_lists_medae_own_entries():
    assert set(MODELS) >= {"conv", "dense", "redcnn", "sparse", "vae", "vqvae"}
    assert set(DATA_SOURCES) >= {"mni152", "medmnist", "mednist", "folder", "dicom"}
    assert set(APPLICATIONS) >= {"denoising", "anomaly", "compression", "classification", "segmentation"}
    for group, registry in REGISTRIES.items():
        for name in registry:
            assert registry.node(name)["name"] == name
            assert registry.lookup(name).registry_name == name, f"{group}={name}"


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
    check_config(cfg, shipped_schema())  # every packaged preset fits the schema
    assert cfg.optim._partial_ is True
    assert cfg.model.image_size == cfg.data.image_size
    assert cfg.data.name in DATA_SOURCES
    assert not cfg.get("application") or cfg.application.name in APPLICATIONS


def test_default_config_values(tmp_path):
    cfg = compose_config("train", [], tmp_path)
    assert cfg.model.name == "conv"
    assert cfg.data.name == "mni152"
    assert cfg.model.image_size == cfg.data.image_size == 64
    assert cfg.logger.mlflow.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert cfg.optimized_metric == "val/psnr_fg_best"
    assert cfg.trainer.deterministic is True


def test_the_held_out_subject_is_found_beside_the_project_wherever_the_store_is(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDAE_COLIN27_DIR")
    monkeypatch.setenv("MEDAE_ROOT", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    cfg = compose_config("train", [], tmp_path / "store")
    assert Path(cfg.paths.colin27_dir) == SHARED_DATA / "colin27"
    assert cfg.data.held_out_dir == cfg.paths.colin27_dir
    monkeypatch.setenv("MEDAE_COLIN27_DIR", "/data/colin27")
    assert compose_config("train", [], tmp_path).data.held_out_dir == "/data/colin27"


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
    assert set(allowed.split(", ")) == {option for group, option in group_options() if group == "model"}


def test_good_overrides_pass_and_compose_the_first_job():
    cfg = check_overrides(
        CONFIG_DIR, "train", ["model.latent_channels=16", "optim.lr=1e-3,3e-4", "debug=limit"]
    )
    assert (cfg.model.latent_channels, cfg.optim.lr) == (16, 1e-3)  # a sweep is checked on its first job
    assert (cfg.trainer.max_epochs, cfg.trainer.limit_train_batches, cfg.trainer.limit_test_batches) == (
        2,
        3,
        2,
    )


def repeated_defaults(yaml_file: Path, base: dict) -> dict:
    """The keys of a yaml config whose value equals the default it would inherit anyway."""
    raw = OmegaConf.to_container(OmegaConf.load(yaml_file))
    return {key: value for key, value in raw.items() if key in base and base[key] == value}


def test_model_configs_are_the_dataclass_defaults(tmp_path):
    for name, module in MODELS.items():
        cfg = compose_config("train", [f"model={name}", "data.image_size=32"], tmp_path)
        config = module.config_class.from_mapping(OmegaConf.to_container(cfg.model, resolve=True))
        assert config == module.config_class(image_size=32)


def test_yaml_configs_hold_only_what_differs_from_the_defaults():
    lightning = lightning_defaults()
    trainer = Path(CONFIG_DIR) / "trainer"
    base = OmegaConf.to_container(OmegaConf.load(trainer / "default.yaml"))
    assert repeated_defaults(trainer / "default.yaml", lightning) == {}
    for path in trainer.glob("*.yaml"):
        if path.stem != "default":
            assert repeated_defaults(path, {**lightning, **base}) == {}, path.name
    for group, registry in REGISTRIES.items():  # presets extend one registered entry
        for path in (Path(CONFIG_DIR) / group).glob("*.yaml"):
            raw = OmegaConf.load(path)
            (base,) = [entry for entry in raw.get("defaults", []) if entry in registry]
            assert repeated_defaults(path, registry.node(base)) == {}, path.name


def test_the_repeat_check_finds_a_repeat(tmp_path):
    path = tmp_path / "cpu.yaml"
    path.write_text("accelerator: cpu\ncheck_val_every_n_epoch: 1\n")
    assert repeated_defaults(path, lightning_defaults()) == {"check_val_every_n_epoch": 1}


EXPERIMENTS = sorted((Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_presets_hold_only_what_differs(path, tmp_path):
    raw = OmegaConf.to_container(OmegaConf.load(path))
    cfg = compose_config("train", [f"experiment={path.stem}"], tmp_path)
    for group, registry in REGISTRIES.items():
        if isinstance(raw.get(group), dict):
            base = registry.node(cfg[group].name)
            assert {k: v for k, v in raw[group].items() if base.get(k) == v} == {}, f"{path.name}: {group}"


@pytest.mark.parametrize("command", ["train", "eval", "baseline", "encode", "decode", "predict", "export"])
def test_command_help_lists_its_own_keys_with_their_meaning(command, capsys):
    from medae.cli import main
    from medae.config.command_help import command_help

    main([command, "--help"])
    printed = capsys.readouterr().out
    assert printed.strip() == command_help(command)
    keys = [line for line in printed.splitlines() if re.match(r"^  [a-z_]+=", line)]
    groups = printed.split("config groups")[1] if "config groups" in printed else ""
    described = [line for line in keys if line not in groups.splitlines()]
    assert described and all(len(line.split(None, 1)) == 2 for line in described), described  # a meaning each
    if command == "predict":
        assert "  input=???" in printed and "searched recursively" in printed
        assert "experiment=" not in printed  # not train's groups, as Hydra's generic help listed
    if command == "train":
        assert "  model=conv" in printed and "  data=mni152" in printed and "    mse=1.0" in printed
