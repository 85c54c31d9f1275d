"""Fill the registries: medae's own models, data sources and applications, then the user's extensions.

A user's module registers its entries with the same decorators medae's own use
(``MODELS``, ``DATA_SOURCES``, ``APPLICATIONS``), and is found in one of two ways:
the ``medae.extensions`` entry point group of an installed package, or ``MEDAE_EXTENSIONS``, a comma-separated
list of modules importable from the working folder or ``PYTHONPATH``.
"""

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

from medae.errors import ConfigError

ENTRY_POINT_GROUP = "medae.extensions"
EXTENSIONS_VARIABLE = "MEDAE_EXTENSIONS"


@contextlib.contextmanager
def working_folder_importable() -> Iterator[None]:
    """Put the working folder at the end of ``sys.path`` for the ``with`` block, as ``python -m`` would."""
    added = os.getcwd() not in sys.path
    if added:
        sys.path.append(os.getcwd())
    try:
        yield
    finally:
        if added:
            sys.path.remove(os.getcwd())


def has_user_extensions() -> bool:
    """Whether an installed package or ``MEDAE_EXTENSIONS`` adds entries beside medae's own."""
    return bool(user_extensions()) or bool(entry_points(group=ENTRY_POINT_GROUP))


def user_extensions() -> list[str]:
    """The modules named by ``MEDAE_EXTENSIONS``, in order."""
    return [name.strip() for name in os.environ.get(EXTENSIONS_VARIABLE, "").split(",") if name.strip()]


def load_extensions(built_in: tuple[str, ...]) -> None:
    """Import each module that registers entries: ``built_in`` (medae's own), entry points, the variable.

    The working folder is on ``sys.path`` only while the variable's modules are imported.
    """
    for name in built_in:
        importlib.import_module(name)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()
    for name in user_extensions():
        try:
            with working_folder_importable():
                importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(
                EXTENSIONS_VARIABLE,
                f"cannot import '{name}' ({error}); name modules importable from the working folder "
                "or PYTHONPATH, separated by commas",
            ) from error
