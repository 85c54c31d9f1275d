"""What medae accepts from a store or a file it did not write, and what it never logs.

Stored configs read as bounded plain data (never built or resolved), paths kept inside a run's folder,
checkpoints loaded without unpickling code, and credentials kept out of everything logged. It imports
nothing of medae but :mod:`medae.errors` and :mod:`medae.compat`.
"""
