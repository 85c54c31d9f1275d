"""Autoencoder variants: one folder each (``torch_model.py`` + ``lightning_model.py``) and their registry.

Each variant's config and capabilities live beside it; the reconstruction losses they share in
:mod:`medae.models.losses`.

Importing this package registers nothing: :func:`medae.bootstrap.bootstrap` imports each variant's
``lightning_model``, whose decorator registers it. It may import :mod:`medae.config`,
:mod:`medae.security`, :mod:`medae.metrics` and the base modules.
"""
