"""Training logic of the sparse autoencoder: reconstruction plus the weighted sparsity penalty."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import MODELS
from medae.models.sparse.torch_model import SparseAutoencoder, SparseAutoencoderConfig


@MODELS.register("sparse")
class SparseAutoencoderModule(AutoencoderModule):
    """Convolutional autoencoder with an L1 or KL sparsity penalty on the code, weight in config."""

    config_class = SparseAutoencoderConfig
    config: SparseAutoencoderConfig
    network_class = SparseAutoencoder

    def regularizer_weights(self) -> dict[str, float]:
        """The configured sparsity weight."""
        return {"sparsity": self.config.sparsity_weight}
