import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "run_applications.py"


@pytest.mark.slow
def test_results_table_is_regenerated_from_fresh_runs_over_seeds(tmp_path):
    env = {**os.environ, "MEDAE_ROOT": str(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        sys.executable, str(SCRIPT), "--quick", "--seeds", "2", "--only", "compress_brain_64",
        "denoise_mri", "--output", str(tmp_path), "--", "data.held_out_stride=12",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    values = results["compress_brain_64"]["values"]
    # JPEG 2000 is the anchor: its deltas against itself are 0, so it ranks beside the others
    assert list(values) == ["autoencoder (conv)", "baseline:jpeg", "baseline:jpeg2000", "baseline:pca"]
    assert len(values["autoencoder (conv)"]["colin27_head/compression/bd_psnr_fg"]) == 2  # two seeds
    # each seed's rate-distortion points, image by image, give the BD-rate intervals
    curves = results["compress_brain_64"]["curves"]["test"]
    assert len(curves) == 2 and curves[0] != curves[1]
    table = (tmp_path / "README.md").read_text()
    assert "## `compress_brain_64` (`experiment=compress_brain`, compression)" in table
    pca_row = next(line for line in table.splitlines() if line.startswith("| pca vs jpeg2000 |"))
    assert "[" in pca_row and "images, 1 subj.)" in pca_row and "nan" not in pca_row
    assert "| jpegls | lossless |" in table
    # denoising pairs methods image by image: each seed's per-image scores, a bootstrap cell with wins
    images = results["denoise_mri"]["images"]
    ours, bm3d = images["autoencoder (redcnn)"]["test_at_0.05"], images["baseline:bm3d"]["test_at_0.05"]
    assert ours["position"] == bm3d["position"] and set(ours["subject"]) == {"mni152"}
    assert len(ours["psnr_fg"]) == 2 and len(ours["psnr_fg"][0]) == len(ours["position"]) > 10
    mean = np.mean(np.asarray(ours["psnr_fg"]) - np.asarray(bm3d["psnr_fg"]))
    row = next(
        line for line in table.splitlines() if line.startswith("| autoencoder (redcnn) − baseline:bm3d |")
    )
    assert f"{mean:+.3g} [" in row and f"/{len(ours['position'])}, 1 subj.)" in row
    assert "Colin27 brain (used in development)" in table or "colin27_brain" not in images["baseline:bm3d"]
    # each method's row holds the mean ± SD over the seeds, set by set
    jpeg = values["baseline:jpeg"]["compression/bd_psnr_fg"]
    assert f"| baseline:jpeg | {np.mean(jpeg):.4g} ± {np.std(jpeg, ddof=1):.2g} |" in table
