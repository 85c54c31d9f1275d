"""`make bench`: medae measured against the bare loop, the classical methods and PCA, side by side."""
