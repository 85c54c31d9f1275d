"""Training logic of the VQ-VAE: reconstruction plus the quantisation (commitment) loss."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import MODELS
from medae.models.vqvae.torch_model import VectorQuantizedAutoencoder, VqVaeConfig


@MODELS.register("vqvae")
class VqVaeModule(AutoencoderModule):
    """VQ-VAE (MONAI VQVAE, EMA codebook); logs quantisation loss, perplexity and codebook usage."""

    config_class = VqVaeConfig
    network_class = VectorQuantizedAutoencoder

    def regularizer_weights(self) -> dict[str, float]:
        """The quantisation loss enters with weight 1; its commitment cost is set in the network."""
        return {"quantization": 1.0}
