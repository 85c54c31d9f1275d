"""Check command-line overrides before a run starts, and explain a bad one in one line.

Hydra's own messages span several lines and do not list what is allowed; this module composes the
config with Hydra's compose API (milliseconds, no heavy imports) and turns a failure into
``model.latnt_channels: unknown key; did you mean latent_channels? allowed: ...``.
"""

import difflib
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from medae.errors import ConfigError

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")  # inside the package, so a wheel has it
SEARCHPATH = "hydra.searchpath="


def first_job_overrides(overrides: Sequence[str]) -> list[str]:
    """Replace each sweep (``a=1,2``) by its first value, so one job's config can be composed.

    Example:
        >>> first_job_overrides(["optim.lr=1e-3,3e-4", "model=conv", "seed=tag(log,interval(1,3))"])
        ['optim.lr=0.001', 'model=conv', 'seed=1.0']
    """
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as error:
        raise ConfigError("overrides", str(error).splitlines()[0]) from error
    single = []
    for override in parsed:
        if override.is_interval_sweep():  # a sweeper's search space, e.g. Optuna's interval(1e-4,1e-2)
            single.append(f"{override.get_key_element()}={override.value().start}")
        elif override.is_sweep_override():
            values = iter(override.sweep_string_iterator())
            single.append(f"{override.get_key_element()}={next(values)}")
        else:
            single.append(override.input_line)
    return single


def _allowed_keys(config_dir: str, config_name: str, overrides: list[str], full_key: str) -> list[str]:
    parent = full_key.rpartition(".")[0]
    choices = [o for o in overrides if "=" in o and ("." not in o.split("=")[0] or o.startswith(SEARCHPATH))]
    for attempt in (choices, []):  # a misspelt group among the choices fails; then the defaults
        try:
            with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
                cfg = compose(config_name=config_name, overrides=attempt)
            break
        except (ConfigCompositionException, OmegaConfBaseException):
            continue
    else:
        return []
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return sorted(node.keys()) if isinstance(node, DictConfig) else []


def _unknown_key(full_key: str, config_dir: str, config_name: str, overrides: list[str]) -> tuple[str, str]:
    allowed = _allowed_keys(config_dir, config_name, overrides, full_key)
    leaf = full_key.rpartition(".")[2]
    close = difflib.get_close_matches(leaf, allowed, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    kind = "unknown key" if "." in full_key else "unknown key or config group"
    return full_key, f"{kind}; {hint}allowed: {', '.join(allowed)}"


def _explain(
    error: BaseException, config_dir: str, config_name: str, overrides: list[str]
) -> tuple[str, str]:
    causes = []
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    for cause in causes:
        if isinstance(cause, MissingConfigException) and cause.options is not None:
            group, _, choice = (cause.missing_cfg_file or "").rpartition("/")
            return f"{group}={choice}", f"no such option; allowed: {', '.join(sorted(cause.options))}"
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
            return _unknown_key(cause.full_key, config_dir, config_name, overrides)
        not_overridable = re.match(r"Could not override '([^']+)'", str(cause))
        if not_overridable:
            return _unknown_key(not_overridable.group(1), config_dir, config_name, overrides)
    return "overrides", str(causes[0]).strip().splitlines()[0]


def missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Full keys of the required values (``???``) under ``node``, without resolving interpolations.

    Example:
        >>> missing_keys(OmegaConf.create({"data": {"root": "???", "size": 64}, "out": "${x}"}))
        ['data.root']
    """
    found = []
    for key in node:
        if OmegaConf.is_missing(node, key):
            found.append(f"{prefix}{key}")
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node[key], DictConfig):
            found += missing_keys(node[key], f"{prefix}{key}.")
    return found


def check_required(cfg: DictConfig) -> None:
    """Raise a ConfigError naming the first required key (``???``) that has no value."""
    missing = [key for key in missing_keys(cfg) if not key.startswith("hydra.")]
    if missing:
        raise ConfigError(missing[0], f"is required and has no default; set it, e.g. {missing[0]}=<value>")


def check_log_dir(cfg: DictConfig) -> None:
    """Raise a ConfigError unless the folder that receives the run's outputs can be made and written.

    Nothing is left behind: the check writes a temporary file in the nearest folder that exists.
    """
    if not cfg.get("paths"):
        return
    log_dir = Path(cfg.paths.log_dir)
    existing = next(folder for folder in (log_dir, *log_dir.parents) if folder.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ConfigError(
            "paths.log_dir",
            f"{log_dir} cannot be written ({error.strerror or error}); start medae in a writable folder "
            "or set MEDAE_ROOT to one",
        ) from error


def check_overrides(config_dir: str, config_name: str, overrides: Sequence[str]) -> DictConfig:
    """Compose ``config_name`` with ``overrides`` (first job of a sweep); raise ConfigError if that fails.

    The composed config must also have every required key, and an output folder that can be written.
    Returns the composed config, Hydra's node included.
    """
    single = first_job_overrides(overrides)
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=single, return_hydra_config=True)
    except (ConfigCompositionException, OmegaConfBaseException) as error:
        raise ConfigError(*_explain(error, config_dir, config_name, single)) from error
    check_required(cfg)
    check_log_dir(cfg)
    return cfg
