"""Each application end to end on tiny settings: its metrics, its baseline runs and artifacts in MLflow."""

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from medae.applications.parts import run_log
from medae.commands.train import train
from medae.errors import ConfigError, MedaeError
from medae.evaluation.image_scores import auroc, read_image_scores
from medae.evaluation.per_image_table import read_per_image
from medae.evaluation.pixel_counts import binned_ap, read_counts
from medae.models.registry import load_module
from tests.conftest import FAST_RUN, medae, medae_env, runs_in_store, tracking_uri
from tests.data_files import PNEUMONIAMNIST

pytestmark = pytest.mark.slow
needs_pneumoniamnist = pytest.mark.skipif(not PNEUMONIAMNIST.is_file(), reason="pneumoniamnist.npz absent")
PNEUMONIA = [
    "data=medmnist",
    f"data.root={PNEUMONIAMNIST.parent}",
    "data.image_size=32",
    *FAST_RUN[2:],
]


def compared_runs(root, run_id: str) -> dict[str, mlflow.entities.Run]:
    """The baseline runs beside ``run_id``, by run name."""
    return {
        run.info.run_name: run
        for run in run_log.compared_runs(mlflow.MlflowClient(tracking_uri(root)), run_id)
    }


def artifacts(root, run_id: str, folder: str) -> set[str]:
    return {a.path for a in mlflow.MlflowClient(tracking_uri(root)).list_artifacts(run_id, folder)}


def test_denoising_baselines_see_the_same_noisy_images(make_config, tmp_path):
    cfg = make_config("application=denoising", "data.noise_std=0.1", "application.tune_images=2")
    result = train(cfg)
    runs = compared_runs(tmp_path, result.run_id)
    assert set(runs) == {f"baseline:{name}" for name in ("gaussian", "nlm", "tv", "bm3d", "bm3d_oracle")}
    own = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(result.run_id).data.metrics
    for run in runs.values():
        metrics = run.data.metrics
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == result.run_id  # nested under the autoencoder's run
        assert metrics["test/psnr_fg_gain"] == pytest.approx(
            metrics["test/psnr_fg"] - metrics["test/input_psnr_fg"]
        )
        # debug=limit tests the autoencoder on two batches; the application uses the whole test split
        assert metrics["test/input_psnr"] == pytest.approx(result.metrics["denoising/autoencoder/input_psnr"])
        assert metrics["test/psnr_gain"] == pytest.approx(metrics["test/psnr"] - metrics["test/input_psnr"])
        assert metrics["test/ms_per_image"] > 0
        assert run.data.params["data.noise_std"] == "0.1"
    assert runs["baseline:bm3d"].data.metrics["test/psnr_gain"] > 3
    assert result.metrics["denoising/autoencoder/ms_per_image"] == pytest.approx(own["test/ms_per_image"])
    # each method's run keeps each test image's scores, in the same order, so tables pair them by image
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    tables = {
        name: read_per_image(
            Path(client.download_artifacts(run_id, "per_image/test.csv", str(tmp_path))).read_text()
        )
        for name, run_id in [("autoencoder", result.run_id), *((n, r.info.run_id) for n, r in runs.items())]
    }
    positions = tables["autoencoder"]["position"]
    assert len(positions) > 10 and set(tables["autoencoder"]["subject"]) == {"mni152"}
    for name, table in tables.items():
        assert list(table["position"]) == list(positions)
        logged = result.metrics[f"denoising/{name.removeprefix('baseline:')}/psnr_fg"]
        assert table["psnr_fg"].mean() == pytest.approx(logged, abs=1e-3), name


def test_denoising_over_noise_levels_with_estimated_and_oracle_sigma(make_config, tmp_path):
    cfg = make_config(
        "application=denoising",
        "data.noise_model=rician",
        "data.noise_std=0.1",
        "application.tune_images=2",
        "application.baselines=[gaussian,bm3d]",
        "application.noise_levels=[0.05,0.1,0.2]",
    )
    result = train(cfg)
    runs = compared_runs(tmp_path, result.run_id)
    assert set(runs) == {"baseline:gaussian", "baseline:bm3d", "baseline:bm3d_oracle"}
    assert runs["baseline:bm3d"].data.params["sigma"] == "estimate"
    assert runs["baseline:bm3d_oracle"].data.params["sigma"] == "oracle"
    metrics = result.metrics
    inputs = [metrics[f"denoising/autoencoder/at_{level}/input_psnr_fg"] for level in ("0.05", "0.1", "0.2")]
    assert inputs[0] > inputs[1] + 4 > inputs[2] + 8  # halving the noise adds about 6 dB
    for level in ("0.05", "0.1", "0.2"):
        for method in ("autoencoder", "gaussian", "bm3d", "bm3d_oracle"):
            # every method saw the same noisy images at each level
            assert metrics[f"denoising/{method}/at_{level}/input_psnr_fg"] == pytest.approx(
                metrics[f"denoising/autoencoder/at_{level}/input_psnr_fg"]
            )
        # BM3D through the Rician VST gains at every level, with the estimated sigma close to the oracle's
        gain = metrics[f"denoising/bm3d/at_{level}/psnr_fg_gain"]
        assert gain > 2 and abs(gain - metrics[f"denoising/bm3d_oracle/at_{level}/psnr_fg_gain"]) < 1.5
    kept = artifacts(tmp_path, runs["baseline:bm3d"].info.run_id, "per_image")
    assert {"per_image/test_at_0.05.csv", "per_image/test_at_0.2.csv"} <= kept
    logged = mlflow.MlflowClient(tracking_uri(tmp_path)).get_run(result.run_id).data.metrics
    assert logged["test/at_0.2/psnr_fg"] == pytest.approx(metrics["denoising/autoencoder/at_0.2/psnr_fg"])


def test_volumes_are_denoised_by_bm4d_with_estimated_and_true_sigma(make_config, tmp_path):
    cfg = make_config(
        "application=denoising",
        "data.spatial_dims=3",
        "data.image_size=24",
        "data.noise_std=0.1",
        "application.tune_images=2",
        "application.baselines=[bm4d]",
    )
    result = train(cfg)
    runs = compared_runs(tmp_path, result.run_id)
    assert set(runs) == {"baseline:bm4d", "baseline:bm4d_oracle"}  # BM4D's oracle row by default in 3D
    for method in ("bm4d", "bm4d_oracle"):
        assert result.metrics[f"denoising/{method}/psnr_fg_gain"] > 5


def test_anomaly_localisation_on_synthetic_lesions(make_config, tmp_path):
    result = train(make_config("application=anomaly", "application.pca_components=8"))
    runs = compared_runs(tmp_path, result.run_id)
    assert set(runs) == {"baseline:intensity", "baseline:pca"}
    for method in ("autoencoder", "intensity", "pca"):
        for key in ("image_auroc", "image_ap", "pixel_ap", "best_dice", "dice"):
            assert 0 <= result.metrics[f"anomaly/{method}/{key}"] <= 1
        # the threshold from healthy validation images gives at most the best Dice over test thresholds
        assert (
            result.metrics[f"anomaly/{method}/dice"] <= result.metrics[f"anomaly/{method}/best_dice"] + 0.01
        )
    assert float(runs["baseline:pca"].data.params["dice_threshold"]) > 0
    # each method's post-processing, chosen on the validation anomaly set from the same grid
    for params in (runs["baseline:pca"].data.params, runs["baseline:intensity"].data.params):
        assert params["median"] in ("0", "3", "5") and params["erosion"] in ("0", "2")
        assert params["residual"] in ("abs", "positive") and params["min_component"] in ("0", "4", "16")
    # results by lesion kind: thresholding intensity finds bright lesions, not dark ones
    for kind in ("hyperintense", "hypointense", "noise", "texture", "deformation"):
        assert 0 <= result.metrics[f"anomaly/autoencoder/{kind}/pixel_ap"] <= 1
    intensity = {
        kind: result.metrics[f"anomaly/intensity/{kind}/pixel_ap"] for kind in ("hyperintense", "hypointense")
    }
    assert intensity["hyperintense"] > 2 * intensity["hypointense"], intensity
    # lesions cover a few percent of the pixels: a map better than chance has a pixel AP above that
    assert result.metrics["anomaly/pca/pixel_ap"] > 0.05
    assert runs["baseline:pca"].data.metrics["anomaly/pixel_ap"] == result.metrics["anomaly/pca/pixel_ap"]
    assert "anomaly/overlays.png" in artifacts(tmp_path, result.run_id, "anomaly")
    # each method's run keeps each image's score: a slice and its lesioned copy share a position, and
    # the AUROC of the kept scores is the one logged
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    for method, run_id in (("autoencoder", result.run_id), ("pca", runs["baseline:pca"].info.run_id)):
        kept = read_image_scores(
            Path(client.download_artifacts(run_id, "anomaly_scores/test.csv", str(tmp_path))).read_text()
        )
        half = len(kept["label"]) // 2
        assert kept["label"].tolist() == [0] * half + [1] * half
        assert kept["position"][:half].tolist() == kept["position"][half:].tolist()
        assert set(kept["kind"][half:]) == {"hyperintense", "hypointense", "noise", "texture", "deformation"}
        logged = result.metrics[f"anomaly/{method}/image_auroc"]
        assert auroc(kept["score"], kept["label"]) == pytest.approx(logged, abs=1e-5)
        # and each image's pixel counts, which pool to the logged pixel AP
        counts = read_counts(
            Path(client.download_artifacts(run_id, "anomaly_pixels/test.json", str(tmp_path))).read_text()
        )
        assert counts["positive"].shape == (2 * half, 200)
        pooled = binned_ap(counts["positive"], counts["negative"])
        assert pooled == pytest.approx(result.metrics[f"anomaly/{method}/pixel_ap"], abs=1e-5)


@needs_pneumoniamnist
def test_anomaly_detection_of_pneumonia_uses_the_labels(make_config):
    cfg = make_config(
        *PNEUMONIA,
        "application=anomaly",
        "data.labels=[0]",
        "data.labels_in=[train,val]",
        "application.synthetic_lesions=false",
        "logger=none",
    )
    result = train(cfg)
    assert 0 <= result.metrics["anomaly/autoencoder/image_auroc"] <= 1
    assert "anomaly/autoencoder/pixel_ap" not in result.metrics


def test_compression_measures_rate_distortion_curves_from_real_bitstreams(make_config, tmp_path):
    result = train(make_config("application=compression", "application.resamples=200"))
    metrics = result.metrics
    methods = ("autoencoder", "pca", "jpeg", "jpeg2000")
    for method in methods:
        rates = sorted(
            key for key in metrics if key.startswith(f"compression/{method}/r") and key.endswith("/bpp")
        )
        assert len(rates) >= 5, method
        bpp = [metrics[f"compression/{method}/r{k}/bpp"] for k in range(len(rates))]
        psnr = [metrics[f"compression/{method}/r{k}/psnr_fg"] for k in range(len(rates))]
        # finer steps and higher qualities cost more bits and give a better brain PSNR
        assert bpp[-1] > bpp[0] > 0, method
        assert psnr[-1] > psnr[0], method
    # the learned codes need no header; the image codecs' headers are counted apart from the payload
    assert metrics["compression/autoencoder/r0/header_bpp"] == 0
    assert 0.1 < metrics["compression/jpeg/r0/header_bpp"] < 8
    # JPEG-LS is lossless on the 8-bit rendition: only the rounding to 8 bits is lost
    assert metrics["compression/jpegls/r0/psnr"] > 50
    assert 0.5 < metrics["compression/jpegls/r0/bpp"] < 8
    # BD-rate against JPEG 2000: JPEG needs more bits at the same brain PSNR; each figure inside its interval
    assert metrics["compression/jpeg/bd_rate_psnr_fg_low"] > 0
    for method in ("pca", "jpeg"):
        low, high = (metrics[f"compression/{method}/bd_rate_psnr_fg_{end}"] for end in ("low", "high"))
        assert low <= metrics[f"compression/{method}/bd_rate_psnr_fg"] <= high
    assert set(compared_runs(tmp_path, result.run_id)) == {
        f"baseline:{m}" for m in ("pca", "jpeg", "jpeg2000", "jpegls")
    }
    kept = artifacts(tmp_path, result.run_id, "rate_distortion")
    assert "rate_distortion/test.csv" in kept
    assert {"compression/latent_pca.png", "compression/rate_distortion_test.png"} <= set(
        artifacts(tmp_path, result.run_id, "compression")
    )


def test_encode_decode_round_trip_restores_the_reconstructions(make_config, tmp_path):
    result = train(make_config("logger=none"))
    codes, decoded = tmp_path / "codes.npz", tmp_path / "decoded.npz"
    done = medae(["encode", f"ckpt_path={result.best_checkpoint}", f"output={codes}"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    done = medae(
        ["decode", f"ckpt_path={result.best_checkpoint}", f"codes={codes}", f"output={decoded}"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written, restored = np.load(codes), np.load(decoded)
    assert written["codes"].shape[1:] == (8, 4, 4)
    assert list(restored["ids"]) == list(written["ids"])
    module = load_module(result.best_checkpoint).eval()
    first = torch.from_numpy(restored["images"][:1])
    with torch.no_grad():
        again = module.network.decode(torch.from_numpy(written["codes"][:1]))
    assert torch.allclose(first, again, atol=1e-5)
    bad = medae(["decode", f"ckpt_path={result.best_checkpoint}", f"codes={tmp_path / 'none.npz'}"], tmp_path)
    assert bad.returncode == 2 and "is not a medae codes file" in bad.stderr


def test_segmentation_pretraining_against_scratch(make_config, tmp_path):
    cfg = make_config(
        "application=segmentation",
        "data.tissue_labels=true",
        "application.steps=5",
        "application.label_fractions=[0.1,1.0]",
    )
    result = train(cfg)
    runs = compared_runs(tmp_path, result.run_id)
    assert len(runs) == 6
    for run in runs.values():
        assert 0 <= run.data.metrics["segmentation/dice"] <= 1
        assert run.data.tags["medae.method"] in ("linear_probe", "finetune", "scratch")
    assert {run.data.params["label_fraction"] for run in runs.values()} == {"0.1", "1.0"}


@needs_pneumoniamnist
def test_classification_pretraining_against_scratch(make_config):
    result = train(
        make_config(
            *PNEUMONIA,
            "application=classification",
            "application.steps=5",
            "application.label_fractions=[0.01]",
            "logger=none",
        )
    )
    for mode in ("linear_probe", "finetune", "scratch"):
        assert 0 <= result.metrics[f"classification/{mode}/1%/accuracy"] <= 1
        assert 0 <= result.metrics[f"classification/{mode}/1%/auroc"] <= 1


@pytest.mark.parametrize("model", ["vae", "autoencoder_kl"])
def test_generation_logs_samples_copy_distances_and_the_samples_distribution(make_config, tmp_path, model):
    options = ["model.channels=[16,16]"] if model == "autoencoder_kl" else []
    cfg = make_config(
        f"model={model}", *options, "application=generation", "application.samples=4",
        "application.distribution_samples=64", "application.feature_components=8",
    )  # fmt: skip
    result = train(cfg)
    metrics = result.metrics
    assert metrics["generation/sample_nearest_rmse_min"] > 0
    assert math.isfinite(metrics["generation/test_nearest_rmse_mean"])
    for key in ("precision", "recall", "precision_test_to_train", "recall_test_to_train"):
        assert 0 <= metrics[f"generation/{key}"] <= 1, key
    assert metrics["generation/fd"] > 0 and metrics["generation/fd_test_to_train"] > 0
    assert artifacts(tmp_path, result.run_id, "generation") == {
        "generation/samples.png",
        "generation/interpolations.png",
        "generation/sample_nearest.csv",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["application=generation"], "model=conv cannot run application=generation: it needs Samples"),
        (["application=denoising"], "data.noise_std: is 0; denoising needs noisy inputs"),
        (["application=segmentation"], "use data=mni152 data.tissue_labels=true"),
        (["application=compression", "model=redcnn"], "model=redcnn cannot run application=compression"),
    ],
)
def test_an_application_that_does_not_fit_the_run_says_why(make_config, overrides, message):
    with pytest.raises(MedaeError, match=message):
        train(make_config("debug=fast_dev_run", "logger=none", *overrides))


def test_baseline_command_logs_one_run(tmp_path):
    done = medae(
        ["baseline", "method=tv", "data.image_size=32", "data.noise_std=0.1", "tune_images=2"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("medae").experiment_id])
    assert run.info.run_name == "baseline:tv" and run.data.tags["medae.application"] == "denoising"
    assert run.data.metrics["test/psnr"] > run.data.metrics["test/input_psnr"] + 3
    assert f"medae: run {run.info.run_id} (baseline:tv) in " in done.stdout
    printed = dict(line.split()[:2] for line in done.stdout.splitlines() if line.startswith("  test/"))
    assert printed["test/psnr_fg"] == f"{run.data.metrics['test/psnr_fg']:.4f}"
    refused = medae(["baseline", "method=bm3d", "data.spatial_dims=3", "data.noise_std=0.1"], tmp_path)
    assert refused.returncode == 2
    assert (
        refused.stderr.strip().splitlines()[-1] == "medae: error: method: 'bm3d' supports [2]D images, not 3D"
    )


def test_unknown_application_option_stops_before_training(make_config):
    with pytest.raises(
        ConfigError,
        match="application.stepz: is not an option of application 'segmentation'; allowed: label_fractions",
    ):
        train(make_config("application=segmentation", "+application.stepz=3", "logger=none"))


def test_a_stopped_baseline_keeps_what_it_logged_and_says_to_run_it_again(tmp_path):
    command = [
        sys.executable,
        "-m",
        "medae",
        "baseline",
        "method=bm3d",
        "data.noise_std=0.1",
        "tune_images=24",
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=medae_env(tmp_path), stderr=subprocess.PIPE, text=True
    )
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    deadline = time.monotonic() + 300
    tuned: list = []
    while not tuned and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        runs = (
            client.search_runs([e.experiment_id for e in client.search_experiments()])
            if runs_in_store(tmp_path)
            else []
        )
        tuned = [run for run in runs if "tune/psnr_fg" in run.data.metrics]
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "medae: stopped by SIGTERM"
    run = client.get_run(tuned[0].info.run_id)
    assert run.info.status == "KILLED" and run.data.tags["medae.task"] == "baseline"
    assert 20 < client.get_metric_history(run.info.run_id, "tune/psnr_fg")[0].value < 60


def test_baseline_on_a_volume_given_for_evaluation_scores_all_of_it_untuned(tmp_path):
    from tests.data_files import NIBABEL_DATA

    scan = NIBABEL_DATA / "anatomical.nii"  # 33 x 41 x 25 voxels of 2 mm, a subject nothing was tuned on
    overrides = ["data=nifti", f"data.root={scan}", "data.image_size=32", "data.noise_std=0.1"]
    done = medae(["baseline", "method=tv", *overrides, "data.evaluate_all=true"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    client = mlflow.MlflowClient(tracking_uri(tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("medae").experiment_id])
    assert run.data.params["tune.source"].startswith("textbook setting")
    assert (
        float(run.data.params["tune.weight_over_sigma"]) == 1.0
    )  # the first of TV's grid, its textbook weight
    assert "tune/psnr_fg" not in run.data.metrics  # nothing of the scan tuned it
    assert run.data.metrics["test/psnr_fg"] > run.data.metrics["test/input_psnr_fg"] + 1
    # every axial slice with enough head in it, not the 4 of a test slab
    scored = next(line for line in done.stdout.splitlines() if line.strip().startswith("scored test"))
    assert "1 subject(s), 2" in scored, scored
