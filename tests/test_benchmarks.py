import json
import subprocess
import sys

import pytest

from medae.benchmarks.report import markdown, targets


def test_targets_are_judged_from_the_figures():
    results: dict = {
        "environment": {"cpu_cores": 2},
        "overhead": {
            "ratio": 0.96,
            "medae_data_wait_fraction": 0.02,
            "bare_images_per_s": 1000.0,
            "lightning_floor_images_per_s": 980.0,
        },
        "denoising": {
            "0.1": {
                "autoencoder": {"psnr": 32.0, "ms_per_image": 2.0},
                "bm3d": {"psnr": 31.5, "ms_per_image": 500.0},
            }
        },
        "compression": {
            "16": {"autoencoder": {"psnr": 25.0}, "pca": {"psnr": 24.0}},
            "64": {"autoencoder": {"psnr": 26.0}, "pca": {"psnr": 27.0}},
        },
    }
    results["data"] = {"nifti": {"cold_ratio_to_monai": 0.97}, "dicom": {"cold_ratio_to_monai": 0.9}}
    results["sweep"] = {"small": {"ratio": 1.25, "basic_busy_cores": 1.6}, "default": {"ratio": 0.9}}
    results["storage"] = {"conv": {"run_mb": 1.4, "checkpoints_mb": 0.9, "checkpoints_if_copied_mb": 1.8}}
    results["larger_than_memory"] = {
        "sizes": {"100": {"disk_peak_rss_mb": 800.0}, "1000": {"disk_peak_rss_mb": 830.0}},
        "disk_rss_growth_mb": 30.0,
        "disk_max_data_wait_fraction": 0.12,
    }
    results["overhead"]["medae_images_per_s"] = 920.0
    results["inference"] = {"predict_ratio": 0.85}
    results["whole_volume"] = {
        "volume_shape": [197, 233, 189],
        "evaluation_peak_rss_mb": 1640.0,
        "ratio": 0.93,
    }
    results["cli_startup"] = {
        "models": {"median_s": 0.3, "heavy_imports": []},
        "runs": {"median_s": 2.1, "heavy_imports": []},
        "data": {"median_s": 0.4, "heavy_imports": ["torch"]},
    }
    judged = {t.name: t for t in targets(results)}
    floor = judged["medae against the bare Lightning floor"]
    assert not floor.met and floor.measured == "0.939"  # 920 / 980
    results["overhead"] |= {"of_floor_paired": 0.957, "of_floor_paired_each": [0.95, 0.957, 0.99]}
    floor = {t.name: t for t in targets(results)}["medae against the bare Lightning floor"]
    assert floor.met and floor.measured == "0.957"  # the median of paired runs, its spread, the totals
    assert floor.limit.startswith("each repeat: 0.950, 0.957, 0.990; 0.939 from total images")
    assert judged["medae models start-up"].met and judged["medae models start-up"].measured == "0.30 s"
    assert not judged["medae runs start-up"].met and "MLflow" in judged["medae runs start-up"].limit
    assert judged["medae data start-up"].measured == "0.40 s, imports torch"
    assert not judged["medae data start-up"].met
    assert not judged["pipeline overhead"].met and judged["pipeline overhead"].measured == "0.960"
    assert "reaches 0.980 of bare; medae reaches 0.980 of that" in judged["pipeline overhead"].limit
    assert judged["cold reads (nifti)"].met and not judged["cold reads (dicom)"].met
    assert judged["sweep throughput (4 jobs, 2 cores, small model)"].measured == "1.25"
    assert not judged["sweep throughput (4 jobs, 2 cores, small model)"].met
    assert "1.60 of 2 cores busy" in judged["sweep throughput (4 jobs, 2 cores, small model)"].limit
    assert "at most 1.25x" in judged["sweep throughput (4 jobs, 2 cores, small model)"].limit
    assert judged["storage per run"].met and judged["storage per run"].measured == "largest run conv: 1.4 MB"
    assert judged["data wait (default settings)"].met
    assert (
        judged["denoising PSNR at sigma 0.1"].met
        and judged["denoising PSNR at sigma 0.1"].measured == "+0.50 dB vs BM3D"
    )
    assert (
        judged["denoising time at sigma 0.1"].met
        and judged["denoising time at sigma 0.1"].measured == "1/250"
    )
    assert not judged["compression vs PCA"].met
    assert judged["compression vs PCA"].measured == "16: +1.00 dB, 64: -1.00 dB"
    rss = judged["peak RSS, 3D, disk cache, 10x data"]
    assert rss.met and rss.measured == "+3.8% (+30 MB)"
    assert not judged["data wait, 3D, disk cache"].met
    applying = judged["medae predict against a hand-written loop"]
    assert not applying.met and applying.measured == "0.85" and "MONAI's LoadImage" in applying.limit
    whole = judged["whole-volume evaluation, peak memory"]
    assert whole.met and whole.measured == "1640 MB" and "197 x 233 x 189" in whole.target
    windows = judged[
        "whole-volume reconstruction against MONAI's sliding_window_inference on the bare network"
    ]
    assert not windows.met and windows.measured == "0.93"


@pytest.mark.slow
def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "medae.benchmarks", "--quick", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1800,  # the quick benchmark shares the cores with the other test worker
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["environment"]["quick"] is True and results["environment"]["cpu_cores"] >= 1
    # each section's wall time, so a slow one is found without re-running the whole benchmark
    sections = results["section_wall_s"]
    assert {"overhead", "sweep", "larger_than_memory", "inference"} <= set(sections)
    # a line as each section starts and ends, so a long run says where it is
    progress = [line for line in done.stdout.splitlines() if line.startswith("bench: ")]
    assert progress[:2] == [
        f"bench: 1/{len(sections)} cli_startup ...",
        f"bench: 1/{len(sections)} cli_startup took {sections['cli_startup']} s",
    ]
    assert len(progress) == 2 * len(sections)
    assert 0 < sum(sections.values()) <= results["wall_s"] + 1
    assert {t["name"] for t in results["targets"]} == {
        "pipeline overhead",
        "medae against the bare Lightning floor",
        *(f"medae {command} start-up" for command in ("--help", "models", "data", "applications", "runs")),
        "medae train trainer.max_epochs=ten refused",
        "config schema's share of start-up (read schema.json, check the composed config)",
        "data wait (default settings)",
        "denoising PSNR at sigma 0.1",
        "denoising time at sigma 0.1",
        "compression vs PCA",
        "cold reads (nifti)",
        "cold reads (dicom)",
        "sweep throughput (4 jobs, 2 cores, small model)",
        "storage per run",
        "peak RSS, 3D, disk cache, 10x data",
        "data wait, 3D, disk cache",
        "medae predict against a hand-written loop",
        "whole-volume evaluation, peak memory",
        "whole-volume reconstruction against MONAI's sliding_window_inference on the bare network",
    }
    whole = results["whole_volume"]
    assert whole["volume_shape"] == [197, 233, 189] and 200 < whole["evaluation_peak_rss_mb"] <= 4096
    assert whole["ratio"] == pytest.approx(whole["medae_volumes_per_s"] / whole["bare_volumes_per_s"])
    schema = results["schema"]
    assert 0 < schema["schema_s"] < results["cli_startup"]["train trainer.max_epochs=ten"]["median_s"]
    applying = results["inference"]
    assert applying["predict_ratio"] == pytest.approx(
        applying["predict_slices_per_s"] / applying["bare_slices_per_s"]
    )
    assert applying["onnxruntime_images_per_s"] > 0 and applying["files"] == 2
    overhead = results["overhead"]
    assert overhead["bare_images_per_s"] > 0 and overhead["medae_images_per_s"] > 0
    assert overhead["lightning_floor_images_per_s"] > 0
    assert overhead["medae_peak_rss_mb"] > 100
    assert results["data"]["nifti"]["cached_images_per_s"] > results["data"]["nifti"]["cold_images_per_s"]
    assert results["data"]["dicom"]["monai_cold_images_per_s"] > 0
    sweep = results["sweep"]["small"]
    assert sweep["ratio"] == pytest.approx(sweep["joblib_jobs_per_hour"] / sweep["basic_jobs_per_hour"])
    assert 0 < sweep["basic_busy_cores"] <= results["environment"]["cpu_cores"] + 0.5
    assert set(results["denoising"]["0.1"]) == {"autoencoder", "noisy input", "bm3d", "nlm", "tv"}
    assert results["denoising"]["0.1"]["bm3d"]["psnr"] > results["denoising"]["0.1"]["noisy input"]["psnr"]
    scale = results["larger_than_memory"]
    assert [size["growth"] for size in scale["sizes"].values()] == [1, 10]  # quick: the two ends
    assert all(size["disk_peak_rss_mb"] > 100 for size in scale["sizes"].values())
    if "skipped" in results["gpu"]:
        assert results["gpu"]["skipped"] == "no CUDA device on this machine"
    report = (tmp_path / "report.md").read_text()
    assert report == markdown(results)
    assert "## Targets" in report and "## 7. Sweep throughput" in report and "## 8. GPU readiness" in report
    assert "## 9. Larger than memory" in report and "## 0. Command start-up" in report
    assert "## 10. Applying a model" in report and "## 11. A whole volume at full resolution" in report
    assert all(not figures["heavy_imports"] for figures in results["cli_startup"].values())
    conv = results["storage"]["conv"]
    assert conv["checkpoints_if_copied_mb"] == pytest.approx(2 * conv["checkpoints_mb"], rel=0.01)
