"""Evaluating a whole 1 mm volume by sliding windows: peak memory, and speed against MONAI called bare.

- memory: a child process builds ``experiment=full_resolution_brain_3d``'s module and runs Lightning's
  test loop on the whole MNI152 template (197 x 233 x 189 voxels, ``data.evaluate_all``): sliding-window
  reconstruction, loss, PSNR and SSIM, whole image and brain. Its peak resident memory.
- speed: in one process, alternating, the module's reconstruction of the whole template against
  ``monai.inferers.sliding_window_inference`` called on the bare network with the same windows, overlap,
  blending and tiles per call. Volumes per second; the weights are untrained (the arithmetic is the same).
"""

import argparse
import statistics
import time

import torch
from monai.inferers import sliding_window_inference

from medae.benchmarks.subprocess_run import peak_rss_mb, run_child

PRESET = ["experiment=full_resolution_brain_3d", "data.evaluate_all=true", "+data.held_out=[]"]


def build() -> tuple:
    """The preset's data module (the whole template as its one test sample) and its untrained module."""
    from medae.commands.compose import compose_train
    from medae.config.run_parts import to_plain
    from medae.data.registry import build_datamodule
    from medae.models.registry import build_module

    cfg = compose_train(PRESET)
    datamodule = build_datamodule(cfg.data)
    datamodule.setup()
    module = build_module(
        to_plain(cfg.model), to_plain(cfg.loss), to_plain(cfg.optim), None, datamodule.value_range
    )
    return datamodule, module.eval()


def child() -> None:
    """Run the test loop on the whole template; print the peak resident memory."""
    import lightning as L

    datamodule, module = build()
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False
    )
    metrics = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    print(f"psnr_fg={metrics['test/psnr_fg']:.3f} peak_rss_mb={peak_rss_mb()}")


def measure(quick: bool) -> dict[str, float]:
    """Peak memory of a whole-volume evaluation; volumes/s of medae's and the bare sliding windows."""
    from medae.models.autoencoder_module import WINDOW_BATCH
    from medae.models.sliding_window import BLEND_MODE, OVERLAP

    output = run_child(["-m", "medae.benchmarks.whole_volume"]).output
    peak = float(output.rsplit("peak_rss_mb=", 1)[1].split()[0])
    datamodule, module = build()
    volume = torch.as_tensor(datamodule.datasets["test"][0]["image"])[None]
    window = [module.config.image_size] * 3
    bare = lambda tiles: module.network(tiles).reconstruction  # noqa: E731
    medae_rates, bare_rates = [], []
    with torch.no_grad():
        for _ in range(1 if quick else 3):
            start = time.perf_counter()
            module.evaluation_output(volume)
            medae_rates.append(1 / (time.perf_counter() - start))
            start = time.perf_counter()
            sliding_window_inference(volume, window, WINDOW_BATCH, bare, overlap=OVERLAP, mode=BLEND_MODE)
            bare_rates.append(1 / (time.perf_counter() - start))
    figures = {
        "volume_shape": list(volume.shape[2:]),
        "window": module.config.image_size,
        "evaluation_peak_rss_mb": peak,
        "medae_volumes_per_s": statistics.median(medae_rates),
        "bare_volumes_per_s": statistics.median(bare_rates),
    }
    figures["ratio"] = figures["medae_volumes_per_s"] / figures["bare_volumes_per_s"]
    return figures


if __name__ == "__main__":
    argparse.ArgumentParser(description="whole-volume evaluation benchmark child").parse_args()
    child()
