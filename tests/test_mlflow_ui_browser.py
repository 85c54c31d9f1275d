"""The MLflow UI as a user sees it, in headless Chromium (Debian's, through Playwright) on a loopback port.

A two-job sweep is logged, ``mlflow ui`` serves its store, and the test checks that the experiment page
lists the jobs by distinct, short names, that a run page charts val/psnr and val/ssim, that the
reconstruction grid renders large enough to read, and that the logged model appears under its name.
Screenshots go to ``MEDAE_UI_SCREENSHOTS`` (``docs/ui/`` holds a committed set) or the test's folder.
"""

import contextlib
import os
import shutil
import sys
from pathlib import Path

import mlflow
import pytest

from tests.conftest import medae, runs_in_store, tracking_uri
from tests.tracking_server import free_port, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]
playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install medae[ui])"
)


def mlflow_ui(store: str, log: Path) -> contextlib.AbstractContextManager[str]:
    """``mlflow ui`` over ``store`` on a free loopback port while the block runs; its URL."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store, "--host", "127.0.0.1"]
    return serving([*command, "--port", str(port)], port, log, 120)


def test_mlflow_ui_shows_named_runs_charts_images_and_the_logged_model(tmp_path):
    done = medae(
        ["train", "-m", "debug=limit", "data.image_size=32", "optim.lr=0.001,0.002", "trainer.max_epochs=3"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = sorted(run.info.run_name for run in runs_in_store(tmp_path))
    assert names == ["conv lr=0.001", "conv lr=0.002"]
    shots = Path(os.environ.get("MEDAE_UI_SCREENSHOTS", tmp_path / "screenshots"))
    check_ui(tmp_path, names, shots)


def check_ui(root: Path, names: list[str], shots: Path) -> None:
    """Drive the UI over the store in ``root``, whose experiment 1 holds runs ``names``; save screenshots."""
    client = mlflow.MlflowClient(tracking_uri(root))
    run = next(run for run in client.search_runs(["1"]) if run.info.run_name == names[0])
    run_page = f"#/experiments/1/runs/{run.info.run_id}"
    model_id = run.outputs.model_outputs[0].model_id
    shots.mkdir(parents=True, exist_ok=True)
    with mlflow_ui(tracking_uri(root), root / "mlflow_ui.log") as url, playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(f"{url}/#/experiments/1/runs")
        page.locator(
            "button[data-component-id='mlflow.assistant.chat_panel.close']"
        ).click()  # room for the table
        # the jobs nest under their sweep's parent run: open it with the expander in its name cell
        page.locator("button[data-component-id*='runnamecellrenderer']").first.click()
        for name in names:
            page.get_by_text(name, exact=True).first.wait_for()
        page.screenshot(path=shots / "experiment.png")

        page.goto(f"{url}/{run_page}/model-metrics")
        page.get_by_placeholder("Search metric charts").fill("val/")
        for metric in ("val/psnr", "val/ssim"):
            page.get_by_text(f"{names[0]} ({metric})", exact=True).first.wait_for()
        page.locator(
            ".js-plotly-plot .scatterlayer path"
        ).first.wait_for()  # the charts have drawn their lines
        page.screenshot(path=shots / "run_charts.png")

        page.goto(f"{url}/{run_page}/artifacts")
        page.get_by_text("images", exact=True).first.click()
        grid = next(name for name in image_names(client, run.info.run_id) if name.startswith("val_"))
        page.get_by_text(grid, exact=True).first.click()
        image = page.locator("img[src^='blob:']").first  # the preview of the selected artifact
        image.wait_for()
        # 4 columns of 192-pixel tiles beside the labels: a grid that stays readable when the UI shrinks it
        page.wait_for_function("img => img.complete && img.naturalWidth >= 900", arg=image.element_handle())
        page.screenshot(path=shots / "image_grid.png")

        page.goto(f"{url}/{run_page}")
        page.get_by_text("Logged models", exact=False).first.wait_for()
        page.get_by_text("conv-reconstruction", exact=True).first.wait_for()  # named after variant and use
        link = page.locator(f"a[href*='{model_id}']").first
        link.wait_for()
        link.scroll_into_view_if_needed()
        page.screenshot(path=shots / "logged_model.png")
        browser.close()


def image_names(client: mlflow.MlflowClient, run_id: str) -> list[str]:
    """The full-size PNG grids of a run's ``images/`` artifacts."""
    return [a.path.split("/")[-1] for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]
