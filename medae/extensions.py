"""Fill the registries: medae's own models, data sources and applications, then the user's extensions.

A user's module registers its entries with the same decorators medae's own use
(``MODELS``, ``DATA_SOURCES``, ``APPLICATIONS``), and is found in one of two ways:
the ``medae.extensions`` entry point group of an installed package, or ``MEDAE_EXTENSIONS``, a comma-separated
list of modules importable from the working folder or ``PYTHONPATH``.
"""

import importlib
import os
import sys
from importlib.metadata import entry_points

from medae.errors import ConfigError

ENTRY_POINT_GROUP = "medae.extensions"
EXTENSIONS_VARIABLE = "MEDAE_EXTENSIONS"
BUILT_IN = (
    "medae.models.conv.lightning_model",
    "medae.models.dense.lightning_model",
    "medae.models.redcnn.lightning_model",
    "medae.models.sparse.lightning_model",
    "medae.models.unet.lightning_model",
    "medae.models.vae.lightning_model",
    "medae.models.vqvae.lightning_model",
    "medae.data.mni152",
    "medae.data.medmnist",
    "medae.data.mednist",
    "medae.data.folder",
    "medae.data.dicom",
    "medae.applications.denoising",
    "medae.applications.anomaly",
    "medae.applications.compression",
    "medae.applications.classification",
    "medae.applications.segmentation",
    "medae.applications.generation",
)


def user_extensions() -> list[str]:
    """The modules named by ``MEDAE_EXTENSIONS``, in order."""
    return [name.strip() for name in os.environ.get(EXTENSIONS_VARIABLE, "").split(",") if name.strip()]


def load_extensions() -> None:
    """Import every module that registers an entry: medae's own, entry points, then the variable.

    Importing is idempotent, so every command calls this before it composes a config.
    """
    for name in BUILT_IN:
        importlib.import_module(name)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in user_extensions():
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(
                EXTENSIONS_VARIABLE,
                f"cannot import '{name}' ({error}); name modules importable from the working folder "
                "or PYTHONPATH, separated by commas",
            ) from error
