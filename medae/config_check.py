"""Check command-line overrides before a run starts, and explain a bad one in one line.

Hydra's own messages span several lines and do not list what is allowed; this module composes the
config with Hydra's compose API (milliseconds, no heavy imports) and turns a failure into
``model.latnt_channels: unknown key; did you mean latent_channels? allowed: ...``.
"""

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from medae.errors import ConfigError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
# `${cwd:}` in conf/paths: where medae was started, resolvable before Hydra's own config exists (sweeps)
OmegaConf.register_new_resolver("cwd", os.getcwd, replace=True)


def first_job_overrides(overrides: Sequence[str]) -> list[str]:
    """Replace each sweep (``a=1,2``) by its first value, so one job's config can be composed.

    Example:
        >>> first_job_overrides(["optim.lr=1e-3,3e-4", "model=conv"])
        ['optim.lr=0.001', 'model=conv']
    """
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as error:
        raise ConfigError("overrides", str(error).splitlines()[0]) from error
    single = []
    for override in parsed:
        if override.is_sweep_override():
            values = iter(override.sweep_string_iterator())
            single.append(f"{override.get_key_element()}={next(values)}")
        else:
            single.append(override.input_line)
    return single


def _allowed_keys(config_dir: str, config_name: str, overrides: list[str], full_key: str) -> list[str]:
    parent = full_key.rpartition(".")[0]
    choices = [o for o in overrides if "=" in o and "." not in o.split("=")[0]]
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=choices)
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return sorted(node.keys()) if isinstance(node, DictConfig) else []


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
            allowed = _allowed_keys(config_dir, config_name, overrides, cause.full_key)
            leaf = cause.full_key.rpartition(".")[2]
            close = difflib.get_close_matches(leaf, allowed, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            return cause.full_key, f"unknown key; {hint}allowed: {', '.join(allowed)}"
    return "overrides", str(causes[0]).strip().splitlines()[0]


def check_overrides(config_dir: str, config_name: str, overrides: Sequence[str]) -> None:
    """Compose ``config_name`` with ``overrides`` (first job of a sweep); raise ConfigError if that fails."""
    single = first_job_overrides(overrides)
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            compose(config_name=config_name, overrides=single, return_hydra_config=True)
    except (ConfigCompositionException, OmegaConfBaseException) as error:
        raise ConfigError(*_explain(error, config_dir, config_name, single)) from error
