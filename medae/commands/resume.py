"""Continue an interrupted run in the same MLflow run: ``medae resume RUN_ID [--tracking-uri URI]``.

See :mod:`medae.recovery.continuation` for how the run's config, checkpoints and metric steps carry on.
"""

import argparse
from typing import Any

from medae.errors import exit_on_user_error
from medae.recovery.continuation import continue_run
from medae.security.trusted_targets import Trust, add_trust_flags
from medae.tracking.logged_run import fetch_run
from medae.tracking.schema import store_uri
from medae.tracking.store import open_client


def resume(run_id: str, tracking_uri: str, trust: Trust | None = None) -> Any:
    """Continue ``run_id`` in the same MLflow run; returns :class:`medae.commands.train.TrainResult`."""
    from medae.commands.train import train

    client = open_client(tracking_uri, write=True)
    return train(continue_run(client, fetch_run(client, run_id), tracking_uri, trust or Trust()))


def main(argv: list[str]) -> None:
    """Command-line entry: continue the run and print its test metrics."""
    parser = argparse.ArgumentParser(prog="medae resume", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--tracking-uri", default=store_uri(), help="default: %(default)s")
    add_trust_flags(parser, checkpoint=True)
    args = parser.parse_args(argv)
    trust = Trust(config=args.trust_config, checkpoint=args.trust_checkpoint)
    result = exit_on_user_error(resume, args.run_id, args.tracking_uri, trust)
    print(f"resumed run {result.run_id}")
    for key in sorted(k for k in result.metrics if k.startswith("test/")):
        print(f"{key} = {result.metrics[key]:.6f}")
