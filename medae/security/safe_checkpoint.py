"""Loading checkpoints without running code: torch's ``weights_only`` unpickler, one-line refusals.

A checkpoint is a pickle, and unpickling an arbitrary pickle can run arbitrary code. medae's
checkpoints hold only tensors, numbers, strings and containers (weights, optimiser and loop states,
callback states, the run config), which torch's ``weights_only=True`` unpickler accepts. Any other
object is refused before it is built, unless the caller trusts the file.
"""

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from medae.errors import DataError


class UnreadableCheckpoint(DataError):
    """A checkpoint file that is missing, truncated or not a checkpoint at all (not one that was refused)."""


# what a file torch.save wrote starts with: a zip archive, or (before torch 1.6) a pickle's protocol byte
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL = b"\x80"
TRUST_HINT = "load it only if you trust its author (trust_checkpoint=true, or --trust-checkpoint)"


def refusal(path: str | Path, error: Exception) -> DataError:
    """The one-line error for a checkpoint that ``weights_only`` loading refused."""
    forbidden = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = f"it would import {forbidden.group(1)}" if forbidden else f"{type(error).__name__}"
    return DataError(str(path), f"refused: {what}, which is not a type medae saves; {TRUST_HINT}")


def load_checkpoint(path: str | Path, trust: bool = False) -> dict[str, Any]:
    """Load a checkpoint on the CPU; without ``trust``, only the types medae saves can come back.

    Raises:
        UnreadableCheckpoint: the file is missing or is not a whole checkpoint.
        DataError: it holds objects of other types.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableCheckpoint(str(path), "checkpoint file not found")
    with open(path, "rb") as stream:
        start = stream.read(4)
    if start != ZIP_MAGIC and start[:1] != PICKLE_PROTOCOL:
        raise UnreadableCheckpoint(
            str(path),
            f"is not a PyTorch checkpoint (it starts with {start!r}); give a .ckpt that medae saved",
        )
    try:
        checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=not trust)
        return checkpoint
    except pickle.UnpicklingError as error:
        raise refusal(path, error) from error
    except Exception as error:
        raise UnreadableCheckpoint(
            str(path), f"is not a readable checkpoint ({type(error).__name__}: {error})"
        ) from error
