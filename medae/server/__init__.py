"""The authenticated team tracking server (``python -m medae.server``, ``make server``) and its private
PostgreSQL cluster.

It may import :mod:`medae.errors` only; nothing else in medae imports it.
"""
