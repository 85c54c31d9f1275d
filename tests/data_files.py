"""Real image files that ship with installed packages, replicas of public datasets' layouts, broken files."""

import importlib.util
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.data import get_testdata_file


def package_dir(name: str) -> Path:
    return Path(importlib.util.find_spec(name).origin).parent


NIBABEL_DATA = package_dir("nibabel") / "tests" / "data"
SKIMAGE_DATA = package_dir("skimage") / "data"
PNEUMONIAMNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist.npz"


def pydicom_file(name: str) -> Path:
    return Path(get_testdata_file(name))


def write_dicom_patients(folder: Path, sources: list[str], patients: list[str]) -> list[Path]:
    """Copies of pydicom's test files, each given the PatientID of `patients`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (source, patient) in enumerate(zip(sources, patients, strict=True)):
        dataset = pydicom.dcmread(pydicom_file(source))
        dataset.PatientID = patient
        path = folder / f"{index:02d}_{Path(source).stem}.dcm"
        dataset.save_as(path)
        paths.append(path)
    return paths


def write_ct_series(folder: Path, positions: list[float]) -> None:
    """CT_small as a series of its own: slice i gets intensity offset i*10 and z position `positions[i]`.

    Files are named and numbered in an order other than their positions, so only sorting by
    ImagePositionPatient stacks them right.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for index, z in enumerate(positions):
        dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
        pixels = dataset.pixel_array.astype(np.int16) + np.int16(10 * index)
        dataset.PixelData = pixels.tobytes()
        dataset.ImagePositionPatient = [0.0, 0.0, z]
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.InstanceNumber = len(positions) - index
        dataset.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(folder)])
        dataset.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(folder), str(index)])
        dataset.save_as(folder / f"slice_{len(positions) - index:02d}.dcm")


def copy_skimage(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SKIMAGE_DATA / name, folder / name)


def write_grey_images(folder: Path, count: int, size: int = 24, seed: int = 0) -> list[Path]:
    """Small random grey images as .npy files, each with structure (not constant)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = folder / f"image_{index:03d}.npy"
        np.save(path, rng.random((size, size)).astype(np.float32))
        paths.append(path)
    return paths


def write_template_blocks(folder: Path, count: int, size: int = 32) -> list[Path]:
    """``count`` NIfTI files, each a different ``size``-voxel cube of the MNI152 T1 brain (a subject each)."""
    from medae.data.mni152 import mni152_template

    template = mni152_template()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        x, y, z = 50 + 6 * index, 60 + 5 * index, 50 + 4 * index
        block = template[x : x + size, y : y + size, z : z + size]
        paths.append(folder / f"block_{index:02d}.nii.gz")
        nib.save(nib.Nifti1Image(block, np.eye(4)), paths[-1])
    return paths


# IXI subjects of the replica: (id, site, the scan number in the file name)
IXI_SUBJECTS = (
    ("002", "Guys", "0828"), ("012", "HH", "1211"), ("013", "HH", "1212"), ("014", "HH", "1213"),
    ("016", "Guys", "0697"), ("017", "Guys", "0698"), ("035", "IOP", "0873"), ("036", "IOP", "0874"),
)  # fmt: skip
# how the replica stores each volume: not RAS, so that reading it must reorient (sagittal slices first)
IXI_STORED_AXES = ("P", "S", "R")


def write_ixi(folder: Path, contrasts: tuple[str, ...] = ("T1", "T2")) -> dict[str, np.ndarray]:
    """A small IXI replica: ``IXI-<contrast>/IXI<id>-<site>-<n>-<contrast>.nii.gz`` and ``IXI.xls``.

    Names as the IXI archives ship them; voxels from the MNI152 T1 template at 4 mm, scaled per subject
    (T2 inverted), stored in :data:`IXI_STORED_AXES` order. Returns each subject's T1 volume in RAS.
    """
    template = template_head(0)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    to_stored = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("R", "A", "S")), nib.orientations.axcodes2ornt(IXI_STORED_AXES)
    )
    volumes = {}
    for index, (number, site, scan) in enumerate(IXI_SUBJECTS):
        t1 = template_head(index)
        volumes[f"IXI{number}"] = t1
        for contrast in contrasts:
            voxels = t1 if contrast == "T1" else (t1.max() - t1) * (template > 0)
            image = nib.Nifti1Image(voxels.astype(np.float32), affine).as_reoriented(to_stored)
            path = folder / f"IXI-{contrast}" / f"IXI{number}-{site}-{scan}-{contrast}.nii.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(image, path)
    (folder / "IXI.xls").write_bytes(b"\xd0\xcf\x11\xe0")  # the demographics spreadsheet, not an image
    return volumes


def template_head(index: int) -> np.ndarray:
    """Synthetic voxels of subject ``index``: the MNI152 T1 template at 4 mm, scaled and shifted."""
    from medae.data.mni152 import mni152_template

    return (mni152_template()[::4, ::4, ::4] * (1.0 + 0.05 * index) + 3.0 * index).astype(np.float32)


# the BIDS replica's images: (path under the root, subject index for the voxels)
BIDS_IMAGES = (
    ("sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz", 0),
    ("sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz", 1),
    ("sub-02/anat/sub-02_run-1_T1w.nii.gz", 2),
    ("sub-02/anat/sub-02_run-2_T1w.nii.gz", 3),
    ("sub-02/anat/sub-02_T2w.nii.gz", 4),
    ("sub-03/anat/sub-03_T1w.nii.gz", 5),
    ("sub-04/anat/sub-04_T1w.nii.gz", 6),
    ("sub-05/anat/sub-05_T1w.nii.gz", 7),
    ("sub-06/anat/sub-06_T1w.nii.gz", 8),
    ("derivatives/masks/sub-03/anat/sub-03_desc-brain_mask.nii.gz", 9),
)
BIDS_PARTICIPANTS = "participant_id\tage\tgroup\n" + "".join(
    f"sub-0{index}\t{20 + index}\t{'patient' if index % 2 else 'control'}\n" for index in range(1, 7)
)


def write_bids(folder: Path) -> Path:
    """A small BIDS dataset: description, participants.tsv, sessions, runs, a T2w, sidecars, derivatives."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_description.json").write_text('{"Name": "medae replica", "BIDSVersion": "1.9.0"}')
    (folder / "participants.tsv").write_text(BIDS_PARTICIPANTS)
    for relative, index in BIDS_IMAGES:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(template_head(index), np.diag([4.0, 4.0, 4.0, 1.0])), path)
        path.with_name(path.name.replace(".nii.gz", ".json")).write_text('{"RepetitionTime": 2.3}')
    return folder


# the BraTS replica's patients: 2021 and 2023 (glioma cohort) names; each has a tumour or not
BRATS_PATIENTS = {
    "BraTS2021_00000": True, "BraTS2021_00002": True, "BraTS2021_00003": True, "BraTS2021_00004": False,
    "BraTS-GLI-00005-000": True, "BraTS-GLI-00006-000": True, "BraTS-GLI-00006-001": True,
}  # fmt: skip
BRATS_FILES = {
    "2021": ("_", ("t1", "t1ce", "t2", "flair"), 4),
    "2023": ("-", ("t1n", "t1c", "t2w", "t2f"), 3),
}


def brats_tumour(shape: tuple[int, ...], index: int) -> np.ndarray:
    """BraTS labels of a tumour in one hemisphere, spanning a few axial slices.

    Oedema (2) around a necrotic core (1) with an enhancing rim (4, in the 2021 numbering).
    """
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    centre = np.array([0.35, 0.4 + 0.05 * index, 0.55]) * np.array(shape)
    centre = centre[:, None, None, None]
    distance = np.sqrt(((grid - centre) ** 2).sum(0))
    return np.select([distance < 2.5, distance < 4, distance < 6], [1, 4, 2], 0).astype(np.uint8)


def write_brats(folder: Path) -> dict[str, np.ndarray]:
    """A small BraTS replica of 2021 and 2023 patient folders, stored LPS as the challenge's files are.

    Voxels from the MNI152 template at 4 mm, one transformed copy per contrast, brighter in the tumour;
    returns each patient's labels in RAS (2021 numbering).
    """
    stored = np.diag([-4.0, -4.0, 4.0, 1.0])
    labels_of = {}
    for index, (patient, tumour) in enumerate(BRATS_PATIENTS.items()):
        separator, suffixes, enhancing = BRATS_FILES["2021" if patient.startswith("BraTS2021") else "2023"]
        brain = template_head(0) > 0  # skull-stripped: nothing outside the brain
        head = template_head(index) * brain
        labels = brats_tumour(head.shape, index) * brain if tumour else np.zeros(head.shape, np.uint8)
        labels_of[patient] = labels
        inverted = (head.max() - head) * brain
        contrasts = [head, head**1.2 / head.max() ** 0.2, inverted, head * 0.8 + 20 * brain]
        (folder / patient).mkdir(parents=True, exist_ok=True)
        for suffix, voxels in zip(suffixes, contrasts, strict=True):
            voxels = np.where(labels > 0, voxels.max() * 0.9, voxels).astype(np.float32)
            image = nib.Nifti1Image(voxels[::-1, ::-1].copy(), stored)
            nib.save(image, folder / patient / f"{patient}{separator}{suffix}.nii.gz")
        seg = np.where(labels == 4, enhancing, labels).astype(np.uint8)[::-1, ::-1].copy()
        nib.save(nib.Nifti1Image(seg, stored), folder / patient / f"{patient}{separator}seg.nii.gz")
    return labels_of


LDCT_PATIENTS = ("L067", "L096", "L109", "L143")


def ldct_name(patient: str, dose: str, thickness: int, index: int) -> str:
    """A slice file's name as the challenge ships it: ``L067_FD_1_1.CT.0001.0001.<date>.<time>.IMA``."""
    series = {"FD": 1, "QD": 2}[dose]
    stamp = f"2015.12.22.18.09.40.840353.{index}"
    return f"{patient}_{dose}_{thickness}_1.CT.{series:04d}.{index + 1:04d}.{stamp}.IMA"


def write_ldct(folder: Path, slices: int = 6, thickness: int = 1, seed: int = 0) -> None:
    """A Low Dose CT Grand Challenge replica: per patient, ``full_<t>mm`` and ``quarter_<t>mm`` series.

    CT slices of pydicom's ``CT_small.dcm``, shifted per slice and patient; the quarter dose adds
    Gaussian noise of 40 HU to the full dose of the same position, as noise insertion does.
    """
    rng = np.random.default_rng(seed)
    for number, patient in enumerate(LDCT_PATIENTS):
        for index in range(slices):
            dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
            full = np.roll(dataset.pixel_array.astype(np.int16), 3 * index + 7 * number, axis=1)
            quarter = (full + rng.normal(0, 40, full.shape)).astype(np.int16)
            for dose, name, pixels in (("FD", "full", full), ("QD", "quarter", quarter)):
                dataset.PixelData = pixels.tobytes()
                dataset.PatientID = patient
                dataset.SliceThickness = float(thickness)
                dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
                dataset.ImagePositionPatient = [-80.0, -80.0, -100.0 + thickness * index]
                dataset.InstanceNumber = index + 1
                path = folder / patient / f"{name}_{thickness}mm" / ldct_name(patient, dose, thickness, index)
                path.parent.mkdir(parents=True, exist_ok=True)
                dataset.save_as(path)


def write_enhanced_ct(path: Path, positions: list[float]) -> None:
    """CT_small's pixels as an enhanced multi-frame file: frame i gets offset i*10 and z ``positions[i]``.

    Geometry lives only in the functional groups (PlanePositionSequence per frame, PlaneOrientation and
    PixelMeasures shared), as an enhanced CT, MR or PET file holds it; frames are stored out of position
    order.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import EnhancedCTImageStorage

    dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    frames = [dataset.pixel_array.astype(np.int16) + np.int16(10 * index) for index in range(len(positions))]
    dataset.PixelData = np.stack(frames).tobytes()
    dataset.NumberOfFrames = len(positions)
    dataset.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(path)])
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    spacing, thickness = dataset.PixelSpacing, dataset.SliceThickness
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
        delattr(dataset, keyword)

    def item(**values: object) -> Sequence:
        entry = Dataset()
        for keyword, value in values.items():
            setattr(entry, keyword, value)
        return Sequence([entry])

    shared = Dataset()
    shared.PlaneOrientationSequence = item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])
    shared.PixelMeasuresSequence = item(PixelSpacing=spacing, SliceThickness=thickness)
    dataset.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for z in positions:
        frame = Dataset()
        frame.PlanePositionSequence = item(ImagePositionPatient=[0.0, 0.0, z])
        per_frame.append(frame)
    dataset.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path)
