"""List a store's runs with their real state: ``medae runs [--tracking-uri URI] [--experiment NAME]``.

It only reads the store. ``--repair`` first marks runs whose process is provably gone as KILLED
(:func:`medae.tracking.liveness.mark_dead_runs_killed`), so that RUNNING means running.
"""

import argparse
from datetime import datetime

from mlflow.entities import Run

from medae.errors import ConfigError, exit_on_user_error
from medae.tracking.liveness import heartbeat_age
from medae.tracking.schema import HOST_TAG, PID_TAG, TASK_TAG, store_uri
from medae.tracking.store import open_client

RESUMABLE = ("KILLED", "FAILED")


def describe_run(run: Run, experiment: str) -> str:
    """One line: id, experiment, status, start, owner process, heartbeat age, name."""
    info, tags = run.info, run.data.tags
    started = datetime.fromtimestamp(info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
    owner = f"{tags.get(HOST_TAG, '-')}:{tags.get(PID_TAG, '-')}"
    age = heartbeat_age(run)
    beat = f"{age:.0f}s ago" if info.status == "RUNNING" and age is not None else "-"
    columns = (
        info.run_id,
        f"{experiment[:16]:<16}",
        f"{info.status:<9}",
        started,
        f"{owner:<22}",
        f"{beat:>9}",
    )
    return "  ".join((*columns, str(info.run_name)))


def list_runs(tracking_uri: str, experiment: str | None, limit: int, repair: bool = False) -> list[str]:
    """The lines of ``medae runs``, newest run first, with a resume hint under each interrupted run.

    Listing writes nothing to the store; with ``repair``, runs left RUNNING by processes of this host that
    are gone are marked KILLED first (as ``train`` and ``resume`` do when they open the store).
    """
    client = open_client(tracking_uri, write=repair)
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if experiment is not None:
        experiments = {key: name for key, name in experiments.items() if name == experiment}
        if not experiments:
            known = ", ".join(sorted(e.name for e in client.search_experiments()))
            raise ConfigError(
                "--experiment", f"no experiment '{experiment}' in {tracking_uri}; known: {known}"
            )
    runs = client.search_runs(list(experiments), max_results=limit, order_by=["attributes.start_time DESC"])
    names = (
        f"{'run id':<32}",
        f"{'experiment':<16}",
        f"{'status':<9}",
        f"{'started':<19}",
        f"{'host:pid':<22}",
    )
    header = "  ".join((*names, f"{'heartbeat':>9}", "name"))
    lines = [header]
    for run in runs:
        lines.append(describe_run(run, experiments[run.info.experiment_id]))
        if run.info.status in RESUMABLE and run.data.tags.get(TASK_TAG) == "train":
            lines.append(f"{'':<34}continue it: medae resume {run.info.run_id}")
    return lines


def main(argv: list[str]) -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(prog="medae runs", description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=store_uri(), help="default: %(default)s")
    parser.add_argument("--experiment", default=None, help="only this experiment")
    parser.add_argument("--limit", type=int, default=50, help="newest runs shown")
    parser.add_argument(
        "--repair", action="store_true", help="first mark runs whose process is gone KILLED (writes)"
    )
    args = parser.parse_args(argv)
    lines = exit_on_user_error(list_runs, args.tracking_uri, args.experiment, args.limit, args.repair)
    print("\n".join(lines))
