"""A trained network as a file other software runs: ONNX (onnxruntime, any language) or TorchScript.

The file maps images ``(N, C, *spatial)``, preprocessed as the run's data was, to reconstructions. A JSON
sidecar beside it (``<file>.json``) says what a caller needs: the input's name and shape, the channels,
the intensity preprocessing and how to invert it, the value range, the model's variant and run. Before
anything is written the exported model runs on real inputs and its largest absolute difference from
PyTorch is measured; above the tolerance, nothing is written.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medae.errors import ConfigError, DataError
from medae.inference.trained_model import TrainedModel

FORMATS = ("onnx", "torchscript")
INPUT_NAME, OUTPUT_NAME = "images", "reconstruction"


class ReconstructionNetwork(nn.Module):
    """A medae network with a plain tensor out: images in, reconstructions out."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``images``."""
        return self.network(images).reconstruction


def write_onnx(network: nn.Module, example: torch.Tensor, path: Path) -> np.ndarray:
    """Export ``network`` to ONNX at ``path`` (batch size free); its onnxruntime output for ``example``."""
    for name in ("onnx_ir", "onnxscript", "torch.onnx"):  # a line per optimisation pass otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    # it says it skips torchvision's detection ops, which no medae network uses
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        import onnxruntime
    except ImportError as error:
        raise ConfigError(
            "format", "onnx needs onnx, onnxscript and onnxruntime: pip install medae[export]"
        ) from error
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(
        network,
        (example,),
        str(path),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: batch},),
        external_data=False,  # one file: the weights inside it
        verbose=False,
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: example.numpy()})[0]


def write_torchscript(network: nn.Module, example: torch.Tensor, path: Path) -> np.ndarray:
    """Trace ``network`` to TorchScript at ``path``; the loaded file's output for ``example``."""
    torch.jit.trace(network, example).save(str(path))
    with torch.no_grad():
        return torch.jit.load(str(path))(example).numpy()


WRITERS = {"onnx": write_onnx, "torchscript": write_torchscript}


def sidecar(
    model: TrainedModel, fmt: str, path: Path, example: torch.Tensor, difference: float
) -> dict[str, Any]:
    """What a caller of the exported file needs to know, as JSON values."""
    prep = model.preprocessing
    return {
        "format": fmt,
        "file": path.name,
        "input": {"name": INPUT_NAME, "shape": ["batch", *example.shape[1:]], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", *example.shape[1:]], "dtype": "float32"},
        "preprocessing": prep.to_dict(),
        "value_range": list(prep.value_range),
        "steps": [
            "map intensities with 'preprocessing.intensity' (medae.data.intensity.intensity_transform); "
            "its inverse maps 'value_range' back to the scan's units (FittedIntensity.inverse)",
            f"cut volumes into slices along axis {prep.axis} for a 2D model",
            f"resize so the longest side is {prep.image_size} (anti-aliased); pad with value_range[0]",
        ],
        "variant": model.variant,
        "application": model.application,
        "run_id": model.run_id,
        "max_abs_difference": difference,
    }


@torch.no_grad()
def export(
    model: TrainedModel, fmt: str, output: Path, example: torch.Tensor, tolerance: float = 1e-4
) -> dict[str, Any]:
    """Write the model as ``fmt`` at ``output`` with its sidecar, if it matches PyTorch on ``example``.

    Raises:
        ConfigError: an unknown format.
        DataError: the exported model differs from PyTorch by more than ``tolerance``.
    """
    if fmt not in FORMATS:
        raise ConfigError("format", f"unknown '{fmt}'; allowed: {', '.join(FORMATS)}")
    network = ReconstructionNetwork(model.network).eval()
    expected = network(example).numpy()
    staged = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        exported = WRITERS[fmt](network, example, staged)
        difference = float(np.abs(exported - expected).max())
        if difference > tolerance:
            raise DataError(
                str(output),
                f"the {fmt} model differs from PyTorch by up to {difference:.2e} on real inputs, more than "
                f"the tolerance {tolerance:g}; nothing was written",
            )
        os.replace(staged, output)
    finally:
        staged.unlink(missing_ok=True)
    described = sidecar(model, fmt, output, example, difference)
    output.with_name(output.name + ".json").write_text(json.dumps(described, indent=2))
    return described
