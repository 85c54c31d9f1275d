"""The authenticated team tracking server and its private PostgreSQL cluster.

Started with ``python -m medae.server`` (``make server``). It may import :mod:`medae.errors` only;
nothing else in medae imports it.
"""
