"""GPU readiness: images/s of ``trainer=gpu`` at each precision, with channels_last and torch.compile."""

from pathlib import Path

import torch

from medae.benchmarks.overhead import WARMUP_STEPS, medae_args
from medae.benchmarks.step_timer import StepTimes
from medae.benchmarks.subprocess_run import run_child, scratch_env

SETTINGS: dict[str, list[str]] = {
    "32-true": ["trainer.precision=32-true"],
    "bf16-mixed": ["trainer.precision=bf16-mixed"],
    "16-mixed": ["trainer.precision=16-mixed"],
    "bf16-mixed + channels_last": ["trainer.precision=bf16-mixed", "channels_last=true"],
    "bf16-mixed + channels_last + compile": [
        "trainer.precision=bf16-mixed",
        "channels_last=true",
        "compile=true",
    ],
}


def measure(workdir: Path, steps: int) -> dict[str, object]:
    """Images/s per setting on the first GPU, or why it was skipped."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    results: dict[str, object] = {"device": torch.cuda.get_device_name(0)}
    for name, overrides in SETTINGS.items():
        times_path = workdir / f"gpu_{len(results)}.json"
        # 63 training images: batches of 16 give the 3 within-epoch intervals per epoch that are timed
        args = [*medae_args(steps, times_path), "trainer=gpu", "data.batch_size=16", *overrides]
        run_child(args, env=scratch_env(workdir), cwd=workdir)
        results[name] = StepTimes.load(times_path).steady_state(WARMUP_STEPS)[0]
    return results
