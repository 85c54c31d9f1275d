"""The network's last activation, chosen from the data's intensity range."""

from torch import nn


def output_activation(value_range: tuple[float, float] | None) -> nn.Module:
    """Sigmoid for data in [0, 1], tanh for [-1, 1], identity for unbounded (z-scored) data.

    Example:
        >>> output_activation((0.0, 1.0))
        Sigmoid()
    """
    bounded = {(0.0, 1.0): nn.Sigmoid, (-1.0, 1.0): nn.Tanh}
    if value_range is None:
        return nn.Identity()
    return bounded.get(tuple(float(v) for v in value_range), nn.Identity)()
