"""What a run's numbers depend on besides its config: thread counts, the CPU, determinism flags.

On a CPU, results change with the number of threads torch uses (reductions are split differently),
so every run records the count as a tag, and ``medae reproduce`` and ``medae resume`` use it again.
"""

import os
import platform
from pathlib import Path

import torch
from mlflow.entities import Run
from omegaconf import DictConfig, open_dict

from medae.errors import ConfigError, DataError
from medae.tracking.schema import THREADS_TAG


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment_tags() -> dict[str, str]:
    """Thread counts, CPU model and determinism flags as ``medae.*`` tags."""
    return {
        THREADS_TAG: str(torch.get_num_threads()),
        "medae.torch_interop_threads": str(torch.get_num_interop_threads()),
        "medae.omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "medae.mkl_num_threads": os.environ.get("MKL_NUM_THREADS", "unset"),
        "medae.cpu": cpu_model(),
        "medae.cpu_count": str(os.cpu_count()),
        "medae.deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()),
        "medae.cudnn_deterministic": str(torch.backends.cudnn.deterministic),
        "medae.cudnn_benchmark": str(torch.backends.cudnn.benchmark),
        "medae.cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
    }


def apply_num_threads(num_threads: int | None) -> None:
    """Use ``num_threads`` intra-op threads in torch; ``None`` keeps torch's choice."""
    if num_threads is None:
        return
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
        raise ConfigError("num_threads", f"must be an integer >= 1 or null, got {num_threads!r}")
    torch.set_num_threads(num_threads)


def recorded_threads(cfg: DictConfig, run: Run) -> None:
    """Set ``num_threads`` to the count the run recorded, unless its config fixed one."""
    with open_dict(cfg):
        recorded = run.data.tags.get(THREADS_TAG)
        if cfg.get("num_threads") is None and recorded is not None:
            if not recorded.isdigit() or int(recorded) < 1:
                raise DataError(
                    f"run {run.info.run_id}",
                    f"its tag {THREADS_TAG} is {recorded!r}, not a number of threads; "
                    "set the thread count yourself: medae train num_threads=<n> (or fix the tag)",
                )
            cfg.num_threads = int(recorded)
