"""The masked autoencoder variant: a vision transformer reconstructing images from some of their patches."""
