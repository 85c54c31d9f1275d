"""``python -m medae.benchmarks [--quick] [--output bench]``: run every benchmark, write JSON and markdown."""

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L

from medae.benchmarks import (
    cli_startup,
    compression,
    data_pipeline,
    denoising,
    gpu,
    inference,
    larger_than_memory,
    memory,
    overhead,
    storage,
    sweep_throughput,
    whole_volume,
)
from medae.benchmarks.report import environment, finalize, markdown
from medae.bootstrap import bootstrap

SEED = 42


def run(output: Path, quick: bool) -> dict:
    """Run the benchmarks in a scratch folder; write ``results.json`` and ``report.md`` to ``output``.

    The in-process measurements (data pipeline, denoising, compression) run after the bootstrap, whose
    frozen import heap they share with the ``medae`` command.
    """
    L.seed_everything(SEED, verbose=False)
    bootstrap()
    start = time.perf_counter()
    results: dict = {"environment": environment(SEED, quick)}
    with tempfile.TemporaryDirectory(prefix="medae-bench-") as scratch:
        work = Path(scratch)
        sections: dict[str, Callable[[], object]] = {
            "cli_startup": lambda: cli_startup.measure(work, quick),
            "schema": lambda: cli_startup.schema_share(work, quick),
            "overhead": lambda: overhead.measure(
                steps=40 if quick else 200, repeats=1 if quick else 5, workdir=work
            ),
            "data": lambda: data_pipeline.measure(work, quick, SEED),
            "denoising": lambda: denoising.measure(work, quick),
            "compression": lambda: compression.measure(work, quick, SEED),
            "memory": memory.measure,
            "storage": lambda: storage.measure(work, quick),
            "sweep": lambda: sweep_throughput.measure(work, quick),
            "larger_than_memory": lambda: larger_than_memory.measure(work, quick, SEED),
            "inference": lambda: inference.measure(work, quick),
            "whole_volume": lambda: whole_volume.measure(quick),
            "gpu": lambda: gpu.measure(work, steps=40 if quick else 200),
        }
        results["section_wall_s"] = {}
        for number, (name, measure) in enumerate(sections.items(), start=1):
            print(f"bench: {number}/{len(sections)} {name} ...", flush=True)  # a long run says where it is
            section_start = time.perf_counter()
            results[name] = measure()
            results["section_wall_s"][name] = round(time.perf_counter() - section_start, 1)
            print(
                f"bench: {number}/{len(sections)} {name} took {results['section_wall_s'][name]} s", flush=True
            )
    results["wall_s"] = time.perf_counter() - start
    finalize(results)
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(results, indent=2))
    (output / "report.md").write_text(markdown(results))
    return results


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description="medae benchmarks")
    parser.add_argument("--quick", action="store_true", help="smoke check: few steps, small images")
    parser.add_argument("--output", type=Path, default=Path("bench"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = run(args.output, args.quick)
    for target in results["targets"]:
        print(
            f"{'met    ' if target['met'] else 'NOT MET'}  {target['name']}: {target['measured']} "
            f"(target {target['target']})"
        )
    print(f"report: {args.output / 'report.md'}")


if __name__ == "__main__":
    main()
