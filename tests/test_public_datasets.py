"""Public datasets read as distributed: replicas with the release's own names, synthetic voxels."""

import math
import shutil
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from medae.commands.train import train
from medae.data.bids_dataset import BIDSDataModule
from medae.data.brats import BraTSDataModule
from medae.data.file_datamodule import FileDataModule
from medae.data.ixi import IXIDataModule
from medae.data.ldct import LowDoseCTDataModule
from medae.errors import ConfigError, DataError
from tests.data_files import (
    BIDS_IMAGES,
    BRATS_PATIENTS,
    IXI_SUBJECTS,
    LDCT_PATIENTS,
    ldct_name,
    template_head,
    write_bids,
    write_brats,
    write_ixi,
    write_ldct,
)


@pytest.fixture(scope="module")
def ixi(tmp_path_factory):
    folder = tmp_path_factory.mktemp("IXI")
    return folder, write_ixi(folder)


def subjects_of(data: FileDataModule, split: str) -> set[str]:
    return {item["subject"] for item in data.datasets[split].data}


def test_ixi_is_read_by_subject_in_ras_with_each_contrast_apart(ixi):
    folder, volumes = ixi
    data = IXIDataModule(root=str(folder), image_size=32, min_foreground=0.2)
    records = data.records()
    assert [record.subject for record in records] == [f"IXI{number}" for number, _, _ in IXI_SUBJECTS]
    assert all(record.path.name.endswith("-T1.nii.gz") for record in records)
    assert data.site_of["IXI035"] == "IOP" and data.site_of["IXI002"] == "Guys"
    # stored sagittal-first, read in RAS: the array is the subject's volume, so axial slices are axial
    loaded = data.load(records[0].path)["image"][0]
    assert loaded.shape == volumes["IXI002"].shape
    assert np.corrcoef(loaded.ravel(), volumes["IXI002"].ravel())[0, 1] > 0.99
    t2 = IXIDataModule(root=str(folder), contrasts=["T2"]).records()
    assert [record.path.parent.name for record in t2] == ["IXI-T2"] * len(IXI_SUBJECTS)


def test_ixi_splits_by_subject_or_holds_out_a_site(ixi):
    folder, _ = ixi
    data = IXIDataModule(root=str(folder), image_size=32, val_fraction=0.25, test_fraction=0.25)
    data.setup()
    splits = {name: subjects_of(data, name) for name in ("train", "val", "test")}
    assert sum(len(subjects) for subjects in splits.values()) == len(IXI_SUBJECTS)
    assert all(splits.values()) and not (splits["train"] & (splits["val"] | splits["test"]))
    # cross-site: trained on Guy's and Hammersmith, tested on the Institute of Psychiatry's GE scanner
    site = IXIDataModule(root=str(folder), image_size=32, test_sites=("IOP",), val_fraction=0.2)
    site.setup()
    assert subjects_of(site, "test") == {"IXI035", "IXI036"}
    assert len(subjects_of(site, "val")) == 1 and len(subjects_of(site, "train")) == 5
    hammersmith = IXIDataModule(root=str(folder), sites=("HH",), image_size=32).records()
    assert [record.subject for record in hammersmith] == ["IXI012", "IXI013", "IXI014"]


def test_ixi_settings_and_files_that_cannot_be_used_say_which(ixi, tmp_path):
    folder, _ = ixi
    with pytest.raises(ConfigError, match=r"^data.sites: unknown site 'KCL'; allowed: Guys, HH, IOP$"):
        IXIDataModule(root=str(folder), sites=("KCL",))
    no_site = r"^data.test_sites: \['HH'\] leaves no site of data.sites \['HH'\] to train on$"
    with pytest.raises(ConfigError, match=no_site):
        IXIDataModule(root=str(folder), sites=("HH",), test_sites=("HH",))
    with pytest.raises(DataError, match="has no subject with IXI PD files at sites Guys, HH, IOP"):
        IXIDataModule(root=str(folder), contrasts=["PD"]).records()
    with pytest.raises(
        ConfigError, match=r"^data.channels: is 1, but data.contrasts names 2; set data.channels=2"
    ):
        IXIDataModule(root=str(folder), contrasts=["T1", "T2"], channels=1)
    copy = tmp_path / "IXI"
    shutil.copytree(folder / "IXI-T1", copy / "IXI-T1")
    (copy / "again").mkdir()
    shutil.copy(copy / "IXI-T1" / "IXI002-Guys-0828-T1.nii.gz", copy / "again")
    with pytest.raises(DataError, match=r"again/IXI002-Guys-0828-T1.nii.gz: is a second T1 file of IXI002"):
        IXIDataModule(root=str(copy)).records()


def test_ixi_contrasts_are_channels_on_the_first_ones_grid_each_scaled_alone(ixi, tmp_path, caplog):
    folder, volumes = ixi
    copy = tmp_path / "IXI"
    shutil.copytree(folder, copy)
    # IXI002's T1 on a grid of its own: 8 mm voxels whose centres are every other 4 mm voxel of the T2's
    t1 = volumes["IXI002"][::2, ::2, ::2]
    nib.save(nib.Nifti1Image(t1.astype(np.float32), np.diag([8.0, 8.0, 8.0, 1.0])),
             copy / "IXI-T1" / "IXI002-Guys-0828-T1.nii.gz")  # fmt: skip
    (copy / "IXI-T1" / "IXI012-HH-1211-T1.nii.gz").unlink()  # a subject without every contrast
    data = IXIDataModule(root=str(copy), contrasts=["T2", "T1"], channels=2, image_size=32)
    with caplog.at_level("WARNING"):
        records = data.records()
    assert "1 subject(s) lack one of T2, T1 and are left out: IXI012" in caplog.text
    assert [record.subject for record in records] == [f"IXI{n}" for n, _, _ in IXI_SUBJECTS if n != "012"]
    assert records[0].path.name == "IXI002-Guys-0828-T2.nii.gz"
    image = data.load(records[0].path)["image"]
    assert image.shape == (2, *volumes["IXI002"].shape)
    # each channel is scaled by its own percentiles: both reach 1
    assert image[0].max() == pytest.approx(1.0) and image[1].max() == pytest.approx(1.0)
    # on the T2 grid, the T1 voxels that coincide with its 8 mm centres carry its values exactly
    expected = np.asarray(data.scale(volumes["IXI002"][None]))[0][::2, ::2, ::2]
    assert np.abs(image[1][::2, ::2, ::2] - expected).max() < 1e-4
    assert np.corrcoef(image[1].ravel(), np.asarray(data.scale(volumes["IXI002"][None])).ravel())[0, 1] > 0.95
    # a contrast somewhere else in scanner coordinates is refused, naming its file
    shifted = np.diag([8.0, 8.0, 8.0, 1.0])
    shifted[:3, 3] = 500.0
    nib.save(nib.Nifti1Image(t1.astype(np.float32), shifted), copy / "IXI-T1" / "IXI002-Guys-0828-T1.nii.gz")
    with pytest.raises(DataError, match=r"IXI002-Guys-0828-T1.nii.gz: covers 0% of the reference contrast"):
        data.load(records[0].path)


@pytest.mark.slow
def test_an_autoencoder_trains_and_is_scored_on_two_ixi_contrasts(tmp_path, make_config):
    write_ixi(tmp_path / "IXI", contrasts=("T2", "PD"))
    cfg = make_config(
        "data=ixi", f"data.root={tmp_path / 'IXI'}", "data.contrasts=[T2,PD]", "data.channels=2",
        "data.val_fraction=0.25", "data.test_fraction=0.25",
    )  # fmt: skip
    result = train(cfg)
    assert 5 < result.metrics["test/psnr_fg"] < 60
    run = mlflow.MlflowClient(cfg.logger.mlflow.tracking_uri).get_run(result.run_id)
    assert run.data.params["data.contrasts"] == "['T2', 'PD']"


@pytest.fixture(scope="module")
def bids_root(tmp_path_factory):
    return write_bids(tmp_path_factory.mktemp("ds") / "replica")


def test_bids_images_of_one_suffix_keep_each_subjects_sessions_and_runs_together(bids_root):
    data = BIDSDataModule(root=str(bids_root), image_size=32, label_column="group")
    records = data.records()
    t1w = [relative for relative, _ in BIDS_IMAGES if relative.endswith("_T1w.nii.gz")]
    assert [str(record.path.relative_to(bids_root)) for record in records] == sorted(t1w)
    assert [record.subject for record in records] == ["sub-01"] * 2 + ["sub-02"] * 2 + [
        f"sub-0{index}" for index in range(3, 7)
    ]
    # participants.tsv: odd participants are patients (1), even ones controls (0)
    assert [record.label for record in records] == [1, 1, 0, 0, 1, 0, 1, 0]
    data.setup()
    splits = {name: subjects_of(data, name) for name in ("train", "val", "test")}
    assert all(splits.values()) and sum(map(len, splits.values())) == 6
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"])
    # entities filter as BIDS defines them; other suffixes are their own sources
    runs = BIDSDataModule(root=str(bids_root), filters={"run": 2}).records()
    assert [record.path.name for record in runs] == ["sub-02_run-2_T1w.nii.gz"]
    t2w = BIDSDataModule(root=str(bids_root), contrasts=["T2w"]).records()
    assert [(record.subject, record.path.name) for record in t2w] == [("sub-02", "sub-02_T2w.nii.gz")]


def test_bids_suffixes_as_channels_pair_the_images_of_a_subjects_session(bids_root, tmp_path, caplog):
    data = BIDSDataModule(root=str(bids_root), contrasts=["T1w", "T2w"], channels=2)
    with caplog.at_level("WARNING"):
        records = data.records()
    # sub-02's two T1w runs each go with its one T2w; the T1w images without a T2w are left out
    assert [record.path.name for record in records] == ["sub-02_run-1_T1w.nii.gz", "sub-02_run-2_T1w.nii.gz"]
    assert "6 image(s) lack a partner of T2w and are left out: sub-01_ses-1_T1w.nii.gz" in caplog.text
    image = data.load(records[0].path)["image"]
    t1w, t2w = (np.asarray(data.scale(template_head(index)[None]))[0] for index in (2, 4))
    assert image.shape[0] == 2 and np.abs(image[1] - t2w).max() < 1e-5 and np.abs(image[0] - t1w).max() < 1e-5
    # two T2w runs and a T1w without a run: which goes with it is for the user to say
    ambiguous = tmp_path / "ds"
    shutil.copytree(bids_root, ambiguous)
    anat = ambiguous / "sub-03" / "anat"
    for run in (1, 2):
        shutil.copy(anat / "sub-03_T1w.nii.gz", anat / f"sub-03_run-{run}_T2w.nii.gz")
    with pytest.raises(DataError, match=r"sub-03_T1w.nii.gz: could go with any of sub-03_run-1_T2w.nii.gz, "):
        BIDSDataModule(root=str(ambiguous), contrasts=["T1w", "T2w"], channels=2).records()


def test_bids_folders_and_tables_that_cannot_be_used_say_which(bids_root, tmp_path):
    with pytest.raises(DataError, match=r"has no dataset_description.json, so it is not the root of a BIDS"):
        BIDSDataModule(root=str(bids_root / "sub-01")).records()
    misspelt = r"^data.filters: 'sesion' is not a BIDS entity; allowed: .*, session"
    with pytest.raises(ConfigError, match=misspelt):
        BIDSDataModule(root=str(bids_root), filters={"sesion": "1"}).records()
    with pytest.raises(DataError, match=r"has no image with suffix=FLAIR, datatype=anat"):
        BIDSDataModule(root=str(bids_root), contrasts=["FLAIR"]).records()
    with pytest.raises(DataError, match=r"participants.tsv: needs the columns participant_id and diagnosis"):
        BIDSDataModule(root=str(bids_root), label_column="diagnosis").records()
    partial = tmp_path / "partial"
    shutil.copytree(bids_root, partial)
    (partial / "participants.tsv").write_text("participant_id\tgroup\nsub-01\tpatient\nsub-02\tn/a\n")
    unlabelled = r"participants.tsv: has no group for sub-02, whose image is .*sub-02_run-1"
    with pytest.raises(DataError, match=unlabelled):
        BIDSDataModule(root=str(partial), label_column="group").records()


@pytest.fixture(scope="module")
def brats(tmp_path_factory):
    folder = tmp_path_factory.mktemp("BraTS")
    return folder, write_brats(folder)


def test_brats_contrasts_are_channels_in_ras_with_the_tumour_labels_of_both_releases(brats):
    folder, labels = brats
    data = BraTSDataModule(root=str(folder), image_size=32)
    records = data.records()
    # a 2023 patient's time points (-000, -001) are one subject, so they share a split
    assert [record.path.name for record in records] == sorted(BRATS_PATIENTS)
    assert [record.subject for record in records][1:3] == ["BraTS-GLI-00006", "BraTS-GLI-00006"]
    for patient in ("BraTS2021_00000", "BraTS-GLI-00005-000"):
        loaded = data.load(folder / patient)
        assert loaded["image"].shape == (4, *labels[patient].shape)  # stored LPS, read RAS
        expected = np.where(labels[patient] == 4, 3, labels[patient])  # 2023 numbering for both releases
        assert np.array_equal(loaded["segmentation"][0], expected)
        assert set(np.unique(loaded["segmentation"])) == {0, 1, 2, 3}
        # each contrast scaled on its own; the brain is where any contrast is non-zero
        assert all(float(channel.max()) == pytest.approx(1.0) for channel in loaded["image"])
        assert np.array_equal(loaded["mask"][0], template_head(0) > 0)
    flair_only = BraTSDataModule(root=str(folder), contrasts=("flair",), image_size=32)
    assert flair_only.load(folder / "BraTS-GLI-00005-000")["image"].shape[0] == 1


def test_brats_trains_on_healthy_slices_and_tests_on_every_slice_of_unseen_patients(brats):
    folder, labels = brats
    data = BraTSDataModule(root=str(folder), image_size=32, val_fraction=0.2, test_fraction=0.2)
    data.setup()
    items = {name: data.datasets[name].data for name in ("train", "val", "test")}
    patients = {name: {item["subject"] for item in split} for name, split in items.items()}
    assert not (patients["train"] & patients["val"]) and not (patients["train"] & patients["test"])
    assert {item["label"] for item in items["train"]} == {0}  # tumour-free slices only
    tumour_slices = [item for name in ("val", "test") for item in items[name] if item["label"] == 1]
    assert tumour_slices and data.datasets["test"][0]["segmentation"].shape == (1, 32, 32)
    everything = BraTSDataModule(root=str(folder), image_size=32, train_slices="all")
    everything.setup()
    assert {item["label"] for item in everything.datasets["train"].data} == {0, 1}


def test_brats_patients_and_settings_that_cannot_be_used_say_which(brats, tmp_path):
    folder, _ = brats
    channels = r"^data.channels: is 3, but data.contrasts names 4; set data.channels=4$"
    with pytest.raises(ConfigError, match=channels):
        BraTSDataModule(root=str(folder), channels=3)
    with pytest.raises(ConfigError, match=r"^data.train_slices: healthy keeps tumour-free 2D slices"):
        BraTSDataModule(root=str(folder), spatial_dims=3)
    copy = tmp_path / "BraTS"
    shutil.copytree(folder / "BraTS2021_00000", copy / "BraTS2021_00000")
    (copy / "BraTS2021_00000" / "BraTS2021_00000_t2.nii.gz").unlink()
    missing = r"BraTS2021_00000_t2.nii.gz: is missing; every patient folder needs its t2 file$"
    with pytest.raises(DataError, match=missing):
        BraTSDataModule(root=str(copy)).load(copy / "BraTS2021_00000")
    flair = copy / "BraTS2021_00000" / "BraTS2021_00000_flair.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), flair)
    (copy / "BraTS2021_00000" / "BraTS2021_00000_t2.nii.gz").write_bytes(flair.read_bytes())
    with pytest.raises(DataError, match=r"_t2.nii.gz: is \[8, 8, 8\] voxels where the labels are"):
        BraTSDataModule(root=str(copy)).load(copy / "BraTS2021_00000")


@pytest.mark.slow
def test_an_autoencoder_trained_on_healthy_brats_slices_is_scored_against_the_tumours(brats, make_config):
    folder, _ = brats
    cfg = make_config(
        "data=brats", f"data.root={folder}", "data.image_size=32", "data.val_fraction=0.34",
        "data.test_fraction=0.34", "application=anomaly", "application.synthetic_lesions=false",
        "application.pca_components=4",
    )  # fmt: skip
    result = train(cfg)
    for method in ("autoencoder", "intensity", "pca"):
        for key in ("image_auroc", "pixel_ap", "dice", "best_dice"):
            assert 0 <= result.metrics[f"anomaly/{method}/{key}"] <= 1, (method, key)
    # the replica's tumours are bright in every contrast: thresholding intensity finds them
    assert result.metrics["anomaly/intensity/pixel_ap"] > 0.3


@pytest.fixture(scope="module")
def ldct(tmp_path_factory):
    folder = tmp_path_factory.mktemp("Mayo")
    write_ldct(folder)
    return folder


def test_ldct_pairs_each_quarter_dose_slice_with_the_full_dose_slice_at_its_position(ldct):
    data = LowDoseCTDataModule(root=str(ldct), image_size=32)
    assert [record.subject for record in data.records()] == list(LDCT_PATIENTS)
    loaded = data.load(ldct / "L067")
    assert loaded["image"].shape == loaded["input"].shape == (1, 128, 128, 6)
    # the same slice at two doses: the difference is the inserted noise (40 HU of a 4096 HU window)
    difference = (loaded["input"] - loaded["image"]) * 4096
    assert abs(float(difference.mean())) < 2 and float(difference.std()) == pytest.approx(40, rel=0.1)
    data.setup()
    assert data.noisy and data.paired
    item = data.datasets["test"][0]
    assert item["input"].shape == item["image"].shape == (1, 32, 32)
    batch = next(iter(data.test_dataloader()))
    assert not torch.equal(batch.input, batch.image)  # the real quarter dose, not a copy
    assert float((batch.input - batch.image).abs().mean()) < 0.02
    # augmentation changes the two doses of a slice alike: flipped, gamma and scale together
    augmented = LowDoseCTDataModule(root=str(ldct), image_size=32, augmentation=("flip", "gamma", "scale"))
    augmented.setup()
    torch.manual_seed(0)
    for batch in augmented.train_dataloader():
        assert float((batch.input - batch.image).abs().mean()) < 0.03


def test_ldct_series_that_cannot_be_paired_say_which_file(ldct, tmp_path):
    copy = tmp_path / "Mayo"
    shutil.copytree(ldct / "L067", copy / "L067")
    extra = copy / "L067" / "quarter_1mm" / ldct_name("L067", "QD", 1, 0)
    header = pydicom.dcmread(extra)
    header.ImagePositionPatient = [-80.0, -80.0, -50.0]
    header.save_as(extra)
    unpaired = r"L067_QD_1_1\.CT\.0002\.0001\..*\.IMA: has no full-dose slice at position -50 mm"
    with pytest.raises(DataError, match=unpaired):
        LowDoseCTDataModule(root=str(copy)).load(copy / "L067")
    shutil.rmtree(copy / "L067" / "quarter_1mm")
    with pytest.raises(
        DataError, match=r"L067/quarter_1mm: is missing; every patient needs its quarter-dose"
    ):
        LowDoseCTDataModule(root=str(copy)).load(copy / "L067")
    with pytest.raises(ConfigError, match=r"^data.noise_std: must be 0 for data=ldct"):
        LowDoseCTDataModule(root=str(copy), noise_std=0.1)
    with pytest.raises(DataError, match=r"has no patient folder with a full_3mm series"):
        LowDoseCTDataModule(root=str(copy), thickness=3).records()


def ldct_overrides(root: Path) -> list[str]:
    return ["data=ldct", f"data.root={root}", "data.image_size=32", "data.val_fraction=0.25",
            "data.test_fraction=0.25", "application=denoising"]  # fmt: skip


@pytest.mark.slow
def test_red_cnn_and_bm3d_denoise_the_real_quarter_dose_with_an_estimated_noise_level(ldct, make_config):
    cfg = make_config(
        *ldct_overrides(ldct),
        "model=redcnn",
        "application.tune_images=2",
        "application.baselines=[gaussian,bm3d]",
    )
    metrics = train(cfg).metrics
    # one condition, the data's own quarter dose: no oracle row, no synthetic levels
    assert not any("oracle" in key or "/at_" in key for key in metrics)
    for method in ("autoencoder", "gaussian", "bm3d"):
        assert metrics[f"denoising/{method}/input_psnr_fg"] == pytest.approx(
            metrics["denoising/autoencoder/input_psnr_fg"]
        )
    # 40 HU of noise in a 4096 HU window is 40 dB at 128 px, more once resized to 32 px (averaged down);
    # BM3D at the level it estimates from each slice removes some of it
    assert 45 < metrics["denoising/autoencoder/input_psnr_fg"] < 65
    assert metrics["denoising/bm3d/psnr_fg_gain"] > 0
    with pytest.raises(ConfigError, match=r"^application.noise_levels: adds synthetic noise"):
        train(make_config(*ldct_overrides(ldct), "application.noise_levels=[0.1]"))


# each preset on its replica, shrunk to a CPU smoke run
PRESET_RUNS = {
    "anomaly_brats": ["model.channels=[8,16,16]", "application.pca_components=4"],
    "denoise_ldct": ["model.channels=8", "application.tune_images=2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESET_RUNS))
def test_the_presets_of_the_public_datasets_run_on_their_replicas(preset, brats, ldct, make_config):
    root = brats[0] if preset == "anomaly_brats" else ldct
    cfg = make_config(
        f"experiment={preset}", f"data.root={root}", "data.image_size=32", "data.val_fraction=0.34",
        "data.test_fraction=0.34", *PRESET_RUNS[preset],
    )  # fmt: skip
    metrics = train(cfg).metrics
    key = "anomaly/autoencoder/pixel_ap" if preset == "anomaly_brats" else "denoising/bm3d/psnr_fg_gain"
    assert math.isfinite(metrics[key])


def test_file_sources_at_full_resolution_keep_their_grid_and_cut_pairs_and_labels_with_the_patch(brats, ldct):
    folder, labels = brats
    data = BraTSDataModule(
        root=str(folder), full_resolution=True, image_size=16, val_fraction=0.2, test_fraction=0.2
    )
    data.setup()
    item = data.datasets["test"][0]
    patient = item["position"].split(":")[0]
    shape = labels[patient].shape
    # axial slices of the RAS volume at its own size, the tumour labels on the same grid
    assert tuple(item["image"].shape) == (4, shape[0], shape[1]) and item["segmentation"].shape == (
        1,
        *shape[:2],
    )
    batch = next(iter(data.train_dataloader()))
    assert tuple(batch.image.shape[1:]) == (4, 16, 16) and tuple(batch.segmentation.shape[1:]) == (1, 16, 16)
    # the quarter-dose input is cut at the same place as its full-dose target
    paired = LowDoseCTDataModule(root=str(ldct), full_resolution=True, image_size=32)
    paired.setup()
    assert tuple(paired.datasets["test"][0]["image"].shape) == (1, 128, 128)
    torch.manual_seed(0)
    batch = next(iter(paired.train_dataloader()))
    assert tuple(batch.input.shape[1:]) == (1, 32, 32)
    assert float((batch.input - batch.image).abs().mean()) < 0.02  # the same anatomy in both
