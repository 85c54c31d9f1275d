"""Training logic of RED-CNN: the shared reconstruction objective (pair with data.noise_std > 0)."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.redcnn.torch_model import RedCnn, RedCnnConfig
from medae.models.registry import MODELS


@MODELS.register("redcnn")
class RedCnnModule(AutoencoderModule):
    """RED-CNN residual encoder-decoder (Chen et al. 2017) for denoising, e.g. low-dose CT."""

    config_class = RedCnnConfig
    network_class = RedCnn
