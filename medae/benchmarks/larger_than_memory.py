"""3D training on NIfTI sets up to 10x larger than a memory cap: peak RSS and data wait per cache mode."""

from pathlib import Path

import nibabel as nib
import numpy as np

from medae.benchmarks.overhead import WARMUP_STEPS, medae_args
from medae.benchmarks.step_timer import StepTimes
from medae.benchmarks.subprocess_run import run_child, scratch_env

SOURCE_SHAPE = (48, 48, 48)
IMAGE_SIZE = 32
# a preprocessed sample in memory: the float32 volume and its boolean foreground mask
SAMPLE_MB = IMAGE_SIZE**3 * (4 + 1) / 2**20
# what the memory cache may add to a training process; the largest set it allows is CAP_MB / SAMPLE_MB
MEMORY_CAP_MB = 16
GROWTH = (1, 3, 10)
QUICK_GROWTH = (1, 10)  # the smoke check measures the two ends only
MODES = ("memory", "disk")


def write_volumes(folder: Path, count: int, seed: int) -> None:
    """``count`` synthetic T1-like NIfTI volumes: a noisy ellipsoid 'head' with brighter blobs inside."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SOURCE_SHAPE], indexing="ij"))
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        radii = rng.uniform(0.6, 0.9, size=(3, 1, 1, 1))
        volume = 400.0 * (((grid / radii) ** 2).sum(0) < 1)
        for _ in range(3):
            centre = rng.uniform(-0.4, 0.4, size=(3, 1, 1, 1))
            volume = volume + 300.0 * np.exp(-((grid - centre) ** 2).sum(0) / rng.uniform(0.01, 0.05))
        volume = volume + rng.normal(0, 20, SOURCE_SHAPE)
        nib.save(nib.Nifti1Image(volume.astype(np.float32), np.eye(4)), folder / f"subject_{index:04d}.nii")


def train_args(root: Path, cache: str, cache_dir: Path, steps: int, times: Path) -> list[str]:
    """``medae train`` of the default model in 3D on ``root`` with the given cache, timed per step."""
    return [
        *medae_args(steps, times),
        "data=folder",
        f"data.root={root}",
        "data.spatial_dims=3",
        f"data.image_size={IMAGE_SIZE}",
        "data.batch_size=4",
        f"data.cache={cache}",
        f"data.cache_dir={cache_dir}",
    ]


def measure(workdir: Path, quick: bool, seed: int) -> dict[str, object]:
    """Peak RSS, data wait and images/s of memory and disk caching at 1x, 3x and 10x the capped size.

    Each size is written once; the disk cache starts empty, so set-up includes filling it. ``quick``
    measures 1x and 10x over fewer steps.
    """
    base = max(8, round(MEMORY_CAP_MB / SAMPLE_MB)) // (8 if quick else 1)
    steps = 30 if quick else 120
    results: dict[str, object] = {
        "memory_cap_mb": MEMORY_CAP_MB,
        "sample_mb": SAMPLE_MB,
        "source_shape": list(SOURCE_SHAPE),
        "image_size": IMAGE_SIZE,
        "steps": steps,
    }
    sizes: dict[str, dict[str, float]] = {}
    for growth in QUICK_GROWTH if quick else GROWTH:
        count = max(8, base * growth)
        root = workdir / f"volumes_{count}"
        write_volumes(root, count, seed)
        for mode in MODES:
            times_path = workdir / f"volumes_{count}_{mode}.json"
            args = train_args(root, mode, workdir / f"cache_{count}", steps, times_path)
            child = run_child(args, env=scratch_env(workdir), cwd=workdir)
            times = StepTimes.load(times_path)
            images_per_s, wait = times.steady_state(WARMUP_STEPS)
            sizes.setdefault(str(count), {"growth": growth}).update(
                {
                    f"{mode}_peak_rss_mb": times.peak_rss_mb,
                    f"{mode}_data_wait_fraction": wait,
                    f"{mode}_images_per_s": images_per_s,
                    f"{mode}_startup_s": times.starts[0] - child.launched_at,
                }
            )
    results["sizes"] = sizes
    first, last = sizes[min(sizes, key=int)], sizes[max(sizes, key=int)]
    results["disk_rss_growth_mb"] = last["disk_peak_rss_mb"] - first["disk_peak_rss_mb"]
    results["disk_max_data_wait_fraction"] = max(size["disk_data_wait_fraction"] for size in sizes.values())
    return results
