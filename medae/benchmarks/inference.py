"""Applying a trained model: ``medae predict``'s pipeline against a bare loop, onnxruntime against PyTorch.

Both are measured side by side in one process, alternating, on the same files and network:

- predict: :func:`medae.inference.prediction.predict_scan` over NIfTI volumes, as ``medae predict`` runs it
  (read, intensity mapping, slicing, resizing, network, inverse mapping, resizing back, the NIfTI written
  while the next scan runs), against the loop a user would write by hand for the same files: nibabel
  reads each file, it is min-max scaled, its slices resized and padded with the MONAI transforms training
  uses, run through the same network, cropped, resized back, scaled back and saved with nibabel as
  ``.nii.gz``. Slices per second.
- export: the ONNX file ``medae export`` writes, run by onnxruntime on the CPU, against the PyTorch
  network, on batches of 32 model-sized slices. Images per second.
"""

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np
import onnxruntime
import torch
from monai.transforms import Resize, SpatialPad
from scipy.ndimage import zoom

from medae.benchmarks.trained_models import train_for_benchmark
from medae.data.mni152 import mni152_template
from medae.inference.export import INPUT_NAME, ReconstructionNetwork, write_onnx
from medae.inference.prediction import predict_scan
from medae.inference.preprocessing import ScanPreprocessing
from medae.inference.trained_model import TrainedModel

BATCH = 32


def write_volumes(folder: Path, count: int) -> list[Path]:
    """``count`` NIfTI volumes: the MNI152 template at 1.5 mm, each with its own intensity scale."""
    template = zoom(mni152_template(), 1 / 1.5, order=1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"subject_{index:02d}.nii.gz"
        nib.save(
            nib.Nifti1Image((template * (500 + 100 * index)).astype(np.float32), np.diag([1.5] * 3 + [1])),
            path,
        )
        paths.append(path)
    return paths


@torch.no_grad()
def bare_loop(network: torch.nn.Module, paths: list[Path], size: int, folder: Path) -> int:
    """Each file read, scaled, resized, run, restored and saved with no medae code; the slices it ran."""
    slices = 0
    for path in paths:
        image = cast(nib.Nifti1Image, nib.load(path))
        volume = np.asarray(image.get_fdata(), dtype=np.float32)
        low, high = volume.min(), volume.max()
        stack = np.moveaxis((volume - low) / (high - low), 2, 0)  # slices as the channels of one image
        resized = Resize(size, size_mode="longest", anti_aliasing=True)(stack)
        padded = torch.as_tensor(np.asarray(SpatialPad([size, size])(resized)))[:, None]
        output = torch.cat([network(chunk).reconstruction for chunk in padded.split(BATCH)])[:, 0]
        top, left = (size - resized.shape[1]) // 2, (size - resized.shape[2]) // 2
        cropped = output[:, top : top + resized.shape[1], left : left + resized.shape[2]]
        back = np.asarray(Resize(list(stack.shape[1:]))(cropped)) * (high - low) + low
        nib.save(nib.Nifti1Image(np.moveaxis(back, 0, 2), image.affine), folder / path.name)
        slices += len(stack)
    return slices


def measure(workdir: Path, quick: bool) -> dict[str, float]:
    """Slices per second of predict and of the bare loop; images per second of onnxruntime and PyTorch."""
    trained = train_for_benchmark(["trainer.max_epochs=1", "debug=limit"], workdir / "inference_model")
    module = trained.module
    if module.run_config is None:
        raise RuntimeError("the benchmark's checkpoint holds no run config")
    model = TrainedModel(
        module.network.eval(),
        ScanPreprocessing.from_data_config(module.run_config["data"]),
        module.registry_name,
    )
    paths = write_volumes(workdir / "inference_scans", 2 if quick else 6)
    repeats = 1 if quick else 3
    predict_rates, bare_rates = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(dir=workdir) as out:
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=1) as writer:  # as medae predict writes
                slices = sum(
                    predict_scan(model, path, Path(out), writer=writer)[0]["samples"] for path in paths
                )
            predict_rates.append(slices / (time.perf_counter() - start))
        with tempfile.TemporaryDirectory(dir=workdir) as out:
            start = time.perf_counter()
            slices = bare_loop(model.network, paths, model.preprocessing.image_size, Path(out))
            bare_rates.append(slices / (time.perf_counter() - start))
    network = ReconstructionNetwork(model.network).eval()
    batch = trained.test.image[:BATCH]
    onnx_file = workdir / "inference_model.onnx"
    write_onnx(network, batch, onnx_file)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    runs = 5 if quick else 20
    ort_rates, torch_rates = [], []
    with torch.no_grad():
        for _ in range(runs):
            start = time.perf_counter()
            session.run(None, {INPUT_NAME: batch.numpy()})
            ort_rates.append(len(batch) / (time.perf_counter() - start))
            start = time.perf_counter()
            network(batch)
            torch_rates.append(len(batch) / (time.perf_counter() - start))
    figures = {
        "predict_slices_per_s": statistics.median(predict_rates),
        "bare_slices_per_s": statistics.median(bare_rates),
        "onnxruntime_images_per_s": statistics.median(ort_rates),
        "pytorch_images_per_s": statistics.median(torch_rates),
        "files": len(paths),
        "slices_per_file": slices / len(paths),
    }
    figures["predict_ratio"] = figures["predict_slices_per_s"] / figures["bare_slices_per_s"]
    figures["onnxruntime_ratio"] = figures["onnxruntime_images_per_s"] / figures["pytorch_images_per_s"]
    return figures
