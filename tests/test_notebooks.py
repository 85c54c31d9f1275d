"""Every notebook runs top to bottom on tiny settings (MEDAE_NOTEBOOK_QUICK=1) in a scratch folder."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.data_files import PNEUMONIAMNIST

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDAE_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MEDAE_ROOT", str(tmp_path))
    monkeypatch.setenv("MEDAE_MEDMNIST_DIR", str(PNEUMONIAMNIST.parent))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert os.path.isfile(tmp_path / "mlflow.db")
