"""Lightning callbacks that medae's configs name: checkpoints, image grids, epoch seeds, a progress bar."""
