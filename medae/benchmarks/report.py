"""The benchmark report: targets beside measured figures, met or not met, as JSON and markdown."""

import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import torch

from medae.benchmarks.sweep_throughput import JOBS

VERSIONED = (
    "medae",
    "torch",
    "lightning",
    "monai",
    "torchmetrics",
    "mlflow",
    "hydra-core",
    "scikit-image",
    "bm3d",
    "numpy",
)


# why the short fixed training budgets of the denoising and compression sections fall short
SHORT_BUDGET = "a short fixed training budget on 63 slices; experiments/README.md has the tuned 5-seed tables"


@dataclass
class Target:
    """One target, whether the measurement met it, and what limits the figure when it did not."""

    name: str
    target: str
    measured: str
    met: bool
    limit: str = ""


def environment(seed: int, quick: bool) -> dict[str, Any]:
    """Core count, threads, library versions, seed and mode of the run."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "seed": seed,
        "quick": quick,
    }


def targets(results: dict[str, Any]) -> list[Target]:
    """Evaluate every target the results allow."""
    found = []
    overhead = results.get("overhead")
    if overhead:
        floor = overhead["lightning_floor_images_per_s"] / overhead["bare_images_per_s"]
        found.append(
            Target(
                "pipeline overhead",
                "medae / bare images/s >= 0.99",
                f"{overhead['ratio']:.3f}",
                overhead["ratio"] >= 0.99,
                f"a bare Lightning Trainer with the same step reaches {floor:.3f} of bare; medae reaches "
                f"{overhead['ratio'] / floor:.3f} of that (metrics, callbacks, logger, typed batches)",
            )
        )
        totals = overhead["medae_images_per_s"] / overhead["lightning_floor_images_per_s"]
        of_floor = overhead.get("of_floor_paired", totals)
        found.append(
            Target(
                "medae against the bare Lightning floor",
                "medae / bare Lightning Trainer images/s >= 0.95 (median step, paired runs)",
                f"{of_floor:.3f}",
                of_floor >= 0.95,
                f"each repeat: {', '.join(f'{r:.3f}' for r in overhead.get('of_floor_paired_each', []))}; "
                f"{totals:.3f} from total images over total time, stalls included; medae's own work per "
                "step: training PSNR/SSIM on 4 images every 10th step, the callbacks' batch hooks "
                "(throughput, checkpoint, early stopping), the logger (section 1 has callbacks=none)",
            )
        )
        wait = overhead["medae_data_wait_fraction"]
        found.append(
            Target("data wait (default settings)", "< 5% of step time", f"{100 * wait:.1f}%", wait < 0.05)
        )
    for source, figures in results.get("data", {}).items():
        if "cold_ratio_to_monai" in figures:
            ratio = figures["cold_ratio_to_monai"]
            found.append(
                Target(
                    f"cold reads ({source})",
                    "medae / MONAI LoadImage images/s >= 0.95",
                    f"{ratio:.2f}",
                    ratio >= 0.95,
                )
            )
    small_sweep = results.get("sweep", {}).get("small")
    if small_sweep:
        cores, busy = results["environment"]["cpu_cores"], small_sweep["basic_busy_cores"]
        found.append(
            Target(
                f"sweep throughput ({JOBS} jobs, 2 cores, small model)",
                "joblib (2 x 1 thread) / basic jobs per hour >= 1.3",
                f"{small_sweep['ratio']:.2f}",
                small_sweep["ratio"] >= 1.3,
                f"the basic launch already keeps {busy:.2f} of {cores} cores busy (torch threads, MLflow, "
                f"SQLite), so at most {cores / busy:.2f}x is left to gain",
            )
        )
    scale = results.get("larger_than_memory")
    if scale:
        growth = (
            scale["disk_rss_growth_mb"] / scale["sizes"][min(scale["sizes"], key=int)]["disk_peak_rss_mb"]
        )
        found.append(
            Target(
                "peak RSS, 3D, disk cache, 10x data",
                "grows < 5% from 1x to 10x the memory-capped set",
                f"{100 * growth:+.1f}% ({scale['disk_rss_growth_mb']:+.0f} MB)",
                growth < 0.05,
            )
        )
        wait = scale["disk_max_data_wait_fraction"]
        found.append(
            Target(
                "data wait, 3D, disk cache",
                "< 10% of step time at every size",
                f"{100 * wait:.1f}% (largest of 3 sizes)",
                wait < 0.1,
            )
        )
    storage = results.get("storage")
    if storage:
        # the local store's checkpoint artifacts are links: every checkpoint's bytes are on disk once
        once = all(v["checkpoints_if_copied_mb"] >= 1.99 * v["checkpoints_mb"] for v in storage.values())
        largest = max(storage, key=lambda variant: storage[variant]["run_mb"])
        found.append(
            Target(
                "storage per run",
                "each checkpoint stored once (outputs/ and mlartifacts/ share it)",
                f"largest run {largest}: {storage[largest]['run_mb']:.1f} MB",
                once,
            )
        )
    denoising = results.get("denoising", {}).get("0.1")
    if denoising:
        ae, bm3d = denoising["autoencoder"], denoising["bm3d"]
        gap = ae["psnr"] - bm3d["psnr"]
        found.append(
            Target(
                "denoising PSNR at sigma 0.1",
                ">= BM3D + 0.3 dB",
                f"{gap:+.2f} dB vs BM3D",
                gap >= 0.3,
                SHORT_BUDGET,
            )
        )
        speed = bm3d["ms_per_image"] / ae["ms_per_image"]
        found.append(
            Target(
                "denoising time at sigma 0.1", "<= 1/50 of BM3D's ms per image", f"1/{speed:.0f}", speed >= 50
            )
        )
    compression = results.get("compression")
    if compression:
        gaps = {size: m["autoencoder"]["psnr"] - m["pca"]["psnr"] for size, m in compression.items()}
        measured = ", ".join(f"{size}: {gap:+.2f} dB" for size, gap in gaps.items())
        found.append(
            Target(
                "compression vs PCA",
                "autoencoder PSNR ahead at every size",
                measured,
                all(g > 0 for g in gaps.values()),
                SHORT_BUDGET,
            )
        )
    schema = results.get("schema")
    for command, figures in results.get("cli_startup", {}).items():
        seconds, heavy = figures["median_s"], figures["heavy_imports"]
        refusal = command.startswith("train")
        limit = 2.0 if refusal else 1.5
        found.append(
            Target(
                f"medae {command} " + ("refused" if refusal else "start-up"),
                f"< {limit} s, importing neither torch nor Lightning",
                f"{seconds:.2f} s" + (f", imports {', '.join(heavy)}" if heavy else ""),
                seconds < limit and not heavy,
                "" if heavy or refusal else "MLflow's own import (about 1 s) and opening the sqlite store",
            )
        )
    if schema:
        found.append(
            Target(
                "config schema's share of start-up (read schema.json, check the composed config)",
                "< 0.5 s",
                f"{schema['schema_s']:.3f} s (Hydra's composition beside it: {schema['compose_s']:.3f} s)",
                schema["schema_s"] < 0.5,
                "",
            )
        )
    applying = results.get("inference")
    if applying:
        found.append(
            Target(
                "medae predict against a hand-written loop",
                "predict / loop slices/s >= 0.9 (same files in, same NIfTI files out)",
                f"{applying['predict_ratio']:.2f}",
                applying["predict_ratio"] >= 0.9,
                "both write the same NIfTI files; predict reads through MONAI's LoadImage and its checks, "
                "maps intensities with the run's preset and fits its inverse, where the loop hard-codes "
                "nibabel and min-max",
            )
        )
    whole = results.get("whole_volume")
    if whole:
        shape = " x ".join(str(side) for side in whole["volume_shape"])
        found += [
            Target(
                "whole-volume evaluation, peak memory",
                f"<= 4096 MB for a {shape} volume (test loop: sliding windows, PSNR, SSIM)",
                f"{whole['evaluation_peak_rss_mb']:.0f} MB",
                whole["evaluation_peak_rss_mb"] <= 4096,
                "the cached template, its masks and the interpreter with torch and Lightning",
            ),
            Target(
                "whole-volume reconstruction against MONAI's sliding_window_inference on the bare network",
                "medae / bare volumes/s >= 0.95",
                f"{whole['ratio']:.2f}",
                whole["ratio"] >= 0.95,
                "the same call; the difference is timing noise on a shared machine",
            ),
        ]
    return found


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]


def markdown(results: dict[str, Any]) -> str:
    """The human-readable report."""
    env = results["environment"]
    lines = [
        "# medae benchmark report",
        "",
        f"Generated by `make bench` ({'quick mode, ' if env['quick'] else ''}{results['wall_s']:.0f} s) on "
        f"{env['cpu_cores']} CPU cores ({env['torch_threads']} torch threads), CUDA: {env['cuda']}, "
        f"seed {env['seed']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".",
        "",
        "## Targets",
        "",
        *_table(
            ["measurement", "target", "measured", "status", "what limits it (when not met)"],
            [
                [
                    t["name"],
                    t["target"],
                    t["measured"],
                    "met" if t["met"] else "**not met**",
                    "" if t["met"] else t["limit"],
                ]
                for t in results["targets"]
            ],
        ),
    ]
    if "cli_startup" in results:
        lines += ["", "## 0. Command start-up (fresh process, median of alternating runs)", ""]
        lines += _table(
            ["command", "wall time (s)", "torch or Lightning imported"],
            [
                [f"medae {command}", f["median_s"], ", ".join(f["heavy_imports"]) or "no"]
                for command, f in results["cli_startup"].items()
            ],
        )
    if "overhead" in results:
        o = results["overhead"]
        lines += [
            "",
            f"## 1. Pipeline overhead ({o['steps']} steps, median of {o['repeats']} alternating runs)",
            "",
        ]
        lines += _table(
            [
                "loop",
                "images/s (steady state)",
                "images/s (median step)",
                "ratio to bare",
                "start-up to first step (s)",
                "data wait",
                "peak RSS (MB)",
            ],
            [
                [
                    name,
                    o[f"{key}_images_per_s"],
                    o.get(f"{key}_median_images_per_s", ""),
                    o[f"{key}_images_per_s"] / o["bare_images_per_s"],
                    o[f"{key}_startup_s"],
                    f"{100 * o[f'{key}_data_wait_fraction']:.1f}%",
                    o[f"{key}_peak_rss_mb"],
                ]
                for name, key in (
                    ("bare PyTorch", "bare"),
                    ("bare Lightning Trainer, same step", "lightning_floor"),
                    ("medae train", "medae"),
                    ("medae train callbacks=none", "medae_no_callbacks"),
                )
                if f"{key}_images_per_s" in o
            ],
        )
    if "data" in results:
        repeats = next(iter(results["data"].values())).get("cold_repeats", 1)
        lines += ["", f"## 2. Data pipeline (files written by the benchmark; cold: median of {repeats})", ""]
        lines += _table(
            [
                "source",
                "images",
                "cold images/s (read + preprocess + cache)",
                "MONAI LoadImage + same transforms, images/s",
                "ratio",
                "cold images/s, data.num_workers=2",
                "cached images/s",
            ],
            [
                [
                    name,
                    d["images"],
                    d["cold_images_per_s"],
                    d.get("monai_cold_images_per_s", ""),
                    d.get("cold_ratio_to_monai", ""),
                    d.get("cold_images_per_s_2_workers", ""),
                    d["cached_images_per_s"],
                ]
                for name, d in results["data"].items()
            ],
        )
    if "denoising" in results:
        lines += ["", "## 3. Denoising (gaussian noise, same test images for every method)", ""]
        rows = [
            [sigma, method, m.get("psnr"), m.get("ssim"), m.get("ms_per_image", "")]
            for sigma, methods in results["denoising"].items()
            for method, m in methods.items()
        ]
        lines += _table(["sigma", "method", "PSNR (dB)", "SSIM", "ms per image"], rows)
    if "compression" in results:
        lines += ["", "## 4. Compression (float codes, numbers per 64 x 64 image)", ""]
        rows = [
            [size, method, m["code_numbers"], m["psnr"], m["ssim"]]
            for size, methods in results["compression"].items()
            for method, m in methods.items()
        ]
        lines += _table(["size", "method", "numbers used", "PSNR (dB)", "SSIM"], rows)
    if "memory" in results:
        lines += ["", "## 5. Memory", ""]
        lines += _table(["what", "MB"], [[key, value] for key, value in results["memory"].items()])
    if "storage" in results:
        lines += [
            "",
            "## 6. Storage per run (debug=limit: 2 short epochs; each file counted once per inode)",
            "",
        ]
        lines += _table(
            [
                "variant",
                "run (MB)",
                "checkpoints (MB)",
                "checkpoint paths",
                "checkpoints if copied (MB)",
                "mlflow.db (MB)",
            ],
            [
                [
                    variant,
                    v["run_mb"],
                    v["checkpoints_mb"],
                    v["checkpoint_files"],
                    v["checkpoints_if_copied_mb"],
                    v["store_mb"],
                ]
                for variant, v in results["storage"].items()
            ],
        )
    if "sweep" in results:
        lines += ["", f"## 7. Sweep throughput ({JOBS} jobs each, start-up included)", ""]
        lines += _table(
            ["model", "launcher", "wall (s)", "jobs per hour", "ratio to basic", "busy cores"],
            [
                [
                    workload,
                    launcher,
                    sweep[f"{launcher}_wall_s"],
                    sweep[f"{launcher}_jobs_per_hour"],
                    sweep[f"{launcher}_jobs_per_hour"] / sweep["basic_jobs_per_hour"],
                    sweep[f"{launcher}_busy_cores"],
                ]
                for workload, sweep in results["sweep"].items()
                for launcher in ("basic", "joblib")
            ],
        )
    if "gpu" in results:
        lines += ["", "## 8. GPU readiness", ""]
        lines += _table(
            ["setting", "images/s or status"], [[key, value] for key, value in results["gpu"].items()]
        )
    if "larger_than_memory" in results:
        scale = results["larger_than_memory"]
        lines += [
            "",
            f"## 9. Larger than memory (3D NIfTI {'x'.join(map(str, scale['source_shape']))} volumes at "
            f"{scale['image_size']}^3, {scale['steps']} steps; the memory cap lets the cache add "
            f"{scale['memory_cap_mb']} MB, {scale['sample_mb']:.2f} MB a preprocessed volume)",
            "",
        ]
        lines += _table(
            ["volumes", "x capped set", "cache", "peak RSS (MB)", "data wait", "images/s", "start-up (s)"],
            [
                [
                    count,
                    size["growth"],
                    mode,
                    size[f"{mode}_peak_rss_mb"],
                    f"{100 * size[f'{mode}_data_wait_fraction']:.1f}%",
                    size[f"{mode}_images_per_s"],
                    size[f"{mode}_startup_s"],
                ]
                for count, size in scale["sizes"].items()
                for mode in ("memory", "disk")
            ],
        )
    if "inference" in results:
        applying = results["inference"]
        lines += [
            "",
            f"## 10. Applying a model ({applying['files']} NIfTI volumes of "
            f"{applying['slices_per_file']:.0f} slices; median of alternating runs)",
            "",
            *([applying["note"], ""] if applying.get("note") else []),
        ]
        lines += _table(
            ["loop", "slices or images/s", "ratio"],
            [
                [
                    "medae predict (read, map, slice, resize, network, invert, write)",
                    applying["predict_slices_per_s"],
                    applying["predict_ratio"],
                ],
                [
                    "hand-written loop (nibabel, min-max, MONAI resize, network, resize back, nibabel save)",
                    applying["bare_slices_per_s"],
                    1.0,
                ],
                [
                    "onnxruntime, CPU, batches of 32 (medae export)",
                    applying["onnxruntime_images_per_s"],
                    applying["onnxruntime_ratio"],
                ],
                ["PyTorch, CPU, batches of 32", applying["pytorch_images_per_s"], 1.0],
            ],
        )
    if "whole_volume" in results:
        whole = results["whole_volume"]
        shape = " x ".join(str(side) for side in whole["volume_shape"])
        lines += [
            "",
            f"## 11. A whole volume at full resolution ({shape} voxels, windows of {whole['window']}; "
            "median of alternating runs)",
            "",
            f"Peak resident memory of the test loop on the volume: {whole['evaluation_peak_rss_mb']:.0f} MB.",
            "",
        ]
        lines += _table(
            ["reconstruction", "volumes/s", "ratio"],
            [
                ["medae (the test loop's sliding windows)", whole["medae_volumes_per_s"], whole["ratio"]],
                ["sliding_window_inference on the bare network", whole["bare_volumes_per_s"], 1.0],
            ],
        )
    return "\n".join(lines) + "\n"


def finalize(results: dict[str, Any]) -> dict[str, Any]:
    """Add the evaluated targets to the results."""
    results["targets"] = [asdict(target) for target in targets(results)]
    return results
