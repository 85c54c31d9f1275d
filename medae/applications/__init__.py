"""Applications of a trained autoencoder, each compared with its classical baseline in MLflow."""
