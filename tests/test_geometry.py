"""Volumes read in RAS with their spacing, slices named by anatomy, masks from files beside the images."""

import nibabel as nib
import numpy as np
import pytest
from nibabel.orientations import axcodes2ornt, ornt_transform
from skimage.data import shepp_logan_phantom

from medae.data.folder import FolderDataModule
from medae.data.foreground_mask import HEAD_MASK_METHOD, MASK_FILE_METHOD, head_mask
from medae.data.mni152 import MNI152DataModule, mni152_image
from medae.data.registry import build_datamodule
from medae.errors import ConfigError, DataError
from medae.inference.scans import read_scan
from tests.conftest import compose_config


def stored_as(image: nib.Nifti1Image, axcodes: str) -> nib.Nifti1Image:
    """``image`` (RAS) stored in another orientation: same world coordinates, other array axes."""
    return image.as_reoriented(ornt_transform(axcodes2ornt("RAS"), axcodes2ornt(axcodes)))


@pytest.fixture(scope="module")
def template_files(tmp_path_factory):
    """The MNI152 T1 stored as RAS and as PIR (array axes towards posterior, inferior, right)."""
    folder = tmp_path_factory.mktemp("orientations")
    template = mni152_image("t1")
    ras = nib.Nifti1Image(template.get_fdata(dtype=np.float32), template.affine)
    nib.save(ras, folder / "ras.nii.gz")
    nib.save(stored_as(ras, "PIR"), folder / "pir.nii.gz")
    return folder, ras


def test_data_nifti_on_a_file_stored_in_another_orientation_gives_axial_slices(template_files, tmp_path):
    folder, ras = template_files
    assert nib.load(folder / "pir.nii.gz").shape == (233, 189, 197)  # y, z, x as stored
    composed = compose_config("train", ["data=nifti", f"data.root={folder / 'pir.nii.gz'}"], tmp_path)
    assert composed.data.axis == "axial"
    data = build_datamodule(composed.data)
    (record,) = data.records()
    loaded = data.load(record.path)
    reference = FolderDataModule(root=str(folder / "ras.nii.gz"), percentiles=[0.5, 99.5])
    assert np.array_equal(loaded["image"], reference.load(folder / "ras.nii.gz")["image"])
    samples = data.samples(loaded)
    index, sample = samples[len(samples) // 2]
    # an axial slice of the template: x by y (197 x 233), the same pixels as the RAS file's slice
    assert sample["image"].shape == (1, 197, 233)
    assert np.array_equal(sample["image"][0], loaded["image"][0, :, :, index])
    assert data._item(record, index, sample)["position"] == f"pir.nii.gz:axial:{index}"
    coronal = FolderDataModule(root=str(folder / "pir.nii.gz"), axis="coronal")
    assert coronal.samples(coronal.load(record.path))[0][1]["image"].shape == (1, 197, 189)


def test_an_unknown_axis_names_the_key_and_the_choices():
    with pytest.raises(
        ConfigError, match=r"data.axis: unknown axis 'transverse'; allowed: sagittal, coronal, axial"
    ):
        FolderDataModule(root="x.nii.gz", axis="transverse")


def test_spacing_resamples_the_volume_and_a_scan_goes_back_to_its_stored_grid(template_files, tmp_path):
    folder, ras = template_files
    # every third axial slice of the template: 1 x 1 x 3 mm voxels, stored as PIR
    thick = nib.Nifti1Image(ras.get_fdata(dtype=np.float32)[:, :, ::3], ras.affine @ np.diag([1, 1, 3, 1]))
    path = tmp_path / "thick.nii.gz"
    nib.save(stored_as(thick, "PIR"), path)
    stored = nib.load(path)
    as_stored = read_scan(path, 1)
    assert as_stored.pixels.shape == (1, 197, 233, 63) and as_stored.canonical.spacing == (1.0, 1.0, 3.0)
    resampled = read_scan(path, 1, spacing=[1.0, 1.0, 1.5])
    assert resampled.pixels.shape == (1, 197, 233, 125)
    assert resampled.canonical.spacing == pytest.approx((1.0, 1.0, 1.5))
    # a result on the canonical grid is written on the stored grid, with the stored affine
    for scan, name, tolerance in ((as_stored, "same.nii.gz", 0.0), (resampled, "back.nii.gz", 0.02)):
        scan.write(scan.pixels, tmp_path / name)
        written = nib.load(tmp_path / name)
        assert written.shape == stored.shape and np.array_equal(written.affine, stored.affine)
        error = np.abs(written.get_fdata() - stored.get_fdata()).mean() / stored.get_fdata().max()
        assert error <= tolerance, (name, error)


def test_a_mask_file_beside_the_image_is_its_foreground_in_any_orientation(template_files, tmp_path):
    folder, ras = template_files
    image = nib.load(folder / "pir.nii.gz")
    root = tmp_path / "bids" / "sub-01" / "anat"
    root.mkdir(parents=True)
    nib.save(image, root / "sub-01_T1w.nii.gz")
    grey = nib.Nifti1Image((mni152_image("gm").get_fdata() >= 0.5).astype(np.uint8), ras.affine)
    nib.save(stored_as(grey, "LPS"), root / "sub-01_desc-brain_mask.nii.gz")
    data = FolderDataModule(root=str(tmp_path / "bids"), patterns=["**/*.nii.gz"])
    (record,) = data.records()  # the mask is not an image of its own
    loaded = data.load(record.path)
    assert np.array_equal(loaded["mask"][0], grey.get_fdata() > 0)
    assert data.describe_masks([record]) == MASK_FILE_METHOD
    nib.save(ras.slicer[:, :, :100], root / "sub-01_desc-brain_mask.nii.gz")
    with pytest.raises(DataError) as refused:
        data.load(record.path)
    assert str(refused.value) == (
        f"{root / 'sub-01_desc-brain_mask.nii.gz'}: is [197, 233, 100] voxels where its image "
        "sub-01_T1w.nii.gz is [197, 233, 189]; a mask must be on its image's grid"
    )


def test_the_head_mask_is_the_phantoms_outer_ellipse_with_its_dark_inside():
    phantom = shepp_logan_phantom()[None].astype(np.float32)  # 400 x 400, outer ellipse 0.69 x 0.92
    mask = head_mask(phantom)[0]
    ellipse = np.pi * (0.69 * 200) * (0.92 * 200)
    assert mask.sum() == pytest.approx(ellipse, rel=0.01)
    assert mask[200, 200] and phantom[0, 200, 200] < 0.5  # the dark middle counts
    assert not mask[5, 5]


def test_without_mask_files_every_set_says_it_is_scored_on_the_head_mask(template_files):
    folder, _ = template_files
    data = FolderDataModule(root=str(folder / "pir.nii.gz"), image_size=32)
    (scored,) = data.scored_sets().values()
    assert (scored.subjects, scored.mask) == (1, HEAD_MASK_METHOD)
    assert scored.images == len(data.datasets["test"]) > 0


def test_evaluate_all_scores_every_non_empty_slice_of_the_whole_template():
    split = MNI152DataModule(image_size=32)
    everything = MNI152DataModule(image_size=32, evaluate_all=True)
    sizes = split.split_sizes()
    kept = sum(
        (everything.volume[:, :, i] > 0.1).mean() >= everything.min_foreground
        for i in range(everything.volume.shape[2])
    )
    assert everything.split_sizes()["test"] == kept > sizes["train"] + sizes["val"] + sizes["test"]
    assert str(everything.scored_sets()["test"]).startswith(f"1 subject(s), {kept} images; mask: brain")
