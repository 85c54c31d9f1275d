"""Lightning callbacks that medae's configs name: MLflow image grids, per-epoch seeds, a progress bar."""
