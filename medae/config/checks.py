"""Check command-line overrides before a run starts, and explain a bad one in one line.

Hydra's own messages span several lines and do not list what is allowed; this module composes the
config with Hydra's compose API (milliseconds, no heavy imports) and turns a failure into
``model.latnt_channels: unknown key; did you mean latent_channels? allowed: ...``.
"""

import difflib
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from medae.config.schema import check_config, prepare_schema
from medae.errors import ConfigError

# free space a run needs where it writes checkpoints, logs and its store
MIN_FREE_MB = 64
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")  # inside the package, so a wheel has it
SEARCHPATH = "hydra.searchpath="


def searchpath_overrides(folders: list[str], overrides: list[str]) -> list[str]:
    """``overrides`` with the user's config folders on Hydra's search path, as ``--config-dir`` puts them.

    Example:
        >>> searchpath_overrides(["/conf"], ["hydra.searchpath=[pkg://lab.conf]", "data=mine"])
        ['data=mine', 'hydra.searchpath=[file:///conf,pkg://lab.conf]']
    """
    paths = [f"file://{Path(folder).expanduser().resolve()}" for folder in folders]
    rest = []
    for override in overrides:
        if override.startswith(SEARCHPATH):
            paths += [p.strip() for p in override.partition("=")[2].strip("[]").split(",") if p.strip()]
        else:
            rest.append(override)
    return [*rest, f"hydra.searchpath=[{','.join(paths)}]"] if paths else rest


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
        value = override.value()
        if isinstance(value, IntervalSweep):  # a sweeper's search space, e.g. Optuna's interval(1e-4,1e-2)
            single.append(f"{override.get_key_element()}={value.start}")
        elif override.is_sweep_override():
            values = iter(override.sweep_string_iterator())
            single.append(f"{override.get_key_element()}={next(values)}")
        else:
            single.append(str(override.input_line))
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
    return sorted(map(str, node.keys())) if isinstance(node, DictConfig) else []


def group_options(config_dir: str, group: str) -> list[str]:
    """The choices of config group ``group``: its yaml files and the entries registered in code.

    Example:
        >>> "adam" in group_options(CONFIG_DIR, "optim")
        True
    """
    files = {path.stem for path in (Path(config_dir) / group).glob("*.yaml")}
    registered = {name.removesuffix(".yaml") for name in ConfigStore.instance().repo.get(group, {})}
    return sorted(files | registered)


def _unknown_key(full_key: str, config_dir: str, config_name: str, overrides: list[str]) -> tuple[str, str]:
    allowed = _allowed_keys(config_dir, config_name, overrides, full_key)
    root = full_key.split(".")[0]
    if not allowed and "." in full_key and (Path(config_dir) / root).is_dir():
        return full_key, (
            f"this command has no {root} config to change; choose one first, e.g. {root}=<name> "
            f"{full_key}=..., where <name> is one of: {', '.join(group_options(config_dir, root))}"
        )
    leaf = full_key.rpartition(".")[2]
    close = difflib.get_close_matches(leaf, allowed, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    kind = "unknown key" if "." in full_key else "unknown key or config group"
    return full_key, f"{kind}; {hint}allowed: {', '.join(allowed)}"


def _explain(
    error: BaseException, config_dir: str, config_name: str, overrides: list[str]
) -> tuple[str, str]:
    causes = []
    cause: BaseException | None = error
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
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
    for key in map(str, node):
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


def writable_folder_problem(folder: Path, min_free_mb: int = MIN_FREE_MB) -> str | None:
    """Why ``folder`` (or the nearest folder above it that exists) cannot take a run's files; None if it can.

    Nothing is left behind: the check writes a temporary file and reads the free space.

    Example:
        >>> writable_folder_problem(Path(tempfile.gettempdir()) / "new" / "folder", min_free_mb=0) is None
        True
        >>> writable_folder_problem(Path("/dev/null/medae"))
        '/dev/null/medae cannot be written (Not a directory)'
    """
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"{folder} cannot be written ({error.strerror or error})"
    free_mb = shutil.disk_usage(existing).free / 2**20
    if free_mb < min_free_mb:
        return f"{existing} has {free_mb:.1f} MiB free; a run needs at least {min_free_mb} MiB there"
    return None


def check_log_dir(cfg: DictConfig) -> None:
    """Raise a ConfigError unless the folders that receive the run's outputs can be made and written.

    ``paths.log_dir`` always; ``paths.output_dir`` when the command line set it to a folder of its own;
    the folder of a command's ``output`` file (``medae encode output=codes.npz``).
    """
    output = cfg.get("output")
    problem = (
        writable_folder_problem(Path(output).expanduser().resolve().parent)
        if isinstance(output, str)
        else None
    )
    if problem:
        raise ConfigError("output", f"{problem}; choose an output file in a writable folder")
    if not cfg.get("paths"):
        return
    keys = ["log_dir"] + ([] if OmegaConf.is_interpolation(cfg.paths, "output_dir") else ["output_dir"])
    for key in keys:
        folder = cfg.paths.get(key)
        problem = writable_folder_problem(Path(folder)) if isinstance(folder, str) else None
        if problem:
            raise ConfigError(
                f"paths.{key}", f"{problem}; start medae in a writable folder or set MEDAE_ROOT to one"
            )


def check_overrides(config_dir: str, config_name: str, overrides: Sequence[str]) -> DictConfig:
    """Compose ``config_name`` with ``overrides`` (first job of a sweep); raise ConfigError if that fails.

    The composed config must also have every required key, fit the schema (:mod:`medae.config.schema`)
    and have an output folder that can be written.
    Returns the composed config, Hydra's node included.
    """
    schema = prepare_schema()
    single = first_job_overrides(overrides)
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=single, return_hydra_config=True)
    except (ConfigCompositionException, OmegaConfBaseException) as error:
        raise ConfigError(*_explain(error, config_dir, config_name, single)) from error
    check_top_level(cfg, config_dir, config_name, single)
    check_required(cfg)
    check_config(cfg, schema)
    check_log_dir(cfg)
    return cfg


def scalar_type_problem(value: object, default: object) -> str | None:
    """Why ``value`` cannot replace a top-level ``default`` of another type; None when it can.

    Example:
        >>> scalar_type_problem("abc", 42), scalar_type_problem(7, 42), scalar_type_problem(1, 0.5)
        ("must be an integer like 42, got 'abc'", None, None)
    """
    kinds = ((bool, "true or false"), (int, "an integer"), (float, "a number"))
    for kind, words in kinds:
        if isinstance(default, kind):
            accepted = (int, float) if kind is float else kind
            if isinstance(value, accepted) and (kind is bool or not isinstance(value, bool)):
                return None
            example = "" if kind is bool else f" like {default}"
            return f"must be {words}{example}, got {value!r}"
    return None


def check_top_level(cfg: DictConfig, config_dir: str, config_name: str, overrides: list[str]) -> None:
    """Raise a ConfigError for a top-level value of the wrong type (``seed=abc``) or a new key (``+foo=1``).

    A ``+key`` may add to a node medae has (``+callbacks.<name>=...``, ``+logger.mlflow.tags.<tag>=...``)
    or select a config group; a new top-level key would be read by nothing.
    """
    parsed = OverridesParser.create().parse_overrides(overrides)
    groups = {path.name for path in Path(config_dir).iterdir() if path.is_dir()}
    scalars = {o.key_or_group for o in parsed if "." not in o.key_or_group and not o.is_delete()} - groups
    added = {o.key_or_group.split(".")[0] for o in parsed if o.is_add() or o.is_force_add()} - groups
    if not scalars and not added:
        return
    kept = [
        str(o.input_line)
        for o in parsed
        if not (o.is_add() or o.is_force_add()) and o.key_or_group not in scalars
    ]
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            defaults = compose(config_name=config_name, overrides=kept)
    except (ConfigCompositionException, OmegaConfBaseException):
        return  # the group choices alone do not compose; the full composition said what it could
    for key in sorted(added):
        if key in cfg and key not in defaults:
            allowed = ", ".join(sorted(str(k) for k in defaults))
            raise ConfigError(f"+{key}", f"is not a key of medae's {config_name} config; allowed: {allowed}")
    for key in sorted(scalars & set(defaults)):
        if OmegaConf.is_missing(defaults, key) or OmegaConf.is_interpolation(defaults, key):
            continue
        if not OmegaConf.is_interpolation(cfg, key) and not isinstance(cfg[key], (DictConfig, ListConfig)):
            problem = scalar_type_problem(cfg[key], defaults[key])
            if problem:
                raise ConfigError(key, problem)
