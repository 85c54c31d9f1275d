"""Data pipeline: images/s from NIfTI and DICOM files, cold (read, preprocess, cache) and cached.

The cold figure is set beside MONAI's own reader on the same files (``LoadImage``, then the same
slicing, scaling and transforms), measured in the same run.
"""

import statistics
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from monai.transforms import LoadImage, Orientation
from pydicom.data import get_testdata_file
from scipy import ndimage

from medae.commands.compose import compose_train
from medae.data.dicom_series import DicomSeries
from medae.data.file_datamodule import FileDataModule
from medae.data.foreground_mask import head_mask
from medae.data.image_reading import ImageSource
from medae.data.mni152 import MNI152DataModule
from medae.data.orientation import AXIS_NAMES
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
    source = get_testdata_file("CT_small.dcm")
    if not isinstance(source, str):
        raise RuntimeError("pydicom's test file CT_small.dcm is missing")
    header = pydicom.dcmread(source)
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


def monai_reference(datamodule: FileDataModule, reader: str | None) -> float:
    """Images/s of MONAI's ``LoadImage`` and ``Orientation``, then medae's scaling, mask, slicing, transforms.

    Only the samples the data module kept are transformed and counted (a slab split drops the slices
    between slabs), so both pipelines deliver the same images.
    """
    kept = {item["position"] for dataset in datamodule.datasets.values() for item in dataset.data}
    load = LoadImage(reader=reader, image_only=True, ensure_channel_first=True)
    orient = Orientation(axcodes="RAS", labels=None)
    transform = datamodule.cached_transform()
    axis = AXIS_NAMES[datamodule.axis]
    start, images = time.perf_counter(), 0
    for record in datamodule.records():
        image = np.asarray(datamodule.scale(orient(load(monai_path(record.path))).numpy()), dtype=np.float32)
        for index, sample in datamodule.samples({"image": image, "mask": head_mask(image)}):
            if f"{record.path.name}:{axis}:{index}" in kept:
                transform(sample)
                images += 1
    return images / (time.perf_counter() - start)


def monai_path(source: ImageSource) -> str:
    """What MONAI's ``LoadImage`` reads for a source: a file, or a DICOM series' folder."""
    return str(source.location if isinstance(source, DicomSeries) else source)


def file_datamodule(overrides: list[str]) -> FileDataModule:
    """The data module of the train config with ``overrides``: one that reads files."""
    datamodule = build_datamodule(compose_train(overrides).data)
    if not isinstance(datamodule, FileDataModule):
        raise TypeError(f"the data pipeline benchmark reads files; {type(datamodule).__name__} reads none")
    return datamodule


def cold_setup(overrides: list[str]) -> tuple[FileDataModule, float]:
    """A fresh data module, set up; with its images/s (read, preprocess, cache)."""
    datamodule = file_datamodule(overrides)
    start = time.perf_counter()
    datamodule.setup()
    return datamodule, sum(datamodule.split_sizes().values()) / (time.perf_counter() - start)


def throughput(overrides: list[str], repeats: int, reader: str | None = None) -> dict[str, float]:
    """Images/s of fresh set-ups (cold; 0 and 2 workers) and of one pass over the cached training split.

    MONAI's reader (``reader``; None lets MONAI choose) reads the same files in the same run, for
    ``monai_cold_images_per_s``: every reader reads from the page cache, so the ratio compares pipelines.
    Cold figures are medians of ``repeats`` runs, medae's and MONAI's alternating.
    """
    warm_up = file_datamodule(overrides)  # one-time imports and decoder set-up
    first = warm_up.records()[0]
    warm_up.load(first.path)
    LoadImage(reader=reader, image_only=True)(monai_path(first.path))
    cold, monai_cold = [], []
    for _ in range(repeats):
        datamodule, images_per_s = cold_setup(overrides)
        cold.append(images_per_s)
        monai_cold.append(monai_reference(datamodule, reader))
    _, cold_two_workers = cold_setup([*overrides, "data.num_workers=2"])
    start = time.perf_counter()
    delivered = sum(len(batch) for batch in datamodule.train_dataloader())
    cached = time.perf_counter() - start
    return {
        "images": sum(datamodule.split_sizes().values()),
        "cold_images_per_s": statistics.median(cold),
        "monai_cold_images_per_s": statistics.median(monai_cold),
        "cold_ratio_to_monai": statistics.median(cold) / statistics.median(monai_cold),
        "cold_repeats": repeats,
        "cold_images_per_s_2_workers": cold_two_workers,
        "cached_images_per_s": delivered / cached,
    }


def measure(workdir: Path, quick: bool, seed: int) -> dict[str, dict[str, float]]:
    """Write the files, then measure each source."""
    nifti, dicom = workdir / "nifti", workdir / "dicom" / "series-01"
    write_nifti_subjects(nifti, 3 if quick else 6, seed)
    write_dicom_series(dicom, 80 if quick else 120, 128)
    repeats = 1 if quick else 3
    return {
        "nifti": throughput(["data=nifti", f"data.root={nifti}"], repeats),
        "dicom": throughput(
            ["data=dicom", "data.layout=series", f"data.root={dicom.parent}", "data.window=brain"],
            repeats,
            reader="PydicomReader",
        ),
    }
