"""One scan through a trained model: results written over the scan, and a row of the predictions table.

What is written follows the run's application (its registered ``ScanPrediction``): the reconstruction
(``denoised`` for a denoising run) in the scan's units; the application's maps (in the network's
intensity units) and columns, e.g. an anomaly run's map and image scores as the run chose on validation
data; latent codes for a compression run, or when asked (``codes``), from a network that encodes. Given a
reference scan (clean or full dose, in the same grid), PSNR and SSIM over the whole image and over the
foreground (a mask file beside the reference or the scan, else the head mask, as training scores), slice
by slice for a 2D model, with medae's metric definitions.
"""

from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medae.data.dicom_series import DicomSeries
from medae.data.domain_profile import DomainProfile, edge_brightness
from medae.data.foreground_mask import HEAD_MASK_METHOD, find_mask_file, head_mask, read_mask_file
from medae.data.image_reading import ImageSource
from medae.data.intensity import fit_intensity
from medae.data.orientation import ras_spacing
from medae.errors import DataError
from medae.inference.scans import Scan, read_scan
from medae.inference.trained_model import TrainedModel
from medae.metrics import quality


def scan_foreground(pixels: np.ndarray, scans: list[Scan], model: TrainedModel) -> tuple[np.ndarray, str]:
    """The foreground of ``pixels`` ``(C, *spatial)``, on the grid of ``scans``, and what it is.

    The mask file beside the first of ``scans`` that has one, else the head mask of ``pixels``, as
    training scores.
    """
    for scan in scans:
        mask_path = find_mask_file(scan.path)
        if mask_path is not None:
            spacing = model.preprocessing.resample_spacing
            return read_mask_file(mask_path, pixels.shape[1:], scan.path, spacing), mask_path.name
    return head_mask(pixels), HEAD_MASK_METHOD


def as_samples(volume: np.ndarray, model: TrainedModel) -> torch.Tensor:
    """A scan ``(C, *spatial)`` as the samples the metrics score: its slices for a 2D model, else itself."""
    prep = model.preprocessing
    if volume.ndim - 1 == prep.spatial_dims:
        return torch.from_numpy(volume)[None]
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(volume, prep.axis + 1, 0)))


def reference_quality(
    image: np.ndarray, reference: Scan, scan: Scan, model: TrainedModel
) -> dict[str, float | str]:
    """PSNR and SSIM of ``image`` against ``reference``, both mapped as the reference's intensities are."""
    if reference.pixels.shape != scan.pixels.shape:
        raise DataError(
            str(reference.path),
            f"is {list(reference.pixels.shape)}, the scan {list(scan.pixels.shape)}; "
            "a reference must be in the scan's grid",
        )
    fitted = fit_intensity(reference.pixels, **model.preprocessing.intensity)
    clean_volume = fitted.forward(reference.pixels)
    clean = as_samples(clean_volume, model)
    output = as_samples(fitted.forward(image), model)
    mask_volume, mask_name = scan_foreground(clean_volume, [reference, scan], model)
    mask = as_samples(mask_volume, model)
    scored = mask.flatten(1).any(dim=1)  # slices without foreground are left out, as training drops them
    metrics = quality(output[scored], clean[scored], model.preprocessing.value_range, mask[scored])
    row = {f"reference_{key.removeprefix('test/')}": value for key, value in metrics.items()}
    return {**row, "reference_mask": mask_name}


def masked_input(scan: Scan, model: TrainedModel) -> np.ndarray:
    """The scan's pixels with every voxel outside its mask file set to the scan's minimum.

    Raises:
        DataError: the scan has no mask file beside it.
    """
    mask_path = find_mask_file(scan.path)
    if mask_path is None:
        raise DataError(
            str(scan.path), f"has no mask file beside it ({scan.name}_mask.nii.gz); mask_input=true needs one"
        )
    spacing = model.preprocessing.resample_spacing
    mask = read_mask_file(mask_path, scan.pixels.shape[1:], scan.path, spacing)
    return np.where(mask, scan.pixels, scan.pixels.min()).astype(np.float32)


@torch.no_grad()
def predict_scan(
    model: TrainedModel,
    path: ImageSource,
    folder: Path,
    reference: ImageSource | None = None,
    sliding_window: bool = False,
    max_image_bytes: int = 2**32,
    codes: bool = False,
    writer: Executor | None = None,
    mask_input: bool = False,
) -> tuple[dict[str, Any], list[Future]]:
    """Predict one scan, write its results into ``folder``; its row of the predictions table and the writes.

    Args:
        model: the trained model.
        path: the scan (a file, a DICOM series folder, or a series found in a folder).
        folder: where its results go.
        reference: a clean or full-dose scan in the same grid, to score against.
        sliding_window: run over windows at the scan's own resolution instead of resizing; always so for a
            model trained at full resolution (``data.full_resolution``).
        max_image_bytes: the most pixel bytes a file may declare.
        codes: also write latent codes.
        writer: an executor that writes the result files while the next scan is computed; without one they
            are written before this returns. The futures it returns raise what a write raised.
        mask_input: set the voxels outside the scan's mask file to its minimum before the model (a brain
            mask makes a head look like skull-stripped training data).

    The row's ``domain_warnings`` column holds one message per way a volume is unlike the model's training
    volumes (:meth:`DomainProfile.mismatches`), empty when it is alike.

    Raises:
        DataError: the scan (or its reference) cannot be read, or does not fit the model.
    """
    writes: list[Future] = []

    def save(job: Callable[[], None]) -> None:
        if writer is None:
            job()
        else:
            writes.append(writer.submit(job))

    prep = model.preprocessing
    sliding_window = sliding_window or prep.full_resolution
    scan = read_scan(path, prep.channels, max_image_bytes, prep.resample_spacing)
    if mask_input:
        scan.pixels = masked_input(scan, model)
    inputs, restore = prep.prepare(scan.pixels, str(path), sliding_window)
    # shape and voxel size in the file's own axis order, as the results are written
    row: dict[str, Any] = {"file": str(path), "shape": "x".join(str(s) for s in scan.stored_shape)}
    if scan.stored_spacing is not None:
        row["spacing"] = "x".join(f"{size:.4g}" for size in scan.stored_spacing)
    if scan.canonical is not None and prep.resample_spacing:  # the grid the model saw (RAS)
        row["resampled_shape"] = "x".join(str(size) for size in scan.pixels.shape[1:])
        row["resampled_spacing"] = "x".join(f"{size:.4g}" for size in prep.resample_spacing)
    if model.domain is not None and scan.canonical is not None and scan.affine is not None:
        profile = DomainProfile(
            edge_brightness(scan.pixels, scan.canonical.spacing), ras_spacing(scan.affine)
        )
        row["domain_warnings"] = " | ".join(model.domain.mismatches(profile))
    if isinstance(path, DicomSeries):
        row |= {"series_uid": path.uid, "series_kind": path.kind}
    row["samples"] = len(inputs)
    role = model.prediction
    outputs: torch.Tensor | list[torch.Tensor]
    if role.maps is not None and role.map_name and isinstance(inputs, torch.Tensor) and not sliding_window:
        mask_volume, mask_name = scan_foreground(scan.pixels, [scan], model)
        if role.mask_column:
            row[role.mask_column] = mask_name
        foreground = prep.mask_to_model(mask_volume)
        found = role.maps(model.network, inputs, foreground, prep.value_range, model.chosen, model.prepared)
        outputs, top = found.reconstructions, float(found.maps.max()) or 1.0
        map_volume, map_path = (
            restore(found.maps, in_scan_units=False),
            scan.result_path(folder, role.map_name),
        )
        save(lambda: scan.write(map_volume, map_path, (0.0, top)))
        row |= {role.map_name: map_path.name, **found.columns}
    else:
        outputs = model.reconstruct(inputs)
    kind = role.result_name
    image = restore(outputs)
    scan_range = (float(scan.pixels.min()), float(scan.pixels.max()))
    save(lambda: scan.write(image, scan.result_path(folder, kind), scan_range))
    row[kind] = scan.result_path(folder, kind).name
    if (
        model.encodes
        and isinstance(inputs, torch.Tensor)
        and not sliding_window
        and (codes or role.writes_codes)
    ):
        latent = model.codes(inputs).numpy()
        save(lambda: np.save(folder / f"{scan.name}_codes.npy", latent))
        row["codes"] = f"{scan.name}_codes.npy"
    if reference is not None:
        reference_scan = read_scan(reference, prep.channels, max_image_bytes, prep.resample_spacing)
        row |= reference_quality(image, reference_scan, scan, model)
    return row, writes
