"""The VAE-GAN variant: a VAE trained against an image discriminator."""
