"""Data pipeline: images/s from NIfTI and DICOM files, cold (read, preprocess, cache) and cached."""

import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from scipy import ndimage

from medae.compose import compose_train
from medae.data.mni152 import MNI152DataModule
from medae.data.registry import build_datamodule

HU_RANGE = (-1000.0, 1000.0)


def write_nifti_subjects(folder: Path, count: int, seed: int) -> None:
    """``count`` subjects: the MNI152 T1 template with a random gain, bias field and noise, as .nii.gz."""
    folder.mkdir(parents=True, exist_ok=True)
    template = MNI152DataModule().volume
    rng = np.random.default_rng(seed)
    for index in range(count):
        bias = ndimage.zoom(rng.uniform(0.9, 1.1, (4, 4, 4)), np.array(template.shape) / 4, order=1)
        volume = (
            template
            * rng.uniform(0.8, 1.2)
            * bias[: template.shape[0], : template.shape[1], : template.shape[2]]
        )
        volume = volume + rng.normal(0, 0.01, template.shape)
        nib.save(
            nib.Nifti1Image((1000 * volume).astype(np.int16), np.eye(4)),
            folder / f"sub-{index:02d}_T1w.nii.gz",
        )


def write_dicom_series(folder: Path, slices: int, size: int) -> None:
    """A CT-like series of ``slices`` axial DICOM files cut from the template, on CT_small's header."""
    folder.mkdir(parents=True, exist_ok=True)
    template = MNI152DataModule().volume
    header = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for index, z in enumerate(np.linspace(20, template.shape[2] - 20, slices).astype(int)):
        plane = ndimage.zoom(template[:, :, z], size / np.array(template.shape[:2]), order=1)[:size, :size]
        hu = HU_RANGE[0] + plane * (HU_RANGE[1] - HU_RANGE[0])
        dataset = header.copy()
        dataset.Rows, dataset.Columns = plane.shape
        dataset.RescaleSlope, dataset.RescaleIntercept = 1, -1024
        dataset.PixelData = (hu + 1024).astype(np.int16).tobytes()
        dataset.ImagePositionPatient = [0.0, 0.0, float(z)]
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.InstanceNumber = index + 1
        dataset.SOPInstanceUID = pydicom.uid.generate_uid()
        dataset.save_as(folder / f"slice_{index:03d}.dcm")


def throughput(overrides: list[str]) -> dict[str, float]:
    """Images/s of a fresh data module's set-up (cold) and of one pass over its cached training split."""
    datamodule = build_datamodule(compose_train(overrides).data)
    start = time.perf_counter()
    datamodule.setup()
    cold = time.perf_counter() - start
    total = sum(datamodule.split_sizes().values())
    start = time.perf_counter()
    delivered = sum(len(batch["image"]) for batch in datamodule.train_dataloader())
    cached = time.perf_counter() - start
    return {"images": total, "cold_images_per_s": total / cold, "cached_images_per_s": delivered / cached}


def measure(workdir: Path, quick: bool, seed: int) -> dict[str, dict[str, float]]:
    """Write the files, then measure each source."""
    nifti, dicom = workdir / "nifti", workdir / "dicom" / "series-01"
    write_nifti_subjects(nifti, 3 if quick else 6, seed)
    write_dicom_series(dicom, 40 if quick else 120, 128)
    return {
        "nifti": throughput(["data=nifti", f"data.root={nifti}"]),
        "dicom": throughput(
            ["data=dicom", "data.layout=series", f"data.root={dicom.parent}", "data.window=brain"]
        ),
    }
