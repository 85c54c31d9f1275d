"""The adversarial autoencoder variant: a discriminator makes the code's distribution the prior."""
