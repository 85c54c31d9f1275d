"""Data sources: each a registered LightningDataModule of reconstruction batches, read as distributed.

Readers, intensity handling, noise models, subject and slab splits and the caches live here. It may
import :mod:`medae.config`, :mod:`medae.security` and the base modules.
"""
