"""Autoencoder variants; importing this package registers every one of them."""

from medae.models.conv import lightning_model as _conv  # noqa: F401
