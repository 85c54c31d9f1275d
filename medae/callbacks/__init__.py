"""Lightning callbacks that medae's configs name: image grids into the MLflow run, per-epoch seeds."""
