"""What the registered applications share, so that no application imports another.

Their registry and context, capability requirements, network calls, what predict writes, synthetic
lesions, residual post-processing, figures, fine-tuning and logging into runs; the statistics they score
with are :mod:`medae.evaluation`. The modules of :mod:`medae.applications` import these parts and never
each other.
"""
