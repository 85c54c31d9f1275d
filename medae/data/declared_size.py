"""The bytes an image file says it will decompress to, read from its header before its pixels.

A small ``.nii.gz`` or a compressed DICOM can claim, and decompress to, many gigabytes (a
decompression bomb). Each reader here looks at the header only, so a file over ``data.max_image_bytes``
is refused before any pixel is decoded.
"""

import math
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from medae.data.nifti_reading import load_nifti
from medae.errors import DataError

DEFAULT_MAX_IMAGE_BYTES = 4 * 1024**3
NIFTI_SUFFIXES = (".nii", ".gz", ".hdr", ".img")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def dicom_bytes(dataset: pydicom.Dataset) -> int:
    """Decoded pixel bytes of a DICOM dataset read with or without its pixels."""
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    bits = int(dataset.get("BitsAllocated", 8) or 8)
    return (
        int(dataset.get("Rows", 0)) * int(dataset.get("Columns", 0)) * frames * samples * math.ceil(bits / 8)
    )


def declared_bytes(path: Path) -> int | None:
    """The decoded size that the header of ``path`` declares, or None for a format it cannot tell.

    Example:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> np.save(folder / "a.npy", np.zeros((4, 5), dtype=np.float32))
        >>> declared_bytes(folder / "a.npy")
        80
    """
    suffix = path.suffix.lower()
    if suffix in NIFTI_SUFFIXES:
        header = load_nifti(path).header
        return int(np.prod(header.get_data_shape(), dtype=np.float64)) * header.get_data_dtype().itemsize
    if suffix in (".dcm", ".dicom"):
        return dicom_bytes(pydicom.dcmread(path, stop_before_pixels=True))
    if suffix == ".npy":
        with path.open("rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(stream)
        return int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if suffix in PIL_SUFFIXES:
        with Image.open(path) as image:
            return image.width * image.height * len(image.getbands()) * max(1, _bytes_per_band(image.mode))
    return None


def _bytes_per_band(mode: str) -> int:
    return {"I;16": 2, "I;16B": 2, "I": 4, "F": 4}.get(mode, 1)


def check_declared_size(path: Path, max_bytes: int, declared: int | None = None) -> None:
    """Raise a DataError when ``path`` declares more pixel bytes than ``max_bytes`` (data.max_image_bytes)."""
    try:
        size = declared if declared is not None else declared_bytes(path)
    except Exception as error:
        raise DataError(str(path), f"cannot be read ({type(error).__name__}: {error})") from error
    if size is not None and size > max_bytes:
        raise DataError(
            str(path),
            f"declares {size / 1024**3:.1f} GiB of pixels, over data.max_image_bytes={max_bytes} "
            f"({max_bytes / 1024**3:.1f} GiB); refused before decompressing (raise it if the file is real)",
        )
