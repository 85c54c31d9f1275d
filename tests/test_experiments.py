import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "run_applications.py"


@pytest.mark.slow
def test_results_table_is_regenerated_from_fresh_runs(tmp_path):
    env = {**os.environ, "MEDAE_ROOT": str(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        sys.executable,
        str(SCRIPT),
        "--quick",
        "--only",
        "compress_brain",
        "generate_brain",
        "--output",
        str(tmp_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    methods = [row["method"] for row in results["compress_brain"]["rows"]]
    assert methods == ["autoencoder (conv)", "baseline:jpeg", "baseline:pca"]
    assert results["compress_brain"]["rows"][0]["compression/code_numbers"] == 64  # 4 x 4 x 4 at 32 px
    table = (tmp_path / "README.md").read_text()
    assert "## `experiment=compress_brain` (compression)" in table
    vae = results["generate_brain"]["rows"][0]
    assert f"| autoencoder (vae) | {vae['generation/sample_nearest_rmse_mean']:.4g} |" in table
