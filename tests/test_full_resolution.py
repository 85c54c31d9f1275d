"""Full resolution: foreground-weighted training patches, whole-sample evaluation by sliding windows."""

import mlflow
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from medae.commands.train import train
from medae.data.batch import ReconstructionBatch
from medae.data.mni152 import MNI152DataModule, mni152_template
from medae.data.registry import build_datamodule
from medae.errors import ConfigError
from medae.inference.prediction import predict_scan
from medae.inference.trained_model import TrainedModel
from tests.conftest import SHARED_DATA, module_for, tracking_uri

COLIN27 = SHARED_DATA / "colin27"


def patch_centres(data: MNI152DataModule, draws: int) -> list[bool]:
    """Whether each drawn training patch's centre voxel is brain."""
    torch.manual_seed(0)
    loader = data.train_dataloader()
    centres = []
    while len(centres) < draws:
        for batch in loader:
            middle = [side // 2 for side in batch.mask.shape[2:]]
            centres += batch.mask[(slice(None), 0, *middle)].tolist()
    return centres


def test_training_patches_are_centred_on_the_brain_as_often_as_patch_foreground_says():
    found = {}
    for share in (1.0, 0.5, 0.0):
        data = MNI152DataModule(
            image_size=24, full_resolution=True, patch_foreground=share, batch_size=16, held_out=()
        )
        data.setup()
        first = data.datasets["train"][0]
        assert tuple(first["image"].shape) == (1, 197, 233)  # the template's own 1 mm grid
        batch = next(iter(data.train_dataloader()))
        assert tuple(batch.image.shape) == (16, 1, 24, 24) and tuple(batch.mask.shape) == (16, 1, 24, 24)
        found[share] = np.mean(patch_centres(data, 400))
    # MONAI centres a patch on a drawn voxel, moved inwards where the patch would leave the slice; the
    # brain is far from the slice's edges, so the centre stays on the drawn voxel
    assert found[1.0] == 1.0 and found[0.0] < 0.05
    assert 0.4 < found[0.5] < 0.6
    # evaluation keeps whole slices, one a batch; patches_per_sample lengthens the training epoch
    data = MNI152DataModule(
        image_size=24, full_resolution=True, patches_per_sample=3, batch_size=8, held_out=()
    )
    data.setup()
    val = next(iter(data.val_dataloader()))
    assert tuple(val.image.shape) == (1, 1, 197, 233)
    assert len(data.train_dataloader()) == -(-3 * len(data.datasets["train"]) // 8)
    assert tuple(data.example_input().shape) == (1, 1, 24, 24)


def test_full_resolution_volumes_are_slabs_that_never_touch_across_splits():
    data = MNI152DataModule(
        spatial_dims=3, image_size=24, full_resolution=True, num_slabs=5, slab_gap=2, held_out=()
    )
    data.setup()
    spans = {}
    for split in ("train", "val", "test"):
        for item in data.datasets[split].data:
            start, stop = (int(side) for side in item["position"].split(":")[-1].split("-"))
            spans.setdefault(split, []).append((start, stop))
    assert [len(spans[split]) for split in ("val", "test")] == [1, 1]
    cuts = sorted((start, stop, split) for split, runs in spans.items() for start, stop in runs)
    for (_, stop, left), (start, _, right) in zip(cuts[:-1], cuts[1:], strict=True):
        assert start - stop >= (4 if left != right else 0)  # the gap on both sides of a boundary
    test = data.datasets["test"][0]
    start, stop = spans["test"][0]
    # the hemisphere (99 of 197 voxels) at 1 mm, the slab's own depth
    assert tuple(test["image"].shape) == (1, 99, 233, stop - start)
    whole = MNI152DataModule(
        spatial_dims=3, image_size=24, full_resolution=True, evaluate_all=True, held_out=()
    )
    whole.setup()
    assert tuple(whole.datasets["test"][0]["image"].shape) == (1, 197, 233, 189)


@pytest.mark.skipif(not COLIN27.is_dir(), reason=f"{COLIN27} absent")
def test_the_held_out_subject_is_one_whole_volume_at_full_resolution():
    data = MNI152DataModule(
        spatial_dims=3, image_size=24, full_resolution=True, num_slabs=5, held_out_dir=str(COLIN27)
    )
    data.setup()
    for name in ("colin27_brain", "colin27_head"):
        (item,) = data.held_out[name].data
        assert item["position"] == "colin27:volume"
        assert tuple(data.held_out[name][0]["image"].shape) == (1, 197, 233, 189)


def test_evaluation_reconstructs_larger_samples_by_monai_sliding_windows_and_model_sized_ones_directly():
    torch.manual_seed(0)
    module = module_for("conv", 2, 32).eval()
    whole = torch.rand(2, 1, 70, 90)
    run = lambda tiles: module.network(tiles).reconstruction  # noqa: E731
    with torch.no_grad():
        expected = sliding_window_inference(whole, [32, 32], 16, run, overlap=0.25, mode="gaussian")
        found = module.evaluation_output(whole)
        assert torch.equal(found.reconstruction, expected) and found.regularizers == {}
        sized = torch.rand(3, 1, 32, 32)
        direct = module.evaluation_output(sized)
        assert torch.equal(direct.reconstruction, module.network(sized).reconstruction)
        assert direct.latent.numel() > 0  # a model-sized input keeps its code
    # a variant with a regularizer scores a windowed sample on its reconstruction loss alone
    vae = module_for("vae", 2, 32).eval()
    batch = ReconstructionBatch.collate([{"image": image} for image in whole])
    with torch.no_grad():
        loss, output = vae._shared_step(batch, "test")
    assert output.regularizers == {} and loss.item() == pytest.approx(
        float(((output.reconstruction - whole) ** 2).mean()), rel=1e-5
    )


def test_a_source_that_resizes_and_an_application_refuse_full_resolution(make_config):
    with pytest.raises(ConfigError, match=r"^data.full_resolution: MedMNISTDataModule resizes every sample"):
        build_datamodule({"name": "medmnist", "root": ".", "full_resolution": True})
    cfg = make_config("data.full_resolution=true", "application=denoising")
    with pytest.raises(ConfigError, match=r"^application: denoising scores samples of data.image_size"):
        train(cfg)
    with pytest.raises(
        ConfigError, match=r"^data.patch_foreground: expected float >= 0 and <= 1, got 1.5 \(float\)"
    ):
        MNI152DataModule(full_resolution=True, patch_foreground=1.5)


@pytest.mark.slow
def test_a_2d_run_trains_on_patches_and_scores_whole_slices(make_config, tmp_path):
    cfg = make_config(
        "data.full_resolution=true", "data.image_size=32", "data.patches_per_sample=2", "+data.held_out=[]"
    )
    result = train(cfg)
    run = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(result.run_id)
    metrics = run.data.metrics
    # scores of whole 197 x 233 slices: an untrained-for-long network still beats an empty image
    assert 5 < metrics["test/psnr_fg"] < 40 and 0 < metrics["test/ssim"] < 1
    assert result.scored["test"].endswith(
        "images; mask: brain: the skull-stripped template's non-zero voxels; "
        "NOT subject-independent: 1 subject(s) also in training (other slabs)"
    )
    assert run.data.params["data.full_resolution"] == "True"
    # medae predict applies it by sliding windows over the scan's own grid, asked to or not
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(mni152_template()[:, :, 60:64] * 300, np.eye(4)), scan)
    model = TrainedModel.load(result.best_checkpoint, tracking_uri(tmp_path), str(tmp_path / "cache"))
    assert model.preprocessing.full_resolution
    written = {}
    for windows in (False, True):
        (tmp_path / f"out_{windows}").mkdir()
        predict_scan(model, scan, tmp_path / f"out_{windows}", sliding_window=windows)
        (path,) = (tmp_path / f"out_{windows}").glob("*.nii.gz")
        written[windows] = np.asarray(nib.load(path).dataobj)
    assert written[False].shape == (197, 233, 4) and np.array_equal(written[False], written[True])
