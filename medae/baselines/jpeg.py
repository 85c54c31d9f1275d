"""JPEG at a byte budget: the codec a compression result has to beat at the same number of bytes."""

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

QUALITIES = (1, 95)


@dataclass
class JpegResult:
    """A decoded image and what it cost.

    Attributes:
        image: decoded, as float in [0, 1].
        num_bytes: size of the JPEG file.
        quality: the JPEG quality used.
    """

    image: np.ndarray
    num_bytes: int
    quality: int


def _encode(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def jpeg_at_budget(image: np.ndarray, max_bytes: float) -> JpegResult:
    """Encode a 2D image in [0, 1] at the highest quality whose file fits ``max_bytes`` (bisection).

    When even the lowest quality does not fit, the lowest quality is used and its size reported.

    Example:
        >>> result = jpeg_at_budget(np.linspace(0, 1, 64 * 64).reshape(64, 64), 1500)
        >>> result.num_bytes <= 1500, result.image.shape
        (True, (64, 64))
    """
    grey = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    low, high = QUALITIES
    best = _encode(grey, low)
    best_quality = low
    while low <= high:
        quality = (low + high) // 2
        encoded = _encode(grey, quality)
        if len(encoded) <= max_bytes:
            best, best_quality, low = encoded, quality, quality + 1
        else:
            high = quality - 1
    decoded = np.asarray(Image.open(io.BytesIO(best)), dtype=np.float32) / 255
    return JpegResult(decoded, len(best), best_quality)
