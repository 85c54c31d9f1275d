"""Generation: samples, latent interpolations, copy distances, and the samples' distribution against real."""

import torch

from medae.applications.parts.context import ApplicationContext
from medae.applications.parts.figures import image_rows_figure
from medae.applications.parts.registry import APPLICATIONS
from medae.applications.parts.requirements import requires
from medae.errors import ConfigError
from medae.evaluation.sample_distribution import distribution_metrics
from medae.models.capabilities import Samples, capable
from medae.models.latent_interpolation import InterpolatesLatents

APPLICATION = "generation"


def nearest_training_images(images: torch.Tensor, train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RMSE from each image to its nearest training image, and that image's index.

    Example:
        >>> train = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
        >>> nearest_training_images(torch.full((1, 1, 2, 2), 0.9), train)
        (tensor([0.1000]), tensor([1]))
    """
    distances = torch.cdist(images.flatten(1).double(), train.flatten(1).double()) / images[0].numel() ** 0.5
    values, indices = distances.min(dim=1)
    return values.float(), indices


@APPLICATIONS.register("generation")
@requires(Samples)
def evaluate(
    context: ApplicationContext,
    samples: int = 16,
    interpolations: int = 4,
    steps: int = 8,
    distribution_samples: int = 256,
    feature_components: int = 16,
    neighbours: int = 3,
) -> dict[str, float]:
    """Draw samples from the prior and interpolate between test images; log grids and measures.

    A sample whose nearest training image is much closer than a real test image's nearest training
    image (``generation/test_nearest_rmse_mean``) is a near-copy of the training set. The Fréchet
    distance, precision and recall (:mod:`medae.evaluation.sample_distribution`) compare
    ``distribution_samples`` samples with the test images in the training images' principal components,
    beside the same measures of the test images against the training images.

    Args:
        context: a trained run of a variant that samples (VAE, KL autoencoder).
        samples: images drawn from the prior for the grid and the nearest-image table.
        interpolations: pairs of test images to interpolate between.
        steps: images per interpolation, both ends included.
        distribution_samples: samples drawn for the distribution measures.
        feature_components: principal components of the feature space.
        neighbours: the k of the precision and recall manifolds.

    Returns:
        ``generation/sample_nearest_rmse_{mean,min}``, ``generation/test_nearest_rmse_mean``, and
        ``generation/{fd,precision,recall}`` with their ``_test_to_train`` references.
    """
    network = capable(context.network, Samples)
    if samples < 1 or interpolations < 0 or steps < 2:
        raise ConfigError(
            "application",
            f"needs samples >= 1, interpolations >= 0, steps >= 2; got {samples}, {interpolations}, {steps}",
        )
    if distribution_samples <= neighbours or feature_components < 1:
        raise ConfigError(
            "application.distribution_samples",
            f"must be above application.neighbours ({neighbours}) with feature_components >= 1; "
            f"got {distribution_samples} and {feature_components}",
        )
    generator = torch.Generator().manual_seed(context.seed)
    generated = network.sample(samples, generator=generator).cpu()
    train = context.split("train").image
    test = context.split("test").image
    sample_distance, nearest = nearest_training_images(generated, train)
    test_distance, _ = nearest_training_images(test, train)
    metrics = {
        f"{APPLICATION}/sample_nearest_rmse_mean": float(sample_distance.mean()),
        f"{APPLICATION}/sample_nearest_rmse_min": float(sample_distance.min()),
        f"{APPLICATION}/test_nearest_rmse_mean": float(test_distance.mean()),
    }
    many = network.sample(distribution_samples, generator=generator).cpu()
    measured = distribution_metrics(many, test, train, feature_components, neighbours, context.seed)
    metrics |= {f"{APPLICATION}/{key}": value for key, value in measured.items()}
    context.run.metrics(metrics)
    context.run.tags(context.method_tags(APPLICATION, "autoencoder"))
    rows = {"sample": list(generated), "nearest training image": list(train[nearest])}
    context.run.figure(
        image_rows_figure(rows, "samples and their nearest training images"), f"{APPLICATION}/samples.png"
    )
    table = "sample,nearest_train_index,rmse\n" + "".join(
        f"{i},{int(j)},{float(d):.6f}\n"
        for i, (j, d) in enumerate(zip(nearest, sample_distance, strict=True))
    )
    context.run.text(table, f"{APPLICATION}/sample_nearest.csv")
    pairs = min(interpolations, len(test) // 2)
    if pairs and isinstance(network, InterpolatesLatents):  # every sampling variant interpolates
        lines = {
            f"{2 * k} to {2 * k + 1}": list(network.interpolate(test[2 * k], test[2 * k + 1], steps).cpu())
            for k in range(pairs)
        }
        context.run.figure(
            image_rows_figure(lines, "latent interpolations between test images"),
            f"{APPLICATION}/interpolations.png",
        )
    return metrics
