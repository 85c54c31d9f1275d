"""How results are scored and compared: the statistics every application and report uses.

Anomaly metrics (image AUROC/AP, pixel AP, Dice), each image's scores and pixel counts as run artifacts,
rate-distortion curves and Bjøntegaard deltas, the distance of generated samples to real images, and
intervals from a hierarchical bootstrap over seeds, subjects and slices; and the data split held as
tensors that they score. It may import :mod:`medae.metrics`, :mod:`medae.baselines` and the base
modules, and nothing that trains or tracks.
"""
