"""What the registered applications share, so that no application imports another.

Their registry and context, capability requirements, network calls, split tensors, anomaly metrics,
synthetic lesions, figures, fine-tuning and logging into runs. The modules of
:mod:`medae.applications` import these parts and never each other.
"""
