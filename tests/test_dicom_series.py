"""DICOM as archives hold it: mixed series, multi-frame volumes, images without position, DICOMDIR."""

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medae.data.dicom import DicomDataModule
from medae.data.dicom_series import find_series
from medae.data.image_reading import read_affine, read_image
from medae.errors import DataError
from medae.inference.scans import scan_sources
from tests.data_files import pydicom_file, write_ct_series, write_enhanced_ct

POSITIONS = [5.0, -5.0, 0.0, 10.0]


def mixed_archive(root: Path) -> Path:
    """A scanner export: a CT slice, an MR, a colour ultrasound image, an RT dose grid and a 30-frame
    ultrasound cine side by side (no suffix on the cine), a 4-slice CT series and an enhanced CT beside it, a
    README, and a broken ``.dcm``."""
    export = root / "export"
    export.mkdir(parents=True)
    for name in ("CT_small.dcm", "examples_overlay.dcm", "examples_rgb_color.dcm", "rtdose.dcm"):
        shutil.copy(pydicom_file(name), export / name)
    shutil.copy(pydicom_file("examples_ybr_color.dcm"), export / "cine")
    write_ct_series(export / "study" / "ct", POSITIONS)
    write_enhanced_ct(export / "study" / "ct" / "enhanced.dcm", POSITIONS)
    (export / "README.txt").write_text("exported by the scanner")
    (export / "broken.dcm").write_bytes(b"not DICOM at all")
    return export


def test_a_mixed_folder_splits_into_one_scan_per_series(tmp_path):
    export = mixed_archive(tmp_path)
    series, skipped = find_series(export)
    found = {item.name: (item.kind, len(item.files)) for item in series}
    assert found == {
        "CT_small": ("image", 1),  # one slice of its series: a 2D image
        "examples_overlay": ("image", 1),
        "examples_rgb_color": ("image", 1),  # ultrasound: no ImagePositionPatient
        "rtdose": ("multiframe", 1),
        "cine": ("multiframe", 1),
        "study-ct": ("slices", 4),  # the series' four slices, apart from the enhanced file of its folder
        "study-ct_enhanced": ("multiframe", 1),
    }
    assert [(Path(item.source).name, item.reason.split(" (")[0]) for item in skipped] == [
        ("broken.dcm", "is not a readable DICOM file")
    ]
    shapes = {item.name: read_image(item, channels=1).shape for item in series}
    assert shapes == {
        "CT_small": (1, 128, 128),
        "examples_overlay": (1, 300, 484),
        "examples_rgb_color": (1, 240, 320),  # colour to grey: the run's channel rule
        "rtdose": (1, 15, 10, 10),
        "cine": (1, 30, 240, 320),
        "study-ct": (1, 4, 128, 128),
        "study-ct_enhanced": (1, 4, 128, 128),
    }
    colour = next(item for item in series if item.name == "examples_rgb_color")
    assert read_image(colour, channels=3).shape == (3, 240, 320)


def test_an_enhanced_multiframe_file_reads_as_the_same_series_of_slices(tmp_path):
    write_ct_series(tmp_path / "slices", POSITIONS)
    write_enhanced_ct(tmp_path / "enhanced" / "ct.dcm", POSITIONS)
    (slices,), _ = find_series(tmp_path / "slices")
    (enhanced,), _ = find_series(tmp_path / "enhanced")
    stacked, framed = read_image(slices, 1), read_image(enhanced, 1)
    # frames stored at z = 5, -5, 0, 10 with offsets 0, 10, 20, 30: in position order 10, 20, 0, 30
    base = framed[0, 2]
    assert [float((framed[0, i] - base).mean()) for i in range(4)] == pytest.approx([10, 20, 0, 30])
    np.testing.assert_array_equal(stacked, framed)
    np.testing.assert_allclose(read_affine(enhanced), read_affine(slices))
    assert read_affine(enhanced)[2, 0] == pytest.approx(5.0)  # 5 mm between frames along z


def test_one_series_uid_with_two_orientations_or_repeated_positions(tmp_path):
    write_ct_series(tmp_path / "mixed", [0.0, 5.0, 10.0])
    for index, z in enumerate([0.0, 5.0]):  # two sagittal slices with the same SeriesInstanceUID
        dataset = pydicom.dcmread(tmp_path / "mixed" / "slice_01.dcm")
        dataset.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
        dataset.ImagePositionPatient = [z, 0.0, 0.0]
        dataset.SOPInstanceUID = pydicom.uid.generate_uid()
        dataset.save_as(tmp_path / "mixed" / f"sagittal_{index}.dcm")
    series, skipped = find_series(tmp_path / "mixed")
    assert sorted((item.kind, len(item.files)) for item in series) == [("slices", 2), ("slices", 3)]
    assert len({item.uid for item in series}) == 1 and len({item.name for item in series}) == 2
    assert all("one geometry of several" in str(item) for item in series)
    assert not skipped
    write_ct_series(tmp_path / "echoes", [0.0, 5.0])
    shutil.copy(tmp_path / "echoes" / "slice_01.dcm", tmp_path / "echoes" / "echo2.dcm")
    series, skipped = find_series(tmp_path / "echoes")
    assert series == []
    assert skipped[0].reason.startswith("has 3 slices at 2 positions (echoes, phases or time points)")


def test_a_dicomdir_gives_the_series_it_references(tmp_path):
    root = tmp_path / "cd"
    shutil.copytree(pydicom_file("DICOMDIR").parent, root)
    series, _ = find_series(root / "DICOMDIR")
    volumes = {item.name: len(item.files) for item in series if item.kind == "slices"}
    assert volumes == {"77654033-CT2": 4, "98892001-CT5N": 5}
    assert sum(len(item.files) for item in series) == 31  # the 31 images its records reference
    assert {item.kind for item in series} == {"slices", "image"}
    # the same files are found by searching the folder, whatever their names (none has a suffix)
    searched, _ = find_series(root)
    assert {file for item in searched for file in item.files} == {
        file for item in series for file in item.files
    }


def test_a_dicomdir_pointing_outside_its_folder_is_refused(tmp_path):
    root = tmp_path / "cd"
    shutil.copytree(pydicom_file("DICOMDIR").parent, root)
    dicomdir = pydicom.dcmread(root / "DICOMDIR")
    record = next(item for item in dicomdir.DirectoryRecordSequence if "ReferencedFileID" in item)
    record.ReferencedFileID = ["..", "..", "etc", "passwd"]
    dicomdir.save_as(root / "DICOMDIR")
    with pytest.raises(DataError, match="DICOMDIR"):
        find_series(root / "DICOMDIR")


def test_predict_inputs_list_every_scan_and_every_file_that_gives_none(tmp_path):
    export = mixed_archive(tmp_path)
    (export / "brain.nii.gz").write_bytes(b"")  # listed as a scan; reading it fails later, with its name
    sources, skipped = scan_sources(export)
    assert [Path(str(source)).name if isinstance(source, Path) else source.name for source in sources] == [
        "brain.nii.gz",
        "CT_small",
        "cine",
        "examples_overlay",
        "examples_rgb_color",
        "rtdose",
        "study-ct_enhanced",  # in path order: study/ct/enhanced.dcm, then study/ct/slice_01.dcm
        "study-ct",
    ]
    assert len(skipped) == 1
    with pytest.raises(DataError, match="holds no scans"):
        scan_sources((tmp_path / "empty").mkdir() or tmp_path / "empty")


def test_training_on_dicom_series_uses_the_same_splitting(tmp_path):
    export = mixed_archive(tmp_path)
    data = DicomDataModule(root=str(export), layout="series")
    assert sorted(record.path.name for record in data.records()) == [
        "CT_small",
        "cine",
        "examples_overlay",
        "examples_rgb_color",
        "rtdose",
        "study-ct",
        "study-ct_enhanced",
    ]
    volume = data.load(next(record.path for record in data.records() if record.path.name == "study-ct"))
    assert volume["image"].shape == (1, 128, 128, 4)  # RAS: columns, rows, then the 4 slices along z
