"""Peak resident memory of the cached default data module, measured in child processes."""

import argparse

from medae.benchmarks.subprocess_run import peak_rss_mb, run_child

STAGES = ("imports", "data")


def child(stage: str) -> None:
    """Import what the data module needs and, for ``data``, set up the default data module."""
    from medae.commands.compose import compose_train
    from medae.data.registry import build_datamodule

    if stage == "data":
        build_datamodule(compose_train([]).data).setup()
    print(f"peak_rss_mb={peak_rss_mb()}")


def measure() -> dict[str, float]:
    """Peak RSS in MB after the imports alone and after caching the default data; their difference."""
    peaks = {}
    for stage in STAGES:
        output = run_child(["-m", "medae.benchmarks.memory", stage]).output
        peaks[stage] = float(output.rsplit("peak_rss_mb=", 1)[1].split()[0])
    return {
        "imports_peak_rss_mb": peaks["imports"],
        "cached_data_peak_rss_mb": peaks["data"],
        "cached_data_added_mb": peaks["data"] - peaks["imports"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="memory benchmark child")
    parser.add_argument("stage", choices=STAGES)
    child(parser.parse_args().stage)
