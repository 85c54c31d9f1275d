"""Execute every notebook in place on small settings, keeping its outputs: ``make notebooks``.

The outputs are committed, so that a code host shows the figures. Each notebook runs in a scratch folder
(its MLflow store and outputs are thrown away) with ``MEDAE_NOTEBOOK_QUICK=1``.
"""

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parent
SHARED = FOLDER.parent.parent / "shared" / "data"


def main() -> None:
    """Run the notebooks named on the command line, or all of them."""
    paths = [Path(name) for name in sys.argv[1:]] or sorted(FOLDER.glob("*.ipynb"))
    os.environ["MEDAE_NOTEBOOK_QUICK"] = "1"
    os.environ.setdefault("MEDAE_MEDMNIST_DIR", str(SHARED))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    for path in paths:
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["MEDAE_ROOT"] = scratch
            notebook = nbformat.read(path, as_version=4)
            resources = {"metadata": {"path": scratch}}
            NotebookClient(notebook, timeout=900, kernel_name="python3", resources=resources).execute()
            nbformat.write(notebook, path)
            print(f"executed {path.name}", flush=True)


if __name__ == "__main__":
    main()
