"""Pipeline overhead: the same conv autoencoder on the same images as a bare loop and as ``medae train``."""

import statistics
from pathlib import Path

from medae.benchmarks.step_timer import StepTimes
from medae.benchmarks.subprocess_run import run_child, scratch_env

WARMUP_STEPS = 10


def medae_args(steps: int, times: Path) -> list[str]:
    """``python -m medae train`` for ``steps`` steps with default settings plus a step timer."""
    return [
        "-m",
        "medae",
        "train",
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=-1",
        "test=false",
        "trainer.enable_progress_bar=false",
        "+callbacks.step_timer._target_=medae.benchmarks.step_timer.StepTimer",
        f"+callbacks.step_timer.path={times}",
    ]


# the loops compared: bare PyTorch, the same step under a bare Lightning Trainer, medae train as configured,
# and without callbacks (where time goes)
LOOPS = ("bare", "lightning_floor", "medae", "medae_no_callbacks")


def loop_args(name: str, steps: int, times: Path) -> list[str]:
    """The child command of loop ``name``."""
    if name in ("bare", "lightning_floor"):
        module = "bare_loop" if name == "bare" else name
        return ["-m", f"medae.benchmarks.{module}", "--steps", str(steps), "--times", str(times)]
    no_callbacks = ["callbacks=none"] if name == "medae_no_callbacks" else []
    return [*medae_args(steps, times), *no_callbacks]


def measure(steps: int, repeats: int, workdir: Path) -> dict[str, float | list[float]]:
    """Alternate the loops ``repeats`` times; the median of each figure.

    Returns images/s of each loop, medae's ratio to the bare loop, start-up seconds to the first step,
    the data-wait fraction of each loop's steps (default data settings) and its peak resident memory;
    and ``of_floor_paired``: per repeat, medae's median-step images/s over the Lightning floor's of the
    same repeat, the median over repeats (neighbouring runs share the machine's state; medians leave out
    the stalls of a shared machine), and each repeat's ratio in ``of_floor_paired_each``.
    """
    figures: dict[str, list[float]] = {}
    for repeat in range(repeats):
        step_rates = {}
        for name in LOOPS:
            times_path = workdir / f"{name}_{repeat}.json"
            args = loop_args(name, steps, times_path)
            child = run_child(args, env=scratch_env(workdir), cwd=workdir)
            times = StepTimes.load(times_path)
            images_per_s, wait = times.steady_state(WARMUP_STEPS)
            figures.setdefault(f"{name}_images_per_s", []).append(images_per_s)
            figures.setdefault(f"{name}_startup_s", []).append(times.starts[0] - child.launched_at)
            figures.setdefault(f"{name}_data_wait_fraction", []).append(wait)
            figures.setdefault(f"{name}_peak_rss_mb", []).append(times.peak_rss_mb)
            step_rates[name] = times.median_images_per_s(WARMUP_STEPS)
            figures.setdefault(f"{name}_median_images_per_s", []).append(step_rates[name])
        figures.setdefault("of_floor_paired", []).append(step_rates["medae"] / step_rates["lightning_floor"])
    medians = {key: statistics.median(values) for key, values in figures.items()}
    result: dict[str, float | list[float]] = dict(medians)
    result["ratio"] = medians["medae_images_per_s"] / medians["bare_images_per_s"]
    result["ratio_no_callbacks"] = medians["medae_no_callbacks_images_per_s"] / medians["bare_images_per_s"]
    result["of_floor_paired_each"] = figures["of_floor_paired"]  # the spread behind the median
    result["steps"] = steps
    result["repeats"] = repeats
    return result
