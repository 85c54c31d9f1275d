"""Autoencoder variants; importing this package registers every one of them."""

from medae.models.conv import lightning_model as _conv  # noqa: F401
from medae.models.dense import lightning_model as _dense  # noqa: F401
from medae.models.redcnn import lightning_model as _redcnn  # noqa: F401
from medae.models.sparse import lightning_model as _sparse  # noqa: F401
from medae.models.vae import lightning_model as _vae  # noqa: F401
from medae.models.vqvae import lightning_model as _vqvae  # noqa: F401
