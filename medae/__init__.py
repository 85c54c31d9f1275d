"""medae: autoencoders for medical image analysis, trained with Lightning, configured by Hydra, in MLflow."""

__version__ = "0.1.0"
