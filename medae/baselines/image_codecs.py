"""The standard image codecs a learned code is weighed against: JPEG, JPEG 2000 and lossless JPEG-LS.

All three run through ``imagecodecs`` (libjpeg-turbo, OpenJPEG and CharLS) on the 8-bit rendition of each
image. A codestream's rate is its payload, the entropy-coded data after the headers; the header bytes
(markers, quantisation and Huffman tables, the JPEG 2000 main and tile-part headers) are counted apart,
since a store of many images of one kind would not repeat them. The setting of each codec is its own rate
knob: the JPEG quality (1-100), the JPEG 2000 target PSNR in dB of OpenJPEG's fixed-quality mode, and
none for JPEG-LS, which is lossless.
"""

from collections.abc import Callable
from dataclasses import dataclass

import imagecodecs
import numpy as np

# the JPEG start-of-scan marker (its segment has a length) and the JPEG 2000 start-of-data marker (none)
START_OF_SCAN = 0xDA
START_OF_DATA = 0x93
# the two-byte end marker after the payload (JPEG EOI, JPEG 2000 EOC)
END_MARKER_BYTES = 2


@dataclass(frozen=True)
class CodedImage:
    """One image through a codec.

    Attributes:
        image: the decoded image as float in [0, 1].
        payload_bytes: the entropy-coded data.
        header_bytes: everything else in the codestream.
    """

    image: np.ndarray
    payload_bytes: int
    header_bytes: int


@dataclass(frozen=True)
class Codec:
    """A codec: encode an 8-bit image at a setting, decode, and the marker that starts its payload."""

    encode: Callable[[np.ndarray, float | None], bytes]
    decode: Callable[[bytes], np.ndarray]
    data_marker: int


def header_length(stream: bytes, data_marker: int) -> int:
    """Bytes before a codestream's payload: its marker segments up to and including the data marker.

    Example:
        >>> grey = np.zeros((16, 16), dtype=np.uint8)
        >>> stream = imagecodecs.jpeg8_encode(grey, level=90)
        >>> 0 < header_length(stream, START_OF_SCAN) < len(stream)
        True
    """
    position = 2  # after SOI / SOC
    while position + 4 <= len(stream):
        if stream[position] != 0xFF:
            raise ValueError(f"no marker at byte {position} of the codestream")
        marker = stream[position + 1]
        if marker == START_OF_DATA and data_marker == START_OF_DATA:
            return position + 2
        length = int.from_bytes(stream[position + 2 : position + 4], "big")
        position += 2 + length
        if marker == data_marker:
            return position
    raise ValueError("the codestream has no start of its payload")


def _needs_setting(codec: str, setting: float | None) -> float:
    """``setting``, or a ``ValueError`` naming the codec that needs one."""
    if setting is None:
        raise ValueError(f"codec '{codec}' needs a setting (JPEG: quality; JPEG 2000: PSNR in dB)")
    return setting


def _jpeg(grey: np.ndarray, quality: float | None) -> bytes:
    return bytes(imagecodecs.jpeg8_encode(grey, level=int(_needs_setting("jpeg", quality)), optimize=True))


def _jpeg2000(grey: np.ndarray, psnr: float | None) -> bytes:
    level = _needs_setting("jpeg2000", psnr)  # a PSNR target in dB; imagecodecs' stub types it as int
    return bytes(imagecodecs.jpeg2k_encode(grey, level=level, codecformat="J2K"))  # type: ignore[arg-type]


def _jpegls(grey: np.ndarray, _: float | None) -> bytes:
    return bytes(imagecodecs.jpegls_encode(grey))


CODECS: dict[str, Codec] = {
    "jpeg": Codec(_jpeg, imagecodecs.jpeg8_decode, START_OF_SCAN),
    "jpeg2000": Codec(_jpeg2000, imagecodecs.jpeg2k_decode, START_OF_DATA),
    "jpegls": Codec(_jpegls, imagecodecs.jpegls_decode, START_OF_SCAN),
}


def code_image(codec: str, image: np.ndarray, setting: float | None = None) -> CodedImage:
    """Encode a 2D image in [0, 1] as 8 bits with ``codec`` at ``setting``; decode it; count its bytes.

    Example:
        >>> ramp = np.round(np.linspace(0, 255, 32 * 32)).reshape(32, 32) / 255
        >>> coded = code_image("jpegls", ramp)
        >>> bool(np.array_equal(coded.image * 255, ramp * 255)), coded.payload_bytes > 0
        (True, True)
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec '{codec}'; allowed: {', '.join(CODECS)}")
    grey = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    chosen = CODECS[codec]
    stream = chosen.encode(grey, setting)
    header = header_length(stream, chosen.data_marker)
    decoded = np.asarray(chosen.decode(stream), dtype=np.float32) / 255
    return CodedImage(decoded, len(stream) - header - END_MARKER_BYTES, header + END_MARKER_BYTES)
