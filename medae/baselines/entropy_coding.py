"""Entropy coding of a code: uniform quantisation, a factorised prior fitted on training codes, a range coder.

The rate of a learned code is what its bitstream weighs, not its numbers times 8 bits. Each number of the
code is quantised with one step, centred on its training mean; one categorical distribution per number
(the factorised prior of Ballé et al., ICLR 2017, here fitted by counting the training codes, with
add-half smoothing) drives ``constriction``'s range coder, which writes each image's integers into 32-bit
words. The prior is part of the decoder, as a learned prior is, and is not counted per image. Integers
outside the training support (plus a margin) are clipped to it; the decoder sees the clipped value, so the
distortion counts the clipping, and ``clipped`` says how often it happened.
"""

from dataclasses import dataclass

import constriction
import numpy as np

SMOOTHING = 0.5
MAX_SYMBOLS = 1 << 16


@dataclass(frozen=True)
class EncodedCodes:
    """Every image's bitstream and what its decoder returns.

    Attributes:
        streams: one bitstream per image.
        decoded: the dequantised codes decoded from those bitstreams, ``(N, numbers)``.
        clipped: the fraction of numbers clipped to the prior's support.
    """

    streams: list[bytes]
    decoded: np.ndarray
    clipped: float

    @property
    def bits(self) -> np.ndarray:
        """Bits of each image's bitstream."""
        return np.array([8 * len(stream) for stream in self.streams], dtype=float)


class FactorizedPrior:
    """One categorical distribution per code number over its quantised values, and the range coder it drives.

    Args:
        step: the quantisation step, in the code's own units.
        margin: integers beyond the training range that stay codable, as a fraction of that range (at
            least one integer each side).
        centre: quantise around each number's training mean; ``False`` for codes that are already integers
            (codebook indices), which then pass through unchanged.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> prior = FactorizedPrior(step=0.5).fit(rng.normal(size=(200, 4)))
        >>> encoded = prior.encode(rng.normal(size=(3, 4)))
        >>> encoded.decoded.shape, bool(np.all(encoded.bits % 32 == 0))
        ((3, 4), True)
    """

    def __init__(self, step: float, margin: float = 0.25, centre: bool = True) -> None:
        if not step > 0:
            raise ValueError(f"step must be positive, got {step}")
        self.step = step
        self.margin = margin
        self.centre = centre
        self.mean = np.zeros(0)
        self.low = 0
        self.probabilities = np.zeros((0, 0), dtype=np.float32)

    def quantize(self, codes: np.ndarray) -> np.ndarray:
        """Integers of ``codes`` ``(N, numbers)``, unclipped."""
        return np.round((codes - self.mean) / self.step).astype(np.int64)

    def fit(self, codes: np.ndarray) -> "FactorizedPrior":
        """Count the quantised training codes ``(N, numbers)`` of each number, with add-half smoothing."""
        codes = np.asarray(codes, dtype=float)
        self.mean = codes.mean(axis=0) if self.centre else np.zeros(codes.shape[1])
        symbols = self.quantize(codes)
        spread = max(1, int(np.ceil(self.margin * (symbols.max() - symbols.min()))))
        self.low = int(symbols.min()) - spread
        size = int(symbols.max()) + spread - self.low + 1
        if size > MAX_SYMBOLS:
            raise ValueError(
                f"step {self.step:g} gives {size} distinct integers per number (at most {MAX_SYMBOLS}); "
                "use a larger step"
            )
        counts = np.zeros((codes.shape[1], size))
        np.add.at(counts, (np.arange(codes.shape[1])[None, :].repeat(len(codes), 0), symbols - self.low), 1)
        self.probabilities = ((counts + SMOOTHING) / (counts + SMOOTHING).sum(axis=1, keepdims=True)).astype(
            np.float32
        )
        return self

    def encode(self, codes: np.ndarray) -> EncodedCodes:
        """Quantise, clip and range-code each row of ``codes``; decode the bitstreams back."""
        symbols = self.quantize(np.asarray(codes, dtype=float)) - self.low
        inside = np.clip(symbols, 0, self.probabilities.shape[1] - 1)
        model = constriction.stream.model.Categorical(perfect=False)
        streams, decoded = [], []
        for row in inside.astype(np.int32):
            encoder = constriction.stream.queue.RangeEncoder()
            encoder.encode(row, model, self.probabilities)
            streams.append(encoder.get_compressed().tobytes())
            decoded.append(self.decode(streams[-1]))
        return EncodedCodes(streams, np.stack(decoded), float(np.mean(symbols != inside)))

    def decode(self, stream: bytes) -> np.ndarray:
        """The dequantised code of one bitstream."""
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(stream, dtype=np.uint32))
        model = constriction.stream.model.Categorical(perfect=False)
        symbols = decoder.decode(model, self.probabilities)
        return (symbols.astype(np.int64) + self.low) * self.step + self.mean
