"""MONAI's MedNIST layout (``root/MedNIST/<class>/*.jpeg``) read from an existing folder."""

from pathlib import Path

from monai.apps import MedNISTDataset
from monai.transforms import Compose

from medae.data.file_datamodule import FileDataModule, ImageRecord
from medae.data.registry import DATA_SOURCES
from medae.errors import DataError


@DATA_SOURCES.register("mednist", root="${paths.root_dir}/data")
class MedNISTDataModule(FileDataModule):
    """MedNIST's six classes (AbdomenCT, BreastMRI, CXR, ChestCT, Hand, HeadCT) as labels.

    MONAI's ``MedNISTDataset`` lists the existing folder (no download); medae splits it stratified by
    class with ``split_seed``.
    """

    def records(self) -> list[ImageRecord]:
        """Every image of ``root/MedNIST``, labelled by its class folder."""
        folder = self.root / MedNISTDataset.dataset_folder_name
        if not folder.is_dir() or not any(p.is_dir() for p in folder.iterdir()):
            raise DataError(
                str(folder), "not found or without class folders; expected root/MedNIST/<class>/*.jpeg"
            )
        listing = MedNISTDataset(
            self.root, section="training", transform=Compose([]), val_frac=0.0, test_frac=0.0, progress=False
        )
        items = sorted(listing.data, key=lambda item: item["image"])
        return [ImageRecord(Path(item["image"]), item["image"], int(item["label"])) for item in items]
