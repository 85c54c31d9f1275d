import csv
import threading
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from medae.commands.train import train
from medae.data import image_reading
from medae.data.dicom import DicomDataModule
from medae.data.dicom_reading import read_dicom_file, read_dicom_series
from medae.data.folder import FolderDataModule
from medae.data.image_reading import read_image
from medae.data.intensity import CT_WINDOWS, intensity_transform, value_range
from medae.data.medmnist import MedMNISTDataModule
from medae.data.mednist import MedNISTDataModule
from medae.errors import ConfigError, DataError
from medae.evaluation.split_tensors import stack_batches
from tests.conftest import tracking_uri
from tests.data_files import (
    NIBABEL_DATA,
    PNEUMONIAMNIST,
    SKIMAGE_DATA,
    copy_skimage,
    pydicom_file,
    write_bids,
    write_ct_series,
    write_dicom_patients,
    write_grey_images,
    write_ixi,
    write_template_blocks,
)

needs_pneumoniamnist = pytest.mark.skipif(
    not PNEUMONIAMNIST.is_file(), reason="../shared/data/pneumoniamnist.npz absent"
)


# --- DICOM ---------------------------------------------------------------------------------------


def test_ct_dicom_is_read_in_hounsfield_units():
    dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    hu = read_dicom_file(pydicom_file("CT_small.dcm"))
    expected = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    assert dataset.RescaleIntercept == -1024
    np.testing.assert_array_equal(hu, expected)


@pytest.mark.parametrize(
    "name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm"]
)
def test_compressed_dicom_decodes_to_the_uncompressed_pixels(name):
    np.testing.assert_array_equal(
        read_dicom_file(pydicom_file(name)), read_dicom_file(pydicom_file("MR_small.dcm"))
    )


def test_rgb_jpeg_dicom_keeps_or_drops_colour():
    path = pydicom_file("SC_rgb_jpeg_dcmtk.dcm")
    assert read_image(path, channels=3).shape == (3, 100, 100)
    assert read_image(path, channels=1).shape == (1, 100, 100)


def test_dicom_series_is_stacked_by_position_not_by_name_or_instance(tmp_path):
    write_ct_series(tmp_path / "series", positions=[5.0, -5.0, 0.0, 10.0])
    volume = read_dicom_series(sorted((tmp_path / "series").iterdir()), "series")
    base = read_dicom_file(pydicom_file("CT_small.dcm"))
    offsets = [(volume[i] - base).mean() for i in range(4)]
    # slice i was written with offset 10*i at z = [5, -5, 0, 10][i]; sorted by z: slices 1, 2, 0, 3
    assert offsets == pytest.approx([10, 20, 0, 30])


def test_a_dicom_series_is_cut_into_axial_slices_in_ras(tmp_path):
    write_ct_series(tmp_path / "dicom" / "series", positions=[5.0, -5.0, 0.0, 10.0])
    data = DicomDataModule(root=str(tmp_path / "dicom"), layout="series", window="brain")
    (record,) = data.records()
    volume = data.load(record.path)
    # stored (slice, row, column) with columns towards the left and rows towards posterior (LPS 1/0/0/0/1/0):
    # in RAS the columns become x reversed, the rows y reversed, the slices z from inferior to superior
    stored = data.scale(read_dicom_series(record.path.files, "series")[None])
    assert np.array_equal(volume["image"], np.transpose(stored, (0, 3, 2, 1))[:, ::-1, ::-1])
    samples = data.samples(volume)
    assert [index for index, _ in samples] == [0, 1, 2, 3]  # one axial slice per DICOM file, by position
    assert all(sample["image"].shape == (1, 128, 128) for _, sample in samples)  # CT_small's rows x columns
    assert np.array_equal(samples[1][1]["image"], volume["image"][..., 1])


def test_dicom_source_splits_by_patient(tmp_path):
    sources = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"] * 2
    patients = ["p1", "p2", "p3", "p4", "p1", "p2", "p3", "p4"]
    write_dicom_patients(tmp_path / "dicom", sources, patients)
    data = DicomDataModule(root=str(tmp_path / "dicom"), image_size=32, val_fraction=0.25, test_fraction=0.25)
    data.setup()
    subjects = {name: {item["subject"] for item in data.datasets[name].data} for name in data.datasets}
    assert subjects["train"] | subjects["val"] | subjects["test"] == {"p1", "p2", "p3", "p4"}
    assert not (
        subjects["train"] & subjects["val"]
        or subjects["train"] & subjects["test"]
        or subjects["val"] & subjects["test"]
    )
    assert sum(data.split_sizes().values()) == 8


def test_dicom_of_one_patient_cannot_be_split(tmp_path):
    write_dicom_patients(tmp_path / "dicom", ["CT_small.dcm"] * 3, ["same"] * 3)
    with pytest.raises(DataError, match="1 subject\\(s\\) cannot be split"):
        DicomDataModule(root=str(tmp_path / "dicom"), image_size=32).setup()


# --- NIfTI, PNG/JPEG ---------------------------------------------------------------------------


def test_single_nifti_volume_is_split_by_slabs_without_neighbours():
    data = FolderDataModule(
        root=str(NIBABEL_DATA / "anatomical.nii"), image_size=32, axis="coronal", num_slabs=4, slab_gap=1
    )
    data.setup()
    index = {
        name: sorted(int(i["position"].rsplit(":", 1)[1]) for i in data.datasets[name].data)
        for name in data.datasets
    }
    for a in index:
        for b in index:
            if a != b:
                assert all(abs(x - y) > 1 for x in index[a] for y in index[b])
    assert data.datasets["train"][0]["image"].shape == (1, 32, 32)


def test_4d_nifti_needs_a_volume_index():
    path = NIBABEL_DATA / "example4d.nii.gz"
    with pytest.raises(DataError, match="where 3 are expected; set data.volume_index"):
        FolderDataModule(root=str(path), image_size=32).setup()
    first = read_image(path, channels=1, volume_index=0)
    second = read_image(path, channels=1, volume_index=1)
    assert first.shape == (1, 128, 96, 24)
    assert not np.array_equal(first, second)
    with pytest.raises(DataError, match="volume_index=5 is out of range"):
        read_image(path, channels=1, volume_index=5)


def test_retina_images_grey_or_rgb(tmp_path):
    assert read_image(SKIMAGE_DATA / "retina.jpg", channels=3).shape[0] == 3
    grey = read_image(SKIMAGE_DATA / "retina.jpg", channels=1)
    assert grey.shape[0] == 1 and grey.max() <= 255
    with pytest.raises(DataError, match="grey-level image but data.channels=3"):
        read_image(SKIMAGE_DATA / "microaneurysms.png", channels=3)


def test_folder_of_pngs_with_label_csv_splits_by_subject_and_stratifies(tmp_path):
    paths = write_grey_images(tmp_path / "images", 40)
    rows = [
        {"path": f"images/{p.name}", "label": ["normal", "lesion"][i % 2], "subject": f"s{i // 2}"}
        for i, p in enumerate(paths)
    ]
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "subject"])
        writer.writeheader()
        writer.writerows(rows)
    data = FolderDataModule(root=str(tmp_path), labels_csv=str(tmp_path / "labels.csv"), image_size=16)
    data.setup()
    subjects = {name: {item["subject"] for item in data.datasets[name].data} for name in data.datasets}
    assert not (
        subjects["train"] & subjects["val"]
        or subjects["train"] & subjects["test"]
        or subjects["val"] & subjects["test"]
    )
    labels = {name: sorted({item["label"] for item in data.datasets[name].data}) for name in data.datasets}
    assert labels == {
        "train": [0, 1],
        "val": [0, 1],
        "test": [0, 1],
    }  # "lesion"=0, "normal"=1, both everywhere


def test_class_balanced_sampler_evens_out_labels(tmp_path):
    paths = write_grey_images(tmp_path / "images", 60)
    with (tmp_path / "labels.csv").open("w") as handle:
        handle.write(
            "path,label\n" + "".join(f"images/{p.name},{int(i % 6 == 0)}\n" for i, p in enumerate(paths))
        )
    data = FolderDataModule(
        root=str(tmp_path),
        labels_csv=str(tmp_path / "labels.csv"),
        image_size=16,
        balance_classes=True,
        batch_size=4000,
    )
    data.setup()
    torch.manual_seed(0)
    drawn = torch.cat([next(iter(data.train_dataloader())).label for _ in range(20)])
    assert drawn.float().mean() == pytest.approx(0.5, abs=0.1)  # 1 in 6 without balancing


def test_unlabelled_images_have_no_label_end_to_end(tmp_path):
    write_grey_images(tmp_path / "images", 30)
    data = FolderDataModule(root=str(tmp_path / "images"), image_size=16, batch_size=8)
    data.setup()
    assert all("label" not in item for name in data.datasets for item in data.datasets[name].data)
    assert next(iter(data.train_dataloader())).label is None
    assert stack_batches(data.test_dataloader()).label is None
    balanced = FolderDataModule(root=str(tmp_path / "images"), image_size=16, balance_classes=True)
    balanced.setup()
    with pytest.raises(ConfigError, match="data.balance_classes: needs labelled data"):
        balanced.train_dataloader()


def test_a_label_table_that_labels_some_files_only_is_refused(tmp_path):
    paths = write_grey_images(tmp_path / "images", 6)
    table = tmp_path / "labels.csv"
    table.write_text(
        "path,label\n" + "".join(f"images/{p.name},{'' if i == 3 else 1}\n" for i, p in enumerate(paths))
    )
    data = FolderDataModule(root=str(tmp_path), labels_csv=str(table), image_size=16)
    with pytest.raises(DataError, match="line 5 has no label while other lines do; label every file or none"):
        data.setup()


# --- MedMNIST, MedNIST --------------------------------------------------------------------------


@needs_pneumoniamnist
def test_pneumoniamnist_is_read_as_it_is():
    data = MedMNISTDataModule(root=str(PNEUMONIAMNIST.parent), flag="pneumoniamnist", image_size=28)
    data.setup()
    assert data.split_sizes() == {"train": 4690, "val": 524, "test": 624}
    labels = torch.tensor([item["label"] for item in data.datasets["test"].data])
    assert (labels == 0).sum() == 234 and (labels == 1).sum() == 390
    image = data.datasets["train"][0]["image"]
    assert image.shape == (1, 28, 28)
    assert image.min() >= 0 and image.max() <= 1


@needs_pneumoniamnist
def test_pneumoniamnist_normal_only_for_anomaly_detection():
    data = MedMNISTDataModule(
        root=str(PNEUMONIAMNIST.parent), flag="pneumoniamnist", labels=(0,), image_size=28
    )
    data.setup()
    assert data.split_sizes() == {"train": 1213, "val": 135, "test": 234}


@needs_pneumoniamnist
def test_pneumoniamnist_label_filter_can_spare_the_test_split():
    data = MedMNISTDataModule(
        root=str(PNEUMONIAMNIST.parent), flag="pneumoniamnist", labels=(0,), labels_in=("train", "val")
    )
    data.setup()
    assert data.split_sizes() == {"train": 1213, "val": 135, "test": 624}
    with pytest.raises(ConfigError, match="data.labels_in: unknown split 'tset'; allowed: train, val, test"):
        MedMNISTDataModule(root=str(PNEUMONIAMNIST.parent), labels=(0,), labels_in=("tset",))


def test_medmnist_missing_file_without_download_says_where(tmp_path):
    with pytest.raises(DataError, match="pneumoniamnist_64.npz: not found; set data.root"):
        MedMNISTDataModule(root=str(tmp_path), size=64).setup()


def test_medmnist_download_without_the_package_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="needs the medmnist package"):
        MedMNISTDataModule(root=str(tmp_path), download=True).setup()


def test_medmnist_3d_layout(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 6), ("val", 2), ("test", 2)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 3, (count, 1))
    np.savez(tmp_path / "organmnist3d.npz", **arrays)
    data = MedMNISTDataModule(root=str(tmp_path), flag="organmnist3d", spatial_dims=3, image_size=16)
    data.setup()
    assert data.datasets["train"][0]["image"].shape == (1, 16, 16, 16)
    with pytest.raises(DataError, match="holds 3D images but data.spatial_dims=2"):
        MedMNISTDataModule(root=str(tmp_path), flag="organmnist3d", image_size=16).setup()
    # MedMNIST+ releases 3D subsets at 28 and 64 only; at 64 the file is organmnist3d_64.npz
    with pytest.raises(ConfigError, match=r"^data.size: organmnist3d is released at \[28, 64\] only"):
        MedMNISTDataModule(root=str(tmp_path), flag="organmnist3d", size=128, spatial_dims=3)
    np.savez(tmp_path / "organmnist3d_64.npz", **{key: value.repeat(2, 1).repeat(2, 2).repeat(2, 3)
             if key.endswith("images") else value for key, value in arrays.items()})  # fmt: skip
    large = MedMNISTDataModule(
        root=str(tmp_path), flag="organmnist3d", size=64, spatial_dims=3, image_size=64
    )
    large.setup()
    assert large.datasets["test"][0]["image"].shape == (1, 64, 64, 64)


def test_mednist_layout_from_an_existing_folder(tmp_path):
    for label, name in enumerate(["AbdomenCT", "CXR", "Hand"]):
        write_grey_images(tmp_path / "MedNIST" / name, 6, seed=label)
    data = MedNISTDataModule(root=str(tmp_path), image_size=16, val_fraction=0.2, test_fraction=0.2)
    data.setup()
    for split in ("train", "val", "test"):
        assert sorted({item["label"] for item in data.datasets[split].data}) == [0, 1, 2]
    with pytest.raises(DataError, match="expected root/MedNIST/<class>"):
        MedNISTDataModule(root=str(tmp_path / "nowhere"), image_size=16).setup()


# --- intensities ---------------------------------------------------------------------------------


@pytest.mark.parametrize("window", sorted(CT_WINDOWS))
def test_ct_windows_map_level_to_the_middle_of_the_range(window):
    level, width = CT_WINDOWS[window]
    hu = np.array([[level - width, level - width / 2, level, level + width / 2, level + width]])
    assert intensity_transform("unit", window=window)(hu).tolist() == [[0.0, 0.0, 0.5, 1.0, 1.0]]
    assert intensity_transform("symmetric", window=window)(hu).tolist() == [[-1.0, -1.0, 0.0, 1.0, 1.0]]


def test_percentile_scaling_ignores_outliers():
    image = np.concatenate([np.linspace(0, 100, 1000), [1e6]])[None]
    scaled = intensity_transform("unit", percentiles=[0.5, 99.5])(image)
    assert scaled.max() == 1.0 and np.median(scaled) == pytest.approx(0.5, abs=0.01)


def test_zscore_is_standardised_and_clipped():
    image = np.random.default_rng(0).normal(50, 10, (1, 64, 64))
    image[0, 0, 0] = 1e4
    scaled = intensity_transform("zscore", zscore_clip=3.0)(image)
    assert abs(scaled.mean()) < 0.1 and scaled.max() == 3.0
    assert value_range("zscore", 3.0) == (-3.0, 3.0)


def test_invalid_intensity_options_name_the_key():
    with pytest.raises(ConfigError, match="^data.window: unknown CT window 'liver'"):
        intensity_transform("unit", window="liver")
    with pytest.raises(ConfigError, match="^data.normalization: unknown 'minmax'"):
        intensity_transform("minmax")


# --- bad input ------------------------------------------------------------------------------------


def bad_file(kind: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "truncated":
        path = folder / "truncated.png"
        path.write_bytes((SKIMAGE_DATA / "phantom.png").read_bytes()[:300])
    elif kind == "not_an_image":
        path = folder / "notes.png"
        path.write_text("this is not an image")
    elif kind == "nan":
        path = folder / "nan.npy"
        array = np.ones((16, 16), np.float32)
        array[3, 4] = np.nan
        np.save(path, array)
    elif kind == "constant":
        path = folder / "constant.npy"
        np.save(path, np.full((16, 16), 7.0, np.float32))
    elif kind == "corrupt_dicom":
        path = folder / "corrupt.dcm"
        path.write_bytes(pydicom_file("CT_small.dcm").read_bytes()[:200])
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "cannot be read"),
        ("not_an_image", "cannot be read"),
        ("nan", "has 1 NaN/inf voxels of 256"),
        ("constant", "is constant \\(every voxel = 7\\)"),
        ("corrupt_dicom", "is not a readable DICOM file|pixel data cannot be decoded"),
    ],
)
def test_bad_files_are_named_or_skipped(tmp_path, kind, message):
    write_grey_images(tmp_path / "data", 6)
    path = bad_file(kind, tmp_path / "data")
    with pytest.raises(DataError, match=message) as error:
        FolderDataModule(root=str(tmp_path / "data"), image_size=16).setup()
    assert str(error.value).startswith(str(path))
    skipping = FolderDataModule(root=str(tmp_path / "data"), image_size=16, on_bad_file="skip")
    skipping.setup()
    assert len(skipping.skipped_files) == 1 and skipping.skipped_files[0].startswith(str(path))
    assert sum(skipping.split_sizes().values()) == 6


def test_empty_folder_and_unmatched_patterns(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: is an empty folder|is an empty folder"):
        FolderDataModule(root=str(tmp_path / "empty")).setup()
    write_grey_images(tmp_path / "npy", 3)
    with pytest.raises(DataError, match=r"has no file matching \['\*\*/\*.png'\]"):
        FolderDataModule(root=str(tmp_path / "npy"), patterns=["**/*.png"]).setup()
    with pytest.raises(DataError, match="does not exist"):
        FolderDataModule(root=str(tmp_path / "missing")).setup()


def test_2d_file_among_volumes_is_refused_for_3d_training(tmp_path):
    for index in range(3):
        np.save(
            tmp_path / f"volume_{index}.npy",
            np.random.default_rng(index).random((16, 16, 16)).astype(np.float32),
        )
    np.save(tmp_path / "slice.npy", np.random.default_rng(9).random((16, 16)).astype(np.float32))
    with pytest.raises(DataError, match="slice.npy: has 2 spatial dimensions .* where 3 are expected"):
        FolderDataModule(root=str(tmp_path), spatial_dims=3, image_size=16).setup()


# --- through the pipeline ---------------------------------------------------------------------


@pytest.mark.slow
def test_skipped_files_are_logged_to_mlflow(make_config, tmp_path):
    write_grey_images(tmp_path / "data", 12, size=32)
    bad_file("nan", tmp_path / "data")
    cfg = make_config("data=folder", f"data.root={tmp_path / 'data'}", "data.on_bad_file=skip")
    result = train(cfg)
    run = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(result.run_id)
    assert run.data.tags["medae.skipped_files"] == "1"


SOURCES = {
    "nifti": lambda root: [
        f"data.root={NIBABEL_DATA / 'anatomical.nii'}",
        "data.num_slabs=4",
        "data.slab_gap=1",
        "data.axis=1",
    ],
    "folder": lambda root: [
        f"data.root={root}",
        "data.patterns=[microaneurysms.png,retina.jpg,phantom.png]",
        "data.val_fraction=0.34",
        "data.test_fraction=0.34",
    ],
    "dicom": lambda root: [f"data.root={root / 'dicom'}", "data.window=brain"],
    "medmnist": lambda root: [f"data.root={PNEUMONIAMNIST.parent}"],
    "mednist": lambda root: [f"data.root={root}"],
    "ixi": lambda root: [f"data.root={root / 'IXI'}", "data.test_sites=[IOP]", "data.image_size=32"],
    "bids": lambda root: [f"data.root={root / 'bids'}", "data.label_column=group", "data.image_size=32"],
}


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_trains(make_config, tmp_path, source):
    if source == "medmnist" and not PNEUMONIAMNIST.is_file():
        pytest.skip("../shared/data/pneumoniamnist.npz absent")
    copy_skimage(tmp_path, ["microaneurysms.png", "retina.jpg", "phantom.png"])
    write_dicom_patients(
        tmp_path / "dicom", ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"], ["a", "b", "c"]
    )
    for label, name in enumerate(["AbdomenCT", "CXR", "Hand"]):
        write_grey_images(tmp_path / "MedNIST" / name, 4, seed=label)
    if source == "ixi":
        write_ixi(tmp_path / "IXI", contrasts=("T1",))
    if source == "bids":
        write_bids(tmp_path / "bids")
    cfg = make_config(f"data={source}", *SOURCES[source](tmp_path), "debug=fast_dev_run", "logger=none")
    result = train(cfg)
    assert np.isfinite(result.metrics["test/psnr"]) and result.metrics["test/psnr"] > 0


@pytest.mark.slow
def test_symmetric_normalisation_trains_and_refuses_bce(make_config, tmp_path):
    write_grey_images(tmp_path / "data", 6, size=32)
    overrides = [
        "data=folder",
        f"data.root={tmp_path / 'data'}",
        "data.normalization=symmetric",
        "logger=none",
    ]
    result = train(make_config(*overrides, "debug=fast_dev_run"))
    assert np.isfinite(result.metrics["test/psnr"])
    with pytest.raises(
        ConfigError, match=r"^loss.bce: needs data in \[0, 1\], but the data range is \[-1.0, 1.0\]"
    ):
        train(make_config(*overrides, "loss.mse=0", "loss.bce=1"))


def test_bad_data_fails_before_any_mlflow_run(make_config, tmp_path):
    write_grey_images(tmp_path / "data", 6, size=32)
    bad_file("constant", tmp_path / "data")
    with pytest.raises(DataError, match="constant.npy: is constant"):
        train(make_config("data=folder", f"data.root={tmp_path / 'data'}"))
    assert mlflow.MlflowClient(tracking_uri(tmp_path)).get_experiment_by_name("medae") is None


def test_files_are_read_with_one_monai_loader_per_thread(tmp_path, monkeypatch):
    built = []
    original = image_reading.LoadImage

    def counting_loader(**options):
        built.append(options)
        return original(**options)

    monkeypatch.setattr(image_reading, "LoadImage", counting_loader)
    monkeypatch.setattr(image_reading, "_THREAD_STATE", threading.local())
    paths = write_grey_images(tmp_path, count=5)
    images = [image_reading.read_image(path, channels=1) for path in paths]
    assert len(built) == 1 and all(image.shape == (1, 24, 24) for image in images)


def test_a_file_source_records_the_median_voxel_size_of_its_volumes_in_ras(tmp_path):
    rng = np.random.default_rng(0)
    stored = {  # stored axis order and voxel sizes: x y z at 1 mm, 2 mm; z y x (sagittal-first) at 3, 2, 1 mm
        "a.nii.gz": np.diag([1.0, 1.0, 1.0, 1.0]),
        "b.nii.gz": np.diag([-2.0, 2.0, 2.0, 1.0]),
        "c.nii.gz": np.array([[0, 0, -1.0, 0], [0, 2.0, 0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]]),
    }
    for name, affine in stored.items():
        nib.save(nib.Nifti1Image(rng.random((6, 7, 8), dtype=np.float32), affine), tmp_path / name)
    nib.save(nib.Nifti1Image(rng.random((6, 7), dtype=np.float32), np.eye(4)), tmp_path / "flat.nii.gz")
    data = FolderDataModule(root=str(tmp_path))
    # RAS x: 1, 2, 1 (c's x is its third axis); y: 1, 2, 2; z: 1, 2, 3 (c's z is its first); 2D left out
    assert data.training_spacing() == [1.0, 2.0, 2.0]
    assert FolderDataModule(root=str(tmp_path), spacing=[0.5, 0.5, 3.0]).training_spacing() == [0.5, 0.5, 3.0]
    write_grey_images(tmp_path / "pictures", 2)
    assert FolderDataModule(root=str(tmp_path / "pictures")).training_spacing() is None


def test_two_volumes_are_each_split_by_slabs_and_the_test_says_it_is_not_subject_independent(tmp_path):
    write_template_blocks(tmp_path / "two", 2, size=40)
    data = FolderDataModule(root=str(tmp_path / "two"), image_size=16, num_slabs=8, slab_gap=1)
    data.setup()
    positions = {name: [item["position"] for item in data.datasets[name].data] for name in data.datasets}
    for block in ("block_00.nii.gz", "block_01.nii.gz"):  # each volume gives train, val and test slabs
        slices = {
            name: {int(p.rsplit(":", 1)[1]) for p in found if p.startswith(block)}
            for name, found in positions.items()
        }
        assert all(slices[name] for name in ("train", "val", "test")), slices
        # no slice of a split touches a slice of another: the gaps lie between them
        for one, other in (("train", "val"), ("train", "test"), ("val", "test")):
            assert not any(abs(a - b) <= 1 for a in slices[one] for b in slices[other])
    scored = str(data.scored_sets()["test"])
    assert scored.startswith("2 subject(s), ")
    assert scored.endswith("; NOT subject-independent: 2 subject(s) also in training (other slabs)")
    write_template_blocks(tmp_path / "three", 3, size=24)
    apart = FolderDataModule(root=str(tmp_path / "three"), image_size=16)
    assert "subject-independent" not in str(apart.scored_sets()["test"])  # split by subject
