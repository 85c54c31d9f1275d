"""The typed config schema: shipped as the code declares it, and each bad value refused in one line."""

import json
import subprocess
import sys

import pytest

from medae.config.checks import CONFIG_DIR, check_overrides
from medae.config.schema import check_config, live_schema, packaged_targets, shipped_schema
from medae.config.type_check import matches, spec_of
from medae.errors import ConfigError
from tests.conftest import compose_config

REFUSED = [
    # (plug-in kind, overrides, the one line)
    ("model", ["model.latent_channels=1.5"], "model.latent_channels: expected int > 0, got 1.5 (float)"),
    (
        "model",
        ["model=vae", "+model.latent_dim=3"],
        "model.latent_dim: is not an option of model 'vae'; allowed: ",
    ),
    ("data", ["data.image_size=abc"], "data.image_size: expected int >= 8, got 'abc' (str)"),
    ("data", ["data.val_fraction=0.7"], "data.val_fraction: expected float > 0 and < 0.5, got 0.7 (float)"),
    ("model", ["model.latent_channels=0"], "model.latent_channels: expected int > 0, got 0 (int)"),
    ("model", ["model.channels=[]"], "model.channels: expected list[int > 0] of at least 1, got [] (list)"),
    ("data", ["data.held_out=colin27"], "data.held_out: expected list[str], got 'colin27' (str)"),
    (
        "application",
        ["application=anomaly", "application.overlays=many"],
        "application.overlays: expected int, got 'many' (str)",
    ),
    ("optim", ["optim.lr=[1,2]"], "optim.lr: expected float | Tensor, got [1, 2] (list)"),
    (
        "optim",
        ["+optim.momentun=0.9"],
        "optim.momentun: is not an argument of torch.optim.Adam; allowed: amsgrad, betas,",
    ),
    (
        "scheduler",
        ["scheduler=plateau", "scheduler.scheduler.mode=up"],
        "scheduler.scheduler.mode: expected 'min' | 'max', got 'up' (str)",
    ),
    ("trainer", ["trainer.max_epochs=ten"], "trainer.max_epochs: expected int | None, got 'ten' (str)"),
    ("trainer", ["trainer.precision=13"], "trainer.precision: expected 64 | 32 | 16 | 'transformer-engine'"),
    (
        "callbacks",
        ["callbacks.early_stopping.patience=1.5"],
        "callbacks.early_stopping.patience: expected int, got 1.5 (float)",
    ),
    (
        "callbacks",
        ["+callbacks.early_stopping.patiense=3"],
        "callbacks.early_stopping.patiense: is not an argument of lightning.pytorch.callbacks.EarlyStopping",
    ),
    (
        "logger",
        ["logger.mlflow.sync_every_n_saves=often"],
        "logger.mlflow.sync_every_n_saves: expected int, got 'often' (str)",
    ),
    ("paths", ["paths.cache_dir=[a,b]"], "paths.cache_dir: expected str, got ['a', 'b'] (list)"),
    ("top level", ["seed=abc"], "seed: must be an integer like 42, got 'abc'"),
]


def test_shipped_schema_is_what_the_code_declares():
    # checks read schema.json without importing torch; regenerate it with `python -m medae.commands.catalog`
    # after changing an entry, a Trainer argument or a packaged _target_
    assert shipped_schema() == json.loads(json.dumps(live_schema()))


def test_the_schema_lists_every_packaged_target():
    targets = packaged_targets()
    assert {"lightning.Trainer", "torch.optim.Adam", "lightning.pytorch.callbacks.EarlyStopping"} <= set(
        targets
    )
    assert not [target for target in targets if target.startswith("hydra_plugins")]
    assert set(shipped_schema()["targets"]) == set(targets)


@pytest.mark.parametrize(("kind", "overrides", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_each_plugin_kind_refuses_a_bad_value_in_one_line(kind, overrides, message):
    with pytest.raises(ConfigError) as error:
        check_overrides(CONFIG_DIR, "train", overrides)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "group", sorted(shipped_schema()["groups"]), ids=lambda group: f"every built-in {group}"
)
def test_every_built_in_entry_composes_and_fits_the_schema(group, tmp_path):
    schema = shipped_schema()
    for name, entry in schema["groups"][group].items():
        required = [f"{group}.{key}={tmp_path}" for key, value in entry["node"].items() if value == "???"]
        cfg = compose_config("train", [f"{group}={name}", *required], tmp_path)
        check_config(cfg, schema)


def test_a_node_that_builds_an_object_fits_any_type_and_only_config_values_count_in_a_union():
    lr = spec_of(float | list)
    assert matches({"_target_": "torch.tensor", "data": 0.1}, spec_of(int))
    assert matches(3, spec_of(float)) and not matches(True, spec_of(float))
    assert not matches("3", lr) and matches([0.1], lr)
    tensor_or_float = {"union": [{"type": "float"}, {"any": "Tensor"}]}
    assert matches(0.5, tensor_or_float) and not matches("0.5", tensor_or_float)
    assert matches("anything", {"union": [{"any": "Callable"}, {"any": "Module"}]})


def test_a_user_target_the_schema_does_not_know_is_left_to_its_own_check(tmp_path):
    cfg = compose_config(
        "train", ["+callbacks.mine._target_=lab.callbacks.Mine", "+callbacks.mine.k=x"], tmp_path
    )
    check_config(cfg, shipped_schema())


@pytest.mark.slow
def test_an_ill_typed_override_is_refused_before_torch_is_imported(tmp_path):
    child = (
        "import sys\nfrom medae.cli import main\ntry:\n    main(['train', 'model.latent_channels=1.5'])\n"
        "finally:\n    print('torch' in sys.modules, 'lightning' in sys.modules, 'monai' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", child], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2  # a config error, as argparse's
    assert done.stderr.strip() == "medae: error: model.latent_channels: expected int > 0, got 1.5 (float)"
    assert done.stdout.split() == ["False", "False", "False"]
