"""A stored run rebuilt as a job: medae's packaged configs and the run's recorded overrides, not its config.

``medae reproduce`` and ``medae resume`` read a shared store that anyone with write access may have edited,
so what they take from it is data. The job is composed from the config groups installed with medae and
the command-line overrides the run recorded (``config/overrides.json``), each checked first:

- an override holding an interpolation (``${...}``) is refused, so no resolver runs and no environment
  value is read from the store;
- an override naming code (``_target_``, ``_args_``, ...) is refused, and every ``_target_`` of the rebuilt
  job must be the one medae's packaged configs put at that key;
- overrides of where a job writes (``paths.*``, the tracking store, Hydra's own settings) are not taken:
  those come from the local root and the run id, and every folder the job writes to must lie in the root.

The rebuilt job is then compared, as plain data, with the resolved config the run stored (read with
bounded safe YAML). Where a default changed since, each difference is listed and the command stops
unless it was told ``--allow-drift``, so a reproduction is the same job or says how it differs.
"""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import OverrideParseException
from mlflow import MlflowClient
from mlflow.entities import Run
from omegaconf import DictConfig, OmegaConf, open_dict

from medae.commands.compose import compose_job
from medae.config.checks import CONFIG_DIR, check_overrides, searchpath_overrides
from medae.config.run_parts import absolute_data_paths, plain_dict
from medae.errors import ConfigError, DataError
from medae.security.stored_data import (
    code_keys,
    inside,
    load_string_list,
    load_yaml,
    refuse_interpolations,
)
from medae.tracking.logged_run import artifact_text
from medae.tracking.schema import (
    HYDRA_OVERRIDES_ARTIFACT,
    OVERRIDES_ARTIFACT,
    RESOLVED_CONFIG_ARTIFACT,
    TASK_TAG,
    store_uri,
)

# Hydra's helpers that return the callable their `path` names: that path is code too
LOOKUP_TARGETS = ("hydra.utils.get_method", "hydra.utils.get_class", "hydra.utils.get_object")
# where a job writes and which store it reports to: set from the local root and the run id, never stored
LOCATION_KEYS = (
    "hydra",
    "paths",
    "ckpt_path",
    "trust_checkpoint",
    "logger.mlflow.tracking_uri",
    "logger.mlflow.artifact_location",
    "logger.mlflow.run_id",
    "logger.mlflow.run_name",
)
# keys whose folder a job writes to, wherever they stand (outside paths.*, which medae sets)
WRITTEN_KEYS = ("dirpath", "default_root_dir", "cache_dir", "save_dir", "log_dir", "output_dir")
# keys that differ between two runs of the same job, so drift leaves them out
RUN_SPECIFIC = ("paths", "logger", "hydra", "ckpt_path", "trust_checkpoint", "num_threads")
SHOWN_DIFFERENCES = 5


def add_rebuild_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """The command-line options of a command that rebuilds a stored run's job (reproduce, resume)."""
    parser.add_argument("run_id")
    parser.add_argument("--tracking-uri", default=store_uri(), help="default: %(default)s")
    parser.add_argument(
        "--allow-drift", action="store_true", help=f"{verb} even when medae's configs changed since the run"
    )
    parser.add_argument(
        "--config-dir",
        "-cd",
        action="append",
        default=[],
        help="a folder of your own presets that the run chose (as given to medae train); repeatable",
    )


def recorded_overrides(client: MlflowClient, run: Run) -> list[str]:
    """The overrides ``run`` was started with: medae's record, else what Hydra recorded of the job.

    Raises:
        DataError: the run is not a training run, has no recorded overrides, or they are not strings.
    """
    run_id = run.info.run_id
    task = run.data.tags.get(TASK_TAG, "train")
    if task != "train":
        raise DataError(f"run {run_id}", f"is a '{task}' run; only training runs can be rebuilt")
    text = artifact_text(client, run_id, OVERRIDES_ARTIFACT)
    if text is not None:
        return load_string_list(text, f"run {run_id} {OVERRIDES_ARTIFACT}")
    text = artifact_text(client, run_id, HYDRA_OVERRIDES_ARTIFACT)
    if text is None:
        raise DataError(
            f"run {run_id}",
            f"has no {OVERRIDES_ARTIFACT}: it was not started by medae train (or medae.commands.compose), "
            "so the job cannot be rebuilt from medae's configs",
        )
    source = f"run {run_id} {HYDRA_OVERRIDES_ARTIFACT}"
    overrides = load_yaml(text, source) or []
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise DataError(source, "must be a list of strings")
    return overrides


def is_location(key: str) -> bool:
    """Whether ``key`` (or its group) says where a job writes or reports, which a store may not decide.

    Example:
        >>> is_location("paths.output_dir"), is_location("hydra/launcher"), is_location("optim.lr")
        (True, True, False)
    """
    return any(key == name or key.startswith((f"{name}.", f"{name}/")) for name in LOCATION_KEYS)


def parse(overrides: list[str], source: str) -> list[Override]:
    """``overrides`` parsed by Hydra's grammar (nothing is composed or resolved)."""
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as error:
        raise DataError(
            source, f"holds an override Hydra cannot parse ({str(error).splitlines()[0]})"
        ) from error


def taken_overrides(overrides: list[str], run_id: str) -> tuple[list[str], list[str]]:
    """The overrides a rebuilt job takes, and those it leaves to the local root and run id.

    Raises:
        ConfigError: an override holds an interpolation, names code, or is a sweep.

    Example:
        >>> taken_overrides(["optim.lr=0.01", "paths.output_dir=/etc", "hydra.job.chdir=true"], "1")
        (['optim.lr=0.01'], ['paths.output_dir=/etc', 'hydra.job.chdir=true'])
        >>> taken_overrides(["+callbacks.x={_target_: os.system}"], "1")
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: callbacks.x._target_: run 1 recorded code here; a stored run may ...
    """
    source = f"run {run_id} {OVERRIDES_ARTIFACT}"
    taken: list[str] = []
    left: list[str] = []
    for line, override in zip(overrides, parse(overrides, source), strict=True):
        key = override.key_or_group
        refuse_interpolations({key: line}, f"run {run_id}")
        if override.is_sweep_override():
            raise ConfigError(key, f"run {run_id} recorded a sweep ({line}); a job has one value per key")
        for found in code_keys(None if override.is_delete() else override.value(), key):
            raise ConfigError(
                found, f"run {run_id} recorded code here; a stored run may set values, never what is built"
            )
        (left if is_location(key) else taken).append(line)
    return taken, left


def targets(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(full key, callable name)`` a plain config would build or look up.

    Example:
        >>> lookup = {"_target_": "hydra.utils.get_method", "path": "medae.data.noise.gaussian"}
        >>> dict(targets({"fn": lookup, "opt": {"_target_": "torch.optim.Adam"}}))
        {'fn._target_': 'hydra.utils.get_method', 'fn.path': 'medae.data.noise.gaussian', 'opt._target_': ...}
    """
    if isinstance(node, dict):
        for child, value in node.items():
            full = f"{key}.{child}" if key else str(child)
            if child == "_target_" or (child == "path" and node.get("_target_") in LOOKUP_TARGETS):
                yield full, str(value)
            else:
                yield from targets(value, full)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from targets(value, f"{key}[{index}]")


def config_groups(config_dirs: list[str]) -> set[str]:
    """The config groups of medae's configs and of ``config_dirs`` (``model``, ``data``, ...)."""
    folders = [CONFIG_DIR, *config_dirs]
    return {path.name for folder in folders for path in Path(folder).expanduser().glob("*") if path.is_dir()}


def check_packaged_code(cfg: DictConfig, taken: list[str], config_dirs: list[str]) -> None:
    """Raise a ConfigError unless every target of ``cfg`` is the one the config files build at that key.

    The reference is the job composed with the group choices alone (``model=vae``, ``experiment=...``):
    files installed with medae, or in the caller's own ``config_dirs``. Values of other overrides may
    change, the objects built may not.
    """
    groups = config_groups(config_dirs)
    choices = [str(o.input_line) for o in parse(taken, "overrides") if o.key_or_group in groups]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        reference = compose("train", overrides=searchpath_overrides(config_dirs, choices))
    packaged = dict(targets(OmegaConf.to_container(reference)))
    for key, target in targets(OmegaConf.to_container(cfg)):
        if packaged.get(key) != target:
            raise ConfigError(
                key,
                f"{target} is not what medae's configs build here; a stored run may set values, never code",
            )


def within(key: str, prefix: str) -> bool:
    """Whether dotted ``key`` is ``prefix`` or lies below it.

    Example:
        >>> within("callbacks.c.dirpath", "callbacks.c"), within("callbacks.cc", "callbacks.c")
        (True, False)
    """
    return key == prefix or key.startswith(f"{prefix}.")


def check_written_inside(cfg: DictConfig, taken: list[str], groups: set[str], root: Path) -> None:
    """Raise a ConfigError for a folder the stored overrides point the job's writes to outside ``root``.

    The folders are the values of :data:`WRITTEN_KEYS` (``callbacks.*.dirpath`` with its ``filename``,
    ``data.cache_dir``, ``trainer.default_root_dir``...) that a value override set; the others, group
    choices (``groups``) included, are medae's and this machine's own.
    """
    overrides = parse(taken, "overrides")
    chosen = [o.key_or_group for o in overrides if not o.is_delete() and o.key_or_group not in groups]
    plain = OmegaConf.to_container(cfg, resolve=True)

    def visit(node: Any, key: str) -> None:
        if not isinstance(node, dict):
            return
        for child, value in node.items():
            full = f"{key}.{child}" if key else str(child)
            if child in WRITTEN_KEYS and isinstance(value, str) and value:
                named = (full, f"{key}.filename")
                if any(within(name, prefix) for name in named for prefix in chosen):
                    inside(Path(value) / str(node.get("filename") or ""), root, full)
            visit(value, full)

    visit(plain, "")


def flatten(node: Any, key: str = "") -> dict[str, Any]:
    """Plain nested data as ``{"a.b": value}``; lists are values.

    Example:
        >>> flatten({"a": {"b": 1, "c": [1, 2]}, "d": None})
        {'a.b': 1, 'a.c': [1, 2], 'd': None}
    """
    if isinstance(node, dict) and node:
        flat: dict[str, Any] = {}
        for child, value in node.items():
            flat |= flatten(value, f"{key}.{child}" if key else str(child))
        return flat
    return {key: node}


def comparable(values: dict[str, Any]) -> dict[str, Any]:
    """The values two runs of one job share: run-specific keys left out, the job's folders named alike.

    Example:
        >>> comparable({"paths.output_dir": "/a/out", "callbacks.c.dirpath": "/a/out/ckpt", "seed": 1})
        {'callbacks.c.dirpath': '<output_dir>/ckpt', 'seed': 1}
    """
    folders = {name: str(values.get(f"paths.{name}") or "") for name in ("output_dir", "root_dir")}

    def named(value: Any) -> Any:
        if isinstance(value, str):
            for name, folder in folders.items():
                if folder:
                    value = value.replace(folder, f"<{name}>")
        return value

    return {
        key: named(value)
        for key, value in values.items()
        if key.split(".")[0] not in RUN_SPECIFIC and not (isinstance(value, str) and "***" in value)
    }


def differences(stored: dict[str, Any], rebuilt: dict[str, Any]) -> list[str]:
    """Each value that differs between a run's stored resolved config and its rebuilt job, one line each.

    Example:
        >>> differences({"optim": {"lr": 0.1}, "seed": 1}, {"optim": {"lr": 0.2}, "seed": 1, "x": 2})
        ['optim.lr: the run had 0.1, the job now has 0.2', 'x: the run had no value, the job now has 2']
    """
    old, new = comparable(flatten(stored)), comparable(flatten(rebuilt))
    missing = "no value"
    return [
        f"{key}: the run had {old.get(key, missing)!s}, the job now has {new.get(key, missing)!s}"
        for key in sorted(set(old) | set(new))
        if old.get(key, missing) != new.get(key, missing)
    ]


def check_drift(client: MlflowClient, run_id: str, cfg: DictConfig, allow_drift: bool) -> list[str]:
    """Compare the rebuilt job with the resolved config the run stored; the differences.

    Each difference is printed; unless ``allow_drift``, any difference stops the command in one line.
    """
    source = f"run {run_id} {RESOLVED_CONFIG_ARTIFACT}"
    text = artifact_text(client, run_id, RESOLVED_CONFIG_ARTIFACT)
    if text is None:
        raise DataError(f"run {run_id}", f"has no {RESOLVED_CONFIG_ARTIFACT} to compare the job with")
    stored = load_yaml(text, source)
    if not isinstance(stored, dict):
        raise DataError(source, "is not a mapping of config groups")
    refuse_interpolations(stored, source)
    data = OmegaConf.create(plain_dict(cfg.data))
    absolute_data_paths(data)  # as train() logs them
    rebuilt = {**plain_dict(cfg), "data": plain_dict(data)}
    found = differences(stored, rebuilt)
    for line in found:
        print(f"medae: {'warning: ' if allow_drift else ''}drift: {line}", file=sys.stderr)
    if found and not allow_drift:
        shown = "; ".join(found[:SHOWN_DIFFERENCES]) + ("; ..." if len(found) > SHOWN_DIFFERENCES else "")
        raise ConfigError(
            f"run {run_id}",
            f"medae's configs have changed since it ran: {len(found)} value(s) differ ({shown}); "
            "pass --allow-drift to run the job as it is now",
        )
    return found


def rebuild_job(
    client: MlflowClient,
    run: Run,
    root: Path,
    output_dir: Path,
    tracking_uri: str,
    allow_drift: bool = False,
    config_dirs: list[str] | None = None,
) -> DictConfig:
    """The training job of ``run``, rebuilt from medae's configs and its checked overrides.

    Args:
        client: the run's store.
        run: the run.
        root: the local root: the job writes only below it.
        output_dir: the job's output folder (inside ``root``).
        tracking_uri: the store the job reports to.
        allow_drift: go on when the rebuilt job differs from the run's stored config.
        config_dirs: the caller's own config folders (``--config-dir``), searched after medae's, for a
            run that chose presets of its own.

    Raises:
        ConfigError: an override is refused, a target is not medae's, a folder lies outside ``root``, or
            the job drifted without ``allow_drift``.
        DataError: the run has no readable overrides or stored config.
    """
    run_id = run.info.run_id
    taken, left = taken_overrides(recorded_overrides(client, run), run_id)
    if left:
        print(f"medae: run {run_id}: not taken from the store, set here: {' '.join(left)}", file=sys.stderr)
    config_dirs = config_dirs or []
    job = searchpath_overrides(config_dirs, taken)
    check_overrides(CONFIG_DIR, "train", job)  # a bad key or value: one line
    inside(output_dir, root, "paths.output_dir")
    cfg = compose_job("train", job, output_dir)
    check_packaged_code(cfg, taken, config_dirs)
    with open_dict(cfg):
        cfg.paths.root_dir = str(root)
        cfg.paths.log_dir = str(root / "outputs")
        cfg.paths.tracking_uri = tracking_uri
        if cfg.get("logger") and cfg.logger.get("mlflow"):
            cfg.logger.mlflow.tracking_uri = tracking_uri
    check_written_inside(cfg, taken, config_groups(config_dirs), root)
    check_drift(client, run_id, cfg, allow_drift)
    return cfg
