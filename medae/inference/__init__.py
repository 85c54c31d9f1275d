"""Trained networks outside training: the model package a run logs, loaded and served without pickle.

It sits beside :mod:`medae.commands` and may import everything below it, :mod:`medae.bootstrap` included.
"""
