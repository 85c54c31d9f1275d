"""The ``medae`` commands and the Python front doors: train, eval, runs, the catalogs, compose_train.

The commands are train, eval, baseline, encode/decode, reproduce, resume, runs and the catalogs
(``medae models``); ``compose_train`` composes a config for notebooks and scripts.

A command turns a config or an argument list into work and a printed result. It may import every
package below it and :mod:`medae.bootstrap`; only :mod:`medae.cli` sits above, and it names commands as
strings, so importing it imports none of them.
"""
