"""Everything MLflow: the store, tag and artifact names, the logger, what a run records, its owner.

It owns where the store is (:mod:`~medae.tracking.schema`), the Lightning logger, the logging of a run's
setup (a flat typed record that the command builds; tracking never receives the config), liveness and
heartbeats, the logged model, sweep parents and Optuna links, and the one
:class:`~medae.tracking.tracked_run.TrackedRun` object that writes a run's tags, artifacts and end
state. It may import :mod:`medae.config`, :mod:`medae.security`, :mod:`medae.data` and
:mod:`medae.models`; recovery, applications and commands build on it.
"""
