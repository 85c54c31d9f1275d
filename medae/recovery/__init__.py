"""Getting a run through interruptions: signals, ``medae resume`` and SLURM requeues.

SIGINT and SIGTERM stop a run at a safe point; an interrupted run continues from its checkpoint in the
same MLflow run. It may import :mod:`medae.tracking`, :mod:`medae.config` and :mod:`medae.security`.
"""
