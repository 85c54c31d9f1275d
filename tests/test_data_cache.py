"""data.cache=memory|disk|none: the same samples from each, a reusable disk cache, bounded memory."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medae.data.file_datamodule import FileDataModule
from medae.data.folder import FolderDataModule
from medae.data.reconstruction_datamodule import DISK_CACHE_SETTINGS
from medae.errors import ConfigError, DataError
from tests.conftest import medae
from tests.data_files import write_template_blocks

VOLUMES = 6


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("volumes")
    write_template_blocks(folder, VOLUMES)
    return folder


def volume_data(root: Path, cache: str, cache_dir: Path, **options) -> FolderDataModule:
    options = {"spatial_dims": 3, "image_size": 16, "batch_size": 2, **options}
    data = FolderDataModule(root=str(root), cache=cache, cache_dir=str(cache_dir), **options)
    data.setup()
    return data


def test_every_cache_mode_gives_the_same_samples(volumes, tmp_path):
    modes = {mode: volume_data(volumes, mode, tmp_path) for mode in ("memory", "disk", "none")}
    assert len({data.fingerprint() for data in modes.values()}) == 1
    assert modes["memory"].split_sizes() == {"train": 4, "val": 1, "test": 1}
    memory_batch, disk_batch, none_batch = (next(iter(d.val_dataloader())) for d in modes.values())
    for batch in (disk_batch, none_batch):
        assert torch.equal(batch.image, memory_batch.image)
        assert torch.equal(batch.mask, memory_batch.mask)
    assert memory_batch.image.shape == (1, 1, 16, 16, 16)


def test_no_cache_mode_keeps_raw_pixels(volumes, tmp_path):
    for mode in ("disk", "none"):
        items = volume_data(volumes, mode, tmp_path).datasets["train"].data
        assert all(isinstance(item["image"], str) and item["slice"] is None for item in items)
    memory = volume_data(volumes, "memory", tmp_path).datasets["train"]
    assert all("image" not in item and item["subject"] for item in memory.data)  # the cache has the pixels
    assert all(item["image"].shape == (1, 16, 16, 16) for item in memory)


def test_a_warm_disk_cache_reads_no_file(volumes, tmp_path, monkeypatch):
    cold = volume_data(volumes, "disk", tmp_path)
    (folder,) = tmp_path.iterdir()
    assert len(list(folder.glob("*.pt"))) == VOLUMES
    assert '"image_size": 16' in (folder / DISK_CACHE_SETTINGS).read_text()

    def refuse(self, path):
        raise AssertionError(f"read {path} although it is cached")

    monkeypatch.setattr(FileDataModule, "load", refuse)
    warm = volume_data(volumes, "disk", tmp_path)
    assert warm.fingerprint() == cold.fingerprint()
    with pytest.raises(RuntimeError) as wrapped:  # MONAI re-raises the transform's error as its cause
        volume_data(volumes, "none", tmp_path)
    assert "although it is cached" in str(wrapped.value.__cause__)


def test_the_disk_cache_follows_preprocessing_and_file_changes(volumes, tmp_path):
    first = volume_data(volumes, "disk", tmp_path)
    volume_data(volumes, "disk", tmp_path, image_size=24)
    assert len(list(tmp_path.iterdir())) == 2  # one folder per preprocessing setting

    changed = tmp_path / "changed"
    changed.mkdir()
    for path in volumes.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    before = volume_data(changed, "disk", tmp_path / "cache")
    target = changed / "block_00.nii.gz"
    image = nib.load(target)
    nib.save(nib.Nifti1Image(image.get_fdata(dtype=np.float32)[::-1].copy(), image.affine), target)
    after = volume_data(changed, "disk", tmp_path / "cache")
    assert after.fingerprint() != before.fingerprint()
    assert before.fingerprint() == first.fingerprint()
    (folder,) = (tmp_path / "cache").iterdir()
    assert len(list(folder.glob("*.pt"))) == VOLUMES + 1


def test_2d_slices_of_volumes_from_the_disk_cache(volumes, tmp_path):
    options = {"spatial_dims": 2, "image_size": 16}
    memory = volume_data(volumes, "memory", tmp_path, **options)
    disk = volume_data(volumes, "disk", tmp_path, **options)
    assert disk.fingerprint() == memory.fingerprint()
    items = disk.datasets["train"].data
    assert len(items) == memory.split_sizes()["train"] > 4 * 16  # slices of 4 volumes
    assert {type(item["slice"]) for item in items} == {int}


def test_a_corrupt_volume_is_named_or_skipped_with_a_lazy_cache(volumes, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in volumes.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    trained = volume_data(broken, "none", tmp_path).datasets["train"].data[0]["image"]
    Path(trained).write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match=rf"{Path(trained).name}: cannot be read"):
        volume_data(broken, "disk", tmp_path / "cache")
    skipping = volume_data(broken, "none", tmp_path / "cache", on_bad_file="skip")
    assert len(skipping.skipped_files) == 1 and Path(trained).name in skipping.skipped_files[0]
    assert skipping.split_sizes() == {"train": 3, "val": 1, "test": 1}


def test_bad_cache_settings_are_refused(volumes):
    with pytest.raises(ConfigError, match=r"data.cache: unknown 'ram'; allowed: memory, disk, none"):
        FolderDataModule(root=str(volumes), cache="ram")
    with pytest.raises(ConfigError, match=r"data.cache_dir: is empty; data.cache=disk needs a folder"):
        FolderDataModule(root=str(volumes), cache="disk")


@pytest.mark.slow
def test_medae_train_on_volumes_with_the_disk_cache(volumes, tmp_path):
    overrides = [
        "data=nifti",
        f"data.root={volumes}",
        "data.spatial_dims=3",
        "data.image_size=16",
        "data.batch_size=2",
        "data.cache=disk",
        "debug=limit",
    ]
    result = medae(["train", *overrides], tmp_path, MEDAE_CACHE_DIR=str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr[-2000:]
    (folder,) = (tmp_path / "cache" / "preprocessed").iterdir()
    assert len(list(folder.glob("*.pt"))) == VOLUMES
