"""Building the pieces of a run from its config: data paths, loggers, callbacks, Hydra job info."""

from pathlib import Path
from typing import Any, cast

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning import Callback
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from medae.config.checks import CONFIG_DIR as CONFIG_DIR  # re-exported for the entry points
from medae.errors import ConfigError
from medae.security.stored_data import check_plain

# data keys that name files or folders; relative values are taken from where medae started
DATA_PATH_KEYS = ("root", "labels_csv")


def instantiate_group(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a callbacks or logger node.

    Raises:
        ConfigError: a ``_target_`` names nothing that can be imported.
    """
    built: list[Any] = []
    if node is None:
        return built
    for name, entry in node.items():
        if isinstance(entry, DictConfig) and "_target_" in entry:
            try:
                built.append(instantiate(entry))
            except InstantiationException as error:
                if not str(error).startswith("Error locating target"):
                    raise
                key = f"{node._get_full_key(name)}._target_"
                raise ConfigError(
                    key, f"cannot import '{entry._target_}'; name a class as module.Class"
                ) from error
    return built


def absolute_data_paths(data: DictConfig) -> None:
    """Make the data's file and folder paths absolute, so the logged config names what was read.

    Example:
        >>> data = OmegaConf.create({"root": "images", "image_size": 64})
        >>> absolute_data_paths(data)
        >>> Path(data.root).is_absolute()
        True
    """
    for key in DATA_PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value != "???" and not Path(value).expanduser().is_absolute():
            data[key] = str(Path(value).expanduser().resolve())


def checkpoint_data_config(cfg: DictConfig, module: Any) -> DictConfig:
    """The data config of a command that reads a checkpoint.

    ``cfg.data`` when the command chose data (``data=<name>``); else the data config stored in the checkpoint,
    with the command's ``data.<key>`` values on top (``data.held_out=[]``).
    """
    chosen = cfg.get("data")
    if isinstance(chosen, DictConfig) and "name" in chosen:
        return chosen
    if module.run_config and "data" in module.run_config:
        check_plain(module.run_config["data"], f"checkpoint {cfg.ckpt_path}")
        data = OmegaConf.create(module.run_config["data"])
        return cast(DictConfig, OmegaConf.merge(data, chosen)) if chosen else data
    raise ConfigError("data", f"{cfg.ckpt_path} stores no data config; choose one with data=<name>")


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """The configured loggers."""
    return instantiate_group(cfg.get("logger"))


def build_callbacks(cfg: DictConfig, with_loggers: bool) -> list[Callback]:
    """The configured callbacks, less those the run cannot use.

    The learning-rate monitor needs something that logs what it reports; a progress bar needs
    ``trainer.enable_progress_bar`` (Lightning refuses one otherwise).
    """
    callbacks = instantiate_group(cfg.get("callbacks"))
    bar = OmegaConf.select(cfg, "trainer.enable_progress_bar", default=True) is not False
    return [
        c
        for c in callbacks
        if (with_loggers or not isinstance(c, LearningRateMonitor))
        and (bar or not isinstance(c, ProgressBar))
    ]


def name_mlflow_run(cfg: DictConfig, name: str) -> None:
    """Give the MLflow run ``name`` unless the config names it already."""
    if cfg.get("logger") and cfg.logger.get("mlflow") and not cfg.logger.mlflow.run_name:
        cfg.logger.mlflow.run_name = name


def hydra_output_dir() -> Path | None:
    """The ``.hydra`` folder of the current Hydra job (config and overrides), if any."""
    if not HydraConfig.initialized():
        return None
    return Path(HydraConfig.get().runtime.output_dir) / ".hydra"


def as_typed(overrides: Any) -> list[str]:
    """Hydra's record of a job's overrides as typed: ``${...}`` in a value stays unresolved.

    Iterating the record itself would resolve it, putting environment values in run names and tags.

    Example:
        >>> as_typed(OmegaConf.create({"task": ["a=${oc.env:HOME}"]}).task)
        ['a=${oc.env:HOME}']
    """
    recorded = OmegaConf.to_container(overrides, resolve=False)
    return [str(override) for override in recorded] if isinstance(recorded, list) else []


def job_overrides() -> list[str] | None:
    """The command-line overrides of this Hydra job as typed (``${...}`` unresolved); None outside one."""
    if not HydraConfig.initialized():
        return None
    return as_typed(HydraConfig.get().overrides.task)


def chosen_keys() -> set[str]:
    """The keys this job's command line set (``optim.lr=...``, ``+logger.x=...``); none outside Hydra."""
    overrides = OverridesParser.create().parse_overrides(job_overrides() or [])
    return {override.get_key_element().lstrip("+~") for override in overrides}


def sweep_job() -> Any:
    """Hydra's config of the running job when it is one job of a ``-m`` launch, else None."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return HydraConfig.get()


def swept_keys(hydra: DictConfig) -> set[str]:
    """The keys a ``-m`` launch varies: its sweep overrides (``multirun.yaml``) and the sweeper's params."""
    launch = Path(hydra.sweep.dir) / "multirun.yaml"
    overrides = as_typed(OmegaConf.load(launch).hydra.overrides.task) if launch.is_file() else []
    parsed = OverridesParser.create().parse_overrides(overrides)
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    return swept | set(hydra.sweeper.get("params") or {})


def short_overrides(overrides: list[str]) -> str:
    """``key=value`` overrides as a run name the UI shows whole: each key's last part, space-separated.

    A key keeps its full path where two keys would read alike.

    Example:
        >>> short_overrides(["optim.lr=0.001", "model.latent_channels=8"])
        'lr=0.001 latent_channels=8'
        >>> short_overrides(["model.dropout=0.1", "data.dropout=0.2"])
        'model.dropout=0.1 data.dropout=0.2'
    """
    pairs = [override.lstrip("+~").partition("=") for override in overrides]
    keys = short_keys([key for key, _, _ in pairs])
    return " ".join(f"{key}={value}" for key, (_, _, value) in zip(keys, pairs, strict=True))


def short_keys(keys: list[str]) -> list[str]:
    """Each dotted key's last part, or the whole key where two would read alike.

    Example:
        >>> short_keys(["optim.lr", "model.dropout", "data.dropout"])
        ['lr', 'model.dropout', 'data.dropout']
    """
    last = [key.rpartition(".")[2] for key in keys]
    return [short if last.count(short) == 1 else key for short, key in zip(last, keys, strict=True)]


def hydra_overrides_name() -> str:
    """What tells this job apart, as :func:`short_overrides`.

    In a ``-m`` sweep, only the swept keys; else every override but the run settings (``trainer``,
    ``logger``, ``debug``... see ``conf/hydra``). Empty outside Hydra.
    """
    if not HydraConfig.initialized():
        return ""
    hydra = sweep_job()
    if hydra is None:
        job = HydraConfig.get()
        settings = set(job.job.config.override_dirname.exclude_keys)
        chosen = OverridesParser.create().parse_overrides(as_typed(job.overrides.task))
        # trainer.*, logger.*, ... are run settings as the groups themselves are
        keys = [o.get_key_element().lstrip("+~") for o in chosen]
        kept = [
            str(o.input_line)
            for o, key in zip(chosen, keys, strict=True)
            if key not in settings and key.split(".")[0] not in settings
        ]
        return short_overrides(kept)
    swept = swept_keys(hydra)
    parsed = OverridesParser.create().parse_overrides(as_typed(hydra.overrides.task))
    varied = [str(o.input_line) for o in parsed if o.get_key_element() in swept]
    return short_overrides(varied) or f"job{hydra.job.num}"


def to_plain(node: DictConfig | None) -> Any:
    """A resolved config node as plain Python containers."""
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def plain_dict(node: DictConfig) -> dict[str, Any]:
    """A mapping config node resolved as a plain dict with string keys.

    Example:
        >>> plain_dict(OmegaConf.create({"a": 1, "b": "${a}"}))
        {'a': 1, 'b': 1}
    """
    plain = OmegaConf.to_container(node, resolve=True)
    if not isinstance(plain, dict):
        raise TypeError(f"expected a mapping node, got {type(plain).__name__}")
    return {str(key): value for key, value in plain.items()}
