"""The network's last activation, chosen from the data's intensity range."""

from torch import nn

from medae.errors import ConfigError

# smooth: sigmoid/tanh, which never reach the range's ends; hard: piecewise linear, which reach them exactly
OUTPUT_ACTIVATIONS = ("smooth", "hard")
BOUNDED: dict[str, dict[tuple[float, ...], type[nn.Module]]] = {
    "smooth": {(0.0, 1.0): nn.Sigmoid, (-1.0, 1.0): nn.Tanh},
    "hard": {(0.0, 1.0): nn.Hardsigmoid, (-1.0, 1.0): nn.Hardtanh},
}


def output_activation(value_range: tuple[float, float] | None, kind: str = "smooth") -> nn.Module:
    """The activation that maps a network's output into ``value_range``; identity for unbounded data.

    ``smooth`` is the sigmoid for [0, 1] and tanh for [-1, 1]. ``hard`` is their piecewise-linear
    versions (hard sigmoid, hard tanh), which reach the ends of the range exactly, so a zero background
    can be reconstructed as exactly zero.

    Example:
        >>> output_activation((0.0, 1.0))
        Sigmoid()
        >>> output_activation((0.0, 1.0), "hard")
        Hardsigmoid()
    """
    if kind not in OUTPUT_ACTIVATIONS:
        raise ConfigError(
            "model.output_activation", f"unknown '{kind}'; allowed: {', '.join(OUTPUT_ACTIVATIONS)}"
        )
    if value_range is None:
        return nn.Identity()
    return BOUNDED[kind].get(tuple(float(v) for v in value_range), nn.Identity)()
