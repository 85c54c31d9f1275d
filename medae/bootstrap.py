"""The one start-up of a medae process: config resolvers, the registries, and a frozen import heap.

Importing medae registers nothing, changes no ``sys.path`` and freezes nothing. A command that composes a
config calls :func:`bootstrap` first: :mod:`medae.cli` for every Hydra command, ``reproduce`` and
``resume``; a Hydra command's module for the processes that launchers and DDP start on it
(``python -m medae.commands.train``); :func:`medae.commands.compose.compose_train` for notebooks and scripts.
"""

import gc
import logging
import warnings

from omegaconf import OmegaConf

# the modules that register medae's own models, data sources and applications
BUILT_IN = (
    "medae.models.aae.lightning_model",
    "medae.models.autoencoder_kl.lightning_model",
    "medae.models.conv.lightning_model",
    "medae.models.dense.lightning_model",
    "medae.models.mae.lightning_model",
    "medae.models.redcnn.lightning_model",
    "medae.models.sparse.lightning_model",
    "medae.models.unet.lightning_model",
    "medae.models.vae.lightning_model",
    "medae.models.vaegan.lightning_model",
    "medae.models.vqvae.lightning_model",
    "medae.data.mni152",
    "medae.data.medmnist",
    "medae.data.mednist",
    "medae.data.folder",
    "medae.data.dicom",
    "medae.data.ixi",
    "medae.data.bids_dataset",
    "medae.data.brats",
    "medae.data.ldct",
    "medae.applications.denoising",
    "medae.applications.anomaly",
    "medae.applications.compression",
    "medae.applications.classification",
    "medae.applications.segmentation",
    "medae.applications.generation",
)
_done = False
# library notices every run would print, each known and harmless here: (message pattern, why it is hidden)
KNOWN_WARNINGS = (
    (r".*LeafSpec.*", "a deprecation inside torch and Lightning's own pytree code, not in medae's"),
    (
        r".*NvImgCodecPydicomReader.*",
        "MONAI's optional GPU DICOM decoder is absent; pydicom decodes, as intended",
    ),
    (r".*flops_per_batch.*", "medae's throughput monitor reports images/s, not FLOPs"),
    (r".*smaller than the logging interval.*", "short runs: training metrics are logged per epoch as well"),
)
KNOWN_LOG_LINES = (
    ("lightning.pytorch.utilities.rank_zero", "💡 Tip:", "Lightning's advert for its cloud services"),
    ("monai.data.nvimgcodec_pydicom_plugin", "nvImageCodec is not available", "the GPU decoder, see above"),
)


class _DropLines(logging.Filter):
    """Drop records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefix)


def quiet_known_notices() -> None:
    """Hide the library warnings and log lines of :data:`KNOWN_WARNINGS` and :data:`KNOWN_LOG_LINES`.

    Every medae command printed the same ones on every run; each is listed with why it is harmless.
    Any other warning still shows.
    """
    for pattern, _ in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name, prefix, _ in KNOWN_LOG_LINES:
        logging.getLogger(name).addFilter(_DropLines(prefix))


def direction(metric: str) -> str:
    """Whether a sweeper maximises or minimises ``metric``: ``minimize`` for losses and errors.

    Example:
        >>> direction("val/psnr_best"), direction("val/loss")
        ('maximize', 'minimize')
    """
    lower_is_better = ("loss", "mse", "mae", "rmse", "lpips", "fid")
    name = metric.rpartition("/")[2].removesuffix("_best")
    return "minimize" if name.startswith(lower_is_better) else "maximize"


def register_resolvers() -> None:
    """The interpolations medae's configs use besides OmegaConf's own.

    - ``${root_dir:}`` and ``${store_uri:${paths.root_dir}}`` (``conf/paths``): the one definition of
      where outputs and the MLflow store go (:mod:`medae.tracking.schema`), resolvable before Hydra's
      own config exists (sweeps).
    - ``${shared_data:}``: the shared data folder beside the project (:func:`shared_data_dir`).
    - ``${direction:${optimized_metric}}`` (``conf/hparams_search/optuna.yaml``).
    """
    from medae.tracking.schema import root_dir, shared_data_dir, store_uri

    OmegaConf.register_new_resolver("root_dir", root_dir, replace=True)
    OmegaConf.register_new_resolver("shared_data", shared_data_dir, replace=True)
    OmegaConf.register_new_resolver("direction", direction, replace=True)
    OmegaConf.register_new_resolver("store_uri", store_uri, replace=True)


def freeze_imported_objects() -> None:
    """Collect once, then exempt every object alive now from later collections (``gc.freeze``).

    Once torch, Lightning, MONAI and MLflow are imported, about 600,000 objects are tracked, and every full
    collection walks all of them (0.25 s). One such collection made the set-up of a 120-file DICOM series
    take twice as long as MONAI's reader in the same process. Objects created later are collected as
    usual; the frozen ones are module-level state that lives as long as the process anyway. Loader
    workers forked afterwards also leave these objects' pages shared.

    Example:
        >>> freeze_imported_objects()
        >>> gc.get_freeze_count() > 0
        True
    """
    gc.collect()
    gc.freeze()


def bootstrap() -> None:
    """Start medae in this process: resolvers, registries, Trainer defaults, then a frozen heap.

    The registries get medae's own entries and the user's extensions; Lightning's Trainer defaults become
    the config ``trainer/lightning``. Runs once per process; later calls return at once.

    Example:
        >>> bootstrap()
        >>> from medae.models.registry import MODELS
        >>> "conv" in MODELS
        True
    """
    global _done
    if _done:
        return
    from medae.config.extensions import load_extensions
    from medae.config.trainer_options import register_trainer_defaults

    register_resolvers()
    quiet_known_notices()
    load_extensions(BUILT_IN)
    register_trainer_defaults()
    freeze_imported_objects()
    _done = True
