"""The ``medae`` command: train, eval, reproduce, resume, runs and the catalogs.

It imports only the standard library at the top: ``medae --help`` and the catalogs answer without torch,
Lightning or MLflow, and each command imports what it needs when it runs.
"""

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from medae.errors import exit_on_user_error

USAGE = """usage: medae COMMAND [ARGS]

commands:
  train      train a model; Hydra overrides (key=value, group=option), -m to sweep
             e.g. medae train model.latent_channels=16 data.noise_std=0.1
  eval       test a checkpoint: medae eval ckpt_path=PATH [data=<name>]
  baseline   run a classical denoiser on a data set's noisy test images as an MLflow run
             e.g. medae baseline method=bm3d data.noise_std=0.1   (methods: gaussian, nlm, tv, bm3d, bm4d)
  encode     write the latent codes of a split: medae encode ckpt_path=PATH [split=test] [output=codes.npz]
  decode     restore images from codes: medae decode ckpt_path=PATH codes=codes.npz [output=decoded.npz]
  predict    apply a model to new scans, results in each scan's grid:
             medae predict ckpt_path=REF input=FILE|SERIES|FOLDER output=FOLDER [reference=FILE]
  export     write a model as ONNX or TorchScript with a JSON sidecar:
             medae export ckpt_path=REF format=onnx|torchscript output=FILE
  serve      serve a logged model over HTTP (MLflow's scoring server, the model checked first):
             medae serve RUN_ID [--port 5001]; POST {"inputs": scans N x C x H x W} to /invocations
  reproduce  re-train an MLflow run's job (rebuilt from medae's configs and its recorded overrides) and
             compare: medae reproduce RUN_ID [--allow-data-change] [--allow-drift] [--config-dir DIR]
  resume     continue an interrupted run in the same MLflow run: medae resume RUN_ID [--allow-drift]
  runs       list the store's runs (reads only): medae runs [--experiment NAME] [--repair]
  models     list the autoencoder variants and their options (model=<name>);
             medae models show RUN_ID|models:/NAME/VERSION prints a logged model's card
  data       list the data sources and their options (data=<name>)
  applications
             list the applications and their options (application=<name>)
"""
HYDRA_COMMANDS = {
    "train": "medae.commands.train:main",
    "eval": "medae.commands.evaluate:main",
    "baseline": "medae.commands.baseline:main",
    "encode": "medae.commands.codes:encode_main",
    "decode": "medae.commands.codes:decode_main",
    "predict": "medae.commands.predict:main",
    "export": "medae.commands.export:main",
}
ARGPARSE_COMMANDS = {
    "reproduce": "medae.commands.reproduce:main",
    "resume": "medae.commands.resume:main",
    "runs": "medae.commands.runs:main",
    "serve": "medae.commands.serve:main",
}
# `medae models` lists the config group `model`, and so on
CATALOGS = {"models": "model", "data": "data", "applications": "application"}
COMMANDS = (*HYDRA_COMMANDS, *ARGPARSE_COMMANDS, *CATALOGS)
CHECKED_FLAGS = ("-m", "--multirun")
# commands that read the data config stored in a checkpoint (see onto_stored_data)
STORED_DATA_COMMANDS = ("eval", "encode", "decode")
CONFIG_DIR_FLAGS = ("--config-dir", "-cd")


def check_before_hydra(command: str, overrides: list[str]) -> None:
    """Check the overrides, required keys, output folder and tracking store before Hydra writes anything."""
    from omegaconf import OmegaConf

    from medae.bootstrap import register_resolvers
    from medae.config.checks import CONFIG_DIR, check_overrides

    register_resolvers()
    cfg = check_overrides(CONFIG_DIR, command, overrides)
    tracking_uri = OmegaConf.select(cfg, "logger.mlflow.tracking_uri")
    if tracking_uri:
        from medae.tracking.store import check_reachable  # MLflow: 1-2 s to import, after the checks

        check_reachable(tracking_uri, write=True)


def user_config_dirs(args: list[str]) -> tuple[list[str], list[str]]:
    """The folders of ``--config-dir DIR`` (or ``-cd DIR``, ``--config-dir=DIR``), and the other arguments.

    Example:
        >>> user_config_dirs(["-cd", "/conf", "data=mine"])
        (['/conf'], ['data=mine'])
    """
    folders, rest = [], []
    arguments = iter(args)
    for arg in arguments:
        flag, equals, value = arg.partition("=")
        if flag in CONFIG_DIR_FLAGS:
            folders.append(value if equals else next(arguments, ""))
        else:
            rest.append(arg)
    return folders, rest


def entry_point(target: str) -> Callable[..., Any]:
    """The ``module:function`` a command runs, imported; then the objects imports created are frozen."""
    from medae.bootstrap import freeze_imported_objects

    module, function = target.split(":")
    entry: Callable[..., Any] = getattr(importlib.import_module(module), function)
    freeze_imported_objects()
    return entry


def onto_stored_data(command: str, args: list[str]) -> list[str]:
    """``data.<key>=<value>`` as ``+data.<key>=<value>`` for a command that reads a checkpoint's data config.

    ``eval``, ``encode`` and ``decode`` take the data config stored in the checkpoint unless ``data=<name>``
    chooses another; without that choice a ``data.`` override changes the stored config
    (:func:`medae.config.run_parts.checkpoint_data_config`), e.g. ``data.held_out=[]``.

    Example:
        >>> onto_stored_data("eval", ["ckpt_path=x", "data.held_out=[]"])
        ['ckpt_path=x', '+data.held_out=[]']
        >>> onto_stored_data("eval", ["data=nifti", "data.root=scans"])
        ['data=nifti', 'data.root=scans']
    """
    if command not in STORED_DATA_COMMANDS or any(arg.startswith("data=") for arg in args):
        return args
    return [f"+{arg}" if arg.startswith("data.") else arg for arg in args]


def run_hydra_command(command: str, args: list[str]) -> None:
    """Check the overrides in one line per error, bootstrap, then hand the arguments to the entry point.

    The check reads the shipped schema (:mod:`medae.config.schema`), so a bad value is refused before
    torch is imported; with user extensions the bootstrap comes first and the registries are read.
    """
    from medae.bootstrap import bootstrap
    from medae.config.extensions import has_user_extensions

    args = onto_stored_data(command, args)
    folders, checked = user_config_dirs(args)
    if has_user_extensions():
        exit_on_user_error(bootstrap)
    if all(arg in CHECKED_FLAGS for arg in checked if arg.startswith("-")):
        overrides = [arg for arg in checked if not arg.startswith("-")]
        from medae.config.checks import searchpath_overrides

        exit_on_user_error(check_before_hydra, command, searchpath_overrides(folders, overrides))
    exit_on_user_error(bootstrap)
    from medae.compat import hand_over_to_hydra

    target = HYDRA_COMMANDS[command]
    # Hydra's parser takes its flags before the overrides only: --config-dir may stand anywhere here
    ordered = [part for folder in folders for part in ("--config-dir", folder)] + checked
    hand_over_to_hydra(f"medae {command}", ordered, target.split(":")[0])
    entry_point(target)()


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch ``medae COMMAND ARGS``."""
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps one-line messages alone
    # MLflow's own "View run" line prints the tracking URI's user and password; medae prints it without them
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # MLflow retries a request for minutes by default; a store that is away is handled by medae instead
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = args[0], args[1:]
    if command in ("reproduce", "resume"):
        from medae.bootstrap import bootstrap

        exit_on_user_error(bootstrap)
    if command in HYDRA_COMMANDS and any(arg in ("-h", "--help") for arg in rest):
        from medae.config.command_help import command_help

        print(command_help(command))
    elif command in HYDRA_COMMANDS:
        run_hydra_command(command, rest)
    elif command in ARGPARSE_COMMANDS:
        entry_point(ARGPARSE_COMMANDS[command])(rest)
    elif command == "models" and rest[:1] == ["show"]:
        entry_point("medae.commands.models_show:main")(rest[1:])
    elif command in CATALOGS:
        from medae.commands.catalog import format_catalog

        print(exit_on_user_error(format_catalog, CATALOGS[command]))
    else:
        print(
            f"medae: error: unknown command '{command}'; allowed: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
