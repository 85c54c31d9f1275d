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


def latent_projection_figure(codes: torch.Tensor, groups: list[str], method: str, seed: int) -> Figure:
    """Scatter of the codes projected to 2D by PCA or t-SNE, one colour per group (label, or slicing axis).

    Example:
        >>> figure = latent_projection_figure(torch.rand(20, 8), ["a", "b"] * 10, "pca", seed=0)
        >>> figure.axes[0].get_legend_handles_labels()[1]
        ['a', 'b']
    """
    flat = codes.reshape(len(codes), -1).double().numpy()
    if method == "pca":
        points = PCA(n_components=2, random_state=seed).fit_transform(flat)
    else:
        perplexity = min(30.0, (len(flat) - 1) / 3)
        points = TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(flat)
    figure = Figure(figsize=(5, 4.5))
    axes = figure.subplots()
    names = np.array(groups)
    for name in sorted(set(groups)):
        axes.scatter(points[names == name, 0], points[names == name, 1], s=8, label=name)
    axes.legend(fontsize=8)
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
