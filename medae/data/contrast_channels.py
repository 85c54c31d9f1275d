"""Several contrasts of one subject as the channels of one sample: checked names, one grid, each scaled alone.

A source that reads a subject's contrasts from separate files (IXI's ``-T2`` and ``-PD``, a BIDS
session's ``T1w`` and ``T2w``, BraTS) names them in ``data.contrasts``; the first is the reference. Each
file is read in RAS like any volume; a contrast stored on another grid than the reference (IXI's T1 is
sagittal, its T2 and PD axial) is resampled onto the reference grid through the scanner coordinates both
files give. That aligns the acquisitions of one session; it is not a registration, so a subject who moved
between them stays misaligned.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.transforms import ResampleToMatch

from medae.data.orientation import CanonicalVolume
from medae.errors import ConfigError, DataError

# share of the reference's non-zero voxels another contrast must cover once on the reference grid
MIN_OVERLAP = 0.5


def check_contrasts(
    contrasts: Sequence[str], allowed: Sequence[str] | None, options: dict[str, Any]
) -> tuple[str, ...]:
    """``data.contrasts`` checked: named, each once, each one the source has; ``data.channels`` counts them.

    Args:
        contrasts: the contrasts in channel order.
        allowed: the source's contrasts, or ``None`` when any name may be asked for (BIDS suffixes).
        options: the data module's keyword options; ``channels`` defaults to the number of contrasts.

    Example:
        >>> check_contrasts(["T2", "PD"], ("T1", "T2", "PD"), {"channels": 2})
        ('T2', 'PD')
        >>> check_contrasts(["T2", "T2"], None, {"channels": 2})
        Traceback (most recent call last):
        ...
        medae.errors.ConfigError: data.contrasts: names T2 twice; name each contrast once
    """
    listing = f"; allowed: {', '.join(allowed)}" if allowed else ""
    if not contrasts:
        raise ConfigError("data.contrasts", f"is empty; name at least one contrast{listing}")
    unknown = [contrast for contrast in contrasts if allowed and contrast not in allowed]
    if unknown:
        raise ConfigError("data.contrasts", f"unknown '{unknown[0]}'{listing}")
    repeated = sorted({contrast for contrast in contrasts if list(contrasts).count(contrast) > 1})
    if repeated:
        raise ConfigError("data.contrasts", f"names {repeated[0]} twice; name each contrast once")
    channels = options.setdefault("channels", len(contrasts))
    if channels != len(contrasts):
        raise ConfigError(
            "data.channels",
            f"is {channels}, but data.contrasts names {len(contrasts)}; set data.channels={len(contrasts)}",
        )
    return tuple(contrasts)


def on_reference_grid(reference: CanonicalVolume, other: CanonicalVolume, source: str) -> np.ndarray:
    """``other``'s pixels on ``reference``'s grid: as they are on the same grid, else resampled by position.

    Raises:
        DataError: naming ``source`` when, on the reference grid, it covers less than ``MIN_OVERLAP`` of
            the reference's non-zero voxels (the files do not show the same region).
    """
    same_grid = other.pixels.shape[1:] == reference.pixels.shape[1:] and np.allclose(
        other.affine, reference.affine, atol=1e-3
    )
    if same_grid:
        return other.pixels
    resampled = ResampleToMatch(mode="bilinear", padding_mode="zeros")(other.oriented, reference.oriented)
    pixels = np.ascontiguousarray(np.asarray(resampled), dtype=np.float32)
    inside = (reference.pixels != 0).any(axis=0)
    covered = float(((pixels != 0).any(axis=0) & inside).sum() / max(int(inside.sum()), 1))
    if covered < MIN_OVERLAP:
        raise DataError(
            source,
            f"covers {covered:.0%} of the reference contrast's voxels in scanner coordinates (at least "
            f"{MIN_OVERLAP:.0%} needed); the contrasts of a subject must show the same region",
        )
    return pixels
