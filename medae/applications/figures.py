"""Figures the applications log to MLflow: latent projections, anomaly overlays, image grids."""

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

PROJECTIONS = ("pca", "tsne")


def middle_slice(image: torch.Tensor) -> np.ndarray:
    """A 2D view of one image ``(C, *spatial)``: the first channel, the middle slice of a volume."""
    array = image[0].detach().cpu().float().numpy()
    while array.ndim > 2:
        array = array[array.shape[0] // 2]
    return array


def latent_projection_figure(
    codes: torch.Tensor, labels: torch.Tensor | None, method: str, seed: int
) -> Figure:
    """Scatter of the codes projected to 2D by PCA or t-SNE, coloured by label when there are labels.

    Example:
        >>> figure = latent_projection_figure(torch.rand(20, 8), torch.arange(20) % 2, "pca", seed=0)
        >>> len(figure.axes)
        2
    """
    flat = codes.reshape(len(codes), -1).double().numpy()
    if method == "pca":
        points = PCA(n_components=2, random_state=seed).fit_transform(flat)
    else:
        perplexity = min(30.0, (len(flat) - 1) / 3)
        points = TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(flat)
    figure = Figure(figsize=(5, 4.5))
    axes = figure.subplots()
    colours = labels.numpy() if labels is not None else np.zeros(len(points))
    scatter = axes.scatter(points[:, 0], points[:, 1], c=colours, s=8, cmap="viridis")
    figure.colorbar(scatter, ax=axes, label="label" if labels is not None else "(no labels)")
    axes.set_title(f"{method.upper()} projection of {flat.shape[1]}-number codes")
    return figure


def image_rows_figure(rows: dict[str, list[torch.Tensor]], title: str, cmap: str = "gray") -> Figure:
    """One row per named list of images ``(C, *spatial)``, the names on the left."""
    columns = max(len(images) for images in rows.values())
    figure = Figure(figsize=(1.6 * columns, 1.6 * len(rows)))
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row, (name, images) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(images):
                axis.imshow(middle_slice(images[column]), cmap=cmap)
        axes[row, 0].set_ylabel(name, fontsize=8)
    figure.suptitle(title)
    return figure
