"""The KL autoencoder variant (``model=autoencoder_kl``): its network and its LightningModule."""
