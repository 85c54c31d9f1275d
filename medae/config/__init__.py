"""Configuration: registries, extensions, override checks, Trainer options and a run's pieces.

It owns the registries of models, data sources and applications, loading user extensions, the one-line
override checks, Trainer options and their type checks, the compute environment, and building a run's
loggers, callbacks and Hydra job facts from its config. It may import :mod:`medae.errors`,
:mod:`medae.compat`, :mod:`medae.tracking.schema` and :mod:`medae.security`; the model, data,
tracking and command packages build on it, never the other way round.
"""
