"""A trained model applied to scans it never saw, exported to ONNX and TorchScript, and served by MLflow."""

import csv
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import zoom

from medae.commands.evaluate import evaluate
from medae.commands.train import train
from medae.data.foreground_mask import HEAD_MASK_METHOD, head_mask
from medae.data.intensity import fit_intensity
from medae.data.mni152 import mni152_image
from medae.data.registry import build_datamodule
from medae.inference.scans import read_scan
from medae.inference.trained_model import TrainedModel
from medae.metrics import quality
from tests.conftest import FAST_RUN, SHARED_DATA, compose_config, last_error_line, medae, tracking_uri
from tests.data_files import NIBABEL_DATA, SKIMAGE_DATA, pydicom_file, write_ct_series
from tests.tracking_server import free_port, wait_until_up

pytestmark = pytest.mark.slow
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="medae export to ONNX needs pip install medae[export]"
)


COLIN27 = SHARED_DATA / "colin27"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A conv autoencoder trained for two epochs on 32-pixel MNI152 slices, its run logged with its model."""
    root = tmp_path_factory.mktemp("model")
    return root, train(compose_config("train", [*FAST_RUN, "trainer.max_epochs=2"], root))


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    """nibabel's anatomical T1 (a subject the model never saw) at 32 x 32 voxels a slice, 60 slices.

    Stored with 1 mm voxels, the training data's (the MNI152 template's), so predict and eval read it on
    its own grid.
    """
    image = nib.load(NIBABEL_DATA / "anatomical.nii")
    volume = np.asarray(image.get_fdata(), dtype=np.float32)
    factors = (32 / volume.shape[0], 32 / volume.shape[1], 60 / volume.shape[2])
    path = tmp_path_factory.mktemp("scans") / "anatomical32.nii.gz"
    affine = image.affine @ np.diag([1 / size for size in image.header.get_zooms()] + [1])
    nib.save(nib.Nifti1Image(zoom(volume, factors, order=1).astype(np.float32), affine), path)
    return path


def test_predict_writes_the_scans_grid_and_scores_as_eval_does(trained, unseen, tmp_path):
    root, result = trained
    data = ["data=nifti", f"data.root={unseen}", "data.image_size=32", "data.percentiles=null"]
    evaluation = evaluate(
        compose_config("eval", [f"ckpt_path={result.best_checkpoint}", *data, "logger=none"], tmp_path)
    )
    evaluated = evaluation.metrics
    out = tmp_path / "predicted"
    done = medae(
        [
            "predict",
            f"ckpt_path={result.run_id}",
            f"input={unseen}",
            f"output={out}",
            f"reference={unseen}",
            "codes=true",
            "log_run=true",
        ],
        root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = mlflow.MlflowClient(tracking_uri(root))
    (logged,) = client.search_runs(
        [client.get_run(result.run_id).info.experiment_id], "tags.`medae.task` = 'predict'"
    )
    assert logged.data.tags["mlflow.parentRunId"] == result.run_id and logged.info.status == "FINISHED"
    assert logged.data.metrics["predict/files"] == 1 and logged.data.metrics["predict/reference_psnr_fg"] > 5
    assert logged.data.metrics["predict/warned"] == 1  # a head, to a model of skull-stripped brains
    assert {a.path for a in client.list_artifacts(logged.info.run_id)} == {"predictions.csv"}
    scan, written = nib.load(unseen), nib.load(out / "anatomical32_reconstruction.nii.gz")
    assert written.shape == scan.shape and np.array_equal(written.affine, scan.affine)
    # the model never trained on this scan: eval scored every axial slice with enough head mask, not a slab
    everything = ["data.evaluate_all=true"]
    datamodule = build_datamodule(
        compose_config("eval", [f"ckpt_path={result.best_checkpoint}", *data, *everything], tmp_path).data
    )
    datamodule.setup()
    slices = [int(item["position"].rsplit(":", 1)[1]) for item in datamodule.datasets["test"].data]
    assert len(slices) > 50 and evaluation.scored["test"] == (
        f"1 subject(s), {len(slices)} images; mask: {HEAD_MASK_METHOD}"
    )
    # those slices of the written file (LAS on disk, RAS after reading), scored with eval's definitions
    pixels = read_scan(unseen, 1).pixels
    fitted = fit_intensity(pixels, "unit")
    clean = torch.from_numpy(np.moveaxis(fitted.forward(pixels), 3, 0)[slices])
    written_back = read_scan(out / "anatomical32_reconstruction.nii.gz", 1).pixels
    output = torch.from_numpy(np.moveaxis(fitted.forward(written_back), 3, 0)[slices])
    mask = torch.from_numpy(np.moveaxis(head_mask(fitted.forward(pixels)), 3, 0)[slices])
    measured = quality(output, clean, (0.0, 1.0), mask)
    assert abs(measured["test/psnr_fg"] - evaluated["test/psnr_fg"]) < 0.1, (measured, evaluated)
    header, row = list(csv.reader((out / "predictions.csv").read_text().splitlines()))
    assert header[:9] == [
        "file",
        "shape",
        "spacing",
        "resampled_shape",
        "resampled_spacing",
        "domain_warnings",
        "samples",
        "reconstruction",
        "codes",
    ]
    assert row[:5] == [str(unseen), "32x32x60", "1x1x1", "32x32x60", "1x1x1"]
    assert row[6:9] == ["60", "anatomical32_reconstruction.nii.gz", "anatomical32_codes.npy"]
    assert row[5].startswith("its brightest voxels lie at the edge of the head")  # a head, with its scalp
    assert header[9] == "reference_psnr"
    assert np.load(out / "anatomical32_codes.npy").shape[0] == 60


def test_predict_takes_pictures_and_dicom_series_and_goes_on_past_a_bad_file(trained, tmp_path):
    root, result = trained
    scans = tmp_path / "scans"
    write_ct_series(scans / "ct_series", [0.0, 5.0, 10.0])
    Image.open(SKIMAGE_DATA / "camera.png").resize((90, 60)).save(scans / "camera.png")
    (scans / "broken.nii.gz").write_bytes(b"not a nifti")
    # an export beside them: a colour ultrasound image (no position), an RT dose grid (15 frames), a non-DICOM
    (scans / "export").mkdir()
    shutil.copy(pydicom_file("examples_rgb_color.dcm"), scans / "export" / "us.dcm")
    shutil.copy(pydicom_file("rtdose.dcm"), scans / "export" / "dose")
    (scans / "export" / "notes.dcm").write_bytes(b"not DICOM")
    out = tmp_path / "out"
    done = medae(["predict", f"ckpt_path={result.best_checkpoint}", f"input={scans}", f"output={out}"], root)
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"medae: error: {scans / 'broken.nii.gz'}: cannot be read" in done.stderr
    assert "medae: predicted 4 of 5 scans into" in done.stdout
    summary = [line.strip() for line in done.stdout.splitlines() if line.startswith("  ")]
    assert [line.split(": ")[-1] for line in summary if "predicted (" in line] == [
        "predicted (90x60)",
        "predicted (3x128x128)",  # as stored: slices, rows, columns
        "predicted (15x10x10)",
        "predicted (240x320)",
    ]
    assert (
        summary[-1]
        == f"{scans / 'export' / 'notes.dcm'}: skipped: is not a readable DICOM file (no DICOM header in it)"
    )
    assert nib.load(out / "export_us_reconstruction.nii.gz").shape == (240, 320)
    assert nib.load(out / "export_dose_reconstruction.nii.gz").shape == (15, 10, 10)  # the file's frames
    assert Image.open(out / "camera_reconstruction.png").size == (90, 60)
    series = nib.load(out / "ct_series_reconstruction.nii.gz")
    assert series.shape == (3, 128, 128)
    # slices 5 mm apart along z; rows and columns 0.661468 mm along y and x, in RAS (DICOM's LPS negated)
    assert np.allclose(series.affine[:3, :3], [[0, 0, -0.661468], [0, -0.661468, 0], [5, 0, 0]])
    refused = medae(
        ["predict", f"ckpt_path={result.best_checkpoint}", f"input={scans}", f"output={out}"], root
    )
    assert refused.returncode == 2
    expected = f"output: {out} exists and holds other files; choose a new folder or pass overwrite=true"
    assert last_error_line(refused) == f"medae: error: {expected}"


def test_bad_scans_for_the_model_end_in_one_line(trained, tmp_path):
    root, result = trained
    small = tmp_path / "small.nii.gz"
    nib.save(
        nib.Nifti1Image(np.random.default_rng(0).random((20, 20, 4), dtype=np.float32), np.eye(4)), small
    )
    four_d = tmp_path / "four_d.nii.gz"
    nib.save(
        nib.Nifti1Image(np.random.default_rng(0).random((8, 8, 8, 2, 2), dtype=np.float32), np.eye(4)), four_d
    )
    cases = {
        (
            str(small),
            "sliding_window=true",
        ): f"medae: error: {small}: is [20, 20, 4] voxels, smaller than the 32-voxel window",
        (str(four_d), "sliding_window=false"): f"medae: error: {four_d}: ",
    }
    for (scan, window), line in cases.items():
        done = medae(
            [
                "predict",
                f"ckpt_path={result.best_checkpoint}",
                f"input={scan}",
                f"output={tmp_path / scan[-9:]}",
                window,
            ],
            root,
        )
        assert done.returncode == 1 and line in done.stderr, done.stderr[-2000:]
        assert "Traceback" not in done.stderr


ONNX_CALLER = """
import json, sys
import numpy as np
import onnxruntime
model, images, expected = sys.argv[1:]
described = json.load(open(model + ".json"))
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
output = session.run(None, {described["input"]["name"]: np.load(images)})[0]
assert not any(name.startswith("medae") or name.startswith("torch") for name in sys.modules), "imported medae"
print(float(np.abs(output - np.load(expected)).max()))
"""


def test_export_to_onnx_runs_in_onnxruntime_without_medae_and_matches_pytorch(trained, unseen, tmp_path):
    root, result = trained
    model = tmp_path / "model.onnx"
    done = medae(["export", f"ckpt_path={result.run_id}", f"output={model}", f"input={unseen}"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "largest difference from PyTorch on 4 real inputs: " in done.stdout
    steps = [
        line.split("[INFO] - ", 1)[1] for line in done.stdout.splitlines() if "medae.commands.export" in line
    ]
    assert steps == [
        f"loading {result.run_id}",
        f"reading the samples of {unseen}",
        f"writing {model} as onnx and checking it against PyTorch on 4 inputs",
    ]
    described = json.loads((tmp_path / "model.onnx.json").read_text())
    assert described["run_id"] == result.run_id and described["input"]["shape"] == ["batch", 1, 32, 32]
    assert described["preprocessing"]["image_size"] == 32 and described["value_range"] == [0.0, 1.0]
    assert described["max_abs_difference"] <= 1e-4
    network = mlflow.pyfunc.load_model(
        f"runs:/{result.run_id}/conv-reconstruction"
    )  # the same weights, unpickled nowhere
    images = np.random.default_rng(1).random((5, 1, 32, 32), dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "expected.npy", network.predict(images, params={"preprocessed": True}))
    caller = subprocess.run(
        [
            sys.executable,
            "-c",
            ONNX_CALLER,
            str(model),
            str(tmp_path / "images.npy"),
            str(tmp_path / "expected.npy"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert caller.returncode == 0, caller.stderr[-2000:]
    assert float(caller.stdout) <= 1e-4
    scripted = tmp_path / "model.pt"
    assert (
        medae(
            ["export", f"ckpt_path={result.best_checkpoint}", "format=torchscript", f"output={scripted}"],
            root,
        ).returncode
        == 0
    )
    loaded = torch.jit.load(str(scripted))
    assert (
        np.abs(loaded(torch.from_numpy(images)).detach().numpy() - np.load(tmp_path / "expected.npy")).max()
        <= 1e-5
    )
    refused = medae(
        [
            "export",
            f"ckpt_path={result.best_checkpoint}",
            f"output={tmp_path / 'strict.onnx'}",
            "tolerance=0",
        ],
        root,
    )
    assert refused.returncode == 2 and "more than the tolerance 0; nothing was written" in last_error_line(
        refused
    )
    assert not (tmp_path / "strict.onnx").exists()


def readme_serve_request() -> tuple[str, bytes]:
    """The README's serve command's model argument and its curl request's JSON body."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()
    serve = next(line for line in readme if line.startswith("medae serve "))
    curl = next(line for line in readme if line.startswith("curl ") and "/invocations" in line)
    return serve.split()[2], curl.split("-d '", 1)[1].rsplit("'", 1)[0].encode()


def test_medae_serve_answers_the_readme_request_from_a_shell_without_the_environment(trained, tmp_path):
    root, result = trained
    model, body = readme_serve_request()
    assert model == "<RUN_ID>"
    port = free_port()
    # a fresh shell: the environment not activated (mlflow models serve alone exits 127 there: no uvicorn)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(root), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "medae", "serve", result.run_id, "--port", str(port)]
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/ping", tmp_path / "serve.log", 120)
        answers = {}
        camera = np.asarray(Image.open(SKIMAGE_DATA / "camera.png").resize((50, 40)), dtype=np.float32) * 4
        for name, payload in (
            ("readme", body),
            ("camera", json.dumps({"inputs": camera[None, None].tolist()})),
        ):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=payload if isinstance(payload, bytes) else payload.encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
                answers[name] = np.asarray(json.loads(response.read())["predictions"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    printed = (tmp_path / "serve.log").read_text()
    assert f"medae: serving runs:/{result.run_id}/conv-reconstruction at http://127.0.0.1:{port}" in printed
    sent = np.asarray(json.loads(body)["inputs"], dtype=np.float32)
    assert answers["readme"].shape == sent.shape == (1, 1, 4, 4)
    assert sent.min() <= answers["readme"].min() and answers["readme"].max() <= sent.max()  # the scan's units
    mlflow.set_tracking_uri(tracking_uri(root))
    local = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/conv-reconstruction").predict(camera[None, None])
    assert answers["camera"].shape == local.shape == (1, 1, 40, 50)
    assert np.abs(answers["camera"] - local).max() < 1e-3


def test_medae_serve_refuses_a_run_without_a_model_in_one_line(trained, tmp_path):
    root, result = trained
    done = medae(["serve", "0123456789abcdef0123456789abcdef"], root)
    assert done.returncode == 2
    assert last_error_line(done).startswith("medae: error: 0123456789abcdef0123456789abcdef: is no run in ")


def test_predict_an_anomaly_run_applies_its_post_processing_inside_the_scans_mask(unseen, tmp_path):
    root = tmp_path / "anomaly"
    root.mkdir()
    overrides = [*FAST_RUN, "trainer.max_epochs=1", "application=anomaly", "application.pca_components=8"]
    result = train(compose_config("train", [*overrides, "application.erosion=2"], root))
    chosen = mlflow.MlflowClient(tracking_uri(root)).get_run(result.run_id).data.params
    assert chosen["anomaly.erosion"] == "2" and chosen["anomaly.residual"] in ("abs", "positive")
    # a brain mask beside the scan: a box in the middle of each axial slice of the RAS volume
    scans = tmp_path / "scans"
    scans.mkdir()
    scan = scans / "anatomical32.nii.gz"
    scan.write_bytes(unseen.read_bytes())
    image = nib.load(scan)
    box = np.zeros(image.shape, dtype=np.uint8)
    box[8:24, 8:24, :] = 1
    nib.save(nib.Nifti1Image(box, image.affine), scans / "anatomical32_mask.nii.gz")
    out = tmp_path / "predicted"
    # the run id, not the checkpoint file: the run holds what its application chose
    done = medae(["predict", f"ckpt_path={result.run_id}", f"input={scan}", f"output={out}"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    header, row = list(csv.reader((out / "predictions.csv").read_text().splitlines()))[:2]
    assert dict(zip(header, row, strict=True))["anomaly_mask"] == "anatomical32_mask.nii.gz"
    anomaly_map = np.asarray(nib.load(out / "anatomical32_anomaly_map.nii.gz").get_fdata())
    # the map is zero outside the mask eroded by 2 pixels (1.5 pixels of slack for the resizing back)
    assert anomaly_map[box == 0].max() == 0 and anomaly_map[:, :9].max() == 0 and anomaly_map.max() > 0
    assert anomaly_map[11:21, 11:21].max() > 0


@pytest.mark.parametrize(("variant", "score"), [("vae", "elbo"), ("vaegan", "fanogan")])
def test_predict_scores_a_scan_with_the_extra_term_of_the_runs_anomaly_score(
    variant, score, unseen, tmp_path
):
    overrides = [*FAST_RUN, "trainer.max_epochs=1", f"model={variant}", "application=anomaly",
                 "application.pca_components=8", f"application.score={score}"]  # fmt: skip
    result = train(compose_config("train", overrides, tmp_path))
    model = TrainedModel.load(result.run_id, tracking_uri(tmp_path), str(tmp_path / "cache"))
    assert model.chosen["anomaly.anomaly_score"] == score
    scan = read_scan(unseen, 1, 2**32, None)
    inputs, _ = model.preprocessing.prepare(scan.pixels, str(unseen))
    foreground = model.preprocessing.mask_to_model(head_mask(scan.pixels))
    value_range, term = model.preprocessing.value_range, model.prepared
    scores = model.prediction.maps(model.network, inputs, foreground, value_range, model.chosen, term)
    map_only = model.prediction.maps(model.network, inputs, foreground, value_range, model.chosen, None)
    with torch.no_grad():
        if score == "elbo":  # the ELBO's KL per voxel, computed here from the posterior
            mu, logvar = model.network.posterior(inputs)
            expected = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1) / inputs[0].numel()
        else:
            expected = term(inputs)
    difference = scores.columns["anomaly_score"] - map_only.columns["anomaly_score"]
    assert difference == pytest.approx(float(expected.mean()), abs=1e-5) and float(expected.abs().min()) > 0


def test_an_anisotropic_scan_reaches_the_model_at_the_training_voxel_size(trained, unseen, tmp_path):
    """The 1 mm scan stored again at 2 x 3 mm in-plane is resampled to the training data's 1 mm voxels (the
    MNI152 template's, recorded by the model) and its result written back on its own grid; fed as stored
    (the old default) its brain was squashed 1.5 times."""
    root, result = trained
    image = nib.load(unseen)
    coarse = zoom(np.asarray(image.get_fdata(), dtype=np.float32), (1 / 2, 1 / 3, 1), order=1)
    anisotropic = tmp_path / "scans" / "coarse.nii.gz"
    anisotropic.parent.mkdir()
    affine = image.affine @ np.diag([2.0, 3.0, 1.0, 1.0])
    nib.save(nib.Nifti1Image(coarse, affine), anisotropic)
    out = tmp_path / "out"
    done = medae(
        ["predict", f"ckpt_path={result.best_checkpoint}", f"input={anisotropic}", f"output={out}"], root
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written = nib.load(out / "coarse_reconstruction.nii.gz")
    assert written.shape == coarse.shape == (16, 11, 60) and np.allclose(written.affine, affine)
    row = dict(zip(*csv.reader((out / "predictions.csv").read_text().splitlines()), strict=True))
    # as stored (2 x 3 x 1 mm), and the grid the model saw: 1 mm, the 1 mm scan's proportions (its 32 x 32
    # less the last voxel's reach: 15 steps of 2 mm, 10 of 3 mm)
    assert (row["shape"], row["spacing"]) == ("16x11x60", "2x3x1")
    assert (row["resampled_shape"], row["resampled_spacing"]) == ("31x31x60", "1x1x1")
    model = TrainedModel.load(str(result.best_checkpoint), tracking_uri(root), str(tmp_path / "cache"))
    assert model.preprocessing.training_spacing == [1.0, 1.0, 1.0]
    # what the model saw of the coarse scan is the fine scan, up to the resolution the coarse one lost
    fine = read_scan(unseen, 1).pixels
    seen = read_scan(anisotropic, 1, spacing=model.preprocessing.resample_spacing).pixels
    crop = (slice(None), slice(0, 31), slice(0, 31), slice(None))
    peak = float(fine.max() - fine.min())
    agreement = 10 * np.log10(peak**2 / float(np.mean((fine[crop] - seen[crop]) ** 2)))
    assert agreement > 20, agreement


def test_a_head_given_to_a_model_of_skull_stripped_brains_is_warned_with_the_fix(trained, unseen, tmp_path):
    root, result = trained  # trained on the skull-stripped MNI152 template
    scans = tmp_path / "scans"
    scans.mkdir()
    head = scans / "head.nii.gz"
    shutil.copy(unseen, head)  # nibabel's anatomical T1: skull and scalp on
    template = mni152_image()
    every_third = np.asarray(template.get_fdata(), dtype=np.float32)[::3, ::3, ::3]
    coarse = template.affine @ np.diag([3, 3, 3, 1])
    nib.save(nib.Nifti1Image(every_third, coarse), scans / "brain.nii.gz")  # a skull-stripped brain at 3 mm
    out = tmp_path / "out"
    done = medae(["predict", f"ckpt_path={result.best_checkpoint}", f"input={scans}", f"output={out}"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("medae: warning: ")]
    assert len(warnings) == 2, done.stderr[-3000:]  # the brain's 3 mm voxels (training 1 mm); the head's edge
    assert warnings[0] == (
        f"medae: warning: {scans / 'brain.nii.gz'}: its voxels are far coarser than training's (x 3 mm "
        "(training 1), y 3 mm (training 1), z 3 mm (training 1)): resampled up, it lacks the detail the "
        "model learned from"
    )
    edge = "its brightest voxels lie at the edge of the head ("
    assert warnings[1].startswith(f"medae: warning: {head}: {edge}")
    assert warnings[1].endswith("pass mask_input=true")
    rows = {row["file"]: row for row in csv.DictReader((out / "predictions.csv").read_text().splitlines())}
    assert rows[str(head)]["domain_warnings"] == warnings[1].split(": ", 3)[3]


@pytest.mark.skipif(not (COLIN27 / "ch2.nii.gz").is_file(), reason=f"Colin27 not found in {COLIN27}")
def test_on_held_out_colin27_the_head_is_warned_and_its_masked_brain_is_not(trained, tmp_path):
    """Colin27 (held out: nothing was trained or tuned on it) whole head, then with its brain mask."""
    root, result = trained
    scans = tmp_path / "scans"
    scans.mkdir()
    shutil.copy(COLIN27 / "ch2.nii.gz", scans / "head.nii.gz")
    brain = nib.load(COLIN27 / "ch2bet.nii.gz")
    mask = (np.asarray(brain.get_fdata()) > 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, brain.affine), scans / "head_mask.nii.gz")
    shutil.copy(COLIN27 / "ch2bet.nii.gz", tmp_path / "brain.nii.gz")
    arguments = [f"ckpt_path={result.best_checkpoint}", f"input={scans / 'head.nii.gz'}"]
    done = medae(["predict", *arguments, f"output={tmp_path / 'head'}"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "its brightest voxels lie at the edge of the head" in done.stderr
    masked = medae(["predict", *arguments, f"output={tmp_path / 'masked'}", "mask_input=true"], root)
    assert masked.returncode == 0, masked.stderr[-3000:]
    assert "medae: warning:" not in masked.stderr, masked.stderr[-2000:]
    stripped = [f"ckpt_path={result.best_checkpoint}", f"input={tmp_path / 'brain.nii.gz'}"]
    done = medae(["predict", *stripped, f"output={tmp_path / 'brain'}"], root)
    assert done.returncode == 0 and "medae: warning:" not in done.stderr, done.stderr[-2000:]
