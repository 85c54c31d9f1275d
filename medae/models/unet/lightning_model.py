"""Training logic of the U-Net denoiser: the shared reconstruction objective (pair with noisy inputs)."""

from medae.models.autoencoder_module import AutoencoderModule
from medae.models.registry import MODELS
from medae.models.unet.torch_model import UNet, UNetConfig


@MODELS.register("unet")
class UNetModule(AutoencoderModule):
    """U-Net (MONAI) denoising autoencoder, e.g. the coarse-noise DAE for anomaly segmentation."""

    config_class = UNetConfig
    network_class = UNet
