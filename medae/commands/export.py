"""Write a trained model as ONNX or TorchScript: ``medae export ckpt_path=REF format=onnx output=FILE``.

See :mod:`medae.inference.export`: the file comes with a JSON sidecar and is written only when it matches
PyTorch on real inputs (a given scan's samples, or the run's own test images) within ``tolerance``.
"""

import logging
from pathlib import Path
from typing import cast

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from medae.bootstrap import bootstrap
from medae.config.run_parts import CONFIG_DIR
from medae.data.registry import build_datamodule
from medae.errors import exit_on_user_error
from medae.inference.export import export
from medae.inference.scans import read_scan
from medae.inference.trained_model import TrainedModel

bootstrap()  # the launcher entry: job processes of parallel launchers start here

log = logging.getLogger(__name__)
EXAMPLES = 4


def real_inputs(model: TrainedModel, scan: str | None) -> torch.Tensor:
    """Up to :data:`EXAMPLES` model-sized inputs: the given scan's samples, or the run's test images."""
    log.info("reading %s", f"the samples of {scan}" if scan else "the run's test images (its data set up)")
    if scan is not None:
        prep = model.preprocessing
        pixels = read_scan(Path(scan).expanduser(), prep.channels, spacing=prep.resample_spacing).pixels
        inputs, _ = prep.prepare(pixels, scan)
        return cast(torch.Tensor, inputs)[:EXAMPLES]  # a tensor: no sliding windows here
    datamodule = build_datamodule(OmegaConf.create(model.data))
    datamodule.setup()
    return next(iter(datamodule.clean_dataloader("test", batch_size=EXAMPLES))).image


def export_command(cfg: DictConfig) -> dict:
    """Load, check on real inputs and write the model; its sidecar. Each step says when it starts."""
    log.info("loading %s", cfg.ckpt_path)
    model = TrainedModel.load(
        cfg.ckpt_path, cfg.paths.tracking_uri, cfg.paths.cache_dir, cfg.trust_checkpoint
    )
    output = Path(cfg.output).expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    inputs = real_inputs(model, cfg.input)
    log.info("writing %s as %s and checking it against PyTorch on %d inputs", output, cfg.format, len(inputs))
    return export(model, cfg.format, output, inputs, cfg.tolerance)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: export, print the file, its sidecar and the difference from PyTorch."""
    described = exit_on_user_error(export_command, cfg)
    output = Path(cfg.output).expanduser()
    print(
        f"medae: wrote {output} ({described['format']}) and {output.name}.json; largest difference from "
        f"PyTorch on {EXAMPLES} real inputs: {described['max_abs_difference']:.2e}"
    )


if __name__ == "__main__":
    main()
